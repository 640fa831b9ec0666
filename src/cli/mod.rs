//! The command line: `serve`, `healthcheck`, `migrate`, `simulator`, `clients`, `registration-tokens`,
//! `openapi`, ...
//! This file holds the top-level clap definitions and the dispatch; each command group parses its
//! flags, calls the management operation (`manage`) and prints, in its own file.

mod audit;
mod clients;
mod keys;
mod registration;
mod roles;
mod serve;
mod sessions;
mod users;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

pub use self::clients::{AddClientArgs, ClientsCommand, TokenTtlArg, UpdateClientArgs};
pub use self::keys::KeysCommand;
pub use self::registration::RegistrationTokensCommand;
pub use self::roles::{MappingsCommand, RolesCommand};
pub use self::sessions::SessionsCommand;
pub use self::users::UsersCommand;
use crate::config::Config;
use crate::directory::Directory;
use crate::keys::Kek;
use crate::manage::{ManageError, Missing};
use crate::revocation::Revocation;
use crate::store::SessionStore;

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
    /// Initial access tokens for dynamic client registration (registration.enabled).
    #[command(subcommand, name = "registration-tokens")]
    RegistrationTokens(RegistrationTokensCommand),
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(cli.config, args).await,
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
        Command::Simulator(args) => serve::run_simulator(args).await,
        Command::Clients(cmd) => clients::run(cli.config, cmd).await,
        Command::Sessions(cmd) => sessions::run(cli.config, cmd).await,
        Command::Keys(cmd) => keys::run(cli.config, cmd).await,
        Command::Users(cmd) => users::run(cli.config, cmd).await,
        Command::Roles(cmd) => roles::run(cli.config, cmd).await,
        Command::RegistrationTokens(cmd) => registration::run(cli.config, cmd).await,
        Command::Audit(args) => audit::run(cli.config, args).await,
        Command::Openapi => {
            print!("{}", crate::admin::spec_yaml());
            Ok(())
        }
    }
}

async fn connect(config: &Config) -> anyhow::Result<Directory> {
    let directory = Directory::connect_configured(&config.database)
        .await
        .with_context(|| format!("database {}", crate::start::redact_url(&config.database.url)))?;
    directory.migrate().await?;
    Ok(directory)
}

/// The validated configuration and the migrated directory that the directory commands (`audit`,
/// `roles`, `sessions`, `users`) start from.
async fn load_and_connect(config_path: Option<PathBuf>) -> anyhow::Result<(Config, Directory)> {
    let config = Config::load(config_path.as_deref())?;
    config.validate(true)?;
    let directory = connect(&config).await?;
    Ok((config, directory))
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

/// Revocation from outside the server: there is no denylist cache to tell (the instances recheck
/// the store).
fn revocation<'a>(config: &Config, sessions: &'a dyn SessionStore, directory: &'a Directory) -> Revocation<'a> {
    Revocation::new(config, sessions, directory, None)
}

/// A management operation's failure in the CLI's words, where they differ from the admin API's.
fn cli_error(e: ManageError) -> anyhow::Error {
    match e {
        ManageError::NotFound(Missing::Grant { user, role }) => anyhow::anyhow!("{user} has no direct grant of {role}"),
        ManageError::NotFound(Missing::Session(sid)) => anyhow::anyhow!("no live session {sid:?}"),
        other => other.into(),
    }
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
        // A kid is base64url too (1 in 64 starts with `-`: manage_parity failed on one in CI).
        let cli = Cli::try_parse_from(["dingtalk-oidc", "keys", "revoke", "-VdWRKXVNqPCO"]).unwrap();
        assert!(matches!(cli.command, Command::Keys(keys::KeysCommand::Revoke { ref kid }) if kid == "-VdWRKXVNqPCO"));
    }
}
