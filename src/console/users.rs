//! Console: users. Search, and per user the DingTalk profile and departments, the effective roles
//! with where each comes from (a direct grant, or which mapping rule), the live sessions, and
//! disable / enable / sign out everywhere.

use std::sync::Arc;

use minijinja::context;
use minijinja::value::Value;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use super::{done, failed, notice, operator_or_refusal, page, paths, writer};
use crate::app::App;
use crate::directory::roles::MappingRule;
use crate::login::roles::role_sources;
use crate::login::session::Liveness;
use crate::manage;
use crate::oidc::params::Params;
use crate::web::pages::shown_time;

const PAGE_SIZE: u64 = 50;
pub(super) const NOTICES: &[(&str, &str)] = &[
    ("disabled", "The user was disabled: every session and token ended."),
    ("enabled", "The user may sign in again."),
    ("signed_out", "Every session of the user ended."),
    ("session_ended", "The session ended."),
    ("granted", "The role was granted."),
    ("grant_revoked", "The grant was taken away."),
];

/// `GET /admin/users?q=&offset=`.
#[handler]
pub async fn list(req: &Request, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let query = Params::parse(req.uri().query().unwrap_or_default());
    let search = query.get("q").map(str::trim).filter(|q| !q.is_empty());
    let offset = query.get("offset").and_then(|o| o.parse::<u64>().ok()).unwrap_or(0);
    // With several organisations: a column and a filter (an unknown one is no filter).
    let orgs = app.organisations.all();
    let organisation = query.get("organisation").filter(|o| app.organisations.get(o).is_some() && orgs.len() > 1);
    let (users, total) = match app.directory.list_users_of(organisation, search, offset, PAGE_SIZE).await {
        Ok(found) => found,
        Err(e) => return failed(e.into()),
    };
    let users: Vec<Value> = users
        .iter()
        .map(|u| {
            context! {
                id => u.id.as_str(),
                name => u.name.as_deref().unwrap_or("—"),
                email => u.email.as_deref().unwrap_or_default(),
                organisation => orgs.iter().find(|o| o.key == u.org_id).map_or(u.org_id.as_str(), |o| o.name.as_str()),
                disabled => u.disabled,
                roles => u.effective_roles.join(", "),
                last_login => u.last_login_at.map(|t| shown_time(t).0).unwrap_or_default(),
            }
        })
        .collect();
    let page_link = |offset: u64| {
        let mut pairs = vec![("offset", offset.to_string())];
        if let Some(q) = search {
            pairs.push(("q", q.to_string()));
        }
        if let Some(organisation) = organisation {
            pairs.push(("organisation", organisation.to_string()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::oidc::code::append_query(&app.endpoint_url(paths::USERS), &pairs)
    };
    let values = context! {
        users,
        total,
        search => search.unwrap_or_default(),
        organisations => if orgs.len() > 1 {
            orgs.iter()
                .map(|o| context! { key => o.key.as_str(), name => o.name.as_str(), selected => Some(o.key.as_str()) == organisation })
                .collect::<Vec<_>>()
        } else {
            Vec::new()
        },
        action_url => app.endpoint_url(paths::USERS),
        previous => (offset > 0).then(|| page_link(offset.saturating_sub(PAGE_SIZE))),
        next => (offset + PAGE_SIZE < total).then(|| page_link(offset + PAGE_SIZE)),
    };
    page(&app, &operator, "console_users.html", "Users", values)
}

/// `GET /admin/users/{id}`.
#[handler]
pub async fn show(req: &Request, id: Path<String>, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let user = match manage::users::get(&app.directory, &id).await {
        Ok(user) => user,
        Err(e) => return failed(e),
    };
    let direct = app.directory.direct_roles(&user.id).await;
    let mappings = app.directory.list_mappings().await;
    let all_roles = app.directory.list_roles().await;
    let sessions = app.sessions.sso_sessions_of_user(&user.id).await;
    let (direct, mut mappings, all_roles, mut sessions) = match (direct, mappings, all_roles, sessions) {
        (Ok(d), Ok(m), Ok(r), Ok(s)) => (d, m, r, s),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) => return failed(e.into()),
        (_, _, _, Err(e)) => return failed(e.into()),
    };
    crate::login::roles::assign_default_organisation(&mut mappings, &app.organisations.default_org().key);
    // The roles a grant could add: those the user does not hold directly.
    let grantable: Vec<String> = all_roles.into_iter().map(|r| r.name).filter(|r| !direct.contains(r)).collect();
    let roles: Vec<Value> = role_sources(&direct, &mappings, &user)
        .into_iter()
        .map(|(role, granted, rules)| {
            let rules: Vec<String> = rules.iter().map(|m| describe_rule(&m.rule)).collect();
            context! { role, granted, rules }
        })
        .collect();
    let now = app.now();
    sessions.retain(|s| s.is_live(now, Liveness::Exists));
    sessions.sort_by_key(|s| std::cmp::Reverse(s.auth_time));
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| {
            context! {
                sid => s.id.as_str(),
                signed_in => shown_time(s.auth_time).0,
                last_used => shown_time(s.last_seen_at).0,
                apps => s.clients.join(", "),
            }
        })
        .collect();
    let departments: Vec<String> =
        user.groups.iter().map(|g| g.name.clone().unwrap_or_else(|| format!("#{}", g.id))).collect();
    let profile = context! {
        id => user.id.as_str(),
        name => user.name.as_deref().unwrap_or("—"),
        email => user.email.as_deref().unwrap_or_default(),
        mobile => user.mobile.as_deref().unwrap_or_default(),
        title => user.title.as_deref().unwrap_or_default(),
        dingtalk_user_id => user.dingtalk_user_id.as_deref().unwrap_or_default(),
        union_id => user.union_id.as_str(),
        corp_id => if user.org_id.is_empty() { user.corp_id.as_deref().unwrap_or_default() } else { user.org_id.as_str() },
        org_admin => user.admin,
        disabled => user.disabled,
        departments => departments.join(", "),
        last_login => user.last_login_at.map(|t| shown_time(t).0).unwrap_or_default(),
    };
    let values = context! {
        user => profile,
        roles,
        grantable,
        sessions,
        action_url => user_url(&app, &user.id),
        notice => notice(req, NOTICES),
    };
    page(&app, &operator, "console_user.html", user.name.as_deref().unwrap_or("User"), values)
}

/// `POST /admin/users/{id}`: `action` = disable, enable, sign_out (every session), end_session
/// (`sid`, one of the user's), grant or revoke_grant (`role`).
#[handler]
pub async fn act(req: &Request, id: Path<String>, body: poem::Body, app: Data<&Arc<App>>) -> Response {
    let (_, m, form) = match writer(&app, req, body).await {
        Ok(w) => w,
        Err(resp) => return resp,
    };
    let path = format!("{}/{}", paths::USERS, super::segment(&id));
    let revocation = app.revocation();
    let result = match form.get("action") {
        Some("disable") => manage::users::disable(&m, &revocation, &id).await.map(|()| "disabled"),
        Some("enable") => manage::users::enable(&m, &id).await.map(|()| "enabled"),
        Some("sign_out") => manage::sessions::revoke_user_sessions(&m, &revocation, &id).await.map(|()| "signed_out"),
        Some("grant") => match form.get("role") {
            Some(role) => manage::roles::grant(&m, &id, role).await.map(|()| "granted"),
            None => Err(super::invalid("role: which role to grant")),
        },
        Some("revoke_grant") => match form.get("role") {
            Some(role) => manage::roles::revoke_grant(&m, &id, role).await.map(|()| "grant_revoked"),
            None => Err(super::invalid("role: which grant to take away")),
        },
        Some("end_session") => match form.get("sid") {
            Some(sid) => {
                manage::sessions::end_session_of_user(&m, &revocation, &id, sid).await.map(|_| "session_ended")
            }
            None => Err(super::invalid("sid: which session to end")),
        },
        _ => Err(super::invalid("action: no such action")),
    };
    match result {
        Ok(notice) => done(&app, &path, notice),
        Err(e) => failed(e),
    }
}

fn user_url(app: &App, id: &str) -> String {
    app.endpoint_url(&format!("{}/{}", paths::USERS, super::segment(id)))
}

/// A mapping rule in words (ids as DingTalk gives them: names are not unique there).
pub(super) fn describe_rule(rule: &MappingRule) -> String {
    match rule {
        MappingRule::Department { dept_id, include_sub_departments: false } => {
            format!("member of department {dept_id}")
        }
        MappingRule::Department { dept_id, include_sub_departments: true } => {
            format!("member of department {dept_id} or one below it")
        }
        MappingRule::OrgRole { role_id } => format!("holder of DingTalk role {role_id}"),
        MappingRule::OrgAdmin => "DingTalk organisation admin".into(),
        MappingRule::DepartmentLeader { dept_id: Some(dept) } => format!("leader of department {dept}"),
        MappingRule::DepartmentLeader { dept_id: None } => "leader of any department".into(),
    }
}
