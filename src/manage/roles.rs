//! Roles, direct grants of roles to users, and mapping rules from DingTalk org data to roles.

use serde_json::json;

use super::{Manage, ManageError, Missing, not_found};
use crate::directory::audit::AuditKind;
use crate::directory::roles::{MappingRule, Role, RoleMapping};
use crate::directory::{Directory, User};

/// One role.
pub async fn get(directory: &Directory, name: &str) -> Result<Role, ManageError> {
    directory.role(name).await?.ok_or_else(|| not_found(Missing::Role(name.into())))
}

pub async fn create(m: &Manage<'_>, name: &str, description: &str) -> Result<Role, ManageError> {
    let role = m.directory.create_role(name, description).await?;
    m.audit(AuditKind::RoleCreated, Some(&role.name), json!({})).await;
    Ok(role)
}

/// Changes a role's description.
pub async fn update(m: &Manage<'_>, name: &str, description: &str) -> Result<Role, ManageError> {
    let role = m.directory.update_role(name, description).await?;
    let role = role.ok_or_else(|| not_found(Missing::Role(name.into())))?;
    m.audit(AuditKind::RoleUpdated, Some(&role.name), json!({})).await;
    Ok(role)
}

/// Deletes a role with its grants and mapping rules.
pub async fn delete(m: &Manage<'_>, name: &str) -> Result<(), ManageError> {
    if !m.directory.delete_role(name).await? {
        return Err(not_found(Missing::Role(name.into())));
    }
    m.audit(AuditKind::RoleDeleted, Some(name), json!({})).await;
    Ok(())
}

/// Grants an existing role to an existing user.
pub async fn grant(m: &Manage<'_>, user_id: &str, role: &str) -> Result<(), ManageError> {
    let user = super::users::get(m.directory, user_id).await?;
    get(m.directory, role).await?;
    m.directory.grant_role(&user.id, role).await?;
    access_changed(m, &user).await?;
    m.audit(AuditKind::RoleGranted, Some(&user.id), json!({ "role": role })).await;
    Ok(())
}

/// Takes a direct grant away.
pub async fn revoke_grant(m: &Manage<'_>, user_id: &str, role: &str) -> Result<(), ManageError> {
    let user = super::users::get(m.directory, user_id).await?;
    if !m.directory.revoke_grant(&user.id, role).await? {
        return Err(not_found(Missing::Grant { user: user.id, role: role.into() }));
    }
    access_changed(m, &user).await?;
    m.audit(AuditKind::RoleGrantRevoked, Some(&user.id), json!({ "role": role })).await;
    Ok(())
}

/// The running server recomputes the user's effective roles now; outside it they follow at the
/// user's next login or recheck.
async fn access_changed(m: &Manage<'_>, user: &User) -> Result<(), ManageError> {
    if let Some(app) = m.server {
        crate::login::roles::refresh_user_access(app.access_sources(), user).await?;
    }
    Ok(())
}

/// One mapping rule.
pub async fn get_mapping(directory: &Directory, id: &str) -> Result<RoleMapping, ManageError> {
    directory.mapping(id).await?.ok_or_else(|| not_found(Missing::Mapping(id.into())))
}

/// A rule of `organisation` (`None`: the default one): department and role ids are per
/// organisation, so a rule matches the org data of that organisation's users only.
pub async fn create_mapping(
    m: &Manage<'_>,
    organisation: Option<&str>,
    role: &str,
    rule: MappingRule,
) -> Result<RoleMapping, ManageError> {
    let org = m.organisation(organisation)?;
    let mapping = m.directory.create_mapping(&org, role, rule).await?;
    let detail = json!({ "id": mapping.id, "organisation": mapping.org_id });
    m.audit(AuditKind::MappingCreated, Some(&mapping.role), detail).await;
    Ok(mapping)
}

/// Replaces an existing mapping rule's role and rule.
pub async fn update_mapping(
    m: &Manage<'_>,
    id: &str,
    role: &str,
    rule: MappingRule,
) -> Result<RoleMapping, ManageError> {
    get_mapping(m.directory, id).await?;
    let mapping = m.directory.update_mapping(id, role, rule).await?;
    let mapping = mapping.ok_or_else(|| not_found(Missing::Mapping(id.into())))?;
    m.audit(AuditKind::MappingUpdated, Some(&mapping.role), json!({ "id": mapping.id })).await;
    Ok(mapping)
}

pub async fn delete_mapping(m: &Manage<'_>, id: &str) -> Result<(), ManageError> {
    if !m.directory.delete_mapping(id).await? {
        return Err(not_found(Missing::Mapping(id.into())));
    }
    m.audit(AuditKind::MappingDeleted, None, json!({ "id": id })).await;
    Ok(())
}
