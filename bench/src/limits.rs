//! The two limits endpoints are judged against, measured on the same machine in the same run:
//! RSA-2048 signatures per second on one thread with the provider's own signer (aws-lc, key parsed
//! once), and a minimal poem handler's throughput under the same load generator.

use std::time::{Duration, Instant};

use dingtalk_oidc::keys::ring::JwtType;
use dingtalk_oidc::keys::{SigningKey, generate_rsa_key};
use dingtalk_oidc::tokens::AccessClaims;

/// A typical access token's claims (the benchmark's own tokens are about this size).
fn sample_claims() -> AccessClaims {
    AccessClaims {
        iss: "http://127.0.0.1:8080".into(),
        sub: "u_5f0c3b2a9d8e4f1a".into(),
        aud: "http://127.0.0.1:8080/userinfo".into(),
        exp: 1_800_000_900,
        iat: 1_800_000_000,
        jti: "pS8wVw1fK3m7bq0Xv2n9YtQ4rZ6cH1jD".into(),
        client_id: "bench-rp".into(),
        scope: "openid profile email offline_access".into(),
        sid: Some("Fq3l9Zk2mX7pW4vN8bT1cR6yH0sJ5dGa".into()),
        auth_time: Some(1_800_000_000),
        roles: None,
        groups: None,
    }
}

pub struct CryptoLimits {
    pub signs_per_core: f64,
    pub verifies_per_core: f64,
}

fn rate(d: Duration, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// RSA-2048 signatures per second on the calling thread, the provider's signer and key handling.
pub struct Signer {
    key: SigningKey,
    claims: AccessClaims,
}

impl Signer {
    pub fn new() -> anyhow::Result<Signer> {
        let generated = generate_rsa_key()?;
        Ok(Signer {
            key: SigningKey::from_pkcs1_der(&generated.jwk.kid, &generated.pkcs1_der)?,
            claims: sample_claims(),
        })
    }

    pub fn signs_per_second(&self, duration: Duration) -> f64 {
        let mut sign = || drop(self.key.sign(JwtType::Access, &self.claims));
        rate(Duration::from_millis(200), &mut sign);
        rate(duration, &mut sign)
    }
}

/// Signs and verifies on the calling thread for `duration` each, after a short warm-up.
pub fn crypto(duration: Duration) -> anyhow::Result<CryptoLimits> {
    let generated = generate_rsa_key()?;
    let key = SigningKey::from_pkcs1_der(&generated.jwk.kid, &generated.pkcs1_der)?;
    let claims = sample_claims();
    let mut token = String::new();
    let run = rate;
    let mut sign = || token = key.sign(JwtType::Access, &claims).unwrap_or_default();
    run(Duration::from_millis(300), &mut sign);
    let signs_per_core = run(duration, &mut sign);

    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&generated.jwk.n, &generated.jwk.e)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let mut ok = true;
    let mut verify = || ok &= jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).is_ok();
    run(Duration::from_millis(300), &mut verify);
    let verifies_per_core = run(duration, &mut verify);
    anyhow::ensure!(ok, "the signed sample token did not verify");
    Ok(CryptoLimits { signs_per_core, verifies_per_core })
}

/// The minimal handler: a constant body, no middleware, `GET /` → a 11-byte JSON object and
/// `GET /size/N` → N constant bytes (so an endpoint can be compared with the same handler moving
/// the same number of bytes). Run in its own process (like the provider) on a default
/// multi-threaded runtime (one worker per core, like the provider).
pub fn serve_minimal(listen: &str) -> anyhow::Result<()> {
    static FILL: [u8; 65536] = [b' '; 65536];
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        #[poem::handler]
        fn constant() -> &'static str {
            r#"{"ok":true}"#
        }
        #[poem::handler]
        fn sized(poem::web::Path(n): poem::web::Path<usize>) -> poem::Response {
            poem::Response::builder()
                .content_type("application/json")
                .body(bytes::Bytes::from_static(&FILL[..n.min(FILL.len())]))
        }
        let app = poem::Route::new().at("/", poem::get(constant)).at("/size/:n", poem::get(sized));
        poem::Server::new(poem::listener::TcpListener::bind(listen)).run(app).await
    })?;
    Ok(())
}
