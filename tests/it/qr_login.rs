//! DingTalk's QR code on the provider's own sign-in page (docs/dingtalk-app.md, "The QR code on
//! our own page"; docs/dingtalk-api.md §10): the page's parameters and policy, and a scan that
//! completes the same pending sign-in through the same callback.

use crate::common::{self, Browser, REDIRECT_URI, TestProvider, redirect_location};
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use serde_json::Value;

fn qr_on(c: &mut dingtalk_oidc::config::Config) {
    c.dingtalk.qr_login = true;
    c.dingtalk.ddlogin_url = format!("{}/ddlogin.js", c.dingtalk.login_base_url);
    c.dingtalk.qr_frame_origin = c.dingtalk.login_base_url.clone();
}

async fn start() -> TestProvider {
    let provider = TestProvider::start_with(qr_on).await;
    provider.register("app", false, true).await;
    provider
}

fn authorize(p: &TestProvider, extra: &[(&str, &str)]) -> String {
    common::app_authorize_url(p, "openid", extra)
}

/// The sign-in page: its policy, its `data-state` and the §10 parameters it hands DTFrameLogin.
async fn open_page(browser: &Browser, p: &TestProvider) -> (String, String, Value) {
    let resp = browser.http.get(authorize(p, &[])).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "our page, not a redirect");
    let csp = resp.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert_eq!(resp.headers().get("x-frame-options").unwrap(), "DENY");
    let page = resp.text().await.unwrap();
    assert_eq!(common::assert_inline_scripts_allowed(&page, &csp), 1, "one inline script, allowed by its hash");
    let attr = |name: &str| {
        let marker = format!("{name}=\"");
        let start = page.find(&marker).unwrap() + marker.len();
        common::html_unescape(&page[start..start + page[start..].find('"').unwrap()])
    };
    let params: Value = serde_json::from_str(&attr("data-params")).unwrap();
    (attr("data-state"), format!("{csp}\n{page}"), params)
}

#[tokio::test]
async fn the_page_hands_dtframelogin_the_exact_login_parameters_under_a_strict_policy() {
    let p = start().await;
    let (state, page, params) = open_page(&Browser::new("alice"), &p).await;
    let ddlogin = format!("{}/ddlogin.js", p.simulator_url);
    assert!(page.contains("script-src 'sha256-") && page.contains(&format!("{ddlogin};")), "{page}");
    assert!(page.contains(&format!("frame-src {};", p.simulator_url)));
    assert!(page.contains("frame-ancestors 'none'"));
    assert!(page.contains(&format!("<script src=\"{ddlogin}\">")));
    let dingtalk = &p.app.config.dingtalk;
    assert_eq!(params["client_id"], dingtalk.client_id.as_str());
    assert_eq!(params["redirect_uri"], p.url(paths::CALLBACK).as_str());
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["scope"], "openid corpid");
    assert_eq!(params["corpId"], dingtalk.corp_id.as_deref().unwrap());
    assert_eq!(params["prompt"], "consent");
    assert_eq!(params["state"], state.as_str());
    // The link beside the code is DingTalk's login page for the same pending sign-in.
    assert!(page.contains(&format!("{}/oauth2/auth?", p.simulator_url)) && page.contains(&format!("state={state}")));
}

#[tokio::test]
async fn a_scan_completes_the_same_sign_in_through_the_callback() {
    let p = start().await;
    let browser = Browser::new("alice");
    let (state, _, params) = open_page(&browser, &p).await;
    // The frame ddlogin.js draws, and Alice picked in it (the simulator's scan).
    let mut frame = url::Url::parse(&format!("{}/oauth2/auth", p.simulator_url)).unwrap();
    for (k, v) in params.as_object().unwrap() {
        frame.query_pairs_mut().append_pair(k, v.as_str().unwrap());
    }
    frame.query_pairs_mut().append_pair("embed", "1").append_pair("login_as", "alice");
    let answer = reqwest::get(frame).await.unwrap().text().await.unwrap();
    // §10: the frame posts to the origin of redirect_uri, that is ours, and nowhere else.
    assert!(answer.contains(&format!("\"{}\");</script>", p.issuer)), "{answer}");
    let start = answer.find("\"authCode\":\"").unwrap() + "\"authCode\":\"".len();
    let code = &answer[start..start + answer[start..].find('"').unwrap()];
    // What the page's script then does: our callback with the code and its own state.
    let callback = format!("{}?authCode={code}&state={state}", p.url(paths::CALLBACK));
    let resp = browser.http.get(&callback).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(REDIRECT_URI) && location.contains("code="), "{location}");
    assert!(location.contains("state=rp-state"));
    // The code of a scan is single use like any other.
    let again = browser.http.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rfc6749_10_12_a_scan_cannot_be_finished_in_another_browser() {
    let p = start().await;
    let (state, _, _) = open_page(&Browser::new("alice"), &p).await;
    // The attacker's own scan, with the victim's pending sign-in: refused, nothing issued.
    let resp = Browser::new("mallory")
        .http
        .get(format!("{}?authCode=whatever&state={state}", p.url(paths::CALLBACK)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(redirect_location(&resp).is_none());
}

#[tokio::test]
async fn prompt_none_never_shows_the_page_and_inside_dingtalk_the_silent_sign_in_comes_first() {
    let p = TestProvider::start_with(|c| {
        qr_on(c);
        c.dingtalk.in_app = true;
    })
    .await;
    p.register("app", false, true).await;
    let resp = Browser::new("alice").http.get(authorize(&p, &[("prompt", "none")])).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(REDIRECT_URI) && location.contains("error=login_required"), "{location}");
    let in_dingtalk = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (iPhone) AliApp(DingTalk/7.8.1) com.laiwang.DingTalk/1")
        .build()
        .unwrap();
    let page = in_dingtalk.get(authorize(&p, &[])).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"dingtalk-in-app\"") && !page.contains("id=\"dingtalk-qr\""));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_ui_locales_in_a_posted_request_sets_the_language_of_the_sign_in_page() {
    let p = start().await;
    let mut form: Vec<(String, String)> = url::Url::parse(&authorize(&p, &[("ui_locales", "zh-CN")]))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    form.sort();
    let resp = Browser::new("alice")
        .http
        .post(p.url(paths::AUTHORIZE))
        .header("accept-language", "en")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.unwrap();
    assert!(page.contains("lang=\"zh-CN\"") && page.contains("用钉钉登录"), "{page}");
}
