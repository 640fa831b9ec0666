//! The SessionStore: short-lived, TTL-bound state of logins in progress — pending authorizations,
//! authorization codes, SSO sessions and consent requests (design.md §3). One trait; the `sql`
//! backend serves the embedded default.

pub mod redis;
pub mod sql;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use redis::{RedisSessionStore, RedisSettings};
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
    /// OIDC Core §3.1.2.1 `ui_locales`: the language of the pages of this flow.
    #[serde(default)]
    pub ui_locales: Option<String>,
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
    /// Last use at the authorization endpoint (idle lifetime).
    #[serde(default)]
    pub last_seen_at: i64,
}

/// A refresh-token family: everything one authorization granted, shared by the chain of rotated
/// refresh tokens (RFC 9700 §4.14.2). Refresh tokens are `<family id>.<secret>`; only the SHA-256
/// of the whole token is stored, so a forged family id finds nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefreshFamily {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    /// The SSO session this family is bound to; `None` for `offline_access` families, which
    /// survive logout (OIDC Core §11).
    pub sid: Option<String>,
    /// The `sid` of the login that started the family, for ID tokens minted by refresh (Back-Channel
    /// Logout §2.1), also for `offline_access` families.
    #[serde(default)]
    pub login_sid: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub created_at: i64,
    /// The family dies at this time whatever its use (absolute lifetime).
    pub expires_at: i64,
    /// Last time DingTalk confirmed the user (upstream recheck).
    pub upstream_checked_at: i64,
    /// The user's claims for the family's scopes as of the last login or recheck, so a refresh
    /// needs no directory lookup.
    #[serde(default)]
    pub claims: crate::tokens::ProfileClaims,
}

/// An access token: its `jti` (denylisted on revocation) and expiry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuedAccessToken {
    pub jti: String,
    pub exp: i64,
}

/// The new refresh token a rotation installs.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshSuccessor {
    pub token_hash: String,
    /// The successor token sealed under a key derived from the presented token, so a retry within
    /// the grace window can be answered with the same successor and nothing usable sits at rest.
    pub sealed: String,
    /// Idle lifetime: the successor expires after this long unused (capped by the family's end).
    pub idle_ttl_secs: u64,
    /// The `exp` of the access token minted with this rotation: the store keeps only the latest
    /// expiry of the family's access tokens, which are denied together, by family (see
    /// [`family_access_jti`]), so their `jti`s are not stored.
    pub access_exp: i64,
}

/// One rotation attempt: the presented token, who presents it, and what is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct RotateRequest {
    pub family_id: String,
    pub presented_hash: String,
    /// The authenticated client: a family is only ever rotated by its own client.
    pub client_id: String,
    /// RFC 6749 §6: the scopes asked for, which may only narrow the family's.
    pub scopes: Option<Vec<String>>,
    pub successor: RefreshSuccessor,
    /// Protocol time (an injectable clock).
    pub now: i64,
    pub grace_secs: u64,
}

/// What one atomic rotation decided.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The presented token was current: it is now rotated and the successor installed.
    Rotated(RefreshFamily),
    /// The presented token was rotated within the grace window: answer with the same successor.
    Retry { family: RefreshFamily, sealed_successor: String },
    /// The presented token was rotated before the grace window: the family is now revoked.
    Reused(RevokedFamily),
    /// Unknown, expired or revoked.
    Invalid,
    /// The token belongs to another client; nothing was changed.
    WrongClient,
    /// The scopes asked for exceed the family's; nothing was changed.
    ScopeWidened,
}

/// A revoked family, and how long its access tokens must stay denied.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokedFamily {
    pub family: RefreshFamily,
    /// The latest `exp` of the access tokens the family issued: its tokens are denied by family
    /// (`deny_family_access_tokens`) until then.
    pub access_exp: i64,
    /// Live access tokens recorded one by one, by versions before the family-wide denial; empty for
    /// families created since. Denied by `jti`.
    pub access_tokens: Vec<IssuedAccessToken>,
}

/// Where a refresh token stands (for revocation and introspection).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenState {
    pub family: RefreshFamily,
    /// False once the token was rotated away.
    pub current: bool,
}

/// What a redeemed authorization code produced, remembered so that a replay of the code can revoke
/// it (RFC 6749 §4.1.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodeGrant {
    pub client_id: String,
    pub family_id: Option<String>,
    pub access_token: IssuedAccessToken,
}

/// A back-channel logout notification waiting to be delivered (Back-Channel Logout 1.0 §2.5).
/// Durable: it survives a provider restart. The logout token is signed at each attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogoutDelivery {
    pub id: String,
    pub client_id: String,
    pub uri: String,
    pub sub: String,
    pub sid: Option<String>,
    pub attempts: u32,
    pub created_at: i64,
    /// Given up after this time.
    pub expires_at: i64,
}

/// Splits `<family id>.<secret>`; the family id only chooses where to look.
pub fn refresh_family_id(token: &str) -> Option<&str> {
    let (family, secret) = token.split_once('.')?;
    let well_formed = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (well_formed(family) && well_formed(secret)).then_some(family)
}

/// The `jti` of an access token minted from a family: `<family id>.<random>`. Revoking the family
/// then denies all of its access tokens with one record (RFC 9700 §4.14.2; RFC 7009 §2.1), so a
/// rotation need not record each token it mints: a family refreshed often no longer grows a list.
pub fn family_access_jti(family_id: &str) -> String {
    format!("{family_id}.{}", crate::random::token())
}

/// The family an access token's `jti` names (see [`family_access_jti`]); `None` for a token minted
/// without a family, whose `jti` has no `.`.
pub fn access_token_family(jti: &str) -> Option<&str> {
    jti.split_once('.').map(|(family, _)| family).filter(|family| !family.is_empty())
}

/// Every method is atomic on the server; `take_*`/`consume_*` return a record at most once even
/// under concurrency. Expired records are never returned.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn put_pending_auth(&self, auth: &PendingAuth, ttl_secs: u64) -> Result<(), StoreError>;
    async fn take_pending_auth(&self, id: &str) -> Result<Option<PendingAuth>, StoreError>;

    async fn put_consent_request(&self, req: &ConsentRequest, ttl_secs: u64) -> Result<(), StoreError>;
    async fn take_consent_request(&self, id: &str) -> Result<Option<ConsentRequest>, StoreError>;

    async fn put_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: u64) -> Result<(), StoreError>;
    /// RFC 6749 §4.1.2: single use, enforced atomically (get-and-delete).
    async fn consume_code(&self, code_hash: &str) -> Result<Option<AuthCode>, StoreError>;

    async fn put_sso_session(&self, session: &SsoSession) -> Result<(), StoreError>;
    async fn get_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError>;
    async fn delete_sso_session(&self, sid: &str) -> Result<(), StoreError>;
    async fn sso_sessions_of_user(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError>;
    /// Ends every SSO session of the user and empties the user's index; returns what was ended.
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError>;

    /// Records what a redeemed code produced, in one round trip: the refresh family it started, if
    /// any (created with its first refresh token, stored by hash, and first access token), and the
    /// grant itself, remembered for `remember_secs` so a replay of the code can revoke it
    /// (RFC 6749 §4.1.2). The family is created atomically.
    async fn record_code_grant(
        &self,
        code_hash: &str,
        grant: &CodeGrant,
        remember_secs: u64,
        family: Option<(&RefreshFamily, &RefreshSuccessor)>,
    ) -> Result<(), StoreError>;
    /// Rotation and reuse detection in ONE atomic operation (design.md §3). Idle and absolute
    /// expiry are judged at `now` (an injectable clock); store TTLs only collect garbage.
    async fn rotate_refresh_token(&self, request: &RotateRequest) -> Result<RotateOutcome, StoreError>;
    /// Where a token stands at `now` (expired tokens and families count as absent).
    async fn refresh_token_state(
        &self,
        family_id: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<RefreshTokenState>, StoreError>;
    async fn get_refresh_family(&self, family_id: &str) -> Result<Option<RefreshFamily>, StoreError>;
    /// Replaces a live family's record (e.g. after an upstream recheck); false if it is gone.
    async fn update_refresh_family(&self, family: &RefreshFamily) -> Result<bool, StoreError>;
    /// Revokes a family: its tokens stop working at once. `None` if it did not exist.
    async fn revoke_refresh_family(&self, family_id: &str) -> Result<Option<RevokedFamily>, StoreError>;
    async fn refresh_families_of_user(&self, user_id: &str) -> Result<Vec<RefreshFamily>, StoreError>;

    /// Takes what a redeemed code produced (at most once).
    async fn take_code_grant(&self, code_hash: &str) -> Result<Option<CodeGrant>, StoreError>;

    /// Queues a back-channel logout notification, due (claimable) at `due_at`: at once for the
    /// delivery worker, or later when the caller delivers it itself first (the logout request).
    async fn enqueue_logout(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError>;
    /// Claims up to `limit` due notifications: each claimed one is hidden from other claimers for
    /// `lease_secs`, so two instances never send the same one at the same time.
    async fn claim_logout_deliveries(
        &self,
        now: i64,
        lease_secs: u64,
        limit: u64,
    ) -> Result<Vec<LogoutDelivery>, StoreError>;
    /// Delivered, or given up: forget it.
    async fn complete_logout_delivery(&self, id: &str) -> Result<(), StoreError>;
    /// Try again at `due_at` (the delivery carries its new attempt count).
    async fn retry_logout_delivery(&self, delivery: &LogoutDelivery, due_at: i64) -> Result<(), StoreError>;

    /// Denylists an access token's `jti` until its `exp`.
    async fn deny_access_token(&self, jti: &str, exp: i64) -> Result<(), StoreError>;
    /// Denylists every access token of a family (those whose `jti` names it) until `until`.
    async fn deny_family_access_tokens(&self, family_id: &str, until: i64) -> Result<(), StoreError>;
    /// Whether the `jti`, or the family it names, is denylisted: one round trip.
    async fn is_access_token_denied(&self, jti: &str) -> Result<bool, StoreError>;

    /// A small shared cache (the DingTalk app token) with a TTL.
    async fn put_cached(&self, name: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError>;
    async fn get_cached(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// A lease held by one instance at a time (sweeper, key rotation); true if acquired (or
    /// already held by `holder`, whose lease is then extended).
    async fn try_lock(&self, name: &str, holder: &str, ttl_secs: u64) -> Result<bool, StoreError>;
    /// Releases the lease if `holder` still holds it.
    async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Answers when the backing server does (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}
