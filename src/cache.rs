//! Small per-instance caches for the hot endpoints: entries live for a fixed time, the map is
//! bounded, and a write made through this instance invalidates at once. Instances do not tell
//! each other; what another instance changed is seen when the entry ages out (the TTL is the
//! documented bound).
//!
//! A load that races with an invalidation must not put the old value back: `generation()` is
//! read before the load and `insert_if_current` refuses an insert if an invalidation happened in
//! between.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    generation: AtomicU64,
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// `ttl` zero disables the cache (every `get` misses, nothing is kept).
    pub fn new(ttl: Duration, capacity: usize) -> TtlCache<K, V> {
        TtlCache { ttl, capacity: capacity.max(1), generation: AtomicU64::new(0), entries: RwLock::new(HashMap::new()) }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// Read before loading the value that will be inserted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value` unless something was invalidated since `generation` was read.
    pub fn insert_if_current(&self, generation: u64, key: K, value: V) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                // Still full of live entries: start over rather than track recency on every read.
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// The cached value of `key`, or what `load()` finds (kept unless an invalidation raced it).
    /// The key is borrowed (`&str` for a `String` key): a hit allocates nothing.
    pub async fn get_or_load<Q, E, L>(&self, key: &Q, load: impl FnOnce() -> L) -> Result<Option<V>, E>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
        L: std::future::Future<Output = Result<Option<V>, E>>,
    {
        if let Some(value) = self.get(key) {
            return Ok(Some(value));
        }
        let generation = self.generation();
        // Boxed, and only on a miss: a load is a SQL query whose future holds kilobytes of state.
        // Inline, it would make this future — and every caller's, which poem moves into a box per
        // request — that large (memmove was 8 % of a userinfo request in a profile).
        let loaded = Box::pin(load()).await?;
        if let Some(value) = &loaded {
            self.insert_if_current(generation, key.to_owned(), value.clone());
        }
        Ok(loaded)
    }

    /// Forgets `key` (after a write through this instance).
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Forgets everything (after a write through this instance that touches many keys).
    pub fn invalidate_all(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        cache.insert_if_current(cache.generation(), "a".to_string(), 1);
        assert_eq!(cache.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_kept() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let before_load = cache.generation();
        cache.invalidate("a");
        cache.insert_if_current(before_load, "a".to_string(), 1);
        assert_eq!(cache.get("a"), None, "the stale value must not be cached");
        cache.insert_if_current(cache.generation(), "a".to_string(), 2);
        assert_eq!(cache.get("a"), Some(2));
    }

    #[test]
    fn invalidating_all_forgets_every_entry_and_refuses_racing_loads() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert_if_current(cache.generation(), "a".to_string(), 1);
        let before_load = cache.generation();
        cache.invalidate_all();
        assert_eq!(cache.get("a"), None);
        cache.insert_if_current(before_load, "b".to_string(), 2);
        assert_eq!(cache.get("b"), None, "a load that raced the invalidation is not kept");
    }

    #[test]
    fn the_map_stays_within_its_capacity() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            cache.insert_if_current(cache.generation(), i, i);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get(&9), Some(9), "the newest entry is kept");
    }

    #[test]
    fn zero_ttl_disables_caching() {
        let cache = TtlCache::new(Duration::ZERO, 3);
        cache.insert_if_current(cache.generation(), "a".to_string(), 1);
        assert_eq!(cache.get("a"), None);
        assert!(cache.is_empty());
    }
}
