//! What every request passes through, as one layer: the request id, its log span and its metrics
//! (`observe`), the rate limits (`limits`), the page language (`i18n`) and the security headers
//! (`headers`). One layer rather than four nested middlewares because poem boxes the whole
//! request future once per request and each nesting level kept its own state around the next:
//! the copy showed in profiles of the discovery endpoint as memmove time.

use std::sync::Arc;
use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

use super::limits::Limits;
use super::{headers, i18n, observe};

pub struct Edge {
    pub limits: Arc<Limits>,
    /// Strict-Transport-Security on every response (https issuers).
    pub hsts: bool,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        EdgeEndpoint { inner: ep, limits: self.limits.clone(), hsts: self.hsts }
    }
}

pub struct EdgeEndpoint<E> {
    inner: E,
    limits: Arc<Limits>,
    hsts: bool,
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let id = observe::request_id(&req);
        let route = observe::route_label(req.uri().path());
        // Log lines inside a request carry its id. The metadata documents (discovery, JWKS) are
        // served from memory and log nothing, so they skip the span: with the fmt subscriber,
        // creating it (formatting its fields) was 7% of a discovery request's CPU time.
        let span = if observe::is_metadata(route) {
            tracing::Span::none()
        } else {
            // The path only: queries carry codes and tokens. The fields are recorded with Display
            // (`%`), not Debug: Debug escapes a string char by char, which was half the cost of
            // creating the span. Nothing needs escaping: the id is `well_formed` or ours, the
            // method an HTTP token, the route one of our labels.
            tracing::info_span!(
                "request",
                request_id = %id.to_str().unwrap_or_default(),
                method = %req.method().as_str(),
                route = %route
            )
        };
        let lang = i18n::renders_pages(route).then(|| i18n::choose(&req));
        let serve = async move {
            if let Some(refused) = self.limits.refuse(route, &req) {
                return refused;
            }
            match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => err.into_response(),
            }
        };
        let mut resp = async {
            match lang {
                Some(lang) => i18n::scoped(lang, serve).await,
                None => serve.await,
            }
        }
        .instrument(span)
        .await;
        let status = resp.status().as_u16();
        let response_headers = resp.headers_mut();
        headers::apply(response_headers, self.hsts);
        response_headers.insert(observe::REQUEST_ID, id);
        crate::metrics::http_request(route, status, started.elapsed().as_secs_f64());
        Ok(resp)
    }
}
