//! Operating it: `/metrics` in Prometheus text format that moves with traffic, `/readyz` that
//! follows the backing services, `/healthz`, a request id on every response, and a shutdown that
//! drains rather than drops (the binary, signalled as an orchestrator does).

use crate::common;

use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Browser, OwnRedis, REDIRECT_URI, TestProvider, VERIFIER, obtain_code, token_request};
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
/// by how it ended and DingTalk's error code (README, "Metrics"), so such a call is counted as an
/// `oapi_error` with its errcode, not as a success. The simulator's `user_not_found` fault answers
/// `/topapi/user/getbyunionid` with errcode 60121; counts are compared before and after, since the
/// recorder is shared by the whole binary.
#[tokio::test]
async fn a_dingtalk_oapi_error_inside_http_200_is_counted_by_its_errcode() {
    let p = TestProvider::start().await;
    p.register("app", false, true).await.unwrap();
    let endpoint = "/topapi/user/getbyunionid";
    let count = |scrape: &prometheus_parse::Scrape, outcome: &str, errcode: &str| {
        counter(
            scrape,
            "dingtalk_oidc_dingtalk_requests_total",
            &[("endpoint", endpoint), ("outcome", outcome), ("errcode", errcode)],
        )
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
    assert!(
        count(&after, "oapi_error", "60121") >= count(&before, "oapi_error", "60121") + 1.0,
        "counted by its errcode"
    );
    // The outcome is one of a fixed set of words whatever DingTalk answers; the code is in errcode.
    const OUTCOMES: &[&str] =
        &["ok", "oapi_error", "api_error", "http_error", "timeout", "transport", "decode", "config"];
    for sample in after.samples.iter().filter(|s| s.metric == "dingtalk_oidc_dingtalk_requests_total") {
        let outcome = sample.labels.get("outcome").unwrap_or_default();
        assert!(OUTCOMES.contains(&outcome), "outcome {outcome:?}");
        assert!(sample.labels.get("errcode").is_some(), "every sample has an errcode label");
    }

    // A call that succeeds is `ok`.
    p.simulator.set_fault(None);
    let code = obtain_code(&p, &Browser::new("alice"), "app").await;
    assert!(!code.is_empty());
    let ok = scrape(&p).await;
    assert!(count(&ok, "ok", "") >= count(&after, "ok", "") + 1.0, "a success has no errcode");
}

/// Every family in the exposition, the process families included, has its `# HELP` and `# TYPE`
/// lines (Prometheus text format), the help before the type, and every sample belongs to a typed
/// family.
#[tokio::test]
async fn every_metric_family_has_help_and_type_lines() {
    let p = TestProvider::start().await;
    p.register("app", false, true).await.unwrap();
    // Traffic of every kind first: HTTP requests, DingTalk calls, a sign-in, the key gauges.
    obtain_code(&p, &Browser::new("alice"), "app").await;
    let text = reqwest::get(p.url("/metrics")).await.unwrap().text().await.unwrap();
    let mut helped = std::collections::BTreeSet::new();
    let mut typed = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(!help.trim().is_empty(), "empty help for {name}");
            helped.insert(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(helped.contains(name), "# TYPE {name} without a # HELP line before it");
            typed.insert(name.to_string(), kind.to_string());
        } else if !line.is_empty() && !line.starts_with('#') {
            let sample = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    sample.strip_suffix(suffix).filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(sample);
            assert!(typed.contains_key(family), "sample {sample} has no # TYPE line");
        }
    }
    for family in [
        "dingtalk_oidc_http_requests_total",
        "dingtalk_oidc_http_request_duration_seconds",
        "dingtalk_oidc_dingtalk_requests_total",
        "dingtalk_oidc_logins_total",
        "dingtalk_oidc_signing_key_age_seconds",
    ] {
        assert!(typed.contains_key(family), "{family} is in the exposition");
    }
    assert_eq!(typed["dingtalk_oidc_http_request_duration_seconds"], "histogram");
    assert_eq!(typed["dingtalk_oidc_logins_total"], "counter");
}

/// The process families of the Prometheus client conventions, read from `/proc/self`.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn process_metrics_are_exported_on_linux() {
    let p = TestProvider::start().await;
    let text = reqwest::get(p.url("/metrics")).await.unwrap().text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str| {
        scrape.samples.iter().find(|s| s.metric == name).map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            _ => panic!("{name} is a counter or a gauge"),
        })
    };
    assert!(value("process_cpu_seconds_total").is_some_and(|v| v > 0.0));
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    assert!(value("process_resident_memory_bytes").is_some_and(|v| v > 1_000_000.0));
    assert!(
        value("process_virtual_memory_bytes").is_some_and(|v| v >= value("process_resident_memory_bytes").unwrap())
    );
    assert!(value("process_open_fds").is_some_and(|v| v >= 3.0));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let started = value("process_start_time_seconds").unwrap();
    assert!(started <= now + 1.0 && started > now - 24.0 * 3600.0, "started {started}, now {now}");
    // Only absent when the soft limit is unlimited.
    let unlimited = std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Max open files") && l.contains("unlimited"));
    assert_eq!(value("process_max_fds").is_some(), !unlimited);
}

/// `server.metrics_listen`: a second listener serves `/metrics` and nothing else; the public port
/// answers `/metrics` with 404 and still serves everything else.
#[tokio::test]
async fn with_metrics_listen_set_metrics_are_served_there_alone_and_the_public_port_answers_404() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let listen = metrics_addr.clone();
    let p = TestProvider::start_with(move |c| c.server.metrics_listen = listen).await;
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics")).await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format");
    assert!(text.contains("# TYPE dingtalk_oidc_logins_total counter"), "{text}");
    for path in ["/healthz", "/.well-known/openid-configuration", "/token", "/admin/v1/clients"] {
        let other = reqwest::get(format!("http://{metrics_addr}{path}")).await.unwrap();
        assert_eq!(other.status(), StatusCode::NOT_FOUND, "{path} on the metrics listener");
    }
    assert_eq!(reqwest::get(p.url("/metrics")).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(reqwest::get(p.url("/healthz")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(reqwest::get(p.url("/.well-known/openid-configuration")).await.unwrap().status(), StatusCode::OK);
}

/// Without `server.metrics_listen` (the default) `/metrics` stays on the public port.
#[tokio::test]
async fn without_metrics_listen_metrics_stay_on_the_public_port() {
    let p = TestProvider::start().await;
    assert!(p.app.config.server.metrics_listen.is_empty());
    assert_eq!(reqwest::get(p.url("/metrics")).await.unwrap().status(), StatusCode::OK);
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
            .env_remove("RUST_LOG")
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

/// `[log]`: `log.format = "json"` applies even under `--dev` (whose default is text), `log.level`
/// filters, and `RUST_LOG`, when set, wins over `log.level`.
#[tokio::test]
async fn log_format_and_level_come_from_the_config_and_rust_log_wins_over_the_level() {
    let json = ("DINGTALK_OIDC_LOG__FORMAT", "json");
    let warn = ("DINGTALK_OIDC_LOG__LEVEL", "warn");
    let mut quiet = Served::start(&[json, warn]).await;
    quiet.terminate();
    assert!(quiet.exit_status(Duration::from_secs(15)).await.success(), "{}", quiet.stderr());
    assert!(!quiet.stderr().contains("shutting down"), "info lines are below log.level: {}", quiet.stderr());

    let mut loud = Served::start(&[json, warn, ("RUST_LOG", "info")]).await;
    loud.terminate();
    assert!(loud.exit_status(Duration::from_secs(15)).await.success(), "{}", loud.stderr());
    let stderr = loud.stderr();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"].as_str().unwrap_or("").contains("shutting down")),
        "{stderr}"
    );
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
    // Give the request time to reach the handler even on a loaded machine: sent after SIGTERM it
    // would be refused (503) instead of cut. Its first DingTalk call alone takes 3 s and the drain
    // 1 s, so terminating within the first 2 s still leaves it in flight when the drain ends.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    served.terminate();

    let status = served.exit_status(Duration::from_secs(15)).await;
    assert!(!status.success(), "cutting a request is a failed shutdown: {status:?}");
    let answer = in_flight.await.unwrap();
    assert!(answer.is_err(), "the sign-in was cut, not answered: {answer:?}");
    let stderr = served.stderr();
    assert!(stderr.contains("still in flight") && stderr.contains("cut"), "{stderr}");
}

/// The binary with `DINGTALK_OIDC_SERVER__METRICS_LISTEN`: it logs where metrics are served,
/// serves them there, and on SIGTERM the metrics listener stops with the server.
#[tokio::test]
async fn the_metrics_listener_is_announced_and_stops_with_the_server() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut served = Served::start(&[("DINGTALK_OIDC_SERVER__METRICS_LISTEN", &metrics_addr)]).await;
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics")).await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().await.unwrap().contains("process_cpu_seconds_total"));
    assert_eq!(reqwest::get(format!("{}/metrics", served.issuer)).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(served.stderr().contains(&metrics_addr), "the start-up log names the metrics address: {}", served.stderr());

    served.terminate();
    let status = served.exit_status(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}\n{}", served.stderr());
    assert!(TcpStream::connect(&metrics_addr).await.is_err(), "the metrics listener is closed after exit");
}

/// `server.metrics_listen` equal to `server.listen` stops the start, naming both options.
#[test]
fn metrics_listen_equal_to_listen_is_a_start_up_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--dev", "--listen", &addr])
        .env("DINGTALK_OIDC_SERVER__METRICS_LISTEN", &addr)
        .env("DINGTALK_OIDC_DEV__SIMULATOR_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.metrics_listen") && stderr.contains("server.listen"), "{stderr}");
}
