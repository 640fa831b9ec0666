//! What a browser sees: HTML pages, cookies and the security headers on every response.

pub mod cookies;
pub mod headers;
pub mod html;
pub mod pages;
