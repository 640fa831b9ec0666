//! Start-up: connects the directory and the SessionStore, loads the signing keys, builds the
//! [`App`] and starts its background workers (`workers`).

mod app_token;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use app_token::StoreTokenCache;

use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::dingtalk::{DingTalkClient, Organisations};
use crate::directory::Directory;
use crate::keys::{Kek, Keys};
use crate::login::outcome::LoginOutcome;
use crate::store::{RedisSessionStore, RedisSettings, SessionStore, SqlSessionStore, StoreError};
use crate::tokens::Verifier;
use crate::web::cookies::CookiePolicy;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database {url}: {source}")]
    Database { url: String, source: crate::directory::DirectoryError },
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    DingTalk(#[from] crate::dingtalk::DingTalkError),
    #[error("HTTP client: {0}")]
    Http(String),
    #[error("session store ({backend}): {source}")]
    Sessions { backend: String, source: StoreError },
}

// The start-up is written as `App::start` (an inherent impl may live in any module of the crate):
// the application state itself (`app`) knows nothing of how it is built.
impl App {
    /// Connects the directory (running migrations), loads or creates the signing key, and wires
    /// the SessionStore and DingTalk client.
    pub async fn start(config: Config, kek: Kek) -> Result<Arc<App>, StartError> {
        App::start_with_clock(config, kek, Arc::new(SystemClock)).await
    }

    /// As [`start`](Self::start), with the protocol clock given (tests move it forward).
    pub async fn start_with_clock(config: Config, kek: Kek, clock: Arc<dyn Clock>) -> Result<Arc<App>, StartError> {
        let directory = Directory::connect_configured(&config.database)
            .await
            .map_err(|source| StartError::Database { url: redact_url(&config.database.url), source })?;
        directory
            .migrate()
            .await
            .map_err(|source| StartError::Database { url: redact_url(&config.database.url), source })?;
        let (sessions, sweeper) = connect_session_store(&config, &directory).await?;
        let instance_id = crate::secrets::token();
        let ring = crate::keys::load_or_create_ring(
            &directory,
            &kek,
            clock.now(),
            crate::keys::ring_schedule(&config.keys),
            sessions.as_ref(),
            &instance_id,
        )
        .await?;
        let organisations = Organisations::build(&config.dingtalk, |settings| {
            let token_cache = StoreTokenCache::new(sessions.clone(), &settings.client_secret);
            DingTalkClient::with_shared_cache(settings, Some(Arc::new(token_cache)))
        })?;
        // Users and mapping rules from before several organisations belong to the default one.
        directory
            .adopt_unassigned(&organisations.default_org().key)
            .await
            .map_err(|source| StartError::Database { url: redact_url(&config.database.url), source })?;
        let issuer = config.issuer_base().to_string();
        let discovery = crate::oidc::discovery::render(&issuer, config.registration.enabled);
        let cookies = CookiePolicy { secure: issuer.starts_with("https://") };
        // Install the metrics recorder before the first request counts anything.
        crate::metrics::spawn_upkeep();
        crate::metrics::count_logins_from_zero(LoginOutcome::ALL.map(LoginOutcome::label));
        let backchannel_http =
            crate::outbound::Callers::new(Duration::from_millis(config.logout.backchannel_timeout_ms))
                .map_err(StartError::Http)?;
        // Without an operator's list of allowed hosts, self-registered clients' URIs are called
        // only at public addresses (`outbound`).
        let public_only_for_self_registered = config.registration.allowed_redirect_hosts.is_empty();
        let admin_token_hash =
            config.admin_token.as_ref().filter(|t| !t.0.is_empty()).map(|t| crate::secrets::hash(&t.0));
        let mut config = config;
        config.admin_token = None;
        let directory = directory.with_cache(Duration::from_secs(config.database.cache_ttl_secs));
        let limits = Arc::new(crate::web::limits::Limits::new(&config.limits));
        let client_addr = Arc::new(crate::web::client_addr::ClientAddrRule::from_config(&config.server)?);
        let keys = Arc::new(Keys::new(ring));
        let verifier = Verifier::new(&issuer, keys.clone(), clock.clone(), sessions.clone(), &config.tokens);
        let app = Arc::new(App {
            limits,
            client_addr,
            admin_token_hash,
            config,
            userinfo_audience: crate::tokens::userinfo_audience(&issuer),
            admin_audience: crate::tokens::admin_audience(&issuer),
            issuer,
            directory,
            sessions,
            keys,
            verifier,
            kek,
            organisations,
            cookies,
            discovery,
            instance_id,
            clock,
            backchannel_http,
            client_keys: crate::directory::client_keys::ClientKeySets::new(public_only_for_self_registered)
                .map_err(StartError::Http)?,
            drain: Arc::new(crate::drain::Drain::new()),
        });
        crate::oidc::backchannel::spawn_worker(Arc::downgrade(&app));
        workers::spawn_key_maintenance(Arc::downgrade(&app));
        workers::spawn_limit_eviction(Arc::downgrade(&app.limits));
        if let Some(store) = sweeper {
            workers::spawn_sweeper(Arc::downgrade(&app), store);
        }
        Ok(app)
    }
}

/// The SessionStore the config chooses; for the SQL backend also the handle its sweeper uses.
pub async fn connect_session_store(
    config: &Config,
    directory: &Directory,
) -> Result<(Arc<dyn SessionStore>, Option<SqlSessionStore>), StartError> {
    Ok(match config.sessions.backend.as_str() {
        "redis" => {
            let settings = RedisSettings {
                url: config.redis.url.clone(),
                prefix: config.redis.prefix.clone(),
                pool_size: config.redis.pool_size,
                command_timeout: Duration::from_millis(config.redis.command_timeout_ms),
                connect_timeout: Duration::from_millis(config.redis.connect_timeout_ms),
            };
            let store = RedisSessionStore::connect(&settings).await.map_err(|source| StartError::Sessions {
                backend: format!("redis at {}", redact_url(&config.redis.url)),
                source,
            })?;
            (Arc::new(store), None)
        }
        _ => {
            let store = SqlSessionStore::new(directory.connection().clone());
            (Arc::new(store.clone()), Some(store))
        }
    })
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
