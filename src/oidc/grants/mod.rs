//! One file per grant (RFC 6749 §4.1.3 authorization_code, §6 refresh_token, §4.4
//! client_credentials).

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
