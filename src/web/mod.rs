//! What a browser sees: HTML pages, cookies and the security headers on every response.

pub mod branding;
pub mod client_addr;
pub mod cookies;
pub mod cors;
pub mod edge;
pub mod headers;
pub mod html;
pub mod i18n;
pub mod limits;
pub mod observe;
pub mod pages;
pub mod rendered;
pub mod templates;

/// The client's address as the edge layer determined it (`client_addr`: the socket peer, or what
/// the trusted proxies forwarded), for audit events. The same address the rate limits use.
pub fn client_ip(req: &poem::Request) -> Option<String> {
    req.extensions().get::<client_addr::ClientAddr>().map(|addr| addr.0.to_string())
}
