//! Schema migrations, run by `dingtalk-oidc migrate` and at every start. The same migrations run on
//! SQLite and PostgreSQL: times are Unix seconds (BIGINT) and structured values JSON text, so no
//! column type differs between the two.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_lifecycle;
mod m0003_roles;
mod m0004_token_lifetimes;
mod m0005_retire_legacy_session_records;
mod m0006_organisations;
mod m0007_resource_servers;
mod m0008_pushed_authorization_requests;
mod m0009_client_keys;
mod m0010_client_registration;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_lifecycle::Migration),
            Box::new(m0003_roles::Migration),
            Box::new(m0004_token_lifetimes::Migration),
            Box::new(m0005_retire_legacy_session_records::Migration),
            Box::new(m0006_organisations::Migration),
            Box::new(m0007_resource_servers::Migration),
            Box::new(m0008_pushed_authorization_requests::Migration),
            Box::new(m0009_client_keys::Migration),
            Box::new(m0010_client_registration::Migration),
        ]
    }
}
