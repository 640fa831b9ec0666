//! Dynamic client registration (RFC 7591) and its management (RFC 7592): off by default; with it,
//! a party holding an initial access token an admin issued registers a client within the
//! configured policy, and manages it with the registration access token it got back.

use crate::common::{self, Browser, REDIRECT_URI, TestProvider};
use dingtalk_oidc::directory::{ClientUpdate, NewClient};
use dingtalk_oidc::keys::generate_rsa_key;
use dingtalk_oidc::manage::{self, Actor, Manage};
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A provider with registration on: redirect URIs on https, or http on loopback (the tests'
/// relying party), under `.apps.example` or on 127.0.0.1.
async fn start() -> TestProvider {
    TestProvider::start_with(|c| {
        c.registration.enabled = true;
        c.registration.allowed_redirect_schemes = vec!["https".into(), "http".into()];
        c.registration.allowed_redirect_hosts = vec![".apps.example".into(), "127.0.0.1".into()];
    })
    .await
}

/// An initial access token living `ttl` seconds, and its id.
async fn initial_token(p: &TestProvider, ttl: u64) -> (String, String) {
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let (token, secret) = manage::registration::issue(&m, "test", ttl).await.unwrap();
    (token.id, secret)
}

async fn register(
    p: &TestProvider,
    token: Option<&str>,
    metadata: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().post(p.url(paths::REGISTER)).json(metadata);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

fn web_app() -> Value {
    json!({ "redirect_uris": [REDIRECT_URI], "client_name": "Team wiki", "scope": "openid profile roles" })
}

async fn client_count(p: &TestProvider) -> usize {
    p.app.directory.list_clients().await.unwrap().len()
}

/// GET/PUT/DELETE the registration at `uri` with `token`.
async fn manage_at(uri: &str, token: &str, method: reqwest::Method, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, uri).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn rfc7591_3_registration_is_off_by_default_and_not_in_discovery() {
    let p = TestProvider::start().await;
    let (_, token) = initial_token(&p, 3600).await;
    let (status, _, _) = register(&p, Some(&token), &web_app()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let doc: Value = reqwest::get(p.url(paths::DISCOVERY)).await.unwrap().json().await.unwrap();
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
    let on = start().await;
    let doc: Value = reqwest::get(on.url(paths::DISCOVERY)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["registration_endpoint"], on.url(paths::REGISTER));
}

#[tokio::test]
async fn rfc7591_3_without_or_with_a_wrong_initial_token_nothing_is_registered() {
    let p = start().await;
    let before = client_count(&p).await;
    let (status, headers, _) = register(&p, None, &web_app()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"), "RFC 6750 §3");
    let (status, _, body) = register(&p, Some("not-a-token"), &web_app()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    // Expired.
    let (_, short) = initial_token(&p, 5).await;
    p.clock.advance(6);
    assert_eq!(register(&p, Some(&short), &web_app()).await.0, StatusCode::UNAUTHORIZED);
    // Revoked.
    let (id, revoked) = initial_token(&p, 3600).await;
    manage::registration::revoke(&Manage::for_server(&p.app, Actor::admin("test")), &id).await.unwrap();
    assert_eq!(register(&p, Some(&revoked), &web_app()).await.0, StatusCode::UNAUTHORIZED);
    // A registration access token is no initial access token.
    let (_, good) = initial_token(&p, 3600).await;
    let (status, _, created) = register(&p, Some(&good), &web_app()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let registration_token = created["registration_access_token"].as_str().unwrap();
    assert_eq!(register(&p, Some(registration_token), &web_app()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(client_count(&p).await, before + 1, "only the one with a good token was registered");
}

#[tokio::test]
async fn rfc7591_3_2_1_a_registered_client_gets_its_credentials_once_and_signs_users_in() {
    let p = start().await;
    let (token_id, token) = initial_token(&p, 3600).await;
    let (status, headers, created) = register(&p, Some(&token), &web_app()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(headers["cache-control"], "no-store");
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(created["client_secret_expires_at"], 0);
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["grant_types"], json!(["authorization_code"]));
    assert_eq!(created["response_types"], json!(["code"]));
    assert_eq!(created["client_name"], "Team wiki");
    // §2: the server narrows the scope to its policy (roles is for admins to grant).
    assert_eq!(created["scope"], "openid profile");
    assert_eq!(created["registration_client_uri"], format!("{}/{client_id}", p.url(paths::REGISTER)));
    assert!(created["registration_access_token"].as_str().is_some_and(|t| t.len() >= 43));
    // Nothing secret is stored in the clear.
    let stored = p.app.directory.client(client_id).await.unwrap().unwrap();
    assert!(!stored.first_party && !stored.resource_server);
    assert_ne!(stored.secret_hash.as_deref(), Some(secret));
    // It asks for consent (not first-party), then signs the user in.
    let browser = Browser::new("alice");
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let landing = browser.journey(&url, false).await;
    let (status, page) = landing.page();
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("consent_id") && page.contains("Team wiki"), "{page}");
    let code = Browser::new("alice").journey(&url, true).await.param("code").expect("a code");
    let tokens = common::exchange_code(&p, client_id, secret, &code).await;
    assert_eq!(common::unverified_claims(tokens["id_token"].as_str().unwrap())["aud"], client_id);
    // The audit log names the initial token (by id), not a credential.
    let events = p.app.directory.audit_events_of_kind("client_created").await.unwrap();
    let event = events.iter().find(|e| e.subject.as_deref() == Some(client_id)).expect("audited");
    assert_eq!(event.actor.as_deref(), Some(format!("initial_token:{token_id}").as_str()));
}

#[tokio::test]
async fn rfc7591_3_2_2_metadata_outside_the_policy_is_refused_and_registers_nothing() {
    let p = start().await;
    let (_, token) = initial_token(&p, 3600).await;
    let before = client_count(&p).await;
    let key = generate_rsa_key().unwrap();
    let mut private = serde_json::to_value(&key.jwk).unwrap();
    private["d"] = json!("private");
    let cases = [
        (json!({ "redirect_uris": ["https://evil.example/cb"] }), "invalid_redirect_uri"),
        (json!({ "redirect_uris": ["https://wiki.apps.example/cb#frag"] }), "invalid_redirect_uri"),
        (json!({ "redirect_uris": ["http://wiki.apps.example/cb"] }), "invalid_redirect_uri"),
        (
            json!({ "redirect_uris": ["https://wiki.apps.example/cb"], "post_logout_redirect_uris": ["https://evil.example/"] }),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (json!({ "redirect_uris": [REDIRECT_URI], "grant_types": ["client_credentials"] }), "invalid_client_metadata"),
        (json!({ "redirect_uris": [REDIRECT_URI], "response_types": ["token"] }), "invalid_client_metadata"),
        (
            json!({ "redirect_uris": [REDIRECT_URI], "grant_types": ["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"], "response_types": ["code"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_jwt" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [private] } }),
            "invalid_client_metadata",
        ),
        (json!({ "redirect_uris": [REDIRECT_URI], "client_id": "chosen" }), "invalid_client_metadata"),
        // The provider would fetch it: only hosts the policy allows (no SSRF to internal hosts).
        (
            json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://169.254.169.254/keys" }),
            "invalid_client_metadata",
        ),
        (json!({ "redirect_uris": [REDIRECT_URI], "client_name": "x".repeat(201) }), "invalid_client_metadata"),
        (json!({ "redirect_uris": "https://wiki.apps.example/cb" }), "invalid_client_metadata"),
    ];
    for (metadata, error) in cases {
        let (status, _, body) = register(&p, Some(&token), &metadata).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{metadata}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    }
    // Not JSON at all.
    let resp = reqwest::Client::new()
        .post(p.url(paths::REGISTER))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("redirect_uris=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(client_count(&p).await, before, "nothing was registered");
    // Within the policy: a subdomain of an allowed domain, a public client, a device.
    let public = json!({ "redirect_uris": ["https://wiki.apps.example/cb"], "token_endpoint_auth_method": "none" });
    let (status, _, created) = register(&p, Some(&token), &public).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("client_secret").is_none(), "a public client gets no secret: {created}");
    let device = json!({ "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "response_types": [], "token_endpoint_auth_method": "none" });
    assert_eq!(register(&p, Some(&token), &device).await.0, StatusCode::CREATED);
    let signer = json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [key.jwk] } });
    let (status, _, created) = register(&p, Some(&token), &signer).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["jwks"]["keys"][0]["kid"], key.jwk.kid.as_str());
    // Its registration cannot be replaced by one without keys (RFC 7592 §2.2 would leave it unable
    // to authenticate), nor with a secret.
    let uri = created["registration_client_uri"].as_str().unwrap();
    let rat = created["registration_access_token"].as_str().unwrap();
    let without_keys = json!({ "client_id": created["client_id"], "redirect_uris": [REDIRECT_URI] });
    let (status, body) = manage_at(uri, rat, reqwest::Method::PUT, Some(without_keys)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")));
    let same = json!({ "client_id": created["client_id"], "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [key.jwk] } });
    assert_eq!(manage_at(uri, rat, reqwest::Method::PUT, Some(same)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn rfc7592_2_the_registration_access_token_reads_replaces_and_deletes_only_its_client() {
    let p = start().await;
    let (_, token) = initial_token(&p, 3600).await;
    let (_, _, first) = register(&p, Some(&token), &web_app()).await;
    let (_, _, second) = register(&p, Some(&token), &web_app()).await;
    let uri = first["registration_client_uri"].as_str().unwrap();
    let rat = first["registration_access_token"].as_str().unwrap();
    let client_id = first["client_id"].as_str().unwrap();
    let secret = first["client_secret"].as_str().unwrap();
    // §2.1 read: the registration, never the secret.
    let (status, read) = manage_at(uri, rat, reqwest::Method::GET, None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["client_id"], client_id);
    assert!(read.get("client_secret").is_none() && read.get("registration_access_token").is_none(), "{read}");
    // Another client's token, a wrong token, no token, an admin-registered client: all 401.
    let other_rat = second["registration_access_token"].as_str().unwrap();
    assert_eq!(manage_at(uri, other_rat, reqwest::Method::GET, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(manage_at(uri, "wrong", reqwest::Method::GET, None).await.0, StatusCode::UNAUTHORIZED);
    let resp = reqwest::get(uri).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    p.register("admin-made", false, false).await;
    let admin_made = format!("{}/admin-made", p.url(paths::REGISTER));
    assert_eq!(manage_at(&admin_made, rat, reqwest::Method::GET, None).await.0, StatusCode::UNAUTHORIZED);
    let missing = format!("{}/no-such-client", p.url(paths::REGISTER));
    assert_eq!(manage_at(&missing, rat, reqwest::Method::GET, None).await.0, StatusCode::UNAUTHORIZED);
    // §2.2 replace.
    let replaced =
        json!({ "client_id": client_id, "redirect_uris": ["https://wiki.apps.example/cb"], "client_name": "Wiki 2" });
    let (status, updated) = manage_at(uri, rat, reqwest::Method::PUT, Some(replaced)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["client_name"], "Wiki 2");
    assert_eq!(updated["redirect_uris"], json!(["https://wiki.apps.example/cb"]));
    let stored = p.app.directory.client(client_id).await.unwrap().unwrap();
    assert_eq!(stored.redirect_uris, vec!["https://wiki.apps.example/cb".to_string()]);
    for bad in [
        json!({ "redirect_uris": [REDIRECT_URI] }),
        json!({ "client_id": client_id, "redirect_uris": ["https://evil.example/cb"] }),
        json!({ "client_id": client_id, "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none" }),
    ] {
        let (status, body) = manage_at(uri, rat, reqwest::Method::PUT, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(
        p.app.directory.client(client_id).await.unwrap().unwrap().name,
        "Wiki 2",
        "a refused PUT changes nothing"
    );
    // §2.3 delete: gone, and its credentials with it.
    let (status, _) = manage_at(uri, rat, reqwest::Method::DELETE, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(manage_at(uri, rat, reqwest::Method::GET, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, _) =
        common::token_request(&p, Some((client_id, secret)), &[("grant_type", "authorization_code"), ("code", "x")])
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The other client is untouched.
    let other_uri = second["registration_client_uri"].as_str().unwrap();
    assert_eq!(manage_at(other_uri, other_rat, reqwest::Method::GET, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_openidconnect_crate_registers_a_client_that_then_signs_a_user_in() {
    use openidconnect::core::{CoreClientRegistrationRequest, CoreProviderMetadata};
    use openidconnect::registration::EmptyAdditionalClientMetadata;
    use openidconnect::{AccessToken, IssuerUrl, RedirectUrl};
    let p = start().await;
    let (_, token) = initial_token(&p, 3600).await;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(p.issuer.clone()).unwrap(), &crate::rp_flow::rp_http)
            .await
            .unwrap();
    let endpoint = metadata.registration_endpoint().expect("discovery names the registration endpoint");
    let registered = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(REDIRECT_URI.into()).unwrap()],
        EmptyAdditionalClientMetadata {},
    )
    .set_initial_access_token(Some(AccessToken::new(token)))
    .register_async(endpoint, &crate::rp_flow::rp_http)
    .await
    .expect("registered");
    let client_id = registered.client_id().as_str().to_string();
    let secret = registered.client_secret().expect("a confidential client's secret").secret().clone();
    let code = common::obtain_code_for_scope(&p, &Browser::new("bob"), &client_id, "openid profile").await;
    let tokens = common::exchange_code(&p, &client_id, &secret, &code).await;
    assert_eq!(common::unverified_claims(tokens["id_token"].as_str().unwrap())["aud"], client_id.as_str());
}

/// A provider with registration on under the default host policy (any host), with http allowed
/// for the tests' loopback redirect URI.
async fn start_any_host() -> TestProvider {
    TestProvider::start_with(|c| {
        c.registration.enabled = true;
        c.registration.allowed_redirect_schemes = vec!["https".into(), "http".into()];
    })
    .await
}

#[tokio::test]
async fn with_any_host_allowed_the_uris_the_provider_calls_must_not_name_internal_addresses() {
    let p = start_any_host().await;
    let (_, token) = initial_token(&p, 3600).await;
    let before = client_count(&p).await;
    let with_keys_at = |uri: &str| json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri });
    let notified_at = |uri: &str| json!({ "redirect_uris": [REDIRECT_URI], "backchannel_logout_uri": uri });
    let internal = [
        "https://127.0.0.1/keys",
        "https://[::1]/keys",
        "https://localhost:8443/keys",
        "https://10.0.0.8/keys",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:192.168.1.1]/keys",
        "https://2130706433/keys",
    ];
    for uri in internal {
        for metadata in [with_keys_at(uri), notified_at(uri)] {
            let (status, _, body) = register(&p, Some(&token), &metadata).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")),
                "{metadata}: {body}"
            );
        }
    }
    assert_eq!(client_count(&p).await, before, "nothing was registered");
    // A public name is accepted (it is checked again, after resolution, when it is called).
    let (status, _, body) = register(&p, Some(&token), &with_keys_at("https://keys.partner.example/jwks.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = register(&p, Some(&token), &notified_at("https://wiki.partner.example/logout")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// `POST /token` for a made-up code, authenticated by an assertion signed with `key`: 401
/// `invalid_client` when the client could not be authenticated, 400 `invalid_grant` when it was.
async fn authenticate_at_token(p: &TestProvider, client_id: &str, key: &dingtalk_oidc::keys::GeneratedKey) -> Value {
    let now = p.app.now();
    let claims = json!({ "iss": client_id, "sub": client_id, "aud": p.url(paths::TOKEN), "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string() });
    let header = jsonwebtoken::Header {
        kid: Some(key.jwk.kid.clone()),
        ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256)
    };
    let assertion =
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_der(&key.pkcs1_der)).unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "made-up"),
        ("redirect_uri", REDIRECT_URI),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    let (_, _, body) = common::token_request(p, None, &form).await;
    body
}

#[tokio::test]
async fn a_self_registered_clients_jwks_uri_is_fetched_only_from_a_public_address() {
    let p = start_any_host().await;
    let (_, token) = initial_token(&p, 3600).await;
    let key = generate_rsa_key().unwrap();
    let server = common::JwksServer::start(json!({ "keys": [key.jwk] }).to_string()).await;
    // A name that now resolves to this machine (as a registrant's DNS may, after registration).
    let local_name = server.url.replace("127.0.0.1", "localhost");
    let metadata = json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://keys.partner.example/jwks.json" });
    let (status, _, created) = register(&p, Some(&token), &metadata).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let registered = created["client_id"].as_str().unwrap().to_string();
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let moved = ClientUpdate { jwks_uri: Some(Some(local_name.clone())), ..ClientUpdate::default() };
    manage::clients::update(&m, &registered, moved).await.unwrap();
    let answer = authenticate_at_token(&p, &registered, &key).await;
    assert_eq!(answer["error"], "invalid_client", "{answer}");
    assert_eq!(server.hits(), 0, "the provider did not call the loopback address");
    // The same URI on a client an admin registered is the admin's choice: it is called.
    let admin_client = NewClient {
        id: "partner-admin".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        jwks_uri: Some(local_name),
        ..NewClient::default()
    };
    manage::clients::create(&m, admin_client).await.unwrap();
    let answer = authenticate_at_token(&p, "partner-admin", &key).await;
    assert_eq!(answer["error"], "invalid_grant", "authenticated, then the made-up code refused: {answer}");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_self_registered_clients_back_channel_logout_uri_is_called_only_at_a_public_address() {
    use dingtalk_oidc::oidc::backchannel::{Attempt, deliver_once};
    let p = start_any_host().await;
    let (_, token) = initial_token(&p, 3600).await;
    let server = common::JwksServer::start("{}".into()).await;
    let local_name = server.url.replace("127.0.0.1", "localhost");
    let metadata =
        json!({ "redirect_uris": [REDIRECT_URI], "backchannel_logout_uri": "https://wiki.partner.example/logout" });
    let (status, _, created) = register(&p, Some(&token), &metadata).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let registered = created["client_id"].as_str().unwrap().to_string();
    // Its URI now leads to this machine (its DNS changed, say); an admin's client has the same.
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let moved = ClientUpdate { backchannel_logout_uri: Some(Some(local_name.clone())), ..ClientUpdate::default() };
    manage::clients::update(&m, &registered, moved).await.unwrap();
    let admin_client = NewClient {
        id: "wiki-admin".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        backchannel_logout_uri: Some(local_name),
        ..NewClient::default()
    };
    manage::clients::create(&m, admin_client).await.unwrap();
    let now = p.app.now();
    let session = dingtalk_oidc::store::SsoSession {
        id: "sid-1".into(),
        secret_hash: String::new(),
        user_id: "u1".into(),
        auth_time: now,
        amr: vec![],
        clients: vec![registered.clone(), "wiki-admin".into()],
        expires_at: now + 3600,
        last_seen_at: now,
    };
    let deliveries = p.app.revocation().end_session_unnotified(&session, now).await.unwrap();
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        let attempt = deliver_once(&p.app, delivery, now).await;
        if delivery.client_id == registered {
            assert!(delivery.public_only);
            // A name of this machine is refused before resolution (another name resolving to a
            // private address is refused by the resolver: `outbound`'s unit tests).
            assert!(matches!(attempt, Attempt::NotAllowed(_)), "{attempt:?}");
        } else {
            assert!(!delivery.public_only);
            assert_eq!(attempt, Attempt::Delivered);
        }
    }
    assert_eq!(server.hits(), 1, "only the admin's client was called");
    // Written as an address, it is not even tried.
    let mut literal = deliveries.iter().find(|d| d.client_id == registered).unwrap().clone();
    literal.uri = server.url.clone();
    assert!(matches!(deliver_once(&p.app, &literal, now).await, Attempt::NotAllowed(_)));
    assert_eq!(server.hits(), 1);
}
