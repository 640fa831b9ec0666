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

/// Ends one live session of the user (the account page, the console's user page): a session id is
/// public (it is in every ID token), so the session must be the user's, or it is as good as missing.
pub async fn end_session_of_user(
    m: &Manage<'_>,
    revocation: &Revocation<'_>,
    user_id: &str,
    sid: &str,
) -> Result<SsoSession, ManageError> {
    let owned = revocation.sessions.get_sso_session(sid).await?.is_some_and(|s| s.user_id == user_id);
    if !owned {
        return Err(not_found(Missing::Session(sid.into())));
    }
    end_session(m, revocation, sid).await
}

/// Ends every live session of the user but `keep` (the account page's "sign out everywhere
/// else"); returns how many ended.
pub async fn end_other_sessions(
    m: &Manage<'_>,
    revocation: &Revocation<'_>,
    user_id: &str,
    keep: &str,
) -> Result<usize, ManageError> {
    let mut ended = 0;
    for session in revocation.sessions.sso_sessions_of_user(user_id).await? {
        if session.id == keep {
            continue;
        }
        match end_session(m, revocation, &session.id).await {
            Ok(_) => ended += 1,
            // Ended meanwhile (another tab, its absolute end): nothing left to do.
            Err(ManageError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ended)
}
