//! `serve` (with `--dev`: the simulator, the demo app and a token for the admin docs) and
//! `simulator`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::{ServeArgs, SimulatorArgs, load_kek};
use crate::app::App;
use crate::config::Config;
use crate::dingtalk::{SimDirectory, Simulator};
use crate::oidc::paths;

/// `serve --dev`: point DingTalk at the simulator and fill in what the simulator defines.
/// With neither an app nor organisations configured, the simulator's organisations become
/// `[[dingtalk.apps]]`, the first the default (docs/dingtalk-app.md, "Several organisations").
fn apply_dev_defaults(config: &mut Config, listen_overridden: bool, orgs: &[SimDirectory]) {
    let defaults = Config::default();
    if listen_overridden && config.issuer == defaults.issuer {
        config.issuer = format!("http://{}", config.server.listen);
    }
    let simulator = format!("http://{}", config.dev.simulator_listen);
    config.dingtalk.login_base_url = simulator.clone();
    config.dingtalk.api_base_url = simulator.clone();
    config.dingtalk.oapi_base_url = simulator.clone();
    // Sign-in inside DingTalk, against the simulator's fake JSAPI (docs/dingtalk-app.md).
    config.dingtalk.in_app = true;
    config.dingtalk.jsapi_url = format!("{simulator}/jsapi/dingtalk.open.js");
    config.dingtalk.ddlogin_url = format!("{simulator}/ddlogin.js");
    config.dingtalk.qr_frame_origin = simulator.clone();
    config.dingtalk.jsapi_connect_origin = Some(simulator);
    let dingtalk = &mut config.dingtalk;
    let nothing_configured =
        dingtalk.apps.is_empty() && dingtalk.client_id.is_empty() && dingtalk.client_secret.is_empty();
    if nothing_configured && orgs.len() > 1 {
        dingtalk.corp_id = None;
        dingtalk.apps = orgs
            .iter()
            .map(|org| crate::config::DingTalkApp {
                name: org.departments.iter().find(|d| d.parent_id.is_none()).map(|d| d.name.clone()),
                client_id: org.app_key.clone(),
                client_secret: org.app_secret.clone(),
                client_secret_file: None,
                corp_id: Some(org.corp_id.clone()),
            })
            .collect();
        return;
    }
    if !dingtalk.apps.is_empty() {
        return;
    }
    let sim = &orgs[0];
    if dingtalk.client_id.is_empty() {
        dingtalk.client_id = sim.app_key.clone();
    }
    if dingtalk.client_secret.is_empty() {
        dingtalk.client_secret = sim.app_secret.clone();
    }
    if dingtalk.corp_id.is_none() {
        dingtalk.corp_id = Some(sim.corp_id.clone());
    }
}

pub(super) async fn serve(config_path: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(config_path.as_deref())?;
    if let Some(listen) = &args.listen {
        config.server.listen = listen.clone();
    }
    if let Some(demo_listen) = &args.demo_listen {
        config.dev.demo_listen = demo_listen.clone();
    }
    crate::logging::init(&config.log, args.dev);
    let mut simulator = None;
    let mut dev_admin_token = None;
    if args.dev {
        // The interactive admin docs need a token to "try it out": one for this run only.
        if config.admin_token.as_ref().is_none_or(|t| t.0.is_empty()) {
            let token = crate::secrets::token();
            config.admin_token = Some(crate::config::Secret(token.clone()));
            dev_admin_token = Some(token);
        }
        let organisations = match &config.dev.simulator_directory {
            Some(path) => {
                vec![SimDirectory::load(path).map_err(|e| anyhow::anyhow!("dev.simulator_directory: {e}"))?]
            }
            None => SimDirectory::demo_organisations(),
        };
        apply_dev_defaults(&mut config, args.listen.is_some(), &organisations);
        simulator = Some(Simulator::with_organisations(organisations));
    }
    config.validate(args.dev)?;
    let kek = load_kek(&config, args.dev)?;

    let mut simulator_addr = None;
    if let Some(sim) = simulator {
        let listener = tokio::net::TcpListener::bind(&config.dev.simulator_listen)
            .await
            .with_context(|| format!("DingTalk simulator cannot listen on {}", config.dev.simulator_listen))?;
        simulator_addr = Some(listener.local_addr()?);
        sim.set_redirect_uris(vec![format!("{}{}", config.issuer_base(), paths::CALLBACK)]);
        tokio::spawn(async move {
            if let Err(e) = sim.serve(listener).await {
                tracing::error!(error = %e, "DingTalk simulator stopped");
            }
        });
    }

    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
    let mut demo_listener = None;
    if args.dev && !config.dev.demo_listen.is_empty() {
        let listener = tokio::net::TcpListener::bind(&config.dev.demo_listen).await.with_context(|| {
            format!("the demo app cannot listen on {} (dev.demo_listen; \"\" turns it off)", config.dev.demo_listen)
        })?;
        demo_listener = Some(listener);
    }
    let metrics_listener = crate::server::bind_metrics(&config).await?;
    let metrics_addr = metrics_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let app: Arc<App> = App::start(config, kek).await?;
    let demo_url = match demo_listener {
        Some(listener) => Some(crate::demo::start(&app.issuer, &app.directory, listener).await.context("demo app")?),
        None => None,
    };
    let dev = DevBanner { simulator: simulator_addr, demo_url, admin_token: dev_admin_token };
    print_banner(&app, metrics_addr, args.dev.then_some(&dev));
    crate::server::serve_on(app, listener, metrics_listener, shutdown_signal()).await?;
    Ok(())
}

/// What `serve --dev` started besides the provider.
struct DevBanner {
    simulator: Option<std::net::SocketAddr>,
    demo_url: Option<String>,
    admin_token: Option<String>,
}

fn print_banner(app: &App, metrics: Option<std::net::SocketAddr>, dev: Option<&DevBanner>) {
    if let Some(demo) = dev.and_then(|d| d.demo_url.as_deref()) {
        println!("open {demo} and sign in as alice (the demo app: every endpoint at work, in your browser)");
    }
    println!("dingtalk-oidc is serving");
    println!("  issuer:     {}", app.issuer);
    println!("  discovery:  {}", app.endpoint_url(paths::DISCOVERY));
    match metrics {
        Some(addr) => println!("  metrics:    http://{addr}/metrics (server.metrics_listen)"),
        None => println!("  metrics:    {}", app.endpoint_url("/metrics")),
    }
    match dev.and_then(|d| d.simulator) {
        Some(addr) => {
            println!(
                "  DingTalk:   simulator at http://{addr} (dev mode; users alice, bob, carol; dave and mallory are refused)"
            );
            let orgs = app.organisations.all();
            if orgs.len() > 1 {
                let names: Vec<String> = orgs.iter().map(|o| format!("{} ({})", o.name, o.key)).collect();
                println!(
                    "  organisations: {} — the first is the default; `clients add --organisation` opens a client to others",
                    names.join(", ")
                );
            }
        }
        None => println!("  DingTalk:   {}", app.config.dingtalk.login_base_url),
    }
    if let Some(demo) = dev.and_then(|d| d.demo_url.as_deref()) {
        println!("  demo app:   {demo} (client `demo`)");
    }
    println!("  admin docs: {}/admin/docs", app.issuer);
    println!("  console:    {}/admin/ (users with role admin act, auditor reads)", app.issuer);
    if let Some(token) = dev.and_then(|d| d.admin_token.as_deref()) {
        println!("  admin token (this run only; Authorize in the admin docs, or sign in to the console): {token}");
    }
    println!("register your own client (in another terminal, same working directory and configuration):");
    if dev.is_some() {
        println!("  cargo run -- clients add --id my-app --redirect-uri http://127.0.0.1:3000/callback");
    } else {
        println!("  dingtalk-oidc clients add --id my-app --redirect-uri https://app.example.com/callback");
    }
    println!("then point the app at issuer {} with the printed secret.", app.issuer);
}

/// SIGTERM or SIGINT (Ctrl-C). The handlers are installed here, when called, not when the
/// returned future is first polled: `serve_on` polls it only once serving has begun, and a SIGTERM
/// arriving in between (an orchestrator stopping a pod that just turned ready) took the default
/// action and killed the process instead of draining it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        async move {
            tokio::select! {
                _ = received(terminate) => {},
                _ = received(interrupt) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(super) async fn run_simulator(args: SimulatorArgs) -> anyhow::Result<()> {
    crate::logging::init(&crate::config::LogConfig::default(), true);
    let organisations = match &args.directory {
        Some(path) => vec![SimDirectory::load(path).map_err(|e| anyhow::anyhow!("--directory: {e}"))?],
        None => SimDirectory::demo_organisations(),
    };
    let sim = Simulator::with_organisations(organisations);
    sim.set_redirect_uris(args.redirect_uris);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("DingTalk simulator listening on http://{}", listener.local_addr()?);
    sim.serve(listener).await?;
    Ok(())
}
