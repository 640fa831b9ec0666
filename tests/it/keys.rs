//! Signing keys (docs/architecture.md "Signing keys", OIDC Core §10.1.1, §10.2.1): publish before sign, keep retired keys
//! until their tokens expire, one key ring across instances, revocation, encryption at rest.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::common::{Browser, PostgresDatabase, REDIRECT_URI, TestProvider, token_request};
use dingtalk_oidc::config::Config;
use dingtalk_oidc::directory::NewClient;
use dingtalk_oidc::keys::ring::choose_signer;
use reqwest::StatusCode;
use serde_json::Value;

const ROTATION: i64 = 4 * 3600;
const LEAD: i64 = 2 * 3600;
const MAX_AGE: i64 = 3600;

fn short_cycle(c: &mut Config) {
    c.keys.rotation_period_secs = ROTATION as u64;
    c.keys.publish_lead_secs = LEAD as u64;
    c.keys.jwks_max_age_secs = MAX_AGE as u64;
    c.keys.reload_interval_secs = 1;
    // DingTalk is not the subject here: no upstream rechecks during the simulated hours.
    c.dingtalk.corp_id = None;
}

async fn register(p: &TestProvider) -> String {
    p.app
        .directory
        .create_client(NewClient {
            id: "app".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            resource_server: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .1
        .unwrap()
}

async fn login(p: &TestProvider, secret: &str) -> Value {
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid offline_access"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = Browser::new("alice").journey(&url, false).await.param("code").unwrap();
    common::exchange_code(p, "app", secret, &code).await
}

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

/// Fetches the JWKS: (kids, max-age, etag).
async fn fetch_jwks(p: &TestProvider) -> (HashSet<String>, i64, String) {
    let resp = reqwest::get(p.url("/jwks.json")).await.unwrap();
    let cache_control = resp.headers().get("cache-control").unwrap().to_str().unwrap().to_string();
    let etag = resp.headers().get("etag").unwrap().to_str().unwrap().to_string();
    let max_age: i64 = cache_control.split("max-age=").nth(1).unwrap().parse().unwrap();
    let body: Value = resp.json().await.unwrap();
    let kids = body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
    (kids, max_age, etag)
}

async fn introspect_active(p: &TestProvider, secret: &str, token: &str) -> bool {
    let resp = reqwest::Client::new()
        .post(p.url("/introspect"))
        .basic_auth("app", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    body["active"] == true
}

#[tokio::test]
async fn oidc_core_10_1_1_three_rotations_never_show_a_cached_client_an_unknown_kid() {
    let p = TestProvider::start_with(short_cycle).await;
    let secret = register(&p).await;
    let mut refresh_token = login(&p, &secret).await["refresh_token"].as_str().unwrap().to_string();

    // A relying party that refetches the JWKS only when its max-age runs out.
    let mut cached: HashSet<String> = HashSet::new();
    let mut cache_until = i64::MIN;
    let mut first_published: HashMap<String, i64> = HashMap::new();
    let mut first_signed: HashMap<String, i64> = HashMap::new();
    let mut live_tokens: Vec<(String, i64)> = Vec::new();
    let step = 300;
    for _ in 0..((3 * ROTATION + LEAD + MAX_AGE) / step) {
        p.clock.advance(step);
        p.app.maintain_keys().await.unwrap();
        let now = p.app.now();

        let (served, max_age, _) = fetch_jwks(&p).await;
        assert!(max_age <= MAX_AGE, "max-age above the ceiling");
        for kid in &served {
            first_published.entry(kid.clone()).or_insert(now);
        }
        if now >= cache_until {
            cached = served.clone();
            cache_until = now + max_age;
        }

        // A fresh token, signed by whatever key signs now.
        let (status, _, body) = token_request(
            &p,
            Some(("app", &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh_token = body["refresh_token"].as_str().unwrap().to_string();
        let access = body["access_token"].as_str().unwrap().to_string();
        let kid = kid_of(&access);
        first_signed.entry(kid.clone()).or_insert(now);
        assert!(cached.contains(&kid), "the caching client meets unknown kid {kid} at {now}");
        live_tokens.push((access, now + 600));

        // Every token verifies (and its key is served) until it expires.
        live_tokens.retain(|(_, exp)| *exp > now);
        for (token, _) in &live_tokens {
            assert!(served.contains(&kid_of(token)), "a live token's key left the JWKS");
            assert!(introspect_active(&p, &secret, token).await, "a live token stopped verifying");
        }
    }
    let rotated: Vec<&String> = first_signed.keys().collect();
    assert!(rotated.len() >= 4, "three rotations happened: {rotated:?}");
    for (kid, signed) in &first_signed {
        let published = first_published[kid];
        if published > first_signed.values().min().copied().unwrap() {
            assert!(
                signed - published >= LEAD - step,
                "{kid} signed only {} s after it was published",
                signed - published
            );
        }
    }
}

#[tokio::test]
async fn rfc9110_jwks_etag_304_and_max_age_shrinks_as_the_next_activation_nears() {
    let p = TestProvider::start_with(short_cycle).await;
    let (_, max_age, etag) = fetch_jwks(&p).await;
    assert!(max_age <= MAX_AGE);
    let resp = reqwest::Client::new().get(p.url("/jwks.json")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(resp.headers().get("etag").unwrap().to_str().unwrap(), etag);

    let rotated = p.app.rotation().rotate(p.app.now(), false).await.unwrap();
    assert!(rotated.created);
    p.app.maintain_keys().await.unwrap();
    let (kids, _, new_etag) = fetch_jwks(&p).await;
    assert!(kids.contains(&rotated.kid), "published at once");
    assert_ne!(new_etag, etag);
    // One hour before activation max-age is the ceiling; then it shrinks with the time left.
    p.clock.advance(LEAD - MAX_AGE + 1200);
    p.app.maintain_keys().await.unwrap();
    let (_, nearer, _) = fetch_jwks(&p).await;
    assert!(nearer <= MAX_AGE - 1200 && nearer > 0, "max-age {nearer}");
    p.clock.advance(1200);
    let (_, nearest, _) = fetch_jwks(&p).await;
    assert!(nearest < nearer, "{nearest} < {nearer}");
}

#[tokio::test]
async fn keys_are_sealed_at_rest_and_a_wrong_kek_fails_start_up_losing_nothing() {
    let p = TestProvider::start().await;
    let rows = p.app.directory.signing_keys().await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let sealed = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(&row.private_key_enc).unwrap()
    };
    let jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
    let modulus = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap()
    };
    // PKCS#1 DER holds the modulus in the clear; the sealed column must not.
    assert!(!sealed.windows(32).any(|w| w == &modulus[..32]), "the private key is stored unencrypted");
    assert!(!row.private_key_enc.contains("PRIVATE KEY"));
    assert!(jwk.get("d").is_none());

    // The same database under another KEK: a clear start-up error, and the keys are untouched.
    let config = p.app.config.clone();
    let wrong = dingtalk_oidc::keys::Kek::from_bytes(&[7u8; 32]).unwrap();
    let err = match dingtalk_oidc::app::App::start(config.clone(), wrong).await {
        Ok(_) => panic!("a wrong KEK must not start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("key-encryption key"), "{err}");
    assert_eq!(p.app.directory.signing_keys().await.unwrap(), rows, "nothing lost or rewritten");
    let right = dingtalk_oidc::keys::Kek::from_bytes(&[42u8; 32]).unwrap();
    assert!(dingtalk_oidc::app::App::start(config, right).await.is_ok());
}

#[tokio::test]
async fn keys_rewrap_reseals_under_a_new_kek() {
    let p = TestProvider::start().await;
    let new = dingtalk_oidc::keys::Kek::from_bytes(&[9u8; 32]).unwrap();
    assert_eq!(p.app.rotation().rewrap(&new).await.unwrap(), 1);
    let mut config = p.app.config.clone();
    config.keys.reload_interval_secs = 3600;
    assert!(dingtalk_oidc::app::App::start(config.clone(), new).await.is_ok(), "starts under the new KEK");
    let old = dingtalk_oidc::keys::Kek::from_bytes(&[42u8; 32]).unwrap();
    assert!(dingtalk_oidc::app::App::start(config, old).await.is_err(), "the old KEK no longer opens them");
}

#[tokio::test]
async fn rfc7518_3_3_import_takes_2048_bit_pem_and_refuses_smaller_keys() {
    use rsa::pkcs8::EncodePrivateKey;
    let p = TestProvider::start_with(short_cycle).await;
    let key = rsa::PrivateKey::new(&mut rand::rng(), 2048).unwrap();
    let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let kid = p.app.rotation().import(&pem, p.app.now(), true).await.unwrap();
    p.app.maintain_keys().await.unwrap();
    assert_eq!(p.app.keys.ring().signer_at(p.app.now()).unwrap().kid(), kid);
    let small = rsa::PrivateKey::new(&mut rand::rng(), 1024).unwrap();
    let pem = small.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    assert!(p.app.rotation().import(&pem, p.app.now(), true).await.is_err());
}

/// An instance on the shared stores; instances of one deployment share one issuer.
async fn start_instance(
    db: &PostgresDatabase,
    redis: Option<&common::RedisNamespace>,
    issuer: Option<&str>,
) -> TestProvider {
    let url = db.url.clone();
    let redis = redis.map(|ns| (ns.url.clone(), ns.prefix.clone()));
    let issuer = issuer.map(str::to_string);
    TestProvider::start_with(move |c| {
        short_cycle(c);
        c.database.url = url;
        if let Some(issuer) = issuer {
            c.issuer = issuer;
        }
        if let Some((url, prefix)) = redis {
            c.sessions.backend = "redis".into();
            c.redis.url = url;
            c.redis.prefix = prefix;
        }
    })
    .await
}

async fn wait_until<F: AsyncFn() -> bool>(within: Duration, check: F) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn two_instances_share_one_key_ring_rotation_and_revocation() {
    let Some(db) = PostgresDatabase::create().await else { return };
    let Some(ns) = common::RedisNamespace::create().await else { return };
    let a = start_instance(&db, Some(&ns), None).await;
    let b = start_instance(&db, Some(&ns), Some(&a.issuer)).await;
    let secret = register(&a).await;

    // A rotation on A is served by B within the reload bound.
    let rotated = a.app.rotation().rotate(a.app.now(), false).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), async || fetch_jwks(&b).await.0.contains(&rotated.kid)).await,
        "B serves A's new key within the bound"
    );

    // 20 concurrent rotations across both instances: the pending key is the rotation; no new key.
    let before = a.app.directory.signing_keys().await.unwrap().len();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let app = if i % 2 == 0 { a.app.clone() } else { b.app.clone() };
        tasks.spawn(async move { app.rotation().rotate(app.now(), false).await.unwrap() });
    }
    let results = tasks.join_all().await;
    assert_eq!(a.app.directory.signing_keys().await.unwrap().len(), before, "no key beyond the pending one");
    assert!(results.iter().all(|r| r.kid == rotated.kid));

    // Once the pending key is active, a scheduled rotation is due; both instances try (and their
    // background maintenance, every second, tries too), one key appears. Counted before the clocks
    // move, since the background loop may rotate as soon as they do.
    let before = a.app.directory.signing_keys().await.unwrap().len();
    for p in [&a, &b] {
        p.clock.advance(ROTATION + 60);
    }
    let (ra, rb) = tokio::join!(a.app.maintain_keys(), b.app.maintain_keys());
    ra.unwrap();
    rb.unwrap();
    a.app.maintain_keys().await.unwrap();
    b.app.maintain_keys().await.unwrap();
    assert_eq!(a.app.directory.signing_keys().await.unwrap().len(), before + 1, "the scheduled rotation happened once");

    // Revoking the signing key: its tokens stop verifying on both instances, and it leaves the JWKS.
    let tokens = login(&a, &secret).await;
    let at = tokens["access_token"].as_str().unwrap().to_string();
    let kid = kid_of(&at);
    assert!(introspect_active(&a, &secret, &at).await);
    assert!(introspect_active(&b, &secret, &at).await);
    let replacement = a.app.rotation().revoke(&kid, a.app.now()).await.unwrap();
    assert!(replacement.is_some(), "a new key signs at once");
    for p in [&a, &b] {
        assert!(
            wait_until(Duration::from_secs(5), async || !fetch_jwks(p).await.0.contains(&kid)).await,
            "the revoked key left the JWKS"
        );
        assert!(!introspect_active(p, &secret, &at).await);
        let status = reqwest::Client::new().get(p.url("/userinfo")).bearer_auth(&at).send().await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // New tokens are signed by the replacement and verify everywhere.
    let fresh = login(&a, &secret).await;
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(kid_of(fresh), replacement.unwrap());
    assert!(
        wait_until(Duration::from_secs(5), async || introspect_active(&b, &secret, fresh).await).await,
        "B verifies tokens of the replacement key"
    );
    drop((a, b));
    ns.drop().await;
    db.drop().await;
}

/// A client may be given tokens of the longest lifetime (24 h); a retired key stays published,
/// and its tokens verify, until such a token signed just before the rotation has expired.
#[tokio::test]
async fn oidc_core_10_1_1_a_token_of_the_longest_lifetime_verifies_after_its_key_retires_until_it_expires() {
    let p = TestProvider::start_with(|c| c.dingtalk.corp_id = None).await;
    let secret = p
        .app
        .directory
        .create_client(NewClient {
            id: "app".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            resource_server: true,
            access_token_ttl_secs: Some(dingtalk_oidc::tokens::MAX_TOKEN_TTL_SECS),
            id_token_ttl_secs: Some(dingtalk_oidc::tokens::MAX_TOKEN_TTL_SECS),
            ..Default::default()
        })
        .await
        .unwrap()
        .1
        .unwrap();
    let tokens = login(&p, &secret).await;
    let access = tokens["access_token"].as_str().unwrap();
    let kid = kid_of(access);
    assert_eq!(kid_of(tokens["id_token"].as_str().unwrap()), kid);
    let exp = common::unverified_claims(access)["exp"].as_i64().unwrap();
    assert_eq!(exp - p.app.now(), 86400);

    // The signing key retires at once.
    let rotated = p.app.rotation().rotate(p.app.now(), true).await.unwrap();
    p.app.maintain_keys().await.unwrap();
    assert_eq!(kid_of(login(&p, &secret).await["access_token"].as_str().unwrap()), rotated.kid);

    // Shortly before the token expires: far enough from `exp` that the wall clock under the test's
    // own clock cannot carry the introspection past it on a loaded machine (it did, with 1 s).
    let before_exp = 30;
    p.clock.advance(exp - p.app.now() - before_exp);
    p.app.maintain_keys().await.unwrap();
    assert!(fetch_jwks(&p).await.0.contains(&kid), "the retired key left the JWKS while its tokens live");
    assert!(introspect_active(&p, &secret, access).await, "a live token stopped verifying");

    p.clock.advance(before_exp + p.app.config.tokens.leeway_secs as i64 + 1);
    p.app.maintain_keys().await.unwrap();
    assert!(!fetch_jwks(&p).await.0.contains(&kid), "removed once every token it signed has expired");
}

/// The lease is re-entrant for its holder; key changes on one instance (the scheduler and an admin
/// rotation racing it) must still exclude each other, or each makes a key.
#[tokio::test]
async fn design_5_concurrent_key_changes_on_one_instance_make_one_key() {
    let p = TestProvider::start_with(short_cycle).await;
    let before = p.app.directory.signing_keys().await.unwrap().len();
    p.clock.advance(ROTATION + 60);
    let rotation = p.app.rotation();
    let now = p.app.now();
    let (scheduled, admin, again) =
        tokio::join!(rotation.rotate_if_due(now), rotation.rotate(now, false), p.app.maintain_keys());
    scheduled.unwrap();
    again.unwrap();
    let admin = admin.unwrap();
    let rows = p.app.directory.signing_keys().await.unwrap();
    assert_eq!(rows.len(), before + 1, "one rotation, not one per caller");
    assert!(rows.iter().any(|r| r.kid == admin.kid && r.activates_at == now + LEAD));
}

#[tokio::test]
async fn instances_starting_together_on_an_empty_database_make_one_key() {
    let Some(db) = PostgresDatabase::create().await else { return };
    let Some(ns) = common::RedisNamespace::create().await else { return };
    let mut config = Config { issuer: "http://127.0.0.1:9".into(), ..Config::default() };
    config.database.url = db.url.clone();
    config.sessions.backend = "redis".into();
    config.redis.url = ns.url.clone();
    config.redis.prefix = ns.prefix.clone();
    config.dingtalk.client_id = "k".into();
    config.dingtalk.client_secret = "s".into();
    // Migrations first (as the deploy files do), then three instances at once.
    let directory = dingtalk_oidc::directory::Directory::connect(&db.url, 5, Duration::from_secs(3)).await.unwrap();
    directory.migrate().await.unwrap();
    let start = || {
        let config = config.clone();
        async move {
            let kek = dingtalk_oidc::keys::Kek::from_bytes(&[42u8; 32]).unwrap();
            dingtalk_oidc::app::App::start(config, kek).await.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    let (a, b, c) = tokio::join!(start(), start(), start());
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert_eq!(directory.signing_keys().await.unwrap().len(), 1, "one first key for the whole fleet");
    directory.connection().clone().close().await.unwrap();
    ns.drop().await;
    db.drop().await;
}

/// An instance may reload its ring at any moment of a revocation: at every moment the key table
/// must name a signer, or that instance answers 503 at /token until its next reload.
#[tokio::test]
async fn revoking_the_signer_never_leaves_a_moment_without_one() {
    let p = TestProvider::start_with(short_cycle).await;
    let directory = p.app.directory.clone();
    let now = p.app.now();
    let signer = choose_signer(&directory.signing_keys().await.unwrap(), now).unwrap().kid.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut reads, mut without) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let rows = directory.signing_keys().await.unwrap();
                reads += 1;
                if choose_signer(&rows, now).is_none() {
                    without += 1;
                }
            }
            (reads, without)
        })
    };
    let replacement = p.app.rotation().revoke(&signer, now).await.unwrap().expect("a replacement signs");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (reads, without) = watcher.await.unwrap();
    assert!(reads > 1, "the watcher read the table during the revocation ({reads} reads)");
    assert_eq!(without, 0, "{without} of {reads} reads found no signer");
    let rows = p.app.directory.signing_keys().await.unwrap();
    assert_eq!(choose_signer(&rows, now).map(|r| r.kid.as_str()), Some(replacement.as_str()));
    assert!(rows.iter().any(|r| r.kid == signer && r.revoked));
}

/// Revoking the one pending key while no key signs (the signer was removed by hand) must make a
/// fresh key, not promote the key being revoked.
#[tokio::test]
async fn revoking_a_pending_key_never_promotes_it() {
    let p = TestProvider::start_with(short_cycle).await;
    let now = p.app.now();
    let rotation = p.app.rotation();
    let rows = p.app.directory.signing_keys().await.unwrap();
    let mut first = choose_signer(&rows, now).unwrap().clone();
    let pending = rotation.rotate(now, false).await.unwrap().kid;
    first.revoked = true;
    p.app.directory.update_signing_key(&first).await.unwrap();
    assert!(choose_signer(&p.app.directory.signing_keys().await.unwrap(), now).is_none());

    let fresh = rotation.revoke(&pending, now).await.unwrap().expect("a fresh key signs");
    assert_ne!(fresh, pending);
    let rows = p.app.directory.signing_keys().await.unwrap();
    assert_eq!(choose_signer(&rows, now).map(|r| r.kid.as_str()), Some(fresh.as_str()));
    assert!(rows.iter().any(|r| r.kid == pending && r.revoked));
}
