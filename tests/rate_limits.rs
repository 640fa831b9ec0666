//! Rate limits: per client IP (from the socket, or from `X-Forwarded-For` only when the peer is a
//! trusted proxy), a separate allowance for discovery and JWKS, and per client_id at /token; over
//! the limit a 429 with `Retry-After`, JSON for APIs and HTML for pages.

mod common;

use common::TestProvider;
use reqwest::StatusCode;

async fn post_token(p: &TestProvider, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(p.url("/token")).form(&[("grant_type", "authorization_code")]);
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
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
    let forwarded = reqwest::Client::new()
        .post(p.url("/token"))
        .header("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_ne!(forwarded.status(), StatusCode::TOO_MANY_REQUESTS, "RFC 7239 Forwarded is read too");
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

#[test]
fn limiter_memory_is_bounded_by_evicting_idle_keys() {
    let limits = dingtalk_oidc::web::limits::Limits::new(&Default::default(), &[]);
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
