//! What every request passes through, as one layer: the request id, its log span and its metrics
//! (`observe`), the client's address (`client_addr`, computed once and put in the request's
//! extensions for every later consumer), the rate limits (`limits`), the page language (`i18n`)
//! and branding (`branding`), the security headers (`headers`) and the count of requests in flight for the shutdown drain
//! (`crate::drain`). One layer rather than nested middlewares because poem boxes the whole request
//! future once per request and each nesting level kept its own state around the next: the copy
//! showed in profiles of the discovery endpoint as memmove time.

use std::sync::Arc;
use std::time::Instant;

use poem::http::{HeaderValue, Version, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use super::client_addr::{ClientAddr, ClientAddrRule};
use super::limits::Limits;
use super::{branding, headers, i18n, observe};
use crate::config::BrandingConfig;
use crate::drain::Drain;

pub struct Edge {
    pub limits: Arc<Limits>,
    pub client_addr: Arc<ClientAddrRule>,
    /// Strict-Transport-Security on every response (https issuers).
    pub hsts: bool,
    pub drain: Arc<Drain>,
    /// This provider's `[branding]`, for its pages.
    pub branding: Arc<BrandingConfig>,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        EdgeEndpoint {
            inner: ep,
            limits: self.limits.clone(),
            client_addr: self.client_addr.clone(),
            hsts: self.hsts,
            drain: self.drain.clone(),
            branding: self.branding.clone(),
        }
    }
}

pub struct EdgeEndpoint<E> {
    inner: E,
    limits: Arc<Limits>,
    client_addr: Arc<ClientAddrRule>,
    hsts: bool,
    drain: Arc<Drain>,
    branding: Arc<BrandingConfig>,
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let _in_flight = self.drain.request();
        let started = Instant::now();
        let http1 = req.version() < Version::HTTP_2;
        let client =
            req.remote_addr().as_socket_addr().map(|peer| self.client_addr.client_ip(peer.ip(), req.headers()));
        if let Some(ip) = client {
            req.extensions_mut().insert(ClientAddr(ip));
        }
        let id = observe::request_id(&req);
        let route = observe::route_label(req.uri().path());
        // Log lines inside a request carry its id, method and route (`observe::WithRequest`).
        // The metadata documents (discovery, JWKS) are served from memory and log nothing.
        let log = (!observe::is_metadata(route)).then(|| observe::RequestLog {
            id: id.clone(),
            method: req.method().clone(),
            route,
        });
        let page = i18n::renders_pages(route).then(|| (i18n::choose(&req), self.branding.clone()));
        let serve = async move {
            if let Some(refused) = self.limits.refuse(route, client) {
                return refused;
            }
            match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => err.into_response(),
            }
        };
        // One scope either way: a second branch holding the whole request future would make this
        // future, which poem copies into a box per request, larger.
        let mut resp = observe::logging_as(log, async {
            match page {
                Some((lang, brand)) => i18n::scoped(lang, branding::scoped(brand, serve)).await,
                None => serve.await,
            }
        })
        .await;
        let status = resp.status().as_u16();
        let response_headers = resp.headers_mut();
        headers::apply(response_headers, self.hsts);
        response_headers.insert(observe::REQUEST_ID, id);
        // Draining: the connection carries no further request (RFC 9112 §9.6); hyper closes it
        // once this response is written. HTTP/2 forbids the header (RFC 9113 §8.2.2): its
        // connections get GOAWAY when the drain ends.
        if http1 && self.drain.is_draining() {
            response_headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        crate::metrics::http_request(route, status, started.elapsed().as_secs_f64());
        Ok(resp)
    }
}
