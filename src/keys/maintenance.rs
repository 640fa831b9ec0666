//! Keeping every instance's key ring current (docs/architecture.md, "Signing keys"): the scheduled rotation, and picking
//! up key changes made elsewhere or due by time. The start-up runs [`maintain_keys`] every
//! `keys.reload_interval_secs`; the admin API after each key change.

use super::{KeyError, KeyRing, Keys, RingSchedule, Rotation};
use crate::config::{Config, KeysConfig};
use crate::directory::audit::AuditEvent;

/// When the ring's keys change by time.
pub fn ring_schedule(config: &KeysConfig) -> RingSchedule {
    RingSchedule { rotation_period_secs: config.rotation_period_secs as i64 }
}

/// How long a retired key stays published: the longest token it signed, plus clock skew. Access and
/// ID token lifetimes are per client, so the longest is their fixed bound
/// (`config::MAX_TOKEN_TTL_SECS`), not the global `tokens.*_ttl_secs`.
pub fn retire_grace_secs(config: &Config) -> i64 {
    let longest = crate::config::MAX_TOKEN_TTL_SECS.max(config.logout.logout_token_ttl_secs);
    i64::try_from(longest.saturating_add(config.tokens.leeway_secs)).unwrap_or(i64::MAX)
}

/// Performs the scheduled rotation if due (one instance does it, under the lease), then reloads
/// `keys` if the stored keys changed or the ring's next change by time has come.
pub async fn maintain_keys(rotation: &Rotation<'_>, keys: &Keys, now: i64) -> Result<(), KeyError> {
    if let Some(rotated) = rotation.rotate_if_due(now).await? {
        tracing::info!(kid = %rotated.kid, "scheduled key rotation");
        let event = AuditEvent {
            kind: crate::directory::audit::AuditKind::KeyRotated,
            actor: Some("scheduler".into()),
            subject: Some(rotated.kid.clone()),
            client_id: None,
            detail: serde_json::json!({ "activates_at": rotated.activates_at }),
        };
        if let Err(e) = rotation.directory.record_audit(now, event).await {
            tracing::error!(error = %e, "cannot record audit event");
        }
    }
    let rows = rotation.directory.signing_keys().await?;
    let ring = keys.ring();
    let changed = super::ring::fingerprint(&rows) != ring.fingerprint();
    if changed || ring.next_change().is_some_and(|t| now >= t) {
        let rebuilt = KeyRing::from_rows(&rows, rotation.kek, now, ring_schedule(rotation.config))?;
        keys.replace(rebuilt);
    }
    Ok(())
}
