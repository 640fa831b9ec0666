//! Who is signed in: DingTalk membership (the one rule deciding whether a DingTalk user may use the
//! provider, applied at sign-in and at every upstream recheck) and the browser's SSO session.

pub mod membership;
pub mod session;
