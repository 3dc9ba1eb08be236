//! The durable engine: a write-ahead log, a memtable, and one redb file.
//!
//! Layout: `<dir>/heliosdb.redb` holds the table `chunks` (`&[u8]` → `&[u8]`)
//! with the data as of the last **checkpoint**, packed into chunks of
//! neighbouring pairs keyed by their last key (see [`super::chunk`] and
//! [`ChunkWriter`]), and the table `heliosdb_meta` (`&str` → `u64`) whose
//! `seq` entry is the sequence number of the last commit it holds, written in
//! the same redb transaction as the data. The table `change_log` holds the
//! change log's entries (see [`super::log`]) as of the checkpoint, in
//! segments of consecutive entries keyed by the first one's LSN; the meta
//! table's `log_last` and `log_floor` are the last LSN given and the
//! truncation point. `<dir>/heliosdb.wal` is the write-ahead log (see
//! [`super::wal`]) of the commits since then.
//!
//! Commits: a commit is one log record (its resolved writes, change-log
//! entries and sequence number) and then new versions in the **memtable**,
//! a multi-version ordered map (see [`super::versions`]) of everything
//! committed since the last checkpoint, and its change-log entries appended
//! to the generation's [`LogTail`]. Nothing is written to redb per commit: a small durable commit
//! costs one sequential log write and one `fdatasync`.
//!
//! Reads: a snapshot is the current [`Generation`] (redb's chunk table as of
//! the checkpoint, through one shared redb read transaction, plus the
//! memtable) and the sequence number of the last published commit. A read
//! looks in the memtable first (the newest version at or below that number;
//! a deletion hides the pair) and falls back to the chunks; scans merge the
//! two in key order. Taking a snapshot copies two numbers and an `Arc`.
//! Snapshots never block the committer and it blocks them only while it
//! appends a group's versions.
//!
//! Checkpoints: when the log passes [`super::wal::CHECKPOINT_BYTES`] of writes to keys
//! (change-log entries count a quarter: see that constant), on
//! [`DiskEngine::checkpoint`], when a group is too big to log
//! ([`super::wal::MAX_GROUP_BYTES`]: a bulk load is written once, straight to redb)
//! and when the engine is dropped (which then empties the log file), the
//! leader writes the memtable's latest values into redb in one durable
//! commit, starts the log again at offset 0 and starts a new generation with
//! an empty memtable. Snapshots of the old generation keep it alive (its redb
//! read transaction and its memtable), so they stay complete.
//!
//! Group commit: committers put their batch in a shared queue; the first one
//! that finds no leader becomes the leader, drains the queue and commits
//! every queued batch, in queue order and with consecutive sequence numbers,
//! as one group: one log write, and one `fdatasync` if any batch asked for
//! [`Durability::Sync`]. It then publishes the group's versions, hands every
//! committer its result and hands leadership over: a committer that queued
//! meanwhile leads the next group, so a leader's own caller never waits for
//! a second sync. A batch that fails to resolve (malformed merge operand, overflow,
//! panicking hook) fails alone, writing nothing and consuming no sequence
//! number. A commit becomes visible only once its log record is written (and
//! synced, for `Sync`): nothing can read what a crash could lose, except
//! [`Durability::Async`] commits, which are visible at once and synced by a
//! flusher thread within [`FLUSH_INTERVAL`]; it stops, and a final checkpoint
//! runs, when the engine is dropped.
//!
//! Crash safety (what this module relies on from redb 4, see redb's
//! `WriteTransaction::set_two_phase_commit`, `set_quick_repair` and
//! `Builder::set_repair_callback`): a durable redb commit writes the new tree
//! pages and a checksummed commit slot, then flips the header's primary-slot
//! bit and fsyncs (1-phase commit, the default). A process killed at any point
//! (SIGKILL, power loss with an honest `fsync`) leaves either the previous or
//! the new commit slot valid; on the next open redb sees the file was not shut
//! down cleanly and runs a full repair (verifying checksums, falling back to
//! the previous slot, rebuilding the allocator state) before returning, with
//! the state of the last checkpoint. Then [`recover`] replays the log records
//! numbered after it, in order, while they are intact, in one durable commit.
//! So each batch, together with its sequence number, is all-or-nothing, the
//! recovered commits are a prefix of the commit history, and every commit that
//! returned from a `Sync` commit (or was followed by a successful
//! [`Engine::sync`]) survives. `Async` commits whose log records were not
//! synced may be lost, as a whole and in commit order. If writing or syncing
//! the log fails, the outcome of the commits involved is unknown (as after a
//! failed `fsync` in PostgreSQL) and the engine refuses further commits until
//! it is reopened, which recovers from the files.

use super::chunk::{self, ChunkView};
use super::log::{LogBatch, LogEntry, LogIter, LogRef, LogTail, SEGMENT_BYTES, TailScan};
use super::versions::{VersionCursor, VersionMap, visible};
use super::wal::Wal;
use super::{
    Durability, Engine, KvIter, KvPair, RefIter, RefScan, ResolvedWrites, Snapshot, WriteBatch,
    panic_message, resolve_batch,
};
use crate::error::{Error, Result, SqlState};
use parking_lot::{Condvar, Mutex, RwLock};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Name of the database file inside the data directory.
pub const FILE_NAME: &str = "heliosdb.redb";
/// Longest delay before an `Async` commit is made durable by the flusher (plus one fsync).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// The data: runs of pairs packed into chunks (see [`super::chunk`]), keyed by
/// each chunk's last key.
const CHUNK_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("chunks");
/// The layout before chunks (one redb entry per pair); converted at open.
const LEGACY_KV_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const META_TABLE: TableDefinition<&str, u64> = TableDefinition::new("heliosdb_meta");
const SEQ_KEY: &str = "seq";
/// The change log as of the checkpoint: segments of consecutive entries
/// (see [`super::log::encode_entry`]), keyed by their first entry's LSN.
const LOG_TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("change_log");
/// The last LSN given (meta).
const LOG_LAST_KEY: &str = "log_last";
/// Entries at or below this LSN are truncated (meta).
const LOG_FLOOR_KEY: &str = "log_floor";
/// redb's limit for a key or a value (3 GiB).
pub(crate) const MAX_ITEM_LEN: usize = 3 * 1024 * 1024 * 1024;

/// Counters of a [`DiskEngine`] since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Batches committed successfully (each got a sequence number).
    pub commits: u64,
    /// Commit groups written (each one log write, or one checkpoint for a
    /// group too big to log).
    pub groups: u64,
    /// `fdatasync`s of the log and durable redb commits (checkpoints).
    pub syncs: u64,
    /// Checkpoints: durable redb commits, after which the log starts again.
    pub checkpoints: u64,
    /// Commits replayed from the write-ahead log when the engine was opened.
    pub replayed: u64,
}

/// A durable [`Engine`] stored in one redb file, with group commit.
pub struct DiskEngine {
    inner: Arc<Inner>,
    flusher: Option<JoinHandle<()>>,
}

struct Inner {
    db: redb::Database,
    dir: PathBuf,
    file: PathBuf,
    group: Mutex<GroupState>,
    /// The write-ahead log; only the commit leader (and open and drop) use it.
    log: Mutex<LogState>,
    /// What readers see: the last checkpoint plus the memtable. Replaced (by
    /// the leader, holding `log`) at each checkpoint.
    current: RwLock<Arc<Generation>>,
    /// Some committed write transaction is not durable yet.
    unsynced: AtomicBool,
    flusher: Mutex<FlusherState>,
    flusher_cv: Condvar,
    commits: AtomicU64,
    groups: AtomicU64,
    syncs: AtomicU64,
    checkpoints: AtomicU64,
    replayed: u64,
}

struct LogState {
    wal: Wal,
    /// The last LSN given to a change-log entry.
    last_lsn: u64,
    /// A log write or sync failed: the log's state on disk is unknown, so no
    /// commit is accepted until the database is reopened (and recovered).
    poisoned: Option<Error>,
}

#[derive(Default)]
struct GroupState {
    queue: VecDeque<Request>,
    leader_active: bool,
    next_ticket: u64,
    /// Results of finished requests, collected by their committers.
    done: HashMap<u64, Result<u64>>,
}

struct Request {
    ticket: u64,
    /// The committer, unparked when its result is ready or it is to lead.
    thread: std::thread::Thread,
    /// `None`: a flush (make everything durable, no new sequence number).
    batch: Option<WriteBatch>,
    durability: Durability,
    /// Make everything durable in redb itself (a checkpoint).
    checkpoint: bool,
}

#[derive(Default)]
struct FlusherState {
    shutdown: bool,
    /// An async commit happened since the flusher last looked.
    pending: bool,
}

impl DiskEngine {
    /// Opens (creating if needed) the database in `dir`.
    ///
    /// Errors: `55006` if another process or engine has it open, `XX001` if
    /// the file is not a valid or intact database, `58030` for I/O failures.
    pub fn open(dir: &Path) -> Result<DiskEngine> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::io(format!(
                "could not create data directory \"{}\": {e}",
                dir.display()
            ))
        })?;
        let file = dir.join(FILE_NAME);
        let db = open_database(dir, &file)?;
        let mut wal = Wal::open(dir)?;
        let replayed = recover(&db, &file, &wal)?;
        wal.reset();
        let generation = Generation::open(&db, &file)?;
        let last_lsn = generation.base_last;
        let current = RwLock::new(Arc::new(generation));
        let inner = Arc::new(Inner {
            db,
            dir: dir.to_path_buf(),
            file,
            group: Mutex::new(GroupState::default()),
            log: Mutex::new(LogState {
                wal,
                last_lsn,
                poisoned: None,
            }),
            current,
            unsynced: AtomicBool::new(false),
            flusher: Mutex::new(FlusherState::default()),
            flusher_cv: Condvar::new(),
            commits: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            replayed,
        });
        let flusher_inner = inner.clone();
        let flusher = std::thread::Builder::new()
            .name("heliosdb-flusher".into())
            .spawn(move || flusher_inner.run_flusher())
            .map_err(|e| Error::io(format!("could not start the flusher thread: {e}")))?;
        Ok(DiskEngine {
            inner,
            flusher: Some(flusher),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The redb file inside the data directory.
    pub fn file(&self) -> &Path {
        &self.inner.file
    }

    /// Commit and fsync counters since open.
    pub fn stats(&self) -> DiskStats {
        DiskStats {
            commits: self.inner.commits.load(Ordering::Relaxed),
            groups: self.inner.groups.load(Ordering::Relaxed),
            syncs: self.inner.syncs.load(Ordering::Relaxed),
            checkpoints: self.inner.checkpoints.load(Ordering::Relaxed),
            replayed: self.inner.replayed,
        }
    }

    /// Makes every commit durable in the redb file itself and empties the
    /// write-ahead log (also done when the log grows past
    /// [`super::wal::CHECKPOINT_BYTES`] and when the engine is dropped).
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.submit(None, Durability::Sync, true).map(|_| ())
    }
}

impl std::fmt::Debug for DiskEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskEngine")
            .field("file", &self.inner.file)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for DiskEngine {
    fn drop(&mut self) {
        self.inner.flusher.lock().shutdown = true;
        self.inner.flusher_cv.notify_all();
        if let Some(handle) = self.flusher.take() {
            let _ = handle.join();
        }
        // A final checkpoint; the log is emptied only if it succeeded.
        match self.inner.submit(None, Durability::Sync, true) {
            Ok(_) => {
                if let Err(e) = self.inner.log.lock().wal.truncate() {
                    tracing::warn!("{e}");
                }
            }
            Err(e) => {
                tracing::warn!(file = %self.inner.file.display(), "final checkpoint failed: {e}")
            }
        }
        // `inner` (and with it the redb file and its lock) is released here:
        // the flusher thread has exited and snapshots do not reference it.
    }
}

impl Engine for DiskEngine {
    fn snapshot(&self) -> Result<Arc<dyn Snapshot>> {
        let generation = self.inner.current.read().clone();
        // `published` first: a sequence number read here was published
        // after `has_mem` was set for its writes.
        let seq = generation.published.load(Ordering::Acquire);
        let mem = generation.has_mem.load(Ordering::Acquire);
        Ok(Arc::new(DiskSnapshot {
            generation,
            seq,
            mem,
        }))
    }

    fn commit(&self, batch: WriteBatch, durability: Durability) -> Result<u64> {
        self.inner.submit(Some(batch), durability, false)
    }

    fn sync(&self) -> Result<()> {
        self.inner.submit(None, Durability::Sync, false).map(|_| ())
    }

    fn size_on_disk(&self) -> u64 {
        let wal = self.inner.log.lock().wal.file_len();
        std::fs::metadata(&self.inner.file).map_or(0, |m| m.len()) + wal
    }

    /// Raises the floor at once; the next checkpoint drops the entries
    /// (one runs now if some are in redb, to give their space back).
    fn truncate_log(&self, through: u64) -> Result<()> {
        let generation = {
            let log = self.inner.log.lock();
            let generation = self.inner.current.read().clone();
            let mut tail = generation.tail.write();
            tail.floor = tail.floor.max(through.min(log.last_lsn));
            drop(tail);
            generation
        };
        if generation.base_truncated() {
            self.inner.submit(None, Durability::Sync, true)?;
        }
        Ok(())
    }
}

/// Opens or creates the redb file, mapping every failure (including a panic
/// inside redb on a damaged file) to a clear error.
fn open_database(dir: &Path, file: &Path) -> Result<redb::Database> {
    let opened = catch_unwind(|| {
        let mut builder = redb::Database::builder();
        builder.set_repair_callback(|session| {
            tracing::warn!(
                progress = session.progress(),
                "repairing database file after an unclean shutdown"
            );
        });
        let db = builder.create(file)?;
        init_tables(&db)?;
        Ok::<_, redb::Error>(db)
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(open_error(dir, file, e)),
        Err(payload) => Err(Error::corrupted(format!(
            "could not open database file \"{}\": the file is corrupted ({})",
            file.display(),
            panic_message(payload.as_ref())
        ))),
    }
}

/// Creates the tables if missing and checks they are readable; converts a
/// file written before chunks (one redb entry per pair) in one transaction.
fn init_tables(db: &redb::Database) -> std::result::Result<(), redb::Error> {
    let txn = db.begin_write()?;
    let names: Vec<String> = txn
        .list_tables()?
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    let legacy = names.iter().any(|n| n == "kv");
    // Files written before the change log had its own table get it here.
    let new_log = !names.iter().any(|n| n == "change_log");
    txn.open_table(LOG_TABLE)?;
    let created = {
        let mut chunks = txn.open_table(CHUNK_TABLE)?;
        let mut meta = txn.open_table(META_TABLE)?;
        let has_seq = meta.get(SEQ_KEY)?.is_some();
        if !has_seq {
            meta.insert(SEQ_KEY, 0)?;
        }
        if legacy {
            let kv = txn.open_table(LEGACY_KV_TABLE)?;
            let mut run: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut size = 0;
            let mut write_run = |run: &mut Vec<(Vec<u8>, Vec<u8>)>| {
                let entries: Vec<(&[u8], &[u8])> = run
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_slice()))
                    .collect();
                for (last, bytes) in chunk::pack(&entries) {
                    chunks.insert(last, bytes.as_slice())?;
                }
                run.clear();
                Ok::<_, redb::Error>(())
            };
            for entry in kv.iter()? {
                let (k, v) = entry?;
                size += chunk::entry_size(k.value(), v.value());
                run.push((k.value().to_vec(), v.value().to_vec()));
                if size >= 64 * chunk::MAX {
                    write_run(&mut run)?;
                    size = 0;
                }
            }
            write_run(&mut run)?;
        }
        // Touch the data tree, so a damaged root is reported at open.
        chunks.first()?;
        !has_seq || legacy || new_log
    };
    if legacy {
        txn.delete_table(LEGACY_KV_TABLE)?;
    }
    if created {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    Ok(())
}

/// Replays the write-ahead log's commits after redb's durable state, in one
/// durable redb commit; returns how many there were.
fn recover(db: &redb::Database, file: &Path, wal: &Wal) -> Result<u64> {
    let replay = || -> Result<u64> {
        let err = |e: redb::Error| redb_error(file, e);
        let durable = {
            let txn = db.begin_read().map_err(|e| err(e.into()))?;
            let meta = txn.open_table(META_TABLE).map_err(|e| err(e.into()))?;
            meta.get(SEQ_KEY)
                .map_err(|e| err(e.into()))?
                .map_or(0, |g| g.value())
        };
        let records = wal.replay(durable)?;
        let Some(last) = records.last().map(|r| r.seq) else {
            return Ok(0);
        };
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut table = txn.open_table(CHUNK_TABLE).map_err(|e| err(e.into()))?;
            let mut log_table = txn.open_table(LOG_TABLE).map_err(|e| err(e.into()))?;
            let mut meta = txn.open_table(META_TABLE).map_err(|e| err(e.into()))?;
            let mut chunks = ChunkWriter::new(file);
            let mut entries = Vec::new();
            for record in records {
                chunks.apply(&table, record.writes)?;
                entries.extend(record.log);
            }
            chunks.flush(&mut table)?;
            if let Some(lsn) = entries.last().map(|e| e.lsn) {
                write_log_segments(&mut log_table, entries.iter().map(LogEntry::as_ref))
                    .map_err(err)?;
                meta.insert(LOG_LAST_KEY, lsn).map_err(|e| err(e.into()))?;
            }
            meta.insert(SEQ_KEY, last).map_err(|e| err(e.into()))?;
        }
        txn.commit().map_err(|e| err(e.into()))?;
        tracing::info!(
            commits = last - durable,
            "replayed the write-ahead log after an unclean shutdown"
        );
        Ok(last - durable)
    };
    catch_unwind(AssertUnwindSafe(replay))
        .unwrap_or_else(|payload| Err(storage_panic(file, payload.as_ref())))
}

fn open_error(dir: &Path, file: &Path, e: redb::Error) -> Error {
    let file = file.display();
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => Error::new(
            SqlState::OBJECT_IN_USE,
            format!(
                "database is locked: {} is in use by another process",
                dir.display()
            ),
        ),
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => Error::corrupted(
            format!("could not open database file \"{file}\": not a valid database file ({io})"),
        ),
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Error::corrupted(
            format!("could not open database file \"{file}\": the file is truncated ({io})"),
        ),
        redb::Error::Io(io) => Error::io(format!("could not open database file \"{file}\": {io}")),
        redb::Error::Corrupted(msg) => Error::corrupted(format!(
            "could not open database file \"{file}\": the file is corrupted ({msg})"
        )),
        redb::Error::UpgradeRequired(version) => Error::corrupted(format!(
            "could not open database file \"{file}\": unsupported file format version {version}"
        )),
        redb::Error::RepairAborted => Error::corrupted(format!(
            "could not open database file \"{file}\": repair after an unclean shutdown failed"
        )),
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. }) => Error::corrupted(format!(
            "could not open database file \"{file}\": not a HeliosDB database ({e})"
        )),
        e => Error::internal(format!("could not open database file \"{file}\": {e}")),
    }
}

impl Inner {
    fn redb_err(&self, e: impl Into<redb::Error>) -> Error {
        redb_error(&self.file, e.into())
    }

    fn panic_error(&self, payload: &(dyn std::any::Any + Send)) -> Error {
        storage_panic(&self.file, payload)
    }

    /// Queues a request and waits for its result, leading the group commit
    /// if no other committer is.
    fn submit(
        &self,
        batch: Option<WriteBatch>,
        durability: Durability,
        checkpoint: bool,
    ) -> Result<u64> {
        let mut state = self.group.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(Request {
            ticket,
            thread: std::thread::current(),
            batch,
            durability,
            checkpoint,
        });
        loop {
            if let Some(result) = state.done.remove(&ticket) {
                return result;
            }
            if !state.leader_active {
                state.leader_active = true;
                drop(state);
                return self.lead(ticket);
            }
            // Woken (unparked) when the result is ready or leadership
            // passes to this committer; a spurious wake-up just looks again.
            drop(state);
            std::thread::park();
            state = self.group.lock();
        }
    }

    /// Commits the queued requests (the leader's own among them) as one
    /// group, then hands leadership to a committer queued meanwhile, if any,
    /// so that this one's caller is not kept waiting for another sync, and
    /// returns the result of the leader's own request.
    fn lead(&self, own_ticket: u64) -> Result<u64> {
        let mut guard = LeaderGuard {
            inner: self,
            in_flight: Vec::new(),
            armed: true,
        };
        let group: Vec<Request> = self.group.lock().queue.drain(..).collect();
        guard.in_flight = group.iter().map(|r| (r.ticket, r.thread.clone())).collect();
        // redb may panic on a damaged file (debug assertions, malformed
        // pages): fail the group with an error instead of unwinding.
        let results =
            catch_unwind(AssertUnwindSafe(|| self.run_group(group))).unwrap_or_else(|payload| {
                let err = self.panic_error(payload.as_ref());
                guard
                    .in_flight
                    .iter()
                    .map(|(t, _)| (*t, Err(err.clone())))
                    .collect()
            });
        let mut state = self.group.lock();
        state.done.extend(results);
        state.leader_active = false;
        let own = state.done.remove(&own_ticket);
        let next = state.queue.front().map(|r| r.thread.clone());
        drop(state);
        guard.armed = false;
        // The first committer queued meanwhile leads the next group: wake it
        // before the group's followers, which only collect their results.
        if let Some(next) = next {
            next.unpark();
        }
        for (ticket, thread) in &guard.in_flight {
            if *ticket != own_ticket {
                thread.unpark();
            }
        }
        own.unwrap_or_else(|| Err(Error::internal("group commit lost a request's result")))
    }

    /// Commits one group: resolves each batch against the latest state,
    /// logs the group (one record per batch, one `fdatasync` if any request
    /// asked for `Sync`) and then publishes it in the memtable. A group too
    /// big to log goes straight to redb in a checkpoint; a checkpoint also
    /// follows when one was requested or the log is long enough.
    fn run_group(&self, group: Vec<Request>) -> Vec<(u64, Result<u64>)> {
        let want_sync = group.iter().any(|r| r.durability == Durability::Sync);
        let tickets: Vec<u64> = group.iter().map(|r| r.ticket).collect();
        let fail_all = |e: Error| tickets.iter().map(|t| (*t, Err(e.clone()))).collect();
        let checkpoint_tickets: Vec<u64> = group
            .iter()
            .filter(|r| r.checkpoint)
            .map(|r| r.ticket)
            .collect();

        let mut log = self.log.lock();
        if let Some(e) = &log.poisoned {
            return fail_all(e.clone());
        }
        let generation = self.current.read().clone();
        let mut seq = generation.published.load(Ordering::Acquire);
        // LSNs are taken for good only once the group is logged.
        let mut lsn = log.last_lsn;
        let mut results = Vec::with_capacity(group.len());
        let mut staged: Vec<Staged> = Vec::new();
        for request in group {
            let Some(batch) = request.batch else {
                results.push((request.ticket, Ok(0)));
                continue;
            };
            let next = seq + 1;
            // A batch that fails to resolve fails alone.
            let resolved = resolve_batch(batch.ops, |key| latest_value(&staged, &generation, key));
            match resolved.and_then(check_sizes) {
                Ok(writes) => {
                    let first_lsn = lsn + 1;
                    lsn += batch.log.len() as u64;
                    log.wal.add(next, &writes, batch.log.refs(first_lsn, next));
                    staged.push(Staged {
                        seq: next,
                        writes,
                        first_lsn,
                        log: batch.log,
                    });
                    seq = next;
                    results.push((request.ticket, Ok(next)));
                }
                Err(e) => results.push((request.ticket, Err(e))),
            }
        }
        let committed = staged.len() as u64;
        if log.wal.overflowed() {
            // Too big to log: written once, straight to redb, together with
            // everything committed before it.
            log.wal.discard_group();
            if let Err(e) = self.checkpoint(&mut log, &generation, staged, seq, lsn) {
                return fail_all(e);
            }
            self.groups.fetch_add(1, Ordering::Relaxed);
            self.commits.fetch_add(committed, Ordering::Relaxed);
            return results;
        }
        if committed > 0 {
            // Room for the records first: failing to extend the log (a full
            // disk) fails the group cleanly.
            if let Err(e) = log.wal.reserve() {
                log.wal.discard_group();
                return fail_all(e);
            }
            // Log first: a commit becomes visible only once it is durable.
            if let Err(e) = log.wal.write_group(want_sync) {
                return fail_all(self.poison(&mut log, e));
            }
            log.last_lsn = lsn;
            generation.publish(staged);
            self.groups.fetch_add(1, Ordering::Relaxed);
            self.commits.fetch_add(committed, Ordering::Relaxed);
            if want_sync {
                self.syncs.fetch_add(1, Ordering::Relaxed);
                self.unsynced.store(false, Ordering::Release);
            } else {
                self.unsynced.store(true, Ordering::Release);
                let mut flusher = self.flusher.lock();
                if !flusher.pending {
                    flusher.pending = true;
                    self.flusher_cv.notify_all();
                }
            }
        } else if want_sync
            && log.wal.unsynced()
            && let Err(e) = self.sync_log(&mut log)
        {
            // Only flushes (or failed batches): sync what async commits logged.
            return fail_all(e);
        }
        let pending = log.wal.pos() > 0
            || generation.has_mem.load(Ordering::Acquire)
            || generation.base_truncated();
        let last_lsn = log.last_lsn;
        if pending
            && (!checkpoint_tickets.is_empty() || log.wal.wants_checkpoint())
            && let Err(e) = self.checkpoint(&mut log, &generation, Vec::new(), seq, last_lsn)
        {
            if checkpoint_tickets.is_empty() {
                // The commits are durable in the log; the next group retries.
                tracing::warn!(file = %self.file.display(), "checkpoint failed: {e}");
            }
            for (ticket, result) in &mut results {
                if checkpoint_tickets.contains(ticket) {
                    *result = Err(e.clone());
                }
            }
        }
        results
    }

    /// Writes everything committed (the memtable's latest values and the
    /// log's tail, then `extra`, a group too big to log) into redb in one
    /// durable commit numbered `last_seq`, drops truncated log segments,
    /// empties the write-ahead log and starts a new generation. `last_lsn`
    /// is the last LSN given, `extra`'s included.
    fn checkpoint(
        &self,
        log: &mut LogState,
        generation: &Generation,
        extra: Vec<Staged>,
        last_seq: u64,
        last_lsn: u64,
    ) -> Result<()> {
        let write = || -> Result<()> {
            let txn = self.db.begin_write().map_err(|e| self.redb_err(e))?;
            {
                let mut table = txn.open_table(CHUNK_TABLE).map_err(|e| self.redb_err(e))?;
                let mut log_table = txn.open_table(LOG_TABLE).map_err(|e| self.redb_err(e))?;
                let mut meta = txn.open_table(META_TABLE).map_err(|e| self.redb_err(e))?;
                let mut chunks = ChunkWriter::new(&self.file);
                let latest: ResolvedWrites = generation
                    .mem
                    .read()
                    .iter()
                    .filter_map(|(key, chain)| Some((key.clone(), chain.last()?.1.clone())))
                    .collect();
                chunks.apply(&table, latest)?;
                let mut extra_log = Vec::new();
                for staged in extra {
                    chunks.apply(&table, staged.writes)?;
                    extra_log.push((staged.first_lsn, staged.seq, staged.log));
                }
                chunks.flush(&mut table)?;
                let tail = generation.tail.read();
                let floor = tail.floor;
                let entries = (tail.iter())
                    .chain(
                        extra_log
                            .iter()
                            .flat_map(|(lsn, seq, b)| b.refs(*lsn, *seq)),
                    )
                    .filter(|e| e.lsn > floor);
                write_log_segments(&mut log_table, entries).map_err(|e| self.redb_err(e))?;
                drop(tail);
                drop_log_segments(&mut log_table, floor).map_err(|e| self.redb_err(e))?;
                meta.insert(SEQ_KEY, last_seq)
                    .map_err(|e| self.redb_err(e))?;
                meta.insert(LOG_LAST_KEY, last_lsn)
                    .map_err(|e| self.redb_err(e))?;
                meta.insert(LOG_FLOOR_KEY, floor)
                    .map_err(|e| self.redb_err(e))?;
            }
            txn.commit().map_err(|e| self.redb_err(e))
        };
        // redb may panic on a damaged file: an error instead of unwinding.
        catch_unwind(AssertUnwindSafe(write))
            .unwrap_or_else(|payload| Err(self.panic_error(payload.as_ref())))?;
        // redb now holds every commit durably.
        log.last_lsn = last_lsn;
        log.wal.reset();
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.unsynced.store(false, Ordering::Release);
        // Without a new generation the commits of `extra` could not become
        // visible: refuse further commits until a reopen recovers.
        let next = Generation::open(&self.db, &self.file).map_err(|e| self.poison(log, e))?;
        *self.current.write() = Arc::new(next);
        Ok(())
    }

    /// `fdatasync`s the log (poisoning the engine if that fails).
    fn sync_log(&self, log: &mut LogState) -> Result<()> {
        match log.wal.sync() {
            Ok(()) => {
                self.syncs.fetch_add(1, Ordering::Relaxed);
                self.unsynced.store(false, Ordering::Release);
                Ok(())
            }
            Err(e) => Err(self.poison(log, e)),
        }
    }

    /// Stops accepting commits after a log failure and returns the error to report.
    fn poison(&self, log: &mut LogState, e: Error) -> Error {
        let e = Error::new(
            e.code,
            format!(
                "{}; the outcome of the last commits is unknown and no more commits are accepted until the database is reopened",
                e.message
            ),
        );
        tracing::error!("{}", e.message);
        log.poisoned = Some(e.clone());
        e
    }

    /// Background thread: makes async commits durable within `FLUSH_INTERVAL`.
    fn run_flusher(&self) {
        let mut state = self.flusher.lock();
        loop {
            while !state.pending && !state.shutdown {
                self.flusher_cv.wait(&mut state);
            }
            if state.shutdown {
                return;
            }
            // Let more async commits accumulate (or shutdown interrupt).
            let _ = self.flusher_cv.wait_for(&mut state, FLUSH_INTERVAL);
            if state.shutdown {
                return;
            }
            state.pending = false;
            drop(state);
            if self.unsynced.load(Ordering::Acquire)
                && let Err(e) = self.submit(None, Durability::Sync, false)
            {
                tracing::warn!(file = %self.file.display(), "background flush failed: {e}");
            }
            state = self.flusher.lock();
        }
    }
}

/// Resets the leader flag and fails the in-flight requests if the leader
/// unwinds, so followers never wait forever.
struct LeaderGuard<'a> {
    inner: &'a Inner,
    /// The group's requests and their committers.
    in_flight: Vec<(u64, std::thread::Thread)>,
    /// Cleared when leadership was handed back normally.
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.inner.group.lock();
        for (ticket, _) in &self.in_flight {
            state.done.insert(
                *ticket,
                Err(Error::internal(
                    "commit failed: the committing thread panicked",
                )),
            );
        }
        state.leader_active = false;
        let next = state.queue.front().map(|r| r.thread.clone());
        drop(state);
        for (_, thread) in self.in_flight.drain(..) {
            thread.unpark();
        }
        if let Some(next) = next {
            next.unpark();
        }
    }
}

fn check_sizes(writes: super::ResolvedWrites) -> Result<super::ResolvedWrites> {
    for (key, value) in &writes {
        let len = key.len().max(value.as_ref().map_or(0, Vec::len));
        if len > MAX_ITEM_LEN {
            return Err(Error::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!("key or value of {len} bytes exceeds the storage limit of 3 GiB"),
            ));
        }
    }
    Ok(writes)
}

/// The write side of the chunk layout, for one redb write transaction (a
/// checkpoint or a recovery): writes go to an in-memory overlay of each chunk
/// they touch, and [`ChunkWriter::flush`] rewrites those chunks, cut again to
/// size, at the end. Chunk boundaries stay those of the committed tree until
/// the flush, so a key always maps to the same chunk within a transaction.
struct ChunkWriter<'f> {
    file: &'f Path,
    /// Chunks being changed, by their redb key (their last key when read).
    dirty: BTreeMap<Vec<u8>, Dirty>,
    /// The first chunk of an empty store.
    fresh: Option<Dirty>,
    /// Last lookup: keys `>= from` and `<= chunk` (or any key `>= from` when
    /// `beyond` says `from` was past the last chunk) map to `chunk`. Sorted
    /// write sets thus cost one redb lookup per chunk, not per key.
    cursor: Option<Cursor>,
}

struct Cursor {
    from: Vec<u8>,
    chunk: Option<Vec<u8>>,
    beyond: bool,
}

#[derive(Default)]
struct Dirty {
    /// The chunk as committed (validated), empty for a new chunk.
    orig: Vec<u8>,
    orig_n: usize,
    /// Changes over `orig`: `None` deletes.
    overlay: Overlay,
}

/// A pending write of an overlay: the key and its value (`None` deletes).
type PendingPair<'a> = (&'a Vec<u8>, &'a Option<Vec<u8>>);

/// A chunk's pending writes, in key order. Write sets arrive sorted, so they
/// are appended to a vector (a bulk load costs no second ordered map); a
/// large overlay written out of order (several big batches in one group)
/// moves to a map.
enum Overlay {
    Sorted(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Map(BTreeMap<Vec<u8>, Option<Vec<u8>>>),
}

impl Default for Overlay {
    fn default() -> Overlay {
        Overlay::Sorted(Vec::new())
    }
}

impl Overlay {
    fn insert(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        match self {
            Overlay::Sorted(v) => {
                if v.last().is_none_or(|(last, _)| *last < key) {
                    v.push((key, value));
                    return;
                }
                match v.binary_search_by(|(k, _)| k.cmp(&key)) {
                    Ok(i) => v[i].1 = value,
                    Err(i) if v.len() < 256 => v.insert(i, (key, value)),
                    Err(_) => {
                        let mut map: BTreeMap<_, _> = std::mem::take(v).into_iter().collect();
                        map.insert(key, value);
                        *self = Overlay::Map(map);
                    }
                }
            }
            Overlay::Map(m) => {
                m.insert(key, value);
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Overlay::Sorted(v) => v.len(),
            Overlay::Map(m) => m.len(),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = PendingPair<'_>> + '_> {
        match self {
            Overlay::Sorted(v) => Box::new(v.iter().map(|(k, v)| (k, v))),
            Overlay::Map(m) => Box::new(m.iter()),
        }
    }
}

impl Dirty {
    /// The chunk's entries after the overlay, ascending.
    fn merged(&self) -> Result<Vec<(&[u8], &[u8])>> {
        let view = ChunkView::trusted(&self.orig, self.orig_n);
        let mut out = Vec::with_capacity(view.len() + self.overlay.len());
        let base = view.entries()?;
        let mut base = base.into_iter().peekable();
        let mut over = self.overlay.iter().peekable();
        loop {
            match (base.peek(), over.peek()) {
                (None, None) => break,
                (Some(_), None) => out.push(base.next().expect("peeked")),
                (None, Some(_)) => {
                    let (k, v) = over.next().expect("peeked");
                    if let Some(v) = v {
                        out.push((k.as_slice(), v.as_slice()));
                    }
                }
                (Some((bk, _)), Some((ok, _))) => match (*bk).cmp(ok.as_slice()) {
                    std::cmp::Ordering::Less => out.push(base.next().expect("peeked")),
                    ord => {
                        if ord == std::cmp::Ordering::Equal {
                            base.next();
                        }
                        let (k, v) = over.next().expect("peeked");
                        if let Some(v) = v {
                            out.push((k.as_slice(), v.as_slice()));
                        }
                    }
                },
            }
        }
        Ok(out)
    }
}

type WriteTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

impl<'f> ChunkWriter<'f> {
    fn new(file: &'f Path) -> ChunkWriter<'f> {
        ChunkWriter {
            file,
            dirty: BTreeMap::new(),
            fresh: None,
            cursor: None,
        }
    }

    fn err(&self, e: impl Into<redb::Error>) -> Error {
        redb_error(self.file, e.into())
    }

    /// The committed chunk that holds (or would hold) `key`: `None` for an
    /// empty store.
    fn locate(&mut self, table: &WriteTable, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(c) = &self.cursor
            && key >= c.from.as_slice()
            && (c.beyond || c.chunk.as_deref().is_none_or(|k| key <= k))
        {
            return Ok(c.chunk.clone());
        }
        let mut range = table.range::<&[u8]>(key..).map_err(|e| self.err(e))?;
        let (chunk, beyond) = match range.next() {
            Some(entry) => {
                let (k, _) = entry.map_err(|e| self.err(e))?;
                (Some(k.value().to_vec()), false)
            }
            None => {
                drop(range);
                let last = table.last().map_err(|e| self.err(e))?;
                (last.map(|(k, _)| k.value().to_vec()), true)
            }
        };
        self.cursor = Some(Cursor {
            from: key.to_vec(),
            chunk: chunk.clone(),
            beyond,
        });
        Ok(chunk)
    }

    /// Records resolved writes (ascending keys).
    fn apply(&mut self, table: &WriteTable, writes: super::ResolvedWrites) -> Result<()> {
        for (key, value) in writes {
            let dirty = match self.locate(table, &key)? {
                None => self.fresh.get_or_insert_with(Dirty::default),
                Some(chunk) => {
                    if !self.dirty.contains_key(&chunk) {
                        let orig = table
                            .get(chunk.as_slice())
                            .map_err(|e| self.err(e))?
                            .map(|g| g.value().to_vec())
                            .ok_or_else(|| {
                                Error::corrupted(
                                    "database file is corrupted: a data chunk vanished",
                                )
                            })?;
                        let orig_n = ChunkView::parse(&orig)?.len();
                        self.dirty.insert(
                            chunk.clone(),
                            Dirty {
                                orig,
                                orig_n,
                                overlay: Overlay::default(),
                            },
                        );
                    }
                    self.dirty.get_mut(&chunk).expect("inserted above")
                }
            };
            dirty.overlay.insert(key, value);
        }
        Ok(())
    }

    /// Rewrites every changed chunk (re-cut to size; removed when empty).
    fn flush(self, table: &mut WriteTable) -> Result<()> {
        let file = self.file;
        let err = |e: redb::StorageError| redb_error(file, e.into());
        for (old_key, dirty) in &self.dirty {
            table.remove(old_key.as_slice()).map_err(err)?;
            let merged = dirty.merged()?;
            for (last, bytes) in chunk::pack(&merged) {
                table.insert(last, bytes.as_slice()).map_err(err)?;
            }
        }
        if let Some(dirty) = &self.fresh {
            let merged = dirty.merged()?;
            for (last, bytes) in chunk::pack(&merged) {
                table.insert(last, bytes.as_slice()).map_err(err)?;
            }
        }
        Ok(())
    }
}

/// The error reported when redb panics (which it may do on a damaged file).
fn storage_panic(file: &Path, payload: &(dyn std::any::Any + Send)) -> Error {
    Error::corrupted(format!(
        "database file \"{}\" is corrupted: storage engine failure ({})",
        file.display(),
        panic_message(payload)
    ))
}

fn redb_error(file: &Path, e: redb::Error) -> Error {
    let file = file.display();
    match e {
        redb::Error::Corrupted(msg) => {
            Error::corrupted(format!("database file \"{file}\" is corrupted: {msg}"))
        }
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => Error::new(
            SqlState::DISK_FULL,
            format!("could not write to database file \"{file}\": {io}"),
        ),
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Error::corrupted(
            format!("database file \"{file}\" is corrupted: unexpected end of file ({io})"),
        ),
        redb::Error::Io(io) => Error::io(format!("I/O error on database file \"{file}\": {io}")),
        redb::Error::PreviousIo => Error::io(format!(
            "an earlier I/O error on database file \"{file}\" left it unusable; reopen the database"
        )),
        redb::Error::DatabaseClosed => Error::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("database file \"{file}\" has been closed"),
        ),
        redb::Error::ValueTooLarge(len) => Error::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            format!("value of {len} bytes exceeds the storage limit"),
        ),
        e => Error::internal(format!("storage error on database file \"{file}\": {e}")),
    }
}

/// What readers see between two checkpoints: redb as of the first, plus the
/// commits since then in a multi-version memtable. A checkpoint starts a new
/// generation; snapshots of an old one keep it (its redb read transaction
/// and its memtable) alive, and it stays complete up to the checkpoint.
struct Generation {
    /// The chunk table as of the checkpoint.
    table: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    /// The change log's segments as of the checkpoint.
    log_table: redb::ReadOnlyTable<u64, &'static [u8]>,
    /// The last LSN given as of the checkpoint.
    base_last: u64,
    /// The first LSN in `log_table` (if it has any).
    base_first: Option<u64>,
    /// The change log's entries since the checkpoint, and its floor.
    tail: Arc<RwLock<LogTail>>,
    /// The commits since the checkpoint (only the commit leader writes).
    mem: RwLock<VersionMap>,
    /// Sequence number of the last visible commit.
    published: AtomicU64,
    /// `mem` holds versions; set before `published` moves past them.
    has_mem: AtomicBool,
    file: PathBuf,
}

impl Generation {
    /// A generation over redb's current state, with an empty memtable.
    fn open(db: &redb::Database, file: &Path) -> Result<Generation> {
        let open = || -> std::result::Result<_, redb::Error> {
            let txn = db.begin_read()?;
            let table = txn.open_table(CHUNK_TABLE)?;
            let log_table = txn.open_table(LOG_TABLE)?;
            let meta = txn.open_table(META_TABLE)?;
            let get = |key| Ok::<_, redb::Error>(meta.get(key)?.map_or(0, |g| g.value()));
            let (seq, last, floor) = (get(SEQ_KEY)?, get(LOG_LAST_KEY)?, get(LOG_FLOOR_KEY)?);
            let first = log_table.first()?.map(|(k, _)| k.value());
            Ok((table, log_table, seq, last, floor, first))
        };
        let (table, log_table, seq, base_last, floor, base_first) =
            open().map_err(|e| redb_error(file, e))?;
        Ok(Generation {
            table,
            log_table,
            base_last,
            base_first,
            tail: Arc::new(RwLock::new(LogTail::new(floor, base_last))),
            mem: RwLock::new(VersionMap::new()),
            published: AtomicU64::new(seq),
            has_mem: AtomicBool::new(false),
            file: file.to_path_buf(),
        })
    }

    /// Runs a read, turning a redb panic (possible on a damaged file) into an error.
    fn guarded<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        catch_unwind(AssertUnwindSafe(read))
            .unwrap_or_else(|payload| Err(storage_panic(&self.file, payload.as_ref())))
    }

    /// The value of `key` as of the checkpoint.
    fn base_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.guarded(|| {
            let err = |e: redb::StorageError| redb_error(&self.file, e.into());
            let mut range = self.table.range::<&[u8]>(key..).map_err(err)?;
            let Some(entry) = range.next() else {
                return Ok(None);
            };
            let (_, chunk) = entry.map_err(err)?;
            let view = ChunkView::parse(chunk.value())?;
            Ok(view.get(key)?.map(<[u8]>::to_vec))
        })
    }

    /// The latest committed value of `key`.
    fn latest(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.has_mem.load(Ordering::Acquire)
            && let Some((_, value)) = self.mem.read().get(key).and_then(|chain| chain.last())
        {
            return Ok(value.clone());
        }
        self.base_get(key)
    }

    /// Makes a logged group visible.
    fn publish(&self, staged: Vec<Staged>) {
        let Some(last) = staged.last().map(|s| s.seq) else {
            return;
        };
        self.has_mem.store(true, Ordering::Release);
        {
            let mut mem = self.mem.write();
            let mut tail = self.tail.write();
            for batch in staged {
                for (key, value) in batch.writes {
                    mem.entry(key).or_default().push((batch.seq, value));
                }
                for e in batch.log.refs(batch.first_lsn, batch.seq) {
                    tail.push(e.lsn, e.seq, e.data);
                }
            }
        }
        self.published.store(last, Ordering::Release);
    }

    /// Some of the change log's checkpointed entries are truncated (the
    /// next checkpoint drops them).
    fn base_truncated(&self) -> bool {
        self.base_first
            .is_some_and(|first| first <= self.tail.read().floor)
    }
}

/// A batch of a group being committed: its number, resolved writes and
/// numbered change-log entries.
struct Staged {
    seq: u64,
    writes: ResolvedWrites,
    /// Its change-log entries, numbered from `first_lsn`.
    first_lsn: u64,
    log: LogBatch,
}

/// The latest value of `key` for a batch being resolved: the group's earlier
/// batches (each sorted by key), else what is committed.
fn latest_value(staged: &[Staged], generation: &Generation, key: &[u8]) -> Result<Option<Vec<u8>>> {
    for batch in staged.iter().rev() {
        let writes = &batch.writes;
        if let Ok(i) = writes.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
            return Ok(writes[i].1.clone());
        }
    }
    generation.latest(key)
}

/// Appends change-log entries (ascending, after every entry in `table`) as
/// segments of at most [`SEGMENT_BYTES`] (a larger entry gets one of its
/// own).
fn write_log_segments<'e>(
    table: &mut redb::Table<u64, &'static [u8]>,
    entries: impl Iterator<Item = LogRef<'e>>,
) -> std::result::Result<(), redb::Error> {
    let mut segment = Vec::new();
    let mut first = 0;
    for e in entries {
        let len = super::log::SEGMENT_ENTRY_HEADER + e.data.len();
        if !segment.is_empty() && segment.len() + len > SEGMENT_BYTES {
            table.insert(first, segment.as_slice())?;
            segment.clear();
        }
        if segment.is_empty() {
            first = e.lsn;
        }
        super::log::encode_entry(&mut segment, e);
    }
    if !segment.is_empty() {
        table.insert(first, segment.as_slice())?;
    }
    Ok(())
}

/// Deletes the change-log segments whose entries are all at or below
/// `floor`.
fn drop_log_segments(
    table: &mut redb::Table<u64, &'static [u8]>,
    floor: u64,
) -> std::result::Result<(), redb::Error> {
    let starts: Vec<u64> = table
        .range(..=floor)?
        .map(|r| r.map(|(k, _)| k.value()))
        .collect::<std::result::Result<_, _>>()?;
    let after = table.range(floor.saturating_add(1)..)?.next().transpose()?;
    let after = after.map(|(k, _)| k.value());
    for (i, &start) in starts.iter().enumerate() {
        let whole = match starts.get(i + 1).copied().or(after) {
            // The next segment starts at or below floor + 1.
            Some(next) => next <= floor.saturating_add(1),
            // The last segment: look at its last entry.
            None => {
                let last = table.get(start)?.and_then(|v| {
                    super::log::decode_segment(v.value())
                        .ok()
                        .and_then(|es| es.last().map(|e| e.lsn))
                });
                last.is_some_and(|l| l <= floor)
            }
        };
        if whole {
            table.remove(start)?;
        }
    }
    Ok(())
}

struct DiskSnapshot {
    generation: Arc<Generation>,
    seq: u64,
    /// The memtable may hold versions this snapshot sees.
    mem: bool,
}

impl Snapshot for DiskSnapshot {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.mem
            && let Some(value) = self
                .generation
                .mem
                .read()
                .get(key)
                .and_then(|chain| visible(chain, self.seq))
        {
            return Ok(value.clone());
        }
        self.generation.base_get(key)
    }

    fn log_scan(&self, from: u64, reverse: bool) -> Result<LogIter> {
        let g = &self.generation;
        let tail = TailScan::new(g.tail.clone(), g.clone(), self.seq, from, reverse);
        let base_wanted = g.base_first.is_some() && (reverse || from <= g.base_last);
        if !base_wanted {
            return Ok(Box::new(tail));
        }
        let base = BaseLogScan::new(g.clone(), from, reverse)?;
        if reverse {
            Ok(Box::new(tail.chain(base)))
        } else {
            Ok(Box::new(base.chain(tail)))
        }
    }

    fn log_last(&self) -> u64 {
        self.generation.tail.read().last_visible(self.seq)
    }

    fn scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> Result<KvIter> {
        if self.mem {
            Ok(Box::new(self.merged_scan(start, end, reverse)?))
        } else {
            Ok(Box::new(self.chunk_scan(start, end, reverse)?))
        }
    }

    fn scan_ref(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<RefIter> {
        if self.mem {
            Ok(Box::new(self.merged_scan(start, end, reverse)?))
        } else {
            Ok(Box::new(self.chunk_scan(start, end, reverse)?))
        }
    }
}

impl DiskSnapshot {
    fn chunk_scan(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<DiskScan> {
        let done = super::bounds_are_empty(&start, &end);
        let generation = &self.generation;
        let table = &generation.table;
        let chunks = generation.guarded(|| {
            let err = |e: redb::StorageError| redb_error(&generation.file, e.into());
            // Chunks whose last key is >= the start hold the range's first
            // pairs; going backwards, the first chunk whose last key is >= the
            // end holds its last pairs.
            let lower = match &start {
                Bound::Included(k) | Bound::Excluded(k) => Bound::Included(k.as_slice()),
                Bound::Unbounded => Bound::Unbounded,
            };
            let upper = match (&end, reverse) {
                (Bound::Included(k) | Bound::Excluded(k), true) => {
                    let mut r = table.range::<&[u8]>(k.as_slice()..).map_err(err)?;
                    match r.next() {
                        Some(entry) => Some(entry.map_err(err)?.0.value().to_vec()),
                        None => None,
                    }
                }
                _ => None,
            };
            let upper = match &upper {
                Some(k) => Bound::Included(k.as_slice()),
                None => Bound::Unbounded,
            };
            table.range::<&[u8]>((lower, upper)).map_err(err)
        })?;
        Ok(DiskScan {
            chunks,
            current: None,
            start,
            end,
            reverse,
            file: generation.file.clone(),
            done,
        })
    }

    /// A scan of the checkpointed chunks merged with the memtable's
    /// versions visible to this snapshot (which replace or delete pairs).
    fn merged_scan(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<MergedScan> {
        let mem = VersionCursor::new(start.clone(), end.clone(), reverse, self.seq, true);
        let base = self.chunk_scan(start, end, reverse)?;
        Ok(MergedScan {
            base_done: base.done,
            base,
            base_next: None,
            generation: self.generation.clone(),
            mem,
            pop_mem: false,
            done: false,
        })
    }
}

/// A scan of a generation's checkpointed change-log segments, from an
/// LSN on (or down from it), leaving out entries at or below the floor.
struct BaseLogScan {
    generation: Arc<Generation>,
    segments: redb::Range<'static, u64, &'static [u8]>,
    /// The current segment's entries still to yield, in scan order.
    entries: std::vec::IntoIter<LogEntry>,
    from: u64,
    floor: u64,
    reverse: bool,
    done: bool,
}

impl BaseLogScan {
    fn new(generation: Arc<Generation>, from: u64, reverse: bool) -> Result<BaseLogScan> {
        let floor = generation.tail.read().floor;
        let segments = generation.guarded(|| {
            let err = |e: redb::StorageError| redb_error(&generation.file, e.into());
            let table = &generation.log_table;
            if reverse {
                return table.range(..=from).map_err(err);
            }
            // The segment holding `from` starts at or below it.
            let start = match table.range(..=from).map_err(err)?.next_back() {
                Some(entry) => entry.map_err(err)?.0.value(),
                None => 0,
            };
            table.range(start..).map_err(err)
        })?;
        Ok(BaseLogScan {
            generation,
            segments,
            entries: Vec::new().into_iter(),
            from,
            floor,
            reverse,
            done: false,
        })
    }

    fn next_entry(&mut self) -> Result<Option<LogEntry>> {
        loop {
            for e in self.entries.by_ref() {
                if e.lsn <= self.floor {
                    if self.reverse {
                        self.done = true;
                        return Ok(None);
                    }
                    continue;
                }
                let wanted = if self.reverse {
                    e.lsn <= self.from
                } else {
                    e.lsn >= self.from
                };
                if wanted {
                    return Ok(Some(e));
                }
            }
            let generation = self.generation.clone();
            let segment = generation.guarded(|| {
                let err = |e: redb::StorageError| redb_error(&generation.file, e.into());
                let next = if self.reverse {
                    self.segments.next_back()
                } else {
                    self.segments.next()
                };
                match next {
                    None => Ok(None),
                    Some(entry) => {
                        let (_, bytes) = entry.map_err(err)?;
                        super::log::decode_segment(bytes.value()).map(Some)
                    }
                }
            })?;
            let Some(mut entries) = segment else {
                self.done = true;
                return Ok(None);
            };
            if self.reverse {
                entries.reverse();
            }
            self.entries = entries.into_iter();
        }
    }
}

impl Iterator for BaseLogScan {
    type Item = Result<LogEntry>;

    fn next(&mut self) -> Option<Result<LogEntry>> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A scan over a range of chunks, yielding owned pairs inside the bounds.
struct DiskScan {
    chunks: redb::Range<'static, &'static [u8], &'static [u8]>,
    /// The chunk being read: its bytes, its entry count, the next entry
    /// (forward) or one past it (reverse), and whether every entry left in
    /// it is inside the far bound (no per-pair bound check needed).
    current: Option<Current>,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    reverse: bool,
    file: PathBuf,
    /// Past the range, or an error was reported.
    done: bool,
}

struct Current {
    guard: redb::AccessGuard<'static, &'static [u8]>,
    n: usize,
    pos: usize,
    inside: bool,
}

fn after_start(key: &[u8], start: &Bound<Vec<u8>>) -> bool {
    match start {
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
        Bound::Unbounded => true,
    }
}

fn before_end(key: &[u8], end: &Bound<Vec<u8>>) -> bool {
    match end {
        Bound::Included(e) => key <= e.as_slice(),
        Bound::Excluded(e) => key < e.as_slice(),
        Bound::Unbounded => true,
    }
}

impl DiskScan {
    /// Loads the next chunk in scan order; false when there is none.
    fn load_next(&mut self) -> Result<bool> {
        let entry = if self.reverse {
            self.chunks.next_back()
        } else {
            self.chunks.next()
        };
        let Some(entry) = entry else {
            return Ok(false);
        };
        let (last, guard) = entry.map_err(|e| redb_error(&self.file, e.into()))?;
        let view = ChunkView::parse(guard.value())?;
        let n = view.len();
        let (pos, inside) = if self.reverse {
            let first_ok = n > 0 && after_start(view.key(0)?, &self.start);
            let pos = if before_end(last.value(), &self.end) {
                n
            } else {
                match &self.end {
                    Bound::Included(e) => match view.search(e)? {
                        Ok(i) => i + 1,
                        Err(i) => i,
                    },
                    Bound::Excluded(e) => match view.search(e)? {
                        Ok(i) | Err(i) => i,
                    },
                    Bound::Unbounded => n,
                }
            };
            (pos, first_ok)
        } else {
            let pos = match &self.start {
                Bound::Included(s) => match view.search(s)? {
                    Ok(i) | Err(i) => i,
                },
                Bound::Excluded(s) => match view.search(s)? {
                    Ok(i) => i + 1,
                    Err(i) => i,
                },
                Bound::Unbounded => 0,
            };
            (pos, before_end(last.value(), &self.end))
        };
        self.current = Some(Current {
            guard,
            n,
            pos,
            inside,
        });
        Ok(true)
    }

    /// Moves to the next pair inside the bounds; returns its index in the
    /// current chunk.
    fn advance(&mut self) -> Result<Option<usize>> {
        loop {
            if let Some(c) = &mut self.current {
                let view = ChunkView::trusted(c.guard.value(), c.n);
                if self.reverse {
                    if c.pos > 0 {
                        c.pos -= 1;
                        let (k, _) = view.entry(c.pos)?;
                        if !c.inside && !after_start(k, &self.start) {
                            return Ok(None);
                        }
                        return Ok(Some(c.pos));
                    }
                } else if c.pos < c.n {
                    let i = c.pos;
                    c.pos += 1;
                    let (k, _) = view.entry(i)?;
                    if !c.inside && !before_end(k, &self.end) {
                        return Ok(None);
                    }
                    return Ok(Some(i));
                }
            }
            self.current = None;
            if !self.load_next()? {
                return Ok(None);
            }
        }
    }
}

impl DiskScan {
    /// The pair at index `i` of the current chunk (as returned by `advance`).
    fn entry_at(&self, i: usize) -> Result<(&[u8], &[u8])> {
        let c = self.current.as_ref().expect("advance keeps the chunk");
        ChunkView::trusted(c.guard.value(), c.n).entry(i)
    }
}

impl RefScan for DiskScan {
    fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        if self.done {
            return None;
        }
        let step = catch_unwind(AssertUnwindSafe(|| self.advance()))
            .unwrap_or_else(|payload| Err(storage_panic(&self.file, payload.as_ref())));
        match step {
            // `advance` checked this entry.
            Ok(Some(i)) => Some(self.entry_at(i)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for DiskScan {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
    }
}

/// A scan of the checkpointed chunks merged with a memtable cursor: where
/// both have a key, the memtable's version wins (a deletion hides the pair).
struct MergedScan {
    base: DiskScan,
    /// The base scan's next pair (an index into its current chunk), not yet
    /// handed out.
    base_next: Option<usize>,
    base_done: bool,
    generation: Arc<Generation>,
    mem: VersionCursor,
    /// The pair handed out last is the memtable cursor's front: pop it first.
    pop_mem: bool,
    /// Past the range, or an error was reported.
    done: bool,
}

/// Where a merged scan's next pair comes from.
enum Pick {
    Base(usize),
    Mem,
}

impl MergedScan {
    fn pick(&mut self) -> Result<Option<Pick>> {
        loop {
            if std::mem::take(&mut self.pop_mem) {
                self.mem.pop();
            }
            if self.base_next.is_none() && !self.base_done {
                match self.base.advance()? {
                    Some(i) => self.base_next = Some(i),
                    None => self.base_done = true,
                }
            }
            while self.mem.needs_refill() {
                self.mem.refill(&self.generation.mem.read());
            }
            let order = match (self.mem.front(), self.base_next) {
                (None, None) => return Ok(None),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((key, _)), Some(i)) => {
                    let order = key.as_slice().cmp(self.base.entry_at(i)?.0);
                    if self.base.reverse {
                        order.reverse()
                    } else {
                        order
                    }
                }
            };
            if order == std::cmp::Ordering::Greater {
                return Ok(self.base_next.take().map(Pick::Base));
            }
            if order == std::cmp::Ordering::Equal {
                // The memtable's version replaces the checkpointed pair.
                self.base_next = None;
            }
            if matches!(self.mem.front(), Some((_, None))) {
                self.mem.pop();
                continue;
            }
            self.pop_mem = true;
            return Ok(Some(Pick::Mem));
        }
    }

    fn guarded_pick(&mut self) -> Result<Option<Pick>> {
        if self.done {
            return Ok(None);
        }
        let picked = catch_unwind(AssertUnwindSafe(|| self.pick()))
            .unwrap_or_else(|payload| Err(storage_panic(&self.generation.file, payload.as_ref())));
        if !matches!(picked, Ok(Some(_))) {
            self.done = true;
        }
        picked
    }
}

impl RefScan for MergedScan {
    fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        match self.guarded_pick() {
            Ok(Some(Pick::Base(i))) => Some(self.base.entry_at(i)),
            Ok(Some(Pick::Mem)) => {
                let (key, value) = self.mem.front().expect("picked from the memtable");
                let value = value.as_deref().expect("deletions are skipped");
                Some(Ok((key.as_slice(), value)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl Iterator for MergedScan {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.guarded_pick() {
            Ok(Some(Pick::Base(i))) => {
                Some(self.base.entry_at(i).map(|(k, v)| (k.to_vec(), v.to_vec())))
            }
            Ok(Some(Pick::Mem)) => {
                self.pop_mem = false;
                let (key, value) = self.mem.pop().expect("picked from the memtable");
                Some(Ok((key, value.expect("deletions are skipped"))))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::wal;
    use std::io::Write;
    use std::ops::Bound::Unbounded;
    use std::time::Instant;

    fn put(e: &DiskEngine, key: &[u8], value: &[u8], durability: Durability) -> u64 {
        let mut b = WriteBatch::default();
        b.put(key.to_vec(), value.to_vec());
        e.commit(b, durability).unwrap()
    }

    /// Commits `per_thread` durable batches (`batch(thread, i)`) from each of
    /// `threads` threads at once; the sequence numbers of those that
    /// succeeded, sorted (a failure must be one `fails(thread, i)` allows).
    fn commit_from_threads(
        e: &Arc<DiskEngine>,
        threads: u32,
        per_thread: u32,
        batch: fn(u32, u32) -> WriteBatch,
        fails: fn(u32, u32) -> bool,
    ) -> Vec<u64> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    let mut seqs = Vec::new();
                    for i in 0..per_thread {
                        match e.commit(batch(t, i), Durability::Sync) {
                            Ok(seq) => seqs.push(seq),
                            Err(err) => assert!(fails(t, i), "{err:?}"),
                        }
                    }
                    seqs
                })
            })
            .collect();
        let mut seqs: Vec<u64> = handles
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort_unstable();
        seqs
    }

    /// A range three ways: from the model, scanned forward (owned pairs) and
    /// scanned backward (lent pairs, put back in ascending order).
    fn range_three_ways(
        s: &dyn Snapshot,
        model: &BTreeMap<Vec<u8>, Vec<u8>>,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> [Vec<KvPair>; 3] {
        let want: Vec<KvPair> = model
            .range::<Vec<u8>, _>((start.clone(), end.clone()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let forward: Vec<KvPair> = s
            .scan(start.clone(), end.clone(), false)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut backward = Vec::new();
        let mut it = s.scan_ref(start, end, true).unwrap();
        while let Some(pair) = it.next_ref() {
            let (k, v) = pair.unwrap();
            backward.push((k.to_vec(), v.to_vec()));
        }
        backward.reverse();
        [want, forward, backward]
    }

    /// Many small pairs written in shuffled order over several commits, some
    /// deleted, read back with bounded scans in both directions and point
    /// reads, also after reopening: chunk splits, boundary moves and removals.
    #[test]
    fn chunks_split_move_and_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = BTreeMap::new();
        let key = |i: u32| format!("k{:06}", i * 7 % 50_000).into_bytes();
        {
            let e = DiskEngine::open(dir.path()).unwrap();
            // Descending batches move the first chunk's lower edge, ascending
            // ones extend the last chunk.
            for round in 0..6u32 {
                let mut b = WriteBatch::default();
                let mut keys: Vec<u32> = (round * 1000..(round + 1) * 1000).collect();
                if round % 2 == 0 {
                    keys.reverse();
                }
                for i in keys {
                    let v = vec![round as u8; (i % 40) as usize];
                    model.insert(key(i), v.clone());
                    b.put(key(i), v);
                }
                e.commit(b, Durability::Async).unwrap();
            }
            let mut b = WriteBatch::default();
            for i in (0..6000u32).filter(|i| i % 3 != 0 || *i < 1500) {
                model.remove(&key(i));
                b.delete(key(i));
            }
            e.commit(b, Durability::Sync).unwrap();
        }
        let e = DiskEngine::open(dir.path()).unwrap();
        let s = e.snapshot().unwrap();
        let all: Vec<KvPair> = s
            .scan(Unbounded, Unbounded, false)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expect: Vec<KvPair> = model.clone().into_iter().collect();
        assert_eq!(all, expect);
        for (lo, hi) in [
            ("k001000", "k020000"),
            ("k000000", "k000010"),
            ("k049990", "k099999"),
            ("k030001", "k030001"),
        ] {
            let (lo, hi) = (lo.as_bytes().to_vec(), hi.as_bytes().to_vec());
            for (start, end) in [
                (Bound::Included(lo.clone()), Bound::Excluded(hi.clone())),
                (Bound::Excluded(lo.clone()), Bound::Included(hi.clone())),
            ] {
                let [want, forward, backward] = range_three_ways(&*s, &model, start, end);
                assert_eq!(forward, want);
                assert_eq!(backward, want);
            }
        }
        for i in (0..7000u32).step_by(13) {
            assert_eq!(s.get(&key(i)).unwrap().as_ref(), model.get(&key(i)));
        }
        // Deleting everything leaves no chunk behind.
        let mut b = WriteBatch::default();
        for k in model.keys() {
            b.delete(k.clone());
        }
        e.commit(b, Durability::Sync).unwrap();
        e.checkpoint().unwrap();
        let txn = e.inner.db.begin_read().unwrap();
        assert!(
            txn.open_table(CHUNK_TABLE)
                .unwrap()
                .first()
                .unwrap()
                .is_none()
        );
    }

    /// A file written before chunks (one redb entry per pair) is converted
    /// when it is opened.
    /// Snapshots read the checkpointed chunks merged with the memtable:
    /// random commits (puts, deletes, merges), checkpoints in between, and
    /// snapshots taken along the way, each checked against a model with
    /// point reads and bounded scans in both directions, owned and lent.
    #[test]
    fn snapshots_merge_memtable_and_checkpoints() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        #[derive(Clone, Debug)]
        enum Step {
            Put(u16, u8),
            Delete(u16),
            Add(u16, i8),
            Commit,
            Checkpoint,
            Snapshot,
        }
        let step = prop_oneof![
            6 => (0u16..400, 0u8..60).prop_map(|(k, n)| Step::Put(k, n)),
            3 => (0u16..400).prop_map(Step::Delete),
            1 => (400u16..404, any::<i8>()).prop_map(|(k, d)| Step::Add(k, d)),
            3 => Just(Step::Commit),
            1 => Just(Step::Checkpoint),
            1 => Just(Step::Snapshot),
        ];
        let key = |k: u16| format!("k{k:04}").into_bytes();
        let mut runner = TestRunner::new(Config {
            cases: 24,
            ..Config::default()
        });
        runner
            .run(&prop::collection::vec(step, 1..400), |steps| {
                let dir = tempfile::tempdir().unwrap();
                let e = DiskEngine::open(dir.path()).unwrap();
                let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
                let mut pending = WriteBatch::default();
                let mut pending_model = model.clone();
                let mut snapshots = Vec::new();
                for step in steps {
                    match step {
                        Step::Put(k, n) => {
                            let v = vec![n; n as usize];
                            pending.put(key(k), v.clone());
                            pending_model.insert(key(k), v);
                        }
                        Step::Delete(k) => {
                            pending.delete(key(k));
                            pending_model.remove(&key(k));
                        }
                        Step::Add(k, d) => {
                            pending
                                .ops
                                .push((key(k), super::super::Op::AddI64(d as i64)));
                            let old = pending_model.get(&key(k)).map_or(0, |v| {
                                i64::from_be_bytes(v.as_slice().try_into().unwrap())
                            });
                            pending_model.insert(key(k), (old + d as i64).to_be_bytes().to_vec());
                        }
                        Step::Commit => {
                            e.commit(std::mem::take(&mut pending), Durability::Sync)
                                .unwrap();
                            model = pending_model.clone();
                        }
                        Step::Checkpoint => e.checkpoint().unwrap(),
                        Step::Snapshot => snapshots.push((e.snapshot().unwrap(), model.clone())),
                    }
                }
                snapshots.push((e.snapshot().unwrap(), model.clone()));
                for (s, model) in &snapshots {
                    for k in (0..404u16).step_by(7) {
                        let got = s.get(&key(k)).unwrap();
                        prop_assert_eq!(got.as_ref(), model.get(&key(k)));
                    }
                    for (lo, hi) in [(0u16, 404u16), (13, 200), (150, 151), (399, 402)] {
                        for (start, end) in [
                            (Bound::Included(key(lo)), Bound::Excluded(key(hi))),
                            (Bound::Excluded(key(lo)), Bound::Included(key(hi))),
                            (Unbounded, Bound::Included(key(hi))),
                            (Bound::Included(key(lo)), Unbounded),
                        ] {
                            let [want, forward, backward] =
                                range_three_ways(&**s, model, start, end);
                            prop_assert_eq!(&forward, &want);
                            prop_assert_eq!(&backward, &want);
                        }
                    }
                }
                drop(snapshots);
                drop(e);
                // Everything is in redb after the final checkpoint.
                let e = DiskEngine::open(dir.path()).unwrap();
                let all: Vec<KvPair> = e
                    .snapshot()
                    .unwrap()
                    .scan(Unbounded, Unbounded, false)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                prop_assert_eq!(all, model.into_iter().collect::<Vec<_>>());
                Ok(())
            })
            .unwrap();
    }

    /// Readers never see half a commit, also while checkpoints replace the
    /// generation under them; a scan started before a checkpoint finishes
    /// on its own generation.
    #[test]
    fn readers_see_whole_commits_across_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let e = Arc::new(DiskEngine::open(dir.path()).unwrap());
        let writer = {
            let e = e.clone();
            std::thread::spawn(move || {
                for round in 0..300u32 {
                    let mut b = WriteBatch::default();
                    for i in 0..50u32 {
                        b.put(i.to_be_bytes().to_vec(), round.to_be_bytes().to_vec());
                    }
                    e.commit(b, Durability::Async).unwrap();
                    if round % 40 == 39 {
                        e.checkpoint().unwrap();
                    }
                }
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || {
                    for _ in 0..300 {
                        let s = e.snapshot().unwrap();
                        let mut it = s.scan(Unbounded, Unbounded, false).unwrap();
                        let first = it.next().map(|r| r.unwrap().1);
                        // Let commits and checkpoints happen mid-scan.
                        std::thread::yield_now();
                        let rest: Vec<Vec<u8>> = it.map(|r| r.unwrap().1).collect();
                        match first {
                            None => assert!(rest.is_empty()),
                            Some(v) => {
                                assert_eq!(rest.len(), 49);
                                assert!(rest.iter().all(|r| *r == v));
                                assert_eq!(s.get(&7u32.to_be_bytes()).unwrap(), Some(v));
                            }
                        }
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        readers.into_iter().for_each(|r| r.join().unwrap());
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 300);
        assert_eq!(e.stats().checkpoints, 7);
    }

    #[test]
    fn legacy_layout_is_converted_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        {
            let db = redb::Database::create(&file).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut kv = txn.open_table(LEGACY_KV_TABLE).unwrap();
                for i in 0..3000u32 {
                    kv.insert(i.to_be_bytes().as_slice(), vec![1u8; 30].as_slice())
                        .unwrap();
                }
                let mut meta = txn.open_table(META_TABLE).unwrap();
                meta.insert(SEQ_KEY, 42).unwrap();
            }
            txn.commit().unwrap();
        }
        let e = DiskEngine::open(dir.path()).unwrap();
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 42);
        let keys: Vec<u32> = s
            .scan(Unbounded, Unbounded, false)
            .unwrap()
            .map(|r| u32::from_be_bytes(r.unwrap().0.try_into().unwrap()))
            .collect();
        assert_eq!(keys, (0..3000).collect::<Vec<_>>());
        assert_eq!(s.get(&77u32.to_be_bytes()).unwrap(), Some(vec![1u8; 30]));
        let txn = e.inner.db.begin_read().unwrap();
        assert!(
            txn.list_tables()
                .unwrap()
                .all(|t| redb::TableHandle::name(&t) != "kv")
        );
    }

    #[test]
    fn log_segments_fit_their_pages() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("segments.redb")).unwrap();
        // Entries of many sizes, one larger than a segment.
        let sizes = |lsn: u64| match lsn {
            300 => SEGMENT_BYTES * 2,
            _ => (lsn as usize * 37) % 900,
        };
        let entries: Vec<LogEntry> = (1..=600u64)
            .map(|lsn| LogEntry {
                lsn,
                seq: lsn / 3,
                data: vec![lsn as u8; sizes(lsn)],
            })
            .collect();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(LOG_TABLE).unwrap();
            write_log_segments(&mut table, entries.iter().map(LogEntry::as_ref)).unwrap();
        }
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(LOG_TABLE).unwrap();
        let mut segments = Vec::new();
        for row in table.iter().unwrap() {
            let (first, bytes) = row.unwrap();
            let segment = super::super::log::decode_segment(bytes.value()).unwrap();
            assert_eq!(segment[0].lsn, first.value());
            // Within the limit, or one entry alone.
            assert!(bytes.value().len() <= SEGMENT_BYTES || segment.len() == 1);
            segments.push((bytes.value().len(), segment));
        }
        assert!(segments.len() > 3);
        // Each segment is cut only when the next entry would not fit.
        for pair in segments.windows(2) {
            let next = super::super::log::SEGMENT_ENTRY_HEADER + pair[1].1[0].data.len();
            assert!(pair[0].0 + next > SEGMENT_BYTES);
        }
        let read: Vec<LogEntry> = segments.into_iter().flat_map(|(_, s)| s).collect();
        assert_eq!(read, entries);
    }

    #[test]
    fn reopen_persists_data_and_seq() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/data");
        {
            let e = DiskEngine::open(&path).unwrap();
            assert_eq!(e.file(), path.join(FILE_NAME));
            assert_eq!(put(&e, b"a", b"1", Durability::Sync), 1);
            assert_eq!(put(&e, b"b", b"2", Durability::Async), 2);
            let mut b = WriteBatch::default();
            b.delete(b"a".to_vec());
            assert_eq!(e.commit(b, Durability::Async).unwrap(), 3);
            assert!(e.size_on_disk() > 0);
        }
        let e = DiskEngine::open(&path).unwrap();
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 3);
        assert_eq!(s.get(b"a").unwrap(), None);
        assert_eq!(s.get(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(put(&e, b"c", b"3", Durability::Sync), 4);
    }

    #[test]
    fn locked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let e = DiskEngine::open(dir.path()).unwrap();
        let err = DiskEngine::open(dir.path()).expect_err("second open must fail");
        assert_eq!(err.code, SqlState::OBJECT_IN_USE);
        assert_eq!(
            err.message,
            format!(
                "database is locked: {} is in use by another process",
                dir.path().display()
            )
        );
        // A snapshot outliving the engine does not keep the file locked.
        put(&e, b"k", b"v", Durability::Sync);
        let snap = e.snapshot().unwrap();
        drop(e);
        let e = DiskEngine::open(dir.path()).unwrap();
        // Its reads now fail cleanly (or return data already in memory).
        match snap.get(b"k") {
            Ok(v) => assert_eq!(v, Some(b"v".to_vec())),
            Err(err) => assert_eq!(err.code, SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE),
        }
        drop(snap);
        drop(e);
    }

    #[test]
    fn garbage_file_is_reported_as_corrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = std::fs::File::create(dir.path().join(FILE_NAME)).unwrap();
        f.write_all(&[0xAB; 10_000]).unwrap();
        drop(f);
        let err = DiskEngine::open(dir.path()).expect_err("must fail");
        assert_eq!(err.code, SqlState::DATA_CORRUPTED, "{err:?}");
        assert!(err.message.contains(FILE_NAME), "{err:?}");
        // Short garbage too.
        std::fs::write(dir.path().join(FILE_NAME), b"hello").unwrap();
        let err = DiskEngine::open(dir.path()).expect_err("must fail");
        assert_eq!(err.code, SqlState::DATA_CORRUPTED, "{err:?}");
    }

    #[test]
    fn truncated_file_is_reported_as_corrupted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = DiskEngine::open(dir.path()).unwrap();
            for i in 0..50u32 {
                let mut b = WriteBatch::default();
                for j in 0..100u32 {
                    b.put([i.to_be_bytes(), j.to_be_bytes()].concat(), vec![7; 200]);
                }
                e.commit(b, Durability::Async).unwrap();
            }
        }
        let file = dir.path().join(FILE_NAME);
        let len = std::fs::metadata(&file).unwrap().len();
        for keep in [len / 2, 4096, 100] {
            let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
            f.set_len(keep).unwrap();
            drop(f);
            let result = DiskEngine::open(dir.path()).and_then(|e| {
                // Reading everything must not panic either.
                let s = e.snapshot()?;
                s.scan(Unbounded, Unbounded, false)?
                    .collect::<Result<Vec<_>>>()
                    .map(|_| ())
            });
            let err = result.expect_err("truncated file must fail");
            assert_eq!(err.code, SqlState::DATA_CORRUPTED, "{keep}: {err:?}");
            assert!(err.message.contains(FILE_NAME), "{err:?}");
        }
    }

    #[test]
    fn damaged_file_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = DiskEngine::open(dir.path()).unwrap();
            for i in 0..20u32 {
                let mut b = WriteBatch::default();
                for j in 0..100u32 {
                    b.put([i.to_be_bytes(), j.to_be_bytes()].concat(), vec![7; 200]);
                }
                e.commit(b, Durability::Async).unwrap();
            }
        }
        let file = dir.path().join(FILE_NAME);
        let original = std::fs::read(&file).unwrap();
        for offset in (0..original.len()).step_by(original.len() / 32) {
            let mut data = original.clone();
            let end = (offset + 64).min(data.len());
            data[offset..end].iter_mut().for_each(|b| *b ^= 0x5a);
            std::fs::write(&file, &data).unwrap();
            // Damage redb notices is an error (not a panic); damage inside
            // values is not detected on normal reads.
            let result = DiskEngine::open(dir.path()).and_then(|e| {
                let s = e.snapshot()?;
                s.scan(Unbounded, Unbounded, false)?
                    .collect::<Result<Vec<_>>>()
                    .map(|_| ())?;
                let mut b = WriteBatch::default();
                b.put(b"x".to_vec(), b"y".to_vec());
                e.commit(b, Durability::Sync).map(|_| ())
            });
            if let Err(err) = result {
                assert!(
                    err.code == SqlState::DATA_CORRUPTED || err.code == SqlState::IO_ERROR,
                    "{err:?}"
                );
            }
        }
    }

    #[test]
    fn group_commit_shares_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let e = Arc::new(DiskEngine::open(dir.path()).unwrap());
        let batch = |t: u32, i: u32| {
            let mut b = WriteBatch::default();
            b.put([t.to_be_bytes(), i.to_be_bytes()].concat(), vec![t as u8]);
            b
        };
        let seqs = commit_from_threads(&e, 8, 200, batch, |_, _| false);
        assert_eq!(seqs, (1..=1600).collect::<Vec<u64>>());
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 1600);
        assert_eq!(s.scan(Unbounded, Unbounded, false).unwrap().count(), 1600);
        let stats = e.stats();
        assert_eq!(stats.commits, 1600);
        assert!(stats.groups < 1600, "{stats:?}");
        assert!(stats.syncs <= stats.groups, "{stats:?}");
    }

    #[test]
    fn async_commits_are_flushed_in_background() {
        let dir = tempfile::tempdir().unwrap();
        let e = DiskEngine::open(dir.path()).unwrap();
        put(&e, b"k", b"v", Durability::Async);
        assert_eq!(e.stats().syncs, 0);
        // Visible at once.
        assert_eq!(
            e.snapshot().unwrap().get(b"k").unwrap(),
            Some(b"v".to_vec())
        );
        let start = Instant::now();
        while e.stats().syncs == 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!e.inner.unsynced.load(Ordering::Acquire));
        // sync() with nothing to do writes nothing.
        let before = e.stats();
        e.sync().unwrap();
        assert_eq!(e.stats(), before);
        // sync() after an async commit makes it durable itself.
        put(&e, b"k2", b"v", Durability::Async);
        e.sync().unwrap();
        assert!(!e.inner.unsynced.load(Ordering::Acquire));
    }

    #[test]
    fn drop_stops_flusher_and_unlocks() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..5u64 {
            let e = DiskEngine::open(dir.path()).unwrap();
            assert_eq!(
                put(&e, b"k", &round.to_be_bytes(), Durability::Async),
                round + 1
            );
        }
        let e = DiskEngine::open(dir.path()).unwrap();
        assert_eq!(
            e.snapshot().unwrap().get(b"k").unwrap(),
            Some(4u64.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn failing_batch_in_a_group_does_not_block_others() {
        let dir = tempfile::tempdir().unwrap();
        let e = Arc::new(DiskEngine::open(dir.path()).unwrap());
        let mut b = WriteBatch::default();
        b.put(b"bad".to_vec(), b"not a number".to_vec());
        e.commit(b, Durability::Sync).unwrap();
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..50u32 {
                        let mut b = WriteBatch::default();
                        b.put([t.to_be_bytes(), i.to_be_bytes()].concat(), vec![]);
                        b.log.push(b"entry").unwrap();
                        if i % 10 == 0 {
                            b.ops.push((b"bad".to_vec(), super::super::Op::AddI64(1)));
                        }
                        match e.commit(b, Durability::Sync) {
                            Ok(_) => ok += 1,
                            Err(err) => assert_eq!(err.code, SqlState::DATA_CORRUPTED),
                        }
                    }
                    ok
                })
            })
            .collect();
        let ok: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(ok, 4 * 45);
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 4 * 45 + 1);
        assert_eq!(
            s.scan(Unbounded, Unbounded, false).unwrap().count(),
            4 * 45 + 1
        );
        // The failed batches took no LSN.
        let lsns: Vec<u64> = s
            .log_scan(1, false)
            .unwrap()
            .map(|e| e.unwrap().lsn)
            .collect();
        assert_eq!(lsns, (1..=4 * 45).collect::<Vec<u64>>());
    }

    /// Copies the live data directory: what a crash (with the page cache
    /// written or not) could leave, short of torn writes.
    fn copy_live(from: &Path, to: &Path) {
        for name in [FILE_NAME, wal::FILE_NAME] {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
    }

    /// Durable commits live in the log until a checkpoint; a copy of the
    /// live files recovers them by replay, and a clean close leaves an empty
    /// log and nothing to replay.
    #[test]
    fn log_replay_recovers_commits_since_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let e = DiskEngine::open(dir.path()).unwrap();
        for i in 0..50u32 {
            put(&e, &i.to_be_bytes(), &[i as u8; 100], Durability::Sync);
        }
        let mut b = WriteBatch::default();
        b.delete(7u32.to_be_bytes().to_vec());
        e.commit(b, Durability::Sync).unwrap();
        assert_eq!(e.stats().checkpoints, 0);
        copy_live(dir.path(), crashed.path());
        {
            let r = DiskEngine::open(crashed.path()).unwrap();
            assert_eq!(r.stats().replayed, 51);
            let s = r.snapshot().unwrap();
            assert_eq!(s.seq(), 51);
            assert_eq!(s.get(&7u32.to_be_bytes()).unwrap(), None);
            assert_eq!(s.get(&8u32.to_be_bytes()).unwrap(), Some(vec![8; 100]));
            assert_eq!(s.scan(Unbounded, Unbounded, false).unwrap().count(), 49);
        }
        // Reopening the recovered copy replays nothing more.
        assert_eq!(
            DiskEngine::open(crashed.path()).unwrap().stats().replayed,
            0
        );

        // A checkpoint empties the log: a copy taken after it replays nothing.
        e.checkpoint().unwrap();
        assert_eq!(e.stats().checkpoints, 1);
        put(&e, b"after", b"x", Durability::Sync);
        copy_live(dir.path(), crashed.path());
        let r = DiskEngine::open(crashed.path()).unwrap();
        assert_eq!(r.stats().replayed, 1);
        assert_eq!(r.snapshot().unwrap().seq(), 52);
        drop(r);
        drop(e);
        assert_eq!(
            std::fs::metadata(dir.path().join(wal::FILE_NAME))
                .unwrap()
                .len(),
            0,
            "a clean close empties the log"
        );
        let e = DiskEngine::open(dir.path()).unwrap();
        assert_eq!(e.stats().replayed, 0);
        assert_eq!(e.snapshot().unwrap().seq(), 52);
    }

    /// A group too big to log goes straight to redb as a checkpoint, and the
    /// log is checkpointed once it passes its limit.
    #[test]
    fn big_groups_and_long_logs_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let e = DiskEngine::open(dir.path()).unwrap();
        let mut b = WriteBatch::default();
        for i in 0..3000u32 {
            b.put(i.to_be_bytes().to_vec(), vec![1; 500]);
        }
        e.commit(b, Durability::Sync).unwrap();
        assert_eq!(e.stats().checkpoints, 1);
        assert_eq!(e.inner.log.lock().wal.pos(), 0);
        let per_commit = 100_000u64;
        let commits = wal::CHECKPOINT_BYTES / per_commit + 5;
        for i in 0..commits {
            put(
                &e,
                &i.to_be_bytes(),
                &vec![2; per_commit as usize],
                Durability::Sync,
            );
        }
        assert_eq!(e.stats().checkpoints, 2);
        assert!(e.inner.log.lock().wal.pos() < wal::CHECKPOINT_BYTES);
        let crashed = tempfile::tempdir().unwrap();
        copy_live(dir.path(), crashed.path());
        let r = DiskEngine::open(crashed.path()).unwrap();
        assert!(r.stats().replayed > 0 && r.stats().replayed < commits);
        assert_eq!(r.snapshot().unwrap().seq(), commits + 1);
    }

    /// Leadership passes from committer to committer: concurrent committers
    /// with some failing batches all finish, and the successful ones get
    /// consecutive sequence numbers.
    #[test]
    fn leadership_passes_and_failures_stay_alone() {
        let dir = tempfile::tempdir().unwrap();
        let e = Arc::new(DiskEngine::open(dir.path()).unwrap());
        let batch = |t: u32, i: u32| {
            let mut b = WriteBatch::default();
            b.put([t.to_be_bytes(), i.to_be_bytes()].concat(), vec![1]);
            if i.is_multiple_of(7) {
                // A merge over a non-integer fails this batch only.
                b.ops
                    .push((b"bad".to_vec(), super::super::Op::Put(vec![1])));
                b.ops.push((b"bad".to_vec(), super::super::Op::AddI64(1)));
            }
            b
        };
        let seqs = commit_from_threads(&e, 4, 50, batch, |_, i| i.is_multiple_of(7));
        assert_eq!(seqs, (1..=4 * 42).collect::<Vec<u64>>());
        assert_eq!(e.snapshot().unwrap().seq(), 4 * 42);
        assert!(!e.inner.group.lock().leader_active);
    }

    /// Child side of `killed_process_recovers_consistently`: commits until killed.
    #[test]
    #[ignore]
    fn crash_child() {
        let Some(dir) = std::env::var_os("HELIOSDB_CRASH_DIR") else {
            return;
        };
        let e = DiskEngine::open(Path::new(&dir)).unwrap();
        let mut out = std::io::stdout();
        for i in 0u64.. {
            let mut b = WriteBatch::default();
            b.ops.push((b"count".to_vec(), super::super::Op::AddI64(1)));
            b.put(vec![0xAA; 64 + (i % 7) as usize * 300], vec![i as u8; 2000]);
            // One change-log entry per commit: LSN n belongs to commit n.
            b.log.push(&vec![i as u8; (i % 5) as usize * 40]).unwrap();
            let durability = if i % 3 == 0 {
                Durability::Sync
            } else {
                Durability::Async
            };
            let seq = e.commit(b, durability).unwrap();
            if durability == Durability::Sync {
                writeln!(out, "durable {seq}").unwrap();
                out.flush().unwrap();
            }
        }
    }

    /// SIGKILL a process in the middle of commits, reopen, and check that the
    /// data is a consistent prefix of the commit history that includes every
    /// acknowledged Sync commit.
    #[cfg(unix)]
    #[test]
    fn killed_process_recovers_consistently() {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut floor = 0;
        for round in 0..3u64 {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "storage::disk::tests::crash_child", "--ignored"])
                .args(["--nocapture", "--test-threads=1"])
                .env("HELIOSDB_CRASH_DIR", dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (started_tx, started) = std::sync::mpsc::channel();
            let reader = std::thread::spawn(move || {
                let mut durable = 0u64;
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(n) = line.strip_prefix("durable ") {
                        durable = n.trim().parse().unwrap();
                        let _ = started_tx.send(());
                    }
                }
                durable
            });
            started
                .recv_timeout(Duration::from_secs(30))
                .expect("child never committed");
            // Another process holds the directory.
            let err = DiskEngine::open(dir.path()).expect_err("must be locked");
            assert_eq!(err.code, SqlState::OBJECT_IN_USE, "{err:?}");
            std::thread::sleep(Duration::from_millis(100 + 100 * round));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            let durable = reader.join().unwrap();

            let e = DiskEngine::open(dir.path()).unwrap();
            let s = e.snapshot().unwrap();
            let seq = s.seq();
            assert!(
                seq >= durable,
                "lost acknowledged commits: {seq} < {durable}"
            );
            let count = s
                .get(b"count")
                .unwrap()
                .map_or(0, |v| super::super::decode_i64(&v).unwrap());
            assert_eq!(count as u64, seq);
            // The log: every commit's entry, less what was truncated before
            // the round (made durable by the clean close after it).
            let logged: Vec<(u64, u64)> = (s.log_scan(0, false).unwrap())
                .map(|r| r.map(|e| (e.lsn, e.seq)).unwrap())
                .collect();
            let expected: Vec<(u64, u64)> = (floor + 1..=seq).map(|n| (n, n)).collect();
            assert_eq!(logged, expected);
            assert_eq!(s.log_last(), seq);
            floor = seq / 2;
            e.truncate_log(floor).unwrap();
        }
    }

    /// Rough throughput of Sync commits with 1 and 4 writers (run with
    /// `--ignored --nocapture`).
    #[test]
    #[ignore]
    fn sync_commit_throughput() {
        for writers in [1u32, 4] {
            let dir = tempfile::tempdir().unwrap();
            let e = Arc::new(DiskEngine::open(dir.path()).unwrap());
            let per_writer = 400u32;
            let start = Instant::now();
            let threads: Vec<_> = (0..writers)
                .map(|t| {
                    let e = e.clone();
                    std::thread::spawn(move || {
                        for i in 0..per_writer {
                            let mut b = WriteBatch::default();
                            b.put([t.to_be_bytes(), i.to_be_bytes()].concat(), vec![0; 100]);
                            e.commit(b, Durability::Sync).unwrap();
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            let secs = start.elapsed().as_secs_f64();
            let stats = e.stats();
            println!(
                "{writers} writer(s): {:.0} commits/s ({} commits, {} fsyncs)",
                stats.commits as f64 / secs,
                stats.commits,
                stats.syncs
            );
        }
    }
}
