//! Test harness: the real provider on a random loopback port, with the DingTalk simulator (the only
//! fake we allow) on another, a real SQLite file (or PostgreSQL), and a cookie-keeping "browser".

use std::sync::Arc;

use dingtalk_oidc::app::App;
use dingtalk_oidc::config::Config;
use dingtalk_oidc::dingtalk::{SimDirectory, Simulator};
use dingtalk_oidc::directory::NewClient;
use dingtalk_oidc::keys::Kek;
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use tokio::sync::oneshot;

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/rp/callback";

pub struct TestProvider {
    pub issuer: String,
    pub app: Arc<App>,
    /// The provider's protocol clock: tests move it instead of sleeping.
    pub clock: Arc<dingtalk_oidc::clock::OffsetClock>,
    pub simulator: Simulator,
    pub simulator_url: String,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestProvider {
    pub async fn start() -> TestProvider {
        TestProvider::start_with(|_| {}).await
    }

    /// Starts the simulator and the provider; `adjust` may change the config before start.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestProvider {
        let simulator = Simulator::new(SimDirectory::default());
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind simulator");
        let simulator_url = format!("http://{}", sim_listener.local_addr().expect("addr"));
        tokio::spawn(simulator.clone().serve(sim_listener));
        TestProvider::start_on(simulator, simulator_url, adjust).await
    }

    /// Starts the simulator with both demo organisations and a provider with one app per
    /// organisation (`[[dingtalk.apps]]`, Demo Corp the default); `adjust` may change the config.
    pub async fn start_with_organisations(adjust: impl FnOnce(&mut Config)) -> TestProvider {
        let simulator = Simulator::with_organisations(SimDirectory::demo_organisations());
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind simulator");
        let simulator_url = format!("http://{}", sim_listener.local_addr().expect("addr"));
        tokio::spawn(simulator.clone().serve(sim_listener));
        let orgs = simulator.organisations();
        TestProvider::start_on(simulator, simulator_url, move |config| {
            config.dingtalk.client_id.clear();
            config.dingtalk.client_secret.clear();
            config.dingtalk.corp_id = None;
            config.dingtalk.apps = orgs
                .iter()
                .map(|org| dingtalk_oidc::config::DingTalkApp {
                    name: Some(org.departments[0].name.clone()),
                    client_id: org.app_key.clone(),
                    client_secret: org.app_secret.clone(),
                    client_secret_file: None,
                    corp_id: Some(org.corp_id.clone()),
                })
                .collect();
            adjust(config);
        })
        .await
    }

    /// Starts a provider against an already running simulator (several instances share one).
    pub async fn start_on(
        simulator: Simulator,
        simulator_url: String,
        adjust: impl FnOnce(&mut Config),
    ) -> TestProvider {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim_directory = simulator.directory();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind provider");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = Config { issuer: issuer.clone(), ..Config::default() };
        config.database.url = format!("sqlite://{}?mode=rwc", dir.path().join("oidc.db").display());
        config.dingtalk.client_id = sim_directory.app_key.clone();
        config.dingtalk.client_secret = sim_directory.app_secret.clone();
        config.dingtalk.corp_id = Some(sim_directory.corp_id.clone());
        config.dingtalk.login_base_url = simulator_url.clone();
        config.dingtalk.api_base_url = simulator_url.clone();
        config.dingtalk.oapi_base_url = simulator_url.clone();
        config.dingtalk.timeout_ms = 2000;
        // Tests drive thousands of requests from one address; the rate-limit tests lower these.
        config.limits.per_ip_per_minute = 1_000_000;
        config.limits.metadata_per_ip_per_minute = 1_000_000;
        config.limits.admin_per_ip_per_minute = 1_000_000;
        config.limits.token_per_client_per_minute = 1_000_000;
        adjust(&mut config);
        config.validate(false).expect("valid test config");
        let mut registered = simulator.directory().redirect_uris;
        registered.push(format!("{}{}", config.issuer_base(), paths::CALLBACK));
        simulator.set_redirect_uris(registered);

        let kek = Kek::from_bytes(&[42u8; 32]).expect("kek");
        let clock = Arc::new(dingtalk_oidc::clock::OffsetClock::default());
        let app = App::start_with_clock(config, kek, clock.clone()).await.expect("provider starts");
        let (tx, rx) = oneshot::channel::<()>();
        let serving = app.clone();
        // Bound here, as `serve` does at start-up, so a test can scrape it as soon as this returns.
        let metrics = dingtalk_oidc::server::bind_metrics(&app.config).await.expect("bind server.metrics_listen");
        tokio::spawn(async move {
            let _ = dingtalk_oidc::server::serve_on(serving, listener, metrics, async {
                let _ = rx.await;
            })
            .await;
        });
        TestProvider { issuer, app, clock, simulator, simulator_url, _dir: dir, shutdown: Some(tx) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// Registers a client; returns the secret of a confidential one.
    pub async fn register(&self, id: &str, public: bool, first_party: bool) -> Option<String> {
        let (_, secret) = self
            .app
            .directory
            .create_client(NewClient {
                id: id.into(),
                name: Some(format!("Test app {id}")),
                redirect_uris: vec![REDIRECT_URI.into()],
                public,
                first_party,
                ..NewClient::default()
            })
            .await
            .expect("client registered");
        secret
    }
}

/// A browser: keeps cookies, follows redirects by hand, and signs in at the simulator as `login`.
pub struct Browser {
    pub http: reqwest::Client,
    pub login: String,
    /// The browser's cookies, readable by tests (`cookie`).
    pub jar: Arc<reqwest::cookie::Jar>,
}

/// Where a browser journey ended.
#[derive(Debug)]
pub enum Landing {
    /// Redirected to the relying party: the full Location.
    Client(url::Url),
    /// A page (status, body) that did not redirect.
    Page(StatusCode, String),
}

impl Landing {
    pub fn client_url(&self) -> &url::Url {
        match self {
            Landing::Client(u) => u,
            Landing::Page(status, body) => {
                panic!("expected a redirect to the client, got {status}: {body}")
            }
        }
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.client_url().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    pub fn page(&self) -> (StatusCode, &str) {
        match self {
            Landing::Page(status, body) => (*status, body),
            Landing::Client(u) => panic!("expected a page, got a redirect to {u}"),
        }
    }
}

impl Browser {
    pub fn new(login: &str) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Browser {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            login: login.into(),
            jar,
        }
    }

    /// The value of the cookie `name` this browser would send to `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let header = self.jar.cookies(&url::Url::parse(url).expect("url"))?;
        let header = header.to_str().ok()?.to_string();
        header.split("; ").filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    /// Follows redirects from `url` until one leaves for the client's redirect URI or a page is
    /// shown. Consent pages are approved when `approve_consent`.
    pub async fn journey(&self, url: &str, approve_consent: bool) -> Landing {
        let mut next = url.to_string();
        for _ in 0..10 {
            if next.starts_with(REDIRECT_URI) {
                return Landing::Client(url::Url::parse(&next).expect("client url"));
            }
            let mut target = url::Url::parse(&next).expect("url");
            if target.path() == "/oauth2/auth" && !target.query_pairs().any(|(k, _)| k == "login_as") {
                target.query_pairs_mut().append_pair("login_as", &self.login);
            }
            let resp = self.http.get(target).send().await.expect("request");
            if let Some(location) = redirect_location(&resp) {
                next = location;
                continue;
            }
            let status = resp.status();
            let body = resp.text().await.expect("body");
            if approve_consent && status == StatusCode::OK && body.contains("name=\"consent_id\"") {
                let landing = self.answer_consent(&body, "approve").await;
                match landing {
                    Some(location) => {
                        next = location;
                        continue;
                    }
                    None => return Landing::Page(status, body),
                }
            }
            return Landing::Page(status, body);
        }
        panic!("too many redirects");
    }

    /// Submits the consent form found in `page`; returns the redirect target.
    pub async fn answer_consent(&self, page: &str, decision: &str) -> Option<String> {
        let action = attr_after(page, "action=\"")?;
        let consent_id = hidden_value(page, "consent_id")?;
        let csrf = hidden_value(page, "csrf_token")?;
        let resp = self
            .http
            .post(action)
            .form(&[("consent_id", consent_id.as_str()), ("csrf_token", csrf.as_str()), ("decision", decision)])
            .send()
            .await
            .expect("consent post");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "consent answers 303 (RFC 9700 §4.12)");
        redirect_location(&resp)
    }
}

pub fn redirect_location(resp: &reqwest::Response) -> Option<String> {
    if !resp.status().is_redirection() {
        return None;
    }
    resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn attr_after(page: &str, marker: &str) -> Option<String> {
    let start = page.find(marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(html_unescape(&page[start..end]))
}

pub fn hidden_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    attr_after(page, &marker)
}

/// The form of a form_post response page (OAuth 2.0 Form Post Response Mode §2): where it POSTs
/// and its hidden inputs in order, unescaped. `None` if the page has no POST form.
pub fn posted_form(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = page.find("<form method=\"post\"")?;
    let form = &page[start..start + page[start..].find("</form>")?];
    let action = attr_after(form, "action=\"")?;
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(at) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[at..];
        let name = attr_after(rest, "name=\"")?;
        let value = attr_after(rest, "value=\"")?;
        fields.push((name, value));
        rest = &rest[1..];
    }
    Some((action, fields))
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// An authorization URL for our provider with the usual parameters.
pub fn authorize_url(issuer: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{issuer}{}", paths::AUTHORIZE)).expect("url");
    for (k, v) in pairs {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// A code request of client `app` at `REDIRECT_URI` (PKCE S256, `state=rp-state`) for `scope`,
/// plus `extra`.
pub fn app_authorize_url(p: &TestProvider, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_id", "app"),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", scope),
        ("state", "rp-state"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    authorize_url(&p.issuer, &pairs)
}

/// Asserts that `policy` allows every inline script of `page` by its hash (CSP Level 3 §2.3.1):
/// the script as rendered, so that an escaping or template change that alters it fails here
/// rather than silently in a browser. Returns how many inline scripts there were.
pub fn assert_inline_scripts_allowed(page: &str, policy: &str) -> usize {
    let mut count = 0;
    for part in page.split("<script>").skip(1) {
        let script = &part[..part.find("</script>").expect("a closed script")];
        let source = dingtalk_oidc::web::pages::script_hash_source(script);
        assert!(policy.contains(&source), "{source} is not in the policy {policy}");
        count += 1;
    }
    count
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Runs a login for `client_id` (PKCE S256 with the RFC 7636 vector) and returns the code.
pub async fn obtain_code(provider: &TestProvider, browser: &Browser, client_id: &str) -> String {
    obtain_code_for_scope(provider, browser, client_id, "openid profile email").await
}

/// As `obtain_code`, asking for `scope`.
pub async fn obtain_code_for_scope(provider: &TestProvider, browser: &Browser, client_id: &str, scope: &str) -> String {
    let url = authorize_url(
        &provider.issuer,
        &[
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", scope),
            ("state", "st"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let landing = browser.journey(&url, true).await;
    landing.param("code").expect("a code")
}

/// POSTs a form to the token endpoint, optionally with Basic credentials.
pub async fn token_request(
    provider: &TestProvider,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    let http = reqwest::Client::new();
    let mut req = http.post(provider.url(paths::TOKEN)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.expect("token request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json::<serde_json::Value>().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

/// Exchanges `code` (issued for the PKCE challenge `CHALLENGE`, as `obtain_code` asks) at the token
/// endpoint with Basic client authentication and `VERIFIER`; returns the token response, and panics
/// with the body unless it is 200.
pub async fn exchange_code(provider: &TestProvider, client_id: &str, secret: &str, code: &str) -> serde_json::Value {
    let (status, _, body) = token_request(
        provider,
        Some((client_id, secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Asserts that a token response, its ID token, its access token and the userinfo answer for it
/// carry none of `claims`, and that the granted `scope` (RFC 6749 §5.1) names none of `scopes`.
pub async fn assert_not_granted(provider: &TestProvider, tokens: &serde_json::Value, scopes: &[&str], claims: &[&str]) {
    let granted: Vec<&str> = tokens["scope"].as_str().expect("a granted scope").split(' ').collect();
    assert!(scopes.iter().all(|s| !granted.contains(s)), "granted {granted:?}");
    let userinfo: serde_json::Value = reqwest::Client::new()
        .get(provider.url(paths::USERINFO))
        .bearer_auth(tokens["access_token"].as_str().expect("an access token"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("userinfo JSON");
    let id = unverified_claims(tokens["id_token"].as_str().expect("an ID token"));
    let access = unverified_claims(tokens["access_token"].as_str().expect("an access token"));
    for (what, document) in [("ID token", &id), ("access token", &access), ("userinfo", &userinfo)] {
        for claim in claims {
            assert!(document.get(claim).is_none(), "{what} carries {claim}: {document}");
        }
    }
}

/// A JWT's claims, read without verifying its signature (callers verify where that is the point).
pub fn unverified_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// `DINGTALK_OIDC_REQUIRE_SERVICES=1` (set by CI) turns "service not running, skipping" into a
/// failure.
pub fn services_required() -> bool {
    std::env::var("DINGTALK_OIDC_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Skips (returns None) or fails, as `services_required` says.
fn service_missing<T>(what: &str, detail: impl std::fmt::Display) -> Option<T> {
    if services_required() {
        panic!("{what} is required (DINGTALK_OIDC_REQUIRE_SERVICES=1) and unreachable: {detail}");
    }
    eprintln!("SKIPPED: {what} is not reachable ({detail}); set DINGTALK_OIDC_REQUIRE_SERVICES=1 to fail instead");
    None
}

/// The PostgreSQL server tests use (`TEST_DATABASE_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The Redis server tests use (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh, empty PostgreSQL database for one test; `drop` removes it.
pub struct PostgresDatabase {
    pub url: String,
    name: String,
}

impl PostgresDatabase {
    pub async fn create() -> Option<PostgresDatabase> {
        use sea_orm::ConnectionTrait;
        let admin_url = postgres_admin_url();
        let mut options = sea_orm::ConnectOptions::new(admin_url.clone());
        options.connect_timeout(std::time::Duration::from_secs(3)).sqlx_logging(false);
        let admin = match sea_orm::Database::connect(options).await {
            Ok(admin) => admin,
            Err(e) => return service_missing(&format!("PostgreSQL at {admin_url}"), e),
        };
        let name = format!("dtoidc_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("postgres url");
        url.set_path(&name);
        Some(PostgresDatabase { url: url.to_string(), name })
    }

    pub async fn drop(self) {
        use sea_orm::ConnectionTrait;
        if let Ok(admin) = sea_orm::Database::connect(&postgres_admin_url()).await {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
            let _ = admin.close().await;
        }
    }
}

/// A key prefix of its own on the test Redis; `drop` deletes every key under it.
pub struct RedisNamespace {
    pub url: String,
    pub prefix: String,
}

impl RedisNamespace {
    pub async fn create() -> Option<RedisNamespace> {
        let url = redis_url();
        if let Err(e) = redis_client(&url).await {
            return service_missing(&format!("Redis at {url}"), e);
        }
        Some(RedisNamespace { url, prefix: format!("dtoidc-test-{}:", uuid::Uuid::new_v4().simple()) })
    }

    pub fn settings(&self) -> dingtalk_oidc::store::RedisSettings {
        dingtalk_oidc::store::RedisSettings {
            url: self.url.clone(),
            prefix: self.prefix.clone(),
            pool_size: 4,
            command_timeout: std::time::Duration::from_millis(1000),
            connect_timeout: std::time::Duration::from_millis(1000),
        }
    }

    /// Keys currently under `pattern` (a KEYS glob), for assertions and cleanup.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        use fred::prelude::*;
        let client = redis_client(&self.url).await.expect("redis");
        let keys: Vec<String> = client
            .eval("return redis.call('KEYS', ARGV[1])", Vec::<String>::new(), vec![pattern.to_string()])
            .await
            .expect("KEYS");
        let _ = client.quit().await;
        keys
    }

    pub async fn drop(self) {
        use fred::prelude::*;
        let keys = self.keys(&format!("{}*", self.prefix)).await;
        if let Ok(client) = redis_client(&self.url).await {
            for key in keys {
                let _: Result<i64, _> = client.del(key).await;
            }
            let _ = client.quit().await;
        }
    }
}

/// A plain client for test set-up and inspection.
pub async fn redis_client(url: &str) -> Result<fred::prelude::Client, fred::prelude::Error> {
    use fred::prelude::*;
    let config = Config::from_url(url)?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = std::time::Duration::from_secs(2);
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| p.default_command_timeout = std::time::Duration::from_secs(2))
        .set_policy(ReconnectPolicy::new_constant(1, 100))
        .build()?;
    client.init().await?;
    let _: String = client.ping(None).await?;
    Ok(client)
}

/// What a [`TcpProxy`] does with the bytes it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Up,
    /// A network partition: connections stay open and new ones are accepted, but no byte passes
    /// either way until the link heals; what was sent meanwhile is delivered then, as TCP would.
    Partitioned,
    /// Every connection closed and new ones refused.
    Cut,
}

/// A TCP proxy the test controls: `cut` closes every connection and refuses new ones (a database
/// that stopped answering and says so), `partition` holds every byte on open connections (a
/// database behind a network partition: nothing is refused, nothing answers), `restore` forwards
/// again — on the held connections too. Never touches the shared server itself.
pub struct TcpProxy {
    pub addr: std::net::SocketAddr,
    link: tokio::sync::watch::Sender<Link>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl TcpProxy {
    pub async fn start(target: std::net::SocketAddr) -> TcpProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (link, _) = tokio::sync::watch::channel(Link::Up);
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (watch, conns2) = (link.subscribe(), connections.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *watch.borrow() == Link::Cut {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(forward(inbound, target, watch.clone()));
                conns2.lock().unwrap().push(task);
            }
        });
        TcpProxy { addr, link, connections }
    }

    pub fn cut(&self) {
        self.link.send_replace(Link::Cut);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Stops every byte, both ways, on open and new connections, without closing anything.
    pub fn partition(&self) {
        self.link.send_replace(Link::Partitioned);
    }

    /// Forwards again: after a cut, for new connections; after a partition, also what the open
    /// connections sent meanwhile.
    pub fn restore(&self) {
        self.link.send_replace(Link::Up);
    }
}

/// Waits until the link lets bytes through; `false` once it is cut.
async fn passable(link: &mut tokio::sync::watch::Receiver<Link>) -> bool {
    matches!(link.wait_for(|l| *l != Link::Partitioned).await.map(|l| *l), Ok(Link::Up))
}

/// One proxied connection: connects to `target` once the link lets it, then copies each way,
/// holding every chunk while the link is partitioned.
async fn forward(
    inbound: tokio::net::TcpStream,
    target: std::net::SocketAddr,
    link: tokio::sync::watch::Receiver<Link>,
) {
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut link: tokio::sync::watch::Receiver<Link>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !passable(&mut link).await || to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
    let mut waiting = link.clone();
    if !passable(&mut waiting).await {
        return;
    }
    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
        return;
    };
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    // Either side closing ends the connection (both sockets drop).
    tokio::select! {
        _ = pump(in_read, out_write, link.clone()) => {}
        _ = pump(out_read, in_write, link) => {}
    }
}

/// A `redis-server` of the test's own on a random port, stopped and restarted at will.
pub struct OwnRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start() -> Option<OwnRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut redis = OwnRedis { port, child: None };
        if let Err(e) = redis.spawn() {
            return service_missing("redis-server (the binary, for outage tests)", e);
        }
        Some(redis)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(std::io::Error::other("redis-server did not start"))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("redis-server restarts");
    }

    /// Stalls the server (SIGSTOP): connections stay open, commands wait in its buffers and run
    /// when it resumes — a Redis paused by a long fork, swapping or a debugger.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT: the stalled server runs what waited.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = std::process::Command::new("kill").args([signal, &pid]).status().expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// For a test that reads process-wide state other tests would move under it (the metrics
/// recorder): the integration tests share one process, so such a test runs alone in a fresh
/// process of this same binary. Returns `true` in that process, where the caller runs its body;
/// elsewhere it runs the fresh process, asserts that it ran exactly this one test and that it
/// passed, and returns `false`.
pub fn alone_in_a_process(module: &str, test: &str) -> bool {
    const MARK: &str = "IT_ALONE_IN_A_PROCESS";
    if std::env::var_os(MARK).is_some() {
        return true;
    }
    // libtest names a test by its path inside the crate, without the crate's own name.
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    let name = format!("{module}::{test}");
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(MARK, "1")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} alone in a process: {}\n{stdout}\n{stderr}",
        out.status
    );
    false
}

/// RFC 7662 §2.2: the introspection answer for `token`, asked by `client` (asserts 200 and no-store).
pub async fn introspect(provider: &TestProvider, client: (&str, &str), token: &str) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(provider.url("/introspect"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    resp.json().await.unwrap()
}

/// The status `/userinfo` answers for `access_token`.
pub async fn userinfo_status(provider: &TestProvider, access_token: &str) -> StatusCode {
    reqwest::Client::new().get(provider.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status()
}

/// The session-store backend a scenario runs on (`on_backends!`).
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sql,
    Redis,
}

/// Runs each scenario `async fn name(backend: Backend)` of the calling module once per
/// session-store backend, as the tests `name::sql` and `name::redis`.
macro_rules! on_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sql() {
                    super::$name($crate::common::Backend::Sql).await;
                }
                #[tokio::test]
                async fn redis() {
                    super::$name($crate::common::Backend::Redis).await;
                }
            }
        )*
    };
}
pub(crate) use on_backends;

/// A provider on one session-store backend: SQL (the provider's SQLite) or its own Redis
/// namespace, dropped at `finish`.
pub struct Harness {
    pub provider: TestProvider,
    namespace: Option<RedisNamespace>,
}

impl Harness {
    /// `None` (skipped) when Redis is unreachable, unless DINGTALK_OIDC_REQUIRE_SERVICES=1 makes
    /// that a failure (`RedisNamespace::create`).
    pub async fn start(backend: Backend) -> Option<Harness> {
        Harness::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config) + Send + 'static) -> Option<Harness> {
        let namespace = match backend {
            Backend::Sql => None,
            Backend::Redis => Some(RedisNamespace::create().await?),
        };
        let redis = namespace.as_ref().map(|ns| (ns.url.clone(), ns.prefix.clone()));
        let provider = TestProvider::start_with(move |c| {
            if let Some((url, prefix)) = redis {
                c.sessions.backend = "redis".into();
                c.redis.url = url;
                c.redis.prefix = prefix;
            }
            c.logout.poll_interval_ms = 100;
            adjust(c);
        })
        .await;
        Some(Harness { provider, namespace })
    }

    pub async fn finish(self) {
        drop(self.provider);
        if let Some(ns) = self.namespace {
            ns.drop().await;
        }
    }
}

/// A JWKS server on a loopback port (`http://127.0.0.1:…/jwks.json`): serves `body` to every
/// request and counts them.
pub struct JwksServer {
    pub url: String,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksServer {
    pub async fn start(body: String) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let served: Arc<str> = body.into();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = served.clone();
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut request).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await;
                    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, body.as_bytes()).await;
                });
            }
        });
        JwksServer { url, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
