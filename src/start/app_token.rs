//! The DingTalk app token, shared between the instances through the SessionStore.

use std::sync::Arc;

use crate::store::SessionStore;

/// The DingTalk app token shared through the SessionStore, so the instances fetch one between
/// them. It is a credential (it reads the organisation's directory), so the store holds it sealed
/// under the DingTalk app secret, which every instance has and the store never sees.
pub(super) struct StoreTokenCache {
    sessions: Arc<dyn SessionStore>,
    app_secret: String,
}

impl StoreTokenCache {
    pub(super) fn new(sessions: Arc<dyn SessionStore>, app_secret: &str) -> StoreTokenCache {
        StoreTokenCache { sessions, app_secret: app_secret.to_string() }
    }
}

/// What the shared app token is sealed for (see `sealed`).
const APP_TOKEN_SEAL: &str = "dingtalk-oidc shared dingtalk app token";

#[async_trait::async_trait]
impl crate::dingtalk::client::SharedTokenCache for StoreTokenCache {
    async fn get(&self, name: &str) -> Option<String> {
        let sealed = self.sessions.get_cached(name).await.ok().flatten()?;
        // A value sealed under another secret (the app secret was rotated) or written unsealed by
        // an earlier version is not used: the client fetches a fresh token.
        crate::sealed::open(APP_TOKEN_SEAL, self.app_secret.as_bytes(), &sealed)
    }

    async fn put(&self, name: &str, value: &str, ttl_secs: u64) {
        let Some(sealed) = crate::sealed::seal(APP_TOKEN_SEAL, self.app_secret.as_bytes(), value) else {
            tracing::warn!("cannot seal the DingTalk app token; it is not shared");
            return;
        };
        if let Err(e) = self.sessions.put_cached(name, &sealed, ttl_secs).await {
            tracing::warn!(error = %e, "cannot share the DingTalk app token");
        }
    }
}
