//! The background work of a running instance, each a task holding only a weak reference to the
//! [`App`], so it ends when the application is dropped.

use std::sync::Weak;
use std::time::Duration;

use crate::app::App;
use crate::store::{Leases, SqlSessionStore};
use crate::web::limits::Limits;

/// Once a minute, forget rate-limit keys that have been idle past their window.
pub fn spawn_limit_eviction(limits: Weak<Limits>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            match limits.upgrade() {
                Some(limits) => limits.evict_idle(),
                None => return,
            }
        }
    });
}

/// Every `keys.reload_interval_secs`: reload the key ring if it changed, rotate if due.
pub fn spawn_key_maintenance(app: Weak<App>) {
    tokio::spawn(async move {
        loop {
            let interval = match app.upgrade() {
                Some(app) => {
                    if let Err(e) = app.maintain_keys().await {
                        tracing::warn!(error = %e, "key maintenance failed");
                    }
                    app.config.keys.reload_interval_secs
                }
                None => return,
            };
            tokio::time::sleep(Duration::from_secs(interval)).await;
        }
    });
}

/// Deletes expired SQL session records in bounded batches, on one instance at a time (a lease in
/// the store). Reads never depend on it: every read checks `expires_at` itself.
pub fn spawn_sweeper(app: Weak<App>, store: SqlSessionStore) {
    tokio::spawn(async move {
        loop {
            let interval = match app.upgrade() {
                Some(app) => app.config.sessions.sweep_interval_secs,
                None => return,
            };
            tokio::time::sleep(Duration::from_secs(interval)).await;
            let Some(app) = app.upgrade() else { return };
            match store.try_lock("sweeper", &app.instance_id, interval.saturating_mul(2)).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "sweeper cannot take its lease");
                    continue;
                }
            }
            let batch = app.config.sessions.sweep_batch;
            loop {
                match store.sweep_expired(batch).await {
                    Ok(n) if n >= batch => continue,
                    Ok(n) => {
                        if n > 0 {
                            tracing::debug!(deleted = n, "swept expired session records");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sweeping expired session records failed");
                        break;
                    }
                }
            }
        }
    });
}
