//! Rate limits: per client IP (the socket peer, or, behind `server.trusted_proxies`, the
//! right-most address of the configured forwarded header that is not a trusted proxy; an IPv6
//! client by its /64), a separate allowance for discovery and JWKS, and per authenticated
//! confidential client at /token; over the limit a 429 with `Retry-After`, JSON for APIs and HTML
//! for pages. The audit log records the same client address the limits use.

use crate::common;

use crate::common::{Browser, TestProvider};
use reqwest::StatusCode;

async fn post_token(p: &TestProvider, forwarded_for: Option<&str>) -> reqwest::Response {
    post_token_with(p, forwarded_for.map(|ip| ("x-forwarded-for", ip))).await
}

/// An empty token request, with one forwarding header when given.
async fn post_token_with(p: &TestProvider, header: Option<(&str, &str)>) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(p.url("/token")).form(&[("grant_type", "authorization_code")]);
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn per_ip_limit_answers_429_with_retry_after_and_keeps_metadata_served() {
    let p = TestProvider::start_with(|c| c.limits.per_ip_per_minute = 5).await;
    for _ in 0..5 {
        assert_ne!(post_token(&p, None).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let limited = post_token(&p, None).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(limited.headers().get("content-type").unwrap().to_str().unwrap().starts_with("application/json"));
    // A page over the limit is HTML.
    let page = reqwest::get(p.url("/authorize")).await.unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    assert!(page.headers().get("retry-after").is_some());
    // Discovery and JWKS have an allowance of their own.
    assert_eq!(reqwest::get(p.url("/jwks.json")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(reqwest::get(p.url("/.well-known/openid-configuration")).await.unwrap().status(), StatusCode::OK);
    // An untrusted peer cannot pick another address with X-Forwarded-For.
    assert_eq!(post_token(&p, Some("203.0.113.7")).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let p = TestProvider::start_with(|c| {
        c.limits.per_ip_per_minute = 3;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for _ in 0..3 {
        assert_ne!(post_token(&p, Some("198.51.100.1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(post_token(&p, Some("198.51.100.1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(
        post_token(&p, Some("198.51.100.2")).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a different client is still served"
    );
}

/// RFC 7239 §5.2: nginx appends the address it saw (`$proxy_add_x_forwarded_for`), so a client
/// controls only the left of the list; rotating fake first entries must not buy new allowances.
#[tokio::test]
async fn rfc7239_5_2_behind_a_trusted_proxy_a_client_rotating_fake_first_xff_entries_still_gets_429() {
    let p = TestProvider::start_with(|c| {
        c.limits.per_ip_per_minute = 3;
        // The proxy we connect from, and a range of further proxy hops.
        c.server.trusted_proxies = vec!["127.0.0.1".into(), "192.0.2.0/24".into()];
    })
    .await;
    for fake in 1..=3 {
        let xff = format!("203.0.113.{fake}, 198.51.100.1");
        assert_ne!(post_token(&p, Some(&xff)).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let limited = post_token(&p, Some("203.0.113.99, 198.51.100.1")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "the fake first entry is not the client");
    // Our own proxies right of the client are skipped, however many there are.
    let chained = post_token(&p, Some("203.0.113.100, 198.51.100.1, 192.0.2.5, 192.0.2.9")).await;
    assert_eq!(chained.status(), StatusCode::TOO_MANY_REQUESTS);
    // Several header lines are one list: the last line's entry is the client.
    let lines = reqwest::Client::new()
        .post(p.url("/token"))
        .header("x-forwarded-for", "203.0.113.101")
        .header("x-forwarded-for", "198.51.100.1")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(lines.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(post_token(&p, Some("198.51.100.1, 198.51.100.2")).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Operators run behind ingresses and load balancers with address pools: a CIDR range in
/// `server.trusted_proxies` is trusted like a single address.
#[tokio::test]
async fn trusted_proxies_accept_a_cidr_range_like_a_load_balancer_pool() {
    let p = TestProvider::start_with(|c| {
        c.limits.per_ip_per_minute = 1;
        c.server.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    assert_ne!(post_token(&p, Some("198.51.100.1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(post_token(&p, Some("198.51.100.2")).await.status(), StatusCode::TOO_MANY_REQUESTS, "own allowance");
    assert_eq!(post_token(&p, Some("198.51.100.1")).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// An IPv6 host picks its own addresses in its /64 and may change them at will (RFC 8981 §3):
/// its limit is per /64.
#[tokio::test]
async fn rfc8981_an_ipv6_client_rotating_addresses_within_its_64_still_gets_429() {
    let p = TestProvider::start_with(|c| {
        c.limits.per_ip_per_minute = 3;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for host in 1..=3 {
        let xff = format!("2001:db8:1:2::{host:x}");
        assert_ne!(post_token(&p, Some(&xff)).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(post_token(&p, Some("2001:db8:1:2:ffff::4")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_ne!(post_token(&p, Some("2001:db8:1:3::1")).await.status(), StatusCode::TOO_MANY_REQUESTS, "another /64");
}

/// Only the header the trusted proxy writes is read: a proxy that writes X-Forwarded-For passes a
/// client's `Forwarded` through untouched, and the other way round.
#[tokio::test]
async fn only_the_configured_forwarded_header_is_read_from_a_trusted_proxy() {
    let p = TestProvider::start_with(|c| {
        c.limits.per_ip_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for fake in 1..=2 {
        let forwarded = format!("for=203.0.113.{fake}");
        let resp = post_token_with(&p, Some(("forwarded", &forwarded))).await;
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let resp = post_token_with(&p, Some(("forwarded", "for=203.0.113.3"))).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "a client's Forwarded is not read by default");

    let p = TestProvider::start_with(|c| {
        c.limits.per_ip_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.server.forwarded_header = "forwarded".into();
    })
    .await;
    // RFC 7239 §4, §6: quoted IPv6 with a port; the client's own first element is ignored.
    for fake in 1..=2 {
        let forwarded = format!("for=203.0.113.{fake};proto=https, for=\"[2001:db8::1]:4711\"");
        let resp = post_token_with(&p, Some(("forwarded", &forwarded))).await;
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let resp = post_token_with(&p, Some(("forwarded", "for=203.0.113.3, for=\"[2001:db8::1]:4711\""))).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = post_token_with(&p, Some(("forwarded", "for=198.51.100.2"))).await;
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS, "another client has its own allowance");
    for fake in 1..=2 {
        let resp = post_token(&p, Some(&format!("203.0.113.{fake}"))).await;
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let resp = post_token(&p, Some("203.0.113.3")).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "X-Forwarded-For is not read when Forwarded is");
}

/// The login audit event records the address the limits use, not the proxy's.
#[tokio::test]
async fn the_login_audit_event_records_the_client_address_behind_a_trusted_proxy() {
    let p = TestProvider::start_with(|c| c.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    p.register("app", false, true).await.unwrap();
    let mut forwarded = reqwest::header::HeaderMap::new();
    forwarded.insert("x-forwarded-for", "203.0.113.77, 198.51.100.23".parse().unwrap());
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = Browser {
        http: reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(forwarded)
            .build()
            .unwrap(),
        login: "alice".into(),
        jar,
    };
    common::obtain_code(&p, &browser, "app").await;
    let logins = p.app.directory.audit_events_of_kind("login").await.unwrap();
    let detail: serde_json::Value = serde_json::from_str(&logins[0].detail).unwrap();
    assert_eq!(detail["ip"], "198.51.100.23", "{detail}");
}

#[tokio::test]
async fn token_endpoint_limits_each_client_id() {
    let p = TestProvider::start_with(|c| c.limits.token_per_client_per_minute = 2).await;
    let secret = p.register("app", false, true).await.unwrap();
    let post = || {
        reqwest::Client::new()
            .post(p.url("/token"))
            .basic_auth("app", Some(secret.clone()))
            .form(&[("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", common::REDIRECT_URI)])
            .send()
    };
    for _ in 0..2 {
        assert_eq!(post().await.unwrap().status(), StatusCode::BAD_REQUEST);
    }
    let limited = post().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get("retry-after").is_some());
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
}

/// A per-client limit counts only requests that proved they are that client. Anyone can name a
/// public client's client_id (it has no secret), and anyone can send a wrong secret: counting
/// those would let an attacker, from many addresses, lock the real client out with 429s.
#[tokio::test]
async fn the_per_client_token_limit_counts_only_requests_that_authenticated_as_the_client() {
    let p = TestProvider::start_with(|c| {
        c.limits.token_per_client_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    p.register("spa", true, true).await;
    let secret = p.register("app", false, true).await.unwrap();
    let post = |from: String, client: &'static str, secret: Option<String>| {
        let mut req = reqwest::Client::new().post(p.url("/token")).header("x-forwarded-for", from).form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", common::REDIRECT_URI),
            ("code_verifier", common::VERIFIER),
            ("client_id", client),
        ]);
        if let Some(secret) = secret {
            req = req.basic_auth(client, Some(secret));
        }
        req.send()
    };
    // Someone names the public client from many addresses...
    for n in 1..=5 {
        let resp = post(format!("203.0.113.{n}"), "spa", None).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "the public client is not limited by its client_id");
    }
    // ...and sends wrong secrets for the confidential one.
    for n in 1..=5 {
        let resp = post(format!("203.0.113.{n}"), "app", Some("wrong".into())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // The real users of both clients are still served; the confidential client's own allowance
    // is whole and still enforced.
    let resp = post("198.51.100.1".into(), "spa", None).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        let resp = post("198.51.100.2".into(), "app", Some(secret.clone())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "invalid_grant for the bogus code, not 429");
    }
    let resp = post("198.51.100.2".into(), "app", Some(secret.clone())).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn limiter_memory_is_bounded_by_evicting_idle_keys() {
    let limits = dingtalk_oidc::web::limits::Limits::new(&Default::default());
    for i in 0..1000 {
        limits.check_token_client(&format!("client-{i}"));
    }
    assert_eq!(limits.tracked_keys(), 1000);
    // One request uses 2 ms of a 30000-per-minute allowance: a few ms later every key is idle
    // again and eviction drops it.
    std::thread::sleep(std::time::Duration::from_millis(50));
    limits.evict_idle();
    assert_eq!(limits.tracked_keys(), 0);
}
