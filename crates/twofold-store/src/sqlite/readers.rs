//! The reader connections, and the read snapshots they keep between reads.
//!
//! Why: a request reads several times (its token and organization, the user, the
//! devices, ...), and each read used to be a transaction of its own. Starting a read
//! transaction in WAL mode takes a lock on the WAL-index (an `fcntl` on the `-shm` file,
//! behind a process-wide mutex that the other reads wait on), checks the file's size, and,
//! when anything was committed since the connection's last read, empties its page cache.
//! That was a fifth of the server's time in the getuserdetails profile
//! (docs/performance.md).
//!
//! So a reader keeps its read transaction (its snapshot) open after a read, and the next
//! read on it reuses the snapshot while both hold:
//! - nothing was committed through this store's writer since the snapshot began (the
//!   writer counts its commits: [`Generation`]), so every write a caller has heard of is
//!   in it, exactly as with a fresh transaction;
//! - the snapshot is younger than [`MAX_SNAPSHOT_AGE`], the bound on how late a change
//!   made by another process (an operator command on the same file) is seen.
//!
//! An open snapshot keeps the WAL frames it can see from being overwritten (and SQLite
//! starts the WAL file over only when no reader holds any), so no snapshot outlives its
//! use for long: a read that finds its snapshot stale ends it before starting a new one,
//! a reader returned to the pool ends the stale snapshots of the idle ones, and the
//! checkpoint thread ends every idle snapshot before it checkpoints
//! ([`Readers::end_idle_snapshots`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use twofold_core::StoreError;

use super::db::{Sql, store_err};

/// Idle reader connections kept for reuse (more are opened when all are busy).
const IDLE_READERS: usize = 16;
/// The longest a snapshot is reused: a change committed by another process is seen by
/// reads that start at most this long after it.
pub(crate) const MAX_SNAPSHOT_AGE: Duration = Duration::from_millis(1);

/// The number of transactions the writer has committed; shared by the writer (which
/// raises it after each commit, before the committed writes return) and the readers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Generation(Arc<AtomicU64>);

impl Generation {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// An open read transaction on a reader: the writer's generation read before it began.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    generation: u64,
    began: Instant,
}

#[derive(Debug)]
struct Reader {
    conn: Connection,
    snapshot: Option<Snapshot>,
}

impl Reader {
    /// Ends the open read transaction, if any. A failure leaves the connection in an
    /// unknown state: the caller drops it.
    fn end(&mut self) -> rusqlite::Result<()> {
        if self.snapshot.take().is_some() && !self.conn.is_autocommit() {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
        }
        Ok(())
    }

    /// Whether the open snapshot may serve a read starting now.
    fn current(&self, generation: u64, now: Instant) -> bool {
        self.snapshot.is_some_and(|s| {
            s.generation == generation && now.duration_since(s.began) < MAX_SNAPSHOT_AGE && !self.conn.is_autocommit()
        })
    }
}

/// The pool of reader connections.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    open: fn(&std::path::Path) -> Result<Connection, StoreError>,
    generation: Generation,
    idle: Mutex<Vec<Reader>>,
}

impl Readers {
    pub(crate) fn new(
        path: PathBuf,
        open: fn(&std::path::Path) -> Result<Connection, StoreError>,
        generation: Generation,
    ) -> Self {
        Self {
            path,
            open,
            generation,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a reader, on this thread, in a snapshot that holds every write this
    /// store's writer has committed.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Sql<T>) -> Result<T, StoreError> {
        // Read before the snapshot begins: a commit after this makes it stale.
        let generation = self.generation.get();
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut reader = match idle {
            Some(reader) => reader,
            None => self.fresh()?,
        };
        let now = Instant::now();
        if !reader.current(generation, now) {
            if reader.end().is_err() {
                reader = self.fresh()?;
            }
            // DEFERRED: the snapshot is taken by `f`'s first statement.
            reader
                .conn
                .prepare_cached("BEGIN")
                .and_then(|mut s| s.execute([]))
                .map_err(|e| store_err(&e))?;
            reader.snapshot = Some(Snapshot { generation, began: now });
        }
        let out = f(&reader.conn);
        // A failed read may have left the transaction in any state: start afresh.
        if out.is_err() && reader.end().is_err() {
            return Ok(out?);
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Idle readers deeper in the pool may not be used again for a while: end their
        // stale snapshots now, so that none holds old WAL frames longer than a read would.
        let (latest, now) = (self.generation.get(), Instant::now());
        idle.retain_mut(|r| r.snapshot.is_none() || r.current(latest, now) || r.end().is_ok());
        if idle.len() < IDLE_READERS {
            idle.push(reader);
        }
        drop(idle);
        Ok(out?)
    }

    /// A new reader connection, with no snapshot.
    fn fresh(&self) -> Result<Reader, StoreError> {
        Ok(Reader {
            conn: (self.open)(&self.path)?,
            snapshot: None,
        })
    }

    /// Ends the snapshots of the idle readers (before a checkpoint, so that they do not
    /// hold WAL frames back), and drops readers that cannot end theirs.
    pub(crate) fn end_idle_snapshots(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain_mut(|reader| reader.end().is_ok());
    }

    /// Drops every idle reader.
    pub(crate) fn clear(&self) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::db::Db;

    fn open(path: &std::path::Path) -> Result<Connection, StoreError> {
        Connection::open(path).map_err(|e| store_err(&e))
    }

    fn setup() -> (tempfile::TempDir, Connection, Readers, Generation) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER NOT NULL); INSERT INTO t VALUES (1);")
            .unwrap();
        let generation = Generation::default();
        let readers = Readers::new(path, open, generation.clone());
        (dir, writer, readers, generation)
    }

    fn value(readers: &Readers) -> i64 {
        readers
            .read(|c| c.one("SELECT v FROM t", [], |r| Ok(r.get(0)?)))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_commit_through_the_writer_is_seen_by_the_next_read() {
        let (_dir, writer, readers, generation) = setup();
        assert_eq!(value(&readers), 1);
        writer.execute("UPDATE t SET v = 2", []).unwrap();
        generation.advance();
        assert_eq!(value(&readers), 2);
    }

    #[test]
    fn another_process_commit_is_seen_within_the_age_bound() {
        let (_dir, writer, readers, _generation) = setup();
        assert_eq!(value(&readers), 1);
        // Another process's commit (the generation does not move): the open snapshot
        // still answers, until it is older than the bound.
        writer.execute("UPDATE t SET v = 3", []).unwrap();
        let started = Instant::now();
        let mut seen = value(&readers);
        while seen == 1 && started.elapsed() < Duration::from_secs(2) {
            seen = value(&readers);
        }
        assert_eq!(seen, 3);
        assert!(started.elapsed() < MAX_SNAPSHOT_AGE + Duration::from_millis(500));
    }

    #[test]
    fn idle_snapshots_end_so_the_wal_can_be_emptied() {
        let (_dir, writer, readers, _generation) = setup();
        assert_eq!(value(&readers), 1);
        writer.execute("UPDATE t SET v = 4", []).unwrap();
        readers.end_idle_snapshots();
        let (busy, _, _): (i64, i64, i64) = writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(busy, 0, "a reader still held the WAL");
    }

    #[test]
    fn a_failed_read_leaves_a_usable_reader() {
        let (_dir, _writer, readers, _generation) = setup();
        assert!(
            readers
                .read(|c| c.one("SELECT nope FROM t", [], |r| Ok(r.get::<_, i64>(0)?)))
                .is_err()
        );
        assert_eq!(value(&readers), 1);
    }
}
