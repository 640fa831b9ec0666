//! Several provider instances on one PostgreSQL and one Redis (or one SQLite file) share what they
//! must: the signing keys, the users, the sessions and the DingTalk app token; and a race between
//! them, or a change made through one of them, has one outcome on all.

use crate::common;

use crate::common::{Browser, PostgresDatabase, REDIRECT_URI, RedisNamespace, TestProvider, VERIFIER};
use dingtalk_oidc::dingtalk::{SimDirectory, Simulator};
use dingtalk_oidc::directory::NewClient;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn instances_share_keys_users_sessions_and_one_dingtalk_app_token() {
    let Some(db) = PostgresDatabase::create().await else { return };
    let Some(ns) = RedisNamespace::create().await else { return };
    let simulator = Simulator::new(SimDirectory::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let simulator_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(simulator.clone().serve(listener));
    let start = || {
        let (db_url, redis_url, prefix) = (db.url.clone(), ns.url.clone(), ns.prefix.clone());
        TestProvider::start_on(simulator.clone(), simulator_url.clone(), move |c| {
            c.database.url = db_url;
            c.sessions.backend = "redis".into();
            c.redis.url = redis_url;
            c.redis.prefix = prefix;
        })
    };
    let a = start().await;
    let b = start().await;
    a.register("app", false, true).await;

    // Both instances publish the same key set (one key generated, shared through the directory).
    let jwks_a: serde_json::Value = reqwest::get(a.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let jwks_b: serde_json::Value = reqwest::get(b.url("/jwks.json")).await.unwrap().json().await.unwrap();
    assert_eq!(jwks_a, jwks_b);

    // Logins on both instances need org data: the app token is fetched once for the fleet.
    let before = simulator.app_token_requests();
    common::obtain_code(&a, &Browser::new("alice"), "app").await;
    common::obtain_code(&b, &Browser::new("bob"), "app").await;
    assert_eq!(simulator.app_token_requests() - before, 1, "one app-token fetch shared through Redis");

    // A user created through A is the same user (same sub) through B.
    let alice_union = simulator.directory().user_by_login("alice").unwrap().union_id.clone();
    let via_a = a.app.directory.user_by_union_id("ding-demo-corp", &alice_union).await.unwrap().unwrap();
    let via_b = b.app.directory.user_by_union_id("ding-demo-corp", &alice_union).await.unwrap().unwrap();
    assert_eq!(via_a.id, via_b.id);
    // And its SSO session, written by A, is visible to B.
    let sessions = b.app.sessions.sso_sessions_of_user(&via_a.id).await.unwrap();
    assert_eq!(sessions.len(), 1);

    drop((a, b));
    ns.drop().await;
    db.drop().await;
}

/// Where the instances of a test keep their state.
#[derive(Clone, Copy, Debug)]
enum Shared {
    /// One SQLite file for the directory and the session store.
    Sqlite,
    /// PostgreSQL for both.
    Postgres,
    /// PostgreSQL for the directory, Redis for the session store.
    PostgresAndRedis,
}

/// Two provider instances on one simulator and one set of stores.
struct Pair {
    a: TestProvider,
    b: TestProvider,
    _sqlite: Option<tempfile::TempDir>,
    db: Option<PostgresDatabase>,
    ns: Option<RedisNamespace>,
}

impl Pair {
    async fn start(
        shared: Shared,
        adjust: impl Fn(&mut dingtalk_oidc::config::Config) + Clone + Send + 'static,
    ) -> Option<Pair> {
        let (sqlite, db, ns) = match shared {
            Shared::Sqlite => (Some(tempfile::tempdir().unwrap()), None, None),
            Shared::Postgres => (None, Some(PostgresDatabase::create().await?), None),
            Shared::PostgresAndRedis => {
                (None, Some(PostgresDatabase::create().await?), Some(RedisNamespace::create().await?))
            }
        };
        let database_url = match (&sqlite, &db) {
            (Some(dir), _) => format!("sqlite://{}?mode=rwc", dir.path().join("shared.db").display()),
            (_, Some(db)) => db.url.clone(),
            _ => unreachable!(),
        };
        let redis = ns.as_ref().map(|ns| (ns.url.clone(), ns.prefix.clone()));
        let simulator = Simulator::new(SimDirectory::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let simulator_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(simulator.clone().serve(listener));
        let start = |issuer: Option<String>| {
            let (database_url, redis, adjust) = (database_url.clone(), redis.clone(), adjust.clone());
            TestProvider::start_on(simulator.clone(), simulator_url.clone(), move |c| {
                c.database.url = database_url;
                if let Some((url, prefix)) = redis {
                    c.sessions.backend = "redis".into();
                    c.redis.url = url;
                    c.redis.prefix = prefix;
                }
                // One issuer for the deployment, as behind a load balancer.
                if let Some(issuer) = issuer {
                    c.issuer = issuer;
                }
                adjust(c);
            })
        };
        let a = start(None).await;
        let b = start(Some(a.issuer.clone())).await;
        Some(Pair { a, b, _sqlite: sqlite, db, ns })
    }

    async fn finish(self) {
        drop((self.a, self.b));
        if let Some(ns) = self.ns {
            ns.drop().await;
        }
        if let Some(db) = self.db {
            db.drop().await;
        }
    }
}

async fn post_form(url: String, client: (&str, &str), form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = reqwest::Client::new().post(url).basic_auth(client.0, Some(client.1)).form(form).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn exchange_at(p: &TestProvider, client: (&str, &str), code: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    post_form(p.url("/token"), client, &form).await
}

async fn active_at(p: &TestProvider, client: (&str, &str), token: &str) -> bool {
    let (status, body) = post_form(p.url("/introspect"), client, &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["active"] == true
}

async fn userinfo_at(p: &TestProvider, access_token: &str) -> StatusCode {
    reqwest::Client::new().get(p.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status()
}

/// RFC 6749 §4.1.2: two redemptions of one code sent at once to two instances — one wins, the
/// other is a replay and gets `invalid_grant`, and whatever the interleaving, the tokens the code
/// issued are revoked: the access token is inactive and refused, the refresh token is refused.
/// 40 rounds, alternating a client that gets refresh tokens and one that does not.
async fn rfc6749_4_1_2_a_code_replay_racing_its_first_redemption_revokes_what_it_issued(shared: Shared) {
    let Some(pair) = Pair::start(shared, |_| {}).await else { return };
    let with_refresh = pair.a.register("app", false, true).await.unwrap();
    let (_, without_refresh) = pair
        .a
        .app
        .directory
        .create_client(NewClient {
            id: "app-no-refresh".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            grant_types: Some(vec!["authorization_code".into()]),
            ..NewClient::default()
        })
        .await
        .unwrap();
    let without_refresh = without_refresh.unwrap();
    let browser = Browser::new("alice");
    for round in 0..40 {
        let client =
            if round % 2 == 0 { ("app", with_refresh.as_str()) } else { ("app-no-refresh", without_refresh.as_str()) };
        let code = common::obtain_code(&pair.a, &browser, client.0).await;
        let ((status_a, body_a), (status_b, body_b)) =
            tokio::join!(exchange_at(&pair.a, client, &code), exchange_at(&pair.b, client, &code));
        let mut answers = [(status_a, body_a), (status_b, body_b)];
        answers.sort_by_key(|(status, _)| *status);
        let [(won, tokens), (lost, replay)] = answers;
        assert_eq!((won, lost), (StatusCode::OK, StatusCode::BAD_REQUEST), "round {round}: {tokens} / {replay}");
        assert_eq!(replay["error"], "invalid_grant", "round {round}");
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(common::unverified_claims(access)["iss"], pair.b.app.issuer.as_str(), "one issuer");
        for instance in [&pair.a, &pair.b] {
            assert!(!active_at(instance, client, access).await, "round {round}: the winner's access token is active");
            assert_eq!(userinfo_at(instance, access).await, StatusCode::UNAUTHORIZED, "round {round}");
        }
        if let Some(refresh_token) = tokens["refresh_token"].as_str() {
            assert!(!active_at(&pair.b, client, refresh_token).await, "round {round}: the refresh token is active");
            let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
            let (status, body) = post_form(pair.a.url("/token"), client, &form).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant")),
                "round {round}"
            );
        }
    }
    println!("code replay race: 40 rounds on {shared:?}");
    pair.finish().await;
}

/// RFC 7662 §2.2, RFC 7009 §2.2: disabling a user (admin API) makes every token of theirs
/// inactive at introspection and refused at userinfo, also an access token that belongs to no
/// refresh family — at once on the instance that disabled them, and within
/// `tokens.denylist_recheck_ms` on another that had just seen the token active.
async fn rfc7662_2_2_a_disabled_users_tokens_are_inactive_on_every_instance(shared: Shared) {
    const BOOTSTRAP: &str = "bootstrap-token-for-the-disable-test";
    let Some(pair) = Pair::start(shared, |c| {
        c.admin_token = Some(dingtalk_oidc::config::Secret(BOOTSTRAP.into()));
        c.tokens.denylist_recheck_ms = 500;
        // Long enough that only the denylist can tell the other instance.
        c.database.cache_ttl_secs = 600;
    })
    .await
    else {
        return;
    };
    let (_, secret) = pair
        .a
        .app
        .directory
        .create_client(NewClient {
            id: "app".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            grant_types: Some(vec!["authorization_code".into()]),
            ..NewClient::default()
        })
        .await
        .unwrap();
    let secret = secret.unwrap();
    let client = ("app", secret.as_str());
    let code = common::obtain_code(&pair.a, &Browser::new("alice"), "app").await;
    let (status, tokens) = exchange_at(&pair.a, client, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "a token of no refresh family");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let sub = common::unverified_claims(&access)["sub"].as_str().unwrap().to_string();
    // Both instances have just seen it active (and remember so, and B has the user in its cache).
    for instance in [&pair.a, &pair.b] {
        assert!(active_at(instance, client, &access).await);
        assert_eq!(userinfo_at(instance, &access).await, StatusCode::OK);
    }
    // A code issued before the disable, exchanged after it.
    let pending_code = common::obtain_code(&pair.a, &Browser::new("alice"), "app").await;

    let resp = reqwest::Client::new()
        .post(pair.a.url(&format!("/admin/v1/users/{sub}/disable")))
        .bearer_auth(BOOTSTRAP)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!active_at(&pair.a, client, &access).await, "inactive at once where it was disabled");
    assert_eq!(userinfo_at(&pair.a, &access).await, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(!active_at(&pair.b, client, &access).await, "inactive on the other instance within the recheck bound");
    assert_eq!(userinfo_at(&pair.b, &access).await, StatusCode::UNAUTHORIZED);
    // The code issued before the disable, exchanged at B (whose cache still has the user enabled),
    // yields nothing active either: its tokens come from an authentication before the disable.
    let (status, late) = exchange_at(&pair.b, client, &pending_code).await;
    if status == StatusCode::OK {
        let late = late["access_token"].as_str().unwrap();
        assert!(!active_at(&pair.b, client, late).await, "a token minted after the disable is inactive");
        assert_eq!(userinfo_at(&pair.a, late).await, StatusCode::UNAUTHORIZED);
    } else {
        assert_eq!(late["error"], "invalid_grant", "{late}");
    }

    // Enabled again, new sign-ins work; the old token stays dead.
    let resp = reqwest::Client::new()
        .post(pair.b.url(&format!("/admin/v1/users/{sub}/enable")))
        .bearer_auth(BOOTSTRAP)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    pair.a.clock.advance(2);
    pair.b.clock.advance(2);
    let code = common::obtain_code(&pair.a, &Browser::new("alice"), "app").await;
    let (status, fresh) = exchange_at(&pair.a, client, &code).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert!(active_at(&pair.a, client, fresh["access_token"].as_str().unwrap()).await, "a new token is active");
    assert!(!active_at(&pair.a, client, &access).await, "the old one is not");
    pair.finish().await;
}

macro_rules! on_shared_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(super::Shared::Sqlite).await;
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name(super::Shared::Postgres).await;
                }
                #[tokio::test]
                async fn postgres_and_redis() {
                    super::$name(super::Shared::PostgresAndRedis).await;
                }
            }
        )*
    };
}

on_shared_stores!(
    rfc6749_4_1_2_a_code_replay_racing_its_first_redemption_revokes_what_it_issued,
    rfc7662_2_2_a_disabled_users_tokens_are_inactive_on_every_instance,
);
