//! `/admin/v1/users`: list (paging, search), get, disable (ends sessions and refresh families at
//! once), enable.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::auth::AdminAuth;
use super::clients::ApiTags;
use super::error::{ApiError, ApiResult};
use crate::directory::User;
use crate::manage;

#[derive(Debug, Object)]
pub struct UserBody {
    /// The stable `sub`.
    pub id: String,
    pub union_id: String,
    /// The DingTalk organisation (corp id) the user signs in through: a person has one user, and
    /// one `sub`, per organisation.
    pub organisation: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub dingtalk_user_id: Option<String>,
    pub corp_id: Option<String>,
    pub title: Option<String>,
    pub dept_ids: Vec<i64>,
    pub admin: bool,
    pub active: bool,
    pub disabled: bool,
    pub roles: Vec<String>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

impl From<User> for UserBody {
    fn from(u: User) -> UserBody {
        UserBody {
            id: u.id,
            union_id: u.union_id,
            organisation: u.org_id,
            name: u.name,
            email: u.email,
            dingtalk_user_id: u.dingtalk_user_id,
            corp_id: u.corp_id,
            title: u.title,
            dept_ids: u.dept_ids,
            admin: u.admin,
            active: u.active,
            disabled: u.disabled,
            roles: u.effective_roles,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct UsersPage {
    pub users: Vec<UserBody>,
    pub total: u64,
}

#[derive(Default)]
pub struct UsersApi;

#[OpenApi(prefix_path = "/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// List users; `search` matches name, DingTalk userid, unionId or email; `organisation` (a corp
    /// id) keeps one organisation's.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        auth: AdminAuth,
        search: Query<Option<String>>,
        organisation: Query<Option<String>>,
        offset: Query<Option<u64>>,
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<UsersPage>> {
        let limit = limit.0.unwrap_or(50);
        if limit == 0 || limit > 500 {
            return Err(ApiError::bad_request("limit", "limit must be 1 to 500").into());
        }
        let (users, total) = auth
            .app()
            .directory
            .list_users_of(organisation.0.as_deref(), search.0.as_deref(), offset.0.unwrap_or(0), limit)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(UsersPage { users: users.into_iter().map(Into::into).collect(), total }))
    }

    /// One user.
    #[oai(path = "/:id", method = "get")]
    async fn get(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<UserBody>> {
        Ok(Json(manage::users::get(&auth.app().directory, &id.0).await?.into()))
    }

    /// Disable a user: every session and refresh-token family ends now, their clients are told,
    /// and new logins are refused.
    #[oai(path = "/:id/disable", method = "post")]
    async fn disable(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<UserBody>> {
        manage::users::disable(&auth.manage()?, &auth.app().revocation(), &id.0).await?;
        Ok(Json(manage::users::get(&auth.app().directory, &id.0).await?.into()))
    }

    /// Enable a disabled user.
    #[oai(path = "/:id/enable", method = "post")]
    async fn enable(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<UserBody>> {
        manage::users::enable(&auth.manage()?, &id.0).await?;
        Ok(Json(manage::users::get(&auth.app().directory, &id.0).await?.into()))
    }
}
