//! The account page (`/account`): sign-in through the provider's own DingTalk flow, the user's
//! sessions and connected apps, and withdrawing consent (OIDC Core §3.1.2.4): the app's refresh
//! and access tokens die, the next sign-in asks again. Each scenario runs on the SQL and the Redis
//! session store.

use crate::common;

use dingtalk_oidc::directory::NewClient;
use dingtalk_oidc::directory::audit::AuditQuery;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{
    Backend, Browser, CHALLENGE, Harness, REDIRECT_URI, TestProvider, VERIFIER, hidden_value, on_backends,
    redirect_location, token_request, userinfo_status,
};

on_backends!(
    oidc_core_3_1_2_4_withdrawing_consent_ends_the_apps_tokens_and_the_next_sign_in_asks_again,
    oidc_core_3_1_2_4_a_code_issued_before_consent_was_withdrawn_gets_no_tokens,
    rfc6749_10_12_an_account_form_without_the_pages_token_changes_nothing,
    a_session_id_is_public_so_a_user_cannot_end_another_users_session_with_it,
    signing_out_everywhere_else_ends_the_other_sessions_and_keeps_this_one,
);

/// A confidential third-party client (the consent page is shown) and its secret.
async fn register(p: &TestProvider, id: &str, grant_types: Option<Vec<String>>) -> String {
    let (_, secret) = p
        .app
        .directory
        .create_client(NewClient {
            id: id.into(),
            name: Some(format!("App {id}")),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: false,
            grant_types,
            ..NewClient::default()
        })
        .await
        .unwrap();
    secret.unwrap()
}

fn authorize(p: &TestProvider, client_id: &str) -> String {
    common::authorize_url(
        &p.issuer,
        &[
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "st"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
}

async fn code(p: &TestProvider, browser: &Browser, client_id: &str) -> String {
    browser.journey(&authorize(p, client_id), true).await.param("code").expect("a code")
}

async fn exchange(p: &TestProvider, client: (&str, &str), code: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let (status, _, body) = token_request(p, Some(client), &form).await;
    (status, body)
}

async fn refresh(p: &TestProvider, client: (&str, &str), token: &str) -> (StatusCode, Value) {
    let (status, _, body) =
        token_request(p, Some(client), &[("grant_type", "refresh_token"), ("refresh_token", token)]).await;
    (status, body)
}

async fn introspect_active(p: &TestProvider, client: (&str, &str), token: &str) -> bool {
    common::introspect(p, client, token).await["active"].as_bool().unwrap()
}

/// How the page marks a connected app (`web/templates/account.html`).
fn connected(client_id: &str) -> String {
    format!("data-client-id=\"{client_id}\"")
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}")).to_string()
}

/// The account page as `browser` sees it (signed in already): 200 and its body.
async fn account_page(p: &TestProvider, browser: &Browser) -> String {
    let resp = browser.http.get(p.url("/account")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", redirect_location(&resp));
    resp.text().await.unwrap()
}

/// Posts one account form with `fields` and the page's anti-CSRF token unless `csrf` overrides it.
async fn post_account(browser: &Browser, p: &TestProvider, csrf: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    browser.http.post(p.url("/account")).form(&form).send().await.unwrap()
}

/// The `sid` of `browser`'s SSO session, from an ID token it got at `client`.
async fn sid_of(p: &TestProvider, browser: &Browser, client: (&str, &str)) -> String {
    let code = code(p, browser, client.0).await;
    let (status, tokens) = exchange(p, client, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    s(&common::unverified_claims(&s(&tokens, "id_token")), "sid")
}

async fn oidc_core_3_1_2_4_withdrawing_consent_ends_the_apps_tokens_and_the_next_sign_in_asks_again(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, "app", None).await;
    // A client without refresh tokens: its access token belongs to no family.
    let plain_secret = register(p, "plain", Some(vec!["authorization_code".into()])).await;
    let other_secret = register(p, "other", None).await;
    let bob = Browser::new("bob");

    let code1 = code(p, &bob, "app").await;
    let (status, tokens) = exchange(p, ("app", &secret), &code1).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let code2 = code(p, &bob, "plain").await;
    let (status, plain) = exchange(p, ("plain", &plain_secret), &code2).await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    let code3 = code(p, &bob, "other").await;
    let (status, other) = exchange(p, ("other", &other_secret), &code3).await;
    assert_eq!(status, StatusCode::OK, "{other}");

    let page = account_page(p, &bob).await;
    for id in ["app", "plain", "other"] {
        assert!(page.contains(&connected(id)), "{id} is listed as a connected app: {page}");
    }
    assert!(page.contains("App plain"), "by its name: {page}");
    let csrf = hidden_value(&page, "csrf_token").expect("the page's anti-CSRF token");

    for client in ["app", "plain"] {
        let resp = post_account(&bob, p, &csrf, &[("action", "withdraw_consent"), ("client_id", client)]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{client}");
        let location = redirect_location(&resp).unwrap();
        assert!(location.ends_with("/account?done=consent_withdrawn"), "{location}");
    }
    let page = account_page(p, &bob).await;
    assert!(!page.contains(&connected("app")) && !page.contains(&connected("plain")), "{page}");
    assert!(page.contains(&connected("other")), "another app keeps its consent: {page}");

    // The app's refresh token and access tokens die, on every instance (introspection, userinfo).
    let (status, body) = refresh(p, ("app", &secret), &s(&tokens, "refresh_token")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert_eq!(userinfo_status(p, &s(&tokens, "access_token")).await, StatusCode::UNAUTHORIZED);
    assert!(!introspect_active(p, ("app", &secret), &s(&tokens, "access_token")).await);
    assert_eq!(userinfo_status(p, &s(&plain, "access_token")).await, StatusCode::UNAUTHORIZED, "no family");
    assert!(!introspect_active(p, ("plain", &plain_secret), &s(&plain, "access_token")).await);
    // Another app's grant is untouched.
    assert_eq!(userinfo_status(p, &s(&other, "access_token")).await, StatusCode::OK);
    let (status, body) = refresh(p, ("other", &other_secret), &s(&other, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The next sign-in at the app asks again; consenting again gives tokens that work. Times are
    // whole seconds (`iat`), and a token issued in the second of the withdrawal is denied with it:
    // a person takes longer than that to be asked again.
    p.clock.advance(1);
    let landing = bob.journey(&authorize(p, "app"), false).await;
    let (status, body) = landing.page();
    assert!(status == StatusCode::OK && body.contains("name=\"consent_id\""), "asked again: {body}");
    let code4 = code(p, &bob, "app").await;
    let (status, again) = exchange(p, ("app", &secret), &code4).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(userinfo_status(p, &s(&again, "access_token")).await, StatusCode::OK);
    let (status, body) = refresh(p, ("app", &secret), &s(&again, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Audited as the user's own act, at the client.
    let bob_id = s(&common::unverified_claims(&s(&tokens, "id_token")), "sub");
    let query = AuditQuery { kind: Some("consent_withdrawn".into()), limit: 10, ..AuditQuery::default() };
    let events = p.app.directory.audit_events(&query).await.unwrap();
    let mut clients: Vec<_> = events.iter().filter_map(|e| e.client_id.clone()).collect();
    clients.sort();
    assert_eq!(clients, ["app", "plain"]);
    assert!(events.iter().all(|e| e.actor.as_deref() == Some(&bob_id) && e.subject.as_deref() == Some(&bob_id)));
    h.finish().await;
}

async fn oidc_core_3_1_2_4_a_code_issued_before_consent_was_withdrawn_gets_no_tokens(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, "app", None).await;
    let plain_secret = register(p, "plain", Some(vec!["authorization_code".into()])).await;
    let bob = Browser::new("bob");
    let pending = code(p, &bob, "app").await;
    let pending_plain = code(p, &bob, "plain").await;
    let csrf = hidden_value(&account_page(p, &bob).await, "csrf_token").unwrap();
    for client in ["app", "plain"] {
        let resp = post_account(&bob, p, &csrf, &[("action", "withdraw_consent"), ("client_id", client)]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }
    let (status, body) = exchange(p, ("app", &secret), &pending).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let (status, body) = exchange(p, ("plain", &plain_secret), &pending_plain).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    h.finish().await;
}

async fn rfc6749_10_12_an_account_form_without_the_pages_token_changes_nothing(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, "app", None).await;
    let bob = Browser::new("bob");
    let code = code(p, &bob, "app").await;
    let (_, tokens) = exchange(p, ("app", &secret), &code).await;
    let page = account_page(p, &bob).await;
    let csrf = hidden_value(&page, "csrf_token").unwrap();
    // Another signed-in user's token is not this browser's.
    let alice = Browser::new("alice");
    let _ = sid_of(p, &alice, ("app", &secret)).await;
    let alices_csrf = hidden_value(&account_page(p, &alice).await, "csrf_token").unwrap();
    assert_ne!(csrf, alices_csrf);

    let withdraw = [("action", "withdraw_consent"), ("client_id", "app")];
    for forged in ["", "not-the-token", alices_csrf.as_str()] {
        let resp = post_account(&bob, p, forged, &withdraw).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "token {forged:?}");
    }
    // Without the session cookie, even with the page's token.
    let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = stranger.post(p.url("/account")).form(&[("csrf_token", csrf.as_str()), withdraw[0], withdraw[1]]).send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::FORBIDDEN);
    // An unknown action with the right token.
    let resp = post_account(&bob, p, &csrf, &[("action", "delete_everything")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    assert!(account_page(p, &bob).await.contains(&connected("app")), "the consent stands");
    let (status, body) = refresh(p, ("app", &secret), &s(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.finish().await;
}

async fn a_session_id_is_public_so_a_user_cannot_end_another_users_session_with_it(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, "app", None).await;
    let alice = Browser::new("alice");
    let alices_sid = sid_of(p, &alice, ("app", &secret)).await;
    let bob = Browser::new("bob");
    let _ = sid_of(p, &bob, ("app", &secret)).await;
    let csrf = hidden_value(&account_page(p, &bob).await, "csrf_token").unwrap();
    let resp = post_account(&bob, p, &csrf, &[("action", "end_session"), ("sid", &alices_sid)]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(p.app.sessions.get_sso_session(&alices_sid).await.unwrap().is_some(), "alice's session lives");
    let page = account_page(p, &alice).await;
    assert!(page.contains(&alices_sid), "alice still signed in: {page}");
    h.finish().await;
}

async fn signing_out_everywhere_else_ends_the_other_sessions_and_keeps_this_one(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, "app", None).await;
    let laptop = Browser::new("bob");
    let phone = Browser::new("bob");
    let tablet = Browser::new("bob");
    let laptop_sid = sid_of(p, &laptop, ("app", &secret)).await;
    let phone_sid = sid_of(p, &phone, ("app", &secret)).await;
    let tablet_sid = sid_of(p, &tablet, ("app", &secret)).await;

    let page = account_page(p, &laptop).await;
    for sid in [&laptop_sid, &phone_sid, &tablet_sid] {
        assert!(page.contains(sid.as_str()), "every session is listed: {page}");
    }
    let csrf = hidden_value(&page, "csrf_token").unwrap();
    // One other session by its id, then every other.
    let resp = post_account(&laptop, p, &csrf, &[("action", "end_session"), ("sid", &phone_sid)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(p.app.sessions.get_sso_session(&phone_sid).await.unwrap().is_none());
    let resp = post_account(&laptop, p, &csrf, &[("action", "end_other_sessions")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(p.app.sessions.get_sso_session(&tablet_sid).await.unwrap().is_none());
    assert!(p.app.sessions.get_sso_session(&laptop_sid).await.unwrap().is_some(), "this browser stays");

    // The tablet, signed out, is sent to sign in again when it opens the page.
    let resp = tablet.http.get(p.url("/account")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    // Signing out of this browser from the page ends its session and clears its cookie.
    let resp = post_account(&laptop, p, &csrf, &[("action", "end_session"), ("sid", &laptop_sid)]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(p.app.sessions.get_sso_session(&laptop_sid).await.unwrap().is_none());
    h.finish().await;
}

/// The page signs a browser in through DingTalk and comes back to itself, with no client.
#[tokio::test]
async fn the_account_page_signs_in_through_dingtalk_and_returns_to_itself() {
    let p = TestProvider::start().await;
    let bob = Browser::new("bob");
    let landing = bob.journey(&p.url("/account"), false).await;
    let (status, page) = landing.page();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("csrf_token") && page.contains("end_session"), "the signed-in page: {page}");
    // The login is audited at no client.
    let query = AuditQuery { kind: Some("login".into()), limit: 10, ..AuditQuery::default() };
    let events = p.app.directory.audit_events(&query).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client_id, None);
    // A sign-in that comes back refused shows why, in fixed words, and does not loop.
    let stranger = Browser::new("bob");
    let resp = stranger
        .http
        .get(p.url("/account?error=access_denied&error_description=%3Cb%3Ecall%20this%20number%3C/b%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("call this number"), "no text from the request: {body}");
    assert!(body.contains("/account/login"), "offers to sign in again: {body}");
}
