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
