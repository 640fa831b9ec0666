//! `/account`: every signed-in user's own page. It shows the profile as DingTalk gave it, the
//! user's SSO sessions (this browser's marked; sign out others) and the apps the user has allowed
//! something, with the scopes and when (withdraw consent: OIDC Core §3.1.2.4, and a right PIPL
//! gives users). The page signs in through the provider's own DingTalk flow
//! (`oidc::authorize::start_dingtalk_login` with `OwnPage::Account`), needs no JavaScript, and
//! every form carries an anti-CSRF token bound to the session cookie (RFC 6749 §10.12). Every
//! change goes through `manage`, as the admin API's and the CLI's do, with the user as the actor.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use crate::app::App;
use crate::directory::User;
use crate::login::session::Liveness;
use crate::manage::{self, Actor, Manage, ManageError};
use crate::oidc::code::{append_query, redirect};
use crate::oidc::error::BackendError;
use crate::oidc::params::Params;
use crate::oidc::{SignedInUser as SignedIn, paths, read_form, sso_sessions};
use crate::secrets;
use crate::store::{AuthRequest, OwnPage};
use crate::web::pages::{self, AccountApp, AccountSession, AccountView};

/// What the session's anti-CSRF token is derived for (`SessionCookie::form_token`).
const FORM_PURPOSE: &str = "account";

/// The signed-in user, proven by the session cookie.
/// What a form on the page asks for.
enum Action<'a> {
    EndSession(&'a str),
    EndOtherSessions,
    WithdrawConsent(&'a str),
}

impl<'a> Action<'a> {
    fn parse(form: &'a Params) -> Option<Action<'a>> {
        match form.get("action")? {
            "end_session" => form.get("sid").map(Action::EndSession),
            "end_other_sessions" => Some(Action::EndOtherSessions),
            "withdraw_consent" => form.get("client_id").map(Action::WithdrawConsent),
            _ => None,
        }
    }
}

/// What the page says after a change (`?done=`): fixed texts, never text from the request.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "session_ended" => Some("The session was signed out."),
        "other_sessions_ended" => Some("Every other session was signed out."),
        "consent_withdrawn" => Some("Consent withdrawn: the app's tokens no longer work, and it must ask you again."),
        _ => None,
    }
}

/// Why a sign-in for this page came back without a session (`?error=`, RFC 6749 §4.1.2.1 codes):
/// fixed texts, never the request's `error_description`.
fn sign_in_problem(error: Option<&str>) -> &'static str {
    match error {
        Some("temporarily_unavailable") => "The sign-in service cannot complete the request now; try again shortly.",
        _ => "The sign-in was cancelled or refused.",
    }
}

/// `GET /account`: the page for the signed-in user; without a session, the DingTalk sign-in
/// (or, when one just failed, a page that says so and offers to try again: no redirect loop).
#[handler]
pub async fn show(req: &Request, app: Data<&Arc<App>>) -> Response {
    let query = Params::parse(req.uri().query().unwrap_or_default());
    match signed_in(&app, req).await {
        Ok(Some(me)) => match account_view(&app, &me).await {
            Ok(view) => pages::account_page(&AccountView { notice: notice(query.get("done")), ..view }),
            Err(e) => e.into_page(),
        },
        Ok(None) if query.has("error") => {
            pages::account_signed_out_page(sign_in_problem(query.get("error")), &app.endpoint_url(paths::ACCOUNT_LOGIN))
        }
        Ok(None) => sign_in(&app, req).await,
        Err(e) => e.into_page(),
    }
}

/// `GET /account/login`: signs in with DingTalk and comes back to the account page.
#[handler]
pub async fn login(req: &Request, app: Data<&Arc<App>>) -> Response {
    sign_in(&app, req).await
}

/// `POST /account`: one change, then back to the page (303, RFC 9110 §15.4.4) with a notice.
#[handler]
pub async fn act(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let Ok(form) = read_form(req, body).await else {
        return pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", "The form could not be read.");
    };
    let me = match signed_in(&app, req).await {
        Ok(Some(me)) => me,
        Ok(None) => return forbidden(),
        Err(e) => return e.into_page(),
    };
    let token_ok = form.get("csrf_token").is_some_and(|t| secrets::secure_eq(t.as_bytes(), me.form_token.as_bytes()));
    let Some(action) = Action::parse(&form).filter(|_| token_ok) else {
        tracing::warn!("account form refused: anti-CSRF token missing or wrong, or no such action");
        return forbidden();
    };
    match perform(&app, &me, action).await {
        Ok(Done::Stay(done)) => {
            let location = append_query(&app.endpoint_url(paths::ACCOUNT), &[("done", done)]);
            redirect(StatusCode::SEE_OTHER, &location, &[])
        }
        Ok(Done::SignedOut) => {
            let mut resp = pages::logged_out_page();
            if let Ok(cookie) = sso_sessions(&app).clear_cookie().parse() {
                resp.headers_mut().append(poem::http::header::SET_COOKIE, cookie);
            }
            resp
        }
        Err(ManageError::NotFound(_)) => pages::error_page(
            StatusCode::NOT_FOUND,
            "Already gone",
            "That session or app is no longer there. Reload your account page.",
        ),
        Err(ManageError::Directory(e)) => BackendError::from(e).into_page(),
        Err(ManageError::Store(e)) => BackendError::from(e).into_page(),
        Err(ManageError::Key(e)) => BackendError::from(e).into_page(),
    }
}

enum Done {
    /// Back to the page, with this `done` notice.
    Stay(&'static str),
    /// This browser's own session ended.
    SignedOut,
}

async fn perform(app: &App, me: &SignedIn, action: Action<'_>) -> Result<Done, ManageError> {
    let m = Manage::for_server(app, Actor::account_owner(me.user.id.clone()));
    let revocation = app.revocation();
    match action {
        Action::EndSession(sid) => {
            manage::sessions::end_session_of_user(&m, &revocation, &me.user.id, sid).await?;
            Ok(if sid == me.session.id { Done::SignedOut } else { Done::Stay("session_ended") })
        }
        Action::EndOtherSessions => {
            manage::sessions::end_other_sessions(&m, &revocation, &me.user.id, &me.session.id).await?;
            Ok(Done::Stay("other_sessions_ended"))
        }
        Action::WithdrawConsent(client_id) => {
            manage::consents::withdraw(&m, &revocation, &me.user.id, client_id).await?;
            Ok(Done::Stay("consent_withdrawn"))
        }
    }
}

fn forbidden() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was not submitted from the page we showed you. Reload your account page.",
    )
}

/// The user the request's session cookie proves, with the session's token for this page's forms.
async fn signed_in(app: &App, req: &Request) -> Result<Option<SignedIn>, BackendError> {
    crate::oidc::signed_in_user(app, req, FORM_PURPOSE).await
}

/// Starts a DingTalk sign-in that returns to this page. The request names no client: errors come
/// back to `/account` as RFC 6749 §4.1.2.1 parameters.
async fn sign_in(app: &App, req: &Request) -> Response {
    let request = AuthRequest::openid_only("", &app.endpoint_url(paths::ACCOUNT));
    let organisations = crate::oidc::organisation::candidates(app, None, None);
    let route = crate::oidc::authorize::SignInRoute { return_to: Some(OwnPage::Account), silent: false, organisations };
    crate::oidc::authorize::start_dingtalk_login(app, req, request, route).await
}

/// Everything the page shows: the user's live sessions, newest first, with the names of the apps
/// each signed in to, and the apps the user allowed something.
async fn account_view(app: &App, me: &SignedIn) -> Result<AccountView, BackendError> {
    let now = app.now();
    let mut sessions = app.sessions.sso_sessions_of_user(&me.user.id).await?;
    sessions.retain(|s| s.is_live(now, Liveness::Exists));
    sessions.sort_by(|a, b| b.auth_time.cmp(&a.auth_time).then_with(|| a.id.cmp(&b.id)));
    let mut session_views = Vec::with_capacity(sessions.len());
    for session in sessions {
        let mut apps = Vec::with_capacity(session.clients.len());
        for client_id in &session.clients {
            apps.push(client_name(app, client_id).await?);
        }
        session_views.push(AccountSession {
            current: session.id == me.session.id,
            id: session.id,
            signed_in_at: session.auth_time,
            last_used_at: session.last_seen_at,
            apps,
        });
    }
    let mut apps = Vec::new();
    for consent in app.directory.consents_of_user(&me.user.id).await? {
        apps.push(AccountApp {
            name: client_name(app, &consent.client_id).await?,
            client_id: consent.client_id,
            scopes: consent.scopes,
            granted_at: consent.granted_at,
        });
    }
    Ok(AccountView {
        profile: profile(&me.user),
        sessions: session_views,
        apps,
        form_token: me.form_token.clone(),
        action: app.endpoint_url(paths::ACCOUNT),
        notice: None,
    })
}

/// A client's display name; its id when it was deleted since.
async fn client_name(app: &App, client_id: &str) -> Result<String, BackendError> {
    Ok(app.directory.client_cached(client_id).await?.map_or_else(|| client_id.to_string(), |c| c.name.clone()))
}

/// The profile as DingTalk gave it at the last sign-in or recheck: what the user has, in order.
fn profile(user: &User) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    let mut add = |label: &'static str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            fields.push((label, value));
        }
    };
    add("Name", user.name.clone());
    add("Title", user.title.clone());
    add("Email", user.email.clone());
    add("Mobile", user.mobile.clone());
    add("DingTalk user id", user.dingtalk_user_id.clone());
    add("DingTalk union id", Some(user.union_id.clone()));
    add("Organisation", user.corp_id.clone());
    add(
        "Departments and their parents",
        Some(user.groups.iter().filter_map(|g| g.name.as_deref()).collect::<Vec<_>>().join(", ")),
    );
    add("Roles", Some(user.effective_roles.join(", ")));
    fields
}
