//! Admin API errors: JSON `{"error", "message", "field"?}` with 400 (naming the field), 401, 403,
//! 404, 409 or 503 — mapped in one place.

use poem::Response;
use poem::http::{StatusCode, header};
use serde::Serialize;

use crate::directory::DirectoryError;
use crate::keys::KeyError;
use crate::manage::ManageError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn bad_request(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, error: "not_found", message: what.into(), field: None }
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, error: "conflict", message: message.into(), field: None }
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, error: "invalid_token", message: message.into(), field: None }
    }

    pub fn forbidden(message: &str) -> ApiError {
        ApiError { status: StatusCode::FORBIDDEN, error: "insufficient_scope", message: message.into(), field: None }
    }

    pub fn unavailable() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            message: "a backing service is unavailable; retry shortly".into(),
            field: None,
        }
    }

    pub fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body { error: self.error, message: &self.message, field: self.field })
            .unwrap_or_default();
        let mut builder = Response::builder().status(self.status).content_type("application/json");
        // RFC 6750 §3.1: 401 and 403 name the problem in the Bearer challenge.
        if self.status == StatusCode::UNAUTHORIZED {
            builder = builder
                .header(header::WWW_AUTHENTICATE, "Bearer realm=\"dingtalk-oidc admin\", error=\"invalid_token\"");
        } else if self.status == StatusCode::FORBIDDEN {
            builder = builder
                .header(header::WWW_AUTHENTICATE, "Bearer realm=\"dingtalk-oidc admin\", error=\"insufficient_scope\"");
        }
        builder.body(body)
    }
}

impl From<ApiError> for poem::Error {
    fn from(e: ApiError) -> poem::Error {
        poem::Error::from_response(e.into_response())
    }
}

/// Directory validation messages start with the field they concern (`"name: …"`), or name it.
fn field_of(message: &str) -> &'static str {
    const FIELDS: &[&str] = &[
        "access_token_ttl_secs",
        "id_token_ttl_secs",
        "redirect_uris",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "allowed_scopes",
        "grant_types",
        "user_id",
        "role",
        "name",
        "id",
    ];
    let lower = message.to_ascii_lowercase();
    if lower.contains("redirect uri") {
        return "redirect_uris";
    }
    if lower.contains("client id") {
        return "id";
    }
    if lower.contains("scope") {
        return "allowed_scopes";
    }
    if lower.contains("grant type") {
        return "grant_types";
    }
    if lower.contains("lifetime") {
        return "refresh_ttl";
    }
    FIELDS.iter().find(|f| lower.starts_with(&format!("{f}:"))).copied().unwrap_or("body")
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> ApiError {
        match e {
            DirectoryError::Conflict(what) => ApiError::conflict(format!("{what} already exists")),
            DirectoryError::Invalid(message) => ApiError::bad_request(field_of(&message), message),
            other => {
                tracing::error!(error = %other, "admin API: directory failure");
                ApiError::unavailable()
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "admin API: session store failure");
        ApiError::unavailable()
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> ApiError {
        match e {
            KeyError::Unusable { kid, reason } if reason == "no such key" => {
                ApiError::not_found(format!("no key {kid}"))
            }
            KeyError::Generate(message) if message.contains("bits") || message.contains("PEM") => {
                ApiError::bad_request("pem", message)
            }
            other => {
                tracing::error!(error = %other, "admin API: key operation failed");
                ApiError::unavailable()
            }
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> ApiError {
        match e {
            ManageError::NotFound(missing) => ApiError::not_found(missing.to_string()),
            ManageError::Directory(e) => e.into(),
            ManageError::Store(e) => e.into(),
            ManageError::Key(e) => e.into(),
        }
    }
}

impl From<ManageError> for poem::Error {
    fn from(e: ManageError) -> poem::Error {
        ApiError::from(e).into()
    }
}

pub type ApiResult<T> = Result<T, poem::Error>;
