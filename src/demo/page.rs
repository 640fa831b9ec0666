//! The demo app's pages. Every value from a token, the provider or the request is escaped
//! (`web::html::escape`); the pages run no script and load nothing, under the provider's own
//! script-free policy (`web::headers::HTML_CSP`).

use poem::Response;
use poem::http::{StatusCode, header};
use serde_json::Value;

use crate::web::html::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:62rem;margin:1.5rem auto;padding:0 1rem;\
color:#1f2328}h1{font-size:1.4rem;margin:.2rem 0 .6rem}h2{font-size:1.05rem;margin:1rem 0 .3rem}\
.bar{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}form{display:inline;margin:0}\
button{font-size:1rem;padding:.45rem 1.1rem;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;cursor:pointer}\
button.primary{background:#1f6feb;color:#fff;border-color:#1f6feb}\
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 1.2rem}\
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.5rem .7rem;font-size:.8rem;\
white-space:pre-wrap;overflow-wrap:anywhere;margin:.2rem 0}.notice{border-left:4px solid #1f6feb;background:#ddf4ff;padding:.5rem .8rem;margin:.6rem 0}\
.error{border-left-color:#cf222e;background:#ffebe9}.muted{color:#59636e;font-size:.9rem}";

/// Everything the signed-in page shows.
pub struct SignedInView<'a> {
    pub id_token: Option<&'a str>,
    /// The ID token's claims as verified (signature, iss, aud, exp, nonce).
    pub id_claims: &'a Value,
    pub access_token: &'a str,
    pub has_refresh_token: bool,
    pub scope: Option<&'a str>,
    pub userinfo: Result<&'a Value, &'a str>,
    pub notice: Option<&'a Notice>,
}

/// The outcome of the last action, shown once at the top of the page.
#[derive(Debug, Clone)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

pub fn signed_in(view: &SignedInView<'_>) -> Response {
    let who = view.id_claims["name"].as_str().or(view.id_claims["sub"].as_str()).unwrap_or("someone");
    let sub = view.id_claims["sub"].as_str().unwrap_or_default();
    let refresh_button = if view.has_refresh_token {
        "<form method=\"post\" action=\"/refresh\"><button id=\"refresh\">Refresh</button></form>\
         <form method=\"post\" action=\"/revoke\"><button id=\"revoke\">Revoke</button></form>"
    } else {
        "<span class=\"muted\">no refresh token held</span>"
    };
    let mut body = format!(
        "<div class=\"bar\"><h1>Signed in as {}</h1></div>\
         <p class=\"muted\">sub <code id=\"sub\">{}</code> · scope <code>{}</code></p>\
         <div class=\"bar\">{refresh_button}\
         <form method=\"post\" action=\"/logout\"><button id=\"logout\" class=\"primary\">Log out</button></form></div>",
        escape(who),
        escape(sub),
        escape(view.scope.unwrap_or("")),
    );
    body.push_str(&notice(view.notice));
    body.push_str("<div class=\"grid\"><section>");
    body.push_str("<h2>ID token <span class=\"muted\">(verified: signature by JWKS, iss, aud, exp, nonce)</span></h2>");
    let id_header = view.id_token.and_then(super::rp::decode_unverified).map(|(h, _)| h).unwrap_or_default();
    body.push_str(&json_block("id-token-header", &id_header));
    body.push_str(&json_block("id-token-claims", view.id_claims));
    body.push_str("</section><section>");
    body.push_str("<h2>Access token <span class=\"muted\">(decoded; the resource server verifies it)</span></h2>");
    match super::rp::decode_unverified(view.access_token) {
        Some((header, claims)) => {
            body.push_str(&json_block("access-token-header", &header));
            body.push_str(&json_block("access-token-claims", &claims));
        }
        None => body.push_str("<p class=\"muted\">not a JWT</p>"),
    }
    body.push_str("</section></div><h2>Userinfo answer</h2>");
    match view.userinfo {
        Ok(userinfo) => body.push_str(&json_block("userinfo", userinfo)),
        Err(e) => body.push_str(&format!("<pre id=\"userinfo\" class=\"error\">{}</pre>", escape(e))),
    }
    html(StatusCode::OK, "Demo app: signed in", &body)
}

pub fn signed_out(notice_text: Option<&Notice>) -> Response {
    let body = format!(
        "<h1>Demo app</h1>{}<p>A relying party of this provider. Sign in to see the ID token, the access \
         token and the userinfo answer it receives.</p>\
         <form method=\"post\" action=\"/login\"><button id=\"sign-in\" class=\"primary\">Sign in with DingTalk</button></form>\
         <p class=\"muted\">In dev mode the DingTalk simulator stands in for DingTalk: choose alice, bob or carol.</p>",
        notice(notice_text)
    );
    html(StatusCode::OK, "Demo app", &body)
}

pub fn error(status: StatusCode, text: &str) -> Response {
    let body = format!(
        "<h1>Demo app</h1>{}<form method=\"post\" action=\"/login\"><button class=\"primary\">Sign in again</button></form>",
        notice(Some(&Notice { text: text.to_string(), is_error: true }))
    );
    html(status, "Demo app: error", &body)
}

/// 303 to `location` (RFC 9110 §15.4.4: the browser follows with GET), optionally setting a cookie.
pub fn see_other(location: &str, set_cookie: Option<&str>) -> Response {
    let mut builder = Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, location);
    if let Some(cookie) = set_cookie {
        builder = builder.header(header::SET_COOKIE, cookie);
    }
    builder.header(header::CACHE_CONTROL, "no-store").finish()
}

fn notice(notice: Option<&Notice>) -> String {
    match notice {
        Some(n) => format!(
            "<p id=\"notice\" class=\"notice{}\">{}</p>",
            if n.is_error { " error" } else { "" },
            escape(&n.text)
        ),
        None => String::new(),
    }
}

fn json_block(id: &str, value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    format!("<pre id=\"{id}\">{}</pre>", escape(&text))
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    // Tokens are on this page: not cached, not framed, no script (the same policy as the provider's
    // pages), and no Referer that could carry the callback's code onwards.
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, crate::web::headers::HTML_CSP)
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::CACHE_CONTROL, "no-store")
        .body(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_10_14_claims_and_notices_are_escaped_on_the_page() {
        let claims = serde_json::json!({ "sub": "<script>x</script>", "name": "<b>Eve</b>" });
        let userinfo = serde_json::json!({ "email": "\"><img src=x>" });
        let notice = Notice { text: "<i>done</i>".into(), is_error: false };
        let view = SignedInView {
            id_token: None,
            id_claims: &claims,
            access_token: "opaque",
            has_refresh_token: true,
            scope: Some("openid <x>"),
            userinfo: Ok(&userinfo),
            notice: Some(&notice),
        };
        let resp = signed_in(&view);
        let csp = resp.headers().get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
        let page = futures::executor::block_on(resp.into_body().into_string()).unwrap();
        for raw in ["<script>", "<b>Eve", "<img", "<i>done", "<x>"] {
            assert!(!page.contains(raw), "{raw} reached the page unescaped");
        }
        assert!(page.contains("&lt;b&gt;Eve&lt;/b&gt;") && !page.contains("<script"));
    }
}
