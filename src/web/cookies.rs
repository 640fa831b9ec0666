//! Our cookies. Over https they take the `__Host-` prefix and `Secure`; dev over http drops only
//! what http cannot carry. Always `HttpOnly`, `SameSite=Lax`, `Path=/` (the DingTalk callback is a
//! top-level GET navigation, which Lax cookies accompany).

use poem::Request;

/// The browser's single-sign-on session (value: the session id, `sid`).
pub const SESSION: &str = "dtoidc_session";
/// Binds a login in progress to the browser that started it (login-CSRF defence).
pub const BROWSER_BINDING: &str = "dtoidc_binding";

#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    pub fn name(&self, base: &str) -> String {
        if self.secure { format!("__Host-{base}") } else { base.to_string() }
    }

    /// A `Set-Cookie` value. `max_age` None makes a browser-session cookie; Some(0) deletes.
    pub fn set(&self, base: &str, value: &str, max_age: Option<u64>) -> String {
        let mut cookie = format!("{}={}; Path=/; HttpOnly; SameSite=Lax", self.name(base), value);
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    pub fn get(&self, req: &Request, base: &str) -> Option<String> {
        cookie_value(req, &self.name(base))
    }
}

/// The value of the request's first cookie called `name` (RFC 6265 §5.4), if it is not empty.
pub fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}
