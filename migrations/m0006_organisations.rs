//! Several DingTalk organisations behind one issuer (docs/dingtalk-app.md, "Several
//! organisations"):
//!
//! - `users.org_id`: the organisation (its corp id) a user signs in through. DingTalk's `unionId`
//!   is unique per developer account, and each organisation's internal app is its own developer
//!   account, so one person has one identity per organisation and the unique key becomes
//!   `(org_id, union_id)` (docs/dingtalk-api.md §11).
//! - `role_mappings.org_id`: a mapping rule matches DingTalk department and role ids, which are
//!   per organisation, so each rule belongs to one.
//! - `departments` (a cache of department names) is keyed by organisation and id, since each
//!   organisation numbers its departments from 1; being a cache, it is recreated empty.
//! - `clients.organisations`: the organisations whose users a client accepts (JSON list; empty =
//!   the first configured organisation only).
//!
//! Existing rows get `org_id = ''`, "not yet assigned": at start-up the provider gives them to
//! its first configured organisation (`Directory::adopt_unassigned`), so a single-organisation
//! deployment keeps every user's `sub` and every rule. `down` restores nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    OrgId,
    UnionId,
}

#[derive(DeriveIden)]
enum RoleMappings {
    Table,
    OrgId,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    OrgId,
    Id,
    Name,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Organisations,
}

const USERS_BY_ORG_AND_UNION_ID: &str = "idx_users_org_union_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_unique_union_id(manager).await?;
        let additions = [
            (Users::Table.into_iden(), string(Users::OrgId).default("").to_owned()),
            (RoleMappings::Table.into_iden(), string(RoleMappings::OrgId).default("").to_owned()),
            (Clients::Table.into_iden(), text(Clients::Organisations).default("[]").to_owned()),
        ];
        for (table, column) in additions {
            manager.alter_table(Table::alter().table(table).add_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(Departments::Table).if_exists().to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(Departments::Table)
                    .col(string(Departments::OrgId))
                    .col(big_integer(Departments::Id))
                    .col(string(Departments::Name))
                    .col(big_integer(Departments::UpdatedAt))
                    .primary_key(Index::create().col(Departments::OrgId).col(Departments::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(USERS_BY_ORG_AND_UNION_ID)
                    .table(Users::Table)
                    .col(Users::OrgId)
                    .col(Users::UnionId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// `users.union_id` was declared `UNIQUE` on the column (m0001). PostgreSQL drops the constraint;
/// SQLite cannot drop a column constraint, so the table is rebuilt from its own definition
/// without it (no other table references `users`, and it has no other index).
async fn drop_unique_union_id(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Postgres => {
            // By what it is (a one-column unique constraint on union_id), not by the name PostgreSQL
            // gave it (`users_union_id_key` by default).
            db.execute_unprepared(
                "DO $$ DECLARE c text; BEGIN \
                   FOR c IN SELECT con.conname FROM pg_constraint con \
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey) \
                     WHERE con.conrelid = 'users'::regclass AND con.contype = 'u' \
                       AND a.attname = 'union_id' AND array_length(con.conkey, 1) = 1 \
                   LOOP EXECUTE format('ALTER TABLE users DROP CONSTRAINT %I', c); END LOOP; \
                 END $$",
            )
            .await?;
        }
        DbBackend::Sqlite => {
            let row = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'",
                ))
                .await?
                .ok_or_else(|| DbErr::Migration("table users is missing".into()))?;
            let definition: String = row.try_get("", "sql")?;
            let rebuilt = definition_without_unique_union_id(&definition)
                .ok_or_else(|| DbErr::Migration(format!("unexpected definition of users: {definition}")))?;
            db.execute_unprepared(&rebuilt).await?;
            db.execute_unprepared("INSERT INTO users_rebuilt SELECT * FROM users").await?;
            db.execute_unprepared("DROP TABLE users").await?;
            db.execute_unprepared("ALTER TABLE users_rebuilt RENAME TO users").await?;
        }
        other => return Err(DbErr::Migration(format!("unsupported database {other:?}"))),
    }
    Ok(())
}

/// The SQLite definition of `users` renamed to `users_rebuilt`, with the `UNIQUE` of the
/// `union_id` column (and only that one) removed; `None` if the definition is not the expected one.
fn definition_without_unique_union_id(definition: &str) -> Option<String> {
    let start = definition.find("\"union_id\"")?;
    let end = start + definition[start..].find(',')?;
    let column = &definition[start..end];
    if !column.contains(" UNIQUE") {
        return None;
    }
    let column = column.replacen(" UNIQUE", "", 1);
    let rest = format!("{}{}{}", &definition[..start], column, &definition[end..]);
    let renamed = rest.replacen("\"users\"", "\"users_rebuilt\"", 1);
    (renamed != rest).then_some(renamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_union_id_column_loses_unique() {
        let before = r#"CREATE TABLE "users" ( "id" varchar NOT NULL PRIMARY KEY, "union_id" varchar NOT NULL UNIQUE, "email" varchar UNIQUE )"#;
        assert_eq!(
            definition_without_unique_union_id(before).unwrap(),
            r#"CREATE TABLE "users_rebuilt" ( "id" varchar NOT NULL PRIMARY KEY, "union_id" varchar NOT NULL, "email" varchar UNIQUE )"#
        );
        assert!(
            definition_without_unique_union_id(r#"CREATE TABLE "users" ( "union_id" varchar, "x" int )"#).is_none()
        );
    }
}
