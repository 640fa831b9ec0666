//! `POST /token` (RFC 6749 §3.2, §5; OIDC Core §3.1.3, §12): client authentication, dispatch to one
//! function per grant (`grants/`), and the response the grants' minted tokens (`tokens::mint`) go in.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::client_auth::ValueBound;
use super::device::DEVICE_CODE_GRANT;
use super::error::ErrorCode;
use super::{OAuthError, client_auth, grants};
use crate::app::App;
use crate::tokens::mint::{MintError, Minted};

/// RFC 6749 §5.1 success body. Members without a value are left out.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

#[handler]
pub async fn token(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    match token_request(&app, req, body).await {
        // RFC 6749 §5.1: never cache a token response.
        Ok(tokens) => super::json_no_store(StatusCode::OK, serde_json::to_vec(&tokens).unwrap_or_default()),
        Err(e) => e.into_response(),
    }
}

pub async fn token_request(app: &App, req: &Request, body: Body) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §3.2: parameters must not be repeated.
    let (params, client) = client_auth::authenticated_form(app, req, body, ValueBound::Bounded).await?;
    // The per-client limit counts only requests that proved they are the client: a confidential
    // client that authenticated (a failure has returned above). A public client proves nothing
    // (RFC 6749 §2.1, §10.1), so anyone could spend its allowance by naming its client_id; it
    // relies on the per-IP limits and on PKCE (RFC 7636 §4.6) instead.
    if !client.public
        && let Some(retry_after) = app.limits.check_token_client(&client.id)
    {
        return Err(OAuthError::slow_down(retry_after));
    }
    let grant_type = params.get("grant_type").ok_or(OAuthError::invalid_request("grant_type is required"))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token" | "client_credentials" | DEVICE_CODE_GRANT) {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "this grant type is not supported"));
    }
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"));
    }
    match grant_type {
        "authorization_code" => grants::authorization_code::grant(app, &client, &params).await,
        "client_credentials" => grants::client_credentials::grant(app, &client, &params).await,
        DEVICE_CODE_GRANT => grants::device_code::grant(app, &client, &params).await,
        _ => grants::refresh_token::grant(app, &client, &params).await,
    }
}

impl Minted {
    /// RFC 6749 §5.1: the response carrying these tokens (and the refresh token, if any).
    pub fn into_response(self, refresh_token: Option<String>) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token,
            token_type: "Bearer",
            expires_in: self.expires_in,
            scope: self.scope,
            refresh_token,
            id_token: self.id_token,
        }
    }
}

/// A token that cannot be signed is the provider's failure, not the client's: retry shortly.
impl From<MintError> for OAuthError {
    fn from(_: MintError) -> OAuthError {
        OAuthError::unavailable()
    }
}
