//! `GET /jwks.json`: the published key set (RFC 7517 §5), from bytes rendered once per key change.

use std::sync::Arc;

use poem::web::Data;
use poem::{Request, Response, handler};

use super::discovery::serve_cached;
use crate::app::App;

/// Caches may keep the key set this long. New keys are published at least twice this long before
/// they sign (OIDC Core §10.1.1), so no cache meets an unknown `kid`.
pub const JWKS_MAX_AGE_SECS: u64 = 300;

#[handler]
pub async fn jwks(req: &Request, app: Data<&Arc<App>>) -> Response {
    let ring = app.keys.ring();
    let jwks = ring.jwks();
    serve_cached(req, &jwks.body, &jwks.etag, JWKS_MAX_AGE_SECS)
}
