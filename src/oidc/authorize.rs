//! `GET|POST /authorize` (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9207).
//!
//! Client and redirect URI are checked first; until both are valid every problem is an HTML page
//! and nothing redirects (RFC 6749 §4.1.2.1). After that, problems go back to the client, in the
//! response mode it asked for (`response_mode`), or by query when that mode is the problem.

use std::sync::Arc;

use poem::http::{Method, StatusCode};
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use super::code::{ErrorRedirect, LoggedIn, finish_authorization, redirect};
use super::error::{BackendError, ErrorCode};
use super::params::{Params, parse_scope};
use super::paths;
use super::pkce::{self, ChallengePolicy};
use super::response_mode::ResponseMode;
use crate::app::App;
use crate::dingtalk::Organisation;
use crate::directory::Client;
use crate::login::session::Liveness;
use crate::secrets;
use crate::store::{AuthRequest, OwnPage, PendingAuth};
use crate::web::{cookies, pages};

/// A refusal at the authorization endpoint.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown to the user (400), never redirected: the client or redirect URI cannot be trusted.
    Page(&'static str),
    /// The directory is down before the client could be checked.
    Unavailable(BackendError),
    Redirect(ErrorRedirect),
}

impl AuthorizeError {
    fn page(detail: &'static str) -> Self {
        AuthorizeError::Page(detail)
    }

    pub fn into_response(self, app: &App) -> Response {
        match self {
            AuthorizeError::Page(detail) => {
                pages::error_page(StatusCode::BAD_REQUEST, "Invalid sign-in request", detail)
            }
            AuthorizeError::Unavailable(e) => e.into_page(),
            AuthorizeError::Redirect(r) => r.into_response(app, StatusCode::FOUND),
        }
    }
}

/// What the authorization request asked for, after validation.
#[derive(Debug, Clone)]
pub struct ValidatedRequest {
    pub request: AuthRequest,
    pub prompt_none: bool,
    pub prompt_login: bool,
}

/// How an authorization request reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOrigin {
    /// Its parameters came in the browser's request.
    Browser,
    /// The client pushed it on the back channel (RFC 9126): at the pushed authorization request
    /// endpoint, or by its `request_uri` here.
    Pushed,
}

/// Validates an authentication request. Pure apart from the client lookup, so tests can drive
/// every rule without HTTP.
pub async fn validate(
    app: &App,
    params: &Params,
    origin: RequestOrigin,
) -> Result<(Arc<Client>, ValidatedRequest), AuthorizeError> {
    // RFC 6749 §3.1: a repeated client_id or redirect_uri makes the request untrustworthy.
    if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
        return Err(AuthorizeError::page("The client_id or redirect_uri parameter was sent more than once."));
    }
    let client_id = params.get("client_id").ok_or(AuthorizeError::page("The request has no client_id."))?;
    let client = app
        .directory
        .client_cached(client_id)
        .await
        .map_err(|e| AuthorizeError::Unavailable(e.into()))?
        .ok_or(AuthorizeError::page("The application (client_id) is not registered."))?;
    // OIDC Core §3.1.2.1: redirect_uri is required and must match a registered one exactly.
    let redirect_uri = params.get("redirect_uri").ok_or(AuthorizeError::page("The request has no redirect_uri."))?;
    if !client.redirect_uri_registered(redirect_uri) {
        return Err(AuthorizeError::page(
            "The redirect_uri is not registered for this application, so we will not send you there.",
        ));
    }

    let state = params.get("state").map(str::to_string);
    let refuse = |response_mode: ResponseMode, error: ErrorCode, description: &'static str| {
        AuthorizeError::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.to_string(),
            state: if params.is_repeated("state") { None } else { state.clone() },
            response_mode,
            error,
            description,
        })
    };
    // Multiple Response Type Encoding Practices §2.1 and OAuth 2.0 Form Post Response Mode §2. A
    // mode we cannot honour is refused in the default mode, query, at the validated redirect URI
    // (OIDC Core §3.1.2.6 `invalid_request`); so is a repeated one (the first value is not trusted).
    let response_mode = if params.is_repeated("response_mode") {
        ResponseMode::Query
    } else {
        match ResponseMode::parse(params.get("response_mode")) {
            Ok(mode) => mode,
            Err(_) => {
                return Err(refuse(
                    ResponseMode::Query,
                    ErrorCode::InvalidRequest,
                    "response_mode is not supported; use query or form_post",
                ));
            }
        }
    };
    if !response_mode.suits_redirect_uri(redirect_uri) {
        return Err(refuse(
            ResponseMode::Query,
            ErrorCode::InvalidRequest,
            "response_mode=form_post needs an http or https redirect_uri",
        ));
    }
    let fail = |error: ErrorCode, description: &'static str| refuse(response_mode, error, description);
    // RFC 9126 §6: such a client's requests come only by request_uri, never by the browser.
    if origin == RequestOrigin::Browser && client.require_pushed_authorization_requests {
        return Err(fail(ErrorCode::InvalidRequest, "this client must push its authorization requests (RFC 9126)"));
    }
    if params.first_repeated().is_some() {
        return Err(fail(ErrorCode::InvalidRequest, "a parameter was sent more than once"));
    }
    if params.first_too_long().is_some() {
        return Err(fail(ErrorCode::InvalidRequest, "a parameter value is too long"));
    }
    // OIDC Core §3.1.2.6: request objects and registration are not supported.
    if params.has("request") {
        return Err(fail(ErrorCode::RequestNotSupported, "request objects are not supported"));
    }
    if params.has("request_uri") {
        return Err(fail(ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
    }
    if params.has("registration") {
        return Err(fail(ErrorCode::RegistrationNotSupported, "registration is not supported"));
    }
    match params.get("response_type") {
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(ErrorCode::UnsupportedResponseType, "only response_type=code is supported"));
        }
    }
    let requested = params.get("scope").ok_or(fail(ErrorCode::InvalidRequest, "scope is required"))?;
    let requested = parse_scope(requested).ok_or(fail(ErrorCode::InvalidScope, "scope is malformed"))?;
    if !requested.iter().any(|s| s == "openid") {
        // Policy: this is an OpenID provider; a plain OAuth request would get no ID token.
        return Err(fail(ErrorCode::InvalidScope, "scope must include openid"));
    }
    // OIDC Core §3.1.2.1: unknown scopes are ignored; scopes the client may not have are dropped.
    let mut scopes: Vec<String> = requested.into_iter().filter(|s| client.allows_scope(s)).collect();

    let prompts: Vec<&str> = params.get("prompt").map(|p| p.split(' ').collect()).unwrap_or_default();
    // OIDC Core §11: offline access only with prompt=consent (or for a first-party client, whose
    // admin decided), and only for clients that get refresh tokens at all.
    let offline_allowed = client.allows_grant("refresh_token") && (prompts.contains(&"consent") || client.first_party);
    if !offline_allowed {
        scopes.retain(|s| s != "offline_access");
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(fail(ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values"));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 && v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return Err(fail(ErrorCode::InvalidRequest, "max_age must be a non-negative integer"));
            }
        },
    };

    // RFC 8707 §2: a resource names the registered API the access tokens are for (their `aud`),
    // so that API can tell a token was meant for it; one per request (repeats were refused above).
    let resource = match params.get("resource") {
        None => None,
        Some(resource) => match app.directory.resource_server_cached(resource).await {
            Ok(Some(_)) => Some(resource.to_string()),
            Ok(None) => return Err(fail(ErrorCode::InvalidTarget, "the resource is not a registered API")),
            Err(e) => return Err(AuthorizeError::Unavailable(e.into())),
        },
    };

    // RFC 7636 §4.3, §4.4.1; RFC 9700 §2.1.1 (`pkce`): only S256; public clients must use PKCE.
    let policy = ChallengePolicy {
        public_client: client.public,
        required_for_confidential: app.config.tokens.require_pkce_for_confidential,
    };
    let code_challenge =
        pkce::authorization_challenge(params.get("code_challenge"), params.get("code_challenge_method"), policy)
            .map_err(|description| fail(ErrorCode::InvalidRequest, description))?
            .map(str::to_string);

    let id_token_hint_sub = match params.get("id_token_hint") {
        None => None,
        Some(hint) => {
            let ring = app.keys.ring();
            match crate::tokens::verify_id_token_hint(&ring, hint, &app.issuer) {
                Ok(claims) => Some(claims.sub),
                Err(_) => {
                    return Err(fail(ErrorCode::InvalidRequest, "id_token_hint was not issued by this provider"));
                }
            }
        }
    };

    Ok((
        client,
        ValidatedRequest {
            request: AuthRequest {
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                scopes,
                state,
                nonce: params.get("nonce").map(str::to_string),
                code_challenge,
                prompt_consent: prompts.contains(&"consent"),
                max_age,
                id_token_hint_sub,
                ui_locales: params.get("ui_locales").map(str::to_string),
                response_mode,
                resource,
            },
            prompt_none,
            prompt_login: prompts.contains(&"login"),
        },
    ))
}

/// The browser's SSO session, if its cookie proves one that is usable (absolute and idle
/// lifetimes, by the protocol clock) for an enabled user.
pub async fn current_session(app: &App, req: &Request) -> Result<Option<LoggedIn>, BackendError> {
    let liveness = Liveness::UsableForSso { idle_secs: app.config.tokens.sso_session_idle_secs as i64 };
    let Some(session) = super::sso_sessions(app).proven(req, app.now(), liveness).await? else {
        return Ok(None);
    };
    let user = app.directory.user(&session.user_id).await?;
    Ok(user.filter(|u| !u.disabled).map(|user| LoggedIn {
        user,
        sid: session.id,
        auth_time: session.auth_time,
        amr: session.amr,
    }))
}

#[handler]
pub async fn authorize(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    // OIDC Core §3.1.2.1: GET (query) and POST (form body) are both accepted.
    let params = if req.method() == Method::POST {
        match super::read_form(req, body).await {
            Ok(p) => p,
            Err(_) => {
                return pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "Invalid sign-in request",
                    "The request body must be a form.",
                );
            }
        }
    } else {
        Params::parse(req.uri().query().unwrap_or_default())
    };
    run(&app, req, &params).await
}

pub async fn run(app: &App, req: &Request, params: &Params) -> Response {
    // RFC 9126 §4: a request_uri from the pushed authorization request endpoint stands for the
    // whole request; the browser's other parameters are not used.
    let pushed = match super::par::take(app, params).await {
        Ok(pushed) => pushed,
        Err(e) => return e.into_response(app),
    };
    let (params, origin) = match &pushed {
        Some(pushed) => (pushed, RequestOrigin::Pushed),
        None => (params, RequestOrigin::Browser),
    };
    let (client, validated) = match validate(app, params, origin).await {
        Ok(v) => v,
        Err(e) => return e.into_response(app),
    };
    let request = validated.request;
    let session = match current_session(app, req).await {
        Ok(s) => s,
        Err(e) => return ErrorRedirect::unavailable(&request, e).into_response(app, StatusCode::FOUND),
    };
    let hint_mismatch = match (&request.id_token_hint_sub, &session) {
        (Some(sub), Some(s)) => sub != &s.user.id,
        _ => false,
    };
    // OIDC Core §3.1.2.1: prompt=login and max_age force a fresh authentication.
    // max_age=0 behaves like prompt=login (OIDC Core §3.1.2.1): whole seconds, so `>=`.
    let now = app.now();
    let too_old = |s: &LoggedIn| request.max_age.is_some_and(|max| now - s.auth_time >= max);
    // A session of an organisation the client does not accept is no sign-in for it: the user
    // signs in again, through one it accepts (docs/dingtalk-app.md, "Several organisations").
    let accepted = |s: &LoggedIn| super::organisation::accepts(app, &client, &s.user.org_id);
    let reusable = session.filter(|s| !validated.prompt_login && !too_old(s) && !hint_mismatch && accepted(s));
    let organisations = super::organisation::candidates(app, Some(&client), super::organisation::hint(params));
    if organisations.is_empty() {
        return ErrorRedirect::new(&request, ErrorCode::AccessDenied, "the client accepts no configured organisation")
            .into_response(app, StatusCode::FOUND);
    }
    match reusable {
        // The session's idle clock restarts when the code is issued (`issue_code`).
        Some(login) => {
            finish_authorization(app, &client, request, login, validated.prompt_none, StatusCode::FOUND, &[]).await
        }
        // Inside the DingTalk client the client itself can vouch for the user, silently, even for
        // prompt=none (docs/dingtalk-app.md, "Sign-in inside DingTalk"). Not for prompt=login,
        // which asks for the user to authenticate again (OIDC Core §3.1.2.1): DingTalk's login.
        None if app.config.dingtalk.in_app && !validated.prompt_login && super::in_app::opened_in_dingtalk(req) => {
            let route = SignInRoute { return_to: None, silent: validated.prompt_none, organisations };
            super::in_app::start(app, req, request, route).await
        }
        None if validated.prompt_none => {
            ErrorRedirect::new(&request, ErrorCode::LoginRequired, "the user is not signed in")
                .into_response(app, StatusCode::FOUND)
        }
        None => {
            let route = SignInRoute { return_to: None, silent: false, organisations };
            start_dingtalk_login(app, req, request, route).await
        }
    }
}

/// What a pending sign-in records beside the request: where it returns, whether it may show a page,
/// and the organisations it may go through.
pub struct SignInRoute {
    /// A sign-in for one of the provider's own pages, which the callback returns to.
    pub return_to: Option<OwnPage>,
    /// `prompt=none` (inside the DingTalk client): no page may be shown.
    pub silent: bool,
    /// The candidates (`organisation::candidates`).
    pub organisations: Vec<String>,
}

/// Saves the request as a PendingAuth bound to this browser and sends the user to DingTalk's login
/// (or, with `dingtalk.qr_login`, shows our page with DingTalk's QR code and a link to it; with
/// several organisations, the picker first).
pub async fn start_dingtalk_login(app: &App, req: &Request, request: AuthRequest, route: SignInRoute) -> Response {
    match save_pending(app, req, request, route).await {
        Ok((pending, cookie)) => continue_sign_in(app, &pending, cookie),
        Err(refusal) => refusal,
    }
}

/// The next step of a saved sign-in (`cookie`: its browser binding, to set): the organisation
/// picker while there is more than one to choose from, then our QR page (`dingtalk.qr_login`) or
/// DingTalk's hosted login of the chosen organisation's app.
pub fn continue_sign_in(app: &App, pending: &PendingAuth, cookie: String) -> Response {
    // The pages follow the request's `ui_locales` (OIDC Core §3.1.2.1) also when it was not in
    // this request's query: a POSTed or pushed authorization request, or the picker's own POST.
    crate::web::i18n::with_ui_locales(pending.request.ui_locales.as_deref(), || {
        let Some(organisation) = super::organisation::of_pending(app, pending) else {
            return super::organisation::picker_page(app, pending, Some(&cookie));
        };
        if app.config.dingtalk.qr_login {
            return super::sign_in::page(app, pending, organisation, &cookie);
        }
        redirect(StatusCode::FOUND, &hosted_login_url(organisation, app, pending), &[cookie])
    })
}

/// DingTalk's hosted login of `organisation`'s app for `pending`, which the callback completes.
pub fn hosted_login_url(organisation: &Organisation, app: &App, pending: &PendingAuth) -> String {
    organisation.client.authorize_url(&app.endpoint_url(paths::CALLBACK), &pending.id)
}

/// Puts a taken PendingAuth back for the rest of its lifetime (not a second one), for a next step
/// that completes the same sign-in; returns that remaining lifetime in seconds.
pub async fn put_back(app: &App, pending: &PendingAuth) -> Result<u64, crate::store::StoreError> {
    let elapsed = u64::try_from(app.now() - pending.created_at).unwrap_or(0);
    let ttl = app.config.tokens.pending_auth_ttl_secs.saturating_sub(elapsed).max(1);
    app.sessions.put_pending_auth(pending, ttl).await?;
    Ok(ttl)
}

/// Saves the request as a PendingAuth bound to this browser (RFC 9700 §4.7: the binding cookie,
/// returned here to be set, must come back with the sign-in).
pub async fn save_pending(
    app: &App,
    req: &Request,
    request: AuthRequest,
    route: SignInRoute,
) -> Result<(PendingAuth, String), Response> {
    let SignInRoute { return_to, silent, organisations } = route;
    let binding = app.cookies.get(req, cookies::BROWSER_BINDING).unwrap_or_else(secrets::token);
    let pending = PendingAuth {
        id: secrets::token(),
        request,
        browser_binding_hash: secrets::hash(&binding),
        created_at: app.now(),
        return_to,
        silent,
        organisations,
    };
    let ttl = app.config.tokens.pending_auth_ttl_secs;
    if let Err(e) = app.sessions.put_pending_auth(&pending, ttl).await {
        return Err(ErrorRedirect::unavailable(&pending.request, e).into_response(app, StatusCode::FOUND));
    }
    Ok((pending, app.cookies.set(cookies::BROWSER_BINDING, &binding, Some(ttl))))
}
