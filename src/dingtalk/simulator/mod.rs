//! A fake DingTalk speaking the real wire format (docs/dingtalk-api.md §8 checklist), for
//! `serve --dev` and tests. One poem server serves the three hosts by path: login
//! (`/oauth2/auth`), api (`/v1.0/...`) and oapi (`/gettoken`, `/topapi/...`), so all three
//! base URLs of the client point at the same address.
//!
//! Handlers live beside this file: `simulator/authorize.rs` (§1), `simulator/api.rs`
//! (§2, §3, §4.1), `simulator/oapi.rs` (§4.3, §5), `simulator/reply.rs` (wire bodies); the fake
//! organisation in `simulator/directory.rs`, its built-in demo contents in `simulator/demo_org.rs`.

mod api;
mod authorize;
mod demo_org;
mod directory;
mod jsapi;
mod oapi;
mod reply;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use poem::endpoint::make;
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{Endpoint, Request, Response, Route, Server, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use directory::{SimDepartment, SimDirectory, SimRole, SimRoleGroup, SimUser};

/// A failure the simulator keeps producing until cleared. Over HTTP:
/// `POST /_simulator/fault` with `{"fault":"qps_limit"}`, `{"fault":"latency","ms":300}`
/// or `{"fault":null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FaultSpec", into = "FaultSpec")]
pub enum Fault {
    /// §2 answers 400 `invalidParameter.authCode.notFound`.
    InvalidCode,
    /// §3 answers 400 `InvalidAuthentication`.
    ExpiredToken,
    /// §3 answers 403 `AccessTokenPermissionDenied`; topapi answers errcode 88/60011.
    PermissionDenied,
    /// v1.0 answers 403 `QpsLimitForAppkeyAndApi`; oapi answers errcode 90018 (§6.4).
    QpsLimit,
    /// getbyunionid and v2/user/get answer 60121.
    UserNotFound,
    /// Every api/oapi call answers a gateway's HTML 503.
    ServerError,
    /// The authorize page redirects with `error=access_denied` (§1.1).
    LoginDenied,
    /// Every answer is delayed by this long.
    Latency(Duration),
}

/// The JSON form of [`Fault`]: a snake_case tag plus `ms` for latency.
#[derive(Serialize, Deserialize)]
struct FaultSpec {
    fault: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ms: Option<u64>,
}

impl TryFrom<FaultSpec> for Fault {
    type Error = String;

    fn try_from(spec: FaultSpec) -> Result<Self, Self::Error> {
        Ok(match spec.fault.as_str() {
            "invalid_code" => Self::InvalidCode,
            "expired_token" => Self::ExpiredToken,
            "permission_denied" => Self::PermissionDenied,
            "qps_limit" => Self::QpsLimit,
            "user_not_found" => Self::UserNotFound,
            "server_error" => Self::ServerError,
            "login_denied" => Self::LoginDenied,
            "latency" => Self::Latency(Duration::from_millis(spec.ms.ok_or("fault \"latency\" needs \"ms\"")?)),
            other => return Err(format!("unknown fault {other:?}")),
        })
    }
}

impl From<Fault> for FaultSpec {
    fn from(fault: Fault) -> Self {
        let (name, ms) = match fault {
            Fault::InvalidCode => ("invalid_code", None),
            Fault::ExpiredToken => ("expired_token", None),
            Fault::PermissionDenied => ("permission_denied", None),
            Fault::QpsLimit => ("qps_limit", None),
            Fault::UserNotFound => ("user_not_found", None),
            Fault::ServerError => ("server_error", None),
            Fault::LoginDenied => ("login_denied", None),
            Fault::Latency(d) => ("latency", Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))),
        };
        Self { fault: name.to_owned(), ms }
    }
}

/// The fake DingTalk. Clones share one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Mutex<SimState>>,
}

/// Who a code or token belongs to (the user `login` of organisation `org`), which organisation's
/// app it was issued to (`app`: a code is redeemed by the app that started the login), and
/// whether the login asked for scope `corpid`.
#[derive(Debug, Clone)]
struct Grant {
    org: usize,
    login: String,
    app: usize,
    with_corp: bool,
    expires_at: Instant,
}

struct SimState {
    /// The organisations, each with its one internal app (docs/dingtalk-api.md §11); the first
    /// is the default one, which the single-organisation helpers act on.
    orgs: Vec<SimDirectory>,
    fault: Option<Fault>,
    codes: HashMap<String, Grant>,
    /// §9: codes the JSAPI handed out inside the DingTalk client; only getuserinfo takes them.
    in_app_codes: HashMap<String, Grant>,
    user_tokens: HashMap<String, Grant>,
    refresh_tokens: HashMap<String, Grant>,
    /// §4.1/§4.3 share one store: per app (by organisation), the current token and its expiry.
    app_tokens: Vec<Option<(String, Instant)>>,
    app_token_ttl: Duration,
    app_token_requests: u64,
    /// The codes and tokens handed out (the latest `ISSUED_KEPT`), for tests that look for them
    /// where they must not be.
    issued: std::collections::VecDeque<String>,
}

/// Which DingTalk host a handler stands in for; faults differ per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Login,
    Api,
    Oapi,
}

/// §1.1 (inferred): codes are single use and short lived.
const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// §6.3: user access token 7200 s, refresh token 30 days, app token 7200 s.
const USER_TOKEN_LIFETIME: Duration = Duration::from_secs(7200);
const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
const APP_TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

impl Simulator {
    pub fn new(dir: SimDirectory) -> Self {
        Self::with_organisations(vec![dir])
    }

    /// A DingTalk with several organisations, each with its own app (the first is the default).
    pub fn with_organisations(orgs: Vec<SimDirectory>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(SimState {
                app_tokens: vec![None; orgs.len()],
                orgs,
                fault: None,
                codes: HashMap::new(),
                in_app_codes: HashMap::new(),
                user_tokens: HashMap::new(),
                refresh_tokens: HashMap::new(),
                app_token_ttl: APP_TOKEN_LIFETIME,
                app_token_requests: 0,
                issued: Default::default(),
            })),
        }
    }

    /// All routes of the three hosts plus the `/_simulator/fault` control endpoint.
    pub fn endpoint(&self) -> Route {
        Route::new()
            .at("/oauth2/auth", get(self.handler(authorize::authorize)))
            .at("/v1.0/oauth2/userAccessToken", post(self.handler(api::user_access_token)))
            .at("/v1.0/oauth2/accessToken", post(self.handler(api::app_access_token)))
            .at("/v1.0/contact/users/:union_id", get(self.handler(api::user_profile)))
            .at("/gettoken", get(self.handler(oapi::gettoken)))
            .at("/topapi/user/getbyunionid", post(self.handler(oapi::user_by_union_id)))
            .at("/topapi/v2/user/get", post(self.handler(oapi::user_detail)))
            .at("/topapi/v2/department/listparentbyuser", post(self.handler(oapi::parent_departments)))
            .at("/topapi/v2/department/get", post(self.handler(oapi::department_detail)))
            .at("/topapi/role/list", post(self.handler(oapi::role_list)))
            .at("/jsapi/dingtalk.open.js", get(self.handler(jsapi::script)))
            .at("/ddlogin.js", get(self.handler(jsapi::ddlogin_script)))
            .at("/__sim/jsapi/authcode", post(self.handler(jsapi::auth_code)))
            .at("/__sim/as", get(self.handler(jsapi::choose_user)))
            .at("/topapi/v2/user/getuserinfo", post(self.handler(jsapi::get_user_info)))
            .at("/_simulator/fault", get(self.handler(show_fault)).post(self.handler(change_fault)))
    }

    /// Serve on an already bound listener until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        Server::new_with_acceptor(acceptor).run(self.endpoint()).await
    }

    /// A snapshot of the default organisation, including redirect URIs set since start.
    pub fn directory(&self) -> SimDirectory {
        self.state().orgs[0].clone()
    }

    /// A snapshot of every organisation.
    pub fn organisations(&self) -> Vec<SimDirectory> {
        self.state().orgs.clone()
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        tracing::info!(?fault, "simulator fault changed");
        self.state().fault = fault;
    }

    pub fn fault(&self) -> Option<Fault> {
        self.state().fault.clone()
    }

    /// Register callback URLs (§1: must match); empty accepts any.
    /// The user leaves the corp (HR offboarding): DingTalk stops knowing their in-corp userid, so
    /// `getbyunionid` answers 60121 from now on.
    /// `login` is a user of the default organisation, or `<corp>:<login>` one of another.
    pub fn remove_from_corp(&self, login: &str) {
        if let Some(user) = self.state().user_mut(login) {
            user.userid = None;
        }
    }

    /// HR moves the user to other departments (chains follow from the directory's parents).
    pub fn set_departments(&self, login: &str, dept_ids: Vec<i64>) {
        if let Some(user) = self.state().user_mut(login) {
            user.dept_ids = dept_ids;
        }
    }

    /// HR deactivates (or reactivates) the user: `v2/user/get` answers `active` accordingly.
    pub fn set_active(&self, login: &str, active: bool) {
        if let Some(user) = self.state().user_mut(login) {
            user.active = active;
        }
    }

    /// Every authorization code, user access token, refresh token and app token the simulator
    /// has handed out so far (credentials the provider must never store in the clear).
    pub fn issued_credentials(&self) -> Vec<String> {
        self.state().issued.iter().cloned().collect()
    }

    /// Every app's registered callback URLs.
    pub fn set_redirect_uris(&self, uris: Vec<String>) {
        for org in &mut self.state().orgs {
            org.redirect_uris = uris.clone();
        }
    }

    /// How many app-token requests (§4.1 and §4.3) reached the simulator.
    pub fn app_token_requests(&self) -> u64 {
        self.state().app_token_requests
    }

    /// Invalidate the current app token, as if it had expired: oapi calls made with it
    /// answer 40014 from now on (docs/dingtalk-api.md §6.2).
    pub fn expire_app_tokens(&self) {
        self.state().app_tokens.iter_mut().for_each(|t| *t = None);
    }

    /// Lifetime (and `expireIn`) of app tokens issued from now on; default 7200 s.
    pub fn set_app_token_ttl(&self, ttl: Duration) {
        self.state().app_token_ttl = ttl;
    }

    fn state(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock leaves plain maps behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handler<F, Fut>(&self, f: F) -> impl Endpoint<Output = Response> + 'static
    where
        F: Fn(Simulator, Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let sim = self.clone();
        make(move |req| f(sim.clone(), req))
    }

    /// Log the request, apply latency and the host-wide faults. `Err` is the answer to
    /// send instead; `Ok` carries the active fault for endpoint-specific behaviour.
    async fn enter(&self, req: &Request, host: Host) -> Result<Option<Fault>, Response> {
        // Path only: queries carry codes and tokens.
        tracing::info!(method = %req.method(), path = req.uri().path(), "simulated DingTalk request");
        let fault = self.fault();
        if let Some(Fault::Latency(delay)) = &fault {
            tokio::time::sleep(*delay).await;
        }
        match (&fault, host) {
            (Some(Fault::ServerError), Host::Api | Host::Oapi) => Err(reply::gateway_unavailable()),
            // docs/dingtalk-api.md §6.4: per-app per-API limit on both hosts.
            (Some(Fault::QpsLimit), Host::Api) => Err(reply::v1_error(
                StatusCode::FORBIDDEN,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                "应用调用该接口的频率超过限制，请稍后重试",
            )),
            (Some(Fault::QpsLimit), Host::Oapi) => Err(reply::oapi_error(90018, "应用调用该接口的频率超过限制")),
            _ => Ok(fault),
        }
    }
}

/// How many issued credentials the simulator remembers (a long dev session stays bounded).
const ISSUED_KEPT: usize = 10_000;

impl SimState {
    fn remember_issued(&mut self, credential: &str) {
        if self.issued.len() >= ISSUED_KEPT {
            self.issued.pop_front();
        }
        self.issued.push_back(credential.to_owned());
    }

    /// The organisation whose app has this key.
    fn app_by_key(&self, app_key: &str) -> Option<usize> {
        self.orgs.iter().position(|o| o.app_key == app_key)
    }

    /// The organisation whose app has these credentials.
    fn app_by_credentials(&self, app_key: Option<&str>, app_secret: Option<&str>) -> Option<usize> {
        let app = self.app_by_key(app_key?)?;
        (Some(self.orgs[app].app_secret.as_str()) == app_secret).then_some(app)
    }

    /// A user by `<corp>:<login>`, or by `login` alone: in organisation `first`, then the others.
    fn find_user(&self, first: usize, spec: &str) -> Option<(usize, &SimUser)> {
        if let Some((corp, login)) = spec.split_once(':') {
            let org = self.orgs.iter().position(|o| o.corp_id == corp)?;
            return Some((org, self.orgs[org].user_by_login(login)?));
        }
        let order = std::iter::once(first).chain((0..self.orgs.len()).filter(|i| *i != first));
        order.filter(|i| *i < self.orgs.len()).find_map(|i| Some((i, self.orgs[i].user_by_login(spec)?)))
    }

    fn user_mut(&mut self, spec: &str) -> Option<&mut SimUser> {
        let (org, user) = self.find_user(0, spec)?;
        let login = user.login.clone();
        self.orgs[org].users.iter_mut().find(|u| u.login == login)
    }

    fn user_of(&self, grant: &Grant) -> Option<&SimUser> {
        self.orgs.get(grant.org)?.user_by_login(&grant.login)
    }

    fn issue_code(&mut self, org: usize, login: &str, app: usize, with_corp: bool) -> String {
        let now = Instant::now();
        self.codes.retain(|_, g| g.expires_at > now);
        let code = reply::random_token();
        let grant = Grant { org, login: login.to_owned(), app, with_corp, expires_at: now + CODE_LIFETIME };
        self.codes.insert(code.clone(), grant);
        self.remember_issued(&code);
        code
    }

    /// §9.1: an in-app code lives five minutes and is used once, like a login code, but is
    /// kept apart: userAccessToken refuses it and getuserinfo takes nothing else.
    fn issue_in_app_code(&mut self, org: usize, login: &str) -> String {
        let now = Instant::now();
        self.in_app_codes.retain(|_, g| g.expires_at > now);
        let code = reply::random_token();
        let grant = Grant { org, login: login.to_owned(), app: org, with_corp: false, expires_at: now + CODE_LIFETIME };
        self.in_app_codes.insert(code.clone(), grant);
        self.remember_issued(&code);
        code
    }

    fn take_in_app_code(&mut self, code: &str) -> Option<Grant> {
        self.in_app_codes.remove(code).filter(|g| g.expires_at > Instant::now())
    }

    /// Consume a code: it is gone afterwards whether or not it had expired.
    fn take_code(&mut self, code: &str) -> Option<Grant> {
        self.codes.remove(code).filter(|g| g.expires_at > Instant::now())
    }

    fn take_refresh_token(&mut self, token: &str) -> Option<Grant> {
        self.refresh_tokens.remove(token).filter(|g| g.expires_at > Instant::now())
    }

    /// Issue a user access token and a fresh refresh token for `grant`.
    fn issue_user_tokens(&mut self, grant: &Grant) -> (String, String) {
        let now = Instant::now();
        self.user_tokens.retain(|_, g| g.expires_at > now);
        self.refresh_tokens.retain(|_, g| g.expires_at > now);
        let access = reply::random_token();
        let refresh = reply::random_token();
        self.user_tokens.insert(access.clone(), Grant { expires_at: now + USER_TOKEN_LIFETIME, ..grant.clone() });
        self.refresh_tokens
            .insert(refresh.clone(), Grant { expires_at: now + REFRESH_TOKEN_LIFETIME, ..grant.clone() });
        self.remember_issued(&access);
        self.remember_issued(&refresh);
        (access, refresh)
    }

    fn user_for_token(&self, token: &str) -> Option<(&SimUser, &Grant)> {
        let grant = self.user_tokens.get(token).filter(|g| g.expires_at > Instant::now())?;
        Some((self.user_of(grant)?, grant))
    }

    /// §4.1 note: within validity the same token comes back, with its expiry extended.
    fn issue_app_token(&mut self, app: usize) -> (String, Duration) {
        let now = Instant::now();
        let ttl = self.app_token_ttl;
        let token = match self.app_tokens[app].take() {
            Some((token, expires_at)) if expires_at > now => token,
            _ => reply::random_token(),
        };
        self.app_tokens[app] = Some((token.clone(), now + ttl));
        if !self.issued.contains(&token) {
            self.remember_issued(&token);
        }
        (token, ttl)
    }

    /// The organisation whose app holds this live token.
    fn app_token_org(&self, token: &str) -> Option<usize> {
        let now = Instant::now();
        self.app_tokens.iter().position(|t| t.as_ref().is_some_and(|(t, expires_at)| t == token && *expires_at > now))
    }
}

async fn show_fault(sim: Simulator, _req: Request) -> Response {
    fault_state(&sim)
}

async fn change_fault(sim: Simulator, mut req: Request) -> Response {
    let parsed = match req.take_body().into_bytes_limit(4096).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let fault = parsed.and_then(|v| match v.get("fault") {
        None | Some(Value::Null) => Ok(None),
        Some(_) => serde_json::from_value::<Fault>(v).map(Some).map_err(|e| e.to_string()),
    });
    match fault {
        Ok(fault) => {
            sim.set_fault(fault);
            fault_state(&sim)
        }
        Err(message) => Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .content_type("application/json")
            .body(json!({ "error": message }).to_string()),
    }
}

fn fault_state(sim: &Simulator) -> Response {
    Response::builder().content_type("application/json").body(json!({ "fault": sim.fault() }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_uses_snake_case_tags() {
        let f: Fault = serde_json::from_str(r#"{"fault":"qps_limit"}"#).unwrap();
        assert_eq!(f, Fault::QpsLimit);
        let f: Fault = serde_json::from_str(r#"{"fault":"latency","ms":300}"#).unwrap();
        assert_eq!(f, Fault::Latency(Duration::from_millis(300)));
        assert_eq!(
            serde_json::to_value(Fault::Latency(Duration::from_millis(5))).unwrap(),
            json!({"fault": "latency", "ms": 5})
        );
        assert!(serde_json::from_str::<Fault>(r#"{"fault":"latency"}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"fault":"bogus"}"#).is_err());
    }
}
