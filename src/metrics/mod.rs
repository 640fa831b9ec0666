//! Prometheus metrics (`/metrics`, text format). The recorder is process-wide by the `metrics`
//! crate's design; it is installed once and every App shares its handle. Every family is listed in
//! [`FAMILIES`] with its help text (the exposition's `# HELP` line; README, "Metrics", has the same
//! table); the process families come from [`process`], the DingTalk error-code label from
//! [`dingtalk_codes`].

pub mod dingtalk_codes;
pub mod process;

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Every family this crate records through the `metrics` macros: name, Prometheus type, help
/// text. A family recorded elsewhere in the sources but missing here fails
/// `tests::every_recorded_family_has_help_text`.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    ("dingtalk_oidc_http_requests_total", "counter", "HTTP requests answered, by route and status."),
    (
        "dingtalk_oidc_http_request_duration_seconds",
        "histogram",
        "Time taken to answer an HTTP request, by route and status.",
    ),
    ("dingtalk_oidc_tokens_issued_total", "counter", "Token-endpoint grants that issued tokens, by grant type."),
    (
        "dingtalk_oidc_refresh_reuse_detected_total",
        "counter",
        "Rotated-away refresh tokens presented again; each revokes its family (RFC 9700 section 4.14.2).",
    ),
    ("dingtalk_oidc_store_errors_total", "counter", "Failed calls to the SQL database or Redis, by backend."),
    (
        "dingtalk_oidc_dingtalk_requests_total",
        "counter",
        "Calls to DingTalk, by endpoint, outcome and the error code DingTalk answered with (errcode).",
    ),
    ("dingtalk_oidc_dingtalk_request_duration_seconds", "histogram", "Time a call to DingTalk took, by endpoint."),
    ("dingtalk_oidc_logins_total", "counter", "Finished DingTalk sign-ins (callbacks), by outcome."),
    ("dingtalk_oidc_signing_key_age_seconds", "gauge", "Seconds since the active signing key began to sign."),
    (
        "dingtalk_oidc_signing_key_next_rotation_seconds",
        "gauge",
        "Seconds until the next scheduled signing-key rotation (negative: overdue).",
    ),
    ("dingtalk_oidc_signing_keys_published", "gauge", "Signing keys published in the JWKS (pending, active, retired)."),
];

/// Help text and type for every family.
fn describe() {
    for (name, kind, help) in FAMILIES {
        match *kind {
            "counter" => metrics::describe_counter!(*name, *help),
            "gauge" => metrics::describe_gauge!(*name, *help),
            _ => metrics::describe_histogram!(*name, *help),
        }
    }
}

/// Every login outcome at zero (a counter that appears only at its first increment breaks `rate()`
/// and `increase()` over the moment it appears). The start-up passes the labels of every
/// `login::outcome::LoginOutcome` once the recorder is installed.
pub fn count_logins_from_zero(outcomes: impl IntoIterator<Item = &'static str>) {
    for outcome in outcomes {
        metrics::counter!("dingtalk_oidc_logins_total", "outcome" => outcome).increment(0);
    }
}

/// The exposition: everything recorded, then the process families read now.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    process::Sample::read().render(&mut text);
    text
}

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
                .inspect(|_| describe())
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

/// One call to DingTalk: which endpoint, how it ended, and how long it took. `outcome` is
/// [`DINGTALK_OK`] or the error's `DingTalkError::outcome` (`oapi_error`, `api_error`,
/// `http_error`, `timeout`, `transport`, `decode`, `config`); `errcode` the code DingTalk answered
/// with (`DingTalkError::upstream_code`: `60121`, `88/60011`, `InvalidAuthentication`, or the
/// status of an error status without a DingTalk body), bounded by [`dingtalk_codes`], and `None`
/// when there is none.
pub fn dingtalk_call(endpoint: &str, outcome: &'static str, errcode: Option<&str>, seconds: f64) {
    let errcode = errcode.map(dingtalk_codes::label).unwrap_or_default();
    metrics::counter!(
        "dingtalk_oidc_dingtalk_requests_total",
        "endpoint" => endpoint.to_string(),
        "outcome" => outcome,
        "errcode" => errcode
    )
    .increment(1);
    metrics::histogram!("dingtalk_oidc_dingtalk_request_duration_seconds", "endpoint" => endpoint.to_string())
        .record(seconds);
}

/// One finished DingTalk callback (`oidc::callback`), by how it ended (`LoginOutcome::label`).
pub fn login(outcome: &'static str) {
    metrics::counter!("dingtalk_oidc_logins_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::FAMILIES;

    /// Every `counter!`, `gauge!` and `histogram!` family name written in `src/`, with its macro.
    fn recorded_families() -> BTreeMap<String, String> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.extend(macro_names(&text).into_iter().map(|(kind, name)| {
                        let name = name.unwrap_or_else(|| {
                            panic!("{}: a {kind}! without a literal family name; write the name out", path.display())
                        });
                        (name, kind)
                    }));
                }
            }
        }
        let mut found = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        let mut families = BTreeMap::new();
        for (name, kind) in found {
            if let Some(other) = families.insert(name.clone(), kind.clone()) {
                assert_eq!(other, kind, "{name} is recorded both as a {other} and as a {kind}");
            }
        }
        families
    }

    /// The macro calls in `text`: (macro, the literal name if the first argument is one). A
    /// `describe_counter!` and the like are not recordings; the names are spelled with `concat!`
    /// so this function does not find itself.
    fn macro_names(text: &str) -> Vec<(String, Option<String>)> {
        let mut calls = Vec::new();
        for kind in ["counter", "gauge", "histogram"] {
            let call = format!("{kind}{}", concat!("!", "("));
            for (at, _) in text.match_indices(&call) {
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = text[at + call.len()..].trim_start();
                let name = rest.strip_prefix('"').and_then(|r| r.split_once('"')).map(|(name, _)| name.to_string());
                calls.push((kind.to_string(), name));
            }
        }
        calls
    }

    #[test]
    fn every_recorded_family_has_help_text() {
        let recorded = recorded_families();
        assert!(recorded.contains_key("dingtalk_oidc_logins_total"), "the scan finds the sources: {recorded:?}");
        for (name, kind) in &recorded {
            let described = FAMILIES.iter().find(|(n, _, _)| n == name);
            let Some((_, described_kind, help)) = described else {
                panic!("{name} is recorded but has no help text: add it to metrics::FAMILIES and the README table");
            };
            assert_eq!(described_kind, kind, "{name}");
            assert!(!help.is_empty(), "{name}");
        }
        for (name, _, _) in FAMILIES {
            assert!(recorded.contains_key(*name), "{name} is described but never recorded");
        }
    }

    /// README, "Metrics": a row for every family, with its type.
    #[test]
    fn the_readme_lists_every_family_with_its_type() {
        let readme = include_str!("../../README.md");
        for (name, kind, _) in FAMILIES.iter().chain(super::process::FAMILIES) {
            let row = format!("| `{name}` | {kind} |");
            assert!(readme.contains(&row), "README.md has no row starting {row:?}");
        }
    }

    #[test]
    fn the_scan_sees_macro_calls_and_only_them() {
        let text = concat!(
            "metrics::",
            "counter",
            "!(\"a_total\", \"x\" => y);\n",
            "describe_",
            "gauge",
            "!(\"b\", \"h\");\n"
        );
        assert_eq!(macro_names(text), vec![("counter".to_string(), Some("a_total".to_string()))]);
        let unnamed = concat!("::metrics::", "histogram", "!(NAME)");
        assert_eq!(macro_names(unnamed), vec![("histogram".to_string(), None)]);
    }
}
