//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET|POST /logout`, and the
//! CSRF-protected confirmation `POST /logout/confirm`. Ending the session revokes its session-bound
//! refresh families and notifies its clients by back-channel logout before the redirect (§2).

use std::sync::Arc;

use poem::http::{Method, StatusCode};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::code::{append_query, redirect, with_cookies};
use super::error::BackendError;
use super::params::Params;
use super::{backchannel, paths};
use crate::app::App;
use crate::login::session::Liveness;
use crate::secrets;
use crate::store::{SsoSession, StoreError};
use crate::tokens::verify_id_token_hint;
use crate::web::pages;

/// A logout waiting for the user's confirmation (kept in the session store's cache). It names the
/// session by its public id: the browser proves it again with its cookie when it confirms.
#[derive(Debug, Serialize, Deserialize)]
struct PendingLogout {
    sid: String,
    csrf_hash: String,
    redirect: Option<String>,
    state: Option<String>,
}

const CONFIRM_TTL_SECS: u64 = 600;

fn pending_key(id: &str) -> String {
    format!("logout_confirm:{id}")
}

fn bad_request(detail: &str) -> Response {
    pages::error_page(StatusCode::BAD_REQUEST, "Sign-out request refused", detail)
}

/// Why a logout request is not carried out.
#[derive(Debug)]
enum LogoutError {
    /// 400 with the reason.
    BadRequest(&'static str),
    /// 403: the confirmation form was not the one we showed this browser.
    Forbidden,
    /// A backing service failed: the unavailable page.
    Unavailable(BackendError),
}

impl<E: Into<BackendError>> From<E> for LogoutError {
    fn from(e: E) -> LogoutError {
        LogoutError::Unavailable(e.into())
    }
}

impl LogoutError {
    fn into_response(self) -> Response {
        match self {
            LogoutError::BadRequest(detail) => bad_request(detail),
            LogoutError::Forbidden => pages::error_page(
                StatusCode::FORBIDDEN,
                "Request refused",
                "This form was not submitted from the page we showed you.",
            ),
            LogoutError::Unavailable(e) => e.into_page(),
        }
    }
}

#[handler]
pub async fn logout(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    // §2: GET and POST.
    let params = if req.method() == Method::POST {
        match super::read_form(req, body).await {
            Ok(p) => p,
            Err(_) => return bad_request("The request body must be a form."),
        }
    } else {
        Params::parse(req.uri().query().unwrap_or_default())
    };
    run(&app, req, &params).await.unwrap_or_else(LogoutError::into_response)
}

async fn run(app: &App, req: &Request, params: &Params) -> Result<Response, LogoutError> {
    if params.first_repeated().is_some() {
        return Err(LogoutError::BadRequest("A parameter was sent more than once."));
    }
    // §2: the hint must be an ID token we issued; an expired one is fine.
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => match verify_id_token_hint(&app.keys.ring(), token, &app.issuer) {
            Ok(hint) => Some(hint),
            Err(_) => return Err(LogoutError::BadRequest("The id_token_hint was not issued by this provider.")),
        },
    };
    let hint_client = hint.as_ref().and_then(|h| h.client_id()).map(str::to_string);
    if let (Some(client_id), Some(aud)) = (params.get("client_id"), &hint_client)
        && client_id != aud
    {
        return Err(LogoutError::BadRequest("The client_id does not match the id_token_hint."));
    }
    // §3: redirect only to a URI registered for the client the hint establishes.
    let redirect_to = match (params.get("post_logout_redirect_uri"), &hint_client) {
        (Some(uri), Some(client_id)) => match app.directory.client(client_id).await? {
            Some(client) if client.post_logout_redirect_uri_registered(uri) => Some(uri.to_string()),
            _ => {
                return Err(LogoutError::BadRequest(
                    "The post_logout_redirect_uri is not registered for this application.",
                ));
            }
        },
        (Some(_), None) => None,
        (None, _) => None,
    };
    let state = params.get("state").map(str::to_string);
    let Some(session) = current_session(app, req).await? else {
        // §4: logging out without a session is not an error.
        return Ok(finish(app, redirect_to, state, StatusCode::FOUND));
    };
    let proven =
        hint.as_ref().is_some_and(|h| h.sid.as_deref() == Some(session.id.as_str()) || h.sub == session.user_id);
    if proven {
        end_session(app, &session).await?;
        return Ok(finish(app, redirect_to, state, StatusCode::FOUND));
    }
    // §6: not proven to come from this session's relying party: ask the user.
    let confirm_id = secrets::token();
    let csrf = secrets::token();
    let pending = PendingLogout { sid: session.id, csrf_hash: secrets::hash(&csrf), redirect: redirect_to, state };
    let stored = serde_json::to_string(&pending).unwrap_or_default();
    app.sessions.put_cached(&pending_key(&confirm_id), &stored, CONFIRM_TTL_SECS).await?;
    Ok(pages::logout_confirm_page(&app.endpoint_url(paths::LOGOUT_CONFIRM), &confirm_id, &csrf))
}

#[handler]
pub async fn confirm(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let Ok(params) = super::read_form(req, body).await else { return bad_request("The form could not be read.") };
    run_confirm(&app, req, &params).await.unwrap_or_else(LogoutError::into_response)
}

async fn run_confirm(app: &App, req: &Request, params: &Params) -> Result<Response, LogoutError> {
    let (Some(id), Some(csrf)) = (params.get("confirm_id"), params.get("csrf_token")) else {
        return Err(LogoutError::Forbidden);
    };
    let pending: PendingLogout = match app.sessions.get_cached(&pending_key(id)).await? {
        Some(json) => {
            serde_json::from_str(&json).map_err(|_| LogoutError::BadRequest("This sign-out page has expired."))?
        }
        None => {
            return Err(LogoutError::BadRequest(
                "This sign-out page has expired. Sign out again from the application.",
            ));
        }
    };
    let session = current_session(app, req).await?;
    let same_session = session.as_ref().is_some_and(|s| s.id == pending.sid);
    if !same_session || !secrets::secure_eq(secrets::hash(csrf).as_bytes(), pending.csrf_hash.as_bytes()) {
        tracing::warn!("logout confirmation refused: CSRF token or session mismatch");
        return Err(LogoutError::Forbidden);
    }
    let _ = app.sessions.put_cached(&pending_key(id), "", 0).await;
    if let Some(session) = session {
        end_session(app, &session).await?;
    }
    // RFC 9700 §4.12: 303 after a form POST.
    Ok(finish(app, pending.redirect, pending.state, StatusCode::SEE_OTHER))
}

/// The session the cookie proves, idle or not: logging out ends whatever still exists, so an
/// idle session is still ended (its refresh families revoked, its clients notified) rather than
/// left to expire. This is `Liveness::Exists`, not the single sign-on rule of `/authorize`.
async fn current_session(app: &App, req: &Request) -> Result<Option<SsoSession>, StoreError> {
    super::sso_sessions(app).proven(req, app.now(), Liveness::Exists).await
}

/// Ends the session, then tries to deliver the back-channel notifications before answering, so
/// clients hear of the logout before the browser is sent back (RP-Initiated Logout §2).
async fn end_session(app: &App, session: &SsoSession) -> Result<(), StoreError> {
    let deliveries = app.revocation().end_session_unnotified(session, app.now()).await?;
    backchannel::deliver_now(app, deliveries).await?;
    let event = crate::directory::audit::AuditEvent {
        kind: crate::directory::audit::AuditKind::Logout,
        actor: Some(session.user_id.clone()),
        subject: Some(session.user_id.clone()),
        client_id: None,
        detail: serde_json::json!({ "clients": session.clients }),
    };
    if let Err(e) = app.directory.record_audit(app.now(), event).await {
        tracing::error!(error = %e, "cannot record audit event");
    }
    Ok(())
}

fn finish(app: &App, redirect_to: Option<String>, state: Option<String>, status: StatusCode) -> Response {
    let clear = [super::sso_sessions(app).clear_cookie()];
    match redirect_to {
        Some(uri) => {
            let location = match &state {
                Some(state) => append_query(&uri, &[("state", state)]),
                None => uri,
            };
            redirect(status, &location, &clear)
        }
        None => with_cookies(pages::logged_out_page(), &clear),
    }
}
