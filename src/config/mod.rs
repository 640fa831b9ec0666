//! Typed configuration: a TOML file (`--config FILE`) overlaid with `DINGTALK_OIDC_*` environment
//! variables (nested keys joined by `__`, e.g. `DINGTALK_OIDC_DATABASE__URL`). Every option has a
//! default or a start-up error that names it. `deploy/config.example.toml` documents each one.
//!
//! Every secret option can instead name a file that holds it (`database.url_file`, ...), as
//! Kubernetes secret volumes, Compose secrets and systemd credentials provide them;
//! `Config::resolve_secret_files` reads them.

mod branding;
pub mod dingtalk;
mod file;
mod log;
mod secrets;
mod server;
mod tables;
mod tokens;
mod validate;

#[cfg(test)]
mod config_tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use branding::{BrandingConfig, MIN_CONTRAST, contrast_ratio, parse_color};
pub use dingtalk::{DingTalkApp, DingTalkSettings};
pub use file::option_paths;
pub use log::{LogConfig, LogFormat, check_level};
pub use secrets::Secret;
pub use server::{ForwardedHeader, ServerConfig};
pub use tables::{
    DatabaseConfig, DevConfig, KeysConfig, LimitsConfig, LogoutConfig, RedisConfig, RegistrationConfig, SessionsConfig,
};
pub use tokens::{MAX_TOKEN_TTL_SECS, MIN_TOKEN_TTL_SECS, TokensConfig, check_token_ttl};

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
    /// Dynamic client registration (RFC 7591), off by default.
    pub registration: RegistrationConfig,
    pub limits: LimitsConfig,
    pub dev: DevConfig,
    pub log: LogConfig,
    /// The name, logo and colours of the provider's pages.
    pub branding: BrandingConfig,
    /// Bootstrap token for the admin API (`DINGTALK_OIDC_ADMIN_TOKEN`): acts with role `admin`.
    /// Kept only as a hash once the provider has started.
    pub admin_token: Option<Secret>,
    /// A file holding `admin_token`.
    pub admin_token_file: Option<PathBuf>,
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
            registration: RegistrationConfig::default(),
            limits: LimitsConfig::default(),
            dev: DevConfig::default(),
            log: LogConfig::default(),
            branding: BrandingConfig::default(),
            admin_token: None,
            admin_token_file: None,
        }
    }
}

impl Config {
    /// The issuer without a trailing slash: every endpoint URL is this plus a path.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}
