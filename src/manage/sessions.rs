//! SSO sessions: end all of a user's, or one.

use serde_json::json;

use super::{Manage, ManageError, Missing, not_found};
use crate::directory::audit::AuditKind;
use crate::revocation::Revocation;
use crate::store::SsoSession;

/// Ends every session of an existing user and revokes all the user's refresh tokens.
pub async fn revoke_user_sessions(
    m: &Manage<'_>,
    revocation: &Revocation<'_>,
    user_id: &str,
) -> Result<(), ManageError> {
    let user = super::users::get(m.directory, user_id).await?;
    revocation.revoke_user(&user.id, m.actor.surface.revoke_reason(), m.now).await?;
    m.audit(AuditKind::SessionsRevoked, Some(&user.id), json!({})).await;
    Ok(())
}

/// Ends one live session: its session-bound refresh tokens die and its clients are notified.
pub async fn end_session(m: &Manage<'_>, revocation: &Revocation<'_>, sid: &str) -> Result<SsoSession, ManageError> {
    let session = revocation.sessions.get_sso_session(sid).await?;
    let session = session.ok_or_else(|| not_found(Missing::Session(sid.into())))?;
    revocation.end_session(&session, m.now).await?;
    m.audit(AuditKind::SessionRevoked, Some(&session.user_id), json!({})).await;
    Ok(session)
}
