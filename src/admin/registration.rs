//! `/admin/v1/registration-tokens`: the initial access tokens that let a party register clients
//! by dynamic registration (RFC 7591 §3), when `registration.enabled`. Issue (the token is shown
//! once), list (never the tokens), revoke.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::auth::AdminAuth;
use super::clients::ApiTags;
use super::error::ApiResult;
use super::roles::Done;
use crate::directory::registration::InitialAccessToken;
use crate::manage;

/// An initial access token, without the token.
#[derive(Debug, Object)]
pub struct InitialTokenBody {
    /// Names the token (to revoke it); not a credential.
    pub id: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<InitialAccessToken> for InitialTokenBody {
    fn from(t: InitialAccessToken) -> Self {
        InitialTokenBody { id: t.id, description: t.description, created_at: t.created_at, expires_at: t.expires_at }
    }
}

#[derive(Debug, Object)]
pub struct IssueInitialTokenBody {
    /// What the token is for (shown in lists).
    #[oai(default)]
    pub description: String,
    /// Seconds until it expires, 1 to 7776000 (90 days). Default 86400.
    pub expires_in: Option<u64>,
}

#[derive(Debug, Object)]
pub struct IssuedInitialTokenBody {
    #[oai(flatten)]
    pub token: InitialTokenBody,
    /// The token, for `Authorization: Bearer` at the registration endpoint. Shown only here: it is
    /// stored as a hash.
    pub initial_access_token: String,
}

#[derive(ApiResponse)]
pub enum Issued {
    /// Issued.
    #[oai(status = 201)]
    Created(Json<IssuedInitialTokenBody>),
}

#[derive(Default)]
pub struct RegistrationTokensApi;

#[OpenApi(prefix_path = "/registration-tokens", tag = "ApiTags::Registration")]
impl RegistrationTokensApi {
    /// Issue an initial access token for dynamic client registration.
    #[oai(path = "/", method = "post")]
    async fn issue(&self, auth: AdminAuth, body: Json<IssueInitialTokenBody>) -> ApiResult<Issued> {
        let m = auth.manage()?;
        let ttl = body.0.expires_in.unwrap_or(manage::registration::DEFAULT_INITIAL_TOKEN_TTL_SECS);
        let (token, secret) = manage::registration::issue(&m, &body.0.description, ttl).await?;
        Ok(Issued::Created(Json(IssuedInitialTokenBody { token: token.into(), initial_access_token: secret })))
    }

    /// List initial access tokens (never the tokens themselves), expired ones included.
    #[oai(path = "/", method = "get")]
    async fn list(&self, auth: AdminAuth) -> ApiResult<Json<Vec<InitialTokenBody>>> {
        let tokens = manage::registration::list(&auth.app().directory).await?;
        Ok(Json(tokens.into_iter().map(Into::into).collect()))
    }

    /// Revoke an initial access token: no client can be registered with it any more.
    #[oai(path = "/:id", method = "delete")]
    async fn revoke(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Done> {
        manage::registration::revoke(&auth.manage()?, &id.0).await?;
        Ok(Done::NoContent)
    }
}
