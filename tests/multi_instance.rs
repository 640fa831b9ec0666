//! Several provider instances on one PostgreSQL and one Redis share what they must: the signing
//! keys, the users, the sessions and the DingTalk app token.

mod common;

use common::{Browser, PostgresDatabase, RedisNamespace, TestProvider};
use dingtalk_oidc::dingtalk::{SimDirectory, Simulator};

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
    let via_a = a.app.directory.user_by_union_id(&alice_union).await.unwrap().unwrap();
    let via_b = b.app.directory.user_by_union_id(&alice_union).await.unwrap().unwrap();
    assert_eq!(via_a.id, via_b.id);
    // And its SSO session, written by A, is visible to B.
    let sessions = b.app.sessions.sso_sessions_of_user(&via_a.id).await.unwrap();
    assert_eq!(sessions.len(), 1);

    drop((a, b));
    ns.drop().await;
    db.drop().await;
}
