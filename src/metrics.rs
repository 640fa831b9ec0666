//! Prometheus metrics (`/metrics`, text format). The recorder is process-wide by the `metrics`
//! crate's design; it is installed once and every App shares its handle.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder handle (installed on first use; `None` if another recorder was
/// installed first, in which case `/metrics` says so).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .clone()
}

/// Drains recorded histogram samples into their buckets every few seconds. `install_recorder`
/// leaves this to the caller: without it every latency sample stays in memory until the next
/// `/metrics` scrape, which under load without a scraper grows without bound. Started once per
/// process, from a tokio runtime.
pub fn spawn_upkeep() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let Some(handle) = handle() else { return };
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    });
}

/// Counts one HTTP request by route and status and records its latency. The handles are looked
/// up once per (route, status) and kept: the `counter!` macro would build and hash the label set
/// on every request.
pub fn http_request(route: &'static str, status: u16, seconds: f64) {
    type Handles = (metrics::Counter, metrics::Histogram);
    static HANDLES: OnceLock<RwLock<HashMap<(&'static str, u16), Handles>>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    if let Some((requests, duration)) = handles.read().unwrap_or_else(|p| p.into_inner()).get(&(route, status)) {
        requests.increment(1);
        duration.record(seconds);
        return;
    }
    let status_label = status.to_string();
    let requests =
        metrics::counter!("dingtalk_oidc_http_requests_total", "route" => route, "status" => status_label.clone());
    let duration =
        metrics::histogram!("dingtalk_oidc_http_request_duration_seconds", "route" => route, "status" => status_label);
    requests.increment(1);
    duration.record(seconds);
    handles.write().unwrap_or_else(|p| p.into_inner()).insert((route, status), (requests, duration));
}

/// Counts a token-endpoint grant that issued tokens.
pub fn token_issued(grant: &'static str) {
    metrics::counter!("dingtalk_oidc_tokens_issued_total", "grant" => grant).increment(1);
}

pub fn refresh_reuse_detected() {
    metrics::counter!("dingtalk_oidc_refresh_reuse_detected_total").increment(1);
}

pub fn store_error(backend: &'static str) {
    metrics::counter!("dingtalk_oidc_store_errors_total", "backend" => backend).increment(1);
}

/// The outcome of a DingTalk call that succeeded.
pub const DINGTALK_OK: &str = "ok";

/// One call to DingTalk: which endpoint, how it ended, and how long it took. The outcome is
/// [`DINGTALK_OK`] or the error's `DingTalkError::log_code`: `oapi:<errcode>` (`oapi:88/<sub_code>`)
/// for an oapi error inside HTTP 200, `api:<code>` for a v1.0 error body, `http:<status>` for an
/// error status without one, `timeout`, `transport` or `decode`.
pub fn dingtalk_call(endpoint: &str, outcome: &str, seconds: f64) {
    metrics::counter!("dingtalk_oidc_dingtalk_requests_total", "endpoint" => endpoint.to_string(), "outcome" => outcome.to_string())
        .increment(1);
    metrics::histogram!("dingtalk_oidc_dingtalk_request_duration_seconds", "endpoint" => endpoint.to_string())
        .record(seconds);
}
