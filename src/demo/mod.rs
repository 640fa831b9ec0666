//! The demo relying party `serve --dev` runs on `dev.demo_listen` (127.0.0.1:8082), so that a
//! newcomer can sign in in a browser and watch every endpoint work: authorization code with PKCE,
//! state and nonce, the code exchange, ID token validation against the JWKS, userinfo, refresh,
//! revocation and RP-initiated logout.
//!
//! It is also example code for relying-party authors: `rp` holds the protocol steps as plain
//! functions over HTTP (nothing in-process), `page` the HTML, and this file the registration and
//! the routes. The provider and the demo share the host 127.0.0.1 and browsers do not separate
//! cookies by port, so the demo's cookie has its own name (`demo_rp`).

pub mod page;
pub mod rp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::web::{Data, Query};
use poem::{EndpointExt, Request, Response, Route, Server, get, handler, post};
use serde::Deserialize;
use serde_json::Value;

use crate::directory::clients::DEFAULT_GRANT_TYPES;
use crate::directory::{ClientUpdate, Directory, DirectoryError, NewClient};
use page::Notice;
use rp::{ClientRegistration, Expected, LoginRequest, ProviderMetadata, RpError, TokenSet};

/// The demo's client id at the provider.
pub const CLIENT_ID: &str = "demo";
const CLIENT_NAME: &str = "Demo app";
/// The scopes its registration allows (`rp::SCOPES` asks for all of them).
const ALLOWED_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "roles", "groups"];
const COOKIE: &str = "demo_rp";
/// Browser sessions older than this are forgotten (the demo keeps them in memory only).
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// At most this many browser sessions are kept; the oldest go first.
const MAX_SESSIONS: usize = 1000;

/// The address the demo is reached at: the bound address, with a wildcard bind replaced by
/// loopback (a redirect URI must name a host the browser can reach, RFC 8252 §7.3).
pub fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Registers the demo as a confidential client for `base` (its URL), or brings an existing
/// registration up to date, with a new secret each time: the secret lives only in this process's
/// memory, so a restart cannot reuse the last one. Not first-party: the consent page is part of
/// what the demo shows.
pub async fn register_client(directory: &Directory, base: &str) -> Result<ClientRegistration, DirectoryError> {
    let redirect_uri = format!("{base}/callback");
    let post_logout_redirect_uri = format!("{base}/signed-out");
    let scopes: Vec<String> = ALLOWED_SCOPES.iter().map(|s| s.to_string()).collect();
    let secret = match directory.client(CLIENT_ID).await? {
        Some(existing) if existing.public => {
            return Err(DirectoryError::Invalid(format!(
                "a public client {CLIENT_ID:?} is registered; the demo needs that id for a confidential client \
                 (remove it, or turn the demo off with dev.demo_listen = \"\")"
            )));
        }
        Some(_) => {
            let update = ClientUpdate {
                name: Some(CLIENT_NAME.into()),
                redirect_uris: Some(vec![redirect_uri.clone()]),
                post_logout_redirect_uris: Some(vec![post_logout_redirect_uri.clone()]),
                backchannel_logout_uri: Some(None),
                first_party: Some(false),
                allowed_scopes: Some(scopes),
                grant_types: Some(DEFAULT_GRANT_TYPES.iter().map(|g| g.to_string()).collect()),
                resource_server: Some(false),
                id_token_on_refresh: Some(true),
                access_token_ttl_secs: Some(None),
                id_token_ttl_secs: Some(None),
                organisations: Some(Vec::new()),
                resource_uri: Some(None),
                resource_scopes: Some(Vec::new()),
                require_pushed_authorization_requests: Some(false),
                jwks: Some(None),
                jwks_uri: Some(None),
            };
            directory.update_client(CLIENT_ID, update).await?;
            directory.rotate_client_secret(CLIENT_ID).await?
        }
        None => {
            let new = NewClient {
                id: CLIENT_ID.into(),
                name: Some(CLIENT_NAME.into()),
                redirect_uris: vec![redirect_uri.clone()],
                post_logout_redirect_uris: vec![post_logout_redirect_uri.clone()],
                allowed_scopes: Some(scopes),
                ..NewClient::default()
            };
            directory.create_client(new).await?.1
        }
    };
    let client_secret = secret.ok_or_else(|| DirectoryError::Corrupt("the demo client has no secret".into()))?;
    Ok(ClientRegistration { client_id: CLIENT_ID.into(), client_secret, redirect_uri, post_logout_redirect_uri })
}

/// The demo relying party: its registration, the provider's issuer, and the browser sessions.
pub struct Demo {
    issuer: String,
    client: ClientRegistration,
    http: reqwest::Client,
    /// Fetched on first use, so the demo may start before the provider answers.
    metadata: tokio::sync::OnceCell<ProviderMetadata>,
    sessions: Mutex<HashMap<String, BrowserSession>>,
}

/// What the demo remembers about one browser (keyed by the random value of its cookie).
struct BrowserSession {
    started: Instant,
    /// A sign-in on its way: checked and consumed at the callback.
    pending: Option<LoginRequest>,
    signed_in: Option<SignedIn>,
    /// The `state` sent with the logout, checked when the provider sends the browser back.
    logout_state: Option<String>,
    notice: Option<Notice>,
}

impl BrowserSession {
    fn new() -> BrowserSession {
        BrowserSession { started: Instant::now(), pending: None, signed_in: None, logout_state: None, notice: None }
    }
}

struct SignedIn {
    tokens: TokenSet,
    id_claims: Value,
    userinfo: Result<Value, String>,
}

impl Demo {
    pub fn new(issuer: &str, client: ClientRegistration) -> Result<Demo, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dingtalk-oidc-demo/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Demo {
            issuer: issuer.trim_end_matches('/').to_string(),
            client,
            http,
            metadata: tokio::sync::OnceCell::new(),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    async fn metadata(&self) -> Result<&ProviderMetadata, RpError> {
        self.metadata.get_or_try_init(|| rp::discover(&self.http, &self.issuer)).await
    }

    /// Runs `f` on the session of `id`, if the demo has one.
    fn session<T>(&self, id: &str, f: impl FnOnce(&mut BrowserSession) -> T) -> Option<T> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id).map(f)
    }

    /// Runs `f` on the session of `id`, starting one if needed (only a sign-in does), keeping the
    /// table bounded.
    fn session_or_new<T>(&self, id: &str, f: impl FnOnce(&mut BrowserSession) -> T) -> T {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if !sessions.contains_key(id) {
            sessions.retain(|_, s| s.started.elapsed() < SESSION_TTL);
            while sessions.len() >= MAX_SESSIONS {
                let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| k.clone()) else {
                    break;
                };
                sessions.remove(&oldest);
            }
        }
        f(sessions.entry(id.to_string()).or_insert_with(BrowserSession::new))
    }
}

/// The demo's routes.
pub fn routes(demo: Arc<Demo>) -> impl poem::Endpoint {
    Route::new()
        .at("/", get(index))
        .at("/login", post(login))
        .at("/callback", get(callback))
        .at("/refresh", post(refresh))
        .at("/revoke", post(revoke))
        .at("/logout", post(logout))
        .at("/signed-out", get(signed_out))
        .data(demo)
}

/// Registers the demo client, then serves the demo on `listener` in the background; returns the
/// demo's URL.
pub async fn start(issuer: &str, directory: &Directory, listener: tokio::net::TcpListener) -> anyhow::Result<String> {
    let base = base_url(listener.local_addr()?);
    let client = register_client(directory, &base).await?;
    let demo = Arc::new(Demo::new(issuer, client)?);
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    tokio::spawn(async move {
        if let Err(e) = Server::new_with_acceptor(acceptor).run(routes(demo)).await {
            tracing::error!(error = %e, "demo app stopped");
        }
    });
    Ok(base)
}

/// The browser's session id, from its cookie.
fn cookie_session(req: &Request) -> Option<String> {
    crate::web::cookies::cookie_value(req, COOKIE)
}

#[handler]
fn index(req: &Request, demo: Data<&Arc<Demo>>) -> Response {
    let shown = cookie_session(req).and_then(|id| {
        demo.session(&id, |s| {
            let notice = s.notice.take();
            match &s.signed_in {
                Some(signed_in) => page::signed_in(&page::SignedInView {
                    id_token: signed_in.tokens.id_token.as_deref(),
                    id_claims: &signed_in.id_claims,
                    access_token: &signed_in.tokens.access_token,
                    has_refresh_token: signed_in.tokens.refresh_token.is_some(),
                    scope: signed_in.tokens.scope.as_deref(),
                    userinfo: signed_in.userinfo.as_ref().map_err(String::as_str),
                    notice: notice.as_ref(),
                }),
                None => page::signed_out(notice.as_ref()),
            }
        })
    });
    shown.unwrap_or_else(|| page::signed_out(None))
}

/// Starts a sign-in: fresh state, nonce and PKCE verifier, then off to the provider.
#[handler]
async fn login(req: &Request, demo: Data<&Arc<Demo>>) -> Response {
    let metadata = match demo.metadata().await {
        Ok(m) => m,
        Err(e) => return page::error(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    let (id, set_cookie) = match cookie_session(req) {
        Some(id) => (id, None),
        None => {
            let id = crate::secrets::token();
            // HttpOnly: no script needs it. SameSite=Lax: sent on the provider's redirect back
            // (a top-level GET), not with another site's POST to /refresh, /revoke or /logout.
            let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
            (id, Some(cookie))
        }
    };
    let request = LoginRequest::new();
    let location = request.authorize_url(metadata, &demo.client);
    demo.session_or_new(&id, |s| s.pending = Some(request));
    page::see_other(&location, set_cookie.as_deref())
}

#[derive(Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The redirect back from the provider (RFC 6749 §4.1.2): check state and `iss`, exchange the
/// code, validate the ID token, ask userinfo.
#[handler]
async fn callback(req: &Request, Query(params): Query<CallbackParams>, demo: Data<&Arc<Demo>>) -> Response {
    let id = cookie_session(req).unwrap_or_default();
    // Taken, not read: a sign-in's state and verifier serve one callback only.
    let Some(pending) = demo.session(&id, |s| s.pending.take()).flatten() else {
        return page::error(StatusCode::BAD_REQUEST, "No sign-in is in progress in this browser.");
    };
    let state = params.state.as_deref().unwrap_or_default();
    if !crate::secrets::secure_eq(state.as_bytes(), pending.state.as_bytes()) {
        return page::error(
            StatusCode::BAD_REQUEST,
            "The state does not match this browser's sign-in (RFC 6749 §10.12).",
        );
    }
    // RFC 9207 §2.4: the response must come from the issuer the request went to.
    if params.iss.as_deref().is_some_and(|iss| iss != demo.issuer) {
        return page::error(StatusCode::BAD_REQUEST, "The response names another issuer (RFC 9207 §2.4).");
    }
    if let Some(error) = params.error {
        let description = params.error_description.unwrap_or_default();
        return page::error(StatusCode::OK, &format!("The provider answered {error}: {description}"));
    }
    let Some(code) = params.code else {
        return page::error(StatusCode::BAD_REQUEST, "The provider sent neither a code nor an error.");
    };
    match sign_in(&demo, &code, &pending).await {
        Ok(signed_in) => {
            demo.session(&id, |s| s.signed_in = Some(signed_in));
            page::see_other("/", None)
        }
        Err(e) => page::error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

async fn sign_in(demo: &Demo, code: &str, pending: &LoginRequest) -> Result<SignedIn, RpError> {
    let metadata = demo.metadata().await?;
    let tokens = rp::exchange_code(&demo.http, metadata, &demo.client, code, &pending.code_verifier).await?;
    let id_token = tokens.id_token.as_deref().ok_or_else(|| RpError::IdToken("none was issued".into()))?;
    let expected = Expected::Login { nonce: &pending.nonce };
    let id_claims = rp::verify_id_token(&demo.http, metadata, &demo.client.client_id, id_token, expected).await?;
    let userinfo = rp::userinfo(&demo.http, metadata, &tokens.access_token).await.map_err(|e| e.to_string());
    Ok(SignedIn { tokens, id_claims, userinfo })
}

/// What a signed-in session holds that the actions below need.
struct Held {
    id: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
    sub: String,
}

fn held(req: &Request, demo: &Demo) -> Option<Held> {
    let id = cookie_session(req)?;
    let held = demo.session(&id, |s| {
        s.signed_in.as_ref().map(|si| Held {
            id: id.clone(),
            refresh_token: si.tokens.refresh_token.clone(),
            id_token: si.tokens.id_token.clone(),
            sub: si.id_claims["sub"].as_str().unwrap_or_default().to_string(),
        })
    });
    held.flatten()
}

fn notify(demo: &Demo, id: &str, text: String, is_error: bool) {
    demo.session(id, |s| s.notice = Some(Notice { text, is_error }));
}

/// RFC 6749 §6: new tokens for the refresh token; the page then shows them.
#[handler]
async fn refresh(req: &Request, demo: Data<&Arc<Demo>>) -> Response {
    let Some(Held { id, refresh_token: Some(refresh_token), sub, .. }) = held(req, &demo) else {
        return page::see_other("/", None);
    };
    match refreshed(&demo, &refresh_token, &sub).await {
        Ok(new) => {
            demo.session(&id, |s| s.signed_in = Some(new));
            let text = "Refreshed: a new access token, refresh token and ID token (RFC 6749 §6, OIDC Core §12.2); \
                        the old refresh token is spent.";
            notify(&demo, &id, text.into(), false);
        }
        Err(e) => notify(&demo, &id, format!("Refresh failed: {e}"), true),
    }
    page::see_other("/", None)
}

async fn refreshed(demo: &Demo, refresh_token: &str, sub: &str) -> Result<SignedIn, RpError> {
    let metadata = demo.metadata().await?;
    let mut tokens = rp::refresh(&demo.http, metadata, &demo.client, refresh_token).await?;
    let id_token = tokens.id_token.as_deref().ok_or_else(|| RpError::IdToken("none was issued".into()))?;
    let id_claims =
        rp::verify_id_token(&demo.http, metadata, &demo.client.client_id, id_token, Expected::Refresh { sub }).await?;
    // RFC 6749 §6: a response without a refresh token leaves the old one in use.
    if tokens.refresh_token.is_none() {
        tokens.refresh_token = Some(refresh_token.to_string());
    }
    let userinfo = rp::userinfo(&demo.http, metadata, &tokens.access_token).await.map_err(|e| e.to_string());
    Ok(SignedIn { tokens, id_claims, userinfo })
}

/// RFC 7009: revoke the refresh token, then show that a refresh with it fails.
#[handler]
async fn revoke(req: &Request, demo: Data<&Arc<Demo>>) -> Response {
    let Some(Held { id, refresh_token: Some(refresh_token), .. }) = held(req, &demo) else {
        return page::see_other("/", None);
    };
    match revoke_and_retry(&demo, &refresh_token).await {
        Ok(refusal) => {
            demo.session(&id, |s| s.signed_in.as_mut().map(|si| si.tokens.refresh_token = None));
            let text = format!(
                "Revoked the refresh token (RFC 7009), which ends its whole family here. A refresh with it now \
                 fails: {refusal}"
            );
            notify(&demo, &id, text, false);
        }
        Err(e) => notify(&demo, &id, e, true),
    }
    page::see_other("/", None)
}

/// The provider's refusal of the revoked token, or what went wrong.
async fn revoke_and_retry(demo: &Demo, refresh_token: &str) -> Result<String, String> {
    let metadata = demo.metadata().await.map_err(|e| e.to_string())?;
    rp::revoke(&demo.http, metadata, &demo.client, refresh_token, "refresh_token")
        .await
        .map_err(|e| format!("Revocation failed: {e}"))?;
    match rp::refresh(&demo.http, metadata, &demo.client, refresh_token).await {
        Err(refusal) => Ok(refusal.to_string()),
        Ok(_) => Err("Revoked, yet the refresh token still worked.".into()),
    }
}

/// RP-Initiated Logout 1.0 §2: forget the user here, then let the provider end its session.
#[handler]
async fn logout(req: &Request, demo: Data<&Arc<Demo>>) -> Response {
    let Some(Held { id, id_token: Some(id_token), .. }) = held(req, &demo) else {
        return page::see_other("/", None);
    };
    let metadata = match demo.metadata().await {
        Ok(m) => m,
        Err(e) => return page::error(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    let state = crate::secrets::token();
    let location = rp::logout_url(metadata, &demo.client, &id_token, &state);
    demo.session(&id, |s| {
        s.signed_in = None;
        s.logout_state = Some(state);
    });
    page::see_other(&location, None)
}

#[derive(Deserialize)]
struct SignedOutParams {
    state: Option<String>,
}

/// Where the provider sends the browser after logout, with the `state` we sent (RP-Initiated
/// Logout 1.0 §3).
#[handler]
fn signed_out(req: &Request, Query(params): Query<SignedOutParams>, demo: Data<&Arc<Demo>>) -> Response {
    let expected = cookie_session(req).and_then(|id| demo.session(&id, |s| s.logout_state.take())).flatten();
    let matches = match (params.state.as_deref(), expected.as_deref()) {
        (Some(got), Some(want)) => crate::secrets::secure_eq(got.as_bytes(), want.as_bytes()),
        _ => false,
    };
    let notice = if matches {
        Notice { text: "Signed out of the demo and of the provider (RP-Initiated Logout 1.0).".into(), is_error: false }
    } else {
        Notice { text: "Back from the provider, but not from a logout this browser started.".into(), is_error: true }
    };
    page::signed_out(Some(&notice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_is_reached_at_loopback() {
        assert_eq!(base_url("0.0.0.0:8082".parse().unwrap()), "http://127.0.0.1:8082");
        assert_eq!(base_url("[::]:8082".parse().unwrap()), "http://[::1]:8082");
        assert_eq!(base_url("127.0.0.1:9000".parse().unwrap()), "http://127.0.0.1:9000");
    }

    #[test]
    fn the_session_table_stays_bounded() {
        let client = ClientRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: "s".into(),
            redirect_uri: "http://127.0.0.1:1/callback".into(),
            post_logout_redirect_uri: "http://127.0.0.1:1/signed-out".into(),
        };
        let demo = Demo::new("http://127.0.0.1:1", client).unwrap();
        for i in 0..MAX_SESSIONS + 10 {
            demo.session_or_new(&i.to_string(), |_| ());
        }
        assert_eq!(demo.sessions.lock().unwrap().len(), MAX_SESSIONS);
    }
}
