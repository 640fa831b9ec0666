//! Device authorization requests in Redis (RFC 8628). A request, its decision and its poll gate
//! share the device code hash's hash tag, so the poll is one script, also on Redis Cluster; the
//! user code's index key stands alone.

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::SetOptions;

use super::{RedisSessionStore, unavailable};
use crate::store::codec::{decode, encode};
use crate::store::ttl::secs_i64;
use crate::store::{DeviceDecision, DeviceGrantStore, DeviceLookup, DevicePoll, DeviceRequest, StoreError};

impl RedisSessionStore {
    fn device_key(&self, kind: &str, device_code_hash: &str) -> String {
        format!("{}{kind}:{{{device_code_hash}}}", self.prefix)
    }

    /// SET NX with a TTL: true when this call created the key.
    pub(super) async fn put_new(&self, key: String, value: String, keep_secs: u64) -> Result<bool, StoreError> {
        let ttl = secs_i64(keep_secs.max(1));
        let set: Option<String> = self
            .pool
            .set(key, value, Some(Expiration::EX(ttl)), Some(SetOptions::NX), false)
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }
}

#[async_trait]
impl DeviceGrantStore for RedisSessionStore {
    async fn put_device_request(
        &self,
        device_code_hash: &str,
        user_code_hash: &str,
        request: &DeviceRequest,
        keep_secs: u64,
    ) -> Result<bool, StoreError> {
        let index = self.key("device_user", user_code_hash);
        if !self.put_new(index, device_code_hash.to_string(), keep_secs).await? {
            return Ok(false);
        }
        self.put_json(self.device_key("device", device_code_hash), request, secs_i64(keep_secs)).await?;
        Ok(true)
    }

    async fn device_request_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceLookup>, StoreError> {
        let Some(device_code_hash) = self.get_json_raw(self.key("device_user", user_code_hash)).await? else {
            return Ok(None);
        };
        let keys =
            vec![self.device_key("device", &device_code_hash), self.device_key("device_decision", &device_code_hash)];
        let values: Vec<Option<String>> = self.pool.mget(keys).await.map_err(unavailable)?;
        let mut values = values.into_iter();
        let (Some(Some(request)), decision) = (values.next(), values.next().flatten()) else {
            return Ok(None);
        };
        Ok(Some(DeviceLookup { device_code_hash, request: decode(&request)?, decided: decision.is_some() }))
    }

    async fn decide_device_request(
        &self,
        device_code_hash: &str,
        decision: &DeviceDecision,
        keep_secs: u64,
    ) -> Result<bool, StoreError> {
        self.put_new(self.device_key("device_decision", device_code_hash), encode(decision)?, keep_secs).await
    }

    async fn poll_device_request(
        &self,
        device_code_hash: &str,
        gate_secs: u64,
    ) -> Result<Option<DevicePoll>, StoreError> {
        let keys = vec![
            self.device_key("device", device_code_hash),
            self.device_key("device_decision", device_code_hash),
            self.device_key("device_gate", device_code_hash),
        ];
        let reply: Vec<Value> = self
            .scripts
            .device_poll
            .evalsha_with_reload(self.pool.next(), keys, vec![gate_secs.max(1).to_string()])
            .await
            .map_err(unavailable)?;
        if super::reply_code(&reply) != 1 {
            return Ok(None);
        }
        let text = |i: usize| reply.get(i).and_then(Value::as_string).unwrap_or_default();
        let decision = text(2);
        Ok(Some(DevicePoll {
            request: decode(&text(1))?,
            decision: if decision.is_empty() { None } else { Some(decode(&decision)?) },
            too_soon: reply.get(3).and_then(Value::as_i64) == Some(1),
        }))
    }
}
