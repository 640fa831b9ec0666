//! The in-memory key ring: the signer (a parsed key pair, reused for every signature), the
//! verification keys by `kid`, and the JWKS rendered once per key-ring change.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Serialize;

use super::{Kek, KeyError, PublicJwk};
use crate::directory::signing_keys::SigningKeyRow;

/// The JOSE `typ` of each token we mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtType {
    /// OIDC ID token.
    Id,
    /// RFC 9068 §2.1 access token.
    Access,
    /// Back-Channel Logout 1.0 §2.4 logout token.
    Logout,
}

pub struct SigningKey {
    kid: String,
    key_pair: RsaKeyPair,
    rng: SystemRandom,
    /// base64url(JOSE header) per token type, encoded once.
    id_header: String,
    access_header: String,
    logout_header: String,
}

impl SigningKey {
    pub fn from_pkcs1_der(kid: &str, der: &[u8]) -> Result<SigningKey, KeyError> {
        let key_pair = RsaKeyPair::from_der(der)
            .map_err(|e| KeyError::Unusable { kid: kid.to_string(), reason: e.to_string() })?;
        // OIDC Core §2, §10.1: name the key by kid; no jku/x5u/jwk/x5c.
        let header = |typ: &str| URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"{typ}"}}"#));
        Ok(SigningKey {
            kid: kid.to_string(),
            key_pair,
            rng: SystemRandom::new(),
            id_header: header("JWT"),
            access_header: header("at+jwt"),
            logout_header: header("logout+jwt"),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWS (RS256) over `claims`.
    pub fn sign<C: Serialize>(&self, typ: JwtType, claims: &C) -> Result<String, KeyError> {
        let header = match typ {
            JwtType::Id => &self.id_header,
            JwtType::Access => &self.access_header,
            JwtType::Logout => &self.logout_header,
        };
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let modulus_len = self.key_pair.public_modulus_len();
        let mut jws = String::with_capacity(header.len() + payload.len() * 4 / 3 + modulus_len * 4 / 3 + 8);
        jws.push_str(header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
        let mut signature = vec![0u8; modulus_len];
        self.key_pair.sign(&RSA_PKCS1_SHA256, &self.rng, jws.as_bytes(), &mut signature).map_err(|_| KeyError::Sign)?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
        Ok(jws)
    }
}

/// The JWKS body and its strong validator, rendered once per key-ring change.
pub struct RenderedJwks {
    pub body: bytes::Bytes,
    pub etag: String,
}

/// One published key: its schedule, its verifier, and (while it may sign) its parsed key pair.
struct RingKey {
    kid: String,
    activates_at: i64,
    signer: Option<SigningKey>,
}

/// Lifetimes the ring needs to know: how far ahead caches may look, and when rotation is next due.
#[derive(Debug, Clone, Copy)]
pub struct RingSchedule {
    pub rotation_period_secs: i64,
}

/// Every published key (pending, active, retired) at the time the ring was built.
pub struct KeyRing {
    keys: Vec<RingKey>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: RenderedJwks,
    /// The next moment a key changes state (activation, removal, scheduled rotation): the ring is
    /// rebuilt then, and no cache may keep the JWKS past it.
    next_change: Option<i64>,
    /// Identifies the directory rows the ring was built from.
    fingerprint: String,
}

/// Published: not revoked and not yet removed.
pub(crate) fn is_published(row: &SigningKeyRow, now: i64) -> bool {
    !row.revoked && row.removed_at.is_none_or(|t| t > now)
}

/// The signer is the newest published key whose `activates_at` has passed (docs/architecture.md, "Signing keys").
pub fn choose_signer(rows: &[SigningKeyRow], now: i64) -> Option<&SigningKeyRow> {
    rows.iter().filter(|r| is_published(r, now) && r.activates_at <= now).max_by_key(|r| (r.activates_at, r.created_at))
}

/// A digest of every row's schedule: instances compare it to notice a change made elsewhere.
pub fn fingerprint(rows: &[SigningKeyRow]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for r in rows {
        hasher.update(format!("{}|{}|{:?}|{:?}|{}\n", r.kid, r.activates_at, r.retires_at, r.removed_at, r.revoked));
    }
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

impl KeyRing {
    pub fn from_rows(rows: &[SigningKeyRow], kek: &Kek, now: i64, schedule: RingSchedule) -> Result<KeyRing, KeyError> {
        let mut keys = Vec::new();
        let mut jwks = Vec::new();
        let mut verifiers = HashMap::new();
        let mut next_change: Option<i64> = None;
        let mut note = |t: i64| {
            if t > now {
                next_change = Some(next_change.map_or(t, |n| n.min(t)));
            }
        };
        for row in rows.iter().filter(|r| is_published(r, now)) {
            let jwk: PublicJwk = serde_json::from_str(&row.public_jwk)
                .map_err(|e| KeyError::Unusable { kid: row.kid.clone(), reason: e.to_string() })?;
            let decoding = DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
                .map_err(|e| KeyError::Unusable { kid: row.kid.clone(), reason: e.to_string() })?;
            // Only a key that may still sign needs its private half in memory.
            let may_sign = row.retires_at.is_none_or(|t| t > now);
            let signer = if may_sign {
                if row.kek_id != kek.id() {
                    return Err(KeyError::Kek(format!(
                        "signing key {} was sealed with key-encryption key {}, but the configured one is {}: \
                         start with the right keys.kek (nothing was changed)",
                        row.kid,
                        row.kek_id,
                        kek.id()
                    )));
                }
                let der = kek.open(row.kid.as_bytes(), &row.private_key_enc)?;
                Some(SigningKey::from_pkcs1_der(&row.kid, &der)?)
            } else {
                None
            };
            note(row.activates_at);
            if let Some(t) = row.retires_at {
                note(t);
            }
            if let Some(t) = row.removed_at {
                note(t);
            }
            verifiers.insert(row.kid.clone(), decoding);
            jwks.push(jwk);
            keys.push(RingKey { kid: row.kid.clone(), activates_at: row.activates_at, signer });
        }
        if let Some(newest) = rows.iter().filter(|r| !r.revoked).map(|r| r.created_at).max() {
            note(newest + schedule.rotation_period_secs);
        }
        Ok(KeyRing { keys, verifiers, jwks: render_jwks(&jwks), next_change, fingerprint: fingerprint(rows) })
    }

    /// The key that signs at `now`: the newest whose activation has passed.
    pub fn signer_at(&self, now: i64) -> Option<&SigningKey> {
        self.keys
            .iter()
            .filter(|k| k.activates_at <= now && k.signer.is_some())
            .max_by_key(|k| k.activates_at)
            .and_then(|k| k.signer.as_ref())
    }

    pub fn verifier(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifiers.get(kid)
    }

    pub fn jwks(&self) -> &RenderedJwks {
        &self.jwks
    }

    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    pub fn next_change(&self) -> Option<i64> {
        self.next_change
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// `Cache-Control: max-age`: never past the next key change, never above `ceiling`.
    pub fn max_age_at(&self, now: i64, ceiling: u64) -> u64 {
        match self.next_change {
            Some(t) => u64::try_from((t - now).max(0)).unwrap_or(0).min(ceiling),
            None => ceiling,
        }
    }
}

fn render_jwks(keys: &[PublicJwk]) -> RenderedJwks {
    #[derive(Serialize)]
    struct Jwks<'a> {
        keys: &'a [PublicJwk],
    }
    let body = serde_json::to_vec(&Jwks { keys }).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec());
    RenderedJwks { etag: strong_etag(&body), body: body.into() }
}

/// A strong ETag (RFC 9110 §8.8.3) derived from the bytes.
pub fn strong_etag(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&Sha256::digest(body)[..16]))
}

/// The current key ring, swapped whole when keys change.
pub struct Keys {
    current: RwLock<Arc<KeyRing>>,
}

impl Keys {
    pub fn new(ring: KeyRing) -> Keys {
        Keys { current: RwLock::new(Arc::new(ring)) }
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        match self.current.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }
}

/// A ring with one fresh verification-only key (tests): the ring and the key's `kid`.
#[cfg(test)]
pub(crate) fn test_ring() -> (KeyRing, String) {
    let key = crate::keys::generate_rsa_key().expect("key");
    let row = SigningKeyRow {
        kid: key.jwk.kid.clone(),
        alg: "RS256".into(),
        private_key_enc: String::new(),
        kek_id: String::new(),
        public_jwk: serde_json::to_string(&key.jwk).expect("jwk"),
        created_at: 0,
        activates_at: 0,
        retires_at: Some(0),
        removed_at: None,
        revoked: false,
    };
    let kek = Kek::from_bytes(&[1u8; 32]).expect("kek");
    let ring = KeyRing::from_rows(&[row], &kek, 1, RingSchedule { rotation_period_secs: 3600 }).expect("ring");
    (ring, key.jwk.kid)
}
