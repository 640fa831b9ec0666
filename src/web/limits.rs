//! Rate limits (governor), per instance: per client IP on the protocol endpoints, pages and the
//! admin API, a higher one for discovery and JWKS, and per `client_id` at the token endpoint.
//! Over the limit: 429 with `Retry-After`, JSON for APIs and HTML for pages. The client IP is the
//! socket's peer, or the `X-Forwarded-For`/`Forwarded` address only when the peer is a trusted
//! proxy. Limiter memory is bounded by evicting keys idle past their window.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::http::{StatusCode, header};
use poem::{Request, Response};

use crate::config::LimitsConfig;
use crate::web::observe::{is_metadata, is_page};
use crate::web::pages;

pub struct Limits {
    protocol: DefaultKeyedRateLimiter<IpAddr>,
    metadata: DefaultKeyedRateLimiter<IpAddr>,
    admin: DefaultKeyedRateLimiter<IpAddr>,
    token_client: DefaultKeyedRateLimiter<String>,
    trusted_proxies: Vec<IpAddr>,
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
    pub fn new(config: &LimitsConfig, trusted_proxies: &[String]) -> Limits {
        Limits {
            protocol: RateLimiter::keyed(quota(config.per_ip_per_minute)),
            metadata: RateLimiter::keyed(quota(config.metadata_per_ip_per_minute)),
            admin: RateLimiter::keyed(quota(config.admin_per_ip_per_minute)),
            token_client: RateLimiter::keyed(quota(config.token_per_client_per_minute)),
            trusted_proxies: trusted_proxies.iter().filter_map(|p| p.parse().ok()).collect(),
        }
    }

    /// The client's address: the socket peer, or what a trusted proxy says it forwarded for.
    pub fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        forwarded_for(req).unwrap_or(Some(peer))
    }

    /// `Some(seconds)` when `client_id` is over its token-endpoint limit.
    pub fn check_token_client(&self, client_id: &str) -> Option<u64> {
        self.token_client.check_key(&client_id.to_string()).err().map(retry_after)
    }

    /// Drops idle keys so memory stays bounded however many addresses come and go.
    pub fn evict_idle(&self) {
        for limiter in [&self.protocol, &self.metadata, &self.admin] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.token_client.retain_recent();
        self.token_client.shrink_to_fit();
    }

    pub fn tracked_keys(&self) -> usize {
        self.protocol.len() + self.metadata.len() + self.admin.len() + self.token_client.len()
    }
}

/// The left-most address of `X-Forwarded-For` or `Forwarded: for=` (set by the trusted proxy).
/// `None` when there is no such header; `Some(None)` when it does not parse.
fn forwarded_for(req: &Request) -> Option<Option<IpAddr>> {
    if let Some(xff) = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        return Some(xff.split(',').next().and_then(|ip| ip.trim().parse().ok()));
    }
    let forwarded = req.headers().get(header::FORWARDED).and_then(|v| v.to_str().ok())?;
    let first = forwarded.split(',').next().unwrap_or_default();
    let value = first.split(';').find_map(|part| part.trim().strip_prefix("for="))?;
    let value = value.trim_matches('"');
    let value = value.strip_prefix('[').and_then(|v| v.split(']').next()).unwrap_or(value);
    let value = if value.matches(':').count() == 1 { value.split(':').next().unwrap_or(value) } else { value };
    Some(value.parse().ok())
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
    /// RFC 6585 §4: the 429 answer when the client is over its limit for `route`, else `None`.
    pub fn refuse(&self, route: &str, req: &Request) -> Option<Response> {
        let (limiter, html) = match route {
            r if is_metadata(r) => (&self.metadata, false),
            r if is_page(r) => (&self.protocol, true),
            "/token" | "/revoke" | "/introspect" | "/userinfo" => (&self.protocol, false),
            "/admin" => (&self.admin, false),
            _ => return None,
        };
        let ip = self.client_ip(req)?;
        limiter.check_key(&ip).err().map(|not_until| too_many(retry_after(not_until), html))
    }
}
