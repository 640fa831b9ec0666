//! Console: the overview. What signs now and what takes over next, how many clients and users
//! there are, and the dashboard (`dashboard`): sign-ins per hour and this instance's counters.

use std::sync::Arc;

use minijinja::context;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::dashboard;
use super::{failed, operator_or_refusal, page};
use crate::app::App;
use crate::directory::audit::AuditKind;
use crate::keys::KeyState;
use crate::web::pages::shown_time;
use minijinja::value::Value;

/// `GET /admin/`.
#[handler]
pub async fn show(req: &Request, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let now = app.now();
    let ((keys, next), clients, users) = match (
        app.rotation().schedule(now).await,
        app.directory.list_clients().await,
        app.directory.list_users(None, 0, 1).await,
    ) {
        (Ok(k), Ok(c), Ok((_, users))) => (k, c, users),
        (Err(e), _, _) => return failed(e.into()),
        (_, Err(e), _) | (_, _, Err(e)) => return failed(e.into()),
    };
    let dashboard = match dashboard_values(&app, now).await {
        Ok(dashboard) => dashboard,
        Err(e) => return failed(e.into()),
    };
    let signing = keys.iter().find(|k| k.state == KeyState::Active).map(|k| k.kid.as_str());
    let pending = keys.iter().find(|k| k.state == KeyState::Pending);
    let values = context! {
        signing,
        pending => pending.map(|k| context! { kid => k.kid.as_str(), activates => shown_time(k.activates_at).0 }),
        next_rotation => next.map(|t| shown_time(t).0),
        clients => clients.len(),
        users,
        issuer => app.issuer.as_str(),
        dashboard,
    };
    page(&app, &operator, "console_home.html", "Overview", values)
}

/// The dashboard's charts: sign-ins per hour from the audit log (every instance's), the rest from
/// this instance's metrics.
async fn dashboard_values(app: &App, now: i64) -> Result<Value, crate::directory::DirectoryError> {
    let sign_ins = app.directory.audit_counts_by_hour(AuditKind::Login, now - 24 * 3600).await?;
    let (sign_ins_chart, sign_ins_total) = dashboard::hourly(&sign_ins, now);
    let samples = crate::metrics::handle().map(|h| dashboard::parse(&h.render())).unwrap_or_default();
    let chart = |title: &str, rows: &[(String, f64)], unit: &str| {
        (!rows.is_empty()).then(|| Value::from_safe_string(dashboard::bars(title, rows, unit)))
    };
    let tokens = dashboard::totals_by(&samples, "dingtalk_oidc_tokens_issued_total", "grant");
    let outcomes = dashboard::totals_by(&samples, "dingtalk_oidc_logins_total", "outcome");
    let failures: Vec<(String, f64)> = outcomes.into_iter().filter(|(o, _)| o != "success").collect();
    let errors: Vec<(String, f64)> = dashboard::error_responses(&samples).into_iter().take(12).collect();
    let latency = dashboard::dingtalk_latency(&samples);
    let mean: Vec<(String, f64)> = latency.iter().map(|l| (l.endpoint.clone(), l.mean_ms)).collect();
    let latency_rows: Vec<Value> = latency
        .iter()
        .map(|l| {
            context! {
                endpoint => l.endpoint.as_str(),
                calls => format!("{:.0}", l.calls),
                mean_ms => format!("{:.1}", l.mean_ms),
                p95_ms => l.p95_ms.map_or_else(|| "> 5000".to_string(), |p| format!("≤ {p:.1}")),
            }
        })
        .collect();
    Ok(context! {
        sign_ins => Value::from_safe_string(sign_ins_chart),
        sign_ins_total,
        tokens => chart("Tokens issued by grant", &tokens, ""),
        failures => chart("Failed sign-ins by kind", &failures, ""),
        errors => chart("Error responses by route and status", &errors, ""),
        latency => chart("DingTalk mean latency by endpoint", &mean, "ms"),
        latency_rows,
        metrics => !samples.is_empty(),
    })
}
