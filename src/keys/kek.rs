//! The key-encryption key: AES-256-GCM over every private key at rest (docs/architecture.md, "Signing keys").

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::KeyError;

pub struct Kek {
    /// Stored beside each encrypted row so a later KEK rotation knows what sealed it.
    id: String,
    key: LessSafeKey,
    /// HMAC-SHA-256 key derived from the KEK, for [`Kek::keyed_hash`].
    lookup: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Kek {
    pub fn from_bytes(bytes: &[u8]) -> Result<Kek, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::Kek(format!("the key-encryption key must be 32 bytes, got {}", bytes.len())));
        }
        let digest = Sha256::digest([b"dingtalk-oidc kek id:".as_slice(), bytes].concat());
        let id = URL_SAFE_NO_PAD.encode(&digest[..9]);
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KeyError::Kek("AES-256-GCM rejected the key".into()))?;
        let lookup_key = Sha256::digest([b"dingtalk-oidc lookup key:".as_slice(), bytes].concat());
        let lookup = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &lookup_key);
        Ok(Kek { id, key: LessSafeKey::new(unbound), lookup })
    }

    /// Base64 (standard or URL-safe, padding optional) of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Kek, KeyError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KeyError::Kek("the key-encryption key is not valid base64".into()))?;
        Kek::from_bytes(&bytes)
    }

    pub fn from_file(path: &Path) -> Result<Kek, KeyError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| KeyError::Kek(format!("cannot read {}: {e}", path.display())))?;
        Kek::from_base64(&text)
    }

    /// `serve --dev`: reuse `path` or create it with a fresh key, readable only by its owner.
    pub fn load_or_create_dev(path: &Path) -> Result<Kek, KeyError> {
        if path.exists() {
            return Kek::from_file(path);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| KeyError::Kek(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut bytes = [0u8; 32];
        crate::secrets::fill(&mut bytes);
        write_private_file(path, format!("{}\n", STANDARD.encode(bytes)).as_bytes())
            .map_err(|e| KeyError::Kek(format!("cannot write {}: {e}", path.display())))?;
        Kek::from_bytes(&bytes)
    }

    /// HMAC-SHA-256 of `value` under a key derived from the KEK, base64url: what is stored in place
    /// of a short secret that a plain hash would not protect (a user code has 34.5 bits: a copy of
    /// the store could be searched offline). `purpose` separates the uses.
    pub fn keyed_hash(&self, purpose: &str, value: &str) -> String {
        let tag =
            aws_lc_rs::hmac::sign(&self.lookup, [purpose.as_bytes(), b"\0", value.as_bytes()].concat().as_slice());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// nonce ‖ ciphertext ‖ tag, base64. `aad` binds the ciphertext to its row (the kid), so a
    /// sealed key cannot be moved to another row.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::secrets::fill(&mut nonce);
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| KeyError::Kek("encryption failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(STANDARD.encode(sealed))
    }

    pub fn open(&self, aad: &[u8], sealed: &str) -> Result<Vec<u8>, KeyError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| KeyError::Kek("sealed key is not base64".into()))?;
        if bytes.len() < NONCE_LEN {
            return Err(KeyError::Kek("sealed key is truncated".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Kek("sealed key has a bad nonce".into()))?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| KeyError::Kek("cannot decrypt a signing key: wrong key-encryption key?".into()))?;
        Ok(plain.to_vec())
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyed_hash_needs_the_kek_and_separates_purposes() {
        let (kek, other) = (Kek::from_bytes(&[7u8; 32]).unwrap(), Kek::from_bytes(&[8u8; 32]).unwrap());
        let hash = kek.keyed_hash("device user code", "BCDFGHJK");
        assert_eq!(hash, kek.keyed_hash("device user code", "BCDFGHJK"), "deterministic: it is a lookup key");
        assert_ne!(hash, other.keyed_hash("device user code", "BCDFGHJK"), "another KEK, another hash");
        assert_ne!(hash, kek.keyed_hash("another purpose", "BCDFGHJK"));
        assert_ne!(hash, crate::secrets::hash("BCDFGHJK"), "not the plain hash anyone could compute");
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_row() {
        let kek = Kek::from_bytes(&[7u8; 32]).unwrap();
        let sealed = kek.seal(b"kid-1", b"secret key material").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(kek.open(b"kid-1", &sealed).unwrap(), b"secret key material");
        assert!(kek.open(b"kid-2", &sealed).is_err());
        let other = Kek::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open(b"kid-1", &sealed).is_err());
        assert_ne!(kek.id(), other.id());
    }

    #[test]
    fn dev_kek_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/dev-kek");
        let first = Kek::load_or_create_dev(&path).unwrap();
        let second = Kek::load_or_create_dev(&path).unwrap();
        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn kek_must_be_32_bytes() {
        assert!(Kek::from_base64("c2hvcnQ=").is_err());
    }
}
