//! Dependency outages: Redis or PostgreSQL stops answering → the endpoints that need it answer 503
//! within 2 s (never hang, never panic), discovery and JWKS keep answering from memory, and the
//! provider recovers by itself when the server returns. Uses a redis-server of the test's own and a
//! TCP proxy in front of PostgreSQL — never the machine's shared servers. A store that answers but
//! refuses one write is the provider's own SQLite with a trigger that aborts it.
//!
//! Once `/authorize` has checked the client and its redirect URI, such a failure goes back to the
//! client as `error=temporarily_unavailable` (RFC 6749 §4.1.2.1); before that, a 503 page.

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

/// What `/authorize` answers while a dependency is down.
#[derive(Clone, Copy)]
enum AuthorizeAnswer {
    /// The client and its redirect URI were checked, so the failure goes back to the client
    /// (RFC 6749 §4.1.2.1: `temporarily_unavailable`).
    ToClient,
    /// The client could not be checked: a 503 page, never a redirect to an unchecked URI.
    Page,
}

/// While a dependency is down: fast 503s where it is needed, 200s from memory elsewhere.
async fn assert_degraded(provider: &TestProvider, secret: &str, authorize: AuthorizeAnswer) {
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
    match authorize {
        AuthorizeAnswer::ToClient => {
            assert_eq!(resp.status(), StatusCode::FOUND);
            let location = common::redirect_location(&resp).expect("a Location");
            assert_unavailable_at_client(provider, &location, None);
        }
        AuthorizeAnswer::Page => {
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(resp.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2), "/authorize took {:?}", started.elapsed());

    for path in ["/.well-known/openid-configuration", "/jwks.json"] {
        let resp = reqwest::get(provider.url(path)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path} must answer from memory");
    }
}

/// RFC 6749 §4.1.2.1 and RFC 9207 §2: the registered redirect URI with
/// `error=temporarily_unavailable`, a description, our `iss`, the request's `state`, and no code.
fn assert_unavailable_at_client(provider: &TestProvider, location: &str, state: Option<&str>) {
    assert!(location.starts_with(REDIRECT_URI), "redirected to {location}");
    let url = url::Url::parse(location).unwrap();
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("error").as_deref(), Some("temporarily_unavailable"), "{location}");
    assert!(param("error_description").is_some_and(|d| !d.is_empty()), "{location}");
    assert_eq!(param("iss").as_deref(), Some(provider.issuer.as_str()), "{location}");
    assert_eq!(param("state").as_deref(), state, "{location}");
    assert_eq!(param("code"), None, "{location}");
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
    // The clients are in SQL, which is up: /authorize checks the client, then cannot store.
    assert_degraded(&provider, &secret, AuthorizeAnswer::ToClient).await;
    // Repeatedly: an outage never turns into a hang.
    assert_degraded(&provider, &secret, AuthorizeAnswer::ToClient).await;

    redis.restart();
    assert_recovers(&provider, &secret).await;
}

#[tokio::test]
async fn a_code_exchange_or_refresh_answered_503_while_redis_stalls_changes_nothing() {
    let Some(redis) = OwnRedis::start() else {
        return;
    };
    let url = redis.url();
    let provider = TestProvider::start_with(move |c| {
        c.sessions.backend = "redis".into();
        c.redis.url = url;
    })
    .await;
    let secret = provider.register("app", false, true).await.unwrap();
    let browser = Browser::new("alice");
    let code = common::obtain_code(&provider, &browser, "app").await;
    let (status, tokens) = exchange(&provider, &secret, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let waiting_code = common::obtain_code(&provider, &browser, "app").await;

    // Redis stalls for longer than the command timeout: both answers are fast 503s. The commands
    // stay in Redis's buffers and run when it resumes, after the client was told
    // `temporarily_unavailable`.
    redis.pause();
    let stalled = Instant::now();
    assert_eq!(refresh(&provider, &secret, &refresh_token).await, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = exchange(&provider, &secret, &waiting_code).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")));
    assert!(stalled.elapsed() < Duration::from_secs(4), "two fast 503s took {:?}", stalled.elapsed());
    tokio::time::sleep(Duration::from_millis(2500).saturating_sub(stalled.elapsed())).await;
    redis.resume();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A 503 changed nothing: well past the refresh grace window the same refresh token still
    // rotates (had the stalled rotation run, this would be reuse and revoke the grant), and the
    // same code is still good.
    provider.clock.advance(60);
    assert_eq!(refresh(&provider, &secret, &refresh_token).await, StatusCode::OK);
    let (status, body) = exchange(&provider, &secret, &waiting_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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
    let provider = TestProvider::start_with(move |c| {
        c.database.url = proxied;
        // No cached client to answer from: /authorize cannot check the client while it is down.
        c.database.cache_ttl_secs = 0;
    })
    .await;
    let secret = provider.register("app", false, true).await.unwrap();
    assert_recovers(&provider, &secret).await;

    proxy.cut();
    assert_degraded(&provider, &secret, AuthorizeAnswer::Page).await;
    assert_degraded(&provider, &secret, AuthorizeAnswer::Page).await;

    proxy.restore();
    assert_recovers(&provider, &secret).await;
    drop(provider);
    db.drop().await;
}

/// Makes the provider's own SQLite refuse to write session records of `kind`, as a full disk or a
/// failing volume would: a real database failing, not a fake store.
async fn refuse_writes_of(provider: &TestProvider, kind: &str) {
    use sea_orm::ConnectionTrait;
    let sql = format!(
        "CREATE TRIGGER refuse_{kind} BEFORE INSERT ON session_records WHEN NEW.kind = '{kind}' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    );
    provider.app.directory.connection().execute_unprepared(&sql).await.unwrap();
}

async fn accept_writes_of(provider: &TestProvider, kind: &str) {
    use sea_orm::ConnectionTrait;
    let sql = format!("DROP TRIGGER refuse_{kind}");
    provider.app.directory.connection().execute_unprepared(&sql).await.unwrap();
}

async fn session_rows(provider: &TestProvider, kind: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = provider.app.directory.connection();
    let sql = format!("SELECT COUNT(*) AS n FROM session_records WHERE kind = '{kind}'");
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn rfc6749_4_1_2_1_a_code_that_cannot_be_stored_after_validation_is_temporarily_unavailable_at_the_client() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await.unwrap();
    let with_state = format!("{}&state=st-1", login_url(&provider));
    let browser = Browser::new("alice");

    // After a DingTalk login (callback → code).
    refuse_writes_of(&provider, "auth_code").await;
    let landing = browser.journey(&with_state, false).await;
    assert_unavailable_at_client(&provider, landing.client_url().as_str(), Some("st-1"));
    // With the SSO session that login left (authorize → code at once).
    let landing = browser.journey(&with_state, false).await;
    assert_unavailable_at_client(&provider, landing.client_url().as_str(), Some("st-1"));

    // Nothing was lost: once the store writes again, the same browser gets a code.
    accept_writes_of(&provider, "auth_code").await;
    let landing = browser.journey(&with_state, false).await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    assert_eq!(landing.param("state").as_deref(), Some("st-1"));
}

#[tokio::test]
async fn a_code_grant_whose_tokens_cannot_be_recorded_is_a_503_that_leaves_the_code_usable() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let code = common::obtain_code(&provider, &Browser::new("alice"), "app").await;

    // The code is redeemed, then creating what it produces fails: the family and its first token
    // are written by one statement, so the refusal of one leaves neither.
    refuse_writes_of(&provider, "refresh_family").await;
    let (status, body) = exchange(&provider, &secret, &code).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    assert_eq!(session_rows(&provider, "refresh_family").await, 0);
    assert_eq!(session_rows(&provider, "refresh_token").await, 0);

    // A 503 changes nothing: the code issued nothing, so it was handed back, and the client's
    // retry gets its tokens (RFC 6749 §4.1.2 single use is about a code that issued tokens).
    accept_writes_of(&provider, "refresh_family").await;
    let (status, body) = exchange(&provider, &secret, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(session_rows(&provider, "refresh_family").await, 1);
    // And now it is used.
    let (status, body) = exchange(&provider, &secret, &code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}
