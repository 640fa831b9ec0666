//! Users: disable (every session and refresh-token family ends at once) and enable.

use serde_json::json;

use super::{Manage, ManageError, Missing, not_found};
use crate::directory::audit::AuditKind;
use crate::directory::{Directory, User};
use crate::revocation::Revocation;

/// One user.
pub async fn get(directory: &Directory, id: &str) -> Result<User, ManageError> {
    directory.user(id).await?.ok_or_else(|| not_found(Missing::User(id.into())))
}

/// Disables a user: new logins are refused, and every session, refresh-token family and access
/// token of the user ends now, their clients told.
pub async fn disable(m: &Manage<'_>, revocation: &Revocation<'_>, id: &str) -> Result<(), ManageError> {
    if !m.directory.set_user_disabled(id, true).await? {
        return Err(not_found(Missing::User(id.into())));
    }
    revocation.revoke_user(id, m.actor.surface.disable_reason(), m.now).await?;
    m.audit(AuditKind::UserDisabled, Some(id), json!({})).await;
    Ok(())
}

pub async fn enable(m: &Manage<'_>, id: &str) -> Result<(), ManageError> {
    if !m.directory.set_user_disabled(id, false).await? {
        return Err(not_found(Missing::User(id.into())));
    }
    m.audit(AuditKind::UserEnabled, Some(id), json!({})).await;
    Ok(())
}
