//! The admin console (`/admin/`): it signs in as an OIDC client of its own issuer (PKCE, `state`
//! bound to the browser), admins act and auditors only read, every form carries the session's
//! anti-CSRF token, every change is the admin API's operation with its audit event, and the pages
//! need no script and name every control.

use dingtalk_oidc::config::Secret;
use dingtalk_oidc::directory::audit::AuditQuery;
use dingtalk_oidc::manage::{self, Actor, Manage};
use reqwest::StatusCode;

use crate::common::{Browser, REDIRECT_URI, TestProvider, VERIFIER, hidden_value, redirect_location, token_request};

const BOOTSTRAP: &str = "console-bootstrap-token";

/// A browser signed in (or refused) at the console through the provider's own sign-in.
struct Console<'a> {
    p: &'a TestProvider,
    browser: Browser,
}

impl<'a> Console<'a> {
    /// Signs `who` in through `/admin/login/start`; returns the browser and the page it ended on.
    async fn sign_in(p: &'a TestProvider, who: &str) -> (Console<'a>, StatusCode, String) {
        let browser = Browser::new(who);
        let landing = browser.journey(&p.url("/admin/login/start"), false).await;
        let (status, body) = landing.page();
        let (status, body) = (status, body.to_string());
        (Console { p, browser }, status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self.browser.http.get(self.p.url(path)).send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    /// Posts a form from the page at `page_path`, with that page's anti-CSRF token.
    async fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let (_, page) = self.get(page_path).await;
        let token = hidden_value(&page, "csrf_token").expect("the page has a form token");
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        self.browser.http.post(self.p.url(action)).form(&form).send().await.unwrap()
    }
}

async fn provider() -> TestProvider {
    TestProvider::start_with(|c| c.admin_token = Some(Secret(BOOTSTRAP.into()))).await
}

/// The user id of someone who signed in.
async fn sub_of(p: &TestProvider, login: &str) -> String {
    let email = format!("{login}@example.com");
    let (users, _) = p.app.directory.list_users(Some(&email), 0, 10).await.unwrap();
    users.into_iter().find(|u| u.email.as_deref() == Some(email.as_str())).expect("signed in").id
}

/// Gives `login` (who signed in before) the role, the way an admin would: their access changes at once.
async fn give_role(p: &TestProvider, login: &str, role: &str) {
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    if p.app.directory.role(role).await.unwrap().is_none() {
        manage::roles::create(&m, role, role).await.unwrap();
    }
    manage::roles::grant(&m, &sub_of(p, login).await, role).await.unwrap();
}

async fn audit_kinds_by(p: &TestProvider, actor: &str) -> Vec<String> {
    let q = AuditQuery { actor: Some(actor.into()), limit: 1000, ..AuditQuery::default() };
    p.app.directory.audit_events(&q).await.unwrap().into_iter().map(|e| e.kind).collect()
}

/// How /token judges a secret: 401 for a wrong one, 400 invalid_grant (the bogus code) for the right one.
async fn secret_is_accepted(p: &TestProvider, client: &str, secret: &str) -> bool {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "bogus-code"),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let (status, _, body) = token_request(p, Some((client, secret)), &form).await;
    status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant"
}

#[tokio::test]
async fn rfc7636_the_console_signs_in_at_its_own_issuer_with_pkce_and_only_a_console_role_gets_in() {
    let p = provider().await;
    // The authorization request the console sends: code flow, S256 challenge, state, nonce.
    let browser = Browser::new("alice");
    let resp = browser.http.get(p.url("/admin/login/start")).send().await.unwrap();
    let location = url::Url::parse(&redirect_location(&resp).expect("a redirect")).unwrap();
    assert!(location.as_str().starts_with(&p.url("/authorize")), "{location}");
    let q = |name: &str| location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(q("client_id").as_deref(), Some("dingtalk-oidc-console"));
    assert_eq!(q("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(q("code_challenge").map(|c| c.len()), Some(43));
    assert!(q("state").is_some() && q("nonce").is_some());
    let console = p.app.directory.client("dingtalk-oidc-console").await.unwrap().expect("registered on first use");
    assert!(console.public && console.first_party && console.redirect_uris == vec![p.url("/admin/callback")]);

    // Alice has no console role yet: refused, and no console cookie is kept.
    let (alice, status, body) = Console::sign_in(&p, "alice").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("neither the admin nor the auditor role"), "{body}");
    assert!(alice.browser.cookie(&p.issuer, "dtoidc_console").is_none(), "no console cookie without a role");
    let (status, _) = alice.get("/admin/clients").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "sent to sign in");

    give_role(&p, "alice", "admin").await;
    let (alice, status, body) = Console::sign_in(&p, "alice").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("id=\"overview\""), "lands on the overview: {body}");
    // The dashboard counts both of Alice's sign-ins from the audit log, and this process's tokens.
    let caption = &body[body.find("id=\"sign-ins\"").expect("the sign-ins chart")..];
    let caption = &caption[caption.find("<figcaption>").unwrap() + 12..];
    let total: u64 = caption[..caption.find(' ').unwrap()].parse().unwrap();
    assert_eq!(total, 2, "{caption}");
    assert!(body.contains("id=\"tokens\""), "the tokens chart: {body}");
    let cookie = alice.browser.cookie(&p.issuer, "dtoidc_console").expect("console cookie");
    assert!(cookie.starts_with("t."), "the console keeps its access token");
}

#[tokio::test]
async fn an_admin_registers_a_client_and_sees_its_secret_once() {
    let p = provider().await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;

    let fields =
        [("id", "grafana"), ("name", "Grafana"), ("redirect_uris", "https://grafana.example/login/generic_oauth")];
    let resp = alice.submit("/admin/clients", "/admin/clients", &fields).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.unwrap();
    let start = page.find("id=\"secret\" class=\"secret\">").expect("the secret is shown") + 27;
    let secret = &page[start..start + page[start..].find('<').unwrap()];
    assert!(secret_is_accepted(&p, "grafana", secret).await, "the shown secret is the client's");
    assert!(!secret_is_accepted(&p, "grafana", "not-the-secret").await);

    // Never again: not on the client's page, not in the list.
    for path in ["/admin/clients/grafana", "/admin/clients"] {
        let (status, body) = alice.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains(secret), "{path} shows the secret again");
    }
    let alice_id = sub_of(&p, "alice").await;
    assert!(audit_kinds_by(&p, &alice_id).await.contains(&"client_created".to_string()));

    // Rotating gives a new secret, shown once; the old one stops working.
    let resp = alice.submit("/admin/clients/grafana", "/admin/clients/grafana", &[("action", "rotate_secret")]).await;
    let page = resp.text().await.unwrap();
    let start = page.find("id=\"secret\" class=\"secret\">").expect("the new secret is shown") + 27;
    let rotated = &page[start..start + page[start..].find('<').unwrap()];
    assert!(secret_is_accepted(&p, "grafana", rotated).await);
    assert!(!secret_is_accepted(&p, "grafana", secret).await, "the old secret stopped working");

    // Deleting asks first; only the confirmation deletes.
    let resp = alice.submit("/admin/clients/grafana", "/admin/clients/grafana", &[("action", "delete")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("id=\"question\""));
    assert!(p.app.directory.client("grafana").await.unwrap().is_some(), "not deleted before confirmation");
    let resp = alice
        .submit("/admin/clients/grafana", "/admin/clients/grafana", &[("action", "delete"), ("confirm", "yes")])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(p.app.directory.client("grafana").await.unwrap().is_none());
    let kinds = audit_kinds_by(&p, &alice_id).await;
    assert!(kinds.contains(&"client_secret_rotated".to_string()) && kinds.contains(&"client_deleted".to_string()));
}

#[tokio::test]
async fn an_auditor_sees_no_write_control_and_every_write_is_refused() {
    let p = provider().await;
    p.register("rp", false, true).await;
    Console::sign_in(&p, "carol").await;
    give_role(&p, "carol", "auditor").await;
    let (carol, status, _) = Console::sign_in(&p, "carol").await;
    assert_eq!(status, StatusCode::OK);
    let carol_id = sub_of(&p, "carol").await;
    let pages = [
        "/admin/",
        "/admin/clients",
        "/admin/clients/rp",
        "/admin/users",
        &format!("/admin/users/{carol_id}"),
        "/admin/keys",
        "/admin/roles",
        "/admin/roles/auditor",
        "/admin/roles/auditor?preview=1&kind=org_admin",
        "/admin/audit",
    ];
    for path in pages {
        let (status, body) = carol.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        // The only form that posts is signing out.
        assert_eq!(body.matches("method=\"post\"").count(), 1, "{path} shows a write control: {body}");
        assert!(body.contains("(read only)"), "{path}");
    }
    // Posting anyway, with the session's own token, is refused and changes nothing.
    let keys_before = p.app.rotation().list(p.app.now()).await.unwrap();
    let attempts: [(&str, &[(&str, &str)]); 5] = [
        ("/admin/clients", &[("id", "sneaky"), ("redirect_uris", REDIRECT_URI)]),
        ("/admin/clients/rp", &[("action", "delete"), ("confirm", "yes")]),
        ("/admin/keys", &[("action", "rotate"), ("immediate", "yes"), ("confirm", "yes")]),
        ("/admin/users/x", &[("action", "disable")]),
        ("/admin/roles", &[("name", "sneaky")]),
    ];
    for (path, fields) in attempts {
        let resp = carol.submit("/admin/clients", path, fields).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert!(p.app.directory.client("sneaky").await.unwrap().is_none());
    assert!(p.app.directory.role("sneaky").await.unwrap().is_none());
    assert!(p.app.directory.client("rp").await.unwrap().is_some());
    assert_eq!(p.app.rotation().list(p.app.now()).await.unwrap(), keys_before);
    let written: Vec<String> = audit_kinds_by(&p, &carol_id).await.into_iter().filter(|k| k != "login").collect();
    assert!(written.is_empty(), "an auditor changed something: {written:?}");
}

#[tokio::test]
async fn rfc6749_10_12_a_console_form_without_the_sessions_token_changes_nothing() {
    let p = provider().await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    for token in [None, Some("forged"), Some("")] {
        let mut form = vec![("id", "csrf-app"), ("redirect_uris", REDIRECT_URI)];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let resp = alice.browser.http.post(p.url("/admin/clients")).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{token:?}");
    }
    assert!(p.app.directory.client("csrf-app").await.unwrap().is_none());
    // Another operator's token does not do either: it is bound to the session's cookie.
    let (other, _, _) = Console::sign_in(&p, "alice").await;
    let (_, page) = other.get("/admin/clients").await;
    let others = hidden_value(&page, "csrf_token").unwrap();
    let (_, mine) = alice.get("/admin/clients").await;
    assert_ne!(hidden_value(&mine, "csrf_token").unwrap(), others);
    let form = [("csrf_token", others.as_str()), ("id", "csrf-app"), ("redirect_uris", REDIRECT_URI)];
    let resp = alice.browser.http.post(p.url("/admin/clients")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(p.app.directory.client("csrf-app").await.unwrap().is_none());
}

#[tokio::test]
async fn rfc9700_4_7_an_authorization_response_this_browser_did_not_ask_for_signs_nobody_in() {
    let p = provider().await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    // The attacker starts a sign-in and gets a code for their own session...
    let attacker = Browser::new("alice");
    let resp = attacker.http.get(p.url("/admin/login/start")).send().await.unwrap();
    let authorize = redirect_location(&resp).unwrap();
    let mut next = authorize;
    let callback = loop {
        let mut target = url::Url::parse(&next).unwrap();
        if target.path() == "/oauth2/auth" {
            target.query_pairs_mut().append_pair("login_as", "alice");
        }
        if target.path() == "/admin/callback" {
            break target;
        }
        let resp = attacker.http.get(target).send().await.unwrap();
        next = redirect_location(&resp).expect("redirects up to the console's callback");
    };
    // ...and hands the callback URL to a victim browser, which started no sign-in.
    let victim = Browser::new("bob");
    let resp = victim.http.get(callback.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(victim.cookie(&p.issuer, "dtoidc_console").is_none());
    // A victim who started a sign-in of their own gets a state that is not the attacker's.
    let resp = victim.http.get(p.url("/admin/login/start")).send().await.unwrap();
    assert!(resp.status().is_redirection());
    let resp = victim.http.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(victim.cookie(&p.issuer, "dtoidc_console").is_none());
}

#[tokio::test]
async fn disabling_a_user_from_the_console_ends_their_sessions_with_the_apis_audit_event() {
    let p = provider().await;
    p.register("rp", false, true).await;
    let bob = Browser::new("bob");
    crate::common::obtain_code(&p, &bob, "rp").await;
    let bob_id = sub_of(&p, "bob").await;
    assert_eq!(p.app.sessions.sso_sessions_of_user(&bob_id).await.unwrap().len(), 1);
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;

    let path = format!("/admin/users/{bob_id}");
    let (_, page) = alice.get(&path).await;
    assert_eq!(page.matches("class=\"session\"").count(), 1, "bob's session is listed");
    let resp = alice.submit(&path, &path, &[("action", "disable")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(p.app.sessions.sso_sessions_of_user(&bob_id).await.unwrap().is_empty(), "bob's sessions ended");
    let (_, page) = alice.get(&path).await;
    assert_eq!(page.matches("class=\"session\"").count(), 0);
    assert!(page.contains("id=\"enable\""), "offers to enable him again");
    let alice_id = sub_of(&p, "alice").await;
    assert!(audit_kinds_by(&p, &alice_id).await.contains(&"user_disabled".to_string()));
    // Bob cannot sign in any more.
    let landing =
        Browser::new("bob").journey(&crate::common::authorize_url(&p.issuer, &[("client_id", "rp")]), false).await;
    assert!(!matches!(landing, crate::common::Landing::Client(ref u) if u.query_pairs().any(|(k, _)| k == "code")));
}

#[tokio::test]
async fn a_key_rotation_asks_first_and_then_shows_on_the_timeline() {
    let p = provider().await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    let (_, before) = alice.get("/admin/keys").await;
    assert!(before.contains("<svg") && before.contains("class=\"phase active\""), "{before}");
    assert_eq!(before.matches("class=\"phase pending\"").count(), 0);

    let resp = alice.submit("/admin/keys", "/admin/keys", &[("action", "rotate")]).await;
    assert_eq!(resp.status(), StatusCode::OK, "asks first");
    assert_eq!(p.app.rotation().list(p.app.now()).await.unwrap().len(), 1, "nothing rotated before confirmation");
    let resp = alice.submit("/admin/keys", "/admin/keys", &[("action", "rotate"), ("confirm", "yes")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, after) = alice.get("/admin/keys").await;
    assert_eq!(after.matches("class=\"phase pending\"").count(), 1, "the new key waits on the timeline: {after}");
    assert_eq!(after.matches("data-state=\"pending\"").count(), 1);
    let alice_id = sub_of(&p, "alice").await;
    assert!(audit_kinds_by(&p, &alice_id).await.contains(&"key_rotated".to_string()));
}

#[tokio::test]
async fn the_bootstrap_token_signs_in_without_its_cookie_holding_the_token() {
    let p = provider().await;
    let browser = Browser::new("nobody");
    let resp = browser.http.post(p.url("/admin/login")).form(&[("token", "wrong")]).send().await.unwrap();
    assert!(redirect_location(&resp).unwrap().ends_with("/admin/login?problem=token"));
    assert!(browser.cookie(&p.issuer, "dtoidc_console").is_none());
    let resp = browser.http.post(p.url("/admin/login")).form(&[("token", BOOTSTRAP)]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = browser.cookie(&p.issuer, "dtoidc_console").expect("signed in");
    assert!(!cookie.contains(BOOTSTRAP) && cookie.starts_with("b."), "{cookie}");
    let resp = browser.http.get(p.url("/admin/clients")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("bootstrap"));

    // A forged proof (another expiry with the same MAC) signs nobody in.
    let (_, rest) = cookie.split_once('.').unwrap();
    let (expiry, mac) = rest.split_once('.').unwrap();
    let forged = format!("b.{}.{mac}", expiry.parse::<i64>().unwrap() + 86_400);
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(p.url("/admin/clients"))
        .header("cookie", format!("dtoidc_console={forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "sent to sign in");
}

#[tokio::test]
async fn rfc7009_signing_out_of_the_console_revokes_its_token() {
    let p = provider().await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    let cookie = alice.browser.cookie(&p.issuer, "dtoidc_console").unwrap();
    // Another site's form cannot sign her out: without the page's token nothing ends.
    let resp = alice.browser.http.post(p.url("/admin/logout")).form(&[("csrf_token", "forged")]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(alice.browser.cookie(&p.issuer, "dtoidc_console").as_deref(), Some(cookie.as_str()));
    let resp = alice.submit("/admin/", "/admin/logout", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(alice.browser.cookie(&p.issuer, "dtoidc_console").is_none(), "the cookie is deleted");
    // A copy of the cookie is worth nothing now.
    let copy = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = copy.get(p.url("/admin/")).header("cookie", format!("dtoidc_console={cookie}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(redirect_location(&resp).unwrap().ends_with("/admin/login"));
}

/// What the test can check of accessibility without a browser: the page's language, landmarks
/// (`main`, `nav`), a label for every visible control, headers on every table, and no script.
fn accessibility_problems(page: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !page.contains("<html lang=\"") {
        problems.push("no lang".into());
    }
    for landmark in ["<main", "<nav"] {
        if !page.contains(landmark) {
            problems.push(format!("no {landmark}>"));
        }
    }
    if page.contains("<script") {
        problems.push("a script".into());
    }
    let mut rest = page;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        let is_control = tag.starts_with("input") || tag.starts_with("textarea") || tag.starts_with("select");
        if !is_control || tag.contains("type=\"hidden\"") {
            continue;
        }
        let id = tag.split("id=\"").nth(1).and_then(|s| s.split('"').next());
        match id {
            Some(id) if page.contains(&format!("<label for=\"{id}\"")) => {}
            _ => problems.push(format!("unlabelled control <{tag}>")),
        }
    }
    if page.matches("<table").count() != page.matches("<thead>").count() {
        problems.push("a table without headers".into());
    }
    problems
}

#[tokio::test]
async fn console_pages_name_every_control_have_landmarks_and_no_script() {
    let p = provider().await;
    p.register("rp", false, false).await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    let alice_id = sub_of(&p, "alice").await;
    for path in [
        "/admin/",
        "/admin/clients",
        "/admin/clients/rp",
        "/admin/users",
        &format!("/admin/users/{alice_id}"),
        "/admin/keys",
        "/admin/roles",
        "/admin/roles/admin",
        "/admin/roles/admin?preview=1&kind=org_admin",
        "/admin/audit",
    ] {
        let (status, page) = alice.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(accessibility_problems(&page), Vec::<String>::new(), "{path}");
    }
    let resp = alice.submit("/admin/keys", "/admin/keys", &[("action", "rotate")]).await;
    assert_eq!(accessibility_problems(&resp.text().await.unwrap()), Vec::<String>::new(), "the confirmation");
    // The sign-in page has no nav (nobody is signed in) but labels its one field.
    let (_, page) = Console { p: &p, browser: Browser::new("x") }.get("/admin/login").await;
    let problems = accessibility_problems(&page);
    assert_eq!(problems, vec!["no <nav>".to_string()], "{page}");
}

#[tokio::test]
async fn a_session_ends_from_its_users_page_and_only_there() {
    let p = provider().await;
    p.register("rp", false, true).await;
    let (bob_laptop, bob_phone) = (Browser::new("bob"), Browser::new("bob"));
    crate::common::obtain_code(&p, &bob_laptop, "rp").await;
    crate::common::obtain_code(&p, &bob_phone, "rp").await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    let (bob_id, alice_id) = (sub_of(&p, "bob").await, sub_of(&p, "alice").await);
    let sessions = p.app.sessions.sso_sessions_of_user(&bob_id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    let sid = sessions[0].id.as_str();

    // Through another user's page the session is as good as missing (a sid is public).
    let alice_page = format!("/admin/users/{alice_id}");
    let resp = alice.submit(&alice_page, &alice_page, &[("action", "end_session"), ("sid", sid)]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(p.app.sessions.sso_sessions_of_user(&bob_id).await.unwrap().len(), 2);

    let bob_page = format!("/admin/users/{bob_id}");
    let (_, page) = alice.get(&bob_page).await;
    assert!(page.contains(&format!("data-sid=\"{sid}\"")), "{page}");
    let resp = alice.submit(&bob_page, &bob_page, &[("action", "end_session"), ("sid", sid)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let left = p.app.sessions.sso_sessions_of_user(&bob_id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].id, sid, "the other session stays");
}

#[tokio::test]
async fn a_mapping_rule_is_previewed_against_the_users_seen_then_added_through_manage() {
    let p = provider().await;
    p.register("rp", false, true).await;
    for who in ["bob", "carol"] {
        crate::common::obtain_code(&p, &Browser::new(who), "rp").await;
    }
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    let resp = alice.submit("/admin/roles", "/admin/roles", &[("name", "sales"), ("description", "Sales team")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(p.app.directory.role("sales").await.unwrap().is_some());

    // Bob is in department 3 (Sales), Carol in 4: the preview finds Bob only, and adds nothing.
    let (status, page) = alice.get("/admin/roles/sales?preview=1&kind=department&id=3").await;
    assert_eq!(status, StatusCode::OK);
    let preview = &page[page.find("id=\"preview-result\"").expect("a preview")..];
    assert!(
        preview.contains("<strong>1</strong>") && preview.contains("Bob") && !preview.contains("Carol"),
        "{preview}"
    );
    assert!(p.app.directory.list_mappings().await.unwrap().is_empty(), "a preview adds no rule");
    let (_, page) = alice.get("/admin/roles/sales?preview=1&kind=department&id=x").await;
    assert!(page.contains("id: a DingTalk department or role id"), "a bad id is explained: {page}");

    let path = "/admin/roles/sales?preview=1&kind=department&id=3";
    let resp = alice
        .submit(path, "/admin/roles/sales", &[("action", "add_mapping"), ("kind", "department"), ("id", "3")])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let mappings = p.app.directory.list_mappings().await.unwrap();
    assert_eq!(mappings.len(), 1);
    assert_eq!(mappings[0].role, "sales");
    let alice_id = sub_of(&p, "alice").await;
    let kinds = audit_kinds_by(&p, &alice_id).await;
    assert!(kinds.contains(&"role_created".to_string()) && kinds.contains(&"mapping_created".to_string()), "{kinds:?}");

    // A rule is removed only through its own role's page.
    let give = Manage::for_server(&p.app, Actor::admin("test"));
    manage::roles::create(&give, "other", "").await.unwrap();
    let other = "/admin/roles/other";
    let resp = alice.submit(other, other, &[("action", "remove_mapping"), ("mapping", mappings[0].id.as_str())]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(p.app.directory.list_mappings().await.unwrap().len(), 1);

    // A direct grant from the user's page changes the user's roles at once.
    let bob_id = sub_of(&p, "bob").await;
    let bob_page = format!("/admin/users/{bob_id}");
    let resp = alice.submit(&bob_page, &bob_page, &[("action", "grant"), ("role", "other")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let bob = p.app.directory.user(&bob_id).await.unwrap().unwrap();
    assert!(bob.effective_roles.contains(&"other".to_string()), "{:?}", bob.effective_roles);
    let (_, page) = alice.get(&bob_page).await;
    assert!(page.contains("data-role=\"other\""), "{page}");

    // Deleting a role asks first.
    let resp = alice.submit("/admin/roles/sales", "/admin/roles/sales", &[("action", "delete")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(p.app.directory.role("sales").await.unwrap().is_some());
    let resp =
        alice.submit("/admin/roles/sales", "/admin/roles/sales", &[("action", "delete"), ("confirm", "yes")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(p.app.directory.role("sales").await.unwrap().is_none());
}

#[tokio::test]
async fn the_audit_log_filters_and_pages_without_repeating_or_skipping_events_of_one_second() {
    let p = provider().await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "auditor").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    // 120 events in the same second: the pages must still split them exactly.
    let at = p.app.now();
    for n in 0..120 {
        let event = dingtalk_oidc::directory::audit::AuditEvent {
            kind: dingtalk_oidc::directory::audit::AuditKind::ClientUpdated,
            actor: Some("paging-test".into()),
            subject: Some(format!("client-{n:03}")),
            client_id: None,
            detail: serde_json::json!({}),
        };
        p.app.directory.record_audit(at, event).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut next = Some(p.url("/admin/audit?kind=client_updated&actor=paging-test"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let resp = alice.browser.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let page = resp.text().await.unwrap();
        pages += 1;
        for (at, _) in page.match_indices("<td>client-") {
            seen.push(page[at + 4..at + 14].to_string());
        }
        assert_eq!(page.matches("class=\"event\"").count(), page.matches("<td>client-").count());
        next = page.find("\" id=\"next\"").map(|end| {
            let start = page[..end].rfind("href=\"").unwrap() + 6;
            page[start..end].replace("&amp;", "&")
        });
        assert!(pages <= 3, "more pages than 120 events fill");
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (120, 120), "every event once");
    // A filter that matches nothing says so.
    let (_, page) = alice.get("/admin/audit?kind=client_updated&actor=nobody").await;
    assert!(page.contains("No event matches."));
}

#[tokio::test]
async fn an_admin_edits_a_clients_uris_and_lifetimes_and_a_bad_value_changes_nothing() {
    let p = provider().await;
    p.register("rp", false, false).await;
    Console::sign_in(&p, "alice").await;
    give_role(&p, "alice", "admin").await;
    let (alice, _, _) = Console::sign_in(&p, "alice").await;
    let before = p.app.directory.client("rp").await.unwrap().unwrap();
    let path = "/admin/clients/rp";
    let edit = |uris: &'static str, ttl: &'static str| {
        [
            ("action", "update"),
            ("name", "Renamed"),
            ("redirect_uris", uris),
            ("post_logout_redirect_uris", "https://rp.example/bye"),
            ("backchannel_logout_uri", ""),
            ("scopes", ""),
            ("access_token_ttl_secs", ttl),
            ("id_token_ttl_secs", ""),
        ]
    };
    // Not a number: refused with a reason, and nothing changed.
    let resp = alice.submit(path, path, &edit("https://rp.example/a\nhttps://rp.example/b", "ten")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("whole number of seconds"));
    assert_eq!(p.app.directory.client("rp").await.unwrap().unwrap(), before);

    let resp = alice.submit(path, path, &edit("https://rp.example/a\r\nhttps://rp.example/b\n", "120")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let after = p.app.directory.client("rp").await.unwrap().unwrap();
    assert_eq!(after.name, "Renamed");
    assert_eq!(after.redirect_uris, vec!["https://rp.example/a".to_string(), "https://rp.example/b".to_string()]);
    assert_eq!(after.post_logout_redirect_uris, vec!["https://rp.example/bye".to_string()]);
    assert_eq!(after.access_token_ttl_secs, Some(120));
    assert_eq!(after.allowed_scopes, before.allowed_scopes, "an empty scopes field leaves them");
    assert_eq!(after.secret_hash, before.secret_hash, "editing keeps the secret");
    assert!(!after.require_pushed_authorization_requests);
    // Grant types and pushed requests only (RFC 9126 §6) are edited on the same form.
    let (_, page) = alice.get(path).await;
    assert!(page.contains("name=\"grant_types\" value=\"authorization_code refresh_token\""), "{page}");
    assert!(page.contains("<code>client_secret_basic</code>"), "{page}");
    let mut stricter = edit("https://rp.example/a", "120").to_vec();
    stricter.extend([("grant_types", "authorization_code"), ("require_par", "yes")]);
    assert_eq!(alice.submit(path, path, &stricter).await.status(), StatusCode::SEE_OTHER);
    let after = p.app.directory.client("rp").await.unwrap().unwrap();
    assert_eq!(after.grant_types, ["authorization_code"]);
    assert!(after.require_pushed_authorization_requests);
    let (_, page) = alice.get(path).await;
    assert!(page.contains("name=\"require_par\" value=\"yes\" checked"), "{page}");
    // A grant the provider does not know is refused, and nothing changes.
    let mut unknown = edit("https://rp.example/a", "120").to_vec();
    unknown.extend([("grant_types", "password"), ("require_par", "yes")]);
    assert_eq!(alice.submit(path, path, &unknown).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(p.app.directory.client("rp").await.unwrap().unwrap(), after);
    // Unticked, the box turns it off.
    assert_eq!(alice.submit(path, path, &edit("https://rp.example/a", "120")).await.status(), StatusCode::SEE_OTHER);
    assert!(!p.app.directory.client("rp").await.unwrap().unwrap().require_pushed_authorization_requests);
}

#[tokio::test]
async fn with_several_organisations_a_rule_is_previewed_and_added_in_one_and_a_client_opened_to_both() {
    let p = TestProvider::start_with_organisations(|c| c.admin_token = Some(Secret(BOOTSTRAP.into()))).await;
    let new = dingtalk_oidc::directory::NewClient {
        id: "both".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        first_party: true,
        organisations: vec!["ding-demo-corp".into(), "ding-second-corp".into()],
        ..Default::default()
    };
    p.app.directory.create_client(new).await.unwrap();
    // Frank of Second Corp signs in (department 2 there, Research), through the hint.
    let url = crate::common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "both"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("corp", "ding-second-corp"),
            ("code_challenge", crate::common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    assert!(Browser::new("frank").journey(&url, true).await.param("code").is_some());
    // Alice of Demo Corp (department 2 there, Engineering) is the console's admin.
    Console::sign_in(&p, "alice").await;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    manage::roles::create(&m, "admin", "").await.unwrap();
    let (users, _) = p.app.directory.list_users(Some("alice"), 0, 10).await.unwrap();
    manage::roles::grant(&m, &users[0].id, "admin").await.unwrap();
    manage::roles::create(&m, "research", "").await.unwrap();
    let (alice, _, _) = Console::sign_in(&p, "alice").await;

    // The same department id previews different people in each organisation.
    let base = "/admin/roles/research?preview=1&kind=department&id=2";
    let (_, page) = alice.get(&format!("{base}&organisation=ding-second-corp")).await;
    assert!(page.contains("id=\"rule-organisation\""), "the organisation is asked: {page}");
    let preview = &page[page.find("id=\"preview-result\"").unwrap()..];
    assert!(preview.contains("Frank") && !preview.contains("Alice"), "{preview}");
    let (_, page) = alice.get(&format!("{base}&organisation=ding-demo-corp")).await;
    let preview = &page[page.find("id=\"preview-result\"").unwrap()..];
    assert!(preview.contains("Alice") && !preview.contains("Frank"), "{preview}");
    let path = format!("{base}&organisation=ding-second-corp");
    let fields = [("action", "add_mapping"), ("kind", "department"), ("id", "2"), ("organisation", "ding-second-corp")];
    let resp = alice.submit(&path, "/admin/roles/research", &fields).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let mappings = p.app.directory.list_mappings().await.unwrap();
    assert_eq!(mappings.iter().map(|m| m.org_id.as_str()).collect::<Vec<_>>(), ["ding-second-corp"]);
    let (_, page) = alice.get("/admin/roles/research").await;
    assert!(page.contains("Second Corp"), "the rule names its organisation: {page}");

    // A client's organisations are edited on its page; an unknown one changes nothing.
    let fields = |orgs: &'static str| {
        [("action", "update"), ("redirect_uris", REDIRECT_URI), ("organisations", orgs), ("name", "both")]
    };
    let resp = alice.submit("/admin/clients/both", "/admin/clients/both", &fields("ding-nowhere")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = alice.submit("/admin/clients/both", "/admin/clients/both", &fields("ding-second-corp")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let client = p.app.directory.client("both").await.unwrap().unwrap();
    assert_eq!(client.organisations, ["ding-second-corp"]);
    // The same page makes a client a resource server (RFC 8707), and refuses the issuer's URIs.
    let api = [
        ("action", "update"),
        ("redirect_uris", REDIRECT_URI),
        ("name", "both"),
        ("organisations", "ding-second-corp"),
        ("resource_uri", "https://api.example.com/orders"),
        ("resource_scopes", "orders.read orders.write"),
    ];
    let resp = alice.submit("/admin/clients/both", "/admin/clients/both", &api).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let client = p.app.directory.client("both").await.unwrap().unwrap();
    assert_eq!(client.resource_uri.as_deref(), Some("https://api.example.com/orders"));
    assert_eq!(client.resource_scopes, ["orders.read", "orders.write"]);
    let own = p.url("/userinfo");
    let mut taken = api;
    taken[4] = ("resource_uri", own.as_str());
    let resp = alice.submit("/admin/clients/both", "/admin/clients/both", &taken).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, page) = alice.get("/admin/clients/both").await;
    assert!(page.contains("value=\"ding-second-corp\""), "{page}");

    // The users list names each user's organisation and keeps one when asked.
    let (_, page) = alice.get("/admin/users").await;
    assert!(page.contains("id=\"organisation\"") && page.contains("Second Corp"), "{page}");
    let (_, page) = alice.get("/admin/users?organisation=ding-second-corp").await;
    let table = &page[page.find("id=\"users\"").unwrap()..];
    assert!(table.contains("Frank") && !table.contains(">Alice<"), "{table}");
}
