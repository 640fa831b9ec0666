//! The small parts of the SQL store: the back-channel logout queue (its own table,
//! `logout_deliveries`), the access-token denylist, client assertions' `jti`s, the shared cache,
//! leases and the readiness ping.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use super::kinds::{ASSERTION_JTI, CACHE, DENIED_FAMILY, DENIED_JTI, DENIED_USER, DENIED_USER_CLIENT, LOCK};
use super::rows::{get, put};
use super::{SqlSessionStore, unavailable};
use crate::directory::entities::logout_delivery;
use crate::directory::entities::session_record::{self, Column};
use crate::store::codec::{decode, encode};
use crate::store::ttl::{expires, now, secs_i64};
use crate::store::{
    AccessTokenDenylist, AssertionReplayStore, DenyCheck, Leases, LogoutDelivery, LogoutQueue, SharedCache, StoreError,
    StoreHealth, access_token_family, user_client_denial_id,
};

#[async_trait]
impl LogoutQueue for SqlSessionStore {
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
        let lease_end = now.saturating_add(secs_i64(lease_secs));
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
}

#[async_trait]
impl AccessTokenDenylist for SqlSessionStore {
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

    async fn deny_client_access_tokens(
        &self,
        user_id: &str,
        client_id: &str,
        issued_until: i64,
        keep_until: i64,
    ) -> Result<(), StoreError> {
        let id = user_client_denial_id(user_id, client_id);
        put(&self.db, DENIED_USER_CLIENT, &id, None, &issued_until, keep_until).await
    }

    async fn is_access_token_denied(&self, token: DenyCheck<'_>) -> Result<bool, StoreError> {
        // The token's own denial, its family's, its user's or its user's for its client, in one
        // query.
        let by = |kind: &str, id: &str| Condition::all().add(Column::Kind.eq(kind)).add(Column::Id.eq(id));
        let user_client = user_client_denial_id(token.sub, token.client_id);
        let mut denied = Condition::any()
            .add(by(DENIED_JTI, token.jti))
            .add(by(DENIED_USER, token.sub))
            .add(by(DENIED_USER_CLIENT, &user_client));
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
        let up_to = |value: &str, time: i64| value.parse::<i64>().is_ok_and(|until| time <= until);
        Ok(found.iter().any(|(kind, value)| match kind.as_str() {
            DENIED_USER => up_to(value, token.auth_time),
            DENIED_USER_CLIENT => up_to(value, token.iat),
            _ => true,
        }))
    }
}

#[async_trait]
impl SharedCache for SqlSessionStore {
    async fn put_cached(&self, name: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        put(&self.db, CACHE, name, None, &value, expires(ttl_secs)).await
    }

    async fn get_cached(&self, name: &str) -> Result<Option<String>, StoreError> {
        get(&self.db, CACHE, name, now()).await
    }
}

#[async_trait]
impl Leases for SqlSessionStore {
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
}

#[async_trait]
impl StoreHealth for SqlSessionStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(unavailable)
    }
}

#[async_trait]
impl AssertionReplayStore for SqlSessionStore {
    async fn note_assertion_jti(&self, jti_hash: &str, keep_secs: u64) -> Result<bool, StoreError> {
        self.insert_new(ASSERTION_JTI, jti_hash, &true, expires(keep_secs.max(1))).await
    }
}
