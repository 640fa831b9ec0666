//! Token endpoint input: the form body (`Params::parse`, scope and PKCE syntax) and the
//! `Authorization: Basic` header (`client_auth::parse_basic`).
//!
//! Input layout: the bytes before the first `\n` are the raw `Authorization` header value (any
//! bytes, not necessarily UTF-8); the rest is the form body.
#![no_main]

use dingtalk_oidc::oidc::client_auth::parse_basic;
use dingtalk_oidc::oidc::params::{Params, is_pkce_value, parse_scope};
use libfuzzer_sys::fuzz_target;
use poem::Request;
use poem::http::{HeaderValue, header};

fuzz_target!(|data: &[u8]| {
    let (auth, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };

    if let Ok(value) = HeaderValue::from_bytes(auth) {
        let mut req = Request::builder().finish();
        req.headers_mut().insert(header::AUTHORIZATION, value);
        if let Ok(Some(creds)) = parse_basic(&req) {
            std::hint::black_box((creds.client_id.len(), creds.secret.len()));
        }
    }

    let Ok(body) = std::str::from_utf8(body) else { return };
    let params = Params::parse(body);
    let _ = params.first_repeated();
    let _ = params.first_too_long();
    let _ = params.get("grant_type");
    let _ = params.is_repeated("code");
    for name in ["code", "redirect_uri", "client_id", "client_secret", "refresh_token", "resource"] {
        let _ = params.get(name);
    }
    if let Some(scope) = params.get("scope") {
        if let Some(scopes) = parse_scope(scope) {
            // Every token is non-empty, unique, and within the RFC 6749 §3.3 alphabet.
            for s in &scopes {
                assert!(!s.is_empty() && !s.contains(' '));
            }
        }
    }
    if let Some(verifier) = params.get("code_verifier") {
        let _ = is_pkce_value(verifier);
    }
});
