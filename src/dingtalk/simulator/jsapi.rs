//! Inside the DingTalk client (docs/dingtalk-api.md §9): the JSAPI script pages load
//! (`GET /jsapi/dingtalk.open.js`), the code it hands out (`POST /__sim/jsapi/authcode`, what the
//! native client does in real DingTalk), the tester's choice of user (`GET /__sim/as?user=`), and
//! the oapi exchange of such a code (`POST /topapi/v2/user/getuserinfo`, §9.2); and the script of
//! the embedded QR login (`GET /ddlogin.js`, §10), whose frame is `/oauth2/auth?embed=1`.

use poem::Request;
use poem::Response;
use poem::http::header;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Host, Simulator, reply};

/// The fake `dd` (see the file's own header).
const JSAPI_SCRIPT: &str = include_str!("jsapi.js");
/// The stand-in for DingTalk's embedded-login script (docs/dingtalk-api.md §10).
const DDLOGIN_SCRIPT: &str = include_str!("ddlogin.js");
/// The cookie `/__sim/as` sets: which simulated user the JSAPI hands codes to.
const USER_COOKIE: &str = "dtsim_user";

/// `GET /jsapi/dingtalk.open.js`: `window.dd` (§9.1).
pub(super) async fn script(sim: Simulator, req: Request) -> Response {
    serve_script(&sim, &req, JSAPI_SCRIPT).await
}

/// `GET /ddlogin.js`: `DTFrameLogin` (§10).
pub(super) async fn ddlogin_script(sim: Simulator, req: Request) -> Response {
    serve_script(&sim, &req, DDLOGIN_SCRIPT).await
}

async fn serve_script(sim: &Simulator, req: &Request, script: &'static str) -> Response {
    if let Err(answer) = sim.enter(req, Host::Login).await {
        return answer;
    }
    Response::builder()
        .content_type("application/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(script)
}

/// `GET /__sim/as?user=<login>`: the JSAPI hands codes to this user from now on (in this browser).
pub(super) async fn choose_user(_sim: Simulator, req: Request) -> Response {
    let user = url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let user: String = user.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':')).collect();
    Response::builder()
        .header(header::SET_COOKIE, format!("{USER_COOKIE}={user}; Path=/; SameSite=None; Secure"))
        .content_type("text/plain; charset=utf-8")
        .body(format!("the JSAPI now signs in {user:?}\n"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodeRequest {
    corp_id: Option<String>,
    client_id: Option<String>,
    user: Option<String>,
    /// A JSAPI error to answer instead (`"-1"` the user cancelled, `"7"` no permission).
    fail: Option<String>,
}

/// `POST /__sim/jsapi/authcode`: the answer `dd.requestAuthCode` gets, as the SDK passes it on
/// (§9.1): `{code}`, or `{errorCode, errorMessage}`. Readable by the page's origin (CORS), since
/// the script runs there.
pub(super) async fn auth_code(sim: Simulator, mut req: Request) -> Response {
    if let Err(answer) = sim.enter(&req, Host::Login).await {
        return answer;
    }
    let origin = req.header(header::ORIGIN).map(str::to_owned);
    let cookie_user = req
        .header(header::COOKIE)
        .and_then(|c| c.split(';').map(str::trim).find_map(|kv| kv.strip_prefix(&format!("{USER_COOKIE}="))))
        .map(str::to_owned);
    let body = req.take_body().into_bytes_limit(16 * 1024).await.unwrap_or_default();
    let answer = match serde_json::from_slice::<CodeRequest>(&body) {
        Ok(request) => issue(&sim, request, cookie_user),
        Err(_) => jsapi_error("-1", "invalid request"),
    };
    let mut resp = Response::builder().content_type("application/json").body(answer.to_string());
    if let Some(origin) = origin {
        let headers = resp.headers_mut();
        if let Ok(value) = origin.parse() {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, poem::http::HeaderValue::from_static("true"));
            headers.insert(header::VARY, poem::http::HeaderValue::from_static("Origin"));
        }
    }
    resp
}

fn jsapi_error(code: &str, message: &str) -> Value {
    json!({ "errorCode": code, "errorMessage": message })
}

fn issue(sim: &Simulator, request: CodeRequest, cookie_user: Option<String>) -> Value {
    if let Some(code) = request.fail {
        return jsapi_error(&code, "simulated JSAPI failure");
    }
    let mut state = sim.state();
    let Some(corp_id) = request.corp_id.filter(|c| !c.is_empty()) else {
        return jsapi_error("-1", "corpId is required");
    };
    // §9.1: error 3 when the organisation has no app on this page's domain (or, for the current
    // call, when clientId is not that app).
    let app = state.orgs.iter().position(|o| o.corp_id == corp_id);
    let Some(org) = app.filter(|a| request.client_id.as_ref().is_none_or(|id| *id == state.orgs[*a].app_key)) else {
        return jsapi_error("3", "对应企业没有该域名微应用");
    };
    let Some(spec) = request.user.or(cookie_user).filter(|u| !u.is_empty()) else {
        return jsapi_error("-1", "the simulator was not told which user is in the DingTalk client");
    };
    // `<corp>:<login>` or `login`: the person signed in to the DingTalk client. Only a member of
    // the organisation asked for sees its apps in the workbench.
    let login = match spec.split_once(':') {
        Some((corp, login)) if corp == corp_id => login,
        Some(_) => return jsapi_error("7", "no_permission"),
        None => spec.as_str(),
    };
    let member = state.orgs[org].user_by_login(login).is_some_and(|u| u.userid.is_some());
    if !member {
        return jsapi_error("7", "no_permission");
    }
    let login = login.to_owned();
    json!({ "code": state.issue_in_app_code(org, &login) })
}

/// `POST /topapi/v2/user/getuserinfo` (§9.2): every encoding of token and code (query, JSON body,
/// form body). Only in-app codes are accepted, once, within five minutes.
pub(super) async fn get_user_info(sim: Simulator, mut req: Request) -> Response {
    if let Err(answer) = sim.enter(&req, Host::Oapi).await {
        return answer;
    }
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let params = super::oapi::read_params(&mut req).await.unwrap_or_default();
    let find = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| params.get(name).and_then(Value::as_str).map(str::to_owned))
    };
    let Some(token) = find("access_token").filter(|t| !t.is_empty()) else {
        return reply::oapi_error(41001, "缺少access_token参数");
    };
    let mut state = sim.state();
    let Some(app) = state.app_token_org(&token) else {
        return reply::oapi_error(40014, "不合法的access_token");
    };
    let Some(code) = find("code").filter(|c| !c.is_empty()) else {
        return reply::oapi_error(400002, "参数错误");
    };
    // §11 (inferred): a code of one organisation's app, redeemed with another's token, is unknown.
    let Some(grant) = state.take_in_app_code(&code).filter(|g| g.app == app) else {
        return reply::oapi_error(crate::dingtalk::error::TEMP_AUTH_CODE_NOT_FOUND, "不存在的临时授权码");
    };
    let Some(user) = state.user_of(&grant) else {
        return reply::oapi_error(crate::dingtalk::error::TEMP_AUTH_CODE_NOT_FOUND, "不存在的临时授权码");
    };
    reply::oapi_fields(json!({
        "result": {
            "userid": user.userid,
            "unionid": user.union_id,
            "associated_unionid": "",
            "name": user.nick,
            "device_id": "simulated-device",
            "sys": false,
            "sys_level": 0,
        },
        "request_id": reply::random_token(),
    }))
}
