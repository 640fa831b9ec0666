//! `POST /token` (RFC 6749 §3.2, §4.1.3, §5; OIDC Core §3.1.3). One function per grant.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::http::header;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::params::{Params, is_pkce_value};
use super::{OAuthError, client_auth, now, read_form};
use crate::app::App;
use crate::directory::{Client, User};
use crate::keys::ring::JwtType;
use crate::random;
use crate::tokens::{AccessClaims, IdClaims, ProfileClaims, at_hash, userinfo_audience};

/// RFC 6749 §5.1 success body. Members without a value are left out.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
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
    match params.get("grant_type") {
        None => Err(OAuthError::invalid_request("grant_type is required")),
        Some("authorization_code") => authorization_code_grant(app, &client, &params).await,
        Some(_) => Err(OAuthError::new("unsupported_grant_type", "this grant type is not supported")),
    }
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 6749 §4.1.3, RFC 7636 §4.5-4.6, OIDC Core §3.1.3.2.
pub async fn authorization_code_grant(
    app: &App,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params.get("code").ok_or(OAuthError::invalid_request("code is required"))?;
    // Policy (RFC 6749 §4.1.3): redirect_uri is always required, even with one registered URI.
    let redirect_uri = params.get("redirect_uri").ok_or(OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = params.get("code_verifier");
    if verifier.is_some_and(|v| !is_pkce_value(v)) {
        return Err(OAuthError::invalid_request("code_verifier is malformed"));
    }
    // Consumed before any other check: a code presented once is gone, whoever presented it.
    let record = match app.sessions.consume_code(&random::hash(code)).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot consume authorization code");
            return Err(OAuthError::unavailable());
        }
    };
    let request = &record.request;
    if request.client_id != client.id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if request.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    match (&request.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            if !random::secure_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant("the code was issued without a code_challenge"));
        }
        (None, None) => {}
    }
    let user = match app.directory.user(&record.user_id).await {
        Ok(Some(user)) if !user.disabled => user,
        Ok(_) => {
            return Err(OAuthError::invalid_grant("the user is no longer allowed to sign in"));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot load user");
            return Err(OAuthError::unavailable());
        }
    };
    mint_tokens(
        app,
        &MintRequest {
            client_id: &client.id,
            user: &user,
            scopes: &request.scopes,
            sid: &record.sid,
            auth_time: record.auth_time,
            amr: &record.amr,
            nonce: request.nonce.as_deref(),
        },
    )
}

pub struct MintRequest<'a> {
    pub client_id: &'a str,
    pub user: &'a User,
    pub scopes: &'a [String],
    pub sid: &'a str,
    pub auth_time: i64,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
}

/// Signs the access token (RFC 9068) and, for `openid` grants, the ID token (OIDC Core §2).
pub fn mint_tokens(app: &App, m: &MintRequest<'_>) -> Result<TokenResponse, OAuthError> {
    let ring = app.keys.ring();
    let signer = ring.signer();
    let iat = now();
    let lifetimes = &app.config.tokens;
    let scope = m.scopes.join(" ");
    let access = AccessClaims {
        iss: app.issuer.clone(),
        sub: m.user.id.clone(),
        aud: userinfo_audience(&app.issuer),
        exp: iat + lifetimes.access_token_ttl_secs as i64,
        iat,
        jti: random::token(),
        client_id: m.client_id.to_string(),
        scope: scope.clone(),
        sid: Some(m.sid.to_string()),
        auth_time: m.auth_time,
    };
    let access_token = signer.sign(JwtType::Access, &access).map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        OAuthError::unavailable()
    })?;
    let id_token = if m.scopes.iter().any(|s| s == "openid") {
        let hash = at_hash(&access_token);
        let claims = IdClaims {
            iss: &app.issuer,
            sub: &m.user.id,
            aud: m.client_id,
            exp: iat + lifetimes.id_token_ttl_secs as i64,
            iat,
            auth_time: m.auth_time,
            nonce: m.nonce,
            at_hash: &hash,
            sid: m.sid,
            amr: m.amr,
            profile: ProfileClaims::for_scopes(m.user, m.scopes.iter().map(String::as_str)),
        };
        Some(signer.sign(JwtType::Id, &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::unavailable()
        })?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetimes.access_token_ttl_secs,
        scope,
        id_token,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc7636_appendix_b_s256_vector() {
        assert_eq!(
            super::s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
