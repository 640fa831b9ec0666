//! How a DingTalk sign-in ended: the `outcome` label of `dingtalk_oidc_logins_total`, counted once
//! per callback (`oidc::callback`), whichever way it leaves.

/// The ways a DingTalk callback ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in: an SSO session was started (what the application is then told, a code or a
    /// consent page, is counted by the HTTP and token metrics).
    Success,
    /// The organisation said no (`login::membership`): a DingTalk account of another organisation,
    /// not a member, or not active in it.
    RefusedByCorp,
    /// Disabled in this provider by an administrator.
    UserDisabled,
    /// A DingTalk call failed with an error of DingTalk's (a rejected code, a missing permission,
    /// an unexpected answer).
    DingTalkError,
    /// DingTalk could not be reached, timed out or throttled us.
    DingTalkUnavailable,
    /// DingTalk sent the user back with an error or without a code: the user did not complete the
    /// DingTalk login.
    UserCancelled,
    /// No state, an unknown or expired one, or one started in another browser (RFC 6749 §10.12).
    InvalidState,
    /// The application was removed while the user was signing in.
    ClientRemoved,
    /// Our own database or session store failed.
    Unavailable,
    /// Inside the DingTalk client, the JSAPI gave no code (refused, failed, too slow, or not
    /// DingTalk after all): the user went on to the hosted login, or a `prompt=none` request was
    /// told `login_required`.
    InAppFallback,
}

impl LoginOutcome {
    pub const ALL: [LoginOutcome; 10] = [
        LoginOutcome::Success,
        LoginOutcome::RefusedByCorp,
        LoginOutcome::UserDisabled,
        LoginOutcome::DingTalkError,
        LoginOutcome::DingTalkUnavailable,
        LoginOutcome::UserCancelled,
        LoginOutcome::InvalidState,
        LoginOutcome::ClientRemoved,
        LoginOutcome::Unavailable,
        LoginOutcome::InAppFallback,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::RefusedByCorp => "refused_by_corp",
            LoginOutcome::UserDisabled => "user_disabled",
            LoginOutcome::DingTalkError => "dingtalk_error",
            LoginOutcome::DingTalkUnavailable => "dingtalk_unavailable",
            LoginOutcome::UserCancelled => "user_cancelled",
            LoginOutcome::InvalidState => "invalid_state",
            LoginOutcome::ClientRemoved => "client_removed",
            LoginOutcome::Unavailable => "unavailable",
            LoginOutcome::InAppFallback => "in_app_fallback",
        }
    }

    /// A failed DingTalk call: an outage of DingTalk's or an error.
    pub fn of_dingtalk_failure(err: &crate::dingtalk::DingTalkError) -> LoginOutcome {
        if err.is_unavailable() { LoginOutcome::DingTalkUnavailable } else { LoginOutcome::DingTalkError }
    }
}

#[cfg(test)]
mod tests {
    use super::LoginOutcome;
    use crate::dingtalk::DingTalkError;

    #[test]
    fn labels_are_distinct_and_all_lists_every_outcome() {
        let mut labels: Vec<&str> = LoginOutcome::ALL.iter().map(|o| o.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), LoginOutcome::ALL.len());
    }

    #[test]
    fn a_dingtalk_outage_is_told_apart_from_a_dingtalk_error() {
        assert_eq!(LoginOutcome::of_dingtalk_failure(&DingTalkError::Timeout), LoginOutcome::DingTalkUnavailable);
        assert_eq!(LoginOutcome::of_dingtalk_failure(&DingTalkError::Decode("x".into())), LoginOutcome::DingTalkError);
    }
}
