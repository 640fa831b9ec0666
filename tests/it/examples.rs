//! The token-verification example (examples/verify_token.rs), compiled, run against a live
//! provider: what it accepts, what it rejects, and how its JWKS cache behaves (RFC 9068 §4,
//! OIDC Core §10.1.1, RFC 9111).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use crate::common::{Browser, REDIRECT_URI, TestProvider, VERIFIER, obtain_code, token_request};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;

/// `target/<profile>/examples/verify_token`, next to this test binary's `target/<profile>/deps/`.
/// `cargo test` builds examples, but `cargo test --test it examples` does not: then build it here,
/// once, and only when it is missing (a stale one from an earlier `cargo test` is used as is).
fn example_binary() -> PathBuf {
    static BUILT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("test binary lives in target/<profile>/deps");
    let binary = profile_dir.join("examples").join(format!("verify_token{}", std::env::consts::EXE_SUFFIX));
    let _once = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !binary.exists() {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--example", "verify_token", "--manifest-path"]);
        cargo.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let built = cargo.status().is_ok_and(|s| s.success());
        assert!(
            built && binary.exists(),
            "the verify_token example is not built at {} and building it failed; run `cargo test` \
             (which builds examples) or `cargo build --example verify_token` first",
            binary.display()
        );
    }
    binary
}

fn example_args(provider: &TestProvider, audience: &str, expect: Option<&str>) -> Vec<String> {
    let mut args = vec!["--issuer".into(), provider.issuer.clone(), "--audience".into(), audience.into()];
    if let Some(kind) = expect {
        args.extend(["--expect-type".into(), kind.into()]);
    }
    args
}

/// Runs the example to completion with tokens on its command line. Off the runtime's thread: the
/// provider it talks to runs on this test's runtime.
async fn run_example(args: Vec<String>) -> Output {
    let binary = example_binary();
    tokio::task::spawn_blocking(move || Command::new(binary).args(args).output().expect("example runs"))
        .await
        .expect("join")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The example fed tokens one by one on stdin, as a long-running service would meet them: one
/// JWKS cache across all of them.
struct Interactive {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Interactive {
    fn start(args: Vec<String>) -> Interactive {
        let mut child = Command::new(example_binary())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("example starts");
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take().map(BufReader::new));
        Interactive { child: Some(child), stdin, stdout }
    }

    /// Sends a token that must verify; returns its claims.
    async fn verify(&mut self, token: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{token}").expect("write token");
        stdin.flush().expect("flush");
        let mut stdout = self.stdout.take().expect("stdout");
        let reading = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read claims");
            (stdout, line)
        });
        // A rejected token prints nothing on stdout: don't wait for ever (drop kills the child).
        let (stdout, line) = tokio::time::timeout(Duration::from_secs(15), reading)
            .await
            .expect("the example answers within 15 s")
            .expect("join");
        self.stdout = Some(stdout);
        assert!(!line.is_empty(), "the example rejected the token or exited");
        serde_json::from_str(&line).expect("claims are JSON")
    }

    /// Closes stdin and waits: (success, stderr).
    async fn finish(mut self) -> (bool, String) {
        drop(self.stdin.take());
        let child = self.child.take().expect("child");
        let out =
            tokio::task::spawn_blocking(move || child.wait_with_output().expect("example exits")).await.expect("join");
        (out.status.success(), stderr(&out))
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Tokens {
    access: String,
    id: String,
}

/// Signs alice in to `client_id` and exchanges the code.
async fn sign_in(provider: &TestProvider, client_id: &str, secret: &str) -> Tokens {
    let code = obtain_code(provider, &Browser::new("alice"), client_id).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let (status, _, body) = token_request(provider, Some((client_id, secret)), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Tokens {
        access: body["access_token"].as_str().expect("access_token").into(),
        id: body["id_token"].as_str().expect("id_token").into(),
    }
}

/// A JWT segment (0 header, 1 payload) as JSON, unverified.
fn segment(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).expect("segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

/// `jwt` with segment `index` replaced by `value`, the signature kept.
fn with_segment(jwt: &str, index: usize, value: &Value) -> String {
    let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    parts[index] = URL_SAFE_NO_PAD.encode(value.to_string());
    parts.join(".")
}

fn userinfo_audience(provider: &TestProvider) -> String {
    format!("{}/userinfo", provider.issuer)
}

#[tokio::test]
async fn access_token_and_id_token_verify_with_their_audiences() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.expect("secret");
    let tokens = sign_in(&provider, "app", &secret).await;
    let sub = segment(&tokens.access, 1)["sub"].as_str().expect("sub").to_string();

    // RFC 9068 §3: an access token is for the resource (userinfo), not for the client.
    let userinfo = userinfo_audience(&provider);
    let out =
        run_example([example_args(&provider, &userinfo, Some("access")), vec![tokens.access.clone()]].concat()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&sub), "{}", stdout(&out));
    let claims: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    assert_eq!(claims["iss"], provider.issuer.as_str());
    assert_eq!(claims["client_id"], "app");

    // OIDC Core §3.1.3.7: an ID token's audience is the client id.
    let mut args = example_args(&provider, "app", Some("id"));
    args.push(tokens.id.clone());
    let out = run_example(args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let claims: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["aud"], "app");

    // Without --expect-type an ID token passes too; tokens in one run share one JWKS fetch.
    let mut args = example_args(&provider, "app", None);
    args.push(tokens.id.clone());
    args.push(tokens.id);
    let out = run_example(args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2);
    assert_eq!(stderr(&out).matches("jwks: fetched").count(), 1, "{}", stderr(&out));
}

#[tokio::test]
async fn tampered_misaddressed_mistyped_and_foreign_tokens_are_rejected() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.expect("secret");
    let tokens = sign_in(&provider, "app", &secret).await;
    let userinfo = userinfo_audience(&provider);

    let rejected = |out: &Output, why: &str| {
        assert_eq!(out.status.code(), Some(1), "{why}: {}", stderr(out));
        assert!(out.stdout.is_empty(), "{why}: printed claims {}", stdout(out));
        assert!(stderr(out).contains("rejected"), "{why}: {}", stderr(out));
    };

    // The payload changed (another sub), the signature kept.
    let mut claims = segment(&tokens.access, 1);
    claims["sub"] = "mallory".into();
    let tampered = with_segment(&tokens.access, 1, &claims);
    let out = run_example([example_args(&provider, &userinfo, None), vec![tampered]].concat()).await;
    rejected(&out, "tampered payload");

    // A genuine token for another audience.
    let out = run_example([example_args(&provider, "app", None), vec![tokens.access.clone()]].concat()).await;
    rejected(&out, "access token presented with the client id as audience");
    let out = run_example([example_args(&provider, &userinfo, None), vec![tokens.id.clone()]].concat()).await;
    rejected(&out, "ID token presented to the userinfo resource");

    // RFC 9068 §4: a resource server rejects what is not typed at+jwt.
    let out = run_example([example_args(&provider, "app", Some("access")), vec![tokens.id.clone()]].concat()).await;
    rejected(&out, "ID token where an access token is expected");

    // RFC 8725 §3.1: the token does not get to pick the algorithm.
    let mut header = segment(&tokens.access, 0);
    header["alg"] = "HS256".into();
    let out = run_example(
        [example_args(&provider, &userinfo, None), vec![with_segment(&tokens.access, 0, &header)]].concat(),
    )
    .await;
    rejected(&out, "alg HS256");
    assert!(stderr(&out).contains("RS256 only"), "{}", stderr(&out));

    // Discovery §4.3: the issuer must match exactly; a trailing slash is another issuer.
    let mut args = example_args(&provider, &userinfo, None);
    args[1] = format!("{}/", provider.issuer);
    args.push(tokens.access.clone());
    let out = run_example(args).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is for issuer"), "{}", stderr(&out));

    // Unknown kids: the first forces one refetch, the next within 10 s does not (forged tokens
    // must not turn the verifier into a JWKS request pump).
    let forged = |kid: &str| {
        let mut header = segment(&tokens.access, 0);
        header["kid"] = kid.into();
        with_segment(&tokens.access, 0, &header)
    };
    let out =
        run_example([example_args(&provider, &userinfo, None), vec![forged("nope-1"), forged("nope-2")]].concat())
            .await;
    rejected(&out, "unknown kids");
    let log = stderr(&out);
    assert_eq!(log.matches("refetching").count(), 1, "{log}");
    assert_eq!(log.matches("no key with kid").count(), 2, "{log}");
}

#[tokio::test]
async fn oidc_10_1_1_unknown_kid_after_a_rotation_refetches_the_jwks() {
    let provider = TestProvider::start().await;
    let secret = provider.register("app", false, true).await.expect("secret");
    let before = sign_in(&provider, "app", &secret).await;
    let mut verifier = Interactive::start(example_args(&provider, &userinfo_audience(&provider), Some("access")));
    verifier.verify(&before.access).await;

    // An immediate rotation: the new key signs at once, before any cache could have seen it
    // (the JWKS the example holds is fresh for up to an hour).
    let rotated = provider.app.rotation().rotate(provider.app.now(), true).await.expect("rotate");
    provider.app.maintain_keys().await.expect("maintain keys");
    let after = sign_in(&provider, "app", &secret).await;
    let new_kid = segment(&after.access, 0)["kid"].as_str().expect("kid").to_string();
    assert_eq!(new_kid, rotated.kid);
    assert_ne!(new_kid, segment(&before.access, 0)["kid"].as_str().expect("kid"));

    let claims = verifier.verify(&after.access).await;
    assert_eq!(claims["client_id"], "app");
    // The old key stays published until its tokens expire: the earlier token still verifies.
    verifier.verify(&before.access).await;

    let (success, log) = verifier.finish().await;
    assert!(success, "{log}");
    assert!(log.contains(&format!("unknown kid \"{new_kid}\", refetching")), "{log}");
    assert_eq!(log.matches("jwks: fetched").count(), 2, "the first fetch and the refetch only: {log}");
}

#[tokio::test]
async fn rfc9111_a_stale_jwks_is_revalidated_with_its_etag() {
    let provider = TestProvider::start_with(|c| {
        c.keys.jwks_max_age_secs = 1;
        c.keys.publish_lead_secs = 2;
    })
    .await;
    let secret = provider.register("app", false, true).await.expect("secret");
    let tokens = sign_in(&provider, "app", &secret).await;
    let mut verifier = Interactive::start(example_args(&provider, "app", Some("id")));
    verifier.verify(&tokens.id).await;
    // Fresh: answered from the cache.
    verifier.verify(&tokens.id).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Stale: a conditional request, 304, the same keys kept.
    verifier.verify(&tokens.id).await;

    let (success, log) = verifier.finish().await;
    assert!(success, "{log}");
    assert_eq!(log.matches("jwks: fetched").count(), 1, "{log}");
    // (More than one if this slow machine took over a second between the first two.)
    assert!(log.contains("jwks: not modified (304)"), "{log}");
}
