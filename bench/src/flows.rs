//! What each benchmarked operation sends, and the preparation (clients, logins, codes, tokens)
//! done through the admin API and the DingTalk simulator before a measurement.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use sha2::{Digest, Sha256};

use crate::load::{self, Answer, Conn, Worker};
use crate::provider::{ADMIN_TOKEN, Provider};

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";
/// Gets ID tokens in refresh responses (the default).
pub const RP: &str = "bench-rp";
/// OIDC Core §12.2: no ID token in refresh responses.
pub const RP_NO_ID: &str = "bench-rp-noid";
/// A protected resource that introspects tokens of other clients (RFC 7662 §2.2).
pub const API: &str = "bench-api";
pub const SCOPE: &str = "openid profile email offline_access";
/// A service using client credentials (RFC 6749 §4.4) for `RESOURCE_URI`'s `SERVICE_SCOPE`.
pub const SERVICE: &str = "bench-svc";
/// The API the service's tokens are for (RFC 8707), registered as a resource server.
pub const RESOURCE: &str = "bench-orders";
pub const RESOURCE_URI: &str = "https://bench.example/orders";
pub const SERVICE_SCOPE: &str = "orders.read";
/// The demo organisation's active members (`dave` is deactivated and may not sign in).
pub const USERS: &[&str] = &["alice", "bob", "carol"];

#[derive(Clone)]
pub struct Target {
    pub provider: SocketAddr,
    pub simulator: SocketAddr,
    pub provider_port: u16,
}

impl Target {
    pub fn of(p: &Provider) -> Target {
        Target { provider: p.addr, simulator: p.simulator, provider_port: p.addr.port() }
    }
}

/// Client id → secret.
#[derive(Clone, Default)]
pub struct Clients {
    pub secrets: Vec<(String, String)>,
}

impl Clients {
    pub fn basic(&self, id: &str) -> String {
        let secret = self.secrets.iter().find(|(i, _)| i == id).map(|(_, s)| s.as_str()).unwrap_or_default();
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }
}

fn form(pairs: &[(&str, &str)]) -> Full<Bytes> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Full::new(Bytes::from(s.finish()))
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

pub async fn register_clients(target: &Target) -> anyhow::Result<Clients> {
    let mut conn = Conn::new(target.provider);
    let mut clients = Clients::default();
    let rp = |id: &str, id_token_on_refresh: bool, resource_server: bool| {
        serde_json::json!({
            "id": id,
            "redirect_uris": [REDIRECT_URI],
            "first_party": true,
            "id_token_on_refresh": id_token_on_refresh,
            "resource_server": resource_server,
        })
    };
    let service = serde_json::json!({
        "id": SERVICE,
        "grant_types": ["client_credentials"],
        "allowed_scopes": [SERVICE_SCOPE],
    });
    let resource = serde_json::json!({
        "id": RESOURCE,
        "grant_types": ["client_credentials"],
        "allowed_scopes": [],
        "resource_uri": RESOURCE_URI,
        "resource_scopes": [SERVICE_SCOPE],
    });
    for body in [rp(RP, true, false), rp(RP_NO_ID, false, false), rp(API, true, true), service, resource] {
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        let req = hyper::Request::post("/admin/v1/clients")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let answer = conn.send(req).await?;
        if !answer.status.is_success() {
            bail!("registering {id}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
        }
        let secret = answer.json()?["client_secret"].as_str().context("no client_secret")?.to_string();
        clients.secrets.push((id.to_string(), secret));
    }
    Ok(clients)
}

/// A browser: two connections (provider, simulator) and the provider's cookies.
pub struct Browser {
    target: Target,
    provider: Conn,
    simulator: Conn,
    cookies: Vec<(String, String)>,
}

pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

impl Browser {
    pub fn new(target: &Target) -> Browser {
        Browser {
            target: target.clone(),
            provider: Conn::new(target.provider),
            simulator: Conn::new(target.simulator),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, answer: &Answer) {
        for value in answer.headers("set-cookie") {
            let Some((name, rest)) = value.split_once('=') else { continue };
            let value = rest.split(';').next().unwrap_or_default().to_string();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_string(), value));
            }
        }
    }

    /// GETs `url` on the provider or the simulator, following nothing.
    async fn visit(&mut self, url: &str) -> anyhow::Result<Answer> {
        let parsed = url::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_string(),
        };
        if parsed.port() == Some(self.target.provider_port) {
            let req = load::get(&path).header("cookie", self.cookie_header()).body(empty())?;
            let answer = self.provider.send(req).await?;
            self.keep_cookies(&answer);
            Ok(answer)
        } else {
            self.simulator.send(load::get(&path).body(empty())?).await
        }
    }

    fn authorize_url(&self, client_id: &str) -> String {
        let mut url =
            url::Url::parse(&format!("http://127.0.0.1:{}/authorize", self.target.provider_port)).expect("static URL");
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("response_type", "code")
            .append_pair("scope", SCOPE)
            .append_pair("state", "bench-state")
            .append_pair("nonce", "bench-nonce")
            .append_pair("code_challenge", &challenge())
            .append_pair("code_challenge_method", "S256");
        url.to_string()
    }

    /// authorize → (simulator login as `login` → callback, unless a session exists) → the code.
    pub async fn code(&mut self, client_id: &str, login: &str) -> anyhow::Result<String> {
        let mut next = self.authorize_url(client_id);
        for _ in 0..6 {
            if next.starts_with(REDIRECT_URI) {
                return query_param(&next, "code").with_context(|| format!("no code in {next}"));
            }
            if next.contains("/oauth2/auth") && !next.contains("login_as=") {
                next.push_str("&login_as=");
                next.push_str(login);
            }
            let answer = self.visit(&next).await?;
            if !answer.status.is_redirection() {
                bail!("{next} answered {} {}", answer.status, String::from_utf8_lossy(&answer.body));
            }
            next = answer.header("location").context("redirect without Location")?.to_string();
        }
        bail!("too many redirects")
    }

    /// The authorization_code grant for `code`.
    pub async fn exchange(&mut self, clients: &Clients, client_id: &str, code: &str) -> anyhow::Result<Answer> {
        let req = load::post_form("/token").header("authorization", clients.basic(client_id)).body(form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ]))?;
        self.provider.send(req).await
    }

    pub async fn login(&mut self, clients: &Clients, client_id: &str, login: &str) -> anyhow::Result<Tokens> {
        let code = self.code(client_id, login).await?;
        let answer = self.exchange(clients, client_id, &code).await?;
        tokens_of(&answer)
    }
}

fn tokens_of(answer: &Answer) -> anyhow::Result<Tokens> {
    if answer.status != StatusCode::OK {
        bail!("token endpoint answered {} {}", answer.status, String::from_utf8_lossy(&answer.body));
    }
    let json = answer.json()?;
    Ok(Tokens {
        access_token: json["access_token"].as_str().context("no access_token")?.to_string(),
        refresh_token: json["refresh_token"].as_str().context("no refresh_token")?.to_string(),
    })
}

/// GET of a fixed path, expecting `expect`.
pub struct Fetch {
    pub conn: Conn,
    /// The GET request, written out once.
    pub request: Bytes,
    pub expect: StatusCode,
}

impl Fetch {
    /// `count` connections to `addr` fetching `path`; with `if_none_match`, a 304 is what succeeds.
    pub fn many(addr: std::net::SocketAddr, path: &str, if_none_match: Option<&str>, count: usize) -> Vec<Fetch> {
        let headers: Vec<(&str, &str)> = if_none_match.map(|etag| ("if-none-match", etag)).into_iter().collect();
        let request = load::encode("GET", path, &headers, b"");
        let expect = if if_none_match.is_some() { StatusCode::NOT_MODIFIED } else { StatusCode::OK };
        (0..count).map(|_| Fetch { conn: Conn::new(addr), request: request.clone(), expect }).collect()
    }
}

impl Worker for Fetch {
    async fn step(&mut self) -> anyhow::Result<bool> {
        Ok(self.conn.send_encoded(&self.request).await?.status == self.expect)
    }
}

/// A whole login in a fresh browser: authorize → simulator → callback → code → token.
pub struct LoginRoundTrip {
    pub clients: Clients,
    pub login: &'static str,
    /// Kept across operations so connections stay open; cookies are cleared.
    pub browser: Browser,
}

impl Worker for LoginRoundTrip {
    async fn step(&mut self) -> anyhow::Result<bool> {
        self.browser.cookies.clear();
        let clients = self.clients.clone();
        Ok(self.browser.login(&clients, RP, self.login).await.is_ok())
    }
}

/// The authorization_code grant alone, spending codes minted beforehand.
pub struct CodeGrant {
    pub browser: Browser,
    pub clients: Clients,
    pub codes: Vec<String>,
}

impl Worker for CodeGrant {
    async fn step(&mut self) -> anyhow::Result<bool> {
        let code = self.codes.pop().context("ran out of pre-minted codes")?;
        let clients = self.clients.clone();
        let answer = self.browser.exchange(&clients, RP, &code).await?;
        Ok(answer.status == StatusCode::OK)
    }
}

/// How many access tokens refresh workers keep for the revocation run (~1 KiB each).
const ISSUED_KEPT: usize = 100_000;

/// Refreshes one family over and over; keeps the access tokens it is given, up to `ISSUED_KEPT`
/// in all.
pub struct Refresh {
    pub conn: Conn,
    pub authorization: String,
    pub refresh_token: String,
    pub issued: Arc<Mutex<Vec<String>>>,
    pub expect_id_token: bool,
}

/// The members of a token response the refresh worker reads, borrowed from the body (a token
/// needs no JSON escape; `Cow` covers one that did).
#[derive(serde::Deserialize)]
struct TokenAnswer<'a> {
    #[serde(borrow)]
    refresh_token: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    access_token: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    id_token: Option<std::borrow::Cow<'a, str>>,
}

impl Worker for Refresh {
    async fn step(&mut self) -> anyhow::Result<bool> {
        let req = load::post_form("/token")
            .header("authorization", &self.authorization)
            .body(form(&[("grant_type", "refresh_token"), ("refresh_token", &self.refresh_token)]))?;
        let answer = self.conn.send(req).await?;
        if answer.status != StatusCode::OK {
            bail!("refresh answered {} {}", answer.status, String::from_utf8_lossy(&answer.body));
        }
        let tokens: TokenAnswer<'_> = serde_json::from_slice(&answer.body).context("not a token response")?;
        if tokens.id_token.is_some() != self.expect_id_token {
            bail!("id_token presence is not what the client registered");
        }
        self.refresh_token.clear();
        self.refresh_token.push_str(&tokens.refresh_token);
        if let Ok(mut issued) = self.issued.lock()
            && issued.len() < ISSUED_KEPT
        {
            issued.push(tokens.access_token.into_owned());
        }
        Ok(true)
    }
}

/// POST /token with client credentials (RFC 6749 §4.4) for one API: one signature per answer.
pub struct ClientCredentials {
    pub conn: Conn,
    pub authorization: String,
}

impl Worker for ClientCredentials {
    async fn step(&mut self) -> anyhow::Result<bool> {
        let req = load::post_form("/token").header("authorization", &self.authorization).body(form(&[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE_URI),
            ("scope", SERVICE_SCOPE),
        ]))?;
        let answer = self.conn.send(req).await?;
        if answer.status != StatusCode::OK {
            bail!("client credentials answered {} {}", answer.status, String::from_utf8_lossy(&answer.body));
        }
        Ok(true)
    }
}

/// GET /userinfo with one access token, the request written out once.
pub struct UserInfo {
    pub conn: Conn,
    pub request: Bytes,
}

impl UserInfo {
    pub fn new(addr: SocketAddr, access_token: &str) -> UserInfo {
        let authorization = format!("Bearer {access_token}");
        UserInfo {
            conn: Conn::new(addr),
            request: load::encode("GET", "/userinfo", &[("authorization", &authorization)], b""),
        }
    }
}

impl Worker for UserInfo {
    async fn step(&mut self) -> anyhow::Result<bool> {
        Ok(self.conn.send_encoded(&self.request).await?.status == StatusCode::OK)
    }
}

/// POST /introspect of one access token by a resource server, the request written out once.
pub struct Introspect {
    pub conn: Conn,
    pub request: Bytes,
}

impl Introspect {
    pub fn new(addr: SocketAddr, authorization: &str, token: &str) -> Introspect {
        let headers = [("authorization", authorization), ("content-type", "application/x-www-form-urlencoded")];
        let request = load::encode("POST", "/introspect", &headers, &introspect_body(token));
        Introspect { conn: Conn::new(addr), request }
    }
}

impl Worker for Introspect {
    async fn step(&mut self) -> anyhow::Result<bool> {
        let answer = self.conn.send_encoded(&self.request).await?;
        // Cheap check that the token was found active (not a bare {"active":false}).
        Ok(answer.status == StatusCode::OK && answer.body.starts_with(b"{\"active\":true"))
    }
}

/// Revokes a different access token each time (cycling if the pool runs out).
pub struct Revoke {
    pub conn: Conn,
    pub authorization: String,
    pub tokens: Vec<String>,
    pub next: usize,
}

impl Worker for Revoke {
    async fn step(&mut self) -> anyhow::Result<bool> {
        let token = &self.tokens[self.next % self.tokens.len()];
        self.next += 1;
        let req = load::post_form("/revoke")
            .header("authorization", &self.authorization)
            .body(form(&[("token", token), ("token_type_hint", "access_token")]))?;
        Ok(self.conn.send(req).await?.status == StatusCode::OK)
    }
}

pub fn introspect_body(token: &str) -> Bytes {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("token", token).append_pair("token_type_hint", "access_token");
    Bytes::from(s.finish())
}
