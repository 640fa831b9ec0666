//! The SQL SessionStore (sea-orm, SQLite or PostgreSQL): one `session_records` table keyed by
//! (kind, id), JSON values and an `expires_at` that every read checks, so an expired record is never
//! returned even before the sweeper removes it. `user_id` indexes records by their user.

mod codes;
mod coordination;
mod devices;
mod families;
mod rows;
mod sessions;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};
use serde::de::DeserializeOwned;

use self::rows::take;
use super::StoreError;
use super::ttl::now;
use crate::directory::BoundedConnection;
use crate::directory::entities::logout_delivery;
use crate::directory::entities::session_record::{self, Column};

/// The `kind` of each record in `session_records` (the migrations name them too: keep in step).
pub(crate) mod kinds {
    pub const PENDING_AUTH: &str = "pending_auth";
    pub const CONSENT_REQUEST: &str = "consent_request";
    pub const PUSHED_REQUEST: &str = "pushed_request";
    pub const AUTH_CODE: &str = "auth_code";
    /// A redeemed code whose grant is pending or done (PostgreSQL marks a completed one
    /// `CODE_ISSUED`; see `complete_code_grant`).
    pub const CODE_REDEEMED: &str = "code_redeemed";
    pub const CODE_ISSUED: &str = "code_issued";
    /// A redemption a replay revoked: it completes no more.
    pub const CODE_REVOKED: &str = "code_revoked";
    pub const SSO_SESSION: &str = "sso_session";
    pub const REFRESH_FAMILY: &str = "refresh_family";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    pub const DENIED_JTI: &str = "denied_jti";
    pub const DENIED_FAMILY: &str = "denied_family";
    /// A user's access tokens issued up to the time in the value.
    pub const DENIED_USER: &str = "denied_user";
    /// A user's access tokens for one client (`user_client_denial_id`) issued up to the time in
    /// the value.
    pub const DENIED_USER_CLIENT: &str = "denied_user_client";
    /// A device authorization request (RFC 8628), by its device code hash; its user code's index;
    /// the user's answer; the gate that tells a poll it came too soon.
    pub const DEVICE_REQUEST: &str = "device_request";
    pub const DEVICE_USER_CODE: &str = "device_user_code";
    pub const DEVICE_DECISION: &str = "device_decision";
    pub const DEVICE_GATE: &str = "device_gate";
    pub const ASSERTION_JTI: &str = "assertion_jti";
    pub const CACHE: &str = "cache";
    pub const LOCK: &str = "lock";
}

#[derive(Clone, Debug)]
pub struct SqlSessionStore {
    db: BoundedConnection,
}

impl SqlSessionStore {
    /// PostgreSQL, reached over a network: a statement sent into a partition reaches the server
    /// when it heals, after its caller gave up and answered 503. The statements that consume
    /// something therefore run inside a transaction there: the caller's timeout drops it, which
    /// queues a ROLLBACK behind the statement, so a 503 changes nothing. SQLite runs in-process.
    fn over_network(&self) -> bool {
        self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
    }

    /// A single-use record taken: in a transaction over a network (see `over_network`), so a take
    /// answered 503 leaves the record for the user's retry.
    async fn take_once<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>, StoreError> {
        if !self.over_network() {
            return take(&self.db, kind, id).await;
        }
        let txn = self.db.begin().await.map_err(unavailable)?;
        let taken = take(&txn, kind, id).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(taken)
    }

    pub fn new(db: BoundedConnection) -> Self {
        SqlSessionStore { db }
    }

    /// Deletes up to `batch` expired records; returns how many went.
    pub async fn sweep_expired(&self, batch: u64) -> Result<u64, StoreError> {
        use sea_orm::{QuerySelect, QueryTrait};
        let now = now();
        let expired = session_record::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::ExpiresAt.lte(now))
            .limit(batch)
            .into_query();
        let result = session_record::Entity::delete_many()
            .filter(Column::ExpiresAt.lte(now))
            .filter(Column::Id.in_subquery(expired))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        // Notifications past their deadline are given up.
        logout_delivery::Entity::delete_many()
            .filter(logout_delivery::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected)
    }
}

fn unavailable(err: DbErr) -> StoreError {
    crate::metrics::store_error("sql");
    StoreError::Unavailable(err.to_string())
}
