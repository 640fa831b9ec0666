//! Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0): a worker on every
//! instance claims due notifications from the durable queue in the SessionStore, signs a fresh
//! logout token for each attempt and POSTs it; transient failures are retried with growing delays.
//! A logout request queues its own notifications leased to itself and sends them before answering.

use std::sync::Weak;
use std::time::Duration;

use serde::Serialize;

use crate::app::App;
use crate::keys::ring::JwtType;
use crate::store::{LogoutDelivery, StoreError};

/// §2.4: the event member's key.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a claimed notification is hidden from other instances while one sends it.
const CLAIM_LEASE_SECS: u64 = 30;
const BATCH: u64 = 16;
const MAX_BACKOFF_SECS: i64 = 300;

#[derive(Debug, Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    events: serde_json::Value,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
}

/// §2.4: `iss aud iat exp jti events sub sid`, never `nonce`; typed `logout+jwt` (§2.6).
pub fn logout_token(app: &App, delivery: &LogoutDelivery, now: i64) -> Result<String, crate::keys::KeyError> {
    let claims = LogoutClaims {
        iss: &app.issuer,
        aud: &delivery.client_id,
        iat: now,
        exp: now + app.config.logout.logout_token_ttl_secs as i64,
        jti: crate::secrets::token(),
        events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        sub: &delivery.sub,
        sid: delivery.sid.as_deref(),
    };
    let ring = app.keys.ring();
    let signer =
        ring.signer_at(now).ok_or_else(|| crate::keys::KeyError::Generate("no signing key is active".into()))?;
    signer.sign(JwtType::Logout, &claims)
}

/// What one attempt came to.
#[derive(Debug, PartialEq)]
pub enum Attempt {
    Delivered,
    /// §2.8: a 400 (or another client error) will not get better by retrying.
    Refused(u16),
    /// Network error, timeout or 5xx: worth another try.
    Transient,
    /// The URI may not be called: a self-registered client's, at an address that is not public.
    NotAllowed(String),
}

pub async fn deliver_once(app: &App, delivery: &LogoutDelivery, now: i64) -> Attempt {
    let token = match logout_token(app, delivery, now) {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "cannot sign logout token");
            return Attempt::Transient;
        }
    };
    // §2.5: POST, application/x-www-form-urlencoded, `logout_token=`; the URI's query is kept.
    let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("logout_token", &token).finish();
    let http = match app.backchannel_http.for_url(&delivery.uri, delivery.public_only) {
        Ok(http) => http,
        Err(refusal) => return Attempt::NotAllowed(refusal),
    };
    let result = http
        .post(&delivery.uri)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    match result {
        Ok(resp) if resp.status().is_success() => Attempt::Delivered,
        Ok(resp) if resp.status().is_server_error() => Attempt::Transient,
        Ok(resp) => Attempt::Refused(resp.status().as_u16()),
        Err(_) => Attempt::Transient,
    }
}

/// One polling round: claim what is due and try each; returns how many were claimed.
pub async fn deliver_due(app: &App) -> usize {
    let now = app.now();
    let claimed = match app.sessions.claim_logout_deliveries(now, CLAIM_LEASE_SECS, BATCH).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the back-channel logout queue");
            return 0;
        }
    };
    let count = claimed.len();
    deliver_all(app, &claimed, now).await;
    count
}

/// Queues `deliveries` hidden from the workers for a claim's lease, then sends them from here:
/// the logout request tells its clients before it answers (RP-Initiated Logout §2) without racing
/// a worker that could claim them first and send them after the answer. A delivery that fails is
/// rescheduled as the worker would; if this instance dies first, a worker sends it after the lease.
pub async fn deliver_now(app: &App, deliveries: Vec<LogoutDelivery>) -> Result<(), StoreError> {
    let now = app.now();
    let held_until = now.saturating_add(CLAIM_LEASE_SECS as i64);
    // The browser waits for this: one store write per client, sent together rather than in turn.
    futures::future::try_join_all(deliveries.iter().map(|delivery| app.sessions.enqueue_logout(delivery, held_until)))
        .await?;
    deliver_all(app, &deliveries, now).await;
    Ok(())
}

async fn deliver_all(app: &App, deliveries: &[LogoutDelivery], now: i64) {
    // §2.3: SHOULD notify in parallel.
    futures::future::join_all(deliveries.iter().map(|delivery| deliver_and_settle(app, delivery, now))).await;
}

/// One attempt at a queued delivery, then the queue told the outcome: delivered or refused
/// (forgotten), or rescheduled with a growing delay.
async fn deliver_and_settle(app: &App, delivery: &LogoutDelivery, now: i64) {
    if now >= delivery.expires_at {
        tracing::warn!(client_id = %delivery.client_id, "back-channel logout given up after its retry window");
        let _ = app.sessions.complete_logout_delivery(&delivery.id).await;
        return;
    }
    match deliver_once(app, delivery, now).await {
        Attempt::Delivered => {
            if let Err(e) = app.sessions.complete_logout_delivery(&delivery.id).await {
                tracing::warn!(error = %e, "cannot mark logout notification delivered");
            }
        }
        Attempt::Refused(status) => {
            tracing::warn!(client_id = %delivery.client_id, status, "back-channel logout refused by the client");
            let _ = app.sessions.complete_logout_delivery(&delivery.id).await;
        }
        Attempt::NotAllowed(refusal) => {
            tracing::warn!(client_id = %delivery.client_id, %refusal, "back-channel logout not sent");
            let _ = app.sessions.complete_logout_delivery(&delivery.id).await;
        }
        Attempt::Transient => {
            let mut next = delivery.clone();
            next.attempts = delivery.attempts.saturating_add(1);
            let backoff = 1i64.checked_shl(next.attempts.min(16)).unwrap_or(MAX_BACKOFF_SECS).min(MAX_BACKOFF_SECS);
            if let Err(e) = app.sessions.retry_logout_delivery(&next, now + backoff).await {
                tracing::warn!(error = %e, "cannot reschedule logout notification");
            }
        }
    }
}

pub fn spawn_worker(app: Weak<App>) {
    tokio::spawn(async move {
        loop {
            let interval = match app.upgrade() {
                Some(app) => {
                    deliver_due(&app).await;
                    app.config.logout.poll_interval_ms
                }
                None => return,
            };
            tokio::time::sleep(Duration::from_millis(interval)).await;
        }
    });
}
