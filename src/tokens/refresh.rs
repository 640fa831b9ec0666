//! Refresh tokens: `<family id>.<secret>`, 256 random bits of secret, stored only as SHA-256. The
//! family id is the grant's, named after the code that started it (`store::code_grant_id`). A
//! rotation stores the successor sealed under a key derived from the presented token, so a retry
//! within the grace window can be answered with the same successor while nothing usable sits at
//! rest.

/// A new refresh token of `family_id`.
pub fn new_refresh_token(family_id: &str) -> String {
    format!("{family_id}.{}", crate::secrets::token())
}

/// What the successor is sealed for (the key derivation's purpose).
const SUCCESSOR_SEAL: &str = "dingtalk-oidc refresh successor seal";

/// Seals `successor` so that only a holder of `presented` can open it.
pub fn seal_successor(presented: &str, successor: &str) -> Option<String> {
    crate::sealed::seal(SUCCESSOR_SEAL, presented.as_bytes(), successor)
}

pub fn unseal_successor(presented: &str, sealed: &str) -> Option<String> {
    crate::sealed::open(SUCCESSOR_SEAL, presented.as_bytes(), sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9700_4_14_2_successor_opens_only_with_the_presented_token() {
        let family = crate::store::code_grant_id("the hash of a code");
        let old = new_refresh_token(&family);
        let new = new_refresh_token(&family);
        assert_eq!(crate::store::refresh_family_id(&old), Some(family.as_str()));
        let sealed = seal_successor(&old, &new).unwrap();
        assert!(!sealed.contains(new.split('.').nth(1).unwrap()));
        assert_eq!(unseal_successor(&old, &sealed).as_deref(), Some(new.as_str()));
        assert_eq!(unseal_successor(&new, &sealed), None);
    }

    #[test]
    fn refresh_tokens_carry_256_bits_of_secret() {
        let token = new_refresh_token("fam");
        let secret = token.split_once('.').unwrap().1;
        assert_eq!(secret.len(), 43);
    }
}
