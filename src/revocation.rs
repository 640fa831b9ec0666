//! Ending sessions and revoking grants, shared by logout, the revocation endpoint, reuse detection,
//! the upstream recheck and the CLI. Revoking a family denylists its live access tokens; ending a
//! session revokes its session-bound families and queues back-channel logout notifications.

use crate::config::Config;
use crate::directory::Directory;
use crate::directory::audit::{AuditEvent, AuditKind};
use crate::store::{LogoutDelivery, RevokedFamily, SessionStore, SsoSession, StoreError};
use crate::tokens::cache::DenylistCache;

/// What revocation needs: the stores, how long a logout notification is retried, and how long a
/// denial of access tokens must last (`TokensConfig::denial_lifetime_secs`).
pub struct Revocation<'a> {
    pub sessions: &'a dyn SessionStore,
    /// This instance's denylist cache, told at once (None outside the server, e.g. the CLI).
    pub denylist: Option<&'a DenylistCache>,
    pub directory: &'a Directory,
    pub backchannel_retry_window_secs: i64,
    /// How long a denial must outlast the tokens it denies.
    pub denial_lifetime_secs: i64,
    /// How long after its `exp` a verifier still accepts a token (`tokens.leeway_secs`): a denial
    /// lasts that much longer, or a revoked token would verify again for those seconds.
    pub leeway_secs: i64,
    /// No operator list of allowed hosts: a self-registered client's back-channel logout URI is
    /// called only at a public address (`outbound`).
    pub public_only_for_self_registered: bool,
}

impl<'a> Revocation<'a> {
    /// Revocation as the configuration sets it; `denylist` is this instance's cache (None
    /// outside the server, e.g. the CLI: the instances recheck the store).
    pub fn new(
        config: &Config,
        sessions: &'a dyn SessionStore,
        directory: &'a Directory,
        denylist: Option<&'a DenylistCache>,
    ) -> Self {
        Revocation {
            sessions,
            denylist,
            directory,
            backchannel_retry_window_secs: config.logout.backchannel_retry_window_secs as i64,
            denial_lifetime_secs: config.tokens.denial_lifetime_secs(),
            leeway_secs: config.tokens.leeway_secs as i64,
            public_only_for_self_registered: config.registration.allowed_redirect_hosts.is_empty(),
        }
    }

    /// RFC 7009 §2.1 / RFC 9700 §4.14.2: the family's access tokens stop working too — all of them
    /// with one denial of the family, until the last one expires.
    pub async fn deny_family_tokens(&self, revoked: &RevokedFamily, now: i64) -> Result<(), StoreError> {
        let accepted_until = revoked.access_exp.saturating_add(self.leeway_secs);
        if accepted_until > now {
            self.sessions.deny_family_access_tokens(&revoked.family.id, accepted_until).await?;
            if let Some(denylist) = self.denylist {
                denylist.forget_all();
            }
        }
        Ok(())
    }

    /// RFC 7009 §2.1: the access token stops working, on this instance at once, and stays refused
    /// for as long as a verifier would accept it (`exp` plus the leeway).
    pub async fn deny_access_token(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        self.sessions.deny_access_token(jti, exp.saturating_add(self.leeway_secs)).await?;
        if let Some(denylist) = self.denylist {
            denylist.deny(jti);
        }
        Ok(())
    }

    /// RFC 6749 §4.1.2: a replayed code's grant — named after the code (`store::code_grant_id`) —
    /// is revoked whether or not its first redemption has finished: its refresh family if it exists
    /// by now, and its access token by `jti` (a grant without a family) or by family, for as long
    /// as a token minted now could live. A first redemption still in progress finds its
    /// redemption revoked and creates no family afterwards.
    pub async fn revoke_code_grant(&self, grant_id: &str, now: i64) -> Result<(), StoreError> {
        let until = now + self.denial_lifetime_secs;
        self.deny_access_token(grant_id, until).await?;
        self.sessions.deny_family_access_tokens(grant_id, until).await?;
        if let Some(denylist) = self.denylist {
            denylist.forget_all();
        }
        self.revoke_family(grant_id, now).await?;
        Ok(())
    }

    /// Revokes one family (and its access tokens); false if it did not exist.
    pub async fn revoke_family(&self, family_id: &str, now: i64) -> Result<Option<RevokedFamily>, StoreError> {
        let Some(revoked) = self.sessions.revoke_refresh_family(family_id).await? else { return Ok(None) };
        self.deny_family_tokens(&revoked, now).await?;
        Ok(Some(revoked))
    }

    /// Ends an SSO session: the session goes, its session-bound families are revoked (offline
    /// families survive, Back-Channel Logout §2.7), and every client of the session is notified
    /// by the delivery worker.
    pub async fn end_session(&self, session: &SsoSession, now: i64) -> Result<(), StoreError> {
        for delivery in self.end_session_unnotified(session, now).await? {
            self.sessions.enqueue_logout(&delivery, now).await?;
        }
        Ok(())
    }

    /// Ends an SSO session as `end_session` does, but hands back the session's back-channel
    /// notifications unqueued, for a caller that sends them itself before it answers
    /// (`oidc::backchannel::deliver_now`).
    pub async fn end_session_unnotified(
        &self,
        session: &SsoSession,
        now: i64,
    ) -> Result<Vec<LogoutDelivery>, StoreError> {
        // The clients as the session had them when it ended: one that joined since `session` was
        // read is notified too.
        let ended = self.sessions.delete_sso_session(&session.id).await?;
        let mut clients = session.clients.clone();
        for client in ended.iter().flat_map(|s| &s.clients) {
            if !clients.contains(client) {
                clients.push(client.clone());
            }
        }
        for family in self.sessions.refresh_families_of_user(&session.user_id).await? {
            if family.sid.as_deref() == Some(session.id.as_str()) {
                self.revoke_family(&family.id, now).await?;
                if !clients.contains(&family.client_id) {
                    clients.push(family.client_id);
                }
            }
        }
        let mut deliveries = Vec::new();
        for client_id in clients {
            deliveries.extend(self.logout_delivery(&client_id, &session.user_id, Some(&session.id), now).await?);
        }
        Ok(deliveries)
    }

    /// Ends every session and revokes every family of a user (left the corp, disabled, admin), and
    /// denies every access token of the user's authentications so far, including those of no family
    /// and any still to be minted from a code issued before (RFC 7662 §2.2: they are no longer
    /// active; RFC 7009 §2.1).
    pub async fn revoke_user(&self, user_id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        self.sessions.deny_user_access_tokens(user_id, now, now + self.denial_lifetime_secs).await?;
        if let Some(denylist) = self.denylist {
            denylist.forget_all();
        }
        let sessions = self.sessions.revoke_user_sessions(user_id).await?;
        for session in &sessions {
            self.end_session(session, now).await?;
        }
        for family in self.sessions.refresh_families_of_user(user_id).await? {
            if let Some(revoked) = self.revoke_family(&family.id, now).await? {
                self.notify(&revoked.family.client_id, user_id, revoked.family.sid.as_deref(), now).await?;
            }
        }
        self.audit(now, AuditKind::UserSessionsRevoked, Some(user_id), None, serde_json::json!({ "reason": reason }))
            .await;
        Ok(())
    }

    /// The user withdrew the client's consent (OIDC Core §3.1.2.4; a right PIPL gives users):
    /// every access token the client holds for the user issued up to `issued_until` is denied
    /// (also those of no family), every refresh-token family of the user at the client is revoked,
    /// and the client is told (Back-Channel Logout 1.0 §2.5): once per SSO session of the user it
    /// joined, with its `sid`, or once by `sub` alone. The user's SSO sessions and other clients
    /// are left alone.
    pub async fn revoke_client_grant(
        &self,
        user_id: &str,
        client_id: &str,
        issued_until: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let keep_until = now + self.denial_lifetime_secs;
        self.sessions.deny_client_access_tokens(user_id, client_id, issued_until, keep_until).await?;
        if let Some(denylist) = self.denylist {
            denylist.forget_all();
        }
        for family in self.sessions.refresh_families_of_user(user_id).await? {
            if family.client_id == client_id {
                self.revoke_family(&family.id, now).await?;
            }
        }
        let mut sids: Vec<String> = Vec::new();
        for session in self.sessions.sso_sessions_of_user(user_id).await? {
            if session.clients.iter().any(|c| c == client_id) {
                sids.push(session.id);
            }
        }
        if sids.is_empty() {
            self.notify(client_id, user_id, None, now).await?;
        }
        for sid in &sids {
            self.notify(client_id, user_id, Some(sid), now).await?;
        }
        Ok(())
    }

    /// A rotated-away refresh token came back: the family is already revoked by the store; its
    /// access tokens are denylisted and its client told (RFC 9700 §4.14.2).
    pub async fn after_reuse(&self, revoked: &RevokedFamily, now: i64) -> Result<(), StoreError> {
        self.deny_family_tokens(revoked, now).await?;
        crate::metrics::refresh_reuse_detected();
        let family = &revoked.family;
        tracing::warn!(client_id = %family.client_id, family = %family.id, "refresh token reuse detected; family revoked");
        self.audit(
            now,
            AuditKind::RefreshReuseDetected,
            Some(&family.user_id),
            Some(&family.client_id),
            serde_json::json!({ "family": family.id }),
        )
        .await;
        self.notify(&family.client_id, &family.user_id, family.sid.as_deref(), now).await
    }

    /// Queues a back-channel logout notification if the client registered an endpoint.
    async fn notify(&self, client_id: &str, sub: &str, sid: Option<&str>, now: i64) -> Result<(), StoreError> {
        match self.logout_delivery(client_id, sub, sid, now).await? {
            Some(delivery) => self.sessions.enqueue_logout(&delivery, now).await,
            None => Ok(()),
        }
    }

    /// The back-channel logout notification for a client, if it registered an endpoint.
    async fn logout_delivery(
        &self,
        client_id: &str,
        sub: &str,
        sid: Option<&str>,
        now: i64,
    ) -> Result<Option<LogoutDelivery>, StoreError> {
        let client = match self.directory.client(client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Ok(None),
            Err(e) => return Err(StoreError::Unavailable(e.to_string())),
        };
        let public_only = self.public_only_for_self_registered && client.registered_itself();
        let Some(uri) = client.backchannel_logout_uri else { return Ok(None) };
        Ok(Some(LogoutDelivery {
            id: crate::secrets::token(),
            client_id: client.id,
            uri,
            sub: sub.to_string(),
            sid: sid.map(str::to_string),
            attempts: 0,
            created_at: now,
            expires_at: now + self.backchannel_retry_window_secs,
            public_only,
        }))
    }

    async fn audit(
        &self,
        now: i64,
        kind: AuditKind,
        subject: Option<&str>,
        client_id: Option<&str>,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent {
            kind,
            actor: None,
            subject: subject.map(str::to_string),
            client_id: client_id.map(str::to_string),
            detail,
        };
        if let Err(e) = self.directory.record_audit(now, event).await {
            tracing::error!(error = %e, kind = kind.as_str(), "cannot record audit event");
        }
    }
}
