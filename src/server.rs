//! HTTP wiring: the route table, the security middleware and the listener. Only wiring lives here.

use std::future::Future;
use std::sync::Arc;

use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, Route, Server, get, post};

use crate::app::App;
use crate::oidc::{self, paths};
use crate::web::cors::Cors;
use crate::web::edge::Edge;

/// Every route of the provider, nested under the issuer's path (OIDC Discovery §4.1).
pub fn routes(app: Arc<App>) -> impl Endpoint + 'static {
    let prefix = url::Url::parse(&app.issuer).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default();
    let provider = Route::new()
        .at(paths::DISCOVERY, get(oidc::discovery::discovery).options(public_preflight))
        // RFC 8414 §3 metadata: the same document (issuer-path insertion is handled below).
        .at(paths::OAUTH_METADATA, get(oidc::discovery::discovery).options(public_preflight))
        .at(paths::JWKS, get(oidc::jwks::jwks).options(public_preflight))
        .at(paths::AUTHORIZE, get(oidc::authorize::authorize).post(oidc::authorize::authorize))
        .at(paths::CALLBACK, get(oidc::callback::callback))
        .at(paths::CONSENT, post(oidc::consent::consent))
        .at(paths::TOKEN, post(oidc::token::token).with(Cors))
        .at(paths::USERINFO, get(oidc::userinfo::userinfo).post(oidc::userinfo::userinfo).with(Cors))
        .at(paths::REVOKE, post(oidc::revoke::revoke).with(Cors))
        .at(paths::INTROSPECT, post(oidc::introspect::introspect))
        .at(paths::LOGOUT, get(oidc::logout::logout).post(oidc::logout::logout))
        .at(paths::LOGOUT_CONFIRM, post(oidc::logout::confirm))
        .at("/healthz", get(crate::ops::healthz))
        .at("/readyz", get(crate::ops::readyz))
        .at("/metrics", get(crate::ops::metrics))
        .nest("/", crate::admin::routes(&app.issuer));
    let hsts = app.issuer.starts_with("https://");
    // An issuer without a path serves the provider's routes directly: one routing table fewer on
    // every request.
    let root = if prefix.is_empty() {
        provider
    } else {
        Route::new()
            .at(format!("{}{}", paths::OAUTH_METADATA, prefix), get(oidc::discovery::discovery))
            .nest(prefix, provider)
    };
    root.with(Edge { limits: app.limits.clone(), client_addr: app.client_addr.clone(), hsts }).data(app)
}

/// Discovery and JWKS are public documents: any origin may read them, never with credentials.
#[poem::handler]
fn public_preflight() -> poem::Response {
    poem::Response::builder()
        .status(poem::http::StatusCode::NO_CONTENT)
        .header("access-control-allow-origin", "*")
        .header("access-control-allow-methods", "GET")
        .header("access-control-max-age", "86400")
        .finish()
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes(app), shutdown, Some(std::time::Duration::from_secs(10)))
        .await
}
