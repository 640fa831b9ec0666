//! The OpenAPI surface (poem-openapi). The admin API (`/admin/v1`) grows here; its spec is
//! exported to `openapi/openapi.yaml` and printed by `dingtalk-oidc openapi`.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService};

pub struct OperationsApi;

#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The process is up.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[OpenApi]
impl OperationsApi {
    /// Liveness: the process is up and serving HTTP.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(Health { status: "ok".into() }))
    }
}

pub fn api_service(issuer: &str) -> OpenApiService<OperationsApi, ()> {
    OpenApiService::new(OperationsApi, "dingtalk-oidc", env!("CARGO_PKG_VERSION"))
        .description("Operations and administration API of dingtalk-oidc.")
        .server(issuer)
}

/// The spec as committed in `openapi/openapi.yaml` (server URL left generic).
pub fn spec_yaml() -> String {
    api_service("http://127.0.0.1:8080").spec_yaml()
}
