//! The end of the authorization flow, shared by the authorize, callback and consent endpoints:
//! consent check, code issue, and the answers back to the client (RFC 6749 §4.1.2; RFC 9207), in
//! the response mode it asked for (`response_mode`).

use poem::Response;
use poem::http::{StatusCode, header};

use super::error::{BackendError, ErrorCode};
use super::paths;
use super::response_mode::{ResponseMode, deliver};
use crate::app::App;
use crate::directory::{Client, User};
use crate::secrets;
use crate::store::{AuthCode, AuthRequest, ConsentRequest};
use crate::web::pages;

/// An authorization error the client hears about at its (already validated) redirect URI.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub response_mode: ResponseMode,
    pub error: ErrorCode,
    pub description: &'static str,
}

impl ErrorRedirect {
    pub fn new(request: &AuthRequest, error: ErrorCode, description: &'static str) -> Self {
        ErrorRedirect {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            response_mode: request.response_mode,
            error,
            description,
        }
    }

    /// RFC 6749 §4.1.2.1: once the client and its redirect URI are validated, a failure of our
    /// own (a store that does not answer) goes back to the client as `temporarily_unavailable`,
    /// so the application can say so and offer a retry, instead of leaving the user on our page.
    pub fn temporarily_unavailable(request: &AuthRequest) -> Self {
        ErrorRedirect::new(
            request,
            ErrorCode::TemporarilyUnavailable,
            "the sign-in service cannot complete the request now; try again shortly",
        )
    }

    /// [`temporarily_unavailable`](Self::temporarily_unavailable) because `cause` failed; the
    /// failure is logged here, once.
    pub fn unavailable(request: &AuthRequest, cause: impl Into<BackendError>) -> Self {
        cause.into().log();
        ErrorRedirect::temporarily_unavailable(request)
    }

    /// RFC 6749 §4.1.2.1 and RFC 9207 §2: `error`, `error_description`, `state` and `iss`, in the
    /// request's response mode. `status` is that of a query-mode redirect.
    pub fn into_response(self, app: &App, status: StatusCode) -> Response {
        let mut pairs = vec![("error", self.error.as_str()), ("error_description", self.description)];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &app.issuer));
        deliver(self.response_mode, status, &self.redirect_uri, &pairs)
    }
}

/// RFC 6749 §3.1.2: keep the registered URI's own query and append ours.
pub fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    let query = serializer.finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

/// A redirect that is never cached. `cookies` are full `Set-Cookie` values.
pub fn redirect(status: StatusCode, location: &str, cookies: &[String]) -> Response {
    let mut builder =
        Response::builder().status(status).header(header::LOCATION, location).header(header::CACHE_CONTROL, "no-store");
    for cookie in cookies {
        builder = builder.header(header::SET_COOKIE, cookie.as_str());
    }
    builder.finish()
}

pub fn with_cookies(mut resp: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = header::HeaderValue::from_str(cookie) {
            resp.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    resp
}

/// Who logged in, and when (carried into the code and the ID token).
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub user: User,
    pub sid: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
}

/// After authentication: ask for consent when needed (OIDC Core §3.1.2.4), else issue the code.
/// `status` is the caller's: 302 from `/authorize` (GET or POST) and the DingTalk callback, 303
/// after the consent form (RFC 9700 §4.12).
pub async fn finish_authorization(
    app: &App,
    client: &Client,
    request: AuthRequest,
    login: LoggedIn,
    prompt_none: bool,
    status: StatusCode,
    cookies: &[String],
) -> Response {
    if let Some(expected) = &request.id_token_hint_sub
        && expected != &login.user.id
    {
        return with_cookies(
            ErrorRedirect::new(
                &request,
                ErrorCode::LoginRequired,
                "the signed-in user is not the one the id_token_hint names",
            )
            .into_response(app, status),
            cookies,
        );
    }
    // A user of an organisation the client does not accept gets no code, however signed in
    // (docs/dingtalk-app.md, "Several organisations").
    if !super::organisation::accepts(app, client, &login.user.org_id) {
        tracing::info!(client = %client.id, "sign-in refused: the user's organisation is not one the client accepts");
        return with_cookies(
            ErrorRedirect::new(
                &request,
                ErrorCode::AccessDenied,
                "the user's organisation is not accepted by this client",
            )
            .into_response(app, status),
            cookies,
        );
    }
    let needs_consent = if client.first_party {
        false
    } else if request.prompt_consent {
        true
    } else {
        match app.directory.consent_covers(&login.user.id, &client.id, &request.scopes).await {
            Ok(covered) => !covered,
            Err(e) => return with_cookies(ErrorRedirect::unavailable(&request, e).into_response(app, status), cookies),
        }
    };
    if !needs_consent {
        return with_cookies(issue_code(app, &request, &login, status).await, cookies);
    }
    if prompt_none {
        return with_cookies(
            ErrorRedirect::new(&request, ErrorCode::ConsentRequired, "the user has not consented to this client")
                .into_response(app, status),
            cookies,
        );
    }
    let csrf_token = secrets::token();
    let consent = ConsentRequest {
        id: secrets::token(),
        request,
        user_id: login.user.id.clone(),
        sid: login.sid.clone(),
        auth_time: login.auth_time,
        amr: login.amr.clone(),
        csrf_hash: secrets::hash(&csrf_token),
    };
    if let Err(e) = app.sessions.put_consent_request(&consent, app.config.tokens.pending_auth_ttl_secs).await {
        return with_cookies(ErrorRedirect::unavailable(&consent.request, e).into_response(app, status), cookies);
    }
    let action = app.endpoint_url(paths::CONSENT);
    let page = crate::web::i18n::with_ui_locales(consent.request.ui_locales.as_deref(), || {
        pages::consent_page(&pages::ConsentView {
            action: &action,
            client_name: &client.name,
            user_name: login.user.name.as_deref().unwrap_or("you"),
            scopes: &consent.request.scopes,
            consent_id: &consent.id,
            csrf_token: &csrf_token,
        })
    });
    with_cookies(page, cookies)
}

/// Issues a single-use code (stored under its hash) and answers with `code`, `state`, `iss`.
pub async fn issue_code(app: &App, request: &AuthRequest, login: &LoggedIn, status: StatusCode) -> Response {
    // The session was used (its idle clock restarts) and the client joins it, for logout — in
    // one atomic step that fails if a logout ended the session since it was read: no code is
    // then issued for a session that no longer exists.
    match app.sessions.note_sso_session_use(&login.sid, app.now(), Some(&request.client_id)).await {
        Ok(true) => {}
        Ok(false) => {
            return ErrorRedirect::new(
                request,
                ErrorCode::LoginRequired,
                "the sign-in session has ended; sign in again",
            )
            .into_response(app, status);
        }
        Err(e) => return ErrorRedirect::unavailable(request, e).into_response(app, status),
    }
    let code = secrets::token();
    let record = AuthCode {
        request: request.clone(),
        user_id: login.user.id.clone(),
        sid: login.sid.clone(),
        auth_time: login.auth_time,
        amr: login.amr.clone(),
        issued_at: app.now(),
    };
    if let Err(e) = app.sessions.put_code(&secrets::hash(&code), &record, app.config.tokens.code_ttl_secs).await {
        return ErrorRedirect::unavailable(request, e).into_response(app, status);
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &app.issuer));
    deliver(request.response_mode, status, &request.redirect_uri, &pairs)
}
