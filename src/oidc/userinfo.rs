//! `GET|POST /userinfo` (OIDC Core §5.3, RFC 6750).

use std::sync::Arc;

use poem::http::{Method, StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::BearerError;
use super::params::Params;
use crate::app::App;
use crate::tokens::ProfileClaims;

#[derive(Debug, Serialize)]
struct UserInfo<'a> {
    sub: &'a str,
    #[serde(flatten)]
    profile: ProfileClaims,
}

#[handler]
pub async fn userinfo(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    match run(&app, req, body).await {
        Ok(info) => super::json_no_store(StatusCode::OK, info),
        Err(e) => e.into_response(),
    }
}

/// RFC 6750 §2.1 header or §2.2 form body; never the query (RFC 9700 §4.3.2).
async fn presented_token(req: &Request, body: Body) -> Result<Option<String>, BearerError> {
    let header_token = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| BearerError::InvalidRequest("malformed Authorization header"))?;
            match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                    Some(token.trim().to_string())
                }
                _ => {
                    return Err(BearerError::InvalidRequest("the Authorization header must use the Bearer scheme"));
                }
            }
        }
    };
    let is_form = req.content_type().is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let body_token = if req.method() == Method::POST && is_form {
        let bytes = body
            .into_bytes_limit(super::params::MAX_BODY_LEN)
            .await
            .map_err(|_| BearerError::InvalidRequest("the request body is too large"))?;
        let params = Params::parse(std::str::from_utf8(&bytes).unwrap_or_default());
        if params.is_repeated("access_token") {
            return Err(BearerError::InvalidRequest("access_token was sent more than once"));
        }
        params.get("access_token").map(str::to_string)
    } else {
        None
    };
    match (header_token, body_token) {
        // RFC 6750 §2: exactly one method.
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest("the token was sent by more than one method")),
        (token, None) | (None, token) => Ok(token),
    }
}

async fn run(app: &App, req: &Request, body: Body) -> Result<Vec<u8>, BearerError> {
    let token = presented_token(req, body).await?.ok_or(BearerError::Missing)?;
    let verified = app
        .verifier
        .verify_access_token(&token, &[&app.userinfo_audience], app.config.tokens.leeway_secs)
        .map_err(|_| BearerError::InvalidToken("the access token is invalid or expired"))?;
    let claims = &verified.claims;
    // RFC 7009 §2.1: a revoked access token stops working.
    if app.verifier.is_access_token_denied(claims).await? {
        return Err(BearerError::InvalidToken("the access token was revoked"));
    }
    if !claims.has_scope("openid") {
        return Err(BearerError::InsufficientScope("the openid scope is required"));
    }
    // A removed client's tokens stop working, like a disabled user's (RFC 7662 §4 by analogy).
    if app.directory.client_cached(&claims.client_id).await?.is_none() {
        return Err(BearerError::InvalidToken("the client of this token no longer exists"));
    }
    let user = match app.directory.user_cached(&claims.sub).await? {
        Some(user) if !user.disabled => user,
        _ => return Err(BearerError::InvalidToken("the user is no longer active")),
    };
    let profile = ProfileClaims::for_scopes(&user, claims.scope.split(' '));
    serde_json::to_vec(&UserInfo { sub: &claims.sub, profile }).map_err(|_| BearerError::Unavailable)
}
