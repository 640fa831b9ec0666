//! Token lifecycle (RFC 6749 §6, RFC 9700 §4.14, RFC 7009, RFC 7662, OIDC Core §11-12,
//! RP-Initiated Logout 1.0), each scenario on the SQL (SQLite) and the Redis session store.

use crate::common;

use std::time::Duration;

use crate::common::{
    Backend, Browser, CHALLENGE, Harness, REDIRECT_URI, TestProvider, VERIFIER, introspect, on_backends,
    redirect_location, token_request, userinfo_status,
};
use dingtalk_oidc::directory::NewClient;
use reqwest::StatusCode;
use serde_json::Value;

on_backends!(
    rfc6749_6_refresh_rotates_and_the_old_token_is_refused_after_the_grace_window,
    rfc9700_4_14_2_concurrent_refreshes_in_the_grace_window_get_one_successor,
    rfc9700_4_14_2_reuse_after_the_window_revokes_the_family_and_its_access_tokens,
    rfc9700_4_14_2_idle_and_absolute_refresh_expiry,
    rfc6749_6_scope_may_narrow_but_not_widen,
    oidc_core_11_session_bound_families_die_with_logout_offline_ones_survive,
    rfc6749_4_1_2_code_replay_revokes_the_first_exchange,
    rfc7009_revocation_of_each_token_type,
    rfc7662_introspection_of_active_and_every_inactive_case,
    oidc_core_12_2_refresh_id_token_keeps_the_original_claims,
    rp_initiated_logout_with_and_without_hint_and_post_logout_redirects,
    upstream_recheck_revokes_users_who_left_and_tolerates_outages,
    membership_rule_a_user_deactivated_in_dingtalk_loses_every_grant_at_the_recheck,
    a_refresh_whose_upstream_recheck_fails_on_a_dependency_changes_nothing,
    per_client_token_lifetimes_apply_to_the_code_and_refresh_grants_and_clearing_restores_the_global,
);

/// Registers a confidential first-party client `app` and returns its secret.
async fn register(provider: &TestProvider, extra: NewClient) -> String {
    let (_, secret) = provider
        .app
        .directory
        .create_client(NewClient {
            id: "app".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            ..extra
        })
        .await
        .unwrap();
    secret.unwrap()
}

fn authorize(provider: &TestProvider, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_id", "app"),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", scope),
        ("state", "st"),
        ("nonce", "n1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    common::authorize_url(&provider.issuer, &pairs)
}

async fn exchange(provider: &TestProvider, secret: &str, code: &str) -> (StatusCode, Value) {
    let (status, _, body) = token_request(
        provider,
        Some(("app", secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    (status, body)
}

/// Logs `browser` in (scope as given) and exchanges the code.
async fn login(provider: &TestProvider, browser: &Browser, secret: &str, scope: &str) -> Value {
    let code = browser.journey(&authorize(provider, scope, &[]), false).await.param("code").expect("code");
    let (status, body) = exchange(provider, secret, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn refresh(provider: &TestProvider, secret: &str, token: &str, scope: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (status, _, body) = token_request(provider, Some(("app", secret)), &form).await;
    (status, body)
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}")).to_string()
}

async fn rfc6749_6_refresh_rotates_and_the_old_token_is_refused_after_the_grace_window(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let tokens = login(p, &Browser::new("alice"), &secret, "openid profile").await;
    let rt1 = s(&tokens, "refresh_token");
    let (status, refreshed) = refresh(p, &secret, &rt1, None).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let rt2 = s(&refreshed, "refresh_token");
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(refreshed["scope"], "openid profile");
    assert_eq!(userinfo_status(p, &s(&refreshed, "access_token")).await, StatusCode::OK);
    // Within the grace window the old token gets the same successor back.
    let (status, retry) = refresh(p, &secret, &rt1, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s(&retry, "refresh_token"), rt2);
    // rt2 works and rotates on.
    let (status, third) = refresh(p, &secret, &rt2, None).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    // Another client presenting the token gets invalid_grant and changes nothing.
    let other = p
        .app
        .directory
        .create_client(NewClient { id: "other".into(), redirect_uris: vec![REDIRECT_URI.into()], ..Default::default() })
        .await
        .unwrap()
        .1
        .unwrap();
    let rt3 = s(&third, "refresh_token");
    let (status, _, body) =
        token_request(p, Some(("other", &other)), &[("grant_type", "refresh_token"), ("refresh_token", &rt3)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, _) = refresh(p, &secret, &rt3, None).await;
    assert_eq!(status, StatusCode::OK, "the owner's token still works");
    // A forged family id finds nothing.
    let forged = format!("AAAAAAAAAAAAAAAAAAAAAA.{}", rt3.split_once('.').unwrap().1);
    let (status, body) = refresh(p, &secret, &forged, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    h.finish().await;
}

async fn rfc9700_4_14_2_concurrent_refreshes_in_the_grace_window_get_one_successor(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let tokens = login(p, &Browser::new("alice"), &secret, "openid").await;
    let rt = s(&tokens, "refresh_token");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (url, rt, secret) = (p.url("/token"), rt.clone(), secret.clone());
        tasks.spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .basic_auth("app", Some(secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())])
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            (status, body)
        });
    }
    let results = tasks.join_all().await;
    let successors: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::OK, "{body}");
            s(body, "refresh_token")
        })
        .collect();
    assert_eq!(successors.len(), 1, "all 50 receive the same successor");
    let successor = successors.into_iter().next().unwrap();
    let (status, _) = refresh(p, &secret, &successor, None).await;
    assert_eq!(status, StatusCode::OK);
    h.finish().await;
}

async fn rfc9700_4_14_2_reuse_after_the_window_revokes_the_family_and_its_access_tokens(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let tokens = login(p, &Browser::new("alice"), &secret, "openid").await;
    let rt1 = s(&tokens, "refresh_token");
    let (_, refreshed) = refresh(p, &secret, &rt1, None).await;
    let (rt2, at2) = (s(&refreshed, "refresh_token"), s(&refreshed, "access_token"));
    assert_eq!(introspect(p, ("app", &secret), &at2).await["active"], true);
    p.clock.advance(11);
    let (status, body) = refresh(p, &secret, &rt1, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, _) = refresh(p, &secret, &rt2, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the successor dies with its family");
    assert_eq!(introspect(p, ("app", &secret), &at2).await, serde_json::json!({"active": false}));
    assert_eq!(introspect(p, ("app", &secret), &rt2).await, serde_json::json!({"active": false}));
    assert_eq!(userinfo_status(p, &at2).await, StatusCode::UNAUTHORIZED);
    assert_eq!(userinfo_status(p, &s(&tokens, "access_token")).await, StatusCode::UNAUTHORIZED);
    let events = p.app.directory.audit_events_of_kind("refresh_reuse_detected").await.unwrap();
    assert_eq!(events.len(), 1);
    h.finish().await;
}

async fn rfc9700_4_14_2_idle_and_absolute_refresh_expiry(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(
        p,
        NewClient { refresh_idle_ttl_secs: Some(600), refresh_absolute_ttl_secs: Some(1000), ..Default::default() },
    )
    .await;
    let browser = Browser::new("alice");
    // Idle: unused for more than 600 s.
    let rt = s(&login(p, &browser, &secret, "openid").await, "refresh_token");
    p.clock.advance(601);
    let (status, body) = refresh(p, &secret, &rt, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    // Absolute: used every 500 s, still ends 1000 s after the login.
    let rt = s(&login(p, &Browser::new("bob"), &secret, "openid").await, "refresh_token");
    p.clock.advance(500);
    let (status, body) = refresh(p, &secret, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    p.clock.advance(501);
    let (status, _) = refresh(p, &secret, &s(&body, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    h.finish().await;
}

async fn rfc6749_6_scope_may_narrow_but_not_widen(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let tokens = login(p, &Browser::new("alice"), &secret, "openid profile").await;
    let rt = s(&tokens, "refresh_token");
    let (status, body) = refresh(p, &secret, &rt, Some("openid email")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    let (status, narrowed) = refresh(p, &secret, &rt, Some("openid")).await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");
    let info: Value = reqwest::Client::new()
        .get(p.url("/userinfo"))
        .bearer_auth(s(&narrowed, "access_token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info.get("name").is_none(), "narrowed token releases no profile claims");
    // The new refresh token keeps the full original scope.
    let (status, full) = refresh(p, &secret, &s(&narrowed, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(full["scope"], "openid profile");
    h.finish().await;
}

async fn oidc_core_11_session_bound_families_die_with_logout_offline_ones_survive(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let browser = Browser::new("alice");
    let bound = login(p, &browser, &secret, "openid").await;
    // First-party client: offline_access is honoured without prompt=consent.
    let offline = login(p, &browser, &secret, "openid offline_access").await;
    assert_eq!(offline["scope"], "openid offline_access");
    let id_token = s(&bound, "id_token");
    let resp = browser.http.get(format!("{}?id_token_hint={id_token}", p.url("/logout"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "logged-out page");
    let (status, _) = refresh(p, &secret, &s(&bound, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "session-bound family is revoked");
    assert_eq!(userinfo_status(p, &s(&bound, "access_token")).await, StatusCode::UNAUTHORIZED);
    let (status, body) = refresh(p, &secret, &s(&offline, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::OK, "offline family survives logout: {body}");
    h.finish().await;
}

async fn rfc6749_4_1_2_code_replay_revokes_the_first_exchange(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let code = Browser::new("alice").journey(&authorize(p, "openid", &[]), false).await.param("code").unwrap();
    let (status, first) = exchange(p, &secret, &code).await;
    assert_eq!(status, StatusCode::OK);
    let (status, second) = exchange(p, &secret, &code).await;
    assert_eq!((status, second["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(introspect(p, ("app", &secret), &s(&first, "access_token")).await["active"], false);
    let (status, _) = refresh(p, &secret, &s(&first, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(userinfo_status(p, &s(&first, "access_token")).await, StatusCode::UNAUTHORIZED);
    h.finish().await;
}

async fn revoke(p: &TestProvider, client: (&str, &str), form: &[(&str, &str)]) -> StatusCode {
    reqwest::Client::new()
        .post(p.url("/revoke"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
}

async fn rfc7009_revocation_of_each_token_type(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let other = p
        .app
        .directory
        .create_client(NewClient { id: "other".into(), redirect_uris: vec![REDIRECT_URI.into()], ..Default::default() })
        .await
        .unwrap()
        .1
        .unwrap();
    let browser = Browser::new("alice");
    // A refresh token (with a misleading hint): its family and its access tokens go at once.
    let tokens = login(p, &browser, &secret, "openid").await;
    let (rt, at) = (s(&tokens, "refresh_token"), s(&tokens, "access_token"));
    // Another client's attempt is a silent no-op (§2.1).
    assert_eq!(revoke(p, ("other", &other), &[("token", &rt)]).await, StatusCode::OK);
    assert_eq!(refresh(p, &secret, &rt, None).await.0, StatusCode::OK);
    let tokens = login(p, &browser, &secret, "openid").await;
    let (rt, at2) = (s(&tokens, "refresh_token"), s(&tokens, "access_token"));
    assert_eq!(
        revoke(p, ("app", &secret), &[("token", &rt), ("token_type_hint", "access_token")]).await,
        StatusCode::OK
    );
    assert_eq!(refresh(p, &secret, &rt, None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(userinfo_status(p, &at2).await, StatusCode::UNAUTHORIZED);
    assert_eq!(userinfo_status(p, &at).await, StatusCode::OK, "other grants untouched");
    // An access token, with an unknown hint value.
    assert_eq!(revoke(p, ("app", &secret), &[("token", &at), ("token_type_hint", "foo")]).await, StatusCode::OK);
    assert_eq!(userinfo_status(p, &at).await, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(p, ("app", &secret), &at).await, serde_json::json!({"active": false}));
    // Garbage, and a missing token.
    assert_eq!(revoke(p, ("app", &secret), &[("token", "garbage")]).await, StatusCode::OK);
    assert_eq!(revoke(p, ("app", &secret), &[("token_type_hint", "refresh_token")]).await, StatusCode::BAD_REQUEST);
    assert_eq!(revoke(p, ("app", "wrong"), &[("token", "x")]).await, StatusCode::UNAUTHORIZED);
    h.finish().await;
}

async fn rfc7662_introspection_of_active_and_every_inactive_case(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let (_, rs_secret) = p
        .app
        .directory
        .create_client(NewClient {
            id: "api".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            resource_server: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let rs_secret = rs_secret.unwrap();
    let (_, stranger) = p
        .app
        .directory
        .create_client(NewClient {
            id: "stranger".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let stranger = stranger.unwrap();
    let tokens = login(p, &Browser::new("alice"), &secret, "openid profile").await;
    let (at, rt) = (s(&tokens, "access_token"), s(&tokens, "refresh_token"));

    let active = introspect(p, ("app", &secret), &at).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], "app");
    assert_eq!(active["scope"], "openid profile");
    assert_eq!(active["token_type"], "Bearer");
    for member in ["sub", "aud", "iss", "exp", "iat", "jti"] {
        assert!(!active[member].is_null(), "{member}");
    }
    assert_eq!(introspect(p, ("api", &rs_secret), &at).await["active"], true, "a resource server may see it");
    assert_eq!(introspect(p, ("app", &secret), &rt).await["token_type"], "refresh_token");
    let inactive = serde_json::json!({"active": false});
    assert_eq!(introspect(p, ("stranger", &stranger), &at).await, inactive, "hidden from other clients");
    assert_eq!(introspect(p, ("app", &secret), "garbage").await, inactive);
    let mut tampered = at.clone();
    tampered
        .replace_range(at.len() - 10..at.len() - 9, if &at[at.len() - 10..at.len() - 9] == "A" { "B" } else { "A" });
    assert_eq!(introspect(p, ("app", &secret), &tampered).await, inactive, "bad signature");
    // Rotated away.
    let (_, refreshed) = refresh(p, &secret, &rt, None).await;
    assert_eq!(introspect(p, ("app", &secret), &rt).await, inactive, "rotated away");
    assert_eq!(introspect(p, ("app", &secret), &s(&refreshed, "refresh_token")).await["active"], true);
    // Expired (the protocol clock moves past the access token's exp).
    p.clock.advance(601);
    assert_eq!(introspect(p, ("app", &secret), &at).await, inactive, "expired");
    // Callers: none, wrong secret, public client.
    let resp = reqwest::Client::new().post(p.url("/introspect")).form(&[("token", at.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    p.app
        .directory
        .create_client(NewClient {
            id: "spa".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            public: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(p.url("/introspect"))
        .form(&[("token", at.as_str()), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "a public client may not introspect");
    // §4: a token whose client was removed is no longer active, for a resource server and at userinfo.
    let tokens = login(p, &Browser::new("alice"), &secret, "openid profile").await;
    let (at, rt) = (s(&tokens, "access_token"), s(&tokens, "refresh_token"));
    assert_eq!(introspect(p, ("api", &rs_secret), &at).await["active"], true);
    assert!(p.app.directory.remove_client("app").await.unwrap());
    assert_eq!(introspect(p, ("api", &rs_secret), &at).await, inactive, "the access token's client is gone");
    assert_eq!(introspect(p, ("api", &rs_secret), &rt).await, inactive, "the refresh token's client is gone");
    let resp = reqwest::Client::new().get(p.url("/userinfo")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "userinfo refuses a removed client's token");
    h.finish().await;
}

async fn oidc_core_12_2_refresh_id_token_keeps_the_original_claims(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let tokens = login(p, &Browser::new("alice"), &secret, "openid profile").await;
    p.clock.advance(30);
    let (_, refreshed) = refresh(p, &secret, &s(&tokens, "refresh_token"), None).await;
    let (original, renewed) =
        (common::unverified_claims(&s(&tokens, "id_token")), common::unverified_claims(&s(&refreshed, "id_token")));
    for claim in ["iss", "sub", "aud", "auth_time", "sid", "name"] {
        assert_eq!(original[claim], renewed[claim], "{claim}");
    }
    assert!(renewed["iat"].as_i64() > original["iat"].as_i64());
    assert!(renewed.get("nonce").is_none(), "no nonce on refresh");
    assert_eq!(common::unverified_claims(&s(&refreshed, "access_token"))["auth_time"], original["auth_time"]);
    // A client may ask for refresh responses without an ID token (saves a signature).
    p.app
        .directory
        .update_client(
            "app",
            dingtalk_oidc::directory::ClientUpdate { id_token_on_refresh: Some(false), ..Default::default() },
        )
        .await
        .unwrap();
    let (_, lean) = refresh(p, &secret, &s(&refreshed, "refresh_token"), None).await;
    assert!(lean.get("id_token").is_none() && lean["access_token"].is_string());
    h.finish().await;
}

async fn rp_initiated_logout_with_and_without_hint_and_post_logout_redirects(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let landing = "https://app.example/signed-out";
    let secret = register(p, NewClient { post_logout_redirect_uris: vec![landing.into()], ..Default::default() }).await;
    let browser = Browser::new("alice");
    let tokens = login(p, &browser, &secret, "openid").await;
    let hint = s(&tokens, "id_token");

    // An unregistered post_logout_redirect_uri (or a case variant): refused, no redirect.
    for bad in ["https://evil.example/", "https://APP.example/signed-out", "https://app.example:443/signed-out"] {
        let url = format!("{}?id_token_hint={hint}&post_logout_redirect_uri={}", p.url("/logout"), urlenc(bad));
        let resp = browser.http.get(url).send().await.unwrap();
        assert!(resp.headers().get("location").is_none(), "{bad}");
    }
    // A registered URI without a hint: no redirect; a confirmation page (CSRF-protected) instead.
    let url = format!("{}?post_logout_redirect_uri={}&state=abc", p.url("/logout"), urlenc(landing));
    let resp = browser.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("location").is_none());
    let page = resp.text().await.unwrap();
    let confirm_id = common::hidden_value(&page, "confirm_id").expect("confirmation form");
    let forged = browser
        .http
        .post(p.url("/logout/confirm"))
        .form(&[("confirm_id", confirm_id.as_str()), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(userinfo_status(p, &s(&tokens, "access_token")).await, StatusCode::OK, "session intact");
    let csrf = common::hidden_value(&page, "csrf_token").unwrap();
    let confirmed = browser
        .http
        .post(p.url("/logout/confirm"))
        .form(&[("confirm_id", confirm_id.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK, "signed out, no redirect without a hint");
    assert_eq!(userinfo_status(p, &s(&tokens, "access_token")).await, StatusCode::UNAUTHORIZED);

    // With a hint (even an expired one) and a registered URI: straight back, state echoed; again
    // with no session left: the same, logout is idempotent.
    let tokens = login(p, &browser, &secret, "openid").await;
    let hint = s(&tokens, "id_token");
    p.clock.advance(3600);
    for _ in 0..2 {
        let url =
            format!("{}?id_token_hint={hint}&post_logout_redirect_uri={}&state=xyz", p.url("/logout"), urlenc(landing));
        let resp = browser.http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(redirect_location(&resp).unwrap(), format!("{landing}?state=xyz"));
    }
    // The browser's session is gone: prompt=none now needs a login.
    let landing = browser.journey(&authorize(p, "openid", &[("prompt", "none")]), false).await;
    assert_eq!(landing.param("error").as_deref(), Some("login_required"));
    // A hint signed by someone else: an error page, no redirect.
    let foreign = "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.eyJzdWIiOiJ4In0.c2ln";
    let resp = browser.http.get(format!("{}?id_token_hint={foreign}", p.url("/logout"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    h.finish().await;
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn upstream_recheck_revokes_users_who_left_and_tolerates_outages(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    // bob has two sessions (two browsers) and an offline grant.
    let first = login(p, &Browser::new("bob"), &secret, "openid offline_access").await;
    let second = login(p, &Browser::new("bob"), &secret, "openid").await;
    let alice = login(p, &Browser::new("alice"), &secret, "openid").await;

    // DingTalk down: within the tolerance the refresh still works...
    p.simulator.set_fault(Some(dingtalk_oidc::dingtalk::Fault::ServerError));
    p.clock.advance(301);
    let (status, body) = refresh(p, &secret, &s(&alice, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ...and past it, it fails.
    p.clock.advance(3600);
    let (status, _) = refresh(p, &secret, &s(&body, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    p.simulator.set_fault(None);

    // bob leaves the corp: his next refresh after the recheck interval fails, and every session
    // and family of his is gone.
    p.simulator.remove_from_corp("bob");
    let (status, body) = refresh(p, &secret, &s(&first, "refresh_token"), None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, _) = refresh(p, &secret, &s(&second, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let bob = p.simulator.directory().user_by_login("bob").unwrap().union_id.clone();
    let bob = p.app.directory.user_by_union_id("ding-demo-corp", &bob).await.unwrap().unwrap();
    assert!(p.app.sessions.sso_sessions_of_user(&bob.id).await.unwrap().is_empty());
    assert!(p.app.sessions.refresh_families_of_user(&bob.id).await.unwrap().is_empty());
    assert_eq!(userinfo_status(p, &s(&second, "access_token")).await, StatusCode::UNAUTHORIZED);
    h.finish().await;
}

async fn membership_rule_a_user_deactivated_in_dingtalk_loses_every_grant_at_the_recheck(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let carol = login(p, &Browser::new("carol"), &secret, "openid offline_access").await;
    // Deactivated in DingTalk: the rule that refuses an inactive user at sign-in cuts her off at
    // the next recheck too.
    p.simulator.set_active("carol", false);
    p.clock.advance(301);
    let (status, body) = refresh(p, &secret, &s(&carol, "refresh_token"), None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert_eq!(userinfo_status(p, &s(&carol, "access_token")).await, StatusCode::UNAUTHORIZED);
    h.finish().await;
}

/// Makes the provider's SQLite refuse to update user records, as a failing volume would.
async fn refuse_user_updates(p: &TestProvider, refuse: bool) {
    use sea_orm::ConnectionTrait;
    let sql = if refuse {
        "CREATE TRIGGER refuse_user_updates BEFORE UPDATE ON users BEGIN SELECT RAISE(ABORT, 'refused'); END"
    } else {
        "DROP TRIGGER refuse_user_updates"
    };
    p.app.directory.connection().execute_unprepared(sql).await.unwrap();
}

async fn a_refresh_whose_upstream_recheck_fails_on_a_dependency_changes_nothing(backend: Backend) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(p, NewClient::default()).await;
    let tokens = login(p, &Browser::new("alice"), &secret, "openid").await;
    let rt1 = s(&tokens, "refresh_token");
    // The recheck is due, and the directory cannot record its answer: 503.
    p.clock.advance(301);
    refuse_user_updates(p, true).await;
    let (status, body) = refresh(p, &secret, &rt1, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable")));
    refuse_user_updates(p, false).await;
    // Past the grace window, the same token still works: the 503 consumed nothing (had it been
    // rotated, this would be reuse and revoke the grant).
    p.clock.advance(60);
    let (status, body) = refresh(p, &secret, &rt1, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = refresh(p, &secret, &s(&body, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::OK, "the grant lives on: {body}");
    h.finish().await;
}

#[tokio::test]
async fn oidc_core_11_offline_access_needs_consent_for_third_party_clients() {
    let p = TestProvider::start().await;
    let (_, secret) = p
        .app
        .directory
        .create_client(NewClient { id: "app".into(), redirect_uris: vec![REDIRECT_URI.into()], ..Default::default() })
        .await
        .unwrap();
    let secret = secret.unwrap();
    let browser = Browser::new("alice");
    let code = browser.journey(&authorize(&p, "openid offline_access", &[]), true).await.param("code").unwrap();
    let (_, body) = exchange(&p, &secret, &code).await;
    assert_eq!(body["scope"], "openid", "offline_access dropped without prompt=consent");
    let code = browser
        .journey(&authorize(&p, "openid offline_access", &[("prompt", "consent")]), true)
        .await
        .param("code")
        .unwrap();
    let (_, body) = exchange(&p, &secret, &code).await;
    assert_eq!(body["scope"], "openid offline_access");
}

#[tokio::test]
async fn rfc9700_4_14_2_clients_without_the_refresh_grant_get_no_refresh_token() {
    let p = TestProvider::start().await;
    let secret =
        register(&p, NewClient { grant_types: Some(vec!["authorization_code".into()]), ..Default::default() }).await;
    let body = login(&p, &Browser::new("alice"), &secret, "openid offline_access").await;
    assert!(body.get("refresh_token").is_none());
    let (status, _, body) =
        token_request(&p, Some(("app", &secret)), &[("grant_type", "refresh_token"), ("refresh_token", "a.b")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unauthorized_client")));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_sso_session_idle_timeout_needs_a_new_login() {
    let p = TestProvider::start().await;
    register(&p, NewClient::default()).await;
    let browser = Browser::new("alice");
    assert!(browser.journey(&authorize(&p, "openid", &[]), false).await.param("code").is_some());
    p.clock.advance(3600);
    let silent = browser.journey(&authorize(&p, "openid", &[("prompt", "none")]), false).await;
    assert!(silent.param("code").is_some(), "used within the idle window");
    p.clock.advance(7201);
    let silent = browser.journey(&authorize(&p, "openid", &[("prompt", "none")]), false).await;
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));
    let _ = Duration::from_secs(0);
}

/// `exp - iat` of a JWT of ours.
fn lifetime_of(jwt: &str) -> i64 {
    let claims = common::unverified_claims(jwt);
    claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
}

/// A client's own lifetimes set `exp` of its ID and access tokens and `expires_in` (RFC 6749 §5.1),
/// on the code grant and on every refresh; resource checks follow `exp`; clearing them restores the
/// global `tokens.*_ttl_secs`.
async fn per_client_token_lifetimes_apply_to_the_code_and_refresh_grants_and_clearing_restores_the_global(
    backend: Backend,
) {
    let Some(h) = Harness::start(backend).await else { return };
    let p = &h.provider;
    let secret = register(
        p,
        NewClient { access_token_ttl_secs: Some(1800), id_token_ttl_secs: Some(28800), ..Default::default() },
    )
    .await;
    let tokens = login(p, &Browser::new("alice"), &secret, "openid").await;
    assert_eq!(lifetime_of(&s(&tokens, "id_token")), 28800);
    assert_eq!(lifetime_of(&s(&tokens, "access_token")), 1800);
    assert_eq!(tokens["expires_in"], 1800);
    // Past the global 600 s the token is still accepted: its own `exp` decides.
    p.clock.advance(1000);
    assert_eq!(userinfo_status(p, &s(&tokens, "access_token")).await, StatusCode::OK);
    let introspected = introspect(p, ("app", &secret), &s(&tokens, "access_token")).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["exp"].as_i64().unwrap() - introspected["iat"].as_i64().unwrap(), 1800);

    let (status, refreshed) = refresh(p, &secret, &s(&tokens, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(lifetime_of(&s(&refreshed, "id_token")), 28800);
    assert_eq!(lifetime_of(&s(&refreshed, "access_token")), 1800);
    assert_eq!(refreshed["expires_in"], 1800);

    p.app
        .directory
        .update_client(
            "app",
            dingtalk_oidc::directory::ClientUpdate {
                access_token_ttl_secs: Some(None),
                id_token_ttl_secs: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let global = &p.app.config.tokens;
    let (status, restored) = refresh(p, &secret, &s(&refreshed, "refresh_token"), None).await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(lifetime_of(&s(&restored, "id_token")), global.id_token_ttl_secs as i64);
    assert_eq!(lifetime_of(&s(&restored, "access_token")), global.access_token_ttl_secs as i64);
    assert_eq!(restored["expires_in"], global.access_token_ttl_secs);
    h.finish().await;
}

/// When the SQL store keeps the record `kind`/`id` until (Unix seconds, wall clock).
async fn stored_until(p: &TestProvider, kind: &[&str], id: &str) -> i64 {
    use dingtalk_oidc::directory::entities::session_record::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let rows = Entity::find()
        .filter(Column::Kind.is_in(kind.iter().copied()))
        .filter(Column::Id.eq(id))
        .all(p.app.directory.connection())
        .await
        .unwrap();
    rows.iter().map(|r| r.expires_at).max().unwrap_or_else(|| panic!("no {kind:?} record {id}"))
}

/// Revoking a user denies every access token of theirs for as long as the longest one can live:
/// the denial is kept for the fixed longest lifetime (`tokens::lifetime`), so a client's 24-hour
/// token is denied until it expires, not only for the global 10 minutes.
#[tokio::test]
async fn rfc7009_2_1_a_users_denial_outlasts_the_longest_access_token_a_client_may_be_given() {
    let p = TestProvider::start().await;
    let secret = register(&p, NewClient { access_token_ttl_secs: Some(86400), ..Default::default() }).await;
    let tokens = login(&p, &Browser::new("alice"), &secret, "openid").await;
    let access = common::unverified_claims(&s(&tokens, "access_token"));
    let sub = access["sub"].as_str().unwrap();
    p.app.revocation().revoke_user(sub, "test", p.app.now()).await.unwrap();
    assert_eq!(userinfo_status(&p, &s(&tokens, "access_token")).await, StatusCode::UNAUTHORIZED);
    let denied_until = stored_until(&p, &["denied_user"], sub).await;
    let accepted_until = access["exp"].as_i64().unwrap() + p.app.config.tokens.leeway_secs as i64;
    assert!(denied_until >= accepted_until, "the denial ends at {denied_until}, the token at {accepted_until}");
}

/// RFC 6749 §4.1.2: a replay revokes what the code issued only while the redemption is remembered,
/// so it is remembered as long as the client's access token is accepted, leeway included (here a
/// client without refresh tokens, whose access token is denied by the code's name alone).
#[tokio::test]
async fn rfc6749_4_1_2_a_redeemed_code_is_remembered_as_long_as_its_access_token_is_accepted() {
    let p = TestProvider::start().await;
    let secret = register(
        &p,
        NewClient {
            access_token_ttl_secs: Some(86400),
            grant_types: Some(vec!["authorization_code".into()]),
            ..Default::default()
        },
    )
    .await;
    let code = Browser::new("alice").journey(&authorize(&p, "openid", &[]), false).await.param("code").unwrap();
    // Our clock runs a little ahead of the store's (or the request took that long between
    // redemption and minting): the token's exp is counted from a later instant than the record's.
    p.clock.advance(20);
    let (status, tokens) = exchange(&p, &secret, &code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let exp = common::unverified_claims(&s(&tokens, "access_token"))["exp"].as_i64().unwrap();
    let accepted_until = exp + p.app.config.tokens.leeway_secs as i64;
    let remembered_until =
        stored_until(&p, &["code_redeemed", "code_issued"], &dingtalk_oidc::secrets::hash(&code)).await;
    assert!(
        remembered_until >= accepted_until,
        "the redemption is forgotten at {remembered_until}, the token is accepted to {accepted_until}"
    );
}

/// RFC 7009 §2.1: a revoked access token stays refused for as long as a verifier would accept it,
/// which is its `exp` plus the leeway, not its `exp`: a denial kept only until `exp` let the
/// token verify again for the leeway's seconds. Both ways of revoking it: by itself (its `jti`)
/// and through its refresh family.
#[tokio::test]
async fn rfc7009_2_1_a_revoked_access_tokens_denial_outlasts_its_leeway() {
    let p = TestProvider::start().await;
    let secret = register(&p, NewClient::default()).await;
    let leeway = p.app.config.tokens.leeway_secs as i64;
    let browser = Browser::new("alice");

    let tokens = login(&p, &browser, &secret, "openid").await;
    let access = common::unverified_claims(&s(&tokens, "access_token"));
    let status = revoke(&p, ("app", &secret), &[("token", &s(&tokens, "access_token"))]).await;
    assert_eq!(status, StatusCode::OK);
    let denied_until = stored_until(&p, &["denied_jti"], access["jti"].as_str().unwrap()).await;
    let accepted_until = access["exp"].as_i64().unwrap() + leeway;
    assert!(denied_until >= accepted_until, "the jti's denial ends at {denied_until}, the token at {accepted_until}");

    let tokens = login(&p, &browser, &secret, "openid").await;
    let access = common::unverified_claims(&s(&tokens, "access_token"));
    let status = revoke(&p, ("app", &secret), &[("token", &s(&tokens, "refresh_token"))]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(userinfo_status(&p, &s(&tokens, "access_token")).await, StatusCode::UNAUTHORIZED);
    // A family's access tokens are named `<family>.<n>` (`store::ids`).
    let family = access["jti"].as_str().unwrap().split_once('.').unwrap().0;
    let denied_until = stored_until(&p, &["denied_family"], family).await;
    let accepted_until = access["exp"].as_i64().unwrap() + leeway;
    assert!(
        denied_until >= accepted_until,
        "the family's denial ends at {denied_until}, its token at {accepted_until}"
    );
}

/// RFC 7009 §2.1: an access token past its `exp` but inside the leeway is still accepted at
/// userinfo, so it can still be revoked; the revocation endpoint used to call it expired, answer
/// 200 and deny nothing.
#[tokio::test]
async fn rfc7009_2_1_an_access_token_inside_its_leeway_can_be_revoked() {
    let p = TestProvider::start().await;
    let secret = register(&p, NewClient::default()).await;
    let tokens = login(&p, &Browser::new("alice"), &secret, "openid").await;
    let token = s(&tokens, "access_token");
    let exp = common::unverified_claims(&token)["exp"].as_i64().unwrap();
    assert!(p.app.config.tokens.leeway_secs > 20);
    p.clock.advance(exp - p.app.now() + 10);
    assert_eq!(userinfo_status(&p, &token).await, StatusCode::OK, "accepted inside the leeway");
    assert_eq!(revoke(&p, ("app", &secret), &[("token", &token)]).await, StatusCode::OK);
    assert_eq!(userinfo_status(&p, &token).await, StatusCode::UNAUTHORIZED, "refused once revoked");
}
