//! Signing keys: generation (`rsa`), encryption at rest (`kek`), and the in-memory key ring that
//! signs with a parsed aws-lc-rs key pair and serves the pre-rendered JWKS.
//!
//! Signing reuses one parsed `RsaKeyPair` per key: stock jsonwebtoken re-parses the DER key on every
//! sign, which costs as much as the signature itself (docs/architecture.md, "Signing keys"; docs/benchmarks.md).

pub mod kek;
pub mod maintenance;
pub mod ring;
pub mod rotation;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use kek::Kek;
pub use maintenance::{maintain_keys, retire_grace_secs, ring_schedule};
pub use ring::{KeyRing, Keys, RingSchedule, SigningKey};
pub use rotation::{KeyInfo, KeyState, Rotation};

use crate::directory::signing_keys::SigningKeyRow;
use crate::directory::{Directory, DirectoryError};

/// RFC 7518 §3.3: RSA keys for RS256 are at least 2048 bits.
pub const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key-encryption key: {0}")]
    Kek(String),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored key {kid} is unusable: {reason}")]
    Unusable { kid: String, reason: String },
    #[error("signing failed")]
    Sign,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// The public half of an RSA signing key as published in the JWKS (RFC 7517 §4, RFC 7518 §6.3.1):
/// public members only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublicJwk {
    pub kty: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
    pub kid: String,
    pub n: String,
    pub e: String,
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
pub fn rfc7638_thumbprint(n_b64: &str, e_b64: &str) -> String {
    let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A freshly generated key: PKCS#1 DER private key and its JWK.
pub struct GeneratedKey {
    pub pkcs1_der: Vec<u8>,
    pub jwk: PublicJwk,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("kid", &self.jwk.kid).finish_non_exhaustive()
    }
}

pub fn generate_rsa_key() -> Result<GeneratedKey, KeyError> {
    let key = rsa::PrivateKey::new(&mut rand::rng(), RSA_BITS).map_err(|e| KeyError::Generate(e.to_string()))?;
    signing_key_from(&key)
}

/// PKCS#1 DER for sealing, and the public JWK whose `kid` is the RFC 7638 thumbprint.
fn signing_key_from(key: &rsa::PrivateKey) -> Result<GeneratedKey, KeyError> {
    let der = key.to_pkcs1_der().map_err(|e| KeyError::Generate(e.to_string()))?;
    let n = URL_SAFE_NO_PAD.encode(key.n_bytes());
    let e = URL_SAFE_NO_PAD.encode(key.e_bytes());
    let kid = rfc7638_thumbprint(&n, &e);
    Ok(GeneratedKey {
        pkcs1_der: der.as_bytes().to_vec(),
        jwk: PublicJwk { kty: "RSA".into(), use_: "sig".into(), alg: "RS256".into(), kid, n, e },
    })
}

/// Seals a key under the KEK and stores it, signing from `activates_at`.
pub async fn store_signing_key(
    directory: &Directory,
    kek: &Kek,
    key: GeneratedKey,
    now: i64,
    activates_at: i64,
) -> Result<String, KeyError> {
    let kid = key.jwk.kid.clone();
    let row = SigningKeyRow {
        kid: kid.clone(),
        alg: "RS256".into(),
        private_key_enc: kek.seal(kid.as_bytes(), &key.pkcs1_der)?,
        kek_id: kek.id().to_string(),
        public_jwk: serde_json::to_string(&key.jwk).map_err(|e| KeyError::Generate(e.to_string()))?,
        created_at: now,
        activates_at,
        retires_at: None,
        removed_at: None,
        revoked: false,
    };
    directory.insert_signing_key(row).await?;
    Ok(kid)
}

/// Generates a key off the async runtime (RSA generation takes tens of milliseconds).
pub async fn generate_off_thread() -> Result<GeneratedKey, KeyError> {
    tokio::task::spawn_blocking(generate_rsa_key).await.map_err(|e| KeyError::Generate(e.to_string()))?
}

/// Reads an RSA private key from PEM (PKCS#1 or PKCS#8); refuses keys under 2048 bits
/// (RFC 7518 §3.3).
pub fn import_pem(pem: &str) -> Result<GeneratedKey, KeyError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::PrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| rsa::PrivateKey::from_pkcs8_pem(pem))
        .map_err(|_| KeyError::Generate("not an RSA private key in PKCS#1 or PKCS#8 PEM".into()))?;
    if key.n_bytes().len() * 8 < RSA_BITS {
        return Err(KeyError::Generate(format!(
            "the key has {} bits; at least {RSA_BITS} are required",
            key.n_bytes().len() * 8
        )));
    }
    signing_key_from(&key)
}

/// Loads the key ring; on a directory without a usable signer creates the first key, active at
/// once (no cache can hold a JWKS of ours yet, so there is nothing to publish ahead of).
///
/// Instances starting together on an empty database take the signing-key lease, and the one that
/// gets it first makes the key; the others find it when they re-read under the lease.
pub async fn load_or_create_ring(
    directory: &Directory,
    kek: &Kek,
    now: i64,
    schedule: RingSchedule,
    sessions: &dyn crate::store::SessionStore,
    holder: &str,
) -> Result<KeyRing, KeyError> {
    let rows = directory.signing_keys().await?;
    if ring::choose_signer(&rows, now).is_some() {
        return KeyRing::from_rows(&rows, kek, now, schedule);
    }
    let mut held = false;
    for _ in 0..200 {
        held = sessions
            .try_lock(rotation::LOCK, holder, 60)
            .await
            .map_err(|e| KeyError::Generate(format!("session store: {e}")))?;
        if held {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if !held {
        return Err(KeyError::Generate("another instance holds the signing-key lease".into()));
    }
    let result = async {
        let rows = directory.signing_keys().await?;
        if ring::choose_signer(&rows, now).is_none() {
            tracing::info!("no active signing key: generating a {RSA_BITS}-bit RSA key");
            store_signing_key(directory, kek, generate_off_thread().await?, now, now).await?;
        }
        let rows = directory.signing_keys().await?;
        KeyRing::from_rows(&rows, kek, now, schedule)
    }
    .await;
    if let Err(e) = sessions.unlock(rotation::LOCK, holder).await {
        tracing::warn!(error = %e, "cannot release the signing-key lease");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_3_1_thumbprint_of_the_example_key() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(rfc7638_thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn rfc7518_3_3_generated_keys_are_2048_bit_rsa_with_thumbprint_kid() {
        let key = generate_rsa_key().unwrap();
        let n = URL_SAFE_NO_PAD.decode(&key.jwk.n).unwrap();
        assert_eq!(n.len() * 8, RSA_BITS);
        assert_eq!(key.jwk.kid, rfc7638_thumbprint(&key.jwk.n, &key.jwk.e));
        let json = serde_json::to_value(&key.jwk).unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(json.get(private).is_none());
        }
    }
}
