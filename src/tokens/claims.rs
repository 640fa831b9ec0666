//! Claim sets. Members without a value are left out, never `null` (OIDC Core §5.3.2).

use serde::{Deserialize, Serialize};

use crate::directory::User;
// Stored with refresh families: the plain data lives with the store.
pub use crate::store::{DingTalkClaim, ProfileClaims};

/// RFC 9068 §2.2 access-token claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// RFC 9068 §2.2.1: when the user signed in, kept unchanged in tokens minted by refresh; absent
    /// from a client's own token (client credentials: no user signed in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// RFC 9068 §2.2.3.1 (RFC 7643 attributes): with scope `roles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// RFC 9068 §2.2.3.1: with scope `groups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// OIDC Core §2 ID-token claims plus the profile claims of the granted scopes.
#[derive(Debug, Clone, Serialize)]
pub struct IdClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    /// Single-valued: the client id (so no `azp`).
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    pub at_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    pub amr: &'a [String],
    /// OIDC Core §2: how the user signed in (`login::method`).
    pub acr: &'static str,
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// What we read back from an `id_token_hint`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IdTokenHint {
    pub sub: String,
    /// Our ID tokens carry one audience, the client id (a string).
    pub aud: serde_json::Value,
    #[serde(default)]
    pub sid: Option<String>,
}

impl IdTokenHint {
    /// The client the hint was issued to, when it names exactly one.
    pub fn client_id(&self) -> Option<&str> {
        match &self.aud {
            serde_json::Value::String(aud) => Some(aud),
            serde_json::Value::Array(auds) if auds.len() == 1 => auds[0].as_str(),
            _ => None,
        }
    }
}

impl ProfileClaims {
    /// Only the claims `scopes` cover (a refresh may narrow the scopes of its family).
    pub fn restrict<'s>(&self, scopes: impl IntoIterator<Item = &'s str> + Clone) -> ProfileClaims {
        let has = |scope: &str| scopes.clone().into_iter().any(|s| s == scope);
        let (profile, email, phone) = (has("profile"), has("email"), has("phone"));
        ProfileClaims {
            name: self.name.clone().filter(|_| profile),
            preferred_username: self.preferred_username.clone().filter(|_| profile),
            picture: self.picture.clone().filter(|_| profile),
            email: self.email.clone().filter(|_| email),
            email_verified: self.email_verified.filter(|_| email),
            phone_number: self.phone_number.clone().filter(|_| phone),
            phone_number_verified: self.phone_number_verified.filter(|_| phone),
            roles: self.roles.clone().filter(|_| has("roles")),
            groups: self.groups.clone().filter(|_| has("groups")),
            groups_display: self.groups_display.clone().filter(|_| has("groups")),
            dingtalk: self.dingtalk.clone().filter(|_| has("dingtalk")),
        }
    }

    /// OIDC Core §5.4: `profile`, `email` and `phone` each release their own claims, and only
    /// those the user actually has.
    pub fn for_scopes<'s>(user: &User, scopes: impl IntoIterator<Item = &'s str>) -> ProfileClaims {
        let mut claims = ProfileClaims::default();
        for scope in scopes {
            match scope {
                "profile" => {
                    claims.name = user.name.clone();
                    claims.preferred_username = user.dingtalk_user_id.clone();
                    claims.picture = user.avatar_url.clone();
                }
                "email" => {
                    claims.email = user.email.clone();
                    // DingTalk returns the address the user typed into their profile; nobody
                    // verified it, so we do not claim otherwise.
                    claims.email_verified = user.email.as_ref().map(|_| false);
                }
                "phone" => {
                    claims.phone_number = user.mobile.clone();
                    // DingTalk accounts are registered with their mobile number by SMS.
                    claims.phone_number_verified = user.mobile.as_ref().map(|_| true);
                }
                "roles" => claims.roles = Some(user.effective_roles.clone()),
                "groups" => {
                    let mut groups: Vec<String> = user.groups.iter().map(|g| g.claim()).collect();
                    // Display names only when every group has one, so the two lists stay aligned.
                    let mut display: Option<Vec<String>> = user.groups.iter().map(|g| g.name.clone()).collect();
                    // The organisation is a group too, `corp:<id>`, after the departments.
                    if !user.org_id.is_empty() {
                        groups.push(format!("corp:{}", user.org_id));
                        if let Some(display) = &mut display {
                            display.push(user.org_id.clone());
                        }
                    }
                    claims.groups = Some(groups);
                    claims.groups_display = display;
                }
                "dingtalk" => {
                    claims.dingtalk = Some(DingTalkClaim {
                        union_id: user.union_id.clone(),
                        user_id: user.dingtalk_user_id.clone(),
                        // The organisation the user signed in through, as DingTalk names it.
                        corp_id: Some(user.org_id.clone()).filter(|o| !o.is_empty()).or_else(|| user.corp_id.clone()),
                        title: user.title.clone(),
                        dept_ids: user.dept_ids.clone(),
                    })
                }
                _ => {}
            }
        }
        claims
    }
}
