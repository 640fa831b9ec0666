//! Organisation membership and role data of a signed-in user (docs/dingtalk-api.md §5),
//! used for the corp check and for role mapping.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::DingTalkClient;
use super::error::DingTalkError;
use super::lenient::{LenientBool, LenientI64};

/// A user's place in the configured organisation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgMember {
    pub user_id: String,
    pub name: Option<String>,
    pub title: Option<String>,
    /// The `email` field of §5.2 (not `org_email`).
    pub email: Option<String>,
    pub active: bool,
    pub admin: bool,
    pub boss: bool,
    pub dept_ids: Vec<i64>,
    /// §5.4: per department, the chain from that department up to the root `1`.
    pub dept_chains: Vec<Vec<i64>>,
    /// Departments where `leader_in_dept[].leader` is true.
    pub leader_in_depts: Vec<i64>,
    pub roles: Vec<OrgRole>,
}

/// One entry of §5.2 `role_list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgRole {
    pub id: i64,
    pub name: String,
    pub group_name: Option<String>,
}

/// §5.1 `result`.
#[derive(Deserialize)]
struct UnionIdLookup {
    contact_type: Option<LenientI64>,
    userid: Option<String>,
}

/// §5.2 `result`, only the fields used for role mapping.
#[derive(Deserialize)]
struct UserDetail {
    userid: Option<String>,
    name: Option<String>,
    title: Option<String>,
    email: Option<String>,
    active: Option<LenientBool>,
    admin: Option<LenientBool>,
    boss: Option<LenientBool>,
    #[serde(default)]
    dept_id_list: Vec<LenientI64>,
    #[serde(default)]
    leader_in_dept: Vec<LeaderFlag>,
    #[serde(default)]
    role_list: Vec<RoleEntry>,
}

#[derive(Deserialize)]
struct LeaderFlag {
    dept_id: LenientI64,
    leader: Option<LenientBool>,
}

#[derive(Deserialize)]
struct RoleEntry {
    id: LenientI64,
    name: Option<String>,
    group_name: Option<String>,
}

/// §5.4 `result`.
#[derive(Deserialize)]
struct ParentDepartments {
    #[serde(default)]
    parent_list: Vec<ParentChain>,
}

#[derive(Deserialize)]
struct ParentChain {
    #[serde(default)]
    parent_dept_id_list: Vec<LenientI64>,
}

/// §5.3 department detail: only the name is needed (for `groups_display`).
#[derive(Debug, Deserialize)]
struct DepartmentDetail {
    #[serde(default)]
    name: Option<String>,
}

/// §5.3: 60003 部门不存在.
const DEPARTMENT_NOT_FOUND: i64 = 60003;

/// §5.1/§5.2: 60121 找不到该用户 — not (or no longer) a member of this organisation.
const USER_NOT_FOUND: i64 = 60121;

impl DingTalkClient {
    /// §5.3: a department's display name; `Ok(None)` when DingTalk does not know the department.
    pub async fn department_name(&self, dept_id: i64) -> Result<Option<String>, DingTalkError> {
        match self.topapi::<DepartmentDetail>("/topapi/v2/department/get", &json!({ "dept_id": dept_id })).await {
            Ok(detail) => Ok(detail.name.filter(|n| !n.is_empty())),
            Err(DingTalkError::Oapi { errcode: DEPARTMENT_NOT_FOUND, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// How many `timeout_ms` [`org_member`](Self::org_member) may take in all: its three calls one
    /// after another (the app token §4.1, §5.1, then §5.2 and §5.4 together).
    pub const ORG_MEMBER_CALLS: u32 = 3;

    /// unionId → userid (§5.1), then user detail (§5.2) and department chains (§5.4).
    /// `Ok(None)` when the user is not an employee of the app's organisation.
    ///
    /// Bounded as a whole by [`ORG_MEMBER_CALLS`](Self::ORG_MEMBER_CALLS) × `timeout_ms`, not only
    /// per call: waiting behind another request's app-token fetch (one at a time, §6.3) and the
    /// §6.3 retry with a fresh token would otherwise add calls, so a sign-in (and so a shutdown
    /// drain, see `drain::longest_request`) would have no known longest time.
    pub async fn org_member(&self, union_id: &str) -> Result<Option<OrgMember>, DingTalkError> {
        let budget = self.settings().time_for_calls(Self::ORG_MEMBER_CALLS);
        tokio::time::timeout(budget, self.org_member_unbounded(union_id)).await.unwrap_or(Err(DingTalkError::Timeout))
    }

    async fn org_member_unbounded(&self, union_id: &str) -> Result<Option<OrgMember>, DingTalkError> {
        let lookup: UnionIdLookup =
            match self.topapi("/topapi/user/getbyunionid", &json!({ "unionid": union_id })).await {
                Ok(found) => found,
                Err(err) if is_not_found(&err) => return Ok(None),
                Err(err) => return Err(err),
            };
        // §5.1: contact_type 1 is an external contact, not an employee.
        if lookup.contact_type.is_some_and(|t| t.0 != 0) {
            return Ok(None);
        }
        let Some(user_id) = lookup.userid.filter(|u| !u.is_empty()) else {
            return Err(DingTalkError::Decode("getbyunionid: no userid in result".to_owned()));
        };

        let by_userid = json!({ "userid": user_id });
        let (detail, parents) = tokio::join!(
            self.topapi::<UserDetail>("/topapi/v2/user/get", &by_userid),
            self.topapi::<ParentDepartments>("/topapi/v2/department/listparentbyuser", &by_userid),
        );
        let detail = match detail {
            Ok(detail) => detail,
            // §5.2: 60121 also covers "left the organisation" between the two calls.
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(err),
        };
        let parents = parents?;

        Ok(Some(OrgMember {
            user_id: detail.userid.filter(|u| !u.is_empty()).unwrap_or(user_id),
            name: detail.name.filter(|v| !v.is_empty()),
            title: detail.title.filter(|v| !v.is_empty()),
            email: detail.email.filter(|v| !v.is_empty()),
            // §5.2: fields are absent when not permitted. Someone who just signed in
            // through DingTalk has activated it, so absence reads as active.
            active: detail.active.is_none_or(|b| b.0),
            admin: detail.admin.is_some_and(|b| b.0),
            boss: detail.boss.is_some_and(|b| b.0),
            dept_ids: detail.dept_id_list.iter().map(|d| d.0).collect(),
            dept_chains: parents
                .parent_list
                .into_iter()
                .map(|c| c.parent_dept_id_list.iter().map(|d| d.0).collect())
                .collect(),
            leader_in_depts: detail
                .leader_in_dept
                .iter()
                .filter(|l| l.leader.is_some_and(|b| b.0))
                .map(|l| l.dept_id.0)
                .collect(),
            roles: detail
                .role_list
                .into_iter()
                .map(|r| OrgRole {
                    id: r.id.0,
                    name: r.name.unwrap_or_default(),
                    group_name: r.group_name.filter(|g| !g.is_empty()),
                })
                .collect(),
        }))
    }
}

fn is_not_found(err: &DingTalkError) -> bool {
    matches!(err, DingTalkError::Oapi { errcode: USER_NOT_FOUND, .. })
}
