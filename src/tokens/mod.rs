//! Minting and verifying our JWTs: RFC 9068 access tokens and OIDC ID tokens (design.md §4).

pub mod cache;
pub mod claims;
pub mod lifetime;
pub mod refresh;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use sha2::{Digest, Sha256};

pub use claims::{AccessClaims, IdClaims, IdTokenHint, ProfileClaims};
pub use lifetime::{MAX_TOKEN_TTL_SECS, TokenLifetimes};

use crate::keys::KeyRing;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token has the wrong type")]
    WrongType,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// OIDC Core §3.1.3.6: left-most 128 bits of SHA-256 of the ASCII access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The audience of access tokens for the OIDC scopes: our userinfo resource (RFC 9068 §3).
pub fn userinfo_audience(issuer_base: &str) -> String {
    format!("{issuer_base}/userinfo")
}

/// The admin API's resource identifier: access tokens with scope `admin` are for it alone.
pub fn admin_audience(issuer_base: &str) -> String {
    format!("{issuer_base}/admin")
}

/// RFC 9068 §3: the resource an access token is for, from its scopes.
pub fn access_audience(issuer_base: &str, scopes: &[String]) -> String {
    if scopes.iter().any(|s| s == "admin") { admin_audience(issuer_base) } else { userinfo_audience(issuer_base) }
}

/// Only RS256, only our own keys by `kid`, and no header that points at other keys: `jku`, `x5u`,
/// `jwk` and `x5c` are refused outright (RFC 8725 §3.1, §3.10; OIDC Core §10.1) rather than ignored.
fn allowed_header<'r>(
    ring: &'r KeyRing,
    header: &jsonwebtoken::Header,
) -> Result<&'r jsonwebtoken::DecodingKey, TokenError> {
    if header.alg != Algorithm::RS256 {
        return Err(TokenError::Invalid("unexpected algorithm".into()));
    }
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
        return Err(TokenError::Invalid("key-locating header present".into()));
    }
    header.kid.as_deref().and_then(|kid| ring.verifier(kid)).ok_or(TokenError::UnknownKey)
}

/// RFC 9068 §4: validate an access token as a resource server would — `typ` at+jwt, our key,
/// exact issuer, our audience, unexpired.
pub fn verify_access_token(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    audiences: &[&str],
    leeway_secs: u64,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    match header.typ.as_deref() {
        Some("at+jwt" | "application/at+jwt") => {}
        _ => return Err(TokenError::WrongType),
    }
    let key = allowed_header(ring, &header)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    // Expiry is judged against the protocol clock (injectable), not jsonwebtoken's wall clock.
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| TokenError::Invalid(e.to_string()))?;
    if claims.exp + leeway_secs as i64 <= now {
        return Err(TokenError::Invalid("expired".into()));
    }
    Ok(claims)
}

/// OIDC Core §3.1.2.1: an `id_token_hint` must be one of ours (our key, our issuer); it is
/// accepted after its expiry.
pub fn verify_id_token_hint(ring: &KeyRing, token: &str, issuer: &str) -> Result<IdTokenHint, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(TokenError::WrongType);
    }
    let key = allowed_header(ring, &header)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<IdTokenHint>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| TokenError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn rfc8725_3_1_key_locating_headers_and_other_algorithms_are_refused() {
        let (ring, kid) = crate::keys::ring::test_ring();
        let claims = segment(r#"{"iss":"i","sub":"s","aud":"a","exp":9999999999,"iat":1}"#);
        for header in [
            format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}","jku":"https://evil.example/jwks"}}"#),
            format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}","x5u":"https://evil.example/cert"}}"#),
            format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#),
            r#"{"alg":"RS256","typ":"at+jwt","kid":"unknown"}"#.to_string(),
        ] {
            let token = format!("{}.{claims}.c2ln", segment(&header));
            assert!(verify_access_token(&ring, &token, "i", &["a"], 0, 1).is_err(), "{header}");
        }
    }

    #[test]
    fn oidc_core_3_1_3_6_at_hash_of_the_spec_example() {
        assert_eq!(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
