//! `/admin/v1/roles`, `/admin/v1/users/{id}/roles` (grants) and `/admin/v1/mappings` (DingTalk org
//! data → role rules).

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::auth::AdminAuth;
use super::clients::ApiTags;
use super::error::{ApiError, ApiResult};
use crate::directory::roles::{MappingRule, Role, RoleMapping};
use crate::manage;

#[derive(Debug, Object)]
pub struct RoleBody {
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

impl From<Role> for RoleBody {
    fn from(r: Role) -> RoleBody {
        RoleBody { name: r.name, description: r.description, created_at: r.created_at }
    }
}

#[derive(Debug, Object)]
pub struct NewRoleBody {
    /// 1 to 64 of A-Z a-z 0-9 - _ . :
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Object)]
pub struct RolePatch {
    pub description: String,
}

#[derive(Debug, Object)]
pub struct UserRolesBody {
    /// Granted directly.
    pub direct: Vec<String>,
    /// Direct grants and mapped roles, as of the user's last login or recheck.
    pub effective: Vec<String>,
}

/// A mapping rule. `kind` is `department` (`dept_id`, `include_sub_departments`), `org_role`
/// (`role_id`), `org_admin`, or `department_leader` (`dept_id` optional).
#[derive(Debug, Object)]
pub struct RuleBody {
    pub kind: String,
    pub dept_id: Option<i64>,
    pub include_sub_departments: Option<bool>,
    pub role_id: Option<i64>,
}

#[derive(Debug, Object)]
pub struct NewMappingBody {
    pub role: String,
    pub rule: RuleBody,
    /// The organisation (corp id) whose org data the rule matches; absent: the default one.
    pub organisation: Option<String>,
}

#[derive(Debug, Object)]
pub struct MappingBody {
    pub id: String,
    pub role: String,
    pub rule: RuleBody,
    pub created_at: i64,
    /// The organisation (corp id) whose users the rule applies to.
    pub organisation: String,
}

impl From<RoleMapping> for MappingBody {
    fn from(m: RoleMapping) -> MappingBody {
        let rule = match m.rule {
            MappingRule::Department { dept_id, include_sub_departments } => RuleBody {
                kind: "department".into(),
                dept_id: Some(dept_id),
                include_sub_departments: Some(include_sub_departments),
                role_id: None,
            },
            MappingRule::OrgRole { role_id } => RuleBody {
                kind: "org_role".into(),
                dept_id: None,
                include_sub_departments: None,
                role_id: Some(role_id),
            },
            MappingRule::OrgAdmin => {
                RuleBody { kind: "org_admin".into(), dept_id: None, include_sub_departments: None, role_id: None }
            }
            MappingRule::DepartmentLeader { dept_id } => {
                RuleBody { kind: "department_leader".into(), dept_id, include_sub_departments: None, role_id: None }
            }
        };
        MappingBody { id: m.id, role: m.role, rule, created_at: m.created_at, organisation: m.org_id }
    }
}

fn rule_from(body: &RuleBody) -> Result<MappingRule, ApiError> {
    let need =
        |v: Option<i64>, name: &str| v.ok_or_else(|| ApiError::bad_request("rule", format!("rule.{name} is required")));
    Ok(match body.kind.as_str() {
        "department" => MappingRule::Department {
            dept_id: need(body.dept_id, "dept_id")?,
            include_sub_departments: body.include_sub_departments.unwrap_or(false),
        },
        "org_role" => MappingRule::OrgRole { role_id: need(body.role_id, "role_id")? },
        "org_admin" => MappingRule::OrgAdmin,
        "department_leader" => MappingRule::DepartmentLeader { dept_id: body.dept_id },
        _ => {
            return Err(ApiError::bad_request(
                "rule",
                "rule.kind must be department, org_role, org_admin or department_leader",
            ));
        }
    })
}

#[derive(ApiResponse)]
pub enum CreatedRole {
    /// Created.
    #[oai(status = 201)]
    Created(Json<RoleBody>),
}

#[derive(ApiResponse)]
pub enum CreatedMapping {
    /// Created.
    #[oai(status = 201)]
    Created(Json<MappingBody>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[derive(Default)]
pub struct RolesApi;

#[OpenApi(tag = "ApiTags::Roles")]
impl RolesApi {
    /// Create a role.
    #[oai(path = "/roles", method = "post")]
    async fn create_role(&self, auth: AdminAuth, body: Json<NewRoleBody>) -> ApiResult<CreatedRole> {
        let m = auth.manage()?;
        let role = manage::roles::create(&m, &body.0.name, body.0.description.as_deref().unwrap_or_default()).await?;
        Ok(CreatedRole::Created(Json(role.into())))
    }

    /// List roles.
    #[oai(path = "/roles", method = "get")]
    async fn list_roles(&self, auth: AdminAuth) -> ApiResult<Json<Vec<RoleBody>>> {
        Ok(Json(auth.app().directory.list_roles().await.map_err(ApiError::from)?.into_iter().map(Into::into).collect()))
    }

    /// One role.
    #[oai(path = "/roles/:name", method = "get")]
    async fn get_role(&self, auth: AdminAuth, name: Path<String>) -> ApiResult<Json<RoleBody>> {
        Ok(Json(manage::roles::get(&auth.app().directory, &name.0).await?.into()))
    }

    /// Change a role's description.
    #[oai(path = "/roles/:name", method = "patch")]
    async fn update_role(
        &self,
        auth: AdminAuth,
        name: Path<String>,
        body: Json<RolePatch>,
    ) -> ApiResult<Json<RoleBody>> {
        Ok(Json(manage::roles::update(&auth.manage()?, &name.0, &body.0.description).await?.into()))
    }

    /// Delete a role with its grants and mapping rules.
    #[oai(path = "/roles/:name", method = "delete")]
    async fn delete_role(&self, auth: AdminAuth, name: Path<String>) -> ApiResult<Done> {
        manage::roles::delete(&auth.manage()?, &name.0).await?;
        Ok(Done::NoContent)
    }

    /// A user's direct and effective roles.
    #[oai(path = "/users/:id/roles", method = "get")]
    async fn user_roles(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<UserRolesBody>> {
        let user = manage::users::get(&auth.app().directory, &id.0).await?;
        let direct = auth.app().directory.direct_roles(&user.id).await.map_err(ApiError::from)?;
        Ok(Json(UserRolesBody { direct, effective: user.effective_roles }))
    }

    /// Grant a role to a user (effective at the user's next login or refresh recheck).
    #[oai(path = "/users/:id/roles/:role", method = "put")]
    async fn grant(&self, auth: AdminAuth, id: Path<String>, role: Path<String>) -> ApiResult<Done> {
        manage::roles::grant(&auth.manage()?, &id.0, &role.0).await?;
        Ok(Done::NoContent)
    }

    /// Take a direct grant away.
    #[oai(path = "/users/:id/roles/:role", method = "delete")]
    async fn revoke(&self, auth: AdminAuth, id: Path<String>, role: Path<String>) -> ApiResult<Done> {
        manage::roles::revoke_grant(&auth.manage()?, &id.0, &role.0).await?;
        Ok(Done::NoContent)
    }

    /// Create a mapping rule from DingTalk org data to a role.
    #[oai(path = "/mappings", method = "post")]
    async fn create_mapping(&self, auth: AdminAuth, body: Json<NewMappingBody>) -> ApiResult<CreatedMapping> {
        let m = auth.manage()?;
        let rule = rule_from(&body.0.rule)?;
        let mapping = manage::roles::create_mapping(&m, body.0.organisation.as_deref(), &body.0.role, rule).await?;
        Ok(CreatedMapping::Created(Json(mapping.into())))
    }

    /// List mapping rules.
    #[oai(path = "/mappings", method = "get")]
    async fn list_mappings(&self, auth: AdminAuth) -> ApiResult<Json<Vec<MappingBody>>> {
        Ok(Json(
            auth.app().directory.list_mappings().await.map_err(ApiError::from)?.into_iter().map(Into::into).collect(),
        ))
    }

    /// One mapping rule.
    #[oai(path = "/mappings/:id", method = "get")]
    async fn get_mapping(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Json<MappingBody>> {
        Ok(Json(manage::roles::get_mapping(&auth.app().directory, &id.0).await?.into()))
    }

    /// Replace a mapping rule (its role and its rule).
    #[oai(path = "/mappings/:id", method = "put")]
    async fn update_mapping(
        &self,
        auth: AdminAuth,
        id: Path<String>,
        body: Json<NewMappingBody>,
    ) -> ApiResult<Json<MappingBody>> {
        let m = auth.manage()?;
        let rule = rule_from(&body.0.rule)?;
        Ok(Json(manage::roles::update_mapping(&m, &id.0, &body.0.role, rule).await?.into()))
    }

    /// Delete a mapping rule.
    #[oai(path = "/mappings/:id", method = "delete")]
    async fn delete_mapping(&self, auth: AdminAuth, id: Path<String>) -> ApiResult<Done> {
        manage::roles::delete_mapping(&auth.manage()?, &id.0).await?;
        Ok(Done::NoContent)
    }
}
