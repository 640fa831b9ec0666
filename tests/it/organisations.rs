//! Several DingTalk organisations behind one issuer (docs/dingtalk-app.md, "Several
//! organisations"; docs/dingtalk-api.md §11): Demo Corp (the default) and Second Corp, each with its
//! own app in the simulator. alice works in both (under a different unionId in each), frank in
//! Second Corp only.

use crate::common::{
    self, Browser, CHALLENGE, Landing, REDIRECT_URI, TestProvider, exchange_code, redirect_location, token_request,
};
use dingtalk_oidc::directory::roles::MappingRule;
use dingtalk_oidc::directory::{ClientUpdate, NewClient};
use dingtalk_oidc::oidc::paths;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DEMO: &str = "ding-demo-corp";
const SECOND: &str = "ding-second-corp";

/// Two clients: `both` accepts both organisations, `one` names none (the default one only).
async fn start() -> (TestProvider, String, String) {
    let p = TestProvider::start_with_organisations(|_| {}).await;
    let register = |id: &str, organisations: Vec<String>| {
        let new = NewClient {
            id: id.into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            allowed_scopes: Some(
                ["openid", "profile", "groups", "roles", "dingtalk", "offline_access"].map(String::from).to_vec(),
            ),
            organisations,
            ..NewClient::default()
        };
        p.app.directory.create_client(new)
    };
    let both = register("both", vec![DEMO.into(), SECOND.into()]).await.unwrap().1.unwrap();
    let one = register("one", vec![]).await.unwrap().1.unwrap();
    (p, both, one)
}

/// Registers `both`, a first-party client of both organisations (openid only); its secret.
async fn register_both(p: &TestProvider) -> String {
    let new = NewClient {
        id: "both".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        first_party: true,
        organisations: vec![DEMO.into(), SECOND.into()],
        ..NewClient::default()
    };
    p.app.directory.create_client(new).await.unwrap().1.unwrap()
}

fn authorize(p: &TestProvider, client: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_id", client),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid profile groups roles dingtalk offline_access"),
        ("state", "rp-state"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    common::authorize_url(&p.issuer, &pairs)
}

/// The organisation picker's links, by corp id.
fn picker_links(page: &str) -> Vec<(String, String)> {
    page.match_indices("data-corp=\"")
        .map(|(at, _)| {
            let rest = &page[at + "data-corp=\"".len()..];
            let corp = rest[..rest.find('"').unwrap()].to_owned();
            let href_at = rest.find("href=\"").unwrap() + "href=\"".len();
            let href = common::html_unescape(&rest[href_at..href_at + rest[href_at..].find('"').unwrap()]);
            (corp, href)
        })
        .collect()
}

/// Signs `browser` in to `client` through the organisation `corp` picked on the picker page.
async fn sign_in_through(p: &TestProvider, browser: &Browser, client: &str, secret: &str, corp: &str) -> Value {
    let Landing::Page(status, page) = browser.journey(&authorize(p, client, &[]), true).await else {
        panic!("a client that accepts two organisations shows the picker first");
    };
    assert_eq!(status, StatusCode::OK);
    let links = picker_links(&page);
    assert_eq!(links.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), [DEMO, SECOND], "{page}");
    let (_, href) = links.iter().find(|(c, _)| c == corp).unwrap();
    let landing = browser.journey(href, true).await;
    let code = landing.param("code").unwrap_or_else(|| panic!("signed in: {landing:?}"));
    exchange_code(p, client, secret, &code).await
}

fn claims(tokens: &Value) -> Value {
    common::unverified_claims(tokens["id_token"].as_str().unwrap())
}

#[tokio::test]
async fn a_user_of_each_organisation_signs_in_to_a_client_that_accepts_both() {
    let (p, both, _) = start().await;
    let frank = claims(&sign_in_through(&p, &Browser::new("frank"), "both", &both, SECOND).await);
    assert_eq!(frank["dingtalk"]["corp_id"], SECOND, "{frank}");
    assert_eq!(frank["dingtalk"]["user_id"], "frank-b002");
    // Department ids are per organisation: Second Corp's department 2 is named with its corp.
    let groups = frank["groups"].as_array().unwrap();
    assert!(groups.contains(&json!(format!("dept:{SECOND}:2"))), "{frank}");
    assert!(!groups.contains(&json!("dept:2")), "never Demo Corp's department 2: {frank}");
    assert_eq!(groups.last().unwrap(), &json!(format!("corp:{SECOND}")));

    let carol = claims(&sign_in_through(&p, &Browser::new("carol"), "both", &both, DEMO).await);
    assert_eq!(carol["dingtalk"]["corp_id"], DEMO);
    let groups = carol["groups"].as_array().unwrap();
    assert!(groups.contains(&json!("dept:4")), "the default organisation keeps the short form: {carol}");
    assert_eq!(groups.last().unwrap(), &json!(format!("corp:{DEMO}")));

    // A hint picks the organisation: no picker.
    for hint in [("corp", SECOND.to_owned()), ("login_hint", format!("corp:{SECOND}"))] {
        let browser = Browser::new("frank");
        let landing = browser.journey(&authorize(&p, "both", &[(hint.0, &hint.1)]), true).await;
        assert!(landing.param("code").is_some(), "{landing:?}");
    }
}

#[tokio::test]
async fn one_person_in_two_organisations_is_two_users() {
    let (p, both, _) = start().await;
    let in_demo = claims(&sign_in_through(&p, &Browser::new("alice"), "both", &both, DEMO).await);
    let in_second = claims(&sign_in_through(&p, &Browser::new("alice"), "both", &both, SECOND).await);
    assert_ne!(in_demo["sub"], in_second["sub"], "one identity per organisation (docs/dingtalk-api.md §11)");
    let user = p.app.directory.user(in_second["sub"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(user.org_id, SECOND);
    // The second sign-in in one organisation is the same user again.
    let again = claims(&sign_in_through(&p, &Browser::new("alice"), "both", &both, SECOND).await);
    assert_eq!(again["sub"], in_second["sub"]);
}

#[tokio::test]
async fn a_client_that_accepts_one_organisation_refuses_the_other_with_access_denied() {
    let (p, both, _) = start().await;
    // Frank's DingTalk account signs in at Demo Corp's app, the only one client `one` accepts:
    // Demo Corp does not know him.
    let landing = Browser::new(&format!("{SECOND}:frank")).journey(&authorize(&p, "one", &[]), true).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"), "{landing:?}");
    assert_eq!(landing.param("state").as_deref(), Some("rp-state"));
    // A hint naming an organisation the client does not accept does not open it.
    let browser = Browser::new("frank");
    let resp = browser.http.get(authorize(&p, "one", &[("corp", SECOND)])).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    assert!(location.contains("client_id=dingsimappkey&"), "Demo Corp's app only: {location}");
    // Signed in through Second Corp (at `both`), frank's session is no sign-in for `one`.
    let browser = Browser::new("frank");
    sign_in_through(&p, &browser, "both", &both, SECOND).await;
    let landing = browser.journey(&authorize(&p, "one", &[("prompt", "none")]), true).await;
    assert_eq!(landing.param("error").as_deref(), Some("login_required"), "{landing:?}");
    let resp = browser.http.get(authorize(&p, "one", &[])).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    assert!(location.starts_with(&p.simulator_url), "a fresh sign-in through Demo Corp: {location}");
    // Once the admin opens `one` to Second Corp, the same session serves it.
    let update = ClientUpdate { organisations: Some(vec![DEMO.into(), SECOND.into()]), ..ClientUpdate::default() };
    p.app.directory.update_client("one", update).await.unwrap();
    let landing = browser.journey(&authorize(&p, "one", &[("prompt", "none")]), true).await;
    assert!(landing.param("code").is_some(), "{landing:?}");
}

#[tokio::test]
async fn the_picker_refuses_an_organisation_the_sign_in_may_not_use_and_another_browser() {
    let (p, _, _) = start().await;
    let browser = Browser::new("frank");
    let Landing::Page(_, page) = browser.journey(&authorize(&p, "both", &[]), true).await else { panic!() };
    let (_, href) = picker_links(&page).into_iter().find(|(c, _)| c == SECOND).unwrap();
    // Another browser cannot choose for this one (RFC 6749 §10.12).
    let stranger = Browser::new("mallory");
    let resp = stranger.http.get(&href).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // The sign-in was taken by that attempt: starting again works, and an organisation outside the
    // candidates is refused.
    let Landing::Page(_, page) = browser.journey(&authorize(&p, "both", &[]), true).await else { panic!() };
    let (_, href) = picker_links(&page).into_iter().find(|(c, _)| c == SECOND).unwrap();
    let forged = href.replace(SECOND, "ding-elsewhere");
    assert_eq!(browser.http.get(&forged).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn roles_mapped_in_one_organisation_never_apply_in_the_other() {
    let (p, both, _) = start().await;
    let d = &p.app.directory;
    d.create_role("engineering", "").await.unwrap();
    d.create_role("research", "").await.unwrap();
    // Department 2 is Engineering in Demo Corp and Research in Second Corp.
    let dept2 = MappingRule::Department { dept_id: 2, include_sub_departments: false };
    d.create_mapping(DEMO, "engineering", dept2.clone()).await.unwrap();
    d.create_mapping(SECOND, "research", dept2).await.unwrap();
    let in_demo = claims(&sign_in_through(&p, &Browser::new("alice"), "both", &both, DEMO).await);
    let in_second = claims(&sign_in_through(&p, &Browser::new("alice"), "both", &both, SECOND).await);
    assert_eq!(in_demo["roles"], json!(["engineering"]), "{in_demo}");
    assert_eq!(in_second["roles"], json!(["research"]), "{in_second}");
}

async fn refresh(p: &TestProvider, secret: &str, token: &str) -> (StatusCode, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    let (status, _, body) = token_request(p, Some(("both", secret)), &form).await;
    (status, body)
}

#[tokio::test]
async fn the_membership_recheck_on_refresh_asks_the_user_s_own_organisation() {
    let (p, both, _) = start().await;
    let frank = sign_in_through(&p, &Browser::new("frank"), "both", &both, SECOND).await;
    let carol = sign_in_through(&p, &Browser::new("carol"), "both", &both, DEMO).await;
    // Past the recheck interval: Second Corp vouches for frank (Demo Corp would not know him).
    p.clock.advance(301);
    let (status, frank) = refresh(&p, &both, frank["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{frank}");
    // Frank leaves Second Corp: his next recheck fails; carol, of Demo Corp, is unaffected.
    p.simulator.remove_from_corp(&format!("{SECOND}:frank"));
    p.clock.advance(301);
    let (status, body) = refresh(&p, &both, frank["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let (status, body) = refresh(&p, &both, carol["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_client_that_stops_accepting_an_organisation_ends_its_users_grants() {
    let (p, both, _) = start().await;
    let frank = sign_in_through(&p, &Browser::new("frank"), "both", &both, SECOND).await;
    let carol = sign_in_through(&p, &Browser::new("carol"), "both", &both, DEMO).await;
    let (status, frank) = refresh(&p, &both, frank["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{frank}");
    let update = ClientUpdate { organisations: Some(vec![DEMO.into()]), ..ClientUpdate::default() };
    p.app.directory.update_client("both", update).await.unwrap();
    let (status, body) = refresh(&p, &both, frank["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert_eq!(common::userinfo_status(&p, frank["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED);
    let (status, body) = refresh(&p, &both, carol["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn in_app_sign_in_tries_each_organisation_the_client_accepts() {
    let p = TestProvider::start_with_organisations(|c| {
        c.dingtalk.in_app = true;
        c.dingtalk.jsapi_url = format!("{}/jsapi/dingtalk.open.js", c.dingtalk.login_base_url);
    })
    .await;
    let secret = register_both(&p).await;
    let mut browser = Browser::new("frank");
    browser.http = reqwest::Client::builder()
        .cookie_provider(browser.jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (iPhone) AliApp(DingTalk/7.8.1)")
        .build()
        .unwrap();
    let resp = browser.http.get(authorize(&p, "both", &[])).send().await.unwrap();
    let page = resp.text().await.unwrap();
    // Both organisations' apps, in order, for the page to ask the JSAPI in turn.
    let orgs = common::html_unescape(&page[page.find("data-orgs=\"").unwrap() + 11..]);
    let orgs: Value = serde_json::from_str(&orgs[..orgs.find("\" data-timeout").unwrap()]).unwrap();
    assert_eq!(
        orgs,
        json!([
            { "org": DEMO, "corp": DEMO, "client": "dingsimappkey" },
            { "org": SECOND, "corp": SECOND, "client": "dingsimappkey2" },
        ])
    );
    let state = common::hidden_value(&page, "state").unwrap();
    let ask = async |corp: &str, client: &str| -> Value {
        let body = json!({ "corpId": corp, "clientId": client, "user": format!("{SECOND}:frank") });
        let resp = reqwest::Client::new()
            .post(format!("{}/__sim/jsapi/authcode", p.simulator_url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap()
    };
    // Demo Corp's app refuses a stranger; Second Corp's gives a code.
    assert_eq!(ask(DEMO, "dingsimappkey").await["errorCode"], "7");
    let code = ask(SECOND, "dingsimappkey2").await["code"].as_str().unwrap().to_owned();
    // Posted as Demo Corp's, the code is no code of that app (docs/dingtalk-api.md §11).
    let post = |org: &'static str, code: String, state: String| {
        browser.http.post(p.url(paths::IN_APP_CALLBACK)).form(&[("state", state), ("code", code), ("org", org.into())])
    };
    let resp = post(DEMO, code.clone(), state.clone()).send().await.unwrap();
    // DingTalk answers 40078 (no such code) to Demo Corp's app: a clear failure page, no sign-in.
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(redirect_location(&resp).is_none());
    assert!(resp.text().await.unwrap().contains("DingTalk sign-in failed"));
    // The code was Second Corp's and is spent either way: DingTalk codes are single use.
    // Again, rightly: signed in as Second Corp's frank with no click.
    let resp = browser.http.get(authorize(&p, "both", &[])).send().await.unwrap();
    let state = common::hidden_value(&resp.text().await.unwrap(), "state").unwrap();
    let code = ask(SECOND, "dingsimappkey2").await["code"].as_str().unwrap().to_owned();
    let resp = post(SECOND, code, state).send().await.unwrap();
    let location = redirect_location(&resp).unwrap();
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let tokens = exchange_code(&p, "both", &secret, &code).await;
    let user = p.app.directory.user(claims(&tokens)["sub"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!((user.org_id.as_str(), user.dingtalk_user_id.as_deref()), (SECOND, Some("frank-b002")));
}

#[tokio::test]
async fn admins_name_only_configured_organisations_and_see_each_user_s() {
    let p = TestProvider::start_with_organisations(|c| {
        c.admin_token = Some(dingtalk_oidc::config::Secret("organisations-admin".into()))
    })
    .await;
    let both = register_both(&p).await;
    sign_in_through(&p, &Browser::new("frank"), "both", &both, SECOND).await;
    sign_in_through(&p, &Browser::new("carol"), "both", &both, DEMO).await;
    let m = dingtalk_oidc::manage::Manage::for_server(&p.app, dingtalk_oidc::manage::Actor::cli());
    let update = ClientUpdate { organisations: Some(vec!["ding-unknown".into()]), ..ClientUpdate::default() };
    let err = dingtalk_oidc::manage::clients::update(&m, "both", update).await.unwrap_err();
    assert!(err.to_string().contains("ding-unknown"), "{err}");
    let rule = MappingRule::OrgAdmin;
    assert!(dingtalk_oidc::manage::roles::create_mapping(&m, Some("ding-unknown"), "x", rule).await.is_err());

    // The admin API shows each user's organisation, and lists one organisation's users.
    let http = reqwest::Client::new();
    let list = async |query: &str| -> Value {
        let resp = http
            .get(p.url(&format!("/admin/v1/users{query}")))
            .bearer_auth("organisations-admin")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    };
    let all = list("").await;
    assert_eq!(all["total"], 2, "{all}");
    let second = list(&format!("?organisation={SECOND}")).await;
    assert_eq!(second["total"], 1, "{second}");
    assert_eq!(second["users"][0]["organisation"], SECOND);
    assert_eq!(second["users"][0]["dingtalk_user_id"], "frank-b002");
    // An unknown organisation names nobody (and an admin's client update to it was refused above).
    assert_eq!(list("?organisation=ding-unknown").await["total"], 0);
}

#[tokio::test]
async fn users_and_rules_from_before_several_organisations_keep_their_sub_and_apply_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("before.db").display());
    existing_database_migrates_without_change(url).await;
}

#[tokio::test]
async fn users_and_rules_from_before_several_organisations_keep_their_sub_and_apply_on_postgres() {
    let Some(db) = common::PostgresDatabase::create().await else { return };
    existing_database_migrates_without_change(db.url.clone()).await;
    db.drop().await;
}

async fn existing_database_migrates_without_change(url: String) {
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::MigratorTrait;
    // A database of the single-organisation version: alice and a mapping rule, no organisation.
    let db = sea_orm::Database::connect(&url).await.unwrap();
    dingtalk_oidc::migrations::Migrator::up(&db, Some(5)).await.unwrap();
    let alice = dingtalk_oidc::dingtalk::SimDirectory::default().user_by_login("alice").unwrap().union_id.clone();
    for sql in [
        format!(
            "INSERT INTO users (id, union_id, dept_ids, org_roles, admin, active, disabled, created_at, updated_at) \
             VALUES ('sub-from-before', '{alice}', '[]', '[]', false, true, false, 1, 1)"
        ),
        "INSERT INTO roles (name, description, created_at) VALUES ('engineering', '', 1)".to_owned(),
        "INSERT INTO role_mappings (id, role, kind, value, created_at) VALUES ('m1', 'engineering', 'department', \
         '{\"kind\":\"department\",\"dept_id\":2,\"include_sub_departments\":false}', 1)"
            .to_owned(),
    ] {
        db.execute_unprepared(&sql).await.unwrap();
    }
    db.close().await.unwrap();

    let p = TestProvider::start_with_organisations(move |c| c.database.url = url).await;
    let new = NewClient {
        id: "both".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        first_party: true,
        allowed_scopes: Some(["openid", "roles"].map(String::from).to_vec()),
        organisations: vec![DEMO.into(), SECOND.into()],
        ..NewClient::default()
    };
    let secret = p.app.directory.create_client(new).await.unwrap().1.unwrap();
    // Through the default organisation alice is who she was, and the old rule still applies...
    let before = claims(&sign_in_through(&p, &Browser::new("alice"), "both", &secret, DEMO).await);
    assert_eq!(before["sub"], "sub-from-before");
    assert_eq!(before["roles"], json!(["engineering"]));
    // ...and only there.
    let second = claims(&sign_in_through(&p, &Browser::new("alice"), "both", &secret, SECOND).await);
    assert_ne!(second["sub"], "sub-from-before");
    assert_eq!(second["roles"], json!([]));
}
