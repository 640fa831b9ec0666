//! One conformance suite for every SessionStore and directory backend (as Dex's
//! `storage/conformance`): SQL on SQLite, SQL on PostgreSQL and Redis — real servers, no mocks.
//! Each rule is one function; `session_store_rules!` stamps one `#[tokio::test]` per rule per
//! backend (`sqlite::<rule>`, `postgres::<rule>`, `redis::<rule>`), each on a fresh store, so a
//! failure names the backend and the rule. Each test prints `conformance: <backend> <rule> ran`
//! so CI output shows it was not skipped.

use crate::common;

use std::time::Duration;

use crate::common::{PostgresDatabase, RedisNamespace};
use dingtalk_oidc::dingtalk::DingTalkIdentity;
use dingtalk_oidc::directory::{ClientUpdate, Directory, DirectoryError, NewClient};
use dingtalk_oidc::oidc::response_mode::ResponseMode;
use dingtalk_oidc::store::{
    AuthCode, AuthRequest, CodeGrantCompletion, CodeRedemption, DenyCheck, LogoutDelivery, PendingAuth, PushedRequest,
    RedisSessionStore, RefreshFamily, RefreshSuccessor, RotateOutcome, RotateRequest, SessionStore, SqlSessionStore,
    SsoSession, code_grant_id,
};
use futures::future::join_all;

/// A fresh store of one backend, and what it needs cleaned up after the rule ran.
struct Backend {
    name: &'static str,
    store: Box<dyn SessionStore>,
    directory: Option<Directory>,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<PostgresDatabase>,
    redis: Option<RedisUnderTest>,
}

/// Redis: the store writes under `ours.prefix`; another application shares the server and even the
/// first part of our prefix (its sentinel keys must stay untouched).
struct RedisUnderTest {
    ns: RedisNamespace,
    ours: RedisNamespace,
    sentinel_keys: Vec<String>,
}

impl Backend {
    async fn sqlite() -> Option<Backend> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("conformance.db").display());
        let directory = connect(&url).await;
        Some(Backend {
            name: "sqlite",
            store: Box::new(SqlSessionStore::new(directory.connection().clone())),
            directory: Some(directory),
            _sqlite_dir: Some(dir),
            postgres: None,
            redis: None,
        })
    }

    /// `None` (skipped) when PostgreSQL is unreachable, unless DINGTALK_OIDC_REQUIRE_SERVICES=1
    /// makes that a failure (`common::PostgresDatabase::create`).
    async fn postgres() -> Option<Backend> {
        let db = PostgresDatabase::create().await?;
        let directory = connect(&db.url).await;
        Some(Backend {
            name: "postgres",
            store: Box::new(SqlSessionStore::new(directory.connection().clone())),
            directory: Some(directory),
            _sqlite_dir: None,
            postgres: Some(db),
            redis: None,
        })
    }

    /// `None` (skipped) when Redis is unreachable, unless DINGTALK_OIDC_REQUIRE_SERVICES=1 makes
    /// that a failure (`common::RedisNamespace::create`).
    async fn redis() -> Option<Backend> {
        use fred::prelude::*;
        let ns = RedisNamespace::create().await?;
        let neighbour = format!("{}other-app", ns.prefix.trim_end_matches(':'));
        let ours = RedisNamespace { url: ns.url.clone(), prefix: format!("{}oidc:", ns.prefix) };
        let sentinel_keys =
            vec![format!("{neighbour}:sentinel"), format!("{}oidc", ns.prefix), format!("{}x", ns.prefix)];
        let client = common::redis_client(&ns.url).await.unwrap();
        for key in &sentinel_keys {
            let _: () = client.set(key.as_str(), "keep", Some(Expiration::EX(600)), None, false).await.unwrap();
        }
        let _ = client.quit().await;
        let store = RedisSessionStore::connect(&ours.settings()).await.unwrap();
        Some(Backend {
            name: "redis",
            store: Box::new(store),
            directory: None,
            _sqlite_dir: None,
            postgres: None,
            redis: Some(RedisUnderTest { ns, ours, sentinel_keys }),
        })
    }

    fn directory(&self) -> &Directory {
        self.directory.as_ref().expect("a SQL backend")
    }

    /// After the rule: Redis stayed inside its prefix and gave every key a TTL; the databases go.
    async fn finish(self, rule: &str) {
        if let Some(redis) = self.redis {
            redis.assert_stayed_inside_its_prefix().await;
            redis.ns.drop().await;
        }
        if let Some(directory) = self.directory {
            directory.connection().clone().close().await.unwrap();
        }
        if let Some(db) = self.postgres {
            db.drop().await;
        }
        println!("conformance: {} {rule} ran", self.name);
    }
}

impl RedisUnderTest {
    async fn assert_stayed_inside_its_prefix(&self) {
        use fred::prelude::*;
        let (ns, ours) = (&self.ns, &self.ours);
        let neighbour = format!("{}other-app", ns.prefix.trim_end_matches(':'));
        // Nothing outside our prefix was written or changed.
        let mut all = ns.keys(&format!("{}*", ns.prefix)).await;
        all.extend(ns.keys(&format!("{neighbour}*")).await);
        for key in &all {
            assert!(
                key.starts_with(&ours.prefix) || self.sentinel_keys.contains(key),
                "{key} written outside the prefix"
            );
        }
        let client = common::redis_client(&ns.url).await.unwrap();
        for key in &self.sentinel_keys {
            let value: Option<String> = client.get(key.as_str()).await.unwrap();
            assert_eq!(value.as_deref(), Some("keep"), "{key} disturbed");
        }
        // Every key we wrote has a TTL.
        for key in ns.keys(&format!("{}*", ours.prefix)).await {
            let ttl: i64 = client.ttl(key.as_str()).await.unwrap();
            assert!(ttl > 0, "{key} has no TTL ({ttl})");
        }
        let _ = client.quit().await;
    }
}

/// One `#[tokio::test]` per rule per backend: `sqlite::<rule>`, `postgres::<rule>`, `redis::<rule>`.
macro_rules! session_store_rules {
    ($($rule:ident),* $(,)?) => {
        session_store_rules!(@backend sqlite, $($rule),*);
        session_store_rules!(@backend postgres, $($rule),*);
        session_store_rules!(@backend redis, $($rule),*);
    };
    (@backend $backend:ident, $($rule:ident),*) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $rule() {
                    let Some(backend) = super::Backend::$backend().await else { return };
                    super::$rule(backend.store.as_ref()).await;
                    backend.finish(stringify!($rule)).await;
                }
            )*
        }
    };
}

/// The rules of the SQL backends only (the sweeper, the directory, the migrations), on SQLite and
/// PostgreSQL: `sqlite_sql::<rule>`, `postgres_sql::<rule>`.
macro_rules! sql_rules {
    ($($rule:ident),* $(,)?) => {
        sql_rules!(@backend sqlite_sql, sqlite, $($rule),*);
        sql_rules!(@backend postgres_sql, postgres, $($rule),*);
    };
    (@backend $module:ident, $backend:ident, $($rule:ident),*) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $rule() {
                    let Some(backend) = super::Backend::$backend().await else { return };
                    super::$rule(backend.directory()).await;
                    backend.finish(stringify!($rule)).await;
                }
            )*
        }
    };
}

session_store_rules!(
    pending_auth_round_trips_and_is_taken_once,
    rfc9126_4_a_pushed_request_is_taken_once_under_contention,
    rfc7523_3_an_assertion_jti_is_noted_once_under_contention,
    expired_records_are_never_returned,
    rfc6749_4_1_2_a_code_is_redeemed_once_under_contention,
    rfc6749_4_1_2_a_replay_after_a_completed_grant_is_reported_once,
    a_failed_redemption_is_handed_back,
    oidc_core_11_a_session_bound_family_needs_its_session,
    sso_sessions_round_trip_and_are_indexed_by_user,
    sso_session_use_is_atomic_and_only_while_it_lives,
    revoking_a_users_sessions_removes_them_from_every_index,
    consent_requests_are_single_use,
    access_tokens_are_denied_by_jti_and_by_family,
    rfc7662_2_2_a_users_tokens_are_denied_up_to_an_authentication_time,
    rfc7009_2_1_a_users_tokens_for_one_client_are_denied_up_to_an_issue_time,
    cached_values_round_trip,
    a_lease_has_one_holder,
    logout_deliveries_are_claimed_once_per_lease,
    a_refresh_family_is_created_by_its_code_grant,
    rotation_refuses_another_client_widened_scopes_and_a_due_recheck,
    a_recheck_update_lets_the_family_rotate,
    rfc9700_4_14_2_concurrent_rotations_install_one_successor_and_reuse_revokes,
    idle_and_absolute_expiry_are_judged_at_the_callers_clock,
    a_family_remembers_only_the_latest_expiry_of_its_access_tokens,
    an_upstream_recheck_beside_rotations_loses_no_write,
    a_family_is_updated_listed_by_user_and_revoked,
    revoking_a_family_leaves_a_family_whose_id_its_own_matches_as_a_pattern,
    rfc8628_a_device_request_is_found_by_its_user_code_which_is_never_given_twice,
    rfc8628_3_3_a_device_request_is_answered_once_under_contention,
    rfc8628_3_5_a_poll_within_the_gate_is_too_soon,
);

sql_rules!(
    the_sweeper_deletes_expired_rows_in_bounded_batches,
    the_directory_conforms,
    migration_0005_retires_legacy_families_and_sessions,
    a_user_search_matches_its_term_literally,
    audit_events_page_in_a_stable_order_and_count_by_hour,
);

/// The audit log's pages (newest first, events of one second by id: no page repeats or skips
/// one) and its hourly counts (the console's dashboard), computed by the database.
async fn audit_events_page_in_a_stable_order_and_count_by_hour(directory: &Directory) {
    use dingtalk_oidc::directory::audit::{AuditEvent, AuditKind, AuditQuery};
    let hour = 1_800_000_000 / 3600 * 3600;
    let event = |n: u32| AuditEvent {
        kind: AuditKind::Login,
        actor: Some("conformance".into()),
        subject: Some(format!("u{n:02}")),
        client_id: None,
        detail: serde_json::json!({}),
    };
    // 7 in one second of the first hour, 3 in the next hour, none in the third, 1 in the fourth.
    for n in 0..7 {
        directory.record_audit(hour + 10, event(n)).await.unwrap();
    }
    for n in 7..10 {
        directory.record_audit(hour + 3600 + n as i64, event(n)).await.unwrap();
    }
    directory.record_audit(hour + 3 * 3600, event(10)).await.unwrap();
    directory.record_audit(hour - 1, event(11)).await.unwrap();
    let counts = directory.audit_counts_by_hour(AuditKind::Login, hour).await.unwrap();
    assert_eq!(counts, vec![(hour, 7), (hour + 3600, 3), (hour + 3 * 3600, 1)]);
    assert!(directory.audit_counts_by_hour(AuditKind::Logout, hour).await.unwrap().is_empty());

    let mut seen = Vec::new();
    for page in 0..4 {
        let q = AuditQuery { actor: Some("conformance".into()), limit: 3, offset: page * 3, ..AuditQuery::default() };
        let events = directory.audit_events(&q).await.unwrap();
        assert!(events.windows(2).all(|w| (w[0].at, &w[0].id) > (w[1].at, &w[1].id)), "newest first, then by id");
        seen.extend(events.into_iter().map(|e| e.subject.unwrap()));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12, "every event on exactly one page: {seen:?}");
}

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
        response_mode: ResponseMode::Query,
        // RFC 8707: travels with the request, its code and the family it starts.
        resource: Some("https://api.example.com/orders".into()),
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

async fn pending_auth_round_trips_and_is_taken_once(store: &dyn SessionStore) {
    let pending = PendingAuth {
        id: "p1".into(),
        request: request(),
        browser_binding_hash: "h".into(),
        created_at: 1,
        return_to: None,
        silent: false,
        organisations: vec![],
    };
    store.put_pending_auth(&pending, 60).await.unwrap();
    assert_eq!(store.take_pending_auth("p1").await.unwrap(), Some(pending.clone()));
    assert_eq!(store.take_pending_auth("p1").await.unwrap(), None);
    // The response mode travels with the request through the DingTalk login (Form Post §2).
    let form_post = PendingAuth {
        id: "p-form-post".into(),
        request: AuthRequest { response_mode: ResponseMode::FormPost, ..request() },
        ..pending.clone()
    };
    store.put_pending_auth(&form_post, 60).await.unwrap();
    assert_eq!(store.take_pending_auth("p-form-post").await.unwrap(), Some(form_post));
    // A sign-in for the provider's own account page remembers where it returns.
    let own_page = PendingAuth {
        id: "p-account".into(),
        return_to: Some(dingtalk_oidc::store::OwnPage::Account),
        ..pending.clone()
    };
    store.put_pending_auth(&own_page, 60).await.unwrap();
    assert_eq!(store.take_pending_auth("p-account").await.unwrap(), Some(own_page));
    // A prompt=none request tried inside DingTalk stays silent after the round trip.
    let silent = PendingAuth { id: "p-silent".into(), silent: true, ..pending.clone() };
    store.put_pending_auth(&silent, 60).await.unwrap();
    assert_eq!(store.take_pending_auth("p-silent").await.unwrap(), Some(silent));
}

/// RFC 9126 §4: a request_uri is good for one authorization, however many browsers race with it;
/// an expired one is never returned.
async fn rfc9126_4_a_pushed_request_is_taken_once_under_contention(store: &dyn SessionStore) {
    let pushed = PushedRequest {
        params: vec![("client_id".into(), "app".into()), ("scope".into(), "openid profile".into())],
        expires_at: 4_000_000_000,
    };
    store.put_pushed_request("uri-hash", &pushed, 60).await.unwrap();
    let takes = join_all((0..8).map(|_| store.take_pushed_request("uri-hash"))).await;
    let taken: Vec<PushedRequest> = takes.into_iter().filter_map(|t| t.unwrap()).collect();
    assert_eq!(taken, vec![pushed.clone()], "exactly one taker gets the request, unchanged");
    assert_eq!(store.take_pushed_request("uri-hash").await.unwrap(), None);
    store.put_pushed_request("expired", &pushed, 0).await.unwrap();
    assert_eq!(store.take_pushed_request("expired").await.unwrap(), None);
    assert_eq!(store.take_pushed_request("never-pushed").await.unwrap(), None);
}

/// RFC 7523 §3 item 7: of racing uses of one assertion exactly one is first; once the note has
/// expired the `jti` is free again (the assertion itself has expired by then).
async fn rfc7523_3_an_assertion_jti_is_noted_once_under_contention(store: &dyn SessionStore) {
    let notes = join_all((0..8).map(|_| store.note_assertion_jti("jti-hash", 60))).await;
    let firsts = notes.into_iter().filter(|n| *n.as_ref().unwrap()).count();
    assert_eq!(firsts, 1);
    assert!(!store.note_assertion_jti("jti-hash", 60).await.unwrap());
    assert!(store.note_assertion_jti("another", 60).await.unwrap());
}

/// TTL: an expired record is never returned, even before any sweeper ran.
async fn expired_records_are_never_returned(store: &dyn SessionStore) {
    let pending = PendingAuth {
        id: "p2".into(),
        request: request(),
        browser_binding_hash: "h".into(),
        created_at: 1,
        return_to: None,
        silent: false,
        organisations: vec![],
    };
    store.put_pending_auth(&pending, 0).await.unwrap();
    assert_eq!(store.take_pending_auth("p2").await.unwrap(), None);
    store.put_code("expired", &code("u1"), 0).await.unwrap();
    assert_eq!(store.redeem_code("expired", 60).await.unwrap(), CodeRedemption::Unknown);
}

/// A family for the grant of `code_hash`, named after it as the token endpoint names it.
fn grant_family(code_hash: &str, sid: Option<&str>, now: i64) -> RefreshFamily {
    RefreshFamily { id: code_grant_id(code_hash), sid: sid.map(str::to_string), ..family("unused", "u-code", now) }
}

/// RFC 6749 §4.1.2: single use under contention: 50 concurrent redemptions, exactly one success; the
/// first loser sees a replay (and revokes), later ones find nothing left to revoke. The replay
/// overtook the grant: it does not complete.
async fn rfc6749_4_1_2_a_code_is_redeemed_once_under_contention(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    store.put_code("c1", &code("u1"), 60).await.unwrap();
    let results = join_all((0..50).map(|_| async { store.redeem_code("c1", 60).await.unwrap() })).await;
    let redeemed: Vec<_> = results.iter().filter(|r| matches!(r, CodeRedemption::Redeemed(_))).collect();
    assert_eq!(redeemed, vec![&CodeRedemption::Redeemed(Box::new(code("u1")))]);
    assert_eq!(results.iter().filter(|r| **r == CodeRedemption::Replayed).count(), 1, "{results:?}");
    let overtaken = grant_family("c1", None, now);
    let completion = store.complete_code_grant("c1", &overtaken, &successor("c1-first", now), None).await.unwrap();
    assert_eq!(completion, CodeGrantCompletion::Revoked);
    assert_eq!(store.get_refresh_family(&overtaken.id).await.unwrap(), None);
}

/// A completed grant: the family exists; a replay afterwards is reported (the caller revokes), once.
/// It cannot be handed back once it issued something.
async fn rfc6749_4_1_2_a_replay_after_a_completed_grant_is_reported_once(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    store.put_code("c2", &code("u1"), 60).await.unwrap();
    assert!(matches!(store.redeem_code("c2", 60).await.unwrap(), CodeRedemption::Redeemed(_)));
    let completed = grant_family("c2", None, now);
    let completion = store.complete_code_grant("c2", &completed, &successor("c2-first", now), None).await.unwrap();
    assert_eq!(completion, CodeGrantCompletion::Created);
    assert_eq!(store.get_refresh_family(&completed.id).await.unwrap(), Some(completed.clone()));
    assert_eq!(store.redeem_code("c2", 60).await.unwrap(), CodeRedemption::Replayed);
    assert_eq!(store.redeem_code("c2", 60).await.unwrap(), CodeRedemption::Unknown, "revoked once");
    store.release_code("c2", &code("u1"), 60).await.unwrap();
    assert_eq!(store.redeem_code("c2", 60).await.unwrap(), CodeRedemption::Unknown);
}

/// A redemption that failed before it issued anything is handed back: the code works again.
async fn a_failed_redemption_is_handed_back(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    store.put_code("c3", &code("u3"), 60).await.unwrap();
    assert!(matches!(store.redeem_code("c3", 60).await.unwrap(), CodeRedemption::Redeemed(_)));
    store.release_code("c3", &code("u3"), 60).await.unwrap();
    assert_eq!(store.redeem_code("c3", 60).await.unwrap(), CodeRedemption::Redeemed(Box::new(code("u3"))));
    let (c3, c3_first) = (grant_family("c3", None, now), successor("c3-first", now));
    let completion = store.complete_code_grant("c3", &c3, &c3_first, None).await.unwrap();
    assert_eq!(completion, CodeGrantCompletion::Created);
}

/// A session-bound family is created only while its SSO session lives (OIDC Core §11).
async fn oidc_core_11_a_session_bound_family_needs_its_session(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let session = SsoSession {
        id: "code-session".into(),
        secret_hash: "h".into(),
        user_id: "u-code".into(),
        auth_time: now,
        amr: vec![],
        clients: vec![],
        expires_at: now + 60,
        last_seen_at: now,
    };
    store.put_sso_session(&session).await.unwrap();
    for (code_hash, live) in [("c4", true), ("c5", false)] {
        if !live {
            store.delete_sso_session(&session.id).await.unwrap();
        }
        store.put_code(code_hash, &code("u-code"), 60).await.unwrap();
        assert!(matches!(store.redeem_code(code_hash, 60).await.unwrap(), CodeRedemption::Redeemed(_)));
        let bound = grant_family(code_hash, Some(&session.id), now);
        let completion = store
            .complete_code_grant(
                code_hash,
                &bound,
                &successor(&format!("{code_hash}-first"), now),
                bound.sid.as_deref(),
            )
            .await
            .unwrap();
        let expected = if live { CodeGrantCompletion::Created } else { CodeGrantCompletion::SessionEnded };
        assert_eq!(completion, expected, "{code_hash}");
        assert_eq!(store.get_refresh_family(&bound.id).await.unwrap().is_some(), live, "{code_hash}");
    }
    for family in store.refresh_families_of_user("u-code").await.unwrap() {
        store.revoke_refresh_family(&family.id).await.unwrap();
    }
}

fn sso_session(id: &str, user: &str, now: i64) -> SsoSession {
    SsoSession {
        id: id.into(),
        secret_hash: "hash-of-the-secret".into(),
        user_id: user.into(),
        auth_time: now,
        amr: vec!["user".into()],
        clients: vec![],
        expires_at: now + 60,
        last_seen_at: now,
    }
}

/// SSO sessions: CRUD and the per-user index.
async fn sso_sessions_round_trip_and_are_indexed_by_user(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let session = sso_session("s1", "u1", now);
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
    assert_eq!(store.delete_sso_session("s1").await.unwrap().map(|s| s.clients), Some(vec!["app".to_string()]));
    assert_eq!(store.get_sso_session("s1").await.unwrap(), None);
    assert_eq!(store.delete_sso_session("s1").await.unwrap(), None);
}

/// A session's use and its clients are updated in place, atomically, only while it lives: concurrent
/// authorizations lose no client, and a logout is never undone by a request that read the session
/// before it.
async fn sso_session_use_is_atomic_and_only_while_it_lives(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let session = sso_session("busy", "u-busy", now);
    store.put_sso_session(&session).await.unwrap();
    let uses = (0..30).map(|i| async move {
        let at = session.last_seen_at + i;
        store.note_sso_session_use("busy", at, Some(&format!("client-{i}"))).await.unwrap()
    });
    assert!(join_all(uses).await.into_iter().all(|live| live));
    let used = store.get_sso_session("busy").await.unwrap().unwrap();
    assert_eq!(used.last_seen_at, session.last_seen_at + 29, "the latest use wins");
    let mut clients = used.clients.clone();
    clients.sort();
    let mut expected: Vec<String> = (0..30).map(|i| format!("client-{i}")).collect();
    expected.sort();
    assert_eq!(clients, expected, "no client lost");
    assert!(store.note_sso_session_use("busy", used.last_seen_at + 1, None).await.unwrap());
    assert_eq!(store.get_sso_session("busy").await.unwrap().unwrap().clients.len(), 30, "a use without a client");
    // After the session ended, a use neither succeeds nor brings it back.
    let ended = store.delete_sso_session("busy").await.unwrap().unwrap();
    assert_eq!(ended.clients.len(), 30, "the session as it ended");
    assert!(!store.note_sso_session_use("busy", used.last_seen_at + 2, Some("late-client")).await.unwrap());
    assert_eq!(store.get_sso_session("busy").await.unwrap(), None);
    assert!(store.sso_sessions_of_user("u-busy").await.unwrap().is_empty());
}

/// Index consistency: revoking all of a user's sessions removes them from every index.
async fn revoking_a_users_sessions_removes_them_from_every_index(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let session = sso_session("s1", "u1", now);
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
}

async fn consent_requests_are_single_use(store: &dyn SessionStore) {
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
}

async fn access_tokens_are_denied_by_jti_and_by_family(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let denied = |jti: &'static str| async move {
        store
            .is_access_token_denied(DenyCheck { jti, sub: "nobody", auth_time: now, client_id: "c", iat: now })
            .await
            .unwrap()
    };
    assert!(!denied("jti-1").await);
    store.deny_access_token("jti-1", now + 60).await.unwrap();
    store.deny_access_token("jti-old", now - 1).await.unwrap();
    assert!(denied("jti-1").await);
    assert!(!denied("jti-old").await, "an expired token needs no denylist entry");
    // RFC 9700 §4.14.2: a family's access tokens (`<family>.<random>`) are denied together.
    store.deny_access_token("famd.one", now + 60).await.unwrap();
    assert!(denied("famd.one").await);
    assert!(!denied("famd.two").await, "one token's denial is not its family's");
    store.deny_family_access_tokens("famd", now + 60).await.unwrap();
    store.deny_family_access_tokens("famd-old", now - 1).await.unwrap();
    assert!(denied("famd.two").await, "every token of a denied family");
    assert!(!denied("other.two").await, "another family's token");
    assert!(!denied("famd").await, "a jti without a family is not its namesake's");
    assert!(!denied("famd-old.one").await, "an expired family denial");
}

/// RFC 7662 §2.2: a user's tokens from authentications up to a time are denied together, whatever
/// their jti.
async fn rfc7662_2_2_a_users_tokens_are_denied_up_to_an_authentication_time(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let of_user = |sub: &'static str, auth_time: i64| async move {
        store
            .is_access_token_denied(DenyCheck { jti: "any-jti", sub, auth_time, client_id: "c", iat: auth_time })
            .await
            .unwrap()
    };
    store.deny_user_access_tokens("u-disabled", now, now + 60).await.unwrap();
    store.deny_user_access_tokens("u-long-ago", now, now - 1).await.unwrap();
    assert!(of_user("u-disabled", now).await, "a token of an authentication at the denial");
    assert!(of_user("u-disabled", now - 100).await, "a token of an authentication before it");
    assert!(!of_user("u-disabled", now + 1).await, "a token of a later authentication (re-enabled user)");
    assert!(!of_user("u-other", now).await, "another user's token");
    assert!(!of_user("u-long-ago", now).await, "an expired user denial");
}

/// RFC 7009 §2.1, RFC 7662 §2.2: a user's tokens for one client issued up to a time (consent
/// withdrawn) are denied together, whatever their jti and authentication; tokens issued later, the
/// user's tokens for other clients and other users' tokens for the client are not.
async fn rfc7009_2_1_a_users_tokens_for_one_client_are_denied_up_to_an_issue_time(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let token = |sub: &'static str, client_id: &'static str, iat: i64| async move {
        let check = DenyCheck { jti: "any-jti", sub, auth_time: iat - 3600, client_id, iat };
        store.is_access_token_denied(check).await.unwrap()
    };
    store.deny_client_access_tokens("u-withdrew", "app", now, now + 60).await.unwrap();
    store.deny_client_access_tokens("u-long-ago", "app", now, now - 1).await.unwrap();
    // Ids may hold the separator: ("u", "1:x") and ("u:1", "x") are different pairs.
    store.deny_client_access_tokens("u", "1:x", now, now + 60).await.unwrap();
    assert!(token("u-withdrew", "app", now).await, "a token issued at the withdrawal");
    assert!(token("u-withdrew", "app", now - 100).await, "a token issued before it");
    assert!(!token("u-withdrew", "app", now + 1).await, "a token issued after it (consent given again)");
    assert!(!token("u-withdrew", "other-app", now).await, "the user's token for another client");
    assert!(!token("u-other", "app", now).await, "another user's token for the client");
    assert!(!token("u-long-ago", "app", now).await, "an expired denial");
    assert!(token("u", "1:x", now).await);
    assert!(!token("u:1", "x", now).await, "a pair whose ids join to the same text");
}

async fn cached_values_round_trip(store: &dyn SessionStore) {
    assert_eq!(store.get_cached("app-token").await.unwrap(), None);
    store.put_cached("app-token", "value", 60).await.unwrap();
    assert_eq!(store.get_cached("app-token").await.unwrap().as_deref(), Some("value"));
}

async fn a_lease_has_one_holder(store: &dyn SessionStore) {
    assert!(store.try_lock("job", "instance-a", 60).await.unwrap());
    assert!(store.try_lock("job", "instance-a", 60).await.unwrap(), "the holder may extend its lease");
    assert!(!store.try_lock("job", "instance-b", 60).await.unwrap());
    store.unlock("job", "instance-b").await.unwrap();
    assert!(!store.try_lock("job", "instance-b", 60).await.unwrap(), "only the holder releases");
    store.unlock("job", "instance-a").await.unwrap();
    assert!(store.try_lock("job", "instance-b", 60).await.unwrap());
    let racers = (0..20).map(|i| async move { store.try_lock("race", &format!("i{i}"), 60).await.unwrap() });
    assert_eq!(join_all(racers).await.into_iter().filter(|won| *won).count(), 1, "one lease holder");
}

async fn logout_deliveries_are_claimed_once_per_lease(store: &dyn SessionStore) {
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
        // Kept as queued (the held one compares whole below).
        public_only: id == "held",
    };
    for id in ["d1", "d2", "d3"] {
        store.enqueue_logout(&delivery(id), now).await.unwrap();
    }
    // One queued by a logout request that sends it itself: hidden from the claimers until it is due.
    store.enqueue_logout(&delivery("held"), now + 50).await.unwrap();
    // Concurrent claimers: every delivery is claimed exactly once while its lease runs.
    let claimers = (0..8).map(|_| async { store.claim_logout_deliveries(now, 30, 10).await.unwrap() });
    let mut claimed: Vec<String> = join_all(claimers).await.into_iter().flatten().map(|d| d.id).collect();
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
    store: &dyn SessionStore,
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
            recheck_due_before: None,
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
        // Travels with the family, so a refresh can tell whether the client still accepts it.
        org_id: Some("corp-a".into()),
        // The API its access tokens are for (RFC 8707), through every rotation.
        resource: Some("https://api.example.com/orders".into()),
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

/// Creates a family the way the code grant does: by redeeming a code and completing its grant. The
/// family keeps its given id (a store must not care how ids are made); offline, so no SSO session
/// is needed.
async fn create_family(store: &dyn SessionStore, family: &RefreshFamily, first: &RefreshSuccessor) -> bool {
    let code_hash = format!("code-of-{}", family.id);
    store.put_code(&code_hash, &code(&family.user_id), 60).await.unwrap();
    assert!(matches!(store.redeem_code(&code_hash, 60).await.unwrap(), CodeRedemption::Redeemed(_)));
    store.complete_code_grant(&code_hash, family, first, None).await.unwrap() == CodeGrantCompletion::Created
}

async fn a_refresh_family_is_created_by_its_code_grant(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let fam = family("fam1", "u1", now);
    assert!(create_family(store, &fam, &successor("h0", now)).await);
    assert_eq!(store.get_refresh_family("fam1").await.unwrap(), Some(fam.clone()));
    assert_eq!(store.refresh_families_of_user("u1").await.unwrap(), vec![fam.clone()], "indexed by user");
    // A family already past its end is not created. (Nor indexed for its user: on Redis such an index
    // key would get no TTL, which the Redis test's final every-key-has-a-TTL check catches; listing the
    // user's families here would prune it and hide that.)
    let mut ended = family("fam-ended", "u-ended", now);
    ended.expires_at = now - 10;
    create_family(store, &ended, &successor("e0", now)).await;
    assert_eq!(store.get_refresh_family("fam-ended").await.unwrap(), None);
    assert!(store.refresh_token_state("fam1", "h0", now).await.unwrap().unwrap().current);
    assert_eq!(store.refresh_token_state("fam1", "nope", now).await.unwrap(), None);
    assert_eq!(store.refresh_token_state("nofam", "h0", now).await.unwrap(), None);
}

async fn rotation_refuses_another_client_widened_scopes_and_a_due_recheck(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let fam = family("fam1", "u1", now);
    assert!(create_family(store, &fam, &successor("h0", now)).await);
    // Another client's token, or widened scopes: refused and nothing changes.
    let mut foreign = RotateRequest {
        family_id: "fam1".into(),
        presented_hash: "h0".into(),
        client_id: "other".into(),
        scopes: None,
        successor: successor("x1", now),
        now,
        grace_secs: 10,
        recheck_due_before: None,
    };
    assert_eq!(store.rotate_refresh_token(&foreign).await.unwrap(), RotateOutcome::WrongClient);
    foreign.client_id = "app".into();
    foreign.scopes = Some(vec!["openid".into(), "email".into()]);
    assert_eq!(store.rotate_refresh_token(&foreign).await.unwrap(), RotateOutcome::ScopeWidened);
    assert!(store.refresh_token_state("fam1", "h0", now).await.unwrap().unwrap().current, "still current");

    // An upstream recheck due (the family was checked before the limit): nothing is consumed, so
    // a recheck that fails leaves the token usable. Checked at the limit is not due.
    foreign.scopes = Some(vec!["openid".into()]);
    foreign.recheck_due_before = Some(now + 1);
    assert_eq!(store.rotate_refresh_token(&foreign).await.unwrap(), RotateOutcome::RecheckDue(fam.clone()));
    assert!(store.refresh_token_state("fam1", "h0", now).await.unwrap().unwrap().current, "still current");
    foreign.recheck_due_before = Some(now);

    // Plain rotation (narrowing is allowed).
    foreign.successor = successor("h1", now);
    match store.rotate_refresh_token(&foreign).await.unwrap() {
        RotateOutcome::Rotated(f) => assert_eq!(f, fam),
        other => panic!("expected rotation, got {other:?}"),
    }
    assert!(!store.refresh_token_state("fam1", "h0", now).await.unwrap().unwrap().current);
    assert!(store.refresh_token_state("fam1", "h1", now).await.unwrap().unwrap().current);
}

async fn a_recheck_update_lets_the_family_rotate(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    // After a recheck updated the family, the same condition lets it rotate.
    let fam7 = family("fam7", "u7", now);
    assert!(create_family(store, &fam7, &successor("r0", now)).await);
    let mut due = RotateRequest {
        family_id: "fam7".into(),
        presented_hash: "r0".into(),
        client_id: "app".into(),
        scopes: None,
        successor: successor("r1", now),
        now,
        grace_secs: 10,
        recheck_due_before: Some(now + 1),
    };
    assert_eq!(store.rotate_refresh_token(&due).await.unwrap(), RotateOutcome::RecheckDue(fam7.clone()));
    let rechecked = RefreshFamily { upstream_checked_at: now + 2, ..fam7.clone() };
    assert!(store.update_refresh_family(&rechecked).await.unwrap());
    assert_eq!(store.rotate_refresh_token(&due).await.unwrap(), RotateOutcome::Rotated(rechecked));
    due.presented_hash = "r1".into();
    due.successor = successor("r2", now);
    due.recheck_due_before = Some(now + 3);
    assert!(matches!(store.rotate_refresh_token(&due).await.unwrap(), RotateOutcome::RecheckDue(_)));
}

async fn rfc9700_4_14_2_concurrent_rotations_install_one_successor_and_reuse_revokes(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let fam = family("fam1", "u1", now);
    assert!(create_family(store, &fam, &successor("h0", now)).await);
    let first = rotate(store, "fam1", "h0", successor("h1", now), now).await.unwrap();
    assert!(matches!(first, RotateOutcome::Rotated(_)), "{first:?}");
    // Rotation under contention: 100 concurrent rotations of h1 → exactly one successor installed,
    // every other caller gets that same successor, and no access token is lost.
    let rotations = (0..100)
        .map(|i| async move { rotate(store, "fam1", "h1", successor(&format!("h2-{i}"), now), now).await.unwrap() });
    let outcomes = join_all(rotations).await;
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
    match rotate(store, "fam1", "h1", successor("h3", later), later).await.unwrap() {
        RotateOutcome::Reused(revoked) => {
            assert_eq!(revoked.family.id, "fam1");
            // Not a list of 102 tokens (at0, at1, the 100 rotations'): only until when to deny them.
            assert_eq!(revoked.access_exp, now + 600, "the latest expiry of the family's access tokens");
        }
        other => panic!("expected reuse detection, got {other:?}"),
    }
    assert_eq!(rotate(store, "fam1", &winner, successor("h4", later), later).await.unwrap(), RotateOutcome::Invalid);
    assert_eq!(store.get_refresh_family("fam1").await.unwrap(), None);
}

async fn idle_and_absolute_expiry_are_judged_at_the_callers_clock(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    // Idle and absolute expiry are judged at the caller's clock.
    let fam2 = family("fam2", "u1", now);
    create_family(store, &fam2, &successor("i0", now)).await;
    assert_eq!(
        rotate(store, "fam2", "i0", successor("i1", now + 601), now + 601).await.unwrap(),
        RotateOutcome::Invalid,
        "idle past 600 s"
    );
    assert!(matches!(
        rotate(store, "fam2", "i0", successor("i1", now + 10), now + 10).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    assert_eq!(
        rotate(store, "fam2", "i1", successor("i2", now + 3600), now + 3600).await.unwrap(),
        RotateOutcome::Invalid,
        "past the family's absolute end"
    );
}

async fn a_family_remembers_only_the_latest_expiry_of_its_access_tokens(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    // A long-lived family remembers only the latest expiry of its access tokens: on reuse they are
    // denied until then (and the store does not grow by one per refresh).
    let fam5 = family("fam5", "u5", now);
    create_family(store, &fam5, &successor("k0", now)).await;
    for (step, (presented, next)) in [("k0", "k1"), ("k1", "k2"), ("k2", "k3")].into_iter().enumerate() {
        let at = now + 500 * (step as i64 + 1);
        let outcome = rotate(store, "fam5", presented, successor(next, at), at).await;
        assert!(matches!(outcome.unwrap(), RotateOutcome::Rotated(_)));
    }
    // A retry of k2 within the grace window mints one more access token (expiring now+2105).
    let retried = rotate(store, "fam5", "k2", successor("k8", now + 1505), now + 1505).await.unwrap();
    assert!(matches!(retried, RotateOutcome::Retry { .. }), "{retried:?}");
    // The family's access tokens expire at now+600, +1100, +1600, +2100 and, the retry's, +2105.
    match rotate(store, "fam5", "k1", successor("k9", now + 1550), now + 1550).await.unwrap() {
        RotateOutcome::Reused(revoked) => {
            assert_eq!(revoked.access_exp, now + 2105, "until the retry's, the last one, expires");
        }
        other => panic!("expected reuse detection, got {other:?}"),
    }
}

async fn an_upstream_recheck_beside_rotations_loses_no_write(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    // The upstream recheck updates a family while another request rotates it (a second tab, another
    // instance). Neither call fails, and neither loses the other's write: the update's check time
    // stays, and so does each rotation's access-token expiry.
    let fam6 = family("fam6", "u6", now);
    create_family(store, &fam6, &successor("m0", now)).await;
    let rotations = async {
        for step in 0..20 {
            let (presented, next) = (format!("m{step}"), format!("m{}", step + 1));
            let outcome = rotate(store, "fam6", &presented, successor(&next, now + step), now + step).await;
            assert!(matches!(outcome, Ok(RotateOutcome::Rotated(_))), "rotation {step}: {outcome:?}");
        }
    };
    let updates = async {
        for step in 1..=20 {
            let checked = RefreshFamily { upstream_checked_at: now + step, ..fam6.clone() };
            assert!(store.update_refresh_family(&checked).await.expect("update beside rotations"), "update {step}");
            tokio::task::yield_now().await;
        }
    };
    futures::join!(rotations, updates);
    assert_eq!(store.get_refresh_family("fam6").await.unwrap().unwrap().upstream_checked_at, now + 20);
    let revoked = store.revoke_refresh_family("fam6").await.unwrap().expect("revoked");
    assert_eq!(revoked.access_exp, now + 19 + 600, "the last rotation's access token, not lost to an update");
}

async fn a_family_is_updated_listed_by_user_and_revoked(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    // Update, user index, explicit revocation.
    let fam3 = family("fam3", "u9", now);
    create_family(store, &fam3, &successor("j0", now)).await;
    let checked = RefreshFamily { upstream_checked_at: now + 5, ..fam3.clone() };
    assert!(store.update_refresh_family(&checked).await.unwrap());
    assert_eq!(store.get_refresh_family("fam3").await.unwrap(), Some(checked));
    let mut ids: Vec<String> = store.refresh_families_of_user("u9").await.unwrap().into_iter().map(|f| f.id).collect();
    ids.sort();
    assert_eq!(ids, vec!["fam3"]);
    let revoked = store.revoke_refresh_family("fam3").await.unwrap().expect("revoked");
    assert_eq!(revoked.access_exp, now + 600, "until its only access token, c0, expires");
    assert_eq!(store.revoke_refresh_family("fam3").await.unwrap(), None);
    assert!(store.refresh_families_of_user("u9").await.unwrap().is_empty());
    assert!(!store.update_refresh_family(&fam3).await.unwrap());
    assert_eq!(store.refresh_token_state("fam3", "j0", now).await.unwrap(), None);
}

/// A family's id is matched literally when it is revoked: `fam_5` read as a LIKE pattern also
/// matches `famx5` (`_` is any one character), whose tokens must outlive the revocation.
async fn revoking_a_family_leaves_a_family_whose_id_its_own_matches_as_a_pattern(store: &dyn SessionStore) {
    let now = chrono::Utc::now().timestamp();
    let (revoked, lookalike) = (family("fam_5", "u11", now), family("famx5", "u11", now));
    assert!(create_family(store, &revoked, &successor("k_under", now)).await);
    assert!(create_family(store, &lookalike, &successor("k_look", now)).await);
    assert!(store.revoke_refresh_family("fam_5").await.unwrap().is_some());
    assert_eq!(store.get_refresh_family("fam_5").await.unwrap(), None);
    assert_eq!(store.refresh_token_state("fam_5", "k_under", now).await.unwrap(), None);
    assert_eq!(store.get_refresh_family("famx5").await.unwrap(), Some(lookalike));
    assert!(store.refresh_token_state("famx5", "k_look", now).await.unwrap().is_some(), "famx5's token survives");
    let ids: Vec<String> = store.refresh_families_of_user("u11").await.unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, vec!["famx5"]);
}

/// The admin user search matches its term literally and without regard to case: `search_a`
/// does not find `searchxa1`, and `%` finds no one.
async fn a_user_search_matches_its_term_literally(directory: &Directory) {
    directory.create_user("corp-a", &identity("search_a1"), None).await.unwrap();
    directory.create_user("corp-a", &identity("searchxa1"), None).await.unwrap();
    let (found, total) = directory.list_users(Some("search_a"), 0, 10).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(found.iter().map(|u| u.union_id.as_str()).collect::<Vec<_>>(), vec!["search_a1"]);
    assert_eq!(directory.list_users(Some("%"), 0, 10).await.unwrap().1, 0, "% is a character, not a wildcard");
    assert_eq!(directory.list_users(Some("SEARCH"), 0, 10).await.unwrap().1, 2, "case does not matter");
}

async fn the_directory_conforms(directory: &Directory) {
    directory_conformance(directory.clone()).await;
}

/// Migration 0005: rows written by development versions before the current formats are retired.
/// A family listing its access tokens one by one (no family-wide expiry) is revoked as the store
/// would: its live listed tokens are denied by `jti`, the family and its refresh tokens go. A
/// session without a secret (it never matched a cookie) goes. Current rows are untouched.
async fn migration_0005_retires_legacy_families_and_sessions(directory: &Directory) {
    use sea_orm::ConnectionTrait;
    let db = directory.connection();
    let store = SqlSessionStore::new(db.clone());
    let store: &dyn SessionStore = &store;
    let now = chrono::Utc::now().timestamp();
    let (legacy, current) = (family("fam_legacy", "u-legacy", now), family("fam-current", "u-legacy", now));
    assert!(create_family(store, &legacy, &successor("l0", now)).await);
    assert!(create_family(store, &current, &successor("k0", now)).await);
    // A family whose id differs from the legacy one only where that has a `_` (a LIKE wildcard).
    let lookalike = family("famXlegacy", "u-other", now);
    assert!(create_family(store, &lookalike, &successor("x0", now)).await);
    let old_family = serde_json::json!({
        "family": legacy,
        "access_tokens": [{"jti": "old-live", "exp": now + 600}, {"jti": "old-gone", "exp": now - 5}],
    });
    let mut old_session = serde_json::to_value(sso_session("s-old", "u-legacy", now)).unwrap();
    old_session.as_object_mut().unwrap().remove("secret_hash");
    store.put_sso_session(&sso_session("s-old", "u-legacy", now)).await.unwrap();
    store.put_sso_session(&sso_session("s-current", "u-legacy", now)).await.unwrap();
    for (kind, id, value) in [("refresh_family", "fam_legacy", old_family), ("sso_session", "s-old", old_session)] {
        let sql = format!(
            "UPDATE session_records SET value = '{}' WHERE kind = '{kind}' AND id = '{id}'",
            value.to_string().replace('\'', "''")
        );
        assert_eq!(db.execute_unprepared(&sql).await.unwrap().rows_affected(), 1, "{kind} {id}");
    }
    // Run migration 0005 again, as on a database that had these rows when it was first applied.
    let forget = "DELETE FROM seaql_migrations WHERE version = 'm0005_retire_legacy_session_records'";
    assert_eq!(db.execute_unprepared(forget).await.unwrap().rows_affected(), 1);
    directory.migrate().await.unwrap();

    assert_eq!(store.get_refresh_family("fam_legacy").await.unwrap(), None, "the legacy family is revoked");
    assert_eq!(store.refresh_token_state("fam_legacy", "l0", now).await.unwrap(), None);
    let denied = |jti: &'static str| async move {
        store
            .is_access_token_denied(DenyCheck { jti, sub: "u-legacy", auth_time: now, client_id: "c", iat: now })
            .await
            .unwrap()
    };
    assert!(denied("old-live").await, "its live listed access token is denied by jti");
    assert!(!denied("old-gone").await, "an expired one needs no denial");
    assert_eq!(store.get_refresh_family("fam-current").await.unwrap(), Some(current), "current rows stay");
    assert!(store.refresh_token_state("fam-current", "k0", now).await.unwrap().unwrap().current);
    assert!(store.refresh_token_state("famXlegacy", "x0", now).await.unwrap().unwrap().current, "no wildcard match");
    assert_eq!(store.get_sso_session("s-old").await.unwrap(), None, "a session without a secret is retired");
    assert_eq!(store.get_sso_session("s-current").await.unwrap(), Some(sso_session("s-current", "u-legacy", now)));
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
        source: Default::default(),
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
    directory.create_user("corp-a", &identity("union-dup"), None).await.unwrap();
    match directory.create_user("corp-a", &identity("union-dup"), None).await {
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
    client_token_lifetimes_round_trip(&directory).await;
    assert!(directory.remove_client("app").await.unwrap());
    assert!(!directory.remove_client("app").await.unwrap());
    assert!(directory.client("app").await.unwrap().is_none());

    // One person, one stable sub, even when first logins race.
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let directory = directory.clone();
        logins.spawn(async move {
            directory.upsert_user_from_login("corp-a", &identity("union-1"), None).await.unwrap().id
        });
    }
    let ids = logins.join_all().await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let again = directory.upsert_user_from_login("corp-a", &identity("union-1"), None).await.unwrap();
    assert_eq!(again.id, ids[0]);
    assert!(uuid::Uuid::parse_str(&again.id).is_ok());
    let other = directory.upsert_user_from_login("corp-a", &identity("union-2"), None).await.unwrap();
    assert_ne!(other.id, again.id);
    // The key is organisation and unionId: the same unionId in another organisation is another
    // user (docs/dingtalk-api.md §11), found under its own organisation only.
    let elsewhere = directory.upsert_user_from_login("corp-b", &identity("union-1"), None).await.unwrap();
    assert_ne!(elsewhere.id, again.id);
    assert_eq!(elsewhere.org_id, "corp-b");
    assert_eq!(directory.user_by_union_id("corp-a", "union-1").await.unwrap().unwrap().id, again.id);
    assert_eq!(directory.user_by_union_id("corp-b", "union-1").await.unwrap().unwrap().id, elsewhere.id);
    assert!(directory.user_by_union_id("corp-c", "union-1").await.unwrap().is_none());

    // Consent records merge.
    let scopes = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(!directory.consent_covers(&again.id, "app", &scopes(&["openid"])).await.unwrap());
    directory.record_consent(&again.id, "app", &scopes(&["openid"])).await.unwrap();
    directory.record_consent(&again.id, "app", &scopes(&["email"])).await.unwrap();
    assert!(directory.consent_covers(&again.id, "app", &scopes(&["openid", "email"])).await.unwrap());
    assert!(!directory.consent_covers(&again.id, "app", &scopes(&["phone"])).await.unwrap());
}

/// Per-client token lifetimes are stored and read back as given; `Some(None)` clears one back to
/// the global value and an update that names neither leaves both.
async fn client_token_lifetimes_round_trip(directory: &Directory) {
    let (client, _) = directory
        .create_client(NewClient {
            id: "long".into(),
            redirect_uris: vec!["https://long.example/cb".into()],
            access_token_ttl_secs: Some(86400),
            id_token_ttl_secs: Some(28800),
            ..NewClient::default()
        })
        .await
        .unwrap();
    assert_eq!((client.access_token_ttl_secs, client.id_token_ttl_secs), (Some(86400), Some(28800)));
    let read = directory.client("long").await.unwrap().unwrap();
    assert_eq!((read.access_token_ttl_secs, read.id_token_ttl_secs), (Some(86400), Some(28800)));
    let unset = directory.client("app").await.unwrap().unwrap();
    assert_eq!((unset.access_token_ttl_secs, unset.id_token_ttl_secs), (None, None));
    let renamed = ClientUpdate { name: Some("Long".into()), ..ClientUpdate::default() };
    let kept = directory.update_client("long", renamed).await.unwrap().unwrap();
    assert_eq!((kept.access_token_ttl_secs, kept.id_token_ttl_secs), (Some(86400), Some(28800)));
    let cleared = ClientUpdate {
        id_token_ttl_secs: Some(None),
        access_token_ttl_secs: Some(Some(60)),
        ..ClientUpdate::default()
    };
    directory.update_client("long", cleared).await.unwrap();
    let read = directory.client("long").await.unwrap().unwrap();
    assert_eq!((read.access_token_ttl_secs, read.id_token_ttl_secs), (Some(60), None));
    let too_long = ClientUpdate { access_token_ttl_secs: Some(Some(86401)), ..ClientUpdate::default() };
    assert!(matches!(directory.update_client("long", too_long).await, Err(DirectoryError::Invalid(_))));
    assert!(directory.remove_client("long").await.unwrap());
}

/// The SQL sweeper deletes expired rows in bounded batches and nothing else.
async fn the_sweeper_deletes_expired_rows_in_bounded_batches(directory: &Directory) {
    use dingtalk_oidc::directory::entities::session_record::{Column, Entity};
    use dingtalk_oidc::store::CodeStore;
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
    assert_eq!(
        store.redeem_code("alive", 60).await.unwrap(),
        CodeRedemption::Redeemed(Box::new(code("u1"))),
        "live rows survive"
    );
}

async fn connect(url: &str) -> Directory {
    let directory = Directory::connect(url, 10, Duration::from_secs(3)).await.unwrap();
    directory.migrate().await.unwrap();
    // Migrations are idempotent.
    directory.migrate().await.unwrap();
    directory
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
    assert!(!ns.keys(&format!("{}ssn:*", ns.prefix)).await.is_empty(), "the SSO session lives in Redis");
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

/// Signs alice in at a third-party client (consent page with its anti-CSRF token), exchanges the
/// code, refreshes, and signs out through the confirmation page (another anti-CSRF token); returns
/// every credential seen on the way, named: what a dump of the stores must not contain
/// (RFC 6749 §10.3, §10.4, §10.8 for tokens, codes, client secrets and session cookies).
async fn credentials_of_a_login_refresh_and_logout(p: &common::TestProvider) -> Vec<(String, String)> {
    use crate::common::{Browser, CHALLENGE, REDIRECT_URI, hidden_value, redirect_location};
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut see = |what: &str, value: &str| seen.push((what.to_string(), value.to_string()));
    let secret = p.register("dump-app", false, false).await.unwrap();
    see("client secret", &secret);
    let browser = Browser::new("alice");
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "dump-app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid profile offline_access"),
            ("prompt", "consent"),
            ("state", "st"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let resp = browser.http.get(&url).send().await.unwrap();
    let to_dingtalk = redirect_location(&resp).expect("to DingTalk");
    see("browser-binding cookie", &browser.cookie(&p.issuer, "dtoidc_binding").expect("binding cookie"));
    let landing = browser.journey(&to_dingtalk, false).await;
    let (_, page) = landing.page();
    see("consent anti-CSRF token", &hidden_value(page, "csrf_token").expect("consent form"));
    let back = browser.answer_consent(page, "approve").await.expect("redirect to the client");
    let code = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    see("authorization code", &code);
    let cookie = browser.cookie(&p.issuer, "dtoidc_session").expect("session cookie");
    see("session cookie", &cookie);
    see("session secret", cookie.split_once('.').expect("<sid>.<secret>").1);

    let tokens = common::exchange_code(p, "dump-app", &secret, &code).await;
    let (status, _, refreshed) = common::token_request(
        p,
        Some(("dump-app", &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{refreshed}");
    for (n, body) in [(1, &tokens), (2, &refreshed)] {
        for kind in ["access_token", "id_token", "refresh_token"] {
            let value = body[kind].as_str().unwrap_or_else(|| panic!("{kind} in {body}"));
            see(&format!("{kind} {n}"), value);
        }
        let refresh_secret = body["refresh_token"].as_str().unwrap().split_once('.').unwrap().1;
        see(&format!("refresh token {n}'s secret"), refresh_secret);
    }

    // RP-Initiated Logout §6: without a hint the user confirms (a form with its own token).
    let page = browser.http.get(p.url("/logout")).send().await.unwrap().text().await.unwrap();
    let logout_csrf = hidden_value(&page, "csrf_token").expect("logout confirmation form");
    see("logout anti-CSRF token", &logout_csrf);
    let confirm_id = hidden_value(&page, "confirm_id").unwrap();
    let resp = browser
        .http
        .post(p.url("/logout/confirm"))
        .form(&[("confirm_id", confirm_id.as_str()), ("csrf_token", logout_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK, "signed out");
    assert!(browser.cookie(&p.issuer, "dtoidc_session").is_none(), "the cookie is cleared");

    for (i, credential) in p.simulator.issued_credentials().into_iter().enumerate() {
        see(&format!("DingTalk credential #{i} (code, user token or app token)"), &credential);
    }
    seen
}

/// No credential seen appears anywhere in `dump`.
fn assert_holds_no_credential(store: &str, dump: &[u8], credentials: &[(String, String)]) {
    assert!(!dump.is_empty(), "{store}: nothing dumped");
    for (what, value) in credentials {
        assert!(value.len() >= 16, "{what} is too short to look for");
        let found = dump.windows(value.len()).any(|w| w == value.as_bytes());
        assert!(!found, "{store} holds the {what} in the clear");
    }
}

#[tokio::test]
async fn rfc6749_10_3_a_dump_of_the_sqlite_database_holds_no_usable_credential() {
    let provider = common::TestProvider::start().await;
    let credentials = credentials_of_a_login_refresh_and_logout(&provider).await;
    assert!(credentials.iter().any(|(what, _)| what.starts_with("DingTalk")), "the simulator's credentials");
    // Every byte SQLite keeps (the database, its write-ahead log and shared memory), deleted rows'
    // leftovers included.
    let path = provider.app.config.database.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
    let mut dump = Vec::new();
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        if let Ok(bytes) = std::fs::read(&file) {
            dump.extend_from_slice(&bytes);
        }
    }
    assert!(dump.windows(8).any(|w| w == b"sso_sess"), "the dump has session records");
    assert_holds_no_credential("the SQLite database", &dump, &credentials);
}

#[tokio::test]
async fn rfc6749_10_3_a_dump_of_postgres_and_redis_holds_no_usable_credential() {
    use fred::prelude::*;
    use sea_orm::{ConnectionTrait, Statement};
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
    let credentials = credentials_of_a_login_refresh_and_logout(&provider).await;

    // PostgreSQL: every row of every table, as JSON.
    let sql = provider.app.directory.connection();
    let backend = sql.get_database_backend();
    let tables = sql
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public'",
        ))
        .await
        .unwrap();
    let mut dump = Vec::new();
    for table in tables {
        let table: String = table.try_get("", "t").unwrap();
        let rows = sql
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT row_to_json(r)::text AS j FROM \"{table}\" r"),
            ))
            .await
            .unwrap();
        for row in rows {
            dump.extend_from_slice(row.try_get::<String>("", "j").unwrap().as_bytes());
            dump.push(b'\n');
        }
    }
    assert!(String::from_utf8_lossy(&dump).contains("alice"), "the dump has the users");
    assert_holds_no_credential("PostgreSQL", &dump, &credentials);

    // Redis: every key under the prefix and every value, whatever its type.
    let client = common::redis_client(&ns.url).await.unwrap();
    let mut dump = Vec::new();
    for key in ns.keys(&format!("{}*", ns.prefix)).await {
        dump.extend_from_slice(key.as_bytes());
        let kind: String = client.r#type(&key).await.unwrap();
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![client.get::<String, _>(&key).await.unwrap()],
            "hash" => {
                let map: std::collections::HashMap<String, String> = client.hgetall(&key).await.unwrap();
                map.into_iter().flat_map(|(k, v)| [k, v]).collect()
            }
            "set" => client.smembers(&key).await.unwrap(),
            "zset" => client.zrange(&key, 0, -1, None, false, None, false).await.unwrap(),
            "list" => client.lrange(&key, 0, -1).await.unwrap(),
            other => panic!("unexpected Redis type {other} at {key}"),
        };
        for value in values {
            dump.extend_from_slice(value.as_bytes());
            dump.push(b'\n');
        }
    }
    assert!(String::from_utf8_lossy(&dump).contains("rf:{"), "the dump has the refresh family");
    assert_holds_no_credential("Redis", &dump, &credentials);
    let _ = client.quit().await;
    drop(provider);
    ns.drop().await;
    db.drop().await;
}

fn device_request(client_id: &str) -> dingtalk_oidc::store::DeviceRequest {
    dingtalk_oidc::store::DeviceRequest {
        client_id: client_id.into(),
        scopes: vec!["openid".into(), "offline_access".into()],
        created_at: 1_800_000_000,
        expires_at: 1_800_000_600,
        interval_secs: 5,
        // Kept as saved (the found request compares whole).
        resource: Some("https://api.example.com/orders".into()),
    }
}

/// A device request is saved under its device code hash and found by its user code hash; a user
/// code in use is refused to a second request (which saves nothing), and an unknown one finds
/// nothing.
async fn rfc8628_a_device_request_is_found_by_its_user_code_which_is_never_given_twice(store: &dyn SessionStore) {
    let request = device_request("tv");
    assert!(store.put_device_request("dc1", "uc1", &request, 60).await.unwrap());
    let found = store.device_request_by_user_code("uc1").await.unwrap().expect("found by its user code");
    assert_eq!((found.device_code_hash.as_str(), &found.request, found.decided), ("dc1", &request, false));
    assert!(!store.put_device_request("dc2", "uc1", &device_request("other"), 60).await.unwrap(), "code in use");
    assert_eq!(store.device_request_by_user_code("uc1").await.unwrap().unwrap().device_code_hash, "dc1");
    assert!(store.poll_device_request("dc2", 5).await.unwrap().is_none(), "the refused request saved nothing");
    assert!(store.device_request_by_user_code("uc-unknown").await.unwrap().is_none());
    assert!(store.poll_device_request("dc-unknown", 5).await.unwrap().is_none());
}

/// Two answers race (approve on a phone, deny on a laptop): exactly one is recorded, and every
/// poll after sees that one.
async fn rfc8628_3_3_a_device_request_is_answered_once_under_contention(store: &dyn SessionStore) {
    use dingtalk_oidc::store::DeviceDecision;
    assert!(store.put_device_request("dc", "uc", &device_request("tv"), 60).await.unwrap());
    let approve = DeviceDecision::Approved { code_hash: "code-hash".into() };
    let answers = [approve.clone(), DeviceDecision::Denied, approve.clone(), DeviceDecision::Denied];
    let results = join_all(answers.iter().map(|d| store.decide_device_request("dc", d, 60))).await;
    let winners: Vec<&DeviceDecision> =
        answers.iter().zip(&results).filter(|(_, r)| *r.as_ref().unwrap()).map(|(d, _)| d).collect();
    assert_eq!(winners.len(), 1, "one answer stands: {results:?}");
    let poll = store.poll_device_request("dc", 5).await.unwrap().unwrap();
    assert_eq!(poll.decision.as_ref(), Some(winners[0]));
    assert!(store.device_request_by_user_code("uc").await.unwrap().unwrap().decided);
    assert!(!store.decide_device_request("dc", &DeviceDecision::Denied, 60).await.unwrap(), "answered already");
}

/// The first poll opens a gate of `gate_secs`; a poll within it is too soon (and does not extend
/// it); after it, a poll is on time again.
async fn rfc8628_3_5_a_poll_within_the_gate_is_too_soon(store: &dyn SessionStore) {
    assert!(store.put_device_request("dc", "uc", &device_request("tv"), 60).await.unwrap());
    // A gate long enough that the second poll falls inside it however slow the machine (store TTLs
    // count whole seconds: a 1 s gate may end between two polls a millisecond apart).
    let first = store.poll_device_request("dc", 30).await.unwrap().unwrap();
    assert!(!first.too_soon && first.decision.is_none());
    assert!(store.poll_device_request("dc", 30).await.unwrap().unwrap().too_soon);
    // A short gate, waited out with a margin, lets the next poll through.
    assert!(store.put_device_request("dc-short", "uc-short", &device_request("tv"), 60).await.unwrap());
    assert!(!store.poll_device_request("dc-short", 1).await.unwrap().unwrap().too_soon);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(!store.poll_device_request("dc-short", 1).await.unwrap().unwrap().too_soon, "the gate has passed");
}
