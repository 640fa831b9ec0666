//! What the SessionStore does, as narrow traits by what each serves; [`SessionStore`] is their
//! union, so a component can ask for only what it uses and `Arc<dyn SessionStore>` still serves
//! all. Every method is atomic on the server; `take_*`/`redeem_*` return a record at most once even
//! under concurrency. Expired records are never returned.

use async_trait::async_trait;

use super::StoreError;
use super::records::{
    AuthCode, CodeGrantCompletion, CodeRedemption, ConsentRequest, DenyCheck, DeviceDecision, DeviceLookup, DevicePoll,
    DeviceRequest, LogoutDelivery, PendingAuth, PushedRequest, RefreshFamily, RefreshSuccessor, RefreshTokenState,
    RevokedFamily, RotateOutcome, RotateRequest, SsoSession,
};

/// Logins in progress: a pushed authorization request (RFC 9126) waiting for the browser, a login
/// waiting for DingTalk's callback, and an authenticated user waiting at the consent page. Each is
/// taken once.
#[async_trait]
pub trait LoginRequestStore: Send + Sync {
    async fn put_pending_auth(&self, auth: &PendingAuth, ttl_secs: u64) -> Result<(), StoreError>;
    async fn take_pending_auth(&self, id: &str) -> Result<Option<PendingAuth>, StoreError>;

    async fn put_consent_request(&self, req: &ConsentRequest, ttl_secs: u64) -> Result<(), StoreError>;
    async fn take_consent_request(&self, id: &str) -> Result<Option<ConsentRequest>, StoreError>;

    /// Under the hash of its `request_uri`.
    async fn put_pushed_request(&self, uri_hash: &str, req: &PushedRequest, ttl_secs: u64) -> Result<(), StoreError>;
    async fn take_pushed_request(&self, uri_hash: &str) -> Result<Option<PushedRequest>, StoreError>;
}

/// Authorization codes and their redemption (RFC 6749 §4.1.2), which creates the code's refresh
/// family.
#[async_trait]
pub trait CodeStore: Send + Sync {
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
}

/// Single-sign-on sessions, indexed by their user.
#[async_trait]
pub trait SsoSessionStore: Send + Sync {
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
}

/// Refresh-token families and their rotation (RFC 9700 §4.14.2), indexed by their user.
#[async_trait]
pub trait RefreshFamilyStore: Send + Sync {
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
}

/// The durable back-channel logout queue (Back-Channel Logout 1.0 §2.5), shared by every instance.
#[async_trait]
pub trait LogoutQueue: Send + Sync {
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
}

/// Revoked access tokens (RFC 7009 §2.1; RFC 7662 §2.2): by `jti`, by family and by user.
#[async_trait]
pub trait AccessTokenDenylist: Send + Sync {
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
    /// Denylists every access token of a user for one client issued at or before `issued_until`
    /// (the user withdrew the client's consent: RFC 7009 §2.1, RFC 7662 §2.2), remembered until
    /// `keep_until`, when the last of them has expired. Tokens issued later (after a new consent)
    /// are not denied.
    async fn deny_client_access_tokens(
        &self,
        user_id: &str,
        client_id: &str,
        issued_until: i64,
        keep_until: i64,
    ) -> Result<(), StoreError>;
    /// Whether the token is denylisted by its `jti`, by the family it names, as one of its
    /// user's denied tokens or as one of its user's denied tokens for its client: one round trip.
    async fn is_access_token_denied(&self, token: DenyCheck<'_>) -> Result<bool, StoreError>;
}

/// Device authorization requests (RFC 8628): created at the device authorization endpoint,
/// answered once by the user at the verification page, polled by the client at the token endpoint.
/// Records are kept `keep_secs` (past the request's own expiry, so a late poll hears
/// `expired_token` rather than `invalid_grant`).
#[async_trait]
pub trait DeviceGrantStore: Send + Sync {
    /// Saves a new request under the hashes of its device code and user code; false, saving
    /// nothing, when the user code is already in use (the caller draws another).
    async fn put_device_request(
        &self,
        device_code_hash: &str,
        user_code_hash: &str,
        request: &DeviceRequest,
        keep_secs: u64,
    ) -> Result<bool, StoreError>;
    /// The request a user code stands for, and whether it has been answered.
    async fn device_request_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceLookup>, StoreError>;
    /// Records the user's answer, once: false when the request was answered already (the first
    /// answer stands, whichever of two racing ones it is).
    async fn decide_device_request(
        &self,
        device_code_hash: &str,
        decision: &DeviceDecision,
        keep_secs: u64,
    ) -> Result<bool, StoreError>;
    /// A poll by the client: the request and its answer, and whether the previous poll came less
    /// than `gate_secs` ago (this poll starts a new gate either way it was not too soon).
    async fn poll_device_request(
        &self,
        device_code_hash: &str,
        gate_secs: u64,
    ) -> Result<Option<DevicePoll>, StoreError>;
}

/// A small cache shared by every instance.
#[async_trait]
pub trait SharedCache: Send + Sync {
    /// A small shared cache with a TTL (the DingTalk app token, sealed by its user; pending logout
    /// confirmations). Values are stored as given: never put a usable credential here.
    async fn put_cached(&self, name: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError>;
    async fn get_cached(&self, name: &str) -> Result<Option<String>, StoreError>;
}

/// Leases that let one instance at a time run a job.
#[async_trait]
pub trait Leases: Send + Sync {
    /// A lease held by one instance at a time (sweeper, key rotation); true if acquired (or
    /// already held by `holder`, whose lease is then extended).
    async fn try_lock(&self, name: &str, holder: &str, ttl_secs: u64) -> Result<bool, StoreError>;
    /// Releases the lease if `holder` still holds it.
    async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// Client assertions (`private_key_jwt`, RFC 7523 §3 item 7): each is used once. The caller keeps
/// a `jti` until the assertion's expiry has passed, so a replay is refused for as long as it
/// could otherwise be accepted.
#[async_trait]
pub trait AssertionReplayStore: Send + Sync {
    /// True the first time `jti_hash` is noted; false while an earlier note of it lives (of
    /// racing callers exactly one gets true).
    async fn note_assertion_jti(&self, jti_hash: &str, keep_secs: u64) -> Result<bool, StoreError>;
}

/// Whether the backing server answers.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// Answers when the backing server does (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Everything the session store does: one trait object serves every component.
pub trait SessionStore:
    LoginRequestStore
    + CodeStore
    + DeviceGrantStore
    + AssertionReplayStore
    + SsoSessionStore
    + RefreshFamilyStore
    + LogoutQueue
    + AccessTokenDenylist
    + SharedCache
    + Leases
    + StoreHealth
{
}

impl<T> SessionStore for T where
    T: LoginRequestStore
        + CodeStore
        + DeviceGrantStore
        + AssertionReplayStore
        + SsoSessionStore
        + RefreshFamilyStore
        + LogoutQueue
        + AccessTokenDenylist
        + SharedCache
        + Leases
        + StoreHealth
        + ?Sized
{
}
