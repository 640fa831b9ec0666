//! The per-instance caches of the hot endpoints (clients, users, verified access tokens, denylist
//! answers) never let a change made through the same instance be ignored, and let a change made
//! through another instance through within the documented bound.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{Browser, PostgresDatabase, RedisNamespace, TestProvider};
use dingtalk_oidc::dingtalk::{SimDirectory, Simulator};
use reqwest::StatusCode;
use serde_json::Value;

async fn login(p: &TestProvider, secret: &str) -> Value {
    let code = common::obtain_code(p, &Browser::new("alice"), "app").await;
    common::exchange_code(p, "app", secret, &code).await
}

async fn refresh_status(p: &TestProvider, secret: &str, refresh_token: &str) -> (StatusCode, Value) {
    let (status, _, body) = common::token_request(
        p,
        Some(("app", secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await;
    (status, body)
}

async fn userinfo_status(p: &TestProvider, access_token: &str) -> StatusCode {
    reqwest::Client::new().get(p.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status()
}

async fn eventually(bound: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < bound {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn rfc6749_2_3_1_a_rotated_secret_and_a_disabled_user_apply_at_once_despite_the_caches() {
    let p = TestProvider::start().await;
    let old_secret = p.register("app", false, true).await.unwrap();
    let tokens = login(&p, &old_secret).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    // The client and the user are now cached (token endpoint, userinfo).
    assert_eq!(userinfo_status(&p, &access_token).await, StatusCode::OK);

    let new_secret = p.app.directory.rotate_client_secret("app").await.unwrap().unwrap();
    let (status, body) = refresh_status(&p, &old_secret, &refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old secret stops working at once: {body}");
    assert_eq!(body["error"], "invalid_client");
    let (status, _) = refresh_status(&p, &new_secret, &refresh_token).await;
    assert_eq!(status, StatusCode::OK);

    let union_id = p.simulator.directory().user_by_login("alice").unwrap().union_id.clone();
    let sub = p.app.directory.user_by_union_id("ding-demo-corp", &union_id).await.unwrap().unwrap().id;
    p.app.directory.set_user_disabled(&sub, true).await.unwrap();
    assert_eq!(userinfo_status(&p, &access_token).await, StatusCode::UNAUTHORIZED, "a disabled user at once");

    assert!(p.app.directory.remove_client("app").await.unwrap());
    let (status, _) = refresh_status(&p, &new_secret, &refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a removed client at once");
}

#[tokio::test]
async fn rfc7009_2_2_revocation_and_client_changes_reach_other_instances_within_their_bounds() {
    let Some(db) = PostgresDatabase::create().await else { return };
    let Some(ns) = RedisNamespace::create().await else { return };
    let simulator = Simulator::new(SimDirectory::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let simulator_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(simulator.clone().serve(listener));
    // Two instances of one issuer (as behind a load balancer).
    let start = |issuer: Option<String>| {
        let (db_url, redis_url, prefix) = (db.url.clone(), ns.url.clone(), ns.prefix.clone());
        TestProvider::start_on(simulator.clone(), simulator_url.clone(), move |c| {
            if let Some(issuer) = issuer {
                c.issuer = issuer;
            }
            c.database.url = db_url;
            c.database.cache_ttl_secs = 1;
            c.sessions.backend = "redis".into();
            c.redis.url = redis_url;
            c.redis.prefix = prefix;
            c.tokens.denylist_recheck_ms = 300;
        })
    };
    let a = start(None).await;
    let b = start(Some(a.issuer.clone())).await;
    let secret = a.register("app", false, true).await.unwrap();
    let tokens = login(&a, &secret).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    // B has verified the token and remembered "not revoked".
    assert_eq!(userinfo_status(&b, &access_token).await, StatusCode::OK);

    let revoked = reqwest::Client::new()
        .post(a.url("/revoke"))
        .basic_auth("app", Some(&secret))
        .form(&[("token", access_token.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(userinfo_status(&a, &access_token).await, StatusCode::UNAUTHORIZED, "at once where revoked");
    let seen = eventually(Duration::from_secs(3), async || {
        userinfo_status(&b, &access_token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(seen.is_some_and(|d| d < Duration::from_millis(1500)), "B must refuse it within the recheck interval");

    // B has the client cached; a secret rotated through A reaches B within database.cache_ttl_secs.
    let (status, body) = refresh_status(&b, &secret, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_string();
    let new_secret = a.app.directory.rotate_client_secret("app").await.unwrap().unwrap();
    let seen = eventually(Duration::from_secs(4), async || {
        refresh_status(&b, &secret, &refresh_token).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(seen.is_some_and(|d| d < Duration::from_millis(2500)), "the old secret stops working on B within the TTL");
    let (status, _) = refresh_status(&b, &new_secret, &refresh_token).await;
    assert_eq!(status, StatusCode::OK);

    drop((a, b));
    ns.drop().await;
    db.drop().await;
}
