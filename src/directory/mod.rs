//! The SQL directory (sea-orm): users, clients, signing keys and consents. SQLite by default,
//! PostgreSQL in production; the same entities and migrations serve both.

pub mod audit;
pub mod bounded;
pub mod client_keys;
pub mod client_metadata;
pub mod clients;
pub mod consents;
pub mod entities;
pub mod registration;
pub mod roles;
pub mod signing_keys;
pub mod users;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DbBackend, DbErr, SqlErr};
use sea_orm_migration::MigratorTrait;

use crate::cache::TtlCache;
use crate::config::DatabaseConfig;

pub use bounded::{AbandonedCalls, BoundedConnection, BoundedTransaction};
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

#[derive(Clone)]
pub struct Directory {
    /// Every call bounded by `database.statement_timeout_ms` (`bounded.rs`).
    db: BoundedConnection,
    /// PostgreSQL: how `migrate` opens its own connection, without the bound and the server-side
    /// timeouts (`None` on SQLite, where migrations use the pool).
    migration_options: Option<ConnectOptions>,
    /// Clients and users as the hot endpoints read them (`client_cached`, `user_cached`); off
    /// unless `with_cache` turns it on. Writes through this `Directory` invalidate at once.
    cached_clients: Arc<TtlCache<String, Arc<Client>>>,
    cached_users: Arc<TtlCache<String, Arc<User>>>,
    /// The origins of every registered redirect URI (CORS), one entry under `()`.
    cached_origins: Arc<TtlCache<(), Arc<HashSet<String>>>>,
    /// Which client stands for each registered API (RFC 8707 resource URI → client id), one entry
    /// under `()`.
    cached_resources: Arc<TtlCache<(), Arc<HashMap<String, String>>>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("db", &self.db).finish_non_exhaustive()
    }
}

/// Entries per cache: far more clients than any deployment registers; users beyond this just
/// miss and are read from SQL.
const CACHE_CAPACITY: usize = 10_000;

/// SQLite checkpoints its write-ahead log into the database file once the log holds this many pages
/// (4 KiB each: the log file grows to ~40 MiB). SQLite's default is 1 000. A grant rewrites the same
/// index pages commit after commit, and a checkpoint copies each page once however often the log
/// holds it, with one `fsync` per checkpoint: ten times the default made the SQLite code grant
/// ~8 % faster in nine A/B pairs (docs/benchmarks.md, the run of 2026-11-29 18:31 UTC).
const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// `database.statement_timeout_ms` by default: the "503 within about 2 s" of docs/ha.md.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_millis(2000);

/// `text` for a SQL `LIKE` pattern with a backslash as the escape character: `%` and `_` (and the escape
/// itself) match only themselves. Ids are URL-safe base64, which contains `_`: unescaped, a prefix
/// match on one family's id also matched another's.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it in `Origin`.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

impl Directory {
    /// Connects (creating the SQLite file's folder when needed), with every call bounded by
    /// [`DEFAULT_STATEMENT_TIMEOUT`]. Migrations are run by [`migrate`](Self::migrate).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Directory, DirectoryError> {
        Directory::connect_bounded(url, max_connections, connect_timeout, DEFAULT_STATEMENT_TIMEOUT).await
    }

    /// Connects as `database` configures it: its pool size and its connect and statement bounds
    /// (see [`connect_bounded`](Self::connect_bounded)). Migrations are run by [`migrate`](Self::migrate).
    pub async fn connect_configured(database: &DatabaseConfig) -> Result<Directory, DirectoryError> {
        Directory::connect_bounded(
            &database.url,
            database.max_connections,
            Duration::from_millis(database.connect_timeout_ms),
            Duration::from_millis(database.statement_timeout_ms),
        )
        .await
    }

    /// Connects with every SQL call — waiting for a pooled connection included — bounded by
    /// `statement_timeout` (`database.statement_timeout_ms`): a database that stops answering
    /// gives an error within it, never a hang. PostgreSQL also cancels a statement running longer
    /// on its side, and ends a session left idle inside a transaction that long.
    pub async fn connect_bounded(
        url: &str,
        max_connections: u32,
        connect_timeout: Duration,
        statement_timeout: Duration,
    ) -> Result<Directory, DirectoryError> {
        if let Some(path) = sqlite_file(url)
            && let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DirectoryError::Invalid(format!("cannot create {}: {e}", parent.display())))?;
        }
        let options = connect_options(url, max_connections, connect_timeout);
        let mut pool_options = options.clone();
        // The server-side half of the bound, sent as startup options (`-c name=value`). A
        // statement that the client stopped waiting for is cancelled by the server instead of
        // running on and holding its connection; a session whose client vanished in the middle of
        // a transaction (a partition) is ended, releasing its row locks for the other instances.
        // Both at the bound: no statement on a request path may take longer, and no transaction
        // here waits for anything but its own statements.
        let millis = statement_timeout.as_millis().to_string();
        pool_options.map_sqlx_postgres_opts(move |o| {
            o.options([
                ("statement_timeout", millis.as_str()),
                ("idle_in_transaction_session_timeout", millis.as_str()),
            ])
        });
        // The release check of bounded.rs: a connection released soon after a call was
        // abandoned is pinged by us first, so that a failure closes it with `Terminate` rather
        // than sqlx's hard close, which can wait forever over TLS.
        let abandoned = AbandonedCalls::default();
        let recent = abandoned.clone();
        pool_options.map_sqlx_postgres_pool_opts(move |o| {
            let recent = recent.clone();
            o.after_release(move |conn, _| {
                let check = recent.recent();
                Box::pin(async move { Ok(!check || sqlx::Connection::ping(conn).await.is_ok()) })
            })
        });
        let db = Database::connect(pool_options).await?;
        let migration_options = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            let mut migration = options;
            migration.max_connections(1);
            migration
        });
        Ok(Directory {
            db: BoundedConnection::new(db, statement_timeout, abandoned),
            migration_options,
            cached_clients: Arc::new(TtlCache::new(Duration::ZERO, CACHE_CAPACITY)),
            cached_users: Arc::new(TtlCache::new(Duration::ZERO, CACHE_CAPACITY)),
            cached_origins: Arc::new(TtlCache::new(Duration::ZERO, 1)),
            cached_resources: Arc::new(TtlCache::new(Duration::ZERO, 1)),
        })
    }

    /// Caches clients and users read on the hot paths for `ttl` (`database.cache_ttl_secs`):
    /// a change made through another instance is seen within `ttl`.
    pub fn with_cache(mut self, ttl: Duration) -> Directory {
        self.cached_clients = Arc::new(TtlCache::new(ttl, CACHE_CAPACITY));
        self.cached_users = Arc::new(TtlCache::new(ttl, CACHE_CAPACITY));
        self.cached_origins = Arc::new(TtlCache::new(ttl, 1));
        self.cached_resources = Arc::new(TtlCache::new(ttl, 1));
        self
    }

    /// A client as the protocol endpoints see it: from the cache when fresh.
    pub async fn client_cached(&self, id: &str) -> Result<Option<Arc<Client>>, DirectoryError> {
        self.cached_clients.get_or_load(id, || async { Ok(self.client(id).await?.map(Arc::new)) }).await
    }

    /// A user as the protocol endpoints see it: from the cache when fresh.
    pub async fn user_cached(&self, id: &str) -> Result<Option<Arc<User>>, DirectoryError> {
        self.cached_users.get_or_load(id, || async { Ok(self.user(id).await?.map(Arc::new)) }).await
    }

    /// The origins (`scheme://host[:port]`) of all registered redirect URIs: the browser origins
    /// CORS lets in. From the cache when fresh; a client change through this instance applies at once.
    pub async fn registered_origins(&self) -> Result<Arc<HashSet<String>>, DirectoryError> {
        let load = || async {
            let clients = self.list_clients().await?;
            let origins = clients.iter().flat_map(|c| c.redirect_uris.iter()).filter_map(|uri| origin_of(uri));
            Ok::<_, DirectoryError>(Some(Arc::new(origins.collect())))
        };
        Ok(self.cached_origins.get_or_load(&(), load).await?.unwrap_or_default())
    }

    /// The resource server standing for the API `resource_uri` names (RFC 8707), as the token
    /// endpoint sees it: from the caches when fresh, so a client credentials grant costs no
    /// database round trip beyond the client's own.
    pub async fn resource_server_cached(&self, resource_uri: &str) -> Result<Option<Arc<Client>>, DirectoryError> {
        let load = || async {
            let clients = self.list_clients().await?;
            let apis = clients.into_iter().filter_map(|c| Some((c.resource_uri?, c.id)));
            Ok::<_, DirectoryError>(Some(Arc::new(apis.collect())))
        };
        let apis = self.cached_resources.get_or_load(&(), load).await?.unwrap_or_default();
        match apis.get(resource_uri) {
            Some(id) => self.client_cached(id).await,
            None => Ok(None),
        }
    }

    pub(crate) fn client_changed(&self, id: &str) {
        self.cached_clients.invalidate(id);
        self.cached_origins.invalidate(&());
        self.cached_resources.invalidate(&());
    }

    pub(crate) fn user_changed(&self, id: &str) {
        self.cached_users.invalidate(id);
    }

    /// Runs pending migrations. They are exempt from the statement bound: they run at start-up
    /// (or from `migrate`), before any request, and building an index on a large table may take
    /// longer. On PostgreSQL they use a connection of their own, without the server-side timeouts.
    pub async fn migrate(&self) -> Result<(), DirectoryError> {
        match &self.migration_options {
            Some(options) => {
                let db = Database::connect(options.clone()).await?;
                let migrated = crate::migrations::Migrator::up(&db, None).await;
                let _ = db.close().await;
                migrated?;
            }
            None => crate::migrations::Migrator::up(self.db.unbounded(), None).await?,
        }
        Ok(())
    }

    /// The pool, every call bounded (`database.statement_timeout_ms`).
    pub fn connection(&self) -> &BoundedConnection {
        &self.db
    }
}

/// The pool's options for `url`, before the statement bound.
fn connect_options(url: &str, max_connections: u32, connect_timeout: Duration) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections)
        .connect_timeout(connect_timeout)
        // Waiting for a pooled connection (a new one included) is bounded too: under a partition
        // the pool's connections are held by abandoned calls (`bounded.rs`), and new ones connect
        // but never finish their handshake.
        .acquire_timeout(connect_timeout)
        // No ping before every query on the hot path: a connection broken by an outage fails
        // its next query (503) and is replaced.
        .test_before_acquire(false)
        .sqlx_logging(false)
        // SQLite (the embedded default): write-ahead log, and fsync at checkpoints rather than at
        // every commit. The default rollback journal fsyncs several times per commit, which held
        // the token endpoint to ~100 grants/s on SQLite (docs/benchmarks.md). A power loss may lose
        // the last commits (never corrupt the file); a process crash loses nothing.
        //
        // One page cache shared by the pool's connections: with a private cache per connection,
        // every commit made the other connections drop their whole cache and read the pages
        // again (`pread`), and nearly every statement ran on a connection whose cache another
        // had just invalidated. Shared, the SQLite code grant ran 10–16 % faster in A/B pairs
        // (docs/benchmarks.md, the run of 2026-11-30 00:06 UTC). Within the process, locking
        // becomes per table: a connection that finds a table locked waits for its release
        // (sqlx's unlock-notify), so transactions that write take their write lock first.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .shared_cache(true)
                .pragma("wal_autocheckpoint", SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string())
        });
    options
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
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like(r"a_b%c\d"), r"a\_b\%c\\d");
    }

    #[test]
    fn sqlite_file_paths() {
        assert_eq!(super::sqlite_file("sqlite://data/x.db?mode=rwc").as_deref(), Some("data/x.db"));
        assert_eq!(super::sqlite_file("sqlite::memory:"), None);
        assert_eq!(super::sqlite_file("postgres://h/db"), None);
    }

    /// A pooled SQLite connection (sqlx applies these on each connect) writes ahead, fsyncs at
    /// checkpoints only, and checkpoints every `SQLITE_WAL_AUTOCHECKPOINT_PAGES` pages (SQLite's
    /// defaults: rollback journal, FULL, 1 000).
    #[tokio::test]
    async fn sqlite_connections_use_the_write_ahead_log_settings() {
        use sea_orm::{ConnectionTrait, Statement};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("settings.db").display());
        let directory = super::Directory::connect(&url, 2, std::time::Duration::from_secs(5)).await.unwrap();
        let db = directory.connection();
        let pragma = async |name: &str| -> String {
            let row = db
                .query_one_raw(Statement::from_string(db.get_database_backend(), format!("PRAGMA {name}")))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode").await, "wal");
        // 1 = NORMAL
        assert_eq!(pragma("synchronous").await, "1");
        assert_eq!(pragma("wal_autocheckpoint").await, super::SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string());
    }
}
