//! SSO sessions in SQL: an `sso_session` row per session, indexed by its `user_id` column.

use async_trait::async_trait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::kinds::SSO_SESSION;
use super::rows::{get, lock_row, of_user, put, take};
use super::{SqlSessionStore, unavailable};
use crate::directory::entities::session_record::{self, Column};
use crate::store::codec::decode;
use crate::store::ttl::now;
use crate::store::{SsoSession, SsoSessionStore, StoreError};

#[async_trait]
impl SsoSessionStore for SqlSessionStore {
    async fn put_sso_session(&self, session: &SsoSession) -> Result<(), StoreError> {
        put(&self.db, SSO_SESSION, &session.id, Some(&session.user_id), session, session.expires_at).await
    }

    async fn get_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        get(&self.db, SSO_SESSION, sid, now()).await
    }

    async fn note_sso_session_use(&self, sid: &str, now: i64, client: Option<&str>) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        // Lock, then read and write: a logout deleting the row either went first (nothing to
        // touch) or waits for this transaction.
        let Some(mut session): Option<SsoSession> = lock_row(&txn, SSO_SESSION, sid, self::now()).await? else {
            txn.commit().await.map_err(unavailable)?;
            return Ok(false);
        };
        session.last_seen_at = session.last_seen_at.max(now);
        if let Some(client) = client
            && !session.clients.iter().any(|c| c == client)
        {
            session.clients.push(client.to_string());
        }
        put(&txn, SSO_SESSION, sid, Some(&session.user_id), &session, session.expires_at).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn delete_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        take(&self.db, SSO_SESSION, sid).await
    }

    async fn sso_sessions_of_user(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError> {
        of_user(&self.db, SSO_SESSION, user_id).await
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError> {
        let rows = session_record::Entity::delete_many()
            .filter(Column::Kind.eq(SSO_SESSION))
            .filter(Column::UserId.eq(user_id))
            .exec_with_returning(&self.db)
            .await
            .map_err(unavailable)?;
        let now = now();
        rows.iter().filter(|r| r.expires_at > now).map(|r| decode(&r.value)).collect()
    }
}
