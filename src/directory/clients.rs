//! Registered relying parties. Secrets are 256 random bits shown once and stored as SHA-256.

use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};
use serde::Serialize;

use super::client_metadata::{
    redirects_users, signs_users_in, validate_client_id, validate_client_keys, validate_grant_types,
    validate_organisations, validate_redirect_uri, validate_resource_scopes, validate_resource_uri, validate_scopes,
    validate_token_ttl,
};
use super::entities::client;
use super::{Directory, DirectoryError, from_json, now, to_json};
use crate::secrets;

/// Scopes a client may ask for unless its registration lists them. `roles`, `groups`, `dingtalk`
/// and `admin` are opt-in (`--scope`, `allowed_scopes`): they disclose org-chart data or grant
/// admin access, so a client gets them only when registered for them (docs/connecting-apps.md).
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "offline_access"];

/// Grant types a client may use unless its registration narrows them.
pub const DEFAULT_GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Client {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (native or browser app) holds no secret and must use PKCE.
    pub public: bool,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    pub allowed_scopes: Vec<String>,
    pub created_at: i64,
    /// RFC 9700 §4.14.2: whether this client gets refresh tokens at all is decided per client.
    pub grant_types: Vec<String>,
    /// Back-Channel Logout 1.0 §2.2.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// May introspect tokens issued to other clients (RFC 7662 §2.2: a protected resource).
    pub resource_server: bool,
    pub refresh_idle_ttl_secs: Option<i64>,
    pub refresh_absolute_ttl_secs: Option<i64>,
    /// OIDC Core §12.2 lets a refresh response omit the ID token; per client.
    pub id_token_on_refresh: bool,
    /// This client's access-token lifetime; `None`: `tokens.access_token_ttl_secs`.
    pub access_token_ttl_secs: Option<u64>,
    /// This client's ID-token lifetime; `None`: `tokens.id_token_ttl_secs`. Applications that keep
    /// the ID token as their session (Argo CD) need it longer than the default.
    pub id_token_ttl_secs: Option<u64>,
    /// The organisations (corp ids) whose users may sign in to this client; empty: the default
    /// organisation only (`dingtalk::Organisations::accepted_by`).
    pub organisations: Vec<String>,
    /// The API this client stands for (RFC 8707 §2: its resource indicator, the `aud` of tokens
    /// issued for it), when it is a resource server.
    pub resource_uri: Option<String>,
    /// The scopes that API defines (what a token for it may carry).
    pub resource_scopes: Vec<String>,
    /// RFC 9126 §6: authorization requests only through the pushed authorization request
    /// endpoint (`request_uri`), so no request parameter travels through the browser.
    pub require_pushed_authorization_requests: bool,
    /// The public JWK Set the client signs its assertions with (`private_key_jwt`, OIDC Core
    /// §9), as registered (JSON text).
    pub jwks: Option<String>,
    /// Where the client serves that set instead.
    pub jwks_uri: Option<String>,
    /// SHA-256 of the registration access token of a dynamically registered client (RFC 7592 §1).
    #[serde(skip)]
    pub registration_token_hash: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<String>,
    pub resource_server: bool,
    pub refresh_idle_ttl_secs: Option<i64>,
    pub refresh_absolute_ttl_secs: Option<i64>,
    /// Defaults to true.
    pub id_token_on_refresh: Option<bool>,
    /// `None`: the global lifetime (`tokens.access_token_ttl_secs`).
    pub access_token_ttl_secs: Option<u64>,
    /// `None`: the global lifetime (`tokens.id_token_ttl_secs`).
    pub id_token_ttl_secs: Option<u64>,
    /// Empty: the default organisation only. The caller checks that each is configured.
    pub organisations: Vec<String>,
    /// A resource server's resource indicator (RFC 8707); the caller checks that it is unique and
    /// not one of the provider's own.
    pub resource_uri: Option<String>,
    pub resource_scopes: Vec<String>,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: bool,
    /// A confidential client's public JWK Set (JSON) or its URI, at most one: the client then
    /// authenticates with `private_key_jwt` and gets no secret.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// SHA-256 of the registration access token, for a client registered dynamically (RFC 7592),
    /// written with the client so that it never exists without one.
    pub registration_token_hash: Option<String>,
}

/// Changes to a registered client; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `Some(None)` removes the back-channel logout URI.
    pub backchannel_logout_uri: Option<Option<String>>,
    pub first_party: Option<bool>,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub resource_server: Option<bool>,
    pub id_token_on_refresh: Option<bool>,
    /// `Some(None)` goes back to the global lifetime.
    pub access_token_ttl_secs: Option<Option<u64>>,
    /// `Some(None)` goes back to the global lifetime.
    pub id_token_ttl_secs: Option<Option<u64>>,
    /// `Some(vec![])` goes back to the default organisation only.
    pub organisations: Option<Vec<String>>,
    /// `Some(None)` makes the client no resource server.
    pub resource_uri: Option<Option<String>>,
    pub resource_scopes: Option<Vec<String>>,
    pub require_pushed_authorization_requests: Option<bool>,
    /// `Some(None)` removes the inline JWK Set; setting one (or a URI) removes the client's secret.
    pub jwks: Option<Option<String>>,
    /// `Some(None)` removes the JWK Set URI.
    pub jwks_uri: Option<Option<String>>,
}

impl Client {
    /// Registered by the client itself (RFC 7591), not by an admin: its URIs are a stranger's
    /// choice (`outbound`).
    pub fn registered_itself(&self) -> bool {
        self.registration_token_hash.is_some()
    }

    /// RFC 6749 §3.1.2.3 and OIDC Core §3.1.2.1: simple string comparison, except that a native
    /// (public) client's loopback redirect URI matches on any port (RFC 8252 §7.3).
    pub fn redirect_uri_registered(&self, candidate: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            secrets::secure_eq(registered.as_bytes(), candidate.as_bytes())
                || (self.public && loopback_matches_any_port(registered, candidate))
        })
    }

    /// OIDC Core §9: the client proves itself with a JWT signed by a key of its registered set.
    pub fn uses_private_key_jwt(&self) -> bool {
        self.jwks.is_some() || self.jwks_uri.is_some()
    }

    /// Its `token_endpoint_auth_method` (RFC 7591 §2); a client secret goes in the Basic header
    /// or the body, both accepted.
    pub fn token_endpoint_auth_method(&self) -> &'static str {
        match (self.public, self.uses_private_key_jwt()) {
            (true, _) => "none",
            (false, true) => "private_key_jwt",
            (false, false) => "client_secret_basic",
        }
    }

    pub fn verify_secret(&self, presented: &str) -> bool {
        match &self.secret_hash {
            Some(hash) => secrets::secure_eq(hash.as_bytes(), secrets::hash(presented).as_bytes()),
            None => false,
        }
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.allowed_scopes.iter().any(|s| s == scope)
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// RP-Initiated Logout 1.0 §3: exact match against the registered values.
    pub fn post_logout_redirect_uri_registered(&self, candidate: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| secrets::secure_eq(r.as_bytes(), candidate.as_bytes()))
    }

    fn from_model(m: client::Model) -> Result<Client, DirectoryError> {
        Ok(Client {
            redirect_uris: from_json(&m.redirect_uris, "clients.redirect_uris")?,
            post_logout_redirect_uris: from_json(&m.post_logout_redirect_uris, "clients.post_logout_redirect_uris")?,
            allowed_scopes: from_json(&m.allowed_scopes, "clients.allowed_scopes")?,
            grant_types: from_json(&m.grant_types, "clients.grant_types")?,
            backchannel_logout_uri: m.backchannel_logout_uri,
            backchannel_logout_session_required: m.backchannel_logout_session_required,
            resource_server: m.resource_server,
            refresh_idle_ttl_secs: m.refresh_idle_ttl_secs,
            refresh_absolute_ttl_secs: m.refresh_absolute_ttl_secs,
            id_token_on_refresh: m.id_token_on_refresh,
            // A negative value cannot be written through `validate_token_ttl`; read as unset.
            access_token_ttl_secs: m.access_token_ttl_secs.and_then(|s| u64::try_from(s).ok()),
            id_token_ttl_secs: m.id_token_ttl_secs.and_then(|s| u64::try_from(s).ok()),
            organisations: from_json(&m.organisations, "clients.organisations")?,
            resource_scopes: from_json(&m.resource_scopes, "clients.resource_scopes")?,
            resource_uri: m.resource_uri,
            require_pushed_authorization_requests: m.require_pushed_authorization_requests,
            jwks: m.jwks,
            jwks_uri: m.jwks_uri,
            registration_token_hash: m.registration_token_hash,
            id: m.id,
            name: m.name,
            secret_hash: m.secret_hash,
            public: m.public,
            first_party: m.first_party,
            created_at: m.created_at,
        })
    }
}

fn loopback_matches_any_port(registered: &str, candidate: &str) -> bool {
    let (Ok(r), Ok(c)) = (url::Url::parse(registered), url::Url::parse(candidate)) else {
        return false;
    };
    let is_loopback_ip = |u: &url::Url| matches!(u.host_str(), Some("127.0.0.1" | "[::1]"));
    r.scheme() == "http"
        && c.scheme() == "http"
        && is_loopback_ip(&r)
        && r.host_str() == c.host_str()
        && r.path() == c.path()
        && r.query() == c.query()
        && r.fragment().is_none()
        && c.fragment().is_none()
        // Compare the original text apart from the port, so no normalisation sneaks in.
        && strip_port(registered) == strip_port(candidate)
}

fn strip_port(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let after = &uri[scheme_end + 3..];
    let authority_end = after.find('/').unwrap_or(after.len());
    let authority = &after[..authority_end];
    let host = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    format!("{}{}{}", &uri[..scheme_end + 3], host, &after[authority_end..])
}

impl Directory {
    /// Registers a client; for a confidential client returns the newly generated secret, which is
    /// never stored or shown again.
    pub async fn create_client(&self, new: NewClient) -> Result<(Client, Option<String>), DirectoryError> {
        validate_client_id(&new.id).map_err(DirectoryError::Invalid)?;
        let grant_types = match new.grant_types {
            Some(grants) => validate_grant_types(grants, new.public)?,
            None => DEFAULT_GRANT_TYPES.iter().map(|s| s.to_string()).collect(),
        };
        let signs_users_in = signs_users_in(&grant_types);
        // A service that only uses client credentials (RFC 6749 §4.4), or a device (RFC 8628),
        // redirects nobody.
        if redirects_users(&grant_types) && new.redirect_uris.is_empty() {
            return Err(DirectoryError::Invalid("at least one redirect URI is required".into()));
        }
        for uri in new.redirect_uris.iter().chain(&new.post_logout_redirect_uris).chain(&new.backchannel_logout_uri) {
            validate_redirect_uri(uri).map_err(DirectoryError::Invalid)?;
        }
        let allowed_scopes = match new.allowed_scopes {
            Some(scopes) => validate_scopes(scopes, signs_users_in)?,
            None if signs_users_in => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            None => Vec::new(),
        };
        let resource_uri = new.resource_uri.map(|u| validate_resource_uri(&u)).transpose()?;
        let resource_scopes = validate_resource_scopes(new.resource_scopes)?;
        for ttl in [new.refresh_idle_ttl_secs, new.refresh_absolute_ttl_secs].into_iter().flatten() {
            if ttl <= 0 {
                return Err(DirectoryError::Invalid("refresh token lifetimes must be positive".into()));
            }
        }
        let access_token_ttl_secs = validate_token_ttl("access_token_ttl_secs", new.access_token_ttl_secs)?;
        let id_token_ttl_secs = validate_token_ttl("id_token_ttl_secs", new.id_token_ttl_secs)?;
        let (jwks, jwks_uri) = validate_client_keys(new.jwks, new.jwks_uri, new.public)?;
        // A client with keys proves itself with them only: a secret beside them would be a
        // weaker second way in.
        let secret = (!new.public && jwks.is_none() && jwks_uri.is_none()).then(secrets::token);
        let model = client::ActiveModel {
            id: Set(new.id.clone()),
            name: Set(new.name.unwrap_or_else(|| new.id.clone())),
            secret_hash: Set(secret.as_deref().map(secrets::hash)),
            redirect_uris: Set(to_json(&new.redirect_uris)),
            post_logout_redirect_uris: Set(to_json(&new.post_logout_redirect_uris)),
            public: Set(new.public),
            first_party: Set(new.first_party),
            allowed_scopes: Set(to_json(&allowed_scopes)),
            created_at: Set(now()),
            grant_types: Set(to_json(&grant_types)),
            backchannel_logout_uri: Set(new.backchannel_logout_uri),
            backchannel_logout_session_required: Set(true),
            resource_server: Set(new.resource_server),
            refresh_idle_ttl_secs: Set(new.refresh_idle_ttl_secs),
            refresh_absolute_ttl_secs: Set(new.refresh_absolute_ttl_secs),
            id_token_on_refresh: Set(new.id_token_on_refresh.unwrap_or(true)),
            access_token_ttl_secs: Set(access_token_ttl_secs),
            id_token_ttl_secs: Set(id_token_ttl_secs),
            organisations: Set(to_json(&validate_organisations(new.organisations)?)),
            resource_uri: Set(resource_uri),
            resource_scopes: Set(to_json(&resource_scopes)),
            require_pushed_authorization_requests: Set(new.require_pushed_authorization_requests),
            jwks: Set(jwks),
            jwks_uri: Set(jwks_uri),
            registration_token_hash: Set(new.registration_token_hash),
        };
        client::Entity::insert(model)
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| DirectoryError::from_write(e, &format!("client {:?}", new.id)))?;
        let created = self
            .client(&new.id)
            .await?
            .ok_or_else(|| DirectoryError::Corrupt("client vanished after insert".into()))?;
        Ok((created, secret))
    }

    pub async fn client(&self, id: &str) -> Result<Option<Client>, DirectoryError> {
        client::Entity::find_by_id(id.to_string()).one(&self.db).await?.map(Client::from_model).transpose()
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, DirectoryError> {
        client::Entity::find()
            .order_by_asc(client::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Client::from_model)
            .collect()
    }

    /// Applies `update`; `Ok(None)` when there is no such client.
    pub async fn update_client(&self, id: &str, update: ClientUpdate) -> Result<Option<Client>, DirectoryError> {
        use sea_orm::ActiveModelTrait;
        let Some(row) = client::Entity::find_by_id(id.to_string()).one(&self.db).await? else {
            return Ok(None);
        };
        let grants: Vec<String> = match update.grant_types {
            Some(grants) => validate_grant_types(grants, row.public)?,
            None => from_json(&row.grant_types, "clients.grant_types")?,
        };
        let redirects_users = redirects_users(&grants);
        let signs_users_in = signs_users_in(&grants);
        let (old_jwks, old_jwks_uri, public) = (row.jwks.clone(), row.jwks_uri.clone(), row.public);
        let mut model: client::ActiveModel = row.into();
        model.grant_types = Set(to_json(&grants));
        if let Some(name) = update.name {
            model.name = Set(name);
        }
        if let Some(uris) = update.redirect_uris {
            if uris.is_empty() && redirects_users {
                return Err(DirectoryError::Invalid("at least one redirect URI is required".into()));
            }
            uris.iter().try_for_each(|u| validate_redirect_uri(u)).map_err(DirectoryError::Invalid)?;
            model.redirect_uris = Set(to_json(&uris));
        }
        if let Some(uris) = update.post_logout_redirect_uris {
            uris.iter().try_for_each(|u| validate_redirect_uri(u)).map_err(DirectoryError::Invalid)?;
            model.post_logout_redirect_uris = Set(to_json(&uris));
        }
        if let Some(uri) = update.backchannel_logout_uri {
            if let Some(uri) = &uri {
                validate_redirect_uri(uri).map_err(DirectoryError::Invalid)?;
            }
            model.backchannel_logout_uri = Set(uri);
        }
        if let Some(first_party) = update.first_party {
            model.first_party = Set(first_party);
        }
        if let Some(scopes) = update.allowed_scopes {
            model.allowed_scopes = Set(to_json(&validate_scopes(scopes, signs_users_in)?));
        }
        if let Some(uri) = update.resource_uri {
            model.resource_uri = Set(uri.map(|u| validate_resource_uri(&u)).transpose()?);
        }
        if let Some(scopes) = update.resource_scopes {
            model.resource_scopes = Set(to_json(&validate_resource_scopes(scopes)?));
        }
        if update.jwks.is_some() || update.jwks_uri.is_some() {
            let jwks = update.jwks.unwrap_or(old_jwks);
            let jwks_uri = update.jwks_uri.unwrap_or(old_jwks_uri);
            let (jwks, jwks_uri) = validate_client_keys(jwks, jwks_uri, public)?;
            if jwks.is_some() || jwks_uri.is_some() {
                model.secret_hash = Set(None);
            }
            model.jwks = Set(jwks);
            model.jwks_uri = Set(jwks_uri);
        }
        if let Some(required) = update.require_pushed_authorization_requests {
            model.require_pushed_authorization_requests = Set(required);
        }
        if let Some(resource_server) = update.resource_server {
            model.resource_server = Set(resource_server);
        }
        if let Some(id_token_on_refresh) = update.id_token_on_refresh {
            model.id_token_on_refresh = Set(id_token_on_refresh);
        }
        if let Some(ttl) = update.access_token_ttl_secs {
            model.access_token_ttl_secs = Set(validate_token_ttl("access_token_ttl_secs", ttl)?);
        }
        if let Some(ttl) = update.id_token_ttl_secs {
            model.id_token_ttl_secs = Set(validate_token_ttl("id_token_ttl_secs", ttl)?);
        }
        if let Some(organisations) = update.organisations {
            model.organisations = Set(to_json(&validate_organisations(organisations)?));
        }
        let updated = model.update(&self.db).await;
        // After the write: a read racing it cannot put the old row back (see crate::cache).
        self.client_changed(id);
        Client::from_model(updated?).map(Some)
    }

    /// A new secret for a confidential client (returned once, stored hashed). `Ok(None)` when
    /// there is no such client; a public client has no secret to rotate.
    pub async fn rotate_client_secret(&self, id: &str) -> Result<Option<String>, DirectoryError> {
        use sea_orm::ActiveModelTrait;
        let Some(row) = client::Entity::find_by_id(id.to_string()).one(&self.db).await? else {
            return Ok(None);
        };
        if row.public {
            return Err(DirectoryError::Invalid("id: a public client has no secret".into()));
        }
        if row.jwks.is_some() || row.jwks_uri.is_some() {
            return Err(DirectoryError::Invalid(
                "id: this client authenticates with private_key_jwt; remove its keys to give it a secret".into(),
            ));
        }
        let secret = secrets::token();
        let mut model: client::ActiveModel = row.into();
        model.secret_hash = Set(Some(secrets::hash(&secret)));
        let updated = model.update(&self.db).await;
        self.client_changed(id);
        updated?;
        Ok(Some(secret))
    }

    /// Returns whether a client was removed.
    pub async fn remove_client(&self, id: &str) -> Result<bool, DirectoryError> {
        let result = client::Entity::delete_by_id(id.to_string()).exec(&self.db).await;
        self.client_changed(id);
        Ok(result?.rows_affected > 0)
    }
}

#[cfg(test)]
impl Client {
    /// A confidential client with no redirect URI, no scope and no grant, and every setting at its
    /// default: unit tests change what they are about with struct update syntax.
    pub(crate) fn for_tests(id: &str) -> Client {
        Client {
            id: id.into(),
            name: id.into(),
            secret_hash: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            first_party: false,
            allowed_scopes: vec![],
            created_at: 0,
            grant_types: vec![],
            backchannel_logout_uri: None,
            backchannel_logout_session_required: true,
            resource_server: false,
            refresh_idle_ttl_secs: None,
            refresh_absolute_ttl_secs: None,
            id_token_on_refresh: true,
            access_token_ttl_secs: None,
            id_token_ttl_secs: None,
            organisations: vec![],
            resource_uri: None,
            resource_scopes: vec![],
            require_pushed_authorization_requests: false,
            jwks: None,
            jwks_uri: None,
            registration_token_hash: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str], public: bool) -> Client {
        Client {
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            public,
            allowed_scopes: vec!["openid".into()],
            grant_types: vec!["authorization_code".into()],
            ..Client::for_tests("c")
        }
    }

    #[test]
    fn rfc6749_3_1_2_3_redirect_uri_is_compared_as_a_plain_string() {
        let c = client(&["https://c.example/cb"], false);
        assert!(c.redirect_uri_registered("https://c.example/cb"));
        for variant in [
            "https://C.EXAMPLE/cb",
            "https://c.example:443/cb",
            "https://c.example/cb/",
            "https://c.example/cb?x=1",
            "https://c.example/CB",
            "https://c.example/c%62",
        ] {
            assert!(!c.redirect_uri_registered(variant), "{variant} must not match");
        }
    }

    #[test]
    fn rfc8252_7_3_loopback_redirect_matches_any_port_for_native_clients_only() {
        let native = client(&["http://127.0.0.1/cb"], true);
        assert!(native.redirect_uri_registered("http://127.0.0.1:53124/cb"));
        assert!(!native.redirect_uri_registered("http://127.0.0.1:53124/cb2"));
        assert!(!native.redirect_uri_registered("http://localhost:53124/cb"));
        let confidential = client(&["http://127.0.0.1/cb"], false);
        assert!(!confidential.redirect_uri_registered("http://127.0.0.1:53124/cb"));
    }
}
