//! The application state every handler receives: explicit, behind one `Arc`, no globals.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::dingtalk::DingTalkClient;
use crate::directory::Directory;
use crate::keys::{Kek, Keys};
use crate::oidc::discovery::RenderedDocument;
use crate::store::{SessionStore, SqlSessionStore};
use crate::web::cookies::CookiePolicy;

pub struct App {
    pub config: Config,
    /// The issuer without a trailing slash; endpoint URLs are this plus a path.
    pub issuer: String,
    pub directory: Directory,
    pub sessions: Arc<dyn SessionStore>,
    pub keys: Keys,
    pub dingtalk: DingTalkClient,
    pub cookies: CookiePolicy,
    /// Discovery metadata rendered once (it changes only with the config).
    pub discovery: RenderedDocument,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database {url}: {source}")]
    Database {
        url: String,
        source: crate::directory::DirectoryError,
    },
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    DingTalk(#[from] crate::dingtalk::DingTalkError),
}

impl App {
    /// Connects the directory (running migrations), loads or creates the signing key, and wires
    /// the SessionStore and DingTalk client.
    pub async fn start(config: Config, kek: &Kek) -> Result<Arc<App>, StartError> {
        let directory = Directory::connect(
            &config.database.url,
            config.database.max_connections,
            Duration::from_millis(config.database.connect_timeout_ms),
        )
        .await
        .map_err(|source| StartError::Database {
            url: redact_url(&config.database.url),
            source,
        })?;
        directory
            .migrate()
            .await
            .map_err(|source| StartError::Database {
                url: redact_url(&config.database.url),
                source,
            })?;
        let ring = crate::keys::load_or_create_ring(&directory, kek).await?;
        let sessions: Arc<dyn SessionStore> =
            Arc::new(SqlSessionStore::new(directory.connection().clone()));
        let dingtalk = DingTalkClient::new(config.dingtalk.clone())?;
        let issuer = config.issuer_base().to_string();
        let discovery = crate::oidc::discovery::render(&issuer);
        let cookies = CookiePolicy {
            secure: issuer.starts_with("https://"),
        };
        Ok(Arc::new(App {
            config,
            issuer,
            directory,
            sessions,
            keys: Keys::new(ring),
            dingtalk,
            cookies,
            discovery,
        }))
    }

    pub fn endpoint_url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

/// A database URL without its password, fit for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
