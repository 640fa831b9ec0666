//! Consent: what a user has allowed each client (OIDC Core §3.1.2.4), and withdrawing it (a right
//! PIPL gives users: the client loses what it was given and must ask again).

use serde_json::json;

use super::{Manage, ManageError, Missing, not_found};
use crate::directory::audit::AuditKind;
use crate::revocation::Revocation;

/// Withdraws what the user allowed the client: the consent is forgotten (the next sign-in at the
/// client asks again), the client's refresh tokens and access tokens for the user die, and the
/// client is told by back-channel logout (`Revocation::revoke_client_grant`).
///
/// The consent goes first and the tokens' cut-off is read after it: a code grant that still found
/// the consent read its issue time before, so what it mints is denied; one that comes later finds no
/// consent (`oidc::grants::authorization_code`). When the session store cannot revoke, the consent
/// is put back and the error returned: the user still sees the client and can try again.
pub async fn withdraw(
    m: &Manage<'_>,
    revocation: &Revocation<'_>,
    user_id: &str,
    client_id: &str,
) -> Result<(), ManageError> {
    let missing = || not_found(Missing::Consent { user: user_id.into(), client: client_id.into() });
    let consent = m.directory.consent(user_id, client_id).await?.ok_or_else(missing)?;
    if !m.directory.withdraw_consent(user_id, client_id).await? {
        return Err(missing());
    }
    let issued_until = m.clock();
    if let Err(e) = revocation.revoke_client_grant(user_id, client_id, issued_until, m.now.max(issued_until)).await {
        if let Err(restore) = m.directory.record_consent(user_id, client_id, &consent.scopes).await {
            tracing::error!(error = %restore, "cannot put back a consent whose withdrawal failed");
        }
        return Err(e.into());
    }
    m.audit_at_client(AuditKind::ConsentWithdrawn, Some(user_id), Some(client_id), json!({})).await;
    Ok(())
}
