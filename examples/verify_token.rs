//! Verifies tokens issued by dingtalk-oidc the way a relying service should.
//!
//! ```text
//! cargo run --example verify_token -- --issuer URL --audience AUD [--expect-type access|id] [TOKEN...]
//! ```
//!
//! With no TOKEN (or `-`), tokens are read from stdin, one per line, and verified as they arrive:
//! that is how a long-running service meets them, with one JWKS cache for all of them.
//!
//! Each verified token's claims are printed as one JSON line on stdout; a rejected token's reason
//! goes to stderr, as do notes on what the JWKS cache did. Exit status: 0 when every token
//! verified, 1 when any was rejected or the issuer could not be reached, 2 for a bad command line.
//!
//! See docs/verifying-tokens.md for what is checked and why.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use reqwest::header::{AGE, CACHE_CONTROL, ETAG, HeaderMap, IF_NONE_MATCH};
use serde::Deserialize;

const USAGE: &str = "usage: verify_token --issuer URL --audience AUD [--expect-type access|id] [TOKEN... | -]";

/// A token naming a `kid` we do not have makes us refetch the JWKS at once (the key may be new),
/// but anyone can mint such a token: at most one forced refetch per this long.
const FORCED_REFETCH_COOLDOWN: Duration = Duration::from_secs(10);

/// Trust a fetched key set at most this long whatever `max-age` says: a key the issuer withdraws
/// (compromised, say) disappears from the JWKS, and we should notice within a day.
const MAX_FRESHNESS: Duration = Duration::from_secs(24 * 3600);

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Verifies every token; `Ok(false)` when any was rejected.
async fn run(args: Args) -> anyhow::Result<bool> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let jwks_uri = discover(&http, &args.issuer).await?;
    let mut jwks = JwksCache::new(http, jwks_uri);

    // Reading stdin blocks only this (main) thread; reqwest's connection tasks run on the
    // runtime's worker threads meanwhile.
    let tokens: Box<dyn Iterator<Item = String>> = if args.tokens.is_empty() || args.tokens == ["-"] {
        Box::new(std::io::stdin().lock().lines().map_while(Result::ok))
    } else {
        Box::new(args.tokens.clone().into_iter())
    };

    let (mut seen, mut all_verified) = (0, true);
    for token in tokens {
        let token = token.trim();
        if token.is_empty() {
            continue;
        }
        seen += 1;
        match verify(&mut jwks, &args, token).await {
            Ok(claims) => println!("{claims}"),
            Err(e) => {
                all_verified = false;
                eprintln!("token {seen}: rejected: {e:#}");
            }
        }
    }
    if seen == 0 {
        bail!("no token given");
    }
    Ok(all_verified)
}

/// Checks one token; returns its claims.
async fn verify(jwks: &mut JwksCache, args: &Args, token: &str) -> anyhow::Result<serde_json::Value> {
    // The header is read unverified, only to pick the key; nothing in it counts until the
    // signature made with that key checks out.
    let header = jsonwebtoken::decode_header(token).context("not a signed JWT (unreadable header)")?;
    // RS256 only, whatever the token says: our issuer signs nothing else, and letting the token
    // choose invites algorithm confusion (`none`, or HS256 "keyed" with our public key; RFC 8725
    // §2.1, §3.1). `Validation::new(RS256)` below enforces it too; checking here first gives a
    // clear reason and spares a JWKS fetch.
    if header.alg != Algorithm::RS256 {
        bail!("algorithm {:?} is not accepted (RS256 only)", header.alg);
    }
    check_type(header.typ.as_deref(), args.expect)?;
    // OIDC Core §10.1: with several keys published, `kid` names the one that signed.
    let kid = header.kid.context("token header has no kid")?;
    let key = jwks.key(&kid).await?;

    let mut validation = Validation::new(Algorithm::RS256);
    // `iss` must equal the issuer exactly (OIDC Core §3.1.3.7 step 2, RFC 9068 §4): no prefix or
    // trailing-slash leniency. `aud` must contain ours: a token minted for another service must
    // not work here (RFC 9068 §4; an ID token's audience is the client id, §3.1.3.7 step 3).
    validation.set_issuer(&[&args.issuer]);
    validation.set_audience(&[&args.audience]);
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    // `exp` is checked with this much allowance for clock skew between us and the issuer.
    validation.leeway = 60;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)?;
    Ok(data.claims)
}

/// The JOSE `typ` keeps one kind of token from passing for another signed with the same key:
/// access tokens are `at+jwt` (RFC 9068 §2.1, §4: reject anything else), our ID tokens `JWT`, and
/// back-channel logout tokens (`logout+jwt`) are neither.
fn check_type(typ: Option<&str>, expect: Option<TokenType>) -> anyhow::Result<()> {
    // Media types are case-insensitive and may drop "application/" (RFC 7515 §4.1.9).
    let typ = typ.map(str::to_ascii_lowercase);
    let typ = typ.as_deref().map(|t| t.strip_prefix("application/").unwrap_or(t));
    let found = match typ {
        Some("at+jwt") => TokenType::Access,
        Some("jwt") => TokenType::Id,
        other => bail!("token type {other:?} is neither an access token (at+jwt) nor an ID token (JWT)"),
    };
    match expect {
        Some(want) if want != found => bail!("expected {want:?} token, got {found:?} token"),
        _ => Ok(()),
    }
}

/// OpenID Connect Discovery 1.0 §4: the provider's metadata, of which we need `jwks_uri`.
async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Metadata {
        issuer: String,
        jwks_uri: String,
    }
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let metadata: Metadata = http
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("fetching {url}"))?
        .json()
        .await
        .with_context(|| format!("reading {url}"))?;
    // Discovery §4.3: the document must name exactly the issuer we asked about, or it could hand
    // us another issuer's keys.
    if metadata.issuer != issuer {
        bail!("{url} is for issuer {:?}, not {issuer:?}", metadata.issuer);
    }
    Ok(metadata.jwks_uri)
}

/// The issuer's signing keys by `kid`, kept as long as the JWKS response's `Cache-Control` allows
/// (the provider shortens `max-age` ahead of a key change) and revalidated with its `ETag`.
struct JwksCache {
    http: reqwest::Client,
    uri: String,
    keys: HashMap<String, DecodingKey>,
    etag: Option<String>,
    /// None until the first fetch.
    fresh_until: Option<Instant>,
    last_forced_refetch: Option<Instant>,
}

impl JwksCache {
    fn new(http: reqwest::Client, uri: String) -> JwksCache {
        JwksCache { http, uri, keys: HashMap::new(), etag: None, fresh_until: None, last_forced_refetch: None }
    }

    /// The key named `kid`, fetching or revalidating the key set as needed.
    async fn key(&mut self, kid: &str) -> anyhow::Result<&DecodingKey> {
        if self.fresh_until.is_none_or(|t| Instant::now() >= t) {
            self.refresh().await?;
        }
        // An unknown kid may be a key published after our copy was fetched (OIDC Core §10.1.1:
        // "when it sees an unfamiliar kid value"), so look again before rejecting; but only so
        // often, since forged tokens can name any kid.
        if !self.keys.contains_key(kid)
            && self.last_forced_refetch.is_none_or(|t| t.elapsed() >= FORCED_REFETCH_COOLDOWN)
        {
            eprintln!("jwks: unknown kid {kid:?}, refetching");
            self.last_forced_refetch = Some(Instant::now());
            self.refresh().await?;
        }
        self.keys.get(kid).ok_or_else(|| anyhow!("no key with kid {kid:?} in the issuer's JWKS"))
    }

    /// Fetches the key set, conditionally when we hold one (`If-None-Match`, RFC 9110 §13.1.2).
    async fn refresh(&mut self) -> anyhow::Result<()> {
        // Freshness counts from when we asked, not from when the answer arrived (RFC 9111 §4.2.3).
        let asked_at = Instant::now();
        let mut request = self.http.get(&self.uri);
        if let Some(etag) = &self.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await.with_context(|| format!("fetching {}", self.uri))?;
        let lifetime = freshness_lifetime(response.headers());
        match response.status() {
            // 304: our keys are current; only the freshness is renewed (RFC 9111 §4.3.4).
            StatusCode::NOT_MODIFIED if self.etag.is_some() => {
                eprintln!("jwks: not modified (304), keeping {} keys for {}s", self.keys.len(), lifetime.as_secs());
            }
            StatusCode::OK => {
                let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
                let set: JwkSet = response.json().await.with_context(|| format!("reading {}", self.uri))?;
                self.keys = usable_keys(set);
                self.etag = etag;
                eprintln!("jwks: fetched {} keys (200), fresh for {}s", self.keys.len(), lifetime.as_secs());
            }
            status => bail!("{} answered {status}", self.uri),
        }
        self.fresh_until = Some(asked_at + lifetime);
        Ok(())
    }
}

/// How long a response may be reused without asking again (RFC 9111 §4.2.1, §5.2.2): `max-age`
/// less the `Age` a shared cache on the way added; nothing with `no-cache`/`no-store`, or without
/// `max-age` (we don't guess a heuristic lifetime: revalidating is one cheap conditional request).
fn freshness_lifetime(headers: &HeaderMap) -> Duration {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut max_age: u64 = 0;
    for directive in header(CACHE_CONTROL).split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-cache" || directive == "no-store" {
            return Duration::ZERO;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            max_age = seconds.trim_matches('"').parse().unwrap_or(0);
        }
    }
    let age: u64 = header(AGE).trim().parse().unwrap_or(0);
    Duration::from_secs(max_age.saturating_sub(age)).min(MAX_FRESHNESS)
}

/// RFC 7517 §5. Members we don't use are ignored.
#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// RFC 7517 §4 / RFC 7518 §6.3.1: an RSA public key is `n` and `e`, base64url.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RS256 signing keys of the set, by kid. Others are skipped, not fatal: RFC 7517 §5 says to
/// ignore keys one does not understand, and a key marked for encryption (`use`, §4.2) or for
/// another algorithm (`alg`, §4.4) must not verify our signatures.
fn usable_keys(set: JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .into_iter()
        .filter(|jwk| jwk.kty == "RSA")
        .filter(|jwk| jwk.public_key_use.as_deref().is_none_or(|u| u == "sig"))
        .filter(|jwk| jwk.alg.as_deref().is_none_or(|a| a == "RS256"))
        .filter_map(|jwk| {
            let key = DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?;
            Some((jwk.kid?, key))
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum TokenType {
    Access,
    Id,
}

struct Args {
    issuer: String,
    audience: String,
    expect: Option<TokenType>,
    tokens: Vec<String>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let (mut issuer, mut audience, mut expect, mut tokens) = (None, None, None, Vec::new());
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--issuer" => issuer = Some(value("--issuer")?),
                "--audience" => audience = Some(value("--audience")?),
                "--expect-type" => {
                    expect = Some(match value("--expect-type")?.as_str() {
                        "access" => TokenType::Access,
                        "id" => TokenType::Id,
                        other => return Err(format!("--expect-type is access or id, not {other:?}")),
                    })
                }
                "-h" | "--help" => return Err("verifies dingtalk-oidc tokens".into()),
                flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
                _ => tokens.push(arg),
            }
        }
        Ok(Args {
            issuer: issuer.ok_or("--issuer is required")?,
            audience: audience.ok_or("--audience is required")?,
            expect,
            tokens,
        })
    }
}
