//! One file per grant (RFC 6749 §4.1.3 authorization_code, §6 refresh_token, §4.4
//! client_credentials; RFC 8628 §3.4 device_code).

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;
