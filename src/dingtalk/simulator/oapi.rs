//! oapi host: legacy app token (docs/dingtalk-api.md §4.3) and the `topapi` organisation
//! calls (§5). Always HTTP 200; failures are a non-zero `errcode` (§5.0, §6.2).

use poem::Request;
use poem::Response;
use serde_json::{Map, Value, json};
use url::form_urlencoded;

use super::{Fault, Host, SimState, SimUser, Simulator, reply};

/// §6.2 codes and their usual messages.
const MISSING_TOKEN: (i64, &str) = (41001, "缺少access_token参数");
const BAD_TOKEN: (i64, &str) = (40014, "不合法的access_token");
const BAD_PARAMETER: (i64, &str) = (400002, "参数错误");
const USER_NOT_FOUND: (i64, &str) = (60121, "找不到该用户");
const BAD_USERID: (i64, &str) = (33012, "无效的userId");
const DEPT_NOT_FOUND: (i64, &str) = (60003, "部门不存在");

fn fail((errcode, errmsg): (i64, &str)) -> Response {
    reply::oapi_error(errcode, errmsg)
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /gettoken?appkey=..&appsecret=..` (§4.3); same token store as §4.1.
pub(super) async fn gettoken(sim: Simulator, req: Request) -> Response {
    if let Err(answer) = sim.enter(&req, Host::Oapi).await {
        return answer;
    }
    let mut state = sim.state();
    state.app_token_requests += 1;
    let (key, secret) = (query_param(&req, "appkey"), query_param(&req, "appsecret"));
    let Some(app) = state.app_by_credentials(key.as_deref(), secret.as_deref()) else {
        // §4.3 (inferred): the corpid/corpsecret code is used for app keys too.
        return fail((40089, "不合法的corpId或corpSecret"));
    };
    let (token, ttl) = state.issue_app_token(app);
    reply::oapi_fields(json!({ "access_token": token, "expires_in": ttl.as_secs() }))
}

/// The common front of every topapi call: faults, `access_token` from the query (and so the
/// organisation whose directory the call reads), and the body parameters (§0: form-urlencoded per
/// the docs, JSON per real clients — both).
async fn enter_topapi(
    sim: &Simulator,
    req: &mut Request,
) -> Result<(Option<Fault>, usize, Map<String, Value>), Response> {
    let fault = sim.enter(req, Host::Oapi).await?;
    let token = query_param(req, "access_token").filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(fail(MISSING_TOKEN));
    };
    let Some(org) = sim.state().app_token_org(&token) else {
        return Err(fail(BAD_TOKEN));
    };
    if fault == Some(Fault::PermissionDenied) {
        // §6.2: permission problems arrive through the TOP gateway as 88/60011.
        return Err(reply::oapi_sub_error("60011", "没有调用该接口的权限"));
    }
    let params = read_params(req).await.ok_or_else(|| fail(BAD_PARAMETER))?;
    Ok((fault, org, params))
}

pub(super) async fn read_params(req: &mut Request) -> Option<Map<String, Value>> {
    let content_type = req.content_type().unwrap_or_default().to_ascii_lowercase();
    let bytes = req.take_body().into_bytes_limit(64 * 1024).await.ok()?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some(Map::new());
    }
    let as_json = || match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let as_form =
        || Some(form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect());
    if content_type.starts_with("application/json") {
        as_json()
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        as_form()
    } else {
        as_json().or_else(as_form)
    }
}

/// A string parameter; numbers are accepted too (form bodies make everything a string,
/// JSON clients may send ids as numbers).
fn param_text(params: &Map<String, Value>, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer parameter: `Ok(None)` when absent, `Err` when not an integer.
fn param_int(params: &Map<String, Value>, key: &str) -> Result<Option<i64>, ()> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
        Some(_) => Err(()),
    }
}

/// §5.2: 33012 is for a userid that cannot be one (empty, too long, odd characters).
fn userid_is_malformed(userid: &str) -> bool {
    userid.is_empty() || userid.len() > 64 || userid.chars().any(|c| c.is_control() || c == ' ')
}

fn member_by_userid<'a>(state: &'a SimState, org: usize, userid: &str) -> Option<&'a SimUser> {
    state.orgs[org].users.iter().find(|u| u.userid.as_deref() == Some(userid))
}

/// `POST /topapi/user/getbyunionid` (§5.1).
pub(super) async fn user_by_union_id(sim: Simulator, mut req: Request) -> Response {
    let (fault, org, params) = match enter_topapi(&sim, &mut req).await {
        Ok(entered) => entered,
        Err(answer) => return answer,
    };
    let Some(union_id) = param_text(&params, "unionid") else {
        return fail(BAD_PARAMETER);
    };
    if fault == Some(Fault::UserNotFound) {
        return fail(USER_NOT_FOUND);
    }
    let state = sim.state();
    let member = state.orgs[org].users.iter().find(|u| u.union_id == union_id).and_then(|u| u.userid.clone());
    match member {
        Some(userid) => reply::oapi_result(json!({ "contact_type": 0, "userid": userid })),
        None => fail(USER_NOT_FOUND),
    }
}

/// `POST /topapi/v2/user/get` (§5.2).
pub(super) async fn user_detail(sim: Simulator, mut req: Request) -> Response {
    let (fault, org, params) = match enter_topapi(&sim, &mut req).await {
        Ok(entered) => entered,
        Err(answer) => return answer,
    };
    let Some(userid) = param_text(&params, "userid") else {
        return fail(BAD_PARAMETER);
    };
    if userid_is_malformed(&userid) {
        return fail(BAD_USERID);
    }
    if fault == Some(Fault::UserNotFound) {
        return fail(USER_NOT_FOUND);
    }
    let state = sim.state();
    let Some(user) = member_by_userid(&state, org, &userid) else {
        return fail(USER_NOT_FOUND);
    };
    let dir = &state.orgs[org];
    let roles: Vec<Value> = user
        .role_ids
        .iter()
        .filter_map(|id| dir.role(*id))
        .map(|(group, role)| json!({ "id": role.id, "name": role.name, "group_name": group.name }))
        .collect();
    let mut result = Map::new();
    result.insert("userid".into(), userid.clone().into());
    result.insert("unionid".into(), user.union_id.clone().into());
    result.insert("name".into(), user.nick.clone().into());
    // §5.2: fields are absent when empty.
    let optional = [
        ("avatar", &user.avatar_url),
        ("state_code", &user.state_code),
        ("mobile", &user.mobile),
        ("title", &user.title),
        ("email", &user.email),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            result.insert(key.into(), value.clone().into());
        }
    }
    result.insert("hide_mobile".into(), false.into());
    result.insert("dept_id_list".into(), json!(user.dept_ids));
    result
        .insert("dept_order_list".into(), user.dept_ids.iter().map(|d| json!({ "dept_id": d, "order": 1 })).collect());
    result.insert(
        "leader_in_dept".into(),
        user.dept_ids.iter().map(|d| json!({ "dept_id": d, "leader": user.leader_in_dept.contains(d) })).collect(),
    );
    result.insert("role_list".into(), roles.into());
    result.insert("active".into(), user.active.into());
    result.insert("real_authed".into(), true.into());
    result.insert("senior".into(), false.into());
    result.insert("admin".into(), user.admin.into());
    result.insert("boss".into(), user.boss.into());
    result.insert("exclusive_account".into(), false.into());
    reply::oapi_result(Value::Object(result))
}

/// `POST /topapi/v2/department/listparentbyuser` (§5.4): one chain per department, from
/// the department up to the root `1`.
pub(super) async fn parent_departments(sim: Simulator, mut req: Request) -> Response {
    let (_, org, params) = match enter_topapi(&sim, &mut req).await {
        Ok(entered) => entered,
        Err(answer) => return answer,
    };
    let Some(userid) = param_text(&params, "userid") else {
        return fail(BAD_PARAMETER);
    };
    let state = sim.state();
    // §5.4 lists 33012 (not 60121) as this call's "bad userid" answer.
    let Some(user) = member_by_userid(&state, org, &userid) else {
        return fail(BAD_USERID);
    };
    let parent_list: Vec<Value> = user
        .dept_ids
        .iter()
        .filter_map(|d| state.orgs[org].dept_chain(*d))
        .map(|chain| json!({ "parent_dept_id_list": chain }))
        .collect();
    reply::oapi_result(json!({ "parent_list": parent_list }))
}

/// `POST /topapi/v2/department/get` (§5.3).
pub(super) async fn department_detail(sim: Simulator, mut req: Request) -> Response {
    let (_, org, params) = match enter_topapi(&sim, &mut req).await {
        Ok(entered) => entered,
        Err(answer) => return answer,
    };
    let Ok(Some(dept_id)) = param_int(&params, "dept_id") else {
        return fail(BAD_PARAMETER);
    };
    let state = sim.state();
    let dir = &state.orgs[org];
    let Some(dept) = dir.department(dept_id) else {
        return fail(DEPT_NOT_FOUND);
    };
    let managers: Vec<String> =
        dir.users.iter().filter(|u| u.leader_in_dept.contains(&dept_id)).filter_map(|u| u.userid.clone()).collect();
    let member_count = dir.users.iter().filter(|u| u.userid.is_some() && u.dept_ids.contains(&dept_id)).count();
    let mut result = json!({
        "dept_id": dept.id,
        "name": dept.name,
        "order": dept.id,
        "create_dept_group": false,
        "auto_add_user": false,
        "group_contain_sub_dept": false,
        "dept_manager_userid_list": managers,
        "outer_dept": false,
        "hide_dept": false,
        "from_union_org": false,
        "code": dept.id.to_string(),
        "member_count": member_count,
    });
    if let Some(parent) = dept.parent_id {
        result["parent_id"] = parent.into();
    }
    if let Some(owner) = managers.first() {
        result["org_dept_owner"] = owner.clone().into();
    }
    reply::oapi_result(result)
}

/// `POST /topapi/role/list` (§5.5): groups paged by `offset`/`size`; camelCase inside
/// `result`.
pub(super) async fn role_list(sim: Simulator, mut req: Request) -> Response {
    let (_, org, params) = match enter_topapi(&sim, &mut req).await {
        Ok(entered) => entered,
        Err(answer) => return answer,
    };
    let size = match param_int(&params, "size") {
        Ok(None) => 20,
        Ok(Some(size)) if (1..=200).contains(&size) => size,
        _ => return fail((40069, "不合法的分页大小")),
    };
    let offset = match param_int(&params, "offset") {
        Ok(None) => 0,
        Ok(Some(offset)) if offset >= 0 => offset,
        _ => return fail((40068, "不合法的偏移量")),
    };
    let state = sim.state();
    let groups = &state.orgs[org].roles;
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(groups.len());
    let end = start.saturating_add(usize::try_from(size).unwrap_or(usize::MAX)).min(groups.len());
    let list: Vec<Value> = groups[start..end]
        .iter()
        .map(|g| {
            json!({
                "groupId": g.group_id,
                "name": g.name,
                "roles": g.roles.iter().map(|r| json!({ "id": r.id, "name": r.name })).collect::<Vec<_>>(),
            })
        })
        .collect();
    reply::oapi_result(json!({ "hasMore": end < groups.len(), "list": list }))
}
