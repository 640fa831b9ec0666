//! What a browser sees: CORS only where a browser app needs it (never with credentials, never at
//! /authorize), security headers on each kind of response, and cookie attributes under an https
//! issuer (RFC 9700 §2.6, §4.16; RFC 6265bis `__Host-`).

use crate::common;

use crate::common::{REDIRECT_URI, TestProvider};
use reqwest::StatusCode;

async fn preflight(p: &TestProvider, path: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, p.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_only_for_registered_web_origins_and_never_at_authorize() {
    let p = TestProvider::start().await;
    p.app
        .directory
        .create_client(dingtalk_oidc::directory::NewClient {
            id: "spa".into(),
            redirect_uris: vec!["https://spa.example/callback".into()],
            public: true,
            ..Default::default()
        })
        .await
        .unwrap();
    for path in ["/token", "/userinfo", "/revoke"] {
        let ok = preflight(&p, path, "https://spa.example").await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "https://spa.example");
        assert!(ok.headers().get("access-control-allow-credentials").is_none(), "never with credentials");
        let other = preflight(&p, path, "https://evil.example").await;
        assert!(other.headers().get("access-control-allow-origin").is_none(), "{path} for an unregistered origin");
    }
    let actual = reqwest::Client::new()
        .post(p.url("/token"))
        .header("origin", "https://spa.example")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(actual.headers().get("access-control-allow-origin").unwrap(), "https://spa.example");
    // RFC 9700 §2.6: no CORS at the authorization endpoint.
    let authorize = preflight(&p, "/authorize", "https://spa.example").await;
    assert!(authorize.headers().get("access-control-allow-origin").is_none());
    let get =
        reqwest::Client::new().get(p.url("/authorize")).header("origin", "https://spa.example").send().await.unwrap();
    assert!(get.headers().get("access-control-allow-origin").is_none());
    // Public metadata: any origin.
    for path in ["/.well-known/openid-configuration", "/jwks.json"] {
        let resp =
            reqwest::Client::new().get(p.url(path)).header("origin", "https://any.example").send().await.unwrap();
        assert_eq!(resp.headers().get("access-control-allow-origin").unwrap(), "*");
        let pre = preflight(&p, path, "https://any.example").await;
        assert_eq!(pre.headers().get("access-control-allow-origin").unwrap(), "*");
    }
}

#[tokio::test]
async fn security_headers_on_each_kind_of_response() {
    let p = TestProvider::start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let json_error = http.post(p.url("/token")).form(&[("grant_type", "password")]).send().await.unwrap();
    let page = http.get(p.url("/authorize")).send().await.unwrap();
    let metadata = http.get(p.url("/jwks.json")).send().await.unwrap();
    let not_found = http.get(p.url("/nowhere")).send().await.unwrap();
    for resp in [&json_error, &page, &metadata, &not_found] {
        assert_eq!(resp.headers().get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(resp.headers().get("referrer-policy").unwrap(), "no-referrer");
        assert!(resp.headers().get("strict-transport-security").is_none(), "no HSTS over an http issuer");
    }
    assert_eq!(json_error.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(json_error.headers().get("pragma").unwrap(), "no-cache");
    let csp = page.headers().get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script allowed at all");
    assert_eq!(page.headers().get("x-frame-options").unwrap(), "DENY");
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");
    assert!(metadata.headers().get("cache-control").unwrap().to_str().unwrap().starts_with("public"));
}

#[tokio::test]
async fn https_issuer_cookies_are_host_prefixed_secure_httponly_lax_and_hsts_is_sent() {
    let p = TestProvider::start_with(|c| c.issuer = c.issuer.replace("http://", "https://")).await;
    p.register("app", false, true).await;
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-dtoidc_binding="), "{cookie}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain="), "__Host- cookies carry no Domain");
    assert!(resp.headers().get("strict-transport-security").unwrap().to_str().unwrap().contains("max-age="));
}

#[tokio::test]
async fn pages_speak_chinese_or_english_by_ui_locales_and_accept_language() {
    let p = TestProvider::start().await;
    let http = reqwest::Client::new();
    let zh = http
        .get(format!("{}?client_id=nobody", p.url("/authorize")))
        .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        zh.contains("lang=\"zh-CN\"") && zh.contains("登录请求无效") && zh.contains("该应用（client_id）未注册。"),
        "{zh}"
    );
    let en = http
        .get(format!("{}?client_id=nobody&ui_locales=en", p.url("/authorize")))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("lang=\"en\"") && en.contains("Invalid sign-in request"), "ui_locales wins: {en}");

    // The consent page too: client name and scopes in plain words, labelled buttons, no script.
    p.register("third", false, false).await;
    let browser = common::Browser::new("alice");
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "third"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
            ("ui_locales", "zh-CN"),
        ],
    );
    let resp = browser.http.get(url).header("accept-language", "zh-CN").send().await.unwrap();
    let dingtalk = common::redirect_location(&resp).unwrap();
    let landing = common::Browser { http: browser.http.clone(), login: "alice".into(), jar: browser.jar.clone() }
        .journey(&dingtalk, false)
        .await;
    let (status, page) = landing.page();
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Test app third") && page.contains("查看您的姓名") && page.contains(">允许<"), "{page}");
    assert!(!page.contains("<script"));
}

#[tokio::test]
async fn hostile_sizes_and_a_consent_post_without_csrf_are_refused() {
    let p = TestProvider::start().await;
    let secret = p.register("app", false, true).await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // A body beyond the form limit: a JSON error, not a 500.
    let huge = "x".repeat(200 * 1024);
    let resp = http
        .post(p.url("/token"))
        .basic_auth("app", Some(&secret))
        .form(&[("grant_type", "authorization_code"), ("code", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // One parameter too long at /authorize: invalid_request back to the (valid) client.
    let long_state = "s".repeat(5000);
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", &long_state),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let resp = http.get(url).send().await.unwrap();
    let location = common::redirect_location(&resp).unwrap();
    assert!(location.starts_with(REDIRECT_URI) && location.contains("error=invalid_request"), "{location}");
    // A consent POST with no anti-CSRF token at all.
    let resp =
        http.post(p.url("/consent")).form(&[("consent_id", "anything"), ("decision", "approve")]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("location").is_none());
}

/// The admin API's interactive docs run Swagger UI, whose script is inline in the page: that route
/// alone allows exactly those scripts by hash (CSP Level 3 hash-source) and lets them call this
/// origin; every other page keeps the policy without any script.
#[tokio::test]
async fn admin_docs_allow_their_own_inline_scripts_by_hash_and_every_other_page_stays_script_free() {
    use base64::Engine;
    use sha2::Digest;
    let p = TestProvider::start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let docs = http.get(p.url("/admin/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let csp = docs.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
    let page = docs.text().await.unwrap();
    let directive = |name: &str| -> Vec<String> {
        let found = csp.split(';').map(str::trim).find(|d| d.split(' ').next() == Some(name));
        found.map(|d| d.split(' ').skip(1).map(str::to_string).collect()).unwrap_or_default()
    };
    // The hashes of the page's inline scripts, as a browser computes them.
    let mut expected = Vec::new();
    let mut rest = page.as_str();
    while let Some(start) = rest.find("<script") {
        let body = start + rest[start..].find('>').unwrap() + 1;
        let end = body + rest[body..].find("</script>").unwrap();
        let digest = sha2::Sha256::digest(&rest.as_bytes()[body..end]);
        expected.push(format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
        rest = &rest[end..];
    }
    assert!(expected.len() >= 2, "Swagger UI's bundle and its start-up script");
    assert_eq!(directive("script-src"), expected, "{csp}");
    assert_eq!(directive("connect-src"), ["'self'"], "try it out calls this origin only: {csp}");
    assert_eq!(directive("default-src"), ["'none'"], "{csp}");
    assert_eq!(directive("frame-ancestors"), ["'none'"], "{csp}");

    let pages = [
        http.get(p.url("/authorize")).send().await.unwrap(),
        http.get(p.url("/logout")).send().await.unwrap(),
        http.get(p.url("/authorize?client_id=nobody&redirect_uri=https://evil.example/")).send().await.unwrap(),
    ];
    for resp in pages {
        let content_type = resp.headers().get("content-type").unwrap().to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let csp = resp.headers().get("content-security-policy").unwrap().to_str().unwrap();
        assert_eq!(csp, dingtalk_oidc::web::headers::HTML_CSP);
        assert!(!csp.contains("script-src"), "{csp}");
    }
}
