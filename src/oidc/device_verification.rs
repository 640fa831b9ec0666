//! The device verification page (RFC 8628 §3.3): `GET /device` asks for the user code (or takes
//! it from `verification_uri_complete`), signs the user in with DingTalk through the organisations
//! the device's client accepts, and shows the client's name, the scopes and the code, so the user
//! can check it is the one on their device before approving (§5.4: remote phishing).
//! `POST /device/confirm` records the answer, once, from a form bound to the session cookie
//! (RFC 6749 §10.12). An approval is the consent (OIDC Core §3.1.2.4) and an authorization code
//! that never leaves the provider: the device's next poll redeems it (`grants::device_code`).
//! User codes that match nothing are limited per client IP (§5.1).

use std::sync::Arc;

use minijinja::context;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use super::device::{KEEP_AFTER_EXPIRY_SECS, canonical_user_code, display_user_code, user_code_hash};
use super::error::BackendError;
use super::params::Params;
use super::{SignedInUser as SignedIn, paths, read_form};
use crate::app::App;
use crate::directory::Client;
use crate::secrets;
use crate::store::{AuthCode, AuthRequest, DeviceDecision, DeviceLookup, OwnPage, ResponseMode};
use crate::web::limits::too_many;
use crate::web::pages::{self, render_page};

/// What the session's anti-CSRF token is derived for (`SessionCookie::form_token`).
const FORM_PURPOSE: &str = "device";

/// The user the request's session cookie proves, with the session's token for this page's form.
async fn signed_in(app: &App, req: &Request) -> Result<Option<SignedIn>, BackendError> {
    super::signed_in_user(app, req, FORM_PURPOSE).await
}

fn client_addr(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions().get::<crate::web::client_addr::ClientAddr>().map(|addr| addr.0)
}

/// The page asking for the code, with `problem` (a fixed text) above the form.
fn entry_page(app: &App, status: StatusCode, user_code: &str, problem: Option<&str>) -> Response {
    let action = app.endpoint_url(paths::DEVICE);
    render_page(status, "device.html", context! { step => "enter", action, user_code, problem })
}

fn finished_page(title: &str, detail: &str) -> Response {
    render_page(StatusCode::OK, "device.html", context! { step => "done", title, detail })
}

/// A request the user can still answer, found by a well-formed code.
struct Found {
    canonical: String,
    lookup: DeviceLookup,
    client: Arc<Client>,
}

/// Looks the typed code up; a code that matches nothing counts against the client IP, and an
/// address over its limit is refused before any lookup.
async fn find(app: &App, req: &Request, typed: &str) -> Result<Found, Response> {
    let addr = client_addr(req);
    if let Some(retry_after) = app.limits.user_code_blocked(addr) {
        return Err(too_many(retry_after, true));
    }
    let unknown = |app: &App| match app.limits.note_user_code_failure(addr) {
        Some(retry_after) => too_many(retry_after, true),
        None => entry_page(
            app,
            StatusCode::NOT_FOUND,
            typed,
            Some("That code is not valid. Check the code on your device."),
        ),
    };
    let Some(canonical) = canonical_user_code(typed) else {
        return Err(unknown(app));
    };
    let lookup = match app.sessions.device_request_by_user_code(&user_code_hash(&app.kek, &canonical)).await {
        Ok(Some(lookup)) => lookup,
        Ok(None) => return Err(unknown(app)),
        Err(e) => return Err(BackendError::from(e).into_page()),
    };
    if lookup.decided {
        return Err(finished_page("Code already used", "This code has been answered. Start again on your device."));
    }
    if app.now() >= lookup.request.expires_at {
        return Err(finished_page("Code expired", "This code has expired. Start again on your device."));
    }
    let client = match app.directory.client_cached(&lookup.request.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(finished_page("Application removed", "The application that asked was removed.")),
        Err(e) => return Err(BackendError::from(e).into_page()),
    };
    Ok(Found { canonical, lookup, client })
}

/// Why a sign-in for this page came back without a session (`?error=`, RFC 6749 §4.1.2.1 codes):
/// fixed texts, never the request's `error_description`.
fn sign_in_problem(error: &str) -> &'static str {
    match error {
        "temporarily_unavailable" => "The sign-in service cannot complete the request now; try again shortly.",
        _ => "The sign-in was cancelled or refused.",
    }
}

/// `GET /device[?user_code=…]`.
#[handler]
pub async fn show(req: &Request, app: Data<&Arc<App>>) -> Response {
    let query = Params::parse(req.uri().query().unwrap_or_default());
    let Some(typed) = query.get("user_code").filter(|c| !c.trim().is_empty()) else {
        return entry_page(&app, StatusCode::OK, "", None);
    };
    let me = match signed_in(&app, req).await {
        Ok(me) => me,
        Err(e) => return e.into_page(),
    };
    // A sign-in for this page that failed comes back with `error`: say so, do not start another.
    if me.is_none()
        && let Some(error) = query.get("error")
    {
        return entry_page(&app, StatusCode::OK, typed, Some(sign_in_problem(error)));
    }
    let found = match find(&app, req, typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match me {
        Some(me) => confirm_page(&app, &found, &me),
        None => sign_in(&app, req, &found).await,
    }
}

/// Starts a DingTalk sign-in, through the organisations the client accepts, that returns here
/// with the code.
async fn sign_in(app: &App, req: &Request, found: &Found) -> Response {
    let back = super::code::append_query(
        &app.endpoint_url(paths::DEVICE),
        &[("user_code", &display_user_code(&found.canonical))],
    );
    let request = AuthRequest::openid_only("", &back);
    let organisations = super::organisation::candidates(app, Some(&found.client), None);
    let route = super::authorize::SignInRoute { return_to: Some(OwnPage::Device), silent: false, organisations };
    super::authorize::start_dingtalk_login(app, req, request, route).await
}

fn confirm_page(app: &App, found: &Found, me: &SignedIn) -> Response {
    if !super::organisation::accepts(app, &found.client, &me.user.org_id) {
        return finished_page(
            "Sign-in refused",
            "Your organisation is not one this application accepts. Sign in with another account.",
        );
    }
    let scopes: Vec<minijinja::Value> = found
        .lookup
        .request
        .scopes
        .iter()
        .map(|s| context! { scope => s.as_str(), description => pages::describe_scope(s) })
        .collect();
    let page = context! {
        step => "confirm",
        action => app.endpoint_url(paths::DEVICE_CONFIRM),
        client_name => found.client.name.as_str(),
        user_name => me.user.name.as_deref().unwrap_or("you"),
        user_code => display_user_code(&found.canonical),
        scopes,
        form_token => me.form_token.as_str(),
    };
    render_page(StatusCode::OK, "device.html", page)
}

fn forbidden() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was not submitted from the page we showed you. Reload the page.",
    )
}

/// `POST /device/confirm`: the user's answer.
#[handler]
pub async fn confirm(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let Ok(form) = read_form(req, body).await else {
        return pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", "The form could not be read.");
    };
    let (Some(typed), Some(token)) = (form.get("user_code"), form.get("form_token")) else {
        return forbidden();
    };
    let me = match signed_in(&app, req).await {
        Ok(Some(me)) => me,
        Ok(None) => return entry_page(&app, StatusCode::OK, typed, Some("Your sign-in has ended. Sign in again.")),
        Err(e) => return e.into_page(),
    };
    if !secrets::secure_eq(token.as_bytes(), me.form_token.as_bytes()) {
        tracing::warn!("device verification form refused: anti-CSRF token mismatch");
        return forbidden();
    }
    let found = match find(&app, req, typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if !super::organisation::accepts(&app, &found.client, &me.user.org_id) {
        return finished_page("Sign-in refused", "Your organisation is not one this application accepts.");
    }
    let approved = form.get("decision") == Some("approve");
    match answer(&app, &found, &me, approved).await {
        Ok(true) if approved => {
            finished_page("Device approved", "You are signed in on your device. You can close this window.")
        }
        Ok(true) => finished_page("Request denied", "The device was not signed in. You can close this window."),
        Ok(false) => finished_page("Code already used", "This code has been answered. Start again on your device."),
        Err(Refusal::SessionEnded) => {
            entry_page(&app, StatusCode::OK, typed, Some("Your sign-in has ended. Sign in again."))
        }
        Err(Refusal::Unavailable(e)) => e.into_page(),
    }
}

enum Refusal {
    SessionEnded,
    Unavailable(BackendError),
}

impl<E: Into<BackendError>> From<E> for Refusal {
    fn from(e: E) -> Refusal {
        Refusal::Unavailable(e.into())
    }
}

/// Records the answer; false when the request had been answered already. An approval is the
/// user's consent, and an authorization code of the session, joined to it for logout (OIDC Core
/// §11: without `offline_access` what it issues ends with the session), kept as long as the
/// request and known only by its hash.
async fn answer(app: &App, found: &Found, me: &SignedIn, approved: bool) -> Result<bool, Refusal> {
    let now = app.now();
    let request = &found.lookup.request;
    let left = u64::try_from(request.expires_at - now).unwrap_or(0).max(1);
    let decision = if approved {
        if !found.client.first_party {
            app.directory.record_consent(&me.user.id, &found.client.id, &request.scopes).await?;
        }
        if !app.sessions.note_sso_session_use(&me.session.id, now, Some(&found.client.id)).await? {
            return Err(Refusal::SessionEnded);
        }
        let code = AuthCode {
            request: AuthRequest {
                scopes: request.scopes.clone(),
                resource: request.resource.clone(),
                response_mode: ResponseMode::Query,
                ..AuthRequest::openid_only(&found.client.id, "")
            },
            user_id: me.user.id.clone(),
            sid: me.session.id.clone(),
            auth_time: me.session.auth_time,
            amr: me.session.amr.clone(),
            issued_at: now,
        };
        let code_hash = secrets::hash(&secrets::token());
        app.sessions.put_code(&code_hash, &code, left).await?;
        DeviceDecision::Approved { code_hash }
    } else {
        DeviceDecision::Denied
    };
    let keep = left + KEEP_AFTER_EXPIRY_SECS;
    Ok(app.sessions.decide_device_request(&found.lookup.device_code_hash, &decision, keep).await?)
}
