//! `/admin/v1/clients`: register (secret shown once), list, get, update, delete, rotate secret.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::auth::AdminAuth;
use super::error::{ApiError, ApiResult};
use crate::directory::{Client, ClientUpdate, NewClient};
use crate::manage;

/// A registered client. Its secret is never shown here.
#[derive(Debug, Object)]
pub struct ClientBody {
    pub id: String,
    pub name: String,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub resource_server: bool,
    pub id_token_on_refresh: bool,
    /// Access-token lifetime in seconds for this client; null: the global `tokens.access_token_ttl_secs`.
    pub access_token_ttl_secs: Option<u64>,
    /// ID-token lifetime in seconds for this client; null: the global `tokens.id_token_ttl_secs`.
    pub id_token_ttl_secs: Option<u64>,
    /// The DingTalk organisations (corp ids) whose users may sign in; empty: the default one only.
    pub organisations: Vec<String>,
    /// The API this client stands for (RFC 8707 resource indicator, the `aud` of tokens for it).
    pub resource_uri: Option<String>,
    /// The scopes that API defines.
    pub resource_scopes: Vec<String>,
    /// Authorization requests only by `request_uri` from the pushed authorization request
    /// endpoint (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// How the client authenticates at the token endpoint (RFC 7591 §2): `none` (public),
    /// `client_secret_basic` (its secret, in the Basic header or the body) or `private_key_jwt`
    /// (a JWT signed by one of its keys, OIDC Core §9).
    pub token_endpoint_auth_method: String,
    /// The public JWK Set registered inline for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// Where the client serves its JWK Set for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    pub created_at: i64,
}

impl From<Client> for ClientBody {
    fn from(c: Client) -> ClientBody {
        let token_endpoint_auth_method = c.token_endpoint_auth_method().to_string();
        ClientBody {
            id: c.id,
            name: c.name,
            public: c.public,
            first_party: c.first_party,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            allowed_scopes: c.allowed_scopes,
            grant_types: c.grant_types,
            backchannel_logout_uri: c.backchannel_logout_uri,
            resource_server: c.resource_server,
            id_token_on_refresh: c.id_token_on_refresh,
            access_token_ttl_secs: c.access_token_ttl_secs,
            id_token_ttl_secs: c.id_token_ttl_secs,
            organisations: c.organisations,
            resource_uri: c.resource_uri,
            resource_scopes: c.resource_scopes,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            token_endpoint_auth_method,
            jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: c.jwks_uri,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct NewClientBody {
    /// A-Z a-z 0-9 - . _ ~, not a UUID.
    pub id: String,
    pub name: Option<String>,
    /// At least one for a client that signs users in; none for a service that only uses client
    /// credentials.
    #[oai(default)]
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub public: Option<bool>,
    pub first_party: Option<bool>,
    /// Scopes the client may request (must include openid). Absent: openid profile email phone
    /// offline_access. roles, groups, dingtalk and admin are opt-in: list them to allow them.
    pub allowed_scopes: Option<Vec<String>>,
    /// Grant types: authorization_code, refresh_token, client_credentials (confidential clients)
    /// and urn:ietf:params:oauth:grant-type:device_code (RFC 8628: devices without a browser; no
    /// redirect URI needed). Absent: authorization_code refresh_token.
    pub grant_types: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<String>,
    pub resource_server: Option<bool>,
    pub id_token_on_refresh: Option<bool>,
    /// Access-token lifetime in seconds, 60 to 86400. Absent: the global `tokens.access_token_ttl_secs`.
    pub access_token_ttl_secs: Option<u64>,
    /// ID-token lifetime in seconds, 60 to 86400 (e.g. 28800 for an application that keeps the ID
    /// token as its session). Absent: the global `tokens.id_token_ttl_secs`.
    pub id_token_ttl_secs: Option<u64>,
    /// The DingTalk organisations (corp ids) whose users may sign in. Absent or empty: the default
    /// (first configured) one only.
    pub organisations: Option<Vec<String>>,
    /// Makes the client a resource server: the API's resource indicator (RFC 8707 §2), an
    /// absolute https URI, the `aud` of the tokens issued for it (client credentials with
    /// `resource`). Not under the issuer.
    pub resource_uri: Option<String>,
    /// The scopes the API defines (none of the provider's own).
    pub resource_scopes: Option<Vec<String>>,
    /// Refuse authorization requests that do not come by `request_uri` from the pushed
    /// authorization request endpoint (RFC 9126 §6). Default false.
    pub require_pushed_authorization_requests: Option<bool>,
    /// A confidential client's public JWK Set (RFC 7517 §5): it then authenticates with
    /// `private_key_jwt` (OIDC Core §9) and gets no secret. Public keys only (RSA, EC or OKP).
    pub jwks: Option<serde_json::Value>,
    /// Or the https URI where the client serves that set (fetched and cached; at most 64 KiB).
    pub jwks_uri: Option<String>,
}

#[derive(Debug, Object)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// An empty string removes it.
    pub backchannel_logout_uri: Option<String>,
    pub first_party: Option<bool>,
    /// Replaces the scopes the client may request (must include openid).
    pub allowed_scopes: Option<Vec<String>>,
    /// Replaces the grant types (as at creation).
    pub grant_types: Option<Vec<String>>,
    pub resource_server: Option<bool>,
    pub id_token_on_refresh: Option<bool>,
    /// Access-token lifetime in seconds, 60 to 86400. Absent: unchanged; null: back to the global
    /// `tokens.access_token_ttl_secs`.
    pub access_token_ttl_secs: MaybeUndefined<u64>,
    /// ID-token lifetime in seconds, 60 to 86400. Absent: unchanged; null: back to the global
    /// `tokens.id_token_ttl_secs`.
    pub id_token_ttl_secs: MaybeUndefined<u64>,
    /// Replaces the organisations whose users may sign in; empty: the default one only.
    pub organisations: Option<Vec<String>>,
    /// The API's resource indicator; an empty string makes the client no resource server.
    pub resource_uri: Option<String>,
    /// Replaces the scopes the API defines.
    pub resource_scopes: Option<Vec<String>>,
    /// Refuse authorization requests that do not come by `request_uri` from the pushed
    /// authorization request endpoint (RFC 9126 §6).
    pub require_pushed_authorization_requests: Option<bool>,
    /// Replaces the client's inline JWK Set for `private_key_jwt` (its secret stops working);
    /// null removes it.
    pub jwks: MaybeUndefined<serde_json::Value>,
    /// Replaces the URI of the client's JWK Set (its secret stops working); null or an empty
    /// string removes it.
    pub jwks_uri: MaybeUndefined<String>,
}

#[derive(Debug, Object)]
pub struct CreatedClientBody {
    pub client: ClientBody,
    /// Shown this once; only its hash is stored.
    pub client_secret: Option<String>,
}

#[derive(Debug, Object)]
pub struct SecretBody {
    /// Shown this once; the previous secret stops working now.
    pub client_secret: String,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<CreatedClientBody>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[derive(Default)]
pub struct ClientsApi;

#[OpenApi(prefix_path = "/clients", tag = "ApiTags::Clients")]
impl ClientsApi {
    /// Register a client; a confidential client's secret is in this response only.
    #[oai(path = "/", method = "post")]
    async fn create(&self, auth: AdminAuth, body: Json<NewClientBody>) -> ApiResult<Created> {
        let m = auth.manage()?;
        let b = body.0;
        let new = NewClient {
            id: b.id,
            name: b.name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris.unwrap_or_default(),
            public: b.public.unwrap_or(false),
            first_party: b.first_party.unwrap_or(false),
            allowed_scopes: b.allowed_scopes,
            grant_types: b.grant_types,
            backchannel_logout_uri: b.backchannel_logout_uri.filter(|u| !u.is_empty()),
            resource_server: b.resource_server.unwrap_or(false),
            refresh_idle_ttl_secs: None,
            refresh_absolute_ttl_secs: None,
            id_token_on_refresh: b.id_token_on_refresh,
            access_token_ttl_secs: b.access_token_ttl_secs,
            id_token_ttl_secs: b.id_token_ttl_secs,
            organisations: b.organisations.unwrap_or_default(),
            resource_uri: b.resource_uri.filter(|u| !u.is_empty()),
            resource_scopes: b.resource_scopes.unwrap_or_default(),
            require_pushed_authorization_requests: b.require_pushed_authorization_requests.unwrap_or(false),
            jwks: b.jwks.map(|j| j.to_string()),
            jwks_uri: b.jwks_uri.filter(|u| !u.is_empty()),
            registration_token_hash: None,
        };
        let (client, secret) = manage::clients::create(&m, new).await?;
        Ok(Created::Created(Json(CreatedClientBody { client: client.into(), client_secret: secret })))
    }

    /// List clients.
    #[oai(path = "/", method = "get")]
    async fn list(&self, auth: AdminAuth) -> ApiResult<Json<Vec<ClientBody>>> {
        let clients = auth.app().directory.list_clients().await.map_err(ApiError::from)?;
        Ok(Json(clients.into_iter().map(Into::into).collect()))
    }

    /// One client.
    #[oai(path = "/:id", method = "get")]
    async fn get(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<ClientBody>> {
        Ok(Json(manage::clients::get(&auth.app().directory, &id.0).await?.into()))
    }

    /// Change a client.
    #[oai(path = "/:id", method = "patch")]
    async fn update(&self, auth: AdminAuth, id: Path<String>, body: Json<ClientPatch>) -> ApiResult<Json<ClientBody>> {
        let m = auth.manage()?;
        let b = body.0;
        let update = ClientUpdate {
            name: b.name,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            backchannel_logout_uri: b.backchannel_logout_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
            first_party: b.first_party,
            allowed_scopes: b.allowed_scopes,
            grant_types: b.grant_types,
            resource_server: b.resource_server,
            id_token_on_refresh: b.id_token_on_refresh,
            access_token_ttl_secs: patched(b.access_token_ttl_secs),
            id_token_ttl_secs: patched(b.id_token_ttl_secs),
            organisations: b.organisations,
            resource_uri: b.resource_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
            resource_scopes: b.resource_scopes,
            require_pushed_authorization_requests: b.require_pushed_authorization_requests,
            jwks: patched(b.jwks).map(|j| j.map(|v| v.to_string())),
            jwks_uri: patched(b.jwks_uri).map(|u| u.filter(|u| !u.is_empty())),
        };
        Ok(Json(manage::clients::update(&m, &id.0, update).await?.into()))
    }

    /// Remove a client.
    #[oai(path = "/:id", method = "delete")]
    async fn delete(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Deleted> {
        manage::clients::remove(&auth.manage()?, &id.0).await?;
        Ok(Deleted::NoContent)
    }

    /// Issue a new secret for a confidential client; the old one stops working at once.
    #[oai(path = "/:id/secret", method = "post")]
    async fn rotate_secret(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<SecretBody>> {
        let secret = manage::clients::rotate_secret(&auth.manage()?, &id.0).await?;
        Ok(Json(SecretBody { client_secret: secret }))
    }
}

/// A patch member: absent leaves the value, null clears it, a value sets it.
fn patched<T>(member: MaybeUndefined<T>) -> Option<Option<T>> {
    match member {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

#[derive(poem_openapi::Tags)]
pub enum ApiTags {
    /// Relying parties.
    Clients,
    /// Users seen through DingTalk logins.
    Users,
    /// Roles, grants and DingTalk mapping rules.
    Roles,
    /// SSO sessions.
    Sessions,
    /// Signing keys.
    Keys,
    /// Audit events.
    Audit,
    /// Initial access tokens for dynamic client registration.
    Registration,
}
