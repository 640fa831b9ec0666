//! The fixed bounds of every access and ID token lifetime, global or per client (`tokens::lifetime`
//! applies them). A leaf: the configuration and the client registry validate against it.

/// The shortest lifetime that may be configured: a token must survive clock skew
/// (`tokens.leeway_secs`) and the round trips of its first use.
pub const MIN_TOKEN_TTL_SECS: u64 = 60;

/// The longest lifetime any access or ID token may have, global or per client. It is a fixed
/// bound, not the largest value configured, because what must outlive every token we sign is
/// sized by it without reading every client's registration:
/// - a retired signing key stays published in the JWKS this long (plus leeway) after it stops
///   signing (`keys::maintenance::retire_grace_secs`, docs/runbooks.md), so a token signed just before a
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
