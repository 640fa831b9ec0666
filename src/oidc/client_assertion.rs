//! `private_key_jwt` client authentication (OIDC Core §9; RFC 7523 §2.2, §3; RFC 7521 §4.2): the
//! client proves itself with a short-lived JWT it signed with one of its registered keys
//! (`directory::client_keys`), instead of sending a secret. The JWT names the client as `iss` and
//! `sub`, this provider as `aud`, and carries a `jti` that is accepted once (kept in the session
//! store until the assertion's expiry has passed).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde::Deserialize;

use super::error::BackendError;
use super::params::Params;
use super::{OAuthError, paths};
use crate::app::App;
use crate::directory::Client;
use crate::directory::client_keys::{ASSERTION_ALGORITHMS, ClientKey};
use crate::secrets;

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An assertion may not live longer than this: its `jti` is kept until it expires, and a long-lived
/// assertion is a bearer credential in all but name.
const MAX_LIFETIME_SECS: i64 = 3600;
/// Longest `jti` we keep (it is hashed; the limit keeps junk out of the logs' way).
const MAX_JTI_LEN: usize = 256;

/// The endpoints a client authenticates at: an assertion's `aud` may name the one it is sent to.
const AUTHENTICATING_ENDPOINTS: &[&str] =
    &[paths::TOKEN, paths::PAR, paths::INTROSPECT, paths::REVOKE, paths::DEVICE_AUTHORIZATION];

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
}

/// RFC 7519 §4.1.3: one audience or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, candidate: &str) -> bool {
        match self {
            Audience::One(aud) => aud == candidate,
            Audience::Many(auds) => auds.iter().any(|a| a == candidate),
        }
    }

    /// `candidate` and nothing else (a string, or an array of that one string).
    fn is_only(&self, candidate: &str) -> bool {
        match self {
            Audience::One(aud) => aud == candidate,
            Audience::Many(auds) => auds.len() == 1 && auds[0] == candidate,
        }
    }
}

/// The explicit type of a client assertion, `client-authentication+jwt`, with or without the
/// `application/` a media type may carry (RFC 7515 §4.1.9: compared without regard to case).
fn is_client_authentication_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ.strip_prefix("application/").unwrap_or(&typ) == "client-authentication+jwt"
}

/// Authenticates the client whose assertion `params` carry, at the endpoint `path`. Every refusal
/// is `invalid_client` (RFC 6749 §5.2, RFC 7521 §4.2.1) with one description, the reason going to
/// the log only: an attacker learns nothing about which check failed.
pub async fn authenticate(app: &App, path: &str, params: &Params) -> Result<Arc<Client>, OAuthError> {
    match verify(app, path, params).await {
        Ok(client) => Ok(client),
        Err(Refusal::Backend(e)) => Err(e.into()),
        Err(Refusal::Invalid(reason)) => {
            tracing::info!(reason = %reason, "client assertion refused");
            Err(OAuthError::invalid_client("client authentication failed", false))
        }
    }
}

enum Refusal {
    Invalid(String),
    Backend(BackendError),
}

fn invalid(reason: impl Into<String>) -> Refusal {
    Refusal::Invalid(reason.into())
}

async fn verify(app: &App, path: &str, params: &Params) -> Result<Arc<Client>, Refusal> {
    if params.get("client_assertion_type") != Some(JWT_BEARER) {
        return Err(invalid("client_assertion_type is missing or not jwt-bearer"));
    }
    let assertion = params.get("client_assertion").ok_or_else(|| invalid("client_assertion is missing"))?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid("not a JWS"))?;
    if !ASSERTION_ALGORITHMS.contains(&header.alg) {
        return Err(invalid(format!("algorithm {:?} is not accepted", header.alg)));
    }
    // The client is named inside the assertion (RFC 7523 §3: `sub`); the signature is checked
    // with that client's keys, and the claims are read again from the verified token below.
    let named = unverified_subject(assertion).ok_or_else(|| invalid("no sub"))?;
    if params.get("client_id").is_some_and(|id| id != named) {
        return Err(invalid("client_id differs from the assertion's sub"));
    }
    let client = app
        .directory
        .client_cached(&named)
        .await
        .map_err(|e| Refusal::Backend(e.into()))?
        .ok_or_else(|| invalid("no such client"))?;
    if !client.uses_private_key_jwt() {
        return Err(invalid("the client has no registered keys"));
    }
    let keys = app.client_keys.keys(&client, false).await.map_err(invalid)?;
    let claims = match verify_with(&keys, assertion, &header) {
        Some(claims) => claims,
        // A key the set lacks may be a new one: read the client's set again (rate-limited).
        None if header.kid.is_some() && client.jwks_uri.is_some() => {
            let keys = app.client_keys.keys(&client, true).await.map_err(invalid)?;
            verify_with(&keys, assertion, &header).ok_or_else(|| invalid("no key of the client verifies it"))?
        }
        None => return Err(invalid("no key of the client verifies it")),
    };
    // RFC 7523 §3 items 1, 2: iss and sub are the client.
    if claims.iss != client.id || claims.sub != client.id {
        return Err(invalid("iss and sub must be the client_id"));
    }
    // Item 3: aud identifies this provider: the issuer, the token endpoint (OIDC Core §9) or the
    // endpoint the assertion is sent to.
    let endpoint = AUTHENTICATING_ENDPOINTS.iter().find(|p| path.ends_with(**p)).map(|p| app.endpoint_url(p));
    let token_endpoint = app.endpoint_url(paths::TOKEN);
    // An assertion typed `client-authentication+jwt` is made under the updated rules of
    // draft-ietf-oauth-rfc7523bis (in the RFC Editor's queue): the issuer identifier is its one
    // audience. Holding such a client to it closes audience injection (an assertion made for
    // another server whose metadata named our token endpoint). An untyped one keeps RFC 7523 §3.
    let explicitly_typed = header.typ.as_deref().is_some_and(is_client_authentication_type);
    let audience_ok = if explicitly_typed {
        claims.aud.is_only(&app.issuer)
    } else {
        claims.aud.contains(&app.issuer)
            || claims.aud.contains(&token_endpoint)
            || endpoint.is_some_and(|e| claims.aud.contains(&e))
    };
    if !audience_ok {
        return Err(invalid("aud does not name this provider"));
    }
    // Items 4, 5: not expired, not yet valid; with the leeway of our own tokens.
    let now = app.now();
    let leeway = app.config.tokens.leeway_secs as i64;
    if claims.exp + leeway <= now {
        return Err(invalid("expired"));
    }
    if claims.exp - now > MAX_LIFETIME_SECS {
        return Err(invalid("exp is too far in the future"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + leeway) {
        return Err(invalid("not valid yet"));
    }
    // Item 7: used once. Kept until the assertion could no longer be accepted anyway.
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(invalid("jti is missing or too long"));
    }
    let keep_secs = u64::try_from(claims.exp + leeway - now).unwrap_or(1).max(1);
    let jti_hash = secrets::hash(&format!("{}\n{}", client.id, claims.jti));
    let first = app.sessions.note_assertion_jti(&jti_hash, keep_secs).await.map_err(|e| Refusal::Backend(e.into()))?;
    if !first {
        return Err(invalid("jti replayed"));
    }
    Ok(client)
}

/// The claims, if a key of `keys` (the one `kid` names, when it names one) verifies the signature
/// under the header's algorithm, and that key allows that algorithm.
fn verify_with(keys: &[ClientKey], assertion: &str, header: &jsonwebtoken::Header) -> Option<AssertionClaims> {
    let mut validation = Validation::new(header.alg);
    // Times, audience and issuer are judged above, by the protocol clock.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    keys.iter()
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .filter(|k| k.alg.is_none_or(|alg| alg == header.alg))
        .find_map(|k| jsonwebtoken::decode::<AssertionClaims>(assertion, &k.key, &validation).ok())
        .map(|data| data.claims)
}

/// The `sub` of a JWS's payload, unverified: only to find whose keys to verify it with.
fn unverified_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("sub")?.as_str().map(str::to_string)
}
