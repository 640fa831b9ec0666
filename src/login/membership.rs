//! May this DingTalk user use the provider? One rule, applied when they sign in and at every
//! upstream recheck of their refresh tokens, so the two can never disagree: with an organisation
//! configured (`dingtalk.corp_id`), the user must be an employee of it (not an external contact)
//! and active (DingTalk's `active`: the account is activated and not suspended); at sign-in, the
//! DingTalk account must also be one of that organisation.

use crate::dingtalk::{DingTalkClient, DingTalkError, OrgMember};

/// Whose membership is asked.
#[derive(Debug, Clone, Copy)]
pub enum Account<'a> {
    /// A DingTalk sign-in: DingTalk's login names the organisation the account signed in from.
    SigningIn { union_id: &'a str, corp_id: Option<&'a str> },
    /// A user signed in before (an upstream recheck): asked by union id alone.
    Known { union_id: &'a str },
}

/// What the organisation says of a user.
#[derive(Debug, Clone, PartialEq)]
pub enum Membership {
    /// No organisation is configured: every DingTalk user may sign in, and there is no org data.
    NotRequired,
    /// An active employee: may sign in.
    Member(OrgMember),
    /// Signed in with a DingTalk account of another organisation.
    OtherOrganisation,
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

    /// Why someone is refused, for logs; `None` when they may use the provider.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            Membership::NotRequired | Membership::Member(_) => None,
            Membership::OtherOrganisation => Some("a DingTalk account of another organisation"),
            Membership::NotMember => Some("not a member of the organisation"),
            Membership::Inactive => Some("not active in the organisation"),
        }
    }

    /// The org data of an allowed user (`None` without an organisation); when refused, why.
    pub fn allowed(self) -> Result<Option<OrgMember>, &'static str> {
        match self {
            Membership::NotRequired => Ok(None),
            Membership::Member(member) => Ok(Some(member)),
            refused => Err(refused.refusal().unwrap_or("refused")),
        }
    }
}

/// The one rule: may this DingTalk account use the provider? With no organisation configured
/// (`dingtalk.corp_id` is `organisation`), yes, and DingTalk is not asked. Otherwise a sign-in
/// must come from that organisation, and the user must be an active employee of it (the
/// organisation look-ups of `dingtalk::org`).
pub async fn check(
    dingtalk: &DingTalkClient,
    organisation: Option<&str>,
    account: Account<'_>,
) -> Result<Membership, DingTalkError> {
    let Some(organisation) = organisation else { return Ok(Membership::NotRequired) };
    let union_id = match account {
        Account::SigningIn { corp_id, .. } if corp_id != Some(organisation) => {
            return Ok(Membership::OtherOrganisation);
        }
        Account::SigningIn { union_id, .. } | Account::Known { union_id } => union_id,
    };
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
        assert!(Membership::OtherOrganisation.allowed().is_err());
        assert_eq!(Membership::NotRequired.allowed(), Ok(None));
    }
}
