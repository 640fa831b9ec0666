//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), off unless
//! `registration.enabled`. `POST /register` with an initial access token an admin issued
//! (`manage::registration`) registers a client within the configured policy and answers with its
//! credentials and a registration access token; with that token the client reads (`GET`),
//! replaces (`PUT`) and deletes (`DELETE`) its registration at `/register/{client_id}`. Registered
//! clients are never first-party (they ask for consent) and never resource servers; only admins
//! grant those.

use std::sync::Arc;

use poem::http::{Method, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{BackendError, BearerError};
use super::paths;
use crate::app::App;
use crate::config::RegistrationConfig;
use crate::directory::client_metadata::{DEVICE_CODE_GRANT, validate_redirect_uri};
use crate::directory::{Client, ClientUpdate, DirectoryError, NewClient};
use crate::manage::{self, Actor, Manage, ManageError};
use crate::outbound::check_public_host;
use crate::secrets;

/// Grant types a registered client may ask for. Client credentials stay with admins: a service's
/// access to an API is the API owner's decision, not the service's.
const REGISTRABLE_GRANTS: &[&str] = &["authorization_code", "refresh_token", DEVICE_CODE_GRANT];
/// Longest `client_name` kept.
const MAX_NAME_LEN: usize = 200;
/// Largest registration request read.
const MAX_BODY_LEN: usize = 64 * 1024;

/// RFC 7591 §2: the client metadata we understand; anything else is ignored, as §2 requires.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Metadata {
    client_id: Option<String>,
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    backchannel_logout_uri: Option<String>,
}

/// A refusal, as RFC 7591 §3.2.2 (metadata) or RFC 6750 §3 (the bearer token) words it.
enum Refusal {
    /// 400 `invalid_redirect_uri` or `invalid_client_metadata`.
    Metadata {
        error: &'static str,
        description: String,
    },
    Token(BearerError),
    NotFound,
    Backend(BackendError),
}

impl Refusal {
    fn metadata(description: impl Into<String>) -> Refusal {
        Refusal::Metadata { error: "invalid_client_metadata", description: description.into() }
    }

    fn redirect_uri(description: impl Into<String>) -> Refusal {
        Refusal::Metadata { error: "invalid_redirect_uri", description: description.into() }
    }

    fn into_response(self) -> Response {
        match self {
            Refusal::Metadata { error, description } => {
                json_response(StatusCode::BAD_REQUEST, &json!({ "error": error, "error_description": description }))
            }
            Refusal::Token(e) => e.into_response(),
            Refusal::NotFound => Response::builder().status(StatusCode::NOT_FOUND).finish(),
            Refusal::Backend(e) => super::OAuthError::from(e).into_response(),
        }
    }
}

impl From<ManageError> for Refusal {
    fn from(e: ManageError) -> Refusal {
        match e {
            // What the directory refuses in a registration is the client's metadata (its keys, a
            // URI): RFC 7591 §3.2.2.
            ManageError::Directory(DirectoryError::Invalid(problem)) => Refusal::metadata(problem),
            ManageError::Directory(DirectoryError::Conflict(what)) => Refusal::metadata(format!("{what} exists")),
            // The client vanished between its lookup and the change: as if it never was.
            ManageError::NotFound(_) => {
                Refusal::Token(BearerError::InvalidToken("the registration access token is invalid"))
            }
            ManageError::Directory(e) => Refusal::Backend(e.into()),
            ManageError::Store(e) => Refusal::Backend(e.into()),
            ManageError::Key(e) => Refusal::Backend(e.into()),
        }
    }
}

impl From<DirectoryError> for Refusal {
    fn from(e: DirectoryError) -> Refusal {
        Refusal::Backend(e.into())
    }
}

/// RFC 7591 §3.2.1: the answer holds credentials.
fn json_response(status: StatusCode, body: &Value) -> Response {
    super::json_no_store(status, body.to_string())
}

/// `POST /register` (RFC 7591 §3.1).
#[handler]
pub async fn register(req: &Request, body: Body, app: Data<&Arc<App>>) -> Response {
    if !app.config.registration.enabled {
        return Refusal::NotFound.into_response();
    }
    match register_client(&app, req, body).await {
        Ok(answer) => json_response(StatusCode::CREATED, &answer),
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET|PUT|DELETE /register/{client_id}` (RFC 7592 §2).
#[handler]
pub async fn manage_registration(req: &Request, id: Path<String>, body: Body, app: Data<&Arc<App>>) -> Response {
    if !app.config.registration.enabled {
        return Refusal::NotFound.into_response();
    }
    let client = match registered_client(&app, req, &id.0).await {
        Ok(client) => client,
        Err(refusal) => return refusal.into_response(),
    };
    let m = Manage::for_server(&app, Actor::registration(format!("client:{}", client.id)));
    let answer = match *req.method() {
        Method::GET => Ok(metadata_of(&app, &client, None, None)),
        Method::PUT => replace(&app, &m, &client, body).await,
        Method::DELETE => match manage::clients::remove(&m, &client.id).await {
            // §2.3: 204, and the client's credentials are gone with it.
            Ok(()) => return Response::builder().status(StatusCode::NO_CONTENT).finish(),
            Err(e) => Err(e.into()),
        },
        _ => return Response::builder().status(StatusCode::METHOD_NOT_ALLOWED).finish(),
    };
    match answer {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(refusal) => refusal.into_response(),
    }
}

async fn register_client(app: &App, req: &Request, body: Body) -> Result<Value, Refusal> {
    // §3: the initial access token (RFC 6750 §2.1).
    let presented = bearer(req)?;
    let initial = app
        .directory
        .initial_token(&presented, app.now())
        .await?
        .ok_or(Refusal::Token(BearerError::InvalidToken("the initial access token is invalid or expired")))?;
    let metadata = read_metadata(req, body).await?;
    if metadata.client_id.is_some() {
        return Err(Refusal::metadata("client_id is assigned by the server"));
    }
    let settings = checked(&app.config.registration, metadata)?;
    let registration_token = secrets::token();
    let new = NewClient {
        id: format!("dyn-{}", &secrets::token()[..22]),
        name: settings.name,
        redirect_uris: settings.redirect_uris,
        post_logout_redirect_uris: settings.post_logout_redirect_uris,
        public: settings.public,
        first_party: false,
        allowed_scopes: Some(settings.scopes),
        grant_types: Some(settings.grant_types),
        backchannel_logout_uri: settings.backchannel_logout_uri,
        jwks: settings.jwks,
        jwks_uri: settings.jwks_uri,
        registration_token_hash: Some(secrets::hash(&registration_token)),
        ..NewClient::default()
    };
    let m = Manage::for_server(app, Actor::registration(format!("initial_token:{}", initial.id)));
    let (client, secret) = manage::clients::create(&m, new).await?;
    Ok(metadata_of(app, &client, secret.as_deref(), Some(&registration_token)))
}

/// RFC 7592 §2.2: the request replaces the registration; what it leaves out goes back to the
/// defaults. The client's type (public or confidential) cannot change: register anew for that.
async fn replace(app: &App, m: &Manage<'_>, client: &Client, body: Body) -> Result<Value, Refusal> {
    let metadata = read_metadata_body(body).await?;
    if metadata.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(Refusal::metadata("client_id must be the registered client's"));
    }
    let settings = checked(&app.config.registration, metadata)?;
    // The way the client authenticates stays: a secret that was never handed out cannot start to
    // count, and a key client left without keys could not authenticate at all.
    let with_keys = settings.jwks.is_some() || settings.jwks_uri.is_some();
    if settings.public != client.public || with_keys != client.uses_private_key_jwt() {
        return Err(Refusal::metadata("token_endpoint_auth_method cannot change; register a new client for that"));
    }
    let update = ClientUpdate {
        name: Some(settings.name.unwrap_or_else(|| client.id.clone())),
        redirect_uris: Some(settings.redirect_uris),
        post_logout_redirect_uris: Some(settings.post_logout_redirect_uris),
        backchannel_logout_uri: Some(settings.backchannel_logout_uri),
        allowed_scopes: Some(settings.scopes),
        grant_types: Some(settings.grant_types),
        jwks: Some(settings.jwks),
        jwks_uri: Some(settings.jwks_uri),
        ..ClientUpdate::default()
    };
    let updated = manage::clients::update(m, &client.id, update).await?;
    Ok(metadata_of(app, &updated, None, None))
}

/// The client a registration access token manages. Unknown client and wrong token answer alike
/// (RFC 7592 §2.1: 401), so the endpoint tells nobody which clients exist.
async fn registered_client(app: &App, req: &Request, id: &str) -> Result<Arc<Client>, Refusal> {
    let presented = bearer(req)?;
    let client = app.directory.client_cached(id).await?;
    match client {
        Some(client) if client.registration_token_matches(&presented) => Ok(client),
        _ => Err(Refusal::Token(BearerError::InvalidToken("the registration access token is invalid"))),
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`, the only way these endpoints take one.
fn bearer(req: &Request) -> Result<String, Refusal> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(Refusal::Token(BearerError::Missing));
    };
    let value =
        value.to_str().map_err(|_| Refusal::Token(BearerError::InvalidRequest("malformed Authorization header")))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim().to_string())
        }
        _ => Err(Refusal::Token(BearerError::InvalidRequest("the Authorization header must use the Bearer scheme"))),
    }
}

async fn read_metadata(req: &Request, body: Body) -> Result<Metadata, Refusal> {
    let is_json = req
        .content_type()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Refusal::metadata("the request body must be application/json (RFC 7591 §3.1)"));
    }
    read_metadata_body(body).await
}

async fn read_metadata_body(body: Body) -> Result<Metadata, Refusal> {
    let bytes = body.into_bytes_limit(MAX_BODY_LEN).await.map_err(|_| Refusal::metadata("the body is too large"))?;
    serde_json::from_slice(&bytes).map_err(|e| Refusal::metadata(format!("the body is not client metadata: {e}")))
}

/// Metadata checked against the RFCs and the configured policy.
struct Settings {
    name: Option<String>,
    public: bool,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    backchannel_logout_uri: Option<String>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    jwks: Option<String>,
    jwks_uri: Option<String>,
}

fn checked(policy: &RegistrationConfig, m: Metadata) -> Result<Settings, Refusal> {
    let method = m.token_endpoint_auth_method.as_deref().unwrap_or("client_secret_basic");
    let with_keys = m.jwks.is_some() || m.jwks_uri.is_some();
    let public = match method {
        "none" => true,
        "client_secret_basic" | "client_secret_post" if !with_keys => false,
        "private_key_jwt" if with_keys => false,
        "private_key_jwt" => return Err(Refusal::metadata("private_key_jwt needs jwks or jwks_uri")),
        "client_secret_basic" | "client_secret_post" => {
            return Err(Refusal::metadata("jwks and jwks_uri go with private_key_jwt"));
        }
        other => return Err(Refusal::metadata(format!("token_endpoint_auth_method {other:?} is not supported"))),
    };
    // §2: grant_types defaults to authorization_code, response_types to code; the two agree (§2.1).
    let grant_types = m.grant_types.unwrap_or_else(|| vec!["authorization_code".into()]);
    if let Some(other) = grant_types.iter().find(|g| !REGISTRABLE_GRANTS.contains(&g.as_str())) {
        return Err(Refusal::metadata(format!("grant type {other:?} cannot be registered")));
    }
    let response_types = m.response_types.unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(Refusal::metadata("only response_type code is supported"));
    }
    let code_grant = grant_types.iter().any(|g| g == "authorization_code");
    if code_grant != response_types.iter().any(|r| r == "code") {
        return Err(Refusal::metadata("grant_types and response_types disagree (RFC 7591 §2.1)"));
    }
    let redirect_uris = m.redirect_uris.unwrap_or_default();
    if code_grant && redirect_uris.is_empty() {
        return Err(Refusal::redirect_uri("redirect_uris is required for the authorization code grant"));
    }
    let post_logout_redirect_uris = m.post_logout_redirect_uris.unwrap_or_default();
    for uri in redirect_uris.iter().chain(&post_logout_redirect_uris).chain(&m.backchannel_logout_uri) {
        allowed_uri(policy, uri).map_err(Refusal::redirect_uri)?;
    }
    // The provider fetches a jwks_uri itself: a registrant must not make it call hosts the policy
    // does not allow (its own loopback services, an internal network).
    if let Some(uri) = &m.jwks_uri {
        allowed_uri(policy, uri).map_err(|e| Refusal::metadata(format!("jwks_uri: {e}")))?;
    }
    // It calls these two itself; with no list of allowed hosts (any host), they must at least not
    // name this machine or a non-public address (`outbound`; names are checked again when called).
    if policy.allowed_redirect_hosts.is_empty() {
        let called = [("jwks_uri", &m.jwks_uri), ("backchannel_logout_uri", &m.backchannel_logout_uri)];
        for (field, uri) in called {
            if let Some(uri) = uri {
                check_public_host(uri).map_err(|e| Refusal::metadata(format!("{field}: {e}")))?;
            }
        }
    }
    // §2: the server may narrow the scope; it is narrowed to the policy's, openid always kept.
    let mut scopes: Vec<String> = match &m.scope {
        Some(scope) => crate::scope::parse_scope(scope)
            .ok_or_else(|| Refusal::metadata("scope is malformed"))?
            .into_iter()
            .filter(|s| policy.allowed_scopes.contains(s))
            .collect(),
        None => policy.allowed_scopes.clone(),
    };
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    let name = m.client_name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_LEN) {
        return Err(Refusal::metadata(format!("client_name is longer than {MAX_NAME_LEN} characters")));
    }
    Ok(Settings {
        name,
        public,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri: m.backchannel_logout_uri,
        grant_types,
        scopes,
        jwks: m.jwks.map(|j| j.to_string()),
        jwks_uri: m.jwks_uri,
    })
}

/// A URI a registered client may use: the provider's own rules for redirect URIs (absolute, no
/// fragment, https or loopback http), then the policy's schemes and hosts.
fn allowed_uri(policy: &RegistrationConfig, uri: &str) -> Result<(), String> {
    validate_redirect_uri(uri)?;
    let parsed = url::Url::parse(uri).map_err(|e| format!("{uri:?}: {e}"))?;
    if !policy.allowed_redirect_schemes.iter().any(|s| s == parsed.scheme()) {
        return Err(format!("{uri:?}: scheme {:?} is not allowed here", parsed.scheme()));
    }
    if policy.allowed_redirect_hosts.is_empty() {
        return Ok(());
    }
    let host = parsed.host_str().unwrap_or_default();
    let allowed = policy.allowed_redirect_hosts.iter().any(|allowed| match allowed.strip_prefix('.') {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == allowed,
    });
    if allowed { Ok(()) } else { Err(format!("{uri:?}: host {host:?} is not allowed here")) }
}

/// RFC 7591 §3.2.1 / RFC 7592 §3: the client's registration as it stands, with its credentials
/// when they were just made (`secret`, `registration_token`: shown once).
fn metadata_of(app: &App, client: &Client, secret: Option<&str>, registration_token: Option<&str>) -> Value {
    let mut body = json!({
        "client_id": client.id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "token_endpoint_auth_method": client.token_endpoint_auth_method(),
        "grant_types": client.grant_types,
        "response_types": if client.allows_grant("authorization_code") { vec!["code"] } else { vec![] },
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "scope": client.allowed_scopes.join(" "),
        "registration_client_uri": app.endpoint_url(&format!("{}/{}", paths::REGISTER, client.id)),
    });
    if let Some(uri) = &client.backchannel_logout_uri {
        body["backchannel_logout_uri"] = json!(uri);
    }
    if let Some(jwks) = client.jwks.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok()) {
        body["jwks"] = jwks;
    }
    if let Some(uri) = &client.jwks_uri {
        body["jwks_uri"] = json!(uri);
    }
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        // §3.2.1: 0, the secret does not expire.
        body["client_secret_expires_at"] = json!(0);
    }
    if let Some(token) = registration_token {
        body["registration_access_token"] = json!(token);
    }
    body
}
