//! Every management operation the admin API and the CLI both offer leaves the same audit trail
//! through either: the same kinds, targets and details, only the actor (and the reason texts that
//! name it) differing. The operations are written once (`manage`); this keeps it so.

use crate::common;

use std::process::Command;

use base64::Engine;
use dingtalk_oidc::config::Secret;
use dingtalk_oidc::directory::audit::AuditQuery;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Browser, REDIRECT_URI, TestProvider};

const BIN: &str = env!("CARGO_BIN_EXE_dingtalk-oidc");
const BOOTSTRAP: &str = "parity-bootstrap-token";

/// One audit event with what depends on the run (ids made by it) replaced by placeholders.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    kind: String,
    subject: Option<String>,
    detail: String,
}

struct Harness {
    p: TestProvider,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    bob: String,
}

impl Harness {
    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, self.p.url(&format!("/admin/v1{path}"))).bearer_auth(BOOTSTRAP);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn cli(&self, args: &[&str]) -> String {
        let kek = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
        let out = Command::new(BIN)
            .current_dir(self.dir.path())
            .args(args)
            .env("DINGTALK_OIDC_DATABASE__URL", &self.p.app.config.database.url)
            // The deployment's config, as the server has it: the CLI knows its organisation too.
            .env("DINGTALK_OIDC_DINGTALK__CORP_ID", self.p.app.config.dingtalk.corp_id.as_deref().unwrap_or_default())
            .env("DINGTALK_OIDC_KEYS__KEK", kek)
            .output()
            .expect("binary runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    async fn audit_ids(&self) -> Vec<String> {
        let q = AuditQuery { limit: 100_000, ..AuditQuery::default() };
        self.p.app.directory.audit_events(&q).await.unwrap().into_iter().map(|e| e.id).collect()
    }

    /// Signs bob in (a live SSO session) and returns the session's id.
    async fn bob_session(&self) -> String {
        common::obtain_code(&self.p, &Browser::new("bob"), "rp").await;
        let sessions = self.p.app.sessions.sso_sessions_of_user(&self.bob).await.unwrap();
        sessions.last().expect("bob has a session").id.clone()
    }

    /// The events written since `before` (login events of the sign-ins the run needed left out),
    /// with `actor` checked and run-made ids replaced.
    async fn events_since(&self, before: &[String], actor: &str, ids: &[(&str, String)]) -> Vec<Seen> {
        let q = AuditQuery { limit: 100_000, ..AuditQuery::default() };
        let mut seen = Vec::new();
        for e in self.p.app.directory.audit_events(&q).await.unwrap() {
            if before.contains(&e.id) || e.kind == "login" {
                continue;
            }
            let mut detail: Value = serde_json::from_str(&e.detail).unwrap();
            if e.kind == "user_sessions_revoked" {
                // The reason names who acted ("disabled by an admin", "disabled from the CLI").
                assert!(detail["reason"].is_string(), "{detail}");
                detail["reason"] = json!("<reason>");
                assert_eq!(e.actor, None);
            } else {
                assert_eq!(e.actor.as_deref(), Some(actor), "{}", e.kind);
            }
            let mut subject = e.subject.clone();
            let mut detail = detail.to_string();
            for (name, value) in ids {
                detail = detail.replace(value.as_str(), &format!("<{name}>"));
                if subject.as_deref() == Some(value.as_str()) {
                    subject = Some(format!("<{name}>"));
                }
            }
            seen.push(Seen { kind: e.kind, subject, detail });
        }
        seen.sort();
        seen
    }
}

#[tokio::test]
async fn the_admin_api_and_the_cli_write_the_same_audit_events() {
    let p = TestProvider::start_with(|c| c.admin_token = Some(Secret(BOOTSTRAP.into()))).await;
    p.register("rp", false, true).await;
    common::obtain_code(&p, &Browser::new("bob"), "rp").await;
    let (users, _) = p.app.directory.list_users(Some("bob"), 0, 10).await.unwrap();
    let bob = users.first().expect("bob signed in").id.clone();
    let h = Harness { p, http: reqwest::Client::new(), dir: tempfile::tempdir().unwrap(), bob };
    let bob = h.bob.as_str();

    // Through the admin API.
    let before = h.audit_ids().await;
    h.api(Method::POST, "/clients", Some(json!({ "id": "parity-app", "redirect_uris": [REDIRECT_URI] }))).await;
    let body = json!({ "name": "Parity", "require_pushed_authorization_requests": true });
    let updated = h.api(Method::PATCH, "/clients/parity-app", Some(body)).await;
    assert_eq!(updated["require_pushed_authorization_requests"], true);
    h.api(Method::POST, "/clients/parity-app/secret", None).await;
    h.api(Method::DELETE, "/clients/parity-app", None).await;
    h.api(Method::POST, "/roles", Some(json!({ "name": "parity-role" }))).await;
    h.api(Method::PATCH, "/roles/parity-role", Some(json!({ "description": "for the test" }))).await;
    h.api(Method::PUT, &format!("/users/{bob}/roles/parity-role"), None).await;
    h.api(Method::DELETE, &format!("/users/{bob}/roles/parity-role"), None).await;
    let mapping =
        h.api(Method::POST, "/mappings", Some(json!({ "role": "parity-role", "rule": { "kind": "org_admin" } }))).await;
    let mapping = mapping["id"].as_str().unwrap().to_string();
    h.api(Method::DELETE, &format!("/mappings/{mapping}"), None).await;
    h.api(Method::DELETE, "/roles/parity-role", None).await;
    let sid = h.bob_session().await;
    h.api(Method::DELETE, &format!("/sessions/{sid}"), None).await;
    h.api(Method::DELETE, &format!("/users/{bob}/sessions"), None).await;
    h.api(Method::POST, &format!("/users/{bob}/disable"), None).await;
    h.api(Method::POST, &format!("/users/{bob}/enable"), None).await;
    let rotated = h.api(Method::POST, "/keys/rotate", Some(json!({}))).await;
    let kid = rotated["kid"].as_str().unwrap().to_string();
    h.api(Method::POST, &format!("/keys/{kid}/revoke"), None).await;
    let issued = h.api(Method::POST, "/registration-tokens", Some(json!({ "description": "parity" }))).await;
    let initial = issued["id"].as_str().unwrap().to_string();
    assert!(issued["initial_access_token"].as_str().is_some_and(|t| t.len() >= 43), "{issued}");
    h.api(Method::DELETE, &format!("/registration-tokens/{initial}"), None).await;
    let ids = [("mapping", mapping), ("kid", kid), ("initial", initial)];
    let api = h.events_since(&before, "bootstrap", &ids).await;

    // Through the CLI.
    let before = h.audit_ids().await;
    h.cli(&["clients", "add", "--id", "parity-app", "--redirect-uri", REDIRECT_URI]);
    h.cli(&["clients", "update", "parity-app", "--name", "Parity", "--require-par", "true"]);
    let updated = h.p.app.directory.client("parity-app").await.unwrap().unwrap();
    assert!(updated.require_pushed_authorization_requests, "the CLI sets what the API sets");
    h.cli(&["clients", "rotate-secret", "parity-app"]);
    h.cli(&["clients", "remove", "parity-app"]);
    h.cli(&["roles", "create", "parity-role"]);
    h.cli(&["roles", "update", "parity-role", "--description", "for the test"]);
    h.cli(&["roles", "grant", "--user", bob, "--role", "parity-role"]);
    h.cli(&["roles", "revoke", "--user", bob, "--role", "parity-role"]);
    let created = h.cli(&["roles", "mappings", "add", "--role", "parity-role", "--org-admin"]);
    let mapping = created.trim().strip_prefix("mapping ").and_then(|s| s.strip_suffix(" created")).unwrap().to_string();
    h.cli(&["roles", "mappings", "remove", &mapping]);
    h.cli(&["roles", "delete", "parity-role"]);
    let sid = h.bob_session().await;
    h.cli(&["sessions", "revoke", "--session", &sid]);
    h.cli(&["sessions", "revoke", "--user", bob]);
    h.cli(&["users", "disable", bob]);
    h.cli(&["users", "enable", bob]);
    let rotated = h.cli(&["keys", "rotate"]);
    let kid = rotated.strip_prefix("key ").and_then(|s| s.split_whitespace().next()).unwrap().to_string();
    h.cli(&["keys", "revoke", &kid]);
    let issued = h.cli(&["registration-tokens", "issue", "--description", "parity"]);
    let initial = issued.split_whitespace().nth(3).unwrap().to_string();
    assert!(issued.contains("token: "), "{issued}");
    h.cli(&["registration-tokens", "revoke", &initial]);
    let ids = [("mapping", mapping), ("kid", kid), ("initial", initial)];
    let cli = h.events_since(&before, "cli", &ids).await;

    let kinds: Vec<&str> = api.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "client_created",
        "client_updated",
        "client_secret_rotated",
        "client_deleted",
        "role_created",
        "role_updated",
        "role_granted",
        "role_grant_revoked",
        "mapping_created",
        "mapping_deleted",
        "role_deleted",
        "session_revoked",
        "sessions_revoked",
        "user_disabled",
        "user_enabled",
        "key_rotated",
        "key_revoked",
        "initial_token_issued",
        "initial_token_revoked",
    ] {
        assert!(kinds.contains(&kind), "the API run wrote no {kind}: {kinds:?}");
    }
    let only_api: Vec<&Seen> = api.iter().filter(|e| !cli.contains(e)).collect();
    let only_cli: Vec<&Seen> = cli.iter().filter(|e| !api.contains(e)).collect();
    assert_eq!(api, cli, "only through the API: {only_api:?}; only through the CLI: {only_cli:?}");
}
