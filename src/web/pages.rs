//! The provider's HTML pages: error, consent, logout and the form_post response. Every value is
//! escaped (RFC 6749 §10.14); pages load nothing from other origins, and only the form_post page
//! runs a script: one line, allowed by its hash.

use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};

use super::html::escape;
use super::i18n::t;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1f2328}\
h1{font-size:1.4rem}.box{border:1px solid #d0d7de;border-radius:8px;padding:1.5rem}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid #8c959f;cursor:pointer}\
button.primary{background:#1f6feb;color:#fff;border-color:#1f6feb}code{background:#f6f8fa;padding:0 .2rem}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title>\
<style>{STYLE}</style></head><body><main class=\"box\">{body}</main></body></html>",
        super::i18n::current().tag(),
        escape(t(title))
    )
}

fn html(status: StatusCode, page: String) -> Response {
    Response::builder().status(status).content_type("text/html; charset=utf-8").body(page)
}

/// A page for errors we must not redirect (unknown client, bad redirect_uri, broken login state,
/// DingTalk failures). `detail` is shown escaped.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!("<h1>{}</h1><p>{}</p>", escape(t(title)), escape(t(detail)));
    html(status, layout(title, &body))
}

/// A dependency (database, session store) is down: a fast 503 the user can retry.
pub fn unavailable_page() -> Response {
    let mut resp = error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The sign-in service cannot reach its storage right now. Please retry shortly.",
    );
    resp.headers_mut().insert(poem::http::header::RETRY_AFTER, poem::http::HeaderValue::from_static("5"));
    resp
}

pub struct ConsentView<'a> {
    pub action: &'a str,
    pub client_name: &'a str,
    pub user_name: &'a str,
    pub scopes: &'a [String],
    pub consent_id: &'a str,
    pub csrf_token: &'a str,
}

/// OIDC Core §3.1.2.4: ask before releasing claims to a client that is not first-party.
pub fn consent_page(view: &ConsentView<'_>) -> Response {
    let scopes: String = view
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code> — {}</li>", escape(s), escape(t(describe_scope(s)))))
        .collect();
    let body = format!(
        "<h1>{allow} {client}?</h1><p>{signed_in} <strong>{user}</strong>.</p>\
<p><strong>{client}</strong> {asks}</p><ul>{scopes}</ul>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"consent_id\" value=\"{id}\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\">{allow}</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">{deny}</button></form>",
        allow = escape(t("Allow")),
        deny = escape(t("Deny")),
        signed_in = escape(t("Signed in with DingTalk as")),
        asks = escape(t("asks to:")),
        client = escape(view.client_name),
        user = escape(t(view.user_name)),
        action = escape(view.action),
        id = escape(view.consent_id),
        csrf = escape(view.csrf_token),
    );
    html(StatusCode::OK, layout("Allow access", &body))
}

/// RP-Initiated Logout 1.0 §6: ask before ending the session when the request does not prove
/// it comes from the session's own relying party.
pub fn logout_confirm_page(action: &str, confirm_id: &str, csrf_token: &str) -> Response {
    let body = format!(
        "<h1>{title}</h1><p>{asked}</p>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"confirm_id\" value=\"{id}\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<button class=\"primary\" type=\"submit\">{sign_out}</button></form>",
        title = escape(t("Sign out?")),
        asked = escape(t("Do you want to sign out of DingTalk sign-in on this browser?")),
        sign_out = escape(t("Sign out")),
        action = escape(action),
        id = escape(confirm_id),
        csrf = escape(csrf_token),
    );
    html(StatusCode::OK, layout("Sign out", &body))
}

pub fn logged_out_page() -> Response {
    let body =
        format!("<h1>{}</h1><p>{}</p>", escape(t("You are signed out")), escape(t("You can close this window.")));
    html(StatusCode::OK, layout("Signed out", &body))
}

/// The one script of the form_post page: it submits the form as soon as it is parsed.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// The site-wide policy (`web::headers::HTML_CSP`) plus `script-src` for exactly
/// `FORM_POST_SCRIPT`, by its SHA-256 (CSP Level 3 §2.3.1 hash-source; a unit test recomputes it).
/// No `form-action`: it does not fall back to `default-src`, and restricting it would also govern
/// the redirects that follow the POST at the client, which may lead anywhere the client likes.
pub const FORM_POST_CSP: &str = "default-src 'none'; \
script-src 'sha256-8lDeP0UDwCO6/RhblgeH/ctdBzjVpJxrXizsnIk3cEQ='; style-src 'unsafe-inline'; \
img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'";

/// OAuth 2.0 Form Post Response Mode §2: a form that POSTs `params` to the client's redirect URI as
/// hidden inputs, submitted by a script. Without JavaScript the `<noscript>` button does it; it is
/// not shown otherwise, so the user cannot post the code a second time while the script already
/// does (a second use of a code revokes what the first gave: RFC 6749 §4.1.2).
pub fn form_post_page(action: &str, params: &[(&str, &str)]) -> Response {
    let inputs: String = params
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value)))
        .collect();
    let body = format!(
        "<h1>{title}</h1><form method=\"post\" action=\"{action}\">{inputs}\
<noscript><p>{hint}</p><button class=\"primary\" type=\"submit\">{next}</button></noscript></form>\
<script>{FORM_POST_SCRIPT}</script>",
        title = escape(t("Returning to the application")),
        hint = escape(t("JavaScript is turned off. Press Continue to return to the application.")),
        next = escape(t("Continue")),
        action = escape(action),
    );
    let mut resp = html(StatusCode::OK, layout("Returning to the application", &body));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FORM_POST_CSP));
    // The page carries a code: never stored by the browser or a cache (RFC 6749 §10.5).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "openid" => "know who you are",
        "profile" => "see your name, DingTalk user id and avatar",
        "email" => "see your email address",
        "phone" => "see your mobile number",
        "offline_access" => "stay signed in when you are away",
        "roles" => "see your roles",
        "groups" => "see your DingTalk departments",
        "dingtalk" => "see your DingTalk ids, title and departments",
        "admin" => "manage this provider",
        _ => "access this",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rfc6749_10_14_error_page_escapes_what_it_shows() {
        let resp = error_page(StatusCode::BAD_REQUEST, "Bad", "<script>alert(1)</script>");
        let body = resp.into_body().into_string().await.unwrap();
        assert!(body.contains("&lt;script&gt;"));
        assert!(!body.contains("<script>"));
    }

    #[test]
    fn csp3_form_post_policy_allows_exactly_the_page_script_by_its_hash() {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes());
        let source = format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest));
        let directives: Vec<&str> = FORM_POST_CSP.split("; ").collect();
        assert!(directives.contains(&format!("script-src {source}").as_str()), "{FORM_POST_CSP}");
        assert!(directives.contains(&"default-src 'none'") && directives.contains(&"frame-ancestors 'none'"));
        assert!(!FORM_POST_CSP.contains("form-action"), "the POST to the client must not be restricted");
        // The rest is the site-wide policy: only script-src is added.
        let without_script: Vec<&str> = directives.into_iter().filter(|d| !d.starts_with("script-src")).collect();
        assert_eq!(without_script.join("; "), crate::web::headers::HTML_CSP);
    }

    #[tokio::test]
    async fn form_post_2_page_posts_every_value_escaped_to_the_redirect_uri() {
        let resp = form_post_page(
            "https://app.example/cb?a=1&b=\"2\"",
            &[("code", "abc"), ("state", "\"><script>alert(1)</script>"), ("iss", "https://id.example")],
        );
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(resp.headers()[header::CONTENT_SECURITY_POLICY], FORM_POST_CSP);
        let body = resp.into_body().into_string().await.unwrap();
        assert!(
            body.contains("<form method=\"post\" action=\"https://app.example/cb?a=1&amp;b=&quot;2&quot;\">"),
            "{body}"
        );
        assert!(body.contains("<input type=\"hidden\" name=\"code\" value=\"abc\">"), "{body}");
        assert!(body.contains("name=\"state\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">"), "{body}");
        assert!(body.contains("<input type=\"hidden\" name=\"iss\" value=\"https://id.example\">"), "{body}");
        // Exactly one script, the hashed one, after the form; the button only without JavaScript.
        assert_eq!(body.matches("<script").count(), 1, "{body}");
        assert!(body.contains(&format!("</form><script>{FORM_POST_SCRIPT}</script>")), "{body}");
        assert!(body.contains("<noscript><p>"), "{body}");
        // The button has no name: it adds nothing to what the client receives.
        assert!(body.contains("<button class=\"primary\" type=\"submit\">Continue</button></noscript>"), "{body}");
    }
}
