//! Management operations: clients, users, roles and mapping rules, SSO sessions and signing keys.
//! Each operation validates, writes, revokes what the change ends and records its audit event
//! here, once; the admin API (`admin`) and the command line (`cli`) only parse their input, call
//! an operation and render its result, so both surfaces change the same things and leave the same
//! audit trail.

pub mod clients;
pub mod consents;
pub mod keys;
pub mod registration;
pub mod roles;
pub mod sessions;
pub mod users;

use std::fmt;

use crate::app::App;
use crate::directory::audit::{AuditEvent, AuditKind};
use crate::directory::{Directory, DirectoryError};
use crate::keys::KeyError;
use crate::store::StoreError;

/// Where a change was asked for: it names the actor's surface in texts that record why something
/// was revoked, and decides where a failure to record an audit event is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    AdminApi,
    Cli,
    /// The user's own account page (`account`): the actor is the user.
    Account,
    /// Dynamic client registration (RFC 7591): the actor is the initial access token's id, or
    /// the client itself managing its registration (RFC 7592).
    Registration,
}

impl Surface {
    /// Why the user's sessions ended, when the user was disabled.
    fn disable_reason(self) -> &'static str {
        match self {
            Surface::AdminApi => "disabled by an admin",
            Surface::Cli => "disabled from the CLI",
            Surface::Account => "disabled by the user",
            Surface::Registration => "disabled through client registration",
        }
    }

    /// Why the user's sessions ended, when they were revoked.
    fn revoke_reason(self) -> &'static str {
        match self {
            Surface::AdminApi => "revoked by an admin",
            Surface::Cli => "cli",
            Surface::Account => "revoked by the user",
            Surface::Registration => "revoked through client registration",
        }
    }
}

/// Who makes a change: the audit events' `actor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `bootstrap` or a user id (admin API), `cli` (command line).
    pub id: String,
    pub surface: Surface,
}

impl Actor {
    pub fn admin(id: impl Into<String>) -> Actor {
        Actor { id: id.into(), surface: Surface::AdminApi }
    }

    pub fn cli() -> Actor {
        Actor { id: "cli".into(), surface: Surface::Cli }
    }

    /// A party registering or managing a client by dynamic registration: `who` is
    /// `initial_token:<id>` or `client:<id>`, never a credential.
    pub fn registration(who: impl Into<String>) -> Actor {
        Actor { id: who.into(), surface: Surface::Registration }
    }

    /// A signed-in user acting on their own account.
    pub fn account_owner(user_id: impl Into<String>) -> Actor {
        Actor { id: user_id.into(), surface: Surface::Account }
    }
}

/// What every operation needs: the directory, who acts, and the time of the change.
pub struct Manage<'a> {
    pub directory: &'a Directory,
    pub actor: Actor,
    pub now: i64,
    /// The running server, when the change comes through its admin API: a grant then recomputes
    /// the user's effective roles at once, and a key change reaches its key ring at once. The CLI
    /// has none: the server picks such changes up at the user's next login or recheck, and at its
    /// next key maintenance.
    pub server: Option<&'a App>,
    /// The configured DingTalk organisations (corp ids), the default one first; empty when not
    /// known (a CLI run whose config names none), and then not checked.
    pub organisations: Vec<String>,
    /// The issuer, whose URIs are the provider's own audiences: no resource server may take one.
    pub issuer: Option<String>,
}

impl<'a> Manage<'a> {
    /// Operations through the running server, on its clock.
    pub fn for_server(app: &'a App, actor: Actor) -> Manage<'a> {
        let organisations = app.organisations.all().iter().map(|o| o.key.clone()).filter(|k| !k.is_empty()).collect();
        let issuer = Some(app.issuer.clone());
        Manage { directory: &app.directory, actor, now: app.now(), server: Some(app), organisations, issuer }
    }

    /// Operations from outside the server (the CLI), on the wall clock.
    pub fn standalone(directory: &'a Directory, actor: Actor) -> Manage<'a> {
        let now = chrono::Utc::now().timestamp();
        Manage { directory, actor, now, server: None, organisations: Vec::new(), issuer: None }
    }

    /// Knows the issuer (the CLI's config), to keep its URIs from resource servers.
    pub fn with_issuer(mut self, issuer: &str) -> Manage<'a> {
        self.issuer = Some(issuer.trim_end_matches('/').to_owned());
        self
    }

    /// Knows the organisations `settings` configures (each app's corp id).
    pub fn with_organisations_of(mut self, settings: &crate::config::DingTalkSettings) -> Manage<'a> {
        self.organisations = settings.per_organisation().into_iter().filter_map(|(_, s)| s.corp_id).collect();
        self
    }

    /// The organisation a change names, checked against the configured ones; `None`: the default
    /// one (empty when unknown: `Directory::adopt_unassigned` gives it to the default one at the
    /// server's next start).
    fn organisation(&self, named: Option<&str>) -> Result<String, ManageError> {
        match named.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(self.organisations.first().cloned().unwrap_or_default()),
            Some(named) => self.check_organisations(&[named.to_owned()]).map(|_| named.to_owned()),
        }
    }

    /// Each of `named` is a configured organisation (not checked when none is known).
    fn check_organisations(&self, named: &[String]) -> Result<(), ManageError> {
        match named.iter().find(|n| !self.organisations.is_empty() && !self.organisations.contains(n)) {
            Some(unknown) => Err(ManageError::Directory(DirectoryError::Invalid(format!(
                "organisation: {unknown:?} is not a configured organisation (dingtalk.corp_id or [[dingtalk.apps]])"
            )))),
            None => Ok(()),
        }
    }

    /// Records the change (never a secret). A change that was made stays made when its event
    /// cannot be written: the failure is reported, not returned.
    async fn audit(&self, kind: AuditKind, subject: Option<&str>, detail: serde_json::Value) {
        self.audit_at_client(kind, subject, None, detail).await
    }

    /// `audit` for a change that concerns one client.
    async fn audit_at_client(
        &self,
        kind: AuditKind,
        subject: Option<&str>,
        client_id: Option<&str>,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent {
            kind,
            actor: Some(self.actor.id.clone()),
            subject: subject.map(str::to_string),
            client_id: client_id.map(str::to_string),
            detail,
        };
        if let Err(e) = self.directory.record_audit(self.now, event).await {
            match self.actor.surface {
                Surface::AdminApi | Surface::Account | Surface::Registration => {
                    tracing::error!(error = %e, kind = kind.as_str(), "cannot record audit event")
                }
                // The CLI's management commands run without a log subscriber: the operator reads stderr.
                Surface::Cli => eprintln!("warning: cannot record audit event: {e}"),
            }
        }
    }

    /// The time now, read again: for a rule that needs a time after a change it just made (the
    /// change's own time, `now`, was read before it).
    fn clock(&self) -> i64 {
        match self.server {
            Some(app) => app.now(),
            None => chrono::Utc::now().timestamp(),
        }
    }

    /// Picks up a key change in the running server's ring (nothing to do outside the server).
    async fn keys_changed(&self) -> Result<(), KeyError> {
        match self.server {
            Some(app) => app.maintain_keys().await,
            None => Ok(()),
        }
    }
}

/// What an operation did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Client(String),
    User(String),
    Role(String),
    /// The user has no direct grant of the role.
    Grant {
        user: String,
        role: String,
    },
    Mapping(String),
    /// No live SSO session with this id.
    Session(String),
    /// No initial access token with this id.
    InitialToken(String),
    /// The user has allowed the client nothing.
    Consent {
        user: String,
        client: String,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Client(id) => write!(f, "no client {id:?}"),
            Missing::User(id) => write!(f, "no user {id:?}"),
            Missing::Role(name) => write!(f, "no role {name:?}"),
            Missing::Grant { role, .. } => write!(f, "user has no direct grant of {role:?}"),
            Missing::Mapping(id) => write!(f, "no mapping {id:?}"),
            Missing::Session(_) => write!(f, "no such live session"),
            Missing::InitialToken(id) => write!(f, "no initial access token {id:?}"),
            Missing::Consent { client, .. } => write!(f, "no consent given to client {client:?}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0}")]
    NotFound(Missing),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

fn not_found(missing: Missing) -> ManageError {
    ManageError::NotFound(missing)
}
