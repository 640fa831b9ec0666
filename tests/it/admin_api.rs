//! The admin REST API (`/admin/v1`): who may call it (401 without a valid admin credential, 403
//! without the `admin` or `auditor` role, auditors read only, the bootstrap token acts as admin),
//! then per resource the success, 400 (naming the field), 404 and 409 answers and what a change
//! does to the protocol (a disabled user's refresh fails at once, a rotated secret stops working).
//!
//! The route sweeps run one table (`routes`) against every kind of refused credential and check
//! afterwards that nothing changed.

use crate::common;

use crate::common::{Browser, CHALLENGE, REDIRECT_URI, TestProvider, VERIFIER, token_request, unverified_claims};
use dingtalk_oidc::config::Secret;
use dingtalk_oidc::directory::NewClient;
use dingtalk_oidc::directory::roles::MappingRule;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BOOTSTRAP: &str = "bootstrap-secret-for-tests";
/// A first-party client allowed to ask for the `admin` scope (an admin console).
const CONSOLE: &str = "console";
const UNKNOWN_USER: &str = "00000000-0000-4000-8000-000000000000";

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}")).to_string()
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    /// Asserts the status; `what` names the request in the failure message.
    fn expect(&self, status: StatusCode, what: &str) -> &Value {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        &self.body
    }

    /// Asserts an error answer: status, `{"error": code, "message": ...}`, `field` when given, and
    /// on 401 a `WWW-Authenticate: Bearer` challenge.
    fn expect_error(&self, status: StatusCode, code: &str, field: Option<&str>, what: &str) {
        if let Some(problem) = self.error_mismatch(status, code, field) {
            panic!("{what}: {problem}");
        }
    }

    /// What differs from the expected error answer, if anything.
    fn error_mismatch(&self, status: StatusCode, code: &str, field: Option<&str>) -> Option<String> {
        let mut problems = Vec::new();
        if self.status != status {
            problems.push(format!("status {} (expected {status})", self.status));
        }
        if self.body["error"] != code {
            problems.push(format!("error {} (expected {code:?})", self.body["error"]));
        }
        if !self.body["message"].is_string() {
            problems.push("no message".into());
        }
        if let Some(field) = field
            && self.body["field"] != field
        {
            problems.push(format!("field {} (expected {field:?})", self.body["field"]));
        }
        if status == StatusCode::UNAUTHORIZED {
            let challenge = self.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !challenge.starts_with("Bearer") {
                problems.push(format!("WWW-Authenticate {challenge:?} (expected Bearer)"));
            }
        }
        (!problems.is_empty()).then(|| format!("{} — body {}", problems.join(", "), self.text))
    }
}

struct Admin {
    p: TestProvider,
    http: reqwest::Client,
    console_secret: String,
}

impl Admin {
    async fn start() -> Admin {
        let p = TestProvider::start_with(|c| c.admin_token = Some(Secret(BOOTSTRAP.into()))).await;
        let console_secret = p
            .app
            .directory
            .create_client(NewClient {
                id: CONSOLE.into(),
                redirect_uris: vec![REDIRECT_URI.into()],
                first_party: true,
                allowed_scopes: Some(vec!["openid".into(), "admin".into(), "roles".into()]),
                ..Default::default()
            })
            .await
            .unwrap()
            .1
            .unwrap();
        Admin { p, http: reqwest::Client::new(), console_secret }
    }

    fn v1(&self, path: &str) -> String {
        format!("{}/admin/v1{path}", self.p.issuer)
    }

    /// One request to the admin API with `Authorization: Bearer <token>` when a token is given.
    async fn call(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, self.v1(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    /// A request with the bootstrap token.
    async fn boot(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(Some(BOOTSTRAP), method, path, body).await
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.boot(Method::GET, path, None).await;
        r.expect(StatusCode::OK, &format!("GET {path}")).clone()
    }

    /// Signs `browser` in at the console client with `scope`; the token response.
    async fn login_with(&self, browser: &Browser, scope: &str) -> Value {
        let url = common::authorize_url(
            &self.p.issuer,
            &[
                ("client_id", CONSOLE),
                ("redirect_uri", REDIRECT_URI),
                ("response_type", "code"),
                ("scope", scope),
                ("state", "st"),
                ("nonce", "n-admin"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        );
        let landing = browser.journey(&url, true).await;
        let code = landing.param("code").unwrap_or_else(|| panic!("{} gets a code: {landing:?}", browser.login));
        common::exchange_code(&self.p, CONSOLE, &self.console_secret, &code).await
    }

    async fn login(&self, who: &str, scope: &str) -> Value {
        self.login_with(&Browser::new(who), scope).await
    }

    /// The user's `sub`, creating the user by a first login.
    async fn sub_of(&self, who: &str) -> String {
        s(&unverified_claims(&s(&self.login(who, "openid").await, "id_token")), "sub")
    }

    /// An admin-audience access token (`scope=openid admin`) of `who`, who holds `role` (granted
    /// before the login, since roles are computed at login).
    async fn admin_token_of(&self, who: &str, role: Option<&str>) -> String {
        if let Some(role) = role {
            let sub = self.sub_of(who).await;
            let d = &self.p.app.directory;
            if d.role(role).await.unwrap().is_none() {
                d.create_role(role, &format!("{role} of the admin API")).await.unwrap();
            }
            d.grant_role(&sub, role).await.unwrap();
        }
        let tokens = self.login(who, "openid admin").await;
        let access = s(&tokens, "access_token");
        assert_eq!(unverified_claims(&access)["aud"], format!("{}/admin", self.p.issuer), "admin audience");
        access
    }

    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        let (status, _, body) = token_request(
            &self.p,
            Some((CONSOLE, &self.console_secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .await;
        (status, body)
    }

    async fn userinfo_status(&self, access_token: &str) -> StatusCode {
        self.http.get(self.p.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status()
    }

    /// How /token judges `secret` for `client`: 401 invalid_client for a wrong secret, 400
    /// invalid_grant (the bogus code) for the right one.
    async fn secret_verdict(&self, client: &str, secret: &str) -> (StatusCode, String) {
        let (status, _, body) = token_request(
            &self.p,
            Some((client, secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", "bogus-code"),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        (status, body["error"].as_str().unwrap_or_default().to_string())
    }
}

/// Something of every kind for the route table to point at: a confidential client `target`, a
/// public client `public-target`, bob (logged in, holding `target-role` directly, one session), a
/// mapping and the signing keys.
struct Fixture {
    bob: String,
    bob_sid: String,
    mapping: String,
    kid: String,
    target_secret: String,
}

async fn fixture(a: &Admin) -> Fixture {
    let d = &a.p.app.directory;
    let target_secret = a.p.register("target", false, false).await.unwrap();
    a.p.register("public-target", true, false).await;
    d.create_role("target-role", "the sweep's target").await.unwrap();
    d.create_role("spare-role", "granted by nobody").await.unwrap();
    let mapping = d.create_mapping(
        "ding-demo-corp",
        "target-role",
        MappingRule::Department { dept_id: 3, include_sub_departments: false },
    );
    let mapping = mapping.await.unwrap().id;
    let tokens = a.login("bob", "openid").await;
    let id = unverified_claims(&s(&tokens, "id_token"));
    let bob = s(&id, "sub");
    d.grant_role(&bob, "target-role").await.unwrap();
    let keys = a.get("/keys").await;
    let kid = keys.as_array().unwrap().iter().find(|k| k["state"] == "active").expect("an active key")["kid"]
        .as_str()
        .unwrap()
        .to_string();
    Fixture { bob, bob_sid: s(&id, "sid"), mapping, kid, target_secret }
}

struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
}

/// Every admin route once, aimed at the fixture, with a valid body.
fn routes(f: &Fixture) -> Vec<Route> {
    let r = |method: Method, path: &str, body: Option<Value>| Route { method, path: path.to_string(), body };
    let bob = &f.bob;
    vec![
        r(Method::GET, "/clients", None),
        r(Method::POST, "/clients", Some(json!({"id": "sweep-new", "redirect_uris": [REDIRECT_URI]}))),
        r(Method::GET, "/clients/target", None),
        r(Method::PATCH, "/clients/target", Some(json!({"name": "Changed by the sweep"}))),
        r(Method::DELETE, "/clients/target", None),
        r(Method::POST, "/clients/target/secret", None),
        r(Method::GET, "/users?search=bob&offset=0&limit=10", None),
        r(Method::GET, &format!("/users/{bob}"), None),
        r(Method::POST, &format!("/users/{bob}/disable"), None),
        r(Method::POST, &format!("/users/{bob}/enable"), None),
        r(Method::GET, &format!("/users/{bob}/roles"), None),
        r(Method::PUT, &format!("/users/{bob}/roles/spare-role"), None),
        r(Method::DELETE, &format!("/users/{bob}/roles/target-role"), None),
        r(Method::GET, &format!("/users/{bob}/sessions"), None),
        r(Method::DELETE, &format!("/users/{bob}/sessions"), None),
        r(Method::DELETE, &format!("/sessions/{}", f.bob_sid), None),
        r(Method::POST, "/roles", Some(json!({"name": "sweep-new-role", "description": "x"}))),
        r(Method::GET, "/roles", None),
        r(Method::GET, "/roles/target-role", None),
        r(Method::PATCH, "/roles/target-role", Some(json!({"description": "changed by the sweep"}))),
        r(Method::DELETE, "/roles/target-role", None),
        r(Method::POST, "/mappings", Some(json!({"role": "target-role", "rule": {"kind": "org_admin"}}))),
        r(Method::GET, "/mappings", None),
        r(Method::GET, &format!("/mappings/{}", f.mapping), None),
        r(
            Method::PUT,
            &format!("/mappings/{}", f.mapping),
            Some(json!({"role": "target-role", "rule": {"kind": "department", "dept_id": 3}})),
        ),
        r(Method::DELETE, &format!("/mappings/{}", f.mapping), None),
        r(Method::GET, "/keys", None),
        r(Method::POST, "/keys/rotate", Some(json!({"now": false}))),
        r(Method::POST, &format!("/keys/{}/revoke", f.kid), None),
        r(Method::GET, "/audit?limit=10", None),
    ]
}

/// The state the route table could change, read with the bootstrap token.
async fn snapshot(a: &Admin, f: &Fixture) -> Value {
    let bob = &f.bob;
    let mut users = a.get("/users").await;
    // Logins of the callers themselves are not what a sweep may change.
    for u in users["users"].as_array_mut().unwrap() {
        u.as_object_mut().unwrap().remove("last_login_at");
    }
    json!({
        "clients": a.get("/clients").await,
        "users": users["users"].as_array().unwrap().iter().filter(|u| u["id"] == *bob).cloned().collect::<Vec<_>>(),
        "bob_roles": a.get(&format!("/users/{bob}/roles")).await,
        "bob_sessions": a.get(&format!("/users/{bob}/sessions")).await,
        "roles": a.get("/roles").await,
        "mappings": a.get("/mappings").await,
        "keys": a.get("/keys").await,
    })
}

async fn assert_untouched(a: &Admin, f: &Fixture, before: &Value, who: &str) {
    assert_eq!(&snapshot(a, f).await, before, "{who} changed nothing");
    assert_eq!(
        a.secret_verdict("target", &f.target_secret).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into()),
        "{who}: target's secret still works"
    );
}

#[tokio::test]
async fn every_route_answers_401_without_a_valid_admin_credential() {
    let a = Admin::start().await;
    let f = fixture(&a).await;
    // alice is an admin: only the kind of credential is wrong below.
    a.admin_token_of("alice", Some("admin")).await;
    let plain = a.login("alice", "openid").await;
    let id_token = s(&plain, "id_token");
    let userinfo_token = s(&plain, "access_token");
    assert_ne!(unverified_claims(&userinfo_token)["aud"], format!("{}/admin", a.p.issuer));
    let before = snapshot(&a, &f).await;
    let credentials: [(&str, Option<&str>); 6] = [
        ("no Authorization", None),
        ("a wrong bootstrap token", Some("bootstrap-secret-for-tests-not")),
        ("an empty token", Some("")),
        ("a garbage token", Some("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")),
        ("an ID token", Some(&id_token)),
        ("a userinfo-audience access token", Some(&userinfo_token)),
    ];
    for route in routes(&f) {
        for (what, token) in credentials {
            let r = a.call(token, route.method.clone(), &route.path, route.body.clone()).await;
            r.expect_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                None,
                &format!("{} {} with {what}", route.method, route.path),
            );
        }
    }
    // Basic credentials of a client are no admin credential either.
    let r = a.http.get(a.v1("/clients")).basic_auth("target", Some(&f.target_secret)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "Basic auth");
    assert_untouched(&a, &f, &before, "unauthenticated callers").await;
}

#[tokio::test]
async fn an_expired_admin_access_token_is_refused_with_401() {
    let a = Admin::start().await;
    let token = a.admin_token_of("alice", Some("admin")).await;
    a.call(Some(&token), Method::GET, "/clients", None).await.expect(StatusCode::OK, "fresh admin token");
    a.p.clock.advance(3600);
    let r = a.call(Some(&token), Method::GET, "/clients", None).await;
    r.expect_error(StatusCode::UNAUTHORIZED, "invalid_token", None, "expired admin token");
    a.boot(Method::GET, "/clients", None).await.expect(StatusCode::OK, "the bootstrap token does not expire");
}

#[tokio::test]
async fn every_route_answers_403_to_a_user_with_neither_admin_nor_auditor() {
    let a = Admin::start().await;
    let f = fixture(&a).await;
    // carol holds a role, just not one of the admin API's.
    let token = a.admin_token_of("carol", Some("target-role")).await;
    let before = snapshot(&a, &f).await;
    for route in routes(&f) {
        let r = a.call(Some(&token), route.method.clone(), &route.path, route.body.clone()).await;
        r.expect_error(StatusCode::FORBIDDEN, "insufficient_scope", None, &format!("{} {}", route.method, route.path));
    }
    assert_untouched(&a, &f, &before, "a user without the role").await;
}

#[tokio::test]
async fn an_auditor_reads_every_resource_but_changes_none() {
    let a = Admin::start().await;
    let f = fixture(&a).await;
    let token = a.admin_token_of("carol", Some("auditor")).await;
    let before = snapshot(&a, &f).await;
    for route in routes(&f) {
        let what = format!("auditor: {} {}", route.method, route.path);
        let r = a.call(Some(&token), route.method.clone(), &route.path, route.body.clone()).await;
        if route.method == Method::GET {
            r.expect(StatusCode::OK, &what);
        } else {
            r.expect_error(StatusCode::FORBIDDEN, "insufficient_scope", None, &what);
        }
    }
    assert_untouched(&a, &f, &before, "an auditor").await;
}

#[tokio::test]
async fn an_admin_user_and_the_bootstrap_token_may_change_things_and_are_audited_as_actors() {
    let a = Admin::start().await;
    let token = a.admin_token_of("alice", Some("admin")).await;
    let alice = s(&unverified_claims(&token), "sub");
    let r = a.call(Some(&token), Method::POST, "/roles", Some(json!({"name": "by-alice", "description": "d"}))).await;
    r.expect(StatusCode::CREATED, "admin user creates a role");
    let r = a.boot(Method::POST, "/roles", Some(json!({"name": "by-bootstrap", "description": "d"}))).await;
    r.expect(StatusCode::CREATED, "bootstrap creates a role");
    let events = a.get("/audit?kind=role_created").await;
    let events = events.as_array().unwrap();
    assert!(events.iter().any(|e| e["actor"] == "bootstrap"), "role_created by bootstrap in {events:?}");
    assert!(events.iter().any(|e| e["actor"] == alice.as_str()), "role_created by alice's id in {events:?}");
    let mine = a.get(&format!("/audit?actor={alice}")).await;
    assert!(!mine.as_array().unwrap().is_empty());
    assert!(mine.as_array().unwrap().iter().all(|e| e["actor"] == alice.as_str()), "actor filter: {mine}");
    // The admin user may delete too; the change is visible to the bootstrap token.
    let r = a.call(Some(&token), Method::DELETE, "/roles/by-bootstrap", None).await;
    r.expect(StatusCode::NO_CONTENT, "admin user deletes a role");
    a.boot(Method::GET, "/roles/by-bootstrap", None).await.expect_error(
        StatusCode::NOT_FOUND,
        "not_found",
        None,
        "gone",
    );
}

#[tokio::test]
async fn every_route_naming_an_unknown_thing_answers_404() {
    let a = Admin::start().await;
    let f = fixture(&a).await;
    let bob = &f.bob;
    let nobody = UNKNOWN_USER;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/clients/nope".into(), None),
        (Method::PATCH, "/clients/nope".into(), Some(json!({"name": "x"}))),
        (Method::DELETE, "/clients/nope".into(), None),
        (Method::POST, "/clients/nope/secret".into(), None),
        (Method::GET, format!("/users/{nobody}"), None),
        (Method::POST, format!("/users/{nobody}/disable"), None),
        (Method::POST, format!("/users/{nobody}/enable"), None),
        (Method::GET, format!("/users/{nobody}/roles"), None),
        (Method::PUT, format!("/users/{nobody}/roles/target-role"), None),
        (Method::PUT, format!("/users/{bob}/roles/no-such-role"), None),
        (Method::DELETE, format!("/users/{nobody}/roles/target-role"), None),
        (Method::DELETE, format!("/users/{bob}/roles/no-such-role"), None),
        (Method::DELETE, "/sessions/no-such-session".into(), None),
        (Method::GET, "/roles/nope".into(), None),
        (Method::PATCH, "/roles/nope".into(), Some(json!({"description": "x"}))),
        (Method::DELETE, "/roles/nope".into(), None),
        (Method::DELETE, "/mappings/no-such-mapping".into(), None),
        (Method::GET, "/mappings/no-such-mapping".into(), None),
        (
            Method::PUT,
            "/mappings/no-such-mapping".into(),
            Some(json!({"role": "target-role", "rule": {"kind": "org_admin"}})),
        ),
        (Method::POST, "/keys/no-such-kid/revoke".into(), None),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path}");
        a.boot(method, &path, body).await.expect_error(StatusCode::NOT_FOUND, "not_found", None, &what);
    }
}

#[tokio::test]
async fn every_bad_input_answers_400_naming_the_field() {
    let a = Admin::start().await;
    let _f = fixture(&a).await;
    let uuid = "6f1c1a52-3c1e-4b59-9d1b-2f3b1c0e6a11";
    let cases: Vec<(Method, &str, Value, Option<&str>)> = vec![
        (Method::POST, "/clients", json!({"id": "a b", "redirect_uris": [REDIRECT_URI]}), Some("id")),
        (Method::POST, "/clients", json!({"id": uuid, "redirect_uris": [REDIRECT_URI]}), Some("id")),
        (
            Method::POST,
            "/clients",
            json!({"id": "x", "redirect_uris": ["http://evil.example/cb"]}),
            Some("redirect_uris"),
        ),
        (Method::POST, "/clients", json!({"id": "x", "redirect_uris": []}), Some("redirect_uris")),
        (Method::POST, "/clients", json!({"id": "x"}), None),
        (
            Method::POST,
            "/clients",
            json!({"id": "x", "redirect_uris": [REDIRECT_URI], "allowed_scopes": ["profile"]}),
            Some("allowed_scopes"),
        ),
        (Method::PATCH, "/clients/target", json!({"redirect_uris": ["http://evil.example/cb"]}), Some("redirect_uris")),
        (Method::PATCH, "/clients/target", json!({"redirect_uris": []}), Some("redirect_uris")),
        (Method::PATCH, "/clients/target", json!({"allowed_scopes": ["profile"]}), Some("allowed_scopes")),
        (Method::PATCH, "/clients/target", json!({"first_party": "yes"}), None),
        (
            Method::POST,
            "/clients",
            json!({"id": "x", "redirect_uris": [REDIRECT_URI], "access_token_ttl_secs": 59}),
            Some("access_token_ttl_secs"),
        ),
        (
            Method::POST,
            "/clients",
            json!({"id": "x", "redirect_uris": [REDIRECT_URI], "id_token_ttl_secs": 86401}),
            Some("id_token_ttl_secs"),
        ),
        (Method::PATCH, "/clients/target", json!({"id_token_ttl_secs": 0}), Some("id_token_ttl_secs")),
        (Method::PATCH, "/clients/target", json!({"access_token_ttl_secs": 100000}), Some("access_token_ttl_secs")),
        (Method::PATCH, "/clients/target", json!({"access_token_ttl_secs": -60}), None),
        (Method::POST, "/roles", json!({"name": "bad name", "description": "x"}), Some("name")),
        (Method::POST, "/roles", json!({"name": "", "description": "x"}), Some("name")),
        // (A number where a string is expected is not refused: poem-openapi 5 coerces JSON numbers
        // and booleans into `String` fields, so `{"description": 5}` stores "5".)
        (Method::PATCH, "/roles/target-role", json!({"description": ["not", "a", "string"]}), None),
        (Method::POST, "/mappings", json!({"role": "no-such-role", "rule": {"kind": "org_admin"}}), Some("role")),
        (Method::POST, "/mappings", json!({"role": "target-role", "rule": {"kind": "astrology"}}), Some("rule")),
        (Method::POST, "/keys/rotate", json!({"now": "soon"}), None),
    ];
    // Every case is tried; the failure lists all that answered otherwise.
    let mut problems = Vec::new();
    for (method, path, body, field) in cases {
        let what = format!("{method} {path} {body}");
        let r = a.boot(method, path, Some(body)).await;
        problems.extend(
            r.error_mismatch(StatusCode::BAD_REQUEST, "invalid_request", field).map(|p| format!("{what}: {p}")),
        );
    }
    // A public client has no secret to rotate.
    let r = a.boot(Method::POST, "/clients/public-target/secret", None).await;
    let mismatch = r.error_mismatch(StatusCode::BAD_REQUEST, "invalid_request", None);
    problems.extend(mismatch.map(|p| format!("secret of a public client: {p}")));
    // Query parameters that do not parse.
    for path in ["/users?limit=abc", "/users?offset=-x", "/audit?limit=abc", "/audit?since=yesterday"] {
        let r = a.boot(Method::GET, path, None).await;
        problems.extend(
            r.error_mismatch(StatusCode::BAD_REQUEST, "invalid_request", None).map(|p| format!("GET {path}: {p}")),
        );
    }
    // A body that is not JSON.
    let resp = a
        .http
        .post(a.v1("/roles"))
        .bearer_auth(BOOTSTRAP)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (status, body["error"].as_str()) != (StatusCode::BAD_REQUEST, Some("invalid_request")) {
        problems.push(format!("POST /roles with a malformed JSON body: {status} {text}"));
    }
    assert!(
        problems.is_empty(),
        "{} bad inputs not answered 400 invalid_request:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Nothing was created by the refused requests.
    let clients = a.get("/clients").await;
    assert!(!clients.as_array().unwrap().iter().any(|c| c["id"] == "x" || c["id"] == uuid), "{clients}");
}

/// A client registered without `allowed_scopes` gets the documented default (the spec's field
/// description, docs/connecting-apps.md): `roles` and `groups` are opt-in, so a client that asks
/// for them is granted neither the scopes nor their claims.
#[tokio::test]
async fn a_client_registered_without_allowed_scopes_is_not_granted_the_opt_in_roles_and_groups() {
    let a = Admin::start().await;
    let r = a
        .boot(
            Method::POST,
            "/clients",
            Some(json!({"id": "plain", "redirect_uris": [REDIRECT_URI], "first_party": true})),
        )
        .await;
    let created = r.expect(StatusCode::CREATED, "POST /clients without allowed_scopes").clone();
    assert_eq!(created["client"]["allowed_scopes"], json!(["openid", "profile", "email", "phone", "offline_access"]));
    let secret = s(&created, "client_secret");
    let code = common::obtain_code_for_scope(&a.p, &Browser::new("alice"), "plain", "openid email roles groups").await;
    let tokens = common::exchange_code(&a.p, "plain", &secret, &code).await;
    assert_eq!(tokens["scope"], "openid email");
    common::assert_not_granted(&a.p, &tokens, &["roles", "groups"], &["roles", "groups", "groups_display"]).await;
}

#[tokio::test]
async fn clients_are_registered_shown_without_secret_changed_rotated_and_removed() {
    let a = Admin::start().await;
    // Create: a confidential client gets its secret once.
    let r = a
        .boot(
            Method::POST,
            "/clients",
            Some(json!({
                "id": "wiki",
                "name": "Team wiki",
                "redirect_uris": [REDIRECT_URI],
                "post_logout_redirect_uris": ["https://wiki.example/bye"],
                "first_party": true,
                "allowed_scopes": ["openid", "profile", "roles"],
                "grant_types": ["authorization_code"],
                "backchannel_logout_uri": "https://wiki.example/bc",
                "resource_server": false,
            })),
        )
        .await;
    let created = r.expect(StatusCode::CREATED, "POST /clients").clone();
    let secret = s(&created, "client_secret");
    assert_eq!(created["client"]["id"], "wiki");
    assert_eq!(created["client"]["name"], "Team wiki");
    assert_eq!(created["client"]["redirect_uris"], json!([REDIRECT_URI]));
    assert_eq!(created["client"]["allowed_scopes"], json!(["openid", "profile", "roles"]));
    assert_eq!(created["client"]["grant_types"], json!(["authorization_code"]));
    assert_eq!(created["client"]["public"], false);
    assert_eq!(a.secret_verdict("wiki", &secret).await, (StatusCode::BAD_REQUEST, "invalid_grant".into()));

    // A public client gets no secret.
    let r = a
        .boot(Method::POST, "/clients", Some(json!({"id": "spa", "redirect_uris": [REDIRECT_URI], "public": true})))
        .await;
    let spa = r.expect(StatusCode::CREATED, "POST /clients public").clone();
    assert!(spa["client_secret"].is_null(), "no secret for a public client: {spa}");
    assert_eq!(spa["client"]["public"], true);

    // A duplicate id conflicts.
    let r = a.boot(Method::POST, "/clients", Some(json!({"id": "wiki", "redirect_uris": [REDIRECT_URI]}))).await;
    r.expect_error(StatusCode::CONFLICT, "conflict", None, "duplicate client id");

    // Read: never the secret or its hash.
    let listed = a.boot(Method::GET, "/clients", None).await;
    let list = listed.expect(StatusCode::OK, "GET /clients").as_array().unwrap().clone();
    let ids: Vec<&str> = list.iter().filter_map(|c| c["id"].as_str()).collect();
    assert!(ids.contains(&"wiki") && ids.contains(&"spa") && ids.contains(&CONSOLE), "{ids:?}");
    let one = a.boot(Method::GET, "/clients/wiki", None).await;
    one.expect(StatusCode::OK, "GET /clients/wiki");
    assert_eq!(one.body["name"], "Team wiki");
    assert_eq!(one.body["backchannel_logout_uri"], "https://wiki.example/bc");
    for reply in [&listed, &one] {
        assert!(!reply.text.contains(&secret), "the secret is shown once only");
        // No secret member (`token_endpoint_auth_method` may name `client_secret_basic`).
        assert!(!reply.text.contains("secret_hash") && !reply.text.contains("\"client_secret\""), "{}", reply.text);
        assert!(!reply.text.contains(&dingtalk_oidc::secrets::hash(&secret)), "no secret hash");
    }

    // Update.
    let r = a
        .boot(
            Method::PATCH,
            "/clients/wiki",
            Some(json!({
                "name": "Wiki",
                "redirect_uris": [REDIRECT_URI, "https://wiki.example/cb"],
                "first_party": false,
                "grant_types": ["authorization_code", "refresh_token"],
                "id_token_on_refresh": false,
            })),
        )
        .await;
    let updated = r.expect(StatusCode::OK, "PATCH /clients/wiki").clone();
    assert_eq!(updated["name"], "Wiki");
    assert_eq!(updated["redirect_uris"], json!([REDIRECT_URI, "https://wiki.example/cb"]));
    assert_eq!(updated["first_party"], false);
    assert_eq!(updated["id_token_on_refresh"], false);
    assert_eq!(updated["allowed_scopes"], json!(["openid", "profile", "roles"]), "unnamed fields stay");
    assert_eq!(a.get("/clients/wiki").await["name"], "Wiki", "the change is stored");

    // Secret rotation: the old secret stops working at once.
    let r = a.boot(Method::POST, "/clients/wiki/secret", None).await;
    let new_secret = s(r.expect(StatusCode::OK, "POST /clients/wiki/secret"), "client_secret");
    assert_ne!(new_secret, secret);
    assert_eq!(a.secret_verdict("wiki", &secret).await, (StatusCode::UNAUTHORIZED, "invalid_client".into()));
    assert_eq!(a.secret_verdict("wiki", &new_secret).await, (StatusCode::BAD_REQUEST, "invalid_grant".into()));

    // Delete.
    a.boot(Method::DELETE, "/clients/wiki", None).await.expect(StatusCode::NO_CONTENT, "DELETE /clients/wiki");
    a.boot(Method::GET, "/clients/wiki", None).await.expect_error(StatusCode::NOT_FOUND, "not_found", None, "deleted");
    a.boot(Method::DELETE, "/clients/wiki", None).await.expect_error(StatusCode::NOT_FOUND, "not_found", None, "again");
    assert_eq!(
        a.secret_verdict("wiki", &new_secret).await.0,
        StatusCode::UNAUTHORIZED,
        "a removed client cannot authenticate"
    );
}

/// Per-client token lifetimes: 60 s to 24 h (400 naming the field otherwise, and nothing changes);
/// on update an absent member leaves the value, null goes back to the global default; the tokens
/// minted for the client follow it.
#[tokio::test]
async fn client_token_lifetimes_are_bounded_kept_when_absent_cleared_by_null_and_applied() {
    let a = Admin::start().await;
    let r = a
        .boot(
            Method::POST,
            "/clients",
            Some(json!({"id": "argocd", "redirect_uris": [REDIRECT_URI], "id_token_ttl_secs": 28800})),
        )
        .await;
    let created = r.expect(StatusCode::CREATED, "POST /clients with id_token_ttl_secs").clone();
    assert_eq!(created["client"]["id_token_ttl_secs"], 28800);
    assert!(created["client"]["access_token_ttl_secs"].is_null(), "{created}");

    let r = a.boot(Method::PATCH, "/clients/argocd", Some(json!({"access_token_ttl_secs": 86400}))).await;
    let updated = r.expect(StatusCode::OK, "PATCH access_token_ttl_secs").clone();
    assert_eq!(updated["access_token_ttl_secs"], 86400);
    assert_eq!(updated["id_token_ttl_secs"], 28800, "an absent member is left as it is");

    let r = a.boot(Method::PATCH, "/clients/argocd", Some(json!({"id_token_ttl_secs": 86401}))).await;
    r.expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("id_token_ttl_secs"), "above 24 h");
    assert!(r.body["message"].as_str().unwrap().contains("between 60 and 86400"), "{}", r.text);
    assert_eq!(a.get("/clients/argocd").await["id_token_ttl_secs"], 28800, "a refused change changes nothing");

    let r = a.boot(Method::PATCH, "/clients/argocd", Some(json!({"id_token_ttl_secs": null}))).await;
    let cleared = r.expect(StatusCode::OK, "PATCH id_token_ttl_secs null").clone();
    assert!(cleared["id_token_ttl_secs"].is_null(), "null goes back to the global default: {cleared}");
    assert_eq!(cleared["access_token_ttl_secs"], 86400);
    assert!(a.get("/clients/argocd").await["id_token_ttl_secs"].is_null(), "the clearing is stored");

    // The console's tokens follow its lifetimes from its next login on.
    let r = a
        .boot(
            Method::PATCH,
            &format!("/clients/{CONSOLE}"),
            Some(json!({"id_token_ttl_secs": 28800, "access_token_ttl_secs": 3600})),
        )
        .await;
    r.expect(StatusCode::OK, "PATCH console lifetimes");
    let tokens = a.login("alice", "openid").await;
    let id = unverified_claims(&s(&tokens, "id_token"));
    assert_eq!(id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(), 28800);
    let access = unverified_claims(&s(&tokens, "access_token"));
    assert_eq!(access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(), 3600);
    assert_eq!(tokens["expires_in"], 3600);
}

#[tokio::test]
async fn users_are_searched_paged_and_shown() {
    let a = Admin::start().await;
    let alice = a.sub_of("alice").await;
    let bob = a.sub_of("bob").await;
    let carol = a.sub_of("carol").await;

    let all = a.get("/users").await;
    assert_eq!(all["total"], 3, "{all}");
    assert_eq!(all["users"].as_array().unwrap().len(), 3);

    for (search, expected) in [("ali", &alice), ("bob002", &bob), ("simUnion03Carol", &carol), ("Carol", &carol)] {
        let found = a.get(&format!("/users?search={search}")).await;
        assert_eq!(found["total"], 1, "search {search}: {found}");
        assert_eq!(found["users"][0]["id"], expected.as_str(), "search {search}");
    }
    let none = a.get("/users?search=zzz-nobody").await;
    assert_eq!((none["total"].as_i64(), none["users"].as_array().map(Vec::len)), (Some(0), Some(0)));

    // Paging: total counts all matches, the pages together hold each user once.
    let first = a.get("/users?offset=0&limit=2").await;
    let second = a.get("/users?offset=2&limit=2").await;
    assert_eq!((first["total"].as_i64(), second["total"].as_i64()), (Some(3), Some(3)));
    let mut ids: Vec<String> = first["users"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["users"].as_array().unwrap())
        .map(|u| s(u, "id"))
        .collect();
    assert_eq!(ids.len(), 3, "{first} {second}");
    ids.sort();
    let mut expected = vec![alice.clone(), bob.clone(), carol.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    let one = a.get(&format!("/users/{alice}")).await;
    assert_eq!(one["id"], alice.as_str());
    assert_eq!(one["name"], "Alice");
    assert_eq!(one["disabled"], false);
}

#[tokio::test]
async fn a_disabled_users_refresh_and_access_tokens_fail_at_once_and_enabling_lets_them_back() {
    let a = Admin::start().await;
    let tokens = a.login("alice", "openid").await;
    let alice = s(&unverified_claims(&s(&tokens, "id_token")), "sub");
    assert_eq!(a.userinfo_status(&s(&tokens, "access_token")).await, StatusCode::OK);

    let r = a.boot(Method::POST, &format!("/users/{alice}/disable"), None).await;
    assert_eq!(r.expect(StatusCode::OK, "disable")["disabled"], true);
    assert_eq!(a.get(&format!("/users/{alice}")).await["disabled"], true);
    let (status, body) = a.refresh(&s(&tokens, "refresh_token")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert_eq!(a.userinfo_status(&s(&tokens, "access_token")).await, StatusCode::UNAUTHORIZED);

    let r = a.boot(Method::POST, &format!("/users/{alice}/enable"), None).await;
    assert_eq!(r.expect(StatusCode::OK, "enable")["disabled"], false);
    let again = a.login("alice", "openid").await;
    let (status, body) = a.refresh(&s(&again, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "enabled again: {body}");
}

#[tokio::test]
async fn roles_grants_and_mappings_are_managed_and_take_effect_at_the_next_login() {
    let a = Admin::start().await;
    // Roles.
    let r = a.boot(Method::POST, "/roles", Some(json!({"name": "engineering", "description": "Engineers"}))).await;
    let role = r.expect(StatusCode::CREATED, "POST /roles").clone();
    assert_eq!((role["name"].as_str(), role["description"].as_str()), (Some("engineering"), Some("Engineers")));
    let r = a.boot(Method::POST, "/roles", Some(json!({"name": "engineering", "description": "again"}))).await;
    r.expect_error(StatusCode::CONFLICT, "conflict", None, "duplicate role");
    a.boot(Method::POST, "/roles", Some(json!({"name": "oncall", "description": "On call"})))
        .await
        .expect(StatusCode::CREATED, "oncall");
    let names: Vec<String> = a.get("/roles").await.as_array().unwrap().iter().map(|r| s(r, "name")).collect();
    assert!(names.contains(&"engineering".into()) && names.contains(&"oncall".into()), "{names:?}");
    assert_eq!(a.get("/roles/engineering").await["description"], "Engineers");
    let r = a.boot(Method::PATCH, "/roles/engineering", Some(json!({"description": "Builds things"}))).await;
    assert_eq!(r.expect(StatusCode::OK, "PATCH /roles")["description"], "Builds things");
    assert_eq!(a.get("/roles/engineering").await["description"], "Builds things");
    let audit = a.get("/audit?kind=role_created&actor=bootstrap").await;
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["kind"] == "role_created" && e["actor"] == "bootstrap"),
        "{audit}"
    );

    // Mappings: every rule kind is accepted.
    let rules = [
        json!({"kind": "department", "dept_id": 2, "include_sub_departments": true}),
        json!({"kind": "org_role", "role_id": 1101}),
        json!({"kind": "org_admin"}),
        json!({"kind": "department_leader"}),
        json!({"kind": "department_leader", "dept_id": 2}),
    ];
    let mut mapping_ids = Vec::new();
    for rule in rules {
        let r = a.boot(Method::POST, "/mappings", Some(json!({"role": "engineering", "rule": rule.clone()}))).await;
        let created = r.expect(StatusCode::CREATED, &format!("POST /mappings {rule}"));
        assert_eq!(created["role"], "engineering");
        mapping_ids.push(s(created, "id"));
    }
    // Replace one rule, read it back.
    let replaced = a
        .boot(
            Method::PUT,
            &format!("/mappings/{}", mapping_ids[2]),
            Some(json!({"role": "engineering", "rule": {"kind": "org_role", "role_id": 1102}})),
        )
        .await
        .expect(StatusCode::OK, "PUT /mappings/{id}")
        .clone();
    assert_eq!(replaced["rule"]["kind"], "org_role");
    assert_eq!(a.get(&format!("/mappings/{}", mapping_ids[2])).await["rule"]["role_id"], 1102);
    let bad = a
        .boot(
            Method::PUT,
            &format!("/mappings/{}", mapping_ids[2]),
            Some(json!({"role": "engineering", "rule": {"kind": "astrology"}})),
        )
        .await;
    bad.expect_error(StatusCode::BAD_REQUEST, "invalid_request", Some("rule"), "PUT with an unknown kind");
    let listed = a.get("/mappings").await;
    for id in &mapping_ids {
        assert!(listed.as_array().unwrap().iter().any(|m| m["id"] == id.as_str()), "{id} listed in {listed}");
    }
    for id in &mapping_ids[1..] {
        a.boot(Method::DELETE, &format!("/mappings/{id}"), None)
            .await
            .expect(StatusCode::NO_CONTENT, "DELETE /mappings");
    }
    let r = a.boot(Method::DELETE, &format!("/mappings/{}", mapping_ids[1]), None).await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found", None, "mapping deleted twice");
    assert_eq!(a.get("/mappings").await.as_array().unwrap().len(), 1);

    // Grants: the department mapping and a direct grant meet at alice's next login.
    let alice = a.sub_of("alice").await;
    let roles = a.get(&format!("/users/{alice}/roles")).await;
    assert_eq!(roles["direct"], json!([]));
    assert_eq!(roles["effective"], json!(["engineering"]), "mapped by department 2");
    let grant = format!("/users/{alice}/roles/oncall");
    a.boot(Method::PUT, &grant, None).await.expect(StatusCode::NO_CONTENT, "PUT grant");
    a.boot(Method::PUT, &grant, None).await.expect(StatusCode::NO_CONTENT, "PUT grant is idempotent");
    assert_eq!(a.get(&format!("/users/{alice}/roles")).await["direct"], json!(["oncall"]));
    let tokens = a.login("alice", "openid roles").await;
    assert_eq!(unverified_claims(&s(&tokens, "id_token"))["roles"], json!(["engineering", "oncall"]));
    assert_eq!(a.get(&format!("/users/{alice}/roles")).await["effective"], json!(["engineering", "oncall"]));
    a.boot(Method::DELETE, &grant, None).await.expect(StatusCode::NO_CONTENT, "DELETE grant");
    assert_eq!(a.get(&format!("/users/{alice}/roles")).await["direct"], json!([]));

    // Deleting a role.
    a.boot(Method::DELETE, "/roles/oncall", None).await.expect(StatusCode::NO_CONTENT, "DELETE /roles");
    a.boot(Method::GET, "/roles/oncall", None).await.expect_error(
        StatusCode::NOT_FOUND,
        "not_found",
        None,
        "deleted role",
    );
    a.boot(Method::DELETE, "/roles/oncall", None).await.expect_error(StatusCode::NOT_FOUND, "not_found", None, "twice");
}

#[tokio::test]
async fn ending_a_session_or_all_of_a_users_sessions_kills_their_session_bound_refresh_tokens() {
    let a = Admin::start().await;
    let tokens = a.login("alice", "openid").await;
    let id = unverified_claims(&s(&tokens, "id_token"));
    let (alice, sid) = (s(&id, "sub"), s(&id, "sid"));
    let sessions = a.get(&format!("/users/{alice}/sessions")).await;
    assert!(sessions.as_array().unwrap().iter().any(|x| x["id"] == sid.as_str()), "sid {sid} in {sessions}");

    a.boot(Method::DELETE, &format!("/sessions/{sid}"), None).await.expect(StatusCode::NO_CONTENT, "DELETE /sessions");
    let (status, body) = a.refresh(&s(&tokens, "refresh_token")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let sessions = a.get(&format!("/users/{alice}/sessions")).await;
    assert!(!sessions.as_array().unwrap().iter().any(|x| x["id"] == sid.as_str()), "{sessions}");
    let r = a.boot(Method::DELETE, &format!("/sessions/{sid}"), None).await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found", None, "ended session");

    let first = a.login("alice", "openid").await;
    let second = a.login("alice", "openid").await;
    assert_eq!(a.get(&format!("/users/{alice}/sessions")).await.as_array().unwrap().len(), 2);
    a.boot(Method::DELETE, &format!("/users/{alice}/sessions"), None)
        .await
        .expect(StatusCode::NO_CONTENT, "DELETE all");
    assert_eq!(a.get(&format!("/users/{alice}/sessions")).await, json!([]));
    for t in [&first, &second] {
        let (status, _) = a.refresh(&s(t, "refresh_token")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "session-bound refresh after DELETE /users/{{id}}/sessions");
    }
}

fn assert_no_private_material(v: &Value, text: &str) {
    fn walk(v: &Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    assert!(
                        k != "d" && k != "private_key_enc" && !k.to_ascii_uppercase().contains("PRIVATE"),
                        "member {k:?}"
                    );
                    walk(v);
                }
            }
            Value::Array(items) => items.iter().for_each(walk),
            _ => {}
        }
    }
    walk(v);
    assert!(!text.contains("PRIVATE"), "no PEM in {text}");
}

#[tokio::test]
async fn keys_are_listed_without_private_material_rotated_and_revoked() {
    let a = Admin::start().await;
    let r = a.boot(Method::GET, "/keys", None).await;
    let keys = r.expect(StatusCode::OK, "GET /keys").clone();
    assert_no_private_material(&keys, &r.text);
    let states = ["pending", "active", "retired", "removed", "revoked"];
    for k in keys.as_array().unwrap() {
        assert!(k["kid"].is_string() && states.contains(&k["state"].as_str().unwrap_or("?")), "{k}");
    }
    assert_eq!(keys.as_array().unwrap().iter().filter(|k| k["state"] == "active").count(), 1, "{keys}");

    let r = a.boot(Method::POST, "/keys/rotate", Some(json!({"now": false}))).await;
    let rotated = r.expect(StatusCode::OK, "POST /keys/rotate").clone();
    let kid = s(&rotated, "kid");
    assert!(!rotated["activates_at"].is_null() && !rotated["created"].is_null(), "{rotated}");
    let r = a.boot(Method::GET, "/keys", None).await;
    assert_no_private_material(&r.body, &r.text);
    let new = r.body.as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).cloned();
    assert_eq!(new.map(|k| k["state"].clone()), Some(json!("pending")), "{}", r.text);
    let jwks = |a: &Admin| {
        let url = a.p.url("/jwks.json");
        async move { reqwest::get(url).await.unwrap().json::<Value>().await.unwrap() }
    };
    assert!(
        jwks(&a).await["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()),
        "published before it signs"
    );

    let r = a.boot(Method::POST, &format!("/keys/{kid}/revoke"), None).await;
    r.expect(StatusCode::OK, "POST /keys/{kid}/revoke");
    let after = a.get("/keys").await;
    let state = after.as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).map(|k| k["state"].clone());
    assert_eq!(state, Some(json!("revoked")), "{after}");
    assert!(
        !jwks(&a).await["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()),
        "revoked leaves the JWKS"
    );
}

#[tokio::test]
async fn the_audit_log_records_admin_changes_logins_logouts_and_refresh_reuse_with_filters() {
    let a = Admin::start().await;
    a.boot(Method::POST, "/roles", Some(json!({"name": "audited", "description": "d"})))
        .await
        .expect(StatusCode::CREATED, "role");
    let browser = Browser::new("alice");
    let tokens = a.login_with(&browser, "openid").await;
    let alice = s(&unverified_claims(&s(&tokens, "id_token")), "sub");
    // Refresh-token reuse after the grace window.
    let rt1 = s(&tokens, "refresh_token");
    let (status, refreshed) = a.refresh(&rt1).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    a.p.clock.advance(a.p.app.config.tokens.refresh_grace_secs as i64 + 1);
    assert_eq!(a.refresh(&rt1).await.0, StatusCode::BAD_REQUEST, "reuse");
    // Logout.
    let later = a.login_with(&browser, "openid").await;
    let resp = browser
        .http
        .get(format!("{}?id_token_hint={}", a.p.url("/logout"), s(&later, "id_token")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "logged out");

    let r = a.boot(Method::GET, "/audit", None).await;
    let all = r.expect(StatusCode::OK, "GET /audit").as_array().unwrap().clone();
    for e in &all {
        for member in ["id", "at", "kind", "actor", "subject", "client_id", "detail"] {
            assert!(e.get(member).is_some(), "{member} in {e}");
        }
    }
    assert!(!r.text.contains(BOOTSTRAP), "no secrets in the audit log");
    let created = a.get("/audit?kind=role_created").await;
    assert!(created.as_array().unwrap().iter().any(|e| e["actor"] == "bootstrap"), "{created}");
    let mut missing = Vec::new();
    for kind in ["refresh_reuse_detected", "login", "logout"] {
        let events = a.get(&format!("/audit?kind={kind}&subject={alice}")).await;
        let events = events.as_array().unwrap();
        if events.is_empty() {
            missing.push(kind);
        }
        assert!(events.iter().all(|e| e["kind"] == kind && e["subject"] == alice.as_str()), "filters: {events:?}");
    }
    let kinds: std::collections::BTreeSet<&str> = all.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(a.get(&format!("/audit?kind=login&subject={UNKNOWN_USER}")).await.as_array().unwrap().is_empty());
    let by_bootstrap = a.get("/audit?actor=bootstrap").await;
    let by_bootstrap = by_bootstrap.as_array().unwrap();
    assert!(!by_bootstrap.is_empty() && by_bootstrap.iter().all(|e| e["actor"] == "bootstrap"));
    assert_eq!(a.get("/audit?limit=1").await.as_array().unwrap().len(), 1);

    // Time bounds, in the form `at` has.
    let (past, future) = if all[0]["at"].is_number() {
        ("0".to_string(), "4102444800".to_string())
    } else {
        ("1970-01-01T00:00:00Z".to_string(), "2100-01-01T00:00:00Z".to_string())
    };
    let enc = |t: &str| t.replace(':', "%3A");
    assert_eq!(
        a.get(&format!("/audit?since={}&until={}", enc(&past), enc(&future))).await.as_array().unwrap().len(),
        all.len()
    );
    assert!(a.get(&format!("/audit?since={}", enc(&future))).await.as_array().unwrap().is_empty());
    assert!(a.get(&format!("/audit?until={}", enc(&past))).await.as_array().unwrap().is_empty());
    // Last, so that the filters above are checked even when an event kind is missing.
    assert!(missing.is_empty(), "no {missing:?} event of alice; kinds recorded: {kinds:?}");
}

#[tokio::test]
async fn the_interactive_docs_and_the_spec_are_served() {
    let a = Admin::start().await;
    let resp = reqwest::get(a.p.url("/admin/docs")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let spec: Value = reqwest::get(a.v1("/openapi.json")).await.unwrap().json().await.unwrap();
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.keys().any(|p| p.ends_with("/clients")), "{:?}", paths.keys());
    assert!(paths.keys().any(|p| p.ends_with("/audit")), "{:?}", paths.keys());
}

/// `/authorize` with `prompt=none` at the console, carrying only the session cookie `value`:
/// whether it answers with a code.
async fn cookie_opens_a_session(a: &Admin, value: &str) -> bool {
    let url = common::authorize_url(
        &a.p.issuer,
        &[
            ("client_id", CONSOLE),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("prompt", "none"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .header("cookie", format!("dtoidc_session={value}"))
        .send()
        .await
        .unwrap();
    let location = common::redirect_location(&resp).expect("a redirect to the client");
    location.contains("code=")
}

#[tokio::test]
async fn rfc6749_10_3_the_sessions_an_auditor_lists_cannot_be_taken_over_and_still_revoke_by_id() {
    let a = Admin::start().await;
    let browser = Browser::new("alice");
    let tokens = a.login_with(&browser, "openid").await;
    let id = unverified_claims(&s(&tokens, "id_token"));
    let (alice, sid) = (s(&id, "sub"), s(&id, "sid"));
    let cookie = browser.cookie(&a.p.issuer, "dtoidc_session").expect("a session cookie");
    assert!(cookie_opens_a_session(&a, &cookie).await, "the browser's own cookie works");

    // What an auditor sees of the session: the public id (the sid), and nothing that opens it.
    let auditor = a.admin_token_of("bob", Some("auditor")).await;
    let listed = a.call(Some(&auditor), Method::GET, &format!("/users/{alice}/sessions"), None).await;
    let listed = listed.expect(StatusCode::OK, "an auditor lists sessions").clone();
    let session = listed.as_array().unwrap().iter().find(|x| x["id"] == sid.as_str()).expect("listed").clone();
    let secret = cookie.split_once('.').expect("<sid>.<secret>").1.to_string();
    for (field, value) in session.as_object().unwrap() {
        let Some(value) = value.as_str() else { continue };
        assert!(!value.contains(&secret), "{field} carries the cookie's secret");
        assert!(!cookie_opens_a_session(&a, value).await, "{field} ({value}) works as a session cookie");
    }

    // Revoking by the listed id still works, and then the cookie opens nothing.
    a.boot(Method::DELETE, &format!("/sessions/{}", s(&session, "id")), None)
        .await
        .expect(StatusCode::NO_CONTENT, "DELETE /sessions/{id}");
    assert!(!cookie_opens_a_session(&a, &cookie).await, "the ended session is gone");
}
