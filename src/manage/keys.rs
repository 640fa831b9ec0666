//! Signing keys: rotate, revoke, import, re-seal under a new key-encryption key. No private key
//! material is returned.

use serde_json::json;

use super::{Manage, ManageError};
use crate::directory::audit::AuditKind;
use crate::keys::rotation::Rotated;
use crate::keys::{Kek, Rotation};

/// Publishes a new key (or finds the pending one); it signs after keys.publish_lead_secs, or at
/// once with `immediate`.
pub async fn rotate(m: &Manage<'_>, rotation: &Rotation<'_>, immediate: bool) -> Result<Rotated, ManageError> {
    let rotated = rotation.rotate(m.now, immediate).await?;
    m.keys_changed().await?;
    m.audit(AuditKind::KeyRotated, Some(&rotated.kid), json!({ "created": rotated.created })).await;
    Ok(rotated)
}

/// Revokes a compromised key: it leaves the JWKS now. Returns the key that signs from now, when
/// the revoked one was signing.
pub async fn revoke(m: &Manage<'_>, rotation: &Rotation<'_>, kid: &str) -> Result<Option<String>, ManageError> {
    let replacement = rotation.revoke(kid, m.now).await?;
    m.keys_changed().await?;
    m.audit(AuditKind::KeyRevoked, Some(kid), json!({ "replacement": replacement })).await;
    Ok(replacement)
}

/// Brings an existing RSA key (PEM); returns its kid.
pub async fn import(
    m: &Manage<'_>,
    rotation: &Rotation<'_>,
    pem: &str,
    immediate: bool,
) -> Result<String, ManageError> {
    let kid = rotation.import(pem, m.now, immediate).await?;
    m.keys_changed().await?;
    m.audit(AuditKind::KeyImported, Some(&kid), json!({})).await;
    Ok(kid)
}

/// Re-seals every private key under `new`; returns how many.
pub async fn rewrap(m: &Manage<'_>, rotation: &Rotation<'_>, new: &Kek) -> Result<usize, ManageError> {
    let count = rotation.rewrap(new).await?;
    m.audit(AuditKind::KeysRewrapped, None, json!({ "kek_id": new.id(), "count": count })).await;
    Ok(count)
}
