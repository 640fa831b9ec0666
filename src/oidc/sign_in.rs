//! The provider's own sign-in page with DingTalk's QR code (扫码登录内嵌, `DTFrameLogin`;
//! docs/dingtalk-app.md, "The QR code on our own page"; the wire format in
//! docs/dingtalk-api.md §10), shown instead of the redirect to DingTalk's hosted login when
//! `dingtalk.qr_login` is on. Scanning it completes the same pending sign-in as the hosted login,
//! through the same callback: the frame hands the page DingTalk's code and the page goes to
//! `/callback/dingtalk` with it. The link beside the code is the hosted login itself.

use std::sync::LazyLock;

use minijinja::context;
use poem::Response;

use super::authorize::hosted_login_url;
use super::paths;
use crate::app::App;
use crate::dingtalk::Organisation;
use crate::store::PendingAuth;
use crate::web::{pages, templates};

/// The page's one inline script: draw the QR frame with the §10 parameters the container
/// carries, and on a scan go to our callback with the code. The URL is built here from the
/// code and `state`, not taken from the message, so no message can send the page elsewhere; a
/// `state` other than ours is ignored. Allowed by its hash.
const PAGE_SCRIPT: &str = r#"(function () {
  var box = document.getElementById("dingtalk-qr");
  var problem = document.getElementById("dingtalk-qr-problem");
  var params = JSON.parse(box.dataset.params);
  if (typeof window.DTFrameLogin !== "function") { box.hidden = true; return; }
  var callback = params.redirect_uri;
  params.redirect_uri = encodeURIComponent(callback);
  window.DTFrameLogin({ id: "dingtalk-qr", width: 300, height: 300 }, params, function (result) {
    if (!result || !result.authCode || result.state !== box.dataset.state) { return; }
    window.location.href = callback + "?authCode=" + encodeURIComponent(result.authCode) +
      "&state=" + encodeURIComponent(result.state);
  }, function (message) {
    problem.textContent = String(message);
    problem.hidden = false;
  });
})();"#;

static PAGE_SCRIPT_HASH: LazyLock<String> = LazyLock::new(|| pages::script_hash_source(PAGE_SCRIPT));

/// Exactly DingTalk's embedded-login script and the page's own (CSP Level 3 §2.3.1), its frame
/// from DingTalk's login host only; the page itself is never framed.
pub fn page_policy(app: &App) -> String {
    let dingtalk = &app.config.dingtalk;
    format!(
        "default-src 'none'; script-src {} {}; frame-src {}; style-src 'unsafe-inline'; \
         img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'",
        *PAGE_SCRIPT_HASH, dingtalk.ddlogin_url, dingtalk.qr_frame_origin
    )
}

/// The page of a saved sign-in (`cookie`: its browser binding) with `organisation`'s QR code and
/// the link to its hosted login.
pub fn page(app: &App, pending: &PendingAuth, organisation: &Organisation, cookie: &str) -> Response {
    let callback = app.endpoint_url(paths::CALLBACK);
    let params: serde_json::Map<String, serde_json::Value> = organisation
        .client
        .authorize_params(&callback, &pending.id)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
        .collect();
    let page = context! {
        hosted_login => hosted_login_url(organisation, app, pending),
        state => pending.id.as_str(),
        params => serde_json::Value::Object(params).to_string(),
        ddlogin_url => app.config.dingtalk.ddlogin_url.as_str(),
        script => templates::trusted(PAGE_SCRIPT),
    };
    pages::scripted_sign_in_page("sign_in.html", page, &page_policy(app), cookie)
}
