//! Strict parsing of OAuth request parameters (RFC 6749 §3.1, §3.2, Appendix B).

use std::borrow::Cow;

/// Longest parameter value we accept; anything longer is hostile or broken.
pub const MAX_PARAM_LEN: usize = 4096;
/// Largest form body we read.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Parameters of one request. A parameter sent with an empty value counts as absent
/// (RFC 6749 §3.1); one sent twice is remembered so the endpoint can refuse it.
#[derive(Debug, Default, Clone)]
pub struct Params {
    /// A handful of pairs: a linear search beats hashing every name (profiled on /introspect).
    values: Vec<(String, String)>,
    repeated: Vec<String>,
    too_long: Vec<String>,
}

impl Params {
    /// `application/x-www-form-urlencoded`: `+` is a space, `%XX` escapes, no array syntax.
    pub fn parse(encoded: &str) -> Params {
        let mut params = Params::default();
        for (name, value) in form_pairs(encoded) {
            if value.is_empty() {
                continue;
            }
            if value.len() > MAX_PARAM_LEN && !params.too_long.contains(&name.to_string()) {
                params.too_long.push(name.to_string());
            }
            if params.has(&name) {
                if !params.repeated.iter().any(|n| *n == name) {
                    params.repeated.push(name.into_owned());
                }
            } else {
                params.values.push((name.into_owned(), value.into_owned()));
            }
        }
        params
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| n == name)
    }

    /// RFC 6749 §3.1: a parameter must not be included more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|n| n == name)
    }

    pub fn first_repeated(&self) -> Option<&str> {
        self.repeated.first().map(String::as_str)
    }

    pub fn first_too_long(&self) -> Option<&str> {
        self.too_long.first().map(String::as_str)
    }

    /// The parameters as name/value pairs (each name once), to keep a request for later.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.values
    }

    /// Parameters kept by [`Params::pairs`] (already checked: none repeated, none too long).
    pub fn from_pairs(values: Vec<(String, String)>) -> Params {
        Params { values, ..Params::default() }
    }
}

/// The name/value pairs of a form body, decoded as `form_urlencoded::parse` does (WHATWG URL
/// `application/x-www-form-urlencoded` parsing), but a pair with nothing to decode (no `+`, no `%`:
/// the usual JWT, code or client id) is borrowed as it stands instead of being rebuilt byte by byte
/// and re-validated as UTF-8 (~12 % of an introspection request in a profile).
fn form_pairs(encoded: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    encoded.split('&').filter(|pair| !pair.is_empty()).filter_map(|pair| {
        if pair.bytes().any(|b| b == b'+' || b == b'%') {
            url::form_urlencoded::parse(pair.as_bytes()).next()
        } else {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((Cow::Borrowed(name), Cow::Borrowed(value)))
        }
    })
}

pub use crate::scope::parse_scope;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_appendix_b_form_pairs_decode_as_form_urlencoded_does() {
        let bodies = [
            "a=b&c=d",
            "token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_x&token_type_hint=access_token",
            "scope=openid+profile&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1",
            "name=%E4%BD%A0%E5%A5%BD&bad=%FF%FE&broken=%zz%4&plus=a%2Bb+c",
            "&&a=1&&b&=x&c==d&e=f=g&",
            "a+b=c%20d&%61=%62",
            "",
        ];
        for body in bodies {
            let ours: Vec<(String, String)> =
                super::form_pairs(body).map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
            let reference: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
            assert_eq!(ours, reference, "body {body:?}");
        }
        let borrowed = super::form_pairs("token=abc.def").next().unwrap();
        assert!(matches!(borrowed.1, Cow::Borrowed("abc.def")), "nothing to decode: borrowed");
    }

    #[test]
    fn rfc6749_3_1_empty_parameters_are_absent_and_repeats_are_remembered() {
        let p = Params::parse("state=&scope=openid&scope=openid&client_id=a+b&x=%2F");
        assert!(!p.has("state"));
        assert!(p.is_repeated("scope"));
        assert_eq!(p.get("client_id"), Some("a b"));
        assert_eq!(p.get("x"), Some("/"));
        assert!(!p.has("scope[]"));
    }
}
