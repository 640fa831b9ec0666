//! Operating it: `/metrics` in Prometheus text format that moves with traffic, `/readyz` that
//! follows the backing services, `/healthz`, a request id on every response, and a shutdown that
//! drains rather than drops (the binary, signalled as an orchestrator does).

mod common;

use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Browser, OwnRedis, REDIRECT_URI, TestProvider, VERIFIER, obtain_code, token_request};
use dingtalk_oidc::dingtalk::Fault;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn scrape(p: &TestProvider) -> prometheus_parse::Scrape {
    let resp = reqwest::get(p.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("parses as Prometheus text format")
}

/// Sum of a counter's samples whose labels include all of `labels`.
fn counter(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_with_traffic() {
    let p = TestProvider::start().await;
    let secret = p.register("app", false, true).await.unwrap();
    let before = scrape(&p).await;
    let token_before = counter(&before, "dingtalk_oidc_http_requests_total", &[("route", "/token"), ("status", "200")]);
    let issued_before = counter(&before, "dingtalk_oidc_tokens_issued_total", &[("grant", "authorization_code")]);

    let code = obtain_code(&p, &Browser::new("alice"), "app").await;
    let (status, _, _) = token_request(
        &p,
        Some(("app", &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let after = scrape(&p).await;
    assert!(
        counter(&after, "dingtalk_oidc_http_requests_total", &[("route", "/token"), ("status", "200")])
            >= token_before + 1.0
    );
    assert!(
        counter(&after, "dingtalk_oidc_tokens_issued_total", &[("grant", "authorization_code")]) >= issued_before + 1.0
    );
    assert!(counter(&after, "dingtalk_oidc_dingtalk_requests_total", &[("endpoint", "userAccessToken")]) >= 1.0);
    assert!(after.samples.iter().any(|s| s.metric.starts_with("dingtalk_oidc_http_request_duration_seconds")));
    assert!(after.samples.iter().any(|s| s.metric == "dingtalk_oidc_signing_key_next_rotation_seconds"));
    assert!(after.samples.iter().any(|s| s.metric == "dingtalk_oidc_signing_key_age_seconds"));
}

/// §6.2 of DingTalk's API: oapi errors arrive inside HTTP 200. `/metrics` labels a DingTalk call
/// by how it ended (README, "Operating it"), so such a call is counted under its errcode, not as a
/// success. The simulator's `user_not_found` fault answers `/topapi/user/getbyunionid` with errcode
/// 60121; counts are compared before and after, since the recorder is shared by the whole binary.
#[tokio::test]
async fn a_dingtalk_oapi_error_inside_http_200_is_counted_by_its_errcode() {
    let p = TestProvider::start().await;
    p.register("app", false, true).await.unwrap();
    let endpoint = "/topapi/user/getbyunionid";
    let count = |scrape: &prometheus_parse::Scrape, outcome: &str| {
        counter(scrape, "dingtalk_oidc_dingtalk_requests_total", &[("endpoint", endpoint), ("outcome", outcome)])
    };
    let before = scrape(&p).await;
    p.simulator.set_fault(Some(Fault::UserNotFound));
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let landing = Browser::new("alice").journey(&url, true).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"), "not a member of the organisation");
    let after = scrape(&p).await;
    assert!(count(&after, "oapi:60121") >= count(&before, "oapi:60121") + 1.0, "counted by its errcode");
    assert_eq!(count(&after, "200"), count(&before, "200"), "an oapi error is not an HTTP 200 success");

    // A call that succeeds is `ok`.
    p.simulator.set_fault(None);
    let code = obtain_code(&p, &Browser::new("alice"), "app").await;
    assert!(!code.is_empty());
    let ok = scrape(&p).await;
    assert!(count(&ok, "ok") >= count(&after, "ok") + 1.0);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let p = TestProvider::start().await;
    let http = reqwest::Client::new();
    let resp = http.get(p.url("/jwks.json")).header("x-request-id", "trace-abc.123").send().await.unwrap();
    assert_eq!(resp.headers().get("x-request-id").unwrap(), "trace-abc.123", "a well-formed id is echoed");
    let resp = http.get(p.url("/nowhere")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    let id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    assert_ne!(id, "bad id with spaces");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "a fresh id replaces a malformed one");
    let a = http.get(p.url("/healthz")).send().await.unwrap();
    let b = http.get(p.url("/healthz")).send().await.unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    assert_ne!(a.headers().get("x-request-id"), b.headers().get("x-request-id"));
}

#[tokio::test]
async fn readyz_follows_the_session_store() {
    let Some(mut redis) = OwnRedis::start() else { return };
    let url = redis.url();
    let p = TestProvider::start_with(move |c| {
        c.sessions.backend = "redis".into();
        c.redis.url = url;
    })
    .await;
    let ready = reqwest::get(p.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    redis.stop();
    let started = std::time::Instant::now();
    let down = reqwest::get(p.url("/readyz")).await.unwrap();
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = down.json().await.unwrap();
    assert_eq!(body["sessions"], false);
    assert_eq!(body["sql"], true);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(reqwest::get(p.url("/healthz")).await.unwrap().status(), StatusCode::OK, "alive while not ready");
    redis.restart();
    let mut ok = false;
    for _ in 0..50 {
        if reqwest::get(p.url("/readyz")).await.unwrap().status() == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ok, "ready again once Redis is back");
}

#[tokio::test]
async fn a_draining_instance_is_not_ready() {
    let p = TestProvider::start().await;
    assert_eq!(reqwest::get(p.url("/readyz")).await.unwrap().status(), StatusCode::OK);
    p.app.drain.begin();
    let resp = reqwest::get(p.url("/readyz")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "a load balancer stops sending here");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "draining");
    assert_eq!(reqwest::get(p.url("/healthz")).await.unwrap().status(), StatusCode::OK, "alive while draining");
}

// ---- shutdown, with the binary ---------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_dingtalk-oidc");
const ADMIN: &str = "drain-test-admin-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `serve --dev` (SQLite and the DingTalk simulator, in a temporary directory), stderr to a file.
struct Served {
    child: std::process::Child,
    addr: SocketAddr,
    issuer: String,
    simulator: String,
    dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    async fn start(env: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let simulator = format!("127.0.0.1:{}", free_port());
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(BIN)
            .current_dir(dir.path())
            .args(["serve", "--dev", "--listen", &addr.to_string()])
            .env("DINGTALK_OIDC_DEV__SIMULATOR_LISTEN", &simulator)
            // No demo app: it would take the fixed port 8082 in every instance.
            .env("DINGTALK_OIDC_DEV__DEMO_LISTEN", "")
            .env("DINGTALK_OIDC_ADMIN_TOKEN", ADMIN)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let served =
            Served { child, addr, issuer: format!("http://{addr}"), simulator: format!("http://{simulator}"), dir };
        for _ in 0..150 {
            if let Ok(resp) = reqwest::get(format!("{}/readyz", served.issuer)).await
                && resp.status().is_success()
            {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("serve --dev did not come up: {}", served.stderr());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn terminate(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }

    async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("still running {within:?} after SIGTERM: {}", self.stderr());
    }

    /// Polls `/readyz`, each time on a new connection, until it reports the drain.
    async fn wait_until_draining(&self) -> RawResponse {
        for _ in 0..100 {
            let mut conn = TcpStream::connect(self.addr).await.expect("new connections are accepted while draining");
            let resp = exchange(&mut conn, "GET /readyz HTTP/1.1\r\nHost: drain.test\r\n\r\n").await;
            if resp.status == 503 {
                return resp;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("/readyz never said draining");
    }

    async fn register_client(&self) {
        let resp = reqwest::Client::new()
            .post(format!("{}/admin/v1/clients", self.issuer))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"id": "app", "redirect_uris": [REDIRECT_URI], "first_party": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
}

/// One HTTP/1.1 response, read exactly by its Content-Length (the connection may stay open).
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

async fn exchange(conn: &mut TcpStream, request: &str) -> RawResponse {
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.expect("the response, not a reset");
        assert!(n > 0, "connection closed before a response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.parse().unwrap()).expect("content-length");
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.expect("the whole body, not a reset");
        assert!(n > 0, "connection closed in the middle of the body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body.len(), length, "exactly one response");
    RawResponse { status, headers, body: String::from_utf8(body).unwrap() }
}

/// After a response with `Connection: close`, the server closes: end of stream, not a reset.
async fn assert_closed_by_server(conn: &mut TcpStream) {
    let mut rest = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut rest)).await.expect("closed promptly");
    assert_eq!(read.expect("an orderly close, not a reset"), 0);
}

/// A reverse proxy's pooled keep-alive connection sends `POST /token` just after SIGTERM; a load
/// balancer that has not noticed yet opens a new connection. Both are answered, each with
/// `Connection: close` (RFC 9112 §9.6), and the instance exits 0 once idle, long before its drain
/// time is up.
#[tokio::test]
async fn sigterm_answers_requests_arriving_during_the_drain_with_connection_close() {
    let mut served = Served::start(&[("DINGTALK_OIDC_SERVER__SHUTDOWN_ACCEPT_SECS", "30")]).await;
    let mut pooled = TcpStream::connect(served.addr).await.unwrap();
    let before = exchange(&mut pooled, "GET /healthz HTTP/1.1\r\nHost: drain.test\r\n\r\n").await;
    assert_eq!((before.status, before.header("connection")), (200, None), "kept alive before the signal");

    served.terminate();
    let readyz = served.wait_until_draining().await;
    assert_eq!(readyz.header("connection"), Some("close"));

    let form = "grant_type=client_credentials";
    let token = exchange(
        &mut pooled,
        &format!(
            "POST /token HTTP/1.1\r\nHost: drain.test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await;
    assert_eq!(token.status, 401, "{token:?}");
    let error: serde_json::Value = serde_json::from_str(&token.body).expect("the whole JSON answer");
    assert_eq!(error["error"], "invalid_client", "RFC 6749 §5.2");
    assert_eq!(token.header("connection"), Some("close"));
    assert_closed_by_server(&mut pooled).await;

    let mut fresh = TcpStream::connect(served.addr).await.expect("new connections are still accepted");
    let healthz = exchange(&mut fresh, "GET /healthz HTTP/1.1\r\nHost: drain.test\r\n\r\n").await;
    assert_eq!((healthz.status, healthz.body.as_str(), healthz.header("connection")), (200, "ok", Some("close")));
    assert_closed_by_server(&mut fresh).await;

    // Idle now: it exits after the quiet period, not after 30 s of accepting plus its drain.
    let status = served.exit_status(Duration::from_secs(15)).await;
    assert!(status.success(), "a clean drain exits 0: {status:?}\n{}", served.stderr());
}

/// A sign-in still waiting for a slow DingTalk when a (deliberately short) drain runs out is cut:
/// logged, and the exit status says so. Start-up warned that the drain was too short.
#[tokio::test]
async fn a_request_outlasting_the_drain_is_cut_and_the_exit_status_is_a_failure() {
    let mut served = Served::start(&[
        ("DINGTALK_OIDC_SERVER__SHUTDOWN_ACCEPT_SECS", "0"),
        ("DINGTALK_OIDC_SERVER__SHUTDOWN_DRAIN_SECS", "1"),
    ])
    .await;
    assert!(served.stderr().contains("shorter than the longest request"), "{}", served.stderr());
    served.register_client().await;
    let browser = Browser::new("alice");
    let authorize = common::authorize_url(
        &served.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let resp = browser.http.get(&authorize).send().await.unwrap();
    let mut dingtalk = url::Url::parse(&common::redirect_location(&resp).expect("to DingTalk")).unwrap();
    dingtalk.query_pairs_mut().append_pair("login_as", "alice");
    let resp = browser.http.get(dingtalk).send().await.unwrap();
    let callback = common::redirect_location(&resp).expect("back to the provider");
    assert!(callback.starts_with(&served.issuer), "{callback}");
    // Each DingTalk call now takes 3 s: the callback waits for several of them.
    let fault = reqwest::Client::new()
        .post(format!("{}/_simulator/fault", served.simulator))
        .json(&serde_json::json!({"fault": "latency", "ms": 3000}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    let in_flight = tokio::spawn({
        let http = browser.http.clone();
        async move { http.get(callback).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    served.terminate();

    let status = served.exit_status(Duration::from_secs(15)).await;
    assert!(!status.success(), "cutting a request is a failed shutdown: {status:?}");
    let answer = in_flight.await.unwrap();
    assert!(answer.is_err(), "the sign-in was cut, not answered: {answer:?}");
    let stderr = served.stderr();
    assert!(stderr.contains("still in flight") && stderr.contains("cut"), "{stderr}");
}
