//! dingtalk-oidc: an OpenID Connect provider that puts DingTalk login behind standard OIDC.
//!
//! Module map: `oidc` protocol endpoints, `login` DingTalk membership and the SSO session,
//! `dingtalk` upstream client and simulator, `keys` signing keys, `tokens` JWT minting and
//! verification, `store` the SessionStore, `directory` the SQL store, `admin` the OpenAPI surface,
//! `web` pages and headers, `drain` the shutdown, `demo` the relying party `serve --dev` runs.

pub mod access;
pub mod admin;
pub mod app;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dingtalk;
pub mod directory;
pub mod drain;
pub mod keys;
pub mod login;
pub mod metrics;
#[path = "../migrations/mod.rs"]
pub mod migrations;
pub mod oidc;
pub mod ops;
pub mod random;
pub mod revocation;
pub mod sealed;
pub mod server;
pub mod store;
pub mod tokens;
pub mod web;

/// Logs go to stderr: readable in development, JSON in production. `RUST_LOG` filters.
pub fn init_logging(dev: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only on a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // Each line written while serving a request names it (`web::observe::WithRequest`).
    let format = tracing_subscriber::fmt::format();
    let _ = if dev {
        builder.event_format(web::observe::WithRequest::text(format.with_ansi(ansi))).try_init()
    } else {
        builder.json().event_format(web::observe::WithRequest::json(format.json())).try_init()
    };
}
