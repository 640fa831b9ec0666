//! How long our access tokens and ID tokens live: `tokens.access_token_ttl_secs` and
//! `tokens.id_token_ttl_secs`, each overridable per client, always within fixed bounds.

use crate::config::TokensConfig;
use crate::directory::Client;

pub use crate::config::{MAX_TOKEN_TTL_SECS, MIN_TOKEN_TTL_SECS, check_token_ttl};

/// The lifetimes of the tokens minted for one client: its own values, or the global ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub access_secs: u64,
    pub id_secs: u64,
}

impl TokenLifetimes {
    /// Plain arithmetic on the client already loaded for the request: no lookup on the token
    /// endpoint. Capped at [`MAX_TOKEN_TTL_SECS`] even if a stored value escaped validation, since
    /// key retirement and denials rely on that bound.
    pub fn for_client(config: &TokensConfig, client: &Client) -> TokenLifetimes {
        let access = client.access_token_ttl_secs.unwrap_or(config.access_token_ttl_secs);
        let id = client.id_token_ttl_secs.unwrap_or(config.id_token_ttl_secs);
        TokenLifetimes { access_secs: access.min(MAX_TOKEN_TTL_SECS), id_secs: id.min(MAX_TOKEN_TTL_SECS) }
    }

    /// Access-token expiry for tokens minted at `iat`.
    pub fn access_exp(&self, iat: i64) -> i64 {
        iat + self.access_secs as i64
    }

    /// ID-token expiry for tokens minted at `iat`.
    pub fn id_exp(&self, iat: i64) -> i64 {
        iat + self.id_secs as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(access: Option<u64>, id: Option<u64>) -> Client {
        Client { access_token_ttl_secs: access, id_token_ttl_secs: id, ..Client::for_tests("c") }
    }

    #[test]
    fn a_client_without_its_own_lifetimes_gets_the_global_ones() {
        let config = TokensConfig { access_token_ttl_secs: 300, id_token_ttl_secs: 900, ..TokensConfig::default() };
        let lifetimes = TokenLifetimes::for_client(&config, &client(None, None));
        assert_eq!(lifetimes, TokenLifetimes { access_secs: 300, id_secs: 900 });
        let lifetimes = TokenLifetimes::for_client(&config, &client(Some(120), Some(28800)));
        assert_eq!(lifetimes, TokenLifetimes { access_secs: 120, id_secs: 28800 });
        assert_eq!(lifetimes.access_exp(1000), 1120);
        assert_eq!(lifetimes.id_exp(1000), 29800);
    }

    #[test]
    fn no_token_outlives_the_fixed_maximum_even_from_a_value_that_escaped_validation() {
        let config = TokensConfig { access_token_ttl_secs: 10 * 86400, ..TokensConfig::default() };
        let lifetimes = TokenLifetimes::for_client(&config, &client(None, Some(u64::MAX)));
        assert_eq!(lifetimes, TokenLifetimes { access_secs: MAX_TOKEN_TTL_SECS, id_secs: MAX_TOKEN_TTL_SECS });
    }

    #[test]
    fn lifetimes_are_bounded_from_one_minute_to_one_day() {
        assert!(check_token_ttl(59).is_err());
        assert!(check_token_ttl(60).is_ok());
        assert!(check_token_ttl(86400).is_ok());
        assert!(check_token_ttl(86401).unwrap_err().contains("between 60 and 86400"));
    }
}
