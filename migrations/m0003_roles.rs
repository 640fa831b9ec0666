//! Roles, direct grants, DingTalk-to-role mapping rules, cached department names, and the org data
//! a user's roles and groups derive from.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    DeptChains,
    LeaderDeptIds,
    Boss,
    EffectiveRoles,
    Groups,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    Role,
    GrantedAt,
}

#[derive(DeriveIden)]
enum RoleMappings {
    Table,
    Id,
    Role,
    Kind,
    Value,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
    Name,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            text(Users::DeptChains).default("[]").to_owned(),
            text(Users::LeaderDeptIds).default("[]").to_owned(),
            boolean(Users::Boss).default(false).to_owned(),
            text(Users::EffectiveRoles).default("[]").to_owned(),
            text(Users::Groups).default("[]").to_owned(),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table(Users::Table).add_column(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .if_not_exists()
                    .col(string(Roles::Name).primary_key())
                    .col(text(Roles::Description))
                    .col(big_integer(Roles::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .if_not_exists()
                    .col(string(UserRoles::UserId))
                    .col(string(UserRoles::Role))
                    .col(big_integer(UserRoles::GrantedAt))
                    .primary_key(Index::create().col(UserRoles::UserId).col(UserRoles::Role))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoleMappings::Table)
                    .if_not_exists()
                    .col(string(RoleMappings::Id).primary_key())
                    .col(string(RoleMappings::Role))
                    .col(string(RoleMappings::Kind))
                    .col(string_null(RoleMappings::Value))
                    .col(big_integer(RoleMappings::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Departments::Table)
                    .if_not_exists()
                    .col(big_integer(Departments::Id).primary_key())
                    .col(string(Departments::Name))
                    .col(big_integer(Departments::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Departments::Table.into_iden(),
            RoleMappings::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Roles::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for column in [
            Users::DeptChains.into_iden(),
            Users::LeaderDeptIds.into_iden(),
            Users::Boss.into_iden(),
            Users::EffectiveRoles.into_iden(),
            Users::Groups.into_iden(),
        ] {
            manager.alter_table(Table::alter().table(Users::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
