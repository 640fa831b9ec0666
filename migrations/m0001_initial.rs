//! Users, clients, signing keys, consents and the SQL SessionStore's records.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    UnionId,
    OpenId,
    Name,
    Email,
    Mobile,
    AvatarUrl,
    CorpId,
    DingtalkUserId,
    Title,
    DeptIds,
    OrgRoles,
    Admin,
    Active,
    Disabled,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
    LastUpstreamSyncAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Name,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    Public,
    FirstParty,
    AllowedScopes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    PrivateKeyEnc,
    KekId,
    PublicJwk,
    CreatedAt,
    ActivatesAt,
    RetiresAt,
    RemovedAt,
    Revoked,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scopes,
    GrantedAt,
}

#[derive(DeriveIden)]
enum SessionRecords {
    Table,
    Kind,
    Id,
    UserId,
    Value,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string(Users::Id).primary_key())
                    .col(string_uniq(Users::UnionId))
                    .col(string_null(Users::OpenId))
                    .col(string_null(Users::Name))
                    .col(string_null(Users::Email))
                    .col(string_null(Users::Mobile))
                    .col(text_null(Users::AvatarUrl))
                    .col(string_null(Users::CorpId))
                    .col(string_null(Users::DingtalkUserId))
                    .col(string_null(Users::Title))
                    .col(text(Users::DeptIds))
                    .col(text(Users::OrgRoles))
                    .col(boolean(Users::Admin))
                    .col(boolean(Users::Active))
                    .col(boolean(Users::Disabled))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer(Users::UpdatedAt))
                    .col(big_integer_null(Users::LastLoginAt))
                    .col(big_integer_null(Users::LastUpstreamSyncAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .if_not_exists()
                    .col(string(Clients::Id).primary_key())
                    .col(string(Clients::Name))
                    .col(string_null(Clients::SecretHash))
                    .col(text(Clients::RedirectUris))
                    .col(text(Clients::PostLogoutRedirectUris))
                    .col(boolean(Clients::Public))
                    .col(boolean(Clients::FirstParty))
                    .col(text(Clients::AllowedScopes))
                    .col(big_integer(Clients::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(string(SigningKeys::Kid).primary_key())
                    .col(string(SigningKeys::Alg))
                    .col(text(SigningKeys::PrivateKeyEnc))
                    .col(string(SigningKeys::KekId))
                    .col(text(SigningKeys::PublicJwk))
                    .col(big_integer(SigningKeys::CreatedAt))
                    .col(big_integer(SigningKeys::ActivatesAt))
                    .col(big_integer_null(SigningKeys::RetiresAt))
                    .col(big_integer_null(SigningKeys::RemovedAt))
                    .col(boolean(SigningKeys::Revoked))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .if_not_exists()
                    .col(string(Consents::UserId))
                    .col(string(Consents::ClientId))
                    .col(text(Consents::Scopes))
                    .col(big_integer(Consents::GrantedAt))
                    .primary_key(Index::create().col(Consents::UserId).col(Consents::ClientId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionRecords::Table)
                    .if_not_exists()
                    .col(string(SessionRecords::Kind))
                    .col(string(SessionRecords::Id))
                    .col(string_null(SessionRecords::UserId))
                    .col(text(SessionRecords::Value))
                    .col(big_integer(SessionRecords::ExpiresAt))
                    .primary_key(Index::create().col(SessionRecords::Kind).col(SessionRecords::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_session_records_expires_at")
                    .table(SessionRecords::Table)
                    .col(SessionRecords::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_session_records_user")
                    .table(SessionRecords::Table)
                    .col(SessionRecords::Kind)
                    .col(SessionRecords::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SessionRecords::Table.into_iden(),
            Consents::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Clients::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
