//! The Redis SessionStore (fred). Every key has a TTL and the configured prefix; nothing outside
//! the prefix is read or written. Single use is GETDEL or a script; rotation with reuse detection
//! is one Lua script loaded once and called by SHA. Keys of one refresh family share a hash tag
//! (`{family}`), and so do a code and everything it issues, so the scripts also run on Redis
//! Cluster.
//!
//! **A 503 changes nothing.** A command that times out on our side is still in Redis's input
//! buffer: a Redis that stalled (paused, swapping, a long fork) runs it when it resumes, after the
//! caller was told `temporarily_unavailable`. The scripts that consume something on the token
//! path (code redemption and completion, refresh rotation) therefore carry a deadline on Redis's
//! own clock (`TIME`, estimated from the offset measured at connect and refreshed each minute)
//! and do nothing once it has passed: half the command timeout after the request was sent, so
//! an answer from a script that did run still arrives before the caller gives up.

mod clock;
mod codes;
mod coordination;
mod devices;
mod families;
mod scripts;
mod sessions;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use fred::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::clock::{RedisClock, millis_now};
use self::scripts::Scripts;
use super::StoreError;
use super::codec::{decode, encode};
use super::ttl::now;

/// Connection settings of the Redis store (`[redis]` in the config).
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://`, `rediss://`, `redis-sentinel://` or `redis-cluster://` (fred's URL forms).
    pub url: String,
    pub prefix: String,
    pub pool_size: usize,
    /// Bound on every command, so an outage answers quickly instead of hanging.
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
}

pub struct RedisSessionStore {
    pool: Pool,
    prefix: String,
    /// Redis Cluster: keys of different hash tags live on different nodes, so no script may
    /// touch two of them.
    cluster: bool,
    clock: RedisClock,
    scripts: Scripts,
}

fn unavailable(err: Error) -> StoreError {
    crate::metrics::store_error("redis");
    StoreError::Unavailable(err.to_string())
}

/// A script that found its deadline passed: it did nothing, and the caller answers 503.
fn too_late() -> StoreError {
    crate::metrics::store_error("redis");
    StoreError::Unavailable("redis answered after the request's deadline; nothing was changed".into())
}

/// The first member of a script's reply, as a number (-1 = too late).
fn reply_code(reply: &[Value]) -> i64 {
    reply.first().and_then(|v| v.as_i64()).unwrap_or(0)
}

impl RedisSessionStore {
    /// Connects the pool (bounded by `connect_timeout`) and loads the scripts once.
    pub async fn connect(settings: &RedisSettings) -> Result<RedisSessionStore, StoreError> {
        let config = Config::from_url(&settings.url).map_err(|e| StoreError::Unavailable(format!("redis.url: {e}")))?;
        let cluster = config.server.is_clustered();
        let command_timeout = settings.command_timeout;
        let connect_timeout = settings.connect_timeout;
        let pool = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = connect_timeout;
                c.internal_command_timeout = command_timeout;
                // A command in flight when the connection drops is not replayed behind the
                // caller's back: the caller gets an error and answers 503.
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = command_timeout)
            // Keep reconnecting forever, backing off to 2 s: recovery needs no restart.
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2000, 2))
            .build_pool(settings.pool_size.max(1))
            .map_err(unavailable)?;
        pool.init().await.map_err(unavailable)?;
        let mut offset = None;
        for _ in 0..3 {
            offset = RedisClock::measure(pool.next()).await.map_err(unavailable)?;
            if offset.is_some() {
                break;
            }
        }
        let budget_ms = i64::try_from(command_timeout.as_millis() / 2).unwrap_or(i64::MAX);
        let clock = RedisClock {
            offset_ms: Arc::new(AtomicI64::new(offset.unwrap_or(0))),
            // Unmeasured (every answer was slow): measure again at the first deadline.
            measured_at: Arc::new(AtomicI64::new(if offset.is_some() { millis_now() } else { 0 })),
            budget_ms,
        };
        let store =
            RedisSessionStore { pool, prefix: settings.prefix.clone(), cluster, clock, scripts: Scripts::new() };
        store.scripts.load(store.pool.next()).await.map_err(unavailable)?;
        Ok(store)
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    async fn put_json<T: Serialize>(&self, key: String, value: &T, ttl_secs: i64) -> Result<(), StoreError> {
        if ttl_secs <= 0 {
            // Already expired: make sure nothing stale stays behind.
            let _: i64 = self.pool.del(key).await.map_err(unavailable)?;
            return Ok(());
        }
        let json = encode(value)?;
        let _: () = self.pool.set(key, json, Some(Expiration::EX(ttl_secs)), None, false).await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_json<T: DeserializeOwned>(&self, key: String) -> Result<Option<T>, StoreError> {
        let value: Option<String> = self.pool.get(key).await.map_err(unavailable)?;
        value.map(|v| decode(&v)).transpose()
    }

    async fn get_json_raw(&self, key: String) -> Result<Option<String>, StoreError> {
        self.pool.get(key).await.map_err(unavailable)
    }

    /// Get-and-delete, with a deadline (see `TAKE_LUA`).
    async fn take_json<T: DeserializeOwned>(&self, key: String) -> Result<Option<T>, StoreError> {
        let reply: Vec<Value> = self
            .scripts
            .take
            .evalsha_with_reload(self.pool.next(), vec![key], vec![self.clock.deadline(&self.pool)])
            .await
            .map_err(unavailable)?;
        match reply_code(&reply) {
            -1 => Err(too_late()),
            1 => reply.get(1).and_then(Value::as_string).map(|v| decode(&v)).transpose(),
            _ => Ok(None),
        }
    }

    async fn members(&self, index: &str) -> Result<Vec<String>, StoreError> {
        self.pool.smembers(index).await.map_err(unavailable)
    }

    /// Drops an index member whose record is gone (expired or revoked elsewhere).
    async fn prune(&self, index: &str, member: &str) -> Result<(), StoreError> {
        let _: i64 = self.pool.srem(index, member).await.map_err(unavailable)?;
        Ok(())
    }

    async fn add_to_index(&self, index: String, member: &str, until: i64) -> Result<(), StoreError> {
        let _: i64 = self
            .scripts
            .index_add
            .evalsha_with_reload(
                self.pool.next(),
                vec![index],
                vec![member.to_string(), until.to_string(), now().to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
