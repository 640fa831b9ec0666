//! The provider's HTML pages: error, consent, logout, the form_post response and the account page,
//! each rendered from its template in `templates/` (`web::templates`: compiled once, every value
//! HTML-escaped, RFC 6749 §10.14) in the request's language and branding. Pages load nothing but the operator's logo, and
//! only the form_post page runs a script: one line, allowed by its hash.

use minijinja::context;
use minijinja::value::Value;
use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};

use super::templates;

/// The page `template` renders (`web::templates`) with `page`'s values. A template that fails to
/// render is a bug: logged, and the user gets a plain 500 rather than half a page.
pub fn render_page(status: StatusCode, template: &str, page: Value) -> Response {
    match templates::render(template, page) {
        Ok(body) => Response::builder().status(status).content_type("text/html; charset=utf-8").body(body),
        Err(e) => {
            tracing::error!(template, error = %format!("{e:#}"), "a page template failed to render");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}

/// A page for errors we must not redirect (unknown client, bad redirect_uri, broken login state,
/// DingTalk failures). `detail` is shown escaped.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    render_page(status, "error.html", context! { title, detail })
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
    let scopes: Vec<Value> =
        view.scopes.iter().map(|s| context! { scope => s.as_str(), description => describe_scope(s) }).collect();
    let page = context! {
        action => view.action,
        client_name => view.client_name,
        user_name => view.user_name,
        scopes,
        consent_id => view.consent_id,
        csrf_token => view.csrf_token,
    };
    render_page(StatusCode::OK, "consent.html", page)
}

/// RP-Initiated Logout 1.0 §6: ask before ending the session when the request does not prove
/// it comes from the session's own relying party.
pub fn logout_confirm_page(action: &str, confirm_id: &str, csrf_token: &str) -> Response {
    render_page(StatusCode::OK, "logout_confirm.html", context! { action, confirm_id, csrf_token })
}

pub fn logged_out_page() -> Response {
    render_page(StatusCode::OK, "logged_out.html", context! {})
}

/// One of the user's SSO sessions on the account page.
pub struct AccountSession {
    /// The public session id (`sid`): it names the session in the page's forms; not a credential.
    pub id: String,
    /// This browser's own session.
    pub current: bool,
    pub signed_in_at: i64,
    pub last_used_at: i64,
    /// The names of the apps that got tokens in the session.
    pub apps: Vec<String>,
}

/// An app the user has allowed something, on the account page.
pub struct AccountApp {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

/// What the account page shows (`account`): plain values, so this module knows no directory.
pub struct AccountView {
    /// The profile as (label, value) pairs, labels in English (translated on the page).
    pub profile: Vec<(&'static str, String)>,
    pub sessions: Vec<AccountSession>,
    pub apps: Vec<AccountApp>,
    /// The session's anti-CSRF token, carried by every form.
    pub form_token: String,
    /// Where the forms post.
    pub action: String,
    /// What the last change did, in English (translated on the page).
    pub notice: Option<&'static str>,
}

/// A time as the pages show it (UTC, to the minute) and as `<time datetime>` carries it.
pub fn shown_time(at: i64) -> (String, String) {
    match chrono::DateTime::from_timestamp(at, 0) {
        Some(t) => (t.format("%Y-%m-%d %H:%M UTC").to_string(), t.to_rfc3339()),
        None => (at.to_string(), String::new()),
    }
}

/// The user's own page: profile, sessions and connected apps, each change a form (no script).
pub fn account_page(view: &AccountView) -> Response {
    let profile: Vec<Value> =
        view.profile.iter().map(|(label, value)| context! { label => *label, value => value.as_str() }).collect();
    let sessions: Vec<Value> = view
        .sessions
        .iter()
        .map(|s| {
            let (signed_in, signed_in_iso) = shown_time(s.signed_in_at);
            let (last_used, _) = shown_time(s.last_used_at);
            context! { id => s.id.as_str(), current => s.current, signed_in, signed_in_iso, last_used, apps => s.apps.clone() }
        })
        .collect();
    let apps: Vec<Value> = view
        .apps
        .iter()
        .map(|a| {
            let (granted, granted_iso) = shown_time(a.granted_at);
            let scopes: Vec<Value> =
                a.scopes.iter().map(|s| context! { scope => s.as_str(), description => describe_scope(s) }).collect();
            context! { client_id => a.client_id.as_str(), name => a.name.as_str(), granted, granted_iso, scopes }
        })
        .collect();
    let page = context! {
        profile,
        sessions,
        apps,
        form_token => view.form_token.as_str(),
        action => view.action.as_str(),
        notice => view.notice,
    };
    render_page(StatusCode::OK, "account.html", page)
}

/// The account page without a session, after a sign-in for it failed: `problem` (fixed words, in
/// English) and a link to try again.
pub fn account_signed_out_page(problem: &str, sign_in: &str) -> Response {
    render_page(StatusCode::OK, "account_signed_out.html", context! { problem, sign_in })
}

/// A CSP Level 3 §2.3.1 hash-source (`'sha256-…'`) that allows exactly this inline script.
pub fn script_hash_source(script: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script)))
}

/// A sign-in page that runs DingTalk's script and its own (`oidc::in_app`, `oidc::sign_in`): the
/// template under its own `policy`, setting the browser-binding `cookie` of the pending sign-in.
pub fn scripted_sign_in_page(template: &str, page: Value, policy: &str, cookie: &str) -> Response {
    let mut resp = render_page(StatusCode::OK, template, page);
    let headers = resp.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    if let Ok(cookie) = HeaderValue::from_str(cookie) {
        headers.append(header::SET_COOKIE, cookie);
    }
    resp
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
    let params: Vec<Value> = params.iter().map(|&(name, value)| context! { name, value }).collect();
    let page = context! { action, params, script => templates::trusted(FORM_POST_SCRIPT) };
    let mut resp = render_page(StatusCode::OK, "form_post.html", page);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FORM_POST_CSP));
    // The page carries a code: never stored by the browser or a cache (RFC 6749 §10.5).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn describe_scope(scope: &str) -> &'static str {
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

    /// CSP Level 3 §2.3.1 against a value computed outside this code base
    /// (`printf %s 'document.forms[0].submit();' | openssl dgst -sha256 -binary | base64`).
    #[test]
    fn csp3_a_script_hash_source_is_the_base64_sha256_of_the_script_quoted() {
        assert_eq!(script_hash_source(FORM_POST_SCRIPT), "'sha256-8lDeP0UDwCO6/RhblgeH/ctdBzjVpJxrXizsnIk3cEQ='");
        assert_ne!(script_hash_source("a"), script_hash_source("a "), "every byte counts");
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

    const HOSTILE: &str = "\"'><script>alert(1)</script>&";
    const ESCAPED: &str = "&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;";

    async fn body(resp: Response) -> String {
        resp.into_body().into_string().await.unwrap()
    }

    fn consent(view_client: &str, scopes: &[String]) -> Response {
        consent_page(&ConsentView {
            action: "https://id.example/consent",
            client_name: view_client,
            user_name: "you",
            scopes,
            consent_id: "cid",
            csrf_token: "csrf",
        })
    }

    async fn branded<R>(branding: crate::config::BrandingConfig, render: impl FnOnce() -> R) -> R {
        crate::web::branding::scoped(std::sync::Arc::new(branding), async { render() }).await
    }

    fn acme() -> crate::config::BrandingConfig {
        crate::config::BrandingConfig {
            product_name: "Acme SSO".into(),
            logo_url: Some("https://cdn.example/logo.png".into()),
            primary_color: "#0b5394".into(),
            text_color: "#111".into(),
        }
    }

    #[tokio::test]
    async fn rfc6749_10_14_every_page_escapes_hostile_values_in_text_and_attributes() {
        // Error page: title and detail, in the heading, the paragraph and the <title>.
        let page = body(error_page(StatusCode::BAD_REQUEST, HOSTILE, HOSTILE)).await;
        assert!(page.contains(&format!("<h1>{ESCAPED}</h1>\n<p>{ESCAPED}</p>")), "{page}");
        assert!(page.contains(&format!("<title>{ESCAPED} · ")), "{page}");
        // Consent page: the client's name (text) and every form value (attributes).
        let resp = consent_page(&ConsentView {
            action: HOSTILE,
            client_name: HOSTILE,
            user_name: HOSTILE,
            scopes: &[HOSTILE.to_string()],
            consent_id: HOSTILE,
            csrf_token: HOSTILE,
        });
        let page = body(resp).await;
        assert!(page.contains(&format!("<h1>Allow {ESCAPED}?</h1>")), "{page}");
        assert!(page.contains(&format!("<strong>{ESCAPED}</strong>")), "{page}");
        assert!(page.contains(&format!("<li><code>{ESCAPED}</code> — access this</li>")), "{page}");
        assert!(page.contains(&format!("<form method=\"post\" action=\"{ESCAPED}\">")), "{page}");
        assert!(page.contains(&format!("name=\"consent_id\" value=\"{ESCAPED}\">")), "{page}");
        assert!(page.contains(&format!("name=\"csrf_token\" value=\"{ESCAPED}\">")), "{page}");
        // Logout confirmation: every form value.
        let page = body(logout_confirm_page(HOSTILE, HOSTILE, HOSTILE)).await;
        assert!(page.contains(&format!("<form method=\"post\" action=\"{ESCAPED}\">")), "{page}");
        assert!(page.contains(&format!("name=\"confirm_id\" value=\"{ESCAPED}\">")), "{page}");
        assert!(page.contains(&format!("name=\"csrf_token\" value=\"{ESCAPED}\">")), "{page}");
        // form_post: names and values of the posted fields.
        let page = body(form_post_page(HOSTILE, &[(HOSTILE, HOSTILE)])).await;
        assert!(page.contains(&format!("<input type=\"hidden\" name=\"{ESCAPED}\" value=\"{ESCAPED}\">")), "{page}");
        assert_eq!(page.matches("<script").count(), 1, "{page}");
        // The branding, in every page: name (title, header, alt) and logo (src).
        let hostile_brand = crate::config::BrandingConfig {
            product_name: HOSTILE.into(),
            logo_url: Some(format!("/logo.png?{HOSTILE}")),
            ..crate::config::BrandingConfig::default()
        };
        for resp in branded(hostile_brand, || {
            [
                logged_out_page(),
                error_page(StatusCode::BAD_REQUEST, "Bad", "x"),
                consent(HOSTILE, &[]),
                logout_confirm_page("/logout/confirm", "id", "csrf"),
                form_post_page("https://app.example/cb", &[("code", "c")]),
            ]
        })
        .await
        {
            let page = body(resp).await;
            assert!(page.contains(&format!(" · {ESCAPED}</title>")), "{page}");
            assert!(page.contains(&format!("<img src=\"/logo.png?{ESCAPED}\" alt=\"{ESCAPED}\">")), "{page}");
            assert!(page.contains(&format!("<span>{ESCAPED}</span>")), "{page}");
            assert!(!page.contains("<script>alert") && !page.contains("\"'>"), "{page}");
        }
    }

    #[tokio::test]
    async fn branding_names_the_pages_shows_the_logo_with_alt_text_and_colours_the_button() {
        let pages = branded(acme(), || {
            [
                error_page(StatusCode::BAD_REQUEST, "Invalid request", "x"),
                consent("App", &["openid".into()]),
                logout_confirm_page("/logout/confirm", "id", "csrf"),
                logged_out_page(),
                form_post_page("https://app.example/cb", &[("code", "c")]),
                unavailable_page(),
            ]
        })
        .await;
        for resp in pages {
            let page = body(resp).await;
            assert!(page.starts_with("<!doctype html>\n<html lang=\"en\">"), "{page}");
            assert!(page.contains(" · Acme SSO</title>"), "{page}");
            let header = "<header>\n<img src=\"https://cdn.example/logo.png\" alt=\"Acme SSO\">\n<span>Acme SSO</span>\n</header>";
            assert!(page.contains(header), "{page}");
            assert!(page.contains("<main class=\"box\">"), "{page}");
            assert!(page.contains("a.button.primary{background:#0b5394;color:#fff;border-color:#0b5394}"), "{page}");
            assert!(page.contains("color:#111;"), "{page}");
            assert_eq!(page.matches("<style>").count(), 1, "one inline style block: {page}");
            // The page's own form is the first: the form_post script submits forms[0].
            if let Some(form) = page.find("<form") {
                assert!(form > page.find("<main").unwrap(), "{page}");
            }
            assert!(!page.contains("DingTalk sign-in"), "{page}");
        }
        let page = body(branded(acme(), || logout_confirm_page("/l", "i", "c")).await).await;
        assert!(page.contains("<p>Do you want to sign out of Acme SSO on this browser?</p>"), "{page}");
    }

    #[tokio::test]
    async fn default_branding_is_dingtalk_sign_in_without_a_logo() {
        let page = body(logout_confirm_page("/l", "i", "c")).await;
        assert!(page.contains("<title>Sign out · DingTalk sign-in</title>"), "{page}");
        assert!(page.contains("<span>DingTalk sign-in</span>") && !page.contains("<img"), "{page}");
        assert!(page.contains("<p>Do you want to sign out of DingTalk sign-in on this browser?</p>"), "{page}");
        assert!(page.contains("a.button.primary{background:#1f6feb;color:#fff;border-color:#1f6feb}"), "{page}");
    }

    #[tokio::test]
    async fn chinese_pages_translate_the_page_and_the_default_product_name() {
        use crate::web::i18n::{Lang, scoped};
        let [logout, consent, form_post, error] = scoped(Lang::Zh, async {
            [
                logout_confirm_page("/l", "i", "c"),
                consent("App", &["profile".into()]),
                form_post_page("https://app.example/cb", &[("code", "c")]),
                unavailable_page(),
            ]
        })
        .await;
        let page = body(logout).await;
        assert!(
            page.contains("<html lang=\"zh-CN\">") && page.contains("<title>退出登录 · 钉钉登录</title>"),
            "{page}"
        );
        assert!(
            page.contains("<span>钉钉登录</span>") && page.contains("<p>要在此浏览器上退出钉钉登录吗？</p>"),
            "{page}"
        );
        assert!(page.contains(">退出登录</button>"), "{page}");
        let page = body(consent).await;
        assert!(page.contains("<h1>允许 App?</h1>") && page.contains("<strong>您</strong>"), "{page}");
        assert!(
            page.contains("查看您的姓名、钉钉用户 ID 和头像") && page.contains(">允许<") && page.contains(">拒绝<")
        );
        let page = body(form_post).await;
        assert!(page.contains("<h1>正在返回应用</h1>") && page.contains(">继续</button></noscript>"), "{page}");
        let page = body(error).await;
        assert!(page.contains("<h1>服务暂时不可用</h1>\n<p>登录服务暂时无法访问其存储。请稍后重试。</p>"), "{page}");
        // An operator's own name is shown as written.
        let page = scoped(Lang::Zh, branded(acme(), logged_out_page)).await;
        let page = body(page).await;
        assert!(page.contains("<title>已退出 · Acme SSO</title>") && page.contains("<h1>您已退出登录</h1>"), "{page}");
    }

    #[tokio::test]
    async fn rfc6749_10_14_the_account_page_escapes_what_it_shows_and_translates() {
        let view = AccountView {
            profile: vec![("Name", "<script>x</script>".into())],
            sessions: vec![AccountSession {
                id: "s\"1".into(),
                current: true,
                signed_in_at: 0,
                last_used_at: 0,
                apps: vec!["<b>App</b>".into()],
            }],
            apps: vec![AccountApp {
                client_id: "c\"><x".into(),
                name: "<i>Evil</i>".into(),
                scopes: vec!["openid".into()],
                granted_at: 0,
            }],
            form_token: "tok".into(),
            action: "/account".into(),
            notice: Some("The session was signed out."),
        };
        let resp = crate::web::i18n::scoped(crate::web::i18n::Lang::Zh, async { account_page(&view) }).await;
        let body = resp.into_body().into_string().await.unwrap();
        assert!(!body.contains("<script>x") && !body.contains("<i>Evil") && !body.contains("<b>App"), "{body}");
        assert!(
            body.contains("&lt;script&gt;x&lt;/script&gt;") && body.contains("value=\"c&quot;&gt;&lt;x\""),
            "{body}"
        );
        assert!(body.contains("我的账号") && body.contains("该会话已退出。") && body.contains("当前浏览器"), "{body}");
        assert!(body.contains("1970-01-01 00:00 UTC"), "{body}");
    }
}
