//! What a user may do and belongs to, as tokens say it: effective roles (direct grants ∪ mapped
//! roles) and groups (the user's DingTalk departments with their ancestors, by stable id). Computed
//! at login and at each upstream recheck, stored on the user, and copied into refresh families.

use crate::app::App;
use crate::directory::roles::effective_roles;
use crate::directory::users::Group;
use crate::directory::{DirectoryError, User};

/// Department names are refetched after this long (they change rarely and are display-only).
const NAME_MAX_AGE_SECS: i64 = 24 * 3600;

/// The user's departments and all their ancestors, each once, nearest first.
pub fn group_ids(user: &User) -> Vec<i64> {
    let mut ids = Vec::new();
    let chains: Vec<Vec<i64>> = if user.dept_chains.is_empty() {
        user.dept_ids.iter().map(|d| vec![*d]).collect()
    } else {
        user.dept_chains.clone()
    };
    for chain in chains {
        for id in chain {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    for id in &user.dept_ids {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    ids
}

/// Recomputes and stores the user's roles and groups. A department name DingTalk cannot give
/// right now is left out of `groups_display`; it never fails the login.
pub async fn refresh_user_access(app: &App, user: &User) -> Result<User, DirectoryError> {
    let direct = app.directory.direct_roles(&user.id).await?;
    let mappings = app.directory.list_mappings().await?;
    let roles = effective_roles(&direct, &mappings, user);
    let ids = group_ids(user);
    let cached = app.directory.department_names(&ids).await?;
    let now = crate::directory::now();
    let mut groups = Vec::with_capacity(ids.len());
    for id in ids {
        let known = cached.iter().find(|(cid, _, _)| *cid == id);
        let fresh = known.filter(|(_, _, at)| now - at < NAME_MAX_AGE_SECS).map(|(_, name, _)| name.clone());
        let name = match fresh {
            Some(name) => Some(name),
            None if app.config.dingtalk.corp_id.is_some() => match app.dingtalk.department_name(id).await {
                Ok(Some(name)) => {
                    app.directory.store_department_name(id, &name).await?;
                    Some(name)
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(dingtalk_error = %e.log_code(), dept = id, "cannot fetch a department name");
                    known.map(|(_, name, _)| name.clone())
                }
            },
            None => known.map(|(_, name, _)| name.clone()),
        };
        groups.push(Group { id, name });
    }
    Ok(app.directory.set_user_access(&user.id, &roles, &groups).await?.unwrap_or_else(|| user.clone()))
}
