//! Security headers on every response (RFC 9700 §4.16, §4.2.4; RFC 6749 §10.13).

use poem::http::{HeaderMap, HeaderValue, header};

/// No script at all; inline styles only (our pages carry one small style block); no framing.
pub const HTML_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
base-uri 'none'; frame-ancestors 'none'";

/// Adds `nosniff` and `no-referrer` everywhere, anti-framing plus a strict CSP on HTML, and HSTS
/// when the issuer is https.
pub fn apply(headers: &mut HeaderMap, hsts: bool) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let is_html =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        // A page that needs more (the admin API's interactive docs) brings its own policy.
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(HTML_CSP));
        }
        // The one page DingTalk's desktop client may frame (`oidc::in_app`) says so in its own
        // policy's `frame-ancestors`; every other page may not be framed at all.
        let framable = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|csp| csp.contains("frame-ancestors https://"));
        if !framable {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    if hsts {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
}
