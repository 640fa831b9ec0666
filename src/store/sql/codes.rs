//! Logins in progress and authorization codes in SQL. Redeeming turns the code's row into its
//! redemption record (same row, new kind); completing the grant creates the family's rows in one
//! statement, only while the redemption is pending (RFC 6749 §4.1.2).

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};

use super::families::family_rows;
use super::kinds::{
    AUTH_CODE, CODE_ISSUED, CODE_REDEEMED, CODE_REVOKED, CONSENT_REQUEST, PENDING_AUTH, PUSHED_REQUEST, REFRESH_FAMILY,
    SSO_SESSION,
};
use super::rows::put;
use super::{SqlSessionStore, unavailable};
use crate::directory::entities::session_record::{self, Column};
use crate::store::codec::{decode, encode};
use crate::store::ttl::{expires, now};
use crate::store::{
    AuthCode, CodeGrantCompletion, CodeRedemption, CodeStore, ConsentRequest, LoginRequestStore, PendingAuth,
    PushedRequest, RefreshFamily, RefreshSuccessor, StoreError, code_grant_id,
};

#[async_trait]
impl LoginRequestStore for SqlSessionStore {
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

    async fn put_pushed_request(&self, uri_hash: &str, req: &PushedRequest, ttl_secs: u64) -> Result<(), StoreError> {
        put(&self.db, PUSHED_REQUEST, uri_hash, None, req, expires(ttl_secs)).await
    }

    async fn take_pushed_request(&self, uri_hash: &str) -> Result<Option<PushedRequest>, StoreError> {
        self.take_once(PUSHED_REQUEST, uri_hash).await
    }
}

#[async_trait]
impl CodeStore for SqlSessionStore {
    async fn put_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: u64) -> Result<(), StoreError> {
        put(&self.db, AUTH_CODE, code_hash, Some(&code.user_id), code, expires(ttl_secs)).await
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
            .filter(Column::Id.eq(code_grant_id(code_hash)))
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
