//! JWT verification: `tokens::verify_access_token` and `tokens::verify_id_token_hint`.
//!
//! Two input shapes, told apart by the first byte:
//! - anything not starting with `{` is a compact JWT as received (header.payload.signature); this
//!   covers header decoding and the alg / typ / key-locating-header / kid checks;
//! - input starting with `{` is a claims set: if it is JSON it is signed, byte for byte, with the
//!   ring's own key (as an access token and as an ID token) and then verified, so the fuzzer
//!   reaches claims decoding and the iss / aud / exp / required-claim checks behind a valid
//!   signature.
//!
//! The key ring is built once per process from a freshly generated key (its kid is random, so a
//! raw token can never name it; the signed shape covers what lies behind the kid lookup).
#![no_main]

use std::sync::OnceLock;

use dingtalk_oidc::directory::signing_keys::SigningKeyRow;
use dingtalk_oidc::keys::ring::JwtType;
use dingtalk_oidc::keys::{Kek, KeyRing, RingSchedule, generate_rsa_key};
use dingtalk_oidc::tokens::{verify_access_token, verify_id_token_hint};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

const ISSUER: &str = "https://issuer.example";
const AUD: &str = "https://issuer.example/userinfo";
const NOW: i64 = 1_700_000_000;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let key = generate_rsa_key().expect("generate key");
        let kek = Kek::from_bytes(&[1u8; 32]).expect("kek");
        let kid = key.jwk.kid.clone();
        let row = SigningKeyRow {
            private_key_enc: kek.seal(kid.as_bytes(), &key.pkcs1_der).expect("seal"),
            kid,
            alg: "RS256".into(),
            kek_id: kek.id().into(),
            public_jwk: serde_json::to_string(&key.jwk).expect("jwk"),
            created_at: 0,
            activates_at: 0,
            retires_at: None,
            removed_at: None,
            revoked: false,
        };
        KeyRing::from_rows(&[row], &kek, 1, RingSchedule { rotation_period_secs: 3600 }).expect("ring")
    })
}

fn verify(ring: &KeyRing, token: &str) {
    if let Ok(claims) = verify_access_token(ring, token, ISSUER, &[AUD], 0, NOW) {
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, AUD);
        assert!(claims.exp > NOW);
        let _ = claims.has_scope("openid");
    }
    if let Ok(hint) = verify_id_token_hint(ring, token, ISSUER) {
        let _ = hint.client_id();
    }
}

fuzz_target!(|data: &[u8]| {
    let ring = ring();
    if data.first() == Some(&b'{') {
        let Ok(claims) = serde_json::from_slice::<&RawValue>(data) else { return };
        let signer = ring.signer_at(NOW).expect("the ring has a signer");
        for typ in [JwtType::Access, JwtType::Id] {
            let token = signer.sign(typ, &claims).expect("sign");
            verify(ring, &token);
        }
    } else {
        let Ok(token) = std::str::from_utf8(data) else { return };
        verify(ring, token);
    }
});
