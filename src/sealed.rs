//! Values sealed (AES-256-GCM) under a key derived from a secret the store never sees, so what sits
//! at rest is useless without it (RFC 6749 §10.3, §10.4): a refresh token's successor, sealed under
//! the presented token (a retry within the grace window opens it); the DingTalk app access token
//! shared through the session store, sealed under the DingTalk app secret every instance holds.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The key: SHA-256 of the purpose, a NUL and the secret (a key per purpose from one secret).
fn key(purpose: &str, secret: &[u8]) -> Option<LessSafeKey> {
    let digest = Sha256::digest([purpose.as_bytes(), b"\0", secret].concat());
    UnboundKey::new(&AES_256_GCM, &digest).ok().map(LessSafeKey::new)
}

/// nonce ‖ ciphertext ‖ tag, base64url; only a holder of `secret` opens it.
pub fn seal(purpose: &str, secret: &[u8], plaintext: &str) -> Option<String> {
    let key = key(purpose, secret)?;
    let mut nonce = [0u8; NONCE_LEN];
    crate::secrets::fill(&mut nonce);
    let mut in_out = plaintext.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut in_out).ok()?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&in_out);
    Some(URL_SAFE_NO_PAD.encode(sealed))
}

/// The plaintext of `sealed`, or `None` when it was sealed under another secret or purpose, or is
/// not a sealed value at all.
pub fn open(purpose: &str, secret: &[u8], sealed: &str) -> Option<String> {
    let key = key(purpose, secret)?;
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let mut in_out = ciphertext.to_vec();
    let plain = key.open_in_place(Nonce::try_assume_unique_for_key(nonce).ok()?, Aad::empty(), &mut in_out).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_10_3_a_sealed_value_opens_only_with_its_secret_and_purpose() {
        let sealed = seal("purpose-a", b"secret", "the plaintext").unwrap();
        assert!(!sealed.contains("plaintext"));
        assert_eq!(open("purpose-a", b"secret", &sealed).as_deref(), Some("the plaintext"));
        assert_eq!(open("purpose-a", b"other secret", &sealed), None);
        assert_eq!(open("purpose-b", b"secret", &sealed), None);
        assert_eq!(open("purpose-a", b"secret", "the plaintext"), None, "an unsealed value is refused");
    }
}
