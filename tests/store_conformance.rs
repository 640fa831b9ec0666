//! One conformance suite for every SessionStore and directory backend (as Dex's
//! `storage/conformance`): today SQL on SQLite and SQL on PostgreSQL, both real servers/files.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::PostgresDatabase;
use dingtalk_oidc::dingtalk::DingTalkIdentity;
use dingtalk_oidc::directory::{Directory, DirectoryError, NewClient};
use dingtalk_oidc::store::{
    AuthCode, AuthRequest, PendingAuth, SessionStore, SqlSessionStore, SsoSession,
};

fn request() -> AuthRequest {
    AuthRequest {
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        scopes: vec!["openid".into()],
        state: Some("s".into()),
        nonce: Some("n".into()),
        code_challenge: None,
        prompt_consent: false,
        max_age: None,
        id_token_hint_sub: None,
    }
}

fn code(user: &str) -> AuthCode {
    AuthCode {
        request: request(),
        user_id: user.into(),
        sid: "sid".into(),
        auth_time: 1,
        amr: vec!["user".into()],
        issued_at: 1,
    }
}

async fn session_store_conformance(store: Arc<dyn SessionStore>) {
    // Pending auth: round trip, then single take.
    let pending = PendingAuth {
        id: "p1".into(),
        request: request(),
        browser_binding_hash: "h".into(),
        created_at: 1,
    };
    store.put_pending_auth(&pending, 60).await.unwrap();
    assert_eq!(
        store.take_pending_auth("p1").await.unwrap(),
        Some(pending.clone())
    );
    assert_eq!(store.take_pending_auth("p1").await.unwrap(), None);

    // TTL: an expired record is never returned, even before any sweeper ran.
    store
        .put_pending_auth(
            &PendingAuth {
                id: "p2".into(),
                ..pending.clone()
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(store.take_pending_auth("p2").await.unwrap(), None);
    store.put_code("expired", &code("u1"), 0).await.unwrap();
    assert_eq!(store.consume_code("expired").await.unwrap(), None);

    // Single use under contention: 50 concurrent consumptions, exactly one success.
    store.put_code("c1", &code("u1"), 60).await.unwrap();
    let mut takers = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let store = store.clone();
        takers.spawn(async move { store.consume_code("c1").await.unwrap() });
    }
    let results = takers.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_some()).count(), 1);
    assert_eq!(results.into_iter().flatten().next(), Some(code("u1")));

    // SSO sessions: CRUD and the per-user index.
    let now = chrono::Utc::now().timestamp();
    let session = SsoSession {
        id: "s1".into(),
        user_id: "u1".into(),
        auth_time: now,
        amr: vec!["user".into()],
        clients: vec![],
        expires_at: now + 60,
    };
    store.put_sso_session(&session).await.unwrap();
    store
        .put_sso_session(&SsoSession {
            id: "s2".into(),
            ..session.clone()
        })
        .await
        .unwrap();
    store
        .put_sso_session(&SsoSession {
            id: "s3".into(),
            expires_at: now - 1,
            ..session.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_sso_session("s1").await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.get_sso_session("s3").await.unwrap(),
        None,
        "expired session is not returned"
    );
    let mut ids: Vec<String> = store
        .sso_sessions_of_user("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["s1", "s2"]);
    let updated = SsoSession {
        clients: vec!["app".into()],
        ..session.clone()
    };
    store.put_sso_session(&updated).await.unwrap();
    assert_eq!(store.get_sso_session("s1").await.unwrap(), Some(updated));
    store.delete_sso_session("s1").await.unwrap();
    assert_eq!(store.get_sso_session("s1").await.unwrap(), None);
}

fn identity(union_id: &str) -> DingTalkIdentity {
    DingTalkIdentity {
        union_id: union_id.into(),
        open_id: None,
        nick: Some("Nick".into()),
        avatar_url: None,
        email: Some("n@example.com".into()),
        mobile: None,
        state_code: None,
        corp_id: None,
    }
}

async fn directory_conformance(directory: Directory) {
    let new = NewClient {
        id: "app".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        ..NewClient::default()
    };
    let (client, secret) = directory.create_client(new.clone()).await.unwrap();
    let secret = secret.expect("a confidential client gets a secret");
    assert!(client.verify_secret(&secret));
    assert!(!client.verify_secret("wrong"));
    assert_ne!(
        client.secret_hash.as_deref(),
        Some(secret.as_str()),
        "stored hashed"
    );
    match directory.create_client(new).await {
        Err(DirectoryError::Conflict(what)) => assert!(what.contains("app")),
        other => panic!("duplicate client id must be a typed conflict, got {other:?}"),
    }
    assert!(matches!(
        directory
            .create_client(NewClient {
                id: "bad".into(),
                redirect_uris: vec!["http://x.example/cb".into()],
                ..NewClient::default()
            })
            .await,
        Err(DirectoryError::Invalid(_))
    ));
    assert_eq!(directory.list_clients().await.unwrap().len(), 1);
    assert!(directory.remove_client("app").await.unwrap());
    assert!(!directory.remove_client("app").await.unwrap());
    assert!(directory.client("app").await.unwrap().is_none());

    // One person, one stable sub, even when first logins race.
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let directory = directory.clone();
        logins.spawn(async move {
            directory
                .upsert_user_from_login(&identity("union-1"), None)
                .await
                .unwrap()
                .id
        });
    }
    let ids = logins.join_all().await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let again = directory
        .upsert_user_from_login(&identity("union-1"), None)
        .await
        .unwrap();
    assert_eq!(again.id, ids[0]);
    assert!(uuid::Uuid::parse_str(&again.id).is_ok());
    let other = directory
        .upsert_user_from_login(&identity("union-2"), None)
        .await
        .unwrap();
    assert_ne!(other.id, again.id);

    // Consent records merge.
    let scopes = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(
        !directory
            .consent_covers(&again.id, "app", &scopes(&["openid"]))
            .await
            .unwrap()
    );
    directory
        .record_consent(&again.id, "app", &scopes(&["openid"]))
        .await
        .unwrap();
    directory
        .record_consent(&again.id, "app", &scopes(&["email"]))
        .await
        .unwrap();
    assert!(
        directory
            .consent_covers(&again.id, "app", &scopes(&["openid", "email"]))
            .await
            .unwrap()
    );
    assert!(
        !directory
            .consent_covers(&again.id, "app", &scopes(&["phone"]))
            .await
            .unwrap()
    );
}

async fn connect(url: &str) -> Directory {
    let directory = Directory::connect(url, 10, Duration::from_secs(3))
        .await
        .unwrap();
    directory.migrate().await.unwrap();
    // Migrations are idempotent.
    directory.migrate().await.unwrap();
    directory
}

#[tokio::test]
async fn sql_store_on_sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("conformance.db").display()
    );
    let directory = connect(&url).await;
    session_store_conformance(Arc::new(SqlSessionStore::new(
        directory.connection().clone(),
    )))
    .await;
    directory_conformance(directory).await;
}

#[tokio::test]
async fn sql_store_on_postgres_conforms() {
    let db = PostgresDatabase::create().await;
    let directory = connect(&db.url).await;
    session_store_conformance(Arc::new(SqlSessionStore::new(
        directory.connection().clone(),
    )))
    .await;
    directory_conformance(directory.clone()).await;
    directory.connection().clone().close().await.unwrap();
    db.drop().await;
}

#[tokio::test]
async fn full_login_runs_on_postgres() {
    let db = PostgresDatabase::create().await;
    let url = db.url.clone();
    let provider = common::TestProvider::start_with(move |c| c.database.url = url).await;
    let secret = provider.register("app", false, true).await.unwrap();
    let code = common::obtain_code(&provider, &common::Browser::new("alice"), "app").await;
    let (status, _, body) = common::token_request(
        &provider,
        Some(("app", &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", common::REDIRECT_URI),
            ("code_verifier", common::VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string());
    drop(provider);
    db.drop().await;
}
