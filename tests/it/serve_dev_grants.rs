//! Every grant and client profile of the provider, completed by an independent client against the
//! real `serve --dev` binary (clients registered with its CLI): the openidconnect crate for client
//! credentials, the device grant and dynamic registration; raw HTTP for pushed authorization
//! requests and private_key_jwt, which that crate does not offer.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cli::{BIN, Child, free_port, run};
use crate::common::{self, Browser, REDIRECT_URI, hidden_value};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openidconnect::core::{
    CoreClient, CoreClientRegistrationRequest, CoreDeviceAuthorizationResponse, CoreProviderMetadata,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AccessToken, ClientId, ClientSecret, DeviceAuthorizationUrl, IssuerUrl, OAuth2TokenResponse, RedirectUrl, Scope,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const API: &str = "https://api.example.com/orders";

/// The CLI's stdout, after it succeeded.
fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = run(dir, args, &[]);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn printed(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("{label} in {stdout}"))
        .trim()
        .into()
}

#[tokio::test]
async fn independent_clients_complete_every_grant_against_serve_dev() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("config.toml");
    // Registration on, for the tests' loopback redirect URI.
    let settings = "[registration]\nenabled = true\nallowed_redirect_schemes = [\"https\", \"http\"]\n\n[tokens]\ndevice_poll_interval_secs = 1\n";
    std::fs::write(&config, settings).unwrap();
    let config = config.display().to_string();
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--dev", "--config", &config, "--listen", &listen])
        .env("DINGTALK_OIDC_DEV__SIMULATOR_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("DINGTALK_OIDC_DEV__DEMO_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Child(child);
    let issuer = format!("http://{listen}");
    let mut up = false;
    for _ in 0..150 {
        if reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve --dev did not come up");
    let d = dir.path();
    let with_config = |args: &[&str]| {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        cli(d, &all)
    };
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &crate::rp_flow::rp_http)
            .await
            .unwrap();

    // Client credentials (RFC 6749 §4.4) for a registered API (RFC 8707), with the openidconnect crate.
    with_config(&[
        "clients",
        "add",
        "--id",
        "orders-api",
        "--grant-type",
        "client_credentials",
        "--resource-uri",
        API,
        "--resource-scope",
        "orders.read",
    ]);
    let svc =
        with_config(&["clients", "add", "--id", "svc", "--grant-type", "client_credentials", "--scope", "orders.read"]);
    let svc_secret = printed(&svc, "client secret: ");
    let service = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new("svc".into()),
        Some(ClientSecret::new(svc_secret)),
    );
    let tokens = service
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("orders.read".into()))
        .add_extra_param("resource", API)
        .request_async(&crate::rp_flow::rp_http)
        .await
        .expect("client credentials");
    assert_eq!(common::unverified_claims(tokens.access_token().secret())["aud"], API);

    // The device grant (RFC 8628), with the openidconnect crate; the user approves at /device.
    with_config(&[
        "clients",
        "add",
        "--id",
        "tv",
        "--public",
        "--grant-type",
        "urn:ietf:params:oauth:grant-type:device_code",
    ]);
    let tv = CoreClient::from_provider_metadata(metadata.clone(), ClientId::new("tv".into()), None)
        .set_device_authorization_url(DeviceAuthorizationUrl::new(format!("{issuer}/device_authorization")).unwrap());
    let details: CoreDeviceAuthorizationResponse = tv
        .exchange_device_code()
        .add_scope(Scope::new("profile".into()))
        .request_async(&crate::rp_flow::rp_http)
        .await
        .unwrap();
    let complete = details.verification_uri_complete().unwrap().secret().clone();
    let browser = Browser::new("alice");
    let approving = async {
        let landing = browser.journey(&complete, false).await;
        let (status, page) = landing.page();
        assert_eq!(status, StatusCode::OK, "{page}");
        let form = [
            ("user_code", hidden_value(page, "user_code").unwrap()),
            ("form_token", hidden_value(page, "form_token").unwrap()),
            ("decision", "approve".to_string()),
        ];
        browser.http.post(format!("{issuer}/device/confirm")).form(&form).send().await.unwrap().status()
    };
    let polling = tv.exchange_device_access_token(&details).unwrap().request_async(
        &crate::rp_flow::rp_http,
        tokio::time::sleep,
        Some(Duration::from_secs(30)),
    );
    let (tokens, approved) = tokio::join!(polling, approving);
    assert_eq!(approved, StatusCode::OK);
    let tokens = tokens.expect("device tokens");
    assert_eq!(common::unverified_claims(&tokens.extra_fields().id_token().unwrap().to_string())["aud"], "tv");

    // A pushed authorization request (RFC 9126), by raw HTTP.
    let web = with_config(&[
        "clients",
        "add",
        "--id",
        "web",
        "--redirect-uri",
        REDIRECT_URI,
        "--first-party",
        "--require-par",
    ]);
    let web_secret = printed(&web, "client secret: ");
    let http = reqwest::Client::new();
    let pushed: Value = http
        .post(format!("{issuer}/par"))
        .basic_auth("web", Some(&web_secret))
        .form(&[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("state", "pushed"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request_uri = pushed["request_uri"].as_str().expect("a request_uri");
    let url = common::authorize_url(&issuer, &[("client_id", "web"), ("request_uri", request_uri)]);
    let landing = Browser::new("bob").journey(&url, true).await;
    assert_eq!(landing.param("state").as_deref(), Some("pushed"));
    let code = landing.param("code").expect("a code through PAR");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", common::VERIFIER),
    ];
    let resp =
        http.post(format!("{issuer}/token")).basic_auth("web", Some(&web_secret)).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // private_key_jwt (OIDC Core §9), by raw HTTP: a client registered with its JWK Set.
    let key = dingtalk_oidc::keys::generate_rsa_key().unwrap();
    let jwks_file = d.join("signer.jwks.json");
    std::fs::write(&jwks_file, json!({ "keys": [key.jwk] }).to_string()).unwrap();
    with_config(&[
        "clients",
        "add",
        "--id",
        "signer",
        "--grant-type",
        "client_credentials",
        "--scope",
        "orders.read",
        "--jwks-file",
        &jwks_file.display().to_string(),
    ]);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "iss": "signer", "sub": "signer", "aud": format!("{issuer}/token"), "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string() });
    let header = Header { kid: Some(key.jwk.kid.clone()), ..Header::new(Algorithm::RS256) };
    let assertion = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(&key.pkcs1_der)).unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", API),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    let resp = http.post(format!("{issuer}/token")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let again = http.post(format!("{issuer}/token")).form(&form).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "the assertion is good once");

    // Dynamic registration (RFC 7591), with the openidconnect crate, and a sign-in with the client.
    let issued = with_config(&["registration-tokens", "issue", "--description", "serve --dev"]);
    let initial = printed(&issued, "token: ");
    let registered = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(REDIRECT_URI.into()).unwrap()],
        EmptyAdditionalClientMetadata {},
    )
    .set_initial_access_token(Some(AccessToken::new(initial)))
    .register_async(metadata.registration_endpoint().expect("registration is on"), &crate::rp_flow::rp_http)
    .await
    .expect("registered");
    let client_id = registered.client_id().as_str().to_string();
    let secret = registered.client_secret().unwrap().secret().clone();
    let url = common::authorize_url(
        &issuer,
        &[
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = Browser::new("carol").journey(&url, true).await.param("code").expect("a code for the registered client");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", common::VERIFIER),
    ];
    let resp =
        http.post(format!("{issuer}/token")).basic_auth(&client_id, Some(&secret)).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
