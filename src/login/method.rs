//! How a user signed in, as the ID token says it: `amr` (RFC 8176) and `acr` (OIDC Core §2).
//! The session keeps the `amr` of its sign-in; `acr` is read back from it, so sessions and
//! refresh families need nothing more.

/// The ways into the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// DingTalk's hosted login page (or its QR code): the user acts in DingTalk (scans and
    /// confirms, or signs in).
    HostedLogin,
    /// Inside the DingTalk client, silently: the client vouches for the user it is signed in as
    /// (docs/dingtalk-app.md, "Sign-in inside DingTalk").
    InApp,
}

/// RFC 8176 §2 `user`: a test of user presence, true of every hosted DingTalk login.
const AMR_USER: &str = "user";
/// Not in the RFC 8176 registry (§2 allows others): the DingTalk client's own session, with no
/// act of the user at this sign-in.
const AMR_DINGTALK_APP: &str = "dingtalk_app";

pub const ACR_HOSTED_LOGIN: &str = "urn:dingtalk-oidc:acr:hosted-login";
pub const ACR_IN_APP: &str = "urn:dingtalk-oidc:acr:in-app";
/// Discovery §3 `acr_values_supported`.
pub const ACR_VALUES: [&str; 2] = [ACR_HOSTED_LOGIN, ACR_IN_APP];

impl SignInMethod {
    pub fn amr(self) -> Vec<String> {
        match self {
            SignInMethod::HostedLogin => vec![AMR_USER.to_owned()],
            SignInMethod::InApp => vec![AMR_DINGTALK_APP.to_owned()],
        }
    }

    /// The method an `amr` of ours names; sessions from before in-app sign-in carry `["user"]`.
    pub fn of_amr(amr: &[String]) -> SignInMethod {
        if amr.iter().any(|m| m == AMR_DINGTALK_APP) { SignInMethod::InApp } else { SignInMethod::HostedLogin }
    }

    pub fn acr(self) -> &'static str {
        match self {
            SignInMethod::HostedLogin => ACR_HOSTED_LOGIN,
            SignInMethod::InApp => ACR_IN_APP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_reads_back_from_its_own_amr_with_a_distinct_acr() {
        for method in [SignInMethod::HostedLogin, SignInMethod::InApp] {
            assert_eq!(SignInMethod::of_amr(&method.amr()), method);
        }
        assert_ne!(SignInMethod::HostedLogin.acr(), SignInMethod::InApp.acr());
        assert_eq!(SignInMethod::of_amr(&[]), SignInMethod::HostedLogin);
        assert!(ACR_VALUES.contains(&SignInMethod::InApp.acr()));
    }
}
