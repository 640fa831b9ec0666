//! What a user may do and belongs to, as tokens say it: effective roles (direct grants ∪ mapped
//! roles) and groups (the user's DingTalk departments with their ancestors, by stable id). Computed
//! at login, at each upstream recheck and when an administrator changes a user's grants, stored
//! on the user, and copied into refresh families. The rules live here; `directory::roles` only
//! reads and writes the rows (roles, grants, mapping rules, department names).

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use crate::dingtalk::{DingTalkError, Organisations};
use crate::directory::roles::{MappingRule, RoleMapping};
use crate::directory::users::Group;
use crate::directory::{Directory, DirectoryError, User};

/// Whether a mapping rule matches the user's DingTalk org data (ids, never names: DingTalk names
/// are not unique).
pub fn rule_matches(rule: &MappingRule, user: &User) -> bool {
    match rule {
        MappingRule::Department { dept_id, include_sub_departments } => {
            user.dept_ids.contains(dept_id)
                || (*include_sub_departments && user.dept_chains.iter().any(|chain| chain.contains(dept_id)))
        }
        MappingRule::OrgRole { role_id } => user.org_roles.iter().any(|r| r.id == *role_id),
        MappingRule::OrgAdmin => user.admin,
        MappingRule::DepartmentLeader { dept_id } => match dept_id {
            Some(dept) => user.leader_dept_ids.contains(dept),
            None => !user.leader_dept_ids.is_empty(),
        },
    }
}

/// Whether a mapping rule gives its role to the user: it is a rule of the user's organisation
/// (department and role ids are per organisation, so a rule never reaches into another) and it
/// matches.
pub fn rule_applies(mapping: &RoleMapping, user: &User) -> bool {
    mapping.org_id == user.org_id && rule_matches(&mapping.rule, user)
}

/// Gives the rules that name no organisation (written by a CLI whose config names none, before
/// the server's next start assigns them: `Directory::adopt_unassigned`) to the default one, as
/// that start will.
pub fn assign_default_organisation(mappings: &mut [RoleMapping], default_org: &str) {
    for mapping in mappings.iter_mut().filter(|m| m.org_id.is_empty()) {
        mapping.org_id = default_org.to_owned();
    }
}

/// Direct grants ∪ mapped roles, sorted and without repeats.
pub fn effective_roles(direct: &[String], mappings: &[RoleMapping], user: &User) -> Vec<String> {
    let mut roles: BTreeSet<String> = direct.iter().cloned().collect();
    roles.extend(mappings.iter().filter(|m| rule_applies(m, user)).map(|m| m.role.clone()));
    roles.into_iter().collect()
}

/// Where each of the user's effective roles comes from (the console's user page): per role, in
/// `effective_roles`' order, whether it is granted directly and which mapping rules give it.
pub fn role_sources<'m>(
    direct: &[String],
    mappings: &'m [RoleMapping],
    user: &User,
) -> Vec<(String, bool, Vec<&'m RoleMapping>)> {
    effective_roles(direct, mappings, user)
        .into_iter()
        .map(|role| {
            let granted = direct.contains(&role);
            let rules = mappings.iter().filter(|m| m.role == role && rule_applies(m, user)).collect();
            (role, granted, rules)
        })
        .collect()
}

/// What computing a user's access reads and writes: the directory (grants, mapping rules,
/// department names, the user) and the user's organisation in DingTalk (department names; its
/// settings say whether a corp is configured and the time a call may take).
#[derive(Clone, Copy)]
pub struct AccessSources<'a> {
    pub directory: &'a Directory,
    pub organisations: &'a Organisations,
}

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

/// How many `dingtalk.timeout_ms` all of one computation's department-name look-ups share.
pub const DEPARTMENT_NAME_CALLS: u32 = 1;

/// Recomputes and stores the user's roles and groups. A department name DingTalk cannot give
/// right now is left out of `groups_display` (or its last known name kept); it never fails the
/// login, and never holds it up for longer than [`DEPARTMENT_NAME_CALLS`] × `dingtalk.timeout_ms`.
pub async fn refresh_user_access(sources: AccessSources<'_>, user: &User) -> Result<User, DirectoryError> {
    let AccessSources { directory, organisations } = sources;
    let direct = directory.direct_roles(&user.id).await?;
    let mut mappings = directory.list_mappings().await?;
    assign_default_organisation(&mut mappings, &organisations.default_org().key);
    let roles = effective_roles(&direct, &mappings, user);
    let ids = group_ids(user);
    let org = &user.org_id;
    let cached = directory.department_names(org, &ids).await?;
    let now = crate::directory::now();
    let known = |id: i64| cached.iter().find(|(cid, _, _)| *cid == id).map(|(_, name, at)| (name, *at));
    let fresh = |id: i64| known(id).filter(|(_, at)| now - at < NAME_MAX_AGE_SECS).map(|(name, _)| name.clone());
    // An organisation no longer configured is not asked; its names stay as last known.
    let answered = match organisations.get(org).filter(|o| o.corp_id().is_some()) {
        Some(organisation) => {
            let stale: Vec<i64> = ids.iter().copied().filter(|id| fresh(*id).is_none()).collect();
            let budget = organisation.client.settings().time_for_calls(DEPARTMENT_NAME_CALLS);
            fetch_department_names(&stale, budget, |id| organisation.client.department_name(id)).await
        }
        None => Vec::new(),
    };
    for (id, name) in &answered {
        if let Some(name) = name {
            directory.store_department_name(org, *id, name).await?;
        }
    }
    // Department ids are per organisation: outside the default one, a group names its corp.
    let corp = (!organisations.is_default(org)).then(|| org.clone());
    let groups = ids
        .into_iter()
        .map(|id| {
            let name = match (fresh(id), answered.iter().find(|(aid, _)| *aid == id)) {
                (Some(name), _) => Some(name),
                // DingTalk's answer, including "no such department" (the old name is dropped).
                (None, Some((_, name))) => name.clone(),
                // Not asked, or not answered: the last known name, however old.
                (None, None) => known(id).map(|(name, _)| name.clone()),
            };
            Group { id, name, corp: corp.clone() }
        })
        .collect::<Vec<_>>();
    Ok(directory.set_user_access(&user.id, &roles, &groups).await?.unwrap_or_else(|| user.clone()))
}

/// Asks `fetch` for the names of `ids`, one after another, until one fails or `budget` is spent:
/// names are display-only, so after DingTalk failed once (likely to fail again for the rest) the
/// others are not asked, and all of them together take at most `budget`. Returns the answers
/// received (`None`: DingTalk does not know the department).
pub async fn fetch_department_names<F, Fut>(ids: &[i64], budget: Duration, mut fetch: F) -> Vec<(i64, Option<String>)>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<Option<String>, DingTalkError>>,
{
    let deadline = tokio::time::Instant::now() + budget;
    let mut answered = Vec::with_capacity(ids.len());
    for &id in ids {
        match tokio::time::timeout_at(deadline, fetch(id)).await {
            Ok(Ok(name)) => answered.push((id, name)),
            Ok(Err(e)) => {
                tracing::warn!(dingtalk_error = %e.log_code(), dept = id, "cannot fetch a department name; the others wait for the next login");
                break;
            }
            Err(_) => {
                tracing::warn!(dept = id, "department names took their whole time; the others wait for the next login");
                break;
            }
        }
    }
    answered
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn department_names_stop_being_asked_after_the_first_failure() {
        let asked = Mutex::new(Vec::new());
        let answered = fetch_department_names(&[1, 2, 3, 4], Duration::from_secs(5), |id| {
            asked.lock().unwrap().push(id);
            async move {
                match id {
                    2 => Err(DingTalkError::Timeout),
                    _ => Ok(Some(format!("dept {id}"))),
                }
            }
        })
        .await;
        assert_eq!(*asked.lock().unwrap(), vec![1, 2], "nothing is asked after the failure");
        assert_eq!(answered, vec![(1, Some("dept 1".to_owned()))]);
    }

    #[tokio::test]
    async fn department_names_share_one_budget_however_many_there_are() {
        let asked = Mutex::new(0);
        let budget = Duration::from_millis(300);
        let started = std::time::Instant::now();
        // Each answer comes just within DingTalk's own timeout: alone, every one would succeed.
        let answered = fetch_department_names(&[1, 2, 3, 4, 5, 6, 7, 8], budget, |id| {
            *asked.lock().unwrap() += 1;
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(Some(format!("dept {id}")))
            }
        })
        .await;
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(600), "eight names took {elapsed:?}, past their budget of {budget:?}");
        assert!(answered.len() < 8 && *asked.lock().unwrap() < 8, "{answered:?}");
        assert_eq!(answered.first(), Some(&(1, Some("dept 1".to_owned()))));
    }

    #[test]
    fn each_role_names_its_direct_grant_and_the_mapping_rules_that_give_it() {
        let user = User { dept_ids: vec![7], admin: true, ..User::default() };
        let mapping = |id: &str, role: &str, rule| RoleMapping {
            id: id.into(),
            role: role.into(),
            rule,
            created_at: 0,
            org_id: String::new(),
        };
        let mappings = vec![
            mapping("m1", "ops", MappingRule::Department { dept_id: 7, include_sub_departments: false }),
            mapping("m2", "ops", MappingRule::OrgAdmin),
            mapping("m3", "finance", MappingRule::Department { dept_id: 8, include_sub_departments: false }),
            mapping("m4", "admin", MappingRule::OrgAdmin),
        ];
        let sources = role_sources(&["admin".into(), "auditor".into()], &mappings, &user);
        let seen: Vec<(&str, bool, Vec<&str>)> = sources
            .iter()
            .map(|(role, direct, rules)| (role.as_str(), *direct, rules.iter().map(|m| m.id.as_str()).collect()))
            .collect();
        assert_eq!(
            seen,
            vec![("admin", true, vec!["m4"]), ("auditor", true, vec![]), ("ops", false, vec!["m1", "m2"])]
        );
    }

    #[tokio::test]
    async fn an_unknown_department_is_an_answer_not_a_failure() {
        let answered = fetch_department_names(&[7, 8], Duration::from_secs(5), |id| async move {
            Ok((id == 8).then(|| "Eight".to_owned()))
        })
        .await;
        assert_eq!(answered, vec![(7, None), (8, Some("Eight".to_owned()))]);
    }
}
