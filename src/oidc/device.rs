//! `POST /device_authorization` (RFC 8628 §3.1, §3.2): a device without a browser (a CLI, a TV)
//! asks for a device code, which it polls the token endpoint with, and a user code, which its user
//! enters at the verification page (`device_verification`) on a phone or laptop. User codes are
//! 8 characters of 20 consonants (§6.1: no vowels, so no words; case and dashes ignored), shown as
//! `BCDF-GHJK`.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::Serialize;

use super::client_auth::ValueBound;
use super::error::{BackendError, ErrorCode};
use super::params::parse_scope;
use super::{OAuthError, client_auth, paths};
use crate::app::App;
use crate::directory::Client;
use crate::secrets;
use crate::store::DeviceRequest;

/// The grant type a client must be registered for (RFC 8628 §3.4).
pub use crate::directory::client_metadata::DEVICE_CODE_GRANT;

/// RFC 8628 §6.1: base-20, no vowels (and no Y), so codes are easy to type and spell no words.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// 20^8 ≈ 2^34.5 codes: with codes living minutes and failures limited per client IP
/// (`limits.user_code_failures_per_ip_per_minute`), guessing a live one is improbable (§5.1).
const USER_CODE_LEN: usize = 8;

/// How long past its expiry a request is remembered, so a late poll hears `expired_token` (§3.5)
/// rather than `invalid_grant`.
pub const KEEP_AFTER_EXPIRY_SECS: u64 = 600;

/// A fresh user code, `XXXX-XXXX`.
pub fn new_user_code() -> String {
    let mut letters = Vec::with_capacity(USER_CODE_LEN + 16);
    while letters.len() < USER_CODE_LEN {
        let mut bytes = [0u8; 16];
        secrets::fill(&mut bytes);
        // Bytes from 240 up are dropped, so each of the 20 letters is equally likely (240 = 12 × 20).
        letters.extend(bytes.into_iter().filter(|b| *b < 240).map(|b| USER_CODE_ALPHABET[usize::from(b % 20)]));
    }
    letters.truncate(USER_CODE_LEN);
    display_user_code(&String::from_utf8(letters).unwrap_or_default())
}

/// The canonical form of a code as a user typed it (§6.1: case-insensitive; dashes, spaces and
/// other punctuation ignored), or `None` when it cannot be a user code.
pub fn canonical_user_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    let well_formed = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    well_formed.then_some(code)
}

/// How a user code is stored and looked up: a keyed hash of its canonical form (with 34.5 bits a
/// plain hash could be reversed by trying every code; the key never reaches the store). A KEK
/// change (`keys rewrap`) orphans the few codes in flight, which live minutes.
pub fn user_code_hash(kek: &crate::keys::Kek, canonical: &str) -> String {
    kek.keyed_hash("device user code", canonical)
}

/// The canonical code shown as the user sees it on the device: `BCDF-GHJK`.
pub fn display_user_code(canonical: &str) -> String {
    let (a, b) = canonical.split_at(canonical.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// RFC 8628 §3.2 success body.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

#[handler]
pub async fn device_authorization(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    match authorize_device(&app, req, body).await {
        Ok(answer) => super::json_no_store(StatusCode::OK, serde_json::to_vec(&answer).unwrap_or_default()),
        Err(e) => e.into_response(),
    }
}

pub async fn authorize_device(app: &App, req: &Request, body: Body) -> Result<DeviceAuthorization, OAuthError> {
    // §3.1: a confidential client authenticates as at the token endpoint; a public one names itself.
    let (params, client) = client_auth::authenticated_form(app, req, body, ValueBound::Bounded).await?;
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the device grant"));
    }
    let scopes = device_scopes(&client, params.get("scope"))?;
    let resource = requested_resource(app, params.get("resource")).await?;
    let now = app.now();
    let ttl = app.config.tokens.device_code_ttl_secs;
    let interval = app.config.tokens.device_poll_interval_secs;
    let request = DeviceRequest {
        client_id: client.id.clone(),
        scopes,
        created_at: now,
        expires_at: now + ttl as i64,
        interval_secs: interval,
        resource,
    };
    let device_code = secrets::token();
    let device_code_hash = secrets::hash(&device_code);
    // A user code already in use is drawn again; three collisions in a space of 2^34.5 mean
    // something else is wrong.
    for _ in 0..3 {
        let user_code = new_user_code();
        let canonical = canonical_user_code(&user_code).unwrap_or_default();
        let saved = app
            .sessions
            .put_device_request(
                &device_code_hash,
                &user_code_hash(&app.kek, &canonical),
                &request,
                ttl + KEEP_AFTER_EXPIRY_SECS,
            )
            .await
            .map_err(BackendError::from)?;
        if saved {
            let verification_uri = app.endpoint_url(paths::DEVICE);
            let verification_uri_complete = super::code::append_query(&verification_uri, &[("user_code", &user_code)]);
            return Ok(DeviceAuthorization {
                device_code,
                user_code,
                verification_uri,
                verification_uri_complete,
                expires_in: ttl,
                interval,
            });
        }
    }
    Err(BackendError::Internal("no free user code after three draws").into())
}

/// RFC 8707 §2: the registered API the device's access tokens are for (their `aud`), as at
/// /authorize; anything else is `invalid_target`.
async fn requested_resource(app: &App, resource: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(resource) = resource else { return Ok(None) };
    match app.directory.resource_server_cached(resource).await {
        Ok(Some(_)) => Ok(Some(resource.to_string())),
        Ok(None) => Err(OAuthError::new(ErrorCode::InvalidTarget, "the resource is not a registered API")),
        Err(e) => Err(BackendError::from(e).into()),
    }
}

/// The scopes a device request asks for (RFC 6749 §3.3): `openid` among them, as at /authorize;
/// scopes the client may not have are dropped (OIDC Core §3.1.2.1), and `offline_access` kept only
/// for a client allowed refresh tokens: the user approves every scope on the verification page,
/// which is the consent OIDC Core §11 asks for.
fn device_scopes(client: &Client, scope: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let requested = scope.ok_or(OAuthError::invalid_request("scope is required"))?;
    let requested = parse_scope(requested).ok_or(OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?;
    if !requested.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "scope must include openid"));
    }
    let refresh = client.allows_grant("refresh_token");
    Ok(requested.into_iter().filter(|s| client.allows_scope(s) && (refresh || s != "offline_access")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8628_6_1_user_codes_are_eight_consonants_of_twenty_in_two_halves() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let code = new_user_code();
            assert_eq!(code.len(), 9, "{code}");
            assert_eq!(&code[4..5], "-", "{code}");
            let letters: Vec<u8> = code.bytes().filter(|b| *b != b'-').collect();
            assert!(letters.iter().all(|b| USER_CODE_ALPHABET.contains(b)), "{code}");
            assert!(!letters.iter().any(|b| b"AEIOUY".contains(b)), "no vowels: {code}");
            seen.insert(code);
        }
        assert!(seen.len() > 1990, "codes are random: {} distinct of 2000", seen.len());
        let all: String = seen.iter().flat_map(|c| c.chars()).collect();
        for letter in USER_CODE_ALPHABET {
            assert!(all.contains(char::from(*letter)), "every letter is drawn: {}", char::from(*letter));
        }
    }

    #[test]
    fn rfc8628_6_1_user_codes_ignore_case_dashes_and_spaces() {
        assert_eq!(canonical_user_code("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(canonical_user_code(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(canonical_user_code("BCDF-GHJ"), None, "too short");
        assert_eq!(canonical_user_code("ABCD-EFGH"), None, "vowels are not in the alphabet");
        assert_eq!(canonical_user_code("BCDF-GHJKL"), None, "too long");
    }
}
