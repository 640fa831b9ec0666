//! `users`: list, show, disable, enable.

use std::path::PathBuf;

use clap::Subcommand;

use super::{cli_error, load_and_connect, revocation};
use crate::manage::{self, Actor, Manage};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users (search matches name, DingTalk userid, unionId or email).
    List {
        #[arg(long)]
        search: Option<String>,
        /// Only the users of this DingTalk organisation (corp id).
        #[arg(long, value_name = "CORP_ID")]
        organisation: Option<String>,
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

pub(super) async fn run(config_path: Option<PathBuf>, cmd: UsersCommand) -> anyhow::Result<()> {
    let (config, directory) = load_and_connect(config_path).await?;
    let m = Manage::standalone(&directory, Actor::cli());
    match cmd {
        UsersCommand::List { search, organisation, offset, limit } => {
            let (users, total) =
                directory.list_users_of(organisation.as_deref(), search.as_deref(), offset, limit).await?;
            for u in &users {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.id,
                    u.name.as_deref().unwrap_or("-"),
                    u.dingtalk_user_id.as_deref().unwrap_or("-"),
                    if u.org_id.is_empty() { "-" } else { u.org_id.as_str() },
                    if u.disabled { "disabled" } else { "enabled" }
                );
            }
            eprintln!("{} of {total}", users.len());
        }
        UsersCommand::Show { id } => {
            let user = manage::users::get(&directory, &id).await.map_err(cli_error)?;
            println!("{}", serde_json::to_string_pretty(&user).unwrap_or_default());
        }
        UsersCommand::Disable { id } => {
            let (store, _) = crate::start::connect_session_store(&config, &directory).await?;
            let revocation = revocation(&config, store.as_ref(), &directory);
            manage::users::disable(&m, &revocation, &id).await.map_err(cli_error)?;
            println!("user {id} disabled; sessions, refresh tokens and access tokens revoked");
        }
        UsersCommand::Enable { id } => {
            manage::users::enable(&m, &id).await.map_err(cli_error)?;
            println!("user {id} enabled");
        }
    }
    Ok(())
}
