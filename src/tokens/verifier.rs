//! Verifying our access tokens as a resource server would (RFC 9068 §4), and the `id_token_hint`
//! (OIDC Core §3.1.2.1). [`Verifier`] is what the verifying endpoints (userinfo, introspection,
//! revocation) hold: the verification, its caches (`tokens::cache`) and the denylist check.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};

use super::cache::{DenylistCache, VerifiedToken, VerifiedTokens};
use super::{AccessClaims, IdTokenHint, TokenError, admin_audience, userinfo_audience};
use crate::clock::Clock;
use crate::config::TokensConfig;
use crate::keys::{KeyRing, Keys};
use crate::store::{DenyCheck, SessionStore, StoreError};

/// Access-token verification for one issuer, with what it remembers between requests.
pub struct Verifier {
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    sessions: Arc<dyn SessionStore>,
    issuer: String,
    /// RFC 9068 §3 resource identifiers of our access tokens, derived once from the issuer.
    userinfo_audience: String,
    admin_audience: String,
    /// Access tokens already verified, and what the denylist said (see `tokens::cache`).
    verified_tokens: VerifiedTokens,
    denylist: DenylistCache,
}

impl Verifier {
    pub fn new(
        issuer: &str,
        keys: Arc<Keys>,
        clock: Arc<dyn Clock>,
        sessions: Arc<dyn SessionStore>,
        config: &TokensConfig,
    ) -> Verifier {
        Verifier {
            keys,
            clock,
            sessions,
            issuer: issuer.to_string(),
            userinfo_audience: userinfo_audience(issuer),
            admin_audience: admin_audience(issuer),
            verified_tokens: VerifiedTokens::new(config.verified_token_cache),
            denylist: DenylistCache::new(Duration::from_millis(config.denylist_recheck_ms)),
        }
    }

    /// This instance's denylist cache, which revocations made here tell at once.
    pub fn denylist(&self) -> &DenylistCache {
        &self.denylist
    }

    /// Verifies an access token of ours for one of `audiences` (RFC 9068 §4): signature, `typ`,
    /// issuer and the caller's audience, expiry with `leeway_secs`. A token verified before under
    /// the current key ring is not verified again (see `tokens::cache`).
    pub fn verify_access_token(
        &self,
        token: &str,
        audiences: &[&str],
        leeway_secs: u64,
    ) -> Result<Arc<VerifiedToken>, TokenError> {
        let verified = self.verify_any_access_token(token, leeway_secs)?;
        if !audiences.contains(&verified.claims.aud.as_str()) {
            return Err(TokenError::Invalid("the token is for another audience".into()));
        }
        Ok(verified)
    }

    /// Verifies an access token of ours whatever it is for (userinfo, admin, or a resource server's
    /// API: client credentials), as introspection (RFC 7662 §2.2, no leeway: it reports the token's
    /// own lifetime) and revocation (RFC 7009 §2.1, with the resources' leeway: a token they still
    /// accept can still be revoked) need; who may see or revoke it is theirs to decide. The cache
    /// holds tokens verified this way, so [`verify_access_token`](Self::verify_access_token)
    /// checks the audience of a cached token as of one just verified.
    pub fn verify_any_access_token(&self, token: &str, leeway_secs: u64) -> Result<Arc<VerifiedToken>, TokenError> {
        let ring = self.keys.ring();
        let now = self.clock.now();
        let verified = match self.verified_tokens.get(token, &ring) {
            Some(verified) => verified,
            None => {
                let claims = verify_signed_access_token(&ring, token, &self.issuer, None, leeway_secs, now)?;
                self.verified_tokens.insert(token, ring, claims)
            }
        };
        if verified.claims.exp + leeway_secs as i64 <= now {
            return Err(TokenError::Invalid("expired".into()));
        }
        Ok(verified)
    }

    /// Whether `aud` is one of the provider's own resources (userinfo, admin API).
    pub fn is_own_audience(&self, aud: &str) -> bool {
        aud == self.userinfo_audience || aud == self.admin_audience
    }

    /// RFC 7009 §2.1, RFC 7662 §2.2: whether the access token was revoked (by `jti`, with its
    /// family, or with all of its user's tokens), remembered per instance for
    /// `tokens.denylist_recheck_ms` (see `tokens::cache`).
    pub async fn is_access_token_denied(&self, claims: &AccessClaims) -> Result<bool, StoreError> {
        let check = DenyCheck {
            jti: &claims.jti,
            sub: &claims.sub,
            // A client's own token has no user: its issue time stands in (no user denial applies).
            auth_time: claims.auth_time.unwrap_or(claims.iat),
            client_id: &claims.client_id,
            iat: claims.iat,
        };
        self.denylist.is_denied(&claims.jti, || self.sessions.is_access_token_denied(check)).await
    }
}

/// Only RS256, only our own keys by `kid`, and no header that points at other keys: `jku`, `x5u`,
/// `jwk` and `x5c` are refused outright (RFC 8725 §3.1, §3.10; OIDC Core §10.1) rather than ignored.
fn allowed_header<'r>(
    ring: &'r KeyRing,
    header: &jsonwebtoken::Header,
) -> Result<&'r jsonwebtoken::DecodingKey, TokenError> {
    if header.alg != Algorithm::RS256 {
        return Err(TokenError::Invalid("unexpected algorithm".into()));
    }
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
        return Err(TokenError::Invalid("key-locating header present".into()));
    }
    header.kid.as_deref().and_then(|kid| ring.verifier(kid)).ok_or(TokenError::UnknownKey)
}

/// RFC 9068 §4: validate an access token as a resource server would — `typ` at+jwt, our key,
/// exact issuer, our audience, unexpired.
pub fn verify_access_token(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    audiences: &[&str],
    leeway_secs: u64,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    verify_signed_access_token(ring, token, issuer, Some(audiences), leeway_secs, now)
}

/// As [`verify_access_token`]; `audiences: None` accepts any `aud` (the caller checks it).
fn verify_signed_access_token(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    audiences: Option<&[&str]>,
    leeway_secs: u64,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    match header.typ.as_deref() {
        Some("at+jwt" | "application/at+jwt") => {}
        _ => return Err(TokenError::WrongType),
    }
    let key = allowed_header(ring, &header)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    match audiences {
        Some(audiences) => validation.set_audience(audiences),
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    // Expiry is judged against the protocol clock (injectable), not jsonwebtoken's wall clock.
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| TokenError::Invalid(e.to_string()))?;
    if claims.exp + leeway_secs as i64 <= now {
        return Err(TokenError::Invalid("expired".into()));
    }
    Ok(claims)
}

/// OIDC Core §3.1.2.1: an `id_token_hint` must be one of ours (our key, our issuer); it is
/// accepted after its expiry.
pub fn verify_id_token_hint(ring: &KeyRing, token: &str, issuer: &str) -> Result<IdTokenHint, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(TokenError::WrongType);
    }
    let key = allowed_header(ring, &header)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<IdTokenHint>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| TokenError::Invalid(e.to_string()))
}
