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

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AuthCode, CodeGrantCompletion, CodeRedemption, ConsentRequest, DenyCheck, IssuedAccessToken, LogoutDelivery,
    PendingAuth, RefreshFamily, RefreshSuccessor, RefreshTokenState, RevokedFamily, RotateOutcome, RotateRequest,
    SessionStore, SsoSession, StoreError, access_token_family, code_grant_id,
};

/// Prepended to every script that must not act after its caller gave up: ARGV[1] is the deadline
/// in milliseconds on Redis's clock ('' for none); past it the script returns {-1} at once.
/// `replicate_commands` lets a script that read `TIME` write on Redis 3.2–4 (the default since 5).
const DEADLINE_LUA: &str = r#"
if ARGV[1] ~= '' then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then return {-1} end
end
"#;

/// KEYS: family, presented token, successor token, family access tokens (a sorted set written by
/// versions before the family-wide denial; only read now).
/// ARGV: deadline, now, grace, successor hash, sealed successor, idle ttl, access exp, client id,
/// requested scopes ('' when none were asked for), recheck due before ('' for none).
/// Returns {-1} too late, {0} invalid, {1, family} rotated, {2, family, sealed} retry, {3, family,
/// access exp, live recorded access...} reused, {4} another client's token, {5} scopes widened,
/// {6, family} upstream recheck due.
///
/// Times are the protocol clock's (ARGV now); the records' Redis TTLs are the family's remaining
/// life on that clock, so no PTTL read is needed.
const ROTATE_LUA: &str = r#"
local now = tonumber(ARGV[2])
local fam = redis.call('HMGET', KEYS[1], 'j', 'exp', 'c', 'sc', 'ae', 'uc')
if not fam[1] then return {0} end
local fam_end = tonumber(fam[2])
if now >= fam_end then return {0} end
if fam[3] ~= ARGV[8] then return {4} end
if ARGV[9] ~= '' then
  local have = {}
  for s in string.gmatch(fam[4], '%S+') do have[s] = true end
  for s in string.gmatch(ARGV[9], '%S+') do
    if not have[s] then return {5} end
  end
end
local tok = redis.call('HMGET', KEYS[2], 'ie', 's', 'sealed', 'at')
if not tok[1] then return {0} end
local fam_ms = (fam_end - now) * 1000
-- The family's access tokens are denied together, by family; it only remembers until when.
local function remember_access()
  if tonumber(ARGV[7]) > (tonumber(fam[5]) or 0) then redis.call('HSET', KEYS[1], 'ae', ARGV[7]) end
end
if not tok[2] then
  if now >= tonumber(tok[1]) then return {0} end
  if ARGV[10] ~= '' then
    -- Families written before 'uc' existed keep the time in their JSON only.
    local checked = tonumber(fam[6]) or tonumber(cjson.decode(fam[1]).upstream_checked_at) or 0
    if checked < tonumber(ARGV[10]) then return {6, fam[1]} end
  end
  -- The rotated token is remembered for the family's life, to detect its reuse.
  redis.call('HSET', KEYS[2], 's', ARGV[4], 'sealed', ARGV[5], 'at', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], fam_ms)
  local idle = tonumber(ARGV[6])
  redis.call('HSET', KEYS[3], 'ie', tostring(math.min(now + idle, fam_end)))
  redis.call('PEXPIRE', KEYS[3], math.max(math.min(idle * 1000, fam_ms), 1))
  remember_access()
  return {1, fam[1]}
end
if now - tonumber(tok[4]) <= tonumber(ARGV[3]) then
  remember_access()
  return {2, fam[1], tok[3]}
end
local access = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. ARGV[2], '+inf')
redis.call('DEL', KEYS[1], KEYS[4])
local out = {3, fam[1], fam[5] or '0'}
for _, a in ipairs(access) do table.insert(out, a) end
return out
"#;

/// KEYS: the record. ARGV: deadline. Returns {-1} too late, {1, value} taken, {0} none.
/// Single use of a login in progress or a consent request: a take that ran after its caller gave
/// up would leave the user's retry with "this sign-in has expired".
const TAKE_LUA: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
redis.call('DEL', KEYS[1])
return {1, v}
"#;

/// KEYS: code, redemption. ARGV: deadline, remember ms.
/// Returns {-1} too late, {1, code json} redeemed, {2} replayed (the redemption is now revoked),
/// {0} unknown. The redemption record is 'p' (pending or completed) or 'x' (revoked by a replay).
const REDEEM_LUA: &str = r#"
local code = redis.call('GET', KEYS[1])
if code then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], 'p', 'PX', tonumber(ARGV[2]))
  return {1, code}
end
if redis.call('GET', KEYS[2]) == 'p' then
  redis.call('SET', KEYS[2], 'x', 'KEEPTTL')
  return {2}
end
return {0}
"#;

/// KEYS: redemption, family, first token, and the SSO session (unless on a cluster, where it lives
/// in another slot and is checked after).
/// ARGV: deadline, family json, family end, client id, scopes, first token's idle end, first access
/// token's exp, now, upstream checked at.
/// Creates the family in one step, only while the redemption is pending and the session lives.
/// TTLs are remaining lives on the protocol clock (ARGV now), as in the rotation script.
/// Returns {-1} too late, {1} created, {0} revoked by a replay, {2} the session ended.
const COMPLETE_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= 'p' then return {0} end
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 0 then return {2} end
local now = tonumber(ARGV[8])
local fam_end = tonumber(ARGV[3])
if fam_end <= now then return {0} end
redis.call('HSET', KEYS[2], 'j', ARGV[2], 'exp', ARGV[3], 'c', ARGV[4], 'sc', ARGV[5], 'ae', ARGV[7], 'uc', ARGV[9])
redis.call('PEXPIRE', KEYS[2], (fam_end - now) * 1000)
local idle_end = tonumber(ARGV[6])
if idle_end > now then
  redis.call('HSET', KEYS[3], 'ie', ARGV[6])
  redis.call('PEXPIRE', KEYS[3], (idle_end - now) * 1000)
end
return {1}
"#;

/// KEYS: redemption, family, code. ARGV: code json, ttl ms. A pending redemption that created
/// nothing becomes the code again.
const RELEASE_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= 'p' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[3], ARGV[1], 'PX', tonumber(ARGV[2])) end
return 1
"#;

/// KEYS: session. ARGV: session json, expire-at (Unix seconds), last use, clients
/// (space-separated). A session is a hash: 'j' its record as created, 'ls' its last use and 'c'
/// its clients, which `SESSION_USE_LUA` updates in place.
const SESSION_PUT_LUA: &str = r#"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'ls', ARGV[3], 'c', ARGV[4])
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2]))
return 1
"#;

/// KEYS: session. ARGV: now, client ('' for none). Returns 0 when the session is gone.
const SESSION_USE_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[1]) > (tonumber(redis.call('HGET', KEYS[1], 'ls')) or 0) then
  redis.call('HSET', KEYS[1], 'ls', ARGV[1])
end
if ARGV[2] ~= '' then
  local clients = redis.call('HGET', KEYS[1], 'c') or ''
  for c in string.gmatch(clients, '%S+') do
    if c == ARGV[2] then return 1 end
  end
  if clients == '' then clients = ARGV[2] else clients = clients .. ' ' .. ARGV[2] end
  redis.call('HSET', KEYS[1], 'c', clients)
end
return 1
"#;

/// KEYS: session. Returns {json, last seen, clients} and deletes it, or {} if gone.
const SESSION_TAKE_LUA: &str = r#"
local v = redis.call('HMGET', KEYS[1], 'j', 'ls', 'c')
if not v[1] then return {} end
redis.call('DEL', KEYS[1])
return v
"#;

/// KEYS: family, family access-token set (older versions'). Returns {} or {family, access exp,
/// recorded access...}, deleting both.
const REVOKE_LUA: &str = r#"
local fam = redis.call('HMGET', KEYS[1], 'j', 'ae')
if not fam[1] then return {} end
local access = redis.call('ZRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
local out = {fam[1], fam[2] or '0'}
for _, a in ipairs(access) do table.insert(out, a) end
return out
"#;

/// KEYS: family. ARGV: json, upstream checked at. Replaces the family record if it still exists.
const UPDATE_FAMILY_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'uc', ARGV[2])
return 1
"#;

/// KEYS: index set. ARGV: member, expire-at (Unix seconds), now. The index lives as long as its
/// longest-lived member. A member already past its end is not added: a new index would get no TTL
/// (`TTL` answers -1 for a key without one, which is not below a negative remaining life).
const INDEX_ADD_LUA: &str = r#"
local want = tonumber(ARGV[2]) - tonumber(ARGV[3])
if want <= 0 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < want then redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2])) end
return 1
"#;

/// KEYS: due set, items hash (one hash tag). ARGV: id, json, due, expire-at, now.
const QUEUE_PUT_LUA: &str = r#"
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[1])
local want = tonumber(ARGV[4]) - tonumber(ARGV[5])
for i = 1, 2 do
  if redis.call('TTL', KEYS[i]) < want then redis.call('EXPIREAT', KEYS[i], tonumber(ARGV[4])) end
end
return 1
"#;

/// KEYS: due set, items hash. ARGV: now, lease end, limit. Claims due items by pushing their due
/// time to the lease end, atomically, and returns them.
const QUEUE_CLAIM_LUA: &str = r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local item = redis.call('HGET', KEYS[2], id)
  if item then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), id)
    table.insert(out, item)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"#;

/// KEYS: lock. ARGV: holder, ttl seconds.
const TRY_LOCK_LUA: &str = r#"
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 1
end
return 0
"#;

/// KEYS: lock. ARGV: holder.
const UNLOCK_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

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
    take: Script,
    redeem: Script,
    complete: Script,
    release: Script,
    session_put: Script,
    session_use: Script,
    session_take: Script,
    rotate: Script,
    revoke: Script,
    update_family: Script,
    try_lock: Script,
    unlock: Script,
    index_add: Script,
    queue_put: Script,
    queue_claim: Script,
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

fn millis_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Where Redis's clock stands against ours, for deadlines the scripts check with `TIME`.
struct RedisClock {
    /// Redis time minus local time, in milliseconds.
    offset_ms: Arc<AtomicI64>,
    /// When the offset was last measured (local milliseconds).
    measured_at: Arc<AtomicI64>,
    /// How long after sending a script may still act: half the command timeout, so that its
    /// answer still reaches a caller that waits the whole timeout.
    budget_ms: i64,
}

/// How often the offset is measured again (clocks drift; NTP steps).
const CLOCK_REMEASURE_MS: i64 = 60_000;
/// A `TIME` answer slower than this says little about the offset; it is not used.
const CLOCK_MAX_ROUND_TRIP_MS: i64 = 50;

impl RedisClock {
    /// One `TIME` round trip: the offset assumes the answer was read halfway through it.
    async fn measure(client: &Client) -> Result<Option<i64>, Error> {
        let sent = millis_now();
        let time: Vec<String> =
            client.custom(fred::types::CustomCommand::new_static("TIME", None, false), Vec::<String>::new()).await?;
        let received = millis_now();
        let (Some(secs), Some(micros)) =
            (time.first().and_then(|s| s.parse::<i64>().ok()), time.get(1).and_then(|s| s.parse::<i64>().ok()))
        else {
            return Ok(None);
        };
        if received - sent > CLOCK_MAX_ROUND_TRIP_MS {
            return Ok(None);
        }
        Ok(Some(secs * 1000 + micros / 1000 - (sent + received) / 2))
    }

    /// The deadline of a script sent now, on Redis's clock; measures the offset again in the
    /// background when it is old.
    fn deadline(&self, pool: &Pool) -> String {
        let now = millis_now();
        if now - self.measured_at.load(Ordering::Relaxed) > CLOCK_REMEASURE_MS {
            self.measured_at.store(now, Ordering::Relaxed);
            let (client, offset) = (pool.next().clone(), self.offset_ms.clone());
            tokio::spawn(async move {
                if let Ok(Some(measured)) = RedisClock::measure(&client).await {
                    offset.store(measured, Ordering::Relaxed);
                }
            });
        }
        (now + self.offset_ms.load(Ordering::Relaxed) + self.budget_ms).to_string()
    }
}

/// The first member of a script's reply, as a number (-1 = too late).
fn reply_code(reply: &[Value]) -> i64 {
    reply.first().and_then(|v| v.as_i64()).unwrap_or(0)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn ttl_i64(ttl_secs: u64) -> i64 {
    i64::try_from(ttl_secs).unwrap_or(i64::MAX)
}

/// A revoked family from a script's reply tail `{access exp, recorded access...}` (the rotation's
/// reuse answer and the revocation's have the same shape): of the recorded tokens — written by
/// versions before the family-wide denial — only those still live at `now`, as the SQL store does.
fn revoked_family(family: RefreshFamily, tail: &[Value], now: i64) -> RevokedFamily {
    let access_exp = tail.first().and_then(Value::as_string).and_then(|s| s.parse().ok()).unwrap_or(0);
    let access_tokens = tail
        .get(1..)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_string())
        .filter_map(|s| {
            let (jti, exp) = s.split_once(' ')?;
            Some(IssuedAccessToken { jti: jti.to_string(), exp: exp.parse().ok()? })
        })
        .filter(|t| t.exp > now)
        .collect();
    RevokedFamily { family, access_exp, access_tokens }
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
        let with_deadline = |script: &str| Script::from_lua(format!("{DEADLINE_LUA}{script}"));
        let store = RedisSessionStore {
            pool,
            prefix: settings.prefix.clone(),
            cluster,
            clock,
            take: with_deadline(TAKE_LUA),
            redeem: with_deadline(REDEEM_LUA),
            complete: with_deadline(COMPLETE_LUA),
            release: Script::from_lua(RELEASE_LUA),
            session_put: Script::from_lua(SESSION_PUT_LUA),
            session_use: Script::from_lua(SESSION_USE_LUA),
            session_take: Script::from_lua(SESSION_TAKE_LUA),
            rotate: with_deadline(ROTATE_LUA),
            revoke: Script::from_lua(REVOKE_LUA),
            update_family: Script::from_lua(UPDATE_FAMILY_LUA),
            try_lock: Script::from_lua(TRY_LOCK_LUA),
            unlock: Script::from_lua(UNLOCK_LUA),
            index_add: Script::from_lua(INDEX_ADD_LUA),
            queue_put: Script::from_lua(QUEUE_PUT_LUA),
            queue_claim: Script::from_lua(QUEUE_CLAIM_LUA),
        };
        for script in [
            &store.take,
            &store.redeem,
            &store.complete,
            &store.rotate,
            &store.session_use,
            &store.revoke,
            &store.update_family,
            &store.try_lock,
            &store.unlock,
            &store.index_add,
        ] {
            script.load(store.pool.next()).await.map_err(unavailable)?;
        }
        Ok(store)
    }

    /// A code and everything it issues share its grant id's hash tag (see [`code_grant_id`]).
    fn code_key(&self, code_hash: &str) -> String {
        format!("{}code:{{{}}}", self.prefix, code_grant_id(code_hash))
    }

    fn redemption_key(&self, code_hash: &str) -> String {
        format!("{}redeemed:{{{}}}", self.prefix, code_grant_id(code_hash))
    }

    /// A session is a hash under `ssn:` (string records under `sso:` predate session secrets and
    /// are never read).
    fn session_key(&self, sid: &str) -> String {
        self.key("ssn", sid)
    }

    /// A session from `SESSION_TAKE_LUA`'s or `HMGET j ls c`'s fields.
    fn session_from_fields(fields: &[Option<String>]) -> Result<Option<SsoSession>, StoreError> {
        let Some(Some(json)) = fields.first() else { return Ok(None) };
        let mut session: SsoSession = decode(json)?;
        if let Some(Some(last_seen)) = fields.get(1) {
            session.last_seen_at = last_seen.parse().unwrap_or(session.last_seen_at);
        }
        if let Some(Some(clients)) = fields.get(2) {
            session.clients = clients.split(' ').filter(|c| !c.is_empty()).map(str::to_string).collect();
        }
        Ok(Some(session))
    }

    async fn read_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        let fields: Vec<Option<String>> =
            self.pool.hmget(self.session_key(sid), vec!["j", "ls", "c"]).await.map_err(unavailable)?;
        RedisSessionStore::session_from_fields(&fields)
    }

    async fn take_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        let fields: Vec<Option<String>> = self
            .session_take
            .evalsha_with_reload(self.pool.next(), vec![self.session_key(sid)], Vec::<String>::new())
            .await
            .map_err(unavailable)?;
        RedisSessionStore::session_from_fields(&fields)
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn family_key(&self, family_id: &str) -> String {
        format!("{}rf:{{{family_id}}}", self.prefix)
    }

    /// A sorted set (was a plain set under `rfa:`; the new name keeps the two types apart).
    fn family_access_key(&self, family_id: &str) -> String {
        format!("{}rfat:{{{family_id}}}", self.prefix)
    }

    /// A denied `jti`; one that names a family (`<family>.<random>`) is kept under the family's
    /// hash tag, beside the family's own denial.
    fn deny_key(&self, jti: &str) -> String {
        match access_token_family(jti) {
            Some(family) => format!("{}deny:{{{family}}}{}", self.prefix, &jti[family.len()..]),
            None => self.key("deny", jti),
        }
    }

    /// The denial of every access token of a family.
    fn family_deny_key(&self, family_id: &str) -> String {
        format!("{}deny:{{{family_id}}}", self.prefix)
    }

    /// The back-channel logout queue: both keys share the `{bcl}` hash tag.
    fn queue_keys(&self) -> Vec<String> {
        vec![format!("{}bcl:{{q}}:due", self.prefix), format!("{}bcl:{{q}}:items", self.prefix)]
    }

    async fn queue_put(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError> {
        let _: i64 = self
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

    fn token_key(&self, family_id: &str, hash: &str) -> String {
        format!("{}rt:{{{family_id}}}:{hash}", self.prefix)
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

    /// Get-and-delete, with a deadline (see `TAKE_LUA`).
    async fn take_json<T: DeserializeOwned>(&self, key: String) -> Result<Option<T>, StoreError> {
        let reply: Vec<Value> = self
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

    async fn read_family(&self, key: String) -> Result<Option<RefreshFamily>, StoreError> {
        let json: Option<String> = self.pool.hget(key, "j").await.map_err(unavailable)?;
        json.map(|j| decode(&j)).transpose()
    }

    async fn add_to_index(&self, index: String, member: &str, until: i64) -> Result<(), StoreError> {
        let _: i64 = self
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

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn put_pending_auth(&self, auth: &PendingAuth, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.key("pa", &auth.id), auth, ttl_i64(ttl_secs)).await
    }

    async fn take_pending_auth(&self, id: &str) -> Result<Option<PendingAuth>, StoreError> {
        self.take_json(self.key("pa", id)).await
    }

    async fn put_consent_request(&self, req: &ConsentRequest, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.key("cr", &req.id), req, ttl_i64(ttl_secs)).await
    }

    async fn take_consent_request(&self, id: &str) -> Result<Option<ConsentRequest>, StoreError> {
        self.take_json(self.key("cr", id)).await
    }

    async fn put_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.code_key(code_hash), code, ttl_i64(ttl_secs)).await
    }

    async fn redeem_code(&self, code_hash: &str, remember_secs: u64) -> Result<CodeRedemption, StoreError> {
        let reply: Vec<Value> = self
            .redeem
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.code_key(code_hash), self.redemption_key(code_hash)],
                vec![self.clock.deadline(&self.pool), (ttl_i64(remember_secs).saturating_mul(1000)).to_string()],
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
        let idle_expires_at = (now + ttl_i64(first.idle_ttl_secs)).min(family.expires_at);
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
        let create = self.complete.evalsha_with_reload::<Vec<Value>, _, _>(
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

    async fn put_sso_session(&self, session: &SsoSession) -> Result<(), StoreError> {
        let key = self.session_key(&session.id);
        if session.expires_at <= now() {
            let _: i64 = self.pool.del(key).await.map_err(unavailable)?;
            return Ok(());
        }
        let _: i64 = self
            .session_put
            .evalsha_with_reload(
                self.pool.next(),
                vec![key],
                vec![
                    encode(session)?,
                    session.expires_at.to_string(),
                    session.last_seen_at.to_string(),
                    session.clients.join(" "),
                ],
            )
            .await
            .map_err(unavailable)?;
        self.add_to_index(self.key("usso", &session.user_id), &session.id, session.expires_at).await
    }

    async fn get_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        self.read_session(sid).await
    }

    async fn note_sso_session_use(&self, sid: &str, now: i64, client: Option<&str>) -> Result<bool, StoreError> {
        let used: i64 = self
            .session_use
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.session_key(sid)],
                vec![now.to_string(), client.unwrap_or_default().to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(used == 1)
    }

    async fn delete_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        let taken = self.take_session(sid).await?;
        if let Some(session) = &taken {
            self.prune(&self.key("usso", &session.user_id), sid).await?;
        }
        Ok(taken)
    }

    async fn sso_sessions_of_user(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError> {
        let index = self.key("usso", user_id);
        let mut live = Vec::new();
        for sid in self.members(&index).await? {
            match self.read_session(&sid).await? {
                Some(session) => live.push(session),
                None => self.prune(&index, &sid).await?,
            }
        }
        Ok(live)
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError> {
        let index = self.key("usso", user_id);
        let mut ended = Vec::new();
        for sid in self.members(&index).await? {
            if let Some(session) = self.take_session(&sid).await? {
                ended.push(session);
            }
            self.prune(&index, &sid).await?;
        }
        Ok(ended)
    }

    async fn rotate_refresh_token(&self, request: &RotateRequest) -> Result<RotateOutcome, StoreError> {
        let (family_id, successor) = (request.family_id.as_str(), &request.successor);
        let keys = vec![
            self.family_key(family_id),
            self.token_key(family_id, &request.presented_hash),
            self.token_key(family_id, &successor.token_hash),
            self.family_access_key(family_id),
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
            self.rotate.evalsha_with_reload(self.pool.next(), keys, args).await.map_err(unavailable)?;
        let code = reply.first().and_then(|v| v.as_i64()).unwrap_or(0);
        let family = || -> Result<RefreshFamily, StoreError> {
            let json =
                reply.get(1).and_then(|v| v.as_string()).ok_or_else(|| StoreError::Corrupt("rotate reply".into()))?;
            decode(&json)
        };
        Ok(match code {
            -1 => return Err(too_late()),
            6 => RotateOutcome::RecheckDue(family()?),
            1 => RotateOutcome::Rotated(family()?),
            2 => RotateOutcome::Retry {
                family: family()?,
                sealed_successor: reply
                    .get(2)
                    .and_then(|v| v.as_string())
                    .ok_or_else(|| StoreError::Corrupt("rotate reply".into()))?,
            },
            4 => RotateOutcome::WrongClient,
            5 => RotateOutcome::ScopeWidened,
            3 => RotateOutcome::Reused(revoked_family(family()?, reply.get(2..).unwrap_or_default(), request.now)),
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
            .revoke
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.family_key(family_id), self.family_access_key(family_id)],
                Vec::<String>::new(),
            )
            .await
            .map_err(unavailable)?;
        let Some(json) = reply.first().and_then(|v| v.as_string()) else {
            return Ok(None);
        };
        let family: RefreshFamily = decode(&json)?;
        self.prune(&self.key("urf", &family.user_id), family_id).await?;
        Ok(Some(revoked_family(family, reply.get(1..).unwrap_or_default(), now())))
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
            .queue_claim
            .evalsha_with_reload(
                self.pool.next(),
                self.queue_keys(),
                vec![now.to_string(), now.saturating_add(ttl_i64(lease_secs)).to_string(), limit.to_string()],
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

    async fn is_access_token_denied(&self, token: DenyCheck<'_>) -> Result<bool, StoreError> {
        // The token's and its family's denials share the family's hash tag (one EXISTS, also on a
        // cluster); the user's lives elsewhere. Pipelined: one round trip.
        let keys = match access_token_family(token.jti) {
            Some(family) => vec![self.deny_key(token.jti), self.family_deny_key(family)],
            None => vec![self.deny_key(token.jti)],
        };
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.exists(keys).await.map_err(unavailable)?;
        let _: () = pipeline.get(self.key("denyu", token.sub)).await.map_err(unavailable)?;
        let (denied, user_denied_until): (i64, Option<String>) = pipeline.all().await.map_err(unavailable)?;
        let user_denied = user_denied_until
            .and_then(|until| decode::<i64>(&until).ok())
            .is_some_and(|authenticated_until| token.auth_time <= authenticated_until);
        Ok(denied > 0 || user_denied)
    }

    async fn put_cached(&self, name: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_json(self.key("cache", name), &value, ttl_i64(ttl_secs)).await
    }

    async fn get_cached(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get_json(self.key("cache", name)).await
    }

    async fn try_lock(&self, name: &str, holder: &str, ttl_secs: u64) -> Result<bool, StoreError> {
        let acquired: i64 = self
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
            .unlock
            .evalsha_with_reload(self.pool.next(), vec![self.key("lock", name)], vec![holder.to_string()])
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.pool.ping(None).await.map_err(unavailable)?;
        Ok(())
    }
}
