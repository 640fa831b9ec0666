//! Time arithmetic both backends share: store TTLs are wall-clock seconds; idle and absolute
//! lifetimes are judged at the caller's (protocol) clock.

/// Now, in Unix seconds, for TTLs (store garbage collection), not protocol decisions.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A TTL as a signed number of seconds (saturating: no TTL is that long).
pub(crate) fn secs_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// When a record put now with `ttl_secs` expires.
pub(crate) fn expires(ttl_secs: u64) -> i64 {
    now().saturating_add(secs_i64(ttl_secs))
}

/// When a refresh token issued at `now` expires unused: after its idle lifetime, never after its
/// family's end.
pub(crate) fn idle_expiry(now: i64, idle_ttl_secs: u64, family_end: i64) -> i64 {
    now.saturating_add(secs_i64(idle_ttl_secs)).min(family_end)
}
