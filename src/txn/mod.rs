//! Transactions: MVCC snapshots, private write sets, row locks and commit.
//!
//! # How it works
//!
//! * **Versions and visibility.** The storage engine keeps committed data as a
//!   sequence of atomic commits, numbered 1, 2, 3, ... A transaction reads
//!   from an engine [`Snapshot`]: everything committed up to one commit number
//!   and nothing after. READ COMMITTED takes a fresh snapshot at the start of
//!   every statement ([`Transaction::begin_statement`]); REPEATABLE READ and
//!   SERIALIZABLE keep the first one for the whole transaction. Readers never
//!   take locks, so they never block writers or each other.
//! * **Private writes.** Until commit, a transaction's writes live in its own
//!   ordered write set (`key -> Some(value) | None` for a delete). Reads merge
//!   the write set over the snapshot, so a transaction sees its own changes
//!   and nobody else does.
//! * **Conflicts.** Before changing a row, a transaction takes its exclusive
//!   row lock ([`Transaction::lock_for_write`]); a second writer of the same
//!   row waits for the first to finish. The lock table remembers which commit
//!   last wrote each recently locked key: if that commit is newer than the
//!   waiter's snapshot, REPEATABLE READ fails with 40001, and READ COMMITTED
//!   re-reads the newest committed row and carries on with it (PostgreSQL's
//!   behaviour, so concurrent `n = n + 1` updates never lose an increment).
//!   Deadlocks are detected in the lock table (40P01).
//! * **A statement's own writes.** A statement with data-modifying WITH
//!   queries runs several sub-statements that, as in PostgreSQL, all read
//!   the same snapshot: none sees the others' changes, and the main query
//!   sees only their RETURNING rows. [`Transaction::freeze_reads`] makes
//!   reads ([`Transaction::get`], [`Transaction::scan`]) see the write set as
//!   it was when the statement began, while writes, uniqueness checks and
//!   foreign-key checks ([`Transaction::get_latest`], [`Transaction::scan_latest`])
//!   keep seeing every write; [`Transaction::written_in_statement`] tells a
//!   sub-statement that a row it read was already changed by another one.
//! * **Savepoints** record a mark in an undo log of the write set; rolling back
//!   to one restores the write set. Locks are kept until the transaction ends.
//! * **Commit** turns the write set into one [`WriteBatch`] and hands it to the
//!   engine, which applies it atomically and durably (group commit shares the
//!   fsync among concurrent committers). Only then are the locks released.
//!   Dropping a [`Transaction`] without committing rolls it back.
//! * **Garbage collection.** Old row versions belong to the engine, which keeps
//!   them while a snapshot can see them. The lock table's last-writer entries
//!   are pruned below the oldest live snapshot.
//!
//! The key layout (which keys hold catalog entries, rows and index entries) is
//! described in [`crate::catalog::keys`].

pub mod changes;
pub mod locks;

use crate::error::{Error, Result, SqlState};
use crate::storage::{
    Durability, Engine, KvIter, KvPair, LogBatch, Op, OwnedRefScan, RefIter, Snapshot, WriteBatch,
};
use locks::{LockManager, LockMode, TxnId};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Transaction isolation level, with PostgreSQL's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadCommitted,
    RepeatableRead,
    /// Snapshot isolation plus the write-conflict rules of REPEATABLE READ
    /// (PostgreSQL's SSI read-dependency tracking is not implemented).
    Serializable,
}

impl IsolationLevel {
    pub fn name(&self) -> &'static str {
        match self {
            IsolationLevel::ReadCommitted => "read committed",
            IsolationLevel::RepeatableRead => "repeatable read",
            IsolationLevel::Serializable => "serializable",
        }
    }
}

/// Shared state of all transactions of one database.
pub struct TxnManager {
    engine: Arc<dyn Engine>,
    locks: LockManager,
    next_txid: AtomicU64,
    /// Live snapshot sequence numbers with their reference counts.
    live: Mutex<BTreeMap<u64, usize>>,
    last_committed: AtomicU64,
    commits: AtomicU64,
    /// The newest snapshot taken; reused while no transaction has committed since.
    latest: Mutex<Option<Arc<dyn Snapshot>>>,
    /// Keys [`TxnManager::put_once`] knows are committed.
    written_once: Mutex<std::collections::HashSet<Vec<u8>>>,
    /// Counts commits that wrote changes; waiters for new changes sleep on it.
    change_commits: Mutex<u64>,
    changes_written: parking_lot::Condvar,
}

impl TxnManager {
    pub fn new(engine: Arc<dyn Engine>) -> Result<Arc<TxnManager>> {
        let seq = engine.snapshot()?.seq();
        Ok(Arc::new(TxnManager {
            engine,
            locks: LockManager::new(),
            next_txid: AtomicU64::new(1),
            live: Mutex::new(BTreeMap::new()),
            last_committed: AtomicU64::new(seq),
            commits: AtomicU64::new(0),
            latest: Mutex::new(None),
            written_once: Mutex::new(std::collections::HashSet::new()),
            change_commits: Mutex::new(0),
            changes_written: parking_lot::Condvar::new(),
        }))
    }

    /// The LSN the last committed change got (0 if none).
    pub fn last_lsn(&self) -> u64 {
        self.latest_snapshot().map_or(0, |s| s.log_last())
    }

    /// Makes sure `key` is committed with the value `value()` gives, in a
    /// commit of its own, outside any transaction: for immutable records
    /// named by their content (such as the change log's layouts), which
    /// may be written twice (with the same value) but never change. The
    /// commit is not waited for durably: any later durable commit covers
    /// it, among them the one of an entry that refers to it.
    pub fn put_once(&self, key: &[u8], value: impl FnOnce() -> Vec<u8>) -> Result<()> {
        if self.written_once.lock().contains(key) {
            return Ok(());
        }
        if self.latest_snapshot()?.get(key)?.is_none() {
            let batch = WriteBatch {
                ops: vec![(key.to_vec(), Op::Put(value()))],
                log: LogBatch::default(),
            };
            let seq = self.engine.commit(batch, Durability::Async)?;
            self.after_commit(seq);
        }
        self.written_once.lock().insert(key.to_vec());
        Ok(())
    }

    /// How many commits have written changes so far; read it before
    /// reading the log, then [`TxnManager::wait_for_changes`].
    pub fn change_commits(&self) -> u64 {
        *self.change_commits.lock()
    }

    /// Waits until a commit that wrote changes ends after `seen` was read
    /// from [`TxnManager::change_commits`] (true), or `timeout` passes.
    pub fn wait_for_changes(&self, seen: u64, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut n = self.change_commits.lock();
        while *n == seen {
            if self
                .changes_written
                .wait_until(&mut n, deadline)
                .timed_out()
            {
                return *n != seen;
            }
        }
        true
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    pub fn locks(&self) -> &LockManager {
        &self.locks
    }

    /// Starts a transaction with a snapshot of everything committed so far.
    pub fn begin(self: &Arc<Self>, isolation: IsolationLevel) -> Result<Transaction> {
        self.begin_with(isolation, true)
    }

    /// Starts a transaction for one read-only statement. Its snapshot is not
    /// registered as live (nothing it does depends on last-writer entries),
    /// which keeps point queries cheap; it must not take write locks.
    pub fn begin_read_only(self: &Arc<Self>, isolation: IsolationLevel) -> Result<Transaction> {
        self.begin_with(isolation, false)
    }

    fn begin_with(
        self: &Arc<Self>,
        isolation: IsolationLevel,
        registered: bool,
    ) -> Result<Transaction> {
        let snapshot = if registered {
            self.take_snapshot()?
        } else {
            self.latest_snapshot()?
        };
        Ok(Transaction {
            registered,
            mgr: self.clone(),
            id: self.next_txid.fetch_add(1, Ordering::Relaxed),
            isolation,
            snapshot,
            writes: BTreeMap::new(),
            frozen: None,
            merges: Vec::new(),
            add_slots: Default::default(),
            changes: LogBatch::default(),
            log_truncate: None,
            raw_entries: false,
            undo: Vec::new(),
            savepoints: Vec::new(),
            held: Vec::new(),
            finished: false,
            durability: Durability::Sync,
            statement_started: false,
        })
    }

    /// A snapshot registered as live (so last-writer entries it needs are kept).
    fn take_snapshot(&self) -> Result<Arc<dyn Snapshot>> {
        let mut live = self.live.lock();
        let snap = self.latest_snapshot()?;
        *live.entry(snap.seq()).or_insert(0) += 1;
        Ok(snap)
    }

    /// Sequence number of the oldest snapshot a transaction still uses.
    fn oldest_live(&self) -> Option<u64> {
        self.live.lock().keys().next().copied()
    }

    fn release_snapshot(&self, seq: u64) {
        let mut live = self.live.lock();
        if let Some(n) = live.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&seq);
            }
        }
    }

    /// A snapshot that contains every transaction whose commit has returned.
    /// Shared between callers until the next commit, so statements that
    /// follow each other without writes in between do not open new engine
    /// snapshots.
    pub fn latest_snapshot(&self) -> Result<Arc<dyn Snapshot>> {
        let committed = self.last_committed.load(Ordering::SeqCst);
        let mut cached = self.latest.lock();
        if let Some(s) = &*cached
            && s.seq() >= committed
        {
            return Ok(s.clone());
        }
        let s = self.engine.snapshot()?;
        *cached = Some(s.clone());
        Ok(s)
    }

    fn after_commit(&self, seq: u64) {
        self.last_committed.fetch_max(seq, Ordering::SeqCst);
        if self.commits.fetch_add(1, Ordering::Relaxed) % 64 == 63 {
            let live = self.live.lock();
            let horizon = live
                .keys()
                .next()
                .copied()
                .unwrap_or_else(|| self.last_committed.load(Ordering::SeqCst));
            self.locks.prune(horizon);
        }
    }
}

/// What [`Transaction::lock_for_write`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteCheck {
    /// The row is as the statement's snapshot saw it.
    Unchanged,
    /// A transaction that committed after the snapshot changed the row; the
    /// caller (READ COMMITTED) must re-read it with [`Transaction::get_latest`].
    Changed,
}

/// The write set as a statement's reads see it (see [`Transaction::freeze_reads`]).
struct Frozen {
    reads: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    written: std::collections::HashSet<Vec<u8>>,
}

struct SavepointMark {
    name: String,
    undo_len: usize,
    merges_len: usize,
    changes_len: usize,
}

/// (key, previous write-set entry) restored by ROLLBACK TO SAVEPOINT.
type UndoEntry = (Vec<u8>, Option<Option<Vec<u8>>>);

/// A pending write: value, or None for a delete.
type PendingWrite = (Vec<u8>, Option<Vec<u8>>);

/// `base` with the pending `writes` in bounds merged over it.
fn merge_writes(
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    base: KvIter,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    reverse: bool,
) -> Result<KvIter> {
    if writes.is_empty() {
        return Ok(base);
    }
    let mut pending: Vec<PendingWrite> = writes
        .range((start, end))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if pending.is_empty() {
        return Ok(base);
    }
    if reverse {
        pending.reverse();
    }
    Ok(Box::new(MergeIter {
        base: base.peekable(),
        pending: pending.into_iter().peekable(),
        reverse,
    }))
}

/// One transaction. Dropping it without [`Transaction::commit`] rolls it back.
pub struct Transaction {
    mgr: Arc<TxnManager>,
    /// Whether the snapshot is registered as live (false for read-only statements).
    registered: bool,
    id: TxnId,
    isolation: IsolationLevel,
    snapshot: Arc<dyn Snapshot>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// While a statement reads as of its start ([`Transaction::freeze_reads`]):
    /// the write set reads see, and the keys written since.
    frozen: Option<Frozen>,
    merges: Vec<(Vec<u8>, Op)>,
    /// The position in `merges` of each key's `AddI64` queued since the
    /// last savepoint: later adds to the key fold into it, so a long
    /// transaction queues one counter update per key, not one per call.
    add_slots: std::collections::HashMap<Vec<u8>, usize>,
    /// Changes captured for the change log, in the order they were made:
    /// their log entries, packed, header (the commit time) not yet filled
    /// in.
    changes: LogBatch,
    /// Truncate the change log through this LSN after committing.
    log_truncate: Option<u64>,
    /// The captured entries' headers are written already.
    raw_entries: bool,
    /// (key, previous write-set entry); only recorded while a savepoint exists.
    undo: Vec<UndoEntry>,
    savepoints: Vec<SavepointMark>,
    held: Vec<locks::LockKey>,
    finished: bool,
    durability: Durability,
    statement_started: bool,
}

impl Transaction {
    /// The manager this transaction belongs to.
    pub fn manager(&self) -> &Arc<TxnManager> {
        &self.mgr
    }

    pub fn id(&self) -> TxnId {
        self.id
    }

    pub fn isolation(&self) -> IsolationLevel {
        self.isolation
    }

    /// Changes the isolation level; only allowed before the first statement.
    pub fn set_isolation(&mut self, level: IsolationLevel) -> Result<()> {
        if self.statement_started {
            return Err(Error::new(
                SqlState::ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION ISOLATION LEVEL must be called before any query",
            ));
        }
        self.isolation = level;
        Ok(())
    }

    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// Sequence number of the snapshot reads currently use.
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot.seq()
    }

    /// Marks the start of a statement: READ COMMITTED takes a new snapshot
    /// (the first statement keeps the one taken at begin).
    pub fn begin_statement(&mut self) -> Result<()> {
        if !self.statement_started {
            // The transaction's snapshot is taken at its first statement, as in
            // PostgreSQL (not at BEGIN).
            self.renew_snapshot()?;
        } else {
            self.refresh_snapshot()?;
        }
        self.statement_started = true;
        Ok(())
    }

    pub fn has_writes(&self) -> bool {
        !self.writes.is_empty() || !self.merges.is_empty()
    }

    /// Reads a key: own writes first, then the snapshot.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.read_writes().get(key) {
            Some(v) => Ok(v.clone()),
            None => self.snapshot.get(key),
        }
    }

    /// Reads the newest committed version of a key (own writes first). Used
    /// after a lock wait and for uniqueness checks.
    pub fn get_latest(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.mgr.latest_snapshot()?.get(key),
        }
    }

    /// Scans keys in bounds, merging own writes over the snapshot.
    pub fn scan(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<KvIter> {
        let base = self.snapshot.scan(start.clone(), end.clone(), reverse)?;
        merge_writes(self.read_writes(), base, start, end, reverse)
    }

    /// Like [`Transaction::scan`], lending the pairs (see [`crate::storage::RefScan`]): when
    /// the transaction has no writes in the range, the snapshot's pairs are
    /// read in place, without a copy per pair.
    pub fn scan_ref(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<RefIter> {
        let pending = !crate::storage::bounds_are_empty(&start, &end)
            && self
                .read_writes()
                .range((start.clone(), end.clone()))
                .next()
                .is_some();
        if pending {
            return Ok(Box::new(OwnedRefScan::new(self.scan(start, end, reverse)?)));
        }
        self.snapshot.scan_ref(start, end, reverse)
    }

    /// Like [`Transaction::scan`] but over the newest committed data.
    pub fn scan_latest(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<KvIter> {
        let base = self
            .mgr
            .latest_snapshot()?
            .scan(start.clone(), end.clone(), reverse)?;
        merge_writes(&self.writes, base, start, end, reverse)
    }

    /// The write set reads see: as of the statement's start while reads are
    /// frozen, else all of it.
    fn read_writes(&self) -> &BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        match &self.frozen {
            Some(f) => &f.reads,
            None => &self.writes,
        }
    }

    /// From now until [`Transaction::thaw_reads`], reads see the write set as
    /// it is now: the writes of the statement that begins do not show in its
    /// own reads (a statement with data-modifying WITH queries; see the
    /// module doc). Costs a copy of the write set.
    pub fn freeze_reads(&mut self) {
        self.frozen = Some(Frozen {
            reads: self.writes.clone(),
            written: Default::default(),
        });
    }

    /// Reads see every write again.
    pub fn thaw_reads(&mut self) {
        self.frozen = None;
    }

    /// While reads are frozen: whether `key` was written since
    /// [`Transaction::freeze_reads`] (by an earlier part of the statement).
    pub fn written_in_statement(&self, key: &[u8]) -> bool {
        self.frozen
            .as_ref()
            .is_some_and(|f| f.written.contains(key))
    }

    fn record_undo(&mut self, key: &[u8], previous: Option<Option<Vec<u8>>>) {
        if !self.savepoints.is_empty() {
            self.undo.push((key.to_vec(), previous));
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.write(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.write(key, None);
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if let Some(f) = &mut self.frozen {
            f.written.insert(key.clone());
        }
        if self.savepoints.is_empty() {
            self.writes.insert(key, value);
        } else {
            let prev = self.writes.insert(key.clone(), value);
            self.record_undo(&key, prev);
        }
    }

    /// The sum of the `AddI64` merges this transaction has queued on `key`
    /// (one per key since each savepoint, see `add_slots`).
    pub fn pending_add(&self, key: &[u8]) -> i64 {
        if self.merges.is_empty() {
            return 0;
        }
        self.merges
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, op)| match op {
                Op::AddI64(d) => *d,
                _ => 0,
            })
            .fold(0i64, |a, d| a.saturating_add(d))
    }

    /// The change log's entries this transaction's reads see, from LSN
    /// `from` on (down from it when `reverse`); see [`crate::storage::log`].
    pub fn log_scan(&self, from: u64, reverse: bool) -> Result<crate::storage::LogIter> {
        self.snapshot.log_scan(from, reverse)
    }

    /// The LSN of the last change this transaction's reads see.
    pub fn log_last(&self) -> u64 {
        self.snapshot.log_last()
    }

    /// Like [`Transaction::log_scan`], of the latest committed log.
    pub fn log_scan_latest(&self, from: u64, reverse: bool) -> Result<crate::storage::LogIter> {
        self.mgr.latest_snapshot()?.log_scan(from, reverse)
    }

    /// Once this transaction commits, drops the change log's entries up to
    /// `through` (the caller records that in the transaction; see
    /// [`crate::storage::Engine::truncate_log`]).
    pub fn truncate_log_on_commit(&mut self, through: u64) {
        self.log_truncate = Some(self.log_truncate.unwrap_or(0).max(through));
    }

    /// Captures a change for the change log: written, numbered, in the
    /// commit (see [`changes`]); undone by a rollback like the writes.
    pub fn capture(&mut self, payload: &[u8]) -> Result<()> {
        self.capture_with(|buf| buf.extend_from_slice(payload))
    }

    /// [`Transaction::capture`] of a payload `write` appends to the
    /// buffer it is given (where the transaction keeps its changes: the
    /// row writes' path, which so allocates nothing per change).
    pub fn capture_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        self.changes.append(|buf| {
            buf.extend_from_slice(&[0; changes::ENTRY_HEADER]);
            write(buf);
        })
    }

    /// Captures an entry as it is (its header written already): for
    /// moving entries between logs (see [`Transaction::commit_raw_entries`]).
    pub fn capture_entry(&mut self, entry: &[u8]) -> Result<()> {
        self.changes.push(entry)
    }

    /// Queues a merge (counter) write applied at commit. An `AddI64` on a
    /// key that already has one queued since the last savepoint is added
    /// to it (unless the sum would overflow, which the commit reports).
    pub fn merge(&mut self, key: Vec<u8>, op: Op) {
        if let Op::AddI64(d) = op {
            if let Some(&i) = self.add_slots.get(&key)
                && let Some((_, Op::AddI64(x))) = self.merges.get_mut(i)
                && let Some(sum) = x.checked_add(d)
            {
                *x = sum;
                return;
            }
            self.add_slots.insert(key.clone(), self.merges.len());
        }
        self.merges.push((key, op));
    }

    /// Takes a lock for the rest of the transaction; true if it had to wait.
    pub fn lock(&mut self, key: &[u8], mode: LockMode) -> Result<bool> {
        self.lock_until(key, mode, None)
    }

    /// Like [`Transaction::lock`], giving up at `deadline` (55P03).
    pub fn lock_until(
        &mut self,
        key: &[u8],
        mode: LockMode,
        deadline: Option<std::time::Instant>,
    ) -> Result<bool> {
        if !self.registered {
            return Err(Error::internal(
                "a read-only statement transaction cannot take locks",
            ));
        }
        let key = locks::lock_key(key);
        match self
            .mgr
            .locks
            .acquire_key_until(self.id, key, mode, deadline)?
        {
            locks::Acquired::AlreadyHeld => Ok(false),
            locks::Acquired::New => {
                self.held.push(key);
                Ok(false)
            }
            locks::Acquired::Waited => {
                self.held.push(key);
                Ok(true)
            }
        }
    }

    /// Like [`Transaction::lock`]; true if the transaction did not hold the
    /// lock before (it was taken now, with or without waiting).
    pub fn lock_first(&mut self, key: &[u8], mode: LockMode) -> Result<bool> {
        let before = self.held.len();
        self.lock(key, mode)?;
        Ok(self.held.len() > before)
    }

    /// READ COMMITTED: replaces the statement snapshot with a fresh one (after
    /// waiting for a lock, so the statement sees what the holder committed).
    pub fn refresh_snapshot(&mut self) -> Result<()> {
        if self.isolation == IsolationLevel::ReadCommitted {
            self.renew_snapshot()?;
        }
        Ok(())
    }

    /// Replaces the snapshot with the newest one, unless nothing has committed since it was taken.
    fn renew_snapshot(&mut self) -> Result<()> {
        if self.snapshot.seq() >= self.mgr.last_committed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let fresh = if self.registered {
            self.mgr.take_snapshot()?
        } else {
            self.mgr.latest_snapshot()?
        };
        let old = std::mem::replace(&mut self.snapshot, fresh);
        if self.registered {
            self.mgr.release_snapshot(old.seq());
        }
        Ok(())
    }

    /// Takes the exclusive lock of a row (or unique key) before writing it and
    /// reports whether a transaction that committed after the snapshot
    /// changed it. Under REPEATABLE READ and SERIALIZABLE such a change is a
    /// serialization failure (40001).
    pub fn lock_for_write(&mut self, key: &[u8]) -> Result<WriteCheck> {
        self.lock(key, LockMode::Exclusive)?;
        match self.mgr.locks.last_write(key) {
            Some(seq) if seq > self.snapshot.seq() && !self.writes.contains_key(key) => {
                if self.isolation == IsolationLevel::ReadCommitted {
                    Ok(WriteCheck::Changed)
                } else {
                    Err(Error::serialization_failure())
                }
            }
            _ => Ok(WriteCheck::Unchanged),
        }
    }

    pub fn savepoint(&mut self, name: &str) {
        self.savepoints.push(SavepointMark {
            name: name.to_string(),
            undo_len: self.undo.len(),
            merges_len: self.merges.len(),
            changes_len: self.changes.len(),
        });
        // Adds after the savepoint must stay apart from those before it.
        self.add_slots.clear();
    }

    fn find_savepoint(&self, name: &str) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|s| s.name == name)
            .ok_or_else(|| {
                Error::new(
                    SqlState::INVALID_SAVEPOINT_SPECIFICATION,
                    format!("savepoint \"{name}\" does not exist"),
                )
            })
    }

    /// Undoes every write since the savepoint; the savepoint stays defined.
    pub fn rollback_to_savepoint(&mut self, name: &str) -> Result<()> {
        let pos = self.find_savepoint(name)?;
        let (undo_len, merges_len, changes_len) = {
            let sp = &self.savepoints[pos];
            (sp.undo_len, sp.merges_len, sp.changes_len)
        };
        self.changes.truncate(changes_len);
        while self.undo.len() > undo_len {
            let (key, prev) = self.undo.pop().expect("length checked above");
            match prev {
                Some(v) => {
                    self.writes.insert(key, v);
                }
                None => {
                    self.writes.remove(&key);
                }
            }
        }
        self.merges.truncate(merges_len);
        self.add_slots.clear();
        self.savepoints.truncate(pos + 1);
        Ok(())
    }

    /// Forgets the savepoint (and later ones), keeping their writes.
    pub fn release_savepoint(&mut self, name: &str) -> Result<()> {
        let pos = self.find_savepoint(name)?;
        self.savepoints.truncate(pos);
        if self.savepoints.is_empty() {
            self.undo.clear();
        }
        Ok(())
    }

    /// Applies the write set atomically and durably; returns the commit's
    /// sequence number (the snapshot's for a read-only transaction).
    pub fn commit(mut self) -> Result<u64> {
        self.commit_inner()
    }

    /// Commits with the captured entries as they are (their headers
    /// already written): for moving entries between logs.
    pub fn commit_raw_entries(mut self) -> Result<u64> {
        self.raw_entries = true;
        self.commit_inner()
    }

    fn commit_inner(&mut self) -> Result<u64> {
        self.finished = true;
        let captured = !self.changes.is_empty();
        let result = if self.writes.is_empty() && self.merges.is_empty() && !captured {
            Ok(self.snapshot.seq())
        } else {
            let mut batch = WriteBatch {
                ops: Vec::with_capacity(self.writes.len() + self.merges.len()),
                log: self.change_log_entries(),
            };
            for (k, v) in std::mem::take(&mut self.writes) {
                match v {
                    Some(v) => batch.ops.push((k, Op::Put(v))),
                    None => batch.ops.push((k, Op::Delete)),
                }
            }
            batch.ops.append(&mut self.merges);
            self.mgr.engine.commit(batch, self.durability)
        };
        let seq = result.as_ref().ok().copied();
        if let Some(seq) = seq {
            self.mgr.after_commit(seq);
            if let Some(through) = self.log_truncate.take()
                && let Err(e) = self.mgr.engine.truncate_log(through)
            {
                // The truncation is recorded (the caller's commit); the
                // entries go with the next one.
                tracing::warn!("could not truncate the change log: {e}");
            }
            if captured {
                *self.mgr.change_commits.lock() += 1;
                self.mgr.changes_written.notify_all();
            }
        }
        self.finish(seq);
        result
    }

    /// The captured changes as the change log's entries: the commit time
    /// goes into each entry's header; the engine numbers them in commit
    /// order (see [`changes`]).
    fn change_log_entries(&mut self) -> LogBatch {
        let mut entries = std::mem::take(&mut self.changes);
        if !entries.is_empty() && !self.raw_entries {
            let micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            for entry in entries.iter_mut() {
                changes::set_entry_header(entry, micros);
            }
        }
        entries
    }

    /// Discards the write set and releases locks.
    pub fn rollback(mut self) {
        self.finished = true;
        self.finish(None);
    }

    fn finish(&mut self, commit_seq: Option<u64>) {
        if self.registered {
            self.mgr.release_snapshot(self.snapshot.seq());
        }
        // Last-writer entries matter only to snapshots older than this commit;
        // if none is live, later transactions see the commit in their snapshot.
        let record = commit_seq.filter(|seq| self.mgr.oldest_live().is_some_and(|old| old < *seq));
        let held = std::mem::take(&mut self.held);
        self.mgr.locks.release_all(self.id, &held, record);
        self.writes.clear();
        self.merges.clear();
        self.add_slots.clear();
        self.changes.truncate(0);
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            self.finish(None);
        }
    }
}

/// Merges a snapshot scan with pending writes (which win on equal keys).
struct MergeIter {
    base: std::iter::Peekable<KvIter>,
    pending: std::iter::Peekable<std::vec::IntoIter<PendingWrite>>,
    reverse: bool,
}

impl Iterator for MergeIter {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_pending = match (self.base.peek(), self.pending.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return self.base.next(),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(Ok((bk, _))), Some((pk, _))) => {
                    let ord = bk.cmp(pk);
                    let ord = if self.reverse { ord.reverse() } else { ord };
                    match ord {
                        std::cmp::Ordering::Less => false,
                        std::cmp::Ordering::Equal => {
                            self.base.next();
                            true
                        }
                        std::cmp::Ordering::Greater => true,
                    }
                }
            };
            if take_pending {
                let (k, v) = self.pending.next().expect("peeked above");
                if let Some(v) = v {
                    return Some(Ok((k, v)));
                }
                // A pending delete hides the base entry; continue.
            } else {
                return self.base.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryEngine;

    fn keys(t: &Transaction) -> Vec<Vec<u8>> {
        t.scan(Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
            .map(|kv| kv.unwrap().0)
            .collect()
    }

    /// The change log as (lsn, commit seq, payload).
    fn change_log(mgr: &Arc<TxnManager>) -> Vec<(u64, u64, Vec<u8>)> {
        let t = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        t.log_scan(1, false)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let (_, p) = changes::decode_entry(&e.data).unwrap();
                (e.lsn, e.seq, p.to_vec())
            })
            .collect()
    }

    #[test]
    fn captured_changes_are_numbered_in_the_commit() {
        let engine: Arc<dyn crate::storage::Engine> = Arc::new(MemoryEngine::new());
        let mgr = TxnManager::new(engine.clone()).unwrap();
        let mut a = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        a.begin_statement().unwrap();
        a.put(b"row1".to_vec(), b"x".to_vec());
        a.capture(b"a1").unwrap();
        a.savepoint("sp");
        a.capture(b"gone").unwrap();
        a.rollback_to_savepoint("sp").unwrap();
        a.capture(b"a2").unwrap();
        let mut b = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        b.begin_statement().unwrap();
        b.capture(b"rolled back").unwrap();
        b.rollback();
        let seq_a = a.commit().unwrap();
        let mut c = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        c.begin_statement().unwrap();
        c.capture(b"c1").unwrap();
        let seq_c = c.commit().unwrap();
        assert_eq!(
            change_log(&mgr),
            vec![
                (1, seq_a, b"a1".to_vec()),
                (2, seq_a, b"a2".to_vec()),
                (3, seq_c, b"c1".to_vec())
            ]
        );
        // A new manager on the same store continues the numbering.
        let mgr = TxnManager::new(engine).unwrap();
        let mut d = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        d.begin_statement().unwrap();
        d.capture(b"d1").unwrap();
        d.commit().unwrap();
        assert_eq!(change_log(&mgr).last().unwrap().0, 4);
    }

    #[test]
    fn adds_to_one_key_fold_into_one_merge_per_savepoint() {
        let mgr = TxnManager::new(Arc::new(MemoryEngine::new())).unwrap();
        let mut t = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        t.begin_statement().unwrap();
        for _ in 0..1000 {
            t.merge(b"k".to_vec(), Op::AddI64(2));
        }
        t.merge(b"other".to_vec(), Op::AddI64(5));
        assert_eq!(t.merges.len(), 2);
        assert_eq!(t.pending_add(b"k"), 2000);
        t.savepoint("sp");
        t.merge(b"k".to_vec(), Op::AddI64(7));
        t.merge(b"k".to_vec(), Op::AddI64(1));
        assert_eq!(t.merges.len(), 3);
        assert_eq!(t.pending_add(b"k"), 2008);
        t.rollback_to_savepoint("sp").unwrap();
        assert_eq!(t.pending_add(b"k"), 2000);
        t.merge(b"k".to_vec(), Op::AddI64(-1));
        assert_eq!(t.pending_add(b"k"), 1999);
        // An add that would overflow the folded sum stays apart; the
        // commit reports the overflow.
        t.merge(b"k".to_vec(), Op::AddI64(i64::MAX));
        assert_eq!(t.merges.len(), 3);
        t.merge(b"k".to_vec(), Op::AddI64(i64::MAX));
        assert_eq!(t.merges.len(), 4);
        t.commit().unwrap_err();
        let mut t = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        t.merge(b"k".to_vec(), Op::AddI64(3));
        t.merge(b"k".to_vec(), Op::AddI64(4));
        t.commit().unwrap();
        let t = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        assert_eq!(t.get(b"k").unwrap(), Some(7i64.to_be_bytes().to_vec()));
    }

    #[test]
    fn frozen_reads_see_the_write_set_as_of_the_freeze() {
        let mgr = TxnManager::new(Arc::new(MemoryEngine::new())).unwrap();
        let mut t = mgr.begin(IsolationLevel::ReadCommitted).unwrap();
        t.begin_statement().unwrap();
        t.put(b"a".to_vec(), b"1".to_vec());
        t.put(b"b".to_vec(), b"1".to_vec());
        t.freeze_reads();
        t.put(b"c".to_vec(), b"2".to_vec());
        t.put(b"a".to_vec(), b"2".to_vec());
        t.delete(b"b".to_vec());
        // Reads see the writes from before the freeze only.
        assert_eq!(t.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(t.get(b"c").unwrap(), None);
        assert_eq!(keys(&t), vec![b"a".to_vec(), b"b".to_vec()]);
        let mut lent = Vec::new();
        let mut it = t
            .scan_ref(Bound::Unbounded, Bound::Unbounded, false)
            .unwrap();
        while let Some(kv) = it.next_ref() {
            lent.push(kv.unwrap().0.to_vec());
        }
        assert_eq!(lent, vec![b"a".to_vec(), b"b".to_vec()]);
        // Checks that must see every write still do.
        assert_eq!(t.get_latest(b"a").unwrap(), Some(b"2".to_vec()));
        assert_eq!(t.get_latest(b"b").unwrap(), None);
        assert!(t.written_in_statement(b"a"));
        assert!(!t.written_in_statement(b"d"));
        t.thaw_reads();
        assert!(!t.written_in_statement(b"a"));
        assert_eq!(keys(&t), vec![b"a".to_vec(), b"c".to_vec()]);
    }
}
