//! May this DingTalk user use the provider? One rule, applied when they sign in and at every
//! upstream recheck of their refresh tokens, so the two can never disagree: with an organisation
//! configured (`dingtalk.corp_id`), the user must be an employee of it (not an external contact)
//! and active (DingTalk's `active`: the account is activated and not suspended).

use crate::dingtalk::{DingTalkClient, DingTalkError, OrgMember};

/// What DingTalk says of a user's place in the organisation.
#[derive(Debug, Clone, PartialEq)]
pub enum Membership {
    /// An active employee: may sign in.
    Member(OrgMember),
    /// Not (or no longer) in the organisation.
    NotMember,
    /// In the organisation but not active (deactivated, or never activated).
    Inactive,
}

impl Membership {
    pub fn of(member: Option<OrgMember>) -> Membership {
        match member {
            Some(member) if member.active => Membership::Member(member),
            Some(_) => Membership::Inactive,
            None => Membership::NotMember,
        }
    }

    /// Why someone is refused, for logs.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Membership::Member(_) => None,
            Membership::NotMember => Some("not a member of the organisation"),
            Membership::Inactive => Some("not active in the organisation"),
        }
    }
}

/// Asks DingTalk about the user with `union_id` (the organisation look-ups of `dingtalk::org`).
pub async fn check(dingtalk: &DingTalkClient, union_id: &str) -> Result<Membership, DingTalkError> {
    Ok(Membership::of(dingtalk.org_member(union_id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(active: bool) -> OrgMember {
        OrgMember {
            user_id: "u".into(),
            name: None,
            title: None,
            email: None,
            active,
            admin: false,
            boss: false,
            dept_ids: vec![],
            dept_chains: vec![],
            leader_in_depts: vec![],
            roles: vec![],
        }
    }

    #[test]
    fn only_an_active_employee_is_a_member() {
        assert!(matches!(Membership::of(Some(member(true))), Membership::Member(_)));
        assert_eq!(Membership::of(Some(member(false))), Membership::Inactive);
        assert_eq!(Membership::of(None), Membership::NotMember);
        assert!(Membership::of(Some(member(false))).refusal().is_some());
    }
}
