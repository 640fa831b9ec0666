//! Who is signed in: DingTalk membership (the one rule deciding whether a DingTalk user may use the
//! provider, applied at sign-in and at every upstream recheck), the browser's SSO session and its
//! liveness, the user's effective roles and groups, and how a sign-in ended (for `/metrics`).
//! Functions here take narrow handles (the directory, the session store, the DingTalk client,
//! config values), never the application state.

pub mod membership;
pub mod method;
pub mod outcome;
pub mod roles;
pub mod session;
