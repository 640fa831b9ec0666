//! HTTP wiring: the route table, the security middleware and the listener. Only wiring lives here.

pub mod drain_times;

use std::future::Future;
use std::sync::Arc;

use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, Route, Server, get, post};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Config;
use crate::drain::DrainingAcceptor;
use crate::oidc::{self, paths};
use crate::web::cors::Cors;
use crate::web::edge::Edge;

/// Every route of the provider, nested under the issuer's path (OIDC Discovery §4.1).
pub fn routes(app: Arc<App>) -> impl Endpoint + 'static {
    let prefix = url::Url::parse(&app.issuer).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default();
    let cors = || Cors { origins: app.clone() };
    let provider = Route::new()
        .at(paths::DISCOVERY, get(oidc::discovery::discovery).options(public_preflight))
        // RFC 8414 §3 metadata: the same document (issuer-path insertion is handled below).
        .at(paths::OAUTH_METADATA, get(oidc::discovery::discovery).options(public_preflight))
        .at(paths::JWKS, get(oidc::jwks::jwks).options(public_preflight))
        .at(paths::AUTHORIZE, get(oidc::authorize::authorize).post(oidc::authorize::authorize))
        .at(paths::CALLBACK, get(oidc::callback::callback))
        .at(paths::IN_APP_CALLBACK, post(oidc::in_app::callback))
        .at(paths::CHOOSE_ORGANISATION, get(oidc::organisation::choose))
        .at(paths::CONSENT, post(oidc::consent::consent))
        .at(paths::DEVICE_AUTHORIZATION, post(oidc::device::device_authorization))
        .at(paths::PAR, post(oidc::par::pushed_authorization_request))
        .at(paths::REGISTER, post(oidc::registration::register))
        .at(
            format!("{}/:client_id", paths::REGISTER),
            get(oidc::registration::manage_registration)
                .put(oidc::registration::manage_registration)
                .delete(oidc::registration::manage_registration),
        )
        .at(paths::DEVICE, get(oidc::device_verification::show))
        .at(paths::DEVICE_CONFIRM, post(oidc::device_verification::confirm))
        .at(paths::TOKEN, post(oidc::token::token).with(cors()))
        .at(paths::USERINFO, get(oidc::userinfo::userinfo).post(oidc::userinfo::userinfo).with(cors()))
        .at(paths::REVOKE, post(oidc::revoke::revoke).with(cors()))
        .at(paths::INTROSPECT, post(oidc::introspect::introspect))
        .at(paths::LOGOUT, get(oidc::logout::logout).post(oidc::logout::logout))
        .at(paths::LOGOUT_CONFIRM, post(oidc::logout::confirm))
        .at(paths::ACCOUNT, get(crate::account::show).post(crate::account::act))
        .at(paths::ACCOUNT_LOGIN, get(crate::account::login))
        .at("/healthz", get(crate::ops::healthz))
        .at("/readyz", get(crate::ops::readyz))
        // The admin API owns `/admin/v1` and `/admin/docs`; the console's pages are the rest of `/admin/`.
        .nest("/", crate::console::routes(crate::admin::routes(&app.issuer)));
    // With `server.metrics_listen` set, `/metrics` is served there only (`metrics_routes`).
    let provider = if app.config.server.metrics_on_own_listener() {
        provider
    } else {
        provider.at("/metrics", get(crate::ops::metrics))
    };
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
    let edge = Edge {
        limits: app.limits.clone(),
        client_addr: app.client_addr.clone(),
        hsts,
        drain: app.drain.clone(),
        branding: Arc::new(app.config.branding.clone()),
    };
    root.with(edge).data(app)
}

/// The metrics listener (`server.metrics_listen`): `/metrics` and nothing else, at the root
/// whatever the issuer's path. Outside the edge layer: it is not the public port, so no rate limits
/// apply, and a scrape is not a request the shutdown drain waits for.
pub fn metrics_routes(app: Arc<App>) -> impl Endpoint + 'static {
    Route::new().at("/metrics", get(crate::ops::metrics)).data(app)
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
    #[error("cannot listen on {addr} (server.metrics_listen): {source}")]
    MetricsListen { addr: String, source: std::io::Error },
    #[error(
        "the shutdown drain ran out with {in_flight} request(s) still in flight; they were cut \
         (server.shutdown_accept_secs + server.shutdown_drain_secs = {allowed_secs} s)"
    )]
    Cut { in_flight: usize, allowed_secs: u64 },
}

/// Binds `server.metrics_listen`, if set.
pub async fn bind_metrics(config: &Config) -> Result<Option<TcpListener>, ServeError> {
    if !config.server.metrics_on_own_listener() {
        return Ok(None);
    }
    let addr = config.server.metrics_listen.trim();
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(source) => Err(ServeError::MetricsListen { addr: addr.to_string(), source }),
    }
}

/// Serves until `shutdown` resolves, then drains (see `drain`): an error if requests had to be cut.
/// The metrics listener (`server.metrics_listen`), if configured, is bound here.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let metrics = bind_metrics(&app.config).await?;
    serve_on(app, listener, metrics, shutdown).await
}

/// As [`serve`], with the metrics listener already bound (`bind_metrics`). It serves scrapes until
/// the main server has drained, so the drain itself can be watched, and stops with it.
pub async fn serve_on(
    app: Arc<App>,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let metrics = match metrics {
        Some(listener) => Some(spawn_metrics_server(app.clone(), listener)?),
        None => None,
    };
    let served = serve_public(app, listener, shutdown).await;
    if let Some((stop, server)) = metrics {
        let _ = stop.send(());
        let _ = server.await;
    }
    served
}

/// Starts the metrics listener; it stops when the returned sender is used (or dropped), giving a
/// scrape under way a moment to finish.
fn spawn_metrics_server(
    app: Arc<App>,
    listener: TcpListener,
) -> Result<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>), ServeError> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /metrics on its own listener (server.metrics_listen)");
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
        metrics_routes(app),
        async {
            let _ = stop_rx.await;
        },
        Some(METRICS_SCRAPE_GRACE),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok((stop_tx, task))
}

/// How long a scrape under way may finish once the main server has stopped.
const METRICS_SCRAPE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

async fn serve_public(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let times = drain_times::drain_times(&app.config);
    if let Some(warning) = drain_times::shortfall(&app.config) {
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
