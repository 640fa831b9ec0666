//! Refresh families in Redis: a hash per family under `rf:{family}` ('j' its record, 'exp' its end,
//! 'c' its client, 'sc' its scopes, 'ae' the latest expiry of its access tokens, 'uc' its last
//! upstream check), a hash per refresh token under `rt:{family}:<hash>`, and a set of a user's
//! families under `urf:`. A family's keys share its hash tag, so the scripts also run on Redis
//! Cluster.

use async_trait::async_trait;
use fred::prelude::*;

use super::{RedisSessionStore, too_late, unavailable};
use crate::store::codec::{corrupt, decode, encode};
use crate::store::{
    RefreshFamily, RefreshFamilyStore, RefreshTokenState, RevokedFamily, RotateOutcome, RotateRequest, StoreError,
};

/// A revoked family from a script's reply tail `{access exp}` (the rotation's reuse answer and the
/// revocation's have the same shape).
fn revoked_family(family: RefreshFamily, tail: &[Value]) -> RevokedFamily {
    let access_exp = tail.first().and_then(Value::as_string).and_then(|s| s.parse().ok()).unwrap_or(0);
    RevokedFamily { family, access_exp }
}

impl RedisSessionStore {
    pub(super) fn family_key(&self, family_id: &str) -> String {
        format!("{}rf:{{{family_id}}}", self.prefix)
    }

    pub(super) fn token_key(&self, family_id: &str, hash: &str) -> String {
        format!("{}rt:{{{family_id}}}:{hash}", self.prefix)
    }

    pub(super) async fn read_family(&self, key: String) -> Result<Option<RefreshFamily>, StoreError> {
        let json: Option<String> = self.pool.hget(key, "j").await.map_err(unavailable)?;
        json.map(|j| decode(&j)).transpose()
    }
}

#[async_trait]
impl RefreshFamilyStore for RedisSessionStore {
    async fn rotate_refresh_token(&self, request: &RotateRequest) -> Result<RotateOutcome, StoreError> {
        let (family_id, successor) = (request.family_id.as_str(), &request.successor);
        let keys = vec![
            self.family_key(family_id),
            self.token_key(family_id, &request.presented_hash),
            self.token_key(family_id, &successor.token_hash),
        ];
        let args = vec![
            self.clock.deadline(&self.pool),
            request.now.to_string(),
            request.grace_secs.to_string(),
            successor.token_hash.clone(),
            successor.sealed.clone(),
            successor.idle_ttl_secs.to_string(),
            successor.access_exp.to_string(),
            request.client_id.clone(),
            request.scopes.as_ref().map(|s| s.join(" ")).unwrap_or_default(),
            request.recheck_due_before.map(|t| t.to_string()).unwrap_or_default(),
        ];
        let reply: Vec<Value> =
            self.scripts.rotate.evalsha_with_reload(self.pool.next(), keys, args).await.map_err(unavailable)?;
        let code = reply.first().and_then(|v| v.as_i64()).unwrap_or(0);
        let family = || -> Result<RefreshFamily, StoreError> {
            let json = reply.get(1).and_then(|v| v.as_string()).ok_or_else(|| corrupt("rotate reply"))?;
            decode(&json)
        };
        Ok(match code {
            -1 => return Err(too_late()),
            6 => RotateOutcome::RecheckDue(family()?),
            1 => RotateOutcome::Rotated(family()?),
            2 => RotateOutcome::Retry {
                family: family()?,
                sealed_successor: reply.get(2).and_then(|v| v.as_string()).ok_or_else(|| corrupt("rotate reply"))?,
            },
            4 => RotateOutcome::WrongClient,
            5 => RotateOutcome::ScopeWidened,
            3 => RotateOutcome::Reused(revoked_family(family()?, reply.get(2..).unwrap_or_default())),
            _ => RotateOutcome::Invalid,
        })
    }

    async fn refresh_token_state(
        &self,
        family_id: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        let fam: Vec<Option<String>> =
            self.pool.hmget(self.family_key(family_id), vec!["j", "exp"]).await.map_err(unavailable)?;
        let (Some(Some(json)), Some(Some(exp))) = (fam.first(), fam.get(1)) else {
            return Ok(None);
        };
        if exp.parse::<i64>().map_or(true, |exp| now >= exp) {
            return Ok(None);
        }
        let tok: Vec<Option<String>> =
            self.pool.hmget(self.token_key(family_id, token_hash), vec!["ie", "s"]).await.map_err(unavailable)?;
        let Some(Some(idle)) = tok.first() else {
            return Ok(None);
        };
        let rotated = tok.get(1).is_some_and(Option::is_some);
        let current = !rotated && idle.parse::<i64>().is_ok_and(|ie| now < ie);
        Ok(Some(RefreshTokenState { family: decode(json)?, current }))
    }

    async fn get_refresh_family(&self, family_id: &str) -> Result<Option<RefreshFamily>, StoreError> {
        self.read_family(self.family_key(family_id)).await
    }

    async fn update_refresh_family(&self, family: &RefreshFamily) -> Result<bool, StoreError> {
        let updated: i64 = self
            .scripts
            .update_family
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.family_key(&family.id)],
                vec![encode(family)?, family.upstream_checked_at.to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(updated == 1)
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> Result<Option<RevokedFamily>, StoreError> {
        let reply: Vec<Value> = self
            .scripts
            .revoke
            .evalsha_with_reload(self.pool.next(), vec![self.family_key(family_id)], Vec::<String>::new())
            .await
            .map_err(unavailable)?;
        let Some(json) = reply.first().and_then(|v| v.as_string()) else {
            return Ok(None);
        };
        let family: RefreshFamily = decode(&json)?;
        self.prune(&self.key("urf", &family.user_id), family_id).await?;
        Ok(Some(revoked_family(family, reply.get(1..).unwrap_or_default())))
    }

    async fn refresh_families_of_user(&self, user_id: &str) -> Result<Vec<RefreshFamily>, StoreError> {
        let index = self.key("urf", user_id);
        let mut live = Vec::new();
        for family_id in self.members(&index).await? {
            match self.read_family(self.family_key(&family_id)).await? {
                Some(family) => live.push(family),
                None => self.prune(&index, &family_id).await?,
            }
        }
        Ok(live)
    }
}
