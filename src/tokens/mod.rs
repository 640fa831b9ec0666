//! Our JWTs: RFC 9068 access tokens and OIDC ID tokens (docs/architecture.md, "Tokens"), minted (`mint`) and
//! verified (`verifier`).

pub mod cache;
pub mod claims;
pub mod lifetime;
pub mod mint;
pub mod refresh;
pub mod verifier;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub use claims::{AccessClaims, IdClaims, IdTokenHint, ProfileClaims};
pub use lifetime::{MAX_TOKEN_TTL_SECS, TokenLifetimes};
pub use verifier::{Verifier, verify_access_token, verify_id_token_hint};

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
