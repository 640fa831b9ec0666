//! `dingtalk_oidc_logins_total{outcome}`: every finished DingTalk callback is counted once, under
//! the outcome that ended it (README, "Metrics"). The recorder is process-wide, so this is one test
//! that runs alone in a process of its own (`common::alone_in_a_process`) and walks through the
//! outcomes one after another, comparing every outcome's count before and after each step: the
//! step's outcome moved by exactly one, the others not at all.

use std::collections::BTreeMap;

use crate::common::{self, Browser, CHALLENGE, REDIRECT_URI, TestProvider, authorize_url};
use dingtalk_oidc::dingtalk::Fault;
use dingtalk_oidc::login::outcome::LoginOutcome;
use reqwest::StatusCode;

const FAMILY: &str = "dingtalk_oidc_logins_total";

/// Every outcome's count, from `/metrics`.
async fn logins(p: &TestProvider) -> BTreeMap<String, f64> {
    let text = reqwest::get(p.url("/metrics")).await.unwrap().text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let mut counts = BTreeMap::new();
    for sample in scrape.samples.iter().filter(|s| s.metric == FAMILY) {
        if let prometheus_parse::Value::Counter(v) = sample.value {
            counts.insert(sample.labels.get("outcome").unwrap().to_string(), v);
        }
    }
    counts
}

fn login_url(p: &TestProvider) -> String {
    authorize_url(
        &p.issuer,
        &[
            ("client_id", "app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// Runs `step` and asserts that it counted exactly one login, under `outcome`.
async fn counts_once_as<F: std::future::Future<Output = ()>>(p: &TestProvider, outcome: LoginOutcome, step: F) {
    let before = logins(p).await;
    step.await;
    let after = logins(p).await;
    for each in LoginOutcome::ALL {
        let label = each.label();
        let moved = after.get(label).copied().unwrap_or(0.0) - before.get(label).copied().unwrap_or(0.0);
        let expected = if each == outcome { 1.0 } else { 0.0 };
        assert_eq!(moved, expected, "outcome {label} moved by {moved} in a step ending {}", outcome.label());
    }
}

#[tokio::test]
async fn every_finished_dingtalk_callback_is_counted_once_under_its_outcome() {
    if !common::alone_in_a_process(module_path!(), "every_finished_dingtalk_callback_is_counted_once_under_its_outcome")
    {
        return;
    }
    let p = TestProvider::start().await;
    p.register("app", false, true).await;

    let before_any = logins(&p).await;
    for outcome in LoginOutcome::ALL {
        assert!(before_any.contains_key(outcome.label()), "{} is exported from the start", outcome.label());
    }

    counts_once_as(&p, LoginOutcome::Success, async {
        let landing = Browser::new("alice").journey(&login_url(&p), true).await;
        assert!(landing.param("code").is_some(), "{landing:?}");
    })
    .await;

    // mallory signs in to another organisation; dave is deactivated in this one.
    for login in ["mallory", "dave"] {
        counts_once_as(&p, LoginOutcome::RefusedByCorp, async {
            let landing = Browser::new(login).journey(&login_url(&p), true).await;
            assert_eq!(landing.param("error").as_deref(), Some("access_denied"), "{login}");
        })
        .await;
    }

    let alice = p.simulator.directory().user_by_login("alice").unwrap().union_id.clone();
    let alice = p.app.directory.user_by_union_id("ding-demo-corp", &alice).await.unwrap().unwrap();
    assert!(p.app.directory.set_user_disabled(&alice.id, true).await.unwrap());
    counts_once_as(&p, LoginOutcome::UserDisabled, async {
        let landing = Browser::new("alice").journey(&login_url(&p), true).await;
        assert_eq!(landing.param("error").as_deref(), Some("access_denied"));
    })
    .await;
    assert!(p.app.directory.set_user_disabled(&alice.id, false).await.unwrap());

    counts_once_as(&p, LoginOutcome::UserCancelled, async {
        p.simulator.set_fault(Some(Fault::LoginDenied));
        let landing = Browser::new("bob").journey(&login_url(&p), true).await;
        p.simulator.set_fault(None);
        assert_eq!(landing.param("error").as_deref(), Some("access_denied"));
    })
    .await;

    counts_once_as(&p, LoginOutcome::InvalidState, async {
        let landing = Browser::new("bob").journey(&p.url("/callback/dingtalk?code=abc&state=not-a-state"), true).await;
        assert_eq!(landing.page().0, StatusCode::BAD_REQUEST);
    })
    .await;

    counts_once_as(&p, LoginOutcome::DingTalkError, async {
        p.simulator.set_fault(Some(Fault::InvalidCode));
        let landing = Browser::new("bob").journey(&login_url(&p), true).await;
        p.simulator.set_fault(None);
        assert_eq!(landing.page().0, StatusCode::BAD_GATEWAY);
    })
    .await;

    counts_once_as(&p, LoginOutcome::DingTalkUnavailable, async {
        p.simulator.set_fault(Some(Fault::ServerError));
        let landing = Browser::new("bob").journey(&login_url(&p), true).await;
        p.simulator.set_fault(None);
        assert_eq!(landing.page().0, StatusCode::SERVICE_UNAVAILABLE);
    })
    .await;

    // Nothing else signed in meanwhile: the steps above add up to the total.
    let after_all = logins(&p).await;
    let total = |counts: &BTreeMap<String, f64>| counts.values().sum::<f64>();
    assert_eq!(total(&after_all) - total(&before_any), 8.0);
}
