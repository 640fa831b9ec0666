//! The application state every handler receives: explicit, behind one `Arc`, no globals. Built by
//! the start-up (`start`); this module holds only the state and the handles it lends out.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::dingtalk::Organisations;
use crate::directory::Directory;
use crate::keys::{Kek, KeyError, Keys, Rotation};
use crate::revocation::Revocation;
use crate::store::SessionStore;
use crate::tokens::Verifier;
use crate::tokens::mint::TokenIssuer;
use crate::web::cookies::CookiePolicy;
use crate::web::cors::RegisteredOrigins;
use crate::web::rendered::RenderedDocument;

pub struct App {
    pub config: Config,
    /// The issuer without a trailing slash; endpoint URLs are this plus a path.
    pub issuer: String,
    /// RFC 9068 §3 resource identifiers of our access tokens, derived once from the issuer so the
    /// verifying endpoints (userinfo, introspection, revocation, admin) do not format them per request.
    pub userinfo_audience: String,
    pub admin_audience: String,
    pub directory: Directory,
    pub sessions: Arc<dyn SessionStore>,
    pub keys: Arc<Keys>,
    /// Verifies our access tokens, with its caches (see `tokens::verifier`).
    pub verifier: Verifier,
    /// Each DingTalk organisation's app, the default one first.
    pub organisations: Organisations,
    pub cookies: CookiePolicy,
    /// Discovery metadata rendered once (it changes only with the config).
    pub discovery: RenderedDocument,
    /// Names this process when it takes a lease (sweeper, key rotation).
    pub instance_id: String,
    /// Protocol time (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// Opens the sealed signing keys when the ring is rebuilt.
    pub kek: Kek,
    /// SHA-256 of the bootstrap admin token (the token itself is not kept).
    pub admin_token_hash: Option<String>,
    /// Per-instance rate limits.
    pub limits: Arc<crate::web::limits::Limits>,
    /// How the client's address is found behind `server.trusted_proxies`.
    pub client_addr: Arc<crate::web::client_addr::ClientAddrRule>,
    /// Delivers back-channel logout tokens (bounded timeout, no redirects); a self-registered
    /// client's only to a public address (`outbound`).
    pub backchannel_http: crate::outbound::Callers,
    /// The keys `private_key_jwt` clients sign with, parsed or fetched once (`oidc::client_assertion`).
    pub client_keys: crate::directory::client_keys::ClientKeySets,
    /// Set when shutting down; counts the requests in flight (see `drain`).
    pub drain: Arc<crate::drain::Drain>,
}

impl App {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// What minting our tokens needs (`tokens::mint`).
    pub fn token_issuer(&self) -> TokenIssuer<'_> {
        TokenIssuer { keys: &self.keys, issuer: &self.issuer }
    }

    pub fn rotation(&self) -> Rotation<'_> {
        Rotation {
            directory: &self.directory,
            kek: &self.kek,
            sessions: self.sessions.as_ref(),
            config: &self.config.keys,
            retire_grace_secs: crate::keys::retire_grace_secs(&self.config),
            holder: &self.instance_id,
        }
    }

    /// Picks up key changes made elsewhere (or due by time) and performs the scheduled rotation
    /// (`keys::maintenance`).
    pub async fn maintain_keys(&self) -> Result<(), KeyError> {
        crate::keys::maintain_keys(&self.rotation(), &self.keys, self.now()).await
    }

    /// What recomputing a user's effective roles reads (`login::roles`).
    pub fn access_sources(&self) -> crate::login::roles::AccessSources<'_> {
        crate::login::roles::AccessSources { directory: &self.directory, organisations: &self.organisations }
    }

    pub fn revocation(&self) -> Revocation<'_> {
        Revocation::new(&self.config, self.sessions.as_ref(), &self.directory, Some(self.verifier.denylist()))
    }

    pub fn endpoint_url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

/// CORS (`web::cors`) permits the origins of the registered redirect URIs, from the directory's
/// cache.
#[async_trait::async_trait]
impl RegisteredOrigins for App {
    async fn is_registered(&self, origin: &str) -> bool {
        match self.directory.registered_origins().await {
            Ok(origins) => origins.contains(origin),
            Err(_) => false,
        }
    }
}
