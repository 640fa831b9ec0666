//! Who is signed in: DingTalk membership (the one rule deciding whether a DingTalk user may use the
//! provider, applied at sign-in and at every upstream recheck), the browser's SSO session, and how a
//! sign-in ended (for `/metrics`).

pub mod membership;
pub mod outcome;
pub mod session;
