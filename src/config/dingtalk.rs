//! The `[dingtalk]` table: the app's credentials, DingTalk's hosts and the bound on each call
//! (`dingtalk::DingTalkClient` uses them).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `[dingtalk]` table of the provider's config file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DingTalkSettings {
    /// AppKey (Client ID).
    pub client_id: String,
    /// AppSecret (Client Secret). Never printed by `Debug`.
    pub client_secret: String,
    /// A file holding `client_secret` (read at start-up by `Config::resolve_secret_files`).
    pub client_secret_file: Option<std::path::PathBuf>,
    /// When set, login asks for scope `openid corpid` and pre-selects this organisation.
    pub corp_id: Option<String>,
    pub login_base_url: String,
    pub api_base_url: String,
    pub oapi_base_url: String,
    /// Bound on every call: connecting and the whole request/response.
    pub timeout_ms: u64,
    /// Silent sign-in inside the DingTalk client (docs/dingtalk-app.md, "Sign-in inside
    /// DingTalk"): `/authorize` opened in DingTalk asks the client for a code through the JSAPI
    /// instead of sending the user to the hosted login. Needs `corp_id`: the code belongs to
    /// this app's organisation.
    pub in_app: bool,
    /// The DingTalk JSAPI script the in-app sign-in page loads (and its policy allows, alone).
    pub jsapi_url: String,
    /// How long the in-app page waits for the JSAPI before it falls back to the hosted login.
    pub in_app_timeout_ms: u64,
    /// DingTalk's QR code on the provider's own sign-in page (docs/dingtalk-app.md, "The QR code
    /// on our own page"), beside a link to the hosted login, instead of a redirect to it.
    pub qr_login: bool,
    /// DingTalk's embedded-login script (`DTFrameLogin`), which the sign-in page loads.
    pub ddlogin_url: String,
    /// Where that script's frame comes from (the page's `frame-src`).
    pub qr_frame_origin: String,
    /// `serve --dev` only: the simulator origin its fake JSAPI fetches codes from, which the
    /// in-app page's policy must then let it reach. Never read from a file.
    #[serde(skip)]
    pub jsapi_connect_origin: Option<String>,
    /// Several organisations (docs/dingtalk-app.md, "Several organisations"): one DingTalk
    /// internal app per organisation, each with its own credentials and `corp_id`, behind one
    /// issuer. Empty: the app above (`client_id`, `client_secret`, `corp_id`) is the only one.
    /// The first app is the default organisation: users and mapping rules from before several
    /// organisations belong to it, and a client that names no organisation accepts only it.
    pub apps: Vec<DingTalkApp>,
}

/// One organisation's DingTalk app (`[[dingtalk.apps]]`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DingTalkApp {
    /// What the sign-in page calls the organisation (default: its corp id).
    pub name: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub client_secret_file: Option<std::path::PathBuf>,
    /// Required: the organisation this app belongs to.
    pub corp_id: Option<String>,
}

impl fmt::Debug for DingTalkApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.client_secret.is_empty() { "<empty>" } else { "<redacted>" };
        f.debug_struct("DingTalkApp")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &secret)
            .field("client_secret_file", &self.client_secret_file)
            .field("corp_id", &self.corp_id)
            .finish()
    }
}

impl Default for DingTalkSettings {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: String::new(),
            client_secret_file: None,
            corp_id: None,
            // docs/dingtalk-api.md §0: the three hosts.
            login_base_url: "https://login.dingtalk.com".to_owned(),
            api_base_url: "https://api.dingtalk.com".to_owned(),
            oapi_base_url: "https://oapi.dingtalk.com".to_owned(),
            timeout_ms: 5000,
            in_app: false,
            // docs/dingtalk-api.md §9.1: the script-tag build of the JSAPI (global `dd`).
            jsapi_url: "https://g.alicdn.com/dingding/dingtalk-jsapi/3.1.0/dingtalk.open.js".to_owned(),
            // docs/dingtalk-api.md §9.1: outside DingTalk the JSAPI never answers; 6 s is what
            // clients in the field wait.
            in_app_timeout_ms: 6000,
            jsapi_connect_origin: None,
            qr_login: false,
            // docs/dingtalk-api.md §10: the one version DingTalk's pages use.
            ddlogin_url: "https://g.alicdn.com/dingding/h5-dingtalk-login/0.21.0/ddlogin.js".to_owned(),
            qr_frame_origin: "https://login.dingtalk.com".to_owned(),
            apps: Vec::new(),
        }
    }
}

impl DingTalkSettings {
    /// Each organisation's settings: the shared ones (hosts, bounds, sign-in modes) with that
    /// app's credentials and corp id, the default organisation first. Without `apps`, the one
    /// app of the `[dingtalk]` table.
    pub fn per_organisation(&self) -> Vec<(Option<String>, DingTalkSettings)> {
        if self.apps.is_empty() {
            return vec![(None, DingTalkSettings { apps: Vec::new(), ..self.clone() })];
        }
        self.apps
            .iter()
            .map(|app| {
                let settings = DingTalkSettings {
                    client_id: app.client_id.clone(),
                    client_secret: app.client_secret.clone(),
                    client_secret_file: app.client_secret_file.clone(),
                    corp_id: app.corp_id.clone(),
                    apps: Vec::new(),
                    ..self.clone()
                };
                (app.name.clone(), settings)
            })
            .collect()
    }

    /// The most that `calls` DingTalk calls made one after another can take: each is bounded by
    /// `timeout_ms`.
    pub fn time_for_calls(&self, calls: u32) -> Duration {
        Duration::from_millis(self.timeout_ms.saturating_mul(u64::from(calls)))
    }
}

impl fmt::Debug for DingTalkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.client_secret.is_empty() { "<empty>" } else { "<redacted>" };
        f.debug_struct("DingTalkSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &secret)
            .field("client_secret_file", &self.client_secret_file)
            .field("corp_id", &self.corp_id)
            .field("login_base_url", &self.login_base_url)
            .field("api_base_url", &self.api_base_url)
            .field("oapi_base_url", &self.oapi_base_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("in_app", &self.in_app)
            .field("jsapi_url", &self.jsapi_url)
            .field("in_app_timeout_ms", &self.in_app_timeout_ms)
            .field("qr_login", &self.qr_login)
            .field("ddlogin_url", &self.ddlogin_url)
            .field("qr_frame_origin", &self.qr_frame_origin)
            .field("apps", &self.apps)
            .finish()
    }
}
