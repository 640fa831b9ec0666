//! HTTP wiring: the route table, the security middleware and the listener. Only wiring lives here.

use std::future::Future;
use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route, Server, get, post};

use crate::app::App;
use crate::drain::{DrainTimes, DrainingAcceptor};
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
    let edge =
        Edge { limits: app.limits.clone(), client_addr: app.client_addr.clone(), hsts, drain: app.drain.clone() };
    root.with(edge).data(app)
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

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(
        "the shutdown drain ran out with {in_flight} request(s) still in flight; they were cut \
         (server.shutdown_accept_secs + server.shutdown_drain_secs = {allowed_secs} s)"
    )]
    Cut { in_flight: usize, allowed_secs: u64 },
}

/// Serves until `shutdown` resolves, then drains (see `drain`): an error if requests had to be cut.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let times = DrainTimes::from_config(&app.config);
    if let Some(warning) = DrainTimes::shortfall(&app.config) {
        tracing::warn!("{warning}");
    }
    let (acceptor, listener_switch) = DrainingAcceptor::new(listener)?;
    // poem's own graceful shutdown closes idle keep-alive connections at once, cutting a request a
    // proxy sends on one a moment later: it is started only when the drain is over.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
        routes(app.clone()),
        async {
            let _ = stop_rx.await;
        },
        None,
    );
    tokio::pin!(server);
    tokio::select! {
        ended = &mut server => return Ok(ended?),
        () = shutdown => {}
    }
    tracing::info!(
        accept_secs = times.accept.as_secs(),
        drain_secs = times.drain.as_secs(),
        in_flight = app.drain.in_flight(),
        "shutting down: not ready; answering what arrives with Connection: close"
    );
    let deadline = tokio::select! {
        deadline = app.drain.wind_down(&times, || listener_switch.close()) => deadline,
        ended = &mut server => return Ok(ended?),
    };
    let _ = stop_tx.send(());
    // Closes the idle connections; a request that slipped in as the drain ended still finishes.
    let _ = tokio::time::timeout_at(deadline, &mut server).await;
    match app.drain.in_flight() {
        0 => {
            tracing::info!("shutdown: drained");
            Ok(())
        }
        in_flight => {
            tracing::error!(in_flight, "shutdown: the drain ran out; cutting the requests still in flight");
            Err(ServeError::Cut { in_flight, allowed_secs: (times.accept + times.drain).as_secs() })
        }
    }
}
