//! Dependency outages: Redis or PostgreSQL stops answering → the endpoints that need it answer 503
//! within 2 s (never hang, never panic), discovery and JWKS keep answering from memory, and the
//! provider recovers by itself when the server returns. Uses a redis-server of the test's own and a
//! TCP proxy in front of PostgreSQL — never the machine's shared servers. A store that answers but
//! refuses one write is the provider's own SQLite with a trigger that aborts it.
//!
//! Once `/authorize` has checked the client and its redirect URI, such a failure goes back to the
//! client as `error=temporarily_unavailable` (RFC 6749 §4.1.2.1); before that, a 503 page.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{Browser, CHALLENGE, OwnRedis, PostgresDatabase, REDIRECT_URI, TcpProxy, TestProvider};
use dingtalk_oidc::directory::{BoundedConnection, Directory};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

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
async fn a_sign_in_code_exchange_or_refresh_answered_503_while_redis_stalls_changes_nothing() {
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
    // A sign-in of another browser, back from DingTalk, about to call our callback.
    let signing_in = Browser::new("bob");
    let resp = signing_in.http.get(login_url(&provider)).send().await.unwrap();
    let mut at_dingtalk = url::Url::parse(&common::redirect_location(&resp).unwrap()).unwrap();
    at_dingtalk.query_pairs_mut().append_pair("login_as", "bob");
    let resp = signing_in.http.get(at_dingtalk).send().await.unwrap();
    let callback = common::redirect_location(&resp).expect("DingTalk sends the browser back");
    assert!(callback.contains("/callback/dingtalk"), "{callback}");

    // Redis stalls for longer than the command timeout: the answers are fast 503s. The commands
    // stay in Redis's buffers and run when it resumes, after the client was told
    // `temporarily_unavailable`.
    redis.pause();
    let stalled = Instant::now();
    assert_eq!(refresh(&provider, &secret, &refresh_token).await, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = exchange(&provider, &secret, &waiting_code).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")));
    let resp = signing_in.http.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "the callback cannot take its login in progress");
    assert!(stalled.elapsed() < Duration::from_secs(6), "three fast 503s took {:?}", stalled.elapsed());
    tokio::time::sleep(Duration::from_millis(3500).saturating_sub(stalled.elapsed())).await;
    redis.resume();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A 503 changed nothing: well past the refresh grace window the same refresh token still
    // rotates (had the stalled rotation run, this would be reuse and revoke the grant), and the
    // same code is still good.
    provider.clock.advance(60);
    assert_eq!(refresh(&provider, &secret, &refresh_token).await, StatusCode::OK);
    let (status, body) = exchange(&provider, &secret, &waiting_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // And the sign-in in progress is still there: the browser's retry of the callback goes on.
    let resp = signing_in.http.get(&callback).send().await.unwrap();
    let location = common::redirect_location(&resp).unwrap_or_else(|| panic!("no redirect: {}", resp.status()));
    assert!(location.starts_with(REDIRECT_URI) && location.contains("code="), "{location}");
}

#[tokio::test]
async fn postgres_outage_gives_fast_503_and_recovers_without_restart() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let proxy = TcpProxy::start(socket_of(&db.url).await).await;
    let proxied = proxied_url(&db.url, &proxy);
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

/// The documented bound on a request while a dependency is partitioned away (docs/ha.md: "503
/// within about 2 s"): `database.statement_timeout_ms` or `redis.command_timeout_ms`, plus the
/// request's own work.
const PARTITION_BOUND: Duration = Duration::from_millis(2500);

/// `fut`'s answer, or a failure naming `what` once it has taken longer than `PARTITION_BOUND`: a
/// hang fails the test instead of stalling it until the partition heals.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let answer = tokio::time::timeout(PARTITION_BOUND, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {PARTITION_BOUND:?} during the partition"));
    eprintln!("{what} answered in {:?}", started.elapsed());
    answer
}

/// Credentials taken before a partition, for the endpoints to be asked during it.
struct Held {
    secret: String,
    /// A code not yet exchanged.
    code: String,
    access_token: String,
    refresh_token: String,
    user_id: String,
}

async fn hold_credentials(provider: &TestProvider, secret: &str) -> Held {
    let browser = Browser::new("alice");
    let code = common::obtain_code(provider, &browser, "app").await;
    let tokens = common::exchange_code(provider, "app", secret, &code).await;
    let access_token = tokens["access_token"].as_str().expect("an access token").to_string();
    let user_id = common::unverified_claims(&access_token)["sub"].as_str().expect("sub").to_string();
    Held {
        secret: secret.to_string(),
        code: common::obtain_code(provider, &browser, "app").await,
        access_token,
        refresh_token: tokens["refresh_token"].as_str().expect("a refresh token").to_string(),
        user_id,
    }
}

const ADMIN_TOKEN: &str = "bootstrap-token-for-the-outage-tests";

/// During a partition: every endpoint that needs the partitioned server answers 503 (or
/// `temporarily_unavailable` at the client) within `PARTITION_BOUND`, `/readyz` says so, and
/// discovery and JWKS answer from memory.
async fn assert_partitioned(provider: &TestProvider, held: &Held, authorize: AuthorizeAnswer, admin_path: &str) {
    let http = reqwest::Client::new();
    let (status, body) = within("the code exchange", exchange(provider, &held.secret, &held.code)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    let status = within("the refresh", refresh(provider, &held.secret, &held.refresh_token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let resp = within("/authorize", Browser::new("alice").http.get(login_url(provider)).send()).await.unwrap();
    match authorize {
        AuthorizeAnswer::ToClient => {
            assert_eq!(resp.status(), StatusCode::FOUND);
            let location = common::redirect_location(&resp).expect("a Location");
            assert_unavailable_at_client(provider, &location, None);
        }
        AuthorizeAnswer::Page => assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE),
    }

    let resp =
        within("/userinfo", http.get(provider.url("/userinfo")).bearer_auth(&held.access_token).send()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    let introspection = http
        .post(provider.url("/introspect"))
        .basic_auth("app", Some(&held.secret))
        .form(&[("token", held.refresh_token.as_str())])
        .send();
    let resp = within("/introspect", introspection).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    let admin = http.get(format!("{}/admin/v1{admin_path}", provider.issuer)).bearer_auth(ADMIN_TOKEN).send();
    let resp = within("the admin API", admin).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    let resp = within("/readyz", http.get(provider.url("/readyz")).send()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    for path in ["/.well-known/openid-configuration", "/jwks.json"] {
        let resp = within(path, http.get(provider.url(path)).send()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path} must answer from memory");
    }
}

/// After the partition heals: a 503 changed nothing. What was sent into the partition reached the
/// server when it healed, and did nothing there (a transaction rolled back, a Redis script past its
/// deadline): well past the refresh grace window the refresh token tried during it still rotates
/// (had a rotation run, this would be reuse and revoke the grant), and the code tried during it
/// is still good.
async fn assert_held_credentials_still_work(provider: &TestProvider, held: &Held) {
    provider.clock.advance(60);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = refresh(provider, &held.secret, &held.refresh_token).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(status == StatusCode::SERVICE_UNAVAILABLE, "the refresh token tried during the partition: {status}");
        assert!(Instant::now() < deadline, "no recovery after the partition healed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, body) = exchange(provider, &held.secret, &held.code).await;
    assert_eq!(status, StatusCode::OK, "the code tried during the partition: {body}");
}

/// docs/ha.md: PostgreSQL that stops answering without closing connections (a network partition,
/// not a refusal) still gives 503 within about 2 s — every SQL call on a request path is bounded by
/// `database.statement_timeout_ms` — and the provider recovers by itself when it heals. The session
/// store is the same PostgreSQL, so the refresh rotation's transaction is cut short too.
#[tokio::test]
async fn postgres_partition_gives_503_within_the_statement_bound_and_recovers_without_restart() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let proxy = TcpProxy::start(socket_of(&db.url).await).await;
    let proxied = proxied_url(&db.url, &proxy);
    let provider = TestProvider::start_with(move |c| {
        c.database.url = proxied;
        c.sessions.backend = "sql".into();
        // The client and user stay cached, so the requests below get past client authentication
        // to the session store's statements and transactions, which must be bounded too.
        c.database.cache_ttl_secs = 3600;
        c.admin_token = Some(dingtalk_oidc::config::Secret(ADMIN_TOKEN.into()));
        // The code tried during the partition must outlive the two rounds below.
        c.tokens.code_ttl_secs = 600;
    })
    .await;
    let secret = provider.register("app", false, true).await.unwrap();
    assert_recovers(&provider, &secret).await;
    let held = hold_credentials(&provider, &secret).await;

    proxy.partition();
    assert_partitioned(&provider, &held, AuthorizeAnswer::ToClient, "/clients").await;
    // Repeatedly: connections left waiting by the first round never turn into a hang.
    assert_partitioned(&provider, &held, AuthorizeAnswer::ToClient, "/clients").await;

    proxy.restore();
    assert_held_credentials_still_work(&provider, &held).await;
    assert_recovers(&provider, &secret).await;
    drop(provider);
    db.drop().await;
}

/// `fut`'s answer, or a failure once it took longer than a DingTalk call and a bounded SQL call
/// could together: a hang fails the test instead of stalling it for as long as a partition lasts.
async fn within_a_while<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(8), fut).await.unwrap_or_else(|_| panic!("{what} hangs"))
}

/// RFC 6749 §6 with the upstream recheck due: PostgreSQL is partitioned away while the refresh asks
/// DingTalk (slowed down), so the recheck cannot record its answer and the refresh answers 503.
/// That must have consumed nothing: the recheck's reads and writes come before the rotation.
#[tokio::test]
async fn a_refresh_whose_recheck_meets_a_postgres_partition_answers_503_and_changes_nothing() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let proxy = TcpProxy::start(socket_of(&db.url).await).await;
    let proxied = proxied_url(&db.url, &proxy);
    let provider = TestProvider::start_with(move |c| {
        c.database.url = proxied;
        c.sessions.backend = "sql".into();
        c.database.cache_ttl_secs = 3600;
    })
    .await;
    let secret = provider.register("app", false, true).await.unwrap();
    let code = common::obtain_code(&provider, &Browser::new("alice"), "app").await;
    let (status, tokens) = exchange(&provider, &secret, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

    provider.clock.advance(301);
    provider.simulator.set_fault(Some(dingtalk_oidc::dingtalk::Fault::Latency(Duration::from_millis(700))));
    let refreshing = refresh(&provider, &secret, &refresh_token);
    let partition = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.partition();
    };
    let (status, ()) = tokio::join!(within_a_while("the refresh", refreshing), partition);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    provider.simulator.set_fault(None);
    proxy.restore();

    // Past the grace window the same token still refreshes (had it been rotated before the
    // recheck failed, this would be reuse and revoke the grant).
    provider.clock.advance(60);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match refresh(&provider, &secret, &refresh_token).await {
            StatusCode::OK => break,
            StatusCode::SERVICE_UNAVAILABLE if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => panic!("the refresh token tried during the partition: {other}"),
        }
    }
    drop(provider);
    db.drop().await;
}

/// The same rule for the Redis session store: `redis.command_timeout_ms` bounds each command, so
/// a Redis behind a partition gives 503 within about 2 s and the provider recovers when it heals.
/// A command that ran out of time was already sent, and Redis runs it when the partition heals:
/// the scripts that consume something carry a deadline and then do nothing.
#[tokio::test]
async fn redis_partition_gives_503_within_the_command_bound_and_recovers_without_restart() {
    let Some(redis) = OwnRedis::start() else {
        return;
    };
    let proxy = TcpProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let url = format!("redis://{}", proxy.addr);
    let provider = TestProvider::start_with(move |c| {
        c.sessions.backend = "redis".into();
        c.redis.url = url;
        c.admin_token = Some(dingtalk_oidc::config::Secret(ADMIN_TOKEN.into()));
        c.tokens.code_ttl_secs = 600;
    })
    .await;
    let secret = provider.register("app", false, true).await.unwrap();
    assert_recovers(&provider, &secret).await;
    let held = hold_credentials(&provider, &secret).await;
    let sessions = format!("/users/{}/sessions", held.user_id);

    proxy.partition();
    // The clients are in SQL, which is up: /authorize checks the client, then cannot store.
    assert_partitioned(&provider, &held, AuthorizeAnswer::ToClient, &sessions).await;
    assert_partitioned(&provider, &held, AuthorizeAnswer::ToClient, &sessions).await;

    proxy.restore();
    assert_held_credentials_still_work(&provider, &held).await;
    assert_recovers(&provider, &secret).await;
}

/// A pool of `max_connections` on `url` with every call bounded by `bound` (the directory's own).
async fn bounded_pool(url: &str, max_connections: u32, bound: Duration) -> BoundedConnection {
    let directory = Directory::connect_bounded(url, max_connections, Duration::from_secs(1), bound).await.unwrap();
    directory.connection().clone()
}

/// A plain connection to `url`, around no proxy, for looking at what the server really holds.
async fn direct(url: &str) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(url).await.unwrap()
}

async fn count_of(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Retries `call` until it succeeds (the pool recovers on its own after a partition) or `within`
/// has passed.
async fn eventually<T>(what: &str, within: Duration, mut call: impl AsyncFnMut() -> Result<T, sea_orm::DbErr>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match call().await {
            Ok(value) => return value,
            Err(e) => assert!(Instant::now() < deadline, "{what} never succeeded within {within:?}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// sqlx issue #4393: a `BEGIN` cut off in flight left its pooled connection inside a transaction
/// that nothing ended, and the statements run on it afterwards never committed. A `BEGIN` that runs
/// out of time is left to finish and then rolled back, so the next statement on that connection
/// (the only one in the pool) commits.
#[tokio::test]
async fn a_begin_abandoned_at_the_bound_leaves_no_pooled_connection_inside_a_transaction() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let proxy = TcpProxy::start(socket_of(&db.url).await).await;
    let bound = Duration::from_millis(500);
    let pool = bounded_pool(&proxied_url(&db.url, &proxy), 1, bound).await;
    pool.execute_unprepared("CREATE TABLE probe (id integer)").await.unwrap();
    // sqlx pings a connection as it takes it back: let that finish, so BEGIN goes out on it.
    tokio::time::sleep(Duration::from_millis(200)).await;

    proxy.partition();
    let started = Instant::now();
    let begun = pool.begin().await;
    assert!(begun.is_err(), "BEGIN cannot answer through a partition");
    assert!(started.elapsed() < bound + Duration::from_secs(1), "BEGIN took {:?}", started.elapsed());
    drop(begun);

    proxy.restore();
    eventually("an insert", Duration::from_secs(10), async || {
        pool.execute_unprepared("INSERT INTO probe VALUES (1)").await
    })
    .await;
    // Committed: another session sees it (and keeps seeing it once the pool's session is gone).
    let plain = direct(&db.url).await;
    assert_eq!(count_of(&plain, "SELECT COUNT(*) FROM probe").await, 1);
    pool.close().await.unwrap();
    assert_eq!(count_of(&plain, "SELECT COUNT(*) FROM probe").await, 1);
    plain.close().await.unwrap();
    db.drop().await;
}

/// A transaction cut short by a partition commits nothing, and the server ends its session once
/// it has sat idle inside the transaction for the bound (`idle_in_transaction_session_timeout`):
/// its row locks are released for everyone else while the partition lasts, not when it heals.
#[tokio::test]
async fn a_transaction_cut_short_by_a_partition_commits_nothing_and_releases_its_locks_within_the_bound() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let proxy = TcpProxy::start(socket_of(&db.url).await).await;
    let bound = Duration::from_millis(500);
    let pool = bounded_pool(&proxied_url(&db.url, &proxy), 2, bound).await;
    pool.execute_unprepared("CREATE TABLE probe (id integer PRIMARY KEY, v integer)").await.unwrap();
    pool.execute_unprepared("INSERT INTO probe VALUES (1, 0)").await.unwrap();
    let txn = pool.begin().await.unwrap();
    txn.execute_unprepared("UPDATE probe SET v = 1 WHERE id = 1").await.unwrap();

    proxy.partition();
    let started = Instant::now();
    assert!(txn.execute_unprepared("UPDATE probe SET v = 2 WHERE id = 1").await.is_err());
    assert!(started.elapsed() < bound + Duration::from_secs(1), "the update took {:?}", started.elapsed());
    // Another client of the same server takes the row the transaction had locked, while the
    // partition lasts (a lock wait past 4 s fails the statement instead of hanging the test).
    let plain = direct(&db.url).await;
    plain
        .execute_unprepared("SET LOCAL lock_timeout = '4s'; UPDATE probe SET v = 3 WHERE id = 1")
        .await
        .expect("the partitioned transaction's row lock is released");

    proxy.restore();
    assert!(txn.commit().await.is_err(), "a transaction that ran out of time never commits");
    let v = eventually("a read", Duration::from_secs(10), async || {
        let row =
            pool.query_one_raw(Statement::from_string(pool.get_database_backend(), "SELECT v FROM probe")).await?;
        row.expect("the row").try_get_by_index::<i32>(0)
    })
    .await;
    assert_eq!(v, 3, "only the other client's update committed");
    plain.close().await.unwrap();
    pool.close().await.unwrap();
    db.drop().await;
}

/// PostgreSQL cancels a statement that runs past the bound on its side too (`statement_timeout`),
/// so the connection the client stopped waiting for is free again at once rather than when the
/// statement would have ended: the pool's only connection answers again within seconds, not after
/// the 30 s the statement asked for.
#[tokio::test]
async fn a_statement_past_the_bound_is_cancelled_on_the_server_too() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let bound = Duration::from_secs(1);
    let pool = bounded_pool(&db.url, 1, bound).await;
    let started = Instant::now();
    assert!(pool.execute_unprepared("SELECT pg_sleep(30)").await.is_err());
    assert!(started.elapsed() < bound + Duration::from_secs(1), "pg_sleep took {:?}", started.elapsed());
    eventually("SELECT 1", Duration::from_secs(8), async || pool.execute_unprepared("SELECT 1").await).await;
    pool.close().await.unwrap();
    db.drop().await;
}

/// The client gives up on a statement before the server cancels it: the release of its connection
/// then reads the cancellation as an error. sqlx closed such a connection "hard", and over TLS
/// (the test server has SSL on, and sqlx prefers it) that close waited forever for the server,
/// which had nothing more to say: the pool's only connection was never freed and every later call
/// answered "pool timed out". The connection is closed with `Terminate` instead (bounded.rs), so
/// the pool opens a new one. The statement's own `SET` makes the server wait past the bound.
#[tokio::test]
async fn a_statement_the_server_cancels_after_the_client_gave_up_does_not_leak_its_connection() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let bound = Duration::from_secs(1);
    let pool = bounded_pool(&db.url, 1, bound).await;
    for round in 0..3 {
        let started = Instant::now();
        let late = pool.execute_unprepared("SET statement_timeout = 1500; SELECT pg_sleep(30)").await;
        assert!(late.is_err(), "round {round}: the client stops waiting at the bound");
        assert!(started.elapsed() < bound + Duration::from_secs(1), "round {round}: took {:?}", started.elapsed());
        eventually("SELECT 1", Duration::from_secs(8), async || pool.execute_unprepared("SELECT 1").await).await;
    }
    pool.close().await.unwrap();
    db.drop().await;
}

/// The address a database URL points at, for a proxy in front of it.
async fn socket_of(url: &str) -> std::net::SocketAddr {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap().to_string();
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host.as_str(), port)).await.unwrap().next().unwrap()
}

/// `url` pointed at `proxy` instead.
fn proxied_url(url: &str, proxy: &TcpProxy) -> String {
    let mut proxied = url::Url::parse(url).unwrap();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.addr.port())).unwrap();
    proxied.to_string()
}

/// Makes the provider's own SQLite refuse to write session records of `kind`, as a full disk or a
/// failing volume would: a real database failing, not a fake store.
async fn refuse_writes_of(provider: &TestProvider, kind: &str) {
    let sql = format!(
        "CREATE TRIGGER refuse_{kind} BEFORE INSERT ON session_records WHEN NEW.kind = '{kind}' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    );
    provider.app.directory.connection().execute_unprepared(&sql).await.unwrap();
}

async fn accept_writes_of(provider: &TestProvider, kind: &str) {
    let sql = format!("DROP TRIGGER refuse_{kind}");
    provider.app.directory.connection().execute_unprepared(&sql).await.unwrap();
}

async fn session_rows(provider: &TestProvider, kind: &str) -> i64 {
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

/// The grants and client profiles that keep state in the session store answer a Redis outage with
/// a fast 503 (`temporarily_unavailable`), and a 503 consumes nothing: the same client assertion
/// (whose `jti` could not be noted) is still good once Redis is back.
#[tokio::test]
async fn par_private_key_jwt_and_device_requests_answer_503_in_a_redis_outage_and_consume_nothing() {
    use dingtalk_oidc::directory::NewClient;
    use dingtalk_oidc::manage::{self, Actor, Manage};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
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
    let key = dingtalk_oidc::keys::generate_rsa_key().unwrap();
    let m = Manage::for_server(&provider.app, Actor::admin("test"));
    let signer = NewClient {
        id: "signer".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        jwks: Some(serde_json::json!({ "keys": [key.jwk] }).to_string()),
        grant_types: Some(vec!["authorization_code".into(), "urn:ietf:params:oauth:grant-type:device_code".into()]),
        ..NewClient::default()
    };
    manage::clients::create(&m, signer).await.unwrap();
    let now = provider.app.now();
    let claims =
        serde_json::json!({ "iss": "signer", "sub": "signer", "aud": provider.issuer, "exp": now + 60, "jti": "once" });
    let header = Header { kid: Some(key.jwk.kid.clone()), ..Header::new(Algorithm::RS256) };
    let assertion = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(&key.pkcs1_der)).unwrap();
    let http = reqwest::Client::new();
    let par = || {
        http.post(provider.url("/par")).basic_auth("app", Some(&secret)).form(&[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    };
    let device = || {
        http.post(provider.url("/device_authorization")).form(&[
            ("scope", "openid"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.as_str()),
        ])
    };

    redis.stop();
    for (what, request) in [("POST /par", par()), ("POST /device_authorization with an assertion", device())] {
        let started = Instant::now();
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(started.elapsed() < Duration::from_secs(2), "{what} took {:?}", started.elapsed());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
    }

    redis.restart();
    let mut recovered = false;
    for _ in 0..50 {
        if par().send().await.unwrap().status() == StatusCode::CREATED {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "PAR recovers without a restart");
    let resp = device().send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the assertion answered 503 was not spent");
    assert_eq!(device().send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "and it is spent now");
}
