//! Secrets: drawn from the OS CSPRNG (RFC 6749 §10.10: guessing must succeed with probability
//! at most 2^-128; every value here carries 256 bits), hashed for storage, and compared in constant
//! time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// 256 random bits, base64url without padding (43 characters from the unreserved set, so it
/// survives Basic encoders that skip the RFC 6749 Appendix B form-encoding step).
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn fill(bytes: &mut [u8]) {
    // aws-lc's SystemRandom reads the OS RNG; a failure there means the OS cannot give entropy,
    // which no request can recover from.
    use aws_lc_rs::rand::SecureRandom;
    if aws_lc_rs::rand::SystemRandom::new().fill(bytes).is_err() {
        panic!("the operating system's random number generator failed");
    }
}

/// SHA-256 of a secret, base64url: what we store in place of codes, refresh tokens and client
/// secrets, so that nothing usable sits at rest.
pub fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality for secrets and their hashes.
pub fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_10_10_tokens_carry_256_random_bits_in_unreserved_characters() {
        let a = token();
        let b = token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn hash_is_stable_and_differs_from_input() {
        assert_eq!(hash("abc"), hash("abc"));
        assert_ne!(hash("abc"), "abc");
        assert!(secure_eq(hash("x").as_bytes(), hash("x").as_bytes()));
        assert!(!secure_eq(hash("x").as_bytes(), hash("y").as_bytes()));
        assert!(!secure_eq(b"a", b"ab"));
    }
}
