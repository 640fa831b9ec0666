//! The SessionStore: short-lived, TTL-bound state of logins in progress — pending authorizations,
//! authorization codes and their redemptions, SSO sessions, consent requests, refresh-token
//! families, the access-token denylist and the back-channel logout queue. Narrow traits by purpose
//! (`traits`), their union `SessionStore`, two backends (`sql` serves the embedded default, `redis`
//! production), one conformance suite (`tests/it/store_conformance.rs`). Nothing stored is usable as a
//! credential: secrets are kept as hashes, or sealed under a secret the store never sees.

pub mod claims;
mod codec;
mod ids;
pub mod records;
pub mod redis;
pub mod response_mode;
pub mod sql;
pub mod traits;
mod ttl;

pub use claims::{DingTalkClaim, ProfileClaims};
pub use ids::{access_token_family, code_grant_id, family_access_jti, refresh_family_id, user_client_denial_id};
pub use records::{
    AuthCode, AuthRequest, CodeGrantCompletion, CodeRedemption, ConsentRequest, DenyCheck, DeviceDecision,
    DeviceLookup, DevicePoll, DeviceRequest, LogoutDelivery, OwnPage, PendingAuth, PushedRequest, RefreshFamily,
    RefreshSuccessor, RefreshTokenState, RevokedFamily, RotateOutcome, RotateRequest, SsoSession,
};
pub use redis::{RedisSessionStore, RedisSettings};
pub use response_mode::ResponseMode;
pub use sql::SqlSessionStore;
pub use traits::{
    AccessTokenDenylist, AssertionReplayStore, CodeStore, DeviceGrantStore, Leases, LoginRequestStore, LogoutQueue,
    RefreshFamilyStore, SessionStore, SharedCache, SsoSessionStore, StoreHealth,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store did not answer (or answered with an error): an outage, not bad input.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("session store record is corrupt: {0}")]
    Corrupt(String),
}
