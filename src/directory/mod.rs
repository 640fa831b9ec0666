//! The SQL directory (sea-orm): users, clients, signing keys and consents. SQLite by default,
//! PostgreSQL in production; the same entities and migrations serve both.

pub mod audit;
pub mod clients;
pub mod consents;
pub mod entities;
pub mod roles;
pub mod signing_keys;
pub mod users;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};
use sea_orm_migration::MigratorTrait;

pub use clients::{Client, ClientUpdate, NewClient};
pub use users::User;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl DirectoryError {
    /// A unique-constraint violation becomes a typed conflict naming what collided.
    pub(crate) fn from_write(err: DbErr, what: &str) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => DirectoryError::Conflict(what.to_string()),
            _ => DirectoryError::Db(err),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Directory {
    db: DatabaseConnection,
}

impl Directory {
    /// Connects (creating the SQLite file's folder when needed) and runs pending migrations.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Directory, DirectoryError> {
        if let Some(path) = sqlite_file(url)
            && let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DirectoryError::Invalid(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut options = ConnectOptions::new(url.to_string());
        options
            .max_connections(max_connections)
            .connect_timeout(connect_timeout)
            .acquire_timeout(connect_timeout)
            // No ping before every query on the hot path: a connection broken by an outage fails
            // its next query (503) and is replaced.
            .test_before_acquire(false)
            .sqlx_logging(false);
        let db = Database::connect(options).await?;
        Ok(Directory { db })
    }

    pub async fn migrate(&self) -> Result<(), DirectoryError> {
        crate::migrations::Migrator::up(&self.db, None).await?;
        Ok(())
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// The file path of a `sqlite://` URL, if it names a file.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, DirectoryError> {
    serde_json::from_str(text).map_err(|e| DirectoryError::Corrupt(format!("{what}: {e}")))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_file_paths() {
        assert_eq!(super::sqlite_file("sqlite://data/x.db?mode=rwc").as_deref(), Some("data/x.db"));
        assert_eq!(super::sqlite_file("sqlite::memory:"), None);
        assert_eq!(super::sqlite_file("postgres://h/db"), None);
    }
}
