//! Reading the configuration: defaults, then the TOML file, then `DINGTALK_OIDC_*` environment
//! variables; and the list of option paths that exist, so a misspelt option is an error.

use std::collections::BTreeSet;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::{Config, ConfigError, ENV_PREFIX};

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
pub(super) fn reject_unknown_options(text: &str) -> Result<(), ConfigError> {
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
