//! PKCE (RFC 7636), in one place: the challenge an authorization request carries (§4.2, §4.3),
//! the verifier the token request presents (§4.1, §4.5) and their comparison (§4.6). Pure
//! functions; the endpoints turn a refusal into their own error response with the description
//! returned here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::secrets;

/// RFC 7636 §4.1/§4.2: 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
pub fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Who must send a challenge: public clients always (RFC 9700 §2.1.1), confidential ones when
/// `tokens.require_pkce_for_confidential` says so.
#[derive(Debug, Clone, Copy)]
pub struct ChallengePolicy {
    pub public_client: bool,
    pub required_for_confidential: bool,
}

/// RFC 7636 §4.3, §4.4.1; RFC 9700 §2.1.1: the authorization request's `code_challenge` and
/// `code_challenge_method`. Only S256; `Ok(None)` when the client sent none and may do so. A
/// refusal is the `invalid_request` description.
pub fn authorization_challenge<'a>(
    challenge: Option<&'a str>,
    method: Option<&str>,
    policy: ChallengePolicy,
) -> Result<Option<&'a str>, &'static str> {
    match (challenge, method) {
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (None, None) if policy.public_client => Err("code_challenge is required for public clients (PKCE)"),
        (None, None) if policy.required_for_confidential => Err("code_challenge is required (PKCE)"),
        (None, None) => Ok(None),
        (Some(_), None) => Err("code_challenge_method is required and must be S256"),
        (Some(_), Some(method)) if method != "S256" => {
            Err("code_challenge_method must be S256; plain is not supported")
        }
        (Some(challenge), Some(_)) if !is_pkce_value(challenge) => Err("code_challenge is malformed"),
        (Some(challenge), Some(_)) => Ok(Some(challenge)),
    }
}

/// RFC 7636 §4.1: the token request's `code_verifier`, when present, must be well formed. A
/// refusal is the `invalid_request` description.
pub fn verifier_syntax(verifier: Option<&str>) -> Result<(), &'static str> {
    if verifier.is_some_and(|v| !is_pkce_value(v)) {
        return Err("code_verifier is malformed");
    }
    Ok(())
}

/// RFC 7636 §4.6: the verifier must hash to the code's challenge (constant time). A refusal is
/// the `invalid_grant` description.
pub fn verify(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            if !secrets::secure_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes()) {
                return Err("code_verifier does not match the code_challenge");
            }
            Ok(())
        }
        (Some(_), None) => Err("code_verifier is required"),
        // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => Err("the code was issued without a code_challenge"),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn rfc7636_4_2_pkce_value_syntax() {
        assert!(is_pkce_value(VERIFIER));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(42))));
    }

    #[test]
    fn rfc7636_appendix_b_s256_vector() {
        assert_eq!(s256_challenge(VERIFIER), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn rfc7636_4_6_the_verifier_must_match_the_challenge() {
        let challenge = s256_challenge(VERIFIER);
        assert!(verify(Some(&challenge), Some(VERIFIER)).is_ok());
        assert!(verify(Some(&challenge), Some(&"b".repeat(43))).is_err());
        assert!(verify(Some(&challenge), None).is_err());
        assert!(verify(None, Some(VERIFIER)).is_err(), "RFC 9700 §4.8.2 downgrade");
        assert!(verify(None, None).is_ok());
    }

    #[test]
    fn rfc7636_4_3_only_s256_and_public_clients_must_send_a_challenge() {
        let public = ChallengePolicy { public_client: true, required_for_confidential: false };
        let confidential = ChallengePolicy { public_client: false, required_for_confidential: false };
        assert!(authorization_challenge(None, None, public).is_err());
        assert_eq!(authorization_challenge(None, None, confidential), Ok(None));
        assert!(authorization_challenge(Some(VERIFIER), Some("plain"), confidential).is_err());
        assert!(authorization_challenge(Some(VERIFIER), None, confidential).is_err());
        assert!(authorization_challenge(None, Some("S256"), confidential).is_err());
        assert!(authorization_challenge(Some("short"), Some("S256"), confidential).is_err());
        assert_eq!(authorization_challenge(Some(VERIFIER), Some("S256"), public), Ok(Some(VERIFIER)));
    }
}
