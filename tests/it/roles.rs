//! DingTalk's org chart becomes `roles` and `groups` claims (mapping rules over department, org
//! role, org admin and department leader), recomputed at each upstream recheck.

use crate::common;

use crate::common::{Browser, REDIRECT_URI, TestProvider, token_request};
use dingtalk_oidc::directory::NewClient;
use dingtalk_oidc::directory::roles::MappingRule;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn login(p: &TestProvider, who: &str, secret: &str, scope: &str) -> Value {
    let url = common::authorize_url(
        &p.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", scope),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = Browser::new(who).journey(&url, false).await.param("code").unwrap();
    common::exchange_code(p, "app", secret, &code).await
}

async fn setup() -> (TestProvider, String) {
    let p = TestProvider::start().await;
    let d = &p.app.directory;
    for role in ["engineering", "sales", "org-admin", "leads", "everyone"] {
        d.create_role(role, &format!("{role} people")).await.unwrap();
    }
    d.create_mapping(
        "ding-demo-corp",
        "engineering",
        MappingRule::Department { dept_id: 2, include_sub_departments: true },
    )
    .await
    .unwrap();
    d.create_mapping("ding-demo-corp", "sales", MappingRule::Department { dept_id: 3, include_sub_departments: false })
        .await
        .unwrap();
    d.create_mapping("ding-demo-corp", "org-admin", MappingRule::OrgAdmin).await.unwrap();
    d.create_mapping("ding-demo-corp", "leads", MappingRule::DepartmentLeader { dept_id: None }).await.unwrap();
    d.create_mapping(
        "ding-demo-corp",
        "everyone",
        MappingRule::Department { dept_id: 1, include_sub_departments: true },
    )
    .await
    .unwrap();
    let secret = d
        .create_client(NewClient {
            id: "app".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            allowed_scopes: Some(
                ["openid", "profile", "roles", "groups", "dingtalk", "offline_access"].map(String::from).to_vec(),
            ),
            ..Default::default()
        })
        .await
        .unwrap()
        .1
        .unwrap();
    (p, secret)
}

#[tokio::test]
async fn mapping_rules_turn_departments_org_roles_and_leadership_into_roles_and_groups() {
    let (p, secret) = setup().await;
    let alice = login(&p, "alice", &secret, "openid roles groups dingtalk").await;
    let id = claims(alice["id_token"].as_str().unwrap());
    assert_eq!(id["roles"], json!(["engineering", "everyone", "leads", "org-admin"]));
    // The departments, then the organisation.
    assert_eq!(id["groups"], json!(["dept:2", "dept:1", "corp:ding-demo-corp"]));
    assert_eq!(id["groups_display"], json!(["Engineering", "Demo Corp", "ding-demo-corp"]));
    assert_eq!(id["dingtalk"]["user_id"], "alice001");
    assert_eq!(id["dingtalk"]["corp_id"], "ding-demo-corp");
    assert_eq!(id["dingtalk"]["dept_ids"], json!([2]));
    let at = claims(alice["access_token"].as_str().unwrap());
    assert_eq!(at["roles"], id["roles"], "RFC 9068 roles in the access token");
    assert_eq!(at["groups"], id["groups"]);

    let info: Value = reqwest::Client::new()
        .get(p.url("/userinfo"))
        .bearer_auth(alice["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["roles"], id["roles"]);
    assert_eq!(info["groups"], id["groups"]);

    let bob = login(&p, "bob", &secret, "openid roles groups").await;
    let id = claims(bob["id_token"].as_str().unwrap());
    assert_eq!(id["roles"], json!(["everyone", "sales"]));
    assert_eq!(id["groups"], json!(["dept:3", "dept:1", "corp:ding-demo-corp"]));
    assert!(id.get("dingtalk").is_none(), "no dingtalk claim without the scope");

    // Without the scopes: no roles, no groups.
    let plain = login(&p, "bob", &secret, "openid").await;
    let id = claims(plain["id_token"].as_str().unwrap());
    assert!(id.get("roles").is_none() && id.get("groups").is_none());
}

#[tokio::test]
async fn a_department_change_in_dingtalk_changes_roles_at_the_next_recheck() {
    let (p, secret) = setup().await;
    let bob = login(&p, "bob", &secret, "openid roles groups offline_access").await;
    assert_eq!(claims(bob["access_token"].as_str().unwrap())["roles"], json!(["everyone", "sales"]));
    // HR moves bob to Platform (under Engineering).
    p.simulator.set_departments("bob", vec![4]);
    p.clock.advance(301);
    let (status, _, refreshed) = token_request(
        &p,
        Some(("app", &secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", bob["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let at = claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!(at["roles"], json!(["engineering", "everyone"]));
    assert_eq!(at["groups"], json!(["dept:4", "dept:2", "dept:1", "corp:ding-demo-corp"]));
    let id = claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(id["groups_display"], json!(["Platform", "Engineering", "Demo Corp", "ding-demo-corp"]));
}

#[tokio::test]
async fn direct_grants_join_mapped_roles() {
    let (p, secret) = setup().await;
    let first = login(&p, "bob", &secret, "openid roles").await;
    let sub = claims(first["id_token"].as_str().unwrap())["sub"].as_str().unwrap().to_string();
    p.app.directory.grant_role(&sub, "leads").await.unwrap();
    let again = login(&p, "bob", &secret, "openid roles").await;
    assert_eq!(claims(again["id_token"].as_str().unwrap())["roles"], json!(["everyone", "leads", "sales"]));
    assert!(p.app.directory.grant_role(&sub, "no-such-role").await.is_err());
}
