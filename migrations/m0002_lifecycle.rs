//! Token lifecycle: per-client refresh and logout settings, audit events, and the durable
//! back-channel logout queue of the SQL SessionStore.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    GrantTypes,
    BackchannelLogoutUri,
    BackchannelLogoutSessionRequired,
    ResourceServer,
    RefreshIdleTtlSecs,
    RefreshAbsoluteTtlSecs,
    IdTokenOnRefresh,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Kind,
    Actor,
    Subject,
    ClientId,
    Detail,
}

#[derive(DeriveIden)]
enum LogoutDeliveries {
    Table,
    Id,
    DueAt,
    Attempts,
    Payload,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds a single column at a time.
        let columns = [
            text(Clients::GrantTypes).default("[\"authorization_code\",\"refresh_token\"]").to_owned(),
            text_null(Clients::BackchannelLogoutUri).to_owned(),
            boolean(Clients::BackchannelLogoutSessionRequired).default(true).to_owned(),
            boolean(Clients::ResourceServer).default(false).to_owned(),
            big_integer_null(Clients::RefreshIdleTtlSecs).to_owned(),
            big_integer_null(Clients::RefreshAbsoluteTtlSecs).to_owned(),
            boolean(Clients::IdTokenOnRefresh).default(true).to_owned(),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(string(AuditEvents::Id).primary_key())
                    .col(big_integer(AuditEvents::At))
                    .col(string(AuditEvents::Kind))
                    .col(string_null(AuditEvents::Actor))
                    .col(string_null(AuditEvents::Subject))
                    .col(string_null(AuditEvents::ClientId))
                    .col(text(AuditEvents::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_audit_events_at")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogoutDeliveries::Table)
                    .if_not_exists()
                    .col(string(LogoutDeliveries::Id).primary_key())
                    .col(big_integer(LogoutDeliveries::DueAt))
                    .col(integer(LogoutDeliveries::Attempts))
                    .col(text(LogoutDeliveries::Payload))
                    .col(big_integer(LogoutDeliveries::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_logout_deliveries_due_at")
                    .table(LogoutDeliveries::Table)
                    .col(LogoutDeliveries::DueAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LogoutDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await?;
        for column in [
            Clients::GrantTypes.into_iden(),
            Clients::BackchannelLogoutUri.into_iden(),
            Clients::BackchannelLogoutSessionRequired.into_iden(),
            Clients::ResourceServer.into_iden(),
            Clients::RefreshIdleTtlSecs.into_iden(),
            Clients::RefreshAbsoluteTtlSecs.into_iden(),
            Clients::IdTokenOnRefresh.into_iden(),
        ] {
            manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
