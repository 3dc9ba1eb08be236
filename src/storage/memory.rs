//! The in-memory engine: a multi-version ordered map.
//!
//! Every key holds a short chain of versions `(seq, Option<value>)` in
//! ascending `seq` order (`None` is a deletion). A snapshot is just the shared
//! state plus the sequence number it reads at, so taking one is O(1); a read
//! picks the newest version at or below that number, which makes snapshots
//! immune to later commits without copying anything.
//!
//! Commits serialize on a mutex, resolve the batch (merges read the latest
//! versions), then take the map's write lock only to append the new versions
//! and garbage-collect. Scans read in batches (see [`super::versions`]), so a
//! slow consumer never stalls a committer.
//!
//! Garbage collection: live snapshots are registered in a counted map
//! `seq -> count`. With `min` the oldest live snapshot's seq (or the latest
//! seq when there is none), a chain only needs its newest version `<= min`
//! and the versions after it; older versions, and a chain ending in a
//! deletion that no one can see past, are dropped. Each commit collects the
//! chains it touched; chains that could not be fully collected (an old
//! snapshot still needed them) go to a backlog that later commits work
//! through once the oldest snapshot has moved on.

use super::log::{LogIter, LogTail, TailScan};
use super::versions::{Chain, VersionCursor, visible};
use super::{Durability, Engine, KvIter, KvPair, Snapshot, WriteBatch};
use super::{ResolvedWrites, resolve_batch};
use crate::error::Result;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Minimum number of backlog chains collected per commit.
const GC_BACKLOG_STEP: usize = 64;

struct Shared {
    map: RwLock<BTreeMap<Vec<u8>, Chain>>,
    /// Sequence number of the last fully applied commit.
    last_seq: AtomicU64,
    /// Live snapshots: seq -> number of registrations.
    live: Mutex<BTreeMap<u64, usize>>,
    /// Serializes commits; holds the garbage-collection backlog.
    commit: Mutex<GcState>,
    /// The change log (see [`super::log`]).
    log: Arc<RwLock<LogTail>>,
}

#[derive(Default)]
struct GcState {
    /// Keys whose chains still hold more than a single live value.
    backlog: BTreeSet<Vec<u8>>,
    /// The `min` horizon at the last backlog pass (no progress is possible
    /// until it advances).
    backlog_horizon: u64,
    /// The LSN the next log entry gets, less one.
    last_lsn: u64,
    /// Truncated log entries are still held (an old snapshot may see them).
    log_to_prune: bool,
}

/// An in-memory, multi-version [`Engine`]. Nothing is persisted.
pub struct MemoryEngine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEngine")
            .field("seq", &self.shared.last_seq.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for MemoryEngine {
    fn default() -> Self {
        MemoryEngine::new()
    }
}

impl MemoryEngine {
    pub fn new() -> MemoryEngine {
        MemoryEngine {
            shared: Arc::new(Shared {
                map: RwLock::new(BTreeMap::new()),
                last_seq: AtomicU64::new(0),
                live: Mutex::new(BTreeMap::new()),
                commit: Mutex::new(GcState::default()),
                log: Arc::new(RwLock::new(LogTail::default())),
            }),
        }
    }

    /// Total number of stored versions (live values, older versions and
    /// deletion markers); for tests and diagnostics.
    pub fn version_count(&self) -> usize {
        self.shared.map.read().values().map(Vec::len).sum()
    }

    fn register(&self) -> Arc<Registration> {
        let mut live = self.shared.live.lock();
        // Read under the registry lock, so a concurrent commit's garbage
        // collection either sees this registration or ran before `seq` moved.
        let seq = self.shared.last_seq.load(Ordering::Acquire);
        *live.entry(seq).or_insert(0) += 1;
        Arc::new(Registration {
            shared: self.shared.clone(),
            seq,
        })
    }

    /// The oldest sequence number a live snapshot reads at (the latest
    /// commit's when there is none).
    fn horizon(&self) -> u64 {
        let last = self.shared.last_seq.load(Ordering::Acquire);
        self.shared
            .live
            .lock()
            .first_key_value()
            .map_or(last, |(seq, _)| (*seq).min(last))
    }

    /// Drops the truncated log entries no live snapshot can see.
    fn prune_log(&self, gc: &mut GcState) {
        let horizon = self.horizon();
        let mut log = self.shared.log.write();
        log.prune(horizon);
        gc.log_to_prune = log.holds_truncated();
    }

    /// Drops versions no live snapshot can see from `keys` and part of the backlog.
    fn collect(&self, gc: &mut GcState, map: &mut BTreeMap<Vec<u8>, Chain>, keys: Vec<Vec<u8>>) {
        let horizon = self.horizon();
        let step = GC_BACKLOG_STEP.max(2 * keys.len());
        for key in &keys {
            gc.backlog.remove(key);
        }
        let mut work = keys;
        if horizon > gc.backlog_horizon {
            gc.backlog_horizon = horizon;
            while work.len() < step
                && let Some(key) = gc.backlog.pop_first()
            {
                work.push(key);
            }
        }
        for key in work {
            let Some(chain) = map.get_mut(&key) else {
                continue;
            };
            if let Some(base) = chain.iter().rposition(|(s, _)| *s <= horizon) {
                chain.drain(..base);
            }
            match chain.as_slice() {
                [(seq, None)] if *seq <= horizon => {
                    map.remove(&key);
                }
                [(_, Some(_))] => {}
                _ => {
                    gc.backlog.insert(key);
                }
            }
        }
    }
}

impl Engine for MemoryEngine {
    fn snapshot(&self) -> Result<Arc<dyn Snapshot>> {
        Ok(Arc::new(MemorySnapshot {
            reg: self.register(),
        }))
    }

    fn commit(&self, batch: WriteBatch, _durability: Durability) -> Result<u64> {
        let mut gc = self.shared.commit.lock();
        let seq = self.shared.last_seq.load(Ordering::Acquire) + 1;
        let writes: ResolvedWrites = resolve_batch(batch.ops, |key| {
            let map = self.shared.map.read();
            Ok(map
                .get(key)
                .and_then(|chain| chain.last())
                .and_then(|(_, v)| v.clone()))
        })?;
        if !batch.log.is_empty() {
            let mut log = self.shared.log.write();
            for data in batch.log.iter() {
                gc.last_lsn += 1;
                log.push(gc.last_lsn, seq, data);
            }
        }
        let mut map = self.shared.map.write();
        let mut touched = Vec::with_capacity(writes.len());
        for (key, value) in writes {
            match map.get_mut(&key) {
                Some(chain) => chain.push((seq, value)),
                None => {
                    map.insert(key.clone(), vec![(seq, value)]);
                }
            }
            touched.push(key);
        }
        // Publish only after every version is in place.
        self.shared.last_seq.store(seq, Ordering::Release);
        self.collect(&mut gc, &mut map, touched);
        drop(map);
        if gc.log_to_prune {
            self.prune_log(&mut gc);
        }
        Ok(seq)
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }

    fn truncate_log(&self, through: u64) -> Result<()> {
        let mut gc = self.shared.commit.lock();
        {
            let mut log = self.shared.log.write();
            log.floor = log.floor.max(through.min(gc.last_lsn));
        }
        self.prune_log(&mut gc);
        Ok(())
    }
}

/// Keeps versions at `seq` alive while a snapshot or one of its scans exists.
struct Registration {
    shared: Arc<Shared>,
    seq: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut live = self.shared.live.lock();
        if let Some(count) = live.get_mut(&self.seq) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

struct MemorySnapshot {
    reg: Arc<Registration>,
}

impl Snapshot for MemorySnapshot {
    fn seq(&self) -> u64 {
        self.reg.seq
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let map = self.reg.shared.map.read();
        Ok(map
            .get(key)
            .and_then(|chain| visible(chain, self.reg.seq))
            .and_then(|v| v.clone()))
    }

    fn scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> Result<KvIter> {
        Ok(Box::new(MemoryScan {
            cursor: VersionCursor::new(start, end, reverse, self.reg.seq, false),
            reg: self.reg.clone(),
        }))
    }

    fn log_scan(&self, from: u64, reverse: bool) -> Result<LogIter> {
        Ok(Box::new(TailScan::new(
            self.reg.shared.log.clone(),
            self.reg.clone(),
            self.reg.seq,
            from,
            reverse,
        )))
    }

    fn log_last(&self) -> u64 {
        self.reg.shared.log.read().last_visible(self.reg.seq)
    }
}

/// A scan in batches (see [`VersionCursor`]).
struct MemoryScan {
    reg: Arc<Registration>,
    cursor: VersionCursor,
}

impl Iterator for MemoryScan {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((key, value)) = self.cursor.pop() {
                // The cursor yields no deletions.
                return value.map(|v| Ok((key, v)));
            }
            if !self.cursor.needs_refill() {
                return None;
            }
            self.cursor.refill(&self.reg.shared.map.read());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Bound::Unbounded;

    fn put(e: &MemoryEngine, key: &[u8], value: &[u8]) -> u64 {
        let mut b = WriteBatch::default();
        b.put(key.to_vec(), value.to_vec());
        e.commit(b, Durability::Async).unwrap()
    }

    fn delete(e: &MemoryEngine, key: &[u8]) -> u64 {
        let mut b = WriteBatch::default();
        b.delete(key.to_vec());
        e.commit(b, Durability::Async).unwrap()
    }

    #[test]
    fn gc_without_snapshots_keeps_one_version() {
        let e = MemoryEngine::new();
        for i in 0..100u32 {
            put(&e, b"k", &i.to_be_bytes());
        }
        assert_eq!(e.version_count(), 1);
        delete(&e, b"k");
        assert_eq!(e.version_count(), 0);
        assert_eq!(e.snapshot().unwrap().get(b"k").unwrap(), None);
    }

    #[test]
    fn gc_keeps_what_live_snapshots_need() {
        let e = MemoryEngine::new();
        put(&e, b"a", b"1");
        put(&e, b"b", b"1");
        let s1 = e.snapshot().unwrap();
        put(&e, b"a", b"2");
        delete(&e, b"b");
        let s2 = e.snapshot().unwrap();
        for i in 3..50u32 {
            put(&e, b"a", i.to_string().as_bytes());
        }
        delete(&e, b"a");
        // Every snapshot still sees its own state.
        assert_eq!(s1.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s1.get(b"b").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s2.get(b"a").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s2.get(b"b").unwrap(), None);
        let s1_all: Vec<_> = s1.scan(Unbounded, Unbounded, true).unwrap().collect();
        assert_eq!(s1_all.len(), 2);
        let now = e.snapshot().unwrap();
        assert_eq!(now.scan(Unbounded, Unbounded, false).unwrap().count(), 0);
        assert!(e.version_count() > 2);
        drop((s1, s2, now));
        // The backlog is collected by later commits once the snapshots are gone.
        put(&e, b"z", b"1");
        put(&e, b"z", b"2");
        assert_eq!(e.version_count(), 1);
    }

    #[test]
    fn gc_respects_a_live_scan_of_a_dropped_snapshot() {
        let e = MemoryEngine::new();
        for i in 0..600u32 {
            put(&e, &i.to_be_bytes(), b"old");
        }
        let s = e.snapshot().unwrap();
        let mut it = s.scan(Unbounded, Unbounded, false).unwrap();
        assert!(it.next().is_some());
        drop(s);
        for i in 0..600u32 {
            put(&e, &i.to_be_bytes(), b"new");
        }
        assert!(it.all(|r| r.unwrap().1 == b"old"));
    }

    #[test]
    fn concurrent_readers_and_writers() {
        let e = Arc::new(MemoryEngine::new());
        let writer = {
            let e = e.clone();
            std::thread::spawn(move || {
                for round in 0..200u32 {
                    let mut b = WriteBatch::default();
                    for i in 0..50u32 {
                        b.put(i.to_be_bytes().to_vec(), round.to_be_bytes().to_vec());
                    }
                    e.commit(b, Durability::Async).unwrap();
                }
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let s = e.snapshot().unwrap();
                        let values: Vec<Vec<u8>> = s
                            .scan(Unbounded, Unbounded, false)
                            .unwrap()
                            .map(|r| r.unwrap().1)
                            .collect();
                        // A snapshot sees one whole round or nothing.
                        assert!(values.is_empty() || values.len() == 50);
                        assert!(values.windows(2).all(|w| w[0] == w[1]));
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        readers.into_iter().for_each(|r| r.join().unwrap());
        assert_eq!(e.snapshot().unwrap().seq(), 200);
        // Versions kept for the readers' snapshots are collected by the next
        // commit once those snapshots are gone.
        e.commit(WriteBatch::default(), Durability::Async).unwrap();
        assert_eq!(e.version_count(), 50);
        assert!(e.shared.live.lock().is_empty());
    }
}
