//! OAuth error responses, mapped in one place: RFC 6749 §5.2 JSON on back-channel endpoints,
//! RFC 6750 §3 `WWW-Authenticate` on protected resources.

use poem::Response;
use poem::http::{StatusCode, header};
use serde::Serialize;

/// An RFC 6749 §5.2 error. `description` is always text we wrote: it never echoes request values,
/// so it stays within %x20-21 / %x23-5B / %x5D-7E.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: &'static str,
    /// RFC 6749 §5.2: 401 with a Basic challenge when the client authenticated by header.
    pub basic_challenge: bool,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: &'static str) -> OAuthError {
        OAuthError { status: StatusCode::BAD_REQUEST, error, description, basic_challenge: false, retry_after: None }
    }

    pub fn invalid_request(description: &'static str) -> OAuthError {
        OAuthError::new("invalid_request", description)
    }

    pub fn invalid_grant(description: &'static str) -> OAuthError {
        OAuthError::new("invalid_grant", description)
    }

    pub fn invalid_client(description: &'static str, used_basic: bool) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description,
            basic_challenge: used_basic,
            retry_after: None,
        }
    }

    /// A dependency outage: 503, fast, and the client may retry.
    pub fn unavailable() -> OAuthError {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: "a backing service is unavailable; retry shortly",
            basic_challenge: false,
            retry_after: Some(5),
        }
    }

    /// Over the per-client limit at the token endpoint: 429 with `Retry-After`.
    pub fn slow_down(retry_after: u64) -> OAuthError {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "slow_down",
            description: "too many requests for this client; retry after the Retry-After delay",
            basic_challenge: false,
            retry_after: Some(retry_after),
        }
    }

    pub fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: &'static str,
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
                Some("invalid_request"),
                d,
            ),
            BearerError::InvalidToken(d) => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer realm=\"dingtalk-oidc\", error=\"invalid_token\", error_description=\"{d}\""),
                Some("invalid_token"),
                d,
            ),
            BearerError::InsufficientScope(d) => (
                StatusCode::FORBIDDEN,
                format!(
                    "Bearer realm=\"dingtalk-oidc\", error=\"insufficient_scope\", error_description=\"{d}\", scope=\"openid\""
                ),
                Some("insufficient_scope"),
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
