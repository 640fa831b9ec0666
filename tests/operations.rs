//! Operating it: `/metrics` in Prometheus text format that moves with traffic, `/readyz` that
//! follows the backing services, `/healthz`, and a request id on every response.

mod common;

use common::{Browser, OwnRedis, REDIRECT_URI, TestProvider, VERIFIER, obtain_code, token_request};
use dingtalk_oidc::dingtalk::Fault;
use reqwest::StatusCode;

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
