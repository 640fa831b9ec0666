//! The plain tables of the config file: each with its defaults, checked by `validate`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// Per client IP at the device verification page, counting only user codes that match no
    /// request (RFC 8628 §5.1: guessing a code must be slow).
    pub user_code_failures_per_ip_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            per_ip_per_minute: 6000,
            metadata_per_ip_per_minute: 60000,
            admin_per_ip_per_minute: 1200,
            token_per_client_per_minute: 30000,
            user_code_failures_per_ip_per_minute: 10,
        }
    }
}

/// Dynamic client registration (RFC 7591, RFC 7592): off unless enabled; with it, a party holding
/// an initial access token an admin issued registers clients within these limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrationConfig {
    /// Serve `POST /register` (and list it in discovery).
    pub enabled: bool,
    /// Schemes a registered redirect URI may use (http only ever for loopback hosts).
    pub allowed_redirect_schemes: Vec<String>,
    /// Hosts a registered redirect URI may name (exactly, or any subdomain of an entry written
    /// `.example.com`); empty: any host, but the URIs the provider calls (`jwks_uri`,
    /// `backchannel_logout_uri`) only at public addresses (`outbound`).
    pub allowed_redirect_hosts: Vec<String>,
    /// The scopes a registered client may be allowed; its `scope` is narrowed to these.
    pub allowed_scopes: Vec<String>,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            enabled: false,
            allowed_redirect_schemes: vec!["https".into()],
            allowed_redirect_hosts: Vec::new(),
            allowed_scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
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

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { backend: "sql".into(), sweep_interval_secs: 60, sweep_batch: 1000 }
    }
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
pub struct DevConfig {
    /// Where `serve --dev` starts the DingTalk simulator.
    pub simulator_listen: String,
    /// A TOML file replacing the simulator's built-in directory.
    pub simulator_directory: Option<PathBuf>,
    /// Where `serve --dev` serves the demo relying party (`demo`); "" turns it off.
    pub demo_listen: String,
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
