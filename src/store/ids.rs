//! Identifiers the store and its callers derive from one another: what a code's grant, a refresh
//! token and an access token's `jti` name.

/// The identifier everything a code issues is named after: the refresh family's id, and the
/// access token's `jti` (the `jti` itself for a grant without a family, `<id>.<random>` with one).
/// Derived from the code's hash, so a replay of the code finds them without a record of what the
/// first redemption did, and no two codes share it (128 bits of SHA-256).
pub fn code_grant_id(code_hash: &str) -> String {
    let mut id = crate::secrets::hash(&format!("dingtalk-oidc code grant\0{code_hash}"));
    id.truncate(22);
    id
}

/// Splits `<family id>.<secret>`; the family id only chooses where to look.
pub fn refresh_family_id(token: &str) -> Option<&str> {
    let (family, secret) = token.split_once('.')?;
    let well_formed = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (well_formed(family) && well_formed(secret)).then_some(family)
}

/// The `jti` of an access token minted from a family: `<family id>.<random>`. Revoking the family
/// then denies all of its access tokens with one record (RFC 9700 §4.14.2; RFC 7009 §2.1), so a
/// rotation need not record each token it mints: a family refreshed often no longer grows a list.
pub fn family_access_jti(family_id: &str) -> String {
    format!("{family_id}.{}", crate::secrets::token())
}

/// The family an access token's `jti` names (see [`family_access_jti`]); `None` for a token minted
/// without a family, whose `jti` has no `.`.
pub fn access_token_family(jti: &str) -> Option<&str> {
    jti.split_once('.').map(|(family, _)| family).filter(|family| !family.is_empty())
}

/// The name of the denial of one user's tokens for one client (`AccessTokenDenylist::
/// deny_client_access_tokens`): the user id's length first, so that no other pair of ids (ids may
/// hold any character) gives the same name.
pub fn user_client_denial_id(user_id: &str, client_id: &str) -> String {
    format!("{}:{user_id}:{client_id}", user_id.len())
}
