//! The signing-key lifecycle (docs/architecture.md, "Signing keys"): pending (published, not signing) → active (signing) →
//! retired (published, not signing) → removed. A new key is published `publish_lead` before it
//! signs (OIDC Core §10.1.1), and a retired key stays published until every token it signed has
//! expired. Changes are made under a lease in the SessionStore, so with many instances exactly one
//! makes each change; every instance picks them up within `keys.reload_interval_secs`.

use std::time::Duration;

use serde::Serialize;

use super::ring::{choose_signer, is_published};
use super::{Kek, KeyError, import_pem, store_signing_key};
use crate::config::KeysConfig;
use crate::directory::Directory;
use crate::directory::signing_keys::SigningKeyRow;
use crate::store::SessionStore;

pub(crate) const LOCK: &str = "signing-keys";
const LOCK_TTL_SECS: u64 = 30;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Pending,
    Active,
    Retired,
    Removed,
    Revoked,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyInfo {
    pub kid: String,
    pub state: KeyState,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
    pub removed_at: Option<i64>,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotated {
    pub kid: String,
    pub activates_at: i64,
    /// False when a pending key already existed (the rotation was already under way).
    pub created: bool,
}

/// Everything a key change needs.
pub struct Rotation<'a> {
    pub directory: &'a Directory,
    pub kek: &'a Kek,
    pub sessions: &'a dyn SessionStore,
    pub config: &'a KeysConfig,
    /// How long a retired key stays published: the longest token lifetime plus clock-skew leeway.
    pub retire_grace_secs: i64,
    /// Names this instance when it holds the lease.
    pub holder: &'a str,
}

impl Rotation<'_> {
    pub async fn list(&self, now: i64) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self.schedule(now).await?.0)
    }

    /// The keys and when the schedule publishes the next one (`None` while one is pending): what
    /// the console draws.
    pub async fn schedule(&self, now: i64) -> Result<(Vec<KeyInfo>, Option<i64>), KeyError> {
        let rows = self.directory.signing_keys().await?;
        let next = next_rotation_at(&rows, now, self.config);
        let signer = choose_signer(&rows, now).map(|r| r.kid.clone());
        let keys = rows
            .iter()
            .map(|r| KeyInfo {
                kid: r.kid.clone(),
                state: if r.revoked {
                    KeyState::Revoked
                } else if r.removed_at.is_some_and(|t| t <= now) {
                    KeyState::Removed
                } else if r.activates_at > now {
                    KeyState::Pending
                } else if signer.as_deref() == Some(r.kid.as_str()) {
                    KeyState::Active
                } else {
                    KeyState::Retired
                },
                created_at: r.created_at,
                activates_at: r.activates_at,
                retires_at: r.retires_at,
                removed_at: r.removed_at,
            })
            .collect::<Vec<_>>();
        Ok((keys, next))
    }

    /// `keys rotate`: a new key, published now and signing after `publish_lead` (or at once with
    /// `immediate`, which caches that hold the old JWKS will not know). Idempotent while a key is
    /// pending: 20 concurrent calls make one key.
    pub async fn rotate(&self, now: i64, immediate: bool) -> Result<Rotated, KeyError> {
        let lease = self.lock().await?;
        let result = self.rotate_locked(now, immediate, false, None).await;
        self.unlock(lease).await;
        result?.ok_or_else(|| KeyError::Generate("rotation did nothing".into()))
    }

    /// The schedule: rotate when the newest key is `rotation_period` old; one instance does it.
    pub async fn rotate_if_due(&self, now: i64) -> Result<Option<Rotated>, KeyError> {
        let rows = self.directory.signing_keys().await?;
        if !rotation_due(&rows, now, self.config) {
            return Ok(None);
        }
        let lease = self.lease();
        if !self.sessions.try_lock(LOCK, &lease, LOCK_TTL_SECS).await.map_err(store_err)? {
            return Ok(None);
        }
        let result = self.rotate_locked(now, false, true, None).await;
        self.unlock(lease).await;
        result
    }

    /// `except`: a key that must not be promoted (the one being revoked).
    async fn rotate_locked(
        &self,
        now: i64,
        immediate: bool,
        only_if_due: bool,
        except: Option<&str>,
    ) -> Result<Option<Rotated>, KeyError> {
        let rows = self.directory.signing_keys().await?;
        if only_if_due && !rotation_due(&rows, now, self.config) {
            return Ok(None);
        }
        let signer = choose_signer(&rows, now).cloned();
        let pending = rows
            .iter()
            .filter(|r| is_published(r, now) && r.activates_at > now && Some(r.kid.as_str()) != except)
            .max_by_key(|r| r.activates_at);
        if let Some(pending) = pending {
            let mut pending = pending.clone();
            if immediate {
                pending.activates_at = now;
                self.directory.update_signing_key(&pending).await?;
                self.retire(signer, now).await?;
            }
            return Ok(Some(Rotated { kid: pending.kid, activates_at: pending.activates_at, created: false }));
        }
        let activates_at = if immediate { now } else { now + self.config.publish_lead_secs as i64 };
        let kid =
            store_signing_key(self.directory, self.kek, super::generate_off_thread().await?, now, activates_at).await?;
        self.retire(signer, activates_at).await?;
        tracing::info!(kid = %kid, activates_at, "new signing key published");
        Ok(Some(Rotated { kid, activates_at, created: true }))
    }

    /// The old signer stops signing at `at` and stays published until its tokens have expired.
    async fn retire(&self, signer: Option<SigningKeyRow>, at: i64) -> Result<(), KeyError> {
        if let Some(mut old) = signer {
            old.retires_at = Some(at);
            old.removed_at = Some(at + self.retire_grace_secs);
            self.directory.update_signing_key(&old).await?;
        }
        Ok(())
    }

    /// `keys revoke`: a compromised key leaves the JWKS at once (its tokens stop verifying on every
    /// instance within the reload bound) and, if it was signing, another key signs at once.
    ///
    /// The replacement is written before the revocation: an instance that reloads its ring between
    /// the two writes then still has a signer (for those milliseconds the revoked key is published
    /// beside it), where the other order left it with none until its next reload and /token answered
    /// 503 meanwhile (a new key takes a moment to generate).
    pub async fn revoke(&self, kid: &str, now: i64) -> Result<Option<String>, KeyError> {
        let lease = self.lock().await?;
        let result = async {
            let rows = self.directory.signing_keys().await?;
            if !rows.iter().any(|r| r.kid == kid) {
                return Err(KeyError::Unusable { kid: kid.to_string(), reason: "no such key".into() });
            }
            let was_signer = choose_signer(&rows, now).is_some_and(|s| s.kid == kid);
            let others: Vec<SigningKeyRow> = rows.into_iter().filter(|r| r.kid != kid).collect();
            let replacement = if was_signer || choose_signer(&others, now).is_none() {
                self.rotate_locked(now, true, false, Some(kid)).await?.map(|r| r.kid)
            } else {
                None
            };
            // Read again: making the replacement retired this row when it was the signer.
            let rows = self.directory.signing_keys().await?;
            let Some(row) = rows.into_iter().find(|r| r.kid == kid) else {
                return Err(KeyError::Unusable { kid: kid.to_string(), reason: "no such key".into() });
            };
            let mut revoked = row;
            revoked.revoked = true;
            revoked.removed_at = Some(now);
            self.directory.update_signing_key(&revoked).await?;
            tracing::warn!(kid, "signing key revoked");
            Ok(replacement)
        }
        .await;
        self.unlock(lease).await;
        result
    }

    /// `keys import --pem`: bring an existing key; it is published now and signs after the lead
    /// (or at once).
    pub async fn import(&self, pem: &str, now: i64, immediate: bool) -> Result<String, KeyError> {
        let key = import_pem(pem)?;
        let lease = self.lock().await?;
        let result = async {
            let rows = self.directory.signing_keys().await?;
            let signer = choose_signer(&rows, now).cloned();
            let activates_at = if immediate { now } else { now + self.config.publish_lead_secs as i64 };
            let kid = store_signing_key(self.directory, self.kek, key, now, activates_at).await?;
            self.retire(signer, activates_at).await?;
            Ok(kid)
        }
        .await;
        self.unlock(lease).await;
        result
    }

    /// `keys rewrap`: seal every private key under `new_kek` (KEK rotation). Returns how many.
    pub async fn rewrap(&self, new_kek: &Kek) -> Result<usize, KeyError> {
        let lease = self.lock().await?;
        let result = async {
            let mut count = 0;
            for mut row in self.directory.signing_keys().await? {
                if row.revoked || row.kek_id == new_kek.id() {
                    continue;
                }
                if row.kek_id != self.kek.id() {
                    return Err(KeyError::Kek(format!(
                        "key {} is sealed with key-encryption key {}, not the configured one ({})",
                        row.kid,
                        row.kek_id,
                        self.kek.id()
                    )));
                }
                let der = self.kek.open(row.kid.as_bytes(), &row.private_key_enc)?;
                row.private_key_enc = new_kek.seal(row.kid.as_bytes(), &der)?;
                row.kek_id = new_kek.id().to_string();
                self.directory.update_signing_key(&row).await?;
                count += 1;
            }
            Ok(count)
        }
        .await;
        self.unlock(lease).await;
        result
    }

    /// The holder name of one key change. The store's lease is re-entrant for its holder (the
    /// sweeper renews its lease by taking it again), so naming the instance alone would let two key
    /// changes on one instance (the scheduler and an admin rotation) both hold it and both make a key.
    fn lease(&self) -> String {
        format!("{}/{}", self.holder, crate::secrets::token())
    }

    /// Waits (bounded) for the lease: concurrent rotations queue rather than fail.
    async fn lock(&self) -> Result<String, KeyError> {
        let lease = self.lease();
        for _ in 0..200 {
            if self.sessions.try_lock(LOCK, &lease, LOCK_TTL_SECS).await.map_err(store_err)? {
                return Ok(lease);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(KeyError::Generate("another instance holds the signing-key lease".into()))
    }

    async fn unlock(&self, lease: String) {
        if let Err(e) = self.sessions.unlock(LOCK, &lease).await {
            tracing::warn!(error = %e, "cannot release the signing-key lease");
        }
    }
}

fn rotation_due(rows: &[SigningKeyRow], now: i64, config: &KeysConfig) -> bool {
    next_rotation_at(rows, now, config).is_some_and(|at| now >= at)
}

/// When the schedule publishes the next key: `rotation_period` after the newest key that was not
/// revoked (now, with none), and not while a key is pending (`None`).
fn next_rotation_at(rows: &[SigningKeyRow], now: i64, config: &KeysConfig) -> Option<i64> {
    if rows.iter().any(|r| is_published(r, now) && r.activates_at > now) {
        return None;
    }
    let newest = rows.iter().filter(|r| !r.revoked).map(|r| r.created_at).max();
    Some(newest.map_or(now, |created| created.saturating_add(config.rotation_period_secs as i64)))
}

fn store_err(e: crate::store::StoreError) -> KeyError {
    KeyError::Generate(format!("session store: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kid: &str, created: i64, activates: i64, revoked: bool) -> SigningKeyRow {
        SigningKeyRow {
            kid: kid.into(),
            alg: "RS256".into(),
            private_key_enc: String::new(),
            kek_id: String::new(),
            public_jwk: String::new(),
            created_at: created,
            activates_at: activates,
            retires_at: None,
            removed_at: None,
            revoked,
        }
    }

    #[test]
    fn the_next_rotation_is_a_period_after_the_newest_unrevoked_key_and_never_while_one_waits() {
        let config = KeysConfig { rotation_period_secs: 1000, ..KeysConfig::default() };
        let (old, newer) = (row("a", 0, 0, false), row("b", 500, 500, false));
        assert_eq!(next_rotation_at(&[old.clone(), newer.clone()], 600, &config), Some(1500));
        assert!(!rotation_due(&[old.clone(), newer.clone()], 1499, &config));
        assert!(rotation_due(&[old.clone(), newer], 1500, &config));
        // A revoked key does not count: the schedule runs from the newest one still standing.
        assert_eq!(next_rotation_at(&[old.clone(), row("r", 800, 800, true)], 900, &config), Some(1000));
        // A key waiting to sign: the rotation is under way, nothing is scheduled.
        assert_eq!(next_rotation_at(&[old.clone(), row("p", 900, 5000, false)], 1200, &config), None);
        assert!(!rotation_due(&[old, row("p", 900, 5000, false)], 1200, &config));
        // No key at all: at once.
        assert_eq!(next_rotation_at(&[], 77, &config), Some(77));
    }
}
