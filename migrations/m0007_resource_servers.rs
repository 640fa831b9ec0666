//! Resource servers (RFC 8707 resource indicators): a client may stand for an API, named by its
//! resource URI (`resource_uri`, the `aud` of the tokens issued for it) with the scopes the API
//! defines (`resource_scopes`, JSON list). NULL / empty: an ordinary client.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    ResourceUri,
    ResourceScopes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds a single column at a time.
        for column in [string_null(Clients::ResourceUri), text(Clients::ResourceScopes).default("[]").to_owned()] {
            manager.alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Clients::ResourceUri, Clients::ResourceScopes] {
            manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
