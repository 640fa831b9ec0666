//! One file per grant (RFC 6749 §4.1.3 authorization_code, §6 refresh_token).

pub mod authorization_code;
pub mod refresh_token;
