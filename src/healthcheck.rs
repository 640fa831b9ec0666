//! `dingtalk-oidc healthcheck`: asks a running provider's `/readyz` and turns the answer into an
//! exit status, for container runtimes that probe by running a command (Docker's `HEALTHCHECK`)
//! in an image without a shell or curl. It reads no secret, starts nothing and connects to no
//! database: the provider's own `/readyz` checks those (src/ops.rs).

use std::net::SocketAddr;
use std::time::Duration;

/// The readiness route (src/server.rs).
const READYZ: &str = "/readyz";

/// Longest part of a non-200 body repeated in the one-line reason.
const REASON_BODY_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("server.listen {0:?} is not host:port; give --url")]
    Listen(String),
    #[error("{url} did not answer within {secs} s")]
    Timeout { url: String, secs: f64 },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered {status}: {body}")]
    NotReady { url: String, status: reqwest::StatusCode, body: String },
}

/// The base URL of a provider listening on `listen` (server.listen), reached from the same host:
/// a wildcard address (0.0.0.0, [::]) is reached on the loopback address of its family.
pub fn base_url_from_listen(listen: &str) -> Result<String, HealthError> {
    let listen = listen.trim();
    if let Ok(mut addr) = listen.parse::<SocketAddr>() {
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        return Ok(format!("http://{addr}"));
    }
    // A host name (localhost:8080): it has a port and nothing else.
    match listen.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(['/', '@']) && port.parse::<u16>().is_ok() => {
            Ok(format!("http://{listen}"))
        }
        _ => Err(HealthError::Listen(listen.to_string())),
    }
}

/// `Ok` when `GET <base>/readyz` answers 200 within `timeout`; otherwise the one-line reason.
pub async fn check(base: &str, timeout: Duration) -> Result<(), HealthError> {
    let url = format!("{}{}", base.trim_end_matches('/'), READYZ);
    let http = reqwest::Client::builder()
        .timeout(timeout)
        // The provider on this host, not whatever HTTP_PROXY the environment names.
        .no_proxy()
        // A redirect is not readiness.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| HealthError::Unreachable { url: url.clone(), reason: e.to_string() })?;
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            HealthError::Timeout { url: url.clone(), secs: timeout.as_secs_f64() }
        } else {
            HealthError::Unreachable { url: url.clone(), reason: error_chain(&e) }
        }
    };
    let resp = http.get(&url).send().await.map_err(failed)?;
    let status = resp.status();
    if status == reqwest::StatusCode::OK {
        return Ok(());
    }
    let body = resp.text().await.map_err(failed)?;
    Err(HealthError::NotReady { url, status, body: one_line(&body) })
}

/// The causes of a failed request on one line ("tcp connect error: Connection refused"); the
/// request's own message only repeats the URL.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let Some(first) = e.source() else { return e.to_string() };
    let mut parts = vec![first.to_string()];
    let mut source = first.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

fn one_line(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(REASON_BODY_CHARS) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None if flat.is_empty() => "(empty body)".into(),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_reached_on_loopback() {
        assert_eq!(base_url_from_listen("0.0.0.0:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(base_url_from_listen("[::]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(base_url_from_listen("127.0.0.1:9000").unwrap(), "http://127.0.0.1:9000");
        assert_eq!(base_url_from_listen("[2001:db8::7]:443").unwrap(), "http://[2001:db8::7]:443");
        assert_eq!(base_url_from_listen("localhost:8080").unwrap(), "http://localhost:8080");
        for bad in ["8080", "localhost", "http://x:1/", ":8080", "host:port"] {
            assert!(base_url_from_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_reason_repeats_a_short_body_on_one_line() {
        assert_eq!(one_line("{\"status\":\n \"draining\"}\n"), "{\"status\": \"draining\"}");
        assert_eq!(one_line(""), "(empty body)");
        let long = "x".repeat(500);
        assert_eq!(one_line(&long).chars().count(), REASON_BODY_CHARS + 1);
    }
}
