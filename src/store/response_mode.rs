//! The `response_mode` an authorization request asked for, stored with the request through the
//! DingTalk login and the consent page. Plain data: parsing and answering live in
//! `oidc::response_mode`, which re-exports this type.

use serde::{Deserialize, Serialize};

/// The `response_mode` of an authorization request. Stored with the pending request
/// (`store::AuthRequest`) so the answer after the DingTalk login and the consent page comes back
/// the way the client asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

impl ResponseMode {
    pub fn is_query(&self) -> bool {
        *self == ResponseMode::Query
    }
}
