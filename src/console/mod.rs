//! The admin console at `/admin/`: server-rendered pages over the same management operations as
//! the admin API and the CLI (`manage`), so every change the console makes writes the same audit
//! event. Operators sign in through the provider itself (`auth`: the console is an OIDC client of
//! its own issuer, with PKCE) or, on first start, with the bootstrap token. Users with role
//! `admin` act; `auditor` reads: pages show an auditor no write control, and every write is
//! refused for one all the same. No page needs JavaScript (there is none: the site-wide CSP allows
//! no script), every form carries an anti-CSRF token, and a change that cannot be undone (delete a
//! client, revoke a key) asks for confirmation on a page of its own.

pub mod audit;
pub mod auth;
pub mod clients;
pub mod dashboard;
pub mod home;
pub mod keys;
pub mod roles;
pub mod timeline;
pub mod users;

use std::sync::Arc;

use minijinja::context;
use minijinja::value::Value;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, Route, get, handler};

use crate::admin::error::ApiError;
use crate::app::App;
use crate::manage::{Manage, ManageError};
use crate::oidc::code::{append_query, redirect};
use crate::oidc::params::Params;
use crate::oidc::read_form;
use crate::web::pages;
use auth::{Operator, Refusal, SignInEnd};

/// The console's paths below the issuer.
pub mod paths {
    pub const HOME: &str = "/admin/";
    pub const LOGIN: &str = "/admin/login";
    pub const LOGIN_START: &str = "/admin/login/start";
    pub const CALLBACK: &str = "/admin/callback";
    pub const LOGOUT: &str = "/admin/logout";
    pub const CLIENTS: &str = "/admin/clients";
    pub const USERS: &str = "/admin/users";
    pub const ROLES: &str = "/admin/roles";
    pub const KEYS: &str = "/admin/keys";
    pub const AUDIT: &str = "/admin/audit";
}

/// Adds the console's routes to `route` (the admin API's, which own `/admin/v1` and `/admin/docs`).
pub fn routes(route: Route) -> Route {
    route
        .at("/admin", get(to_home))
        .at(paths::HOME, get(home::show))
        .at(paths::LOGIN, get(login_page).post(bootstrap_login))
        .at(paths::LOGIN_START, get(login_start))
        .at(paths::CALLBACK, get(callback))
        .at(paths::LOGOUT, poem::post(logout))
        .at(paths::CLIENTS, get(clients::list).post(clients::create))
        .at("/admin/clients/:id", get(clients::show).post(clients::act))
        .at(paths::USERS, get(users::list))
        .at("/admin/users/:id", get(users::show).post(users::act))
        .at(paths::ROLES, get(roles::list).post(roles::create))
        .at("/admin/roles/:name", get(roles::show).post(roles::act))
        .at(paths::KEYS, get(keys::show).post(keys::act))
        .at(paths::AUDIT, get(audit::show))
}

#[handler]
fn to_home(app: Data<&Arc<App>>) -> Response {
    redirect(StatusCode::SEE_OTHER, &app.endpoint_url(paths::HOME), &[])
}

/// The operator of a request, or the response that takes its place: the sign-in page when there
/// is none, a refusal for a signed-in user without a console role, a 503 when a store is down.
pub async fn operator_or_refusal(app: &App, req: &Request) -> Result<Operator, Response> {
    auth::operator(app, req).await.map_err(|refusal| match refusal {
        Refusal::SignIn => redirect(StatusCode::SEE_OTHER, &app.endpoint_url(paths::LOGIN), &[]),
        Refusal::NoRole => no_role(),
        Refusal::Unavailable => pages::unavailable_page(),
    })
}

fn no_role() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "No access to the console",
        "Your account has neither the admin nor the auditor role.",
    )
}

/// A change submitted from a console page, checked: the operator may write, the form carries the
/// session's anti-CSRF token. Returns the operations to act with and the form.
pub async fn writer<'a>(app: &'a App, req: &Request, body: Body) -> Result<(Operator, Manage<'a>, Params), Response> {
    let form = read_form(req, body)
        .await
        .map_err(|_| pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", "The form could not be read."))?;
    let operator = operator_or_refusal(app, req).await?;
    if !operator.form_token_matches(form.get("csrf_token")) {
        tracing::warn!("console form refused: anti-CSRF token missing or wrong");
        return Err(pages::error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form was not submitted from the page we showed you. Reload the page.",
        ));
    }
    let Some(m) = operator.manage(app) else {
        return Err(pages::error_page(StatusCode::FORBIDDEN, "Read-only access", "Changes need the admin role."));
    };
    Ok((operator, m, form))
}

/// A console page: the template's values plus what every console page shows (navigation, the
/// operator, whether write controls appear, the forms' token).
pub fn page(app: &App, operator: &Operator, template: &str, title: &str, values: Value) -> Response {
    let frame = context! {
        console => context! {
            base => app.endpoint_url("/admin"),
            title,
            actor => operator.principal.name.as_deref().unwrap_or(&operator.principal.actor),
            can_write => operator.can_write(),
            form_token => operator.form_token.as_str(),
        },
    };
    pages::render_page(StatusCode::OK, template, context! { ..frame, ..values })
}

/// Back to `path` after a change (303, RFC 9110 §15.4.4), with a fixed notice name.
pub fn done(app: &App, path: &str, notice: &str) -> Response {
    redirect(StatusCode::SEE_OTHER, &append_query(&app.endpoint_url(path), &[("done", notice)]), &[])
}

/// A form the operation cannot take: a 400 page that says why.
pub fn invalid(message: &str) -> ManageError {
    ManageError::Directory(crate::directory::DirectoryError::Invalid(message.into()))
}

/// A failed operation as a page: the admin API's status and message (no secret ever sits in one).
pub fn failed(e: ManageError) -> Response {
    let e = ApiError::from(e);
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        return pages::unavailable_page();
    }
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Already exists",
        _ => "Not changed",
    };
    pages::error_page(e.status, title, &e.message)
}

/// `GET /admin/login`: sign in with DingTalk (through this provider), or with the bootstrap token
/// while the provider has one.
#[handler]
async fn login_page(req: &Request, app: Data<&Arc<App>>) -> Response {
    let query = Params::parse(req.uri().query().unwrap_or_default());
    let problem = match query.get("problem") {
        Some("token") => Some("That is not the bootstrap token."),
        _ => None,
    };
    let values = context! {
        start => app.endpoint_url(paths::LOGIN_START),
        action => app.endpoint_url(paths::LOGIN),
        bootstrap => app.admin_token_hash.is_some(),
        problem,
    };
    pages::render_page(StatusCode::OK, "console_login.html", values)
}

/// `GET /admin/login/start`: the authorization request to our own authorization endpoint.
#[handler]
async fn login_start(app: Data<&Arc<App>>) -> Response {
    match auth::start_sign_in(&app).await {
        Ok(start) => redirect(StatusCode::SEE_OTHER, &start.location, &[start.cookie]),
        Err(e) => failed(e),
    }
}

/// `GET /admin/callback`: the authorization response (RFC 6749 §4.1.2).
#[handler]
async fn callback(req: &Request, app: Data<&Arc<App>>) -> Response {
    let response = Params::parse(req.uri().query().unwrap_or_default());
    let clear = auth::clear_login_cookie(&app);
    match auth::finish_sign_in(&app, req, &response).await {
        SignInEnd::SignedIn(cookie) => {
            redirect(StatusCode::SEE_OTHER, &app.endpoint_url(paths::HOME), &[cookie, clear])
        }
        SignInEnd::Unbound => pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in not recognised",
            "This sign-in was not started in this browser, or it took too long. Sign in again.",
        ),
        SignInEnd::Refused(why) => pages::error_page(StatusCode::FORBIDDEN, "Sign-in refused", &why),
        SignInEnd::NoRole => no_role(),
        SignInEnd::Unavailable => pages::unavailable_page(),
    }
}

/// `POST /admin/login`: the bootstrap token (first start, before anyone has the admin role).
#[handler]
async fn bootstrap_login(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let Ok(form) = read_form(req, body).await else {
        return pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", "The form could not be read.");
    };
    match form.get("token").and_then(|token| auth::bootstrap_cookie(&app, token)) {
        Some(cookie) => redirect(StatusCode::SEE_OTHER, &app.endpoint_url(paths::HOME), &[cookie]),
        None => {
            tracing::warn!("console bootstrap sign-in refused: wrong token");
            let location = append_query(&app.endpoint_url(paths::LOGIN), &[("problem", "token")]);
            redirect(StatusCode::SEE_OTHER, &location, &[])
        }
    }
}

/// `POST /admin/logout`: ends the console session (its access token is revoked).
#[handler]
async fn logout(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let Ok(form) = read_form(req, body).await else {
        return pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", "The form could not be read.");
    };
    let login = app.endpoint_url(paths::LOGIN);
    match auth::operator(&app, req).await {
        Ok(operator) if operator.form_token_matches(form.get("csrf_token")) => {
            auth::sign_out(&app, &operator).await;
            redirect(StatusCode::SEE_OTHER, &login, &[auth::clear_cookie(&app)])
        }
        // Only the session's own page signs it out: another site's form (a forced sign-out) is
        // refused, and a request without a live session has nothing to end.
        Ok(_) => pages::error_page(StatusCode::FORBIDDEN, "Request refused", "Reload the page and try again."),
        Err(_) => redirect(StatusCode::SEE_OTHER, &login, &[]),
    }
}

/// A name as one path segment: everything but RFC 3986's unreserved characters percent-encoded.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A notice after a change (`?done=`): fixed texts, never text from the request.
pub fn notice(req: &Request, known: &[(&str, &'static str)]) -> Option<&'static str> {
    let query = Params::parse(req.uri().query().unwrap_or_default());
    let done = query.get("done")?;
    known.iter().find(|(name, _)| *name == done).map(|(_, text)| *text)
}

/// A confirmation page for a change that cannot be undone: the same form again, with `confirm`.
pub fn confirm_page(
    app: &App,
    operator: &Operator,
    action_url: &str,
    question: &str,
    fields: &[(&str, &str)],
) -> Response {
    let fields: Vec<Value> = fields.iter().map(|&(name, value)| context! { name, value }).collect();
    let values = context! { action_url, question, fields };
    page(app, operator, "console_confirm.html", "Please confirm", values)
}

#[cfg(test)]
mod tests {
    use crate::web::i18n;

    #[test]
    fn every_notice_the_console_shows_has_a_chinese_entry() {
        let notices = [super::clients::NOTICES, super::users::NOTICES, super::keys::NOTICES, super::roles::NOTICES];
        let missing: Vec<&str> = notices
            .iter()
            .flat_map(|n| n.iter().map(|(_, text)| *text))
            .filter(|text| i18n::scoped_sync(i18n::Lang::Zh, || i18n::t(text) == *text))
            .collect();
        assert!(missing.is_empty(), "no 中文 for: {missing:#?}");
    }

    #[test]
    fn a_path_segment_keeps_only_unreserved_characters() {
        assert_eq!(super::segment("grafana-1.x_y~"), "grafana-1.x_y~");
        assert_eq!(super::segment("a b/c?d#e+f%"), "a%20b%2Fc%3Fd%23e%2Bf%25");
    }
}
