//! HTTP client for DingTalk login: authorize URL (§1), code exchange (§2), current user
//! (§3) and the cached app token (§4.1). Organisation look-ups live in `org.rs`.
//!
//! Section numbers refer to `docs/dingtalk-api.md`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{DingTalkError, check_oapi_envelope, error_from_status, ip_ban_error, is_ip_ban};
use super::lenient::LenientI64;

pub use super::org::{OrgMember, OrgRole};
/// The `[dingtalk]` table lives with the rest of the configuration.
pub use crate::config::DingTalkSettings;

/// Who signed in, from §2 (corpId) and §3 (profile), or from §9.2 inside the DingTalk client.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DingTalkIdentity {
    pub union_id: String,
    pub open_id: Option<String>,
    pub nick: Option<String>,
    pub avatar_url: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub state_code: Option<String>,
    /// The organisation picked at login; only present with scope `openid corpid` (§2).
    pub corp_id: Option<String>,
    /// Where the identity came from: only the hosted login reads the profile (§3).
    #[serde(default)]
    pub source: IdentitySource,
}

/// How DingTalk told us who signed in.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// The hosted login (§1–§3): the whole profile (avatar, e-mail, mobile).
    #[default]
    HostedLogin,
    /// Inside the DingTalk client (§9.2): union id and name only, so a sign-in this way keeps
    /// the profile fields an earlier hosted login stored.
    InApp,
}

/// Cheap to clone; all clones share the HTTP connection pool and the app-token cache.
#[derive(Clone)]
pub struct DingTalkClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    settings: DingTalkSettings,
    http: reqwest::Client,
    login_base: String,
    api_base: String,
    oapi_base: String,
    /// Held across the fetch, so concurrent callers share one token request.
    app_token: tokio::sync::Mutex<Option<CachedAppToken>>,
    /// Shared with the other instances (the SessionStore), so a fleet fetches one app token
    /// rather than one per process.
    shared_cache: Option<Arc<dyn SharedTokenCache>>,
}

/// A cache shared between provider instances. Failures are not errors: the client then fetches.
#[async_trait::async_trait]
pub trait SharedTokenCache: Send + Sync {
    async fn get(&self, name: &str) -> Option<String>;
    async fn put(&self, name: &str, value: &str, ttl_secs: u64);
}

/// How long a token read from the shared cache is used before looking again.
const SHARED_RECHECK: Duration = Duration::from_secs(60);

struct CachedAppToken {
    token: String,
    refresh_at: Instant,
}

impl fmt::Debug for DingTalkClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DingTalkClient").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

/// docs/dingtalk-api.md §6.3: refresh app tokens a few minutes before they expire.
const APP_TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// §4.1 / §6.3: the documented lifetime, used when `expireIn` is missing.
const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 7200;
/// DingTalk answers are small; anything bigger is not a DingTalk answer.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// §2 success body (camelCase, `expireIn` singular).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserTokenBody {
    access_token: String,
    corp_id: Option<String>,
}

/// §3 success body; everything but `unionId` is optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CurrentUserBody {
    union_id: String,
    open_id: Option<String>,
    nick: Option<String>,
    avatar_url: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    state_code: Option<String>,
}

/// §4.1 success body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppTokenBody {
    access_token: String,
    expire_in: Option<LenientI64>,
}

/// One answer, read in full, before dialect-specific decoding.
struct RawResponse {
    status: u16,
    /// §0: `x-acs-request-id`, used when the body carries no request id.
    request_id: Option<String>,
    body: Vec<u8>,
}

impl DingTalkClient {
    pub fn new(settings: DingTalkSettings) -> Result<Self, DingTalkError> {
        Self::with_shared_cache(settings, None)
    }

    /// Like [`new`](Self::new), sharing the app token with other instances through `cache`.
    pub fn with_shared_cache(
        settings: DingTalkSettings,
        shared_cache: Option<Arc<dyn SharedTokenCache>>,
    ) -> Result<Self, DingTalkError> {
        if settings.client_id.trim().is_empty() {
            return Err(DingTalkError::Config("client_id is empty".to_owned()));
        }
        if settings.client_secret.is_empty() {
            return Err(DingTalkError::Config("client_secret is empty".to_owned()));
        }
        if settings.corp_id.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(DingTalkError::Config(
                "corp_id is set but empty; remove it to allow any organisation".to_owned(),
            ));
        }
        if settings.timeout_ms == 0 {
            return Err(DingTalkError::Config("timeout_ms must be positive".to_owned()));
        }
        let login_base = base_url("login_base_url", &settings.login_base_url)?;
        let api_base = base_url("api_base_url", &settings.api_base_url)?;
        let oapi_base = base_url("oapi_base_url", &settings.oapi_base_url)?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            // API calls never legitimately redirect; following one could leak a token.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dingtalk-oidc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DingTalkError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                settings,
                http,
                login_base,
                api_base,
                oapi_base,
                app_token: tokio::sync::Mutex::new(None),
                shared_cache,
            }),
        })
    }

    pub fn settings(&self) -> &DingTalkSettings {
        &self.inner.settings
    }

    /// docs/dingtalk-api.md §1. Scope is `openid`, or `openid corpid` plus `corpId` when an
    /// organisation is configured. Spaces are sent as `%20`, as in the §1 example.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let params = self.authorize_params(redirect_uri, state);
        let query = params.iter().map(|(k, v)| format!("{k}={}", encode_query_value(v))).collect::<Vec<_>>().join("&");
        format!("{}/oauth2/auth?{query}", self.inner.login_base)
    }

    /// The §1 parameters, shared by the redirect and the embedded QR login (§10), which takes
    /// the same ones.
    pub fn authorize_params<'a>(&'a self, redirect_uri: &'a str, state: &'a str) -> Vec<(&'static str, &'a str)> {
        let settings = &self.inner.settings;
        let mut params: Vec<(&str, &str)> =
            vec![("redirect_uri", redirect_uri), ("response_type", "code"), ("client_id", &settings.client_id)];
        match settings.corp_id.as_deref() {
            Some(corp_id) => {
                params.push(("scope", "openid corpid"));
                params.push(("corpId", corp_id));
            }
            None => params.push(("scope", "openid")),
        }
        params.push(("state", state));
        // §1: prompt=consent is required by the new login flow.
        params.push(("prompt", "consent"));
        params
    }

    /// How many calls [`login`](Self::login) makes one after another (§2, then §3).
    pub const LOGIN_CALLS: u32 = 2;

    /// §2 exchange the code for a user token, then §3 read `/v1.0/contact/users/me`.
    /// Any non-200 from §2 is a failed login (§2: don't branch on the code).
    pub async fn login(&self, auth_code: &str) -> Result<DingTalkIdentity, DingTalkError> {
        let settings = &self.inner.settings;
        let body = json!({
            "clientId": settings.client_id,
            "clientSecret": settings.client_secret,
            "code": auth_code,
            "grantType": "authorization_code",
        });
        let url = format!("{}/v1.0/oauth2/userAccessToken", self.inner.api_base);
        let token: UserTokenBody = self.call_v1("userAccessToken", self.inner.http.post(url).json(&body)).await?;

        let url = format!("{}/v1.0/contact/users/me", self.inner.api_base);
        let request = self.inner.http.get(url).header("x-acs-dingtalk-access-token", &token.access_token);
        let me: CurrentUserBody = self.call_v1("users/me", request).await?;
        if me.union_id.trim().is_empty() {
            return Err(DingTalkError::Decode("users/me: empty unionId".to_owned()));
        }
        Ok(DingTalkIdentity {
            union_id: me.union_id,
            open_id: non_empty(me.open_id),
            nick: non_empty(me.nick),
            avatar_url: non_empty(me.avatar_url),
            email: non_empty(me.email),
            mobile: non_empty(me.mobile),
            state_code: non_empty(me.state_code),
            corp_id: non_empty(token.corp_id),
            source: IdentitySource::HostedLogin,
        })
    }

    /// An app token (§4.1), cached until [`APP_TOKEN_MARGIN`] before expiry. The lock is
    /// held during the fetch so concurrent callers wait for one request.
    pub(crate) async fn app_token(&self) -> Result<String, DingTalkError> {
        let mut cache = self.inner.app_token.lock().await;
        if let Some(cached) = cache.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        *cache = None;
        let settings = &self.inner.settings;
        let shared_name = format!("dingtalk_app_token:{}", settings.client_id);
        if let Some(shared) = &self.inner.shared_cache
            && let Some(token) = shared.get(&shared_name).await
        {
            *cache = Some(CachedAppToken { token: token.clone(), refresh_at: Instant::now() + SHARED_RECHECK });
            return Ok(token);
        }
        let body = json!({ "appKey": settings.client_id, "appSecret": settings.client_secret });
        let url = format!("{}/v1.0/oauth2/accessToken", self.inner.api_base);
        let fresh: AppTokenBody = self.call_v1("accessToken", self.inner.http.post(url).json(&body)).await?;
        let lifetime_secs = fresh.expire_in.map_or(DEFAULT_TOKEN_LIFETIME_SECS, |v| u64::try_from(v.0).unwrap_or(0));
        let window = reuse_window(Duration::from_secs(lifetime_secs));
        if let Some(shared) = &self.inner.shared_cache {
            shared.put(&shared_name, &fresh.access_token, window.as_secs()).await;
        }
        let refresh_at = Instant::now() + window;
        *cache = Some(CachedAppToken { token: fresh.access_token.clone(), refresh_at });
        Ok(fresh.access_token)
    }

    /// Drop the cached app token if it is still the one DingTalk just rejected (another
    /// caller may already have replaced it).
    async fn forget_app_token(&self, rejected: &str) {
        let mut cache = self.inner.app_token.lock().await;
        if cache.as_ref().is_some_and(|c| c.token == rejected) {
            *cache = None;
            if let Some(shared) = &self.inner.shared_cache {
                let name = format!("dingtalk_app_token:{}", self.inner.settings.client_id);
                if shared.get(&name).await.as_deref() == Some(rejected) {
                    // Expire it for everyone; the next caller fetches a fresh one.
                    shared.put(&name, rejected, 0).await;
                }
            }
        }
    }

    /// POST an oapi `topapi` call with the app token (§5.0) and return its `result`.
    /// §6.3: on a rejected token, drop the cache and try once more with a fresh one.
    pub(crate) async fn topapi<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, DingTalkError> {
        let token = self.app_token().await?;
        match self.topapi_once(path, body, &token).await {
            Err(err) if err.is_rejected_token() => {
                tracing::info!(call = path, code = %err.log_code(), "app token rejected; fetching a new one");
                self.forget_app_token(&token).await;
                let token = self.app_token().await?;
                self.topapi_once(path, body, &token).await
            }
            other => other,
        }
    }

    async fn topapi_once<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        token: &str,
    ) -> Result<T, DingTalkError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.inner.oapi_base))
            .map_err(|e| DingTalkError::Config(format!("oapi URL for {path}: {e}")))?;
        // §5.0: the token travels in the query; the body is JSON (accepted per §0).
        url.query_pairs_mut().append_pair("access_token", token);
        self.call(path, self.inner.http.post(url).json(body), |raw| decode_oapi(path, raw)).await
    }

    /// One v1.0 call (§0, §6.1): send, then decode the body or the error.
    async fn call_v1<T: DeserializeOwned>(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, DingTalkError> {
        self.call(what, request, |raw| decode_v1(what, raw)).await
    }

    /// Send one request, read the whole answer and decode it; counted in `/metrics` by how the call
    /// ended once decoded: `ok`, or the error's `outcome` and DingTalk's code (`oapi_error` with
    /// errcode `60121`, ...). Counting at the HTTP layer would call every oapi error a success:
    /// §6.2, oapi errors arrive as HTTP 200 with a non-zero `errcode`.
    async fn call<T>(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
        decode: impl FnOnce(RawResponse) -> Result<T, DingTalkError>,
    ) -> Result<T, DingTalkError> {
        let started = Instant::now();
        let result = self.send(what, request).await.and_then(decode);
        let error = result.as_ref().err();
        let outcome = error.map_or(crate::metrics::DINGTALK_OK, DingTalkError::outcome);
        let errcode = error.and_then(DingTalkError::upstream_code);
        crate::metrics::dingtalk_call(what, outcome, errcode.as_deref(), started.elapsed().as_secs_f64());
        result
    }

    /// Send one request and read the whole answer. `what` names the call in logs; URLs
    /// are never logged because oapi URLs carry the token.
    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Result<RawResponse, DingTalkError> {
        let started = Instant::now();
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let request_id = response.headers().get("x-acs-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(DingTalkError::Decode(format!("{what}: answer too large")));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            call = what,
            status,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "DingTalk call"
        );
        Ok(RawResponse { status, request_id, body })
    }
}

/// How long a freshly fetched app token is reused: its lifetime minus the §6.3 margin,
/// but never less than half the lifetime, so a short-lived token is still shared.
fn reuse_window(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(APP_TOKEN_MARGIN.min(lifetime / 2))
}

/// Decode a v1.0 answer (§0, §6.1): 2xx carries the bare object, anything else the
/// error body.
fn decode_v1<T: DeserializeOwned>(what: &str, raw: RawResponse) -> Result<T, DingTalkError> {
    if !(200..300).contains(&raw.status) {
        return Err(error_from_status(raw.status, &raw.body, raw.request_id));
    }
    let json: Value =
        serde_json::from_slice(&raw.body).map_err(|_| DingTalkError::Decode(format!("{what}: body is not JSON")))?;
    if is_ip_ban(&json) {
        return Err(ip_ban_error());
    }
    serde_json::from_value(json).map_err(|e| schema_error(what, &e))
}

/// Decode an oapi answer (§5.0, §6.2): HTTP 200 with an envelope whose `errcode` is 0 and whose
/// `result` is the answer; a non-zero `errcode` is the error.
fn decode_oapi<T: DeserializeOwned>(path: &str, raw: RawResponse) -> Result<T, DingTalkError> {
    if raw.status != 200 {
        return Err(error_from_status(raw.status, &raw.body, raw.request_id));
    }
    let mut json: Value =
        serde_json::from_slice(&raw.body).map_err(|_| DingTalkError::Decode(format!("{path}: body is not JSON")))?;
    check_oapi_envelope(&json)?;
    let result = json
        .get_mut("result")
        .map(Value::take)
        .ok_or_else(|| DingTalkError::Decode(format!("{path}: no `result` in answer")))?;
    serde_json::from_value(result).map_err(|e| schema_error(path, &e))
}

/// serde's type-mismatch messages quote the offending value, which may be a token; keep
/// only the "missing field" wording, which names a field and nothing else.
fn schema_error(what: &str, err: &serde_json::Error) -> DingTalkError {
    let text = err.to_string();
    let detail = if text.starts_with("missing field") { text } else { "a field has an unexpected type".to_owned() };
    DingTalkError::Decode(format!("{what}: {detail}"))
}

fn transport_error(err: reqwest::Error) -> DingTalkError {
    if err.is_timeout() {
        return DingTalkError::Timeout;
    }
    // The URL may hold an access token (§5.0), so it is stripped before formatting.
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    DingTalkError::Transport(message)
}

fn base_url(name: &str, value: &str) -> Result<String, DingTalkError> {
    let parsed = url::Url::parse(value).map_err(|e| DingTalkError::Config(format!("{name} {value:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(DingTalkError::Config(format!(
            "{name} {value:?}: expected an http(s) URL without query or fragment"
        )));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn encode_query_value(value: &str) -> String {
    // form_urlencoded writes spaces as `+` and a literal `+` as `%2B`, so replacing `+`
    // afterwards only touches spaces.
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(corp_id: Option<&str>) -> DingTalkSettings {
        DingTalkSettings {
            client_id: "dingabc123".into(),
            client_secret: "s3cr3t-value".into(),
            corp_id: corp_id.map(str::to_owned),
            ..DingTalkSettings::default()
        }
    }

    #[test]
    fn authorize_url_matches_section_1_example() {
        let client = DingTalkClient::new(settings(None)).unwrap();
        assert_eq!(
            client.authorize_url("https://app.example.com/auth/dingtalk/callback", "Xyz123"),
            "https://login.dingtalk.com/oauth2/auth?redirect_uri=https%3A%2F%2Fapp.example.com\
             %2Fauth%2Fdingtalk%2Fcallback&response_type=code&client_id=dingabc123&scope=openid\
             &state=Xyz123&prompt=consent"
        );
    }

    #[test]
    fn authorize_url_with_corp_asks_for_corpid_scope_and_preselects_org() {
        let client = DingTalkClient::new(settings(Some("ding9f50"))).unwrap();
        let url = url::Url::parse(&client.authorize_url("https://a/cb?x=1", "s p+")).unwrap();
        assert!(url.as_str().contains("scope=openid%20corpid"));
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("scope"), Some("openid corpid"));
        assert_eq!(get("corpId"), Some("ding9f50"));
        assert_eq!(get("state"), Some("s p+"));
        assert_eq!(get("redirect_uri"), Some("https://a/cb?x=1"));
    }

    #[test]
    fn app_token_is_reused_until_five_minutes_before_expiry() {
        let secs = Duration::from_secs;
        assert_eq!(reuse_window(secs(7200)), secs(6900));
        assert_eq!(reuse_window(secs(240)), secs(120));
        assert_eq!(reuse_window(secs(0)), secs(0));
    }

    #[test]
    fn debug_of_settings_hides_the_secret() {
        let text = format!("{:?}", settings(None));
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("<redacted>"));
        let client = DingTalkClient::new(settings(None)).unwrap();
        assert!(!format!("{client:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn settings_defaults_fill_missing_toml_keys() {
        let parsed: DingTalkSettings = toml::from_str("client_id = \"k\"").unwrap();
        assert_eq!(parsed.client_id, "k");
        assert_eq!(parsed.api_base_url, "https://api.dingtalk.com");
        assert_eq!(parsed.timeout_ms, 5000);
        assert_eq!(parsed.corp_id, None);
    }

    #[test]
    fn new_rejects_incomplete_settings() {
        assert!(matches!(DingTalkClient::new(DingTalkSettings::default()), Err(DingTalkError::Config(_))));
        let mut bad = settings(Some(""));
        assert!(DingTalkClient::new(bad.clone()).is_err());
        bad.corp_id = None;
        bad.api_base_url = "ftp://x".into();
        assert!(DingTalkClient::new(bad).is_err());
    }
}
