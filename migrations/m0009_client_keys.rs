//! Client keys for `private_key_jwt` (OIDC Core §9, RFC 7523): a client's public JWK Set,
//! registered inline (`jwks`, JSON text) or by URI (`jwks_uri`). NULL both: the client
//! authenticates with a secret (or, public, not at all).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Jwks,
    JwksUri,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds a single column at a time.
        for column in [text_null(Clients::Jwks), string_null(Clients::JwksUri)] {
            manager.alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Clients::Jwks, Clients::JwksUri] {
            manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
