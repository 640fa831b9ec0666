//! The statements every SQL record goes through: one row per record in `session_records`, keyed
//! by (kind, id), its value JSON (`store::codec`), its `expires_at` checked by every read.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::unavailable;
use crate::directory::entities::session_record::{self, Column};
use crate::store::StoreError;
use crate::store::codec::{decode, encode};
use crate::store::ttl::now;

pub(super) fn row<T: Serialize>(
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
pub(super) async fn put_rows<C: ConnectionTrait>(
    db: &C,
    rows: Vec<session_record::ActiveModel>,
) -> Result<(), StoreError> {
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

pub(super) async fn put<C: ConnectionTrait, T: Serialize>(
    db: &C,
    kind: &str,
    id: &str,
    user_id: Option<&str>,
    value: &T,
    expires_at: i64,
) -> Result<(), StoreError> {
    put_rows(db, vec![row(kind, id, user_id, value, expires_at)?]).await
}

pub(super) async fn get<C: ConnectionTrait, T: DeserializeOwned>(
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
pub(super) async fn take<C: ConnectionTrait, T: DeserializeOwned>(
    db: &C,
    kind: &str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    let rows = session_record::Entity::delete_many()
        .filter(Column::Kind.eq(kind))
        .filter(Column::Id.eq(id))
        .exec_with_returning(db)
        .await
        .map_err(unavailable)?;
    let now = now();
    rows.into_iter().find(|r| r.expires_at > now).map(|r| decode(&r.value)).transpose()
}

pub(super) async fn delete<C: ConnectionTrait>(db: &C, kind: &str, id: &str) -> Result<(), StoreError> {
    session_record::Entity::delete_many()
        .filter(Column::Kind.eq(kind))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await
        .map_err(unavailable)?;
    Ok(())
}

pub(super) async fn of_user<C: ConnectionTrait, T: DeserializeOwned>(
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
pub(super) async fn lock_row<C: ConnectionTrait, T: DeserializeOwned>(
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
