//! Retires the session records that earlier development versions wrote and the store no longer
//! reads (nothing had been released, so no compatibility path is kept):
//!
//! - refresh families that list their access tokens one by one (`access_tokens`) or know no
//!   family-wide expiry (`access_exp`): each is revoked here as the store would revoke it — its
//!   listed access tokens still live are denied by `jti`, its family-wide denial is written when
//!   it has one, and the family and its refresh tokens are deleted (the user signs in again);
//! - SSO sessions without a secret hash (`secret_hash` missing or empty, which never matched a
//!   cookie) or without `last_seen_at`: deleted.
//!
//! Record kinds and value layout are those of `store::sql` (`session_records`, JSON values).
//! Idempotent: a second run finds nothing to retire. `down` restores nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, QueryResult};
use serde_json::Value;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SessionRecords {
    Table,
    Kind,
    Id,
    UserId,
    Value,
    ExpiresAt,
}

const REFRESH_FAMILY: &str = "refresh_family";
const REFRESH_TOKEN: &str = "refresh_token";
const SSO_SESSION: &str = "sso_session";
const DENIED_JTI: &str = "denied_jti";
const DENIED_FAMILY: &str = "denied_family";

/// A family row as versions before the family-wide denial wrote it.
fn is_legacy_family(value: &Value) -> bool {
    value.get("access_tokens").is_some() || value.get("access_exp").is_none()
}

/// A session row as versions before session secrets (or before the idle lifetime) wrote it.
fn is_legacy_session(value: &Value) -> bool {
    let secret = value.get("secret_hash").and_then(Value::as_str).unwrap_or_default();
    secret.is_empty() || value.get("last_seen_at").is_none()
}

/// The listed access tokens still live at `now`, as (jti, exp).
fn live_listed_tokens(value: &Value, now: i64) -> Vec<(String, i64)> {
    let listed = value.get("access_tokens").and_then(Value::as_array).cloned().unwrap_or_default();
    listed
        .iter()
        .filter_map(|token| Some((token.get("jti")?.as_str()?.to_string(), token.get("exp")?.as_i64()?)))
        .filter(|(_, exp)| *exp > now)
        .collect()
}

async fn rows_of_kind<C: ConnectionTrait>(db: &C, kind: &str) -> Result<Vec<(String, Value)>, DbErr> {
    let select = Query::select()
        .columns([SessionRecords::Id, SessionRecords::Value])
        .from(SessionRecords::Table)
        .and_where(Expr::col(SessionRecords::Kind).eq(kind))
        .to_owned();
    let rows: Vec<QueryResult> = db.query_all(&select).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("", "id")?;
        let text: String = row.try_get("", "value")?;
        // A value that is not JSON at all is no record of any version: retire it as well.
        out.push((id, serde_json::from_str(&text).unwrap_or(Value::Null)));
    }
    Ok(out)
}

async fn delete_row<C: ConnectionTrait>(db: &C, kind: &str, id: &str) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(SessionRecords::Table)
        .and_where(Expr::col(SessionRecords::Kind).eq(kind))
        .and_where(Expr::col(SessionRecords::Id).eq(id))
        .to_owned();
    db.execute(&delete).await?;
    Ok(())
}

/// A denial until `until` (the value is the time, as the store writes it); an existing denial of
/// the same id is kept if it lasts longer.
async fn deny<C: ConnectionTrait>(db: &C, kind: &str, id: &str, until: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(SessionRecords::Table)
        .columns([
            SessionRecords::Kind,
            SessionRecords::Id,
            SessionRecords::UserId,
            SessionRecords::Value,
            SessionRecords::ExpiresAt,
        ])
        .values_panic([kind.into(), id.into(), Option::<String>::None.into(), until.to_string().into(), until.into()])
        .on_conflict(OnConflict::columns([SessionRecords::Kind, SessionRecords::Id]).do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let now = chrono::Utc::now().timestamp();
        for (id, value) in rows_of_kind(db, REFRESH_FAMILY).await? {
            if !Value::is_null(&value) && !is_legacy_family(&value) {
                continue;
            }
            for (jti, exp) in live_listed_tokens(&value, now) {
                deny(db, DENIED_JTI, &jti, exp).await?;
            }
            let access_exp = value.get("access_exp").and_then(Value::as_i64).unwrap_or(0);
            if access_exp > now {
                deny(db, DENIED_FAMILY, &id, access_exp).await?;
            }
            delete_row(db, REFRESH_FAMILY, &id).await?;
            let tokens = Query::delete()
                .from_table(SessionRecords::Table)
                .and_where(Expr::col(SessionRecords::Kind).eq(REFRESH_TOKEN))
                .and_where(
                    Expr::col(SessionRecords::Id).like(LikeExpr::new(format!("{}:%", escape_like(&id))).escape('\\')),
                )
                .to_owned();
            db.execute(&tokens).await?;
        }
        for (id, value) in rows_of_kind(db, SSO_SESSION).await? {
            if Value::is_null(&value) || is_legacy_session(&value) {
                delete_row(db, SSO_SESSION, &id).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // What was retired is gone; the current records read the same by the previous version.
        Ok(())
    }
}

/// Family ids are URL-safe base64 (`[A-Za-z0-9_-]`), and `_` is a LIKE wildcard: escaped, so only
/// this family's tokens match.
fn escape_like(id: &str) -> String {
    id.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
