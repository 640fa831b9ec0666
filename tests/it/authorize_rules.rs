//! Authorization endpoint rules (RFC 6749 §3.1, §4.1.2.1; OIDC Core §3.1.2; RFC 7636; RFC 9207),
//! each failing closed.

use crate::common;

use crate::common::{Browser, CHALLENGE, REDIRECT_URI, TestProvider, authorize_url, redirect_location};
use reqwest::StatusCode;

fn base(client_id: &str) -> Vec<(&str, &str)> {
    vec![
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

fn without<'a>(pairs: &[(&'a str, &'a str)], name: &str) -> Vec<(&'a str, &'a str)> {
    pairs.iter().copied().filter(|(k, _)| *k != name).collect()
}

fn with<'a>(pairs: &[(&'a str, &'a str)], name: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut out = without(pairs, name);
    out.push((name, value));
    out
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
}

/// Asserts an error page with no redirect.
async fn assert_error_page(url: &str) -> String {
    let resp = get(url).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none(), "must not redirect");
    let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    assert_eq!(resp.headers().get("x-frame-options").unwrap(), "DENY");
    resp.text().await.unwrap()
}

/// Asserts a redirect to the client carrying `error`, `state` and `iss`; returns the error.
async fn assert_error_redirect(provider: &TestProvider, url: &str) -> String {
    let resp = get(url).await;
    assert_eq!(resp.status(), StatusCode::FOUND, "{url}");
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let parsed = url::Url::parse(&location).unwrap();
    let param = |n: &str| parsed.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned());
    assert!(param("code").is_none());
    assert_eq!(param("iss").as_deref(), Some(provider.issuer.as_str()), "RFC 9207 §2: iss on errors too");
    let description = param("error_description").unwrap_or_default();
    assert!(
        description.bytes().all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)),
        "RFC 6749 §4.1.2.1 error_description charset: {description}"
    );
    if url.contains("state=xyz") {
        assert_eq!(param("state").as_deref(), Some("xyz"));
    }
    param("error").unwrap()
}

#[tokio::test]
async fn rfc6749_4_1_2_1_unregistered_redirect_uri_shows_error_page_and_never_redirects() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    for uri in [
        "https://evil.example/cb",
        "http://127.0.0.1:9/rp/callback/",
        "http://127.0.0.1:9/rp/callback?x=1",
        "http://127.0.0.1:9/RP/callback",
        "http://127.0.0.1:09/rp/callback",
    ] {
        let url = authorize_url(&provider.issuer, &with(&base("app"), "redirect_uri", uri));
        assert_error_page(&url).await;
    }
    // Missing redirect_uri, unknown client, missing client: pages, no redirect.
    assert_error_page(&authorize_url(&provider.issuer, &without(&base("app"), "redirect_uri"))).await;
    assert_error_page(&authorize_url(&provider.issuer, &base("nobody"))).await;
    assert_error_page(&authorize_url(&provider.issuer, &without(&base("app"), "client_id"))).await;
}

#[tokio::test]
async fn rfc6749_3_1_repeated_redirect_uri_is_an_error_page_other_repeats_redirect_invalid_request() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let mut pairs = base("app");
    pairs.push(("redirect_uri", REDIRECT_URI));
    assert_error_page(&authorize_url(&provider.issuer, &pairs)).await;
    let mut pairs = base("app");
    pairs.push(("scope", "openid"));
    assert_eq!(assert_error_redirect(&provider, &authorize_url(&provider.issuer, &pairs)).await, "invalid_request");
}

#[tokio::test]
async fn rfc7636_4_4_1_public_client_without_pkce_is_refused() {
    let provider = TestProvider::start().await;
    provider.register("spa", true, true).await;
    let url =
        authorize_url(&provider.issuer, &without(&without(&base("spa"), "code_challenge"), "code_challenge_method"));
    assert_eq!(assert_error_redirect(&provider, &url).await, "invalid_request");
}

#[tokio::test]
async fn rfc7636_4_3_plain_or_missing_challenge_method_is_refused() {
    let provider = TestProvider::start().await;
    provider.register("spa", true, true).await;
    let plain = authorize_url(&provider.issuer, &with(&base("spa"), "code_challenge_method", "plain"));
    assert_eq!(assert_error_redirect(&provider, &plain).await, "invalid_request");
    let missing = authorize_url(&provider.issuer, &without(&base("spa"), "code_challenge_method"));
    assert_eq!(assert_error_redirect(&provider, &missing).await, "invalid_request");
    let short = authorize_url(&provider.issuer, &with(&base("spa"), "code_challenge", &"a".repeat(42)));
    assert_eq!(assert_error_redirect(&provider, &short).await, "invalid_request");
}

#[tokio::test]
async fn rfc6749_4_1_2_1_response_type_and_scope_errors_redirect_with_state_and_iss() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (without(&base("app"), "response_type"), "invalid_request"),
        (with(&base("app"), "response_type", "id_token token"), "unsupported_response_type"),
        (with(&base("app"), "response_type", "token"), "unsupported_response_type"),
        (with(&base("app"), "scope", "profile"), "invalid_scope"),
        (with(&base("app"), "scope", "openid  profile"), "invalid_scope"),
        (with(&base("app"), "scope", "OPENID"), "invalid_scope"),
        (with(&base("app"), "prompt", "none login"), "invalid_request"),
        (with(&base("app"), "max_age", "-1"), "invalid_request"),
        (with(&base("app"), "max_age", "abc"), "invalid_request"),
        (with(&base("app"), "request_uri", "https://x.example/r"), "request_uri_not_supported"),
        (with(&base("app"), "request", "eyJ.x.y"), "request_not_supported"),
        (with(&base("app"), "id_token_hint", "not-a-jwt"), "invalid_request"),
    ];
    for (pairs, expected) in cases {
        let url = authorize_url(&provider.issuer, &pairs);
        assert_eq!(assert_error_redirect(&provider, &url).await, expected, "{url}");
    }
}

#[tokio::test]
async fn oidc_core_3_1_2_6_unsupported_response_mode_is_invalid_request_by_query_redirect() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    for mode in ["fragment", "jwt", "query.jwt", "form_post.jwt", "FORM_POST", "<b>x</b>"] {
        let url = authorize_url(&provider.issuer, &with(&base("app"), "response_mode", mode));
        assert_eq!(assert_error_redirect(&provider, &url).await, "invalid_request", "response_mode={mode}");
    }
    // Sent twice, even with supported values: the error goes back by query too.
    let mut pairs = with(&base("app"), "response_mode", "form_post");
    pairs.push(("response_mode", "form_post"));
    assert_eq!(assert_error_redirect(&provider, &authorize_url(&provider.issuer, &pairs)).await, "invalid_request");
}

/// Asserts a form_post page (OAuth 2.0 Form Post Response Mode §2) that POSTs to the registered
/// redirect URI; returns its hidden fields.
fn assert_form_post(status: StatusCode, page: &str) -> Vec<(String, String)> {
    assert_eq!(status, StatusCode::OK, "{page}");
    let (action, fields) = common::posted_form(page).unwrap_or_else(|| panic!("no POST form: {page}"));
    assert_eq!(action, REDIRECT_URI, "the form posts to the registered redirect URI");
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "a field twice: {names:?}");
    fields
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn form_post_2_success_page_posts_code_state_and_iss_to_the_registered_redirect_uri() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let browser = Browser::new("alice");
    // Through the DingTalk login: the mode is kept with the pending request.
    let form_post = with(&base("app"), "response_mode", "form_post");
    let landing = browser.journey(&authorize_url(&provider.issuer, &form_post), false).await;
    let (status, page) = landing.page();
    let fields = assert_form_post(status, page);
    assert_eq!(field(&fields, "state"), Some("xyz"));
    assert_eq!(field(&fields, "iss"), Some(provider.issuer.as_str()), "RFC 9207 §2");
    let code = field(&fields, "code").expect("a code").to_string();
    assert_eq!(fields.len(), 3, "{fields:?}");
    common::exchange_code(&provider, "app", &secret, &code).await;

    // With the SSO session, straight from /authorize; the page's own headers.
    let resp = browser.http.get(authorize_url(&provider.issuer, &form_post)).send().await.unwrap();
    assert!(resp.headers().get("location").is_none(), "form_post does not redirect");
    let h = resp.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains(&format!("script-src '{}'", script_hash())), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("form-action"), "{csp}");
    let page = resp.text().await.unwrap();
    assert!(page.contains(&format!("<script>{}</script>", dingtalk_oidc::web::pages::FORM_POST_SCRIPT)), "{page}");
    let fields = assert_form_post(StatusCode::OK, &page);
    assert!(field(&fields, "code").is_some_and(|c| c != code), "a fresh code");

    // query (explicit) is unchanged: a redirect.
    let resp = browser.http.get(authorize_url(&provider.issuer, &with(&base("app"), "response_mode", "query"))).send();
    assert!(redirect_location(&resp.await.unwrap()).unwrap().starts_with(&format!("{REDIRECT_URI}?code=")));
}

/// The `'sha256-…'` source of the form_post page's script, computed here from its text.
fn script_hash() -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(dingtalk_oidc::web::pages::FORM_POST_SCRIPT.as_bytes());
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

#[tokio::test]
async fn form_post_2_errors_after_the_redirect_uri_is_validated_are_posted_too() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    provider.register("third", false, false).await;
    let browser = Browser::new("alice");
    let form_post = |client| with(&base(client), "response_mode", "form_post");
    // At /authorize: a request error, and prompt=none without a session.
    for (pairs, expected) in [
        (with(&form_post("app"), "response_type", "token"), "unsupported_response_type"),
        (with(&form_post("app"), "scope", "profile"), "invalid_scope"),
        (with(&form_post("app"), "prompt", "none"), "login_required"),
    ] {
        let resp = browser.http.get(authorize_url(&provider.issuer, &pairs)).send().await.unwrap();
        assert!(resp.headers().get("location").is_none());
        let status = resp.status();
        let fields = assert_form_post(status, &resp.text().await.unwrap());
        assert_eq!(field(&fields, "error"), Some(expected));
        assert_eq!(field(&fields, "state"), Some("xyz"));
        assert_eq!(field(&fields, "iss"), Some(provider.issuer.as_str()));
        assert!(field(&fields, "error_description").is_some());
        assert!(field(&fields, "code").is_none());
    }
    // At the consent page: the denial is posted (after the DingTalk login).
    let landing = browser.journey(&authorize_url(&provider.issuer, &form_post("third")), false).await;
    let (_, page) = landing.page();
    let consent_id = common::hidden_value(page, "consent_id").unwrap();
    let csrf = common::hidden_value(page, "csrf_token").unwrap();
    let resp = browser
        .http
        .post(provider.url("/consent"))
        .form(&[("consent_id", consent_id.as_str()), ("csrf_token", csrf.as_str()), ("decision", "deny")])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let fields = assert_form_post(status, &resp.text().await.unwrap());
    assert_eq!(field(&fields, "error"), Some("access_denied"));
    assert_eq!(field(&fields, "state"), Some("xyz"));
    // prompt=none for the client without consent: consent_required, posted.
    let resp = browser
        .http
        .get(authorize_url(&provider.issuer, &with(&form_post("third"), "prompt", "none")))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(field(&assert_form_post(status, &resp.text().await.unwrap()), "error"), Some("consent_required"));
}

#[tokio::test]
async fn rfc6749_4_1_2_1_no_form_post_to_an_unregistered_redirect_uri() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    for pairs in [
        with(&with(&base("app"), "response_mode", "form_post"), "redirect_uri", "https://evil.example/cb"),
        with(&base("nobody"), "response_mode", "form_post"),
        without(&with(&base("app"), "response_mode", "form_post"), "redirect_uri"),
    ] {
        let body = assert_error_page(&authorize_url(&provider.issuer, &pairs)).await;
        assert!(common::posted_form(&body).is_none(), "{body}");
        assert!(!body.contains("evil.example") && !body.contains("<script"), "{body}");
    }
}

#[tokio::test]
async fn rfc8252_7_1_form_post_to_a_private_use_scheme_is_invalid_request_by_query() {
    let provider = TestProvider::start().await;
    let native = "com.example.app:/oauth2redirect";
    provider
        .app
        .directory
        .create_client(dingtalk_oidc::directory::NewClient {
            id: "native".into(),
            redirect_uris: vec![native.into()],
            public: true,
            first_party: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let pairs = with(&with(&base("native"), "redirect_uri", native), "response_mode", "form_post");
    let resp = get(&authorize_url(&provider.issuer, &pairs)).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(&format!("{native}?error=invalid_request&")), "{location}");
    assert!(location.contains("state=xyz"), "{location}");
    // The same app in query mode signs in as before.
    let pairs = with(&base("native"), "redirect_uri", native);
    let resp = get(&authorize_url(&provider.issuer, &pairs)).await;
    assert!(redirect_location(&resp).unwrap().starts_with(&provider.simulator_url));
}

#[tokio::test]
async fn oidc_core_3_1_2_3_prompt_none_without_session_is_login_required() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let url = authorize_url(&provider.issuer, &with(&base("app"), "prompt", "none"));
    assert_eq!(assert_error_redirect(&provider, &url).await, "login_required");
}

#[tokio::test]
async fn oidc_core_3_1_2_1_unknown_parameters_and_scopes_are_ignored_and_sso_session_is_reused() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let browser = Browser::new("alice");
    let mut pairs = with(&base("app"), "scope", "openid unknown_scope");
    pairs.extend([("foo", "bar"), ("display", "wap"), ("ui_locales", "xx-YY"), ("acr_values", "urn:x:unknown")]);
    let first = browser.journey(&authorize_url(&provider.issuer, &pairs), true).await;
    assert!(first.param("code").is_some());
    // The SSO session cookie now lets prompt=none succeed without DingTalk.
    let silent = browser.journey(&authorize_url(&provider.issuer, &with(&base("app"), "prompt", "none")), false).await;
    assert!(silent.param("code").is_some(), "{:?}", silent);
    assert_eq!(silent.param("state").as_deref(), Some("xyz"));
}

#[tokio::test]
async fn oidc_core_3_1_2_4_prompt_none_for_a_client_without_consent_is_consent_required() {
    let provider = TestProvider::start().await;
    provider.register("first", false, true).await;
    provider.register("third", false, false).await;
    let browser = Browser::new("bob");
    assert!(browser.journey(&authorize_url(&provider.issuer, &base("first")), false).await.param("code").is_some());
    let landing =
        browser.journey(&authorize_url(&provider.issuer, &with(&base("third"), "prompt", "none")), false).await;
    assert_eq!(landing.param("error").as_deref(), Some("consent_required"));
}

#[tokio::test]
async fn rfc6749_10_12_consent_post_without_csrf_token_is_refused_and_issues_no_code() {
    let provider = TestProvider::start().await;
    provider.register("third", false, false).await;
    let browser = Browser::new("alice");
    let landing = browser.journey(&authorize_url(&provider.issuer, &base("third")), false).await;
    let (status, page) = landing.page();
    assert_eq!(status, StatusCode::OK);
    let consent_id = common::hidden_value(page, "consent_id").unwrap();
    let resp = browser
        .http
        .post(provider.url("/consent"))
        .form(&[("consent_id", consent_id.as_str()), ("csrf_token", "forged"), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("location").is_none());

    // The right token from another browser (no session cookie) is refused too.
    let landing = browser.journey(&authorize_url(&provider.issuer, &base("third")), false).await;
    let (_, page) = landing.page();
    let other = Browser::new("mallory");
    let resp = other
        .http
        .post(provider.url("/consent"))
        .form(&[
            ("consent_id", common::hidden_value(page, "consent_id").unwrap().as_str()),
            ("csrf_token", common::hidden_value(page, "csrf_token").unwrap().as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn oidc_core_3_1_2_4_denied_consent_redirects_access_denied() {
    let provider = TestProvider::start().await;
    provider.register("third", false, false).await;
    let browser = Browser::new("alice");
    let landing = browser.journey(&authorize_url(&provider.issuer, &base("third")), false).await;
    let (_, page) = landing.page();
    let location = browser.answer_consent(page, "deny").await.unwrap();
    let parsed = url::Url::parse(&location).unwrap();
    let param = |n: &str| parsed.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned());
    assert_eq!(param("error").as_deref(), Some("access_denied"));
    assert_eq!(param("state").as_deref(), Some("xyz"));
    assert_eq!(param("iss").as_deref(), Some(provider.issuer.as_str()));
}

#[tokio::test]
async fn rfc6749_3_1_2_registered_query_is_kept_on_the_code_redirect() {
    let provider = TestProvider::start().await;
    provider
        .app
        .directory
        .create_client(dingtalk_oidc::directory::NewClient {
            id: "tenant".into(),
            redirect_uris: vec![format!("{REDIRECT_URI}?tenant=1")],
            first_party: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let redirect = format!("{REDIRECT_URI}?tenant=1");
    let landing = Browser::new("alice")
        .journey(&authorize_url(&provider.issuer, &with(&base("tenant"), "redirect_uri", &redirect)), false)
        .await;
    assert_eq!(landing.param("tenant").as_deref(), Some("1"));
    assert!(landing.param("code").is_some());
}

#[tokio::test]
async fn oidc_core_3_1_2_1_authorization_request_by_post_form_works() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let browser = Browser::new("alice");
    let resp = browser.http.post(provider.url("/authorize")).form(&base("app")).send().await.unwrap();
    let location = redirect_location(&resp).expect("redirect to DingTalk");
    let landing = browser.journey(&location, false).await;
    assert!(landing.param("code").is_some());
}

#[tokio::test]
async fn rfc6749_10_14_state_with_markup_is_escaped_on_pages() {
    let provider = TestProvider::start().await;
    let url = authorize_url(
        &provider.issuer,
        &[("client_id", "<script>alert(1)</script>"), ("state", "<script>alert(2)</script>")],
    );
    let body = assert_error_page(&url).await;
    assert!(!body.contains("<script>alert"), "{body}");
}

#[tokio::test]
async fn rfc9700_4_16_pages_forbid_framing_and_set_security_headers() {
    let provider = TestProvider::start().await;
    let resp = get(&provider.url("/authorize")).await;
    let h = resp.headers();
    assert!(h.get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
}

#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_login_and_max_age_force_a_fresh_dingtalk_login() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let browser = Browser::new("alice");
    assert!(browser.journey(&authorize_url(&provider.issuer, &base("app")), false).await.param("code").is_some());
    for (name, value) in [("prompt", "login"), ("max_age", "0")] {
        let resp =
            browser.http.get(authorize_url(&provider.issuer, &with(&base("app"), name, value))).send().await.unwrap();
        let location = redirect_location(&resp).unwrap();
        assert!(location.starts_with(&provider.simulator_url), "{name}={value} must go back to DingTalk: {location}");
    }
    // A session younger than max_age is reused silently.
    let resp =
        browser.http.get(authorize_url(&provider.issuer, &with(&base("app"), "max_age", "3600"))).send().await.unwrap();
    assert!(redirect_location(&resp).unwrap().starts_with(REDIRECT_URI));
}

/// A browser that has no session of its own, only the cookie value given.
async fn with_session_cookie(provider: &TestProvider, client: &str, cookie_value: &str) -> reqwest::Response {
    let url = authorize_url(&provider.issuer, &with(&base(client), "prompt", "none"));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .header("cookie", format!("dtoidc_session={cookie_value}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn rfc6749_10_3_the_sid_a_relying_party_sees_is_not_a_session_cookie() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app-a", false, true).await.unwrap();
    provider.register("app-b", false, true).await;
    let browser = Browser::new("alice");
    let code = common::obtain_code(&provider, &browser, "app-a").await;
    let tokens = common::exchange_code(&provider, "app-a", &secret, &code).await;
    // Back-Channel Logout 1.0 §2.1: the sid is shown to every relying party and resource server of
    // the session (ID token, access token, introspection, logout token).
    let sid = common::unverified_claims(tokens["id_token"].as_str().unwrap())["sid"].as_str().unwrap().to_string();
    assert_eq!(common::unverified_claims(tokens["access_token"].as_str().unwrap())["sid"], sid.as_str());

    // Put in a cookie, it opens no session at another client: no code, login_required.
    let resp = with_session_cookie(&provider, "app-b", &sid).await;
    let location = redirect_location(&resp).expect("a redirect to the client");
    let landing = url::Url::parse(&location).unwrap();
    let error = landing.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned());
    assert_eq!(error.as_deref(), Some("login_required"), "{location}");
    assert!(!location.contains("code="), "{location}");

    // The cookie the browser really holds is something else, and it does work.
    let cookie = browser.cookie(&provider.issuer, "dtoidc_session").expect("a session cookie");
    assert_ne!(cookie, sid);
    assert!(cookie.starts_with(&format!("{sid}.")), "the sid and a secret: {cookie}");
    let resp = with_session_cookie(&provider, "app-b", &cookie).await;
    assert!(redirect_location(&resp).unwrap().contains("code="));
    // The sid with any other secret is refused.
    let forged = format!("{sid}.{}", "A".repeat(43));
    let resp = with_session_cookie(&provider, "app-b", &forged).await;
    assert!(redirect_location(&resp).unwrap().contains("error=login_required"));
}
