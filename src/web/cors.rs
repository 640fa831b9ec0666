//! CORS for the endpoints a browser app calls directly (token, userinfo, revocation): only for
//! origins of registered redirect URIs, never with credentials (cookies play no part there), and a
//! preflight answer. Discovery and JWKS are public (`*`); the authorization endpoint gets no CORS at
//! all (RFC 9700 §2.6).

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

/// The origins of the registered redirect URIs. The application answers from the directory's
/// cache (no SQL per request; a client change through this instance applies at once, through
/// another within `database.cache_ttl_secs`); a failed look-up permits nothing.
#[async_trait::async_trait]
pub trait RegisteredOrigins: Send + Sync {
    async fn is_registered(&self, origin: &str) -> bool;
}

pub struct Cors {
    pub origins: Arc<dyn RegisteredOrigins>,
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        CorsEndpoint { inner: ep, origins: self.origins.clone() }
    }
}

pub struct CorsEndpoint<E> {
    inner: E,
    origins: Arc<dyn RegisteredOrigins>,
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
        let Some(origin) = origin else { return Ok(self.inner.call(req).await?.into_response()) };
        let permitted = self.origins.is_registered(&origin).await;
        let preflight = req.method() == Method::OPTIONS;
        let mut resp = if preflight {
            Response::builder().status(if permitted { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN }).finish()
        } else {
            self.inner.call(req).await?.into_response()
        };
        let headers = resp.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if permitted && let Ok(value) = HeaderValue::from_str(&origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            if preflight {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("Authorization, Content-Type"),
                );
                headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            } else {
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("WWW-Authenticate"));
            }
        }
        Ok(resp)
    }
}
