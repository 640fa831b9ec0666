//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0) to receivers the test runs: the
//! logout token verifies against the JWKS and carries the required claims; a receiver that is down
//! at first gets it once it is back, also across a provider restart; a 400 is not retried.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Browser, CHALLENGE, PostgresDatabase, REDIRECT_URI, TestProvider, unverified_claims};
use dingtalk_oidc::directory::NewClient;
use poem::http::StatusCode as PoemStatus;
use poem::{EndpointExt, Request, handler, web::Data};
use reqwest::StatusCode;
use serde_json::Value;

#[derive(Debug, Clone)]
struct Received {
    method: String,
    content_type: String,
    query: String,
    body: String,
}

/// What the receiver shares with its handler: what arrived, and the status to answer with.
type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<u16>>);

/// A relying party's back-channel logout endpoint, started and stopped by the test.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    /// The status it answers with.
    status: Arc<Mutex<u16>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[handler]
async fn receive(req: &Request, body: String, state: Data<&ReceiverState>) -> PoemStatus {
    let state = state.0;
    state.0.lock().unwrap().push(Received {
        method: req.method().to_string(),
        content_type: req.content_type().unwrap_or_default().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        body,
    });
    PoemStatus::from_u16(*state.1.lock().unwrap()).unwrap_or(PoemStatus::OK)
}

impl Receiver {
    fn new() -> Receiver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Receiver { port, received: Arc::default(), status: Arc::new(Mutex::new(200)), server: None }
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/backchannel-logout?tenant=1", self.port)
    }

    async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let app = poem::Route::new()
            .at("/backchannel-logout", poem::post(receive))
            .data((self.received.clone(), self.status.clone()));
        self.server = Some(tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        }));
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }
}

async fn register(p: &TestProvider, receiver: &Receiver) -> String {
    register_party(p, receiver, true).await
}

/// `register`, a first-party client or one the user must consent to.
async fn register_party(p: &TestProvider, receiver: &Receiver, first_party: bool) -> String {
    p.app
        .directory
        .create_client(NewClient {
            id: "app".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party,
            backchannel_logout_uri: Some(receiver.uri()),
            ..Default::default()
        })
        .await
        .unwrap()
        .1
        .unwrap()
}

async fn login(p: &TestProvider, browser: &Browser, secret: &str) -> Value {
    login_approving(p, browser, secret, false).await
}

/// `login`, approving the consent page if the client asks for consent.
async fn login_approving(p: &TestProvider, browser: &Browser, secret: &str, approve_consent: bool) -> Value {
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("nonce", "n"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = browser.journey(&url, approve_consent).await.param("code").unwrap();
    common::exchange_code(p, "app", secret, &code).await
}

async fn logout(p: &TestProvider, browser: &Browser, id_token: &str) {
    let resp = browser.http.get(format!("{}?id_token_hint={id_token}", p.url("/logout"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// The `logout_token` form field of a delivery (§2.5).
fn logout_token_of(got: &Received) -> String {
    url::form_urlencoded::parse(got.body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("logout_token")
}

/// Checks one delivery: form POST, query kept, a logout token that verifies against the JWKS.
async fn assert_valid_delivery(p: &TestProvider, got: &Received, id_token: &str) {
    assert_eq!(got.method, "POST");
    assert!(got.content_type.starts_with("application/x-www-form-urlencoded"), "{}", got.content_type);
    assert_eq!(got.query, "tenant=1", "the registered URI's query is kept (§2.5)");
    let token = logout_token_of(got);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: Value = reqwest::get(p.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("kid in the JWKS");
    let decoding =
        jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["app"]);
    validation.set_issuer(&[p.issuer.as_str()]);
    validation.validate_exp = false;
    let claims =
        jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("verifies against the JWKS").claims;
    for claim in ["iss", "aud", "iat", "exp", "jti", "sub", "sid"] {
        assert!(!claims[claim].is_null(), "{claim} missing");
    }
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 120);
    assert_eq!(claims["events"], serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}}));
    assert!(claims.get("nonce").is_none(), "§2.4: never a nonce");
    let id_claims = unverified_claims(id_token);
    assert_eq!(claims["sid"], id_claims["sid"], "the sid the client saw in its ID token");
    assert_eq!(claims["sub"], id_claims["sub"]);
}

#[tokio::test]
async fn backchannel_logout_2_4_token_is_signed_typed_and_delivered_before_the_redirect() {
    let mut receiver = Receiver::new();
    receiver.up().await;
    let p = TestProvider::start_with(|c| c.logout.poll_interval_ms = 100).await;
    let secret = register(&p, &receiver).await;
    let browser = Browser::new("alice");
    let tokens = login(&p, &browser, &secret).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    logout(&p, &browser, &id_token).await;
    // Delivered synchronously, before the logout answered (RP-Initiated Logout §2).
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_valid_delivery(&p, &got[0], &id_token).await;
}

#[tokio::test]
async fn rp_initiated_logout_2_every_rp_is_notified_before_the_redirect_while_the_worker_polls_constantly() {
    // The delivery worker polls every millisecond. The logout request must still send its own
    // notifications before it answers, not lose them to a worker that claims them first and sends
    // them after the answer (RP-Initiated Logout §2).
    let mut receiver = Receiver::new();
    receiver.up().await;
    let p = TestProvider::start_with(|c| c.logout.poll_interval_ms = 1).await;
    let secret = register(&p, &receiver).await;
    for round in 1..=8 {
        let browser = Browser::new("alice");
        let tokens = login(&p, &browser, &secret).await;
        let id_token = tokens["id_token"].as_str().unwrap().to_string();
        logout(&p, &browser, &id_token).await;
        assert_eq!(receiver.received().len(), round, "round {round}: delivered before the logout answered");
    }
}

#[tokio::test]
async fn rp_initiated_logout_2_every_rp_of_the_session_is_notified_before_the_redirect() {
    // One browser signs in to two apps (single sign-on); its logout must reach both before it answers.
    let mut receiver = Receiver::new();
    receiver.up().await;
    let p = TestProvider::start().await;
    let secret = register(&p, &receiver).await;
    let wiki = NewClient {
        id: "wiki".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        first_party: true,
        backchannel_logout_uri: Some(receiver.uri()),
        ..Default::default()
    };
    let wiki_secret = p.app.directory.create_client(wiki).await.unwrap().1.unwrap();
    let browser = Browser::new("alice");
    let tokens = login(&p, &browser, &secret).await;
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "wiki"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = browser.journey(&url, false).await.param("code").expect("signed in to the wiki without a login");
    common::exchange_code(&p, "wiki", &wiki_secret, &code).await;
    logout(&p, &browser, tokens["id_token"].as_str().unwrap()).await;
    let mut audiences: Vec<String> = receiver
        .received()
        .iter()
        .map(|got| unverified_claims(&logout_token_of(got))["aud"].as_str().unwrap_or_default().to_string())
        .collect();
    audiences.sort();
    assert_eq!(audiences, ["app", "wiki"], "one logout token per RP, both before the logout answered");
}

#[tokio::test]
async fn backchannel_logout_2_8_a_receiver_down_at_first_gets_it_when_back() {
    let mut receiver = Receiver::new();
    let p = TestProvider::start_with(|c| c.logout.poll_interval_ms = 100).await;
    let secret = register(&p, &receiver).await;
    let browser = Browser::new("alice");
    let tokens = login(&p, &browser, &secret).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    logout(&p, &browser, &id_token).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty());
    receiver.up().await;
    // Retries back off; the protocol clock moves past the next due time.
    p.clock.advance(600);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "delivered once the receiver is back");
    assert_valid_delivery(&p, &got[0], &id_token).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "never delivered twice after success");
}

#[tokio::test]
async fn backchannel_logout_2_8_a_400_is_not_retried() {
    let mut receiver = Receiver::new();
    *receiver.status.lock().unwrap() = 400;
    receiver.up().await;
    let p = TestProvider::start_with(|c| c.logout.poll_interval_ms = 100).await;
    let secret = register(&p, &receiver).await;
    let browser = Browser::new("alice");
    let tokens = login(&p, &browser, &secret).await;
    logout(&p, &browser, tokens["id_token"].as_str().unwrap()).await;
    p.clock.advance(600);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn backchannel_logout_survives_a_provider_restart() {
    let Some(db) = PostgresDatabase::create().await else { return };
    let mut receiver = Receiver::new();
    let url = db.url.clone();
    let first = TestProvider::start_with(move |c| {
        c.database.url = url;
        c.logout.poll_interval_ms = 100;
    })
    .await;
    let secret = register(&first, &receiver).await;
    let browser = Browser::new("alice");
    let tokens = login(&first, &browser, &secret).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    logout(&first, &browser, &id_token).await;
    assert!(receiver.received().is_empty(), "receiver down: queued");
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;

    receiver.up().await;
    let url = db.url.clone();
    let second = TestProvider::start_with(move |c| {
        c.database.url = url;
        c.logout.poll_interval_ms = 100;
    })
    .await;
    second.clock.advance(600);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "the restarted provider delivers the queued notification");
    assert_valid_delivery(&second, &got[0], &id_token).await;
    drop(second);
    db.drop().await;
}

/// Back-Channel Logout 1.0 §2.5: a user who withdraws a client's consent on the account page ends
/// the client's session for them: the client is told, with the `sid` of the session it joined.
#[tokio::test]
async fn backchannel_logout_2_5_withdrawing_consent_tells_the_app_with_the_sessions_sid() {
    let mut receiver = Receiver::new();
    receiver.up().await;
    let p = TestProvider::start_with(|c| c.logout.poll_interval_ms = 100).await;
    let secret = register_party(&p, &receiver, false).await;
    let bob = Browser::new("bob");
    let tokens = login_approving(&p, &bob, &secret, true).await;
    let id_token = tokens["id_token"].as_str().unwrap();

    let page = bob.http.get(p.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = common::hidden_value(&page, "csrf_token").expect("the account page's token");
    let resp = bob
        .http
        .post(p.url("/account"))
        .form(&[("csrf_token", csrf.as_str()), ("action", "withdraw_consent"), ("client_id", "app")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "one notification: {got:?}");
    assert_valid_delivery(&p, &got[0], id_token).await;
}
