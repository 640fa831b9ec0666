//! What the verifying endpoints (userinfo, introspection, revocation) remember between requests,
//! so that a token presented again — the normal case: a resource server introspects the same
//! bearer token on every call — costs neither an RSA verification nor a store round trip.
//!
//! - Verified access tokens: the claims of a token whose signature, `typ`, `kid`, issuer and
//!   audience family were checked, keyed by the whole token and tied to the key ring that
//!   verified it (a key revoked or rotated out makes a new ring, and every entry of the old one
//!   misses). Expiry and the exact audience are checked on every use.
//! - The denylist: the store's answer is remembered for `tokens.denylist_recheck_ms`. A
//!   revocation made through this instance takes effect here at once; one made
//!   through another instance within the recheck interval (RFC 7009 §2.2 allows a propagation
//!   delay and asks that it be short).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::AccessClaims;
use crate::cache::TtlCache;
use crate::keys::KeyRing;

pub struct VerifiedToken {
    pub claims: AccessClaims,
    ring: Arc<KeyRing>,
    token: Box<str>,
}

pub struct VerifiedTokens {
    /// Keyed by a hash of the token's last bytes (its signature: unpredictable without our key),
    /// not of the whole ~900-byte token, which showed in profiles; a hit still compares the whole
    /// token. Only verified tokens are ever inserted, so chosen collisions buy an attacker nothing.
    entries: TtlCache<u64, Arc<VerifiedToken>>,
}

fn key_of(token: &str) -> u64 {
    let bytes = token.as_bytes();
    // FNV-1a over the last 16 bytes.
    bytes[bytes.len().saturating_sub(16)..]
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl VerifiedTokens {
    /// `capacity` zero turns the cache off.
    pub fn new(capacity: usize) -> VerifiedTokens {
        // Entries are valid until the token's own `exp` (checked per use); the TTL only bounds how
        // long an unused entry holds memory.
        let ttl = if capacity == 0 { Duration::ZERO } else { Duration::from_secs(300) };
        VerifiedTokens { entries: TtlCache::new(ttl, capacity) }
    }

    /// The claims of `token` if it was verified under `ring`.
    pub fn get(&self, token: &str, ring: &Arc<KeyRing>) -> Option<Arc<VerifiedToken>> {
        self.entries.get(&key_of(token)).filter(|v| Arc::ptr_eq(&v.ring, ring) && *v.token == *token)
    }

    pub fn insert(&self, token: &str, ring: Arc<KeyRing>, claims: AccessClaims) -> Arc<VerifiedToken> {
        let verified = Arc::new(VerifiedToken { claims, ring, token: token.into() });
        let generation = self.entries.generation();
        self.entries.insert_if_current(generation, key_of(token), verified.clone());
        verified
    }
}

pub struct DenylistCache {
    entries: TtlCache<String, bool>,
}

impl DenylistCache {
    /// `recheck` zero asks the store every time.
    pub fn new(recheck: Duration) -> DenylistCache {
        DenylistCache { entries: TtlCache::new(recheck, 100_000) }
    }

    /// Whether `jti` is revoked: remembered, or what `ask_store()` answers (not kept if a revocation
    /// happened meanwhile). The store is asked, and its future built, only on a miss.
    pub async fn is_denied<E, F>(&self, jti: &str, ask_store: impl FnOnce() -> F) -> Result<bool, E>
    where
        F: Future<Output = Result<bool, E>>,
    {
        Ok(self.entries.get_or_load(jti, || async { ask_store().await.map(Some) }).await?.unwrap_or(false))
    }

    /// Many tokens were revoked here at once (a family's, a user's): what this instance remembered
    /// about any token may be stale, so it forgets everything (such revocations are rare; the next
    /// look-ups ask the store, which knows about them).
    pub fn forget_all(&self) {
        self.entries.invalidate_all();
    }

    /// A revocation made here: in force at once on this instance.
    pub fn deny(&self, jti: &str) {
        self.entries.invalidate(jti);
        let generation = self.entries.generation();
        self.entries.insert_if_current(generation, jti.into(), true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Arc<KeyRing> {
        Arc::new(crate::keys::ring::test_ring().0)
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp: 2,
            iat: 1,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "openid".into(),
            sid: None,
            auth_time: Some(1),
            roles: None,
            groups: None,
        }
    }

    #[test]
    fn rfc7519_7_2_a_token_sharing_a_cached_tokens_signature_tail_is_not_taken_for_it() {
        let cache = VerifiedTokens::new(16);
        let ring = ring();
        let genuine = "eyJoZWFkZXIi.eyJwYXlsb2FkIn0.SAME-SIGNATURE-TAIL-0123456789";
        cache.insert(genuine, ring.clone(), claims());
        assert!(cache.get(genuine, &ring).is_some());
        // Same last bytes (same cache key), different header/payload: must be verified, not served.
        assert!(cache.get("eyJmb3JnZWQi.eyJwYXlsb2FkIn0.SAME-SIGNATURE-TAIL-0123456789", &ring).is_none());
        // A new key ring (a key revoked or rotated out) forgets everything verified under the old one.
        assert!(cache.get(genuine, &self::ring()).is_none());
    }

    #[tokio::test]
    async fn rfc7009_2_2_a_local_revocation_wins_over_a_racing_store_answer() {
        let cache = DenylistCache::new(Duration::from_secs(60));
        // The store says "not revoked", but the revocation lands while that answer is in flight.
        let answer = cache.is_denied("jti-1", || async {
            cache.deny("jti-1");
            Ok::<_, ()>(false)
        });
        assert_eq!(answer.await, Ok(false), "the answer in flight is what the store said");
        // Answered locally: a store that fails would show as Err.
        assert_eq!(cache.is_denied("jti-1", || async { Err(()) }).await, Ok(true));
    }

    #[tokio::test]
    async fn rfc7009_2_1_a_family_revoked_here_is_in_force_at_once_for_its_cached_tokens() {
        let cache = DenylistCache::new(Duration::from_secs(60));
        assert_eq!(cache.is_denied("fam.a", || async { Ok::<_, ()>(false) }).await, Ok(false));
        assert_eq!(cache.is_denied("fam.a", || async { Ok::<_, ()>(true) }).await, Ok(false), "remembered");
        cache.forget_all();
        assert_eq!(
            cache.is_denied("fam.a", || async { Ok::<_, ()>(true) }).await,
            Ok(true),
            "the store is asked again"
        );
    }

    #[tokio::test]
    async fn a_not_revoked_answer_is_kept_only_for_the_recheck_interval() {
        let cache = DenylistCache::new(Duration::from_millis(30));
        assert_eq!(cache.is_denied("jti-2", || async { Ok::<_, ()>(false) }).await, Ok(false));
        assert_eq!(cache.is_denied("jti-2", || async { Ok::<_, ()>(true) }).await, Ok(false), "remembered");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            cache.is_denied("jti-2", || async { Ok::<_, ()>(true) }).await,
            Ok(true),
            "the store is asked again"
        );
    }
}
