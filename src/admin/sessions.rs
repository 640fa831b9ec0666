//! `/admin/v1/users/{id}/sessions` and `/admin/v1/sessions/{sid}`: see and end SSO sessions.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::auth::AdminAuth;
use super::clients::ApiTags;
use super::error::{ApiError, ApiResult};
use super::roles::Done;
use crate::manage;
use crate::store::SsoSession;

#[derive(Debug, Object)]
pub struct SessionBody {
    /// The session's public id: the `sid` claim of its tokens, and what `DELETE /sessions/{sid}`
    /// takes. It names the session; it is not a credential (the browser's cookie carries a secret
    /// of which only a hash is stored, and never shown).
    pub id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub clients: Vec<String>,
}

impl From<SsoSession> for SessionBody {
    fn from(s: SsoSession) -> SessionBody {
        SessionBody {
            id: s.id,
            user_id: s.user_id,
            auth_time: s.auth_time,
            expires_at: s.expires_at,
            last_seen_at: s.last_seen_at,
            clients: s.clients,
        }
    }
}

#[derive(Default)]
pub struct SessionsApi;

#[OpenApi(tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// A user's live SSO sessions.
    #[oai(path = "/users/:id/sessions", method = "get")]
    async fn list(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<Vec<SessionBody>>> {
        let user = manage::users::get(&auth.app().directory, &id.0).await?;
        let sessions = auth.app().sessions.sso_sessions_of_user(&user.id).await.map_err(ApiError::from)?;
        Ok(Json(sessions.into_iter().map(Into::into).collect()))
    }

    /// End every session of a user (and revoke all the user's refresh tokens).
    #[oai(path = "/users/:id/sessions", method = "delete")]
    async fn revoke_all(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Done> {
        manage::sessions::revoke_user_sessions(&auth.manage()?, &auth.app().revocation(), &id.0).await?;
        Ok(Done::NoContent)
    }

    /// End one session: its session-bound refresh tokens die and its clients are notified.
    #[oai(path = "/sessions/:sid", method = "delete")]
    async fn revoke(&self, auth: AdminAuth, sid: Path<String>) -> ApiResult<Done> {
        manage::sessions::end_session(&auth.manage()?, &auth.app().revocation(), &sid.0).await?;
        Ok(Done::NoContent)
    }
}
