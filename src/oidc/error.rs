//! OAuth error responses, mapped in one place: RFC 6749 §5.2 JSON on back-channel endpoints,
//! RFC 6749 §4.1.2.1 redirects (`code::ErrorRedirect`), RFC 6750 §3 `WWW-Authenticate` on
//! protected resources; the error codes they carry ([`ErrorCode`]); and the failures of our own
//! backing services ([`BackendError`]), logged once, where they become a response.

use poem::Response;
use poem::http::{StatusCode, header};
use serde::Serialize;

use crate::directory::DirectoryError;
use crate::keys::KeyError;
use crate::store::StoreError;
use crate::web::pages;

/// The `error` codes this provider answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorization endpoint).
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    // RFC 8707 §2: the requested resource is invalid, missing, unknown or malformed.
    InvalidTarget,
    AccessDenied,
    UnsupportedResponseType,
    TemporarilyUnavailable,
    // RFC 8628 §3.5: the device grant's polling answers (`slow_down` is also the token
    // endpoint's per-client limit).
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    // RFC 6750 §3.1 (protected resources).
    InvalidToken,
    InsufficientScope,
    // OIDC Core §3.1.2.6.
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
}

impl ErrorCode {
    /// The code as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of one of our own backing services. It keeps its cause until it becomes a
/// response, where it is logged, once: a 503 `temporarily_unavailable` on the back channel
/// (`From<BackendError> for OAuthError`), the unavailable page or a `temporarily_unavailable`
/// redirect in the browser.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("session store: {0}")]
    Store(#[from] StoreError),
    #[error("directory: {0}")]
    Directory(#[from] DirectoryError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    /// Our own state cannot serve the request (no active signing key, a store answer that breaks
    /// its contract).
    #[error("{0}")]
    Internal(&'static str),
}

impl BackendError {
    /// Logs the failure; every conversion into a response goes through here.
    pub fn log(&self) {
        tracing::error!(error = %self, "a backing service failed");
    }

    /// The unavailable page (503), for the endpoints that answer the browser with a page.
    pub fn into_page(self) -> Response {
        self.log();
        pages::unavailable_page()
    }
}

impl From<BackendError> for OAuthError {
    fn from(e: BackendError) -> OAuthError {
        e.log();
        OAuthError::unavailable()
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> OAuthError {
        BackendError::from(e).into()
    }
}

impl From<DirectoryError> for OAuthError {
    fn from(e: DirectoryError) -> OAuthError {
        BackendError::from(e).into()
    }
}

impl From<KeyError> for OAuthError {
    fn from(e: KeyError) -> OAuthError {
        BackendError::from(e).into()
    }
}

impl From<BackendError> for BearerError {
    fn from(e: BackendError) -> BearerError {
        e.log();
        BearerError::Unavailable
    }
}

impl From<StoreError> for BearerError {
    fn from(e: StoreError) -> BearerError {
        BackendError::from(e).into()
    }
}

impl From<DirectoryError> for BearerError {
    fn from(e: DirectoryError) -> BearerError {
        BackendError::from(e).into()
    }
}

/// An RFC 6749 §5.2 error. `description` is always text we wrote: it never echoes request values,
/// so it stays within %x20-21 / %x23-5B / %x5D-7E.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: ErrorCode,
    pub description: &'static str,
    /// RFC 6749 §5.2: 401 with a Basic challenge when the client authenticated by header.
    pub basic_challenge: bool,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(error: ErrorCode, description: &'static str) -> OAuthError {
        OAuthError { status: StatusCode::BAD_REQUEST, error, description, basic_challenge: false, retry_after: None }
    }

    pub fn invalid_request(description: &'static str) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: &'static str) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client(description: &'static str, used_basic: bool) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: ErrorCode::InvalidClient,
            description,
            basic_challenge: used_basic,
            retry_after: None,
        }
    }

    /// A dependency outage: 503, fast, and the client may retry.
    pub fn unavailable() -> OAuthError {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: ErrorCode::TemporarilyUnavailable,
            description: "a backing service is unavailable; retry shortly",
            basic_challenge: false,
            retry_after: Some(5),
        }
    }

    /// Over the per-client limit at the token endpoint: 429 with `Retry-After`.
    pub fn slow_down(retry_after: u64) -> OAuthError {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: ErrorCode::SlowDown,
            description: "too many requests for this client; retry after the Retry-After delay",
            basic_challenge: false,
            retry_after: Some(retry_after),
        }
    }

    pub fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: ErrorCode,
            error_description: &'static str,
        }
        let body =
            serde_json::to_vec(&Body { error: self.error, error_description: self.description }).unwrap_or_default();
        let mut builder = Response::builder()
            .status(self.status)
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache");
        if self.basic_challenge {
            builder = builder.header(header::WWW_AUTHENTICATE, "Basic realm=\"dingtalk-oidc\", charset=\"UTF-8\"");
        } else if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §15.5.2: a 401 always carries a challenge.
            builder = builder.header(header::WWW_AUTHENTICATE, "Basic realm=\"dingtalk-oidc\"");
        }
        if let Some(seconds) = self.retry_after {
            builder = builder.header(header::RETRY_AFTER, seconds.to_string());
        }
        builder.body(body)
    }
}

/// RFC 6750 §3 errors of a protected resource (userinfo).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BearerError {
    /// No credentials at all: a bare challenge without `error` (RFC 6750 §3.1).
    Missing,
    InvalidRequest(&'static str),
    InvalidToken(&'static str),
    InsufficientScope(&'static str),
    Unavailable,
}

impl BearerError {
    pub fn into_response(self) -> Response {
        let (status, challenge, error, description) = match self {
            BearerError::Missing => (StatusCode::UNAUTHORIZED, "Bearer realm=\"dingtalk-oidc\"".to_string(), None, ""),
            BearerError::InvalidRequest(d) => (
                StatusCode::BAD_REQUEST,
                format!("Bearer realm=\"dingtalk-oidc\", error=\"invalid_request\", error_description=\"{d}\""),
                Some(ErrorCode::InvalidRequest),
                d,
            ),
            BearerError::InvalidToken(d) => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer realm=\"dingtalk-oidc\", error=\"invalid_token\", error_description=\"{d}\""),
                Some(ErrorCode::InvalidToken),
                d,
            ),
            BearerError::InsufficientScope(d) => (
                StatusCode::FORBIDDEN,
                format!(
                    "Bearer realm=\"dingtalk-oidc\", error=\"insufficient_scope\", error_description=\"{d}\", scope=\"openid\""
                ),
                Some(ErrorCode::InsufficientScope),
                d,
            ),
            BearerError::Unavailable => {
                return OAuthError::unavailable().into_response();
            }
        };
        let body = match error {
            Some(error) => serde_json::json!({ "error": error, "error_description": description }).to_string(),
            None => String::new(),
        };
        let mut builder = Response::builder()
            .status(status)
            .header(header::WWW_AUTHENTICATE, challenge)
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache");
        if error.is_some() {
            builder = builder.content_type("application/json");
        }
        builder.body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn error_codes_go_on_the_wire_as_the_rfcs_spell_them() {
        assert_eq!(serde_json::to_string(&ErrorCode::InvalidGrant).ok().as_deref(), Some("\"invalid_grant\""));
        assert_eq!(ErrorCode::RequestUriNotSupported.as_str(), "request_uri_not_supported");
        assert_eq!(ErrorCode::TemporarilyUnavailable.to_string(), "temporarily_unavailable");
    }
}
