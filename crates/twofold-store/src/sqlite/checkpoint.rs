//! WAL checkpoints on a thread of their own.
//!
//! Why: SQLite normally checkpoints inside the commit that takes the WAL past 1,000 pages,
//! on the committing connection. Here that is the one writer connection, on a request's
//! thread, so every thousandth page or so one request's write also copied the WAL into
//! the database file and waited for `fsync` while every other write queued behind it and
//! the runtime lost one of its worker threads. Instead the writer's WAL hook only asks
//! this thread to checkpoint, and it does so with its own connection (`PASSIVE`: it never
//! blocks the writer or the readers). Its CPU time and its `fsync` waits happen beside the
//! requests, not in front of them.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::Connection;
use twofold_core::StoreError;

use super::readers::Readers;

/// WAL size, in pages, at which a checkpoint is asked for: ten times SQLite's own
/// default (40 MB of WAL at 4 KiB pages). A checkpoint copies each page once however
/// often it changed since the last one, and the hot pages (index roots, the tails of the
/// audit and session tables) change on every write, so checkpointing less often copies
/// and `fsync`s far less: the checkpoint thread's share of the server's CPU fell from 15 %
/// (docs/performance.md). The WAL file is reused after each complete checkpoint, so it
/// stays at about this size.
pub(crate) const CHECKPOINT_PAGES: i32 = 10_000;

#[derive(Debug, Default)]
struct State {
    requested: bool,
    stop: bool,
}

/// The requests shared by the writer's hook and the thread.
#[derive(Debug, Default)]
struct Signal {
    state: Mutex<State>,
    wake: Condvar,
}

/// Asks the checkpoint thread for a checkpoint; cheap, and several asks before it runs
/// make one checkpoint.
#[derive(Debug, Clone)]
pub(crate) struct Asker(Arc<Signal>);

impl Asker {
    pub(crate) fn ask(&self) {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner).requested = true;
        self.0.wake.notify_one();
    }
}

/// The checkpoint thread; stopping it (or dropping this) waits for a running checkpoint.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the thread with `conn`, a connection of its own to the file at `path`.
    pub(crate) fn start(conn: Connection, path: &Path, readers: Arc<Readers>) -> Result<(Self, Asker), StoreError> {
        let signal = Arc::new(Signal::default());
        let shared = Arc::clone(&signal);
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &shared, &shown, &readers))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
        let asker = Asker(Arc::clone(&signal));
        Ok((
            Self {
                signal,
                thread: Mutex::new(Some(thread)),
            },
            asker,
        ))
    }

    /// Stops the thread after the checkpoint it may be running.
    pub(crate) fn stop(&self) {
        self.signal.state.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        self.signal.wake.notify_one();
        let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: &Connection, signal: &Signal, path: &str, readers: &Readers) {
    loop {
        {
            let mut state = signal.state.lock().unwrap_or_else(PoisonError::into_inner);
            while !state.requested && !state.stop {
                state = signal.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            if state.stop {
                return;
            }
            state.requested = false;
        }
        // Idle readers' snapshots would hold back the frames they can see (readers.rs).
        readers.end_idle_snapshots();
        // PASSIVE copies what no reader still needs and never waits for anyone; what it
        // leaves is copied by the next one. A failure (the disk, say) is logged and the
        // WAL keeps the data, so nothing committed is lost.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, file = %path, "WAL checkpoint failed");
        }
    }
}
