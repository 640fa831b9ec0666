//! Per-request observability: a request id (taken from a well-formed incoming `X-Request-Id` or
//! made fresh) echoed on the response and attached to every log line of the request, and request
//! counts and latency histograms by route and status for `/metrics`.

use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

pub struct Observe;

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ObserveEndpoint { inner: ep }
    }
}

pub struct ObserveEndpoint<E> {
    inner: E,
}

/// Routes as metric labels: fixed paths by name, everything under the admin API as one, anything
/// else as `other`, so label cardinality stays bounded whatever clients send.
pub fn route_label(path: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks.json",
        "/authorize",
        "/callback/dingtalk",
        "/consent",
        "/token",
        "/userinfo",
        "/revoke",
        "/introspect",
        "/logout",
        "/logout/confirm",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    if let Some(known) = KNOWN.iter().find(|k| path.ends_with(*k)) {
        return known;
    }
    if path.contains("/admin/") { "/admin" } else { "other" }
}

fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| well_formed(v))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let route = route_label(req.uri().path());
        let method = req.method().to_string();
        // The path only: queries carry codes and tokens.
        let span = tracing::info_span!("request", request_id = %id, method = %method, route);
        let mut resp = async {
            match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => err.into_response(),
            }
        }
        .instrument(span)
        .await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID, value);
        }
        let status = resp.status().as_u16().to_string();
        metrics::counter!("dingtalk_oidc_http_requests_total", "route" => route, "status" => status.clone())
            .increment(1);
        metrics::histogram!("dingtalk_oidc_http_request_duration_seconds", "route" => route, "status" => status)
            .record(started.elapsed().as_secs_f64());
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_labels_stay_bounded() {
        assert_eq!(super::route_label("/token"), "/token");
        assert_eq!(super::route_label("/tenant/token"), "/token");
        assert_eq!(super::route_label("/admin/v1/users/123"), "/admin");
        assert_eq!(super::route_label("/random/garbage"), "other");
        assert!(super::well_formed("abc-123_x.y"));
        assert!(!super::well_formed("bad id\r\n"));
    }
}
