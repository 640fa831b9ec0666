//! SSO sessions in Redis: a hash per session under `ssn:` ('j' its record as created, 'ls' its last
//! use, 'c' its clients, updated in place), and a set of a user's sessions under `usso:`.

use async_trait::async_trait;
use fred::prelude::*;

use super::{RedisSessionStore, unavailable};
use crate::store::codec::{decode, encode};
use crate::store::ttl::now;
use crate::store::{SsoSession, SsoSessionStore, StoreError};

impl RedisSessionStore {
    /// A session is a hash under `ssn:` (string records under `sso:` predate session secrets and
    /// are never read).
    pub(super) fn session_key(&self, sid: &str) -> String {
        self.key("ssn", sid)
    }

    /// A session from `SESSION_TAKE_LUA`'s or `HMGET j ls c`'s fields.
    pub(super) fn session_from_fields(fields: &[Option<String>]) -> Result<Option<SsoSession>, StoreError> {
        let Some(Some(json)) = fields.first() else { return Ok(None) };
        let mut session: SsoSession = decode(json)?;
        if let Some(Some(last_seen)) = fields.get(1) {
            session.last_seen_at = last_seen.parse().unwrap_or(session.last_seen_at);
        }
        if let Some(Some(clients)) = fields.get(2) {
            session.clients = clients.split(' ').filter(|c| !c.is_empty()).map(str::to_string).collect();
        }
        Ok(Some(session))
    }

    pub(super) async fn read_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        let fields: Vec<Option<String>> =
            self.pool.hmget(self.session_key(sid), vec!["j", "ls", "c"]).await.map_err(unavailable)?;
        RedisSessionStore::session_from_fields(&fields)
    }

    pub(super) async fn take_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        let fields: Vec<Option<String>> = self
            .scripts
            .session_take
            .evalsha_with_reload(self.pool.next(), vec![self.session_key(sid)], Vec::<String>::new())
            .await
            .map_err(unavailable)?;
        RedisSessionStore::session_from_fields(&fields)
    }
}

#[async_trait]
impl SsoSessionStore for RedisSessionStore {
    async fn put_sso_session(&self, session: &SsoSession) -> Result<(), StoreError> {
        let key = self.session_key(&session.id);
        if session.expires_at <= now() {
            let _: i64 = self.pool.del(key).await.map_err(unavailable)?;
            return Ok(());
        }
        let _: i64 = self
            .scripts
            .session_put
            .evalsha_with_reload(
                self.pool.next(),
                vec![key],
                vec![
                    encode(session)?,
                    session.expires_at.to_string(),
                    session.last_seen_at.to_string(),
                    session.clients.join(" "),
                ],
            )
            .await
            .map_err(unavailable)?;
        self.add_to_index(self.key("usso", &session.user_id), &session.id, session.expires_at).await
    }

    async fn get_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        self.read_session(sid).await
    }

    async fn note_sso_session_use(&self, sid: &str, now: i64, client: Option<&str>) -> Result<bool, StoreError> {
        let used: i64 = self
            .scripts
            .session_use
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.session_key(sid)],
                vec![now.to_string(), client.unwrap_or_default().to_string()],
            )
            .await
            .map_err(unavailable)?;
        Ok(used == 1)
    }

    async fn delete_sso_session(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        let taken = self.take_session(sid).await?;
        if let Some(session) = &taken {
            self.prune(&self.key("usso", &session.user_id), sid).await?;
        }
        Ok(taken)
    }

    async fn sso_sessions_of_user(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError> {
        let index = self.key("usso", user_id);
        let mut live = Vec::new();
        for sid in self.members(&index).await? {
            match self.read_session(&sid).await? {
                Some(session) => live.push(session),
                None => self.prune(&index, &sid).await?,
            }
        }
        Ok(live)
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> Result<Vec<SsoSession>, StoreError> {
        let index = self.key("usso", user_id);
        let mut ended = Vec::new();
        for sid in self.members(&index).await? {
            if let Some(session) = self.take_session(&sid).await? {
                ended.push(session);
            }
            self.prune(&index, &sid).await?;
        }
        Ok(ended)
    }
}
