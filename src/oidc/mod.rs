//! The protocol endpoints, one file each. Handlers parse, call a plain function, map the result.

pub mod authorize;
pub mod backchannel;
pub mod callback;
pub mod client_assertion;
pub mod client_auth;
pub mod code;
pub mod consent;
pub mod device;
pub mod device_verification;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod in_app;
pub mod introspect;
pub mod jwks;
pub mod logout;
pub mod organisation;
pub mod par;
pub mod params;
pub mod pkce;
pub mod registration;
pub mod response_mode;
pub mod revoke;
pub mod sign_in;
pub mod token;
pub mod userinfo;

pub use error::{BearerError, OAuthError};

use crate::app::App;
use crate::login::roles::AccessSources;
use crate::login::session::SsoSessions;

/// Endpoint paths below the issuer.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const JWKS: &str = "/jwks.json";
    pub const AUTHORIZE: &str = "/authorize";
    pub const CALLBACK: &str = "/callback/dingtalk";
    /// Where the sign-in page inside the DingTalk client posts its JSAPI code (`in_app`).
    pub const IN_APP_CALLBACK: &str = "/callback/dingtalk/in-app";
    /// Where the organisation picker sends the user's choice (`organisation`).
    pub const CHOOSE_ORGANISATION: &str = "/authorize/organisation";
    pub const CONSENT: &str = "/consent";
    /// RFC 8628 §3.1: where a device asks for a device code and a user code.
    pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
    /// RFC 8628 §3.3: the verification page, where the user enters the code and approves.
    pub const DEVICE: &str = "/device";
    /// Where the verification page's approve/deny form posts.
    pub const DEVICE_CONFIRM: &str = "/device/confirm";
    /// RFC 9126 §2: where a client pushes its authorization request.
    pub const PAR: &str = "/par";
    /// RFC 7591 §3: dynamic client registration; RFC 7592: `/register/{client_id}`.
    pub const REGISTER: &str = "/register";
    pub const TOKEN: &str = "/token";
    pub const USERINFO: &str = "/userinfo";
    pub const REVOKE: &str = "/revoke";
    pub const INTROSPECT: &str = "/introspect";
    pub const LOGOUT: &str = "/logout";
    pub const LOGOUT_CONFIRM: &str = "/logout/confirm";
    /// The user's own page (`account`), which signs in through this module's DingTalk flow.
    pub const ACCOUNT: &str = "/account";
    pub const ACCOUNT_LOGIN: &str = "/account/login";
}

/// The browser's SSO sessions, as `login::session` works on them.
pub fn sso_sessions(app: &App) -> SsoSessions<'_> {
    SsoSessions { store: app.sessions.as_ref(), cookies: &app.cookies }
}

/// A user signed in to one of the provider's own pages (the account page, the device
/// verification page), proven by the session cookie, with the session's anti-CSRF form token.
pub struct SignedInUser {
    pub session: crate::store::SsoSession,
    pub form_token: String,
    pub user: crate::directory::User,
}

/// The enabled user the request's session cookie proves (a session usable for single sign-on),
/// with the session's form token for forms of `purpose`.
pub async fn signed_in_user(
    app: &App,
    req: &poem::Request,
    purpose: &str,
) -> Result<Option<SignedInUser>, error::BackendError> {
    let liveness =
        crate::login::session::Liveness::UsableForSso { idle_secs: app.config.tokens.sso_session_idle_secs as i64 };
    let proven = sso_sessions(app).proven_with_form_token(req, app.now(), liveness, purpose).await?;
    let Some((session, form_token)) = proven else { return Ok(None) };
    let user = app.directory.user(&session.user_id).await?.filter(|u| !u.disabled);
    Ok(user.map(|user| SignedInUser { session, form_token, user }))
}

/// What `login::roles` reads to compute a user's roles and groups.
pub fn access_sources(app: &App) -> AccessSources<'_> {
    app.access_sources()
}

/// A JSON answer that holds credentials or what a token says: never cached (RFC 6749 §5.1,
/// RFC 7662 §2.2, OIDC Core §5.3.2, RFC 7591 §3.2.1).
pub fn json_no_store(status: poem::http::StatusCode, body: impl Into<poem::Body>) -> poem::Response {
    use poem::http::header;
    poem::Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
        .body(body)
}

/// Reads a form body (capped), refusing other content types (RFC 6749 §4.1.3, Appendix B).
pub async fn read_form(req: &poem::Request, body: poem::Body) -> Result<params::Params, OAuthError> {
    let is_form = req
        .content_type()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::invalid_request("the request body must be application/x-www-form-urlencoded"));
    }
    let bytes = body
        .into_bytes_limit(params::MAX_BODY_LEN)
        .await
        .map_err(|_| OAuthError::invalid_request("the request body is too large or unreadable"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| OAuthError::invalid_request("the request body is not UTF-8"))?;
    Ok(params::Params::parse(text))
}
