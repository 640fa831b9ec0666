//! JWTs we receive (bearer tokens, `id_token_hint`) are verified with an allow-list of RS256 and our
//! own keys: `alg: none`, HS256 keyed with our public key, a foreign key, an unknown `kid` and
//! key-locating headers are all refused (RFC 8725 §2.1, §3.1).

use crate::common;

use crate::common::{Browser, REDIRECT_URI, TestProvider, obtain_code};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hostile variants of a real token: same claims, forged header and signature.
fn forgeries(real: &str, typ: &str, public_key_material: &[u8]) -> Vec<(&'static str, String)> {
    let claims = real.split('.').nth(1).unwrap().to_string();
    let kid = jsonwebtoken::decode_header(real).unwrap().kid.unwrap();
    let none = format!("{}.{claims}.", b64(format!(r#"{{"alg":"none","typ":"{typ}","kid":"{kid}"}}"#)));
    // HS256 "keyed" with our published public key: the classic algorithm-confusion attack.
    let hs_header = b64(format!(r#"{{"alg":"HS256","typ":"{typ}","kid":"{kid}"}}"#));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_key_material);
    let hs_sig = aws_lc_rs::hmac::sign(&key, format!("{hs_header}.{claims}").as_bytes());
    let hs256 = format!("{hs_header}.{claims}.{}", b64(hs_sig.as_ref()));
    // A token signed by a key that is not ours, named by an unknown kid.
    let foreign = {
        let other = dingtalk_oidc::keys::generate_rsa_key().unwrap();
        let signer = dingtalk_oidc::keys::SigningKey::from_pkcs1_der(&other.jwk.kid, &other.pkcs1_der).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&claims).unwrap()).unwrap();
        let t = if typ == "at+jwt" {
            dingtalk_oidc::keys::ring::JwtType::Access
        } else {
            dingtalk_oidc::keys::ring::JwtType::Id
        };
        signer.sign(t, &claims).unwrap()
    };
    // Our kid, a foreign key's signature, and a jku pointing at the attacker.
    let jku_header = b64(format!(r#"{{"alg":"RS256","typ":"{typ}","kid":"{kid}","jku":"https://evil.example/jwks"}}"#));
    let foreign_sig = foreign.split('.').nth(2).unwrap();
    let jku = format!("{jku_header}.{claims}.{foreign_sig}");
    let stripped = format!("{}.{claims}", real.split('.').next().unwrap());
    vec![
        ("alg none", none),
        ("HS256 with our public key", hs256),
        ("foreign key", foreign),
        ("jku header", jku),
        ("no signature", stripped),
    ]
}

async fn tokens(p: &TestProvider) -> (String, Value) {
    let secret = p.register("app", false, true).await.unwrap();
    let code = obtain_code(p, &Browser::new("alice"), "app").await;
    let body = common::exchange_code(p, "app", &secret, &code).await;
    (secret, body)
}

#[tokio::test]
async fn rfc8725_forged_access_tokens_are_refused_at_userinfo_and_introspection() {
    let p = TestProvider::start().await;
    let (secret, body) = tokens(&p).await;
    let real = body["access_token"].as_str().unwrap();
    let jwks = reqwest::get(p.url("/jwks.json")).await.unwrap().bytes().await.unwrap();
    let http = reqwest::Client::new();
    assert_eq!(http.get(p.url("/userinfo")).bearer_auth(real).send().await.unwrap().status(), StatusCode::OK);
    for (what, forged) in forgeries(real, "at+jwt", &jwks) {
        let status = http.get(p.url("/userinfo")).bearer_auth(&forged).send().await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "userinfo accepted {what}");
        let answer: Value = http
            .post(p.url("/introspect"))
            .basic_auth("app", Some(&secret))
            .form(&[("token", forged.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer, serde_json::json!({"active": false}), "introspection accepted {what}");
    }
}

#[tokio::test]
async fn rfc8725_forged_id_token_hints_are_refused_at_authorize_and_logout() {
    let p = TestProvider::start().await;
    let (_, body) = tokens(&p).await;
    let real = body["id_token"].as_str().unwrap();
    let jwks = reqwest::get(p.url("/jwks.json")).await.unwrap().bytes().await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (what, forged) in forgeries(real, "JWT", &jwks) {
        let url = common::authorize_url(
            &p.issuer,
            &[
                ("client_id", "app"),
                ("redirect_uri", REDIRECT_URI),
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", common::CHALLENGE),
                ("code_challenge_method", "S256"),
                ("id_token_hint", &forged),
            ],
        );
        let resp = http.get(url).send().await.unwrap();
        let location = common::redirect_location(&resp).unwrap_or_default();
        assert!(location.contains("error=invalid_request"), "authorize accepted {what}: {location}");
        let resp = http.get(format!("{}?id_token_hint={forged}", p.url("/logout"))).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "logout accepted {what}");
    }
}
