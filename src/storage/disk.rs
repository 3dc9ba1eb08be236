//! The durable engine, on redb.
//!
//! One redb file `heliosdb.redb` in the data directory holds two tables:
//! `kv` (all keys and values) and `meta` (the commit sequence number, written
//! in the same redb transaction as the data it numbers).
//!
//! **Durability.** redb commits are copy-on-write with a checksummed,
//! double-buffered commit slot: after a crash the file opens at the last
//! commit whose `commit()` returned with `Durability::Immediate` (redb
//! verifies checksums and repairs its allocator state on open), and never at
//! a half-written one. We rely on exactly that.
//!
//! **Group commit.** redb runs one write transaction at a time and each
//! immediate commit costs an fsync. Committers therefore queue their
//! batches; the first one to find no leader becomes the leader, drains the
//! queue, applies every queued batch (each with its own sequence number, in
//! queue order) in one redb transaction, commits it once, and hands each
//! follower its result. Concurrent committers thus share one fsync.
//!
//! **Asynchronous commits** (`synchronous_commit = off`) commit with
//! `Durability::None`: visible at once, durable with the next immediate
//! commit, which a background flusher issues within about 100 ms.

use super::{Durability, Engine, KvIter, Op, Snapshot, WriteBatch};
use crate::error::{Error, Result, SqlState};
use parking_lot::{Condvar, Mutex};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SEQ_KEY: &str = "seq";
const FILE_NAME: &str = "heliosdb.redb";

fn storage_err(e: impl std::fmt::Display) -> Error {
    let msg = e.to_string();
    if msg.to_lowercase().contains("corrupt") {
        Error::corrupted(format!("storage corruption: {msg}"))
    } else {
        Error::io(format!("storage error: {msg}"))
    }
}

/// Counters for tests and metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskStats {
    /// Batches committed.
    pub commits: u64,
    /// redb write transactions (one per group).
    pub groups: u64,
}

struct Job {
    batch: Option<WriteBatch>,
    durability: Durability,
    slot: Arc<Slot>,
}

#[derive(Default)]
struct Slot {
    result: Mutex<Option<Result<u64>>>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    leader: bool,
}

struct Inner {
    db: redb::Database,
    queue: Mutex<Queue>,
    /// Async commits not yet made durable.
    dirty: AtomicBool,
    commits: AtomicU64,
    groups: AtomicU64,
    path: PathBuf,
    shutdown: AtomicBool,
}

/// The redb-backed engine.
pub struct DiskEngine {
    inner: Arc<Inner>,
    flusher: Option<JoinHandle<()>>,
}

impl DiskEngine {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path) -> Result<DiskEngine> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::io(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let db = match redb::Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Error::new(
                    SqlState::OBJECT_IN_USE,
                    format!(
                        "database is locked: {} is in use by another process",
                        dir.display()
                    ),
                ));
            }
            Err(e) => {
                return Err(Error::corrupted(format!(
                    "cannot open {}: not a valid HeliosDB Nano database or damaged: {e}",
                    path.display()
                )));
            }
        };
        {
            let w = db.begin_write().map_err(storage_err)?;
            w.open_table(KV).map_err(storage_err)?;
            w.open_table(META).map_err(storage_err)?;
            w.commit().map_err(storage_err)?;
        }
        let inner = Arc::new(Inner {
            db,
            queue: Mutex::new(Queue::default()),
            dirty: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            path,
            shutdown: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        let flusher = std::thread::Builder::new()
            .name("heliosdb-flusher".into())
            .spawn(move || flusher_loop(weak))
            .map_err(|e| Error::io(format!("cannot start flusher thread: {e}")))?;
        Ok(DiskEngine {
            inner,
            flusher: Some(flusher),
        })
    }

    pub fn stats(&self) -> DiskStats {
        DiskStats {
            commits: self.inner.commits.load(Ordering::Relaxed),
            groups: self.inner.groups.load(Ordering::Relaxed),
        }
    }
}

fn flusher_loop(weak: Weak<Inner>) {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let Some(inner) = weak.upgrade() else { return };
        if inner.shutdown.load(Ordering::Acquire) {
            return;
        }
        if inner.dirty.load(Ordering::Acquire)
            && let Err(e) = inner.submit(None, Durability::Sync)
        {
            tracing::error!("background flush failed: {e}");
        }
    }
}

impl Inner {
    /// Queues a job and waits for its result (leading the group if no one is).
    fn submit(&self, batch: Option<WriteBatch>, durability: Durability) -> Result<u64> {
        let slot = Arc::new(Slot::default());
        let lead = {
            let mut q = self.queue.lock();
            q.jobs.push(Job {
                batch,
                durability,
                slot: slot.clone(),
            });
            if q.leader {
                false
            } else {
                q.leader = true;
                true
            }
        };
        if lead {
            self.lead();
        }
        let mut r = slot.result.lock();
        while r.is_none() {
            slot.ready.wait(&mut r);
        }
        r.take().expect("result present")
    }

    /// Applies queued groups until the queue is empty.
    fn lead(&self) {
        struct Release<'a>(&'a Inner);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                // On panic, fail whatever is queued so no follower waits forever.
                let mut q = self.0.queue.lock();
                q.leader = false;
                for job in q.jobs.drain(..) {
                    finish(&job.slot, Err(Error::internal("commit leader failed")));
                }
            }
        }
        let _release = Release(self);
        loop {
            let jobs = {
                let mut q = self.queue.lock();
                if q.jobs.is_empty() {
                    q.leader = false;
                    return;
                }
                std::mem::take(&mut q.jobs)
            };
            let slots: Vec<Arc<Slot>> = jobs.iter().map(|j| j.slot.clone()).collect();
            let results = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.apply_group(jobs)
            })) {
                Ok(Ok(seqs)) => seqs.into_iter().map(Ok).collect::<Vec<_>>(),
                Ok(Err(e)) => slots.iter().map(|_| Err(e.clone())).collect(),
                Err(_) => slots
                    .iter()
                    .map(|_| Err(Error::internal("panic while committing")))
                    .collect(),
            };
            for (slot, r) in slots.iter().zip(results) {
                finish(slot, r);
            }
        }
    }

    /// One redb transaction for a group of jobs; returns each job's sequence number.
    fn apply_group(&self, jobs: Vec<Job>) -> Result<Vec<u64>> {
        let sync = jobs.iter().any(|j| j.durability == Durability::Sync);
        let mut w = self.db.begin_write().map_err(storage_err)?;
        w.set_durability(if sync {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        })
        .map_err(storage_err)?;
        let mut seqs = Vec::with_capacity(jobs.len());
        let mut batches = 0;
        {
            let mut kv = w.open_table(KV).map_err(storage_err)?;
            let mut meta = w.open_table(META).map_err(storage_err)?;
            let mut seq = meta
                .get(SEQ_KEY)
                .map_err(storage_err)?
                .map(|g| g.value())
                .unwrap_or(0);
            for job in jobs {
                let Some(batch) = job.batch else {
                    seqs.push(seq);
                    continue;
                };
                seq += 1;
                batches += 1;
                for (k, op) in batch.ops {
                    apply_op(&mut kv, &k, op)?;
                }
                if let Some(hook) = batch.on_seq {
                    for (k, op) in hook(seq) {
                        apply_op(&mut kv, &k, op)?;
                    }
                }
                seqs.push(seq);
            }
            meta.insert(SEQ_KEY, seq).map_err(storage_err)?;
        }
        w.commit().map_err(storage_err)?;
        if sync {
            self.dirty.store(false, Ordering::Release);
        } else {
            self.dirty.store(true, Ordering::Release);
        }
        self.commits.fetch_add(batches, Ordering::Relaxed);
        self.groups.fetch_add(1, Ordering::Relaxed);
        Ok(seqs)
    }
}

fn finish(slot: &Slot, r: Result<u64>) {
    *slot.result.lock() = Some(r);
    slot.ready.notify_all();
}

fn read_i64(v: Option<redb::AccessGuard<'_, &[u8]>>, default: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(g) => Ok(i64::from_be_bytes(g.value().try_into().map_err(|_| {
            Error::corrupted("merge target is not an 8-byte integer")
        })?)),
    }
}

fn apply_op(kv: &mut redb::Table<&[u8], &[u8]>, key: &[u8], op: Op) -> Result<()> {
    match op {
        Op::Put(v) => {
            kv.insert(key, v.as_slice()).map_err(storage_err)?;
        }
        Op::Delete => {
            kv.remove(key).map_err(storage_err)?;
        }
        Op::AddI64(d) => {
            let cur = read_i64(kv.get(key).map_err(storage_err)?, 0)?;
            kv.insert(key, cur.wrapping_add(d).to_be_bytes().as_slice())
                .map_err(storage_err)?;
        }
        Op::MaxI64(d) => {
            let cur = read_i64(kv.get(key).map_err(storage_err)?, i64::MIN)?;
            kv.insert(key, cur.max(d).to_be_bytes().as_slice())
                .map_err(storage_err)?;
        }
    }
    Ok(())
}

impl Engine for DiskEngine {
    fn snapshot(&self) -> Result<Arc<dyn Snapshot>> {
        let r = self.inner.db.begin_read().map_err(storage_err)?;
        let kv = r.open_table(KV).map_err(storage_err)?;
        let meta = r.open_table(META).map_err(storage_err)?;
        let seq = meta
            .get(SEQ_KEY)
            .map_err(storage_err)?
            .map(|g| g.value())
            .unwrap_or(0);
        Ok(Arc::new(DiskSnapshot { kv, seq }))
    }

    fn commit(&self, batch: WriteBatch, durability: Durability) -> Result<u64> {
        self.inner.submit(Some(batch), durability)
    }

    fn sync(&self) -> Result<()> {
        if self.inner.dirty.load(Ordering::Acquire) {
            self.inner.submit(None, Durability::Sync)?;
        }
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        std::fs::metadata(&self.inner.path)
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

impl Drop for DiskEngine {
    fn drop(&mut self) {
        let _ = self.sync();
        self.inner.shutdown.store(true, Ordering::Release);
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
    }
}

/// One entry of a redb range scan.
type RangeItem = std::result::Result<
    (
        redb::AccessGuard<'static, &'static [u8]>,
        redb::AccessGuard<'static, &'static [u8]>,
    ),
    redb::StorageError,
>;

struct DiskSnapshot {
    kv: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    seq: u64,
}

impl Snapshot for DiskSnapshot {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .kv
            .get(key)
            .map_err(storage_err)?
            .map(|g| g.value().to_vec()))
    }

    fn scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> Result<KvIter> {
        let s = match &start {
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let e = match &end {
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        // An empty or inverted range yields nothing (redb would panic on it).
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) =
            (&s, &e)
        {
            let empty = a > b
                || (a == b
                    && !(matches!(s, Bound::Included(_)) && matches!(e, Bound::Included(_))));
            if empty {
                return Ok(Box::new(std::iter::empty()));
            }
        }
        let range = self.kv.range::<&[u8]>((s, e)).map_err(storage_err)?;
        let map = |item: RangeItem| {
            item.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .map_err(storage_err)
        };
        if reverse {
            Ok(Box::new(range.rev().map(map)))
        } else {
            Ok(Box::new(range.map(map)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(e: &DiskEngine, k: &[u8], v: &[u8]) -> u64 {
        let mut b = WriteBatch::default();
        b.put(k.to_vec(), v.to_vec());
        e.commit(b, Durability::Sync).unwrap()
    }

    #[test]
    fn persists_and_numbers_commits() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = DiskEngine::open(dir.path()).unwrap();
            assert_eq!(put(&e, b"a", b"1"), 1);
            assert_eq!(put(&e, b"b", b"2"), 2);
            let mut b = WriteBatch::default();
            b.put(b"c".to_vec(), b"3".to_vec());
            e.commit(b, Durability::Async).unwrap();
        }
        let e = DiskEngine::open(dir.path()).unwrap();
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 3);
        assert_eq!(s.get(b"c").unwrap().unwrap(), b"3");
        let keys: Vec<_> = s
            .scan(Bound::Excluded(b"a".to_vec()), Bound::Unbounded, false)
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(keys, vec![b"b".to_vec(), b"c".to_vec()]);
        let empty: Vec<_> = s
            .scan(
                Bound::Included(b"z".to_vec()),
                Bound::Excluded(b"a".to_vec()),
                false,
            )
            .unwrap()
            .collect();
        assert!(empty.is_empty());
    }

    #[test]
    fn locked_and_corrupt_directories_fail_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let e = DiskEngine::open(dir.path()).unwrap();
        let err = DiskEngine::open(dir.path())
            .err()
            .expect("second open fails");
        assert_eq!(err.sqlstate(), "55006");
        assert!(err.message.contains("database is locked"));
        drop(e);
        let bad = tempfile::tempdir().unwrap();
        std::fs::write(bad.path().join(FILE_NAME), vec![0x5au8; 10000]).unwrap();
        let err = DiskEngine::open(bad.path()).err().expect("garbage fails");
        assert_eq!(err.sqlstate(), "XX001");
    }

    #[test]
    fn group_commit_shares_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let e = Arc::new(DiskEngine::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let e = e.clone();
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        let mut b = WriteBatch::default();
                        b.put(format!("{t}-{i}").into_bytes(), vec![1]);
                        b.ops.push((b"n".to_vec(), Op::AddI64(1)));
                        e.commit(b, Durability::Sync).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = e.snapshot().unwrap();
        assert_eq!(s.seq(), 400);
        assert_eq!(s.get(b"n").unwrap().unwrap(), 400i64.to_be_bytes());
        let st = e.stats();
        assert_eq!(st.commits, 400);
        assert!(
            st.groups < 400,
            "groups {} should be fewer than commits",
            st.groups
        );
    }
}
