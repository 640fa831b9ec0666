//! The SessionStore: short-lived, TTL-bound state of logins in progress — pending authorizations,
//! authorization codes and their redemptions, SSO sessions, consent requests, refresh-token
//! families, the access-token denylist and the back-channel logout queue. One trait, two backends
//! (`sql` serves the embedded default, `redis` production), one conformance suite
//! (`tests/store_conformance.rs`). Nothing stored is usable as a credential: secrets are kept as
//! hashes, or sealed under a secret the store never sees.

pub mod redis;
pub mod sql;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::oidc::response_mode::ResponseMode;

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
    /// How the answer goes back to the client (`oidc::response_mode`). Not written when it is
    /// the default, `query`, so records read the same by versions that predate the field.
    #[serde(default, skip_serializing_if = "ResponseMode::is_query")]
    pub response_mode: ResponseMode,
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

/// The browser's single-sign-on session. `id` is its public identifier: the `sid` claim of ID
/// tokens, access tokens, introspection answers and logout tokens, shown to relying parties and
/// admins (Back-Channel Logout 1.0 §2.1), so it is never a credential. The browser proves the
/// session with a separate secret (RFC 6749 §10.3, §10.8), carried in the cookie
/// `<id>.<secret>` (see `login::session`); only the secret's SHA-256 is stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SsoSession {
    pub id: String,
    /// SHA-256 of the session secret (base64url). Empty in records written before sessions had a
    /// secret: those never match a cookie.
    #[serde(default)]
    pub secret_hash: String,
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
    /// When the family's user was last confirmed upstream before this time, a current token is
    /// not rotated: the answer is [`RotateOutcome::RecheckDue`] and nothing changes, so the
    /// recheck's reads happen before anything is consumed (a failed recheck then leaves the token
    /// usable). `None`: no recheck is due whatever the family says.
    pub recheck_due_before: Option<i64>,
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
    /// The token is current but the family's upstream check is older than
    /// `recheck_due_before`; nothing was changed.
    RecheckDue(RefreshFamily),
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

/// What presenting an authorization code did (RFC 6749 §4.1.2: single use, and a replay revokes
/// what the code issued). Redeeming a code replaces it, in one atomic step, with a redemption record
/// that lives as long as the tokens it may issue: "consumed, tokens pending". What those tokens are
/// is fixed by the code itself ([`code_grant_id`]), so a replay can revoke them whether or not the
/// first redemption has finished, and a first redemption that a replay overtook cannot complete.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// The code was live and is now redeemed; its grant is pending until
    /// [`SessionStore::complete_code_grant`] (or [`SessionStore::release_code`] puts it back).
    Redeemed(Box<AuthCode>),
    /// The code had been redeemed before: the redemption is now revoked, so a pending grant will
    /// not complete. The caller revokes what it may have issued (family and access tokens named
    /// by [`code_grant_id`]).
    Replayed,
    /// No such code (unknown, expired, or a replay already handled).
    Unknown,
}

/// What completing a redeemed code's grant did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeGrantCompletion {
    /// The refresh family exists now.
    Created,
    /// A replay revoked the redemption first: nothing was created, and what the code issues is
    /// revoked (the first redemption still answers: RFC 6749 §4.1.2 denies the replay, not the
    /// first use, but its tokens are dead).
    Revoked,
    /// The SSO session the family would be bound to has ended: nothing was created.
    SessionEnded,
}

/// The identifier everything a code issues is named after: the refresh family's id, and the
/// access token's `jti` (the `jti` itself for a grant without a family, `<id>.<random>` with one).
/// Derived from the code's hash, so a replay of the code finds them without a record of what the
/// first redemption did, and no two codes share it (128 bits of SHA-256).
pub fn code_grant_id(code_hash: &str) -> String {
    let mut id = crate::secrets::hash(&format!("dingtalk-oidc code grant\0{code_hash}"));
    id.truncate(22);
    id
}

/// What the access-token denylist needs of a token: its `jti` (and the family it names), and whose
/// it is and when that user authenticated (`auth_time`): the tokens of every authentication of a
/// user up to a time can be denied at once, including tokens minted after the denial from an
/// earlier authentication (a code issued before it, exchanged on an instance whose cache had not
/// seen the user disabled yet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenyCheck<'a> {
    pub jti: &'a str,
    pub sub: &'a str,
    pub auth_time: i64,
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
    format!("{family_id}.{}", crate::secrets::token())
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
    /// RFC 6749 §4.1.2: single use, decided atomically. A live code becomes a redemption record
    /// kept for `remember_secs`; a redeemed one is a replay and its redemption is revoked.
    async fn redeem_code(&self, code_hash: &str, remember_secs: u64) -> Result<CodeRedemption, StoreError>;
    /// Completes a pending redemption, atomically: creates the refresh family (with its first
    /// token) unless a replay revoked the redemption meanwhile, or — with `session` — the SSO session
    /// the family is bound to has ended.
    async fn complete_code_grant(
        &self,
        code_hash: &str,
        family: &RefreshFamily,
        first: &RefreshSuccessor,
        session: Option<&str>,
    ) -> Result<CodeGrantCompletion, StoreError>;
    /// Undoes a redemption that could not be completed (a dependency failed): the code is usable
    /// again for `ttl_secs` (what was left of its life), if the redemption is still pending and
    /// created nothing. A request answered 503 then leaves the code as it found it.
    async fn release_code(&self, code_hash: &str, code: &AuthCode, ttl_secs: i64) -> Result<(), StoreError>;

    async fn put_sso_session(&self, session: &SsoSession) -> Result<(), StoreError>;
    async fn get_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError>;
    /// The session was used at `now` (its idle clock restarts), and `client`, if any, received a
    /// code in it. Atomic, and only while the session lives: false when it has ended (so a session
    /// ended by a logout is never written back by a request that read it before).
    async fn note_sso_session_use(&self, sid: &str, now: i64, client: Option<&str>) -> Result<bool, StoreError>;
    /// Ends the session; returns it as it was when it ended (with every client it had by then).
    async fn delete_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError>;
    async fn sso_sessions_of_user(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError>;
    /// Ends every SSO session of the user and empties the user's index; returns what was ended.
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError>;

    /// Rotation and reuse detection in ONE atomic operation (RFC 9700 §4.14.2). Idle and absolute
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
    /// Denylists every access token of a user from an authentication at or before
    /// `authenticated_until` (RFC 7662 §2.2: a disabled user's tokens are no longer active),
    /// remembered until `keep_until`, when the last of them has expired.
    async fn deny_user_access_tokens(
        &self,
        user_id: &str,
        authenticated_until: i64,
        keep_until: i64,
    ) -> Result<(), StoreError>;
    /// Whether the token is denylisted by its `jti`, by the family it names, or as one of its
    /// user's denied tokens: one round trip.
    async fn is_access_token_denied(&self, token: DenyCheck<'_>) -> Result<bool, StoreError>;

    /// A small shared cache with a TTL (the DingTalk app token, sealed by its user; pending logout
    /// confirmations). Values are stored as given: never put a usable credential here.
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
