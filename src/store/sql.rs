//! The SQL SessionStore (sea-orm, SQLite or PostgreSQL): one `session_records` table keyed by
//! (kind, id), JSON values and an `expires_at` that every read checks, so an expired record is never
//! returned even before the sweeper removes it. `user_id` indexes records by their user.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    AuthCode, CodeGrantCompletion, CodeRedemption, ConsentRequest, DenyCheck, IssuedAccessToken, LogoutDelivery,
    PendingAuth, RefreshFamily, RefreshSuccessor, RefreshTokenState, RevokedFamily, RotateOutcome, RotateRequest,
    SessionStore, SsoSession, StoreError, access_token_family,
};
use crate::directory::BoundedConnection;
use crate::directory::entities::logout_delivery;
use crate::directory::entities::session_record::{self, Column};

const PENDING_AUTH: &str = "pending_auth";
const CONSENT_REQUEST: &str = "consent_request";
const AUTH_CODE: &str = "auth_code";
/// A redeemed code whose grant is pending or done (PostgreSQL marks a completed one
/// `CODE_ISSUED`; see `complete_code_grant`).
const CODE_REDEEMED: &str = "code_redeemed";
const CODE_ISSUED: &str = "code_issued";
/// A redemption a replay revoked: it completes no more.
const CODE_REVOKED: &str = "code_revoked";
const SSO_SESSION: &str = "sso_session";
const REFRESH_FAMILY: &str = "refresh_family";
const REFRESH_TOKEN: &str = "refresh_token";
const DENIED_JTI: &str = "denied_jti";
const DENIED_FAMILY: &str = "denied_family";
/// A user's access tokens issued up to the time in the value.
const DENIED_USER: &str = "denied_user";
const CACHE: &str = "cache";
const LOCK: &str = "lock";

/// A family row: the family, and the latest expiry of the access tokens it issued (they are
/// denied together, by family, until then).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FamilyRecord {
    family: RefreshFamily,
    #[serde(default)]
    access_exp: i64,
    /// Access tokens recorded one by one by versions before the family-wide denial; never added
    /// to now, and absent from new rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    access_tokens: Vec<IssuedAccessToken>,
}

/// A refresh-token row (id `<family>:<hash>`): current until rotated.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    idle_expires_at: i64,
    successor_hash: Option<String>,
    sealed_successor: Option<String>,
    rotated_at: Option<i64>,
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

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn expires(ttl_secs: u64) -> i64 {
    now().saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX))
}

fn unavailable(err: DbErr) -> StoreError {
    crate::metrics::store_error("sql");
    StoreError::Unavailable(err.to_string())
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn token_id(family_id: &str, hash: &str) -> String {
    format!("{family_id}:{hash}")
}

fn row<T: Serialize>(
    kind: &str,
    id: &str,
    user_id: Option<&str>,
    value: &T,
    expires_at: i64,
) -> Result<session_record::ActiveModel, StoreError> {
    Ok(session_record::ActiveModel {
        kind: Set(kind.to_string()),
        id: Set(id.to_string()),
        user_id: Set(user_id.map(str::to_string)),
        value: Set(encode(value)?),
        expires_at: Set(expires_at),
    })
}

/// Inserts or replaces rows in ONE statement: atomic on its own in SQLite and PostgreSQL, so
/// several rows need no transaction (and SQLite's write lock is not held across round trips).
async fn put_rows<C: ConnectionTrait>(db: &C, rows: Vec<session_record::ActiveModel>) -> Result<(), StoreError> {
    session_record::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([Column::Kind, Column::Id])
                .update_columns([Column::UserId, Column::Value, Column::ExpiresAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn put<C: ConnectionTrait, T: Serialize>(
    db: &C,
    kind: &str,
    id: &str,
    user_id: Option<&str>,
    value: &T,
    expires_at: i64,
) -> Result<(), StoreError> {
    put_rows(db, vec![row(kind, id, user_id, value, expires_at)?]).await
}

async fn get<C: ConnectionTrait, T: DeserializeOwned>(
    db: &C,
    kind: &str,
    id: &str,
    at: i64,
) -> Result<Option<T>, StoreError> {
    let row = session_record::Entity::find()
        .filter(Column::Kind.eq(kind))
        .filter(Column::Id.eq(id))
        .filter(Column::ExpiresAt.gt(at))
        .one(db)
        .await
        .map_err(unavailable)?;
    row.map(|r| decode(&r.value)).transpose()
}

/// Get-and-delete in one statement (DELETE … RETURNING): of concurrent takers exactly one
/// receives the record.
async fn take<C: ConnectionTrait, T: DeserializeOwned>(db: &C, kind: &str, id: &str) -> Result<Option<T>, StoreError> {
    let rows = session_record::Entity::delete_many()
        .filter(Column::Kind.eq(kind))
        .filter(Column::Id.eq(id))
        .exec_with_returning(db)
        .await
        .map_err(unavailable)?;
    let now = now();
    rows.into_iter().find(|r| r.expires_at > now).map(|r| decode(&r.value)).transpose()
}

async fn delete<C: ConnectionTrait>(db: &C, kind: &str, id: &str) -> Result<(), StoreError> {
    session_record::Entity::delete_many()
        .filter(Column::Kind.eq(kind))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn of_user<C: ConnectionTrait, T: DeserializeOwned>(
    db: &C,
    kind: &str,
    user_id: &str,
) -> Result<Vec<T>, StoreError> {
    let rows = session_record::Entity::find()
        .filter(Column::Kind.eq(kind))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ExpiresAt.gt(now()))
        .all(db)
        .await
        .map_err(unavailable)?;
    rows.iter().map(|r| decode(&r.value)).collect()
}

/// Takes a row's write lock inside `txn` (PostgreSQL: the row; SQLite: the database's write lock)
/// by an update that changes nothing, and reads the row in the same statement. `None` when there
/// is no such row or it has expired at `now`.
async fn lock_row<C: ConnectionTrait, T: DeserializeOwned>(
    txn: &C,
    kind: &str,
    id: &str,
    now: i64,
) -> Result<Option<T>, StoreError> {
    let rows = session_record::Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::col(Column::ExpiresAt))
        .filter(Column::Kind.eq(kind))
        .filter(Column::Id.eq(id))
        .exec_with_returning(txn)
        .await
        .map_err(unavailable)?;
    rows.into_iter().find(|r| r.expires_at > now).map(|r| decode(&r.value)).transpose()
}

/// The family row, locked inside `txn` (see [`lock_row`]).
async fn lock_family<C: ConnectionTrait>(
    txn: &C,
    family_id: &str,
    now: i64,
) -> Result<Option<FamilyRecord>, StoreError> {
    lock_row(txn, REFRESH_FAMILY, family_id, now).await
}

/// The rows a new family consists of: the family and its first refresh token.
fn family_rows(
    family: &RefreshFamily,
    first: &RefreshSuccessor,
) -> Result<Vec<session_record::ActiveModel>, StoreError> {
    // Logical time: the family was created at the protocol clock's now.
    let idle_expires_at = idle_expiry(family.created_at, first.idle_ttl_secs, family.expires_at);
    let record = FamilyRecord { family: family.clone(), access_exp: first.access_exp, access_tokens: Vec::new() };
    let token = TokenRecord { idle_expires_at, successor_hash: None, sealed_successor: None, rotated_at: None };
    Ok(vec![
        row(REFRESH_FAMILY, &family.id, Some(&family.user_id), &record, family.expires_at)?,
        row(REFRESH_TOKEN, &token_id(&family.id, &first.token_hash), None, &token, idle_expires_at)?,
    ])
}

/// Deletes a family and all its token rows inside `db` (a transaction or the pool).
async fn delete_family<C: ConnectionTrait>(db: &C, family_id: &str) -> Result<(), StoreError> {
    delete(db, REFRESH_FAMILY, family_id).await?;
    session_record::Entity::delete_many()
        .filter(Column::Kind.eq(REFRESH_TOKEN))
        .filter(Column::Id.starts_with(format!("{family_id}:")))
        .exec(db)
        .await
        .map_err(unavailable)?;
    Ok(())
}

impl FamilyRecord {
    /// An access token was minted from the family: its denial must last until this one expires.
    fn remember_access_exp(&mut self, exp: i64) {
        self.access_exp = self.access_exp.max(exp);
    }

    /// What revoking the family must deny: live recorded tokens only, expired ones are refused
    /// anyway.
    fn revoked(self, now: i64) -> RevokedFamily {
        let access_tokens = self.access_tokens.into_iter().filter(|t| t.exp > now).collect();
        RevokedFamily { family: self.family, access_exp: self.access_exp, access_tokens }
    }
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn put_pending_auth(&self, auth: &PendingAuth, ttl_secs: u64) -> Result<(), StoreError> {
        put(&self.db, PENDING_AUTH, &auth.id, None, auth, expires(ttl_secs)).await
    }

    async fn take_pending_auth(&self, id: &str) -> Result<Option<PendingAuth>, StoreError> {
        self.take_once(PENDING_AUTH, id).await
    }

    async fn put_consent_request(&self, req: &ConsentRequest, ttl_secs: u64) -> Result<(), StoreError> {
        put(&self.db, CONSENT_REQUEST, &req.id, Some(&req.user_id), req, expires(ttl_secs)).await
    }

    async fn take_consent_request(&self, id: &str) -> Result<Option<ConsentRequest>, StoreError> {
        self.take_once(CONSENT_REQUEST, id).await
    }

    async fn put_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: u64) -> Result<(), StoreError> {
        put(&self.db, AUTH_CODE, code_hash, Some(&code.user_id), code, expires(ttl_secs)).await
    }

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

    async fn redeem_code(&self, code_hash: &str, remember_secs: u64) -> Result<CodeRedemption, StoreError> {
        if !self.over_network() {
            return redeem(&self.db, code_hash, remember_secs).await;
        }
        let txn = self.db.begin().await.map_err(unavailable)?;
        let redemption = redeem(&txn, code_hash, remember_secs).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(redemption)
    }

    async fn complete_code_grant(
        &self,
        code_hash: &str,
        family: &RefreshFamily,
        first: &RefreshSuccessor,
        session: Option<&str>,
    ) -> Result<CodeGrantCompletion, StoreError> {
        let rows = family_rows(family, first)?;
        if !self.over_network() {
            return complete(&self.db, code_hash, rows, session).await;
        }
        let txn = self.db.begin().await.map_err(unavailable)?;
        let completion = complete(&txn, code_hash, rows, session).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(completion)
    }

    async fn release_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: i64) -> Result<(), StoreError> {
        use sea_orm::QueryTrait;
        let family = session_record::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::Kind.eq(REFRESH_FAMILY))
            .filter(Column::Id.eq(super::code_grant_id(code_hash)))
            .into_query();
        // Only a redemption still pending that created nothing goes back to being a code.
        session_record::Entity::update_many()
            .col_expr(Column::Kind, Expr::value(AUTH_CODE))
            .col_expr(Column::Value, Expr::value(encode(code)?))
            .col_expr(Column::ExpiresAt, Expr::value(now().saturating_add(ttl_secs)))
            .filter(Column::Kind.eq(CODE_REDEEMED))
            .filter(Column::Id.eq(code_hash))
            .filter(Expr::not_exists(family))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn rotate_refresh_token(&self, request: &RotateRequest) -> Result<RotateOutcome, StoreError> {
        let (family_id, presented_hash, successor, now, grace_secs) = (
            request.family_id.as_str(),
            request.presented_hash.as_str(),
            &request.successor,
            request.now,
            request.grace_secs,
        );
        let txn = self.db.begin().await.map_err(unavailable)?;
        // Write first: the row lock (PostgreSQL) or the write lock (SQLite) serialises concurrent
        // rotations of one family before anything is read, so no two see the token as current.
        // One statement takes the lock and reads the family: every round trip inside the
        // transaction is time the write lock is held.
        let Some(mut record) = lock_family(&txn, family_id, now).await? else {
            txn.commit().await.map_err(unavailable)?;
            return Ok(RotateOutcome::Invalid);
        };
        if record.family.client_id != request.client_id {
            txn.commit().await.map_err(unavailable)?;
            return Ok(RotateOutcome::WrongClient);
        }
        if let Some(scopes) = &request.scopes
            && !scopes.iter().all(|s| record.family.scopes.contains(s))
        {
            txn.commit().await.map_err(unavailable)?;
            return Ok(RotateOutcome::ScopeWidened);
        }
        let presented_id = token_id(family_id, presented_hash);
        let Some(mut token) = get::<_, TokenRecord>(&txn, REFRESH_TOKEN, &presented_id, i64::MIN).await? else {
            txn.commit().await.map_err(unavailable)?;
            return Ok(RotateOutcome::Invalid);
        };
        let outcome = match (&token.successor_hash, token.rotated_at, &token.sealed_successor) {
            (None, _, _) => {
                if now >= token.idle_expires_at {
                    RotateOutcome::Invalid
                } else if request.recheck_due_before.is_some_and(|due| record.family.upstream_checked_at < due) {
                    RotateOutcome::RecheckDue(record.family)
                } else {
                    let family_end = record.family.expires_at;
                    token.successor_hash = Some(successor.token_hash.clone());
                    token.sealed_successor = Some(successor.sealed.clone());
                    token.rotated_at = Some(now);
                    let idle_expires_at = idle_expiry(now, successor.idle_ttl_secs, family_end);
                    let next =
                        TokenRecord { idle_expires_at, successor_hash: None, sealed_successor: None, rotated_at: None };
                    record.remember_access_exp(successor.access_exp);
                    put_rows(
                        &txn,
                        vec![
                            // A rotated token is remembered for the family's life, to detect its reuse.
                            row(REFRESH_TOKEN, &presented_id, None, &token, family_end)?,
                            row(
                                REFRESH_TOKEN,
                                &token_id(family_id, &successor.token_hash),
                                None,
                                &next,
                                idle_expires_at,
                            )?,
                            row(REFRESH_FAMILY, family_id, Some(&record.family.user_id), &record, family_end)?,
                        ],
                    )
                    .await?;
                    RotateOutcome::Rotated(record.family)
                }
            }
            (Some(_), Some(rotated_at), Some(sealed)) if now - rotated_at <= grace_secs as i64 => {
                let sealed = sealed.clone();
                record.remember_access_exp(successor.access_exp);
                let family_end = record.family.expires_at;
                put(&txn, REFRESH_FAMILY, family_id, Some(&record.family.user_id), &record, family_end).await?;
                RotateOutcome::Retry { family: record.family, sealed_successor: sealed }
            }
            _ => {
                delete_family(&txn, family_id).await?;
                RotateOutcome::Reused(record.revoked(now))
            }
        };
        txn.commit().await.map_err(unavailable)?;
        Ok(outcome)
    }

    async fn refresh_token_state(
        &self,
        family_id: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        let Some(record) = get::<_, FamilyRecord>(&self.db, REFRESH_FAMILY, family_id, now).await? else {
            return Ok(None);
        };
        let Some(token) =
            get::<_, TokenRecord>(&self.db, REFRESH_TOKEN, &token_id(family_id, token_hash), i64::MIN).await?
        else {
            return Ok(None);
        };
        let current = token.successor_hash.is_none() && now < token.idle_expires_at;
        Ok(Some(RefreshTokenState { family: record.family, current }))
    }

    async fn get_refresh_family(&self, family_id: &str) -> Result<Option<RefreshFamily>, StoreError> {
        Ok(get::<_, FamilyRecord>(&self.db, REFRESH_FAMILY, family_id, now()).await?.map(|r| r.family))
    }

    async fn update_refresh_family(&self, family: &RefreshFamily) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        // Lock first, as the rotation does. Reading first and writing second overwrote a rotation
        // committed in between (PostgreSQL: the family's latest access-token expiry went back), or
        // (SQLite, shared cache) deadlocked with it, each waiting for the other's table lock.
        let Some(mut record) = lock_family(&txn, &family.id, now()).await? else {
            txn.commit().await.map_err(unavailable)?;
            return Ok(false);
        };
        record.family = family.clone();
        put(&txn, REFRESH_FAMILY, &family.id, Some(&family.user_id), &record, family.expires_at).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> Result<Option<RevokedFamily>, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let record: Option<FamilyRecord> = take(&txn, REFRESH_FAMILY, family_id).await?;
        delete_family(&txn, family_id).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(record.map(|r| r.revoked(now())))
    }

    async fn refresh_families_of_user(&self, user_id: &str) -> Result<Vec<RefreshFamily>, StoreError> {
        let records: Vec<FamilyRecord> = of_user(&self.db, REFRESH_FAMILY, user_id).await?;
        Ok(records.into_iter().map(|r| r.family).collect())
    }

    async fn enqueue_logout(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError> {
        let model = logout_delivery::ActiveModel {
            id: Set(delivery.id.clone()),
            due_at: Set(due_at),
            attempts: Set(i32::try_from(delivery.attempts).unwrap_or(i32::MAX)),
            payload: Set(encode(delivery)?),
            expires_at: Set(delivery.expires_at),
        };
        logout_delivery::Entity::insert(model).exec_without_returning(&self.db).await.map_err(unavailable)?;
        Ok(())
    }

    async fn claim_logout_deliveries(
        &self,
        now: i64,
        lease_secs: u64,
        limit: u64,
    ) -> Result<Vec<LogoutDelivery>, StoreError> {
        use sea_orm::{QueryOrder, QuerySelect};
        let due = logout_delivery::Entity::find()
            .filter(logout_delivery::Column::DueAt.lte(now))
            .order_by_asc(logout_delivery::Column::DueAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        let lease_end = now.saturating_add(ttl_secs_i64(lease_secs));
        let mut claimed = Vec::with_capacity(due.len());
        for row in due {
            // Compare-and-set on due_at: of racing instances exactly one moves it.
            let moved = logout_delivery::Entity::update_many()
                .col_expr(logout_delivery::Column::DueAt, Expr::value(lease_end))
                .filter(logout_delivery::Column::Id.eq(row.id.as_str()))
                .filter(logout_delivery::Column::DueAt.eq(row.due_at))
                .exec(&self.db)
                .await
                .map_err(unavailable)?;
            if moved.rows_affected == 1 {
                claimed.push(decode(&row.payload)?);
            }
        }
        Ok(claimed)
    }

    async fn complete_logout_delivery(&self, id: &str) -> Result<(), StoreError> {
        logout_delivery::Entity::delete_by_id(id.to_string()).exec(&self.db).await.map_err(unavailable)?;
        Ok(())
    }

    async fn retry_logout_delivery(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError> {
        logout_delivery::Entity::update_many()
            .col_expr(logout_delivery::Column::DueAt, Expr::value(due_at))
            .col_expr(
                logout_delivery::Column::Attempts,
                Expr::value(i32::try_from(delivery.attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(logout_delivery::Column::Payload, Expr::value(encode(delivery)?))
            .filter(logout_delivery::Column::Id.eq(delivery.id.as_str()))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn deny_access_token(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        put(&self.db, DENIED_JTI, jti, None, &exp, exp).await
    }

    async fn deny_family_access_tokens(&self, family_id: &str, until: i64) -> Result<(), StoreError> {
        put(&self.db, DENIED_FAMILY, family_id, None, &until, until).await
    }

    async fn deny_user_access_tokens(
        &self,
        user_id: &str,
        authenticated_until: i64,
        keep_until: i64,
    ) -> Result<(), StoreError> {
        put(&self.db, DENIED_USER, user_id, None, &authenticated_until, keep_until).await
    }

    async fn is_access_token_denied(&self, token: DenyCheck<'_>) -> Result<bool, StoreError> {
        // The token's own denial, its family's or its user's, in one query.
        let by = |kind: &str, id: &str| Condition::all().add(Column::Kind.eq(kind)).add(Column::Id.eq(id));
        let mut denied = Condition::any().add(by(DENIED_JTI, token.jti)).add(by(DENIED_USER, token.sub));
        if let Some(family) = access_token_family(token.jti) {
            denied = denied.add(by(DENIED_FAMILY, family));
        }
        let found: Vec<(String, String)> = session_record::Entity::find()
            .select_only()
            .column(Column::Kind)
            .column(Column::Value)
            .filter(denied)
            .filter(Column::ExpiresAt.gt(now()))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(found.iter().any(|(kind, value)| {
            kind != DENIED_USER
                || value.parse::<i64>().is_ok_and(|authenticated_until| token.auth_time <= authenticated_until)
        }))
    }

    async fn put_cached(&self, name: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        put(&self.db, CACHE, name, None, &value, expires(ttl_secs)).await
    }

    async fn get_cached(&self, name: &str) -> Result<Option<String>, StoreError> {
        get(&self.db, CACHE, name, now()).await
    }

    async fn try_lock(&self, name: &str, holder: &str, ttl_secs: u64) -> Result<bool, StoreError> {
        let now = now();
        let holder_json = encode(&holder)?;
        // Each step is one atomic statement: clear an expired lease, extend our own, or insert a
        // new one where none exists (ON CONFLICT DO NOTHING decides between racing instances).
        session_record::Entity::delete_many()
            .filter(Column::Kind.eq(LOCK))
            .filter(Column::Id.eq(name))
            .filter(Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        let extended = session_record::Entity::update_many()
            .col_expr(Column::ExpiresAt, Expr::value(expires(ttl_secs)))
            .filter(Column::Kind.eq(LOCK))
            .filter(Column::Id.eq(name))
            .filter(Column::Value.eq(holder_json.clone()))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        if extended.rows_affected > 0 {
            return Ok(true);
        }
        let model = session_record::ActiveModel {
            kind: Set(LOCK.to_string()),
            id: Set(name.to_string()),
            user_id: Set(None),
            value: Set(holder_json),
            expires_at: Set(expires(ttl_secs)),
        };
        let inserted = session_record::Entity::insert(model)
            .on_conflict(OnConflict::columns([Column::Kind, Column::Id]).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(inserted > 0)
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        session_record::Entity::delete_many()
            .filter(Column::Kind.eq(LOCK))
            .filter(Column::Id.eq(name))
            .filter(Column::Value.eq(encode(&holder)?))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(unavailable)
    }
}

/// Turns a live code into its redemption record; or, for a code already redeemed, revokes the
/// redemption (a replay).
async fn redeem<C: ConnectionTrait>(db: &C, code_hash: &str, remember_secs: u64) -> Result<CodeRedemption, StoreError> {
    let now = now();
    // One statement turns the live code into its redemption record (same row, new kind): of
    // concurrent redeemers exactly one finds the code. On PostgreSQL the others wait for its row
    // lock and then no longer match.
    let redeemed = session_record::Entity::update_many()
        .col_expr(Column::Kind, Expr::value(CODE_REDEEMED))
        .col_expr(Column::ExpiresAt, Expr::value(expires(remember_secs)))
        .filter(Column::Kind.eq(AUTH_CODE))
        .filter(Column::Id.eq(code_hash))
        .filter(Column::ExpiresAt.gt(now))
        .exec_with_returning(db)
        .await
        .map_err(unavailable)?;
    if let Some(row) = redeemed.into_iter().next() {
        return Ok(CodeRedemption::Redeemed(Box::new(decode(&row.value)?)));
    }
    // A replay: revoke the redemption, pending or completed, so a pending one never completes.
    let replayed = session_record::Entity::update_many()
        .col_expr(Column::Kind, Expr::value(CODE_REVOKED))
        .filter(Column::Kind.is_in([CODE_REDEEMED, CODE_ISSUED]))
        .filter(Column::Id.eq(code_hash))
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await
        .map_err(unavailable)?;
    Ok(if replayed.rows_affected > 0 { CodeRedemption::Replayed } else { CodeRedemption::Unknown })
}

/// Completes a code grant (see [`complete_code_grant_statement`]), and says why not when it did
/// not.
async fn complete<C: ConnectionTrait>(
    db: &C,
    code_hash: &str,
    rows: Vec<session_record::ActiveModel>,
    session: Option<&str>,
) -> Result<CodeGrantCompletion, StoreError> {
    if complete_code_grant_statement(db, code_hash, rows, session).await? > 0 {
        return Ok(CodeGrantCompletion::Created);
    }
    // The redemption still pending means the session was what was missing.
    let pending = session_record::Entity::find()
        .filter(Column::Kind.is_in([CODE_REDEEMED, CODE_ISSUED]))
        .filter(Column::Id.eq(code_hash))
        .one(db)
        .await
        .map_err(unavailable)?;
    Ok(if pending.is_some() { CodeGrantCompletion::SessionEnded } else { CodeGrantCompletion::Revoked })
}

/// Creates a completed code grant's rows in ONE statement, and only while its redemption is still
/// pending (a replay revokes it) and — for a session-bound family — its SSO session lives
/// (RFC 6749 §4.1.2; OIDC Core §11). Returns the rows inserted.
///
/// SQLite runs one writer at a time, so an `INSERT … SELECT … WHERE (the two rows exist)` is
/// atomic against a replay's or a logout's write. PostgreSQL is not: a replay could revoke the
/// redemption between this statement's snapshot and its commit, and then miss the family. There a
/// data-modifying CTE first locks both rows (and marks the redemption completed, so releasing it is
/// no longer possible); a concurrent replay or logout waits for this statement, then finds the
/// family it must revoke.
async fn complete_code_grant_statement<C: ConnectionTrait>(
    db: &C,
    code_hash: &str,
    rows: Vec<session_record::ActiveModel>,
    session: Option<&str>,
) -> Result<u64, StoreError> {
    use sea_orm::{DatabaseBackend, Statement, Value};
    let backend = db.get_database_backend();
    let postgres = backend == DatabaseBackend::Postgres;
    // Numbered placeholders (`$n` on PostgreSQL, `?n` on SQLite): bound in the order built, used
    // in the order the SQL text needs.
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |value: Value| {
        values.push(value);
        if postgres { format!("${}", values.len()) } else { format!("?{}", values.len()) }
    };
    let now = now();
    let mut condition = format!("(kind = {} AND id = {})", bind(CODE_REDEEMED.into()), bind(code_hash.into()));
    if let Some(sid) = session {
        condition.push_str(&format!(
            " OR (kind = {} AND id = {} AND expires_at > {})",
            bind(SSO_SESSION.into()),
            bind(sid.into()),
            bind(now.into())
        ));
    }
    let expected = if session.is_some() { 2 } else { 1 };
    let mut tuples = Vec::with_capacity(rows.len());
    for row in &rows {
        let text = |v: &sea_orm::ActiveValue<String>| v.clone().take().unwrap_or_default();
        let kind = bind(text(&row.kind).into());
        let id = bind(text(&row.id).into());
        let user_id = bind(row.user_id.clone().take().flatten().into());
        let value = bind(text(&row.value).into());
        let expires_at = bind(row.expires_at.clone().take().unwrap_or_default().into());
        tuples.push(if postgres {
            format!("({kind}, {id}, CAST({user_id} AS TEXT), {value}, CAST({expires_at} AS BIGINT))")
        } else {
            format!("({kind}, {id}, {user_id}, {value}, {expires_at})")
        });
    }
    let tuples = tuples.join(", ");
    let sql = if postgres {
        let issued = bind(CODE_ISSUED.into());
        let redeemed = bind(CODE_REDEEMED.into());
        format!(
            "WITH locked AS (UPDATE session_records SET kind = CASE WHEN kind = {redeemed} THEN {issued} ELSE kind END \
             WHERE {condition} RETURNING 1) \
             INSERT INTO session_records (kind, id, user_id, value, expires_at) \
             SELECT v.kind, v.id, v.user_id, v.value, v.expires_at \
             FROM (VALUES {tuples}) AS v(kind, id, user_id, value, expires_at) \
             WHERE (SELECT count(*) FROM locked) = {expected}"
        )
    } else {
        format!(
            "INSERT INTO session_records (kind, id, user_id, value, expires_at) \
             SELECT column1, column2, column3, column4, column5 FROM (VALUES {tuples}) \
             WHERE (SELECT count(*) FROM session_records WHERE {condition}) = {expected}"
        )
    };
    let result = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.map_err(unavailable)?;
    Ok(result.rows_affected())
}

fn ttl_secs_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn idle_expiry(now: i64, idle_ttl_secs: u64, family_end: i64) -> i64 {
    now.saturating_add(i64::try_from(idle_ttl_secs).unwrap_or(i64::MAX)).min(family_end)
}
