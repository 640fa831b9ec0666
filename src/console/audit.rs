//! Console: the audit log. Filters by kind, actor and subject; pages of 50, newest first.

use std::sync::Arc;

use minijinja::context;
use minijinja::value::Value;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::{failed, operator_or_refusal, page, paths};
use crate::app::App;
use crate::directory::audit::{AuditKind, AuditQuery};
use crate::oidc::code::append_query;
use crate::oidc::params::Params;
use crate::web::pages::shown_time;

const PAGE_SIZE: u64 = 50;

/// `GET /admin/audit?kind=&actor=&subject=&page=`.
#[handler]
pub async fn show(req: &Request, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let query = Params::parse(req.uri().query().unwrap_or_default());
    let filter = |name: &str| query.get(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let (kind, actor, subject) = (filter("kind"), filter("actor"), filter("subject"));
    let page_number = query.get("page").and_then(|p| p.parse::<u64>().ok()).unwrap_or(0).min(100_000);
    // One more than a page: whether there is a next one.
    let q = AuditQuery {
        kind: kind.clone(),
        actor: actor.clone(),
        subject: subject.clone(),
        limit: PAGE_SIZE + 1,
        offset: page_number * PAGE_SIZE,
        ..AuditQuery::default()
    };
    let mut events = match app.directory.audit_events(&q).await {
        Ok(events) => events,
        Err(e) => return failed(e.into()),
    };
    let more = events.len() as u64 > PAGE_SIZE;
    events.truncate(PAGE_SIZE as usize);
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            let (at, at_iso) = shown_time(e.at);
            context! {
                at,
                at_iso,
                kind => e.kind.as_str(),
                actor => e.actor.as_deref().unwrap_or("—"),
                subject => e.subject.as_deref().unwrap_or_default(),
                client_id => e.client_id.as_deref().unwrap_or_default(),
                detail => if e.detail == "{}" { "" } else { e.detail.as_str() },
            }
        })
        .collect();
    let link = |page_number: u64| {
        let page_text = page_number.to_string();
        let mut pairs = vec![("page", page_text.as_str())];
        for (name, value) in [("kind", &kind), ("actor", &actor), ("subject", &subject)] {
            if let Some(value) = value {
                pairs.push((name, value.as_str()));
            }
        }
        append_query(&app.endpoint_url(paths::AUDIT), &pairs)
    };
    let kinds: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
    let values = context! {
        events,
        kinds,
        filter => context! {
            kind => kind.as_deref().unwrap_or_default(),
            actor => actor.as_deref().unwrap_or_default(),
            subject => subject.as_deref().unwrap_or_default(),
        },
        action_url => app.endpoint_url(paths::AUDIT),
        previous => (page_number > 0).then(|| link(page_number - 1)),
        next => more.then(|| link(page_number + 1)),
    };
    page(&app, &operator, "console_audit.html", "Audit log", values)
}
