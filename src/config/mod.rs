//! Typed configuration: a TOML file (`--config FILE`) overlaid with `DINGTALK_OIDC_*` environment
//! variables (nested keys joined by `__`, e.g. `DINGTALK_OIDC_DATABASE__URL`). Every option has a
//! default or a start-up error that names it. `deploy/config.example.toml` documents each one.
//!
//! Every secret option can instead name a file that holds it (`database.url_file`, ...), as
//! Kubernetes secret volumes, Compose secrets and systemd credentials provide them;
//! `Config::resolve_secret_files` reads them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::dingtalk::DingTalkSettings;

pub const ENV_PREFIX: &str = "DINGTALK_OIDC_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("unknown config option `{0}` (see deploy/config.example.toml for the options that exist)")]
    UnknownOption(String),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("config option `{option}` {problem}")]
    Option { option: &'static str, problem: String },
    #[error("config options `{inline}` and `{file}` are both set: give the secret one way only")]
    SecretGivenTwice { inline: &'static str, file: &'static str },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The issuer identifier: the exact `iss` of every token and the base of every endpoint URL.
    pub issuer: String,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub sessions: SessionsConfig,
    pub redis: RedisConfig,
    pub keys: KeysConfig,
    pub tokens: TokensConfig,
    pub dingtalk: DingTalkSettings,
    pub logout: LogoutConfig,
    pub limits: LimitsConfig,
    pub dev: DevConfig,
    pub log: LogConfig,
    /// Bootstrap token for the admin API (`DINGTALK_OIDC_ADMIN_TOKEN`): acts with role `admin`.
    /// Kept only as a hash once the provider has started.
    pub admin_token: Option<Secret>,
    /// A file holding `admin_token`.
    pub admin_token_file: Option<PathBuf>,
}

/// A secret value: never printed by `Debug`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The `[log]` table: how the provider writes its log lines (stderr).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// Unset: text under `serve --dev`, JSON otherwise.
    pub format: Option<LogFormat>,
    /// A level or a `tracing` filter (`info`, `warn,dingtalk_oidc=debug`); `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: None, level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Per-instance request limits (requests per minute; the burst is the whole minute's allowance).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Per client IP on /authorize, the DingTalk callback, consent, /token, /revoke, /introspect,
    /// /userinfo and logout.
    pub per_ip_per_minute: u32,
    /// Per client IP on discovery and JWKS (services fetch these a lot).
    pub metadata_per_ip_per_minute: u32,
    /// Per client IP on the admin API.
    pub admin_per_ip_per_minute: u32,
    /// Per confidential client at the token endpoint, counting only requests that authenticated
    /// as it (public clients are held by the per-IP limit).
    pub token_per_client_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            per_ip_per_minute: 6000,
            metadata_per_ip_per_minute: 60000,
            admin_per_ip_per_minute: 1200,
            token_per_client_per_minute: 30000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogoutConfig {
    /// Lifetime of back-channel logout tokens (Back-Channel Logout 1.0 §4: short).
    pub logout_token_ttl_secs: u64,
    /// Bound on one delivery to a client's back-channel logout endpoint.
    pub backchannel_timeout_ms: u64,
    /// A notification is retried (with growing delays) for this long, then given up.
    pub backchannel_retry_window_secs: u64,
    /// How often each instance looks for due notifications.
    pub poll_interval_ms: u64,
}

impl Default for LogoutConfig {
    fn default() -> Self {
        LogoutConfig {
            logout_token_ttl_secs: 120,
            backchannel_timeout_ms: 5000,
            backchannel_retry_window_secs: 24 * 3600,
            poll_interval_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    pub listen: String,
    /// Empty: `/metrics` is served on `listen` with everything else. Set (`0.0.0.0:9090`): a
    /// second listener serves `/metrics` alone on this address and `listen` answers it 404, so
    /// the public port does not expose it.
    pub metrics_listen: String,
    /// Reverse proxies (addresses or CIDR ranges) whose `forwarded_header` names the client for
    /// rate limits and audit events; any other peer is itself the client (`web::client_addr`).
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write: "x-forwarded-for" or "forwarded" (RFC 7239). Only
    /// this one is read; a proxy passes the other through from the client untouched.
    pub forwarded_header: String,
    /// After SIGTERM, new connections are still accepted this long (a load balancer may not have
    /// noticed `/readyz` yet); see `drain`.
    pub shutdown_accept_secs: u64,
    /// Then requests already received have this long to finish; unset, the longest a request can
    /// take (`drain::longest_request`).
    pub shutdown_drain_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// A file holding `url` (it carries the database password).
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
    /// Bound on every SQL call on a request path (waiting for a pooled connection included), so a
    /// database that stops answering gives a fast 503 rather than a hang; on PostgreSQL also the
    /// server's `statement_timeout` and `idle_in_transaction_session_timeout`.
    pub statement_timeout_ms: u64,
    /// Clients and users read by the protocol endpoints are cached this long per instance (0: off).
    pub cache_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionsConfig {
    /// Where logins in progress, codes, SSO sessions and refresh tokens live: "sql" (the
    /// directory database) or "redis".
    pub backend: String,
    /// How often the SQL backend deletes expired rows (one instance at a time).
    pub sweep_interval_secs: u64,
    /// Rows deleted per sweep statement.
    pub sweep_batch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://`, `rediss://` (TLS), `redis-sentinel://` or `redis-cluster://`.
    pub url: String,
    /// A file holding `url` (it carries the Redis password).
    pub url_file: Option<PathBuf>,
    /// Every key we write starts with this; nothing outside it is read or written.
    pub prefix: String,
    pub pool_size: usize,
    /// Bound on each command, so an outage gives a fast 503 rather than a hang.
    pub command_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            url_file: None,
            prefix: "dingtalk-oidc:".into(),
            pool_size: 8,
            command_timeout_ms: 1000,
            connect_timeout_ms: 1000,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KeysConfig {
    /// The key-encryption key, base64 of 32 bytes.
    pub kek: Option<String>,
    /// A file holding `kek` (giving both is an error).
    pub kek_file: Option<PathBuf>,
    /// A new signing key is made this often (by one instance).
    pub rotation_period_secs: u64,
    /// A new key is published this long before it signs; at least twice `jwks_max_age_secs`.
    pub publish_lead_secs: u64,
    /// Ceiling of the JWKS `Cache-Control: max-age` (it is shorter when a key change is nearer).
    pub jwks_max_age_secs: u64,
    /// Every instance re-reads the key ring at least this often.
    pub reload_interval_secs: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            kek: None,
            kek_file: None,
            rotation_period_secs: 30 * 24 * 3600,
            publish_lead_secs: 24 * 3600,
            jwks_max_age_secs: 3600,
            reload_interval_secs: 10,
        }
    }
}

/// The KEK never appears in Debug output (and so never in logs).
impl std::fmt::Debug for KeysConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeysConfig")
            .field("kek", &self.kek.as_ref().map(|_| "<redacted>"))
            .field("kek_file", &self.kek_file)
            .field("rotation_period_secs", &self.rotation_period_secs)
            .field("publish_lead_secs", &self.publish_lead_secs)
            .field("jwks_max_age_secs", &self.jwks_max_age_secs)
            .field("reload_interval_secs", &self.reload_interval_secs)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokensConfig {
    /// Per client overridable; 60 s to 24 h (`tokens::lifetime::MAX_TOKEN_TTL_SECS`).
    pub access_token_ttl_secs: u64,
    /// Per client overridable; 60 s to 24 h (`tokens::lifetime::MAX_TOKEN_TTL_SECS`).
    pub id_token_ttl_secs: u64,
    /// RFC 6749 §4.1.2: codes live briefly; one minute.
    pub code_ttl_secs: u64,
    /// How long a user may take at DingTalk's login page.
    pub pending_auth_ttl_secs: u64,
    /// Lifetime of the browser's single-sign-on session.
    pub sso_session_ttl_secs: u64,
    /// Seconds of clock skew tolerated when verifying our own tokens.
    pub leeway_secs: u64,
    /// RFC 9700 §2.1.1 recommends PKCE for confidential clients too; public clients always need it.
    pub require_pkce_for_confidential: bool,
    /// Refresh tokens expire after this long unused (RFC 9700 §4.14.2); per client overridable.
    pub refresh_idle_ttl_secs: u64,
    /// A refresh-token family ends this long after the login that started it; per client overridable.
    pub refresh_absolute_ttl_secs: u64,
    /// A retry of the same refresh token within this window gets the same successor.
    pub refresh_grace_secs: u64,
    /// At most this often a refresh asks DingTalk whether the user is still a member and active.
    pub upstream_recheck_secs: u64,
    /// While DingTalk is unreachable, refreshes still succeed this long after the last good check.
    pub upstream_tolerance_secs: u64,
    /// An SSO session unused this long needs a new DingTalk login.
    pub sso_session_idle_secs: u64,
    /// Access tokens remembered as verified per instance (0: verify every time).
    pub verified_token_cache: usize,
    /// How long an instance trusts the denylist's "not revoked" before asking the store again (0: always ask).
    pub denylist_recheck_ms: u64,
}

impl TokensConfig {
    /// How long a denial of access tokens issued up to now must be kept: the longest one of them
    /// is accepted (leeway included), also one minted from a code issued just before. Access
    /// lifetimes are per client, so the longest is the fixed bound on all of them, not
    /// `access_token_ttl_secs` (`tokens::lifetime::MAX_TOKEN_TTL_SECS`).
    pub fn denial_lifetime_secs(&self) -> i64 {
        let secs = crate::tokens::lifetime::MAX_TOKEN_TTL_SECS
            .saturating_add(self.leeway_secs)
            .saturating_add(self.code_ttl_secs);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DevConfig {
    /// Where `serve --dev` starts the DingTalk simulator.
    pub simulator_listen: String,
    /// A TOML file replacing the simulator's built-in directory.
    pub simulator_directory: Option<PathBuf>,
    /// Where `serve --dev` serves the demo relying party (`demo`); "" turns it off.
    pub demo_listen: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer: "http://127.0.0.1:8080".into(),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            sessions: SessionsConfig::default(),
            redis: RedisConfig::default(),
            keys: KeysConfig::default(),
            tokens: TokensConfig::default(),
            dingtalk: DingTalkSettings::default(),
            logout: LogoutConfig::default(),
            limits: LimitsConfig::default(),
            dev: DevConfig::default(),
            log: LogConfig::default(),
            admin_token: None,
            admin_token_file: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: String::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: crate::web::client_addr::ForwardedHeader::X_FORWARDED_FOR.into(),
            shutdown_accept_secs: 5,
            shutdown_drain_secs: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/dingtalk-oidc.db?mode=rwc".into(),
            url_file: None,
            max_connections: 10,
            connect_timeout_ms: 1500,
            statement_timeout_ms: 2000,
            cache_ttl_secs: 5,
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { backend: "sql".into(), sweep_interval_secs: 60, sweep_batch: 1000 }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            code_ttl_secs: 60,
            pending_auth_ttl_secs: 600,
            sso_session_ttl_secs: 8 * 3600,
            leeway_secs: 30,
            require_pkce_for_confidential: false,
            refresh_idle_ttl_secs: 14 * 24 * 3600,
            refresh_absolute_ttl_secs: 30 * 24 * 3600,
            refresh_grace_secs: 10,
            upstream_recheck_secs: 300,
            upstream_tolerance_secs: 3600,
            sso_session_idle_secs: 2 * 3600,
            verified_token_cache: 4096,
            denylist_recheck_ms: 1000,
        }
    }
}

impl Default for DevConfig {
    fn default() -> Self {
        DevConfig {
            simulator_listen: "127.0.0.1:8081".into(),
            simulator_directory: None,
            demo_listen: "127.0.0.1:8082".into(),
        }
    }
}

impl Config {
    /// Defaults, then the TOML file (if any), then `DINGTALK_OIDC_*` variables; then the secrets
    /// named by `*_file` options are read (`resolve_secret_files`).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = Config::load_settings(file)?;
        config.resolve_secret_files()?;
        Ok(config)
    }

    /// `load` without reading any secret file: for commands that need no secret (`healthcheck`).
    pub fn load_settings(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::File { path: path.to_path_buf(), message: e.to_string() })?;
            reject_unknown_options(&text).map_err(|e| match e {
                ConfigError::Invalid(message) => ConfigError::File { path: path.to_path_buf(), message },
                other => other,
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__").filter(|key| {
            // Variables that are not config options (e.g. the admin bootstrap token) share the prefix.
            let key = key.as_str().to_ascii_lowercase();
            let first = key.split("__").next().and_then(|k| k.split('.').next());
            known_top_level().contains(first.unwrap_or_default())
        }));
        figment.extract().map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// Reads each secret given as a file into its option, so the rest of the program sees one
    /// value wherever it came from. Giving a secret both ways is an error rather than a silent
    /// choice: an inline value that is empty or the default does not count as given (the example
    /// config spells out the defaults). Errors name the option and the path, never the content.
    pub fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        let defaults = Config::default();
        if let Some(path) = &self.dingtalk.client_secret_file {
            let given = !self.dingtalk.client_secret.is_empty();
            self.dingtalk.client_secret =
                read_secret("dingtalk.client_secret", "dingtalk.client_secret_file", given, path)?;
        }
        if let Some(path) = &self.keys.kek_file {
            let given = self.keys.kek.as_deref().is_some_and(|k| !k.trim().is_empty());
            self.keys.kek = Some(read_secret("keys.kek", "keys.kek_file", given, path)?);
        }
        if let Some(path) = &self.database.url_file {
            let given = !self.database.url.is_empty() && self.database.url != defaults.database.url;
            self.database.url = read_secret("database.url", "database.url_file", given, path)?;
        }
        if let Some(path) = &self.redis.url_file {
            let given = !self.redis.url.is_empty() && self.redis.url != defaults.redis.url;
            self.redis.url = read_secret("redis.url", "redis.url_file", given, path)?;
        }
        if let Some(path) = &self.admin_token_file {
            let given = self.admin_token.as_ref().is_some_and(|t| !t.0.is_empty());
            self.admin_token = Some(Secret(read_secret("admin_token", "admin_token_file", given, path)?));
        }
        Ok(())
    }

    /// Checks every option that has no safe default. `dev` relaxes what `serve --dev` fills in.
    pub fn validate(&self, dev: bool) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| ConfigError::Option { option: "issuer", problem: format!("is not an absolute URL: {e}") })?;
        // OIDC Discovery §3: the issuer is a URL with no query or fragment.
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::Option { option: "issuer", problem: "must not have a query or fragment".into() });
        }
        let loopback = matches!(issuer.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        // RFC 6749 §3.1 / OIDC Core §16.17: TLS everywhere except on this machine.
        if issuer.scheme() != "https" && !(issuer.scheme() == "http" && (dev || loopback)) {
            return Err(ConfigError::Option {
                option: "issuer",
                problem: "must be an https URL (http is allowed only for loopback hosts)".into(),
            });
        }
        crate::web::client_addr::ClientAddrRule::from_config(&self.server)?;
        if self.server.metrics_on_own_listener() && same_address(&self.server.metrics_listen, &self.server.listen) {
            return Err(ConfigError::Option {
                option: "server.metrics_listen",
                problem: format!(
                    "is {:?}, the address of server.listen ({:?}); metrics need an address of their own (or \
                     leave server.metrics_listen empty to serve /metrics on server.listen)",
                    self.server.metrics_listen, self.server.listen
                ),
            });
        }
        if self.server.shutdown_drain_secs == Some(0) {
            return Err(ConfigError::Option {
                option: "server.shutdown_drain_secs",
                problem: "must be greater than 0 (leave it unset for the longest request's time)".into(),
            });
        }
        if !matches!(self.sessions.backend.as_str(), "sql" | "redis") {
            return Err(ConfigError::Option {
                option: "sessions.backend",
                problem: format!("is {:?}; use \"sql\" or \"redis\"", self.sessions.backend),
            });
        }
        for (option, value) in [
            ("sessions.sweep_interval_secs", self.sessions.sweep_interval_secs),
            ("keys.rotation_period_secs", self.keys.rotation_period_secs),
            ("keys.jwks_max_age_secs", self.keys.jwks_max_age_secs),
            ("keys.reload_interval_secs", self.keys.reload_interval_secs),
            ("tokens.refresh_idle_ttl_secs", self.tokens.refresh_idle_ttl_secs),
            ("tokens.refresh_absolute_ttl_secs", self.tokens.refresh_absolute_ttl_secs),
            ("tokens.upstream_recheck_secs", self.tokens.upstream_recheck_secs),
            ("tokens.sso_session_idle_secs", self.tokens.sso_session_idle_secs),
            ("logout.logout_token_ttl_secs", self.logout.logout_token_ttl_secs),
            ("logout.backchannel_timeout_ms", self.logout.backchannel_timeout_ms),
            ("logout.poll_interval_ms", self.logout.poll_interval_ms),
            ("sessions.sweep_batch", self.sessions.sweep_batch),
            ("database.statement_timeout_ms", self.database.statement_timeout_ms),
            ("redis.command_timeout_ms", self.redis.command_timeout_ms),
            ("redis.connect_timeout_ms", self.redis.connect_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Option { option, problem: "must be greater than 0".into() });
            }
        }
        // The same bounds as a client's own lifetimes: retired keys and denials are kept for the
        // longest lifetime there can be (`tokens::lifetime::MAX_TOKEN_TTL_SECS`).
        for (option, value) in [
            ("tokens.access_token_ttl_secs", self.tokens.access_token_ttl_secs),
            ("tokens.id_token_ttl_secs", self.tokens.id_token_ttl_secs),
        ] {
            crate::tokens::lifetime::check_token_ttl(value)
                .map_err(|problem| ConfigError::Option { option, problem })?;
        }
        for (option, value) in [
            ("tokens.code_ttl_secs", self.tokens.code_ttl_secs),
            ("tokens.pending_auth_ttl_secs", self.tokens.pending_auth_ttl_secs),
            ("tokens.sso_session_ttl_secs", self.tokens.sso_session_ttl_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Option { option, problem: "must be greater than 0".into() });
            }
        }
        // OIDC Core §10.1.1: caches must see a key before it signs.
        if self.keys.publish_lead_secs < 2 * self.keys.jwks_max_age_secs {
            return Err(ConfigError::Option {
                option: "keys.publish_lead_secs",
                problem: "must be at least twice keys.jwks_max_age_secs, so every cache sees a new key before it signs"
                    .into(),
            });
        }
        if self.tokens.code_ttl_secs > 600 {
            return Err(ConfigError::Option {
                option: "tokens.code_ttl_secs",
                problem: "must be at most 600 (RFC 6749 §4.1.2)".into(),
            });
        }
        if !dev {
            if self.dingtalk.client_id.is_empty() {
                return Err(ConfigError::Option {
                    option: "dingtalk.client_id",
                    problem: "is required: the AppKey of your DingTalk app (or run `serve --dev`)".into(),
                });
            }
            if self.dingtalk.client_secret.is_empty() {
                return Err(ConfigError::Option {
                    option: "dingtalk.client_secret",
                    problem: "(or dingtalk.client_secret_file) is required: the AppSecret of your DingTalk app \
                              (or run `serve --dev`)"
                        .into(),
                });
            }
        }
        crate::logging::check_level(&self.log.level)
            .map_err(|problem| ConfigError::Option { option: "log.level", problem })?;
        Ok(())
    }

    /// The issuer without a trailing slash: every endpoint URL is this plus a path.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}

/// Larger than any secret or URL; a path naming something else (a device, a log) is refused
/// rather than read without end.
const SECRET_FILE_LIMIT: u64 = 64 * 1024;

/// The secret in `path`, without the trailing newline editors and `echo` add (and any other
/// trailing whitespace). `inline_given`: the secret was also given as `inline`.
fn read_secret(
    inline: &'static str,
    file: &'static str,
    inline_given: bool,
    path: &Path,
) -> Result<String, ConfigError> {
    use std::io::Read;
    if inline_given {
        return Err(ConfigError::SecretGivenTwice { inline, file });
    }
    let unreadable = |problem: String| ConfigError::Option { option: file, problem };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(SECRET_FILE_LIMIT + 1).read_to_string(&mut text))
        .map_err(|e| unreadable(format!("names {}, which cannot be read: {e}", path.display())))?;
    if text.len() as u64 > SECRET_FILE_LIMIT {
        return Err(unreadable(format!("names {}, which is larger than {SECRET_FILE_LIMIT} bytes", path.display())));
    }
    let value = text.trim_end();
    if value.is_empty() {
        return Err(unreadable(format!("names {}, which is empty", path.display())));
    }
    Ok(value.to_string())
}

impl ServerConfig {
    /// `/metrics` has a listener of its own (`server.metrics_listen` is set).
    pub fn metrics_on_own_listener(&self) -> bool {
        !self.metrics_listen.trim().is_empty()
    }
}

/// The same listening address, written the same or alike (`[::1]:80` and `[0:0:0:0:0:0:0:1]:80`).
fn same_address(a: &str, b: &str) -> bool {
    match (a.trim().parse::<std::net::SocketAddr>(), b.trim().parse::<std::net::SocketAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

fn known_top_level() -> BTreeSet<String> {
    option_paths().into_iter().map(|p| p.split('.').next().unwrap_or_default().to_string()).collect()
}

/// Every option path that exists, derived from the defaults so it can never drift from the structs.
pub fn option_paths() -> BTreeSet<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.insert(path.clone());
                walk(&path, v, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(value) = serde_json::to_value(Config::default()) {
        walk("", &value, &mut out);
    }
    out
}

/// A typo in a config file must not be silently ignored.
fn reject_unknown_options(text: &str) -> Result<(), ConfigError> {
    fn walk(prefix: &str, table: &toml::Table, known: &BTreeSet<String>) -> Result<(), ConfigError> {
        for (k, v) in table {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if !known.contains(&path) {
                return Err(ConfigError::UnknownOption(path));
            }
            if let toml::Value::Table(inner) = v {
                walk(&path, inner, known)?;
            }
        }
        Ok(())
    }
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
    walk("", &table, &option_paths())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_documents_every_option_and_loads() {
        let example = include_str!("../deploy/config.example.toml");
        for path in option_paths() {
            let leaf = path.rsplit('.').next().unwrap_or_default();
            let table = path.rsplit_once('.').map(|(t, _)| t);
            let documented = example.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{leaf} =")) || l.starts_with(&format!("[{path}]"))
            });
            assert!(documented, "deploy/config.example.toml does not document `{path}`");
            if let Some(table) = table {
                assert!(example.contains(&format!("[{table}]")), "missing table [{table}]");
            }
        }
        reject_unknown_options(example).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, example).unwrap();
        let loaded = Config::load(Some(&path)).unwrap();
        assert_eq!(loaded.tokens.code_ttl_secs, 60);
    }

    #[test]
    fn unknown_option_in_file_names_the_option() {
        let err = reject_unknown_options("[database]\nurll = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("database.urll"), "{err}");
        reject_unknown_options("issuer = \"https://id.example\"\n[database]\nurl = \"x\"\n").unwrap();
    }

    #[test]
    fn trusted_proxies_are_checked_at_start_up_and_the_error_names_the_option() {
        let mut cfg = Config::default();
        cfg.server.trusted_proxies = vec!["10.0.0.0/8".into(), "10.0.0.300".into()];
        let err = cfg.validate(true).unwrap_err().to_string();
        assert!(err.contains("server.trusted_proxies") && err.contains("10.0.0.300"), "{err}");
        cfg.server.trusted_proxies = vec!["10.0.0.0/8".into(), "2001:db8::7".into()];
        assert!(cfg.validate(true).is_ok());
        cfg.server.forwarded_header = "x-real-ip".into();
        assert!(cfg.validate(true).unwrap_err().to_string().contains("server.forwarded_header"));
    }

    #[test]
    fn global_token_lifetimes_are_bounded_from_one_minute_to_one_day_and_the_error_names_the_option() {
        for (value, ok) in [(0, false), (59, false), (60, true), (600, true), (86400, true), (86401, false)] {
            let mut cfg = Config::default();
            cfg.tokens.access_token_ttl_secs = value;
            let result = cfg.validate(true);
            assert_eq!(result.is_ok(), ok, "access {value}");
            if let Err(e) = result {
                assert!(e.to_string().contains("tokens.access_token_ttl_secs"), "{e}");
            }
            let mut cfg = Config::default();
            cfg.tokens.id_token_ttl_secs = value;
            let result = cfg.validate(true);
            assert_eq!(result.is_ok(), ok, "id {value}");
            if let Err(e) = result {
                assert!(e.to_string().contains("tokens.id_token_ttl_secs") && e.to_string().contains("86400"), "{e}");
            }
        }
    }

    #[test]
    fn denials_outlast_the_longest_access_token_any_client_can_have() {
        let tokens = TokensConfig::default();
        let longest = crate::tokens::lifetime::MAX_TOKEN_TTL_SECS + tokens.leeway_secs + tokens.code_ttl_secs;
        assert_eq!(tokens.denial_lifetime_secs(), longest as i64);
        assert!(tokens.denial_lifetime_secs() > tokens.access_token_ttl_secs as i64);
    }

    #[test]
    fn metrics_listen_equal_to_listen_is_refused_naming_both_options() {
        let mut cfg = Config::default();
        cfg.server.listen = "127.0.0.1:8080".into();
        cfg.server.metrics_listen = "127.0.0.1:8080".into();
        let err = cfg.validate(true).unwrap_err().to_string();
        assert!(err.contains("server.metrics_listen") && err.contains("server.listen"), "{err}");
        cfg.server.listen = "[::1]:8080".into();
        cfg.server.metrics_listen = "[0:0:0:0:0:0:0:1]:8080".into();
        assert!(cfg.validate(true).is_err(), "the same address written another way");
        cfg.server.metrics_listen = "127.0.0.1:9090".into();
        assert!(cfg.validate(true).is_ok());
        cfg.server.metrics_listen = String::new();
        assert!(cfg.validate(true).is_ok(), "empty: /metrics stays on server.listen");
    }

    #[test]
    fn production_requires_dingtalk_credentials_and_names_the_option() {
        let cfg = Config { issuer: "https://id.example".into(), ..Config::default() };
        let err = cfg.validate(false).unwrap_err().to_string();
        assert!(err.contains("dingtalk.client_id"), "{err}");
        assert!(cfg.validate(true).is_ok());
    }

    #[test]
    fn oidc_discovery_3_issuer_must_be_https_without_query() {
        let mut cfg = Config::default();
        cfg.dingtalk.client_id = "k".into();
        cfg.dingtalk.client_secret = "s".into();
        cfg.issuer = "http://id.example".into();
        assert!(cfg.validate(false).unwrap_err().to_string().contains("issuer"));
        cfg.issuer = "https://id.example?x=1".into();
        assert!(cfg.validate(false).is_err());
        cfg.issuer = "https://id.example/tenant".into();
        assert!(cfg.validate(false).is_ok());
        cfg.issuer = "http://127.0.0.1:9000".into();
        assert!(cfg.validate(false).is_ok());
    }

    /// Writes `files` into a temporary directory and loads `toml` (paths as `{dir}/name`), with
    /// no DINGTALK_OIDC_* variable involved (the environment route is tested in tests/cli.rs).
    fn load_with_files(toml: &str, files: &[(&str, &str)]) -> (Result<Config, ConfigError>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml.replace("{dir}", &dir.path().display().to_string())).unwrap();
        (Config::load(Some(&path)), dir)
    }

    #[test]
    fn every_secret_given_as_a_file_lands_in_its_option_without_the_trailing_newline() {
        let (cfg, _dir) = load_with_files(
            "admin_token_file = \"{dir}/admin\"\n\
             [database]\nurl_file = \"{dir}/db\"\n\
             [redis]\nurl_file = \"{dir}/redis\"\n\
             [keys]\nkek_file = \"{dir}/kek\"\n\
             [dingtalk]\nclient_secret_file = \"{dir}/app\"\n",
            &[
                ("admin", "admin-token\n"),
                ("db", "postgres://oidc:pw@db/oidc\r\n"),
                ("redis", "redis://:pw@cache:6379/0  \n\n"),
                ("kek", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
                ("app", "app secret with spaces\n"),
            ],
        );
        let cfg = cfg.unwrap();
        assert_eq!(cfg.admin_token, Some(Secret("admin-token".into())));
        assert_eq!(cfg.database.url, "postgres://oidc:pw@db/oidc");
        assert_eq!(cfg.redis.url, "redis://:pw@cache:6379/0");
        assert_eq!(cfg.keys.kek.as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        assert_eq!(cfg.dingtalk.client_secret, "app secret with spaces");
    }

    #[test]
    fn a_secret_given_inline_and_as_a_file_is_an_error_naming_both_options() {
        for (toml, inline, file) in [
            ("admin_token = \"t\"\nadmin_token_file = \"{dir}/s\"\n", "admin_token", "admin_token_file"),
            ("[database]\nurl = \"postgres://db/x\"\nurl_file = \"{dir}/s\"\n", "database.url", "database.url_file"),
            ("[redis]\nurl = \"redis://cache:6379\"\nurl_file = \"{dir}/s\"\n", "redis.url", "redis.url_file"),
            ("[keys]\nkek = \"AAAA\"\nkek_file = \"{dir}/s\"\n", "keys.kek", "keys.kek_file"),
            (
                "[dingtalk]\nclient_secret = \"x\"\nclient_secret_file = \"{dir}/s\"\n",
                "dingtalk.client_secret",
                "dingtalk.client_secret_file",
            ),
        ] {
            let (result, _dir) = load_with_files(toml, &[("s", "from-file\n")]);
            let err = result.unwrap_err().to_string();
            assert!(err.contains(&format!("`{inline}`")) && err.contains(&format!("`{file}`")), "{err}");
            assert!(!err.contains("from-file"), "{err}");
        }
    }

    /// The example config spells out `url = "<default>"` and `client_secret = ""`: a copy of it
    /// with a `*_file` added is not giving the secret twice.
    #[test]
    fn an_inline_value_that_is_empty_or_the_default_does_not_conflict_with_its_file() {
        let (cfg, _dir) = load_with_files(
            "[database]\nurl = \"sqlite://data/dingtalk-oidc.db?mode=rwc\"\nurl_file = \"{dir}/s\"\n\
             [redis]\nurl = \"redis://127.0.0.1:6379\"\nurl_file = \"{dir}/s\"\n\
             [dingtalk]\nclient_secret = \"\"\nclient_secret_file = \"{dir}/s\"\n",
            &[("s", "from-file")],
        );
        let cfg = cfg.unwrap();
        assert_eq!((cfg.database.url.as_str(), cfg.redis.url.as_str()), ("from-file", "from-file"));
        assert_eq!(cfg.dingtalk.client_secret, "from-file");
    }

    #[test]
    fn an_unreadable_or_empty_secret_file_is_an_error_naming_the_option_and_the_path() {
        let (result, dir) = load_with_files("[database]\nurl_file = \"{dir}/missing\"\n", &[]);
        let err = result.unwrap_err().to_string();
        let missing = dir.path().join("missing").display().to_string();
        assert!(err.contains("database.url_file") && err.contains(&missing), "{err}");

        let (result, dir) = load_with_files("[keys]\nkek_file = \"{dir}/blank\"\n", &[("blank", " \n\n")]);
        let err = result.unwrap_err().to_string();
        let blank = dir.path().join("blank").display().to_string();
        assert!(err.contains("keys.kek_file") && err.contains(&blank) && err.contains("empty"), "{err}");

        let (result, _dir) = load_with_files("admin_token_file = \"{dir}\"\n", &[]);
        assert!(result.unwrap_err().to_string().contains("admin_token_file"), "a directory is not a secret");

        let huge = "x".repeat(SECRET_FILE_LIMIT as usize + 1);
        let (result, _dir) = load_with_files("[redis]\nurl_file = \"{dir}/huge\"\n", &[("huge", &huge)]);
        let err = result.unwrap_err().to_string();
        assert!(err.contains("redis.url_file") && err.contains("larger than") && !err.contains("xxx"), "{err}");
    }

    #[test]
    fn settings_alone_read_no_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\nlisten = \"0.0.0.0:9\"\n[database]\nurl_file = \"/nonexistent/db-url\"\n")
            .unwrap();
        assert_eq!(Config::load_settings(Some(&path)).unwrap().server.listen, "0.0.0.0:9");
        assert!(Config::load(Some(&path)).is_err());
    }

    #[test]
    fn log_options_load_and_a_misspelt_level_or_format_names_the_option() {
        let (cfg, _dir) = load_with_files("[log]\nformat = \"text\"\nlevel = \"warn,dingtalk_oidc=debug\"\n", &[]);
        let cfg = cfg.unwrap();
        assert_eq!(cfg.log.format, Some(LogFormat::Text));
        assert!(cfg.validate(true).is_ok());
        let (cfg, _dir) = load_with_files("[log]\nlevel = \"infoo\"\n", &[]);
        assert!(cfg.unwrap().validate(true).unwrap_err().to_string().contains("log.level"));
        let (result, _dir) = load_with_files("[log]\nformat = \"xml\"\n", &[]);
        let err = result.unwrap_err().to_string();
        assert!(err.contains("format") && err.contains("xml"), "{err}");
    }
}
