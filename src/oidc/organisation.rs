//! Which DingTalk organisation a sign-in goes through (docs/dingtalk-app.md, "Several
//! organisations"). A client accepts a list of organisations (`Client::organisations`; none named:
//! the default one). A sign-in may go through any of them; a hint (`corp=<corp id>`, or
//! `login_hint=corp:<corp id>`) narrows it to one the client accepts. With more than one left, the
//! user picks on our page (`GET /authorize/organisation`), and the pending sign-in then names the
//! one picked, whose DingTalk app the hosted login, the QR code and the callback use.

use std::sync::Arc;

use minijinja::context;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::authorize::continue_sign_in;
use super::callback::take_bound_pending;
use super::params::Params;
use super::paths;
use crate::app::App;
use crate::dingtalk::Organisation;
use crate::directory::Client;
use crate::login::outcome::LoginOutcome;
use crate::store::PendingAuth;
use crate::web::{cookies, pages};

/// The organisation a request names: `corp=<corp id>`, or `login_hint=corp:<corp id>` (OIDC Core
/// §3.1.2.1 leaves the hint's form to the provider).
pub fn hint(params: &Params) -> Option<&str> {
    params.get("corp").or_else(|| params.get("login_hint").and_then(|h| h.strip_prefix("corp:")))
}

/// The organisations (keys) a sign-in may go through: those `client` accepts (every configured one
/// for a sign-in to the provider's own pages), narrowed to the hinted one when it is among them.
pub fn candidates(app: &App, client: Option<&Client>, hint: Option<&str>) -> Vec<String> {
    let accepted: Vec<&Organisation> = match client {
        Some(client) => app.organisations.accepted_by(&client.organisations),
        None => app.organisations.all().iter().collect(),
    };
    match hint.and_then(|h| accepted.iter().find(|o| o.key == h)) {
        Some(hinted) => vec![hinted.key.clone()],
        None => accepted.iter().map(|o| o.key.clone()).collect(),
    }
}

/// Whether `client` accepts users of organisation `org`.
pub fn accepts(app: &App, client: &Client, org: &str) -> bool {
    app.organisations.accepts(&client.organisations, org)
}

/// The organisations a pending sign-in may go through, in configured order (a record written
/// before several organisations names none: the default one).
pub fn candidates_of<'a>(app: &'a App, pending: &PendingAuth) -> Vec<&'a Organisation> {
    if pending.organisations.is_empty() {
        return vec![app.organisations.default_org()];
    }
    app.organisations.all().iter().filter(|o| pending.organisations.contains(&o.key)).collect()
}

/// The organisation a pending sign-in goes through, once there is exactly one.
pub fn of_pending<'a>(app: &'a App, pending: &PendingAuth) -> Option<&'a Organisation> {
    match candidates_of(app, pending).as_slice() {
        [only] => Some(only),
        _ => None,
    }
}

/// The page on which the user picks the organisation to sign in with: one button per candidate,
/// each a link to [`choose`].
pub fn picker_page(app: &App, pending: &PendingAuth, cookie: Option<&str>) -> Response {
    let choices: Vec<minijinja::Value> = candidates_of(app, pending)
        .into_iter()
        .map(|org| context! { name => org.name.as_str(), corp_id => org.key.as_str(), href => choice_url(app, pending, org) })
        .collect();
    let mut resp = pages::render_page(StatusCode::OK, "organisation.html", context! { choices });
    if let Some(cookie) = cookie.and_then(|c| poem::http::HeaderValue::from_str(c).ok()) {
        resp.headers_mut().append(poem::http::header::SET_COOKIE, cookie);
    }
    resp
}

/// The link that picks `org` for `pending`.
pub fn choice_url(app: &App, pending: &PendingAuth, org: &Organisation) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &pending.id)
        .append_pair("org", &org.key)
        .finish();
    format!("{}?{query}", app.endpoint_url(paths::CHOOSE_ORGANISATION))
}

/// `GET /authorize/organisation?state=…&org=…`: the user picked an organisation. The pending
/// sign-in must be this browser's (RFC 6749 §10.12) and the organisation one of its candidates;
/// it then goes on through that organisation's DingTalk app.
#[handler]
pub async fn choose(req: &Request, app: Data<&Arc<App>>) -> Response {
    let params = Params::parse(req.uri().query().unwrap_or_default());
    let (outcome, response) = pick(&app, req, &params).await;
    if let Some(outcome) = outcome {
        crate::metrics::login(outcome.label());
    }
    response
}

async fn pick(app: &App, req: &Request, params: &Params) -> (Option<LoginOutcome>, Response) {
    let bad = |detail| pages::error_page(StatusCode::BAD_REQUEST, "Sign-in failed", detail);
    let (Some(state), Some(org)) = (params.get("state"), params.get("org")) else {
        return (None, bad("The choice of organisation is incomplete. Start again from the application."));
    };
    let mut pending = match take_bound_pending(app, req, state).await {
        Ok(pending) => pending,
        Err((outcome, refusal)) => return (Some(outcome), refusal),
    };
    if !candidates_of(app, &pending).iter().any(|o| o.key == org) {
        return (
            Some(LoginOutcome::InvalidState),
            bad("This organisation cannot be used to sign in here. Start again from the application."),
        );
    }
    pending.organisations = vec![org.to_owned()];
    let ttl = match super::authorize::put_back(app, &pending).await {
        Ok(ttl) => ttl,
        Err(e) => return (Some(LoginOutcome::Unavailable), super::error::BackendError::from(e).into_page()),
    };
    let binding = app.cookies.get(req, cookies::BROWSER_BINDING).unwrap_or_default();
    let cookie = app.cookies.set(cookies::BROWSER_BINDING, &binding, Some(ttl));
    (None, continue_sign_in(app, &pending, cookie))
}
