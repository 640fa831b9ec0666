//! The `[log]` table: how the provider writes its log lines (`logging` installs them).

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

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

/// The levels a bare directive may name; anything else without `=` is a typo, not a target.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `log.level` must be a level or `tracing` filter directives. A bare word that is not a level
/// would be read as a target name and silence every other log line, so it is refused.
pub fn check_level(level: &str) -> Result<(), String> {
    let bare_non_level = level
        .split(',')
        .map(str::trim)
        .find(|d| !d.is_empty() && !d.contains(['=', '[', ':']) && !LEVELS.contains(&d.to_ascii_lowercase().as_str()));
    if let Some(word) = bare_non_level {
        return Err(format!(
            "is {level:?}: {word:?} is not a level (use off, error, warn, info, debug or trace, or target=level)"
        ));
    }
    EnvFilter::try_new(level).map(|_| ()).map_err(|e| format!("is {level:?}, not a valid filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_level_accepts_levels_and_directives_and_refuses_a_misspelt_level() {
        for ok in ["info", "WARN", "off", "warn,dingtalk_oidc=debug", "dingtalk_oidc::oidc=trace"] {
            assert!(check_level(ok).is_ok(), "{ok}");
        }
        let err = check_level("infor").unwrap_err();
        assert!(err.contains("infor") && err.contains("not a level"), "{err}");
        assert!(check_level("warn,dingtalk_oidc=loud").is_err());
    }
}
