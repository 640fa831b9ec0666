//! The application state every handler receives: explicit, behind one `Arc`, no globals.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::dingtalk::DingTalkClient;
use crate::directory::Directory;
use crate::keys::{Kek, Keys};
use crate::oidc::discovery::RenderedDocument;
use crate::store::{RedisSessionStore, RedisSettings, SessionStore, SqlSessionStore, StoreError};
use crate::tokens::TokenError;
use crate::tokens::cache::{DenylistCache, VerifiedToken, VerifiedTokens};
use crate::web::cookies::CookiePolicy;

pub struct App {
    pub config: Config,
    /// The issuer without a trailing slash; endpoint URLs are this plus a path.
    pub issuer: String,
    /// RFC 9068 §3 resource identifiers of our access tokens, derived once from the issuer so the
    /// verifying endpoints (userinfo, introspection, revocation, admin) do not format them per request.
    pub userinfo_audience: String,
    pub admin_audience: String,
    pub directory: Directory,
    pub sessions: Arc<dyn SessionStore>,
    pub keys: Keys,
    pub dingtalk: DingTalkClient,
    pub cookies: CookiePolicy,
    /// Discovery metadata rendered once (it changes only with the config).
    pub discovery: RenderedDocument,
    /// Names this process when it takes a lease (sweeper, key rotation).
    pub instance_id: String,
    /// Protocol time (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// Opens the sealed signing keys when the ring is rebuilt.
    pub kek: Kek,
    /// SHA-256 of the bootstrap admin token (the token itself is not kept).
    pub admin_token_hash: Option<String>,
    /// Per-instance rate limits.
    pub limits: Arc<crate::web::limits::Limits>,
    /// How the client's address is found behind `server.trusted_proxies`.
    pub client_addr: Arc<crate::web::client_addr::ClientAddrRule>,
    /// Delivers back-channel logout tokens (bounded timeout, no redirects).
    pub backchannel_http: reqwest::Client,
    /// Access tokens already verified, and what the denylist said (see `tokens::cache`).
    pub verified_tokens: VerifiedTokens,
    pub denylist: DenylistCache,
    /// Set when shutting down; counts the requests in flight (see `drain`).
    pub drain: Arc<crate::drain::Drain>,
}

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
        let instance_id = crate::random::token();
        let ring = crate::keys::load_or_create_ring(
            &directory,
            &kek,
            clock.now(),
            ring_schedule(&config),
            sessions.as_ref(),
            &instance_id,
        )
        .await?;
        let token_cache =
            StoreTokenCache { sessions: sessions.clone(), app_secret: config.dingtalk.client_secret.clone() };
        let dingtalk = DingTalkClient::with_shared_cache(config.dingtalk.clone(), Some(Arc::new(token_cache)))?;
        let issuer = config.issuer_base().to_string();
        let discovery = crate::oidc::discovery::render(&issuer);
        let cookies = CookiePolicy { secure: issuer.starts_with("https://") };
        // Install the metrics recorder before the first request counts anything.
        crate::metrics::spawn_upkeep();
        let backchannel_http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.logout.backchannel_timeout_ms))
            .connect_timeout(Duration::from_millis(config.logout.backchannel_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dingtalk-oidc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StartError::Http(e.to_string()))?;
        let admin_token_hash =
            config.admin_token.as_ref().filter(|t| !t.0.is_empty()).map(|t| crate::random::hash(&t.0));
        let mut config = config;
        config.admin_token = None;
        let config_verified_cache = config.tokens.verified_token_cache;
        let config_denylist_recheck = config.tokens.denylist_recheck_ms;
        let directory = directory.with_cache(Duration::from_secs(config.database.cache_ttl_secs));
        let limits = Arc::new(crate::web::limits::Limits::new(&config.limits));
        let client_addr = Arc::new(crate::web::client_addr::ClientAddrRule::from_config(&config.server)?);
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
            keys: Keys::new(ring),
            kek,
            dingtalk,
            cookies,
            discovery,
            instance_id,
            clock,
            backchannel_http,
            verified_tokens: VerifiedTokens::new(config_verified_cache),
            denylist: DenylistCache::new(Duration::from_millis(config_denylist_recheck)),
            drain: Arc::new(crate::drain::Drain::new()),
        });
        crate::oidc::backchannel::spawn_worker(Arc::downgrade(&app));
        spawn_key_maintenance(Arc::downgrade(&app));
        spawn_limit_eviction(Arc::downgrade(&app.limits));
        if let Some(store) = sweeper {
            spawn_sweeper(Arc::downgrade(&app), store);
        }
        Ok(app)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Verifies an access token of ours for one of `audiences` (RFC 9068 §4): signature, `typ`,
    /// issuer and the caller's audience, expiry with `leeway_secs`. A token verified before under
    /// the current key ring is not verified again (see `tokens::cache`).
    pub fn verify_access_token(
        &self,
        token: &str,
        audiences: &[&str],
        leeway_secs: u64,
    ) -> Result<Arc<VerifiedToken>, TokenError> {
        let ring = self.keys.ring();
        let now = self.now();
        let verified = match self.verified_tokens.get(token, &ring) {
            Some(verified) => verified,
            None => {
                // Verified for the audiences we issue at all; the caller's audience is checked below.
                let claims = crate::tokens::verify_access_token(
                    &ring,
                    token,
                    &self.issuer,
                    &[&self.userinfo_audience, &self.admin_audience],
                    leeway_secs,
                    now,
                )?;
                self.verified_tokens.insert(token, ring, claims)
            }
        };
        let claims = &verified.claims;
        if !audiences.contains(&claims.aud.as_str()) {
            return Err(TokenError::Invalid("the token is for another audience".into()));
        }
        if claims.exp + leeway_secs as i64 <= now {
            return Err(TokenError::Invalid("expired".into()));
        }
        Ok(verified)
    }

    /// Verifies an access token of ours for either resource (userinfo or admin), as introspection
    /// (RFC 7662 §2.2) and revocation (RFC 7009 §2.1) need: any token we issued, whatever it is for.
    pub fn verify_any_access_token(&self, token: &str) -> Result<Arc<VerifiedToken>, TokenError> {
        self.verify_access_token(token, &[&self.userinfo_audience, &self.admin_audience], 0)
    }

    /// RFC 7009 §2.1, RFC 7662 §2.2: whether the access token was revoked (by `jti`, with its
    /// family, or with all of its user's tokens), remembered per instance for
    /// `tokens.denylist_recheck_ms` (see `tokens::cache`).
    pub async fn is_access_token_denied(&self, claims: &crate::tokens::AccessClaims) -> Result<bool, StoreError> {
        let check = crate::store::DenyCheck { jti: &claims.jti, sub: &claims.sub, auth_time: claims.auth_time };
        self.denylist.is_denied(&claims.jti, || self.sessions.is_access_token_denied(check)).await
    }

    pub fn rotation(&self) -> crate::keys::Rotation<'_> {
        crate::keys::Rotation {
            directory: &self.directory,
            kek: &self.kek,
            sessions: self.sessions.as_ref(),
            config: &self.config.keys,
            retire_grace_secs: retire_grace_secs(&self.config),
            holder: &self.instance_id,
        }
    }

    /// Picks up key changes made elsewhere (or due by time) and performs the scheduled rotation.
    pub async fn maintain_keys(&self) -> Result<(), crate::keys::KeyError> {
        let now = self.now();
        if let Some(rotated) = self.rotation().rotate_if_due(now).await? {
            tracing::info!(kid = %rotated.kid, "scheduled key rotation");
            let event = crate::directory::audit::AuditEvent {
                kind: crate::directory::audit::AuditKind::KeyRotated,
                actor: Some("scheduler".into()),
                subject: Some(rotated.kid.clone()),
                client_id: None,
                detail: serde_json::json!({ "activates_at": rotated.activates_at }),
            };
            if let Err(e) = self.directory.record_audit(now, event).await {
                tracing::error!(error = %e, "cannot record audit event");
            }
        }
        let rows = self.directory.signing_keys().await?;
        let ring = self.keys.ring();
        let changed = crate::keys::ring::fingerprint(&rows) != ring.fingerprint();
        if changed || ring.next_change().is_some_and(|t| now >= t) {
            let rebuilt = crate::keys::KeyRing::from_rows(&rows, &self.kek, now, ring_schedule(&self.config))?;
            self.keys.replace(rebuilt);
        }
        Ok(())
    }

    pub fn revocation(&self) -> crate::revocation::Revocation<'_> {
        crate::revocation::Revocation {
            sessions: self.sessions.as_ref(),
            denylist: Some(&self.denylist),
            directory: &self.directory,
            backchannel_retry_window_secs: self.config.logout.backchannel_retry_window_secs as i64,
            denial_lifetime_secs: self.config.tokens.denial_lifetime_secs(),
        }
    }

    pub fn endpoint_url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
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

pub fn ring_schedule(config: &Config) -> crate::keys::RingSchedule {
    crate::keys::RingSchedule { rotation_period_secs: config.keys.rotation_period_secs as i64 }
}

/// How long a retired key stays published: the longest token it signed, plus clock skew. Access and
/// ID token lifetimes are per client, so the longest is their fixed bound
/// (`tokens::lifetime::MAX_TOKEN_TTL_SECS`), not the global `tokens.*_ttl_secs`.
pub fn retire_grace_secs(config: &Config) -> i64 {
    let longest = crate::tokens::MAX_TOKEN_TTL_SECS.max(config.logout.logout_token_ttl_secs);
    i64::try_from(longest.saturating_add(config.tokens.leeway_secs)).unwrap_or(i64::MAX)
}

/// Once a minute, forget rate-limit keys that have been idle past their window.
fn spawn_limit_eviction(limits: std::sync::Weak<crate::web::limits::Limits>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            match limits.upgrade() {
                Some(limits) => limits.evict_idle(),
                None => return,
            }
        }
    });
}

/// Every `keys.reload_interval_secs`: reload the key ring if it changed, rotate if due.
fn spawn_key_maintenance(app: std::sync::Weak<App>) {
    tokio::spawn(async move {
        loop {
            let interval = match app.upgrade() {
                Some(app) => {
                    if let Err(e) = app.maintain_keys().await {
                        tracing::warn!(error = %e, "key maintenance failed");
                    }
                    app.config.keys.reload_interval_secs
                }
                None => return,
            };
            tokio::time::sleep(Duration::from_secs(interval)).await;
        }
    });
}

/// Deletes expired SQL session records in bounded batches, on one instance at a time (a lease in
/// the store). Reads never depend on it: every read checks `expires_at` itself.
fn spawn_sweeper(app: std::sync::Weak<App>, store: SqlSessionStore) {
    tokio::spawn(async move {
        loop {
            let interval = match app.upgrade() {
                Some(app) => app.config.sessions.sweep_interval_secs,
                None => return,
            };
            tokio::time::sleep(Duration::from_secs(interval)).await;
            let Some(app) = app.upgrade() else { return };
            match store.try_lock("sweeper", &app.instance_id, interval.saturating_mul(2)).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "sweeper cannot take its lease");
                    continue;
                }
            }
            let batch = app.config.sessions.sweep_batch;
            loop {
                match store.sweep_expired(batch).await {
                    Ok(n) if n >= batch => continue,
                    Ok(n) => {
                        if n > 0 {
                            tracing::debug!(deleted = n, "swept expired session records");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sweeping expired session records failed");
                        break;
                    }
                }
            }
        }
    });
}

/// The DingTalk app token shared through the SessionStore, so the instances fetch one between
/// them. It is a credential (it reads the organisation's directory), so the store holds it sealed
/// under the DingTalk app secret, which every instance has and the store never sees.
struct StoreTokenCache {
    sessions: Arc<dyn SessionStore>,
    app_secret: String,
}

/// What the shared app token is sealed for (see `sealed`).
const APP_TOKEN_SEAL: &str = "dingtalk-oidc shared dingtalk app token";

#[async_trait::async_trait]
impl crate::dingtalk::client::SharedTokenCache for StoreTokenCache {
    async fn get(&self, name: &str) -> Option<String> {
        let sealed = self.sessions.get_cached(name).await.ok().flatten()?;
        // A value sealed under another secret (the app secret was rotated) or written unsealed by
        // an earlier version is not used: the client fetches a fresh token.
        crate::sealed::open(APP_TOKEN_SEAL, self.app_secret.as_bytes(), &sealed)
    }

    async fn put(&self, name: &str, value: &str, ttl_secs: u64) {
        let Some(sealed) = crate::sealed::seal(APP_TOKEN_SEAL, self.app_secret.as_bytes(), value) else {
            tracing::warn!("cannot seal the DingTalk app token; it is not shared");
            return;
        };
        if let Err(e) = self.sessions.put_cached(name, &sealed, ttl_secs).await {
            tracing::warn!(error = %e, "cannot share the DingTalk app token");
        }
    }
}
