//! Console: signing keys. The timeline (`timeline`), the JWKS cache lifetime and the next
//! scheduled rotation, and rotate / revoke, each asking for confirmation first.

use std::sync::Arc;

use minijinja::context;
use minijinja::value::Value;
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use super::{confirm_page, done, failed, notice, operator_or_refusal, page, paths, timeline, writer};
use crate::app::App;
use crate::keys::KeyState;
use crate::manage;
use crate::web::pages::shown_time;

pub(super) const NOTICES: &[(&str, &str)] = &[
    ("rotated", "A new key is published; it signs when its lead time has passed."),
    ("rotated_now", "A new key is published and signs from now."),
    ("revoked", "The key was revoked: it left the key set, and its tokens no longer verify."),
];

/// `GET /admin/keys`.
#[handler]
pub async fn show(req: &Request, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let now = app.now();
    let (keys, next) = match app.rotation().schedule(now).await {
        Ok(schedule) => schedule,
        Err(e) => return failed(e.into()),
    };
    let svg = Value::from_safe_string(timeline::svg(&keys, now, next));
    let rows: Vec<Value> = keys
        .iter()
        .rev()
        .map(|k| {
            let when = |t: Option<i64>| t.map(|t| shown_time(t).0).unwrap_or_default();
            context! {
                kid => k.kid.as_str(),
                state => serde_json::to_value(k.state).ok().and_then(|v| v.as_str().map(str::to_string)),
                created => when(Some(k.created_at)),
                activates => when(Some(k.activates_at)),
                retires => when(k.retires_at),
                removed => when(k.removed_at),
                revocable => !matches!(k.state, KeyState::Revoked | KeyState::Removed),
            }
        })
        .collect();
    let values = context! {
        svg,
        keys => rows,
        jwks_max_age => app.config.keys.jwks_max_age_secs,
        publish_lead => app.config.keys.publish_lead_secs,
        next_rotation => next.map(|t| shown_time(t).0),
        action_url => app.endpoint_url(paths::KEYS),
        notice => notice(req, NOTICES),
    };
    page(&app, &operator, "console_keys.html", "Signing keys", values)
}

/// `POST /admin/keys`: `action` = rotate (`immediate` to sign at once) or revoke (`kid`); both
/// ask first.
#[handler]
pub async fn act(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let (operator, m, form) = match writer(&app, req, body).await {
        Ok(w) => w,
        Err(resp) => return resp,
    };
    let url = app.endpoint_url(paths::KEYS);
    let confirmed = form.get("confirm") == Some("yes");
    let immediate = form.get("immediate") == Some("yes");
    match (form.get("action"), form.get("kid")) {
        (Some("rotate"), _) if confirmed => match manage::keys::rotate(&m, &app.rotation(), immediate).await {
            Ok(_) => done(&app, paths::KEYS, if immediate { "rotated_now" } else { "rotated" }),
            Err(e) => failed(e),
        },
        (Some("rotate"), _) => {
            let (question, immediate) = if immediate {
                (
                    "Publish a new key and sign with it from now? Caches holding the old key set will not know it yet.",
                    "yes",
                )
            } else {
                ("Publish a new key? It signs once its lead time has passed.", "no")
            };
            let fields = [("action", "rotate"), ("immediate", immediate), ("confirm", "yes")];
            confirm_page(&app, &operator, &url, question, &fields)
        }
        (Some("revoke"), Some(kid)) if confirmed => match manage::keys::revoke(&m, &app.rotation(), kid).await {
            Ok(_) => done(&app, paths::KEYS, "revoked"),
            Err(e) => failed(e),
        },
        (Some("revoke"), Some(kid)) => {
            let question =
                format!("Revoke the key {kid}? It leaves the key set now, and every token it signed stops verifying.");
            confirm_page(&app, &operator, &url, &question, &[("action", "revoke"), ("kid", kid), ("confirm", "yes")])
        }
        _ => failed(super::invalid("action: no such action")),
    }
}
