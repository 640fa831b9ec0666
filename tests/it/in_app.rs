//! Sign-in inside the DingTalk client (docs/dingtalk-app.md "Sign-in inside DingTalk",
//! docs/dingtalk-api.md §9): the page, the code exchange, the fallbacks, and what an attacker
//! would try with a code or a pending sign-in.
//!
//! The JSAPI runs in a browser (scripts/browser-test.sh drives it in Chromium); here the test
//! plays its part over HTTP: it asks the simulator for a code exactly as the fake JSAPI does and
//! posts the page's form.

use crate::common::{self, Browser, REDIRECT_URI, TestProvider, exchange_code, hidden_value, redirect_location};
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An iPhone DingTalk client's user agent (docs/dingtalk-api.md §9.1).
const DINGTALK_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
(KHTML, like Gecko) Mobile/15E148 AliApp(DingTalk/7.8.1) com.laiwang.DingTalk/34587781 Channel/201200";

/// In-app sign-in on, with the simulator's JSAPI (as `serve --dev` sets it).
fn in_app_on(c: &mut dingtalk_oidc::config::Config) {
    c.dingtalk.in_app = true;
    c.dingtalk.jsapi_url = format!("{}/jsapi/dingtalk.open.js", c.dingtalk.login_base_url);
}

async fn start() -> TestProvider {
    start_with_secret().await.0
}

async fn start_with_secret() -> (TestProvider, String) {
    let provider = TestProvider::start_with(in_app_on).await;
    let secret = provider.register("app", false, true).await.unwrap();
    (provider, secret)
}

/// A browser inside DingTalk: the client's user agent, cookies kept, redirects by hand.
fn in_dingtalk() -> Browser {
    let mut browser = Browser::new("alice");
    browser.http = reqwest::Client::builder()
        .cookie_provider(browser.jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(DINGTALK_UA)
        .build()
        .unwrap();
    browser
}

fn authorize(p: &TestProvider, extra: &[(&str, &str)]) -> String {
    common::app_authorize_url(p, "openid profile email", extra)
}

/// What the fake JSAPI asks the simulator for (docs/dingtalk-api.md §9.4): its whole answer.
async fn jsapi_answer(p: &TestProvider, user: &str) -> Value {
    let corp = p.app.config.dingtalk.corp_id.clone().unwrap();
    let body = json!({ "corpId": corp, "clientId": p.app.config.dingtalk.client_id, "user": user });
    let resp = reqwest::Client::new()
        .post(format!("{}/__sim/jsapi/authcode", p.simulator_url))
        .header("content-type", "text/plain")
        .header("origin", &p.issuer)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("access-control-allow-origin").unwrap(), p.issuer.as_str());
    resp.json().await.unwrap()
}

/// The code the JSAPI hands out for `user`.
async fn jsapi_code(p: &TestProvider, user: &str) -> String {
    let answer = jsapi_answer(p, user).await;
    answer["code"].as_str().unwrap_or_else(|| panic!("no code: {answer}")).to_owned()
}

/// The in-app page for `url`: its state, after checking what it must say.
async fn open_page(browser: &Browser, url: &str) -> (String, String) {
    let resp = browser.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a page, not a redirect to the hosted login");
    let csp = resp.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
    assert!(resp.headers().get("x-frame-options").is_none(), "DingTalk's desktop client may frame this page");
    let page = resp.text().await.unwrap();
    assert_eq!(common::assert_inline_scripts_allowed(&page, &csp), 1, "one inline script, allowed by its hash");
    let state = hidden_value(&page, "state").expect("the page's form carries the pending sign-in");
    (state, format!("{csp}\n{page}"))
}

async fn post_page(browser: &Browser, p: &TestProvider, state: &str, code: &str, error: &str) -> reqwest::Response {
    browser
        .http
        .post(p.url(paths::IN_APP_CALLBACK))
        .form(&[("state", state), ("code", code), ("error", error)])
        .send()
        .await
        .unwrap()
}

fn client_param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn in_app_sign_in_reaches_the_client_with_no_click_as_the_same_user() {
    let (p, secret) = start_with_secret().await;
    // Alice signed in once through the hosted login: her sub and e-mail are known.
    let hosted = Browser::new("alice").journey(&authorize(&p, &[]), false).await;
    let first = exchange_code(&p, "app", &secret, &hosted.param("code").unwrap()).await;
    let first_claims = common::unverified_claims(first["id_token"].as_str().unwrap());
    // Her DingTalk profile's address, which the hosted login stored, is not the organisation's.
    use sea_orm::ConnectionTrait;
    let personal = "alice.personal@example.net";
    let sql = format!("UPDATE users SET email = '{personal}' WHERE id = '{}'", first_claims["sub"].as_str().unwrap());
    p.app.directory.connection().execute_unprepared(&sql).await.unwrap();

    let browser = in_dingtalk();
    let (state, page) = open_page(&browser, &authorize(&p, &[])).await;
    let jsapi = format!("{}/jsapi/dingtalk.open.js", p.simulator_url);
    assert!(page.contains("script-src 'sha256-") && page.contains(&format!("{jsapi};")), "{page}");
    assert!(page.contains("frame-ancestors https://*.dingtalk.com"));
    assert!(page.contains(&format!("<script src=\"{jsapi}\">")));
    let corp = p.app.config.dingtalk.corp_id.clone().unwrap();
    assert!(page.contains(&format!("&quot;corp&quot;:&quot;{corp}&quot;")), "{page}");

    let code = jsapi_code(&p, "alice").await;
    let resp = post_page(&browser, &p, &state, &code, "").await;
    let location = redirect_location(&resp).expect("straight back to the client");
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(client_param(&location, "state").as_deref(), Some("rp-state"));
    let tokens = exchange_code(&p, "app", &secret, &client_param(&location, "code").unwrap()).await;
    let claims = common::unverified_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], first_claims["sub"], "the same user, whichever way they signed in");
    assert_eq!(claims["amr"], json!(["dingtalk_app"]));
    assert_eq!(claims["acr"], "urn:dingtalk-oidc:acr:in-app");
    assert_eq!(first_claims["acr"], "urn:dingtalk-oidc:acr:hosted-login");
    // The in-app answer has no profile: what the hosted login stored stays, even where the
    // organisation knows another address.
    assert_eq!(claims["email"], personal);
    assert_eq!(
        p.app.directory.user(claims["sub"].as_str().unwrap()).await.unwrap().unwrap().email.as_deref(),
        Some(personal)
    );
    // The code never shows in a URL the browser saw.
    assert!(!location.contains(&code));
    // Signed in: the next authorize inside DingTalk uses the SSO session, no page.
    let again = browser.http.get(authorize(&p, &[])).send().await.unwrap();
    assert!(redirect_location(&again).unwrap().starts_with(REDIRECT_URI));
}

/// With no hosted login before, there is no profile address: the organisation's, as a hosted
/// login without one takes it.
#[tokio::test]
async fn a_first_sign_in_inside_dingtalk_takes_the_organisation_s_address() {
    let (p, secret) = start_with_secret().await;
    let browser = in_dingtalk();
    let (state, _) = open_page(&browser, &authorize(&p, &[])).await;
    let code = jsapi_code(&p, "bob").await;
    let location = redirect_location(&post_page(&browser, &p, &state, &code, "").await).unwrap();
    let tokens = exchange_code(&p, "app", &secret, &client_param(&location, "code").unwrap()).await;
    let claims = common::unverified_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["name"], "Bob");
}

#[tokio::test]
async fn rfc6749_10_12_an_in_app_code_is_single_use_and_bound_to_the_browser_that_started() {
    let p = start().await;
    let browser = in_dingtalk();
    let (state, _) = open_page(&browser, &authorize(&p, &[])).await;
    let code = jsapi_code(&p, "alice").await;
    // Another browser posting the victim's pending sign-in gets nowhere.
    let attacker = in_dingtalk();
    let resp = post_page(&attacker, &p, &state, &code, "").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(redirect_location(&resp).is_none());

    // A code used once is refused the second time (docs/dingtalk-api.md §9.2: 40078).
    let (state, _) = open_page(&browser, &authorize(&p, &[])).await;
    let code = jsapi_code(&p, "alice").await;
    let resp = post_page(&browser, &p, &state, &code, "").await;
    assert!(redirect_location(&resp).unwrap().starts_with(REDIRECT_URI));
    let fresh = in_dingtalk();
    let (state, _) = open_page(&fresh, &authorize(&p, &[])).await;
    let resp = post_page(&fresh, &p, &state, &code, "").await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(resp.text().await.unwrap().contains("expired or been used already"));
    // The pending sign-in itself is single use too.
    let resp = post_page(&fresh, &p, &state, "whatever", "").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_hosted_login_code_is_not_an_in_app_code() {
    let p = start().await;
    let browser = in_dingtalk();
    let (state, _) = open_page(&browser, &authorize(&p, &[])).await;
    // A code from DingTalk's login page (docs/dingtalk-api.md §1), taken from its redirect.
    let login = format!(
        "{}&login_as=alice",
        p.app.organisations.default_org().client.authorize_url(&p.url(paths::CALLBACK), "s")
    );
    let resp = Browser::new("alice").http.get(login).send().await.unwrap();
    let oauth_code = client_param(&redirect_location(&resp).unwrap(), "authCode").unwrap();
    let resp = post_page(&browser, &p, &state, &oauth_code, "").await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(p.app.directory.list_users(None, 0, 10).await.unwrap().1, 0, "nobody signed in");
}

#[tokio::test]
async fn a_jsapi_failure_goes_on_to_the_hosted_login_with_the_same_sign_in() {
    let p = start().await;
    let browser = in_dingtalk();
    let (state, _) = open_page(&browser, &authorize(&p, &[])).await;
    let refused = jsapi_answer(&p, "alice-not-here").await;
    assert!(refused.get("code").is_none() && refused["errorCode"].is_string(), "{refused}");
    let resp = post_page(&browser, &p, &state, "", "jsapi:7").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let hosted = redirect_location(&resp).unwrap();
    assert!(hosted.starts_with(&format!("{}/oauth2/auth", p.simulator_url)), "{hosted}");
    assert_eq!(client_param(&hosted, "state").as_deref(), Some(state.as_str()));
    // The hosted login completes it in the same browser.
    let landing = browser.journey(&hosted, false).await;
    assert_eq!(landing.param("state").as_deref(), Some("rp-state"));
    assert!(landing.param("code").is_some());
}

#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_none_inside_dingtalk_signs_in_without_a_session() {
    let p = start().await;
    let browser = in_dingtalk();
    let (state, page) = open_page(&browser, &authorize(&p, &[("prompt", "none")])).await;
    assert!(!page.contains("/oauth2/auth"), "no way to DingTalk's login page for a silent request");
    let code = jsapi_code(&p, "alice").await;
    let resp = post_page(&browser, &p, &state, &code, "").await;
    let location = redirect_location(&resp).unwrap();
    assert!(client_param(&location, "code").is_some(), "{location}");

    // Where the JSAPI fails, the client hears login_required, and no login page is shown.
    let other = in_dingtalk();
    let (state, _) = open_page(&other, &authorize(&p, &[("prompt", "none")])).await;
    let resp = post_page(&other, &p, &state, "", "timeout").await;
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(REDIRECT_URI));
    assert_eq!(client_param(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(client_param(&location, "state").as_deref(), Some("rp-state"));

    // Outside DingTalk, prompt=none without a session is login_required at once, as ever.
    let outside = Browser::new("alice").http.get(authorize(&p, &[("prompt", "none")])).send().await.unwrap();
    assert_eq!(client_param(&redirect_location(&outside).unwrap(), "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn outside_dingtalk_the_hosted_login_is_used_and_pages_keep_frame_ancestors_none() {
    let p = start().await;
    let resp = Browser::new("alice").http.get(authorize(&p, &[])).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(&format!("{}/oauth2/auth", p.simulator_url)), "{location}");
    // Every other page still refuses framing.
    let page = reqwest::get(p.url(paths::AUTHORIZE)).await.unwrap();
    assert_eq!(page.headers().get("x-frame-options").unwrap(), "DENY");
    let csp = page.headers().get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn a_user_deactivated_in_the_organisation_is_refused_with_access_denied() {
    let p = start().await;
    let browser = in_dingtalk();
    let (state, _) = open_page(&browser, &authorize(&p, &[])).await;
    let code = jsapi_code(&p, "alice").await;
    // HR deactivates Alice between the code and its use: the membership rule of every sign-in
    // (login::membership) applies to this one too.
    p.simulator.set_active("alice", false);
    let resp = post_page(&browser, &p, &state, &code, "").await;
    let location = redirect_location(&resp).unwrap();
    assert_eq!(client_param(&location, "error").as_deref(), Some("access_denied"));
}

/// OIDC Core §3.1.2.1: prompt=login asks the user to authenticate again, which the DingTalk
/// client's silent code is not: DingTalk's own login page, even inside the client.
#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_login_inside_dingtalk_goes_to_the_hosted_login() {
    let p = start().await;
    let resp = in_dingtalk().http.get(authorize(&p, &[("prompt", "login")])).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(&format!("{}/oauth2/auth", p.simulator_url)), "{location}");
}

#[tokio::test]
async fn with_in_app_off_dingtalk_s_user_agent_changes_nothing() {
    let p = TestProvider::start().await;
    p.register("app", false, true).await;
    let resp = in_dingtalk().http.get(authorize(&p, &[])).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(&format!("{}/oauth2/auth", p.simulator_url)), "{location}");
}
