//! The command line: `serve`, `healthcheck`, `migrate`, `simulator`, `clients`, `openapi`, ...

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::config::Config;
use crate::dingtalk::{SimDirectory, Simulator};
use crate::directory::{ClientUpdate, Directory, NewClient};
use crate::keys::Kek;
use crate::oidc::paths;

/// Where `serve --dev` keeps its key-encryption key (git-ignored, mode 0600).
pub const DEV_KEK_PATH: &str = "keys/dev-kek";

#[derive(Debug, Parser)]
#[command(name = "dingtalk-oidc", version, about = "An OpenID Connect provider for DingTalk (钉钉) login")]
pub struct Cli {
    /// Configuration file (TOML). `DINGTALK_OIDC_*` environment variables override it.
    #[arg(long, global = true, value_name = "FILE", env = "DINGTALK_OIDC_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider.
    ///
    /// SIGTERM or Ctrl-C drains it: not ready any more, requests still arriving are answered with
    /// `Connection: close`, new connections are accepted for server.shutdown_accept_secs, and requests
    /// in flight get server.shutdown_drain_secs to finish. Exits 0 once idle; exits with a failure
    /// status if the drain ran out and requests were cut.
    Serve(ServeArgs),
    /// Exit 0 when the provider on this host is ready (GET /readyz answers 200), non-zero with a
    /// one-line reason otherwise.
    ///
    /// For container health checks (Docker's HEALTHCHECK) in an image without a shell or curl.
    /// Reads only server.listen from the configuration (no secret file), connects to no database
    /// and starts nothing.
    Healthcheck(HealthcheckArgs),
    /// Apply database migrations and exit (the server also migrates at start).
    Migrate,
    /// Run the DingTalk simulator alone.
    Simulator(SimulatorArgs),
    /// Register and inspect relying parties.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// List and revoke users' SSO sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Manage signing keys: list, rotate, revoke, import, rewrap.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// See users; disable and enable them.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Roles, grants and DingTalk mapping rules.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Query the audit log.
    Audit(AuditArgs),
    /// Print the OpenAPI spec (YAML) of the admin API (committed as openapi/admin.yaml).
    Openapi,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: embedded defaults, a generated dev key-encryption key under keys/, the
    /// DingTalk simulator on dev.simulator_listen (127.0.0.1:8081) standing in for DingTalk, a demo
    /// app to sign in to on dev.demo_listen (127.0.0.1:8082), and an admin API token for this run
    /// (unless admin_token is configured).
    #[arg(long)]
    pub dev: bool,
    /// Address to listen on (overrides server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// With --dev: where the demo app listens (overrides dev.demo_listen; "" turns it off).
    #[arg(long, value_name = "ADDR", requires = "dev")]
    pub demo_listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Base URL of the provider [default: from server.listen, a wildcard address (0.0.0.0, [::])
    /// as loopback]. Give it when `serve --listen` overrode server.listen.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// A TOML file replacing the built-in demo directory (corp ding-demo-corp: alice, bob, …).
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,
    /// Registered callback URL of the simulated DingTalk app (repeatable; none accepts any).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; a confidential client's secret is printed once and never again.
    Add(AddClientArgs),
    /// List registered clients.
    List,
    /// Change a registered client.
    Update(UpdateClientArgs),
    /// Show one client.
    Show {
        /// The client id.
        id: String,
    },
    /// Remove a client.
    Remove {
        /// The client id.
        id: String,
    },
    /// Issue a new secret for a confidential client (printed once; the old one stops working).
    RotateSecret {
        /// The client id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users (search matches name, DingTalk userid, unionId or email).
    List {
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show one user.
    Show {
        /// The user id (`sub`).
        id: String,
    },
    /// Disable a user: every session and refresh token ends now.
    Disable {
        /// The user id (`sub`).
        id: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user id (`sub`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Create a role.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List roles.
    List,
    /// Show a role.
    Show { name: String },
    /// Change a role's description.
    Update {
        name: String,
        #[arg(long)]
        description: String,
    },
    /// Delete a role with its grants and mapping rules.
    Delete { name: String },
    /// Grant a role to a user.
    Grant {
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: String,
    },
    /// Take a direct grant away.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: String,
    },
    /// Mapping rules from DingTalk org data to roles.
    #[command(subcommand)]
    Mappings(MappingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Map members of a department, holders of an org role, org admins or department leaders to a role.
    Add {
        #[arg(long)]
        role: String,
        /// Members of this DingTalk department id (with --leader: leaders of it).
        #[arg(long)]
        department: Option<i64>,
        /// With --department: also members of every department below it.
        #[arg(long)]
        include_sub_departments: bool,
        /// Holders of this DingTalk org role id.
        #[arg(long)]
        org_role: Option<i64>,
        /// DingTalk org admins.
        #[arg(long)]
        org_admin: bool,
        /// Department leaders (of --department, or of any department).
        #[arg(long)]
        leader: bool,
    },
    /// List mapping rules.
    List,
    /// Remove a mapping rule.
    Remove { id: String },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub actor: Option<String>,
    #[arg(long)]
    pub subject: Option<String>,
    /// Unix seconds.
    #[arg(long)]
    pub since: Option<i64>,
    /// Unix seconds.
    #[arg(long)]
    pub until: Option<i64>,
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
}

#[derive(Debug, Args)]
pub struct AddClientArgs {
    /// Client id (A-Z a-z 0-9 - . _ ~).
    #[arg(long)]
    pub id: String,
    /// Redirect URI, compared exactly (repeatable; at least one).
    #[arg(long = "redirect-uri", value_name = "URI", required = true)]
    pub redirect_uris: Vec<String>,
    /// A public client (browser or native app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// A first-party client: users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// Display name shown on the consent page.
    #[arg(long)]
    pub name: Option<String>,
    /// Scopes the client may request (repeatable; the list replaces the default: openid profile email
    /// phone offline_access). roles, groups, dingtalk and admin are opt-in: list them to allow them.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Where RP-initiated logout may send the user back to (repeatable; exact match).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// The client's back-channel logout endpoint (receives logout tokens by POST).
    #[arg(long = "backchannel-logout-uri", value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// Grant types (repeatable; default: authorization_code refresh_token). Leave out refresh_token to
    /// issue this client no refresh tokens.
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// May introspect tokens issued to other clients (a resource server).
    #[arg(long)]
    pub resource_server: bool,
    /// Refresh responses carry no ID token (OIDC Core §12.2 allows it; saves a signature).
    #[arg(long)]
    pub no_id_token_on_refresh: bool,
    /// Refresh tokens expire after this many seconds unused (default: tokens.refresh_idle_ttl_secs).
    #[arg(long, value_name = "SECS")]
    pub refresh_idle_ttl: Option<i64>,
    /// Refresh-token families end this many seconds after login (default: tokens.refresh_absolute_ttl_secs).
    #[arg(long, value_name = "SECS")]
    pub refresh_absolute_ttl: Option<i64>,
    /// Access-token lifetime for this client, 60 to 86400 seconds (default: tokens.access_token_ttl_secs).
    #[arg(long, value_name = "SECS")]
    pub access_token_ttl: Option<TokenTtlArg>,
    /// ID-token lifetime for this client, 60 to 86400 seconds (default: tokens.id_token_ttl_secs). An
    /// application that keeps the ID token as its session (Argo CD) needs it as long as a session.
    #[arg(long, value_name = "SECS")]
    pub id_token_ttl: Option<TokenTtlArg>,
}

/// `--access-token-ttl` / `--id-token-ttl`: seconds within the bounds of `tokens::lifetime`, or
/// `default` for the global `tokens.*_ttl_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTtlArg(pub Option<u64>);

impl std::str::FromStr for TokenTtlArg {
    type Err = String;

    fn from_str(s: &str) -> Result<TokenTtlArg, String> {
        if s == "default" {
            return Ok(TokenTtlArg(None));
        }
        let secs: u64 = s.parse().map_err(|_| format!("{s:?} is neither a number of seconds nor `default`"))?;
        crate::tokens::lifetime::check_token_ttl(secs)?;
        Ok(TokenTtlArg(Some(secs)))
    }
}

#[derive(Debug, Args)]
pub struct UpdateClientArgs {
    /// The client id.
    pub id: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the redirect URIs (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Replace the post-logout redirect URIs (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Set the back-channel logout endpoint.
    #[arg(long = "backchannel-logout-uri", value_name = "URI", conflicts_with = "no_backchannel_logout")]
    pub backchannel_logout_uri: Option<String>,
    /// Remove the back-channel logout endpoint.
    #[arg(long)]
    pub no_backchannel_logout: bool,
    /// Skip (true) or ask (false) for consent.
    #[arg(long, value_name = "BOOL")]
    pub first_party: Option<bool>,
    /// Replace the allowed scopes (repeatable; must include openid).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Replace the grant types (repeatable).
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// May (true) or may not (false) introspect other clients' tokens.
    #[arg(long, value_name = "BOOL")]
    pub resource_server: Option<bool>,
    /// Whether refresh responses carry an ID token.
    #[arg(long, value_name = "BOOL")]
    pub id_token_on_refresh: Option<bool>,
    /// Access-token lifetime for this client, 60 to 86400 seconds; `default` goes back to
    /// tokens.access_token_ttl_secs.
    #[arg(long, value_name = "SECS")]
    pub access_token_ttl: Option<TokenTtlArg>,
    /// ID-token lifetime for this client, 60 to 86400 seconds; `default` goes back to
    /// tokens.id_token_ttl_secs. Argo CD keeps the ID token as its session: 28800 keeps users signed
    /// in for 8 hours.
    #[arg(long, value_name = "SECS")]
    pub id_token_ttl: Option<TokenTtlArg>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state and dates.
    List,
    /// Publish a new key; it signs after keys.publish_lead_secs.
    Rotate {
        /// Sign with it at once. Caches holding the current JWKS will not know it: tokens signed now
        /// fail at relying parties until they refetch the JWKS.
        #[arg(long)]
        now: bool,
    },
    /// Revoke a compromised key: it leaves the JWKS at once and its tokens stop verifying.
    Revoke {
        /// The key id (kid).
        kid: String,
    },
    /// Bring an existing RSA key (PKCS#1 or PKCS#8 PEM, at least 2048 bits).
    Import {
        /// The PEM file.
        #[arg(long, value_name = "FILE")]
        pem: PathBuf,
        /// Sign with it at once instead of after keys.publish_lead_secs.
        #[arg(long)]
        now: bool,
    },
    /// Re-seal every private key under a new key-encryption key (then configure the new KEK).
    Rewrap {
        /// The new KEK, base64 of 32 bytes.
        #[arg(long, value_name = "BASE64", conflicts_with = "new_kek_file", required_unless_present = "new_kek_file")]
        new_kek: Option<String>,
        /// A file holding the new KEK.
        #[arg(long, value_name = "FILE")]
        new_kek_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's SSO sessions: id (the `sid` claim: it names a session, it is not a cookie),
    /// sign-in time, end, clients.
    List {
        /// The user's id (the `sub`).
        #[arg(long, allow_hyphen_values = true)]
        user: String,
    },
    /// End SSO sessions: their session-bound refresh tokens die and their clients are notified.
    Revoke {
        /// End every session of this user (and revoke all the user's refresh tokens).
        #[arg(long, required_unless_present = "session", conflicts_with = "session", allow_hyphen_values = true)]
        user: Option<String>,
        /// End this one session, by its id as `sessions list` shows it (the `sid` claim).
        // Ids are base64url: one may start with `-`, which must not read as an option.
        #[arg(long, allow_hyphen_values = true)]
        session: Option<String>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(cli.config, args).await,
        Command::Healthcheck(args) => {
            let base = match args.url {
                Some(url) => url,
                None => {
                    let config = Config::load_settings(cli.config.as_deref())?;
                    crate::healthcheck::base_url_from_listen(&config.server.listen)?
                }
            };
            crate::healthcheck::check(&base, Duration::from_secs(args.timeout)).await?;
            Ok(())
        }
        Command::Migrate => {
            let config = Config::load(cli.config.as_deref())?;
            let directory = connect(&config).await?;
            directory.migrate().await?;
            println!("migrations applied to {}", crate::start::redact_url(&config.database.url));
            Ok(())
        }
        Command::Simulator(args) => run_simulator(args).await,
        Command::Clients(cmd) => clients(cli.config, cmd).await,
        Command::Sessions(cmd) => sessions(cli.config, cmd).await,
        Command::Keys(cmd) => keys(cli.config, cmd).await,
        Command::Users(cmd) => users(cli.config, cmd).await,
        Command::Roles(cmd) => roles(cli.config, cmd).await,
        Command::Audit(args) => audit(cli.config, args).await,
        Command::Openapi => {
            print!("{}", crate::admin::spec_yaml());
            Ok(())
        }
    }
}

async fn connect(config: &Config) -> anyhow::Result<Directory> {
    let directory = Directory::connect_bounded(
        &config.database.url,
        config.database.max_connections,
        Duration::from_millis(config.database.connect_timeout_ms),
        Duration::from_millis(config.database.statement_timeout_ms),
    )
    .await
    .with_context(|| format!("database {}", crate::start::redact_url(&config.database.url)))?;
    directory.migrate().await?;
    Ok(directory)
}

fn load_kek(config: &Config, dev: bool) -> anyhow::Result<Kek> {
    // `Config::load` has read keys.kek_file into keys.kek.
    if let Some(kek) = &config.keys.kek {
        let option = if config.keys.kek_file.is_some() { "keys.kek_file" } else { "keys.kek" };
        return Kek::from_base64(kek).context(option);
    }
    if dev {
        return Ok(Kek::load_or_create_dev(std::path::Path::new(DEV_KEK_PATH))?);
    }
    // Administrative commands next to a `serve --dev` use its development KEK.
    if std::path::Path::new(DEV_KEK_PATH).exists() {
        return Ok(Kek::from_file(std::path::Path::new(DEV_KEK_PATH))?);
    }
    bail!(
        "config option `keys.kek` (or `keys.kek_file`) is required: signing keys are stored encrypted under it.\n\
         Make one with `head -c 32 /dev/urandom | base64` and pass it as DINGTALK_OIDC_KEYS__KEK,\n\
         or write it to a file readable only by this service and set keys.kek_file."
    )
}

/// `serve --dev`: point DingTalk at the simulator and fill in what the simulator defines.
fn apply_dev_defaults(config: &mut Config, listen_overridden: bool, sim: &SimDirectory) {
    let defaults = Config::default();
    if listen_overridden && config.issuer == defaults.issuer {
        config.issuer = format!("http://{}", config.server.listen);
    }
    let simulator = format!("http://{}", config.dev.simulator_listen);
    config.dingtalk.login_base_url = simulator.clone();
    config.dingtalk.api_base_url = simulator.clone();
    config.dingtalk.oapi_base_url = simulator;
    if config.dingtalk.client_id.is_empty() {
        config.dingtalk.client_id = sim.app_key.clone();
    }
    if config.dingtalk.client_secret.is_empty() {
        config.dingtalk.client_secret = sim.app_secret.clone();
    }
    if config.dingtalk.corp_id.is_none() {
        config.dingtalk.corp_id = Some(sim.corp_id.clone());
    }
}

async fn serve(config_path: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<()> {
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
            let token = crate::random::token();
            config.admin_token = Some(crate::config::Secret(token.clone()));
            dev_admin_token = Some(token);
        }
        let directory = match &config.dev.simulator_directory {
            Some(path) => SimDirectory::load(path).map_err(|e| anyhow::anyhow!("dev.simulator_directory: {e}"))?,
            None => SimDirectory::default(),
        };
        apply_dev_defaults(&mut config, args.listen.is_some(), &directory);
        simulator = Some(Simulator::new(directory));
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
        }
        None => println!("  DingTalk:   {}", app.config.dingtalk.login_base_url),
    }
    if let Some(demo) = dev.and_then(|d| d.demo_url.as_deref()) {
        println!("  demo app:   {demo} (client `demo`)");
    }
    println!("  admin docs: {}/admin/docs", app.issuer);
    if let Some(token) = dev.and_then(|d| d.admin_token.as_deref()) {
        println!("  admin token (this run only; Authorize in the admin docs): {token}");
    }
    println!("register your own client (in another terminal, same working directory and configuration):");
    if dev.is_some() {
        println!("  cargo run -- clients add --id my-app --redirect-uri http://127.0.0.1:3000/callback");
    } else {
        println!("  dingtalk-oidc clients add --id my-app --redirect-uri https://app.example.com/callback");
    }
    println!("then point the app at issuer {} with the printed secret.", app.issuer);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

async fn run_simulator(args: SimulatorArgs) -> anyhow::Result<()> {
    crate::logging::init(&crate::config::LogConfig::default(), true);
    let directory = match &args.directory {
        Some(path) => SimDirectory::load(path).map_err(|e| anyhow::anyhow!("--directory: {e}"))?,
        None => SimDirectory::default(),
    };
    let sim = Simulator::new(directory);
    sim.set_redirect_uris(args.redirect_uris);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("DingTalk simulator listening on http://{}", listener.local_addr()?);
    sim.serve(listener).await?;
    Ok(())
}

/// A client's token lifetime as `clients add` and `clients list` print it: its own, or the global one.
fn ttl_shown(own: Option<u64>, global: u64) -> String {
    match own {
        Some(secs) => format!("{secs} s"),
        None => format!("{global} s (default)"),
    }
}

async fn clients(config_path: Option<PathBuf>, cmd: ClientsCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    let directory = connect(&config).await?;
    match cmd {
        ClientsCommand::Add(args) => {
            let new = NewClient {
                id: args.id,
                name: args.name,
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                public: args.public,
                first_party: args.first_party,
                allowed_scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                grant_types: (!args.grant_types.is_empty()).then_some(args.grant_types),
                backchannel_logout_uri: args.backchannel_logout_uri,
                resource_server: args.resource_server,
                refresh_idle_ttl_secs: args.refresh_idle_ttl,
                refresh_absolute_ttl_secs: args.refresh_absolute_ttl,
                id_token_on_refresh: Some(!args.no_id_token_on_refresh),
                access_token_ttl_secs: args.access_token_ttl.and_then(|t| t.0),
                id_token_ttl_secs: args.id_token_ttl.and_then(|t| t.0),
            };
            let (client, secret) = directory.create_client(new).await?;
            println!("client registered: {}", client.id);
            println!("  type:          {}", if client.public { "public (PKCE, no secret)" } else { "confidential" });
            println!("  redirect URIs: {}", client.redirect_uris.join(" "));
            println!(
                "  access token:  {}",
                ttl_shown(client.access_token_ttl_secs, config.tokens.access_token_ttl_secs)
            );
            println!("  ID token:      {}", ttl_shown(client.id_token_ttl_secs, config.tokens.id_token_ttl_secs));
            if let Some(secret) = secret {
                println!("  client secret: {secret}");
                println!("Store the secret now: it is kept only as a hash and cannot be shown again.");
            }
        }
        ClientsCommand::Update(args) => {
            let update = ClientUpdate {
                name: args.name,
                redirect_uris: (!args.redirect_uris.is_empty()).then_some(args.redirect_uris),
                post_logout_redirect_uris: (!args.post_logout_redirect_uris.is_empty())
                    .then_some(args.post_logout_redirect_uris),
                backchannel_logout_uri: match (args.backchannel_logout_uri, args.no_backchannel_logout) {
                    (Some(uri), _) => Some(Some(uri)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                first_party: args.first_party,
                allowed_scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                grant_types: (!args.grant_types.is_empty()).then_some(args.grant_types),
                resource_server: args.resource_server,
                id_token_on_refresh: args.id_token_on_refresh,
                access_token_ttl_secs: args.access_token_ttl.map(|t| t.0),
                id_token_ttl_secs: args.id_token_ttl.map(|t| t.0),
            };
            match directory.update_client(&args.id, update).await? {
                Some(client) => println!("{}", serde_json::to_string_pretty(&client)?),
                None => bail!("no client {:?}", args.id),
            }
        }
        ClientsCommand::List => {
            for client in directory.list_clients().await? {
                println!(
                    "{}\t{}\t{}\taccess token {}\tID token {}",
                    client.id,
                    if client.public { "public" } else { "confidential" },
                    client.redirect_uris.join(" "),
                    ttl_shown(client.access_token_ttl_secs, config.tokens.access_token_ttl_secs),
                    ttl_shown(client.id_token_ttl_secs, config.tokens.id_token_ttl_secs),
                );
            }
        }
        ClientsCommand::Show { id } => match directory.client(&id).await? {
            Some(client) => println!("{}", serde_json::to_string_pretty(&client)?),
            None => bail!("no client {id:?}"),
        },
        ClientsCommand::RotateSecret { id } => match directory.rotate_client_secret(&id).await? {
            Some(secret) => {
                println!("client secret: {secret}");
                println!("Store the secret now: it is kept only as a hash and cannot be shown again.");
                cli_audit(&directory, "client_secret_rotated", Some(&id), serde_json::json!({})).await;
            }
            None => bail!("no client {id:?}"),
        },
        ClientsCommand::Remove { id } => {
            if directory.remove_client(&id).await? {
                println!("client {id} removed");
            } else {
                bail!("no client {id:?}");
            }
        }
    }
    Ok(())
}

async fn sessions(config_path: Option<PathBuf>, cmd: SessionsCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    config.validate(true)?;
    let directory = connect(&config).await?;
    let (store, _) = crate::start::connect_session_store(&config, &directory).await?;
    let now = chrono::Utc::now().timestamp();
    let revocation = crate::revocation::Revocation {
        denylist: None,
        sessions: store.as_ref(),
        directory: &directory,
        backchannel_retry_window_secs: config.logout.backchannel_retry_window_secs as i64,
        denial_lifetime_secs: config.tokens.denial_lifetime_secs(),
    };
    match cmd {
        SessionsCommand::List { user } => {
            for session in store.sso_sessions_of_user(&user).await? {
                let started = chrono::DateTime::from_timestamp(session.auth_time, 0).unwrap_or_default();
                let ends = chrono::DateTime::from_timestamp(session.expires_at, 0).unwrap_or_default();
                println!("{}\tsigned in {started}\tends {ends}\tclients {}", session.id, session.clients.join(","));
            }
        }
        SessionsCommand::Revoke { user: Some(user), .. } => {
            revocation.revoke_user(&user, "cli", now).await?;
            println!("all sessions and refresh tokens of {user} revoked; clients are being notified");
        }
        SessionsCommand::Revoke { session: Some(sid), .. } => match store.get_sso_session(&sid).await? {
            Some(session) => {
                revocation.end_session(&session, now).await?;
                println!("session {sid} ended; its clients are being notified");
            }
            None => bail!("no live session {sid:?}"),
        },
        SessionsCommand::Revoke { .. } => bail!("give --user or --session"),
    }
    Ok(())
}

async fn keys(config_path: Option<PathBuf>, cmd: KeysCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    config.validate(true)?;
    let kek = load_kek(&config, false)?;
    let directory = connect(&config).await?;
    let (store, _) = crate::start::connect_session_store(&config, &directory).await?;
    let holder = format!("cli-{}", crate::random::token());
    let rotation = crate::keys::Rotation {
        directory: &directory,
        kek: &kek,
        sessions: store.as_ref(),
        config: &config.keys,
        retire_grace_secs: crate::keys::retire_grace_secs(&config),
        holder: &holder,
    };
    let now = chrono::Utc::now().timestamp();
    let date = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
    match cmd {
        KeysCommand::List => {
            for key in rotation.list(now).await? {
                println!(
                    "{}\t{:?}\tcreated {}\tsigns from {}\tretires {}\tremoved {}",
                    key.kid,
                    key.state,
                    date(key.created_at),
                    date(key.activates_at),
                    key.retires_at.map(date).unwrap_or_else(|| "-".into()),
                    key.removed_at.map(date).unwrap_or_else(|| "-".into()),
                );
            }
        }
        KeysCommand::Rotate { now: immediate } => {
            if immediate {
                eprintln!(
                    "warning: --now signs with the new key at once; relying parties that cached the JWKS \
                     (up to keys.jwks_max_age_secs = {} s) reject tokens until they refetch it",
                    config.keys.jwks_max_age_secs
                );
            }
            let rotated = rotation.rotate(now, immediate).await?;
            cli_audit(&directory, "key_rotated", Some(&rotated.kid), serde_json::json!({ "created": rotated.created }))
                .await;
            let verb = if rotated.created { "published" } else { "already pending" };
            println!("key {} {verb}; signs from {}", rotated.kid, date(rotated.activates_at));
        }
        KeysCommand::Revoke { kid } => {
            let replacement = rotation.revoke(&kid, now).await?;
            cli_audit(&directory, "key_revoked", Some(&kid), serde_json::json!({ "replacement": replacement })).await;
            match replacement {
                Some(replacement) => println!("key {kid} revoked; key {replacement} signs from now"),
                None => println!("key {kid} revoked"),
            }
        }
        KeysCommand::Import { pem, now: immediate } => {
            let text = std::fs::read_to_string(&pem).with_context(|| format!("cannot read {}", pem.display()))?;
            let kid = rotation.import(&text, now, immediate).await?;
            cli_audit(&directory, "key_imported", Some(&kid), serde_json::json!({})).await;
            println!("key {kid} imported");
        }
        KeysCommand::Rewrap { new_kek, new_kek_file } => {
            let new = match (new_kek, new_kek_file) {
                (Some(b64), _) => Kek::from_base64(&b64)?,
                (None, Some(path)) => Kek::from_file(&path)?,
                (None, None) => bail!("give --new-kek or --new-kek-file"),
            };
            let count = rotation.rewrap(&new).await?;
            cli_audit(&directory, "keys_rewrapped", None, serde_json::json!({ "kek_id": new.id(), "count": count }))
                .await;
            println!("{count} keys re-sealed under KEK {}; configure it as keys.kek now", new.id());
        }
    }
    Ok(())
}

/// Audit events for changes made from the CLI (actor `cli`).
async fn cli_audit(directory: &Directory, kind: &str, subject: Option<&str>, detail: serde_json::Value) {
    let event = crate::directory::audit::AuditEvent {
        kind: kind.into(),
        actor: Some("cli".into()),
        subject: subject.map(str::to_string),
        client_id: None,
        detail,
    };
    if let Err(e) = directory.record_audit(chrono::Utc::now().timestamp(), event).await {
        eprintln!("warning: cannot record audit event: {e}");
    }
}

async fn users(config_path: Option<PathBuf>, cmd: UsersCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    config.validate(true)?;
    let directory = connect(&config).await?;
    let show = |u: &crate::directory::User| {
        println!("{}", serde_json::to_string_pretty(u).unwrap_or_default());
    };
    match cmd {
        UsersCommand::List { search, offset, limit } => {
            let (users, total) = directory.list_users(search.as_deref(), offset, limit).await?;
            for u in &users {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.id,
                    u.name.as_deref().unwrap_or("-"),
                    u.dingtalk_user_id.as_deref().unwrap_or("-"),
                    if u.disabled { "disabled" } else { "enabled" }
                );
            }
            eprintln!("{} of {total}", users.len());
        }
        UsersCommand::Show { id } => match directory.user(&id).await? {
            Some(u) => show(&u),
            None => bail!("no user {id:?}"),
        },
        UsersCommand::Disable { id } => {
            if !directory.set_user_disabled(&id, true).await? {
                bail!("no user {id:?}");
            }
            let (store, _) = crate::start::connect_session_store(&config, &directory).await?;
            let revocation = crate::revocation::Revocation {
                denylist: None,
                sessions: store.as_ref(),
                directory: &directory,
                backchannel_retry_window_secs: config.logout.backchannel_retry_window_secs as i64,
                denial_lifetime_secs: config.tokens.denial_lifetime_secs(),
            };
            revocation.revoke_user(&id, "disabled from the CLI", chrono::Utc::now().timestamp()).await?;
            cli_audit(&directory, "user_disabled", Some(&id), serde_json::json!({})).await;
            println!("user {id} disabled; sessions, refresh tokens and access tokens revoked");
        }
        UsersCommand::Enable { id } => {
            if !directory.set_user_disabled(&id, false).await? {
                bail!("no user {id:?}");
            }
            cli_audit(&directory, "user_enabled", Some(&id), serde_json::json!({})).await;
            println!("user {id} enabled");
        }
    }
    Ok(())
}

async fn roles(config_path: Option<PathBuf>, cmd: RolesCommand) -> anyhow::Result<()> {
    use crate::directory::roles::MappingRule;
    let config = Config::load(config_path.as_deref())?;
    config.validate(true)?;
    let directory = connect(&config).await?;
    match cmd {
        RolesCommand::Create { name, description } => {
            directory.create_role(&name, &description).await?;
            cli_audit(&directory, "role_created", Some(&name), serde_json::json!({})).await;
            println!("role {name} created");
        }
        RolesCommand::List => {
            for role in directory.list_roles().await? {
                println!("{}\t{}", role.name, role.description);
            }
        }
        RolesCommand::Show { name } => match directory.role(&name).await? {
            Some(role) => println!("{}", serde_json::to_string_pretty(&role)?),
            None => bail!("no role {name:?}"),
        },
        RolesCommand::Update { name, description } => {
            if directory.update_role(&name, &description).await?.is_none() {
                bail!("no role {name:?}");
            }
            cli_audit(&directory, "role_updated", Some(&name), serde_json::json!({})).await;
            println!("role {name} updated");
        }
        RolesCommand::Delete { name } => {
            if !directory.delete_role(&name).await? {
                bail!("no role {name:?}");
            }
            cli_audit(&directory, "role_deleted", Some(&name), serde_json::json!({})).await;
            println!("role {name} deleted");
        }
        RolesCommand::Grant { user, role } => {
            directory.grant_role(&user, &role).await?;
            cli_audit(&directory, "role_granted", Some(&user), serde_json::json!({ "role": role })).await;
            println!("{role} granted to {user} (effective at the next login or recheck)");
        }
        RolesCommand::Revoke { user, role } => {
            if !directory.revoke_grant(&user, &role).await? {
                bail!("{user} has no direct grant of {role}");
            }
            cli_audit(&directory, "role_grant_revoked", Some(&user), serde_json::json!({ "role": role })).await;
            println!("{role} taken from {user}");
        }
        RolesCommand::Mappings(MappingsCommand::Add {
            role,
            department,
            include_sub_departments,
            org_role,
            org_admin,
            leader,
        }) => {
            let rule = match (department, org_role, org_admin, leader) {
                (dept, None, false, true) => MappingRule::DepartmentLeader { dept_id: dept },
                (Some(dept_id), None, false, false) => MappingRule::Department { dept_id, include_sub_departments },
                (None, Some(role_id), false, false) => MappingRule::OrgRole { role_id },
                (None, None, true, false) => MappingRule::OrgAdmin,
                _ => bail!("give exactly one of --department, --org-role, --org-admin, --leader [--department]"),
            };
            let mapping = directory.create_mapping(&role, rule).await?;
            cli_audit(&directory, "mapping_created", Some(&role), serde_json::json!({ "id": mapping.id })).await;
            println!("mapping {} created", mapping.id);
        }
        RolesCommand::Mappings(MappingsCommand::List) => {
            for m in directory.list_mappings().await? {
                println!("{}\t{}\t{}", m.id, m.role, serde_json::to_string(&m.rule)?);
            }
        }
        RolesCommand::Mappings(MappingsCommand::Remove { id }) => {
            if !directory.delete_mapping(&id).await? {
                bail!("no mapping {id:?}");
            }
            cli_audit(&directory, "mapping_deleted", None, serde_json::json!({ "id": id })).await;
            println!("mapping {id} removed");
        }
    }
    Ok(())
}

async fn audit(config_path: Option<PathBuf>, args: AuditArgs) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    config.validate(true)?;
    let directory = connect(&config).await?;
    let query = crate::directory::audit::AuditQuery {
        kind: args.kind,
        actor: args.actor,
        subject: args.subject,
        since: args.since,
        until: args.until,
        limit: args.limit,
    };
    for e in directory.audit_events(&query).await? {
        let at = chrono::DateTime::from_timestamp(e.at, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
        println!(
            "{at}\t{}\tactor={}\tsubject={}\tclient={}\t{}",
            e.kind,
            e.actor.as_deref().unwrap_or("-"),
            e.subject.as_deref().unwrap_or("-"),
            e.client_id.as_deref().unwrap_or("-"),
            e.detail
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// Session ids and user ids are base64url and may start with `-`: given as the next argument
    /// they are values, not options.
    #[test]
    fn ids_that_start_with_a_dash_are_values() {
        let cli = Cli::try_parse_from(["dingtalk-oidc", "sessions", "revoke", "--session", "-Mx3_a"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Sessions(SessionsCommand::Revoke { session: Some(ref s), user: None }) if s == "-Mx3_a"
        ));
        let cli = Cli::try_parse_from(["dingtalk-oidc", "sessions", "list", "--user", "-u1"]).unwrap();
        assert!(matches!(cli.command, Command::Sessions(SessionsCommand::List { ref user }) if user == "-u1"));
    }
}
