//! The one writer connection, with group commit.
//!
//! Why: every write of the store goes through one connection, one at a time, and each
//! used to be a transaction of its own; a commit (WAL frames, the WAL-index and file
//! locks) cost more than the statements it committed, and an authentication makes about
//! six. Now a write joins the transaction that is open on the writer: it runs inside a
//! savepoint of its own (so a failing write undoes only itself), and the transaction is
//! committed by the first write that finds nobody queued behind it, or after
//! [`MAX_BATCH`] writes. A write that is not the committer waits for that commit before
//! it returns, so a caller never hears of a write that is not durable yet, and if the
//! commit fails every write of the batch fails (none of them happened). Under no load a
//! write finds nobody queued and commits at once, exactly as before.
//!
//! A write's closure still runs on its caller's thread (it may borrow the caller's data);
//! only the transaction is shared. A write that panics undoes its own changes first.
//! Work that may take long (`write_long`) gets a transaction of its own.
//!
//! A caller cancelled while it waits for its batch's commit (a request that timed out)
//! loses the answer, not the write, which is committed with the batch: the same as a
//! write whose answer is lost on its way back to the client, which could always happen.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use twofold_core::StoreError;

use super::db::{Sql, store_err};
use super::readers::Generation;

/// Most writes committed together.
pub(crate) const MAX_BATCH: usize = 64;

/// The outcome of a batch's commit, for the writes that wait on it.
type Outcome = Option<Result<(), StoreError>>;

/// The writer connection and the transaction open on it, if any.
#[derive(Debug)]
struct Slot {
    conn: Connection,
    batch: Option<Batch>,
    /// Transactions committed; the readers reuse a snapshot only while it has not moved
    /// (readers.rs), and the tests read it to see that writes are grouped.
    commits: Generation,
}

#[derive(Debug)]
struct Batch {
    /// Writes that ran in it.
    members: usize,
    done: watch::Sender<Outcome>,
}

/// The writer: one connection behind an async mutex (queued writers yield their thread,
/// and are served in arrival order) and the number of writers queued for it.
#[derive(Debug)]
pub(crate) struct Writer {
    slot: Arc<Mutex<Slot>>,
    queued: Arc<AtomicUsize>,
}

/// The writer held by one write; dropping it with a transaction open and nobody queued
/// commits (so a cancelled caller never leaves a batch open).
struct Held {
    guard: OwnedMutexGuard<Slot>,
    queued: Arc<AtomicUsize>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.guard.batch.is_some() && self.queued.load(Ordering::Acquire) == 0 {
            let _ = commit(&mut self.guard);
        }
    }
}

/// Counts a writer as queued until it holds the writer; a writer cancelled while queued
/// may have been the one a batch was waiting for, so it hands the commit to a task.
struct Queued {
    slot: Arc<Mutex<Slot>>,
    queued: Arc<AtomicUsize>,
    waiting: bool,
}

impl Drop for Queued {
    fn drop(&mut self) {
        if !self.waiting {
            return;
        }
        if self.queued.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // Taking the writer with nobody queued commits an open batch (Held's drop): at
        // once when the writer is free, else from a task once its holder lets go.
        if let Ok(guard) = Arc::clone(&self.slot).try_lock_owned() {
            drop(Held {
                guard,
                queued: Arc::clone(&self.queued),
            });
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let slot = Arc::clone(&self.slot);
            let queued = Arc::clone(&self.queued);
            runtime.spawn(async move {
                let guard = slot.lock_owned().await;
                drop(Held { guard, queued });
            });
        }
    }
}

/// Runs one transaction-control statement from the connection's statement cache: these
/// run several times per write, and parsing them each time showed in the profile.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Undoes one write's changes and ends its savepoint (the transaction stays open).
fn undo_member(conn: &Connection) -> rusqlite::Result<()> {
    control(conn, "ROLLBACK TO twofold_write")?;
    control(conn, "RELEASE twofold_write")
}

/// Commits the open batch, if any, and tells its waiting writes.
fn commit(slot: &mut Slot) -> Result<(), StoreError> {
    let Some(batch) = slot.batch.take() else {
        return Ok(());
    };
    let outcome = control(&slot.conn, "COMMIT").map_err(|e| store_err(&e));
    if outcome.is_ok() {
        // Before the batch's writes hear of the commit: a read that starts after that
        // must not reuse an older snapshot.
        slot.commits.advance();
    }
    if outcome.is_err() && !slot.conn.is_autocommit() {
        let _ = control(&slot.conn, "ROLLBACK");
    }
    batch.done.send_replace(Some(outcome.clone()));
    outcome
}

/// Ends the open batch without committing (its transaction is gone or must go): every
/// write waiting on it fails with `why`.
fn abort(slot: &mut Slot, why: &StoreError) {
    if !slot.conn.is_autocommit() {
        let _ = control(&slot.conn, "ROLLBACK");
    }
    if let Some(batch) = slot.batch.take() {
        batch.done.send_replace(Some(Err(why.clone())));
    }
}

/// Runs `f` in a savepoint of the open batch (opening one when there is none). The outer
/// error means the batch itself failed; the inner result is `f`'s.
fn member<T>(slot: &mut Slot, f: impl FnOnce(&mut Connection) -> Sql<T>) -> Result<Sql<T>, StoreError> {
    // The connection and the bookkeeping disagree only after a failure they could not
    // clean up (a ROLLBACK that failed, a transaction SQLite ended on its own): settle
    // that first, so one bad moment does not break every later write.
    if slot.batch.is_some() && slot.conn.is_autocommit() {
        abort(
            slot,
            &StoreError::Unavailable("the write transaction was rolled back".into()),
        );
    }
    if slot.batch.is_none() && !slot.conn.is_autocommit() {
        control(&slot.conn, "ROLLBACK").map_err(|e| store_err(&e))?;
    }
    if slot.batch.is_none() {
        // IMMEDIATE: take the file's write lock now, so that a read-then-write inside
        // never meets another process's write in between.
        control(&slot.conn, "BEGIN IMMEDIATE").map_err(|e| store_err(&e))?;
        slot.batch = Some(Batch {
            members: 0,
            done: watch::Sender::new(None),
        });
    }
    if let Err(e) = control(&slot.conn, "SAVEPOINT twofold_write") {
        let why = store_err(&e);
        abort(slot, &why);
        return Err(why);
    }
    // A panicking write undoes its own changes before the panic goes on; the batch's
    // other writes stay and are committed as usual.
    let out = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut slot.conn))) {
        Ok(out) => out,
        Err(panic) => {
            if slot.conn.is_autocommit() || undo_member(&slot.conn).is_err() {
                abort(slot, &StoreError::Unavailable("a write panicked".into()));
            }
            std::panic::resume_unwind(panic);
        }
    };
    let ended = if out.is_ok() {
        control(&slot.conn, "RELEASE twofold_write")
    } else {
        undo_member(&slot.conn)
    };
    // Some errors (a full disk, say) make SQLite roll the whole transaction back.
    if ended.is_err() || slot.conn.is_autocommit() {
        let why = match ended {
            Err(e) => store_err(&e),
            Ok(()) => StoreError::Unavailable("the write transaction was rolled back".into()),
        };
        abort(slot, &why);
        return match out {
            Err(f) => Ok(Err(f)),
            Ok(_) => Err(why),
        };
    }
    if let Some(batch) = slot.batch.as_mut() {
        batch.members += 1;
    }
    Ok(out)
}

impl Writer {
    pub(crate) fn new(conn: Connection, commits: Generation) -> Self {
        Self {
            slot: Arc::new(Mutex::new(Slot {
                conn,
                batch: None,
                commits,
            })),
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn acquire(&self) -> Held {
        self.queued.fetch_add(1, Ordering::AcqRel);
        let mut queued = Queued {
            slot: Arc::clone(&self.slot),
            queued: Arc::clone(&self.queued),
            waiting: true,
        };
        let guard = Arc::clone(&self.slot).lock_owned().await;
        queued.waiting = false;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Held {
            guard,
            queued: Arc::clone(&self.queued),
        }
    }

    /// After a write ran: commits when nobody is queued (or the batch is full), else
    /// leaves the batch to a later write and waits for its commit.
    async fn finish<T>(&self, mut held: Held, out: Result<Sql<T>, StoreError>) -> Result<T, StoreError> {
        let out = out?;
        let full = held.guard.batch.as_ref().is_some_and(|b| b.members >= MAX_BATCH);
        if self.queued.load(Ordering::Acquire) == 0 || full {
            let committed = commit(&mut held.guard);
            drop(held);
            committed?;
            return Ok(out?);
        }
        // A failed write changed nothing: it need not wait for the others' commit.
        let Some(batch) = held.guard.batch.as_ref().filter(|_| out.is_ok()) else {
            drop(held);
            return Ok(out?);
        };
        let mut done = batch.done.subscribe();
        drop(held);
        let outcome = match done.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Ok(())),
            Err(_) => Err(StoreError::Unavailable("the write batch was dropped".into())),
        };
        outcome?;
        Ok(out?)
    }

    /// Runs `f` on the writer connection, on this thread, inside the open batch.
    pub(crate) async fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Sql<T> + Send) -> Result<T, StoreError> {
        let mut held = self.acquire().await;
        let out = member(&mut held.guard, f);
        self.finish(held, out).await
    }

    /// Like [`Self::write`], on the blocking pool (work that may take long).
    pub(crate) async fn write_long<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Sql<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut held = self.acquire().await;
        // Long work gets a transaction of its own: the writes of an open batch should not
        // wait for it, nor fail with it.
        commit(&mut held.guard)?;
        let (mut held, out) = tokio::task::spawn_blocking(move || {
            let out = member(&mut held.guard, f);
            (held, out)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?;
        let out = out?;
        let committed = commit(&mut held.guard);
        drop(held);
        committed?;
        Ok(out?)
    }

    /// Runs `f` on the writer connection outside any batch (an open one is committed
    /// first): for statements that cannot run in a transaction, such as checkpoints.
    pub(crate) async fn outside<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        let mut held = self.acquire().await;
        let _ = commit(&mut held.guard);
        let out = f(&held.guard.conn);
        // `f` may have changed data outside a transaction of ours.
        held.guard.commits.advance();
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rusqlite::Connection;
    use twofold_core::StoreError;

    use super::Writer;
    use crate::sqlite::db::{Db, Fail};
    use crate::sqlite::readers::Generation;

    fn writer(dir: &tempfile::TempDir) -> (Writer, std::path::PathBuf) {
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);")
            .unwrap();
        (Writer::new(conn, Generation::default()), path)
    }

    fn rows(path: &std::path::Path) -> Vec<(i64, String)> {
        let conn = Connection::open(path).unwrap();
        conn.all("SELECT k, v FROM t ORDER BY k", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    }

    /// 200 concurrent writes on two threads, every third failing after it wrote: each
    /// caller gets its own outcome, exactly the successful rows are stored, and the
    /// writes were committed in fewer transactions than there were writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path) = writer(&dir);
        let writer = Arc::new(writer);
        let mut tasks = Vec::new();
        for k in 0..200_i64 {
            let writer = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |c| {
                        c.run("INSERT INTO t (k, v) VALUES (?1, 'x')", [k])?;
                        if k % 3 == 0 {
                            return Err(Fail::Store(StoreError::Conflict(format!("refused {k}"))));
                        }
                        Ok(k)
                    })
                    .await
            }));
        }
        for (k, task) in (0..200_i64).zip(tasks) {
            match task.await.unwrap() {
                Ok(got) => assert!(k % 3 != 0 && got == k, "write {k} answered Ok({got})"),
                Err(StoreError::Conflict(m)) => assert!(k % 3 == 0 && m == format!("refused {k}"), "{m}"),
                Err(e) => panic!("write {k}: {e}"),
            }
        }
        let stored: Vec<i64> = rows(&path).into_iter().map(|(k, _)| k).collect();
        let expected: Vec<i64> = (0..200).filter(|k| k % 3 != 0).collect();
        assert_eq!(stored, expected);
        let commits = writer.slot.lock().await.commits.get();
        assert!(commits < 200, "{commits} commits for 200 writes: nothing was grouped");
    }

    /// A later write in the same batch sees an earlier one (one connection, one
    /// transaction), and a write that fails a unique constraint undoes only itself.
    #[tokio::test]
    async fn a_failing_statement_undoes_only_its_own_write() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path) = writer(&dir);
        writer
            .write(|c| c.run("INSERT INTO t (k, v) VALUES (1, 'a')", []))
            .await
            .unwrap();
        let err = writer
            .write(|c| {
                c.run("UPDATE t SET v = 'changed' WHERE k = 1", [])?;
                c.run("INSERT INTO t (k, v) VALUES (1, 'dup')", [])
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(rows(&path), vec![(1, "a".to_string())]);
    }

    /// A write that panics after changing rows undoes them; the writes around it are kept
    /// and the writer goes on working.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_undoes_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path) = writer(&dir);
        let writer = Arc::new(writer);
        let mut tasks = Vec::new();
        for k in 0..40_i64 {
            let writer = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |c| {
                        c.run("INSERT INTO t (k, v) VALUES (?1, 'x')", [k])?;
                        assert!(k != 7, "write 7 fails after its insert");
                        Ok(())
                    })
                    .await
            }));
        }
        let mut panicked = 0;
        for task in tasks {
            match task.await {
                Ok(out) => out.unwrap(),
                Err(e) if e.is_panic() => panicked += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(panicked, 1);
        let stored: Vec<i64> = rows(&path).into_iter().map(|(k, _)| k).collect();
        let expected: Vec<i64> = (0..40).filter(|k| *k != 7).collect();
        assert_eq!(stored, expected);
    }

    /// Writers cancelled while queued (their request went away) never leave a batch open:
    /// the writes that ran are committed and visible to another connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_queued_writers_do_not_strand_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, path) = writer(&dir);
        let writer = Arc::new(writer);
        let mut tasks = Vec::new();
        for k in 0..100_i64 {
            let writer = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |c| {
                        // Some work, so that writers queue behind each other.
                        c.one(
                            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
                             SELECT count(*) FROM n",
                            [],
                            |r| Ok(r.get::<_, i64>(0)?),
                        )?;
                        c.run("INSERT INTO t (k, v) VALUES (?1, 'x')", [k])
                    })
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        for task in tasks.iter().skip(1).step_by(2) {
            task.abort();
        }
        let mut ok = 0;
        for task in tasks {
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(Ok(_))) => ok += 1,
                Ok(Ok(Err(e))) => panic!("a write failed: {e}"),
                Ok(Err(_cancelled)) => {}
                Err(_) => panic!("a write never finished: a batch was left open"),
            }
        }
        // Every write that answered Ok is stored; aborted ones may or may not have run.
        let stored = rows(&path).len();
        assert!(stored >= ok, "{stored} rows stored, {ok} writes answered Ok");
        // Nothing is left uncommitted: a new write commits at once and all is visible.
        writer
            .write(|c| c.run("INSERT INTO t (k, v) VALUES (1000, 'last')", []))
            .await
            .unwrap();
        assert_eq!(rows(&path).len(), stored + 1);
    }
}
