//! Token endpoint rules (RFC 6749 §2.3, §3.2, §4.1.3, §5; RFC 7636 §4.5-4.6; OIDC Core §3.1.3).

use crate::common;

use crate::common::{Browser, REDIRECT_URI, TestProvider, VERIFIER, obtain_code, token_request};
use reqwest::StatusCode;

fn exchange<'a>(code: &'a str, client_id: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
    ]
}

fn assert_oauth_error(status: StatusCode, body: &serde_json::Value, want_status: StatusCode, want: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], want, "{body}");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn rfc6749_4_1_2_code_is_single_use() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let code = obtain_code(&provider, &Browser::new("alice"), "app").await;
    let (status, headers, body) = token_request(&provider, Some(("app", &secret)), &exchange(&code, "app")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // RFC 6749 §5.1: both no-store and no-cache on token responses.
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(headers.get("pragma").unwrap(), "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].is_u64());
    let (status, headers, body) = token_request(&provider, Some(("app", &secret)), &exchange(&code, "app")).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn rfc6749_4_1_2_code_is_single_use_under_concurrency() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let code = obtain_code(&provider, &Browser::new("alice"), "app").await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (url, code, secret) = (provider.url("/token"), code.clone(), secret.clone());
        attempts.spawn(async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth("app", Some(secret))
                .form(&exchange(&code, "app"))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let statuses = attempts.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn rfc6749_4_1_3_code_issued_to_another_client_is_invalid_grant() {
    let provider = TestProvider::start().await;
    provider.register("app-a", false, true).await.unwrap();
    let secret_b = provider.register("app-b", false, true).await.unwrap();
    let code = obtain_code(&provider, &Browser::new("alice"), "app-a").await;
    let (status, _, body) = token_request(&provider, Some(("app-b", &secret_b)), &exchange(&code, "app-b")).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn rfc6749_4_1_2_expired_code_is_invalid_grant() {
    let provider = TestProvider::start_with(|c| c.tokens.code_ttl_secs = 1).await;
    let secret = provider.register("app", false, true).await.unwrap();
    let code = obtain_code(&provider, &Browser::new("alice"), "app").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &exchange(&code, "app")).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn rfc7636_4_6_wrong_or_missing_code_verifier_is_invalid_grant() {
    let provider = TestProvider::start().await;
    provider.register("spa", true, true).await;
    let browser = Browser::new("alice");
    let code = obtain_code(&provider, &browser, "spa").await;
    let mut form = exchange(&code, "spa");
    let wrong = format!("{}X", &VERIFIER[..VERIFIER.len() - 1]);
    form.retain(|(k, _)| *k != "code_verifier");
    form.push(("code_verifier", &wrong));
    let (status, _, body) = token_request(&provider, None, &form).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    let code = obtain_code(&provider, &browser, "spa").await;
    let mut form = exchange(&code, "spa");
    form.retain(|(k, _)| *k != "code_verifier");
    let (status, _, body) = token_request(&provider, None, &form).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn rfc6749_5_2_wrong_client_secret_is_401_invalid_client_with_basic_challenge() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await.unwrap();
    let code = obtain_code(&provider, &Browser::new("alice"), "app").await;
    let (status, headers, body) =
        token_request(&provider, Some(("app", "wrong-secret")), &exchange(&code, "app")).await;
    assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(headers.get("www-authenticate").unwrap().to_str().unwrap().starts_with("Basic"));
    // Same by the body (client_secret_post).
    let mut form = exchange(&code, "app");
    form.push(("client_secret", "wrong-secret"));
    let (status, _, body) = token_request(&provider, None, &form).await;
    assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    // A confidential client presenting only its id.
    let (status, _, body) = token_request(&provider, None, &exchange(&code, "app")).await;
    assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn rfc6749_2_3_two_authentication_methods_or_mismatched_client_id_is_invalid_request() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let mut form = exchange("whatever", "app");
    form.push(("client_secret", &secret));
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &form).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &exchange("whatever", "other")).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn rfc6749_4_1_3_redirect_uri_must_be_sent_and_identical() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let browser = Browser::new("alice");
    let code = obtain_code(&provider, &browser, "app").await;
    let mut form = exchange(&code, "app");
    form.retain(|(k, _)| *k != "redirect_uri");
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &form).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");

    let code = obtain_code(&provider, &browser, "app").await;
    let other = format!("{REDIRECT_URI}/");
    let mut form = exchange(&code, "app");
    form.retain(|(k, _)| *k != "redirect_uri");
    form.push(("redirect_uri", &other));
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &form).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn rfc6749_5_2_grant_type_errors() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &[("grant_type", "password")]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &[("code", "x")]).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    let (status, _, body) = token_request(
        &provider,
        Some(("app", &secret)),
        &[("grant_type", "authorization_code"), ("grant_type", "authorization_code")],
    )
    .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn rfc6749_3_2_token_endpoint_takes_only_form_posts() {
    let provider = TestProvider::start().await;
    let http = reqwest::Client::new();
    let resp = http.get(provider.url("/token")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = http
        .post(provider.url("/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn rfc9700_4_8_2_code_verifier_for_a_code_without_challenge_is_invalid_grant() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let url = common::authorize_url(
        &provider.issuer,
        &[("client_id", "app"), ("redirect_uri", REDIRECT_URI), ("response_type", "code"), ("scope", "openid")],
    );
    let code = Browser::new("alice").journey(&url, false).await.param("code").unwrap();
    let (status, _, body) = token_request(&provider, Some(("app", &secret)), &exchange(&code, "app")).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn rfc9068_2_access_token_is_a_typed_jwt_with_required_claims_and_id_token_carries_the_authorization() {
    use base64::Engine;
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.unwrap();
    let code = obtain_code(&provider, &Browser::new("alice"), "app").await;
    let (_, _, body) = token_request(&provider, Some(("app", &secret)), &exchange(&code, "app")).await;
    let decode = |jwt: &str, part: usize| -> serde_json::Value {
        let seg = jwt.split('.').nth(part).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
    };
    let at = body["access_token"].as_str().unwrap();
    let header = decode(at, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    let claims = decode(at, 1);
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope", "auth_time"] {
        assert!(!claims[claim].is_null(), "access token lacks {claim}");
    }
    assert_eq!(claims["client_id"], "app");
    let id = body["id_token"].as_str().unwrap();
    let id_header = decode(id, 0);
    let header_keys: Vec<_> = id_header.as_object().unwrap().keys().cloned().collect();
    assert!(header_keys.iter().all(|k| ["alg", "kid", "typ"].contains(&k.as_str())), "{header_keys:?}");
    let id_claims = decode(id, 1);
    assert_eq!(id_claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id_claims["aud"], "app");
    assert_eq!(id_claims["sub"], claims["sub"]);
    assert_eq!(id_claims["sid"], claims["sid"]);
    assert!(id_claims.get("azp").is_none());
    assert!(id_claims["exp"].is_i64() && id_claims["iat"].is_i64() && id_claims["auth_time"].is_i64());
    assert_eq!(id_claims["amr"], serde_json::json!(["user"]));
    // OIDC Core §2: sub is ASCII and at most 255 characters.
    let sub = id_claims["sub"].as_str().unwrap();
    assert!(sub.is_ascii() && sub.len() <= 255);
}
