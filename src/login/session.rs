//! The browser's single-sign-on session. Its public id is the `sid` claim relying parties and
//! admins see (Back-Channel Logout 1.0 §2.1), so it proves nothing; the browser proves the session
//! with a secret of 256 random bits that only its cookie carries (RFC 6749 §10.3, §10.8), stored as
//! a SHA-256 hash. The cookie is `<sid>.<secret>`.
//!
//! One rule of liveness ([`SsoSession::is_live`]), asked at one of two strengths ([`Liveness`]): a
//! session *exists* until its absolute end (logout ends what exists, and the consent and logout
//! forms are bound to it), and is *usable* for single sign-on only while it has also been used
//! within the idle lifetime (OIDC Core §3.1.2.1).

use poem::Request;

use crate::secrets;
use crate::store::{SessionStore, SsoSession, StoreError};
use crate::web::cookies::{self, CookiePolicy};

/// What the session cookie carries.
pub struct SessionCookie {
    sid: String,
    secret: String,
}

/// A session id: 128 random bits; unique, and not a secret.
fn new_sid() -> String {
    let mut id = secrets::token();
    id.truncate(22);
    id
}

impl SessionCookie {
    fn new() -> SessionCookie {
        SessionCookie { sid: new_sid(), secret: secrets::token() }
    }

    /// `<sid>.<secret>`; anything else (a cookie from before sessions had secrets, or garbage)
    /// proves no session.
    pub fn parse(value: &str) -> Option<SessionCookie> {
        let (sid, secret) = value.split_once('.')?;
        let well_formed = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        (well_formed(sid, 22) && well_formed(secret, 43))
            .then(|| SessionCookie { sid: sid.to_string(), secret: secret.to_string() })
    }

    pub fn sid(&self) -> &str {
        &self.sid
    }

    pub fn value(&self) -> String {
        format!("{}.{}", self.sid, self.secret)
    }

    /// An anti-CSRF token for the forms of one `purpose` shown to this browser (RFC 6749 §10.12):
    /// derived from the cookie's secret, so only a page the browser was shown can carry it, and
    /// unlike the stored `secret_hash`, so a copy of the store does not give it away.
    pub fn form_token(&self, purpose: &str) -> String {
        secrets::hash(&format!("{purpose}\n{}", self.secret))
    }

    /// Whether this cookie's secret is the session's (constant time).
    pub fn proves(&self, session: &SsoSession) -> bool {
        session.id == self.sid
            && secrets::secure_eq(secrets::hash(&self.secret).as_bytes(), session.secret_hash.as_bytes())
    }
}

/// How alive a session must be for what the caller does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Before its absolute end, idle or not: logout ends whatever still exists, and a consent or
    /// logout form is bound to the session it was shown in.
    Exists,
    /// Also used within `idle_secs` (`tokens.sso_session_idle_secs`): single sign-on.
    UsableForSso { idle_secs: i64 },
}

impl SsoSession {
    /// Whether the session is alive at `now` for `liveness`: always before its absolute end, and
    /// for single sign-on also used within the idle lifetime.
    pub fn is_live(&self, now: i64, liveness: Liveness) -> bool {
        let before_absolute_end = self.expires_at > now;
        match liveness {
            Liveness::Exists => before_absolute_end,
            Liveness::UsableForSso { idle_secs } => {
                before_absolute_end && (self.last_seen_at <= 0 || now - self.last_seen_at <= idle_secs)
            }
        }
    }
}

/// The browser's SSO sessions: where they are kept and how their cookie is written.
#[derive(Clone, Copy)]
pub struct SsoSessions<'a> {
    pub store: &'a dyn SessionStore,
    pub cookies: &'a CookiePolicy,
}

impl SsoSessions<'_> {
    /// Starts a session for `user_id` authenticated at `auth_time`, living `ttl_secs`
    /// (`tokens.sso_session_ttl_secs`); returns it and the `Set-Cookie` value that hands its
    /// secret to the browser.
    pub async fn start(
        &self,
        ttl_secs: u64,
        user_id: &str,
        auth_time: i64,
        amr: Vec<String>,
    ) -> Result<(SsoSession, String), StoreError> {
        let cookie = SessionCookie::new();
        let session = SsoSession {
            id: cookie.sid.clone(),
            secret_hash: secrets::hash(&cookie.secret),
            user_id: user_id.to_string(),
            auth_time,
            amr,
            clients: Vec::new(),
            expires_at: auth_time + ttl_secs as i64,
            last_seen_at: auth_time,
        };
        self.store.put_sso_session(&session).await?;
        Ok((session, self.cookies.set(cookies::SESSION, &cookie.value(), Some(ttl_secs))))
    }

    /// The session the request's cookie proves, if it is alive at `now` (the protocol clock) for
    /// `liveness`.
    pub async fn proven(&self, req: &Request, now: i64, liveness: Liveness) -> Result<Option<SsoSession>, StoreError> {
        Ok(self.proven_with_cookie(req, now, liveness).await?.map(|(session, _)| session))
    }

    async fn proven_with_cookie(
        &self,
        req: &Request,
        now: i64,
        liveness: Liveness,
    ) -> Result<Option<(SsoSession, SessionCookie)>, StoreError> {
        let Some(cookie) = self.cookies.get(req, cookies::SESSION).and_then(|v| SessionCookie::parse(&v)) else {
            return Ok(None);
        };
        let session = self.store.get_sso_session(&cookie.sid).await?;
        Ok(session.filter(|s| cookie.proves(s) && s.is_live(now, liveness)).map(|s| (s, cookie)))
    }

    /// `proven`, with the anti-CSRF token of the session's forms for `purpose`
    /// (`SessionCookie::form_token`).
    pub async fn proven_with_form_token(
        &self,
        req: &Request,
        now: i64,
        liveness: Liveness,
        purpose: &str,
    ) -> Result<Option<(SsoSession, String)>, StoreError> {
        let proven = self.proven_with_cookie(req, now, liveness).await?;
        Ok(proven.map(|(session, cookie)| (session, cookie.form_token(purpose))))
    }

    /// Clears the session cookie.
    pub fn clear_cookie(&self) -> String {
        self.cookies.set(cookies::SESSION, "", Some(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_of(cookie: &SessionCookie) -> SsoSession {
        SsoSession {
            id: cookie.sid.clone(),
            secret_hash: secrets::hash(&cookie.secret),
            user_id: "u".into(),
            auth_time: 0,
            amr: vec![],
            clients: vec![],
            expires_at: 100,
            last_seen_at: 0,
        }
    }

    #[test]
    fn rfc6749_10_3_the_public_sid_alone_proves_no_session() {
        let cookie = SessionCookie::new();
        let session = session_of(&cookie);
        assert!(SessionCookie::parse(&cookie.value()).unwrap().proves(&session));
        // What a relying party sees (`sid`) or an admin lists is not a cookie.
        assert!(SessionCookie::parse(&session.id).is_none());
        // The sid with a guessed secret does not prove it; nor does the stored hash as a secret.
        let forged = format!("{}.{}", session.id, secrets::token());
        assert!(!SessionCookie::parse(&forged).unwrap().proves(&session));
        let from_dump = format!("{}.{}", session.id, session.secret_hash);
        assert!(!SessionCookie::parse(&from_dump).is_some_and(|c| c.proves(&session)));
        // A cookie of another session with this sid is refused.
        let other = SessionCookie::new();
        let spliced = format!("{}.{}", session.id, other.secret);
        assert!(!SessionCookie::parse(&spliced).unwrap().proves(&session));
    }

    #[test]
    fn oidc_core_3_1_2_1_an_idle_session_exists_but_is_not_usable_for_sso() {
        let cookie = SessionCookie::new();
        let session = SsoSession { last_seen_at: 10, expires_at: 1000, ..session_of(&cookie) };
        let sso = |idle_secs| Liveness::UsableForSso { idle_secs };
        assert!(session.is_live(20, sso(60)));
        assert!(!session.is_live(71, sso(60)), "idle too long");
        assert!(session.is_live(71, Liveness::Exists), "idle, but it still exists: logout ends it");
        assert!(!session.is_live(1000, sso(100_000)), "past its absolute end");
        assert!(!session.is_live(1000, Liveness::Exists), "past its absolute end");
    }
}
