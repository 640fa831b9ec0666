//! Initial access tokens for dynamic client registration (RFC 7591 §3): an admin issues one (shown
//! once), lists them (never the tokens) and revokes one. Clients registered with a token are
//! written by `manage::clients`, with the token's id as the actor.

use serde_json::json;

use super::{Manage, ManageError, Missing, not_found};
use crate::directory::Directory;
use crate::directory::audit::AuditKind;
use crate::directory::registration::InitialAccessToken;

/// The longest life of an initial access token: registration is a door; it should not stay open
/// by accident.
pub const MAX_INITIAL_TOKEN_TTL_SECS: u64 = 90 * 24 * 3600;

/// A day, unless the admin says otherwise: long enough to hand over, short enough to be forgotten
/// safely.
pub const DEFAULT_INITIAL_TOKEN_TTL_SECS: u64 = 86400;

/// Issues a token for `ttl_secs` (1 s to 90 days); the token comes back here only.
pub async fn issue(
    m: &Manage<'_>,
    description: &str,
    ttl_secs: u64,
) -> Result<(InitialAccessToken, String), ManageError> {
    if !(1..=MAX_INITIAL_TOKEN_TTL_SECS).contains(&ttl_secs) {
        let problem = format!("expires_in: from 1 to {MAX_INITIAL_TOKEN_TTL_SECS} seconds");
        return Err(ManageError::Directory(crate::directory::DirectoryError::Invalid(problem)));
    }
    let expires_at = m.now + ttl_secs as i64;
    let (token, secret) = m.directory.issue_initial_token(description, m.now, expires_at).await?;
    m.audit(AuditKind::InitialTokenIssued, Some(&token.id), json!({})).await;
    Ok((token, secret))
}

pub async fn list(directory: &Directory) -> Result<Vec<InitialAccessToken>, ManageError> {
    Ok(directory.list_initial_tokens().await?)
}

/// Revokes a token: no new client can be registered with it (those registered stay).
pub async fn revoke(m: &Manage<'_>, id: &str) -> Result<(), ManageError> {
    if !m.directory.revoke_initial_token(id).await? {
        return Err(not_found(Missing::InitialToken(id.into())));
    }
    m.audit(AuditKind::InitialTokenRevoked, Some(id), json!({})).await;
    Ok(())
}
