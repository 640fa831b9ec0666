//! Sign-in inside the DingTalk client (企业内部应用免登; docs/dingtalk-app.md, "Sign-in inside
//! DingTalk"; the wire format in docs/dingtalk-api.md §9).
//!
//! `/authorize` opened in DingTalk (told apart by its user agent, §9.1) with no usable session
//! answers a page, not a redirect: the page loads DingTalk's JSAPI, asks it for a code for this
//! app's organisation, and posts the code here, where it is exchanged server-side (§9.2) and the
//! sign-in goes on as after DingTalk's hosted login (`callback::signed_in`: the same membership
//! rule, session and consent). Where the JSAPI fails, is refused, or does not answer in time, the
//! page posts the failure instead, and the user goes on to the hosted login with the same pending
//! sign-in; a `prompt=none` request hears `login_required` instead.

use std::sync::{Arc, LazyLock};

use minijinja::context;
use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use super::authorize::{SignInRoute, hosted_login_url, save_pending};
use super::callback::{Confirmed, dingtalk_failure, signed_in, silent_dingtalk_failure, take_bound_pending};
use super::code::{ErrorRedirect, redirect};
use super::error::ErrorCode;
use super::paths;
use crate::app::App;
use crate::login::method::SignInMethod;
use crate::login::outcome::LoginOutcome;
use crate::store::AuthRequest;
use crate::web::{pages, templates};

/// §9.1: DingTalk's clients name themselves in the user agent (`AliApp(DingTalk/7.8.1)` on
/// phones, `DingTalk(9.0.1-macOS…)` on desktops). The JSAPI's own environment check is stricter;
/// a browser that only claims to be DingTalk gets the page, whose JSAPI call then fails, and
/// falls back to the hosted login.
pub fn opened_in_dingtalk(req: &Request) -> bool {
    req.header(header::USER_AGENT)
        .is_some_and(|ua| ua.as_bytes().windows(8).any(|w| w.eq_ignore_ascii_case(b"dingtalk")))
}

/// The page's one inline script: ask the JSAPI for a code (the current call, then the legacy one
/// where the client is too old for it, §9.1) for each organisation the sign-in may go through in
/// turn (on any error but the user's `-1`: `3` the page is not that organisation's app, `7` the user
/// is not its member, §11), and post the code with its organisation, or the last failure. Allowed by its
/// hash; its parameters come from the form's `data-` attributes, so it never changes.
const PAGE_SCRIPT: &str = r#"(function () {
  var form = document.getElementById("dingtalk-in-app");
  var orgs = JSON.parse(form.dataset.orgs);
  var sent = false;
  function send(org, code, error) {
    if (sent) { return; }
    sent = true;
    form.elements.org.value = org || "";
    form.elements.code.value = code || "";
    form.elements.error.value = error || "";
    form.submit();
  }
  setTimeout(function () { send("", "", "timeout"); }, Number(form.dataset.timeout));
  var dd = window.dd;
  var legacy = dd && dd.runtime && dd.runtime.permission && dd.runtime.permission.requestAuthCode;
  if (!dd || (!dd.requestAuthCode && !legacy) || !orgs.length) { send("", "", "no_jsapi"); return; }
  function attempt(i, current) {
    var org = orgs[i];
    var done = false;
    function ok(result) {
      if (done) { return; }
      done = true;
      if (result && result.code) { send(org.org, result.code, ""); } else { send("", "", "no_code"); }
    }
    function fail(e) {
      if (done) { return; }
      done = true;
      var code = e && e.errorCode !== undefined ? e.errorCode : (e && e.error !== undefined ? e.error : "exception");
      if (String(code) === "1" && current && legacy) { attempt(i, false); return; }
      if (String(code) !== "-1" && i + 1 < orgs.length) { attempt(i + 1, !!dd.requestAuthCode); return; }
      send("", "", "jsapi:" + String(code));
    }
    var params = { corpId: org.corp, clientId: org.client, onSuccess: ok, onFail: fail };
    try {
      var call = current ? dd.requestAuthCode(params) : dd.runtime.permission.requestAuthCode(params);
      if (call && call.then) { call.then(ok, fail); }
    } catch (e) { fail(e); }
  }
  attempt(0, !!dd.requestAuthCode);
})();"#;

static PAGE_SCRIPT_HASH: LazyLock<String> = LazyLock::new(|| pages::script_hash_source(PAGE_SCRIPT));

/// The page's policy: exactly DingTalk's script and the page's own (CSP Level 3 §2.3.1); in dev
/// mode the simulator's origin, which its JSAPI asks for codes; framing by DingTalk's desktop
/// client only (§9.1: it may show the page in a frame under `*.dingtalk.com`).
pub fn page_policy(app: &App) -> String {
    let dingtalk = &app.config.dingtalk;
    let connect = dingtalk.jsapi_connect_origin.as_ref().map(|o| format!("connect-src {o}; ")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src {} {}; {connect}style-src 'unsafe-inline'; img-src 'self' https: data:; \
         base-uri 'none'; frame-ancestors https://*.dingtalk.com",
        *PAGE_SCRIPT_HASH, dingtalk.jsapi_url
    )
}

/// Saves the sign-in and answers the page that asks the DingTalk client for a code.
pub async fn start(app: &App, req: &Request, request: AuthRequest, route: SignInRoute) -> Response {
    let silent = route.silent;
    let (pending, cookie) = match save_pending(app, req, request, route).await {
        Ok(saved) => saved,
        Err(refusal) => return refusal,
    };
    let dingtalk = &app.config.dingtalk;
    let candidates = super::organisation::candidates_of(app, &pending);
    let orgs: Vec<serde_json::Value> = candidates
        .iter()
        .map(|o| {
            let settings = o.client.settings();
            serde_json::json!({ "org": o.key, "corp": o.corp_id(), "client": settings.client_id })
        })
        .collect();
    // Without JavaScript: DingTalk's login, through the one organisation or the one picked.
    let links: Vec<minijinja::Value> = match (silent, super::organisation::of_pending(app, &pending)) {
        (true, _) => Vec::new(),
        (false, Some(org)) => vec![context! { href => hosted_login_url(org, app, &pending), name => None::<String> }],
        (false, None) => candidates
            .iter()
            .map(|o| context! { href => super::organisation::choice_url(app, &pending, o), name => o.name.as_str() })
            .collect(),
    };
    let page = context! {
        action => app.endpoint_url(paths::IN_APP_CALLBACK),
        state => pending.id,
        orgs => serde_json::Value::Array(orgs).to_string(),
        timeout_ms => dingtalk.in_app_timeout_ms,
        jsapi_url => dingtalk.jsapi_url.as_str(),
        links,
        script => templates::trusted(PAGE_SCRIPT),
    };
    pages::scripted_sign_in_page("in_app.html", page, &page_policy(app), &cookie)
}

/// `POST /callback/dingtalk/in-app`: the page's code, or why it has none.
#[handler]
pub async fn callback(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let (outcome, response) = complete(&app, req, body).await;
    crate::metrics::login(outcome.label());
    response
}

async fn complete(app: &App, req: &Request, body: Body) -> (LoginOutcome, Response) {
    let bad =
        |detail| (LoginOutcome::InvalidState, pages::error_page(StatusCode::BAD_REQUEST, "Sign-in failed", detail));
    let Ok(form) = super::read_form(req, body).await else {
        return bad("The sign-in form could not be read. Start again from the application.");
    };
    let Some(state) = form.get("state") else {
        return bad("The sign-in form carries no state. Start again from the application.");
    };
    let pending = match take_bound_pending(app, req, state).await {
        Ok(pending) => pending,
        Err(refusal) => return refusal,
    };
    let silent = pending.silent;
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        let reason = loggable(form.get("error").unwrap_or("none"));
        tracing::info!(reason, silent, "no code from the DingTalk JSAPI");
        if silent {
            let refusal = ErrorRedirect::new(&pending.request, ErrorCode::LoginRequired, "the user is not signed in");
            return (LoginOutcome::InAppFallback, refusal.into_response(app, StatusCode::FOUND));
        }
        // The hosted login completes the same sign-in: put it back for the callback.
        if let Err(e) = super::authorize::put_back(app, &pending).await {
            let refusal = ErrorRedirect::unavailable(&pending.request, e);
            return (LoginOutcome::Unavailable, refusal.into_response(app, StatusCode::FOUND));
        }
        let next = match super::organisation::of_pending(app, &pending) {
            Some(org) => redirect(StatusCode::SEE_OTHER, &hosted_login_url(org, app, &pending), &[]),
            None => super::organisation::picker_page(app, &pending, None),
        };
        return (LoginOutcome::InAppFallback, next);
    };
    // The code belongs to the organisation whose app the page asked for it: one of this sign-in's.
    let candidates = super::organisation::candidates_of(app, &pending);
    let named = form.get("org").filter(|o| !o.is_empty());
    let organisation = match (named, candidates.as_slice()) {
        (None, [only]) => Some(*only),
        (named, _) => candidates.iter().copied().find(|o| Some(o.key.as_str()) == named),
    };
    let Some(organisation) = organisation else {
        return bad("The sign-in form names no organisation of this sign-in. Start again from the application.");
    };
    let identity = match organisation.client.in_app_login(code).await {
        Ok(identity) => identity,
        Err(e) if silent => return silent_dingtalk_failure(app, &pending.request, &e),
        Err(e) => return dingtalk_failure(&e),
    };
    let confirmed = Confirmed { organisation, identity: &identity, method: SignInMethod::InApp };
    signed_in(app, req, pending.request, pending.return_to, confirmed, silent).await
}

/// What the page says went wrong, fit for a log line: its own words (`timeout`, `jsapi:7`),
/// never anything else a caller put there.
fn loggable(reason: &str) -> &str {
    let fits =
        reason.len() <= 32 && reason.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
    if fits { reason } else { "malformed" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_is_told_by_its_user_agent_whatever_the_case() {
        let with = |ua: &str| {
            let req = Request::builder().header(header::USER_AGENT, ua).finish();
            opened_in_dingtalk(&req)
        };
        assert!(with("Mozilla/5.0 (iPhone) AliApp(DingTalk/7.8.1) com.laiwang.DingTalk/1"));
        assert!(with("Mozilla/5.0 (Linux; Android 13) AliApp(DingTalk/5.1.5) com.alibaba.android.rimet/1"));
        assert!(with("DingTalk(9.0.1-macOS) nw DTWKWebView"));
        assert!(with("something dingtalk lowercase"));
        assert!(!with("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"));
        assert!(!opened_in_dingtalk(&Request::builder().finish()));
    }

    #[test]
    fn only_the_page_s_own_words_reach_the_log() {
        assert_eq!(loggable("jsapi:7"), "jsapi:7");
        assert_eq!(loggable("timeout"), "timeout");
        assert_eq!(loggable("jsapi:<script>"), "malformed");
        assert_eq!(loggable(&"x".repeat(33)), "malformed");
    }
}
