//! Minting our JWTs: the RFC 9068 access token and the OIDC ID token (OIDC Core §2, §12.2) of one
//! grant, signed by the key ring's active key.

use super::{AccessClaims, IdClaims, ProfileClaims, TokenLifetimes, access_audience, at_hash};
use crate::keys::ring::JwtType;
use crate::keys::{KeyError, Keys};

/// What minting needs of the provider: the signing keys and the issuer URL (the time is the
/// request's `iat`).
pub struct TokenIssuer<'a> {
    pub keys: &'a Keys,
    /// The issuer without a trailing slash.
    pub issuer: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("no signing key is active")]
    NoActiveKey,
    #[error("signing failed: {0}")]
    Sign(KeyError),
}

/// What to mint: the access token always, the ID token when asked.
pub struct MintRequest<'a> {
    pub client_id: &'a str,
    pub sub: &'a str,
    /// The scopes of these tokens (narrowed on refresh).
    pub scopes: &'a [String],
    /// Already restricted to `scopes`.
    pub claims: &'a ProfileClaims,
    pub sid: Option<&'a str>,
    pub auth_time: i64,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
    pub with_id_token: bool,
    /// Chosen by the caller, who records it with the grant (for revocation).
    pub jti: &'a str,
    pub iat: i64,
    /// The client's lifetimes (`TokenLifetimes::for_client`), the same the caller recorded with the
    /// grant for revocation.
    pub lifetimes: TokenLifetimes,
    /// RFC 8707 §2: the registered API the access token is for; `None`: the provider's own
    /// resources (RFC 9068 §3, by the scopes).
    pub resource: Option<&'a str>,
}

/// The signed tokens, and what the token response says about them.
pub struct Minted {
    pub access_token: String,
    pub id_token: Option<String>,
    pub expires_in: u64,
    pub scope: String,
}

/// Signs the access token (RFC 9068) and, for `openid` grants, the ID token (OIDC Core §2, §12.2).
pub fn mint(issuer: &TokenIssuer<'_>, m: &MintRequest<'_>) -> Result<Minted, MintError> {
    let ring = issuer.keys.ring();
    let signer = signer_at(&ring, m.iat)?;
    let scope = m.scopes.join(" ");
    let access = AccessClaims {
        iss: issuer.issuer.to_string(),
        sub: m.sub.to_string(),
        aud: match m.resource {
            Some(api) => api.to_string(),
            None => access_audience(issuer.issuer, m.scopes),
        },
        exp: m.lifetimes.access_exp(m.iat),
        iat: m.iat,
        jti: m.jti.to_string(),
        client_id: m.client_id.to_string(),
        scope: scope.clone(),
        sid: m.sid.map(str::to_string),
        auth_time: Some(m.auth_time),
        roles: m.claims.roles.clone(),
        groups: m.claims.groups.clone(),
    };
    let access_token = signer.sign(JwtType::Access, &access).map_err(signing_failed)?;
    let id_token = if m.with_id_token && m.scopes.iter().any(|s| s == "openid") {
        let hash = at_hash(&access_token);
        let claims = IdClaims {
            iss: issuer.issuer,
            sub: m.sub,
            aud: m.client_id,
            exp: m.lifetimes.id_exp(m.iat),
            iat: m.iat,
            auth_time: m.auth_time,
            nonce: m.nonce,
            at_hash: &hash,
            sid: m.sid,
            amr: m.amr,
            acr: crate::login::method::SignInMethod::of_amr(m.amr).acr(),
            profile: m.claims.clone(),
        };
        Some(signer.sign(JwtType::Id, &claims).map_err(signing_failed)?)
    } else {
        None
    };
    // RFC 6749 §5.1: expires_in is the access token's lifetime, the client's own if it has one.
    Ok(Minted { access_token, id_token, expires_in: m.lifetimes.access_secs, scope })
}

/// What a client's own access token (client credentials, RFC 6749 §4.4) says: RFC 9068 with the
/// client as `sub` (§2.2: no user), the API it is for as `aud` (RFC 8707 §2), and no user claim.
pub struct ServiceMintRequest<'a> {
    pub client_id: &'a str,
    /// The API's resource indicator.
    pub audience: &'a str,
    pub scopes: &'a [String],
    pub jti: &'a str,
    pub iat: i64,
    pub lifetimes: TokenLifetimes,
}

/// Signs a client's own access token; one signature, no ID token (no user signed in).
pub fn mint_service(issuer: &TokenIssuer<'_>, m: &ServiceMintRequest<'_>) -> Result<Minted, MintError> {
    let ring = issuer.keys.ring();
    let signer = signer_at(&ring, m.iat)?;
    let scope = m.scopes.join(" ");
    let access = AccessClaims {
        iss: issuer.issuer.to_string(),
        sub: m.client_id.to_string(),
        aud: m.audience.to_string(),
        exp: m.lifetimes.access_exp(m.iat),
        iat: m.iat,
        jti: m.jti.to_string(),
        client_id: m.client_id.to_string(),
        scope: scope.clone(),
        sid: None,
        auth_time: None,
        roles: None,
        groups: None,
    };
    let access_token = signer.sign(JwtType::Access, &access).map_err(signing_failed)?;
    Ok(Minted { access_token, id_token: None, expires_in: m.lifetimes.access_secs, scope })
}

/// The key that signs at `iat`; none active is the provider's failure (logged here, once).
fn signer_at(ring: &crate::keys::KeyRing, iat: i64) -> Result<&crate::keys::ring::SigningKey, MintError> {
    ring.signer_at(iat).ok_or_else(|| {
        tracing::error!("no signing key is active");
        MintError::NoActiveKey
    })
}

fn signing_failed(e: crate::keys::KeyError) -> MintError {
    tracing::error!(error = %e, "signing failed");
    MintError::Sign(e)
}
