//! The DingTalk callback: browser binding, state, corp membership and every upstream failure end in
//! a clear answer — never a 500 page.

use crate::common;

use std::time::Duration;

use crate::common::{Browser, CHALLENGE, REDIRECT_URI, TestProvider, authorize_url, redirect_location};
use dingtalk_oidc::dingtalk::Fault;
use reqwest::StatusCode;

fn login_url(provider: &TestProvider) -> String {
    authorize_url(
        &provider.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "rp-state"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// Starts a login in `browser` and returns the DingTalk authorize URL it was sent to.
async fn start_login(provider: &TestProvider, browser: &Browser) -> String {
    let resp = browser.http.get(login_url(provider)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(&provider.simulator_url), "{location}");
    location
}

fn assert_clear_page(landing: &common::Landing, status: StatusCode, phrase: &str) {
    let (got, body) = landing.page();
    assert_eq!(got, status, "{body}");
    assert!(body.contains(phrase), "page should say {phrase:?}: {body}");
    assert!(!body.to_lowercase().contains("panicked"));
}

#[tokio::test]
async fn rfc6749_10_12_callback_with_unknown_state_is_refused() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let browser = Browser::new("alice");
    start_login(&provider, &browser).await;
    let landing =
        browser.journey(&provider.url("/callback/dingtalk?authCode=abc&code=abc&state=not-the-state"), false).await;
    assert_clear_page(&landing, StatusCode::BAD_REQUEST, "expired or was already completed");
    let landing = browser.journey(&provider.url("/callback/dingtalk?authCode=abc"), false).await;
    assert_clear_page(&landing, StatusCode::BAD_REQUEST, "no state");
}

#[tokio::test]
async fn rfc9700_4_7_login_csrf_callback_in_another_browser_is_refused() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    // The attacker starts a login and lures the victim's browser through the rest of it.
    let attacker = Browser::new("mallory");
    let dingtalk_url = start_login(&provider, &attacker).await;
    let victim = Browser::new("alice");
    let landing = victim.journey(&dingtalk_url, false).await;
    assert_clear_page(&landing, StatusCode::BAD_REQUEST, "another browser");
}

#[tokio::test]
async fn dingtalk_user_outside_the_corp_gets_access_denied() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let landing = Browser::new("mallory").journey(&login_url(&provider), true).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"));
    assert_eq!(landing.param("state").as_deref(), Some("rp-state"));
    assert_eq!(landing.param("iss").as_deref(), Some(provider.issuer.as_str()));
    assert!(landing.param("code").is_none());
    let mallory = provider.simulator.directory().user_by_login("mallory").unwrap().union_id.clone();
    assert!(
        provider.app.directory.user_by_union_id("ding-demo-corp", &mallory).await.unwrap().is_none(),
        "no account is created"
    );
}

#[tokio::test]
async fn dingtalk_user_refusing_login_gets_access_denied() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    provider.simulator.set_fault(Some(Fault::LoginDenied));
    let landing = Browser::new("alice").journey(&login_url(&provider), true).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"));
    assert_eq!(landing.param("state").as_deref(), Some("rp-state"));
}

#[tokio::test]
async fn form_post_2_a_refusal_at_the_callback_reaches_the_client_as_a_posted_form() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let form_post = format!("{}&response_mode=form_post", login_url(&provider));
    // Outside the corp, then refusing the login at DingTalk: both answered after the callback.
    let outsider = Browser::new("mallory").journey(&form_post, false).await;
    provider.simulator.set_fault(Some(Fault::LoginDenied));
    let refusing = Browser::new("alice").journey(&form_post, false).await;
    for landing in [outsider, refusing] {
        let (status, page) = landing.page();
        assert_eq!(status, StatusCode::OK, "{page}");
        let (action, fields) = common::posted_form(page).expect("a form_post page");
        assert_eq!(action, REDIRECT_URI);
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(field("error"), Some("access_denied"));
        assert_eq!(field("state"), Some("rp-state"));
        assert_eq!(field("iss"), Some(provider.issuer.as_str()));
        assert!(field("code").is_none());
    }
}

#[tokio::test]
async fn dingtalk_user_not_found_in_the_org_gets_access_denied() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    provider.simulator.set_fault(Some(Fault::UserNotFound));
    let landing = Browser::new("alice").journey(&login_url(&provider), true).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn dingtalk_rejections_show_a_clear_bad_gateway_page() {
    for fault in [Fault::InvalidCode, Fault::ExpiredToken, Fault::PermissionDenied] {
        let provider = TestProvider::start().await;
        provider.register("app", false, true).await;
        provider.simulator.set_fault(Some(fault.clone()));
        let landing = Browser::new("alice").journey(&login_url(&provider), true).await;
        assert_clear_page(&landing, StatusCode::BAD_GATEWAY, "DingTalk sign-in failed");
    }
}

#[tokio::test]
async fn dingtalk_outages_and_throttling_show_a_clear_503_page() {
    for fault in [Fault::QpsLimit, Fault::ServerError] {
        let provider = TestProvider::start().await;
        provider.register("app", false, true).await;
        provider.simulator.set_fault(Some(fault.clone()));
        let landing = Browser::new("alice").journey(&login_url(&provider), true).await;
        assert_clear_page(&landing, StatusCode::SERVICE_UNAVAILABLE, "DingTalk sign-in failed");
    }
}

#[tokio::test]
async fn dingtalk_latency_beyond_the_timeout_is_a_fast_503_and_recovery_follows() {
    let provider = TestProvider::start_with(|c| c.dingtalk.timeout_ms = 300).await;
    provider.register("app", false, true).await;
    provider.simulator.set_fault(Some(Fault::Latency(Duration::from_millis(1500))));
    let browser = Browser::new("alice");
    let dingtalk_url = start_login(&provider, &browser).await;
    // The simulator's login page is delayed too; collect the callback URL without the provider.
    provider.simulator.set_fault(None);
    let mut target = url::Url::parse(&dingtalk_url).unwrap();
    target.query_pairs_mut().append_pair("login_as", "alice");
    let resp = browser.http.get(target).send().await.unwrap();
    let callback = redirect_location(&resp).unwrap();
    provider.simulator.set_fault(Some(Fault::Latency(Duration::from_millis(1500))));
    let started = std::time::Instant::now();
    let landing = browser.journey(&callback, false).await;
    assert_clear_page(&landing, StatusCode::SERVICE_UNAVAILABLE, "DingTalk sign-in failed");
    assert!(started.elapsed() < Duration::from_millis(1400), "the timeout bounds the wait");
    // DingTalk is back: a new login succeeds.
    provider.simulator.set_fault(None);
    let landing = browser.journey(&login_url(&provider), true).await;
    assert!(landing.param("code").is_some());
}

#[tokio::test]
async fn membership_rule_a_dingtalk_user_who_is_not_active_cannot_sign_in() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    // Deactivated in DingTalk (`active: false`, as the demo directory has him): the same rule as
    // the upstream recheck refuses him.
    provider.simulator.set_active("dave", false);
    let landing = Browser::new("dave").journey(&login_url(&provider), true).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"), "{landing:?}");
    assert_eq!(landing.param("state").as_deref(), Some("rp-state"));
    assert!(landing.param("code").is_none());
    let dave = provider.simulator.directory().user_by_login("dave").unwrap().union_id.clone();
    assert!(
        provider.app.directory.user_by_union_id("ding-demo-corp", &dave).await.unwrap().is_none(),
        "no account is created"
    );
    // Active again: he signs in.
    provider.simulator.set_active("dave", true);
    let landing = Browser::new("dave").journey(&login_url(&provider), true).await;
    assert!(landing.param("code").is_some(), "{landing:?}");
}
