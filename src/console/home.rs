//! Console: the overview. What signs now and what takes over next, how many clients and users
//! there are, and where to go from here.

use std::sync::Arc;

use minijinja::context;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::{failed, operator_or_refusal, page};
use crate::app::App;
use crate::keys::KeyState;
use crate::web::pages::shown_time;

/// `GET /admin/`.
#[handler]
pub async fn show(req: &Request, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let now = app.now();
    let (keys, clients, users) = match (
        app.rotation().list(now).await,
        app.directory.list_clients().await,
        app.directory.list_users(None, 0, 1).await,
    ) {
        (Ok(k), Ok(c), Ok((_, users))) => (k, c, users),
        (Err(e), _, _) => return failed(e.into()),
        (_, Err(e), _) | (_, _, Err(e)) => return failed(e.into()),
    };
    let signing = keys.iter().find(|k| k.state == KeyState::Active).map(|k| k.kid.as_str());
    let pending = keys.iter().find(|k| k.state == KeyState::Pending);
    let next = super::keys::next_rotation(&keys, app.config.keys.rotation_period_secs as i64);
    let values = context! {
        signing,
        pending => pending.map(|k| context! { kid => k.kid.as_str(), activates => shown_time(k.activates_at).0 }),
        next_rotation => next.map(|t| shown_time(t).0),
        clients => clients.len(),
        users,
        issuer => app.issuer.as_str(),
    };
    page(&app, &operator, "console_home.html", "Overview", values)
}
