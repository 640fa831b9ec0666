//! Audit events: who did what, when, to whom. Never secrets.

use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::Serialize;

use super::entities::audit_event;
use super::{Directory, DirectoryError};

/// What happened. Each kind is stored (and shown by the admin API and `dingtalk-oidc audit`) as
/// the text [`AuditKind::as_str`] gives, which must never change for an existing kind: stored rows
/// and queries by kind depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    // Sign-in and sign-out.
    Login,
    Logout,
    CodeReplayDetected,
    RefreshReuseDetected,
    UserSessionsRevoked,
    // Clients.
    ClientCreated,
    ClientUpdated,
    ClientDeleted,
    ClientSecretRotated,
    // Dynamic client registration (RFC 7591).
    InitialTokenIssued,
    InitialTokenRevoked,
    // Users.
    UserDisabled,
    UserEnabled,
    // Roles, grants and mapping rules.
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    RoleGranted,
    RoleGrantRevoked,
    MappingCreated,
    MappingUpdated,
    MappingDeleted,
    // SSO sessions.
    SessionsRevoked,
    SessionRevoked,
    // Consent.
    ConsentWithdrawn,
    // Signing keys.
    KeyRotated,
    KeyRevoked,
    KeyImported,
    KeysRewrapped,
}

impl AuditKind {
    /// Every kind, for tests that check the texts are distinct.
    pub const ALL: [AuditKind; 28] = [
        AuditKind::Login,
        AuditKind::Logout,
        AuditKind::CodeReplayDetected,
        AuditKind::RefreshReuseDetected,
        AuditKind::UserSessionsRevoked,
        AuditKind::ClientCreated,
        AuditKind::ClientUpdated,
        AuditKind::ClientDeleted,
        AuditKind::ClientSecretRotated,
        AuditKind::InitialTokenIssued,
        AuditKind::InitialTokenRevoked,
        AuditKind::UserDisabled,
        AuditKind::UserEnabled,
        AuditKind::RoleCreated,
        AuditKind::RoleUpdated,
        AuditKind::RoleDeleted,
        AuditKind::RoleGranted,
        AuditKind::RoleGrantRevoked,
        AuditKind::MappingCreated,
        AuditKind::MappingUpdated,
        AuditKind::MappingDeleted,
        AuditKind::SessionsRevoked,
        AuditKind::SessionRevoked,
        AuditKind::ConsentWithdrawn,
        AuditKind::KeyRotated,
        AuditKind::KeyRevoked,
        AuditKind::KeyImported,
        AuditKind::KeysRewrapped,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::Logout => "logout",
            AuditKind::CodeReplayDetected => "code_replay_detected",
            AuditKind::RefreshReuseDetected => "refresh_reuse_detected",
            AuditKind::UserSessionsRevoked => "user_sessions_revoked",
            AuditKind::ClientCreated => "client_created",
            AuditKind::ClientUpdated => "client_updated",
            AuditKind::ClientDeleted => "client_deleted",
            AuditKind::ClientSecretRotated => "client_secret_rotated",
            AuditKind::InitialTokenIssued => "initial_token_issued",
            AuditKind::InitialTokenRevoked => "initial_token_revoked",
            AuditKind::UserDisabled => "user_disabled",
            AuditKind::UserEnabled => "user_enabled",
            AuditKind::RoleCreated => "role_created",
            AuditKind::RoleUpdated => "role_updated",
            AuditKind::RoleDeleted => "role_deleted",
            AuditKind::RoleGranted => "role_granted",
            AuditKind::RoleGrantRevoked => "role_grant_revoked",
            AuditKind::MappingCreated => "mapping_created",
            AuditKind::MappingUpdated => "mapping_updated",
            AuditKind::MappingDeleted => "mapping_deleted",
            AuditKind::SessionsRevoked => "sessions_revoked",
            AuditKind::SessionRevoked => "session_revoked",
            AuditKind::ConsentWithdrawn => "consent_withdrawn",
            AuditKind::KeyRotated => "key_rotated",
            AuditKind::KeyRevoked => "key_revoked",
            AuditKind::KeyImported => "key_imported",
            AuditKind::KeysRewrapped => "keys_rewrapped",
        }
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub detail: serde_json::Value,
}

impl Directory {
    pub async fn record_audit(&self, at: i64, event: AuditEvent) -> Result<(), DirectoryError> {
        let model = audit_event::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            at: Set(at),
            kind: Set(event.kind.as_str().to_string()),
            actor: Set(event.actor),
            subject: Set(event.subject),
            client_id: Set(event.client_id),
            detail: Set(event.detail.to_string()),
        };
        audit_event::Entity::insert(model).exec_without_returning(&self.db).await?;
        Ok(())
    }

    /// Events of one kind, newest first (the admin API's query grows from this).
    pub async fn audit_events_of_kind(&self, kind: &str) -> Result<Vec<audit_event::Model>, DirectoryError> {
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
        Ok(audit_event::Entity::find()
            .filter(audit_event::Column::Kind.eq(kind))
            .order_by_desc(audit_event::Column::At)
            .all(&self.db)
            .await?)
    }
}

/// What to look for in the audit log; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u64,
    /// How many of the matching events (newest first) to skip: the console's pages.
    pub offset: u64,
}

impl Directory {
    pub async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<audit_event::Model>, DirectoryError> {
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
        let mut query = audit_event::Entity::find();
        if let Some(kind) = &q.kind {
            query = query.filter(audit_event::Column::Kind.eq(kind.as_str()));
        }
        if let Some(actor) = &q.actor {
            query = query.filter(audit_event::Column::Actor.eq(actor.as_str()));
        }
        if let Some(subject) = &q.subject {
            query = query.filter(audit_event::Column::Subject.eq(subject.as_str()));
        }
        if let Some(since) = q.since {
            query = query.filter(audit_event::Column::At.gte(since));
        }
        if let Some(until) = q.until {
            query = query.filter(audit_event::Column::At.lte(until));
        }
        // Newest first; the id orders events of the same second, so that pages neither repeat nor skip one.
        let query = query.order_by_desc(audit_event::Column::At).order_by_desc(audit_event::Column::Id);
        Ok(query.offset(q.offset).limit(q.limit).all(&self.db).await?)
    }

    /// How many events of `kind` each hour since `since` had, counted by the database (the
    /// console's dashboard): `(hour's start, count)`, oldest first, hours without one left out.
    pub async fn audit_counts_by_hour(&self, kind: AuditKind, since: i64) -> Result<Vec<(i64, u64)>, DirectoryError> {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait};
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
        let hour = Expr::col(audit_event::Column::At).div(3600);
        let rows: Vec<(i64, i64)> = audit_event::Entity::find()
            .select_only()
            .column_as(hour, "hour")
            .column_as(Expr::col(audit_event::Column::Id).count(), "events")
            .filter(audit_event::Column::Kind.eq(kind.as_str()))
            .filter(audit_event::Column::At.gte(since))
            // By the output column's name: PostgreSQL takes `at / $1` and `at / $2` for two
            // different expressions.
            .group_by(Expr::col(Alias::new("hour")))
            .order_by_asc(Expr::col(Alias::new("hour")))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|(hour, n)| (hour * 3600, u64::try_from(n).unwrap_or(0))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::AuditKind;

    #[test]
    fn every_kind_has_its_own_text() {
        let mut texts: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), AuditKind::ALL.len());
    }
}
