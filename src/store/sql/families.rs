//! Refresh families in SQL: a `refresh_family` row per family (with the latest expiry of its
//! access tokens) and a `refresh_token` row per token (id `<family>:<hash>`). Rotation locks the
//! family row first, so concurrent rotations of one family are serialised.

use async_trait::async_trait;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::{Deserialize, Serialize};

use super::kinds::{REFRESH_FAMILY, REFRESH_TOKEN};
use super::rows::{delete, get, lock_row, of_user, put, put_rows, row, take};
use super::{SqlSessionStore, unavailable};
use crate::directory::entities::session_record::{self, Column};
use crate::directory::escape_like;
use crate::store::ttl::{idle_expiry, now};
use crate::store::{
    RefreshFamily, RefreshFamilyStore, RefreshSuccessor, RefreshTokenState, RevokedFamily, RotateOutcome,
    RotateRequest, StoreError,
};

/// A family row: the family, and the latest expiry of the access tokens it issued (they are
/// denied together, by family, until then).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FamilyRecord {
    family: RefreshFamily,
    access_exp: i64,
}

/// A refresh-token row (id `<family>:<hash>`): current until rotated.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    idle_expires_at: i64,
    successor_hash: Option<String>,
    sealed_successor: Option<String>,
    rotated_at: Option<i64>,
}

pub(super) fn token_id(family_id: &str, hash: &str) -> String {
    format!("{family_id}:{hash}")
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
pub(super) fn family_rows(
    family: &RefreshFamily,
    first: &RefreshSuccessor,
) -> Result<Vec<session_record::ActiveModel>, StoreError> {
    // Logical time: the family was created at the protocol clock's now.
    let idle_expires_at = idle_expiry(family.created_at, first.idle_ttl_secs, family.expires_at);
    let record = FamilyRecord { family: family.clone(), access_exp: first.access_exp };
    let token = TokenRecord { idle_expires_at, successor_hash: None, sealed_successor: None, rotated_at: None };
    Ok(vec![
        row(REFRESH_FAMILY, &family.id, Some(&family.user_id), &record, family.expires_at)?,
        row(REFRESH_TOKEN, &token_id(&family.id, &first.token_hash), None, &token, idle_expires_at)?,
    ])
}

/// Deletes a family and all its token rows inside `db` (a transaction or the pool).
async fn delete_family<C: ConnectionTrait>(db: &C, family_id: &str) -> Result<(), StoreError> {
    use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
    delete(db, REFRESH_FAMILY, family_id).await?;
    session_record::Entity::delete_many()
        .filter(Column::Kind.eq(REFRESH_TOKEN))
        .filter(Expr::col(Column::Id).like(LikeExpr::new(format!("{}:%", escape_like(family_id))).escape('\\')))
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

    /// What revoking the family must deny: its access tokens, by family, until the last expires.
    fn revoked(self) -> RevokedFamily {
        RevokedFamily { family: self.family, access_exp: self.access_exp }
    }
}

#[async_trait]
impl RefreshFamilyStore for SqlSessionStore {
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
                RotateOutcome::Reused(record.revoked())
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
        Ok(record.map(|r| r.revoked()))
    }

    async fn refresh_families_of_user(&self, user_id: &str) -> Result<Vec<RefreshFamily>, StoreError> {
        let records: Vec<FamilyRecord> = of_user(&self.db, REFRESH_FAMILY, user_id).await?;
        Ok(records.into_iter().map(|r| r.family).collect())
    }
}
