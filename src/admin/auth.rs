//! Who may use the admin API: the bootstrap token (`DINGTALK_OIDC_ADMIN_TOKEN`, kept only as a
//! hash) or an access token we issued for the admin audience to a user with role `admin`
//! (everything) or `auditor` (reads). 401 for a missing or invalid token, 403 for a valid token
//! without the role (RFC 6750 §3.1).

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use super::error::ApiError;
use crate::app::App;
use crate::manage::{Actor, Manage};
use crate::secrets;
use crate::tokens::verify_access_token;

pub const ADMIN_ROLE: &str = "admin";
pub const AUDITOR_ROLE: &str = "auditor";

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `bootstrap`, or the user's id.
    pub actor: String,
    /// The user's name as DingTalk gave it (the console shows who is signed in).
    pub name: Option<String>,
    pub can_write: bool,
}

impl Principal {
    /// Mutations need role `admin`.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.can_write { Ok(()) } else { Err(ApiError::forbidden("this operation needs the admin role")) }
    }

    /// Management operations acting as this caller, once it may write.
    pub fn manage<'a>(&self, app: &'a App) -> Result<Manage<'a>, ApiError> {
        self.require_write()?;
        Ok(Manage::for_server(app, Actor::admin(self.actor.clone())))
    }
}

/// The authenticated caller together with the state it acts on, so that a handler takes this one
/// parameter instead of the caller and the `App` separately.
#[derive(Clone)]
pub struct Admin {
    pub app: Arc<App>,
    pub principal: Principal,
}

/// Bearer token: the bootstrap admin token, or an access token of ours with audience `<issuer>/admin`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check")]
pub struct AdminAuth(pub Admin);

impl AdminAuth {
    pub fn app(&self) -> &App {
        &self.0.app
    }

    /// Management operations acting as this caller, once it may write.
    pub fn manage(&self) -> Result<Manage<'_>, ApiError> {
        self.0.principal.manage(&self.0.app)
    }
}

async fn check(req: &Request, bearer: Bearer) -> poem::Result<Admin> {
    let app = req.data::<Arc<App>>().ok_or_else(ApiError::unavailable)?;
    let principal = authenticate(app, &bearer.token).await?;
    Ok(Admin { app: Arc::clone(app), principal })
}

/// Whether `token` is the bootstrap token (compared by hash, in constant time).
pub fn is_bootstrap_token(app: &App, token: &str) -> bool {
    app.admin_token_hash
        .as_ref()
        .is_some_and(|hash| secrets::secure_eq(secrets::hash(token).as_bytes(), hash.as_bytes()))
}

pub async fn authenticate(app: &App, token: &str) -> Result<Principal, ApiError> {
    if is_bootstrap_token(app, token) {
        return Ok(Principal { actor: "bootstrap".into(), name: None, can_write: true });
    }
    let ring = app.keys.ring();
    let claims = verify_access_token(
        &ring,
        token,
        &app.issuer,
        &[&app.admin_audience],
        app.config.tokens.leeway_secs,
        app.now(),
    )
    .map_err(|_| ApiError::unauthorized("the token is invalid, expired or not for this API"))?;
    let check = crate::store::DenyCheck {
        jti: &claims.jti,
        sub: &claims.sub,
        auth_time: claims.auth_time.unwrap_or(claims.iat),
        client_id: &claims.client_id,
        iat: claims.iat,
    };
    if app.sessions.is_access_token_denied(check).await? {
        return Err(ApiError::unauthorized("the token was revoked"));
    }
    let user = app.directory.user(&claims.sub).await?.filter(|u| !u.disabled);
    let Some(user) = user else { return Err(ApiError::unauthorized("the user is not active")) };
    // Roles as the directory says now, not as the token said at issue.
    let roles = &user.effective_roles;
    if roles.iter().any(|r| r == ADMIN_ROLE) {
        Ok(Principal { actor: user.id, name: user.name, can_write: true })
    } else if roles.iter().any(|r| r == AUDITOR_ROLE) {
        Ok(Principal { actor: user.id, name: user.name, can_write: false })
    } else {
        Err(ApiError::forbidden("the admin API needs the admin or auditor role"))
    }
}
