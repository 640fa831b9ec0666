//! The simulator's fake organisation: app credentials, departments, roles and users.
//! Loadable from TOML; `Default` is the built-in demo organisation (`demo_org.rs`).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimDirectory {
    pub corp_id: String,
    pub app_key: String,
    pub app_secret: String,
    /// Registered callback URLs; empty accepts any (docs/dingtalk-api.md §1 console setting).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub departments: Vec<SimDepartment>,
    #[serde(default)]
    pub roles: Vec<SimRoleGroup>,
    #[serde(default)]
    pub users: Vec<SimUser>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimDepartment {
    pub id: i64,
    pub name: String,
    /// `None` only for the root department `1` (docs/dingtalk-api.md §5.3).
    #[serde(default)]
    pub parent_id: Option<i64>,
}

/// A role group as listed by §5.5.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimRoleGroup {
    pub group_id: i64,
    pub name: String,
    #[serde(default)]
    pub roles: Vec<SimRole>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimRole {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimUser {
    /// What the login page and `login_as` use.
    pub login: String,
    pub union_id: String,
    pub open_id: String,
    pub nick: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub state_code: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The organisation this user picks at login (`corpId` of §2 with scope `corpid`).
    #[serde(default)]
    pub corp_id: Option<String>,
    /// In-corp userid; `None` = not a member of the app's organisation.
    #[serde(default)]
    pub userid: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub dept_ids: Vec<i64>,
    #[serde(default)]
    pub role_ids: Vec<i64>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub boss: bool,
    #[serde(default)]
    pub leader_in_dept: Vec<i64>,
    #[serde(default = "default_active")]
    pub active: bool,
}

fn default_active() -> bool {
    true
}

impl SimDirectory {
    /// Read a directory from a TOML file and check that its references resolve.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir: Self = toml::from_str(&text).map_err(|e| format!("invalid {}: {e}", path.display()))?;
        dir.validate().map_err(|e| format!("invalid {}: {e}", path.display()))?;
        Ok(dir)
    }

    /// Ids and logins are unique and every reference points at something that exists.
    pub fn validate(&self) -> Result<(), String> {
        if self.app_key.is_empty() || self.app_secret.is_empty() {
            return Err("app_key and app_secret must not be empty".to_owned());
        }
        let dept_ids: HashSet<i64> = self.departments.iter().map(|d| d.id).collect();
        if dept_ids.len() != self.departments.len() {
            return Err("duplicate department id".to_owned());
        }
        for dept in &self.departments {
            if let Some(parent) = dept.parent_id
                && !dept_ids.contains(&parent)
            {
                return Err(format!("department {} has unknown parent {parent}", dept.id));
            }
            if self.dept_chain(dept.id).is_none() {
                return Err(format!("department {} has a parent cycle", dept.id));
            }
        }
        let role_ids: HashSet<i64> = self.roles.iter().flat_map(|g| g.roles.iter().map(|r| r.id)).collect();
        let mut logins = HashSet::new();
        let mut union_ids = HashSet::new();
        let mut userids = HashSet::new();
        for user in &self.users {
            if !logins.insert(user.login.as_str()) {
                return Err(format!("duplicate login {:?}", user.login));
            }
            if !union_ids.insert(user.union_id.as_str()) {
                return Err(format!("duplicate union_id for {:?}", user.login));
            }
            if let Some(userid) = &user.userid
                && !userids.insert(userid.as_str())
            {
                return Err(format!("duplicate userid {userid:?}"));
            }
            for dept in user.dept_ids.iter().chain(&user.leader_in_dept) {
                if !dept_ids.contains(dept) {
                    return Err(format!("user {:?}: unknown department {dept}", user.login));
                }
            }
            if let Some(role) = user.role_ids.iter().find(|r| !role_ids.contains(r)) {
                return Err(format!("user {:?}: unknown role {role}", user.login));
            }
        }
        Ok(())
    }

    pub fn user_by_login(&self, login: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.login == login)
    }

    pub fn department(&self, id: i64) -> Option<&SimDepartment> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// The department and its ancestors up to the root, as §5.4 lists them; `None` for
    /// an unknown department or a cycle.
    pub fn dept_chain(&self, id: i64) -> Option<Vec<i64>> {
        let mut chain = vec![id];
        let mut current = self.department(id)?;
        while let Some(parent) = current.parent_id {
            if chain.contains(&parent) || chain.len() > self.departments.len() {
                return None;
            }
            chain.push(parent);
            current = self.department(parent)?;
        }
        Some(chain)
    }

    /// Role and its group name, for §5.2 `role_list`.
    pub fn role(&self, id: i64) -> Option<(&SimRoleGroup, &SimRole)> {
        self.roles.iter().find_map(|g| g.roles.iter().find(|r| r.id == id).map(|r| (g, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_directory_is_consistent() {
        let dir = SimDirectory::default();
        dir.validate().unwrap();
        assert_eq!(dir.dept_chain(4), Some(vec![4, 2, 1]));
        let ids: HashSet<_> = dir.users.iter().map(|u| &u.open_id).collect();
        assert_eq!(ids.len(), dir.users.len());
    }

    #[test]
    fn directory_round_trips_through_toml_file() {
        let dir = SimDirectory::default();
        let path = std::env::temp_dir().join(format!("simdir-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, toml::to_string(&dir).unwrap()).unwrap();
        let loaded = SimDirectory::load(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(loaded.unwrap(), dir);
    }

    #[test]
    fn load_rejects_unknown_department_reference() {
        let text = r#"
            corp_id = "c"
            app_key = "k"
            app_secret = "s"
            [[departments]]
            id = 1
            name = "Root"
            [[users]]
            login = "x"
            union_id = "u"
            open_id = "o"
            nick = "X"
            dept_ids = [7]
        "#;
        let path = std::env::temp_dir().join(format!("simdir-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).unwrap();
        let loaded = SimDirectory::load(&path);
        let _ = std::fs::remove_file(&path);
        assert!(loaded.unwrap_err().contains("unknown department 7"));
    }
}
