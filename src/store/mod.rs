//! The SessionStore: short-lived, TTL-bound state of logins in progress — pending authorizations,
//! authorization codes, SSO sessions and consent requests (design.md §3). One trait; the `sql`
//! backend serves the embedded default.

pub mod sql;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use sql::SqlSessionStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store did not answer (or answered with an error): an outage, not bad input.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("session store record is corrupt: {0}")]
    Corrupt(String),
}

/// A validated authorization request (OIDC Core §3.1.2.1), carried through the DingTalk login and
/// consent into the code, so the token endpoint sees exactly what was authorized
/// (RFC 6749 §4.1.2; RFC 7636 §4.4; OIDC Core §15.5.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// RFC 7636: the S256 challenge, when one was sent.
    pub code_challenge: Option<String>,
    /// `prompt=consent` was asked for.
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    /// The `sub` of a valid `id_token_hint`: tokens are never issued for anyone else
    /// (OIDC Core §3.1.2.2).
    #[serde(default)]
    pub id_token_hint_sub: Option<String>,
}

/// A login waiting for DingTalk's callback. `id` is the `state` we send to DingTalk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingAuth {
    pub id: String,
    pub request: AuthRequest,
    /// SHA-256 of the browser-binding cookie of the browser that started the login.
    pub browser_binding_hash: String,
    pub created_at: i64,
}

/// An authenticated user waiting at the consent page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsentRequest {
    pub id: String,
    pub request: AuthRequest,
    pub user_id: String,
    pub sid: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// SHA-256 of the anti-CSRF token embedded in the consent form.
    pub csrf_hash: String,
}

/// What an authorization code stands for. Stored under the SHA-256 of the code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthCode {
    pub request: AuthRequest,
    pub user_id: String,
    pub sid: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub issued_at: i64,
}

/// The browser's single-sign-on session; `id` is the `sid` claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SsoSession {
    pub id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// Clients that received tokens in this session (for logout).
    pub clients: Vec<String>,
    pub expires_at: i64,
}

/// Every method is atomic on the server; `take_*`/`consume_*` return a record at most once even
/// under concurrency. Expired records are never returned.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn put_pending_auth(&self, auth: &PendingAuth, ttl_secs: u64) -> Result<(), StoreError>;
    async fn take_pending_auth(&self, id: &str) -> Result<Option<PendingAuth>, StoreError>;

    async fn put_consent_request(
        &self,
        req: &ConsentRequest,
        ttl_secs: u64,
    ) -> Result<(), StoreError>;
    async fn take_consent_request(&self, id: &str) -> Result<Option<ConsentRequest>, StoreError>;

    async fn put_code(
        &self,
        code_hash: &str,
        code: &AuthCode,
        ttl_secs: u64,
    ) -> Result<(), StoreError>;
    /// RFC 6749 §4.1.2: single use, enforced atomically (get-and-delete).
    async fn consume_code(&self, code_hash: &str) -> Result<Option<AuthCode>, StoreError>;

    async fn put_sso_session(&self, session: &SsoSession) -> Result<(), StoreError>;
    async fn get_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError>;
    async fn delete_sso_session(&self, sid: &str) -> Result<(), StoreError>;
    async fn sso_sessions_of_user(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError>;
}
