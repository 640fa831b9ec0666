//! The client credentials grant (RFC 6749 §4.4) with resource indicators (RFC 8707): a service
//! gets an RFC 9068 token for one registered API; the token is good for that API only, and only
//! that API (and the service itself) learns about it by introspection.

use crate::common::{self, REDIRECT_URI, TestProvider, token_request};
use dingtalk_oidc::directory::{ClientUpdate, NewClient};
use dingtalk_oidc::manage::{self, Actor, Manage};
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use serde_json::Value;

const API: &str = "https://api.example.com/orders";
const OTHER_API: &str = "https://api.example.com/billing";

/// A service (`svc`, allowed `orders.read`), the orders API (`orders-api`, a resource server with
/// `orders.read orders.write`), and the billing API; returns the secrets of svc and orders-api.
async fn start() -> (TestProvider, String, String) {
    let p = TestProvider::start().await;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let register = |new: NewClient| manage::clients::create(&m, new);
    let (_, svc) = register(NewClient {
        id: "svc".into(),
        grant_types: Some(vec!["client_credentials".into()]),
        allowed_scopes: Some(vec!["orders.read".into(), "billing.read".into()]),
        ..NewClient::default()
    })
    .await
    .unwrap();
    let (_, api) = register(NewClient {
        id: "orders-api".into(),
        grant_types: Some(vec!["client_credentials".into()]),
        allowed_scopes: Some(vec![]),
        resource_uri: Some(API.into()),
        resource_scopes: vec!["orders.read".into(), "orders.write".into()],
        ..NewClient::default()
    })
    .await
    .unwrap();
    register(NewClient {
        id: "billing-api".into(),
        grant_types: Some(vec!["client_credentials".into()]),
        resource_uri: Some(OTHER_API.into()),
        resource_scopes: vec!["billing.read".into()],
        ..NewClient::default()
    })
    .await
    .unwrap();
    (p, svc.unwrap(), api.unwrap())
}

async fn ask(p: &TestProvider, client: (&str, &str), extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let (status, _, body) = token_request(p, Some(client), &form).await;
    (status, body)
}

#[tokio::test]
async fn rfc6749_4_4_a_service_gets_an_rfc9068_token_for_one_registered_api() {
    let (p, svc, _) = start().await;
    let (status, body) = ask(&p, ("svc", &svc), &[("resource", API)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // §4.4.3: no refresh token; no ID token (no user signed in).
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "orders.read", "the API's scopes the client is allowed");
    let token = body["access_token"].as_str().unwrap();
    let header: Value = {
        use base64::Engine;
        let part = token.split('.').next().unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    assert_eq!(header["typ"], "at+jwt", "RFC 9068 §2.1");
    let claims = common::unverified_claims(token);
    assert_eq!(claims["sub"], "svc", "RFC 9068 §2.2: the client itself");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["aud"], API, "RFC 8707 §2: the API the token is for");
    assert!(claims.get("auth_time").is_none() && claims.get("sid").is_none(), "no user: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
}

#[tokio::test]
async fn rfc8707_2_a_missing_or_unknown_resource_is_invalid_target() {
    let (p, svc, _) = start().await;
    for extra in [&[][..], &[("resource", "https://api.example.com/unknown")][..], &[("resource", "not a uri")][..]] {
        let (status, body) = ask(&p, ("svc", &svc), extra).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")), "{body}");
    }
    // The provider's own resources are not APIs a service can ask for.
    let userinfo = p.url(paths::USERINFO);
    let (_, body) = ask(&p, ("svc", &svc), &[("resource", &userinfo)]).await;
    assert_eq!(body["error"], "invalid_target");
}

#[tokio::test]
async fn rfc6749_3_3_a_scope_beyond_the_api_s_or_the_client_s_is_invalid_scope() {
    let (p, svc, _) = start().await;
    // orders.write is the API's but not the client's; openid is neither's.
    for scope in ["orders.write", "orders.read orders.write", "openid", "billing.read"] {
        let (status, body) = ask(&p, ("svc", &svc), &[("resource", API), ("scope", scope)]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope")),
            "{scope}: {body}"
        );
    }
    let (status, body) = ask(&p, ("svc", &svc), &[("resource", OTHER_API), ("scope", "billing.read")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_api_that_moves_its_resource_uri_is_found_there_at_once() {
    let (p, svc, _) = start().await;
    assert_eq!(ask(&p, ("svc", &svc), &[("resource", API)]).await.0, StatusCode::OK);
    // The token endpoint keeps which client stands for which API; a change is seen at once.
    let moved = "https://api.example.com/orders/v2";
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let update = ClientUpdate { resource_uri: Some(Some(moved.into())), ..ClientUpdate::default() };
    manage::clients::update(&m, "orders-api", update).await.unwrap();
    let (status, body) = ask(&p, ("svc", &svc), &[("resource", API)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")), "{body}");
    let (status, body) = ask(&p, ("svc", &svc), &[("resource", moved)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(common::unverified_claims(body["access_token"].as_str().unwrap())["aud"], moved);
}

#[tokio::test]
async fn rfc6749_4_4_only_a_confidential_client_allowed_the_grant_and_with_its_secret() {
    let (p, svc, _) = start().await;
    let (status, body) = ask(&p, ("svc", "wrong"), &[("resource", API)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert_eq!(ask(&p, ("svc", &svc), &[("resource", API)]).await.0, StatusCode::OK);
    // A client registered for sign-ins only is not allowed the grant.
    let rp = p.register("rp", false, true).await.unwrap();
    let (status, body) = ask(&p, ("rp", &rp), &[("resource", API)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")), "{body}");
    // A public client cannot be registered for it.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let public = NewClient {
        id: "spa".into(),
        public: true,
        redirect_uris: vec![REDIRECT_URI.into()],
        grant_types: Some(vec!["authorization_code".into(), "client_credentials".into()]),
        ..NewClient::default()
    };
    assert!(manage::clients::create(&m, public).await.is_err());
}

#[tokio::test]
async fn a_service_token_is_good_for_its_api_only() {
    let (p, svc, _) = start().await;
    let (_, body) = ask(&p, ("svc", &svc), &[("resource", API)]).await;
    let token = body["access_token"].as_str().unwrap();
    // Not at userinfo, not at the admin API: their audiences are the provider's own.
    assert_eq!(common::userinfo_status(&p, token).await, StatusCode::UNAUTHORIZED);
    let admin = reqwest::Client::new().get(p.url("/admin/v1/clients")).bearer_auth(token).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rfc7662_4_the_api_a_token_is_for_and_its_client_see_it_and_no_other() {
    let (p, svc, api) = start().await;
    let (_, body) = ask(&p, ("svc", &svc), &[("resource", API)]).await;
    let token = body["access_token"].as_str().unwrap();
    let seen = common::introspect(&p, ("orders-api", &api), token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!((seen["sub"].as_str(), seen["aud"].as_str()), (Some("svc"), Some(API)));
    assert_eq!(seen["scope"], "orders.read");
    assert!(seen.get("auth_time").is_none(), "{seen}");
    assert_eq!(common::introspect(&p, ("svc", &svc), token).await["active"], true);
    // Another API, even a registered resource server, learns nothing.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let (_, billing) = manage::clients::rotate_secret(&m, "billing-api").await.map(|s| ((), s)).unwrap();
    assert_eq!(common::introspect(&p, ("billing-api", &billing), token).await, serde_json::json!({"active": false}));
    let update = ClientUpdate { resource_server: Some(true), ..ClientUpdate::default() };
    manage::clients::update(&m, "billing-api", update).await.unwrap();
    assert_eq!(common::introspect(&p, ("billing-api", &billing), token).await, serde_json::json!({"active": false}));
    // RFC 7009: the service revokes it; the API then sees it inactive.
    let resp = reqwest::Client::new()
        .post(p.url(paths::REVOKE))
        .basic_auth("svc", Some(&svc))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(common::introspect(&p, ("orders-api", &api), token).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn a_resource_indicator_is_one_api_s_and_never_the_provider_s_own() {
    let (p, _, _) = start().await;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let api = |id: &str, uri: String| NewClient {
        id: id.into(),
        grant_types: Some(vec!["client_credentials".into()]),
        resource_uri: Some(uri),
        resource_scopes: vec!["x.read".into()],
        ..NewClient::default()
    };
    for uri in [API.to_owned(), p.url(paths::USERINFO), p.url("/admin"), p.issuer.clone()] {
        let err = manage::clients::create(&m, api("taker", uri.clone())).await.unwrap_err();
        assert!(err.to_string().contains("resource_uri"), "{uri}: {err}");
    }
    for uri in ["http://api.example.com/x", "https://api.example.com/x#frag", "relative/path"] {
        assert!(manage::clients::create(&m, api("taker", uri.into())).await.is_err(), "{uri}");
    }
    let own = NewClient { resource_scopes: vec!["openid".into()], ..api("taker", "https://api.example.com/y".into()) };
    assert!(manage::clients::create(&m, own).await.is_err(), "the provider's scopes are not an API's");
}

#[tokio::test]
async fn the_openidconnect_crate_gets_a_client_credentials_token() {
    use openidconnect::core::{CoreClient, CoreProviderMetadata};
    use openidconnect::{ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, Scope};
    let (p, svc, _) = start().await;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(p.issuer.clone()).unwrap(), &crate::rp_flow::rp_http)
            .await
            .unwrap();
    let grants = metadata.grant_types_supported().unwrap();
    assert!(grants.iter().any(|g| g.as_ref() == "client_credentials"), "discovery lists the grant");
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new("svc".into()), Some(ClientSecret::new(svc)));
    let tokens = client
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("orders.read".into()))
        .add_extra_param("resource", API)
        .request_async(&crate::rp_flow::rp_http)
        .await
        .unwrap();
    let claims = common::unverified_claims(tokens.access_token().secret());
    assert_eq!((claims["sub"].as_str(), claims["aud"].as_str()), (Some("svc"), Some(API)));
    assert!(tokens.refresh_token().is_none());
}

#[tokio::test]
async fn the_admin_api_registers_a_service_and_an_api_without_redirect_uris() {
    let p = TestProvider::start_with(|c| c.admin_token = Some(dingtalk_oidc::config::Secret("cc-admin".into()))).await;
    let http = reqwest::Client::new();
    let register = async |body: Value| {
        let resp = http.post(p.url("/admin/v1/clients")).bearer_auth("cc-admin").json(&body).send().await.unwrap();
        let status = resp.status();
        (status, resp.json::<Value>().await.unwrap())
    };
    let (status, api) = register(serde_json::json!({
        "id": "orders-api",
        "grant_types": ["client_credentials"],
        "resource_uri": API,
        "resource_scopes": ["orders.read"],
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["client"]["resource_uri"], API);
    let (status, svc) = register(serde_json::json!({
        "id": "svc",
        "grant_types": ["client_credentials"],
        "allowed_scopes": ["orders.read"],
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{svc}");
    let secret = svc["client_secret"].as_str().unwrap();
    assert_eq!(ask(&p, ("svc", secret), &[("resource", API)]).await.0, StatusCode::OK);
    // A client that signs users in still needs a redirect URI.
    let (status, body) = register(serde_json::json!({ "id": "web" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
