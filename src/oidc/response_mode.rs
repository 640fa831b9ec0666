//! How an authorization response reaches the client: in the query of a redirect (OAuth 2.0
//! Multiple Response Type Encoding Practices §2.1, the default for `response_type=code`) or as a
//! form the browser POSTs to the redirect URI (OAuth 2.0 Form Post Response Mode §2).
//!
//! Every answer that goes back to the client after its redirect URI was validated (the code, and
//! every error: `access_denied`, `login_required`, `consent_required`, `invalid_request`, …) goes
//! through `deliver`, from /authorize, the DingTalk callback and the consent form alike.

use poem::Response;
use poem::http::StatusCode;

use super::code::{append_query, redirect};
use crate::web::pages;

pub use crate::store::ResponseMode;

/// A `response_mode` we do not implement (`fragment`, `jwt`, anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedResponseMode;

impl ResponseMode {
    /// What discovery announces (OIDC Discovery 1.0 §3 `response_modes_supported`).
    pub const SUPPORTED: &[&str] = &["query", "form_post"];

    /// The `response_mode` parameter; absent means the default of `code`, `query`.
    /// `fragment` is refused: this provider issues no token in the front channel, so nothing
    /// needs it (Multiple Response Type Encoding Practices §2.1; RFC 9700 §2.1.2).
    pub fn parse(value: Option<&str>) -> Result<ResponseMode, UnsupportedResponseMode> {
        match value {
            None | Some("query") => Ok(ResponseMode::Query),
            Some("form_post") => Ok(ResponseMode::FormPost),
            Some(_) => Err(UnsupportedResponseMode),
        }
    }

    /// Whether the mode can answer at `redirect_uri`. A form can only be POSTed to an http(s)
    /// URI: a private-use scheme of a native app (RFC 8252 §7.1) hands a URL to the app through
    /// the operating system, and no server there could receive a POST. (A loopback redirect,
    /// RFC 8252 §7.3, is an HTTP server of the app and can.)
    pub fn suits_redirect_uri(self, redirect_uri: &str) -> bool {
        match self {
            ResponseMode::Query => true,
            ResponseMode::FormPost => {
                let scheme = redirect_uri.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
                matches!(scheme.as_deref(), Some("http" | "https"))
            }
        }
    }
}

/// Sends `params` to the client's (already validated) `redirect_uri`: a redirect with them in the
/// query (`status` is 302 after a GET, 303 after a form POST: RFC 9700 §4.12), or a page whose
/// form POSTs them there (Form Post Response Mode §2; a 200 page, never cached).
pub fn deliver(mode: ResponseMode, status: StatusCode, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match mode {
        ResponseMode::Query => redirect(status, &append_query(redirect_uri, params), &[]),
        ResponseMode::FormPost => pages::form_post_page(redirect_uri, params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuthRequest;

    fn request(response_mode: ResponseMode) -> AuthRequest {
        AuthRequest { response_mode, ..AuthRequest::openid_only("app", "https://app.example/cb") }
    }

    #[test]
    fn form_post_2_response_mode_parameter_values() {
        assert_eq!(ResponseMode::parse(None), Ok(ResponseMode::Query));
        assert_eq!(ResponseMode::parse(Some("query")), Ok(ResponseMode::Query));
        assert_eq!(ResponseMode::parse(Some("form_post")), Ok(ResponseMode::FormPost));
        for other in ["fragment", "jwt", "query.jwt", "form_post.jwt", "FORM_POST", "web_message", "<x>"] {
            assert_eq!(ResponseMode::parse(Some(other)), Err(UnsupportedResponseMode), "{other}");
        }
    }

    #[test]
    fn rfc8252_7_1_form_post_needs_an_http_redirect_uri() {
        assert!(ResponseMode::FormPost.suits_redirect_uri("https://app.example/cb"));
        assert!(ResponseMode::FormPost.suits_redirect_uri("http://127.0.0.1:8400/cb"));
        assert!(!ResponseMode::FormPost.suits_redirect_uri("com.example.app:/oauth2redirect"));
        assert!(!ResponseMode::FormPost.suits_redirect_uri("com.example.app://cb"));
        assert!(ResponseMode::Query.suits_redirect_uri("com.example.app:/oauth2redirect"));
    }

    #[test]
    fn stored_requests_without_a_response_mode_are_query_and_query_is_not_written() {
        // A request stored before response modes existed, and one written now in query mode,
        // look the same: either version of the provider reads what the other stored.
        let old = serde_json::to_value(request(ResponseMode::Query)).unwrap();
        assert!(old.get("response_mode").is_none(), "{old}");
        let read: AuthRequest = serde_json::from_value(old).unwrap();
        assert_eq!(read.response_mode, ResponseMode::Query);

        let form_post = serde_json::to_value(request(ResponseMode::FormPost)).unwrap();
        assert_eq!(form_post["response_mode"], "form_post");
        let read: AuthRequest = serde_json::from_value(form_post).unwrap();
        assert_eq!(read.response_mode, ResponseMode::FormPost);
    }

    #[tokio::test]
    async fn query_mode_redirects_with_the_parameters_in_the_query() {
        let resp = deliver(
            ResponseMode::Query,
            StatusCode::SEE_OTHER,
            "https://app.example/cb?tenant=1",
            &[("code", "c 1"), ("state", "s&t")],
        );
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "https://app.example/cb?tenant=1&code=c+1&state=s%26t");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
}
