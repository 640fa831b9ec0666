//! Audit events: who did what, when, to whom. Never secrets.

use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::Serialize;

use super::entities::audit_event;
use super::{Directory, DirectoryError};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEvent {
    pub kind: String,
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
            kind: Set(event.kind),
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
        Ok(query.order_by_desc(audit_event::Column::At).limit(q.limit).all(&self.db).await?)
    }
}
