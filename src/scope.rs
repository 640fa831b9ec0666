//! The scope grammar (RFC 6749 §3.3), shared by the protocol endpoints and the client registry.

/// RFC 6749 §3.3: scope tokens are `%x21 / %x23-5B / %x5D-7E`, separated by single spaces.
pub fn parse_scope(scope: &str) -> Option<Vec<String>> {
    let mut scopes = Vec::new();
    for token in scope.split(' ') {
        let valid = !token.is_empty()
            && token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return None;
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_string());
        }
    }
    Some(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_3_3_scope_grammar() {
        assert_eq!(parse_scope("openid profile").unwrap(), vec!["openid", "profile"]);
        assert!(parse_scope("openid  profile").is_none());
        assert!(parse_scope("openid \"x\"").is_none());
        assert!(parse_scope("open\\id").is_none());
        assert!(parse_scope(" openid").is_none());
    }
}
