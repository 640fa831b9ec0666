//! Pushed authorization requests (RFC 9126): a client posts its authorization request on the back
//! channel, authenticated, and sends the browser to /authorize with only its client_id and the
//! one-time request_uri it got back.

use crate::common::{
    self, Backend, Browser, CHALLENGE, Harness, REDIRECT_URI, TestProvider, VERIFIER, on_backends, token_request,
};
use dingtalk_oidc::directory::{ClientUpdate, NewClient};
use dingtalk_oidc::manage::{self, Actor, Manage};
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use serde_json::Value;

on_backends!(
    rfc9126_2_2_a_pushed_request_gets_a_request_uri_and_the_authorization_completes_with_it,
    rfc9126_4_a_request_uri_is_single_use,
    rfc9126_4_an_expired_request_uri_is_refused,
    rfc9126_4_a_request_uri_is_good_only_for_the_client_that_pushed_it,
    rfc9126_4_parameters_beside_the_request_uri_are_not_used,
    rfc9126_2_1_the_client_authenticates_as_at_the_token_endpoint,
    rfc9126_2_1_a_pushed_request_is_validated_as_at_the_authorization_endpoint,
    rfc9126_6_a_client_that_requires_pushed_requests_cannot_start_one_in_the_browser,
    a_public_client_pushes_with_its_client_id_and_pkce,
);

const URN: &str = "urn:ietf:params:oauth:request_uri:";

/// A provider on `backend` with `app` (confidential, secret returned) and `native` (public).
async fn start(backend: Backend) -> Option<(Harness, String)> {
    let h = Harness::start(backend).await?;
    let secret = h.provider.register("app", false, true).await.unwrap();
    h.provider.register("native", true, true).await;
    h.provider.register("other", false, true).await;
    Some((h, secret))
}

/// The authorization request `app` pushes, plus `extra`.
fn request(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "pushed-state"),
        ("nonce", "pushed-nonce"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

/// POST /par with `form`, with Basic credentials when given.
async fn push(p: &TestProvider, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(p.url(paths::PAR)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    if status == StatusCode::CREATED {
        assert_eq!(resp.headers()["cache-control"], "no-store", "RFC 9126 §2.2");
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Pushes `app`'s request with Basic authentication; returns the request_uri.
async fn push_app(p: &TestProvider, secret: &str) -> String {
    let (status, body) = push(p, Some(("app", secret)), &request(&[])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["request_uri"].as_str().unwrap().to_string()
}

fn authorize_with(p: &TestProvider, client_id: &str, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("client_id", client_id), ("request_uri", request_uri)];
    pairs.extend_from_slice(extra);
    common::authorize_url(&p.issuer, &pairs)
}

async fn rfc9126_2_2_a_pushed_request_gets_a_request_uri_and_the_authorization_completes_with_it(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let (status, body) = push(p, Some(("app", &secret)), &request(&[])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with(URN) && request_uri.len() >= URN.len() + 43, "{request_uri}");
    assert_eq!(body["expires_in"], 60);
    // The browser carries only the client_id and the request_uri; the state, PKCE challenge and
    // nonce come from the pushed request.
    let landing = Browser::new("alice").journey(&authorize_with(p, "app", request_uri, &[]), true).await;
    assert_eq!(landing.param("state").as_deref(), Some("pushed-state"));
    assert_eq!(landing.param("iss").as_deref(), Some(p.issuer.as_str()), "RFC 9207");
    let code = landing.param("code").expect("a code");
    let tokens = common::exchange_code(p, "app", &secret, &code).await;
    let claims = common::unverified_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], "pushed-nonce");
    assert_eq!(claims["aud"], "app");
    // The PKCE challenge was the pushed one: a wrong verifier fails.
    let again = Browser::new("alice").journey(&authorize_with(p, "app", &push_app(p, &secret).await, &[]), true).await;
    let (status, _, body) = token_request(
        p,
        Some(("app", &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &again.param("code").unwrap()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &VERIFIER.replace('d', "e")),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    // Discovery names the endpoint (§5).
    let doc: Value = reqwest::get(p.url(paths::DISCOVERY)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["pushed_authorization_request_endpoint"], p.url(paths::PAR));
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    h.finish().await;
}

async fn rfc9126_4_a_request_uri_is_single_use(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let request_uri = push_app(p, &secret).await;
    let url = authorize_with(p, "app", &request_uri, &[]);
    assert!(Browser::new("alice").journey(&url, true).await.param("code").is_some());
    // A second use (a replay of the browser's URL) is refused with a page, never a redirect.
    let (status, page) = page_of(Browser::new("alice").journey(&url, true).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("has expired, was already used"), "{page}");
    // Concurrent uses: exactly one is the authorization.
    let request_uri = push_app(p, &secret).await;
    let url = authorize_with(p, "app", &request_uri, &[]);
    let browsers: Vec<Browser> = (0..4).map(|_| Browser::new("alice")).collect();
    let landings = futures::future::join_all(browsers.iter().map(|b| b.journey(&url, true))).await;
    let codes = landings
        .iter()
        .filter(|l| matches!(l, common::Landing::Client(u) if u.query_pairs().any(|(k, _)| k == "code")))
        .count();
    assert_eq!(codes, 1, "{landings:?}");
    h.finish().await;
}

async fn rfc9126_4_an_expired_request_uri_is_refused(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let request_uri = push_app(p, &secret).await;
    p.clock.advance(61);
    let (status, page) =
        page_of(Browser::new("alice").journey(&authorize_with(p, "app", &request_uri, &[]), true).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("has expired, was already used"), "{page}");
    // One pushed just now still works.
    let fresh = push_app(p, &secret).await;
    assert!(Browser::new("alice").journey(&authorize_with(p, "app", &fresh, &[]), true).await.param("code").is_some());
    h.finish().await;
}

async fn rfc9126_4_a_request_uri_is_good_only_for_the_client_that_pushed_it(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let request_uri = push_app(p, &secret).await;
    let (status, page) =
        page_of(Browser::new("alice").journey(&authorize_with(p, "other", &request_uri, &[]), true).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("belongs to another application"), "{page}");
    // Someone who saw the URL and sent it with another client_id used nothing up: the client that
    // pushed it still signs in with it.
    let landing = Browser::new("alice").journey(&authorize_with(p, "app", &request_uri, &[]), true).await;
    assert!(landing.param("code").is_some());
    // Without a client_id it is no request at all (§4: client_id is required beside it).
    let request_uri = push_app(p, &secret).await;
    let url = common::authorize_url(&p.issuer, &[("request_uri", request_uri.as_str())]);
    let (status, _) = page_of(Browser::new("alice").journey(&url, true).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A request_uri that is not one of ours is a request object by reference: not supported.
    let url = authorize_with(p, "app", "https://attacker.example/request.jwt", &[("redirect_uri", REDIRECT_URI)]);
    let landing = Browser::new("alice").journey(&url, true).await;
    assert_eq!(landing.param("error").as_deref(), Some("request_uri_not_supported"));
    h.finish().await;
}

async fn rfc9126_4_parameters_beside_the_request_uri_are_not_used(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let request_uri = push_app(p, &secret).await;
    // An attacker who got hold of the browser's URL adds a wider scope, its own state and
    // prompt=none: none of it counts.
    let extra = [("scope", "openid email phone"), ("state", "attacker"), ("prompt", "none"), ("nonce", "x")];
    let landing = Browser::new("alice").journey(&authorize_with(p, "app", &request_uri, &extra), true).await;
    assert_eq!(landing.param("state").as_deref(), Some("pushed-state"));
    let tokens = common::exchange_code(p, "app", &secret, &landing.param("code").unwrap()).await;
    assert_eq!(tokens["scope"], "openid profile");
    assert_eq!(common::unverified_claims(tokens["id_token"].as_str().unwrap())["nonce"], "pushed-nonce");
    h.finish().await;
}

async fn rfc9126_2_1_the_client_authenticates_as_at_the_token_endpoint(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let (status, body) = push(p, Some(("app", "wrong")), &request(&[])).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // A confidential client that names itself without its secret is not authenticated.
    let mut form = request(&[]);
    form.push(("client_id", "app"));
    let (status, body) = push(p, None, &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    // client_secret_post works too, and the secret is not part of the kept request.
    let mut form = request(&[]);
    form.extend([("client_id", "app"), ("client_secret", secret.as_str())]);
    let (status, body) = push(p, None, &form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    if let Backend::Redis = backend {
        use fred::prelude::*;
        let ns = common::RedisNamespace { url: common::redis_url(), prefix: p.app.config.redis.prefix.clone() };
        let keys = ns.keys(&format!("{}par:*", ns.prefix)).await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        let client = common::redis_client(&ns.url).await.unwrap();
        let kept: String = client.get(&keys[0]).await.unwrap();
        assert!(kept.contains("pushed-state") && !kept.contains(&secret), "the secret is not kept: {kept}");
    }
    // Only a client allowed the code grant may push.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let (_, service_secret) = manage::clients::create(
        &m,
        NewClient {
            id: "service".into(),
            grant_types: Some(vec!["client_credentials".into()]),
            allowed_scopes: Some(vec![]),
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    let (status, body) = push(p, Some(("service", &service_secret.unwrap())), &request(&[])).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")));
    h.finish().await;
}

async fn rfc9126_2_1_a_pushed_request_is_validated_as_at_the_authorization_endpoint(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let basic = Some(("app", secret.as_str()));
    let refused = |form: Vec<(&'static str, &'static str)>| async move { push(p, basic, &form).await };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            request(&[])
                .into_iter()
                .map(|(k, v)| if k == "redirect_uri" { (k, "https://evil.example/cb") } else { (k, v) })
                .collect(),
            "invalid_request",
        ),
        (request(&[]).into_iter().filter(|(k, _)| *k != "redirect_uri").collect(), "invalid_request"),
        (
            request(&[]).into_iter().map(|(k, v)| if k == "scope" { (k, "profile") } else { (k, v) }).collect(),
            "invalid_scope",
        ),
        (
            request(&[]).into_iter().map(|(k, v)| if k == "response_type" { (k, "token") } else { (k, v) }).collect(),
            "unsupported_response_type",
        ),
        (
            request(&[])
                .into_iter()
                .map(|(k, v)| if k == "code_challenge_method" { (k, "plain") } else { (k, v) })
                .collect(),
            "invalid_request",
        ),
        // §2.1: a pushed request cannot carry a request_uri.
        (request(&[("request_uri", "urn:ietf:params:oauth:request_uri:abc")]), "invalid_request"),
        (request(&[("request", "eyJhbGciOiJub25lIn0.e30.")]), "request_not_supported"),
    ];
    for (form, error) in cases {
        let (status, body) = refused(form.clone()).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{form:?}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "RFC 6749 §5.2: {body}");
    }
    // A repeated parameter is refused, as everywhere.
    let mut form = request(&[]);
    form.push(("scope", "openid email"));
    let (status, body) = push(p, basic, &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    // Only POST (§2).
    let resp = reqwest::get(p.url(paths::PAR)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    h.finish().await;
}

async fn rfc9126_6_a_client_that_requires_pushed_requests_cannot_start_one_in_the_browser(backend: Backend) {
    let Some((h, secret)) = start(backend).await else { return };
    let p = &h.provider;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let update = ClientUpdate { require_pushed_authorization_requests: Some(true), ..ClientUpdate::default() };
    manage::clients::update(&m, "app", update).await.unwrap();
    // The ordinary request goes back to the (registered) redirect URI with invalid_request.
    let landing = Browser::new("alice").journey(&common::app_authorize_url(p, "openid", &[]), true).await;
    assert_eq!(landing.param("error").as_deref(), Some("invalid_request"));
    assert_eq!(landing.param("state").as_deref(), Some("rp-state"));
    assert!(landing.param("code").is_none());
    // The pushed one works.
    let request_uri = push_app(p, &secret).await;
    let landing = Browser::new("alice").journey(&authorize_with(p, "app", &request_uri, &[]), true).await;
    assert!(landing.param("code").is_some());
    // The admin API shows the setting.
    let client = p.app.directory.client("app").await.unwrap().unwrap();
    assert!(client.require_pushed_authorization_requests);
    h.finish().await;
}

async fn a_public_client_pushes_with_its_client_id_and_pkce(backend: Backend) {
    let Some((h, _)) = start(backend).await else { return };
    let p = &h.provider;
    let mut form = request(&[]);
    form.push(("client_id", "native"));
    let (status, body) = push(p, None, &form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap();
    let landing = Browser::new("alice").journey(&authorize_with(p, "native", request_uri, &[]), true).await;
    let code = landing.param("code").expect("a code");
    let (status, _, tokens) = token_request(
        p,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "native"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // A public client must still use PKCE (RFC 9700 §2.1.1), pushed or not.
    let form: Vec<(&str, &str)> = form.into_iter().filter(|(k, _)| !k.starts_with("code_challenge")).collect();
    let (status, body) = push(p, None, &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    h.finish().await;
}

/// The page a journey ended on (panics on a redirect).
fn page_of(landing: common::Landing) -> (StatusCode, String) {
    let (status, page) = landing.page();
    (status, page.to_string())
}
