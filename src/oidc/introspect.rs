//! `POST /introspect` (RFC 7662). Callers authenticate as confidential clients; a token is shown
//! active only to its own client or to a client registered as a resource server (§2.2, §4).
//! Anything not currently usable is exactly `{"active": false}`.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::client_auth::ValueBound;
use super::error::BackendError;
use super::{OAuthError, client_auth};
use crate::app::App;
use crate::directory::Client;
use crate::secrets;
use crate::store::refresh_family_id;
use crate::tokens::AccessClaims;

/// §2.2 response members of an active token, borrowed from the token's claims or family.
#[derive(Debug, Serialize, Default)]
pub struct Introspection<'a> {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<&'a [String]>,
}

/// §2.2: anything not currently usable (or not the caller's to see) is exactly this.
const INACTIVE: &[u8] = br#"{"active":false}"#;

fn body_of(answer: &Introspection<'_>) -> Vec<u8> {
    serde_json::to_vec(answer).unwrap_or_else(|_| INACTIVE.to_vec())
}

#[handler]
pub async fn introspect(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    match run(&app, req, body).await {
        Ok(answer) => super::json_no_store(StatusCode::OK, answer),
        Err(e) => e.into_response(),
    }
}

async fn run(app: &App, req: &Request, body: Body) -> Result<Vec<u8>, OAuthError> {
    let (params, caller) = client_auth::authenticated_form(app, req, body, ValueBound::TokenLength).await?;
    // §2.1: the caller must authenticate; a public client proves nothing.
    if caller.public {
        return Err(OAuthError::invalid_client("introspection needs a confidential client", false));
    }
    let token = params.get("token").ok_or(OAuthError::invalid_request("token is required"))?;
    let access_first = params.get("token_type_hint") == Some("access_token");
    let found = if access_first {
        match access_token(app, &caller, token).await {
            Ok(None) => refresh_token(app, &caller, token).await,
            other => other,
        }
    } else {
        match refresh_token(app, &caller, token).await {
            Ok(None) => access_token(app, &caller, token).await,
            other => other,
        }
    };
    Ok(found?.unwrap_or_else(|| INACTIVE.to_vec()))
}

/// §2.2, §4: the token's own client, or a resource server, may see it; and a token whose client
/// has been removed is no longer active (its client cannot use it, so nothing else should accept
/// it). The caller itself just authenticated, so only another client needs a (cached) look-up.
async fn may_see(app: &App, caller: &Client, token_client: &str) -> Result<bool, BackendError> {
    if caller.id == token_client {
        return Ok(true);
    }
    Ok(caller.resource_server && app.directory.client_cached(token_client).await?.is_some())
}

/// A token for the provider's own resources (userinfo, admin API) by [`may_see`]; a client's own
/// token for an API (client credentials, `aud` the API's resource indicator) only to that client
/// and to the API it is addressed to (§4), never to other resource servers.
async fn may_see_access_token(app: &App, caller: &Client, claims: &AccessClaims) -> Result<bool, BackendError> {
    if app.verifier.is_own_audience(&claims.aud) {
        return may_see(app, caller, &claims.client_id).await;
    }
    if caller.id == claims.client_id {
        return Ok(true);
    }
    Ok(caller.resource_uri.as_deref() == Some(claims.aud.as_str())
        && app.directory.client_cached(&claims.client_id).await?.is_some())
}

async fn refresh_token(app: &App, caller: &Client, token: &str) -> Result<Option<Vec<u8>>, BackendError> {
    let Some(family_id) = refresh_family_id(token) else { return Ok(None) };
    let now = app.now();
    let Some(state) = app.sessions.refresh_token_state(family_id, &secrets::hash(token), now).await? else {
        return Ok(None);
    };
    let family = state.family;
    if !state.current || !may_see(app, caller, &family.client_id).await? {
        return Ok(Some(INACTIVE.to_vec()));
    }
    let scope = family.scopes.join(" ");
    let has_scope = |name: &str| family.scopes.iter().any(|s| s == name);
    Ok(Some(body_of(&Introspection {
        active: true,
        scope: Some(&scope),
        aud: Some(&family.client_id),
        client_id: Some(&family.client_id),
        sub: Some(&family.user_id),
        iss: Some(&app.issuer),
        exp: Some(family.expires_at),
        iat: Some(family.created_at),
        token_type: Some("refresh_token"),
        sid: family.sid.as_deref(),
        auth_time: Some(family.auth_time),
        roles: family.claims.roles.as_deref().filter(|_| has_scope("roles")),
        groups: family.claims.groups.as_deref().filter(|_| has_scope("groups")),
        ..Introspection::default()
    })))
}

async fn access_token(app: &App, caller: &Client, token: &str) -> Result<Option<Vec<u8>>, BackendError> {
    // §4: signature, issuer, audience and expiry, then the denylist.
    let Ok(verified) = app.verifier.verify_any_access_token(token, 0) else {
        return Ok(None);
    };
    let claims = &verified.claims;
    if app.verifier.is_access_token_denied(claims).await? || !may_see_access_token(app, caller, claims).await? {
        return Ok(Some(INACTIVE.to_vec()));
    }
    Ok(Some(body_of(&Introspection {
        active: true,
        scope: Some(&claims.scope),
        client_id: Some(&claims.client_id),
        sub: Some(&claims.sub),
        aud: Some(&claims.aud),
        iss: Some(&claims.iss),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        jti: Some(&claims.jti),
        token_type: Some("Bearer"),
        sid: claims.sid.as_deref(),
        auth_time: claims.auth_time,
        roles: claims.roles.as_deref(),
        groups: claims.groups.as_deref(),
    })))
}
