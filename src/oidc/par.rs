//! `POST /par`, pushed authorization requests (RFC 9126). A client posts its authorization
//! request on the back channel, authenticated as at the token endpoint, and gets a one-time
//! `request_uri` that it sends the browser to /authorize with, beside its `client_id`: nothing of
//! the request (scopes, PKCE challenge, redirect URI) travels through the browser where it could be
//! read or altered, and a confidential client's request is known to come from it. A client
//! registered with `require_pushed_authorization_requests` may start an authorization no other way
//! (§6).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::authorize::{AuthorizeError, RequestOrigin, validate};
use super::client_auth::ValueBound;
use super::error::{BackendError, ErrorCode};
use super::params::Params;
use super::{OAuthError, client_auth};
use crate::app::App;
use crate::secrets;
use crate::store::PushedRequest;

/// RFC 9126 §2.2: the `request_uri` is a URN of this form, its tail a random one-time value.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters that authenticate the client to this endpoint, never part of the request it pushes:
/// they are not kept (a client secret is stored nowhere in the clear).
const CLIENT_AUTHENTICATION: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// RFC 9126 §2.2 success body.
#[derive(Debug, Serialize)]
pub struct PushedAuthorization {
    pub request_uri: String,
    pub expires_in: u64,
}

#[handler]
pub async fn pushed_authorization_request(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    match push(&app, req, body).await {
        // §2.2: 201 Created; the request_uri is a credential for one authorization, not cached.
        Ok(answer) => super::json_no_store(StatusCode::CREATED, serde_json::to_vec(&answer).unwrap_or_default()),
        Err(e) => e.into_response(),
    }
}

/// Authenticates the client, validates the request as /authorize would (§2.1), keeps it and
/// answers with its `request_uri`.
pub async fn push(app: &App, req: &Request, body: Body) -> Result<PushedAuthorization, OAuthError> {
    // §2.1: the client authenticates as at the token endpoint.
    let (params, client) = client_auth::authenticated_form(app, req, body, ValueBound::Bounded).await?;
    // §2.1: a pushed request cannot itself point at another.
    if params.has("request_uri") {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
    }
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ));
    }
    // The request as the authorization endpoint will read it: the authenticated client's id (it
    // may have come in the Basic header only), without the client's credentials.
    let mut pairs: Vec<(String, String)> =
        params.pairs().iter().filter(|(name, _)| !CLIENT_AUTHENTICATION.contains(&name.as_str())).cloned().collect();
    if !params.has("client_id") {
        pairs.push(("client_id".into(), client.id.clone()));
    }
    let request = Params::from_pairs(pairs);
    // §2.1: the same checks as at the authorization endpoint, answered here as JSON: a request
    // that could not start an authorization is not kept.
    match validate(app, &request, RequestOrigin::Pushed).await {
        Ok(_) => {}
        Err(AuthorizeError::Page(_)) => {
            return Err(OAuthError::invalid_request("redirect_uri is missing or not registered for this client"));
        }
        Err(AuthorizeError::Unavailable(e)) => return Err(e.into()),
        Err(AuthorizeError::Redirect(refusal)) => return Err(OAuthError::new(refusal.error, refusal.description)),
    }
    let ttl = app.config.tokens.pushed_request_ttl_secs;
    let token = secrets::token();
    let pushed = PushedRequest { params: request.pairs().to_vec(), expires_at: app.now() + ttl as i64 };
    if let Err(e) = app.sessions.put_pushed_request(&stored_key(&client.id, &token), &pushed, ttl).await {
        return Err(BackendError::from(e).into());
    }
    Ok(PushedAuthorization { request_uri: format!("{REQUEST_URI_PREFIX}{token}"), expires_in: ttl })
}

/// At the authorization endpoint: the pushed request a `request_uri` of ours names, taken (it is
/// good once, §4), or `None` when the request carries no such `request_uri` (any other
/// `request_uri` is a request object by reference, refused by `validate`). `client_id` must be
/// the client that pushed it (§4): it is part of the key the request is kept under, so a
/// `request_uri` presented with another `client_id` (someone who saw the browser's URL) finds
/// nothing and uses nothing up; the client's own browser can still redeem it.
pub async fn take(app: &App, params: &Params) -> Result<Option<Params>, AuthorizeError> {
    let Some(token) = params.get("request_uri").and_then(|uri| uri.strip_prefix(REQUEST_URI_PREFIX)) else {
        return Ok(None);
    };
    if params.is_repeated("request_uri") || params.is_repeated("client_id") {
        return Err(AuthorizeError::Page("The client_id or request_uri parameter was sent more than once."));
    }
    let client_id = params.get("client_id").ok_or(AuthorizeError::Page("The request has no client_id."))?;
    let pushed = app
        .sessions
        .take_pushed_request(&stored_key(client_id, token))
        .await
        .map_err(|e| AuthorizeError::Unavailable(e.into()))?;
    // Unknown, used, expired or another client's look alike: the client must push again.
    let gone = "The sign-in request has expired, was already used or belongs to another application. \
                Go back to the application and try again.";
    let pushed = pushed.filter(|p| p.expires_at > app.now()).ok_or(AuthorizeError::Page(gone))?;
    Ok(Some(Params::from_pairs(pushed.params)))
}

/// The key a pushed request is kept under: a hash of its `request_uri` token and the client it
/// was pushed by (the token is base64url of a fixed length, so the two cannot run into each other).
fn stored_key(client_id: &str, token: &str) -> String {
    secrets::hash(&format!("{token}.{client_id}"))
}
