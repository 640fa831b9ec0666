//! Who may use the console, and how a browser proves it.
//!
//! The console signs in as an OpenID Connect client of its own issuer (the built-in public client
//! [`CLIENT_ID`]): the authorization code flow with PKCE (RFC 7636, S256) and `state` bound to the
//! browser by a short-lived cookie (RFC 9700 §2.1, §4.7), the code redeemed in-process through the
//! token endpoint's own grant. What it keeps is the access token for the admin audience (scope
//! `admin`), in an `HttpOnly` cookie: every request checks it exactly as the admin API checks a
//! bearer token (`admin::auth::authenticate`: signature, expiry, revocation, and the user's roles
//! as the directory says now: `admin` acts, `auditor` reads). Signing out revokes it. Nothing is
//! stored for a console session, so there is nothing to steal at rest.
//!
//! On first start, before anyone holds the `admin` role, the bootstrap token signs in instead. Its
//! cookie is not the token: it is an expiry with an HMAC keyed by the token's hash, so it dies at
//! its expiry or when the token changes, and reveals nothing of the token.
//!
//! Every form carries a token derived from the console cookie (RFC 6749 §10.12): a page from
//! another origin can make the browser send the cookie, never read it.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::Request;
use poem::http::StatusCode;

use crate::admin::auth::{Principal, authenticate, is_bootstrap_token};
use crate::app::App;
use crate::directory::{ClientUpdate, NewClient};
use crate::manage::{self, Actor, Manage};
use crate::oidc::params::Params;
use crate::oidc::{paths, pkce};
use crate::secrets;

/// The console's own client registration (first-party, public, PKCE, scopes `openid admin`).
pub const CLIENT_ID: &str = "dingtalk-oidc-console";
/// The console credential (an admin-audience access token, or a bootstrap proof).
pub const COOKIE: &str = "dtoidc_console";
/// A sign-in in progress: its `state` and PKCE verifier, for ten minutes.
pub const LOGIN_COOKIE: &str = "dtoidc_console_login";
const LOGIN_COOKIE_SECS: u64 = 600;
/// How long a bootstrap sign-in lasts.
const BOOTSTRAP_SECS: i64 = 3600;

/// The signed-in operator: who (the audit events' actor) and whether they may change anything.
#[derive(Debug, Clone)]
pub struct Operator {
    pub principal: Principal,
    /// The anti-CSRF token every form of this console session carries.
    pub form_token: String,
    /// What proves the session (revoked at sign-out).
    credential: Credential,
}

impl Operator {
    pub fn can_write(&self) -> bool {
        self.principal.can_write
    }

    /// Management operations as this operator: the same operations, audit events and actor ids as
    /// the admin API (`admin::auth::Principal::manage`).
    pub fn manage<'a>(&self, app: &'a App) -> Option<Manage<'a>> {
        self.can_write().then(|| Manage::for_server(app, Actor::admin(self.principal.actor.clone())))
    }

    /// Whether a submitted form carries this session's token (constant time).
    pub fn form_token_matches(&self, submitted: Option<&str>) -> bool {
        submitted.is_some_and(|t| secrets::secure_eq(t.as_bytes(), self.form_token.as_bytes()))
    }
}

#[derive(Debug, Clone)]
enum Credential {
    AccessToken(String),
    Bootstrap,
}

/// Why a request has no operator.
#[derive(Debug)]
pub enum Refusal {
    /// No credential, or an expired or revoked one: sign in again.
    SignIn,
    /// Signed in, but the user has neither `admin` nor `auditor`.
    NoRole,
    /// A store could not be reached.
    Unavailable,
}

/// The operator the request's console cookie proves.
pub async fn operator(app: &App, req: &Request) -> Result<Operator, Refusal> {
    let value = app.cookies.get(req, COOKIE).ok_or(Refusal::SignIn)?;
    let form_token = form_token(&value);
    if let Some(proof) = value.strip_prefix("b.") {
        return if bootstrap_proof_holds(app, proof) {
            let principal = Principal { actor: "bootstrap".into(), name: None, can_write: true };
            Ok(Operator { principal, form_token, credential: Credential::Bootstrap })
        } else {
            Err(Refusal::SignIn)
        };
    }
    let token = value.strip_prefix("t.").ok_or(Refusal::SignIn)?;
    match authenticate(app, token).await {
        Ok(principal) => Ok(Operator { principal, form_token, credential: Credential::AccessToken(token.to_string()) }),
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(Refusal::NoRole),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => Err(Refusal::Unavailable),
        Err(_) => Err(Refusal::SignIn),
    }
}

fn form_token(cookie_value: &str) -> String {
    secrets::hash(&format!("console-form\0{cookie_value}"))
}

/// The bootstrap proof `<expiry>.<mac>`: unexpired, and the HMAC under the current token's hash.
fn bootstrap_proof_holds(app: &App, proof: &str) -> bool {
    let Some((expiry, mac)) = proof.split_once('.') else { return false };
    let Ok(expires_at) = expiry.parse::<i64>() else { return false };
    let Some(expected) = bootstrap_mac(app, expires_at) else { return false };
    expires_at > app.now() && secrets::secure_eq(mac.as_bytes(), expected.as_bytes())
}

fn bootstrap_mac(app: &App, expires_at: i64) -> Option<String> {
    let key_material = app.admin_token_hash.as_ref()?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key_material.as_bytes());
    let tag = hmac::sign(&key, format!("console-bootstrap\0{expires_at}").as_bytes());
    Some(URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The console cookie for a bootstrap sign-in, when `token` is the bootstrap token.
pub fn bootstrap_cookie(app: &App, token: &str) -> Option<String> {
    if !is_bootstrap_token(app, token) {
        return None;
    }
    let expires_at = app.now() + BOOTSTRAP_SECS;
    let mac = bootstrap_mac(app, expires_at)?;
    Some(app.cookies.set(COOKIE, &format!("b.{expires_at}.{mac}"), Some(BOOTSTRAP_SECS as u64)))
}

/// The console cookie holding an access token, for as long as the token lives.
fn token_cookie(app: &App, access_token: &str, expires_in: u64) -> String {
    app.cookies.set(COOKIE, &format!("t.{access_token}"), Some(expires_in))
}

/// Deletes the console cookie.
pub fn clear_cookie(app: &App) -> String {
    app.cookies.set(COOKIE, "", Some(0))
}

/// Ends the console session: an access token is revoked (RFC 7009 §2.1), so the cookie is
/// worthless even if it was copied.
pub async fn sign_out(app: &App, operator: &Operator) {
    if let Credential::AccessToken(token) = &operator.credential {
        revoke(app, token).await;
    }
}

/// Denies a console access token by its `jti` for as long as it would verify.
async fn revoke(app: &App, token: &str) {
    if let Ok(verified) = app.verifier.verify_access_token(token, &[&app.admin_audience], app.config.tokens.leeway_secs)
        && let Err(e) = app.revocation().deny_access_token(&verified.claims.jti, verified.claims.exp).await
    {
        tracing::warn!(error = %e, "the console could not revoke its access token");
    }
}

/// A sign-in to start: where to send the browser, and the cookie that binds it.
pub struct SignInStart {
    pub location: String,
    pub cookie: String,
}

/// Starts the authorization code flow with PKCE against our own authorization endpoint
/// (OIDC Core §3.1.2.1; RFC 7636 §4.1–4.3).
pub async fn start_sign_in(app: &App) -> Result<SignInStart, manage::ManageError> {
    ensure_client(app).await?;
    let state = secrets::token();
    let verifier = secrets::token();
    let nonce = secrets::token();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &callback_url(app))
        .append_pair("scope", "openid admin")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &pkce::s256_challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    Ok(SignInStart {
        location: format!("{}?{query}", app.endpoint_url(paths::AUTHORIZE)),
        cookie: app.cookies.set(LOGIN_COOKIE, &format!("{state}.{verifier}"), Some(LOGIN_COOKIE_SECS)),
    })
}

/// What the authorization response came back with.
pub enum SignInEnd {
    /// The console cookie to set.
    SignedIn(String),
    /// The response does not belong to a sign-in this browser started (no or another `state`).
    Unbound,
    /// The authorization server refused, or the code did not redeem; the text says why.
    Refused(String),
    /// The user has neither `admin` nor `auditor`.
    NoRole,
    Unavailable,
}

/// Finishes a sign-in: checks `state` against this browser's cookie, redeems the code with the
/// verifier through the token endpoint's grant, and keeps the access token.
pub async fn finish_sign_in(app: &App, req: &Request, response: &Params) -> SignInEnd {
    let Some(binding) = app.cookies.get(req, LOGIN_COOKIE) else { return SignInEnd::Unbound };
    let Some((state, verifier)) = binding.split_once('.') else { return SignInEnd::Unbound };
    let state_ok = response.get("state").is_some_and(|s| secrets::secure_eq(s.as_bytes(), state.as_bytes()));
    if !state_ok {
        return SignInEnd::Unbound;
    }
    if let Some(error) = response.get("error") {
        return if error == "temporarily_unavailable" {
            SignInEnd::Unavailable
        } else {
            SignInEnd::Refused(format!("The sign-in was refused ({error})."))
        };
    }
    let Some(code) = response.get("code") else { return SignInEnd::Refused("No code came back.".into()) };
    let client = match app.directory.client(CLIENT_ID).await {
        Ok(Some(client)) => client,
        Ok(None) => return SignInEnd::Refused("The console's client registration is gone.".into()),
        Err(_) => return SignInEnd::Unavailable,
    };
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &callback_url(app))
        .append_pair("code_verifier", verifier)
        .finish();
    let tokens = match crate::oidc::grants::authorization_code::grant(app, &client, &Params::parse(&form)).await {
        Ok(tokens) => tokens,
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => return SignInEnd::Unavailable,
        Err(e) => return SignInEnd::Refused(format!("The sign-in did not complete ({}).", e.error.as_str())),
    };
    // Kept only for someone the console serves: a user without a console role gets no cookie,
    // and the token is revoked rather than left to expire.
    match authenticate(app, &tokens.access_token).await {
        Ok(_) => SignInEnd::SignedIn(token_cookie(app, &tokens.access_token, tokens.expires_in)),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => SignInEnd::Unavailable,
        Err(e) => {
            revoke(app, &tokens.access_token).await;
            if e.status == StatusCode::FORBIDDEN { SignInEnd::NoRole } else { SignInEnd::Refused(e.message) }
        }
    }
}

/// Deletes the sign-in binding once it was used.
pub fn clear_login_cookie(app: &App) -> String {
    app.cookies.set(LOGIN_COOKIE, "", Some(0))
}

fn callback_url(app: &App) -> String {
    app.endpoint_url(super::paths::CALLBACK)
}

/// Registers the console's client on first use, and points it at this issuer's callback if the
/// issuer moved. Concurrent first uses race to create it; the loser finds it made.
async fn ensure_client(app: &App) -> Result<(), manage::ManageError> {
    let callback = callback_url(app);
    let m = Manage::for_server(app, Actor::admin("console"));
    match app.directory.client(CLIENT_ID).await? {
        Some(client) if client.redirect_uris.contains(&callback) => Ok(()),
        Some(client) => {
            let mut uris = client.redirect_uris;
            uris.push(callback);
            let update = ClientUpdate { redirect_uris: Some(uris), ..ClientUpdate::default() };
            manage::clients::update(&m, CLIENT_ID, update).await.map(|_| ())
        }
        None => {
            let new = NewClient {
                id: CLIENT_ID.into(),
                name: Some("Admin console".into()),
                redirect_uris: vec![callback],
                public: true,
                first_party: true,
                allowed_scopes: Some(vec!["openid".into(), "admin".into()]),
                grant_types: Some(vec!["authorization_code".into()]),
                ..NewClient::default()
            };
            match manage::clients::create(&m, new).await {
                Ok(_) => Ok(()),
                Err(manage::ManageError::Directory(crate::directory::DirectoryError::Conflict(_))) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}
