//! Log lines on stderr, as the `[log]` table says: `log.format` (text or JSON) and `log.level`,
//! which the `RUST_LOG` environment variable overrides when it is set.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The format in effect: the configured one, else readable text in development and JSON (for a
/// log collector) otherwise.
pub fn format_in_effect(log: &LogConfig, dev: bool) -> LogFormat {
    log.format.unwrap_or(if dev { LogFormat::Text } else { LogFormat::Json })
}

/// The filter in effect: `RUST_LOG` when it is set and not blank, else `log.level`.
pub fn filter_in_effect<'a>(log: &'a LogConfig, rust_log: Option<&'a str>) -> &'a str {
    rust_log.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(&log.level)
}

/// `log.level` is checked with the rest of the configuration (`Config::validate`).
pub use crate::config::check_level;

/// Installs the process's subscriber (once; a second call changes nothing).
pub fn init(log: &LogConfig, dev: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(filter_in_effect(log, rust_log.as_deref()))
        // An unparsable RUST_LOG falls back to the checked log.level.
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only on a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // Each line written while serving a request names it (`web::observe::WithRequest`).
    let format = tracing_subscriber::fmt::format();
    let _ = match format_in_effect(log, dev) {
        LogFormat::Text => {
            builder.event_format(crate::web::observe::WithRequest::text(format.with_ansi(ansi))).try_init()
        }
        LogFormat::Json => {
            builder.json().event_format(crate::web::observe::WithRequest::json(format.json())).try_init()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(format: Option<LogFormat>, level: &str) -> LogConfig {
        LogConfig { format, level: level.into() }
    }

    #[test]
    fn unset_format_is_text_in_development_and_json_otherwise_and_a_set_format_wins() {
        assert_eq!(format_in_effect(&log(None, "info"), true), LogFormat::Text);
        assert_eq!(format_in_effect(&log(None, "info"), false), LogFormat::Json);
        assert_eq!(format_in_effect(&log(Some(LogFormat::Json), "info"), true), LogFormat::Json);
        assert_eq!(format_in_effect(&log(Some(LogFormat::Text), "info"), false), LogFormat::Text);
    }

    #[test]
    fn rust_log_when_set_wins_over_log_level() {
        let cfg = log(None, "warn");
        assert_eq!(filter_in_effect(&cfg, None), "warn");
        assert_eq!(filter_in_effect(&cfg, Some("debug,hyper=info")), "debug,hyper=info");
        assert_eq!(filter_in_effect(&cfg, Some("  ")), "warn", "a blank RUST_LOG is not set");
    }
}
