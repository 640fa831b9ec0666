//! What a browser sees: HTML pages, cookies and the security headers on every response.

pub mod cookies;
pub mod cors;
pub mod edge;
pub mod headers;
pub mod html;
pub mod i18n;
pub mod limits;
pub mod observe;
pub mod pages;

/// The peer's address (proxies are not trusted here; see `server.trusted_proxies` when it exists).
pub fn client_ip(req: &poem::Request) -> Option<String> {
    req.remote_addr().as_socket_addr().map(|a| a.ip().to_string())
}
