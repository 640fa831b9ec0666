//! Pushed authorization requests (RFC 9126 §6): a client registered with
//! `require_pushed_authorization_requests` may start an authorization only with a `request_uri`
//! it obtained from the pushed authorization request endpoint. Default false.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequirePushedAuthorizationRequests,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = boolean(Clients::RequirePushedAuthorizationRequests).default(false).to_owned();
        manager.alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = Clients::RequirePushedAuthorizationRequests;
        manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await
    }
}
