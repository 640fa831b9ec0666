//! The claims a refresh family keeps for its scopes (OIDC Core §5.4), as of the last login or
//! upstream recheck, so a refresh needs no directory lookup. Plain data: which claims a scope
//! releases is decided in `tokens::claims`, which re-exports these types.

use serde::{Deserialize, Serialize};

/// OIDC Core §5.4 standard claims released per scope.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProfileClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// Scope `roles`: the user's effective roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Scope `groups`: departments (with ancestors) as stable ids, `dept:<id>` (`dept:<corp>:<id>`
    /// outside the default organisation), then the organisation, `corp:<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Scope `groups`: the same departments' names, in the same order (names are not unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_display: Option<Vec<String>>,
    /// Scope `dingtalk`: the user's DingTalk identity in the organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dingtalk: Option<DingTalkClaim>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DingTalkClaim {
    pub union_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corp_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub dept_ids: Vec<i64>,
}
