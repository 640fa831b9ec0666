//! The provider's pages as a browser gets them: the operator's `[branding]` (name, logo, colours)
//! on each provider's own pages, and every request value escaped in what the templates render
//! (RFC 6749 §10.14).

use crate::common;

use crate::common::{Browser, CHALLENGE, REDIRECT_URI, TestProvider, authorize_url};
use dingtalk_oidc::directory::NewClient;
use reqwest::StatusCode;

const HOSTILE: &str = "\"'><script>alert(1)</script>&";
const ESCAPED: &str = "&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;";

fn consent_request(client_id: &str) -> Vec<(&str, &str)> {
    vec![
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "s1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

async fn page(url: &str, accept_language: &str) -> (StatusCode, String) {
    let resp = reqwest::Client::new().get(url).header("accept-language", accept_language).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn branding_shows_on_each_providers_own_pages_in_both_languages() {
    let acme = TestProvider::start_with(|c| {
        c.branding.product_name = "Acme & Co SSO".into();
        c.branding.logo_url = Some("https://cdn.example/acme.svg".into());
        c.branding.primary_color = "#0b5394".into();
    })
    .await;
    // A second provider in the same process keeps its own (default) branding.
    let plain = TestProvider::start().await;

    let unknown_client = |p: &TestProvider| format!("{}?client_id=nobody", p.url("/authorize"));
    let (status, en) = page(&unknown_client(&acme), "en").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("<title>Invalid sign-in request · Acme &amp; Co SSO</title>"), "{en}");
    assert!(en.contains("<img src=\"https://cdn.example/acme.svg\" alt=\"Acme &amp; Co SSO\">"), "{en}");
    assert!(en.contains("<span>Acme &amp; Co SSO</span>") && en.contains("background:#0b5394;"), "{en}");
    // 中文: the page is translated, the operator's name is shown as written.
    let (_, zh) = page(&unknown_client(&acme), "zh-CN").await;
    assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("<h1>登录请求无效</h1>"), "{zh}");
    assert!(zh.contains("<span>Acme &amp; Co SSO</span>") && !zh.contains("钉钉登录"), "{zh}");

    let (_, en) = page(&unknown_client(&plain), "en").await;
    assert!(en.contains("<span>DingTalk sign-in</span>") && !en.contains("Acme") && !en.contains("<img"), "{en}");
    assert!(en.contains("background:#1f6feb;"), "{en}");
    let (_, zh) = page(&unknown_client(&plain), "zh-CN").await;
    assert!(zh.contains("<title>登录请求无效 · 钉钉登录</title>") && zh.contains("<span>钉钉登录</span>"), "{zh}");

    // The consent page of a branded provider, in 中文 by ui_locales.
    acme.register("third", false, false).await;
    let mut pairs = consent_request("third");
    pairs.push(("ui_locales", "zh-CN"));
    let landing = Browser::new("alice").journey(&authorize_url(&acme.issuer, &pairs), false).await;
    let (status, consent) = landing.page();
    assert_eq!(status, StatusCode::OK);
    assert!(consent.contains("<title>授权访问 · Acme &amp; Co SSO</title>") && consent.contains(">允许<"), "{consent}");
    assert!(consent.contains("alt=\"Acme &amp; Co SSO\"") && consent.contains("name=\"consent_id\""), "{consent}");
}

#[tokio::test]
async fn rfc6749_10_14_consent_page_escapes_a_hostile_client_name_and_still_works() {
    let p = TestProvider::start().await;
    p.app
        .directory
        .create_client(NewClient {
            id: "hostile".into(),
            name: Some(HOSTILE.into()),
            redirect_uris: vec![REDIRECT_URI.into()],
            public: true,
            first_party: false,
            ..NewClient::default()
        })
        .await
        .unwrap();
    let browser = Browser::new("alice");
    let landing = browser.journey(&authorize_url(&p.issuer, &consent_request("hostile")), false).await;
    let (status, page) = landing.page();
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("<h1>Allow {ESCAPED}?</h1>")), "{page}");
    assert!(page.contains(&format!("<p><strong>{ESCAPED}</strong> asks to:</p>")), "{page}");
    assert!(!page.contains("<script"), "{page}");
    let location = browser.answer_consent(page, "approve").await.expect("a redirect");
    assert!(location.starts_with(&format!("{REDIRECT_URI}?code=")), "{location}");
}

#[tokio::test]
async fn rfc6749_10_14_form_post_page_escapes_a_hostile_state_and_posts_it_unchanged() {
    let p = TestProvider::start().await;
    p.register("app", false, true).await;
    let mut pairs = consent_request("app");
    pairs.retain(|(k, _)| *k != "state");
    pairs.push(("state", HOSTILE));
    pairs.push(("response_mode", "form_post"));
    let landing = Browser::new("alice").journey(&authorize_url(&p.issuer, &pairs), false).await;
    let (status, page) = landing.page();
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("name=\"state\" value=\"{ESCAPED}\">")), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "only the page's own script: {page}");
    let (action, fields) = common::posted_form(page).expect("a form");
    assert_eq!(action, REDIRECT_URI);
    assert!(fields.contains(&("state".to_string(), HOSTILE.to_string())), "{fields:?}");
}
