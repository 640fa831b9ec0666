//! Console: relying parties. List, register (a confidential client's secret is shown once, on the
//! page that answers the registration, and never again), edit redirect URIs, logout URIs, scopes
//! and lifetimes, rotate the secret, delete after confirmation.

use std::sync::Arc;

use minijinja::context;
use minijinja::value::Value;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};

use super::{confirm_page, done, failed, invalid, notice, operator_or_refusal, page, paths, writer};
use crate::app::App;
use crate::directory::{Client, ClientUpdate, NewClient};
use crate::manage;
use crate::oidc::params::Params;

pub(super) const NOTICES: &[(&str, &str)] = &[("updated", "Saved."), ("deleted", "The client was deleted.")];

/// `GET /admin/clients`.
#[handler]
pub async fn list(req: &Request, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let clients = match app.directory.list_clients().await {
        Ok(clients) => clients,
        Err(e) => return failed(e.into()),
    };
    let clients: Vec<Value> = clients.iter().map(client_row).collect();
    let values = context! { clients, notice => notice(req, NOTICES) };
    page(&app, &operator, "console_clients.html", "Clients", values)
}

/// `POST /admin/clients`: registers a client and shows its secret once.
#[handler]
pub async fn create(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    let (operator, m, form) = match writer(&app, req, body).await {
        Ok(w) => w,
        Err(resp) => return resp,
    };
    let new = NewClient {
        id: form.get("id").unwrap_or_default().trim().to_string(),
        name: text(&form, "name"),
        redirect_uris: lines(&form, "redirect_uris"),
        post_logout_redirect_uris: lines(&form, "post_logout_redirect_uris"),
        public: form.has("public"),
        first_party: form.has("first_party"),
        allowed_scopes: text(&form, "scopes").map(|s| s.split_whitespace().map(str::to_string).collect()),
        backchannel_logout_uri: text(&form, "backchannel_logout_uri"),
        ..NewClient::default()
    };
    match manage::clients::create(&m, new).await {
        Ok((client, secret)) => secret_page(&app, &operator, &client.id, secret.as_deref(), "created"),
        Err(e) => failed(e),
    }
}

/// `GET /admin/clients/{id}` (with `?confirm=delete`: the deletion's confirmation).
#[handler]
pub async fn show(req: &Request, id: Path<String>, app: Data<&Arc<App>>) -> Response {
    let operator = match operator_or_refusal(&app, req).await {
        Ok(operator) => operator,
        Err(resp) => return resp,
    };
    let client = match manage::clients::get(&app.directory, &id).await {
        Ok(client) => client,
        Err(e) => return failed(e),
    };
    let values = context! {
        client => client_row(&client),
        action_url => client_url(&app, &client.id),
        notice => notice(req, NOTICES),
    };
    page(&app, &operator, "console_client.html", &client.name, values)
}

/// `POST /admin/clients/{id}`: `action` = update, rotate_secret or delete (asks first).
#[handler]
pub async fn act(req: &Request, id: Path<String>, body: Body, app: Data<&Arc<App>>) -> Response {
    let (operator, m, form) = match writer(&app, req, body).await {
        Ok(w) => w,
        Err(resp) => return resp,
    };
    let url = client_url(&app, &id);
    match form.get("action") {
        Some("update") => {
            let (Ok(access_ttl), Ok(id_ttl)) =
                (number(&form, "access_token_ttl_secs"), number(&form, "id_token_ttl_secs"))
            else {
                return failed(invalid("a lifetime is a whole number of seconds, or empty for the default"));
            };
            let update = ClientUpdate {
                name: text(&form, "name"),
                redirect_uris: Some(lines(&form, "redirect_uris")),
                post_logout_redirect_uris: Some(lines(&form, "post_logout_redirect_uris")),
                backchannel_logout_uri: Some(text(&form, "backchannel_logout_uri")),
                // Empty leaves the scopes as they are: a client with none could not even sign in.
                allowed_scopes: text(&form, "scopes").map(|s| s.split_whitespace().map(str::to_string).collect()),
                // Likewise: a client needs at least one grant.
                grant_types: text(&form, "grant_types").map(|g| g.split_whitespace().map(str::to_string).collect()),
                // The form always carries the box: unticked is off (RFC 9126 §6).
                require_pushed_authorization_requests: Some(form.has("require_par")),
                access_token_ttl_secs: Some(access_ttl),
                id_token_ttl_secs: Some(id_ttl),
                organisations: Some(
                    form.get("organisations").unwrap_or_default().split_whitespace().map(str::to_string).collect(),
                ),
                resource_uri: Some(text(&form, "resource_uri")),
                resource_scopes: Some(
                    form.get("resource_scopes").unwrap_or_default().split_whitespace().map(str::to_string).collect(),
                ),
                ..ClientUpdate::default()
            };
            match manage::clients::update(&m, &id, update).await {
                Ok(client) => done(&app, &format!("{}/{}", paths::CLIENTS, super::segment(&client.id)), "updated"),
                Err(e) => failed(e),
            }
        }
        Some("rotate_secret") => match manage::clients::rotate_secret(&m, &id).await {
            Ok(secret) => secret_page(&app, &operator, &id, Some(&secret), "rotated"),
            Err(e) => failed(e),
        },
        Some("delete") if form.get("confirm") == Some("yes") => match manage::clients::remove(&m, &id).await {
            Ok(()) => done(&app, paths::CLIENTS, "deleted"),
            Err(e) => failed(e),
        },
        Some("delete") => {
            let question = format!("Delete the client {}? Its users must sign in again elsewhere.", id.as_str());
            confirm_page(&app, &operator, &url, &question, &[("action", "delete"), ("confirm", "yes")])
        }
        _ => failed(invalid("action: no such action")),
    }
}

/// The page that shows a new secret, once (it is stored only as a hash).
fn secret_page(app: &App, operator: &super::Operator, id: &str, secret: Option<&str>, what: &str) -> Response {
    let values = context! { client_id => id, secret, what, client_url => client_url(app, id) };
    page(app, operator, "console_secret.html", "Client secret", values)
}

fn client_url(app: &App, id: &str) -> String {
    app.endpoint_url(&format!("{}/{}", paths::CLIENTS, super::segment(id)))
}

fn client_row(c: &Client) -> Value {
    context! {
        id => c.id.as_str(),
        url_id => super::segment(&c.id),
        name => c.name.as_str(),
        kind => if c.public { "public" } else { "confidential" },
        first_party => c.first_party,
        redirect_uris => c.redirect_uris.clone(),
        post_logout_redirect_uris => c.post_logout_redirect_uris.clone(),
        scopes => c.allowed_scopes.join(" "),
        organisations => c.organisations.join(" "),
        resource_uri => c.resource_uri.as_deref().unwrap_or_default(),
        resource_scopes => c.resource_scopes.join(" "),
        grant_types => c.grant_types.join(" "),
        require_par => c.require_pushed_authorization_requests,
        auth_method => c.token_endpoint_auth_method(),
        jwks_uri => c.jwks_uri.as_deref().unwrap_or_default(),
        backchannel_logout_uri => c.backchannel_logout_uri.as_deref().unwrap_or_default(),
        access_token_ttl_secs => c.access_token_ttl_secs.map(|s| s.to_string()).unwrap_or_default(),
        id_token_ttl_secs => c.id_token_ttl_secs.map(|s| s.to_string()).unwrap_or_default(),
        console => c.id == super::auth::CLIENT_ID,
    }
}

/// A text field, trimmed; empty is absent.
fn text(form: &Params, name: &str) -> Option<String> {
    form.get(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

/// A textarea of one value per line.
fn lines(form: &Params, name: &str) -> Vec<String> {
    form.get(name).unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// A lifetime in seconds; empty is the global default, anything but a number an error.
fn number(form: &Params, name: &str) -> Result<Option<u64>, std::num::ParseIntError> {
    text(form, name).map(|v| v.parse()).transpose()
}
