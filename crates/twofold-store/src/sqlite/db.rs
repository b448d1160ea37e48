//! Connections to the SQLite file, and the few helpers every table module uses.
//!
//! Why not an async driver: an authentication runs a couple of dozen statements of a few
//! microseconds each. A driver that hands every statement to a connection thread and back
//! spends most of its time in the kernel switching threads (the profile in
//! docs/performance.md). Here a statement runs on the calling task's own thread, with a
//! prepared statement from the connection's cache: a read takes a reader connection from
//! a small pool and gives it back before returning (it never waits on anything), and every
//! write goes through the one writer connection behind an async mutex, so writers queue
//! without blocking a thread and never meet `SQLITE_BUSY` among themselves. Work that can
//! take long (bulk seeding) runs on the blocking pool instead.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Params, Row};

use super::checkpoint::{CHECKPOINT_PAGES, Checkpointer};
use super::readers::{Generation, Readers};
use super::writer::Writer;
use twofold_core::StoreError;

/// Prepared statements kept per connection; the store has about a hundred distinct ones.
const STATEMENT_CACHE: usize = 160;
/// How long a statement waits for a lock held by another process (operator commands
/// share the file) before the request is answered "try again".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Page cache of the writer connection, in KiB (SQLite's default is 2,000). Every write
/// runs on that one connection, one after the other, so a page it must read back from
/// the file (a user's row, a device's counter, an index page) holds up every write queued
/// behind it; a larger cache keeps the pages writes touch in memory.
const WRITER_CACHE_KIB: u32 = 32 * 1024;
/// Page cache of each reader connection, in KiB. Reads run on the runtime's worker
/// threads without waiting, so only a few readers are busy at a time (the pool is used
/// last-in first-out, so the same few stay warm).
const READER_CACHE_KIB: u32 = 8 * 1024;

/// Why a closure run on a connection failed: a driver error or a store fault it found.
#[derive(Debug)]
pub(crate) enum Fail {
    Db(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Db(e) => store_err(&e),
            Fail::Store(e) => e,
        }
    }
}

/// What a closure run on a connection returns.
pub(crate) type Sql<T> = Result<T, Fail>;

/// The extended result code of a failed statement, if it was one.
fn code_of(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    }
}

/// Maps a driver error onto the port's failure kinds: a missing parent row is `Gone`, a
/// lock held by someone else is a lost race (`Conflict`, 10551), anything else a broken
/// store (10571).
pub(crate) fn store_err(e: &rusqlite::Error) -> StoreError {
    match code_of(e) {
        Some(787) => StoreError::Gone(e.to_string()),
        // SQLITE_BUSY, SQLITE_LOCKED and their extended forms.
        Some(c) if matches!(c & 0xff, 5 | 6) => StoreError::Conflict(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// Whether a failure is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(f: &Fail) -> bool {
    matches!(f, Fail::Db(e) if matches!(code_of(e), Some(2067 | 1555)))
}

/// Statement helpers on any connection (a `Savepoint` reaches them through `Deref`).
/// Every statement is prepared once per connection and reused from its cache.
pub(crate) trait Db {
    /// Runs a statement that returns no rows; the number of rows it changed.
    fn run(&self, sql: &str, params: impl Params) -> Sql<usize>;
    /// The first row, mapped, if there is one.
    fn one<T>(&self, sql: &str, params: impl Params, map: impl FnOnce(&Row<'_>) -> Sql<T>) -> Sql<Option<T>>;
    /// Every row, mapped.
    fn all<T>(&self, sql: &str, params: impl Params, map: impl FnMut(&Row<'_>) -> Sql<T>) -> Sql<Vec<T>>;
}

impl Db for Connection {
    fn run(&self, sql: &str, params: impl Params) -> Sql<usize> {
        Ok(self.prepare_cached(sql)?.execute(params)?)
    }

    fn one<T>(&self, sql: &str, params: impl Params, map: impl FnOnce(&Row<'_>) -> Sql<T>) -> Sql<Option<T>> {
        let mut statement = self.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        match rows.next()? {
            Some(row) => Ok(Some(map(row)?)),
            None => Ok(None),
        }
    }

    fn all<T>(&self, sql: &str, params: impl Params, mut map: impl FnMut(&Row<'_>) -> Sql<T>) -> Sql<Vec<T>> {
        let mut statement = self.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
        Ok(out)
    }
}

/// The connections of one store.
#[derive(Debug)]
pub(crate) struct Connections {
    /// The only connection that writes, with group commit (writer.rs).
    writer: Writer,
    /// Reader connections and their snapshots (readers.rs).
    readers: Arc<Readers>,
    /// Checkpoints the WAL off the write path (checkpoint.rs).
    checkpointer: Checkpointer,
}

/// Opens one connection with the settings every connection of the store uses.
fn open(path: &Path, cache_kib: u32) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| store_err(&e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| store_err(&e))?;
    // WAL is a property of the file (set when it was created); the other two are per
    // connection. NORMAL in WAL mode loses no committed transaction on a process crash,
    // only (at worst) the last ones on a power cut, and saves an fsync per commit.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -{cache_kib};"
    ))
    .map_err(|e| store_err(&e))?;
    // Query-planner stability: a plan never depends on the values bound to it. Without
    // it SQLite marks `col = ?1` parameters as "may change the plan", and then
    // `sqlite3_clear_bindings` (which the statement cache calls on every reuse) expires
    // the statement, so every cached statement was parsed and planned again on each use:
    // a third of the server's CPU in the profile (docs/performance.md).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(|e| store_err(&e))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Opens a reader connection.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    open(path, READER_CACHE_KIB)
}

impl Connections {
    /// Opens the writer connection once `ready` (which creates and migrates the file) is done.
    pub(crate) async fn open_after(
        path: &Path,
        ready: impl std::future::Future<Output = Result<(), StoreError>>,
    ) -> Result<Self, StoreError> {
        ready.await?;
        let mut writer = open(path, WRITER_CACHE_KIB)?;
        let generation = Generation::default();
        let readers = Arc::new(Readers::new(path.to_path_buf(), open_reader, generation.clone()));
        let (checkpointer, asker) = Checkpointer::start(open_reader(path)?, path, Arc::clone(&readers))?;
        // The hook replaces SQLite's automatic checkpoint on this connection: past the
        // threshold the commit only asks the checkpoint thread.
        writer
            .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
                if pages >= CHECKPOINT_PAGES {
                    asker.ask();
                }
                Ok(())
            }))
            .map_err(|e| store_err(&e))?;
        Ok(Self {
            writer: Writer::new(writer, generation),
            readers,
            checkpointer,
        })
    }

    /// Runs `f` on a reader connection, on this thread. Reads see every committed write.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Sql<T>) -> Result<T, StoreError> {
        self.readers.read(f)
    }

    /// Runs `f` on the writer connection once it is free, on this thread, in a savepoint
    /// of the writer's open transaction; returns once that transaction is committed
    /// (writer.rs). `f` may open savepoints of its own; one dropped without `commit`
    /// rolls back.
    pub(crate) async fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Sql<T> + Send) -> Result<T, StoreError> {
        self.writer.write(f).await
    }

    /// Like [`Self::write`], for work that may take long (thousands of rows): it runs on
    /// the blocking pool so it does not hold up other requests' tasks.
    pub(crate) async fn write_long<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Sql<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.write_long(f).await
    }

    /// Checkpoints the WAL into the main file and drops idle readers.
    pub(crate) async fn close(&self) {
        self.checkpointer.stop();
        self.readers.clear();
        // Best effort: a reader in another process may hold the WAL open.
        self.writer
            .outside(|conn| conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
            .await
            .ok();
    }
}
