//! Client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` (`client_assertion`) and `none` for public clients; and
//! the strict reading of a client's form that every back-channel endpoint starts with.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::http::header;
use poem::{Body, Request};

use super::params::Params;
use super::{OAuthError, read_form};
use crate::app::App;
use crate::directory::Client;

/// Credentials from an `Authorization: Basic` header.
#[derive(Debug, PartialEq)]
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: String,
}

/// RFC 6749 §2.3.1 and Appendix B: base64-decode, split at the first `:`, then form-urldecode each
/// half. `Ok(None)` when no Basic header was sent.
pub fn parse_basic(req: &Request) -> Result<Option<BasicCredentials>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || OAuthError::invalid_client("the Basic credentials are malformed", true);
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some(BasicCredentials {
        client_id: form_urldecode(id).ok_or_else(malformed)?,
        secret: form_urldecode(secret).ok_or_else(malformed)?,
    }))
}

/// `application/x-www-form-urlencoded` decoding of one value; `None` on an invalid `%` escape.
fn form_urldecode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Values a back-channel form may carry: bounded (`params::MAX_PARAM_LEN`) where every value is
/// ours or the client's own (codes, refresh tokens, scopes, assertions), unbounded where the form
/// carries a token to look at (revocation, introspection: an access token with many groups may be
/// long, and RFC 7009 §2.2 answers an unknown token like any other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueBound {
    Bounded,
    TokenLength,
}

/// A back-channel request of a client (RFC 6749 §3.2): its form, read strictly (a repeated
/// parameter refused, values bounded as `bound` says), and the client it authenticated as.
pub async fn authenticated_form(
    app: &App,
    req: &Request,
    body: Body,
    bound: ValueBound,
) -> Result<(Params, Arc<Client>), OAuthError> {
    let params = read_form(req, body).await?;
    if params.first_repeated().is_some() {
        return Err(OAuthError::invalid_request("a parameter was sent more than once"));
    }
    if bound == ValueBound::Bounded && params.first_too_long().is_some() {
        return Err(OAuthError::invalid_request("a parameter value is too long"));
    }
    let client = authenticate(app, req, &params).await?;
    Ok((params, client))
}

/// Authenticates the calling client; every failure is `invalid_client` (401, with a Basic
/// challenge when the header was used) or `invalid_request` for ambiguous requests.
pub async fn authenticate(app: &App, req: &Request, params: &Params) -> Result<Arc<Client>, OAuthError> {
    let basic = parse_basic(req)?;
    let body_secret = params.get("client_secret");
    let used_basic = basic.is_some();
    let assertion = params.has("client_assertion") || params.has("client_assertion_type");
    // RFC 6749 §2.3: one authentication method per request.
    if [used_basic, body_secret.is_some(), assertion].into_iter().filter(|used| *used).count() > 1 {
        return Err(OAuthError::invalid_request("use exactly one client authentication method"));
    }
    // OIDC Core §9 `private_key_jwt`.
    if assertion {
        return super::client_assertion::authenticate(app, req.uri().path(), params).await;
    }
    if let (Some(b), Some(body_id)) = (&basic, params.get("client_id"))
        && b.client_id != body_id
    {
        return Err(OAuthError::invalid_request("client_id does not match the Basic credentials"));
    }
    let client_id = match &basic {
        Some(b) => b.client_id.as_str(),
        None => params
            .get("client_id")
            .ok_or_else(|| OAuthError::invalid_client("client authentication is required", false))?,
    };
    let client = app
        .directory
        .client_cached(client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("client authentication failed", used_basic))?;
    let presented = basic.as_ref().map(|b| b.secret.as_str()).or(body_secret);
    if client.public {
        // A public client proves nothing with a secret; refusing one keeps misconfiguration visible.
        if presented.is_some() {
            return Err(OAuthError::invalid_client("public clients do not use a client secret", used_basic));
        }
        return Ok(client);
    }
    match presented {
        Some(secret) if client.verify_secret(secret) => Ok(client),
        _ => Err(OAuthError::invalid_client("client authentication failed", used_basic)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(auth: &str) -> Request {
        Request::builder().header(header::AUTHORIZATION, auth).finish()
    }

    #[test]
    fn rfc6749_2_3_1_basic_credentials_are_form_urldecoded() {
        // client_id "a b", secret "p+q:%/", sent per Appendix B.
        let encoded = STANDARD.encode("a+b:p%2Bq%3A%25%2F");
        let creds = parse_basic(&request_with(&format!("Basic {encoded}"))).unwrap().unwrap();
        assert_eq!(creds, BasicCredentials { client_id: "a b".into(), secret: "p+q:%/".into() });
        // Without the form-encoding step the secret decodes differently.
        let raw = STANDARD.encode("a b:p+q:%/");
        assert!(parse_basic(&request_with(&format!("Basic {raw}"))).is_err());
    }

    #[test]
    fn rfc6749_2_3_1_malformed_basic_is_an_oauth_error_not_a_crash() {
        for bad in ["Basic !!!", &format!("Basic {}", STANDARD.encode("nocolon"))] {
            let err = parse_basic(&request_with(bad)).unwrap_err();
            assert_eq!(err.error, crate::oidc::error::ErrorCode::InvalidClient);
            assert!(err.basic_challenge);
        }
        assert_eq!(parse_basic(&request_with("Bearer abc")).unwrap(), None);
    }
}
