//! `sessions`: list a user's SSO sessions, end them.

use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;

use super::{cli_error, load_and_connect, revocation};
use crate::manage::{self, Actor, Manage};

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

pub(super) async fn run(config_path: Option<PathBuf>, cmd: SessionsCommand) -> anyhow::Result<()> {
    let (config, directory) = load_and_connect(config_path).await?;
    let (store, _) = crate::start::connect_session_store(&config, &directory).await?;
    let revocation = revocation(&config, store.as_ref(), &directory);
    let m = Manage::standalone(&directory, Actor::cli());
    match cmd {
        SessionsCommand::List { user } => {
            for session in store.sso_sessions_of_user(&user).await? {
                let started = chrono::DateTime::from_timestamp(session.auth_time, 0).unwrap_or_default();
                let ends = chrono::DateTime::from_timestamp(session.expires_at, 0).unwrap_or_default();
                println!("{}\tsigned in {started}\tends {ends}\tclients {}", session.id, session.clients.join(","));
            }
        }
        SessionsCommand::Revoke { user: Some(user), .. } => {
            manage::sessions::revoke_user_sessions(&m, &revocation, &user).await.map_err(cli_error)?;
            println!("all sessions and refresh tokens of {user} revoked; clients are being notified");
        }
        SessionsCommand::Revoke { session: Some(sid), .. } => {
            manage::sessions::end_session(&m, &revocation, &sid).await.map_err(cli_error)?;
            println!("session {sid} ended; its clients are being notified");
        }
        SessionsCommand::Revoke { .. } => bail!("give --user or --session"),
    }
    Ok(())
}
