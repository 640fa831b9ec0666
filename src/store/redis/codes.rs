//! Logins in progress and authorization codes in Redis. A code, its redemption and everything it
//! issues share its grant id's hash tag (see [`code_grant_id`]), so the scripts also run on Redis
//! Cluster.

use async_trait::async_trait;
use fred::prelude::*;

use super::{RedisSessionStore, reply_code, too_late, unavailable};
use crate::store::codec::{corrupt, decode, encode};
use crate::store::ttl::{idle_expiry, secs_i64};
use crate::store::{
    AuthCode, CodeGrantCompletion, CodeRedemption, CodeStore, ConsentRequest, LoginRequestStore, PendingAuth,
    PushedRequest, RefreshFamily, RefreshFamilyStore, RefreshSuccessor, StoreError, code_grant_id,
};

impl RedisSessionStore {
    /// A code and everything it issues share its grant id's hash tag (see [`code_grant_id`]).
    pub(super) fn code_key(&self, code_hash: &str) -> String {
        format!("{}code:{{{}}}", self.prefix, code_grant_id(code_hash))
    }

    pub(super) fn redemption_key(&self, code_hash: &str) -> String {
        format!("{}redeemed:{{{}}}", self.prefix, code_grant_id(code_hash))
    }
}

#[async_trait]
impl LoginRequestStore for RedisSessionStore {
    async fn put_pending_auth(&self, auth: &PendingAuth, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.key("pa", &auth.id), auth, secs_i64(ttl_secs)).await
    }

    async fn take_pending_auth(&self, id: &str) -> Result<Option<PendingAuth>, StoreError> {
        self.take_json(self.key("pa", id)).await
    }

    async fn put_consent_request(&self, req: &ConsentRequest, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.key("cr", &req.id), req, secs_i64(ttl_secs)).await
    }

    async fn take_consent_request(&self, id: &str) -> Result<Option<ConsentRequest>, StoreError> {
        self.take_json(self.key("cr", id)).await
    }

    async fn put_pushed_request(&self, uri_hash: &str, req: &PushedRequest, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.key("par", uri_hash), req, secs_i64(ttl_secs)).await
    }

    async fn take_pushed_request(&self, uri_hash: &str) -> Result<Option<PushedRequest>, StoreError> {
        self.take_json(self.key("par", uri_hash)).await
    }
}

#[async_trait]
impl CodeStore for RedisSessionStore {
    async fn put_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.code_key(code_hash), code, secs_i64(ttl_secs)).await
    }

    async fn redeem_code(&self, code_hash: &str, remember_secs: u64) -> Result<CodeRedemption, StoreError> {
        let reply: Vec<Value> = self
            .scripts
            .redeem
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.code_key(code_hash), self.redemption_key(code_hash)],
                vec![self.clock.deadline(&self.pool), (secs_i64(remember_secs).saturating_mul(1000)).to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(match reply_code(&reply) {
            -1 => return Err(too_late()),
            1 => {
                let json = reply.get(1).and_then(Value::as_string).ok_or_else(|| corrupt("redeem reply"))?;
                CodeRedemption::Redeemed(Box::new(decode(&json)?))
            }
            2 => CodeRedemption::Replayed,
            _ => CodeRedemption::Unknown,
        })
    }

    async fn complete_code_grant(
        &self,
        code_hash: &str,
        family: &RefreshFamily,
        first: &RefreshSuccessor,
        session: Option<&str>,
    ) -> Result<CodeGrantCompletion, StoreError> {
        let now = family.created_at;
        let idle_expires_at = idle_expiry(now, first.idle_ttl_secs, family.expires_at);
        let mut keys = vec![
            self.redemption_key(code_hash),
            self.family_key(&family.id),
            self.token_key(&family.id, &first.token_hash),
        ];
        // On a cluster the session lives in another slot: it is checked after the family exists
        // (below), which a concurrent logout cannot slip between either (it deletes the session
        // before it lists the families to revoke).
        if let Some(sid) = session
            && !self.cluster
        {
            keys.push(self.session_key(sid));
        }
        let create = self.scripts.complete.evalsha_with_reload::<Vec<Value>, _, _>(
            self.pool.next(),
            keys,
            vec![
                self.clock.deadline(&self.pool),
                encode(family)?,
                family.expires_at.to_string(),
                family.client_id.clone(),
                family.scopes.join(" "),
                idle_expires_at.to_string(),
                first.access_exp.to_string(),
                now.to_string(),
                family.upstream_checked_at.to_string(),
            ],
        );
        // The user's index lives in another slot: a separate command, sent concurrently.
        let index = self.add_to_index(self.key("urf", &family.user_id), &family.id, family.expires_at);
        let (created, indexed) = tokio::join!(create, index);
        let completion = match reply_code(&created.map_err(unavailable)?) {
            -1 => return Err(too_late()),
            1 => CodeGrantCompletion::Created,
            2 => CodeGrantCompletion::SessionEnded,
            _ => CodeGrantCompletion::Revoked,
        };
        indexed?;
        if completion == CodeGrantCompletion::Created
            && self.cluster
            && let Some(sid) = session
            && self.read_session(sid).await?.is_none()
        {
            self.revoke_refresh_family(&family.id).await?;
            return Ok(CodeGrantCompletion::SessionEnded);
        }
        Ok(completion)
    }

    async fn release_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: i64) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .release
            .evalsha_with_reload(
                self.pool.next(),
                vec![
                    self.redemption_key(code_hash),
                    self.family_key(&code_grant_id(code_hash)),
                    self.code_key(code_hash),
                ],
                vec![encode(code)?, ttl_secs.max(0).saturating_mul(1000).to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
