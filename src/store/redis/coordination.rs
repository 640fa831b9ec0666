//! The small parts of the Redis store: the back-channel logout queue, the access-token denylist,
//! client assertions' `jti`s, the shared cache, leases and the readiness ping.

use async_trait::async_trait;
use fred::prelude::*;

use super::{RedisSessionStore, unavailable};
use crate::store::codec::{decode, encode};
use crate::store::ttl::{now, secs_i64};
use crate::store::{
    AccessTokenDenylist, AssertionReplayStore, DenyCheck, Leases, LogoutDelivery, LogoutQueue, SharedCache, StoreError,
    StoreHealth, access_token_family, user_client_denial_id,
};

impl RedisSessionStore {
    /// A denied `jti`; one that names a family (`<family>.<random>`) is kept under the family's
    /// hash tag, beside the family's own denial.
    pub(super) fn deny_key(&self, jti: &str) -> String {
        match access_token_family(jti) {
            Some(family) => format!("{}deny:{{{family}}}{}", self.prefix, &jti[family.len()..]),
            None => self.key("deny", jti),
        }
    }

    /// The denial of every access token of a family.
    pub(super) fn family_deny_key(&self, family_id: &str) -> String {
        format!("{}deny:{{{family_id}}}", self.prefix)
    }

    /// The back-channel logout queue: both keys share the `{bcl}` hash tag.
    pub(super) fn queue_keys(&self) -> Vec<String> {
        vec![format!("{}bcl:{{q}}:due", self.prefix), format!("{}bcl:{{q}}:items", self.prefix)]
    }

    pub(super) async fn queue_put(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .queue_put
            .evalsha_with_reload(
                self.pool.next(),
                self.queue_keys(),
                vec![
                    delivery.id.clone(),
                    encode(delivery)?,
                    due_at.to_string(),
                    delivery.expires_at.to_string(),
                    now().to_string(),
                ],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl LogoutQueue for RedisSessionStore {
    async fn enqueue_logout(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError> {
        self.queue_put(delivery, due_at).await
    }

    async fn claim_logout_deliveries(
        &self,
        now: i64,
        lease_secs: u64,
        limit: u64,
    ) -> Result<Vec<LogoutDelivery>, StoreError> {
        let items: Vec<String> = self
            .scripts
            .queue_claim
            .evalsha_with_reload(
                self.pool.next(),
                self.queue_keys(),
                vec![now.to_string(), now.saturating_add(secs_i64(lease_secs)).to_string(), limit.to_string()],
            )
            .await
            .map_err(unavailable)?;
        items.iter().map(|item| decode(item)).collect()
    }

    async fn complete_logout_delivery(&self, id: &str) -> Result<(), StoreError> {
        let keys = self.queue_keys();
        let _: i64 = self.pool.zrem(keys[0].as_str(), id).await.map_err(unavailable)?;
        let _: i64 = self.pool.hdel(keys[1].as_str(), id).await.map_err(unavailable)?;
        Ok(())
    }

    async fn retry_logout_delivery(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError> {
        self.queue_put(delivery, due_at).await
    }
}

#[async_trait]
impl AccessTokenDenylist for RedisSessionStore {
    async fn deny_access_token(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.put_json(self.deny_key(jti), &exp, exp - now()).await
    }

    async fn deny_family_access_tokens(&self, family_id: &str, until: i64) -> Result<(), StoreError> {
        self.put_json(self.family_deny_key(family_id), &until, until - now()).await
    }

    async fn deny_user_access_tokens(
        &self,
        user_id: &str,
        authenticated_until: i64,
        keep_until: i64,
    ) -> Result<(), StoreError> {
        self.put_json(self.key("denyu", user_id), &authenticated_until, keep_until - now()).await
    }

    async fn deny_client_access_tokens(
        &self,
        user_id: &str,
        client_id: &str,
        issued_until: i64,
        keep_until: i64,
    ) -> Result<(), StoreError> {
        let key = self.key("denyuc", &user_client_denial_id(user_id, client_id));
        self.put_json(key, &issued_until, keep_until - now()).await
    }

    async fn is_access_token_denied(&self, token: DenyCheck<'_>) -> Result<bool, StoreError> {
        // The token's and its family's denials share the family's hash tag (one EXISTS, also on a
        // cluster); the user's and the user's for the client live elsewhere. Pipelined: one round
        // trip.
        let keys = match access_token_family(token.jti) {
            Some(family) => vec![self.deny_key(token.jti), self.family_deny_key(family)],
            None => vec![self.deny_key(token.jti)],
        };
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.exists(keys).await.map_err(unavailable)?;
        let _: () = pipeline.get(self.key("denyu", token.sub)).await.map_err(unavailable)?;
        let user_client = self.key("denyuc", &user_client_denial_id(token.sub, token.client_id));
        let _: () = pipeline.get(user_client).await.map_err(unavailable)?;
        let (denied, user_denied_until, client_denied_until): (i64, Option<String>, Option<String>) =
            pipeline.all().await.map_err(unavailable)?;
        let up_to = |until: Option<String>, time: i64| {
            until.and_then(|until| decode::<i64>(&until).ok()).is_some_and(|until| time <= until)
        };
        Ok(denied > 0 || up_to(user_denied_until, token.auth_time) || up_to(client_denied_until, token.iat))
    }
}

#[async_trait]
impl SharedCache for RedisSessionStore {
    async fn put_cached(&self, name: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.key("cache", name), &value, secs_i64(ttl_secs)).await
    }

    async fn get_cached(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get_json(self.key("cache", name)).await
    }
}

#[async_trait]
impl Leases for RedisSessionStore {
    async fn try_lock(&self, name: &str, holder: &str, ttl_secs: u64) -> Result<bool, StoreError> {
        let acquired: i64 = self
            .scripts
            .try_lock
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.key("lock", name)],
                vec![holder.to_string(), ttl_secs.max(1).to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(acquired == 1)
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .unlock
            .evalsha_with_reload(self.pool.next(), vec![self.key("lock", name)], vec![holder.to_string()])
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl StoreHealth for RedisSessionStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.pool.ping(None).await.map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl AssertionReplayStore for RedisSessionStore {
    async fn note_assertion_jti(&self, jti_hash: &str, keep_secs: u64) -> Result<bool, StoreError> {
        self.put_new(self.key("jti", jti_hash), "1".into(), keep_secs).await
    }
}
