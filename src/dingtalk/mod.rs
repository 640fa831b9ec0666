//! DingTalk (钉钉) as the upstream identity source: the HTTP client the provider uses,
//! and a simulator that speaks the same wire format for `serve --dev` and tests.
//!
//! Wire format reference: `docs/dingtalk-api.md` (cited as "docs/dingtalk-api.md §N").

pub mod client;
pub mod error;
mod in_app;
mod lenient;
mod org;
pub mod organisations;
pub mod simulator;

#[cfg(test)]
mod flow_tests;

pub use client::{DingTalkClient, DingTalkIdentity, DingTalkSettings, IdentitySource, OrgMember, OrgRole};
pub use error::DingTalkError;
pub use organisations::{Organisation, Organisations};
pub use simulator::{Fault, SimDirectory, SimUser, Simulator};
