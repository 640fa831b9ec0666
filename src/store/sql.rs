//! The SQL SessionStore (sea-orm, SQLite or PostgreSQL): one `session_records` table keyed by
//! (kind, id), JSON values and an `expires_at` that every read checks, so an expired record is never
//! returned even before a sweeper removes it.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AuthCode, ConsentRequest, PendingAuth, SessionStore, SsoSession, StoreError};
use crate::directory::entities::session_record::{self, Column};

const PENDING_AUTH: &str = "pending_auth";
const CONSENT_REQUEST: &str = "consent_request";
const AUTH_CODE: &str = "auth_code";
const SSO_SESSION: &str = "sso_session";

#[derive(Clone, Debug)]
pub struct SqlSessionStore {
    db: DatabaseConnection,
}

impl SqlSessionStore {
    pub fn new(db: DatabaseConnection) -> Self {
        SqlSessionStore { db }
    }

    async fn put<T: Serialize>(
        &self,
        kind: &str,
        id: &str,
        user_id: Option<&str>,
        value: &T,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let model = session_record::ActiveModel {
            kind: Set(kind.to_string()),
            id: Set(id.to_string()),
            user_id: Set(user_id.map(str::to_string)),
            value: Set(value),
            expires_at: Set(expires_at),
        };
        session_record::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([Column::Kind, Column::Id])
                    .update_columns([Column::UserId, Column::Value, Column::ExpiresAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let row = session_record::Entity::find()
            .filter(Column::Kind.eq(kind))
            .filter(Column::Id.eq(id))
            .filter(Column::ExpiresAt.gt(now()))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        row.map(|r| decode(&r.value)).transpose()
    }

    /// Get-and-delete in one statement (DELETE … RETURNING): of concurrent takers exactly one
    /// receives the record.
    async fn take<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let rows = session_record::Entity::delete_many()
            .filter(Column::Kind.eq(kind))
            .filter(Column::Id.eq(id))
            .exec_with_returning(&self.db)
            .await
            .map_err(unavailable)?;
        let now = now();
        rows.into_iter()
            .find(|r| r.expires_at > now)
            .map(|r| decode(&r.value))
            .transpose()
    }

    async fn delete(&self, kind: &str, id: &str) -> Result<(), StoreError> {
        session_record::Entity::delete_many()
            .filter(Column::Kind.eq(kind))
            .filter(Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Deletes up to `batch` expired records; returns how many went.
    pub async fn sweep_expired(&self, batch: u64) -> Result<u64, StoreError> {
        use sea_orm::{QuerySelect, QueryTrait};
        let expired = session_record::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::ExpiresAt.lte(now()))
            .limit(batch)
            .into_query();
        let result = session_record::Entity::delete_many()
            .filter(Column::ExpiresAt.lte(now()))
            .filter(Column::Id.in_subquery(expired))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn expires(ttl_secs: u64) -> i64 {
    now().saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX))
}

fn unavailable(err: DbErr) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn put_pending_auth(&self, auth: &PendingAuth, ttl_secs: u64) -> Result<(), StoreError> {
        self.put(PENDING_AUTH, &auth.id, None, auth, expires(ttl_secs))
            .await
    }

    async fn take_pending_auth(&self, id: &str) -> Result<Option<PendingAuth>, StoreError> {
        self.take(PENDING_AUTH, id).await
    }

    async fn put_consent_request(
        &self,
        req: &ConsentRequest,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        self.put(
            CONSENT_REQUEST,
            &req.id,
            Some(&req.user_id),
            req,
            expires(ttl_secs),
        )
        .await
    }

    async fn take_consent_request(&self, id: &str) -> Result<Option<ConsentRequest>, StoreError> {
        self.take(CONSENT_REQUEST, id).await
    }

    async fn put_code(
        &self,
        code_hash: &str,
        code: &AuthCode,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        self.put(
            AUTH_CODE,
            code_hash,
            Some(&code.user_id),
            code,
            expires(ttl_secs),
        )
        .await
    }

    async fn consume_code(&self, code_hash: &str) -> Result<Option<AuthCode>, StoreError> {
        self.take(AUTH_CODE, code_hash).await
    }

    async fn put_sso_session(&self, session: &SsoSession) -> Result<(), StoreError> {
        self.put(
            SSO_SESSION,
            &session.id,
            Some(&session.user_id),
            session,
            session.expires_at,
        )
        .await
    }

    async fn get_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        self.get(SSO_SESSION, sid).await
    }

    async fn delete_sso_session(&self, sid: &str) -> Result<(), StoreError> {
        self.delete(SSO_SESSION, sid).await
    }

    async fn sso_sessions_of_user(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError> {
        let rows = session_record::Entity::find()
            .filter(Column::Kind.eq(SSO_SESSION))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::ExpiresAt.gt(now()))
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        rows.iter().map(|r| decode(&r.value)).collect()
    }
}
