//! dingtalk-oidc: an OpenID Connect provider that puts DingTalk login behind standard OIDC.
//!
//! Module map: `oidc` protocol endpoints, `login` DingTalk membership and the SSO session,
//! `dingtalk` upstream client and simulator, `keys` signing keys, `tokens` JWT minting and
//! verification, `store` the SessionStore, `directory` the SQL store, `admin` the OpenAPI surface,
//! `web` pages and headers, `drain` the shutdown, `start` the start-up and background workers,
//! `scope` and `lifetimes` the scope grammar and token-lifetime bounds, `demo` the relying party
//! `serve --dev` runs.

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
pub mod healthcheck;
pub mod keys;
pub mod lifetimes;
pub mod logging;
pub mod login;
pub mod manage;
pub mod metrics;
#[path = "../migrations/mod.rs"]
pub mod migrations;
pub mod oidc;
pub mod ops;
pub mod random;
pub mod revocation;
pub mod scope;
pub mod sealed;
pub mod server;
pub mod start;
pub mod store;
pub mod tokens;
pub mod web;
