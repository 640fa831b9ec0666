//! The device authorization grant (RFC 8628): a device without a browser gets a device code and a
//! user code, its user signs in with DingTalk on another device and approves at the verification
//! page, and the device's polls of the token endpoint hear the RFC's answers until it gets tokens.

use crate::common::{self, Backend, Browser, Harness, Landing, TestProvider, hidden_value, on_backends, token_request};
use dingtalk_oidc::directory::NewClient;
use dingtalk_oidc::manage::{self, Actor, Manage};
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use serde_json::Value;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

on_backends!(
    rfc8628_3_2_a_device_gets_a_device_code_a_user_code_the_verification_uris_and_an_interval,
    rfc8628_3_4_the_user_approves_and_the_device_gets_tokens_for_them,
    rfc8628_3_5_polling_faster_than_the_interval_hears_slow_down,
    rfc8628_3_5_a_denied_request_hears_access_denied,
    rfc8628_3_5_an_expired_device_code_hears_expired_token_and_its_page_says_so,
    rfc8628_3_4_a_device_code_is_single_use_and_a_replay_revokes_its_tokens,
    rfc8628_3_4_a_device_code_is_good_only_for_the_client_it_was_issued_to,
    rfc8628_3_1_only_clients_allowed_the_grant_get_device_codes,
    rfc8628_5_1_guessing_user_codes_is_limited_per_address_even_for_a_right_guess,
    rfc6749_10_12_the_approval_needs_the_form_of_the_users_own_session,
    a_signed_in_user_goes_straight_to_the_confirmation_and_the_code_is_typed_loosely,
    the_openidconnect_crate_completes_the_device_flow,
    rfc8707_2_a_device_names_the_api_its_tokens_are_for,
);

/// A provider on `backend`'s session store with `tv` (a public client allowed the device grant
/// and refresh tokens) and `web` (an ordinary client, not allowed it).
async fn start(backend: Backend) -> Option<Harness> {
    start_with(backend, |_| {}).await
}

async fn start_with(
    backend: Backend,
    adjust: impl FnOnce(&mut dingtalk_oidc::config::Config) + Send + 'static,
) -> Option<Harness> {
    let h = Harness::start_with(backend, adjust).await?;
    let p = &h.provider;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    manage::clients::create(
        &m,
        NewClient {
            id: "tv".into(),
            name: Some("Living-room TV".into()),
            public: true,
            grant_types: Some(vec![DEVICE_GRANT.into(), "refresh_token".into()]),
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    p.register("web", true, false).await;
    Some(h)
}

/// POST /device_authorization as a public client.
async fn ask(p: &TestProvider, client_id: &str, scope: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(p.url(paths::DEVICE_AUTHORIZATION))
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    if status == StatusCode::OK {
        assert_eq!(resp.headers()["cache-control"], "no-store", "RFC 8628 §3.2 / RFC 6749 §5.1");
    }
    (status, resp.json().await.unwrap())
}

async fn authorize_device(p: &TestProvider) -> Value {
    let (status, body) = ask(p, "tv", "openid profile offline_access").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn poll(p: &TestProvider, client_id: &str, device_code: &str) -> (StatusCode, Value) {
    let (status, _, body) =
        token_request(p, None, &[("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", client_id)])
            .await;
    (status, body)
}

fn error_of(answer: &(StatusCode, Value)) -> (StatusCode, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or_default())
}

/// The user opens `verification_uri_complete` and signs in with DingTalk: the confirmation page.
async fn open_confirmation(browser: &Browser, device: &Value) -> String {
    let landing = browser.journey(device["verification_uri_complete"].as_str().unwrap(), false).await;
    let (status, page) = landing.page();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("name=\"form_token\""), "the confirmation form: {page}");
    page.to_string()
}

/// Posts the confirmation form of `page` with `decision`; returns the answer page.
async fn answer(browser: &Browser, p: &TestProvider, page: &str, decision: &str) -> (StatusCode, String) {
    let user_code = hidden_value(page, "user_code").unwrap();
    let token = hidden_value(page, "form_token").unwrap();
    let resp = browser
        .http
        .post(p.url(paths::DEVICE_CONFIRM))
        .form(&[("user_code", user_code.as_str()), ("form_token", token.as_str()), ("decision", decision)])
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn rfc8628_3_2_a_device_gets_a_device_code_a_user_code_the_verification_uris_and_an_interval(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    assert!(device["device_code"].as_str().is_some_and(|c| c.len() >= 43), "256 bits: {device}");
    let user_code = device["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert!(user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "§6.1: {user_code}");
    assert_eq!(device["verification_uri"], p.url(paths::DEVICE));
    assert_eq!(device["verification_uri_complete"], format!("{}?user_code={user_code}", p.url(paths::DEVICE)));
    assert_eq!(device["expires_in"], 600);
    assert_eq!(device["interval"], 5);
    // Discovery names the endpoint (§4).
    let doc: Value = reqwest::get(p.url(paths::DISCOVERY)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["device_authorization_endpoint"], p.url(paths::DEVICE_AUTHORIZATION));
    h.finish().await;
}

async fn rfc8628_3_4_the_user_approves_and_the_device_gets_tokens_for_them(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    let device_code = device["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(p, "tv", device_code).await), (StatusCode::BAD_REQUEST, "authorization_pending"));
    let browser = Browser::new("alice");
    let page = open_confirmation(&browser, &device).await;
    // §5.4: the page names the client and shows the code to compare with the device's.
    assert!(page.contains("Living-room TV") && page.contains(device["user_code"].as_str().unwrap()), "{page}");
    let (status, done) = answer(&browser, p, &page, "approve").await;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("Device approved"), "{done}");
    p.clock.advance(5);
    let (status, tokens) = poll(p, "tv", device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id = common::unverified_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], "tv");
    let access = common::unverified_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], id["sub"], "the token is the user's");
    assert_eq!(access["client_id"], "tv");
    assert!(tokens["scope"].as_str().unwrap().split(' ').any(|s| s == "offline_access"), "{tokens}");
    assert_eq!(common::userinfo_status(p, tokens["access_token"].as_str().unwrap()).await, StatusCode::OK);
    // The refresh token works like any other.
    let (status, _, refreshed) = token_request(
        p,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "tv"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    h.finish().await;
}

async fn rfc8628_3_5_polling_faster_than_the_interval_hears_slow_down(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    let device_code = device["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(p, "tv", device_code).await).1, "authorization_pending");
    assert_eq!(error_of(&poll(p, "tv", device_code).await), (StatusCode::BAD_REQUEST, "slow_down"));
    assert_eq!(error_of(&poll(p, "tv", device_code).await).1, "slow_down", "still too soon");
    h.finish().await;
}

async fn rfc8628_3_5_a_denied_request_hears_access_denied(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    let browser = Browser::new("alice");
    let page = open_confirmation(&browser, &device).await;
    let (_, done) = answer(&browser, p, &page, "deny").await;
    assert!(done.contains("Request denied"), "{done}");
    let device_code = device["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(p, "tv", device_code).await), (StatusCode::BAD_REQUEST, "access_denied"));
    h.finish().await;
}

async fn rfc8628_3_5_an_expired_device_code_hears_expired_token_and_its_page_says_so(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    let device_code = device["device_code"].as_str().unwrap();
    p.clock.advance(601);
    assert_eq!(error_of(&poll(p, "tv", device_code).await), (StatusCode::BAD_REQUEST, "expired_token"));
    // The verification page says so too, and records no answer.
    let browser = Browser::new("alice");
    let landing = browser.journey(device["verification_uri_complete"].as_str().unwrap(), false).await;
    let (_, page) = landing.page();
    assert!(page.contains("Code expired"), "{page}");
    h.finish().await;
}

async fn rfc8628_3_4_a_device_code_is_single_use_and_a_replay_revokes_its_tokens(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    let browser = Browser::new("alice");
    let page = open_confirmation(&browser, &device).await;
    answer(&browser, p, &page, "approve").await;
    let device_code = device["device_code"].as_str().unwrap();
    let (status, tokens) = poll(p, "tv", device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    p.clock.advance(5);
    assert_eq!(error_of(&poll(p, "tv", device_code).await), (StatusCode::BAD_REQUEST, "invalid_grant"));
    // RFC 6749 §4.1.2: what the stolen code issued is revoked.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(common::userinfo_status(p, access).await, StatusCode::UNAUTHORIZED);
    let (status, _, refreshed) = token_request(
        p,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "tv"),
        ],
    )
    .await;
    assert_eq!((status, refreshed["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    h.finish().await;
}

async fn rfc8628_3_4_a_device_code_is_good_only_for_the_client_it_was_issued_to(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    manage::clients::create(
        &m,
        NewClient {
            id: "tv2".into(),
            public: true,
            grant_types: Some(vec![DEVICE_GRANT.into()]),
            ..NewClient::default()
        },
    )
    .await
    .unwrap();
    let device = authorize_device(p).await;
    let answer = poll(p, "tv2", device["device_code"].as_str().unwrap()).await;
    assert_eq!(error_of(&answer), (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(error_of(&poll(p, "tv", "not-a-device-code").await), (StatusCode::BAD_REQUEST, "invalid_grant"));
    h.finish().await;
}

async fn rfc8628_3_1_only_clients_allowed_the_grant_get_device_codes(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let refused = ask(p, "web", "openid").await;
    assert_eq!(error_of(&refused), (StatusCode::BAD_REQUEST, "unauthorized_client"));
    let unknown = ask(p, "nobody", "openid").await;
    assert_eq!(error_of(&unknown), (StatusCode::UNAUTHORIZED, "invalid_client"));
    // The token endpoint refuses the grant to a client not registered for it (RFC 6749 §5.2).
    let polled = poll(p, "web", "whatever").await;
    assert_eq!(error_of(&polled), (StatusCode::BAD_REQUEST, "unauthorized_client"));
    let no_openid = ask(p, "tv", "profile").await;
    assert_eq!(error_of(&no_openid), (StatusCode::BAD_REQUEST, "invalid_scope"));
    h.finish().await;
}

async fn rfc8628_5_1_guessing_user_codes_is_limited_per_address_even_for_a_right_guess(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    let http = reqwest::Client::new();
    let guess = |code: String| {
        let http = http.clone();
        let url = p.url(paths::DEVICE);
        async move { http.get(format!("{url}?user_code={code}")).send().await.unwrap().status() }
    };
    // The default allows 10 wrong codes a minute per address.
    // (A guess that happened to be the live code would redirect to the sign-in.)
    for last in ["GHJK", "GHJL", "GHJM", "GHJN", "GHJP", "GHJQ", "GHJR", "GHJS", "GHJT", "GHJV"] {
        let status = guess(format!("BCDF-{last}")).await;
        assert!(status == StatusCode::NOT_FOUND || status == StatusCode::FOUND, "BCDF-{last}: {status}");
    }
    assert_eq!(guess("BCDF-GHJW".into()).await, StatusCode::TOO_MANY_REQUESTS);
    // Blocked: the right code is not even looked up.
    let right = device["user_code"].as_str().unwrap().to_string();
    assert_eq!(guess(right).await, StatusCode::TOO_MANY_REQUESTS);
    h.finish().await;
}

async fn rfc6749_10_12_the_approval_needs_the_form_of_the_users_own_session(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let device = authorize_device(p).await;
    let browser = Browser::new("alice");
    let page = open_confirmation(&browser, &device).await;
    let forged = page.replace(&hidden_value(&page, "form_token").unwrap(), "forged-token");
    let (status, _) = answer(&browser, p, &forged, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another browser (no session) cannot post it either.
    let (status, body) = answer(&Browser::new("bob"), p, &page, "approve").await;
    assert!(status == StatusCode::OK && body.contains("Sign in again"), "{status}: {body}");
    let device_code = device["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(p, "tv", device_code).await).1, "authorization_pending", "nothing was answered");
    // The real form still works, once.
    let (_, done) = answer(&browser, p, &page, "approve").await;
    assert!(done.contains("Device approved"), "{done}");
    let (_, again) = answer(&browser, p, &page, "deny").await;
    assert!(again.contains("Code already used"), "{again}");
    h.finish().await;
}

async fn a_signed_in_user_goes_straight_to_the_confirmation_and_the_code_is_typed_loosely(backend: Backend) {
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let browser = Browser::new("alice");
    // Signed in once for the first device …
    let first = authorize_device(p).await;
    open_confirmation(&browser, &first).await;
    // … then types the second device's code in lower case without the dash.
    let second = authorize_device(p).await;
    let typed = second["user_code"].as_str().unwrap().replace('-', "").to_lowercase();
    let url = format!("{}?user_code={typed}", p.url(paths::DEVICE));
    match browser.journey(&url, false).await {
        Landing::Page(status, page) => {
            assert_eq!(status, StatusCode::OK);
            assert!(page.contains(second["user_code"].as_str().unwrap()), "shown as on the device: {page}");
            assert!(page.contains("name=\"form_token\""));
        }
        Landing::Client(url) => panic!("no redirect expected: {url}"),
    }
    h.finish().await;
}

async fn the_openidconnect_crate_completes_the_device_flow(backend: Backend) {
    use openidconnect::core::{CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata};
    use openidconnect::{ClientId, DeviceAuthorizationUrl, IssuerUrl, OAuth2TokenResponse, Scope};
    let Some(h) = start_with(backend, |config| config.tokens.device_poll_interval_secs = 1).await else { return };
    let p = &h.provider;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(p.issuer.clone()).unwrap(), &crate::rp_flow::rp_http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new("tv".into()), None)
        .set_device_authorization_url(DeviceAuthorizationUrl::new(p.url(paths::DEVICE_AUTHORIZATION)).unwrap());
    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("profile".into()))
        .request_async(&crate::rp_flow::rp_http)
        .await
        .unwrap();
    let complete = details.verification_uri_complete().unwrap().secret().clone();
    let browser = Browser::new("alice");
    let approving = async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let page = open_confirmation(&browser, &serde_json::json!({ "verification_uri_complete": complete })).await;
        answer(&browser, p, &page, "approve").await
    };
    let polling = client.exchange_device_access_token(&details).unwrap().request_async(
        &crate::rp_flow::rp_http,
        tokio::time::sleep,
        Some(std::time::Duration::from_secs(30)),
    );
    let (tokens, (status, _)) = tokio::join!(polling, approving);
    assert_eq!(status, StatusCode::OK);
    let tokens = tokens.unwrap();
    let id_token = tokens.extra_fields().id_token().expect("an ID token");
    let claims = common::unverified_claims(&id_token.to_string());
    assert_eq!(claims["aud"], "tv");
    assert!(!tokens.access_token().secret().is_empty());
    h.finish().await;
}

async fn rfc8707_2_a_device_names_the_api_its_tokens_are_for(backend: Backend) {
    const API: &str = "https://api.example.com/orders";
    let Some(h) = start(backend).await else { return };
    let p = &h.provider;
    let m = Manage::for_server(&p.app, Actor::admin("test"));
    let api = NewClient {
        id: "orders-api".into(),
        grant_types: Some(vec!["client_credentials".into()]),
        allowed_scopes: Some(vec![]),
        resource_uri: Some(API.into()),
        resource_scopes: vec!["orders.read".into()],
        resource_server: true,
        ..NewClient::default()
    };
    manage::clients::create(&m, api).await.unwrap();
    let ask_for = |resource: &'static str| async move {
        let form = [("client_id", "tv"), ("scope", "openid profile"), ("resource", resource)];
        let resp = reqwest::Client::new().post(p.url(paths::DEVICE_AUTHORIZATION)).form(&form).send().await.unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    // Only a registered API (§2: invalid_target).
    let refused = ask_for("https://api.example.com/unknown").await;
    assert_eq!(error_of(&refused), (StatusCode::BAD_REQUEST, "invalid_target"));
    let (status, device) = ask_for(API).await;
    assert_eq!(status, StatusCode::OK, "{device}");
    let browser = Browser::new("alice");
    let page = open_confirmation(&browser, &device).await;
    assert_eq!(answer(&browser, p, &page, "approve").await.0, StatusCode::OK);
    p.clock.advance(5);
    let device_code = device["device_code"].as_str().unwrap();
    // §2.2: the token request may name only the authorized resource; a refusal uses nothing up.
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", "tv"),
        ("resource", "https://api.example.com/billing"),
    ];
    let (status, _, body) = token_request(p, None, &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")), "{body}");
    p.clock.advance(5);
    let (status, tokens) = poll(p, "tv", device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = common::unverified_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], API, "the API's token");
    let id = common::unverified_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], "tv", "the ID token is still the client's");
    assert_eq!(common::userinfo_status(p, tokens["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED);
    h.finish().await;
}
