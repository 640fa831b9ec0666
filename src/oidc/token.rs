//! `POST /token` (RFC 6749 §3.2, §5; OIDC Core §3.1.3, §12): client authentication, dispatch to one
//! function per grant (`grants/`), and the minting shared by the grants.

use std::sync::Arc;

use poem::http::header;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::error::ErrorCode;
use super::{OAuthError, client_auth, grants, read_form};
use crate::app::App;
use crate::keys::ring::JwtType;
use crate::tokens::{AccessClaims, IdClaims, ProfileClaims, TokenLifetimes, access_audience, at_hash};

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
        Ok(tokens) => {
            let body = serde_json::to_vec(&tokens).unwrap_or_default();
            // RFC 6749 §5.1: never cache a token response.
            Response::builder()
                .content_type("application/json")
                .header(header::CACHE_CONTROL, "no-store")
                .header(header::PRAGMA, "no-cache")
                .body(body)
        }
        Err(e) => e.into_response(),
    }
}

pub async fn token_request(app: &App, req: &Request, body: Body) -> Result<TokenResponse, OAuthError> {
    let params = read_form(req, body).await?;
    // RFC 6749 §3.2: parameters must not be repeated.
    if params.first_repeated().is_some() {
        return Err(OAuthError::invalid_request("a parameter was sent more than once"));
    }
    if params.first_too_long().is_some() {
        return Err(OAuthError::invalid_request("a parameter value is too long"));
    }
    let client = client_auth::authenticate(app, req, &params).await?;
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
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "this grant type is not supported"));
    }
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"));
    }
    match grant_type {
        "authorization_code" => grants::authorization_code::grant(app, &client, &params).await,
        _ => grants::refresh_token::grant(app, &client, &params).await,
    }
}

/// What to mint: the access token always, the ID token when asked.
pub struct MintRequest<'a> {
    pub client_id: &'a str,
    pub sub: &'a str,
    /// The scopes of these tokens (narrowed on refresh).
    pub scopes: &'a [String],
    /// Already restricted to `scopes`.
    pub claims: &'a ProfileClaims,
    pub sid: Option<&'a str>,
    pub auth_time: i64,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
    pub with_id_token: bool,
    /// Chosen by the caller, who records it with the grant (for revocation).
    pub jti: &'a str,
    pub iat: i64,
    /// The client's lifetimes (`TokenLifetimes::for_client`), the same the caller recorded with the
    /// grant for revocation.
    pub lifetimes: TokenLifetimes,
}

pub struct Minted {
    pub access_token: String,
    pub id_token: Option<String>,
    pub expires_in: u64,
    pub scope: String,
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

/// Signs the access token (RFC 9068) and, for `openid` grants, the ID token (OIDC Core §2, §12.2).
pub fn mint(app: &App, m: &MintRequest<'_>) -> Result<Minted, OAuthError> {
    let ring = app.keys.ring();
    let signer = ring.signer_at(m.iat).ok_or_else(|| {
        tracing::error!("no signing key is active");
        OAuthError::unavailable()
    })?;
    let scope = m.scopes.join(" ");
    let access = AccessClaims {
        iss: app.issuer.clone(),
        sub: m.sub.to_string(),
        aud: access_audience(&app.issuer, m.scopes),
        exp: m.lifetimes.access_exp(m.iat),
        iat: m.iat,
        jti: m.jti.to_string(),
        client_id: m.client_id.to_string(),
        scope: scope.clone(),
        sid: m.sid.map(str::to_string),
        auth_time: m.auth_time,
        roles: m.claims.roles.clone(),
        groups: m.claims.groups.clone(),
    };
    let signing_failed = |e: crate::keys::KeyError| {
        tracing::error!(error = %e, "signing failed");
        OAuthError::unavailable()
    };
    let access_token = signer.sign(JwtType::Access, &access).map_err(signing_failed)?;
    let id_token = if m.with_id_token && m.scopes.iter().any(|s| s == "openid") {
        let hash = at_hash(&access_token);
        let claims = IdClaims {
            iss: &app.issuer,
            sub: m.sub,
            aud: m.client_id,
            exp: m.lifetimes.id_exp(m.iat),
            iat: m.iat,
            auth_time: m.auth_time,
            nonce: m.nonce,
            at_hash: &hash,
            sid: m.sid,
            amr: m.amr,
            profile: m.claims.clone(),
        };
        Some(signer.sign(JwtType::Id, &claims).map_err(signing_failed)?)
    } else {
        None
    };
    // RFC 6749 §5.1: expires_in is the access token's lifetime, the client's own if it has one.
    Ok(Minted { access_token, id_token, expires_in: m.lifetimes.access_secs, scope })
}
