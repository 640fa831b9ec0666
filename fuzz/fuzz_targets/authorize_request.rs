//! Authorization endpoint input: the query string, scope and PKCE syntax, and the HTML escaping
//! every request value goes through before it reaches a page.
#![no_main]

use dingtalk_oidc::oidc::params::{Params, is_pkce_value, parse_scope};
use dingtalk_oidc::web::html::escape;
use libfuzzer_sys::fuzz_target;

fn check_escaped(text: &str) {
    let escaped = escape(text);
    // Nothing that could open a tag or end an attribute survives escaping.
    assert!(!escaped.contains(['<', '>', '"', '\'']));
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let params = Params::parse(query);
    let _ = params.first_repeated();
    let _ = params.first_too_long();
    for name in ["response_type", "client_id", "redirect_uri", "state", "nonce", "prompt", "max_age",
        "code_challenge_method", "response_mode", "login_hint", "id_token_hint", "ui_locales"]
    {
        let _ = params.has(name);
        let _ = params.is_repeated(name);
        if let Some(value) = params.get(name) {
            check_escaped(value);
        }
    }
    if let Some(scope) = params.get("scope") {
        let _ = parse_scope(scope);
        check_escaped(scope);
    }
    if let Some(challenge) = params.get("code_challenge") {
        let _ = is_pkce_value(challenge);
    }
    check_escaped(query);
});
