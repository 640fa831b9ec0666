//! The public keys a client authenticates with by `private_key_jwt` (OIDC Core §9, RFC 7523 §2.2):
//! a JWK Set (RFC 7517 §5) registered inline or served at the client's `jwks_uri`. Read the same
//! way at registration (where a bad set is refused) and when the set is fetched.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::Client;

/// The largest JWK Set we read, registered or fetched: a handful of public keys is a few KiB.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The signature algorithms a client assertion may use: asymmetric only (a symmetric key would be
/// a shared secret, `client_secret_jwt`, which this provider does not offer), never `none`.
pub const ASSERTION_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Members of a JWK that hold private key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2):
/// a client registers its public keys only.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One verification key of a client.
#[derive(Clone)]
pub struct ClientKey {
    pub kid: Option<String>,
    /// The key's `alg`, when the set names one: an assertion must then use exactly it.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// The signature keys of a JWK Set; keys for encryption (`use` = `enc`) are passed over. Refused: a
/// set that is too large or malformed, holds a private or symmetric key or an algorithm not in
/// [`ASSERTION_ALGORITHMS`], or has no signature key at all.
pub fn parse_jwk_set(text: &str) -> Result<Vec<ClientKey>, String> {
    if text.len() > MAX_JWKS_BYTES {
        return Err(format!("jwks: larger than {MAX_JWKS_BYTES} bytes"));
    }
    let set: Value = serde_json::from_str(text).map_err(|_| "jwks: not JSON".to_string())?;
    let members = set.get("keys").and_then(Value::as_array).ok_or("jwks: a JWK Set has a \"keys\" array")?;
    let mut keys = Vec::new();
    for member in members {
        let object = member.as_object().ok_or("jwks: each key is a JSON object")?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
            return Err(format!("jwks: a key holds private material ({private:?}); register public keys only"));
        }
        if object.get("use").and_then(Value::as_str) == Some("enc") {
            continue;
        }
        if object.get("kty").and_then(Value::as_str) == Some("oct") {
            return Err("jwks: symmetric (oct) keys are not accepted".into());
        }
        let jwk: Jwk = serde_json::from_value(member.clone()).map_err(|e| format!("jwks: a key is malformed: {e}"))?;
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(named) => match Algorithm::try_from(named) {
                Ok(alg) if ASSERTION_ALGORITHMS.contains(&alg) => Some(alg),
                _ => return Err(format!("jwks: algorithm {named} is not accepted for client assertions")),
            },
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("jwks: a key cannot be used: {e}"))?;
        keys.push(ClientKey { kid: jwk.common.key_id.clone(), alg, key });
    }
    if keys.is_empty() {
        return Err("jwks: the set has no signature key".into());
    }
    Ok(keys)
}

/// How long a fetched set is used before it is fetched again.
const FETCHED_SET_TTL: Duration = Duration::from_secs(300);
/// A signature by a key the set does not hold (the client rotated its keys) fetches the set again,
/// at most this often per client, so junk assertions cannot make us hammer the client's server.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// A set that could not be read is not asked for again before this: long enough that requests
/// naming the client cannot make us call its server more than once in it, short enough that the
/// client works again soon after its server (or the network between us) is back.
const FAILED_FETCH_RETRY: Duration = Duration::from_secs(5);
/// The whole fetch, connection to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Clients whose sets are kept; past it the cache starts over (sets are small and cheap to read).
const CAPACITY: usize = 1024;

/// The parsed key sets of `private_key_jwt` clients, per instance: an inline set is parsed once
/// (not per request), a set at a `jwks_uri` fetched with a time and size limit and kept for
/// [`FETCHED_SET_TTL`]. An entry is keyed by the client and the set's source, so a client whose
/// registration changed is read afresh.
///
/// The set is needed before an assertion's signature can be checked, so anyone can make us look
/// for it by naming a client: a set that could not be read is remembered as such for
/// [`FAILED_FETCH_RETRY`], and one fetch per client runs at a time (requests that arrive
/// meanwhile wait for it and share its result), so a client's server is never called more than
/// that, whatever arrives.
pub struct ClientKeySets {
    http: crate::outbound::Callers,
    /// Self-registered clients' sets are fetched from public addresses only (`outbound`): no
    /// operator allow-list of hosts names where they may be.
    public_only_for_self_registered: bool,
    entries: RwLock<HashMap<String, Arc<KeySetEntry>>>,
    /// One fetch at a time per client: the turn of each client with a fetch under way (a slow
    /// `jwks_uri` holds up its own client's requests only).
    fetching: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct KeySetEntry {
    /// The inline set's text or the URI it came from.
    source: String,
    fetched_at: Instant,
    /// The set, or why it could not be read.
    keys: Result<Arc<Vec<ClientKey>>, String>,
}

impl KeySetEntry {
    /// Whether this entry still answers for `source` (with `refetch`, see [`ClientKeySets::keys`]).
    fn answers(&self, source: &str, inline: bool, refetch: bool) -> bool {
        if self.source != source {
            return false;
        }
        let age = self.fetched_at.elapsed();
        match &self.keys {
            _ if inline => true,
            Ok(_) => age < FETCHED_SET_TTL && !(refetch && age >= MIN_REFETCH_INTERVAL),
            Err(_) => age < FAILED_FETCH_RETRY,
        }
    }
}

impl ClientKeySets {
    /// `public_only_for_self_registered`: see [`ClientKeySets::keys`].
    pub fn new(public_only_for_self_registered: bool) -> Result<ClientKeySets, String> {
        let http = crate::outbound::Callers::new(FETCH_TIMEOUT)?;
        Ok(ClientKeySets {
            http,
            public_only_for_self_registered,
            entries: RwLock::new(HashMap::new()),
            fetching: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The keys `client` signs with. `refetch` asks for a fresh copy of a fetched set (an
    /// assertion named a key it does not hold); it is honoured at most every
    /// [`MIN_REFETCH_INTERVAL`]. Errors say why, for the log: the client's set is unusable (and
    /// stays so for [`FAILED_FETCH_RETRY`]). A self-registered client's set is fetched only from a public
    /// address unless the operator listed the allowed hosts (`outbound`).
    pub async fn keys(&self, client: &Client, refetch: bool) -> Result<Arc<Vec<ClientKey>>, String> {
        let (source, inline) = match (&client.jwks, &client.jwks_uri) {
            (Some(jwks), _) => (jwks.as_str(), true),
            (None, Some(uri)) => (uri.as_str(), false),
            (None, None) => return Err("the client has no keys".into()),
        };
        if let Some(entry) = self.entry(&client.id).filter(|e| e.answers(source, inline, refetch)) {
            return entry.keys.clone();
        }
        let turn = self.turn_of(&client.id);
        let _turn = turn.lock().await;
        // Another request may have read the set while this one waited: its answer is fresh.
        if let Some(entry) = self.entry(&client.id).filter(|e| e.answers(source, inline, refetch)) {
            return entry.keys.clone();
        }
        let keys = if inline {
            parse_jwk_set(source)
        } else {
            let public_only = self.public_only_for_self_registered && client.registered_itself();
            self.fetch(source, public_only).await.and_then(|text| parse_jwk_set(&text))
        }
        .map(Arc::new);
        let entry = KeySetEntry { source: source.to_string(), fetched_at: Instant::now(), keys: keys.clone() };
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&client.id) {
            entries.clear();
        }
        entries.insert(client.id.clone(), Arc::new(entry));
        keys
    }

    /// The lock a fetch of `client_id`'s set is made under. Only turns in use are kept: one that
    /// no request holds any more is dropped when the next is handed out.
    fn turn_of(&self, client_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        turns.entry(client_id.to_string()).or_default().clone()
    }

    fn entry(&self, client_id: &str) -> Option<Arc<KeySetEntry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).get(client_id).cloned()
    }

    /// GET `uri`, at most [`MAX_JWKS_BYTES`] read, no redirects followed; with `public_only`, only
    /// from a public address.
    async fn fetch(&self, uri: &str, public_only: bool) -> Result<String, String> {
        let http = self.http.for_url(uri, public_only).map_err(|e| format!("jwks_uri: {e}"))?;
        let mut resp = http.get(uri).send().await.map_err(|e| format!("jwks_uri: {e:#}"))?;
        if !resp.status().is_success() {
            return Err(format!("jwks_uri answered {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(format!("jwks_uri: larger than {MAX_JWKS_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("jwks_uri: {e}"))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("jwks_uri: larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| "jwks_uri: not UTF-8".into())
    }
}

/// A `jwks_uri`: https, or http on a loopback address (a client on the same machine).
pub fn validate_jwks_uri(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|_| format!("jwks_uri {uri:?} is not an absolute URI"))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match parsed.scheme() {
        _ if parsed.fragment().is_some() => Err(format!("jwks_uri {uri:?} must not contain a fragment")),
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("jwks_uri {uri:?} must use https (http only for loopback)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    fn rsa(extra: &str) -> String {
        format!(r#"{{"keys":[{{"kty":"RSA","kid":"k1","n":"{RSA_N}","e":"AQAB"{extra}}}]}}"#)
    }

    #[test]
    fn rfc7517_5_a_public_rsa_set_is_read_with_its_kid_and_alg() {
        let keys = parse_jwk_set(&rsa(r#","alg":"RS256","use":"sig""#)).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("k1"));
        assert_eq!(keys[0].alg, Some(Algorithm::RS256));
        assert_eq!(parse_jwk_set(&rsa("")).unwrap()[0].alg, None);
    }

    #[test]
    fn private_symmetric_and_weak_keys_are_refused() {
        assert!(parse_jwk_set(&rsa(r#","d":"secret""#)).unwrap_err().contains("private"));
        assert!(parse_jwk_set(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
        assert!(parse_jwk_set(r#"{"keys":[{"kty":"oct"}]}"#).unwrap_err().contains("symmetric"));
        assert!(parse_jwk_set(&rsa(r#","alg":"HS256""#)).unwrap_err().contains("HS256"));
        assert!(parse_jwk_set(&rsa(r#","use":"enc""#)).unwrap_err().contains("no signature key"));
        assert!(parse_jwk_set(r#"{"keys":[]}"#).is_err());
        assert!(parse_jwk_set(r#"{"keys":{}}"#).is_err());
        assert!(parse_jwk_set("not json").is_err());
        assert!(parse_jwk_set(&" ".repeat(MAX_JWKS_BYTES + 1)).unwrap_err().contains("larger"));
    }

    #[test]
    fn a_jwks_uri_is_https_or_loopback_http() {
        assert!(validate_jwks_uri("https://app.example/jwks.json").is_ok());
        assert!(validate_jwks_uri("http://127.0.0.1:9000/jwks").is_ok());
        assert!(validate_jwks_uri("http://app.example/jwks").is_err());
        assert!(validate_jwks_uri("https://app.example/jwks#x").is_err());
        assert!(validate_jwks_uri("file:///etc/passwd").is_err());
        assert!(validate_jwks_uri("jwks").is_err());
    }

    /// A loopback server: `answer` to every request (or, with `None`, silence: it reads the
    /// request and never answers). Returns its `jwks_uri`.
    async fn server(answer: Option<String>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 2048];
                let _ = stream.read(&mut request).await;
                match &answer {
                    Some(body) => {
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(body.as_bytes()).await;
                    }
                    None => held.push(stream),
                }
            }
        });
        uri
    }

    #[tokio::test]
    async fn a_clients_slow_jwks_uri_holds_up_no_other_client() {
        let sets = ClientKeySets::new(false).unwrap();
        let stalled = Client { jwks_uri: Some(server(None).await), ..Client::for_tests("stalled") };
        let prompt = Client { jwks_uri: Some(server(Some(rsa(""))).await), ..Client::for_tests("prompt") };
        let slow = sets.keys(&stalled, false);
        tokio::pin!(slow);
        // Let the stalled fetch start (and take its client's turn) before the other asks.
        assert!(tokio::time::timeout(std::time::Duration::from_millis(200), &mut slow).await.is_err());
        tokio::select! {
            keys = sets.keys(&prompt, false) => assert_eq!(keys.unwrap().len(), 1),
            _ = &mut slow => panic!("the stalled fetch ended first: the other client waited for it"),
        }
    }
}
