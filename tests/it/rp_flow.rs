//! Acceptance: an independent relying party (the `openidconnect` crate) signs in end to end —
//! discovery, authorize, simulator login, callback, code exchange with PKCE, ID token verification
//! against the published JWKS (signature, iss, aud, nonce, at_hash) and userinfo — once per client
//! authentication method and once as a public client; and once with `response_mode=form_post`,
//! the answer POSTed by the browser to the relying party's own callback.

use crate::common;

use std::sync::{Arc, Mutex};

use crate::common::{Browser, PostgresDatabase, REDIRECT_URI, RedisNamespace, TestProvider};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

#[derive(Debug)]
pub(crate) struct RpHttpError(String);

impl std::fmt::Display for RpHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RpHttpError {}

/// The relying party's HTTP client: reqwest 0.13 behind openidconnect's `AsyncHttpClient`.
pub(crate) async fn rp_http(request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, RpHttpError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| RpHttpError(e.to_string()))?;
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| RpHttpError(e.to_string()))?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await.map_err(|e| RpHttpError(e.to_string()))?;
    builder.body(body.to_vec()).map_err(|e| RpHttpError(e.to_string()))
}

#[derive(Clone, Copy, Debug)]
enum ClientKind {
    SecretBasic,
    SecretPost,
    Public,
}

async fn full_flow(kind: ClientKind, first_party: bool) {
    let provider = TestProvider::start().await;
    full_flow_on(&provider, kind, first_party).await;
}

async fn full_flow_on(provider: &TestProvider, kind: ClientKind, first_party: bool) {
    let client_id = format!("rp-{kind:?}").to_lowercase();
    let secret = provider.register(&client_id, matches!(kind, ClientKind::Public), first_party).await;

    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(provider.issuer.clone()).unwrap(), &rp_http)
        .await
        .expect("discovery and JWKS are accepted by the relying party");
    let mut client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_string()).unwrap());
    if matches!(kind, ClientKind::SecretPost) {
        client = client.set_auth_type(AuthType::RequestBody);
    }

    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("phone".into()))
        .set_pkce_challenge(pkce_challenge)
        .url();

    let browser = Browser::new("alice");
    let landing = browser.journey(auth_url.as_str(), true).await;
    assert_eq!(landing.param("state").as_deref(), Some(csrf.secret().as_str()));
    // RFC 9207 §2: iss on the authorization response equals the issuer.
    assert_eq!(landing.param("iss").as_deref(), Some(provider.issuer.as_str()));
    let code = landing.param("code").expect("code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(pkce_verifier)
        .request_async(&rp_http)
        .await
        .expect("code exchange succeeds");
    let id_token = tokens.id_token().expect("an ID token for the openid scope");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("ID token verifies: signature, iss, aud, nonce, exp");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash matches (OIDC Core §3.1.3.6)");
    assert_eq!(claims.issuer().as_str(), provider.issuer);
    assert_eq!(claims.audiences().len(), 1);
    assert_eq!(claims.audiences()[0].as_str(), client_id);
    assert!(claims.auth_time().is_some());

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .expect("userinfo endpoint known")
        .request_async(&rp_http)
        .await
        .expect("userinfo answers for the ID token's subject");
    assert_eq!(userinfo.subject(), claims.subject());
    let email = userinfo.email().map(|e| e.as_str().to_string());
    assert_eq!(email.as_deref(), Some("alice@example.com"));
    assert!(userinfo.name().is_some(), "profile scope releases the name");
    assert!(userinfo.phone_number().is_some(), "phone scope releases the number");
}

#[tokio::test]
async fn openidconnect_rp_confidential_client_secret_basic() {
    full_flow(ClientKind::SecretBasic, true).await;
}

#[tokio::test]
async fn openidconnect_rp_confidential_client_secret_post_with_consent() {
    full_flow(ClientKind::SecretPost, false).await;
}

#[tokio::test]
async fn openidconnect_rp_public_client_with_pkce() {
    full_flow(ClientKind::Public, true).await;
}

/// The same flow on the production stores: PostgreSQL directory, Redis sessions.
#[tokio::test]
async fn openidconnect_rp_on_postgres_and_redis() {
    let Some(db) = PostgresDatabase::create().await else { return };
    let Some(ns) = RedisNamespace::create().await else { return };
    let (url, redis_url, prefix) = (db.url.clone(), ns.url.clone(), ns.prefix.clone());
    let provider = TestProvider::start_with(move |c| {
        c.database.url = url;
        c.sessions.backend = "redis".into();
        c.redis.url = redis_url;
        c.redis.prefix = prefix;
    })
    .await;
    full_flow_on(&provider, ClientKind::SecretBasic, false).await;
    drop(provider);
    ns.drop().await;
    db.drop().await;
}

/// What the relying party's callback received: method, content type, body.
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

#[poem::handler]
async fn rp_callback(req: &poem::Request, body: poem::Body, received: poem::web::Data<&Received>) -> &'static str {
    let body = body.into_string().await.unwrap_or_default();
    let content_type = req.content_type().unwrap_or_default().to_string();
    received.lock().unwrap().push((req.method().to_string(), content_type, body));
    "signed in"
}

/// A relying party's `/callback` on a free loopback port; returns its URL and what it receives.
async fn start_rp_callback() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    let received = Received::default();
    let app = poem::EndpointExt::data(poem::Route::new().at("/callback", poem::post(rp_callback)), received.clone());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    (url, received)
}

/// Acceptance: a relying party using `response_mode=form_post` completes a login (OAuth 2.0 Form
/// Post Response Mode §2): through the DingTalk login and the consent page, the browser is handed
/// a form, POSTs it to the relying party, which checks `state` and `iss` (RFC 9207 §2.4) from the
/// body, exchanges the code and verifies the ID token.
#[tokio::test]
async fn openidconnect_rp_with_response_mode_form_post_completes_a_login() {
    let provider = TestProvider::start().await;
    let (callback, received) = start_rp_callback().await;
    let (_, secret) = provider
        .app
        .directory
        .create_client(dingtalk_oidc::directory::NewClient {
            id: "rp-form-post".into(),
            name: Some("Form post RP".into()),
            redirect_uris: vec![callback.clone()],
            first_party: false,
            ..Default::default()
        })
        .await
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(provider.issuer.clone()).unwrap(), &rp_http).await.unwrap();
    let modes: Vec<String> = metadata
        .response_modes_supported()
        .expect("response_modes_supported")
        .iter()
        .map(|m| serde_json::to_value(m).unwrap().as_str().unwrap().to_string())
        .collect();
    assert!(modes.iter().any(|m| m == "form_post"), "{modes:?}");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("rp-form-post".into()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(callback.clone()).unwrap());
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_extra_param("response_mode", "form_post")
        .set_pkce_challenge(pkce_challenge)
        .url();

    // The browser: DingTalk login, then the consent page (not first-party), approved.
    let browser = Browser::new("alice");
    let landing = browser.journey(auth_url.as_str(), false).await;
    let (_, consent) = landing.page();
    let answer = |name: &str| common::hidden_value(consent, name).expect(name);
    let resp = browser
        .http
        .post(provider.url("/consent"))
        .form(&[
            ("consent_id", answer("consent_id")),
            ("csrf_token", answer("csrf_token")),
            ("decision", "approve".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK, "a page, not a redirect");
    let page = resp.text().await.unwrap();
    // The page's form, submitted as a browser does: POST, urlencoded, to the form's action.
    let (action, fields) = common::posted_form(&page).expect("a form_post page");
    assert_eq!(action, callback);
    let resp = browser.http.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "signed in");

    // The relying party reads the answer from the POST body, never from the URL.
    let (method, content_type, body) = received.lock().unwrap().pop().expect("the callback received the POST");
    assert_eq!(method, "POST");
    assert_eq!(content_type, "application/x-www-form-urlencoded");
    let posted: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let param = |name: &str| posted.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(param("state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(param("iss").as_deref(), Some(provider.issuer.as_str()));
    let code = param("code").expect("a code in the POST body");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(pkce_verifier)
        .request_async(&rp_http)
        .await
        .expect("code exchange succeeds");
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&client.id_token_verifier(), &nonce)
        .expect("ID token verifies: signature, iss, aud, nonce, exp");
    assert_eq!(claims.audiences()[0].as_str(), "rp-form-post");
}
