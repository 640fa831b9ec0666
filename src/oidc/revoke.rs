//! `POST /revoke` (RFC 7009): a refresh token revokes its whole family (and the family's access
//! tokens); an access token is denylisted until its `exp`. Unknown, malformed, expired or other
//! clients' tokens answer 200 and change nothing (§2.2).

use std::sync::Arc;

use poem::http::header;
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use super::client_auth::ValueBound;
use super::{OAuthError, client_auth};
use crate::app::App;
use crate::directory::Client;
use crate::secrets;
use crate::store::{StoreError, refresh_family_id};

#[handler]
pub async fn revoke(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    match run(&app, req, body).await {
        Ok(()) => {
            Response::builder().header(header::CACHE_CONTROL, "no-store").header(header::PRAGMA, "no-cache").finish()
        }
        Err(e) => e.into_response(),
    }
}

async fn run(app: &App, req: &Request, body: Body) -> Result<(), OAuthError> {
    // §2.1: the client authenticates as at the token endpoint.
    let (params, client) = client_auth::authenticated_form(app, req, body, ValueBound::TokenLength).await?;
    let token = params.get("token").ok_or(OAuthError::invalid_request("token is required"))?;
    // §2.1: the hint is honoured as an order of search, never trusted.
    let access_first = params.get("token_type_hint") == Some("access_token");
    let result = if access_first {
        match revoke_access_token(app, &client, token).await {
            Ok(false) => revoke_refresh_token(app, &client, token).await.map(|_| ()),
            other => other.map(|_| ()),
        }
    } else {
        match revoke_refresh_token(app, &client, token).await {
            Ok(false) => revoke_access_token(app, &client, token).await.map(|_| ()),
            other => other.map(|_| ()),
        }
    };
    // §2.2.1: when revocation cannot happen now, say so (503), never a false 200.
    Ok(result?)
}

/// True when `token` is a refresh token of ours (whether or not it was this client's).
async fn revoke_refresh_token(app: &App, client: &Client, token: &str) -> Result<bool, StoreError> {
    let Some(family_id) = refresh_family_id(token) else { return Ok(false) };
    let now = app.now();
    let Some(state) = app.sessions.refresh_token_state(family_id, &secrets::hash(token), now).await? else {
        return Ok(false);
    };
    // §2.1: only the client the token was issued to may revoke it.
    if state.family.client_id == client.id {
        app.revocation().revoke_family(family_id, now).await?;
    }
    Ok(true)
}

/// True when `token` is an access token of ours.
async fn revoke_access_token(app: &App, client: &Client, token: &str) -> Result<bool, StoreError> {
    // A token past its leeway needs no revocation: it already fails verification everywhere we
    // verify. One inside the leeway is still accepted at userinfo, so it is revoked.
    let Ok(verified) = app.verifier.verify_any_access_token(token, app.config.tokens.leeway_secs) else {
        return Ok(false);
    };
    let claims = &verified.claims;
    if claims.client_id == client.id {
        app.revocation().deny_access_token(&claims.jti, claims.exp).await?;
    }
    Ok(true)
}
