//! `registration-tokens`: initial access tokens for dynamic client registration (RFC 7591 §3),
//! when `registration.enabled`: issue (printed once), list (never the tokens), revoke.

use std::path::PathBuf;

use clap::Subcommand;

use super::{cli_error, load_and_connect};
use crate::manage::{self, Actor, Manage};

#[derive(Debug, Subcommand)]
pub enum RegistrationTokensCommand {
    /// Issue a token that lets its holder register clients at POST /register; printed once.
    Issue {
        /// What the token is for (shown in lists).
        #[arg(long, default_value = "")]
        description: String,
        /// Seconds until it expires (1 to 7776000, 90 days).
        #[arg(long, value_name = "SECS", default_value_t = manage::registration::DEFAULT_INITIAL_TOKEN_TTL_SECS)]
        expires_in: u64,
    },
    /// List tokens: id, expiry, description (never the tokens).
    List,
    /// Revoke a token by its id: no client can be registered with it any more.
    Revoke {
        /// The token's id, as `registration-tokens list` shows it.
        id: String,
    },
}

pub(super) async fn run(config_path: Option<PathBuf>, cmd: RegistrationTokensCommand) -> anyhow::Result<()> {
    let (_, directory) = load_and_connect(config_path).await?;
    let m = Manage::standalone(&directory, Actor::cli());
    match cmd {
        RegistrationTokensCommand::Issue { description, expires_in } => {
            let (token, secret) = manage::registration::issue(&m, &description, expires_in).await.map_err(cli_error)?;
            let expires = chrono::DateTime::from_timestamp(token.expires_at, 0).unwrap_or_default();
            println!("initial access token {} issued, expires {expires}", token.id);
            println!("  token: {secret}");
            println!("Hand it over now: it is kept only as a hash and cannot be shown again.");
        }
        RegistrationTokensCommand::List => {
            for token in manage::registration::list(&directory).await.map_err(cli_error)? {
                let expires = chrono::DateTime::from_timestamp(token.expires_at, 0).unwrap_or_default();
                println!("{}\texpires {expires}\t{}", token.id, token.description);
            }
        }
        RegistrationTokensCommand::Revoke { id } => {
            manage::registration::revoke(&m, &id).await.map_err(cli_error)?;
            println!("initial access token {id} revoked");
        }
    }
    Ok(())
}
