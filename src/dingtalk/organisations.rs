//! The DingTalk organisations behind the issuer: one internal app per organisation, each its own
//! [`DingTalkClient`] (credentials, app token), named by its corp id (docs/dingtalk-app.md,
//! "Several organisations"; docs/dingtalk-api.md §11). A deployment with one `[dingtalk]` app has
//! exactly one.

use super::{DingTalkClient, DingTalkError};
use crate::config::DingTalkSettings;

/// One organisation and its app.
pub struct Organisation {
    /// Its corp id; empty for the one app of a deployment that configures no organisation.
    pub key: String,
    /// What the sign-in page calls it.
    pub name: String,
    pub client: DingTalkClient,
}

impl Organisation {
    /// The corp id, when one is configured (the membership rule then applies).
    pub fn corp_id(&self) -> Option<&str> {
        self.client.settings().corp_id.as_deref()
    }
}

/// Every configured organisation, the default (first) one first; never empty.
pub struct Organisations {
    list: Vec<Organisation>,
}

impl Organisations {
    /// One client per organisation of `settings` (`DingTalkSettings::per_organisation`);
    /// `client` builds it (the start-up adds the shared app-token cache).
    pub fn build(
        settings: &DingTalkSettings,
        mut client: impl FnMut(DingTalkSettings) -> Result<DingTalkClient, DingTalkError>,
    ) -> Result<Organisations, DingTalkError> {
        let mut list = Vec::new();
        for (name, org_settings) in settings.per_organisation() {
            let key = org_settings.corp_id.clone().unwrap_or_default();
            let name = name.unwrap_or_else(|| if key.is_empty() { "DingTalk".to_owned() } else { key.clone() });
            list.push(Organisation { key, name, client: client(org_settings)? });
        }
        Ok(Organisations { list })
    }

    /// The organisation that users and mapping rules from before several organisations belong to,
    /// and the only one a client that names none accepts.
    pub fn default_org(&self) -> &Organisation {
        &self.list[0]
    }

    pub fn get(&self, key: &str) -> Option<&Organisation> {
        self.list.iter().find(|org| org.key == key)
    }

    pub fn all(&self) -> &[Organisation] {
        &self.list
    }

    /// Whether any organisation is configured with a corp id (so memberships are checked).
    pub fn any_with_corp(&self) -> bool {
        self.list.iter().any(|org| org.corp_id().is_some())
    }

    /// The organisations a client accepts, in configured order: those its list names (ignoring
    /// names no longer configured); an empty list accepts the default organisation only.
    pub fn accepted_by<'a>(&'a self, client_organisations: &[String]) -> Vec<&'a Organisation> {
        if client_organisations.is_empty() {
            return vec![self.default_org()];
        }
        self.list.iter().filter(|org| client_organisations.contains(&org.key)).collect()
    }

    /// Whether a client with this list accepts organisation `key` (as [`accepted_by`] would list
    /// it, without building the list: the refresh grant asks on every rotation).
    ///
    /// [`accepted_by`]: Self::accepted_by
    pub fn accepts(&self, client_organisations: &[String], key: &str) -> bool {
        if client_organisations.is_empty() {
            return self.default_org().key == key;
        }
        client_organisations.iter().any(|o| o == key) && self.get(key).is_some()
    }

    /// Whether `key` is the default organisation (its department groups keep their short form).
    pub fn is_default(&self, key: &str) -> bool {
        self.default_org().key == key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::dingtalk::DingTalkApp;

    fn settings(corps: &[&str]) -> DingTalkSettings {
        DingTalkSettings {
            apps: corps
                .iter()
                .map(|corp| DingTalkApp {
                    client_id: format!("app-{corp}"),
                    client_secret: "s".into(),
                    corp_id: Some((*corp).to_owned()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_client_that_names_no_organisation_accepts_the_default_one_only() {
        let orgs = Organisations::build(&settings(&["corp-a", "corp-b"]), DingTalkClient::new).unwrap();
        let keys = |list: Vec<&Organisation>| list.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(orgs.accepted_by(&[])), ["corp-a"]);
        assert_eq!(keys(orgs.accepted_by(&["corp-b".into(), "corp-a".into()])), ["corp-a", "corp-b"]);
        assert_eq!(keys(orgs.accepted_by(&["corp-gone".into()])), Vec::<String>::new());
        // `accepts` answers as `accepted_by` lists, for each list and organisation.
        for list in [vec![], vec!["corp-b".into()], vec!["corp-gone".into(), "corp-a".into()]] {
            for key in ["corp-a", "corp-b", "corp-gone", ""] {
                let listed = orgs.accepted_by(&list).iter().any(|o| o.key == key);
                assert_eq!(orgs.accepts(&list, key), listed, "{list:?} {key}");
            }
        }
        assert_eq!(orgs.get("corp-b").unwrap().client.settings().client_id, "app-corp-b");
        assert!(orgs.is_default("corp-a") && !orgs.is_default("corp-b"));
    }

    #[test]
    fn a_single_dingtalk_table_is_one_organisation() {
        let single = DingTalkSettings { client_id: "k".into(), client_secret: "s".into(), ..Default::default() };
        let orgs = Organisations::build(&single, DingTalkClient::new).unwrap();
        assert_eq!(orgs.all().len(), 1);
        assert_eq!(orgs.default_org().key, "");
        assert!(!orgs.any_with_corp());
    }
}
