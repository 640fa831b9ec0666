//! Operations endpoints: `/healthz` (the process serves HTTP), `/readyz` (the directory and the
//! session store answer, a key can sign and the instance is not shutting down), `/metrics`
//! (Prometheus text format; on `server.metrics_listen` instead when that is set).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};
use serde_json::json;

use crate::app::App;

/// Liveness: the process is up and serving HTTP.
#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when SQL and the session store answer and the key ring can sign; 503 (with what
/// is wrong) otherwise, so a load balancer stops sending traffic here. A draining instance (see
/// `drain`) answers 503 `draining` at once: it still answers what reaches it, but is going away.
#[handler]
pub async fn readyz(app: Data<&Arc<App>>) -> Response {
    if app.drain.is_draining() {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("application/json")
            .header("cache-control", "no-store")
            .body(json!({ "status": "draining" }).to_string());
    }
    let bound = std::time::Duration::from_secs(2);
    // Both at once: a partitioned database and session store answer within one bound, not two.
    let (sql, sessions) = tokio::join!(
        tokio::time::timeout(bound, app.directory.connection().ping()),
        tokio::time::timeout(bound, app.sessions.ping()),
    );
    let (sql, sessions) = (matches!(sql, Ok(Ok(()))), matches!(sessions, Ok(Ok(()))));
    let keys = app.keys.ring().signer_at(app.now()).is_some();
    let ready = sql && sessions && keys;
    let body = json!({ "status": if ready { "ready" } else { "unavailable" }, "sql": sql, "sessions": sessions, "keys": keys });
    Response::builder()
        .status(if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE })
        .content_type("application/json")
        .header("cache-control", "no-store")
        .body(body.to_string())
}

/// Prometheus text format. Key-ring gauges are set, and the process families read, at scrape time.
#[handler]
pub async fn metrics(app: Data<&Arc<App>>) -> Response {
    let now = app.now();
    if let Ok(keys) = app.rotation().list(now).await {
        let active = keys.iter().find(|k| k.state == crate::keys::KeyState::Active);
        if let Some(active) = active {
            ::metrics::gauge!("dingtalk_oidc_signing_key_age_seconds").set((now - active.activates_at) as f64);
        }
        if let Some(newest) =
            keys.iter().filter(|k| k.state != crate::keys::KeyState::Revoked).map(|k| k.created_at).max()
        {
            let next = newest + app.config.keys.rotation_period_secs as i64 - now;
            ::metrics::gauge!("dingtalk_oidc_signing_key_next_rotation_seconds").set(next as f64);
        }
        ::metrics::gauge!("dingtalk_oidc_signing_keys_published").set(
            keys.iter()
                .filter(|k| {
                    matches!(
                        k.state,
                        crate::keys::KeyState::Pending | crate::keys::KeyState::Active | crate::keys::KeyState::Retired
                    )
                })
                .count() as f64,
        );
    }
    match crate::metrics::handle() {
        Some(handle) => {
            Response::builder().content_type("text/plain; version=0.0.4").body(crate::metrics::render(&handle))
        }
        None => Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body("metrics recorder unavailable"),
    }
}
