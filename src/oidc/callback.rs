//! `GET /callback/dingtalk`: DingTalk sends the user back here (docs/dingtalk-api.md §1.1).
//!
//! The `state` must name a PendingAuth started by this very browser (login-CSRF defence); then the
//! DingTalk code is exchanged, membership confirmed (`login::membership`, the rule every upstream
//! recheck applies too), the user upserted and an SSO session begun.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::code::{ErrorRedirect, LoggedIn, finish_authorization, redirect};
use super::error::{BackendError, ErrorCode};
use super::params::Params;
use crate::app::App;
use crate::dingtalk::{DingTalkError, DingTalkIdentity, Organisation};
use crate::login::membership::{self, Account};
use crate::login::method::SignInMethod;
use crate::login::outcome::LoginOutcome;
use crate::secrets;
use crate::store::{AuthRequest, OwnPage, PendingAuth};
use crate::web::{cookies, pages};

#[handler]
pub async fn callback(req: &Request, app: Data<&Arc<App>>) -> Response {
    let params = Params::parse(req.uri().query().unwrap_or_default());
    handle(&app, req, &params).await
}

fn bad_login(detail: &'static str) -> Response {
    pages::error_page(StatusCode::BAD_REQUEST, "Sign-in failed", detail)
}

/// Serves the callback and counts it once in `dingtalk_oidc_logins_total`: every exit of
/// [`sign_in`] names its outcome.
pub async fn handle(app: &App, req: &Request, params: &Params) -> Response {
    let (outcome, response) = sign_in(app, req, params).await;
    crate::metrics::login(outcome.label());
    response
}

async fn sign_in(app: &App, req: &Request, params: &Params) -> (LoginOutcome, Response) {
    let Some(state) = params.get("state") else {
        return (
            LoginOutcome::InvalidState,
            bad_login("The response from DingTalk carries no state. Start again from the application."),
        );
    };
    let pending = match take_bound_pending(app, req, state).await {
        Ok(pending) => pending,
        Err(refusal) => return refusal,
    };
    // The code belongs to the app of the organisation this sign-in went through.
    let organisation = super::organisation::of_pending(app, &pending);
    let request = pending.request;
    let return_to = pending.return_to;
    if params.has("error") {
        return (
            LoginOutcome::UserCancelled,
            ErrorRedirect::new(&request, ErrorCode::AccessDenied, "the user did not complete the DingTalk login")
                .into_response(app, StatusCode::FOUND),
        );
    }
    // docs/dingtalk-api.md §1.1: read authCode, fall back to code.
    let Some(code) = params.get("authCode").or_else(|| params.get("code")) else {
        return (
            LoginOutcome::UserCancelled,
            bad_login("DingTalk returned no authorization code. Start again from the application."),
        );
    };

    let Some(organisation) = organisation else {
        return (
            LoginOutcome::InvalidState,
            bad_login("This sign-in has no organisation chosen. Start again from the application."),
        );
    };
    let identity = match organisation.client.login(code).await {
        Ok(identity) => identity,
        Err(e) => return dingtalk_failure(&e),
    };
    let confirmed = Confirmed { organisation, identity: &identity, method: SignInMethod::HostedLogin };
    signed_in(app, req, request, return_to, confirmed, false).await
}

/// The PendingAuth `state` names, taken (once), if this very browser started it: otherwise an
/// attacker could log a victim's browser into the attacker's account (RFC 6749 §10.12; RFC 9700
/// §4.7).
pub(super) async fn take_bound_pending(
    app: &App,
    req: &Request,
    state: &str,
) -> Result<PendingAuth, (LoginOutcome, Response)> {
    let pending: PendingAuth = match app.sessions.take_pending_auth(state).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err((
                LoginOutcome::InvalidState,
                bad_login("This sign-in has expired or was already completed. Start again from the application."),
            ));
        }
        Err(e) => return Err((LoginOutcome::Unavailable, BackendError::from(e).into_page())),
    };
    let bound = app
        .cookies
        .get(req, cookies::BROWSER_BINDING)
        .is_some_and(|b| secrets::secure_eq(secrets::hash(&b).as_bytes(), pending.browser_binding_hash.as_bytes()));
    if !bound {
        tracing::warn!("DingTalk sign-in completed by a browser that did not start it");
        return Err((
            LoginOutcome::InvalidState,
            bad_login("This sign-in was started in another browser. Start again from the application."),
        ));
    }
    Ok(pending)
}

/// Who DingTalk says signed in, through which organisation's app, and how.
pub(super) struct Confirmed<'a> {
    pub organisation: &'a Organisation,
    pub identity: &'a DingTalkIdentity,
    pub method: SignInMethod,
}

/// DingTalk has said who the user is (at the callback, or inside the DingTalk client): the
/// membership rule, the user record, an SSO session, then the client's answer (`silent`: the
/// request had `prompt=none`, so no page may be shown).
pub(super) async fn signed_in(
    app: &App,
    req: &Request,
    request: AuthRequest,
    return_to: Option<OwnPage>,
    confirmed: Confirmed<'_>,
    silent: bool,
) -> (LoginOutcome, Response) {
    let Confirmed { organisation, identity, method } = confirmed;
    // OIDC Core §2 `auth_time`: DingTalk has just confirmed the user. Taken before the user record
    // is read, so that a disable landing while this sign-in runs denies its tokens too (they come
    // from an authentication before the disable: `Revocation::revoke_user`).
    let auth_time = app.now();
    let not_a_member = || {
        (
            LoginOutcome::RefusedByCorp,
            ErrorRedirect::new(
                &request,
                ErrorCode::AccessDenied,
                "the DingTalk account is not a member of the organisation",
            )
            .into_response(app, StatusCode::FOUND),
        )
    };
    let account = Account::SigningIn { union_id: &identity.union_id, corp_id: identity.corp_id.as_deref() };
    let member = match membership::check(&organisation.client, organisation.corp_id(), account).await {
        Ok(membership) => match membership.allowed() {
            Ok(member) => member,
            Err(reason) => {
                tracing::info!(reason, "DingTalk sign-in refused");
                return not_a_member();
            }
        },
        Err(e) if silent => return silent_dingtalk_failure(app, &request, &e),
        Err(e) => return dingtalk_failure(&e),
    };
    // A failure of ours after the client was validated goes back to it (RFC 6749 §4.1.2.1).
    let unavailable = |request: &AuthRequest, cause: BackendError| {
        (LoginOutcome::Unavailable, ErrorRedirect::unavailable(request, cause).into_response(app, StatusCode::FOUND))
    };
    let user = match app.directory.upsert_user_from_login(&organisation.key, identity, member.as_ref()).await {
        Ok(user) => user,
        Err(e) => return unavailable(&request, e.into()),
    };
    if user.disabled {
        return (
            LoginOutcome::UserDisabled,
            ErrorRedirect::new(&request, ErrorCode::AccessDenied, "the account is disabled")
                .into_response(app, StatusCode::FOUND),
        );
    }
    // A sign-in for one of our own pages is at no client.
    let client_id = return_to.is_none().then_some(request.client_id.as_str());
    record_login(app, req, &user.id, client_id).await;
    // Roles and groups as of this login.
    let user = match crate::login::roles::refresh_user_access(super::access_sources(app), &user).await {
        Ok(user) => user,
        Err(e) => return unavailable(&request, e.into()),
    };
    let ttl = app.config.tokens.sso_session_ttl_secs;
    let (session, session_cookie) = match super::sso_sessions(app).start(ttl, &user.id, auth_time, method.amr()).await {
        Ok(started) => started,
        Err(e) => return unavailable(&request, e.into()),
    };
    if let Some(page) = return_to {
        let cookies = [session_cookie, app.cookies.set(cookies::BROWSER_BINDING, "", Some(0))];
        return (LoginOutcome::Success, redirect(StatusCode::FOUND, &own_page_url(app, page, &request), &cookies));
    }
    let client = match app.directory.client_cached(&request.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return (LoginOutcome::ClientRemoved, bad_login("The application was removed while you were signing in."));
        }
        Err(e) => return (LoginOutcome::Unavailable, BackendError::from(e).into_page()),
    };
    let cookies = [
        session_cookie,
        // The binding has served its purpose.
        app.cookies.set(cookies::BROWSER_BINDING, "", Some(0)),
    ];
    let login = LoggedIn { user, sid: session.id, auth_time, amr: session.amr };
    (
        LoginOutcome::Success,
        finish_authorization(app, &client, request, login, silent, StatusCode::FOUND, &cookies).await,
    )
}

/// A DingTalk failure during a `prompt=none` sign-in: it goes back to the client, never stops at a
/// page (OIDC Core §3.1.2.6): `temporarily_unavailable` for an outage, `login_required` otherwise.
pub(super) fn silent_dingtalk_failure(
    app: &App,
    request: &AuthRequest,
    err: &DingTalkError,
) -> (LoginOutcome, Response) {
    tracing::warn!(dingtalk_error = %err.log_code(), "DingTalk call failed during a silent sign-in");
    let redirect = if err.is_unavailable() {
        ErrorRedirect::new(request, ErrorCode::TemporarilyUnavailable, "DingTalk is unavailable")
    } else {
        ErrorRedirect::new(request, ErrorCode::LoginRequired, "DingTalk did not confirm the user")
    };
    (LoginOutcome::of_dingtalk_failure(err), redirect.into_response(app, StatusCode::FOUND))
}

/// A DingTalk failure: logged with DingTalk's code, shown as a clear page, never a 500.
pub(super) fn dingtalk_failure(err: &DingTalkError) -> (LoginOutcome, Response) {
    tracing::warn!(dingtalk_error = %err.log_code(), "DingTalk call failed during login");
    let status = if err.is_unavailable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
    (LoginOutcome::of_dingtalk_failure(err), pages::error_page(status, "DingTalk sign-in failed", err.user_message()))
}

/// Audit: who logged in, to which client, from where (never a token or code).
async fn record_login(app: &App, req: &Request, user_id: &str, client_id: Option<&str>) {
    let event = crate::directory::audit::AuditEvent {
        kind: crate::directory::audit::AuditKind::Login,
        actor: Some(user_id.to_string()),
        subject: Some(user_id.to_string()),
        client_id: client_id.map(str::to_string),
        detail: serde_json::json!({ "ip": crate::web::client_ip(req), "outcome": "success" }),
    };
    if let Err(e) = app.directory.record_audit(app.now(), event).await {
        tracing::error!(error = %e, "cannot record audit event");
    }
}

/// Where a sign-in for one of our own pages returns.
fn own_page_url(app: &App, page: OwnPage, request: &AuthRequest) -> String {
    match page {
        OwnPage::Account => app.endpoint_url(super::paths::ACCOUNT),
        // Built by `device_verification` from our own URL and the user code: the page again.
        OwnPage::Device => request.redirect_uri.clone(),
    }
}
