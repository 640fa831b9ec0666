//! One conformance suite for every SessionStore and directory backend (as Dex's
//! `storage/conformance`): SQL on SQLite, SQL on PostgreSQL and Redis — real servers, no mocks.
//! Each backend test prints `conformance: <backend> ran` so CI output shows it was not skipped.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PostgresDatabase, RedisNamespace};
use dingtalk_oidc::dingtalk::DingTalkIdentity;
use dingtalk_oidc::directory::{Directory, DirectoryError, NewClient};
use dingtalk_oidc::store::{
    AuthCode, AuthRequest, CodeGrant, IssuedAccessToken, LogoutDelivery, PendingAuth, RedisSessionStore, RefreshFamily,
    RefreshSuccessor, RotateOutcome, RotateRequest, SessionStore, SqlSessionStore, SsoSession,
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
        ui_locales: None,
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
    let pending = PendingAuth { id: "p1".into(), request: request(), browser_binding_hash: "h".into(), created_at: 1 };
    store.put_pending_auth(&pending, 60).await.unwrap();
    assert_eq!(store.take_pending_auth("p1").await.unwrap(), Some(pending.clone()));
    assert_eq!(store.take_pending_auth("p1").await.unwrap(), None);

    // TTL: an expired record is never returned, even before any sweeper ran.
    store.put_pending_auth(&PendingAuth { id: "p2".into(), ..pending.clone() }, 0).await.unwrap();
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
        last_seen_at: now,
    };
    store.put_sso_session(&session).await.unwrap();
    store.put_sso_session(&SsoSession { id: "s2".into(), ..session.clone() }).await.unwrap();
    store.put_sso_session(&SsoSession { id: "s3".into(), expires_at: now - 1, ..session.clone() }).await.unwrap();
    assert_eq!(store.get_sso_session("s1").await.unwrap(), Some(session.clone()));
    assert_eq!(store.get_sso_session("s3").await.unwrap(), None, "expired session is not returned");
    let mut ids: Vec<String> = store.sso_sessions_of_user("u1").await.unwrap().into_iter().map(|s| s.id).collect();
    ids.sort();
    assert_eq!(ids, vec!["s1", "s2"]);
    let updated = SsoSession { clients: vec!["app".into()], ..session.clone() };
    store.put_sso_session(&updated).await.unwrap();
    assert_eq!(store.get_sso_session("s1").await.unwrap(), Some(updated));
    store.delete_sso_session("s1").await.unwrap();
    assert_eq!(store.get_sso_session("s1").await.unwrap(), None);

    // Index consistency: revoking all of a user's sessions removes them from every index.
    for sid in ["a", "b", "c"] {
        store.put_sso_session(&SsoSession { id: sid.into(), user_id: "u2".into(), ..session.clone() }).await.unwrap();
    }
    store.put_sso_session(&SsoSession { id: "other".into(), user_id: "u3".into(), ..session.clone() }).await.unwrap();
    let mut ended: Vec<String> = store.revoke_user_sessions("u2").await.unwrap().into_iter().map(|s| s.id).collect();
    ended.sort();
    assert_eq!(ended, vec!["a", "b", "c"]);
    assert!(store.sso_sessions_of_user("u2").await.unwrap().is_empty());
    for sid in ["a", "b", "c"] {
        assert_eq!(store.get_sso_session(sid).await.unwrap(), None);
    }
    assert_eq!(store.sso_sessions_of_user("u3").await.unwrap().len(), 1, "other users untouched");

    // Consent requests are single use too.
    let consent = dingtalk_oidc::store::ConsentRequest {
        id: "cr1".into(),
        request: request(),
        user_id: "u1".into(),
        sid: "s".into(),
        auth_time: 1,
        amr: vec![],
        csrf_hash: "h".into(),
    };
    store.put_consent_request(&consent, 60).await.unwrap();
    assert_eq!(store.take_consent_request("cr1").await.unwrap(), Some(consent));
    assert_eq!(store.take_consent_request("cr1").await.unwrap(), None);

    // Denylist, cache and lease.
    let now = chrono::Utc::now().timestamp();
    assert!(!store.is_access_token_denied("jti-1").await.unwrap());
    store.deny_access_token("jti-1", now + 60).await.unwrap();
    store.deny_access_token("jti-old", now - 1).await.unwrap();
    assert!(store.is_access_token_denied("jti-1").await.unwrap());
    assert!(!store.is_access_token_denied("jti-old").await.unwrap(), "an expired token needs no denylist entry");
    // RFC 9700 §4.14.2: a family's access tokens (`<family>.<random>`) are denied together.
    store.deny_access_token("famd.one", now + 60).await.unwrap();
    assert!(store.is_access_token_denied("famd.one").await.unwrap());
    assert!(!store.is_access_token_denied("famd.two").await.unwrap(), "one token's denial is not its family's");
    store.deny_family_access_tokens("famd", now + 60).await.unwrap();
    store.deny_family_access_tokens("famd-old", now - 1).await.unwrap();
    assert!(store.is_access_token_denied("famd.two").await.unwrap(), "every token of a denied family");
    assert!(!store.is_access_token_denied("other.two").await.unwrap(), "another family's token");
    assert!(!store.is_access_token_denied("famd").await.unwrap(), "a jti without a family is not its namesake's");
    assert!(!store.is_access_token_denied("famd-old.one").await.unwrap(), "an expired family denial");
    assert_eq!(store.get_cached("app-token").await.unwrap(), None);
    store.put_cached("app-token", "value", 60).await.unwrap();
    assert_eq!(store.get_cached("app-token").await.unwrap().as_deref(), Some("value"));
    assert!(store.try_lock("job", "instance-a", 60).await.unwrap());
    assert!(store.try_lock("job", "instance-a", 60).await.unwrap(), "the holder may extend its lease");
    assert!(!store.try_lock("job", "instance-b", 60).await.unwrap());
    store.unlock("job", "instance-b").await.unwrap();
    assert!(!store.try_lock("job", "instance-b", 60).await.unwrap(), "only the holder releases");
    store.unlock("job", "instance-a").await.unwrap();
    assert!(store.try_lock("job", "instance-b", 60).await.unwrap());
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        racers.spawn(async move { store.try_lock("race", &format!("i{i}"), 60).await.unwrap() });
    }
    assert_eq!(racers.join_all().await.into_iter().filter(|won| *won).count(), 1, "one lease holder");

    // Code grants are taken once.
    let grant = CodeGrant {
        client_id: "app".into(),
        family_id: Some("fam-x".into()),
        access_token: IssuedAccessToken { jti: "j1".into(), exp: now + 60 },
    };
    store.record_code_grant("cg1", &grant, 60, None).await.unwrap();
    assert_eq!(store.take_code_grant("cg1").await.unwrap(), Some(grant));
    assert_eq!(store.take_code_grant("cg1").await.unwrap(), None);

    logout_queue_conformance(&store).await;
    refresh_conformance(store).await;
}

async fn logout_queue_conformance(store: &Arc<dyn SessionStore>) {
    let now = chrono::Utc::now().timestamp();
    let delivery = |id: &str| LogoutDelivery {
        id: id.into(),
        client_id: "app".into(),
        uri: "https://app.example/bcl".into(),
        sub: "u1".into(),
        sid: Some("s1".into()),
        attempts: 0,
        created_at: now,
        expires_at: now + 3600,
    };
    for id in ["d1", "d2", "d3"] {
        store.enqueue_logout(&delivery(id), now).await.unwrap();
    }
    // One queued by a logout request that sends it itself: hidden from the claimers until it is due.
    store.enqueue_logout(&delivery("held"), now + 50).await.unwrap();
    // Concurrent claimers: every delivery is claimed exactly once while its lease runs.
    let mut claimers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        claimers.spawn(async move { store.claim_logout_deliveries(now, 30, 10).await.unwrap() });
    }
    let mut claimed: Vec<String> = claimers.join_all().await.into_iter().flatten().map(|d| d.id).collect();
    claimed.sort();
    assert_eq!(claimed, vec!["d1", "d2", "d3"]);
    assert!(store.claim_logout_deliveries(now, 30, 10).await.unwrap().is_empty(), "leased");
    // Past the lease they are due again; a retry moves one later and counts the attempt.
    let again = store.claim_logout_deliveries(now + 31, 30, 10).await.unwrap();
    assert_eq!(again.len(), 3, "the held delivery is not due yet: {again:?}");
    let held = store.claim_logout_deliveries(now + 50, 30, 10).await.unwrap();
    assert_eq!(held, vec![delivery("held")], "due at the time it was queued for");
    store.complete_logout_delivery("held").await.unwrap();
    let mut retried = delivery("d1");
    retried.attempts = 1;
    store.retry_logout_delivery(&retried, now + 100).await.unwrap();
    store.complete_logout_delivery("d2").await.unwrap();
    store.complete_logout_delivery("d3").await.unwrap();
    assert!(store.claim_logout_deliveries(now + 99, 30, 10).await.unwrap().is_empty());
    let due = store.claim_logout_deliveries(now + 100, 30, 10).await.unwrap();
    assert_eq!(due, vec![retried]);
    store.complete_logout_delivery("d1").await.unwrap();
    assert!(store.claim_logout_deliveries(now + 10_000, 30, 10).await.unwrap().is_empty());
}

async fn rotate(
    store: &Arc<dyn SessionStore>,
    family_id: &str,
    presented: &str,
    successor: RefreshSuccessor,
    now: i64,
) -> Result<RotateOutcome, dingtalk_oidc::store::StoreError> {
    store
        .rotate_refresh_token(&RotateRequest {
            family_id: family_id.into(),
            presented_hash: presented.into(),
            client_id: "app".into(),
            scopes: None,
            successor,
            now,
            grace_secs: 10,
        })
        .await
}

fn family(id: &str, user: &str, now: i64) -> RefreshFamily {
    RefreshFamily {
        id: id.into(),
        client_id: "app".into(),
        user_id: user.into(),
        sid: Some("sid".into()),
        login_sid: Some("sid".into()),
        scopes: vec!["openid".into(), "offline_access".into()],
        auth_time: now,
        amr: vec!["user".into()],
        created_at: now,
        expires_at: now + 3600,
        upstream_checked_at: now,
        claims: Default::default(),
    }
}

fn successor(hash: &str, now: i64) -> RefreshSuccessor {
    RefreshSuccessor {
        token_hash: hash.into(),
        sealed: format!("sealed-{hash}"),
        idle_ttl_secs: 600,
        access_exp: now + 600,
    }
}

/// Creates a family the way the code grant does: with the grant of the code that started it, whose
/// access token is `jti`.
async fn create_family(store: &Arc<dyn SessionStore>, family: &RefreshFamily, jti: &str, first: &RefreshSuccessor) {
    let grant = CodeGrant {
        client_id: family.client_id.clone(),
        family_id: Some(family.id.clone()),
        access_token: IssuedAccessToken { jti: jti.into(), exp: first.access_exp },
    };
    let code_hash = format!("code-of-{}", family.id);
    store.record_code_grant(&code_hash, &grant, 60, Some((family, first))).await.unwrap();
}

async fn refresh_conformance(store: Arc<dyn SessionStore>) {
    let now = chrono::Utc::now().timestamp();
    let fam = family("fam1", "u1", now);
    create_family(&store, &fam, "at0", &successor("h0", now)).await;
    assert_eq!(store.get_refresh_family("fam1").await.unwrap(), Some(fam.clone()));
    // The code's grant was recorded in the same call as the family.
    let recorded = store.take_code_grant("code-of-fam1").await.unwrap().expect("code grant recorded with the family");
    assert_eq!(recorded.family_id.as_deref(), Some("fam1"));
    assert_eq!(recorded.access_token.jti, "at0");
    assert_eq!(store.refresh_families_of_user("u1").await.unwrap(), vec![fam.clone()], "indexed by user");
    // A family already past its end is not created. (Nor indexed for its user: on Redis such an index
    // key would get no TTL, which the Redis test's final every-key-has-a-TTL check catches; listing the
    // user's families here would prune it and hide that.)
    let mut ended = family("fam-ended", "u-ended", now);
    ended.expires_at = now - 10;
    create_family(&store, &ended, "ae0", &successor("e0", now)).await;
    assert_eq!(store.get_refresh_family("fam-ended").await.unwrap(), None);
    assert!(store.refresh_token_state("fam1", "h0", now).await.unwrap().unwrap().current);
    assert_eq!(store.refresh_token_state("fam1", "nope", now).await.unwrap(), None);
    assert_eq!(store.refresh_token_state("nofam", "h0", now).await.unwrap(), None);

    // Another client's token, or widened scopes: refused and nothing changes.
    let mut foreign = RotateRequest {
        family_id: "fam1".into(),
        presented_hash: "h0".into(),
        client_id: "other".into(),
        scopes: None,
        successor: successor("x1", now),
        now,
        grace_secs: 10,
    };
    assert_eq!(store.rotate_refresh_token(&foreign).await.unwrap(), RotateOutcome::WrongClient);
    foreign.client_id = "app".into();
    foreign.scopes = Some(vec!["openid".into(), "email".into()]);
    assert_eq!(store.rotate_refresh_token(&foreign).await.unwrap(), RotateOutcome::ScopeWidened);
    assert!(store.refresh_token_state("fam1", "h0", now).await.unwrap().unwrap().current, "still current");

    // Plain rotation (narrowing is allowed).
    foreign.scopes = Some(vec!["openid".into()]);
    foreign.successor = successor("h1", now);
    match store.rotate_refresh_token(&foreign).await.unwrap() {
        RotateOutcome::Rotated(f) => assert_eq!(f, fam),
        other => panic!("expected rotation, got {other:?}"),
    }
    assert!(!store.refresh_token_state("fam1", "h0", now).await.unwrap().unwrap().current);
    assert!(store.refresh_token_state("fam1", "h1", now).await.unwrap().unwrap().current);

    // Rotation under contention: 100 concurrent rotations of h1 → exactly one successor installed,
    // every other caller gets that same successor, and no access token is lost.
    let mut rotations = tokio::task::JoinSet::new();
    for i in 0..100 {
        let store = store.clone();
        rotations
            .spawn(async move { rotate(&store, "fam1", "h1", successor(&format!("h2-{i}"), now), now).await.unwrap() });
    }
    let outcomes = rotations.join_all().await;
    let rotated = outcomes.iter().filter(|o| matches!(o, RotateOutcome::Rotated(_))).count();
    assert_eq!(rotated, 1, "exactly one rotation wins");
    let sealed: std::collections::HashSet<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            RotateOutcome::Retry { sealed_successor, .. } => Some(sealed_successor.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(sealed.len(), 1, "every retry sees the same successor");
    let winner = sealed.iter().next().unwrap().strip_prefix("sealed-").unwrap().to_string();
    assert!(store.refresh_token_state("fam1", &winner, now).await.unwrap().unwrap().current);
    let live: Vec<_> = (0..100).map(|i| format!("h2-{i}")).filter(|h| *h != winner).collect();
    for h in &live {
        assert_eq!(store.refresh_token_state("fam1", h, now).await.unwrap(), None, "no second successor");
    }

    // Reuse outside the grace window revokes the family; its successor stops working.
    let later = now + 11;
    match rotate(&store, "fam1", "h1", successor("h3", later), later).await.unwrap() {
        RotateOutcome::Reused(revoked) => {
            assert_eq!(revoked.family.id, "fam1");
            // Not a list of 102 tokens (at0, at1, the 100 rotations'): only until when to deny them.
            assert_eq!(revoked.access_exp, now + 600, "the latest expiry of the family's access tokens");
            assert!(revoked.access_tokens.is_empty(), "tokens are denied by family, not recorded one by one");
        }
        other => panic!("expected reuse detection, got {other:?}"),
    }
    assert_eq!(rotate(&store, "fam1", &winner, successor("h4", later), later).await.unwrap(), RotateOutcome::Invalid);
    assert_eq!(store.get_refresh_family("fam1").await.unwrap(), None);

    // Idle and absolute expiry are judged at the caller's clock.
    let fam2 = family("fam2", "u1", now);
    create_family(&store, &fam2, "b0", &successor("i0", now)).await;
    assert_eq!(
        rotate(&store, "fam2", "i0", successor("i1", now + 601), now + 601).await.unwrap(),
        RotateOutcome::Invalid,
        "idle past 600 s"
    );
    assert!(matches!(
        rotate(&store, "fam2", "i0", successor("i1", now + 10), now + 10).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(
        rotate(&store, "fam2", "i1", successor("i2", now + 3600), now + 3600).await.unwrap(),
        RotateOutcome::Invalid,
        "past the family's absolute end"
    );

    // A long-lived family remembers only the latest expiry of its access tokens: on reuse they are
    // denied until then (and the store does not grow by one per refresh).
    let fam5 = family("fam5", "u5", now);
    create_family(&store, &fam5, "d0", &successor("k0", now)).await;
    for (step, (presented, next)) in [("k0", "k1"), ("k1", "k2"), ("k2", "k3")].into_iter().enumerate() {
        let at = now + 500 * (step as i64 + 1);
        let outcome = rotate(&store, "fam5", presented, successor(next, at), at).await;
        assert!(matches!(outcome.unwrap(), RotateOutcome::Rotated(_)));
    }
    // A retry of k2 within the grace window mints one more access token (expiring now+2105).
    let retried = rotate(&store, "fam5", "k2", successor("k8", now + 1505), now + 1505).await.unwrap();
    assert!(matches!(retried, RotateOutcome::Retry { .. }), "{retried:?}");
    // The family's access tokens expire at now+600, +1100, +1600, +2100 and, the retry's, +2105.
    match rotate(&store, "fam5", "k1", successor("k9", now + 1550), now + 1550).await.unwrap() {
        RotateOutcome::Reused(revoked) => {
            assert_eq!(revoked.access_exp, now + 2105, "until the retry's, the last one, expires");
            assert!(revoked.access_tokens.is_empty());
        }
        other => panic!("expected reuse detection, got {other:?}"),
    }

    // The upstream recheck updates a family while another request rotates it (a second tab, another
    // instance). Neither call fails, and neither loses the other's write: the update's check time
    // stays, and so does each rotation's access-token expiry.
    let fam6 = family("fam6", "u6", now);
    create_family(&store, &fam6, "f0", &successor("m0", now)).await;
    let rotations = {
        let store = store.clone();
        tokio::spawn(async move {
            for step in 0..20 {
                let (presented, next) = (format!("m{step}"), format!("m{}", step + 1));
                let outcome = rotate(&store, "fam6", &presented, successor(&next, now + step), now + step).await;
                assert!(matches!(outcome, Ok(RotateOutcome::Rotated(_))), "rotation {step}: {outcome:?}");
            }
        })
    };
    for step in 1..=20 {
        let checked = RefreshFamily { upstream_checked_at: now + step, ..fam6.clone() };
        assert!(store.update_refresh_family(&checked).await.expect("update beside rotations"), "update {step}");
        tokio::task::yield_now().await;
    }
    rotations.await.unwrap();
    assert_eq!(store.get_refresh_family("fam6").await.unwrap().unwrap().upstream_checked_at, now + 20);
    let revoked = store.revoke_refresh_family("fam6").await.unwrap().expect("revoked");
    assert_eq!(revoked.access_exp, now + 19 + 600, "the last rotation's access token, not lost to an update");

    // Update, user index, explicit revocation.
    let fam3 = family("fam3", "u9", now);
    create_family(&store, &fam3, "c0", &successor("j0", now)).await;
    let checked = RefreshFamily { upstream_checked_at: now + 5, ..fam3.clone() };
    assert!(store.update_refresh_family(&checked).await.unwrap());
    assert_eq!(store.get_refresh_family("fam3").await.unwrap(), Some(checked));
    let mut ids: Vec<String> = store.refresh_families_of_user("u9").await.unwrap().into_iter().map(|f| f.id).collect();
    ids.sort();
    assert_eq!(ids, vec!["fam3"]);
    let revoked = store.revoke_refresh_family("fam3").await.unwrap().expect("revoked");
    assert_eq!(revoked.access_exp, now + 600, "until its only access token, c0, expires");
    assert!(revoked.access_tokens.is_empty());
    assert_eq!(store.revoke_refresh_family("fam3").await.unwrap(), None);
    assert!(store.refresh_families_of_user("u9").await.unwrap().is_empty());
    assert!(!store.update_refresh_family(&fam3).await.unwrap());
    assert_eq!(store.refresh_token_state("fam3", "j0", now).await.unwrap(), None);
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
    let new =
        NewClient { id: "app".into(), redirect_uris: vec!["https://app.example/cb".into()], ..NewClient::default() };
    let (client, secret) = directory.create_client(new.clone()).await.unwrap();
    let secret = secret.expect("a confidential client gets a secret");
    assert!(client.verify_secret(&secret));
    assert!(!client.verify_secret("wrong"));
    assert_ne!(client.secret_hash.as_deref(), Some(secret.as_str()), "stored hashed");
    match directory.create_client(new).await {
        Err(DirectoryError::Conflict(what)) => assert!(what.contains("app")),
        other => panic!("duplicate client id must be a typed conflict, got {other:?}"),
    }
    directory.create_user(&identity("union-dup"), None).await.unwrap();
    match directory.create_user(&identity("union-dup"), None).await {
        Err(DirectoryError::Conflict(what)) => assert!(what.contains("union-dup")),
        other => panic!("duplicate unionId must be a typed conflict, got {other:?}"),
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
        logins.spawn(async move { directory.upsert_user_from_login(&identity("union-1"), None).await.unwrap().id });
    }
    let ids = logins.join_all().await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let again = directory.upsert_user_from_login(&identity("union-1"), None).await.unwrap();
    assert_eq!(again.id, ids[0]);
    assert!(uuid::Uuid::parse_str(&again.id).is_ok());
    let other = directory.upsert_user_from_login(&identity("union-2"), None).await.unwrap();
    assert_ne!(other.id, again.id);

    // Consent records merge.
    let scopes = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(!directory.consent_covers(&again.id, "app", &scopes(&["openid"])).await.unwrap());
    directory.record_consent(&again.id, "app", &scopes(&["openid"])).await.unwrap();
    directory.record_consent(&again.id, "app", &scopes(&["email"])).await.unwrap();
    assert!(directory.consent_covers(&again.id, "app", &scopes(&["openid", "email"])).await.unwrap());
    assert!(!directory.consent_covers(&again.id, "app", &scopes(&["phone"])).await.unwrap());
}

/// The SQL sweeper deletes expired rows in bounded batches and nothing else.
async fn sql_sweeper_conformance(directory: &Directory) {
    use dingtalk_oidc::directory::entities::session_record::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let store = SqlSessionStore::new(directory.connection().clone());
    for i in 0..5 {
        store.put_code(&format!("dead-{i}"), &code("u1"), 0).await.unwrap();
    }
    store.put_code("alive", &code("u1"), 60).await.unwrap();
    let expired = || async {
        Entity::find()
            .filter(Column::ExpiresAt.lte(chrono::Utc::now().timestamp()))
            .count(directory.connection())
            .await
            .unwrap()
    };
    let before = expired().await;
    assert!(before >= 5);
    assert_eq!(store.sweep_expired(2).await.unwrap(), 2, "one batch is bounded");
    let mut swept = 2;
    loop {
        let n = store.sweep_expired(2).await.unwrap();
        swept += n;
        if n < 2 {
            break;
        }
    }
    assert_eq!(swept, before);
    assert_eq!(expired().await, 0);
    assert_eq!(store.consume_code("alive").await.unwrap(), Some(code("u1")), "live rows survive");
}

async fn connect(url: &str) -> Directory {
    let directory = Directory::connect(url, 10, Duration::from_secs(3)).await.unwrap();
    directory.migrate().await.unwrap();
    // Migrations are idempotent.
    directory.migrate().await.unwrap();
    directory
}

#[tokio::test]
async fn sql_store_on_sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("conformance.db").display());
    let directory = connect(&url).await;
    session_store_conformance(Arc::new(SqlSessionStore::new(directory.connection().clone()))).await;
    sql_legacy_family_rows_still_list_their_access_tokens(directory.connection()).await;
    sql_sweeper_conformance(&directory).await;
    directory_conformance(directory).await;
    println!("conformance: sql-on-sqlite ran");
}

/// A family row as versions before the family-wide denial wrote it: its access tokens listed one by
/// one, no `access_exp`. Revoking it still hands out the listed tokens that are live, for denial by
/// `jti`.
async fn sql_legacy_family_rows_still_list_their_access_tokens(db: &dingtalk_oidc::directory::BoundedConnection) {
    use sea_orm::ConnectionTrait;
    let store: Arc<dyn SessionStore> = Arc::new(SqlSessionStore::new(db.clone()));
    let now = chrono::Utc::now().timestamp();
    let fam = family("fam-legacy", "u-legacy", now);
    create_family(&store, &fam, "fam-legacy.new", &successor("l0", now)).await;
    let old = serde_json::json!({
        "family": fam,
        "access_tokens": [{"jti": "old-live", "exp": now + 600}, {"jti": "old-gone", "exp": now - 5}],
    });
    let sql = format!(
        "UPDATE session_records SET value = '{}' WHERE kind = 'refresh_family' AND id = 'fam-legacy'",
        old.to_string().replace('\'', "''")
    );
    assert_eq!(db.execute_unprepared(&sql).await.unwrap().rows_affected(), 1);
    let revoked = store.revoke_refresh_family("fam-legacy").await.unwrap().expect("revoked");
    assert_eq!(revoked.family, fam);
    assert_eq!(revoked.access_tokens, vec![IssuedAccessToken { jti: "old-live".into(), exp: now + 600 }]);
    assert_eq!(revoked.access_exp, 0, "an old row knows no family-wide expiry");
}

/// The Redis form of the same: a family hash without `ae`, and its access tokens in a sorted set.
async fn redis_legacy_families_still_list_their_access_tokens(ns: &RedisNamespace) {
    use fred::prelude::*;
    let store: Arc<dyn SessionStore> = Arc::new(RedisSessionStore::connect(&ns.settings()).await.unwrap());
    let now = chrono::Utc::now().timestamp();
    let fam = family("fam-legacy", "u-legacy", now);
    create_family(&store, &fam, "fam-legacy.new", &successor("l0", now)).await;
    let client = common::redis_client(&ns.url).await.unwrap();
    let family_key = format!("{}rf:{{fam-legacy}}", ns.prefix);
    let access_key = format!("{}rfat:{{fam-legacy}}", ns.prefix);
    let removed: i64 = client.hdel(family_key.as_str(), "ae").await.unwrap();
    assert_eq!(removed, 1, "the family hash is where this test expects it");
    let _: i64 = client
        .zadd(access_key.as_str(), None, None, false, false, ((now + 600) as f64, format!("old-live {}", now + 600)))
        .await
        .unwrap();
    // An expired entry the old rotation had not pruned yet: nothing to deny.
    let _: i64 = client
        .zadd(access_key.as_str(), None, None, false, false, ((now - 5) as f64, format!("old-gone {}", now - 5)))
        .await
        .unwrap();
    let _: bool = client.expire(access_key.as_str(), 600, None).await.unwrap();
    let _ = client.quit().await;
    let revoked = store.revoke_refresh_family("fam-legacy").await.unwrap().expect("revoked");
    assert_eq!(revoked.family, fam);
    assert_eq!(revoked.access_tokens, vec![IssuedAccessToken { jti: "old-live".into(), exp: now + 600 }]);
    assert_eq!(revoked.access_exp, 0, "an old family knows no family-wide expiry");
}

#[tokio::test]
async fn sql_store_on_postgres_conforms() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let directory = connect(&db.url).await;
    session_store_conformance(Arc::new(SqlSessionStore::new(directory.connection().clone()))).await;
    sql_legacy_family_rows_still_list_their_access_tokens(directory.connection()).await;
    sql_sweeper_conformance(&directory).await;
    directory_conformance(directory.clone()).await;
    directory.connection().clone().close().await.unwrap();
    db.drop().await;
    println!("conformance: sql-on-postgres ran");
}

#[tokio::test]
async fn redis_store_conforms_and_stays_inside_its_prefix() {
    let Some(ns) = RedisNamespace::create().await else {
        return;
    };
    // Another application shares the server and even the first part of our prefix.
    let neighbour = format!("{}other-app", ns.prefix.trim_end_matches(':'));
    let ours = RedisNamespace { url: ns.url.clone(), prefix: format!("{}oidc:", ns.prefix) };
    let sentinel_keys = [format!("{neighbour}:sentinel"), format!("{}oidc", ns.prefix), format!("{}x", ns.prefix)];
    {
        use fred::prelude::*;
        let client = common::redis_client(&ns.url).await.unwrap();
        for key in &sentinel_keys {
            let _: () = client.set(key.as_str(), "keep", Some(Expiration::EX(600)), None, false).await.unwrap();
        }
        let _ = client.quit().await;
    }
    let store = RedisSessionStore::connect(&ours.settings()).await.unwrap();
    session_store_conformance(Arc::new(store)).await;
    redis_legacy_families_still_list_their_access_tokens(&ours).await;
    // Nothing outside our prefix was written or changed.
    let mut all = ns.keys(&format!("{}*", ns.prefix)).await;
    all.extend(ns.keys(&format!("{neighbour}*")).await);
    for key in &all {
        assert!(key.starts_with(&ours.prefix) || sentinel_keys.contains(key), "{key} written outside the prefix");
    }
    {
        use fred::prelude::*;
        let client = common::redis_client(&ns.url).await.unwrap();
        for key in &sentinel_keys {
            let value: Option<String> = client.get(key.as_str()).await.unwrap();
            assert_eq!(value.as_deref(), Some("keep"), "{key} disturbed");
        }
        let _ = client.quit().await;
    }
    // Every key we wrote has a TTL.
    {
        use fred::prelude::*;
        let client = common::redis_client(&ns.url).await.unwrap();
        for key in ns.keys(&format!("{}*", ours.prefix)).await {
            let ttl: i64 = client.ttl(key.as_str()).await.unwrap();
            assert!(ttl > 0, "{key} has no TTL ({ttl})");
        }
        let _ = client.quit().await;
    }
    ns.drop().await;
    println!("conformance: redis ran");
}

#[tokio::test]
async fn full_login_runs_on_postgres() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let url = db.url.clone();
    let provider = common::TestProvider::start_with(move |c| c.database.url = url).await;
    login_and_exchange(&provider).await;
    drop(provider);
    db.drop().await;
}

#[tokio::test]
async fn full_login_runs_on_postgres_and_redis() {
    let Some(db) = PostgresDatabase::create().await else {
        return;
    };
    let Some(ns) = RedisNamespace::create().await else {
        return;
    };
    let (url, redis_url, prefix) = (db.url.clone(), ns.url.clone(), ns.prefix.clone());
    let provider = common::TestProvider::start_with(move |c| {
        c.database.url = url;
        c.sessions.backend = "redis".into();
        c.redis.url = redis_url;
        c.redis.prefix = prefix;
    })
    .await;
    login_and_exchange(&provider).await;
    assert!(!ns.keys(&format!("{}sso:*", ns.prefix)).await.is_empty(), "the SSO session lives in Redis");
    drop(provider);
    ns.drop().await;
    db.drop().await;
}

async fn login_and_exchange(provider: &common::TestProvider) {
    let secret = provider.register("app", false, true).await.unwrap();
    let code = common::obtain_code(provider, &common::Browser::new("alice"), "app").await;
    let (status, _, body) = common::token_request(
        provider,
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
}
