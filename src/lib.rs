//! dingtalk-oidc: an OpenID Connect provider that puts DingTalk login behind standard OIDC.
//!
//! Module map (docs/architecture.md has the layers and the data flow): `oidc` protocol endpoints,
//! `login` DingTalk membership, the SSO session and effective roles, `manage` every management
//! operation (`admin` the OpenAPI surface and `cli` the command line are adapters over it),
//! `dingtalk` upstream client and simulator, `keys` signing keys, `tokens` JWT minting and
//! verification, `store` the session store, `directory` the SQL store, `config` the configuration
//! (a leaf), `web` pages and headers, `drain` the shutdown, `start` the start-up and background
//! workers, `scope` the scope grammar, `demo` the relying party `serve --dev` runs.

pub mod account;
pub mod admin;
pub mod app;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod demo;
pub mod dingtalk;
pub mod directory;
pub mod drain;
pub mod healthcheck;
pub mod keys;
pub mod logging;
pub mod login;
pub mod manage;
pub mod metrics;
#[path = "../migrations/mod.rs"]
pub mod migrations;
pub mod oidc;
pub mod ops;
pub mod outbound;
pub mod revocation;
pub mod scope;
pub mod sealed;
pub mod secrets;
pub mod server;
pub mod start;
pub mod store;
pub mod tokens;
pub mod web;
