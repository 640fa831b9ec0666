//! The `client_credentials` grant (RFC 6749 §4.4): a confidential client, acting on its own behalf,
//! gets an RFC 9068 access token for one API registered as a resource server, named by `resource`
//! (RFC 8707 §2). The token's `sub` is the client; its scopes are the API's that the client is
//! allowed; there is no refresh token (§4.4.3) and no ID token (no user signed in).

use crate::app::App;
use crate::directory::Client;
use crate::oidc::OAuthError;
use crate::oidc::error::{BackendError, ErrorCode};
use crate::oidc::params::{Params, parse_scope};
use crate::oidc::token::TokenResponse;
use crate::tokens::TokenLifetimes;
use crate::tokens::mint::{ServiceMintRequest, mint_service};

fn invalid_target(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, why)
}

pub async fn grant(app: &App, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    // §4.4.2: only a client that authenticated; registration keeps public clients from the grant,
    // and this keeps it so whatever the row says.
    if client.public {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "client credentials need a confidential client"));
    }
    // RFC 8707 §2: the API the token is for, exactly one (the token endpoint refuses repeats).
    let resource = params.get("resource").ok_or(invalid_target("resource is required: the API the token is for"))?;
    let api = match app.directory.resource_server_cached(resource).await {
        Ok(Some(api)) => api,
        Ok(None) => return Err(invalid_target("the resource is not a registered API")),
        Err(e) => return Err(BackendError::from(e).into()),
    };
    // RFC 6749 §3.3: the API's scopes this client is allowed; a request may only narrow them.
    let grantable: Vec<String> = api.resource_scopes.iter().filter(|s| client.allows_scope(s)).cloned().collect();
    let scopes = match params.get("scope") {
        None => grantable,
        Some(requested) => {
            let requested =
                parse_scope(requested).ok_or(OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?;
            if requested.iter().any(|s| !grantable.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a requested scope is not one of the resource's that this client is allowed",
                ));
            }
            requested
        }
    };
    if scopes.is_empty() {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "the client is allowed none of the resource's scopes"));
    }
    let now = app.now();
    let jti = crate::secrets::token();
    let minted = mint_service(
        &app.token_issuer(),
        &ServiceMintRequest {
            client_id: &client.id,
            audience: resource,
            scopes: &scopes,
            jti: &jti,
            iat: now,
            lifetimes: TokenLifetimes::for_client(&app.config.tokens, client),
        },
    )?;
    crate::metrics::token_issued("client_credentials");
    Ok(minted.into_response(None))
}
