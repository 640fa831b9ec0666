//! What a client's registration may say: the rules every client setting is checked against when a
//! client is created or updated (`directory/clients.rs`), and the grant types the provider knows.

use super::DirectoryError;

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

/// `signs_users_in`: the client may use the authorization code or device grant, which are OpenID
/// Connect here.
pub(super) fn validate_scopes(scopes: Vec<String>, signs_users_in: bool) -> Result<Vec<String>, DirectoryError> {
    if signs_users_in && !scopes.iter().any(|s| s == "openid") {
        return Err(DirectoryError::Invalid("allowed scopes must include openid".into()));
    }
    if scopes.iter().any(|s| crate::scope::parse_scope(s).is_none_or(|parsed| parsed.len() != 1)) {
        return Err(DirectoryError::Invalid("a scope is malformed (RFC 6749 §3.3)".into()));
    }
    Ok(scopes)
}

/// The device authorization grant's type (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Grant types a client may be registered for.
pub const SUPPORTED_GRANT_TYPES: &[&str] =
    &["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT];

/// Whether a client with these grants signs users in (OpenID Connect: `openid` among its scopes).
pub(super) fn signs_users_in(grants: &[String]) -> bool {
    grants.iter().any(|g| g == "authorization_code" || g == DEVICE_CODE_GRANT)
}

/// Whether a client with these grants sends browsers back to a redirect URI.
pub(super) fn redirects_users(grants: &[String]) -> bool {
    grants.iter().any(|g| g == "authorization_code")
}

/// The authorization code grant, the device grant (RFC 8628), or both (each with or without refresh
/// tokens), and/or client credentials; client credentials only for a confidential client
/// (RFC 6749 §4.4: it authenticates).
pub(super) fn validate_grant_types(grants: Vec<String>, public: bool) -> Result<Vec<String>, DirectoryError> {
    if let Some(other) = grants.iter().find(|g| !SUPPORTED_GRANT_TYPES.contains(&g.as_str())) {
        return Err(DirectoryError::Invalid(format!("unsupported grant type {other:?}")));
    }
    let has = |g: &str| grants.iter().any(|x| x == g);
    let device = DEVICE_CODE_GRANT;
    if !has("authorization_code") && !has("client_credentials") && !has(device) {
        return Err(DirectoryError::Invalid(format!(
            "grant types must include authorization_code, {device} or client_credentials"
        )));
    }
    if has("refresh_token") && !has("authorization_code") && !has(device) {
        return Err(DirectoryError::Invalid(format!("refresh_token goes with authorization_code or {device}")));
    }
    if public && has("client_credentials") {
        return Err(DirectoryError::Invalid("client_credentials needs a confidential client".into()));
    }
    let mut unique: Vec<String> = Vec::with_capacity(grants.len());
    for grant in grants {
        if !unique.contains(&grant) {
            unique.push(grant);
        }
    }
    Ok(unique)
}

/// A client's keys for `private_key_jwt`: an inline JWK Set or a URI, not both, for a
/// confidential client only; the set is kept as normalised JSON.
pub(super) fn validate_client_keys(
    jwks: Option<String>,
    jwks_uri: Option<String>,
    public: bool,
) -> Result<(Option<String>, Option<String>), DirectoryError> {
    let invalid = DirectoryError::Invalid;
    let jwks = jwks.filter(|j| !j.trim().is_empty());
    let jwks_uri = jwks_uri.filter(|u| !u.is_empty());
    if jwks.is_none() && jwks_uri.is_none() {
        return Ok((None, None));
    }
    if public {
        return Err(invalid("jwks: a public client proves nothing and registers no keys".into()));
    }
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(invalid("jwks: register the keys inline or by jwks_uri, not both".into()));
    }
    if let Some(uri) = &jwks_uri {
        super::client_keys::validate_jwks_uri(uri).map_err(invalid)?;
    }
    let jwks = match jwks {
        Some(text) => {
            super::client_keys::parse_jwk_set(&text).map_err(invalid)?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| invalid("jwks: not JSON".into()))?;
            Some(value.to_string())
        }
        None => None,
    };
    Ok((jwks, jwks_uri))
}

/// RFC 8707 §2: an absolute URI without a fragment; https, or http on this machine (development).
pub(super) fn validate_resource_uri(uri: &str) -> Result<String, DirectoryError> {
    let invalid = || DirectoryError::Invalid("resource_uri: an absolute https URI without a fragment".into());
    let parsed = url::Url::parse(uri).map_err(|_| invalid())?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let scheme_ok = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    if !scheme_ok || parsed.fragment().is_some() || uri.len() > 512 || parsed.cannot_be_a_base() {
        return Err(invalid());
    }
    Ok(uri.to_string())
}

/// An API's own scopes: scope tokens (RFC 6749 §3.3), each once, none of the provider's own (whose
/// meaning is fixed: OpenID Connect's, and `roles`, `groups`, `dingtalk`, `admin`).
pub(super) fn validate_resource_scopes(scopes: Vec<String>) -> Result<Vec<String>, DirectoryError> {
    const OWN: &[&str] =
        &["openid", "profile", "email", "phone", "offline_access", "roles", "groups", "dingtalk", "admin"];
    let mut unique: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        if crate::scope::parse_scope(&scope).is_none_or(|parsed| parsed.len() != 1) {
            return Err(DirectoryError::Invalid("resource_scopes: a scope is malformed (RFC 6749 §3.3)".into()));
        }
        if OWN.contains(&scope.as_str()) {
            return Err(DirectoryError::Invalid(format!("resource_scopes: {scope:?} is one of the provider's own")));
        }
        if !unique.contains(&scope) {
            unique.push(scope);
        }
    }
    Ok(unique)
}

/// A per-client token lifetime must lie within the bounds every token relies on
/// (`tokens::lifetime`); the message starts with the field's name.
pub(super) fn validate_token_ttl(field: &str, secs: Option<u64>) -> Result<Option<i64>, DirectoryError> {
    let Some(secs) = secs else { return Ok(None) };
    crate::config::check_token_ttl(secs).map_err(|problem| DirectoryError::Invalid(format!("{field}: {problem}")))?;
    // Within the bounds, so it fits.
    Ok(Some(secs as i64))
}

/// Corp ids as DingTalk writes them (`ding` plus hex, in practice): short printable tokens, each
/// once, in the order given.
pub(super) fn validate_organisations(organisations: Vec<String>) -> Result<Vec<String>, DirectoryError> {
    let mut unique = Vec::with_capacity(organisations.len());
    for corp in organisations {
        let corp = corp.trim().to_owned();
        let ok = !corp.is_empty()
            && corp.len() <= 64
            && corp.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(DirectoryError::Invalid(format!("organisations: {corp:?} is not a corp id")));
        }
        if !unique.contains(&corp) {
            unique.push(corp);
        }
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

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
