//! Login host: `GET /oauth2/auth` (docs/dingtalk-api.md §1, §1.1).
//!
//! Simulator-only parameters: `login_as=<login>` signs that user in without a page, and
//! `deny=1` refuses consent. Both are what the links on the rendered page use. `embed=1` is the
//! frame of the embedded QR login (§10, `ddlogin.js`): the code is posted to the parent page
//! instead of redirecting to `redirect_uri`.

use poem::Request;
use poem::Response;
use poem::http::StatusCode;
use url::Url;
use url::form_urlencoded;

use super::{Fault, Host, SimDirectory, Simulator, reply};
use crate::web::html::escape;

/// The validated §1 request.
struct AuthorizeRequest {
    /// The organisation whose app `client_id` is.
    app: usize,
    redirect_uri: Url,
    state: Option<String>,
    /// Scope contained `corpid`: the §2 answer will carry `corpId`.
    with_corp: bool,
}

/// §1 parameters that must appear at most once.
const SINGLE_VALUED: [&str; 10] =
    ["redirect_uri", "response_type", "client_id", "scope", "prompt", "state", "corpId", "login_as", "deny", "embed"];

pub(super) async fn authorize(sim: Simulator, req: Request) -> Response {
    let fault = match sim.enter(&req, Host::Login).await {
        Ok(fault) => fault,
        Err(answer) => return answer,
    };
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let orgs = sim.organisations();
    // §1 (inferred for the fake): an invalid request gets an error page, never a redirect,
    // because the redirect_uri itself is not trusted yet.
    let request = match validate(&pairs, &orgs) {
        Ok(request) => request,
        Err(problem) => {
            return reply::html_page(
                StatusCode::BAD_REQUEST,
                "Invalid login request",
                &format!("<p>{}</p>", escape(&problem)),
            );
        }
    };
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    // §1.1: refusal comes back as `error=...&state=...`; the value is invented (§8).
    if fault == Some(Fault::LoginDenied) || param("deny").is_some() {
        return reply::redirect(&callback(&request, &[("error", "access_denied")]));
    }
    let Some(login) = param("login_as") else {
        return chooser_page(&pairs, &orgs, request.app);
    };
    // Any DingTalk account can sign in to any app's login (§11): `<corp>:<login>` names a user of
    // another organisation, whom that app's organisation then does not know.
    let mut state = sim.state();
    let Some((org, user)) = state.find_user(request.app, login) else {
        return reply::html_page(
            StatusCode::BAD_REQUEST,
            "Unknown user",
            &format!("<p>No simulated user {:?}.</p>", escape(login)),
        );
    };
    let user_login = user.login.clone();
    let code = state.issue_code(org, &user_login, request.app, request.with_corp);
    drop(state);
    tracing::info!(login = %user_login, with_corp = request.with_corp, "simulated DingTalk login");
    // §1.1: both `code` and `authCode` carry the same value.
    let redirect_url = callback(&request, &[("code", &code), ("authCode", &code)]);
    if param("embed") == Some("1") {
        return embedded_answer(&request, &code, &redirect_url);
    }
    reply::redirect(&redirect_url)
}

/// §10: the QR frame hands the code to the page that holds it, by `postMessage` to the origin of
/// `redirect_uri` (a page of another origin receives nothing).
fn embedded_answer(request: &AuthorizeRequest, code: &str, redirect_url: &str) -> Response {
    let message = serde_json::json!({ "authCode": code, "state": request.state, "redirectUrl": redirect_url });
    let target = request.redirect_uri.origin().ascii_serialization();
    // JSON in a script: `<` escaped so that no value can close the element.
    let json = |v: &serde_json::Value| v.to_string().replace('<', "\\u003c");
    let body = format!(
        "<p>Signed in. Returning to the page…</p>\n<script>parent.postMessage({}, {});</script>",
        json(&message),
        json(&serde_json::Value::from(target)),
    );
    reply::html_page(StatusCode::OK, "DingTalk login (simulator)", &body)
}

fn validate(pairs: &[(String, String)], orgs: &[SimDirectory]) -> Result<AuthorizeRequest, String> {
    for name in SINGLE_VALUED {
        if pairs.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(format!("parameter {name} given more than once"));
        }
    }
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if param("response_type") != Some("code") {
        return Err("response_type must be \"code\"".to_owned());
    }
    let Some(app) = orgs.iter().position(|o| Some(o.app_key.as_str()) == param("client_id")) else {
        return Err("unknown client_id".to_owned());
    };
    let dir = &orgs[app];
    let raw_redirect = param("redirect_uri").ok_or("redirect_uri is required")?;
    let redirect_uri = Url::parse(raw_redirect)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or("redirect_uri must be an absolute http(s) URL")?;
    if !dir.redirect_uris.is_empty() && !dir.redirect_uris.iter().any(|r| r == raw_redirect) {
        return Err("redirect_uri does not match the app's registered redirect URL".to_owned());
    }
    // §1: prompt is required; the fake only knows `consent` (inferred).
    if param("prompt") != Some("consent") {
        return Err("prompt must be \"consent\"".to_owned());
    }
    // §1: the docs list only `openid` and `openid corpid`, space separated.
    let scope = param("scope").ok_or("scope is required")?;
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if !scopes.contains(&"openid") {
        return Err("scope must contain openid".to_owned());
    }
    if let Some(unknown) = scopes.iter().find(|s| !matches!(**s, "openid" | "corpid")) {
        return Err(format!("unsupported scope {unknown:?}"));
    }
    Ok(AuthorizeRequest {
        app,
        redirect_uri,
        state: param("state").map(str::to_owned),
        with_corp: scopes.contains(&"corpid"),
    })
}

/// The callback URL with `extra` appended to any query it already has, plus `state`
/// when the request had one.
fn callback(request: &AuthorizeRequest, extra: &[(&str, &str)]) -> String {
    let mut url = request.redirect_uri.clone();
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in extra {
            query.append_pair(k, v);
        }
        if let Some(state) = &request.state {
            query.append_pair("state", state);
        }
    }
    url.into()
}

/// The page a user sees: one link per simulated account, and a Deny link. Links are
/// relative (`?...`) so the page works wherever the simulator is mounted.
fn chooser_page(pairs: &[(String, String)], orgs: &[SimDirectory], app: usize) -> Response {
    let dir = &orgs[app];
    let with = |name: &str, value: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "login_as" && k != "deny") {
            query.append_pair(k, v);
        }
        query.append_pair(name, value);
        format!("?{}", query.finish())
    };
    let mut items = String::new();
    for user in &dir.users {
        let org = match (&user.corp_id, &user.userid) {
            (Some(corp), Some(_)) if *corp == dir.corp_id => format!("member of {corp}"),
            (Some(corp), _) => format!("organisation {corp}"),
            (None, _) => "no organisation".to_owned(),
        };
        items.push_str(&format!(
            "<li><a href=\"{href}\">Sign in as {nick}</a> ({login}, {org})</li>\n",
            href = escape(&with("login_as", &user.login)),
            nick = escape(&user.nick),
            login = escape(&user.login),
            org = escape(&org),
        ));
    }
    // Members of the other organisations, by `<corp>:<login>`.
    for other in orgs.iter().filter(|o| o.corp_id != dir.corp_id) {
        for user in other.users.iter().filter(|u| u.userid.is_some()) {
            let spec = format!("{}:{}", other.corp_id, user.login);
            items.push_str(&format!(
                "<li><a href=\"{href}\">Sign in as {nick} of {corp}</a> ({spec})</li>\n",
                href = escape(&with("login_as", &spec)),
                nick = escape(&user.nick),
                spec = escape(&spec),
                corp = escape(&other.corp_id),
            ));
        }
    }
    let body = format!(
        "<p>DingTalk simulator — app {app}. Choose an account:</p>\n<ul>\n{items}</ul>\n\
         <p><a href=\"{deny}\">Deny</a></p>",
        app = escape(&dir.app_key),
        deny = escape(&with("deny", "1")),
    );
    reply::html_page(StatusCode::OK, "DingTalk login (simulator)", &body)
}
