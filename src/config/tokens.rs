//! The `[tokens]` table, and the fixed bounds on token lifetimes that it and every client's own
//! lifetimes must keep.

use serde::{Deserialize, Serialize};

/// The shortest lifetime that may be configured: a token must survive clock skew
/// (`tokens.leeway_secs`) and the round trips of its first use.
pub const MIN_TOKEN_TTL_SECS: u64 = 60;

/// The longest lifetime any access or ID token may have, global or per client. It is a fixed
/// bound, not the largest value configured, because what must outlive every token we sign is
/// sized by it without reading every client's registration:
/// - a retired signing key stays published in the JWKS this long (plus leeway) after it stops
///   signing (`app::retire_grace_secs`, docs/runbooks.md), so a token signed just before a
///   rotation still verifies until it expires;
/// - denials written when a user is revoked or a code is replayed are kept this long (plus leeway
///   and the code lifetime: `TokensConfig::denial_lifetime_secs`), so no access token they deny
///   outlives its denial.
///
/// A day covers the session of applications that keep the ID token as their session (Argo CD:
/// docs/connecting-apps.md) for a working day, and keeps the cost small: retired keys and
/// denials are held for a day.
pub const MAX_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// A lifetime within [`MIN_TOKEN_TTL_SECS`, `MAX_TOKEN_TTL_SECS`], or why not.
pub fn check_token_ttl(secs: u64) -> Result<(), String> {
    if (MIN_TOKEN_TTL_SECS..=MAX_TOKEN_TTL_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(format!(
            "must be between {MIN_TOKEN_TTL_SECS} and {MAX_TOKEN_TTL_SECS} seconds (24 h), not {secs}: retired signing \
             keys and token denials are kept only as long as the longest token may live"
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokensConfig {
    /// Per client overridable; 60 s to 24 h (`MAX_TOKEN_TTL_SECS`).
    pub access_token_ttl_secs: u64,
    /// Per client overridable; 60 s to 24 h (`MAX_TOKEN_TTL_SECS`).
    pub id_token_ttl_secs: u64,
    /// RFC 6749 §4.1.2: codes live briefly; one minute.
    pub code_ttl_secs: u64,
    /// How long a user may take at DingTalk's login page.
    pub pending_auth_ttl_secs: u64,
    /// RFC 8628 §3.2 `expires_in`: how long a device's user has to enter its code and approve.
    pub device_code_ttl_secs: u64,
    /// RFC 8628 §3.2 `interval`: the seconds a device waits between polls of the token endpoint.
    pub device_poll_interval_secs: u64,
    /// RFC 9126 §2.2 `expires_in`: how long a pushed authorization request's `request_uri` may
    /// be used (once) at the authorization endpoint.
    pub pushed_request_ttl_secs: u64,
    /// Lifetime of the browser's single-sign-on session.
    pub sso_session_ttl_secs: u64,
    /// Seconds of clock skew tolerated when verifying our own tokens.
    pub leeway_secs: u64,
    /// RFC 9700 §2.1.1 recommends PKCE for confidential clients too; public clients always need it.
    pub require_pkce_for_confidential: bool,
    /// Refresh tokens expire after this long unused (RFC 9700 §4.14.2); per client overridable.
    pub refresh_idle_ttl_secs: u64,
    /// A refresh-token family ends this long after the login that started it; per client overridable.
    pub refresh_absolute_ttl_secs: u64,
    /// A retry of the same refresh token within this window gets the same successor.
    pub refresh_grace_secs: u64,
    /// At most this often a refresh asks DingTalk whether the user is still a member and active.
    pub upstream_recheck_secs: u64,
    /// While DingTalk is unreachable, refreshes still succeed this long after the last good check.
    pub upstream_tolerance_secs: u64,
    /// An SSO session unused this long needs a new DingTalk login.
    pub sso_session_idle_secs: u64,
    /// Access tokens remembered as verified per instance (0: verify every time).
    pub verified_token_cache: usize,
    /// How long an instance trusts the denylist's "not revoked" before asking the store again (0: always ask).
    pub denylist_recheck_ms: u64,
}

impl TokensConfig {
    /// How long a denial of access tokens issued up to now must be kept: the longest one of them
    /// is accepted (leeway included), also one minted from a code issued just before. Access
    /// lifetimes are per client, so the longest is the fixed bound on all of them, not
    /// `access_token_ttl_secs` (`MAX_TOKEN_TTL_SECS`).
    pub fn denial_lifetime_secs(&self) -> i64 {
        let secs = MAX_TOKEN_TTL_SECS.saturating_add(self.leeway_secs).saturating_add(self.code_ttl_secs);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            code_ttl_secs: 60,
            pending_auth_ttl_secs: 600,
            device_code_ttl_secs: 600,
            device_poll_interval_secs: 5,
            pushed_request_ttl_secs: 60,
            sso_session_ttl_secs: 8 * 3600,
            leeway_secs: 30,
            require_pkce_for_confidential: false,
            refresh_idle_ttl_secs: 14 * 24 * 3600,
            refresh_absolute_ttl_secs: 30 * 24 * 3600,
            refresh_grace_secs: 10,
            upstream_recheck_secs: 300,
            upstream_tolerance_secs: 3600,
            sso_session_idle_secs: 2 * 3600,
            verified_token_cache: 4096,
            denylist_recheck_ms: 1000,
        }
    }
}
