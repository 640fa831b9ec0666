//! Acceptance: an independent relying party (the `openidconnect` crate) signs in end to end —
//! discovery, authorize, simulator login, callback, code exchange with PKCE, ID token verification
//! against the published JWKS (signature, iss, aud, nonce, at_hash) and userinfo — once per client
//! authentication method and once as a public client.

mod common;

use common::{Browser, PostgresDatabase, REDIRECT_URI, RedisNamespace, TestProvider};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

#[derive(Debug)]
struct RpHttpError(String);

impl std::fmt::Display for RpHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RpHttpError {}

/// The relying party's HTTP client: reqwest 0.13 behind openidconnect's `AsyncHttpClient`.
async fn rp_http(request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, RpHttpError> {
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
