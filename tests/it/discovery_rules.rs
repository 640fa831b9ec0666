//! Discovery (OIDC Discovery 1.0 §3-4, RFC 8414) and JWKS (RFC 7517, OIDC Core §10.1).

use crate::common;

use crate::common::TestProvider;
use reqwest::StatusCode;

async fn get_json(url: &str) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

fn assert_no_empty_arrays_or_nulls(value: &serde_json::Value) {
    match value {
        serde_json::Value::Null => panic!("null member"),
        serde_json::Value::Array(items) => {
            assert!(!items.is_empty(), "empty array member");
            items.iter().for_each(assert_no_empty_arrays_or_nulls);
        }
        serde_json::Value::Object(map) => map.values().for_each(assert_no_empty_arrays_or_nulls),
        _ => {}
    }
}

#[tokio::test]
async fn oidc_discovery_3_document_lists_required_members_and_only_what_is_implemented() {
    let provider = TestProvider::start().await;
    let (status, headers, doc) = get_json(&provider.url("/.well-known/openid-configuration")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/json"));
    assert_eq!(doc["issuer"], provider.issuer);
    for member in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "scopes_supported",
        "claims_supported",
        "subject_types_supported",
    ] {
        assert!(!doc[member].is_null(), "missing {member}");
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(doc["response_modes_supported"], serde_json::json!(["query", "form_post"]));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    // RFC 8628 §4.
    assert_eq!(doc["device_authorization_endpoint"], format!("{}/device_authorization", provider.issuer));
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
    assert!(doc["scopes_supported"].as_array().unwrap().contains(&serde_json::json!("offline_access")));
    for endpoint in ["revocation_endpoint", "introspection_endpoint", "end_session_endpoint"] {
        assert!(doc[endpoint].as_str().unwrap().starts_with(&provider.issuer), "{endpoint}");
    }
    assert!(
        !doc["introspection_endpoint_auth_methods_supported"].as_array().unwrap().contains(&serde_json::json!("none"))
    );
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    );
    // OIDC Discovery §3: with private_key_jwt, the algorithms; asymmetric only, never none.
    let algs = doc["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&serde_json::json!("RS256")), "{algs:?}");
    assert!(!algs.iter().any(|a| a == "none" || a.as_str().is_some_and(|a| a.starts_with("HS"))), "{algs:?}");
    // RFC 9126 §5.
    assert_eq!(doc["pushed_authorization_request_endpoint"], format!("{}/par", provider.issuer));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    // The pages' languages, as `ui_locales` names them (OIDC Core §3.1.2.1).
    assert_eq!(doc["ui_locales_supported"], serde_json::json!(["en", "zh-CN"]));
    assert!(doc["scopes_supported"].as_array().unwrap().contains(&serde_json::json!("openid")));
    for endpoint in ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"] {
        assert!(doc[endpoint].as_str().unwrap().starts_with(&provider.issuer));
    }
    assert_no_empty_arrays_or_nulls(&doc);
}

#[tokio::test]
async fn oidc_discovery_3_response_modes_supported_lists_query_and_form_post_and_both_are_honoured() {
    let provider = TestProvider::start().await;
    provider.register("app", false, true).await;
    let (_, _, doc) = get_json(&provider.url("/.well-known/openid-configuration")).await;
    // Discovery §3's default (["query", "fragment"]) would announce fragment, which is refused.
    assert_eq!(doc["response_modes_supported"], serde_json::json!(["query", "form_post"]));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for mode in doc["response_modes_supported"].as_array().unwrap() {
        let url = common::authorize_url(
            &provider.issuer,
            &[
                ("client_id", "app"),
                ("redirect_uri", common::REDIRECT_URI),
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", common::CHALLENGE),
                ("code_challenge_method", "S256"),
                ("response_mode", mode.as_str().unwrap()),
            ],
        );
        // Accepted: on to the DingTalk login, not refused back to the client.
        let location = common::redirect_location(&http.get(url).send().await.unwrap()).unwrap();
        assert!(location.starts_with(&provider.simulator_url), "{mode}: {location}");
    }
}

#[tokio::test]
async fn rfc8414_3_oauth_metadata_agrees_with_openid_configuration() {
    let provider = TestProvider::start().await;
    let (_, _, oidc) = get_json(&provider.url("/.well-known/openid-configuration")).await;
    let (status, _, oauth) = get_json(&provider.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(oidc, oauth);
}

#[tokio::test]
async fn oidc_discovery_4_issuer_with_a_path_serves_metadata_below_it() {
    let provider = TestProvider::start_with(|c| c.issuer = format!("{}/tenant-1", c.issuer)).await;
    let issuer = format!("{}/tenant-1", provider.issuer);
    let (status, _, doc) = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks.json"));
    let (status, _, jwks) = get_json(doc["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let (status, _, _) =
        get_json(&format!("{}/.well-known/oauth-authorization-server/tenant-1", provider.issuer)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn rfc7517_5_jwks_publishes_only_public_rsa_members_with_kid_use_and_alg() {
    let provider = TestProvider::start().await;
    let (status, headers, jwks) = get_json(&provider.url("/jwks.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("cache-control").unwrap().to_str().unwrap().contains("max-age="));
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let members: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(!members.contains(&private), "private member {private} published");
        }
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        let (n, e) = (key["n"].as_str().unwrap(), key["e"].as_str().unwrap());
        assert_eq!(key["kid"], dingtalk_oidc::keys::rfc7638_thumbprint(n, e), "kid is the RFC 7638 thumbprint");
    }
}

#[tokio::test]
async fn rfc9110_8_8_3_discovery_and_jwks_answer_304_to_a_matching_etag() {
    let provider = TestProvider::start().await;
    let http = reqwest::Client::new();
    for path in ["/jwks.json", "/.well-known/openid-configuration"] {
        let first = http.get(provider.url(path)).send().await.unwrap();
        let etag = first.headers().get("etag").unwrap().to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "strong ETag: {etag}");
        let second = http.get(provider.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        let other = http.get(provider.url(path)).header("if-none-match", "\"other\"").send().await.unwrap();
        assert_eq!(other.status(), StatusCode::OK);
    }
}
