//! `keys`: list, rotate, revoke, import, rewrap.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::{cli_error, connect, load_kek};
use crate::config::Config;
use crate::keys::Kek;
use crate::manage::{self, Actor, Manage};

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
        /// The key id (kid). A kid is base64url and may start with `-`: it is a value all the same.
        #[arg(allow_hyphen_values = true)]
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

pub(super) async fn run(config_path: Option<PathBuf>, cmd: KeysCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    config.validate(true)?;
    let kek = load_kek(&config, false)?;
    let directory = connect(&config).await?;
    let (store, _) = crate::start::connect_session_store(&config, &directory).await?;
    let holder = format!("cli-{}", crate::secrets::token());
    let rotation = crate::keys::Rotation {
        directory: &directory,
        kek: &kek,
        sessions: store.as_ref(),
        config: &config.keys,
        retire_grace_secs: crate::keys::retire_grace_secs(&config),
        holder: &holder,
    };
    let m = Manage::standalone(&directory, Actor::cli());
    let date = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
    match cmd {
        KeysCommand::List => {
            for key in rotation.list(m.now).await? {
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
            let rotated = manage::keys::rotate(&m, &rotation, immediate).await.map_err(cli_error)?;
            let verb = if rotated.created { "published" } else { "already pending" };
            println!("key {} {verb}; signs from {}", rotated.kid, date(rotated.activates_at));
        }
        KeysCommand::Revoke { kid } => match manage::keys::revoke(&m, &rotation, &kid).await.map_err(cli_error)? {
            Some(replacement) => println!("key {kid} revoked; key {replacement} signs from now"),
            None => println!("key {kid} revoked"),
        },
        KeysCommand::Import { pem, now: immediate } => {
            let text = std::fs::read_to_string(&pem).with_context(|| format!("cannot read {}", pem.display()))?;
            let kid = manage::keys::import(&m, &rotation, &text, immediate).await.map_err(cli_error)?;
            println!("key {kid} imported");
        }
        KeysCommand::Rewrap { new_kek, new_kek_file } => {
            let new = match (new_kek, new_kek_file) {
                (Some(b64), _) => Kek::from_base64(&b64)?,
                (None, Some(path)) => Kek::from_file(&path)?,
                (None, None) => bail!("give --new-kek or --new-kek-file"),
            };
            let count = manage::keys::rewrap(&m, &rotation, &new).await.map_err(cli_error)?;
            println!("{count} keys re-sealed under KEK {}; configure it as keys.kek now", new.id());
        }
    }
    Ok(())
}
