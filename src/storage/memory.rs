//! An in-memory, multi-version engine (`Database::open_in_memory`).
//!
//! Each key keeps a short chain of `(seq, value | tombstone)` versions. A
//! snapshot is just a sequence number: reads pick the newest version at or
//! below it. Scans read in chunks under the read lock and resume after the
//! last key, so a long scan never blocks commits. Versions that no live
//! snapshot can see are dropped when their key is next written.

use super::{Durability, Engine, KvIter, KvPair, Op, Snapshot, WriteBatch};
use crate::error::{Error, Result};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

type Chain = Vec<(u64, Option<Vec<u8>>)>;

struct State {
    data: RwLock<BTreeMap<Vec<u8>, Chain>>,
    seq: RwLock<u64>,
    /// Live snapshot sequence numbers -> count.
    live: Mutex<BTreeMap<u64, usize>>,
    /// Serializes commits; holds keys deleted at a sequence number, whose
    /// tombstones are dropped once every live snapshot sees the delete.
    commit_lock: Mutex<Vec<(u64, Vec<u8>)>>,
}

/// The memory engine.
pub struct MemoryEngine {
    state: Arc<State>,
}

impl Default for MemoryEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryEngine {
    pub fn new() -> MemoryEngine {
        MemoryEngine {
            state: Arc::new(State {
                data: RwLock::new(BTreeMap::new()),
                seq: RwLock::new(0),
                live: Mutex::new(BTreeMap::new()),
                commit_lock: Mutex::new(Vec::new()),
            }),
        }
    }
}

fn visible(chain: &Chain, seq: u64) -> Option<&Option<Vec<u8>>> {
    chain.iter().rev().find(|(s, _)| *s <= seq).map(|(_, v)| v)
}

fn as_i64(v: Option<&Vec<u8>>, default: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(b) => Ok(i64::from_be_bytes(b.as_slice().try_into().map_err(
            |_| Error::corrupted("merge target is not an 8-byte integer"),
        )?)),
    }
}

/// Applies one write to `data` at `seq`, dropping versions older than `horizon`
/// that are shadowed by a newer version also at or below the horizon.
fn apply(
    data: &mut BTreeMap<Vec<u8>, Chain>,
    key: Vec<u8>,
    op: Op,
    seq: u64,
    horizon: u64,
) -> Result<()> {
    let current = data
        .get(&key)
        .and_then(|c| c.last())
        .and_then(|(_, v)| v.clone());
    let value = match op {
        Op::Put(v) => Some(v),
        Op::Delete => None,
        Op::AddI64(d) => Some(
            as_i64(current.as_ref(), 0)?
                .wrapping_add(d)
                .to_be_bytes()
                .to_vec(),
        ),
        Op::MaxI64(d) => Some(
            as_i64(current.as_ref(), i64::MIN)?
                .max(d)
                .to_be_bytes()
                .to_vec(),
        ),
    };
    let chain = data.entry(key).or_default();
    if chain.last().is_some_and(|(s, _)| *s == seq) {
        chain.pop();
    }
    chain.push((seq, value));
    // Keep the newest version at or below the horizon and everything newer.
    if let Some(keep_from) = chain.iter().rposition(|(s, _)| *s <= horizon)
        && keep_from > 0
    {
        chain.drain(..keep_from);
    }
    Ok(())
}

impl Engine for MemoryEngine {
    fn snapshot(&self) -> Result<Arc<dyn Snapshot>> {
        let seq = *self.state.seq.read();
        *self.state.live.lock().entry(seq).or_insert(0) += 1;
        Ok(Arc::new(MemorySnapshot {
            state: self.state.clone(),
            seq,
        }))
    }

    fn commit(&self, batch: WriteBatch, _durability: Durability) -> Result<u64> {
        let mut tombstones = self.state.commit_lock.lock();
        let seq = *self.state.seq.read() + 1;
        let horizon = self
            .state
            .live
            .lock()
            .keys()
            .next()
            .copied()
            .unwrap_or(seq - 1)
            .min(seq - 1);
        {
            let mut data = self.state.data.write();
            // Validate merges first so a corrupt counter leaves nothing half-applied.
            let mut staged = BTreeMap::new();
            for (k, op) in batch.ops {
                staged_push(&mut staged, &data, k, op)?;
            }
            if let Some(hook) = batch.on_seq {
                for (k, op) in hook(seq) {
                    staged_push(&mut staged, &data, k, op)?;
                }
            }
            // Forget deleted keys that no live snapshot can still see.
            if tombstones.first().is_some_and(|(s, _)| *s <= horizon) {
                let (done, keep): (Vec<_>, Vec<_>) = tombstones.drain(..).partition(|(s, _)| *s <= horizon);
                *tombstones = keep;
                for (_, k) in done {
                    let gone = data
                        .get(&k)
                        .is_some_and(|c| c.len() == 1 && c[0].1.is_none() && c[0].0 <= horizon);
                    if gone {
                        data.remove(&k);
                    }
                }
            }
            for (k, v) in staged {
                let op = match v {
                    Some(v) => Op::Put(v),
                    None => {
                        tombstones.push((seq, k.clone()));
                        Op::Delete
                    }
                };
                apply(&mut data, k, op, seq, horizon)?;
            }
        }
        *self.state.seq.write() = seq;
        Ok(seq)
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }
}

/// Resolves a write against the batch so far and the committed data.
fn staged_push(
    staged: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    data: &BTreeMap<Vec<u8>, Chain>,
    key: Vec<u8>,
    op: Op,
) -> Result<()> {
    let current = match staged.get(&key) {
        Some(v) => v.clone(),
        None => data
            .get(&key)
            .and_then(|c| c.last())
            .and_then(|(_, v)| v.clone()),
    };
    let v = match op {
        Op::Put(v) => Some(v),
        Op::Delete => None,
        Op::AddI64(d) => Some(
            as_i64(current.as_ref(), 0)?
                .wrapping_add(d)
                .to_be_bytes()
                .to_vec(),
        ),
        Op::MaxI64(d) => Some(
            as_i64(current.as_ref(), i64::MIN)?
                .max(d)
                .to_be_bytes()
                .to_vec(),
        ),
    };
    staged.insert(key, v);
    Ok(())
}

struct MemorySnapshot {
    state: Arc<State>,
    seq: u64,
}

impl Drop for MemorySnapshot {
    fn drop(&mut self) {
        let mut live = self.state.live.lock();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

const CHUNK: usize = 256;

impl Snapshot for MemorySnapshot {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let data = self.state.data.read();
        Ok(data
            .get(key)
            .and_then(|c| visible(c, self.seq))
            .cloned()
            .flatten())
    }

    fn scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> Result<KvIter> {
        Ok(Box::new(MemoryScan {
            state: self.state.clone(),
            seq: self.seq,
            _snap_guard: Arc::new(SnapGuard::new(self.state.clone(), self.seq)),
            lo: start,
            hi: end,
            reverse,
            buf: std::collections::VecDeque::new(),
            done: false,
        }))
    }
}

/// Keeps a snapshot registered while a scan outlives its snapshot handle.
struct SnapGuard {
    state: Arc<State>,
    seq: u64,
}

impl SnapGuard {
    fn new(state: Arc<State>, seq: u64) -> SnapGuard {
        *state.live.lock().entry(seq).or_insert(0) += 1;
        SnapGuard { state, seq }
    }
}

impl Drop for SnapGuard {
    fn drop(&mut self) {
        let mut live = self.state.live.lock();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

struct MemoryScan {
    state: Arc<State>,
    seq: u64,
    _snap_guard: Arc<SnapGuard>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    reverse: bool,
    buf: std::collections::VecDeque<KvPair>,
    done: bool,
}

impl MemoryScan {
    fn fill(&mut self) {
        let data = self.state.data.read();
        let range = data.range::<Vec<u8>, _>((self.lo.clone(), self.hi.clone()));
        let mut last = None;
        let mut n = 0;
        let push = |k: &Vec<u8>, c: &Chain, buf: &mut std::collections::VecDeque<KvPair>| {
            if let Some(Some(v)) = visible(c, self.seq) {
                buf.push_back((k.clone(), v.clone()));
            }
        };
        if self.reverse {
            for (k, c) in range.rev() {
                push(k, c, &mut self.buf);
                last = Some(k.clone());
                n += 1;
                if n >= CHUNK {
                    break;
                }
            }
        } else {
            for (k, c) in range {
                push(k, c, &mut self.buf);
                last = Some(k.clone());
                n += 1;
                if n >= CHUNK {
                    break;
                }
            }
        }
        match last {
            None => self.done = true,
            Some(k) => {
                if n < CHUNK {
                    self.done = true;
                }
                if self.reverse {
                    self.hi = Bound::Excluded(k);
                } else {
                    self.lo = Bound::Excluded(k);
                }
            }
        }
    }
}

impl Iterator for MemoryScan {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buf.is_empty() && !self.done {
            self.fill();
        }
        self.buf.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(e: &MemoryEngine, k: &[u8], v: &[u8]) -> u64 {
        let mut b = WriteBatch::default();
        b.put(k.to_vec(), v.to_vec());
        e.commit(b, Durability::Sync).unwrap()
    }

    #[test]
    fn snapshots_are_isolated() {
        let e = MemoryEngine::new();
        assert_eq!(put(&e, b"a", b"1"), 1);
        let s1 = e.snapshot().unwrap();
        put(&e, b"a", b"2");
        put(&e, b"b", b"3");
        assert_eq!(s1.get(b"a").unwrap().unwrap(), b"1");
        assert_eq!(s1.get(b"b").unwrap(), None);
        let s2 = e.snapshot().unwrap();
        assert_eq!(s2.seq(), 3);
        let all: Vec<_> = s2
            .scan(Bound::Unbounded, Bound::Unbounded, true)
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(all, vec![b"b".to_vec(), b"a".to_vec()]);
        drop(s1);
        put(&e, b"a", b"4");
        assert_eq!(s2.get(b"a").unwrap().unwrap(), b"2");
    }

    #[test]
    fn merges_and_hooks() {
        let e = MemoryEngine::new();
        let mut b = WriteBatch::default();
        b.ops.push((b"c".to_vec(), Op::AddI64(5)));
        b.ops.push((b"c".to_vec(), Op::AddI64(2)));
        b.ops.push((b"m".to_vec(), Op::MaxI64(3)));
        b.on_seq = Some(Box::new(|seq| {
            vec![(b"log".to_vec(), Op::Put(seq.to_be_bytes().to_vec()))]
        }));
        e.commit(b, Durability::Sync).unwrap();
        let s = e.snapshot().unwrap();
        assert_eq!(s.get(b"c").unwrap().unwrap(), 7i64.to_be_bytes());
        assert_eq!(s.get(b"m").unwrap().unwrap(), 3i64.to_be_bytes());
        assert_eq!(s.get(b"log").unwrap().unwrap(), 1u64.to_be_bytes());
    }

    #[test]
    fn long_scans_resume_across_chunks() {
        let e = MemoryEngine::new();
        let mut b = WriteBatch::default();
        for i in 0..1000u32 {
            b.put(i.to_be_bytes().to_vec(), vec![1]);
        }
        e.commit(b, Durability::Sync).unwrap();
        let s = e.snapshot().unwrap();
        let mut it = s.scan(Bound::Unbounded, Bound::Unbounded, false).unwrap();
        let first = it.next().unwrap().unwrap();
        // A commit during the scan is not seen by it.
        let mut d = WriteBatch::default();
        d.delete(999u32.to_be_bytes().to_vec());
        e.commit(d, Durability::Sync).unwrap();
        assert_eq!(first.0, 0u32.to_be_bytes());
        assert_eq!(it.count(), 999);
    }
}
