//! UserInfo (OIDC Core §5.3) as an RFC 6750 protected resource.

use crate::common;

use crate::common::{Browser, REDIRECT_URI, TestProvider, obtain_code};
use reqwest::StatusCode;

async fn tokens(provider: &TestProvider, scope_override: Option<&str>) -> serde_json::Value {
    let secret = provider.register("app", false, true).await.unwrap();
    let browser = Browser::new("alice");
    let code = match scope_override {
        None => obtain_code(provider, &browser, "app").await,
        Some(scope) => {
            let url = common::authorize_url(
                &provider.issuer,
                &[
                    ("client_id", "app"),
                    ("redirect_uri", REDIRECT_URI),
                    ("response_type", "code"),
                    ("scope", scope),
                    ("code_challenge", common::CHALLENGE),
                    ("code_challenge_method", "S256"),
                ],
            );
            browser.journey(&url, false).await.param("code").unwrap()
        }
    };
    common::exchange_code(provider, "app", &secret, &code).await
}

fn challenge(resp: &reqwest::Response) -> String {
    resp.headers().get("www-authenticate").unwrap().to_str().unwrap().to_string()
}

#[tokio::test]
async fn rfc6750_3_no_credentials_is_401_with_a_bare_bearer_challenge() {
    let provider = TestProvider::start().await;
    let resp = reqwest::get(provider.url("/userinfo")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let c = challenge(&resp);
    assert!(c.starts_with("Bearer") && !c.contains("error="), "{c}");
}

#[tokio::test]
async fn rfc9700_4_3_2_access_token_in_the_query_is_not_accepted() {
    let provider = TestProvider::start().await;
    let body = tokens(&provider, None).await;
    let url = format!("{}?access_token={}", provider.url("/userinfo"), body["access_token"].as_str().unwrap());
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&resp).contains("error="));
}

#[tokio::test]
async fn rfc9068_4_invalid_or_id_tokens_are_invalid_token() {
    let provider = TestProvider::start().await;
    let body = tokens(&provider, None).await;
    let http = reqwest::Client::new();
    for bad in ["garbage", body["id_token"].as_str().unwrap()] {
        let resp = http.get(provider.url("/userinfo")).bearer_auth(bad).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(challenge(&resp).contains("error=\"invalid_token\""));
    }
    // A token with one signature byte flipped.
    let at = body["access_token"].as_str().unwrap();
    let sig_start = at.rfind('.').unwrap() + 1;
    let middle = sig_start + 100;
    let flipped = if &at[middle..=middle] == "A" { "B" } else { "A" };
    let tampered = format!("{}{}{}", &at[..middle], flipped, &at[middle + 1..]);
    let resp = http.get(provider.url("/userinfo")).bearer_auth(&tampered).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rfc6750_2_header_and_body_token_together_is_invalid_request() {
    let provider = TestProvider::start().await;
    let body = tokens(&provider, None).await;
    let at = body["access_token"].as_str().unwrap();
    let http = reqwest::Client::new();
    let resp = http.post(provider.url("/userinfo")).bearer_auth(at).form(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(challenge(&resp).contains("error=\"invalid_request\""));
    // The form body alone works, as does the header alone on GET and POST.
    let resp = http.post(provider.url("/userinfo")).form(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http.post(provider.url("/userinfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn oidc_core_5_3_2_userinfo_releases_only_granted_scopes_and_matches_id_token_sub() {
    let provider = TestProvider::start().await;
    let body = tokens(&provider, Some("openid")).await;
    let resp = reqwest::Client::new()
        .get(provider.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let info: serde_json::Value = resp.json().await.unwrap();
    let members: Vec<&String> = info.as_object().unwrap().keys().collect();
    assert_eq!(members, vec!["sub"], "scope=openid releases only sub");
}

#[tokio::test]
async fn disabled_user_access_token_no_longer_answers_userinfo() {
    let provider = TestProvider::start().await;
    let body = tokens(&provider, None).await;
    let at = body["access_token"].as_str().unwrap();
    let http = reqwest::Client::new();
    let info: serde_json::Value =
        http.get(provider.url("/userinfo")).bearer_auth(at).send().await.unwrap().json().await.unwrap();
    provider.app.directory.set_user_disabled(info["sub"].as_str().unwrap(), true).await.unwrap();
    let resp = http.get(provider.url("/userinfo")).bearer_auth(at).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
