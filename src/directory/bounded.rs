//! Every SQL call bounded in time, at one place. sqlx sets no read timeout on its sockets: behind a
//! network partition (connections stay open, nothing answers) a statement waited until the
//! partition ended or TCP gave up, minutes later, while docs/ha.md promises a 503 within about 2 s.
//! [`BoundedConnection`] wraps the pool and [`BoundedTransaction`] its transactions; both implement
//! sea-orm's `ConnectionTrait` and `TransactionTrait`, so the directory and the SQL session store
//! run every statement, `BEGIN`, `COMMIT` and `ROLLBACK` through them unchanged, each within
//! `database.statement_timeout_ms` (waiting for a pooled connection included). A call that runs
//! out of time fails with a connection error, which the directory and the session store already
//! answer with 503.
//!
//! What a call abandoned mid-flight leaves behind (sea-orm 2.0, sqlx 0.9, read from their sources):
//!
//! - A statement on the pool: its future is dropped, and with it the pooled connection. sqlx never
//!   hands such a connection out again as it is: on release it pings it first, and the ping waits
//!   for every answer still owed to the abandoned statement (its `ReadyForQuery`) before sending
//!   its own. If the ping fails the connection is closed; while the partition lasts the ping waits,
//!   holding one of the pool's connections (so a long partition fills the pool, and waiting for a
//!   connection — bounded too — answers the 503). The statement itself was sent: it may still run
//!   when the partition heals, like any request whose answer was lost. Each statement is atomic
//!   on its own, so it runs whole or not at all.
//! - A statement in a transaction: dropping its future releases the transaction's connection; the
//!   caller then drops the transaction (the `?` after the error), and `DatabaseTransaction`'s
//!   `Drop` queues a `ROLLBACK` on the connection (sqlx `start_rollback`), which the release ping
//!   sends before its own. Whatever the transaction did is rolled back, never committed: the
//!   transaction is marked abandoned here, so a caller that ignored the error cannot commit it.
//!   Until the `ROLLBACK` arrives the server keeps the transaction and its row locks: PostgreSQL's
//!   `idle_in_transaction_session_timeout`, set to the same bound at connect (`mod.rs`), ends such a
//!   session on the server's side, so another instance is not blocked for the whole partition.
//! - `BEGIN` must not be abandoned: sqlx 0.9 counts a transaction only once `BEGIN` has answered,
//!   so a `BEGIN` dropped in flight queues no `ROLLBACK`, and its connection went back to the pool
//!   inside a transaction that nothing would end — the next statements on it never committed
//!   (sqlx issue #4393). `BEGIN` therefore runs in a task of its own: the caller stops waiting at
//!   the bound, the task goes on, and when `BEGIN` finally answers the transaction it opened is
//!   dropped unused, which rolls it back as above. `COMMIT` and `ROLLBACK` run the same way, so
//!   the transaction is never dropped while one of them holds its connection (sea-orm's `Drop`
//!   panics when it cannot take the connection to queue its rollback). A `COMMIT` that runs out of
//!   time has an unknown outcome — it was sent and may still be applied — as with any database.
//! - A connection whose abandoned statement ended in an error must be closed with `Terminate`, not
//!   hard. sqlx's release ping reads that error, fails, and closes the connection "hard": it
//!   shuts the socket down after a final flush. Over TLS (rustls, `sslmode=prefer` against a
//!   server with SSL on, the usual production set-up) that flush has nothing to write and waits to
//!   read instead, and the server, having sent everything, waits for the client: the connection
//!   and its slot in the pool were held forever (one statement past the bound, then every later
//!   call answered "pool timed out"). So on PostgreSQL a connection released shortly after a call
//!   was abandoned gets a ping of our own first (`after_release`, [`AbandonedCalls`]); if that
//!   fails, sqlx closes it gracefully: `Terminate` makes the server close its end, which ends the
//!   wait. Connections released at other times skip the extra round trip.
//! - Transactions do not nest: `BEGIN` inside a transaction (a savepoint) is refused. Nothing here
//!   uses savepoints, and a savepoint's `BEGIN` borrows the outer transaction, so it could not run
//!   on a task of its own.
//!
//! Migrations do not use this type: they run at start-up, may legitimately take long, and run on a
//! connection of their own (`Directory::migrate`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, RuntimeErr, Statement, TransactionError, TransactionOptions, TransactionSession, TransactionTrait,
};

/// The pool, with every call bounded by `bound`. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct BoundedConnection {
    inner: DatabaseConnection,
    bound: Duration,
    abandoned: AbandonedCalls,
}

/// When a call on the pool was last abandoned at the bound, for the release check of the module
/// comment: a connection released within [`AbandonedCalls::WINDOW`] of it is pinged before it goes
/// back to the pool. The abandoned connection is released at once (dropping the call spawns its
/// release), so the window only has to cover the time until that task runs.
#[derive(Clone, Debug)]
pub struct AbandonedCalls {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last abandonment, plus one (0: never).
    last: Arc<AtomicU64>,
}

impl Default for AbandonedCalls {
    fn default() -> Self {
        AbandonedCalls { epoch: Instant::now(), last: Arc::new(AtomicU64::new(0)) }
    }
}

impl AbandonedCalls {
    /// Generous: a release task waits only for the runtime to schedule it.
    pub const WINDOW: Duration = Duration::from_secs(10);

    fn now_millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// A call was just abandoned.
    pub fn record(&self) {
        self.last.store(self.now_millis(), Ordering::Relaxed);
    }

    /// Whether a call was abandoned within the window.
    pub fn recent(&self) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        last != 0 && self.now_millis().saturating_sub(last) <= Self::WINDOW.as_millis() as u64
    }
}

/// A transaction of a [`BoundedConnection`]; dropped without `commit`, it rolls back.
pub struct BoundedTransaction {
    inner: DatabaseTransaction,
    bound: Duration,
    abandoned_calls: AbandonedCalls,
    /// A call in this transaction ran out of time: what the server did with it is unknown, so the
    /// transaction may only roll back.
    abandoned: AtomicBool,
}

impl std::fmt::Debug for BoundedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedTransaction").field("bound", &self.bound).finish_non_exhaustive()
    }
}

fn timed_out(bound: Duration) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(format!("the database did not answer within {} ms", bound.as_millis())))
}

fn abandoned() -> DbErr {
    DbErr::Conn(RuntimeErr::Internal("the transaction was abandoned after a call ran out of time".into()))
}

/// `call`'s result, or a timeout error once `bound` has passed (dropping `call`, which is
/// recorded in `abandoned`).
async fn within<T>(
    bound: Duration,
    abandoned: &AbandonedCalls,
    call: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    tokio::time::timeout(bound, call).await.unwrap_or_else(|_| {
        abandoned.record();
        Err(timed_out(bound))
    })
}

/// Runs `call` on a task of its own and waits for it up to `bound`. Past the bound the task goes
/// on unobserved and its result is dropped when it finishes: `call` is never cut off mid-flight.
async fn detached<T: Send + 'static>(
    bound: Duration,
    call: impl Future<Output = Result<T, DbErr>> + Send + 'static,
) -> Result<T, DbErr> {
    match tokio::time::timeout(bound, tokio::spawn(call)).await {
        Ok(Ok(result)) => result,
        Ok(Err(failed)) => Err(DbErr::Conn(RuntimeErr::Internal(format!("database call failed: {failed}")))),
        Err(_) => Err(timed_out(bound)),
    }
}

impl BoundedConnection {
    /// `abandoned` is shared with the pool's release check (`Directory::connect_bounded`).
    pub fn new(inner: DatabaseConnection, bound: Duration, abandoned: AbandonedCalls) -> BoundedConnection {
        BoundedConnection { inner, bound, abandoned }
    }

    /// The bound on each call.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// The pool without the bound, for migrations only (see the module comment).
    pub(super) fn unbounded(&self) -> &DatabaseConnection {
        &self.inner
    }

    /// Whether the database answers, within the bound.
    pub async fn ping(&self) -> Result<(), DbErr> {
        within(self.bound, &self.abandoned, self.inner.ping()).await
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), DbErr> {
        within(self.bound, &self.abandoned, self.inner.close()).await
    }

    fn transaction_of(&self, inner: DatabaseTransaction) -> BoundedTransaction {
        BoundedTransaction {
            inner,
            bound: self.bound,
            abandoned_calls: self.abandoned.clone(),
            abandoned: AtomicBool::new(false),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for BoundedConnection {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        within(self.bound, &self.abandoned, self.inner.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        within(self.bound, &self.abandoned, self.inner.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        within(self.bound, &self.abandoned, self.inner.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        within(self.bound, &self.abandoned, self.inner.query_all_raw(stmt)).await
    }

    fn is_mock_connection(&self) -> bool {
        self.inner.is_mock_connection()
    }
}

#[async_trait::async_trait]
impl TransactionTrait for BoundedConnection {
    type Transaction = BoundedTransaction;

    async fn begin(&self) -> Result<BoundedTransaction, DbErr> {
        self.begin_with_options(TransactionOptions::default()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<BoundedTransaction, DbErr> {
        self.begin_with_options(TransactionOptions { isolation_level, access_mode, ..TransactionOptions::default() })
            .await
    }

    async fn begin_with_options(&self, options: TransactionOptions) -> Result<BoundedTransaction, DbErr> {
        let pool = self.inner.clone();
        let inner = detached(self.bound, async move { pool.begin_with_options(options).await }).await?;
        Ok(self.transaction_of(inner))
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c BoundedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.begin().await.map_err(TransactionError::Connection)?.run(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c BoundedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self.begin_with_config(isolation_level, access_mode).await.map_err(TransactionError::Connection)?;
        txn.run(callback).await
    }
}

impl BoundedTransaction {
    /// Commits, within the bound. A transaction in which a call ran out of time is rolled back
    /// instead, and the commit fails.
    pub async fn commit(self) -> Result<(), DbErr> {
        if self.abandoned.load(Ordering::SeqCst) {
            let bound = self.bound;
            let _ = detached(bound, self.inner.rollback()).await;
            return Err(abandoned());
        }
        detached(self.bound, self.inner.commit()).await
    }

    /// Rolls back, within the bound (past it, the rollback still happens when the database answers).
    pub async fn rollback(self) -> Result<(), DbErr> {
        detached(self.bound, self.inner.rollback()).await
    }

    /// A call inside the transaction: refused once the transaction is abandoned, and abandoning it
    /// when it runs out of time.
    async fn call<T>(&self, call: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        if self.abandoned.load(Ordering::SeqCst) {
            return Err(abandoned());
        }
        let result = tokio::time::timeout(self.bound, call).await;
        result.unwrap_or_else(|_| {
            self.abandoned.store(true, Ordering::SeqCst);
            self.abandoned_calls.record();
            Err(timed_out(self.bound))
        })
    }

    /// sea-orm's closure form: commit on `Ok`, roll back on `Err`.
    async fn run<F, T, E>(self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c BoundedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let result = callback(&self).await;
        match result {
            Ok(value) => {
                self.commit().await.map_err(TransactionError::Connection)?;
                Ok(value)
            }
            Err(e) => {
                self.rollback().await.map_err(TransactionError::Connection)?;
                Err(TransactionError::Transaction(e))
            }
        }
    }
}

/// Savepoints are not supported (see the module comment).
fn no_savepoints() -> DbErr {
    DbErr::Custom("nested transactions (savepoints) are not supported by the bounded connection".into())
}

#[async_trait::async_trait]
impl ConnectionTrait for BoundedTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.call(self.inner.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.call(self.inner.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.call(self.inner.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.call(self.inner.query_all_raw(stmt)).await
    }

    fn is_mock_connection(&self) -> bool {
        self.inner.is_mock_connection()
    }
}

#[async_trait::async_trait]
impl TransactionTrait for BoundedTransaction {
    type Transaction = BoundedTransaction;

    async fn begin(&self) -> Result<BoundedTransaction, DbErr> {
        Err(no_savepoints())
    }

    async fn begin_with_config(
        &self,
        _isolation_level: Option<IsolationLevel>,
        _access_mode: Option<AccessMode>,
    ) -> Result<BoundedTransaction, DbErr> {
        Err(no_savepoints())
    }

    async fn begin_with_options(&self, _options: TransactionOptions) -> Result<BoundedTransaction, DbErr> {
        Err(no_savepoints())
    }

    async fn transaction<F, T, E>(&self, _callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c BoundedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        Err(TransactionError::Connection(no_savepoints()))
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        _callback: F,
        _isolation_level: Option<IsolationLevel>,
        _access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c BoundedTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        Err(TransactionError::Connection(no_savepoints()))
    }
}

#[async_trait::async_trait]
impl TransactionSession for BoundedTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        BoundedTransaction::commit(self).await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        BoundedTransaction::rollback(self).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

    use crate::directory::Directory;

    /// A transaction in which a call ran out of time never commits, even when its caller ignores
    /// the error: the statement may still be running, so what the transaction holds is unknown.
    #[tokio::test]
    async fn a_transaction_whose_call_ran_out_of_time_never_commits() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("bounded.db").display());
        let bound = Duration::from_millis(100);
        let directory = Directory::connect_bounded(&url, 2, Duration::from_secs(5), bound).await.unwrap();
        let db = directory.connection();
        let backend = db.get_database_backend();
        db.execute_unprepared("CREATE TABLE probe (id INTEGER)").await.unwrap();

        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("INSERT INTO probe VALUES (1)").await.unwrap();
        // Counts to three million: far longer than the bound, and SQLite finishes it regardless.
        let slow = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000) \
                    SELECT COUNT(*) FROM n";
        let started = Instant::now();
        assert!(txn.query_one_raw(Statement::from_string(backend, slow)).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(1), "the slow statement took {:?}", started.elapsed());
        assert!(txn.execute_unprepared("INSERT INTO probe VALUES (2)").await.is_err(), "refused once abandoned");
        assert!(txn.commit().await.is_err(), "an abandoned transaction does not commit");

        // Once the slow statement is over and the transaction rolled back, nothing of it is there.
        let deadline = Instant::now() + Duration::from_secs(30);
        let count = loop {
            let sql = Statement::from_string(backend, "SELECT COUNT(*) FROM probe");
            match db.query_one_raw(sql).await {
                Ok(Some(row)) => break row.try_get_by_index::<i64>(0).unwrap(),
                other => assert!(Instant::now() < deadline, "probe never readable: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(count, 0);
    }
}
