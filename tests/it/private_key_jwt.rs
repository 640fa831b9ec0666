//! `private_key_jwt` client authentication (OIDC Core §9, RFC 7523): a client registered with its
//! public keys (inline or at a `jwks_uri`) proves itself with a signed, single-use JWT instead of
//! a secret. Driven with raw HTTP, as a client library would (the openidconnect crate has no
//! private_key_jwt).

use crate::common::{self, Backend, Browser, Harness, JwksServer, TestProvider, on_backends, token_request};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dingtalk_oidc::directory::{ClientUpdate, NewClient};
use dingtalk_oidc::keys::{GeneratedKey, generate_rsa_key};
use dingtalk_oidc::manage::{self, Actor, Manage};
use dingtalk_oidc::oidc::paths;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const API: &str = "https://api.example.com/orders";

on_backends!(
    oidc_core_9_a_client_signs_in_users_with_a_jwt_signed_by_its_registered_key,
    rfc7523_3_an_assertion_is_accepted_once_even_under_contention,
    rfc7523_3_the_audience_must_name_this_provider,
    rfc7523_3_an_expired_early_or_long_lived_assertion_is_refused,
    rfc7523_3_iss_and_sub_must_both_be_the_client,
    a_signature_by_another_key_or_algorithm_is_refused,
    a_key_client_has_no_secret_and_uses_one_method_at_a_time,
    a_jwks_uri_is_fetched_once_kept_and_not_hammered_by_unknown_keys,
    a_jwks_uri_that_is_too_large_or_down_refuses_the_client_not_the_provider,
    the_assertion_works_at_every_endpoint_a_client_authenticates_at,
);

/// A provider on `backend` with `svc`, a service allowed client credentials for `API`,
/// authenticating with `key` registered inline.
async fn start(backend: Backend, key: &GeneratedKey) -> Option<Harness> {
    let h = Harness::start(backend).await?;
    let m = Manage::for_server(&h.provider.app, Actor::admin("test"));
    manage::clients::create(
        &m,
        NewClient {
            id: "orders-api".into(),
            grant_types: Some(vec!["client_credentials".into()]),
            allowed_scopes: Some(vec![]),
            resource_uri: Some(API.into()),
            resource_scopes: vec!["orders.read".into()],
            resource_server: true,
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    let (_, secret) = manage::clients::create(
        &m,
        NewClient {
            id: "svc".into(),
            grant_types: Some(vec!["client_credentials".into()]),
            allowed_scopes: Some(vec!["orders.read".into()]),
            jwks: Some(jwks(&[key])),
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(secret, None, "a client with keys gets no secret");
    Some(h)
}

fn jwks(keys: &[&GeneratedKey]) -> String {
    json!({ "keys": keys.iter().map(|k| serde_json::to_value(&k.jwk).unwrap()).collect::<Vec<_>>() }).to_string()
}

/// An assertion for `client` signed by `key` (RS256, its kid), with `claims` over the defaults.
fn assertion(p: &TestProvider, key: &GeneratedKey, client: &str, claims: Value) -> String {
    let now = p.app.now();
    let mut body = json!({
        "iss": client,
        "sub": client,
        "aud": p.url(paths::TOKEN),
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    for (name, value) in claims.as_object().unwrap() {
        body[name] = value.clone();
    }
    let header = Header { kid: Some(key.jwk.kid.clone()), ..Header::new(Algorithm::RS256) };
    jsonwebtoken::encode(&header, &body, &EncodingKey::from_rsa_der(&key.pkcs1_der)).unwrap()
}

/// Client credentials for `API`, authenticated by `assertion`.
async fn ask(p: &TestProvider, assertion: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", API),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    let (status, _, body) = token_request(p, None, &form).await;
    (status, body)
}

fn refused(answer: &(StatusCode, Value)) -> bool {
    answer.0 == StatusCode::UNAUTHORIZED && answer.1["error"] == "invalid_client"
}

async fn oidc_core_9_a_client_signs_in_users_with_a_jwt_signed_by_its_registered_key(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    // A relying party that signs users in with the code grant.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let new = NewClient {
        id: "web".into(),
        redirect_uris: vec![common::REDIRECT_URI.into()],
        first_party: true,
        jwks: Some(jwks(&[&key])),
        ..NewClient::default()
    };
    let (client, _) = manage::clients::create(&m, new).await.unwrap();
    assert_eq!(client.token_endpoint_auth_method(), "private_key_jwt");
    let code = common::obtain_code(p, &Browser::new("alice"), "web").await;
    let signed = assertion(p, &key, "web", json!({}));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", common::REDIRECT_URI),
        ("code_verifier", common::VERIFIER),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", signed.as_str()),
    ];
    let (status, _, tokens) = token_request(p, None, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(common::unverified_claims(tokens["id_token"].as_str().unwrap())["aud"], "web");
    // Discovery says so (OIDC Discovery §3).
    let doc: Value = reqwest::get(p.url(paths::DISCOVERY)).await.unwrap().json().await.unwrap();
    for member in ["token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"] {
        assert!(doc[member].as_array().unwrap().contains(&json!("private_key_jwt")), "{member}: {doc}");
    }
    let algs = doc["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("RS256")) && algs.contains(&json!("ES256")), "{algs:?}");
    assert!(!algs.iter().any(|a| a == "none" || a.as_str().unwrap().starts_with("HS")), "{algs:?}");
    // The admin API shows how it authenticates.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let shown = dingtalk_oidc::admin::clients::ClientBody::from(
        manage::clients::update(&m, "web", ClientUpdate::default()).await.unwrap(),
    );
    assert_eq!(shown.token_endpoint_auth_method, "private_key_jwt");
    assert_eq!(shown.jwks.unwrap()["keys"][0]["kid"], key.jwk.kid.as_str());
    h.finish().await;
}

async fn rfc7523_3_an_assertion_is_accepted_once_even_under_contention(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    let signed = assertion(p, &key, "svc", json!({}));
    let first = ask(p, &signed).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert!(refused(&ask(p, &signed).await), "a replayed assertion");
    let signed = assertion(p, &key, "svc", json!({}));
    let answers = futures::future::join_all((0..6).map(|_| ask(p, &signed))).await;
    let accepted = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(accepted, 1, "{answers:?}");
    assert!(answers.iter().filter(|a| a.0 != StatusCode::OK).all(refused), "{answers:?}");
    h.finish().await;
}

async fn rfc7523_3_the_audience_must_name_this_provider(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    for aud in [json!(p.issuer), json!(p.url(paths::TOKEN)), json!(["https://other.example", p.issuer])] {
        let answer = ask(p, &assertion(p, &key, "svc", json!({ "aud": aud }))).await;
        assert_eq!(answer.0, StatusCode::OK, "aud {aud}: {}", answer.1);
    }
    let other = format!("{}/", p.issuer);
    for aud in [json!("https://other.example"), json!(other), json!(p.url(paths::REVOKE)), json!([]), json!(null)] {
        assert!(refused(&ask(p, &assertion(p, &key, "svc", json!({ "aud": aud }))).await), "aud {aud}");
    }
    // Typed `client-authentication+jwt` (draft-ietf-oauth-rfc7523bis): the issuer, alone.
    for typ in ["client-authentication+jwt", "application/Client-Authentication+JWT"] {
        for aud in [json!(p.issuer), json!([p.issuer])] {
            let typed = typed_assertion(p, &key, typ, json!({ "aud": aud }));
            assert_eq!(ask(p, &typed).await.0, StatusCode::OK, "{typ} aud {aud}");
        }
        for aud in [json!(p.url(paths::TOKEN)), json!([p.issuer, "https://other.example"])] {
            let typed = typed_assertion(p, &key, typ, json!({ "aud": aud }));
            assert!(refused(&ask(p, &typed).await), "{typ} aud {aud}: the token endpoint is no longer enough");
        }
    }
    h.finish().await;
}

/// `assertion` with the JOSE header's `typ` set.
fn typed_assertion(p: &TestProvider, key: &GeneratedKey, typ: &str, claims: Value) -> String {
    let untyped = assertion(p, key, "svc", claims);
    let payload = untyped.split('.').nth(1).unwrap();
    let body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let header = Header { kid: Some(key.jwk.kid.clone()), typ: Some(typ.into()), ..Header::new(Algorithm::RS256) };
    jsonwebtoken::encode(&header, &body, &EncodingKey::from_rsa_der(&key.pkcs1_der)).unwrap()
}

async fn rfc7523_3_an_expired_early_or_long_lived_assertion_is_refused(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    let now = p.app.now();
    let signed = assertion(p, &key, "svc", json!({}));
    p.clock.advance(120);
    assert!(refused(&ask(p, &signed).await), "expired (60 s + 30 s leeway)");
    let now = now + 120;
    for claims in [
        json!({ "exp": now + 7200 }),
        json!({ "nbf": now + 600 }),
        json!({ "exp": null }),
        json!({ "jti": null }),
        json!({ "jti": "" }),
        json!({ "jti": "x".repeat(300) }),
    ] {
        assert!(refused(&ask(p, &assertion(p, &key, "svc", claims.clone())).await), "{claims}");
    }
    assert_eq!(ask(p, &assertion(p, &key, "svc", json!({ "nbf": now }))).await.0, StatusCode::OK);
    h.finish().await;
}

async fn rfc7523_3_iss_and_sub_must_both_be_the_client(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    assert!(refused(&ask(p, &assertion(p, &key, "svc", json!({ "iss": "orders-api" }))).await));
    // Signed by svc's key but naming another client: that client's keys do not verify it.
    assert!(refused(&ask(p, &assertion(p, &key, "orders-api", json!({}))).await));
    assert!(refused(&ask(p, &assertion(p, &key, "nobody", json!({}))).await));
    // A client_id beside the assertion must be the same client.
    let signed = assertion(p, &key, "svc", json!({}));
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", API),
        ("client_id", "orders-api"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", signed.as_str()),
    ];
    let (status, _, body) = token_request(p, None, &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    h.finish().await;
}

async fn a_signature_by_another_key_or_algorithm_is_refused(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    // Another key under the registered key's kid.
    let mut impostor = generate_rsa_key().unwrap();
    impostor.jwk.kid = key.jwk.kid.clone();
    assert!(refused(&ask(p, &assertion(p, &impostor, "svc", json!({}))).await));
    // alg=none, and HS256 keyed with the public key (algorithm confusion).
    let valid = assertion(p, &key, "svc", json!({}));
    let payload = valid.split('.').nth(1).unwrap();
    let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    assert!(refused(&ask(p, &none).await), "alg none");
    let header = Header { kid: Some(key.jwk.kid.clone()), ..Header::new(Algorithm::HS256) };
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let hs256 =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key.jwk.n.as_bytes()).unwrap()).unwrap();
    assert!(refused(&ask(p, &hs256).await), "HS256 with the public key");
    // A tampered payload.
    let tampered = claims_swapped(&valid, json!({ "sub": "svc", "iss": "svc", "exp": p.app.now() + 3000 }));
    assert!(refused(&ask(p, &tampered).await), "tampered");
    assert!(refused(&ask(p, "not-a-jwt").await));
    // The untouched one still works: none of the above spent its jti.
    assert_eq!(ask(p, &valid).await.0, StatusCode::OK);
    h.finish().await;
}

/// `token` with its payload replaced, signature kept.
fn claims_swapped(token: &str, claims: Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    for (name, value) in claims.as_object().unwrap() {
        payload[name] = value.clone();
    }
    format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload.to_string()), parts[2])
}

async fn a_key_client_has_no_secret_and_uses_one_method_at_a_time(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    let form = [("grant_type", "client_credentials"), ("resource", API)];
    let (status, _, _) = token_request(p, Some(("svc", "")), &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An assertion beside a secret: one method per request (RFC 6749 §2.3).
    let signed = assertion(p, &key, "svc", json!({}));
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", API),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", signed.as_str()),
    ];
    let (status, _, body) = token_request(p, Some(("svc", "x")), &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    // A wrong assertion type.
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", API),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        ("client_assertion", signed.as_str()),
    ];
    assert_eq!(token_request(p, None, &form).await.0, StatusCode::UNAUTHORIZED);
    // Its secret cannot be rotated into existence; a secret client moved to keys loses its secret.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    assert!(manage::clients::rotate_secret(&m, "svc").await.is_err());
    let (_, secret) = manage::clients::create(
        &m,
        NewClient {
            id: "old".into(),
            grant_types: Some(vec!["client_credentials".into()]),
            allowed_scopes: Some(vec!["orders.read".into()]),
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    let secret = secret.unwrap();
    let form = [("grant_type", "client_credentials"), ("resource", API)];
    assert_eq!(token_request(p, Some(("old", &secret)), &form).await.0, StatusCode::OK);
    let update = ClientUpdate { jwks: Some(Some(jwks(&[&key]))), ..ClientUpdate::default() };
    manage::clients::update(&m, "old", update).await.unwrap();
    assert_eq!(token_request(p, Some(("old", &secret)), &form).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(ask(p, &assertion(p, &key, "old", json!({}))).await.0, StatusCode::OK);
    // Registration refuses what cannot be a client's public key set.
    let bad = |new: NewClient| {
        let m = Manage::for_server(&p.app, Actor::admin("test"));
        async move { manage::clients::create(&m, new).await.is_err() }
    };
    let private = jwks(&[&key]).replace("\"kty\"", "\"d\":\"private\",\"kty\"");
    let base = || NewClient {
        id: "bad".into(),
        grant_types: Some(vec!["client_credentials".into()]),
        allowed_scopes: Some(vec![]),
        ..NewClient::default()
    };
    assert!(bad(NewClient { jwks: Some(private), ..base() }).await, "private key material");
    assert!(bad(NewClient { jwks: Some(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.into()), ..base() }).await);
    assert!(bad(NewClient { jwks: Some("{}".into()), ..base() }).await);
    assert!(bad(NewClient { jwks_uri: Some("http://app.example/jwks".into()), ..base() }).await, "plain http");
    let both = NewClient { jwks: Some(jwks(&[&key])), jwks_uri: Some("https://app.example/jwks".into()), ..base() };
    assert!(bad(both).await, "both");
    let public = NewClient {
        public: true,
        redirect_uris: vec![common::REDIRECT_URI.into()],
        grant_types: None,
        allowed_scopes: None,
        jwks: Some(jwks(&[&key])),
        ..base()
    };
    assert!(bad(public).await, "a public client");
    h.finish().await;
}

/// Moves `svc` to keys served at `server`.
async fn serve_keys_from(p: &TestProvider, server: &JwksServer) {
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let update = ClientUpdate { jwks: Some(None), jwks_uri: Some(Some(server.url.clone())), ..ClientUpdate::default() };
    let client = manage::clients::update(&m, "svc", update).await.unwrap();
    assert_eq!(client.token_endpoint_auth_method(), "private_key_jwt");
}

async fn a_jwks_uri_is_fetched_once_kept_and_not_hammered_by_unknown_keys(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    let server = JwksServer::start(jwks(&[&key])).await;
    serve_keys_from(p, &server).await;
    // Eight at once, before the set is held: one fetch, whose result they all use.
    let first =
        futures::future::join_all((0..8).map(|_| async { ask(p, &assertion(p, &key, "svc", json!({}))).await.0 }));
    assert!(first.await.iter().all(|status| *status == StatusCode::OK));
    for _ in 0..3 {
        assert_eq!(ask(p, &assertion(p, &key, "svc", json!({}))).await.0, StatusCode::OK);
    }
    assert_eq!(server.hits(), 1, "fetched once, then kept");
    // Junk under kids the set does not hold asks for the set again at most once per interval.
    for _ in 0..5 {
        let mut stranger = generate_rsa_key().unwrap();
        stranger.jwk.kid = uuid::Uuid::new_v4().to_string();
        assert!(refused(&ask(p, &assertion(p, &stranger, "svc", json!({}))).await));
    }
    assert_eq!(server.hits(), 1, "unknown kids do not make us fetch again within the interval");
    // A new URI (the registration changed) is read afresh.
    let rotated = generate_rsa_key().unwrap();
    let second = JwksServer::start(jwks(&[&rotated])).await;
    serve_keys_from(p, &second).await;
    assert_eq!(ask(p, &assertion(p, &rotated, "svc", json!({}))).await.0, StatusCode::OK);
    assert!(refused(&ask(p, &assertion(p, &key, "svc", json!({}))).await), "the old key is gone");
    assert_eq!(second.hits(), 1);
    h.finish().await;
}

async fn a_jwks_uri_that_is_too_large_or_down_refuses_the_client_not_the_provider(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    let padding = "x".repeat(70 * 1024);
    let huge = JwksServer::start(format!(r#"{{"keys":[],"padding":"{padding}"}}"#)).await;
    serve_keys_from(p, &huge).await;
    assert!(refused(&ask(p, &assertion(p, &key, "svc", json!({}))).await), "over 64 KiB");
    // A set that could not be read is not asked for again on every assertion naming the client
    // (anyone can send those): not before the refetch interval.
    for _ in 0..5 {
        assert!(refused(&ask(p, &assertion(p, &key, "svc", json!({}))).await));
    }
    assert_eq!(huge.hits(), 1, "the failure is remembered");
    // For a few seconds only: then the set is asked for again (a server that is back is used).
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    assert!(refused(&ask(p, &assertion(p, &key, "svc", json!({}))).await));
    assert_eq!(huge.hits(), 2, "asked again once the failure was old");
    // Nothing listens there any more.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let update = ClientUpdate { jwks_uri: Some(Some(gone)), ..ClientUpdate::default() };
    manage::clients::update(&m, "svc", update).await.unwrap();
    assert!(refused(&ask(p, &assertion(p, &key, "svc", json!({}))).await), "unreachable");
    // The provider is fine: discovery answers.
    assert_eq!(reqwest::get(p.url(paths::DISCOVERY)).await.unwrap().status(), StatusCode::OK);
    h.finish().await;
}

async fn the_assertion_works_at_every_endpoint_a_client_authenticates_at(backend: Backend) {
    let key = generate_rsa_key().unwrap();
    let Some(h) = start(backend, &key).await else { return };
    let p = &h.provider;
    // The API introspects a token with an assertion addressed to the introspection endpoint.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let update = ClientUpdate { jwks: Some(Some(jwks(&[&key]))), ..ClientUpdate::default() };
    manage::clients::update(&m, "orders-api", update).await.unwrap();
    let (status, tokens) = ask(p, &assertion(p, &key, "svc", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
    let signed = assertion(p, &key, "orders-api", json!({ "aud": p.url(paths::INTROSPECT) }));
    let resp = reqwest::Client::new()
        .post(p.url(paths::INTROSPECT))
        .form(&[("token", token), ("client_assertion_type", JWT_BEARER), ("client_assertion", signed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["active"], true, "{answer}");
    // And revokes it, addressed to the revocation endpoint.
    let signed = assertion(p, &key, "svc", json!({ "aud": p.url(paths::REVOKE) }));
    let resp = reqwest::Client::new()
        .post(p.url(paths::REVOKE))
        .form(&[("token", token), ("client_assertion_type", JWT_BEARER), ("client_assertion", signed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let signed = assertion(p, &key, "orders-api", json!({ "aud": p.issuer }));
    let resp = reqwest::Client::new()
        .post(p.url(paths::INTROSPECT))
        .form(&[("token", token), ("client_assertion_type", JWT_BEARER), ("client_assertion", signed.as_str())])
        .send()
        .await
        .unwrap();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["active"], false, "revoked: {answer}");
    h.finish().await;
}
