//! The admin REST API at `/admin/v1` (poem-openapi): clients, users, roles and grants, mapping
//! rules, sessions, signing keys and audit events. Its spec is committed as `openapi/admin.yaml`,
//! printed by `dingtalk-oidc openapi` and served at `/admin/v1/openapi.json`; interactive docs at
//! `/admin/docs`. Handlers are thin: they check the caller's role, parse the request, call the
//! management operation (`manage`, which writes, revokes and records the audit event) and render.

pub mod auth;
pub mod clients;
pub mod docs;
pub mod error;
pub mod keys;
pub mod registration;
pub mod roles;
pub mod sessions;
pub mod users;

use std::sync::Arc;

use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route};
use poem_openapi::OpenApiService;

use crate::app::App;

pub type AdminApi = (
    clients::ClientsApi,
    users::UsersApi,
    roles::RolesApi,
    sessions::SessionsApi,
    keys::KeysApi,
    keys::AuditApi,
    registration::RegistrationTokensApi,
);

pub const PREFIX: &str = "/admin/v1";

pub fn api_service(server: &str) -> OpenApiService<AdminApi, ()> {
    // Every API of the tuple, listed once (in `AdminApi`).
    OpenApiService::new(AdminApi::default(), "dingtalk-oidc admin API", env!("CARGO_PKG_VERSION"))
        .description(
            "Manage clients, users, roles and mapping rules, sessions, signing keys and audit events. \
         Authenticate with the bootstrap token (DINGTALK_OIDC_ADMIN_TOKEN) or an access token for the \
         admin audience (scope `admin`) of a user with role `admin` (all operations) or `auditor` (reads).",
        )
        .server(server)
}

/// The spec as committed in `openapi/admin.yaml` (with a generic server URL).
pub fn spec_yaml() -> String {
    api_service(&format!("http://127.0.0.1:8080{PREFIX}")).spec_yaml()
}

/// `/admin/v1/...`, `/admin/v1/openapi.json` and `/admin/docs`.
pub fn routes(issuer: &str) -> Route {
    let service = api_service(&format!("{issuer}{PREFIX}"));
    let docs = docs::endpoint(service.swagger_ui_html());
    let spec = service.spec_endpoint();
    Route::new()
        .nest(PREFIX, Route::new().at("/openapi.json", spec).nest("/", service.around(json_errors)))
        .nest("/admin/docs", docs)
}

/// Errors poem-openapi produces itself (a missing header, a body that does not parse) become the
/// same JSON as ours, and every 401 carries its Bearer challenge.
async fn json_errors<E: Endpoint>(ep: Arc<E>, req: poem::Request) -> poem::Result<Response> {
    let resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let status = resp.status();
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_client_error() && !is_json {
        let message = resp.into_body().into_string().await.unwrap_or_default();
        let (error, field) = match status {
            StatusCode::UNAUTHORIZED => ("invalid_token", None),
            StatusCode::NOT_FOUND => ("not_found", None),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", None),
            _ => ("invalid_request", Some("body")),
        };
        let err = error::ApiError { status, error, message, field };
        return Ok(err.into_response());
    }
    Ok(resp)
}

pub fn app(data: &poem::web::Data<&Arc<App>>) -> Arc<App> {
    Arc::clone(data.0)
}
