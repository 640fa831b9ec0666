//! Client against simulator over real HTTP on a random port: the login flow (§1–§3),
//! organisation look-ups (§4–§5), faults, and the wire shapes both sides must agree on.

use std::time::Duration;

use serde_json::{Value, json};

use super::{DingTalkClient, DingTalkError, DingTalkSettings, Fault, SimDirectory, Simulator};

const APP_KEY: &str = "dingsimappkey";
const APP_SECRET: &str = "dingsimappsecret";
const CALLBACK: &str = "http://app.example.test/auth/dingtalk/callback";

async fn start_with(dir: SimDirectory) -> (Simulator, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sim = Simulator::new(dir);
    tokio::spawn(sim.clone().serve(listener));
    (sim, base)
}

async fn start() -> (Simulator, String) {
    start_with(SimDirectory::default()).await
}

fn settings(base: &str, corp_id: Option<&str>) -> DingTalkSettings {
    DingTalkSettings {
        client_id: APP_KEY.into(),
        client_secret: APP_SECRET.into(),
        client_secret_file: None,
        corp_id: corp_id.map(str::to_owned),
        login_base_url: base.into(),
        api_base_url: base.into(),
        oapi_base_url: base.into(),
        timeout_ms: 3000,
        ..DingTalkSettings::default()
    }
}

fn client(base: &str, corp_id: Option<&str>) -> DingTalkClient {
    DingTalkClient::new(settings(base, corp_id)).unwrap()
}

fn raw_http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Sends `request` and reads its body as JSON, whatever the status.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn query_of(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Drive §1 with `login_as` and return the callback's query.
async fn authorize_as(client: &DingTalkClient, login: &str) -> Vec<(String, String)> {
    let url = format!("{}&login_as={login}", client.authorize_url(CALLBACK, "st-1"));
    let resp = raw_http().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(CALLBACK), "{location}");
    query_of(&location)
}

async fn code_for(client: &DingTalkClient, login: &str) -> String {
    get(&authorize_as(client, login).await, "code").unwrap().to_owned()
}

/// The unionId of the directory's first user (alice in the demo organisation).
fn first_union_id(sim: &Simulator) -> String {
    sim.directory().users[0].union_id.clone()
}

/// Starts a simulator and gets alice a code, then sets `fault` and exchanges the code: the
/// exchange's error, with the simulator and client for further calls.
async fn login_error_under(fault: Fault) -> (Simulator, DingTalkClient, DingTalkError) {
    let (sim, base) = start().await;
    let client = client(&base, None);
    let code = code_for(&client, "alice").await;
    sim.set_fault(Some(fault));
    let err = client.login(&code).await.unwrap_err();
    (sim, client, err)
}

async fn app_token(base: &str) -> String {
    let resp = raw_http()
        .post(format!("{base}/v1.0/oauth2/accessToken"))
        .json(&json!({ "appKey": APP_KEY, "appSecret": APP_SECRET }))
        .send()
        .await
        .unwrap();
    resp.json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().to_owned()
}

fn assert_api(err: &DingTalkError, want_status: u16, want_code: &str) {
    match err {
        DingTalkError::Api { status, code, .. } => {
            assert_eq!((*status, code.as_str()), (want_status, want_code), "{err:?}");
        }
        other => panic!("expected Api {want_status} {want_code}, got {other:?}"),
    }
}

// ---- §1–§3 login ----------------------------------------------------------------

#[tokio::test]
async fn callback_carries_code_and_auth_code_with_same_value_and_state() {
    let (_sim, base) = start().await;
    let pairs = authorize_as(&client(&base, None), "alice").await;
    let code = get(&pairs, "code").unwrap();
    assert!(!code.is_empty());
    assert_eq!(get(&pairs, "authCode"), Some(code));
    assert_eq!(get(&pairs, "state"), Some("st-1"));
}

#[tokio::test]
async fn login_with_corp_scope_returns_identity_and_corp_id() {
    let (sim, base) = start().await;
    let client = client(&base, Some("ding-demo-corp"));
    let code = code_for(&client, "alice").await;
    let identity = client.login(&code).await.unwrap();
    let alice = sim.directory().user_by_login("alice").unwrap().clone();
    assert_eq!(identity.union_id, alice.union_id);
    assert_eq!(identity.open_id.as_deref(), Some(alice.open_id.as_str()));
    assert_eq!(identity.nick.as_deref(), Some("Alice"));
    assert_eq!(identity.email.as_deref(), Some("alice@example.com"));
    assert_eq!(identity.mobile.as_deref(), Some("13800000001"));
    assert_eq!(identity.state_code.as_deref(), Some("86"));
    assert_eq!(identity.avatar_url, None);
    assert_eq!(identity.corp_id.as_deref(), Some("ding-demo-corp"));
}

#[tokio::test]
async fn login_without_corp_scope_has_no_corp_id() {
    let (_sim, base) = start().await;
    let client = client(&base, None);
    let code = code_for(&client, "alice").await;
    assert_eq!(client.login(&code).await.unwrap().corp_id, None);
}

#[tokio::test]
async fn auth_code_is_single_use() {
    let (_sim, base) = start().await;
    let client = client(&base, None);
    let code = code_for(&client, "bob").await;
    client.login(&code).await.unwrap();
    let err = client.login(&code).await.unwrap_err();
    assert_api(&err, 400, "invalidParameter.authCode.notFound");
    assert!(!err.is_unavailable());
}

#[tokio::test]
async fn callback_appends_to_existing_query_and_omits_absent_state() {
    let (_sim, base) = start().await;
    let url = format!(
        "{base}/oauth2/auth?redirect_uri={}&response_type=code&client_id={APP_KEY}\
         &scope=openid&prompt=consent&login_as=carol",
        url::form_urlencoded::byte_serialize(b"http://app.test/cb?x=1").collect::<String>()
    );
    let resp = raw_http().get(url).send().await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("http://app.test/cb?x=1&code="), "{location}");
    assert_eq!(get(&query_of(location), "state"), None);
}

#[tokio::test]
async fn authorize_rejects_unregistered_redirect_uri_with_error_page() {
    let (sim, base) = start().await;
    sim.set_redirect_uris(vec!["http://registered.test/cb".into()]);
    let url = format!("{}&login_as=alice", client(&base, None).authorize_url(CALLBACK, "s"));
    let resp = raw_http().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

#[tokio::test]
async fn authorize_requires_consent_prompt_and_known_client() {
    let (_sim, base) = start().await;
    let good = client(&base, None).authorize_url(CALLBACK, "s");
    for bad in [
        good.replace("prompt=consent", "prompt=none"),
        good.replace(APP_KEY, "otherapp"),
        good.replace("response_type=code", "response_type=token"),
    ] {
        let resp = raw_http().get(&bad).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn login_page_lists_users_escaped_and_its_links_complete_login() {
    let mut dir = SimDirectory::default();
    dir.users[1].nick = "<script>x</script>".into();
    let (_sim, base) = start_with(dir).await;
    let client = client(&base, None);
    let page = raw_http().get(client.authorize_url(CALLBACK, "s")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(!page.contains("<script>"));
    assert!(page.contains("Deny"));
    // Follow the first user link as a browser would (relative `?...` href).
    let href = page.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
    let href = href.replace("&amp;", "&");
    let resp = raw_http().get(format!("{base}/oauth2/auth{href}")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let pairs = query_of(resp.headers()["location"].to_str().unwrap());
    let code = get(&pairs, "code").unwrap();
    assert!(client.login(code).await.is_ok());
}

#[tokio::test]
async fn login_denied_fault_redirects_with_access_denied_and_state() {
    let (sim, base) = start().await;
    sim.set_fault(Some(Fault::LoginDenied));
    let pairs = authorize_as(&client(&base, None), "alice").await;
    assert_eq!(get(&pairs, "error"), Some("access_denied"));
    assert_eq!(get(&pairs, "state"), Some("st-1"));
    assert_eq!(get(&pairs, "code"), None);
}

#[tokio::test]
async fn wrong_app_secret_is_invalid_client_id_or_secret() {
    let (_sim, base) = start().await;
    let good = client(&base, None);
    let code = code_for(&good, "alice").await;
    let bad = DingTalkClient::new(DingTalkSettings { client_secret: "wrong".into(), ..settings(&base, None) }).unwrap();
    let err = bad.login(&code).await.unwrap_err();
    assert_api(&err, 400, "invalidClientIdOrSecret");
    assert!(!err.is_unavailable());
    let union_id = SimDirectory::default().users[0].union_id.clone();
    assert_api(&bad.org_member(&union_id).await.unwrap_err(), 400, "invalidClientIdOrSecret");
}

// ---- §4–§5 organisation -------------------------------------------------------

#[tokio::test]
async fn org_member_of_alice_has_userid_dept_chain_roles_and_admin() {
    let (sim, base) = start().await;
    let alice = sim.directory().user_by_login("alice").unwrap().clone();
    let member = client(&base, Some("ding-demo-corp")).org_member(&alice.union_id).await.unwrap().unwrap();
    assert_eq!(Some(member.user_id.clone()), alice.userid);
    assert_eq!(member.dept_ids, vec![2]);
    assert_eq!(member.dept_chains, vec![vec![2, 1]]);
    assert_eq!(member.leader_in_depts, vec![2]);
    assert!(member.admin && member.active && !member.boss);
    assert_eq!(member.title.as_deref(), Some("Engineering Manager"));
    assert_eq!(member.email.as_deref(), Some("alice@example.com"));
    let admin_role = member.roles.iter().find(|r| r.name == "主管理员").unwrap();
    assert_eq!(admin_role.group_name.as_deref(), Some("默认"));
}

#[tokio::test]
async fn org_member_reports_inactive_user_and_nested_department_chain() {
    let (sim, base) = start().await;
    let client = client(&base, None);
    let dir = sim.directory();
    let dave = client.org_member(&dir.user_by_login("dave").unwrap().union_id).await.unwrap().unwrap();
    assert!(!dave.active);
    let carol = client.org_member(&dir.user_by_login("carol").unwrap().union_id).await.unwrap().unwrap();
    assert_eq!(carol.dept_chains, vec![vec![4, 2, 1]]);
}

#[tokio::test]
async fn org_member_of_user_from_another_org_is_none() {
    let (sim, base) = start().await;
    let mallory = sim.directory().user_by_login("mallory").unwrap().clone();
    let client = client(&base, Some("ding-demo-corp"));
    // Mallory can sign in to DingTalk, but picks her own organisation.
    let identity = client.login(&code_for(&client, "mallory").await).await.unwrap();
    assert_eq!(identity.corp_id.as_deref(), Some("ding-other-corp"));
    assert_eq!(client.org_member(&mallory.union_id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_token_is_fetched_once_for_repeated_and_concurrent_calls() {
    let (sim, base) = start().await;
    let client = client(&base, None);
    let union_id = first_union_id(&sim);
    client.org_member(&union_id).await.unwrap();
    client.org_member(&union_id).await.unwrap();
    assert_eq!(sim.app_token_requests(), 1);

    let fresh = self::client(&base, None);
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let (client, union_id) = (fresh.clone(), union_id.clone());
            tokio::spawn(async move { client.org_member(&union_id).await })
        })
        .collect();
    for handle in handles {
        assert!(handle.await.unwrap().unwrap().is_some());
    }
    assert_eq!(sim.app_token_requests(), 2, "concurrent callers share one fetch");
}

#[tokio::test]
async fn rejected_app_token_is_dropped_and_fetched_again_once() {
    let (sim, base) = start().await;
    let client = client(&base, None);
    let union_id = first_union_id(&sim);
    client.org_member(&union_id).await.unwrap();
    sim.expire_app_tokens();
    assert!(client.org_member(&union_id).await.unwrap().is_some());
    assert_eq!(sim.app_token_requests(), 2);
}

#[tokio::test]
async fn short_lived_app_token_is_refetched_after_half_its_lifetime() {
    let (sim, base) = start().await;
    sim.set_app_token_ttl(Duration::from_secs(2));
    let client = client(&base, None);
    let union_id = first_union_id(&sim);
    client.org_member(&union_id).await.unwrap();
    client.org_member(&union_id).await.unwrap();
    assert_eq!(sim.app_token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.org_member(&union_id).await.unwrap();
    assert_eq!(sim.app_token_requests(), 2);
}

// ---- faults ---------------------------------------------------------------------

#[tokio::test]
async fn invalid_code_fault_fails_code_exchange_with_400() {
    let (_, _, err) = login_error_under(Fault::InvalidCode).await;
    assert_api(&err, 400, "invalidParameter.authCode.notFound");
    assert!(!err.is_unavailable());
}

#[tokio::test]
async fn expired_token_fault_fails_profile_with_invalid_authentication() {
    let (_, _, err) = login_error_under(Fault::ExpiredToken).await;
    assert_api(&err, 400, "InvalidAuthentication");
    assert!(!err.is_unavailable());
    assert_eq!(err.log_code(), "api:InvalidAuthentication");
}

#[tokio::test]
async fn permission_denied_fault_is_403_on_api_and_88_60011_on_oapi() {
    let (sim, client, err) = login_error_under(Fault::PermissionDenied).await;
    assert_api(&err, 403, "Forbidden.AccessDenied.AccessTokenPermissionDenied");
    assert!(!err.is_unavailable());

    let union_id = first_union_id(&sim);
    let err = client.org_member(&union_id).await.unwrap_err();
    assert!(matches!(&err, DingTalkError::Oapi { errcode: 88, sub_code: Some(s), .. } if s == "60011"), "{err:?}");
    assert_eq!(err.log_code(), "oapi:88/60011");
    assert!(!err.is_unavailable());
}

#[tokio::test]
async fn qps_limit_fault_is_unavailable_on_both_hosts() {
    let (sim, base) = start().await;
    let client = client(&base, None);
    let union_id = first_union_id(&sim);
    // Warm the app-token cache so the oapi call itself meets the limit.
    client.org_member(&union_id).await.unwrap();
    let code = code_for(&client, "alice").await;
    sim.set_fault(Some(Fault::QpsLimit));

    let err = client.login(&code).await.unwrap_err();
    assert_api(&err, 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi");
    assert!(err.is_unavailable());

    let err = client.org_member(&union_id).await.unwrap_err();
    assert!(matches!(err, DingTalkError::Oapi { errcode: 90018, .. }), "{err:?}");
    assert!(err.is_unavailable());

    // A cold cache meets the limit on the v1.0 token endpoint instead.
    let err = self::client(&base, None).org_member(&union_id).await.unwrap_err();
    assert_api(&err, 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi");
    assert!(err.is_unavailable());
}

#[tokio::test]
async fn user_not_found_fault_makes_org_member_none() {
    let (sim, base) = start().await;
    sim.set_fault(Some(Fault::UserNotFound));
    let union_id = first_union_id(&sim);
    assert_eq!(client(&base, None).org_member(&union_id).await.unwrap(), None);
}

#[tokio::test]
async fn server_error_fault_is_an_unavailable_http_503() {
    let (sim, client, err) = login_error_under(Fault::ServerError).await;
    assert!(matches!(err, DingTalkError::Api { status: 503, .. }), "{err:?}");
    assert_eq!(err.log_code(), "http:503");
    assert!(err.is_unavailable());
    let union_id = first_union_id(&sim);
    assert!(client.org_member(&union_id).await.unwrap_err().is_unavailable());
}

#[tokio::test]
async fn latency_beyond_timeout_is_an_unavailable_timeout() {
    let (sim, base) = start().await;
    let client = DingTalkClient::new(DingTalkSettings { timeout_ms: 200, ..settings(&base, None) }).unwrap();
    let code = code_for(&client, "alice").await;
    sim.set_fault(Some(Fault::Latency(Duration::from_millis(600))));
    let err = client.login(&code).await.unwrap_err();
    assert!(matches!(err, DingTalkError::Timeout), "{err:?}");
    assert!(err.is_unavailable());
}

/// A sign-in's longest time (and so the shutdown drain, `drain::longest_request`) counts
/// `org_member` as three calls. Callers queue for the app token (§6.3: one fetch at a time); when
/// each fetch times out, the last of eight would otherwise wait eight timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_member_takes_at_most_three_timeouts_even_queued_behind_failing_app_token_fetches() {
    let (sim, base) = start().await;
    let client = DingTalkClient::new(DingTalkSettings { timeout_ms: 200, ..settings(&base, None) }).unwrap();
    let union_id = first_union_id(&sim);
    sim.set_fault(Some(Fault::Latency(Duration::from_millis(2000))));
    let budget = client.settings().time_for_calls(DingTalkClient::ORG_MEMBER_CALLS);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (client, union_id) = (client.clone(), union_id.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let result = client.org_member(&union_id).await;
                (result, started.elapsed())
            })
        })
        .collect();
    for handle in handles {
        let (result, took) = handle.await.unwrap();
        assert!(matches!(result, Err(DingTalkError::Timeout)), "{result:?}");
        assert!(took < budget + Duration::from_millis(400), "took {took:?}, budget {budget:?}");
    }
}

#[tokio::test]
async fn latency_within_timeout_still_succeeds() {
    let (sim, base) = start().await;
    let client = client(&base, None);
    let code = code_for(&client, "alice").await;
    sim.set_fault(Some(Fault::Latency(Duration::from_millis(50))));
    assert!(client.login(&code).await.is_ok());
}

#[tokio::test]
async fn unreachable_dingtalk_is_an_unavailable_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&base, None).login("code").await.unwrap_err();
    assert!(matches!(err, DingTalkError::Transport(_)), "{err:?}");
    assert!(err.is_unavailable());
}

#[tokio::test]
async fn fault_can_be_set_and_cleared_over_http() {
    let (sim, base) = start().await;
    let url = format!("{base}/_simulator/fault");
    let resp = raw_http().post(&url).json(&json!({ "fault": "latency", "ms": 300 })).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.fault(), Some(Fault::Latency(Duration::from_millis(300))));
    raw_http().post(&url).json(&json!({ "fault": null })).send().await.unwrap();
    assert_eq!(sim.fault(), None);
    let resp = raw_http().post(&url).json(&json!({ "fault": "nonsense" })).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

// ---- wire shapes ----------------------------------------------------------------

#[tokio::test]
async fn user_access_token_without_json_body_is_400_missingbody() {
    let (_sim, base) = start().await;
    let resp = raw_http()
        .post(format!("{base}/v1.0/oauth2/userAccessToken"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("clientId={APP_KEY}&clientSecret={APP_SECRET}&grantType=authorization_code&code=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json;charset=utf-8");
    assert_eq!(resp.headers()["server"], "DingTalk/1.0.0");
    let header_id = resp.headers()["x-acs-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "Missingbody");
    assert_eq!(body["message"], "body is mandatory for this action.");
    assert_eq!(body["requestid"], header_id.as_str());
}

#[tokio::test]
async fn user_token_response_uses_expire_in_and_refresh_rotates() {
    let (_sim, base) = start().await;
    let client = client(&base, Some("ding-demo-corp"));
    let code = code_for(&client, "alice").await;
    let exchange = |body: Value| raw_http().post(format!("{base}/v1.0/oauth2/userAccessToken")).json(&body).send();
    let first: Value = exchange(json!({"clientId": APP_KEY, "clientSecret": APP_SECRET,
            "code": code, "grantType": "authorization_code"}))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(first["expireIn"], 7200);
    assert_eq!(first["corpId"], "ding-demo-corp");
    let refresh = first["refreshToken"].as_str().unwrap();
    let refresh_body = json!({"clientId": APP_KEY, "clientSecret": APP_SECRET,
        "refreshToken": refresh, "grantType": "refresh_token"});
    let second = exchange(refresh_body.clone()).await.unwrap();
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    assert_eq!(second["corpId"], "ding-demo-corp");
    // The old refresh token died with the rotation.
    assert_eq!(exchange(refresh_body).await.unwrap().status(), 400);
}

#[tokio::test]
async fn users_me_without_token_header_is_400_invalid_authentication() {
    let (_sim, base) = start().await;
    let resp = raw_http().get(format!("{base}/v1.0/contact/users/me")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "InvalidAuthentication");
    assert_eq!(body["message"], "不合法的access_token");
    assert!(body["requestid"].is_string());
}

#[tokio::test]
async fn permission_denied_body_carries_required_scopes() {
    let (sim, base) = start().await;
    let client = client(&base, None);
    let code = code_for(&client, "alice").await;
    let token = json_of(raw_http().post(format!("{base}/v1.0/oauth2/userAccessToken")).json(&json!({
        "clientId": APP_KEY, "clientSecret": APP_SECRET, "code": code, "grantType": "authorization_code"
    })))
    .await;
    sim.set_fault(Some(Fault::PermissionDenied));
    let resp = raw_http()
        .get(format!("{base}/v1.0/contact/users/me"))
        .header("x-acs-dingtalk-access-token", token["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["accessdenieddetail"]["requiredScopes"], json!(["Contact.User.Read"]));
}

#[tokio::test]
async fn topapi_accepts_form_encoded_body() {
    let (sim, base) = start().await;
    let token = app_token(&base).await;
    let union_id = first_union_id(&sim);
    let resp = raw_http()
        .post(format!("{base}/topapi/user/getbyunionid?access_token={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("unionid={union_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errcode"], 0);
    assert_eq!(body["errmsg"], "ok");
    assert_eq!(body["result"]["contact_type"], 0);
    assert_eq!(body["result"]["userid"], "alice001");
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn oapi_errors_are_http_200_with_errcode_and_request_id() {
    let (_sim, base) = start().await;
    let call = |query: &'static str| {
        raw_http().post(format!("{base}/topapi/v2/user/get{query}")).json(&json!({ "userid": "alice001" })).send()
    };
    for (query, errcode) in [("", 41001), ("?access_token=bogus", 40014)] {
        let resp = call(query).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errcode"], errcode);
        assert!(body["errmsg"].is_string() && body["request_id"].is_string());
    }
}

#[tokio::test]
async fn user_get_distinguishes_unknown_and_malformed_userid() {
    let (_sim, base) = start().await;
    let token = app_token(&base).await;
    for (userid, errcode) in [("nobody", 60121), ("", 33012)] {
        let body = json_of(
            raw_http()
                .post(format!("{base}/topapi/v2/user/get?access_token={token}"))
                .json(&json!({ "userid": userid })),
        )
        .await;
        assert_eq!(body["errcode"], errcode, "{userid:?}");
    }
}

#[tokio::test]
async fn gettoken_and_v1_app_token_share_one_store() {
    let (_sim, base) = start().await;
    let v1 = app_token(&base).await;
    let body = json_of(raw_http().get(format!("{base}/gettoken?appkey={APP_KEY}&appsecret={APP_SECRET}"))).await;
    assert_eq!(body["errcode"], 0);
    assert_eq!(body["access_token"], v1.as_str());
    assert_eq!(body["expires_in"], 7200);
    let body = json_of(raw_http().get(format!("{base}/gettoken?appkey={APP_KEY}&appsecret=wrong"))).await;
    assert_eq!(body["errcode"], 40089);
}

#[tokio::test]
async fn role_list_and_department_get_follow_section_5_shapes() {
    let (_sim, base) = start().await;
    let token = app_token(&base).await;
    let call =
        |path: &str, body: Value| raw_http().post(format!("{base}{path}?access_token={token}")).json(&body).send();
    let roles: Value =
        call("/topapi/role/list", json!({ "size": 1, "offset": 0 })).await.unwrap().json().await.unwrap();
    assert_eq!(roles["result"]["hasMore"], true);
    assert_eq!(roles["result"]["list"][0]["groupId"], 1001);
    assert_eq!(roles["result"]["list"][0]["roles"][0]["name"], "主管理员");
    let dept: Value = call("/topapi/v2/department/get", json!({ "dept_id": "2" })).await.unwrap().json().await.unwrap();
    assert_eq!(dept["result"]["name"], "Engineering");
    assert_eq!(dept["result"]["parent_id"], 1);
    assert_eq!(dept["result"]["dept_manager_userid_list"], json!(["alice001"]));
    let missing: Value =
        call("/topapi/v2/department/get", json!({ "dept_id": 99 })).await.unwrap().json().await.unwrap();
    assert_eq!(missing["errcode"], 60003);
}

/// §9.1: what the simulator's JSAPI asks for, for `login` in the demo organisation.
async fn in_app_code(base: &str, sim: &Simulator, login: &str) -> Value {
    let body = json!({ "corpId": sim.directory().corp_id, "clientId": APP_KEY, "user": login });
    json_of(raw_http().post(format!("{base}/__sim/jsapi/authcode")).body(body.to_string())).await
}

#[tokio::test]
async fn in_app_codes_are_exchanged_once_at_getuserinfo_and_nowhere_else() {
    let (sim, base) = start().await;
    let client = client(&base, Some(&sim.directory().corp_id));
    let code = in_app_code(&base, &sim, "alice").await["code"].as_str().unwrap().to_owned();
    let identity = client.in_app_login(&code).await.unwrap();
    assert_eq!(identity.union_id, first_union_id(&sim));
    assert_eq!(identity.corp_id, Some(sim.directory().corp_id));
    assert_eq!(identity.source, crate::dingtalk::IdentitySource::InApp);
    assert!(identity.nick.is_some() && identity.email.is_none(), "§9.2 gives a name and no profile");

    // §9.2: a used code is 40078, told apart from an outage.
    let again = client.in_app_login(&code).await.unwrap_err();
    assert!(matches!(again, DingTalkError::Oapi { errcode: 40078, .. }), "{again:?}");
    assert!(!again.is_unavailable());
    // An in-app code is no login code (§2 refuses it), and a login code is no in-app code.
    let code = in_app_code(&base, &sim, "alice").await["code"].as_str().unwrap().to_owned();
    assert!(client.login(&code).await.is_err());
    let login_code = code_for(&client, "alice").await;
    let refused = client.in_app_login(&login_code).await.unwrap_err();
    assert!(matches!(refused, DingTalkError::Oapi { errcode: 40078, .. }), "{refused:?}");
}

#[tokio::test]
async fn getuserinfo_accepts_every_documented_encoding_and_refuses_a_bad_token() {
    let (sim, base) = start().await;
    let token = json_of(
        raw_http()
            .post(format!("{base}/v1.0/oauth2/accessToken"))
            .json(&json!({"appKey": APP_KEY, "appSecret": APP_SECRET})),
    )
    .await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{base}/topapi/v2/user/getuserinfo");
    // A form body with the token in it, as the official example sends.
    let code = in_app_code(&base, &sim, "bob").await["code"].as_str().unwrap().to_owned();
    let form = json_of(raw_http().post(&url).form(&[("access_token", token.as_str()), ("code", code.as_str())])).await;
    assert_eq!(form["errcode"], 0, "{form}");
    assert!(form["result"]["userid"].is_string() && form["result"]["unionid"].is_string());
    // Both in the query.
    let code = in_app_code(&base, &sim, "bob").await["code"].as_str().unwrap().to_owned();
    let query = json_of(raw_http().post(format!("{url}?access_token={token}&code={code}"))).await;
    assert_eq!(query["errcode"], 0, "{query}");
    // A bad token: 40014, and the code is not spent.
    let code = in_app_code(&base, &sim, "bob").await["code"].as_str().unwrap().to_owned();
    let bad = json_of(raw_http().post(format!("{url}?access_token=nope")).json(&json!({ "code": code }))).await;
    assert_eq!(bad["errcode"], 40014);
    let good = json_of(raw_http().post(format!("{url}?access_token={token}")).json(&json!({ "code": code }))).await;
    assert_eq!(good["errcode"], 0);
    // The JSAPI refuses another organisation's corpId with error 3, and a non-member with 7.
    let other = json_of(
        raw_http()
            .post(format!("{base}/__sim/jsapi/authcode"))
            .body(json!({ "corpId": "dingother", "user": "alice" }).to_string()),
    )
    .await;
    assert_eq!(other["errorCode"], "3");
    assert_eq!(in_app_code(&base, &sim, "mallory").await["errorCode"], "7");
}
