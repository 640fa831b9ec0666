//! What any OpenID Connect relying party does, in plain functions over HTTP: discovery, the
//! authorization request with state, nonce and PKCE, the code exchange, ID token validation against
//! the JWKS, userinfo, refresh, revocation and RP-initiated logout. Nothing here reaches into the
//! provider's process: the demo app talks to it exactly as a separate application would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The scopes the demo asks for: everything its registration allows, so every claim shows up.
pub const SCOPES: &str = "openid profile email offline_access roles groups";

/// Allowance for clock skew when checking `exp` and `iat` (OIDC Core §3.1.3.7 steps 9-10).
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum RpError {
    #[error("cannot reach the provider: {0}")]
    Http(String),
    /// An RFC 6749 §5.2 error answer (or any non-success status).
    #[error("the provider answered {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider { status: u16, error: String, description: Option<String> },
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
}

impl From<reqwest::Error> for RpError {
    fn from(e: reqwest::Error) -> Self {
        RpError::Http(e.to_string())
    }
}

/// The endpoints from the provider's discovery document (OIDC Discovery §3).
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
}

/// This relying party's registration.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub post_logout_redirect_uri: String,
}

/// OIDC Discovery §4: `{issuer}/.well-known/openid-configuration`, whose `issuer` must be exactly
/// the issuer asked for (§4.3).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<ProviderMetadata, RpError> {
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let metadata: ProviderMetadata = success(http.get(url).send().await?).await?.json().await?;
    if metadata.issuer != issuer {
        return Err(RpError::Http(format!("discovery names issuer {:?}, not {issuer:?}", metadata.issuer)));
    }
    Ok(metadata)
}

/// The values one sign-in attempt must remember until the callback: `state` against CSRF
/// (RFC 6749 §10.12), `nonce` against ID token replay (OIDC Core §3.1.2.1), the PKCE verifier
/// against code interception (RFC 7636 §4.1).
#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
}

impl LoginRequest {
    pub fn new() -> LoginRequest {
        LoginRequest {
            state: crate::secrets::token(),
            nonce: crate::secrets::token(),
            code_verifier: crate::secrets::token(),
        }
    }

    /// The authorization request (OIDC Core §3.1.2.1). `prompt=consent`: OIDC Core §11 grants
    /// `offline_access` (a refresh token) only with it.
    pub fn authorize_url(&self, provider: &ProviderMetadata, client: &ClientRegistration) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(self.code_verifier.as_bytes()));
        with_query(
            &provider.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &client.client_id),
                ("redirect_uri", &client.redirect_uri),
                ("scope", SCOPES),
                ("state", &self.state),
                ("nonce", &self.nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("prompt", "consent"),
            ],
        )
    }
}

impl Default for LoginRequest {
    fn default() -> Self {
        LoginRequest::new()
    }
}

/// A token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<String>,
}

/// RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5); the client authenticates with
/// `client_secret_basic` (§2.3.1).
pub async fn exchange_code(
    http: &reqwest::Client,
    provider: &ProviderMetadata,
    client: &ClientRegistration,
    code: &str,
    code_verifier: &str,
) -> Result<TokenSet, RpError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &client.redirect_uri),
        ("code_verifier", code_verifier),
    ];
    token_request(http, provider, client, &form).await
}

/// RFC 6749 §6: a refresh token for new tokens.
pub async fn refresh(
    http: &reqwest::Client,
    provider: &ProviderMetadata,
    client: &ClientRegistration,
    refresh_token: &str,
) -> Result<TokenSet, RpError> {
    token_request(http, provider, client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

async fn token_request(
    http: &reqwest::Client,
    provider: &ProviderMetadata,
    client: &ClientRegistration,
    form: &[(&str, &str)],
) -> Result<TokenSet, RpError> {
    let resp = http
        .post(&provider.token_endpoint)
        .header(reqwest::header::AUTHORIZATION, basic_auth(client))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(form))
        .send()
        .await?;
    Ok(success(resp).await?.json().await?)
}

/// RFC 7009 §2.1: revoke a token (a refresh token ends its whole family at this provider).
pub async fn revoke(
    http: &reqwest::Client,
    provider: &ProviderMetadata,
    client: &ClientRegistration,
    token: &str,
    token_type_hint: &str,
) -> Result<(), RpError> {
    let resp = http
        .post(&provider.revocation_endpoint)
        .header(reqwest::header::AUTHORIZATION, basic_auth(client))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(&[("token", token), ("token_type_hint", token_type_hint)]))
        .send()
        .await?;
    success(resp).await.map(drop)
}

/// OIDC Core §5.3: the claims about the user, for the access token.
pub async fn userinfo(
    http: &reqwest::Client,
    provider: &ProviderMetadata,
    access_token: &str,
) -> Result<Value, RpError> {
    let resp = http.get(&provider.userinfo_endpoint).bearer_auth(access_token).send().await?;
    Ok(success(resp).await?.json().await?)
}

/// RP-Initiated Logout 1.0 §2: send the browser here; the provider ends its session and comes
/// back to `post_logout_redirect_uri` with `state`.
pub fn logout_url(provider: &ProviderMetadata, client: &ClientRegistration, id_token: &str, state: &str) -> String {
    with_query(
        &provider.end_session_endpoint,
        &[
            ("id_token_hint", id_token),
            ("client_id", &client.client_id),
            ("post_logout_redirect_uri", &client.post_logout_redirect_uri),
            ("state", state),
        ],
    )
}

/// What the ID token must match besides its signature.
pub enum Expected<'a> {
    /// From the code exchange: the nonce this sign-in sent (OIDC Core §3.1.3.7 step 11).
    Login { nonce: &'a str },
    /// From a refresh: the same user as before (OIDC Core §12.2).
    Refresh { sub: &'a str },
}

/// OIDC Core §3.1.3.7: the signature with the provider's published key (RS256 only: RFC 8725
/// §3.1), `iss` exactly, our client id in `aud`, unexpired, and the nonce or subject expected.
/// The JWKS is fetched each time; a long-running relying party caches it (see
/// `examples/verify_token.rs` and docs/verifying-tokens.md).
pub async fn verify_id_token(
    http: &reqwest::Client,
    provider: &ProviderMetadata,
    client_id: &str,
    id_token: &str,
    expected: Expected<'_>,
) -> Result<Value, RpError> {
    let bad = |why: &str| RpError::IdToken(why.to_string());
    let header = jsonwebtoken::decode_header(id_token).map_err(|_| bad("not a signed JWT"))?;
    if header.alg != Algorithm::RS256 {
        return Err(bad("not signed with RS256"));
    }
    let kid = header.kid.ok_or_else(|| bad("no kid in the header"))?;
    let jwks: Jwks = success(http.get(&provider.jwks_uri).send().await?).await?.json().await?;
    let key = jwks.keys.iter().find(|k| k.kid.as_deref() == Some(kid.as_str()) && k.kty == "RSA");
    let key = key.ok_or_else(|| bad("signed with a key the JWKS does not publish"))?;
    let key = DecodingKey::from_rsa_components(&key.n, &key.e).map_err(|_| bad("unusable key in the JWKS"))?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&provider.issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
    validation.leeway = LEEWAY_SECS;
    let claims =
        jsonwebtoken::decode::<Value>(id_token, &key, &validation).map_err(|e| RpError::IdToken(e.to_string()))?.claims;
    match expected {
        Expected::Login { nonce } => {
            let got = claims["nonce"].as_str().unwrap_or_default();
            if !crate::secrets::secure_eq(got.as_bytes(), nonce.as_bytes()) {
                return Err(bad("the nonce is not the one this sign-in sent"));
            }
        }
        Expected::Refresh { sub } => {
            if claims["sub"].as_str() != Some(sub) {
                return Err(bad("a refreshed ID token names another user"));
            }
        }
    }
    Ok(claims)
}

/// A JWT's header and claims, decoded for display only: no signature is checked here.
pub fn decode_unverified(jwt: &str) -> Option<(Value, Value)> {
    let mut parts = jwt.split('.');
    let (header, claims, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let decode = |part: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(part).ok()?).ok();
    Some((decode(header)?, decode(claims)?))
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
}

/// RFC 6749 §2.3.1 and Appendix B: id and secret are form-encoded before the Basic encoding.
fn basic_auth(client: &ClientRegistration) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(&client.client_id), encode(&client.client_secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn with_query(endpoint: &str, pairs: &[(&str, &str)]) -> String {
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{}", form_body(pairs))
}

/// The response if it is a success; otherwise its RFC 6749 §5.2 error as [`RpError::Provider`].
async fn success(resp: reqwest::Response) -> Result<reqwest::Response, RpError> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    Err(RpError::Provider {
        status,
        error: body["error"].as_str().unwrap_or("no error code").to_string(),
        description: body["error_description"].as_str().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> ProviderMetadata {
        ProviderMetadata {
            issuer: "http://127.0.0.1:8080".into(),
            authorization_endpoint: "http://127.0.0.1:8080/authorize".into(),
            token_endpoint: "http://127.0.0.1:8080/token".into(),
            userinfo_endpoint: "http://127.0.0.1:8080/userinfo".into(),
            jwks_uri: "http://127.0.0.1:8080/jwks.json".into(),
            revocation_endpoint: "http://127.0.0.1:8080/revoke".into(),
            end_session_endpoint: "http://127.0.0.1:8080/logout".into(),
        }
    }

    fn client() -> ClientRegistration {
        ClientRegistration {
            client_id: "demo".into(),
            client_secret: "s3cret:+/".into(),
            redirect_uri: "http://127.0.0.1:8082/callback".into(),
            post_logout_redirect_uri: "http://127.0.0.1:8082/signed-out".into(),
        }
    }

    #[test]
    fn rfc7636_4_2_the_authorization_request_carries_state_nonce_and_the_s256_challenge() {
        let login = LoginRequest { state: "st".into(), nonce: "no".into(), code_verifier: "v".repeat(43) };
        let url = url::Url::parse(&login.authorize_url(&provider(), &client())).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "st");
        assert_eq!(q["nonce"], "no");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], URL_SAFE_NO_PAD.encode(Sha256::digest("v".repeat(43))));
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8082/callback");
        assert_eq!(q["scope"], SCOPES);
        assert_eq!(q["prompt"], "consent", "offline_access needs prompt=consent (OIDC Core §11)");
    }

    #[test]
    fn each_sign_in_draws_fresh_state_nonce_and_verifier() {
        let (a, b) = (LoginRequest::new(), LoginRequest::new());
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.code_verifier, b.code_verifier);
        assert!(a.code_verifier.len() >= 43, "RFC 7636 §4.1: 43 to 128 characters");
    }

    #[test]
    fn rfc6749_appendix_b_client_credentials_are_form_encoded_before_basic() {
        let header = basic_auth(&client());
        let decoded = base64::engine::general_purpose::STANDARD.decode(header.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "demo:s3cret%3A%2B%2F");
    }

    #[test]
    fn the_logout_url_carries_the_hint_the_registered_return_address_and_state() {
        let url = url::Url::parse(&logout_url(&provider(), &client(), "a.b.c", "st")).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["id_token_hint"], "a.b.c");
        assert_eq!(q["post_logout_redirect_uri"], "http://127.0.0.1:8082/signed-out");
        assert_eq!(q["state"], "st");
    }

    #[test]
    fn decoding_for_display_needs_three_json_parts() {
        let part = |v: &str| URL_SAFE_NO_PAD.encode(v);
        let jwt = format!("{}.{}.sig", part(r#"{"alg":"RS256"}"#), part(r#"{"sub":"u"}"#));
        let (header, claims) = decode_unverified(&jwt).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(claims["sub"], "u");
        assert!(decode_unverified("opaque-token").is_none());
        assert!(decode_unverified("a.b.c").is_none());
    }
}
