//! The integration tests, as one test binary: each module is one area of the provider, run against
//! the real provider on a loopback port with the DingTalk simulator, real SQLite, PostgreSQL and
//! Redis. One binary links the crate once, where one binary per file linked it two dozen times.

mod common;

mod account;
mod admin_api;
mod authorize_rules;
mod backchannel;
mod branding;
mod browser_facing;
mod caches;
mod callback_rules;
mod cli;
mod client_credentials;
mod console;
mod demo_app;
mod device_grant;
mod discovery_rules;
mod examples;
mod hostile_jwt;
mod in_app;
mod keys;
mod lifecycle;
mod login_metrics;
mod manage_parity;
mod multi_instance;
mod operations;
mod organisations;
mod outages;
mod par;
mod private_key_jwt;
mod qr_login;
mod rate_limits;
mod registration;
mod replicas;
mod resource_indicators;
mod roles;
mod rp_flow;
mod serve_dev_grants;
mod store_conformance;
mod token_rules;
mod userinfo_rules;
