//! Three provider processes on one PostgreSQL and one Redis behave as one issuer: a login started
//! on A finishes on B and its code is exchanged on C; a refresh token rotated on A is revoked on B
//! and introspects inactive on C; a key rotated through A is served by B and C within the reload
//! bound; killing one instance (SIGKILL) in the middle of refreshes on all three loses no family and
//! makes no survivor answer 5xx; SIGTERM drains an in-flight request before exiting.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Browser, CHALLENGE, PostgresDatabase, REDIRECT_URI, RedisNamespace, VERIFIER, redirect_location};
use reqwest::StatusCode;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dingtalk-oidc");
const ADMIN: &str = "replica-test-admin-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success());
}

async fn wait_until_up(url: &str) {
    for _ in 0..150 {
        if let Ok(resp) = reqwest::get(url).await
            && resp.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up");
}

struct Cluster {
    issuer: String,
    urls: Vec<String>,
    instances: Vec<Process>,
    env: Vec<(String, String)>,
    _simulator: Process,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(db: &PostgresDatabase, ns: &RedisNamespace) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let sim_port = free_port();
        // One issuer for the deployment (as behind a load balancer): instance A's address.
        let issuer = format!("http://127.0.0.1:{}", ports[0]);
        let simulator = Command::new(BIN)
            .args(["simulator", "--listen", &format!("127.0.0.1:{sim_port}")])
            .args(["--redirect-uri", &format!("{issuer}/callback/dingtalk")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sim = format!("http://127.0.0.1:{sim_port}");
        let env: Vec<(String, String)> = [
            ("DINGTALK_OIDC_ISSUER", issuer.clone()),
            ("DINGTALK_OIDC_DATABASE__URL", db.url.clone()),
            ("DINGTALK_OIDC_SESSIONS__BACKEND", "redis".into()),
            ("DINGTALK_OIDC_REDIS__URL", ns.url.clone()),
            ("DINGTALK_OIDC_REDIS__PREFIX", ns.prefix.clone()),
            ("DINGTALK_OIDC_KEYS__KEK", "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".into()),
            ("DINGTALK_OIDC_KEYS__RELOAD_INTERVAL_SECS", "1".into()),
            ("DINGTALK_OIDC_DINGTALK__CLIENT_ID", "dingsimappkey".into()),
            ("DINGTALK_OIDC_DINGTALK__CLIENT_SECRET", "dingsimappsecret".into()),
            ("DINGTALK_OIDC_DINGTALK__CORP_ID", "ding-demo-corp".into()),
            ("DINGTALK_OIDC_DINGTALK__LOGIN_BASE_URL", sim.clone()),
            ("DINGTALK_OIDC_DINGTALK__API_BASE_URL", sim.clone()),
            ("DINGTALK_OIDC_DINGTALK__OAPI_BASE_URL", sim.clone()),
            ("DINGTALK_OIDC_ADMIN_TOKEN", ADMIN.into()),
            ("RUST_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        wait_until_up(&format!("{sim}/_simulator/fault")).await;
        let mut cluster =
            Cluster { issuer, urls: Vec::new(), instances: Vec::new(), env, _simulator: Process(simulator), dir };
        // Migrate once, then start A (which makes the first key) before B and C.
        let migrate = cluster.command().arg("migrate").output().unwrap();
        assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
        for port in ports {
            let url = format!("http://127.0.0.1:{port}");
            let child = cluster
                .command()
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            cluster.instances.push(Process(child));
            wait_until_up(&format!("{url}/readyz")).await;
            cluster.urls.push(url);
        }
        cluster
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Registers the client through instance A's admin API.
    async fn register(&self) -> String {
        let resp = reqwest::Client::new()
            .post(format!("{}/admin/v1/clients", self.urls[0]))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"id": "app", "redirect_uris": [REDIRECT_URI], "first_party": true,
                "allowed_scopes": ["openid", "offline_access"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.unwrap();
        body["client_secret"].as_str().unwrap().to_string()
    }
}

/// Moves a URL of instance `from` to instance `to` (same path and query).
fn on(url: &str, from: &str, to: &str) -> String {
    url.replacen(from, to, 1)
}

async fn token(base: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth("app", Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn three_replicas_behave_as_one_issuer() {
    let Some(db) = PostgresDatabase::create().await else { return };
    let Some(ns) = RedisNamespace::create().await else { return };
    let mut cluster = Cluster::start(&db, &ns).await;
    let (a, b, c) = (cluster.urls[0].clone(), cluster.urls[1].clone(), cluster.urls[2].clone());
    let secret = cluster.register().await;

    // A login started on A finishes on B.
    let browser = Browser::new("alice");
    let authorize = common::authorize_url(
        &a,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid offline_access"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let resp = browser.http.get(&authorize).send().await.unwrap();
    let mut dingtalk = url::Url::parse(&redirect_location(&resp).expect("to DingTalk")).unwrap();
    dingtalk.query_pairs_mut().append_pair("login_as", "alice");
    let resp = browser.http.get(dingtalk).send().await.unwrap();
    let callback = redirect_location(&resp).expect("back from DingTalk");
    assert!(callback.starts_with(&cluster.issuer));
    let resp = browser.http.get(on(&callback, &a, &b)).send().await.unwrap();
    let to_client = redirect_location(&resp).expect("B finishes the login");
    let code = url::Url::parse(&to_client).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();

    // Its code is exchanged on C.
    let resp = token(
        &c,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.unwrap();
    let mut refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

    // Rotated on A, revoked on B, introspected inactive on C.
    let resp = token(&a, &secret, &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rotated: Value = resp.json().await.unwrap();
    let rt2 = rotated["refresh_token"].as_str().unwrap().to_string();
    let revoked = reqwest::Client::new()
        .post(format!("{b}/revoke"))
        .basic_auth("app", Some(&secret))
        .form(&[("token", rt2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let introspected: Value = reqwest::Client::new()
        .post(format!("{c}/introspect"))
        .basic_auth("app", Some(&secret))
        .form(&[("token", rt2.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, serde_json::json!({"active": false}));

    // A key rotated through A is served by B and C within the reload bound.
    let rotated_key: Value = reqwest::Client::new()
        .post(format!("{a}/admin/v1/keys/rotate"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"now": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = rotated_key["kid"].as_str().unwrap().to_string();
    for url in [&b, &c] {
        let deadline = Instant::now() + Duration::from_secs(12);
        loop {
            let jwks: Value = reqwest::get(format!("{url}/jwks.json")).await.unwrap().json().await.unwrap();
            if jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()) {
                break;
            }
            assert!(Instant::now() < deadline, "{url} does not serve the new key within the bound");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // A fresh family; refreshes round-robin over all three while B is killed mid-loop.
    let browser = Browser::new("alice");
    let resp = browser.http.get(&authorize).send().await.unwrap();
    let mut dingtalk = url::Url::parse(&redirect_location(&resp).unwrap()).unwrap();
    dingtalk.query_pairs_mut().append_pair("login_as", "alice");
    let callback = redirect_location(&browser.http.get(dingtalk).send().await.unwrap()).unwrap();
    let to_client = redirect_location(&browser.http.get(&callback).send().await.unwrap()).unwrap();
    let code = url::Url::parse(&to_client).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let tokens: Value = token(
        &a,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let mut b_alive = true;
    let mut ok = 0;
    for i in 0..30 {
        if i == 10 {
            signal(&cluster.instances[1].0, "-KILL");
            let _ = cluster.instances[1].0.wait();
            b_alive = false;
        }
        let targets: Vec<&String> = [&a, &b, &c].into_iter().filter(|u| b_alive || **u != b).collect();
        let base = targets[i % targets.len()];
        let sent = reqwest::Client::new()
            .post(format!("{base}/token"))
            .basic_auth("app", Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())])
            .send()
            .await;
        let Ok(resp) = sent else { continue };
        assert!(!resp.status().is_server_error(), "{base} answered {}", resp.status());
        assert_eq!(resp.status(), StatusCode::OK, "the family survives: {}", resp.text().await.unwrap_or_default());
        let body: Value = resp.json().await.unwrap();
        refresh_token = body["refresh_token"].as_str().unwrap().to_string();
        ok += 1;
    }
    assert!(ok >= 25, "refreshes kept succeeding on the survivors ({ok})");

    // SIGTERM drains an in-flight request: a slow DingTalk makes the callback take ~1.5 s.
    let browser = Browser::new("bob");
    let resp = browser.http.get(&authorize).send().await.unwrap();
    let mut dingtalk = url::Url::parse(&redirect_location(&resp).unwrap()).unwrap();
    dingtalk.query_pairs_mut().append_pair("login_as", "bob");
    let callback = redirect_location(&browser.http.get(dingtalk.clone()).send().await.unwrap()).unwrap();
    let sim = dingtalk.origin().ascii_serialization();
    reqwest::Client::new()
        .post(format!("{sim}/_simulator/fault"))
        .json(&serde_json::json!({"fault": "latency", "ms": 1500}))
        .send()
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let http = browser.http.clone();
        let url = on(&callback, &a, &c);
        async move { http.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&cluster.instances[2].0, "-TERM");
    let status = in_flight.await.unwrap().expect("the in-flight request is answered");
    assert_eq!(status, StatusCode::FOUND, "drained, not dropped");
    let exit = cluster.instances[2].0.wait().unwrap();
    assert!(exit.success(), "graceful exit: {exit:?}");

    drop(cluster);
    ns.drop().await;
    db.drop().await;
}
