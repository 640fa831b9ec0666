//! Dynamic client registration (RFC 7591, RFC 7592): the initial access tokens admins issue
//! (`initial_access_tokens`, kept as SHA-256 hashes), and each registered client's registration
//! access token (`clients.registration_token_hash`, NULL for clients an admin registered).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    RegistrationTokenHash,
}

#[derive(DeriveIden)]
enum InitialAccessTokens {
    Table,
    Id,
    TokenHash,
    Description,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = string_null(Clients::RegistrationTokenHash);
        manager.alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(InitialAccessTokens::Table)
                    .if_not_exists()
                    .col(string(InitialAccessTokens::Id).primary_key())
                    .col(string_uniq(InitialAccessTokens::TokenHash))
                    .col(text(InitialAccessTokens::Description))
                    .col(big_integer(InitialAccessTokens::CreatedAt))
                    .col(big_integer(InitialAccessTokens::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(InitialAccessTokens::Table).to_owned()).await?;
        let column = Clients::RegistrationTokenHash;
        manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await
    }
}
