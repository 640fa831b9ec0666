//! Rate limits (governor), per instance: per client IP on the protocol endpoints, pages and the
//! admin API, a higher one for discovery and JWKS, and per authenticated confidential client at
//! the token endpoint. Over the limit: 429 with `Retry-After`, JSON for APIs and HTML for pages.
//! The client IP is the one `web::client_addr` determines (the socket peer, or the right-most
//! forwarded address that is not a trusted proxy). Limiter memory is bounded by evicting keys idle
//! past their window.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::Response;
use poem::http::{StatusCode, header};

use crate::config::LimitsConfig;
use crate::web::observe::{is_metadata, is_page};
use crate::web::pages;

pub struct Limits {
    protocol: DefaultKeyedRateLimiter<IpAddr>,
    metadata: DefaultKeyedRateLimiter<IpAddr>,
    admin: DefaultKeyedRateLimiter<IpAddr>,
    token_client: DefaultKeyedRateLimiter<String>,
    /// User codes that matched nothing, per client IP (RFC 8628 §5.1), and the addresses over that
    /// limit until when: a blocked address is refused before its code is looked up, so even a
    /// right guess tells it nothing.
    user_code_failures: DefaultKeyedRateLimiter<IpAddr>,
    user_code_blocked: std::sync::Mutex<std::collections::HashMap<IpAddr, std::time::Instant>>,
}

fn quota(per_minute: u32) -> Quota {
    let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    // The burst is the whole minute's allowance: short spikes pass, a sustained flood does not.
    Quota::per_minute(n).allow_burst(n)
}

/// How long until the next request would pass, for `Retry-After` (whole seconds, at least 1).
fn retry_after(not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
    not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1)
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Limits {
        Limits {
            protocol: RateLimiter::keyed(quota(config.per_ip_per_minute)),
            metadata: RateLimiter::keyed(quota(config.metadata_per_ip_per_minute)),
            admin: RateLimiter::keyed(quota(config.admin_per_ip_per_minute)),
            token_client: RateLimiter::keyed(quota(config.token_per_client_per_minute)),
            user_code_failures: RateLimiter::keyed(quota(config.user_code_failures_per_ip_per_minute)),
            user_code_blocked: Default::default(),
        }
    }

    /// `Some(seconds)` when `client_id` is over its token-endpoint limit. Count only requests that
    /// authenticated as that client: anyone can name a client_id, and counting them would let
    /// anyone spend the real client's allowance.
    pub fn check_token_client(&self, client_id: &str) -> Option<u64> {
        self.token_client.check_key(&client_id.to_string()).err().map(retry_after)
    }

    /// `Some(seconds)` while `client` may not try user codes (it guessed wrong too often).
    pub fn user_code_blocked(&self, client: Option<IpAddr>) -> Option<u64> {
        let key = limit_key(client?);
        let blocked = self.user_code_blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = blocked.get(&key)?;
        let left = until.saturating_duration_since(std::time::Instant::now());
        (!left.is_zero()).then(|| left.as_secs().max(1))
    }

    /// A user code from `client` matched nothing: `Some(seconds)` when that was one too many, and
    /// the address is blocked for that long.
    pub fn note_user_code_failure(&self, client: Option<IpAddr>) -> Option<u64> {
        let key = limit_key(client?);
        let not_until = self.user_code_failures.check_key(&key).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let mut blocked = self.user_code_blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        blocked.insert(key, std::time::Instant::now() + wait);
        Some(wait.as_secs().max(1))
    }

    /// Drops idle keys so memory stays bounded however many addresses come and go.
    pub fn evict_idle(&self) {
        self.user_code_failures.retain_recent();
        self.user_code_failures.shrink_to_fit();
        let now = std::time::Instant::now();
        self.user_code_blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, until| *until > now);
        for limiter in [&self.protocol, &self.metadata, &self.admin] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.token_client.retain_recent();
        self.token_client.shrink_to_fit();
    }

    pub fn tracked_keys(&self) -> usize {
        self.protocol.len()
            + self.metadata.len()
            + self.admin.len()
            + self.token_client.len()
            + self.user_code_failures.len()
    }
}

/// The per-IP limiters' key: an IPv4 address, or the /64 an IPv6 address is in. An IPv6 subnet is
/// a /64 (RFC 7421 §1) and a host in it picks its own interface identifiers and may change them at
/// will (RFC 8981 §3), so keying on the full address would let one host rotate past every limit.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

pub fn too_many(retry_after: u64, html: bool) -> Response {
    let resp = if html {
        pages::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many requests came from your network. Please wait a moment and try again.",
        )
    } else {
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .content_type("application/json")
            .body(r#"{"error":"slow_down","error_description":"too many requests; retry after the Retry-After delay"}"#)
    };
    let mut resp = resp;
    if let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, value);
    }
    resp
}

impl Limits {
    /// RFC 6585 §4: the 429 answer when `client` is over its limit for `route`, else `None`.
    pub fn refuse(&self, route: &str, client: Option<IpAddr>) -> Option<Response> {
        let (limiter, html) = match route {
            r if is_metadata(r) => (&self.metadata, false),
            "/admin/console" => (&self.admin, true),
            r if is_page(r) => (&self.protocol, true),
            "/token"
            | "/revoke"
            | "/introspect"
            | "/userinfo"
            | "/device_authorization"
            | "/par"
            | "/register"
            | "/register/{client_id}" => (&self.protocol, false),
            "/admin" => (&self.admin, false),
            _ => return None,
        };
        let key = limit_key(client?);
        limiter.check_key(&key).err().map(|not_until| too_many(retry_after(not_until), html))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8981_an_ipv6_client_is_limited_by_its_64_and_an_ipv4_client_by_its_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), limit_key(ip("2001:db8:1:2:ffff:1:2:3")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(limit_key(ip("192.0.2.7")), limit_key(ip("192.0.2.8")));
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"), "IPv4-mapped is IPv4");
    }
}
