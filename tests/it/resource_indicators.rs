//! Resource indicators for user tokens (RFC 8707): a relying party names the registered API its
//! access tokens are for at /authorize; the tokens of that authorization (and of its refreshes) carry
//! the API as `aud`, so the API can tell a token was meant for it and the provider's own userinfo
//! refuses it.

use crate::common::{self, Browser, REDIRECT_URI, TestProvider, VERIFIER, token_request};
use dingtalk_oidc::directory::NewClient;
use dingtalk_oidc::manage::{self, Actor, Manage};
use reqwest::StatusCode;
use serde_json::Value;

const API: &str = "https://api.example.com/orders";
const OTHER_API: &str = "https://api.example.com/billing";

/// A provider with two APIs and `app`, a first-party relying party allowed one API scope; returns
/// `app`'s secret and the orders API's.
async fn start() -> (TestProvider, String, String) {
    let p = TestProvider::start().await;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let api = |id: &str, uri: &str, scope: &str| NewClient {
        id: id.into(),
        grant_types: Some(vec!["client_credentials".into()]),
        allowed_scopes: Some(vec![]),
        resource_uri: Some(uri.into()),
        resource_scopes: vec![scope.into()],
        resource_server: true,
        ..NewClient::default()
    };
    let (_, api_secret) = manage::clients::create(&m, api("orders-api", API, "orders.read")).await.unwrap();
    manage::clients::create(&m, api("billing-api", OTHER_API, "billing.read")).await.unwrap();
    let app = NewClient {
        id: "app".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        first_party: true,
        allowed_scopes: Some(vec!["openid".into(), "profile".into(), "orders.read".into()]),
        ..NewClient::default()
    };
    let (_, secret) = manage::clients::create(&m, app).await.unwrap();
    (p, secret.unwrap(), api_secret.unwrap())
}

async fn code_for(p: &TestProvider, extra: &[(&str, &str)]) -> common::Landing {
    Browser::new("alice").journey(&common::app_authorize_url(p, "openid profile orders.read", extra), true).await
}

async fn redeem(p: &TestProvider, secret: &str, code: &str, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    form.extend_from_slice(extra);
    let (status, _, body) = token_request(p, Some(("app", secret)), &form).await;
    (status, body)
}

#[tokio::test]
async fn rfc8707_2_a_user_token_for_a_registered_api_names_it_as_audience_through_refreshes() {
    let (p, secret, api_secret) = start().await;
    let code = code_for(&p, &[("resource", API)]).await.param("code").expect("a code");
    let (status, tokens) = redeem(&p, &secret, &code, &[("resource", API)]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = common::unverified_claims(access);
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["client_id"], "app");
    assert!(claims["scope"].as_str().unwrap().split(' ').any(|s| s == "orders.read"), "{claims}");
    // The ID token is still the client's (OIDC Core §2).
    assert_eq!(common::unverified_claims(tokens["id_token"].as_str().unwrap())["aud"], "app");
    // The API sees it is meant for it; the provider's userinfo does not take it.
    let answer = common::introspect(&p, ("orders-api", &api_secret), access).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["aud"], API);
    assert_eq!(common::userinfo_status(&p, access).await, StatusCode::UNAUTHORIZED);
    // Refreshing keeps the audience; naming another resource is refused and consumes nothing.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let other = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", OTHER_API)];
    let (status, _, body) = token_request(&p, Some(("app", &secret)), &other).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")), "{body}");
    let again = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, _, refreshed) = token_request(&p, Some(("app", &secret)), &again).await;
    assert_eq!(status, StatusCode::OK, "the refused request consumed nothing: {refreshed}");
    assert_eq!(common::unverified_claims(refreshed["access_token"].as_str().unwrap())["aud"], API);
    let named = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
        ("resource", API),
    ];
    let (status, _, body) = token_request(&p, Some(("app", &secret)), &named).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn rfc8707_2_an_unregistered_resource_is_refused_at_the_authorization_endpoint() {
    let (p, _, _) = start().await;
    for resource in ["https://unknown.example/api", "not a uri", "https://api.example.com/orders#frag"] {
        let landing = code_for(&p, &[("resource", resource)]).await;
        assert_eq!(landing.param("error").as_deref(), Some("invalid_target"), "{resource}");
        assert_eq!(landing.param("state").as_deref(), Some("rp-state"));
    }
    // Without a resource the token is for the provider's own userinfo, as always.
    let (p, secret, _) = start().await;
    let code = code_for(&p, &[]).await.param("code").unwrap();
    let (status, tokens) = redeem(&p, &secret, &code, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(common::userinfo_status(&p, tokens["access_token"].as_str().unwrap()).await, StatusCode::OK);
}

#[tokio::test]
async fn rfc8707_2_2_the_token_request_may_name_only_the_authorized_resource() {
    let (p, secret, _) = start().await;
    // A code authorized for no API cannot be redeemed for one.
    let code = code_for(&p, &[]).await.param("code").unwrap();
    let (status, body) = redeem(&p, &secret, &code, &[("resource", API)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")), "{body}");
    // Nor one authorized for an API redeemed for another.
    let code = code_for(&p, &[("resource", API)]).await.param("code").unwrap();
    let (status, body) = redeem(&p, &secret, &code, &[("resource", OTHER_API)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")), "{body}");
    // Leaving the resource out at the token endpoint gets the authorized one (§2.2).
    let code = code_for(&p, &[("resource", API)]).await.param("code").unwrap();
    let (status, tokens) = redeem(&p, &secret, &code, &[]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(common::unverified_claims(tokens["access_token"].as_str().unwrap())["aud"], API);
}
