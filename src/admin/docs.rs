//! `/admin/docs`: poem-openapi's Swagger UI page for the admin API. The page carries its script
//! inline (the Swagger UI bundle and a few lines that start it), which the script-free policy of
//! every other page (`web::headers::HTML_CSP`) would block. This route alone gets a policy that
//! allows exactly those scripts by their SHA-256 (CSP Level 3 §2.3.1 hash-source): no other
//! script runs, nothing is loaded from elsewhere, and "try it out" may call this origin only.

use bytes::Bytes;
use poem::endpoint::make_sync;
use poem::http::header;
use poem::{Endpoint, Response, Route};

/// The docs page with its policy, rendered once.
pub fn endpoint(page: String) -> impl Endpoint {
    let csp = policy(&page);
    let page = Bytes::from(page);
    Route::new().at(
        "/",
        make_sync(move |_| {
            Response::builder()
                .content_type("text/html; charset=utf-8")
                .header(header::CONTENT_SECURITY_POLICY, csp.as_str())
                .body(page.clone())
        }),
    )
}

/// The policy for `page`: its inline scripts by hash; inline styles (Swagger UI sets style
/// attributes); images from here or `data:` (its icons); requests to this origin only.
pub fn policy(page: &str) -> String {
    let scripts: Vec<String> = inline_scripts(page).map(crate::web::pages::script_hash_source).collect();
    format!(
        "default-src 'none'; script-src {}; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        scripts.join(" ")
    )
}

/// The text of each inline `<script>` element, as the browser hashes it: everything between the
/// start tag's `>` and the first `</script` (HTML's script data state ends there).
fn inline_scripts(page: &str) -> impl Iterator<Item = &str> {
    let mut rest = page;
    std::iter::from_fn(move || {
        let start = rest.find("<script")?;
        let after_tag = start + rest[start..].find('>')? + 1;
        let end = after_tag + rest[after_tag..].find("</script")?;
        let text = &rest[after_tag..end];
        rest = &rest[end..];
        Some(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp3_each_inline_script_is_allowed_by_its_hash_and_nothing_else_runs() {
        let page = "<html><script charset=\"UTF-8\">one()</script><div></div><script>\n two()\n</script></html>";
        let csp = policy(page);
        use base64::Engine;
        use sha2::Digest;
        let hash =
            |s: &str| format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s)));
        assert!(csp.contains(&format!("script-src {} {};", hash("one()"), hash("\n two()\n"))), "{csp}");
        let script_src = csp.split(';').find(|d| d.trim_start().starts_with("script-src")).unwrap();
        assert!(!script_src.contains("unsafe") && !script_src.contains("'self'"), "{script_src}");
        assert!(csp.contains("connect-src 'self'") && csp.contains("default-src 'none'"));
    }

    #[test]
    fn the_swagger_ui_page_has_exactly_its_two_inline_scripts() {
        let page = super::super::api_service("http://127.0.0.1:8080/admin/v1").swagger_ui_html();
        let scripts: Vec<&str> = inline_scripts(&page).collect();
        assert_eq!(scripts.len(), 2, "the bundle and its start-up lines");
        assert!(scripts[1].contains("SwaggerUIBundle("), "the second starts the UI");
    }
}
