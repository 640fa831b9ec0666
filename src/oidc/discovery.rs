//! OIDC Discovery 1.0 §3 / RFC 8414 §2 metadata: listing only what is implemented, rendered once.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Data;
use poem::{Request, Response, handler};
use serde_json::json;

use super::paths;
use super::response_mode::ResponseMode;
use crate::app::App;
use crate::keys::ring::strong_etag;

pub use crate::web::rendered::RenderedDocument;

pub const SCOPES_SUPPORTED: &[&str] =
    &["openid", "profile", "email", "phone", "offline_access", "roles", "groups", "dingtalk", "admin"];

pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "amr",
    "acr",
    "name",
    "preferred_username",
    "picture",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "roles",
    "groups",
    "groups_display",
    "dingtalk",
];

/// How clients authenticate (RFC 8414 §2): a secret in the Basic header or the body, a JWT signed
/// with a registered key (OIDC Core §9), or not at all (public clients).
const CLIENT_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];

fn assertion_algorithms() -> Vec<String> {
    crate::directory::client_keys::ASSERTION_ALGORITHMS.iter().map(|alg| format!("{alg:?}")).collect()
}

/// The metadata of a provider at `issuer`; `registration`: dynamic client registration is on.
pub fn document(issuer: &str, registration: bool) -> serde_json::Value {
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{}", paths::AUTHORIZE),
        "token_endpoint": format!("{issuer}{}", paths::TOKEN),
        "userinfo_endpoint": format!("{issuer}{}", paths::USERINFO),
        "jwks_uri": format!("{issuer}{}", paths::JWKS),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        // Discovery §3 defaults would claim fragment mode and the implicit grant: say what is true
        // (query, and form_post: OAuth 2.0 Form Post Response Mode §2).
        "response_modes_supported": ResponseMode::SUPPORTED,
        "grant_types_supported": crate::directory::client_metadata::SUPPORTED_GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        // OIDC Discovery §3: required with private_key_jwt.
        "token_endpoint_auth_signing_alg_values_supported": assertion_algorithms(),
        "claims_supported": CLAIMS_SUPPORTED,
        "acr_values_supported": crate::login::method::ACR_VALUES,
        // OIDC Discovery §3: the languages `ui_locales` can ask the pages for (`web::i18n`).
        "ui_locales_supported": crate::web::i18n::Lang::ALL.map(crate::web::i18n::Lang::tag),
        "code_challenge_methods_supported": ["S256"],
        // RFC 8628 §4.
        "device_authorization_endpoint": format!("{issuer}{}", paths::DEVICE_AUTHORIZATION),
        // RFC 9126 §5: PAR is always on; whether a client must use it is its own registration.
        "pushed_authorization_request_endpoint": format!("{issuer}{}", paths::PAR),
        "require_pushed_authorization_requests": false,
        "revocation_endpoint": format!("{issuer}{}", paths::REVOKE),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algorithms(),
        "introspection_endpoint": format!("{issuer}{}", paths::INTROSPECT),
        // A public client cannot introspect (RFC 7662 §2.1: the caller is authorized).
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algorithms(),
        "end_session_endpoint": format!("{issuer}{}", paths::LOGOUT),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    // RFC 8414 §2, OIDC Discovery §3: listed exactly when it is served.
    if registration {
        doc["registration_endpoint"] = json!(format!("{issuer}{}", paths::REGISTER));
    }
    doc
}

pub fn render(issuer: &str, registration: bool) -> RenderedDocument {
    let body = serde_json::to_vec(&document(issuer, registration)).unwrap_or_default();
    RenderedDocument { etag: strong_etag(&body), body: body.into() }
}

/// Serves pre-rendered bytes with validators; `If-None-Match` → 304.
pub fn serve_cached(req: &Request, body: &bytes::Bytes, etag: &str, max_age: u64) -> Response {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        Response::builder().status(StatusCode::NOT_MODIFIED).finish()
    } else {
        Response::builder().body(body.clone())
    };
    let headers = resp.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, cache_control(max_age));
    // Public metadata: any web origin may read it, never with credentials.
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if !matches {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    resp
}

/// `public, max-age=N`, without formatting for the two values almost every response uses.
fn cache_control(max_age: u64) -> HeaderValue {
    match max_age {
        3600 => HeaderValue::from_static("public, max-age=3600"),
        0 => HeaderValue::from_static("public, max-age=0"),
        n => HeaderValue::from_str(&format!("public, max-age={n}")).unwrap_or(HeaderValue::from_static("no-cache")),
    }
}

#[handler]
pub async fn discovery(req: &Request, app: Data<&Arc<App>>) -> Response {
    serve_cached(req, &app.discovery.body, &app.discovery.etag, 3600)
}
