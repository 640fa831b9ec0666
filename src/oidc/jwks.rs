//! `GET /jwks.json`: the published key set (RFC 7517 §5), from bytes rendered once per key change.

use std::sync::Arc;

use poem::web::Data;
use poem::{Request, Response, handler};

use super::discovery::serve_cached;
use crate::app::App;

/// Caches may keep the key set until the next key change, at most `keys.jwks_max_age_secs`. New
/// keys are published at least twice that long before they sign (OIDC Core §10.1.1, §10.2.1), so
/// no cache meets an unknown `kid`.
#[handler]
pub async fn jwks(req: &Request, app: Data<&Arc<App>>) -> Response {
    let ring = app.keys.ring();
    let jwks = ring.jwks();
    serve_cached(req, &jwks.body, &jwks.etag, ring.max_age_at(app.now(), app.config.keys.jwks_max_age_secs))
}
