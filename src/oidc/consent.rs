//! `POST /consent`: the user's answer on the consent page. The form carries an anti-CSRF token and
//! must come from the browser session that was shown the page (RFC 6749 §10.12).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use super::code::{ErrorRedirect, LoggedIn, issue_code};
use super::error::{BackendError, ErrorCode};
use crate::app::App;
use crate::login::session::Liveness;
use crate::secrets;
use crate::web::pages;

fn forbidden() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was not submitted from the page we showed you. Start again from the application.",
    )
}

#[handler]
pub async fn consent(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let Ok(params) = super::read_form(req, body).await else {
        return pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", "The consent form could not be read.");
    };
    let (Some(consent_id), Some(csrf_token)) = (params.get("consent_id"), params.get("csrf_token")) else {
        return forbidden();
    };
    answer(&app, req, consent_id, csrf_token, params.get("decision") == Some("approve")).await
}

/// Takes the consent request the form answers, checks it came from the browser session it was
/// shown in, and answers the client: a code, or `access_denied`.
async fn answer(app: &App, req: &Request, consent_id: &str, csrf_token: &str, approved: bool) -> Response {
    // The browser must prove the session the consent page was shown in (its cookie's secret), not
    // merely name it. Read before the consent request is taken, so an outage changes nothing.
    let session = match super::sso_sessions(app).proven(req, app.now(), Liveness::Exists).await {
        Ok(session) => session,
        Err(e) => return BackendError::from(e).into_page(),
    };
    let pending = match app.sessions.take_consent_request(consent_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This consent page has expired or was already answered. Start again from the application.",
            );
        }
        Err(e) => return BackendError::from(e).into_page(),
    };
    let same_session = session.is_some_and(|s| s.id == pending.sid);
    let csrf_ok = secrets::secure_eq(secrets::hash(csrf_token).as_bytes(), pending.csrf_hash.as_bytes());
    if !same_session || !csrf_ok {
        tracing::warn!("consent form refused: CSRF token or session mismatch");
        return forbidden();
    }
    // RFC 9700 §4.12: answer a POST with 303 so the browser does not re-post to the client.
    let status = StatusCode::SEE_OTHER;
    if !approved {
        return ErrorRedirect::new(&pending.request, ErrorCode::AccessDenied, "the user denied the request")
            .into_response(app, status);
    }
    let recorded =
        app.directory.record_consent(&pending.user_id, &pending.request.client_id, &pending.request.scopes).await;
    if let Err(e) = recorded {
        return ErrorRedirect::unavailable(&pending.request, e).into_response(app, status);
    }
    let user = match app.directory.user(&pending.user_id).await {
        Ok(Some(user)) if !user.disabled => user,
        Ok(_) => {
            return ErrorRedirect::new(&pending.request, ErrorCode::AccessDenied, "the account is disabled")
                .into_response(app, status);
        }
        Err(e) => return ErrorRedirect::unavailable(&pending.request, e).into_response(app, status),
    };
    let login = LoggedIn { user, sid: pending.sid, auth_time: pending.auth_time, amr: pending.amr };
    issue_code(app, &pending.request, &login, status).await
}
