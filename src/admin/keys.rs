//! `/admin/v1/keys` (list, rotate, revoke) and `/admin/v1/audit` (query). No private key material
//! ever leaves through here.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::auth::AdminAuth;
use super::clients::ApiTags;
use super::error::{ApiError, ApiResult};
use crate::directory::audit::AuditQuery;
use crate::keys::KeyInfo;
use crate::manage;

#[derive(Debug, Object)]
pub struct KeyBody {
    pub kid: String,
    /// pending, active, retired, removed or revoked.
    pub state: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
    pub removed_at: Option<i64>,
}

impl From<KeyInfo> for KeyBody {
    fn from(k: KeyInfo) -> KeyBody {
        let state = serde_json::to_value(k.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        KeyBody {
            kid: k.kid,
            state,
            created_at: k.created_at,
            activates_at: k.activates_at,
            retires_at: k.retires_at,
            removed_at: k.removed_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct RotateBody {
    /// Sign with the new key at once (caches holding the old JWKS will not know it).
    pub now: Option<bool>,
}

#[derive(Debug, Object)]
pub struct RotatedBody {
    pub kid: String,
    pub activates_at: i64,
    /// False when a pending key already existed.
    pub created: bool,
}

#[derive(Debug, Object)]
pub struct RevokedKeyBody {
    pub kid: String,
    /// The key that signs from now, when the revoked one was signing.
    pub replacement: Option<String>,
}

#[derive(Default)]
pub struct KeysApi;

#[OpenApi(prefix_path = "/keys", tag = "ApiTags::Keys")]
impl KeysApi {
    /// Signing keys and their states.
    #[oai(path = "/", method = "get")]
    async fn list(&self, auth: AdminAuth) -> ApiResult<Json<Vec<KeyBody>>> {
        let keys = auth.app().rotation().list(auth.app().now()).await.map_err(ApiError::from)?;
        Ok(Json(keys.into_iter().map(Into::into).collect()))
    }

    /// Publish a new key (it signs after keys.publish_lead_secs, or at once with `now`).
    #[oai(path = "/rotate", method = "post")]
    async fn rotate(&self, auth: AdminAuth, body: Json<RotateBody>) -> ApiResult<Json<RotatedBody>> {
        let m = auth.manage()?;
        let rotated = manage::keys::rotate(&m, &auth.app().rotation(), body.0.now.unwrap_or(false)).await?;
        Ok(Json(RotatedBody { kid: rotated.kid, activates_at: rotated.activates_at, created: rotated.created }))
    }

    /// Revoke a compromised key: it leaves the JWKS now and its tokens stop verifying.
    #[oai(path = "/:kid/revoke", method = "post")]
    async fn revoke(&self, auth: AdminAuth, kid: Path<String>) -> ApiResult<Json<RevokedKeyBody>> {
        let replacement = manage::keys::revoke(&auth.manage()?, &auth.app().rotation(), &kid.0).await?;
        Ok(Json(RevokedKeyBody { kid: kid.0, replacement }))
    }
}

#[derive(Debug, Object)]
pub struct AuditBody {
    pub id: String,
    pub at: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// JSON text.
    pub detail: String,
}

#[derive(Default)]
pub struct AuditApi;

#[OpenApi(prefix_path = "/audit", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Audit events, newest first.
    #[oai(path = "/", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn query(
        &self,
        auth: AdminAuth,
        kind: Query<Option<String>>,
        actor: Query<Option<String>>,
        subject: Query<Option<String>>,
        since: Query<Option<i64>>,
        until: Query<Option<i64>>,
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<Vec<AuditBody>>> {
        let limit = limit.0.unwrap_or(100);
        if limit == 0 || limit > 1000 {
            return Err(ApiError::bad_request("limit", "limit must be 1 to 1000").into());
        }
        let query = AuditQuery {
            kind: kind.0,
            actor: actor.0,
            subject: subject.0,
            since: since.0,
            until: until.0,
            limit,
            offset: 0,
        };
        let events = auth.app().directory.audit_events(&query).await.map_err(ApiError::from)?;
        Ok(Json(
            events
                .into_iter()
                .map(|e| AuditBody {
                    id: e.id,
                    at: e.at,
                    kind: e.kind,
                    actor: e.actor,
                    subject: e.subject,
                    client_id: e.client_id,
                    detail: e.detail,
                })
                .collect(),
        ))
    }
}
