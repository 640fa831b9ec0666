//! Sign-in inside the DingTalk client (docs/dingtalk-api.md §9): the page gets a temporary code
//! from the JSAPI (`dd.requestAuthCode`), and the server exchanges it, with the app token, at
//! `topapi/v2/user/getuserinfo` (§9.2). Codes are single use and live five minutes; the answer
//! names the user in the organisation the app token belongs to, and carries no corp id.

use serde::Deserialize;
use serde_json::json;

use super::client::{DingTalkClient, DingTalkIdentity, IdentitySource};
use super::error::DingTalkError;

/// §9.2 `result`. `associated_unionid`, `device_id`, `sys` and `sys_level` are not used: roles
/// and admin flags come from the organisation look-up every sign-in makes (`login::membership`).
#[derive(Deserialize)]
struct InAppUser {
    userid: Option<String>,
    unionid: Option<String>,
    name: Option<String>,
}

impl DingTalkClient {
    /// How many `timeout_ms` [`in_app_login`](Self::in_app_login) may take in all: the app token
    /// (§4.1) and getuserinfo, bounded as a whole (§6.3's retry after a rejected token must fit),
    /// so that an in-app sign-in is never longer than a hosted one (`server::drain_times`).
    pub const IN_APP_LOGIN_CALLS: u32 = 2;

    /// §9.2: the user behind an in-app code, as an identity of the configured organisation.
    pub async fn in_app_login(&self, code: &str) -> Result<DingTalkIdentity, DingTalkError> {
        let budget = self.settings().time_for_calls(Self::IN_APP_LOGIN_CALLS);
        let body = json!({ "code": code });
        let call = self.topapi::<InAppUser>("/topapi/v2/user/getuserinfo", &body);
        let user = tokio::time::timeout(budget, call).await.unwrap_or(Err(DingTalkError::Timeout))?;
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let union_id =
            non_empty(user.unionid).ok_or_else(|| DingTalkError::Decode("getuserinfo: no unionid".to_owned()))?;
        if non_empty(user.userid).is_none() {
            return Err(DingTalkError::Decode("getuserinfo: no userid".to_owned()));
        }
        Ok(DingTalkIdentity {
            union_id,
            nick: non_empty(user.name),
            // §9.2: the organisation is the app token's, that is the configured one.
            corp_id: self.settings().corp_id.clone(),
            source: IdentitySource::InApp,
            ..DingTalkIdentity::default()
        })
    }
}
