//! Dependency outages: Redis or PostgreSQL stops answering → the endpoints that need it answer 503
//! within 2 s (never hang, never panic), discovery and JWKS keep answering from memory, and the
//! provider recovers by itself when the server returns. Uses a redis-server of the test's own and a
//! TCP proxy in front of PostgreSQL — never the machine's shared servers.

mod common;

use std::time::{Duration, Instant};

use common::{Browser, CHALLENGE, OwnRedis, PostgresDatabase, REDIRECT_URI, TcpProxy, TestProvider};
use reqwest::StatusCode;

fn login_url(provider: &TestProvider) -> String {
    common::authorize_url(
        &provider.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
}

async fn exchange(provider: &TestProvider, secret: &str, code: &str) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = common::token_request(
        provider,
        Some(("app", secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", common::VERIFIER),
        ],
    )
    .await;
    (status, body)
}

async fn refresh(provider: &TestProvider, secret: &str, refresh_token: &str) -> StatusCode {
    common::token_request(
        provider,
        Some(("app", secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await
    .0
}

/// While a dependency is down: fast 503s where it is needed, 200s from memory elsewhere.
async fn assert_degraded(provider: &TestProvider, secret: &str) {
    let started = Instant::now();
    let (status, _, body) = common::token_request(
        provider,
        Some(("app", secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", "some-code"),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", common::VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(started.elapsed() < Duration::from_secs(2), "/token took {:?}", started.elapsed());

    let started = Instant::now();
    assert_eq!(refresh(provider, secret, "family.secret").await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(2), "refresh took {:?}", started.elapsed());

    let started = Instant::now();
    let resp = Browser::new("alice").http.get(login_url(provider)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    assert!(started.elapsed() < Duration::from_secs(2), "/authorize took {:?}", started.elapsed());

    for path in ["/.well-known/openid-configuration", "/jwks.json"] {
        let resp = reqwest::get(provider.url(path)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path} must answer from memory");
    }
}

/// After the dependency returns, a full login, code exchange and refresh succeed without a
/// restart.
async fn assert_recovers(provider: &TestProvider, secret: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let landing = Browser::new("alice").journey(&login_url(provider), false).await;
        if let common::Landing::Client(_) = landing
            && let Some(code) = landing.param("code")
            && let (StatusCode::OK, tokens) = exchange(provider, secret, &code).await
            && let Some(refresh_token) = tokens["refresh_token"].as_str()
            && refresh(provider, secret, refresh_token).await == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "no recovery: {landing:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn redis_outage_gives_fast_503_and_recovers_without_restart() {
    let Some(mut redis) = OwnRedis::start() else {
        return;
    };
    let url = redis.url();
    let provider = TestProvider::start_with(move |c| {
        c.sessions.backend = "redis".into();
        c.redis.url = url;
    })
    .await;
    let secret = provider.register("app", false, true).await.unwrap();
    assert_recovers(&provider, &secret).await;

    redis.stop();
    assert_degraded(&provider, &secret).await;
    // Repeatedly: an outage never turns into a hang.
    assert_degraded(&provider, &secret).await;

    redis.restart();
    assert_recovers(&provider, &secret).await;
}

#[tokio::test]
async fn postgres_outage_gives_fast_503_and_recovers_without_restart() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let target = {
        let url = url::Url::parse(&db.url).unwrap();
        let host = url.host_str().unwrap().to_string();
        let port = url.port().unwrap_or(5432);
        tokio::net::lookup_host((host.as_str(), port)).await.unwrap().next().unwrap()
    };
    let proxy = TcpProxy::start(target).await;
    let mut proxied = url::Url::parse(&db.url).unwrap();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.addr.port())).unwrap();
    let proxied = proxied.to_string();
    let provider = TestProvider::start_with(move |c| c.database.url = proxied).await;
    let secret = provider.register("app", false, true).await.unwrap();
    assert_recovers(&provider, &secret).await;

    proxy.cut();
    assert_degraded(&provider, &secret).await;
    assert_degraded(&provider, &secret).await;

    proxy.restore();
    assert_recovers(&provider, &secret).await;
    drop(provider);
    db.drop().await;
}
