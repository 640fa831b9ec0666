//! Registered relying parties. Secrets are 256 random bits shown once and stored as SHA-256.

use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};
use serde::Serialize;

use super::entities::client;
use super::{Directory, DirectoryError, from_json, now, to_json};
use crate::random;

/// Scopes a client may ask for unless its registration narrows them.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "phone"];

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
}

impl Client {
    /// RFC 6749 §3.1.2.3 and OIDC Core §3.1.2.1: simple string comparison, except that a native
    /// (public) client's loopback redirect URI matches on any port (RFC 8252 §7.3).
    pub fn redirect_uri_registered(&self, candidate: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            random::secure_eq(registered.as_bytes(), candidate.as_bytes())
                || (self.public && loopback_matches_any_port(registered, candidate))
        })
    }

    pub fn verify_secret(&self, presented: &str) -> bool {
        match &self.secret_hash {
            Some(hash) => random::secure_eq(hash.as_bytes(), random::hash(presented).as_bytes()),
            None => false,
        }
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.allowed_scopes.iter().any(|s| s == scope)
    }

    fn from_model(m: client::Model) -> Result<Client, DirectoryError> {
        Ok(Client {
            redirect_uris: from_json(&m.redirect_uris, "clients.redirect_uris")?,
            post_logout_redirect_uris: from_json(&m.post_logout_redirect_uris, "clients.post_logout_redirect_uris")?,
            allowed_scopes: from_json(&m.allowed_scopes, "clients.allowed_scopes")?,
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

/// RFC 6749 §3.1.2 and RFC 9700 §2.6: absolute, no fragment, https unless loopback.
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not absolute: {e}"))?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!("redirect URI {uri:?} must use https (http only for loopback)")),
        // Private-use schemes of native apps (RFC 8252 §7.1) contain a dot, e.g. com.example.app.
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!("redirect URI {uri:?} has unsupported scheme {scheme:?}")),
    }
}

/// Client ids are short unreserved strings; a UUID is refused so that a client id can never
/// equal a user's `sub` (RFC 9700 §4.15.1).
pub fn validate_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("client id must be 1 to 128 characters".into());
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')) {
        return Err("client id may contain only A-Z a-z 0-9 - . _ ~".into());
    }
    if uuid::Uuid::parse_str(id).is_ok() {
        return Err("client id must not be a UUID (UUIDs are user subjects)".into());
    }
    Ok(())
}

impl Directory {
    /// Registers a client; for a confidential client returns the newly generated secret, which is
    /// never stored or shown again.
    pub async fn create_client(&self, new: NewClient) -> Result<(Client, Option<String>), DirectoryError> {
        validate_client_id(&new.id).map_err(DirectoryError::Invalid)?;
        if new.redirect_uris.is_empty() {
            return Err(DirectoryError::Invalid("at least one redirect URI is required".into()));
        }
        for uri in new.redirect_uris.iter().chain(&new.post_logout_redirect_uris) {
            validate_redirect_uri(uri).map_err(DirectoryError::Invalid)?;
        }
        let allowed_scopes = match new.allowed_scopes {
            Some(scopes) => {
                if !scopes.iter().any(|s| s == "openid") {
                    return Err(DirectoryError::Invalid("allowed scopes must include openid".into()));
                }
                scopes
            }
            None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        };
        let secret = (!new.public).then(random::token);
        let model = client::ActiveModel {
            id: Set(new.id.clone()),
            name: Set(new.name.unwrap_or_else(|| new.id.clone())),
            secret_hash: Set(secret.as_deref().map(random::hash)),
            redirect_uris: Set(to_json(&new.redirect_uris)),
            post_logout_redirect_uris: Set(to_json(&new.post_logout_redirect_uris)),
            public: Set(new.public),
            first_party: Set(new.first_party),
            allowed_scopes: Set(to_json(&allowed_scopes)),
            created_at: Set(now()),
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

    /// Returns whether a client was removed.
    pub async fn remove_client(&self, id: &str) -> Result<bool, DirectoryError> {
        let result = client::Entity::delete_by_id(id.to_string()).exec(&self.db).await?;
        Ok(result.rows_affected > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str], public: bool) -> Client {
        Client {
            id: "c".into(),
            name: "c".into(),
            secret_hash: None,
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            public,
            first_party: false,
            allowed_scopes: vec!["openid".into()],
            created_at: 0,
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

    #[test]
    fn rfc6749_3_1_2_redirect_uris_are_absolute_without_fragment_and_https() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(validate_redirect_uri("http://app.example/cb").is_err());
        assert!(validate_redirect_uri("/cb").is_err());
        assert!(validate_redirect_uri("https://app.example/cb#frag").is_err());
    }

    #[test]
    fn rfc9700_4_15_1_client_ids_never_look_like_subjects() {
        assert!(validate_client_id("grafana").is_ok());
        assert!(validate_client_id("2f1c3c1e-8a43-4a55-b5a8-0c7d7ad1b0f1").is_err());
        assert!(validate_client_id("a b").is_err());
        assert!(validate_client_id("").is_err());
    }
}
