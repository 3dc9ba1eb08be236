//! The durable engine: one redb file with group commit.
//!
//! Layout: `<dir>/heliosdb.redb` holds the table `kv` (`&[u8]` → `&[u8]`) with
//! all data, and the table `heliosdb_meta` (`&str` → `u64`) whose `seq` entry
//! is the sequence number of the last commit. The sequence number is written
//! in the same redb write transaction as the batch it numbers, so data and
//! numbering can never disagree.
//!
//! Snapshots are redb read transactions (MVCC on copy-on-write pages): they
//! never block the writer and the writer never blocks them.
//!
//! Group commit: redb runs one write transaction at a time and an
//! [`redb::Durability::Immediate`] commit costs an fsync. Committers put their
//! batch in a shared queue; the first one that finds no leader becomes the
//! leader, drains the queue and applies every queued batch, in queue order
//! and with consecutive sequence numbers, in ONE write transaction, committed
//! once (durably if any drained batch asked for [`Durability::Sync`]). It then
//! hands every committer its result, and repeats while the queue is non-empty.
//! A batch that fails to resolve (malformed merge operand, overflow, panicking
//! hook) fails alone, writing nothing and consuming no sequence number; an
//! error from redb itself (I/O, commit) fails every batch of that group, none
//! of which becomes visible.
//!
//! [`Durability::Async`] commits use [`redb::Durability::None`]: visible at
//! once, durable at the next durable commit. A flusher thread makes them
//! durable within [`FLUSH_INTERVAL`] (plus one fsync) with an empty durable
//! commit; it stops, and a final sync runs, when the engine is dropped.
//!
//! Crash safety (what this module relies on from redb 4, see redb's
//! `WriteTransaction::set_two_phase_commit`, `set_quick_repair` and
//! `Builder::set_repair_callback`): a redb commit writes the new tree pages
//! and a checksummed commit slot, then flips the header's primary-slot bit
//! and fsyncs (1-phase commit, the default). A process killed at any point
//! (SIGKILL, power loss with an honest `fsync`) leaves either the previous or
//! the new commit slot valid; on the next open redb sees the file was not shut
//! down cleanly and runs a full repair (verifying checksums, falling back to
//! the previous slot, rebuilding the allocator state) before returning. So
//! each batch, together with its sequence number, is all-or-nothing, and every
//! commit that returned from a `Sync` commit (or was followed by a successful
//! [`Engine::sync`]) survives. Non-durable (`Async`) commits that no durable
//! commit covered yet may be lost, as a whole and in commit order. We keep
//! redb's defaults (no quick repair, 1-phase commit): commits cost a single
//! fsync, and the price is that recovery after a crash reads the whole file;
//! the repair callback only logs progress.

use super::{
    Durability, Engine, KvIter, KvPair, Snapshot, WriteBatch, check_not_in_hook, panic_message,
    resolve_batch,
};
use crate::error::{Error, Result, SqlState};
use parking_lot::{Condvar, Mutex};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{HashMap, VecDeque};
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

const KV_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const META_TABLE: TableDefinition<&str, u64> = TableDefinition::new("heliosdb_meta");
const SEQ_KEY: &str = "seq";
/// redb's limit for a key or a value (3 GiB).
const MAX_ITEM_LEN: usize = 3 * 1024 * 1024 * 1024;

/// Counters of a [`DiskEngine`] since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Batches committed successfully (each got a sequence number).
    pub commits: u64,
    /// redb write transactions committed (one per commit group or flush).
    pub write_txns: u64,
    /// Of those, the durable (fsynced) ones.
    pub syncs: u64,
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
    group_cv: Condvar,
    /// Some committed write transaction is not durable yet.
    unsynced: AtomicBool,
    flusher: Mutex<FlusherState>,
    flusher_cv: Condvar,
    commits: AtomicU64,
    write_txns: AtomicU64,
    syncs: AtomicU64,
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
    /// `None`: a flush (make everything durable, no new sequence number).
    batch: Option<WriteBatch>,
    durability: Durability,
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
        let inner = Arc::new(Inner {
            db,
            dir: dir.to_path_buf(),
            file,
            group: Mutex::new(GroupState::default()),
            group_cv: Condvar::new(),
            unsynced: AtomicBool::new(false),
            flusher: Mutex::new(FlusherState::default()),
            flusher_cv: Condvar::new(),
            commits: AtomicU64::new(0),
            write_txns: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
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
            write_txns: self.inner.write_txns.load(Ordering::Relaxed),
            syncs: self.inner.syncs.load(Ordering::Relaxed),
        }
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
        if let Err(e) = self.inner.submit(None, Durability::Sync) {
            tracing::warn!(file = %self.inner.file.display(), "final sync failed: {e}");
        }
        // `inner` (and with it the redb file and its lock) is released here:
        // the flusher thread has exited and snapshots do not reference it.
    }
}

impl Engine for DiskEngine {
    fn snapshot(&self) -> Result<Arc<dyn Snapshot>> {
        let inner = &self.inner;
        let txn = inner.db.begin_read().map_err(|e| inner.redb_err(e))?;
        let table = txn.open_table(KV_TABLE).map_err(|e| inner.redb_err(e))?;
        let meta = txn.open_table(META_TABLE).map_err(|e| inner.redb_err(e))?;
        let seq = meta
            .get(SEQ_KEY)
            .map_err(|e| inner.redb_err(e))?
            .map_or(0, |g| g.value());
        Ok(Arc::new(DiskSnapshot {
            table,
            seq,
            file: inner.file.clone(),
        }))
    }

    fn commit(&self, batch: WriteBatch, durability: Durability) -> Result<u64> {
        self.inner.submit(Some(batch), durability)
    }

    fn sync(&self) -> Result<()> {
        self.inner.submit(None, Durability::Sync).map(|_| ())
    }

    fn size_on_disk(&self) -> u64 {
        std::fs::metadata(&self.inner.file).map_or(0, |m| m.len())
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

/// Creates the tables if missing and checks they are readable.
fn init_tables(db: &redb::Database) -> std::result::Result<(), redb::Error> {
    let txn = db.begin_write()?;
    let created = {
        let kv = txn.open_table(KV_TABLE)?;
        let mut meta = txn.open_table(META_TABLE)?;
        let has_seq = meta.get(SEQ_KEY)?.is_some();
        if !has_seq {
            meta.insert(SEQ_KEY, 0)?;
        }
        // Touch the data tree, so a damaged root is reported at open.
        kv.first()?;
        !has_seq
    };
    if created {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    Ok(())
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
    fn submit(&self, batch: Option<WriteBatch>, durability: Durability) -> Result<u64> {
        check_not_in_hook()?;
        let mut state = self.group.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(Request {
            ticket,
            batch,
            durability,
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
            self.group_cv.wait(&mut state);
        }
    }

    /// Runs commit groups until the queue is empty, then returns the result
    /// of the leader's own request.
    fn lead(&self, own_ticket: u64) -> Result<u64> {
        let mut guard = LeaderGuard {
            inner: self,
            in_flight: Vec::new(),
            armed: true,
        };
        loop {
            let group: Vec<Request> = {
                let mut state = self.group.lock();
                if state.queue.is_empty() {
                    state.leader_active = false;
                    let own = state.done.remove(&own_ticket);
                    drop(state);
                    // Every follower already has its result; a committer that
                    // queues from now on finds no leader and leads itself.
                    guard.armed = false;
                    return own.unwrap_or_else(|| {
                        Err(Error::internal("group commit lost a request's result"))
                    });
                }
                state.queue.drain(..).collect()
            };
            guard.in_flight = group.iter().map(|r| r.ticket).collect();
            // redb may panic on a damaged file (debug assertions, malformed
            // pages): fail the group with an error instead of unwinding.
            let results = catch_unwind(AssertUnwindSafe(|| self.run_group(group))).unwrap_or_else(
                |payload| {
                    let err = self.panic_error(payload.as_ref());
                    guard
                        .in_flight
                        .iter()
                        .map(|t| (*t, Err(err.clone())))
                        .collect()
                },
            );
            {
                let mut state = self.group.lock();
                state.done.extend(results);
            }
            guard.in_flight.clear();
            self.group_cv.notify_all();
        }
    }

    /// Applies one group in one redb write transaction.
    fn run_group(&self, group: Vec<Request>) -> Vec<(u64, Result<u64>)> {
        let want_sync = group.iter().any(|r| r.durability == Durability::Sync);
        let has_batches = group.iter().any(|r| r.batch.is_some());
        if !has_batches && !self.unsynced.load(Ordering::Acquire) {
            // Only flushes, and nothing to flush.
            return group.into_iter().map(|r| (r.ticket, Ok(0))).collect();
        }
        let tickets: Vec<u64> = group.iter().map(|r| r.ticket).collect();
        let fail_all = |e: Error| tickets.iter().map(|t| (*t, Err(e.clone()))).collect();

        let mut txn = match self.db.begin_write() {
            Ok(txn) => txn,
            Err(e) => return fail_all(self.redb_err(e)),
        };
        let durability = if want_sync {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        if let Err(e) = txn.set_durability(durability) {
            return fail_all(Error::internal(format!("could not set durability: {e}")));
        }

        let mut results = Vec::with_capacity(group.len());
        let mut committed = 0u64;
        let applied = (|| -> std::result::Result<(), redb::Error> {
            let mut kv = txn.open_table(KV_TABLE)?;
            let mut meta = txn.open_table(META_TABLE)?;
            let start_seq = meta.get(SEQ_KEY)?.map_or(0, |g| g.value());
            let mut seq = start_seq;
            for request in group {
                let Some(batch) = request.batch else {
                    results.push((request.ticket, Ok(0)));
                    continue;
                };
                let next = seq + 1;
                // A read error fails this batch; if it left the transaction
                // unusable, the commit below fails the whole group.
                let resolved = resolve_batch(batch, next, |key| {
                    kv.get(key)
                        .map(|g| g.map(|g| g.value().to_vec()))
                        .map_err(|e| redb_error(&self.file, e.into()))
                });
                let writes = match resolved.and_then(check_sizes) {
                    Ok(writes) => writes,
                    Err(e) => {
                        results.push((request.ticket, Err(e)));
                        continue;
                    }
                };
                for (key, value) in writes {
                    match value {
                        Some(value) => {
                            kv.insert(key.as_slice(), value.as_slice())?;
                        }
                        None => {
                            kv.remove(key.as_slice())?;
                        }
                    }
                }
                seq = next;
                committed += 1;
                results.push((request.ticket, Ok(next)));
            }
            if seq != start_seq {
                meta.insert(SEQ_KEY, seq)?;
            }
            Ok(())
        })();
        if let Err(e) = applied {
            let err = self.redb_err(e);
            let _ = txn.abort();
            return fail_all(err);
        }
        if committed == 0 && !want_sync {
            // Nothing succeeded and no flush requested: nothing to commit.
            let _ = txn.abort();
            return results;
        }
        if let Err(e) = txn.commit() {
            return fail_all(self.redb_err(e));
        }
        self.write_txns.fetch_add(1, Ordering::Relaxed);
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
        results
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
                && let Err(e) = self.submit(None, Durability::Sync)
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
    in_flight: Vec<u64>,
    /// Cleared when leadership was handed back normally.
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.inner.group.lock();
        for ticket in self.in_flight.drain(..) {
            state.done.insert(
                ticket,
                Err(Error::internal(
                    "commit failed: the committing thread panicked",
                )),
            );
        }
        state.leader_active = false;
        drop(state);
        self.inner.group_cv.notify_all();
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

struct DiskSnapshot {
    table: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    seq: u64,
    file: PathBuf,
}

impl DiskSnapshot {
    /// Runs a read, turning a redb panic (possible on a damaged file) into an error.
    fn guarded<T>(&self, read: impl FnOnce() -> Result<T>) -> Result<T> {
        catch_unwind(AssertUnwindSafe(read))
            .unwrap_or_else(|payload| Err(storage_panic(&self.file, payload.as_ref())))
    }
}

impl Snapshot for DiskSnapshot {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.guarded(|| {
            self.table
                .get(key)
                .map(|g| g.map(|g| g.value().to_vec()))
                .map_err(|e| redb_error(&self.file, e.into()))
        })
    }

    fn scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> Result<KvIter> {
        let range = self.guarded(|| {
            self.table
                .range::<&[u8]>((
                    start.as_ref().map(Vec::as_slice),
                    end.as_ref().map(Vec::as_slice),
                ))
                .map_err(|e| redb_error(&self.file, e.into()))
        })?;
        Ok(Box::new(DiskScan {
            range,
            reverse,
            file: self.file.clone(),
            failed: false,
        }))
    }
}

/// A scan over a redb range, yielding owned pairs.
struct DiskScan {
    range: redb::Range<'static, &'static [u8], &'static [u8]>,
    reverse: bool,
    file: PathBuf,
    /// Stop after reporting an error.
    failed: bool,
}

impl Iterator for DiskScan {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = catch_unwind(AssertUnwindSafe(|| {
            let item = if self.reverse {
                self.range.next_back()
            } else {
                self.range.next()
            };
            item.map(|entry| {
                entry
                    .map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                    .map_err(|e| redb_error(&self.file, e.into()))
            })
        }))
        .unwrap_or_else(|payload| Some(Err(storage_panic(&self.file, payload.as_ref()))));
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::ops::Bound::Unbounded;
    use std::time::Instant;

    fn put(e: &DiskEngine, key: &[u8], value: &[u8], durability: Durability) -> u64 {
        let mut b = WriteBatch::default();
        b.put(key.to_vec(), value.to_vec());
        e.commit(b, durability).unwrap()
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
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    (0..200u32)
                        .map(|i| {
                            let mut b = WriteBatch::default();
                            b.put([t.to_be_bytes(), i.to_be_bytes()].concat(), vec![t as u8]);
                            e.commit(b, Durability::Sync).unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=1600).collect::<Vec<u64>>());
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 1600);
        assert_eq!(s.scan(Unbounded, Unbounded, false).unwrap().count(), 1600);
        let stats = e.stats();
        assert_eq!(stats.commits, 1600);
        assert!(stats.write_txns < 1600, "{stats:?}");
        assert!(stats.syncs <= stats.write_txns, "{stats:?}");
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
    fn panicking_hook_in_a_group_does_not_block_others() {
        let dir = tempfile::tempdir().unwrap();
        let e = Arc::new(DiskEngine::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    let mut ok = 0;
                    for i in 0..50u32 {
                        let mut b = WriteBatch::default();
                        b.put([t.to_be_bytes(), i.to_be_bytes()].concat(), vec![]);
                        if i % 10 == 0 {
                            b.on_seq = Some(Box::new(|_| panic!("boom")));
                        }
                        match e.commit(b, Durability::Sync) {
                            Ok(_) => ok += 1,
                            Err(err) => assert!(err.message.contains("boom")),
                        }
                    }
                    ok
                })
            })
            .collect();
        let ok: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(ok, 4 * 45);
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 4 * 45);
        assert_eq!(s.scan(Unbounded, Unbounded, false).unwrap().count(), 4 * 45);
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
            b.on_seq = Some(Box::new(|seq| {
                vec![(
                    format!("k{seq:010}").into_bytes(),
                    super::super::Op::Put(seq.to_be_bytes().to_vec()),
                )]
            }));
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
            let logged: Vec<u64> = s
                .scan(
                    Bound::Included(b"k".to_vec()),
                    Bound::Excluded(b"l".to_vec()),
                    false,
                )
                .unwrap()
                .map(|r| u64::from_be_bytes(r.unwrap().1.try_into().unwrap()))
                .collect();
            assert_eq!(logged, (1..=seq).collect::<Vec<u64>>());
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
