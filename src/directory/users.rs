//! Users we have seen log in. `id` is a UUID we mint once per organisation and DingTalk `unionId`
//! (a person has one identity in each organisation: docs/dingtalk-api.md §11): the stable,
//! never-reassigned `sub` (OIDC Core §2, §8).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use super::entities::user;
use super::{Directory, DirectoryError, from_json, now, to_json};
use crate::dingtalk::client::OrgRole;
use crate::dingtalk::{DingTalkIdentity, IdentitySource, OrgMember};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct User {
    pub id: String,
    pub union_id: String,
    /// The organisation (corp id) the user signs in through; empty when the deployment
    /// configures none.
    pub org_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub avatar_url: Option<String>,
    pub corp_id: Option<String>,
    pub dingtalk_user_id: Option<String>,
    pub title: Option<String>,
    pub dept_ids: Vec<i64>,
    pub org_roles: Vec<OrgRole>,
    pub admin: bool,
    pub active: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// Per department, the chain up to the root (DingTalk §5.4).
    pub dept_chains: Vec<Vec<i64>>,
    pub leader_dept_ids: Vec<i64>,
    pub boss: bool,
    /// Direct grants ∪ mapped roles, as of the last login or recheck.
    pub effective_roles: Vec<String>,
    /// The user's departments and their ancestors, with names (the `groups` claim).
    pub groups: Vec<Group>,
}

/// A department as a group: a stable id and a display name (names are not unique).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Group {
    pub id: i64,
    pub name: Option<String>,
    /// The organisation of a department outside the default one: department ids are per
    /// organisation, so such a group is named with its corp id (`dept:<corp>:<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corp: Option<String>,
}

impl Group {
    /// The stable name of the group in the `groups` claim.
    pub fn claim(&self) -> String {
        match &self.corp {
            Some(corp) => format!("dept:{corp}:{}", self.id),
            None => format!("dept:{}", self.id),
        }
    }
}

impl User {
    fn from_model(m: user::Model) -> Result<User, DirectoryError> {
        Ok(User {
            dept_ids: from_json(&m.dept_ids, "users.dept_ids")?,
            dept_chains: from_json(&m.dept_chains, "users.dept_chains")?,
            leader_dept_ids: from_json(&m.leader_dept_ids, "users.leader_dept_ids")?,
            boss: m.boss,
            effective_roles: from_json(&m.effective_roles, "users.effective_roles")?,
            groups: from_json(&m.groups, "users.groups")?,
            org_roles: from_json(&m.org_roles, "users.org_roles")?,
            id: m.id,
            union_id: m.union_id,
            org_id: m.org_id,
            name: m.name,
            email: m.email,
            mobile: m.mobile,
            avatar_url: m.avatar_url,
            corp_id: m.corp_id,
            dingtalk_user_id: m.dingtalk_user_id,
            title: m.title,
            admin: m.admin,
            active: m.active,
            disabled: m.disabled,
            created_at: m.created_at,
            last_login_at: m.last_login_at,
        })
    }
}

impl Directory {
    /// Records a successful DingTalk login through organisation `org`: creates the user on first
    /// sight (keyed by organisation and `unionId`), otherwise refreshes the profile and org data.
    /// Concurrent first logins of one person converge on one row through the unique
    /// `(org_id, union_id)`.
    pub async fn upsert_user_from_login(
        &self,
        org: &str,
        identity: &DingTalkIdentity,
        member: Option<&OrgMember>,
    ) -> Result<User, DirectoryError> {
        for _ in 0..2 {
            let existing = self.user_row_by_union_id(org, &identity.union_id).await?;
            let Some(row) = existing else {
                match self.create_user(org, identity, member).await {
                    // Another login created the row first: go round once more and update it.
                    Err(DirectoryError::Conflict(_)) => continue,
                    other => return other,
                }
            };
            let id = row.id.clone();
            let mut model: user::ActiveModel = row.into();
            apply_login(&mut model, identity, member, now());
            let updated = model.update(&self.db).await;
            self.user_changed(&id);
            return User::from_model(updated?);
        }
        Err(DirectoryError::Conflict("user".into()))
    }

    /// Creates the user for a DingTalk identity in organisation `org` with a fresh UUID `sub`; a
    /// second user with the same organisation and `unionId` is a typed conflict.
    pub async fn create_user(
        &self,
        org: &str,
        identity: &DingTalkIdentity,
        member: Option<&OrgMember>,
    ) -> Result<User, DirectoryError> {
        let at = now();
        let mut model = user::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            union_id: Set(identity.union_id.clone()),
            org_id: Set(org.to_owned()),
            disabled: Set(false),
            created_at: Set(at),
            ..Default::default()
        };
        apply_login(&mut model, identity, member, at);
        let row = model
            .insert(&self.db)
            .await
            .map_err(|e| DirectoryError::from_write(e, &format!("user with unionId {:?}", identity.union_id)))?;
        User::from_model(row)
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, DirectoryError> {
        user::Entity::find_by_id(id.to_string()).one(&self.db).await?.map(User::from_model).transpose()
    }

    pub async fn user_by_union_id(&self, org: &str, union_id: &str) -> Result<Option<User>, DirectoryError> {
        self.user_row_by_union_id(org, union_id).await?.map(User::from_model).transpose()
    }

    async fn user_row_by_union_id(&self, org: &str, union_id: &str) -> Result<Option<user::Model>, DirectoryError> {
        Ok(user::Entity::find()
            .filter(user::Column::OrgId.eq(org))
            .filter(user::Column::UnionId.eq(union_id))
            .one(&self.db)
            .await?)
    }

    /// Gives the users and mapping rules from before several organisations (`org_id` empty,
    /// migrations/m0006) to the default organisation `org`, keeping every `sub`. Run at start-up;
    /// idempotent, and a no-op when the default organisation has no corp id. A user the
    /// organisation already has under the same `unionId` keeps the older row unassigned rather
    /// than failing the start.
    pub async fn adopt_unassigned(&self, org: &str) -> Result<(), DirectoryError> {
        use sea_orm::sea_query::{Expr, ExprTrait, Query};
        if org.is_empty() {
            return Ok(());
        }
        let taken = Query::select()
            .column(user::Column::UnionId)
            .from(user::Entity)
            .and_where(Expr::col(user::Column::OrgId).eq(org))
            .to_owned();
        user::Entity::update_many()
            .col_expr(user::Column::OrgId, Expr::value(org))
            .filter(user::Column::OrgId.eq(""))
            .filter(user::Column::UnionId.not_in_subquery(taken))
            .exec(&self.db)
            .await?;
        use super::entities::role_mapping;
        role_mapping::Entity::update_many()
            .col_expr(role_mapping::Column::OrgId, Expr::value(org))
            .filter(role_mapping::Column::OrgId.eq(""))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Users matching `search` (name, DingTalk userid or unionId; case-insensitive substring),
    /// one page at a time, with the total count.
    pub async fn list_users(
        &self,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<User>, u64), DirectoryError> {
        self.list_users_of(None, search, offset, limit).await
    }

    /// As [`list_users`](Self::list_users), within one organisation when `organisation` is given.
    pub async fn list_users_of(
        &self,
        organisation: Option<&str>,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<User>, u64), DirectoryError> {
        use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
        use sea_orm::{Condition, PaginatorTrait, QueryOrder, QuerySelect};
        let mut query = user::Entity::find();
        if let Some(organisation) = organisation {
            query = query.filter(user::Column::OrgId.eq(organisation));
        }
        if let Some(term) = search.filter(|s| !s.is_empty()) {
            // A search for `a_b` finds `a_b`, not `axb`: the term is matched literally.
            let pattern = format!("%{}%", super::escape_like(&term.to_lowercase()));
            let like = |col: user::Column| {
                Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            query = query.filter(
                Condition::any()
                    .add(like(user::Column::Name))
                    .add(like(user::Column::DingtalkUserId))
                    .add(like(user::Column::UnionId))
                    .add(like(user::Column::Email)),
            );
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_asc(user::Column::CreatedAt)
            .order_by_asc(user::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows.into_iter().map(User::from_model).collect::<Result<_, _>>()?, total))
    }

    /// Records what an upstream recheck learned about a member (org data changes over time).
    pub async fn update_user_org(&self, user_id: &str, member: &OrgMember) -> Result<Option<User>, DirectoryError> {
        let Some(row) = user::Entity::find_by_id(user_id.to_string()).one(&self.db).await? else {
            return Ok(None);
        };
        let at = now();
        let mut model: user::ActiveModel = row.into();
        model.dingtalk_user_id = Set(Some(member.user_id.clone()));
        if member.name.is_some() {
            model.name = Set(member.name.clone());
        }
        model.title = Set(member.title.clone());
        model.dept_ids = Set(to_json(&member.dept_ids));
        model.org_roles = Set(to_json(&member.roles));
        model.admin = Set(member.admin);
        model.boss = Set(member.boss);
        model.dept_chains = Set(to_json(&member.dept_chains));
        model.leader_dept_ids = Set(to_json(&member.leader_in_depts));
        model.active = Set(member.active);
        model.updated_at = Set(at);
        model.last_upstream_sync_at = Set(Some(at));
        let updated = model.update(&self.db).await;
        self.user_changed(user_id);
        User::from_model(updated?).map(Some)
    }

    /// Stores what the user's roles and groups are now (computed by the caller).
    pub async fn set_user_access(
        &self,
        user_id: &str,
        roles: &[String],
        groups: &[Group],
    ) -> Result<Option<User>, DirectoryError> {
        let Some(row) = user::Entity::find_by_id(user_id.to_string()).one(&self.db).await? else {
            return Ok(None);
        };
        let mut model: user::ActiveModel = row.into();
        model.effective_roles = Set(to_json(&roles));
        model.groups = Set(to_json(&groups));
        let updated = model.update(&self.db).await;
        self.user_changed(user_id);
        User::from_model(updated?).map(Some)
    }

    pub async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<bool, DirectoryError> {
        let Some(row) = user::Entity::find_by_id(id.to_string()).one(&self.db).await? else {
            return Ok(false);
        };
        let mut model: user::ActiveModel = row.into();
        model.disabled = Set(disabled);
        model.updated_at = Set(now());
        let updated = model.update(&self.db).await;
        self.user_changed(id);
        updated?;
        Ok(true)
    }
}

fn apply_login(model: &mut user::ActiveModel, identity: &DingTalkIdentity, member: Option<&OrgMember>, at: i64) {
    model.name = Set(member.and_then(|m| m.name.clone()).or_else(|| identity.nick.clone()));
    // A sign-in inside DingTalk learns no profile (docs/dingtalk-api.md §9.2): what the last
    // hosted login stored stays.
    if identity.source == IdentitySource::HostedLogin {
        model.open_id = Set(identity.open_id.clone());
        model.email = Set(identity.email.clone().or_else(|| member.and_then(|m| m.email.clone())));
        model.mobile = Set(identity.mobile.as_deref().and_then(|m| e164(identity.state_code.as_deref(), m)));
        model.avatar_url = Set(identity.avatar_url.clone());
    } else if !matches!(&model.email, sea_orm::ActiveValue::Unchanged(Some(_))) {
        // With no address stored yet, the organisation's, as a hosted login without one does.
        model.email = Set(member.and_then(|m| m.email.clone()));
    }
    model.corp_id = Set(identity.corp_id.clone());
    model.dingtalk_user_id = Set(member.map(|m| m.user_id.clone()));
    model.title = Set(member.and_then(|m| m.title.clone()));
    model.dept_ids = Set(to_json(&member.map(|m| m.dept_ids.clone()).unwrap_or_default()));
    model.org_roles = Set(to_json(&member.map(|m| m.roles.clone()).unwrap_or_default()));
    model.admin = Set(member.is_some_and(|m| m.admin));
    model.boss = Set(member.is_some_and(|m| m.boss));
    model.dept_chains = Set(to_json(&member.map(|m| m.dept_chains.clone()).unwrap_or_default()));
    model.leader_dept_ids = Set(to_json(&member.map(|m| m.leader_in_depts.clone()).unwrap_or_default()));
    model.active = Set(member.is_none_or(|m| m.active));
    model.updated_at = Set(at);
    model.last_login_at = Set(Some(at));
    if member.is_some() {
        model.last_upstream_sync_at = Set(Some(at));
    }
}

/// OIDC Core §5.1 `phone_number`: E.164 (`+86 138…` becomes `+8613800001234`). DingTalk gives the
/// country code separately; a masked number (`155****3240`, third-party apps) is no number at all.
fn e164(state_code: Option<&str>, mobile: &str) -> Option<String> {
    let digits: String = mobile.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let national = digits.strip_prefix('+').unwrap_or(&digits);
    if national.is_empty() || !national.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.starts_with('+') {
        return Some(digits);
    }
    match state_code.map(|c| c.trim_start_matches('+')).filter(|c| !c.is_empty()) {
        Some(code) if code.bytes().all(|b| b.is_ascii_digit()) => Some(format!("+{code}{national}")),
        _ => Some(national.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn oidc_core_5_1_phone_numbers_become_e164_and_masked_numbers_are_dropped() {
        assert_eq!(super::e164(Some("86"), "13800001234").as_deref(), Some("+8613800001234"));
        assert_eq!(super::e164(None, "+852 9123 4567").as_deref(), Some("+85291234567"));
        assert_eq!(super::e164(Some("86"), "155****3240"), None);
        assert_eq!(super::e164(None, "13800001234").as_deref(), Some("13800001234"));
    }
}
