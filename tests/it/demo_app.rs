//! The demo relying party `serve --dev` runs (`dingtalk_oidc::demo`), driven over HTTP against the
//! real provider as a browser would: sign in, see verified claims, refresh, revoke, log out. Its
//! registration is idempotent, and its ID token checks refuse what OIDC Core §3.1.3.7 refuses.

use crate::common;

use crate::common::{Browser, TestProvider};
use dingtalk_oidc::demo::{self, rp};
use reqwest::StatusCode;
use serde_json::Value;

/// A provider with the demo app beside it; returns the demo's URL.
async fn with_demo() -> (TestProvider, String) {
    let p = TestProvider::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = demo::start(&p.issuer, &p.app.directory, listener).await.expect("the demo starts");
    (p, url)
}

/// Follows redirects from `resp` (relative ones too), signing in at the simulator as the browser's
/// user and approving consent, until a page is shown; returns its URL, status and body.
async fn follow(browser: &Browser, mut url: url::Url, mut resp: reqwest::Response) -> (url::Url, StatusCode, String) {
    for _ in 0..15 {
        if let Some(location) = common::redirect_location(&resp) {
            url = url.join(&location).unwrap();
            if url.path() == "/oauth2/auth" && !url.query_pairs().any(|(k, _)| k == "login_as") {
                url.query_pairs_mut().append_pair("login_as", &browser.login);
            }
            resp = browser.http.get(url.clone()).send().await.unwrap();
            continue;
        }
        let status = resp.status();
        let body = resp.text().await.unwrap();
        if status == StatusCode::OK && body.contains("name=\"consent_id\"") {
            let next = browser.answer_consent(&body, "approve").await.expect("consent redirects");
            url = url.join(&next).unwrap();
            resp = browser.http.get(url.clone()).send().await.unwrap();
            continue;
        }
        return (url, status, body);
    }
    panic!("too many redirects");
}

async fn post(browser: &Browser, url: &str) -> (url::Url, StatusCode, String) {
    let resp = browser.http.post(url).send().await.unwrap();
    follow(browser, url::Url::parse(url).unwrap(), resp).await
}

async fn get(browser: &Browser, url: &str) -> (url::Url, StatusCode, String) {
    let resp = browser.http.get(url).send().await.unwrap();
    follow(browser, url::Url::parse(url).unwrap(), resp).await
}

/// The JSON shown in `<pre id="{id}">`.
fn shown_json(page: &str, id: &str) -> Value {
    let text = shown_text(page, id);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("#{id} is not JSON ({e}): {text}"))
}

fn shown_text(page: &str, id: &str) -> String {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} on the page: {page}"));
    let start = start + page[start..].find('>').unwrap() + 1;
    let end = start + page[start..].find('<').unwrap();
    let text = &page[start..end];
    text.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

#[tokio::test]
async fn the_demo_signs_in_shows_verified_claims_and_refreshes_revokes_and_logs_out() {
    let (p, demo_url) = with_demo().await;
    let browser = Browser::new("alice");

    let (_, _, landing) = get(&browser, &format!("{demo_url}/")).await;
    assert!(landing.contains("Sign in with DingTalk"), "{landing}");

    // Sign in: the demo sends the browser to /authorize with state, nonce and PKCE.
    let login = browser.http.post(format!("{demo_url}/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let authorize = url::Url::parse(&common::redirect_location(&login).unwrap()).unwrap();
    assert!(authorize.as_str().starts_with(&p.url("/authorize?")), "{authorize}");
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], demo::CLIENT_ID);
    assert_eq!(query["redirect_uri"], format!("{demo_url}/callback"));
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(!query["state"].is_empty() && !query["nonce"].is_empty());
    let (url, status, page) = follow(&browser, url::Url::parse(&demo_url).unwrap(), login).await;
    assert_eq!((url.as_str(), status), (format!("{demo_url}/").as_str(), StatusCode::OK), "{page}");
    assert!(page.contains("Signed in as Alice"), "{page}");
    let claims = shown_json(&page, "id-token-claims");
    assert_eq!(claims["name"], "Alice");
    assert_eq!(claims["aud"], demo::CLIENT_ID);
    assert_eq!(claims["iss"], p.issuer.as_str());
    assert_eq!(claims["nonce"], query["nonce"].as_str(), "the nonce this sign-in sent");
    let sub = claims["sub"].as_str().unwrap().to_string();
    assert_eq!(shown_json(&page, "userinfo")["sub"], sub.as_str());
    assert_eq!(shown_json(&page, "id-token-header")["alg"], "RS256");
    let access = shown_json(&page, "access-token-claims");
    assert_eq!(access["client_id"], demo::CLIENT_ID);
    assert!(access["scope"].as_str().unwrap().contains("offline_access"), "{access}");
    let csp = browser.http.get(format!("{demo_url}/")).send().await.unwrap();
    let csp = csp.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
    assert_eq!(csp, dingtalk_oidc::web::headers::HTML_CSP, "the token page runs no script");

    // Refresh: new tokens for the same user.
    let (_, _, page) = post(&browser, &format!("{demo_url}/refresh")).await;
    assert!(shown_text(&page, "notice").starts_with("Refreshed"), "{page}");
    let refreshed = shown_json(&page, "access-token-claims");
    assert_ne!(refreshed["jti"], access["jti"], "a new access token");
    assert_eq!(refreshed["sub"], sub.as_str());
    assert_eq!(shown_json(&page, "id-token-claims")["sub"], sub.as_str());

    // Revoke: the provider refuses a refresh with the revoked token.
    let (_, _, page) = post(&browser, &format!("{demo_url}/revoke")).await;
    let notice = shown_text(&page, "notice");
    assert!(notice.starts_with("Revoked") && notice.contains("invalid_grant"), "{notice}");
    assert!(!page.contains("id=\"refresh\""), "no Refresh without a refresh token: {page}");

    // Log out: through the provider's end_session_endpoint and back, with the state checked.
    assert!(browser.cookie(&p.issuer, "dtoidc_session").is_some(), "signed in at the provider");
    let (url, _, page) = post(&browser, &format!("{demo_url}/logout")).await;
    assert_eq!(url.path(), "/signed-out", "{url}");
    assert!(shown_text(&page, "notice").contains("Signed out of the demo and of the provider"), "{page}");
    assert!(browser.cookie(&p.issuer, "dtoidc_session").is_none(), "the provider's session ended");
    let (_, _, page) = get(&browser, &format!("{demo_url}/")).await;
    assert!(page.contains("Sign in with DingTalk"), "the demo forgot the user: {page}");
}

#[tokio::test]
async fn rfc6749_10_12_a_callback_without_this_browsers_state_is_refused() {
    let (_p, demo_url) = with_demo().await;
    let browser = Browser::new("alice");
    let resp = browser.http.get(format!("{demo_url}/callback?code=c&state=s")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("No sign-in is in progress"));

    let login = browser.http.post(format!("{demo_url}/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let resp = browser.http.get(format!("{demo_url}/callback?code=c&state=not-the-one")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("The state does not match"));
}

#[tokio::test]
async fn oidc_core_3_1_3_7_the_demo_refuses_id_tokens_for_another_nonce_audience_user_or_signature() {
    let p = TestProvider::start().await;
    let secret = p.register("app", false, true).await.unwrap();
    let code = common::obtain_code(&p, &Browser::new("bob"), "app").await;
    let tokens = common::exchange_code(&p, "app", &secret, &code).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sub = common::unverified_claims(id_token)["sub"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let metadata = rp::discover(&http, &p.issuer).await.unwrap();
    let nonce = "n-0S6_WzA2Mj"; // what common::obtain_code sends
    let verify = async |client_id: &str, token: &str, expected: rp::Expected<'_>| {
        rp::verify_id_token(&http, &metadata, client_id, token, expected).await
    };
    let claims = verify("app", id_token, rp::Expected::Login { nonce }).await.expect("the genuine token");
    assert_eq!(claims["sub"], sub.as_str());
    assert!(verify("app", id_token, rp::Expected::Refresh { sub: &sub }).await.is_ok(), "a refresh's check");
    assert!(verify("app", id_token, rp::Expected::Login { nonce: "other" }).await.is_err(), "nonce");
    assert!(verify("demo", id_token, rp::Expected::Login { nonce }).await.is_err(), "audience");
    assert!(verify("app", id_token, rp::Expected::Refresh { sub: "someone-else" }).await.is_err(), "user");
    let (signed, signature) = id_token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
    assert!(verify("app", &tampered, rp::Expected::Login { nonce }).await.is_err(), "signature");
}

#[tokio::test]
async fn the_demo_client_is_registered_once_and_updated_with_a_fresh_secret_at_each_start() {
    let p = TestProvider::start().await;
    let first = demo::register_client(&p.app.directory, "http://127.0.0.1:18082").await.unwrap();
    let second = demo::register_client(&p.app.directory, "http://127.0.0.1:28082").await.unwrap();
    let clients = p.app.directory.list_clients().await.unwrap();
    assert_eq!(clients.iter().filter(|c| c.id == demo::CLIENT_ID).count(), 1, "registered once");
    let client = p.app.directory.client(demo::CLIENT_ID).await.unwrap().unwrap();
    assert_eq!(client.redirect_uris, ["http://127.0.0.1:28082/callback"], "follows the demo's address");
    assert_eq!(client.post_logout_redirect_uris, ["http://127.0.0.1:28082/signed-out"]);
    assert!(!client.public && !client.first_party, "confidential, and the consent page is shown");
    assert!(client.allows_scope("offline_access") && client.allows_scope("roles") && client.allows_scope("groups"));
    assert_ne!(first.client_secret, second.client_secret);
    assert!(!client.verify_secret(&first.client_secret), "the last start's secret no longer works");
    assert!(client.verify_secret(&second.client_secret));

    // A public client that took the id is not silently replaced.
    p.app.directory.remove_client(demo::CLIENT_ID).await.unwrap();
    p.app
        .directory
        .create_client(dingtalk_oidc::directory::NewClient {
            id: demo::CLIENT_ID.into(),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            public: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = demo::register_client(&p.app.directory, "http://127.0.0.1:28082").await.unwrap_err();
    assert!(refused.to_string().contains("dev.demo_listen"), "{refused}");
}
