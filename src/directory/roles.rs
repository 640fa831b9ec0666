//! Roles: named, with direct grants to users and rules that map DingTalk org data (department,
//! org role, org admin, department leader) to a role; the rows only. What a rule matches and a
//! user's effective roles are decided in `login::roles`.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use super::entities::{department, role, role_mapping, user_role};
use super::{Directory, DirectoryError, now};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

/// What a mapping rule matches in the user's DingTalk org data (ids, never names: DingTalk names
/// are not unique).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MappingRule {
    /// Members of the department (and, with `include_sub_departments`, of any department below it).
    Department {
        dept_id: i64,
        #[serde(default)]
        include_sub_departments: bool,
    },
    /// Holders of a DingTalk org role (`role_list[].id`).
    OrgRole { role_id: i64 },
    /// DingTalk org admins (主管理员/子管理员).
    OrgAdmin,
    /// Leaders of the department, or of any department when `dept_id` is absent.
    DepartmentLeader {
        #[serde(default)]
        dept_id: Option<i64>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoleMapping {
    pub id: String,
    pub role: String,
    pub rule: MappingRule,
    pub created_at: i64,
    /// The organisation whose org data the rule matches (department and role ids are per
    /// organisation); empty when the deployment configures none.
    #[serde(default)]
    pub org_id: String,
}

/// Role names travel in tokens: short printable tokens, no spaces.
pub fn validate_role_name(name: &str) -> Result<(), DirectoryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok { Ok(()) } else { Err(DirectoryError::Invalid("name: 1 to 64 of A-Z a-z 0-9 - _ . :".into())) }
}

fn role_from(m: role::Model) -> Role {
    Role { name: m.name, description: m.description, created_at: m.created_at }
}

fn mapping_from(m: role_mapping::Model) -> Result<RoleMapping, DirectoryError> {
    let rule = serde_json::from_str(m.value.as_deref().unwrap_or("null"))
        .map_err(|e| DirectoryError::Corrupt(format!("role_mappings.value: {e}")))?;
    Ok(RoleMapping { id: m.id, role: m.role, rule, created_at: m.created_at, org_id: m.org_id })
}

impl Directory {
    pub async fn create_role(&self, name: &str, description: &str) -> Result<Role, DirectoryError> {
        validate_role_name(name)?;
        let model = role::ActiveModel {
            name: Set(name.to_string()),
            description: Set(description.to_string()),
            created_at: Set(now()),
        };
        role::Entity::insert(model)
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| DirectoryError::from_write(e, &format!("role {name:?}")))?;
        self.role(name).await?.ok_or_else(|| DirectoryError::Corrupt("role vanished".into()))
    }

    pub async fn role(&self, name: &str) -> Result<Option<Role>, DirectoryError> {
        Ok(role::Entity::find_by_id(name.to_string()).one(&self.db).await?.map(role_from))
    }

    pub async fn list_roles(&self) -> Result<Vec<Role>, DirectoryError> {
        Ok(role::Entity::find()
            .order_by_asc(role::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(role_from)
            .collect())
    }

    pub async fn update_role(&self, name: &str, description: &str) -> Result<Option<Role>, DirectoryError> {
        let result = role::Entity::update_many()
            .col_expr(role::Column::Description, sea_orm::sea_query::Expr::value(description))
            .filter(role::Column::Name.eq(name))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.role(name).await
    }

    /// Deletes a role with its grants and mapping rules; false if there was none.
    pub async fn delete_role(&self, name: &str) -> Result<bool, DirectoryError> {
        user_role::Entity::delete_many().filter(user_role::Column::Role.eq(name)).exec(&self.db).await?;
        role_mapping::Entity::delete_many().filter(role_mapping::Column::Role.eq(name)).exec(&self.db).await?;
        Ok(role::Entity::delete_by_id(name.to_string()).exec(&self.db).await?.rows_affected > 0)
    }

    pub async fn grant_role(&self, user_id: &str, role: &str) -> Result<(), DirectoryError> {
        if self.role(role).await?.is_none() {
            return Err(DirectoryError::Invalid(format!("role: no role {role:?}")));
        }
        if self.user(user_id).await?.is_none() {
            return Err(DirectoryError::Invalid(format!("user_id: no user {user_id:?}")));
        }
        let model = user_role::ActiveModel {
            user_id: Set(user_id.to_string()),
            role: Set(role.to_string()),
            granted_at: Set(now()),
        };
        user_role::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([user_role::Column::UserId, user_role::Column::Role]).do_nothing().to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// False if the user did not have the grant.
    pub async fn revoke_grant(&self, user_id: &str, role: &str) -> Result<bool, DirectoryError> {
        let result = user_role::Entity::delete_many()
            .filter(user_role::Column::UserId.eq(user_id))
            .filter(user_role::Column::Role.eq(role))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    pub async fn direct_roles(&self, user_id: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(user_role::Entity::find()
            .filter(user_role::Column::UserId.eq(user_id))
            .order_by_asc(user_role::Column::Role)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|g| g.role)
            .collect())
    }

    /// A rule of organisation `org` (the caller checks that it is configured).
    pub async fn create_mapping(
        &self,
        org: &str,
        role: &str,
        rule: MappingRule,
    ) -> Result<RoleMapping, DirectoryError> {
        if self.role(role).await?.is_none() {
            return Err(DirectoryError::Invalid(format!("role: no role {role:?}")));
        }
        let kind =
            serde_json::to_value(&rule).ok().and_then(|v| v["kind"].as_str().map(str::to_string)).unwrap_or_default();
        let id = uuid::Uuid::new_v4().to_string();
        let model = role_mapping::ActiveModel {
            id: Set(id.clone()),
            role: Set(role.to_string()),
            kind: Set(kind),
            value: Set(Some(super::to_json(&rule))),
            created_at: Set(now()),
            org_id: Set(org.to_owned()),
        };
        role_mapping::Entity::insert(model).exec_without_returning(&self.db).await?;
        self.mapping(&id).await?.ok_or_else(|| DirectoryError::Corrupt("mapping vanished".into()))
    }

    pub async fn mapping(&self, id: &str) -> Result<Option<RoleMapping>, DirectoryError> {
        role_mapping::Entity::find_by_id(id.to_string()).one(&self.db).await?.map(mapping_from).transpose()
    }

    pub async fn list_mappings(&self) -> Result<Vec<RoleMapping>, DirectoryError> {
        role_mapping::Entity::find()
            .order_by_asc(role_mapping::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(mapping_from)
            .collect()
    }

    /// Replaces a rule's role and rule; `Ok(None)` when there is no such mapping.
    pub async fn update_mapping(
        &self,
        id: &str,
        role: &str,
        rule: MappingRule,
    ) -> Result<Option<RoleMapping>, DirectoryError> {
        if self.role(role).await?.is_none() {
            return Err(DirectoryError::Invalid(format!("role: no role {role:?}")));
        }
        let kind =
            serde_json::to_value(&rule).ok().and_then(|v| v["kind"].as_str().map(str::to_string)).unwrap_or_default();
        let result = role_mapping::Entity::update_many()
            .col_expr(role_mapping::Column::Role, sea_orm::sea_query::Expr::value(role))
            .col_expr(role_mapping::Column::Kind, sea_orm::sea_query::Expr::value(kind))
            .col_expr(role_mapping::Column::Value, sea_orm::sea_query::Expr::value(super::to_json(&rule)))
            .filter(role_mapping::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.mapping(id).await
    }

    pub async fn delete_mapping(&self, id: &str) -> Result<bool, DirectoryError> {
        Ok(role_mapping::Entity::delete_by_id(id.to_string()).exec(&self.db).await?.rows_affected > 0)
    }

    /// Names of organisation `org`'s departments we have seen, by id.
    pub async fn department_names(&self, org: &str, ids: &[i64]) -> Result<Vec<(i64, String, i64)>, DirectoryError> {
        Ok(department::Entity::find()
            .filter(department::Column::OrgId.eq(org))
            .filter(department::Column::Id.is_in(ids.to_vec()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|d| (d.id, d.name, d.updated_at))
            .collect())
    }

    pub async fn store_department_name(&self, org: &str, id: i64, name: &str) -> Result<(), DirectoryError> {
        let model = department::ActiveModel {
            org_id: Set(org.to_owned()),
            id: Set(id),
            name: Set(name.to_string()),
            updated_at: Set(now()),
        };
        department::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([department::Column::OrgId, department::Column::Id])
                    .update_columns([department::Column::Name, department::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }
}
