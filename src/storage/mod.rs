//! The storage engine seam: an ordered, transactional key-value store.
//!
//! Everything above this module (MVCC, catalog, SQL) talks to storage only
//! through [`Engine`] and [`Snapshot`], so the in-memory engine
//! ([`memory::MemoryEngine`]) and the durable engine ([`disk::DiskEngine`], on
//! redb) run exactly the same code above them.
//!
//! Contract:
//! * Keys and values are byte strings; keys are ordered bytewise.
//! * [`Engine::snapshot`] returns a consistent read-only view of everything
//!   committed before the call and nothing committed after it. Snapshots never
//!   block commits and commits never block snapshots. [`Snapshot::seq`] is the
//!   sequence number of the last commit the view contains.
//! * [`Engine::commit`] applies one [`WriteBatch`] atomically: after a crash
//!   either all of it or none of it is present. Each commit gets the next
//!   sequence number (1, 2, 3, ...), persisted with the data. With
//!   [`Durability::Sync`] the call returns only once the batch is on stable
//!   storage; concurrent committers share one sync (group commit). With
//!   [`Durability::Async`] the batch is visible at once and made durable by
//!   the next sync or within a short interval (about 100 ms).
//! * Merge operations ([`Op::AddI64`], [`Op::MaxI64`]) are resolved against
//!   the latest committed value at apply time, in commit order, so counters
//!   updated by concurrent transactions never lose an update. A merge whose
//!   current value is not an 8-byte big-endian integer fails the whole batch
//!   with `XX001` (data corrupted); an `AddI64` that overflows fails it with
//!   `22003`. A batch that fails this way writes nothing and consumes no
//!   sequence number.
//! * Within a batch, operations apply in order (a merge sees an earlier `Put`
//!   of the same batch).
//! * A batch may append entries to the engine's change log
//!   ([`WriteBatch::log`], see [`log`]): they are numbered with the next log
//!   sequence numbers, in commit order, and are part of the same atomic
//!   commit; a snapshot sees the entries of exactly the commits it sees.
//! * Snapshots and scan iterators may outlive the engine: on the memory
//!   engine they keep working; on the disk engine, once the engine is dropped
//!   (the file is closed and unlocked), their reads fail with `55000` except
//!   for data redb still holds in memory. Don't rely on either.
//! * An empty batch is still a commit and gets a sequence number.

mod chunk;
pub mod disk;
pub mod log;
pub mod memory;
mod versions;
pub mod wal;

use crate::error::{Error, Result};
pub use log::{LogBatch, LogEntry, LogIter};
use std::ops::Bound;
use std::sync::Arc;

/// An owned key-value pair.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// An iterator over key-value pairs in key order (or reverse key order).
pub type KvIter = Box<dyn Iterator<Item = Result<KvPair>> + Send>;

/// A scan that lends each pair instead of copying it: the slices are valid
/// until the next call. The disk engine hands out slices of the chunk it is
/// reading, so a scan that decodes rows in place allocates nothing per pair.
pub trait RefScan: Send {
    fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>>;
}

/// A boxed [`RefScan`].
pub type RefIter = Box<dyn RefScan>;

/// A [`RefScan`] over an owning iterator (it keeps the current pair).
pub struct OwnedRefScan {
    iter: KvIter,
    current: Option<KvPair>,
}

impl OwnedRefScan {
    pub fn new(iter: KvIter) -> OwnedRefScan {
        OwnedRefScan {
            iter,
            current: None,
        }
    }
}

impl RefScan for OwnedRefScan {
    fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        match self.iter.next()? {
            Ok(pair) => {
                let (k, v) = self.current.insert(pair);
                Some(Ok((k.as_slice(), v.as_slice())))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

/// How durable a commit must be before [`Engine::commit`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// On stable storage before returning (fsync), shared between concurrent committers.
    Sync,
    /// Visible at once; made durable shortly after (`synchronous_commit = off`).
    Async,
}

/// One write in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set the key to this value.
    Put(Vec<u8>),
    /// Remove the key (no error if absent).
    Delete,
    /// Treat the current value as a big-endian i64 (absent = 0), add the delta, store it.
    AddI64(i64),
    /// Treat the current value as a big-endian i64 (absent = i64::MIN), store the max.
    MaxI64(i64),
}

/// A set of writes applied atomically, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: Vec<(Vec<u8>, Op)>,
    /// Entries appended to the change log, in this order, numbered with the
    /// next LSNs, in the same atomic commit.
    pub log: LogBatch,
}

impl WriteBatch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Op::Put(value)));
    }
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, Op::Delete));
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.log.is_empty()
    }
}

/// A read-only, consistent view of committed data.
pub trait Snapshot: Send + Sync {
    /// Sequence number of the last commit visible in this view (0 for an empty store).
    fn seq(&self) -> u64;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Pairs with keys inside the bounds, ascending, or descending when `reverse`.
    fn scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> Result<KvIter>;
    /// Like [`Snapshot::scan`], lending the pairs instead of copying them.
    fn scan_ref(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<RefIter> {
        Ok(Box::new(OwnedRefScan::new(self.scan(start, end, reverse)?)))
    }
    /// The change log's entries this view sees, from LSN `from` on in
    /// ascending order, or from `from` down when `reverse`. Truncated
    /// entries are left out (a scan that truncation overtakes may skip
    /// some: the LSNs then have a gap).
    fn log_scan(&self, from: u64, reverse: bool) -> Result<LogIter>;
    /// The LSN of the last log entry this view sees, truncated or not (0 if
    /// none was ever written).
    fn log_last(&self) -> u64;
}

/// An ordered key-value store with atomic batches and snapshot reads.
pub trait Engine: Send + Sync {
    fn snapshot(&self) -> Result<Arc<dyn Snapshot>>;
    /// Applies the batch atomically and returns its sequence number.
    fn commit(&self, batch: WriteBatch, durability: Durability) -> Result<u64>;
    /// Makes every commit so far durable (used at shutdown and by `Async` flushing).
    fn sync(&self) -> Result<()>;
    /// Bytes used on disk (0 for memory).
    fn size_on_disk(&self) -> u64;
    /// Drops the change log's entries up to LSN `through`. Not part of a
    /// commit: the disk engine makes it durable at its next checkpoint, so
    /// after a crash truncated entries may be back (the caller keeps its
    /// own durable record and truncates again).
    fn truncate_log(&self, through: u64) -> Result<()>;
}

/// Helper for prefix scans: the exclusive upper bound of all keys starting with `prefix`
/// (`None` if the prefix is all 0xFF bytes).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Encodes an integer the way [`Op::AddI64`] and [`Op::MaxI64`] store it (8 bytes, big-endian).
pub fn encode_i64(value: i64) -> [u8; 8] {
    value.to_be_bytes()
}

/// Decodes a value written by [`Op::AddI64`] / [`Op::MaxI64`] (`None` unless exactly 8 bytes).
pub fn decode_i64(bytes: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(bytes).ok().map(i64::from_be_bytes)
}

/// True when no key can lie inside the bounds (also the cases where
/// `BTreeMap::range` would panic: start > end, or start == end with an
/// exclusive side).
pub(crate) fn bounds_are_empty(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
            s >= e
        }
        _ => false,
    }
}

/// The final state of every key a batch writes, in key order with no key
/// twice: `Some(value)` to store, `None` to delete.
pub(crate) type ResolvedWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Resolves a batch's operations into final per-key writes. Merges read
/// earlier writes of the same batch, else the latest committed value via
/// `latest`. Nothing is written by this function, so an error leaves the
/// store untouched.
pub(crate) fn resolve_batch(
    ops: Vec<(Vec<u8>, Op)>,
    mut latest: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>>,
) -> Result<ResolvedWrites> {
    // A transaction's write set arrives sorted with unique keys; when it has
    // no merges it is already the answer (large loads skip a second map).
    let plain = ops.windows(2).all(|w| w[0].0 < w[1].0)
        && ops
            .iter()
            .all(|(_, op)| matches!(op, Op::Put(_) | Op::Delete));
    if plain {
        return Ok(ops
            .into_iter()
            .map(|(key, op)| match op {
                Op::Put(value) => (key, Some(value)),
                _ => (key, None),
            })
            .collect());
    }
    // Otherwise (counters come after the write set; merges): a stable sort keeps each key's operations in
    // order, and they fold into one write per key. A failing merge fails
    // the batch with the error of the earliest failing operation, as
    // applying them one by one would.
    let mut ops: Vec<(usize, (Vec<u8>, Op))> = ops.into_iter().enumerate().collect();
    ops.sort_by(|a, b| a.1.0.cmp(&b.1.0));
    let mut out: ResolvedWrites = Vec::with_capacity(ops.len());
    let mut failed: Option<(usize, Error)> = None;
    let mut poisoned: Option<Vec<u8>> = None;
    for (i, (key, op)) in ops {
        if poisoned.as_deref() == Some(key.as_slice()) {
            continue;
        }
        let pending = match out.last_mut() {
            Some((k, v)) if *k == key => Some(v),
            _ => None,
        };
        let value = match op {
            Op::Put(value) => Ok(Some(value)),
            Op::Delete => Ok(None),
            Op::AddI64(delta) => merge_operand(pending.as_deref().cloned(), &key, &mut latest)
                .and_then(|current| {
                    current
                        .unwrap_or(0)
                        .checked_add(delta)
                        .ok_or_else(|| Error::out_of_range("bigint"))
                })
                .map(|sum| Some(encode_i64(sum).to_vec())),
            Op::MaxI64(candidate) => merge_operand(pending.as_deref().cloned(), &key, &mut latest)
                .map(|current| {
                    Some(encode_i64(current.unwrap_or(i64::MIN).max(candidate)).to_vec())
                }),
        };
        match value {
            Ok(value) => match pending {
                Some(slot) => *slot = value,
                None => out.push((key, value)),
            },
            Err(e) => {
                if failed.as_ref().is_none_or(|(j, _)| i < *j) {
                    failed = Some((i, e));
                }
                poisoned = Some(key);
            }
        }
    }
    match failed {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

fn merge_operand(
    pending: Option<Option<Vec<u8>>>,
    key: &[u8],
    latest: &mut impl FnMut(&[u8]) -> Result<Option<Vec<u8>>>,
) -> Result<Option<i64>> {
    let current = match pending {
        Some(pending) => pending,
        None => latest(key)?,
    };
    match current {
        None => Ok(None),
        Some(bytes) => decode_i64(&bytes).map(Some).ok_or_else(|| {
            Error::corrupted(format!(
                "merge on key {} failed: the current value is {} bytes, not an 8-byte integer",
                escape_key(key),
                bytes.len()
            ))
        }),
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// A printable rendering of a binary key for error messages.
pub(crate) fn escape_key(key: &[u8]) -> String {
    let shown: String = key
        .iter()
        .take(64)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if key.len() > 64 {
        format!("\"{shown}...\"")
    } else {
        format!("\"{shown}\"")
    }
}

#[cfg(test)]
mod tests {
    //! Behaviour both engines must share: run every check against each.

    use super::disk::DiskEngine;
    use super::memory::MemoryEngine;
    use super::*;
    use crate::error::SqlState;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::ops::Bound::{Excluded, Included, Unbounded};

    fn with_engines(check: impl Fn(&dyn Engine)) {
        check(&MemoryEngine::new());
        let dir = tempfile::tempdir().unwrap();
        check(&DiskEngine::open(dir.path()).unwrap());
    }

    fn k(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn put_all(e: &dyn Engine, pairs: &[(&str, &str)]) -> u64 {
        let mut b = WriteBatch::default();
        for (key, value) in pairs {
            b.put(k(key), k(value));
        }
        e.commit(b, Durability::Async).unwrap()
    }

    fn keys(it: KvIter) -> Vec<String> {
        it.map(|r| String::from_utf8(r.unwrap().0).unwrap())
            .collect()
    }

    #[test]
    fn prefix_end_cases() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(b"\x00"), Some(b"\x01".to_vec()));
    }

    #[test]
    fn bounds_emptiness() {
        let (a, b) = (k("a"), k("b"));
        assert!(!bounds_are_empty(
            &Included(a.clone()),
            &Included(a.clone())
        ));
        assert!(bounds_are_empty(&Included(a.clone()), &Excluded(a.clone())));
        assert!(bounds_are_empty(&Excluded(a.clone()), &Excluded(a.clone())));
        assert!(bounds_are_empty(&Included(b.clone()), &Included(a.clone())));
        assert!(!bounds_are_empty(&Unbounded, &Excluded(a.clone())));
        assert!(!bounds_are_empty(&Excluded(a), &Unbounded));
    }

    #[test]
    fn put_get_delete_and_seq() {
        with_engines(|e| {
            assert_eq!(e.snapshot().unwrap().seq(), 0);
            assert_eq!(put_all(e, &[("a", "1"), ("b", "2")]), 1);
            let mut b = WriteBatch::default();
            b.delete(k("a"));
            b.delete(k("zz")); // absent: no error
            b.put(k("c"), k("3"));
            assert_eq!(e.commit(b, Durability::Sync).unwrap(), 2);
            // An empty batch is still a commit.
            assert_eq!(
                e.commit(WriteBatch::default(), Durability::Sync).unwrap(),
                3
            );
            let s = e.snapshot().unwrap();
            assert_eq!(s.seq(), 3);
            assert_eq!(s.get(b"a").unwrap(), None);
            assert_eq!(s.get(b"b").unwrap(), Some(k("2")));
            assert_eq!(s.get(b"c").unwrap(), Some(k("3")));
            // Later ops in a batch win.
            let mut b = WriteBatch::default();
            b.put(k("d"), k("x"));
            b.delete(k("d"));
            b.put(k("e"), k("x"));
            b.put(k("e"), k("y"));
            e.commit(b, Durability::Async).unwrap();
            let s = e.snapshot().unwrap();
            assert_eq!(s.get(b"d").unwrap(), None);
            assert_eq!(s.get(b"e").unwrap(), Some(k("y")));
            // Empty keys and values are fine.
            let mut b = WriteBatch::default();
            b.put(vec![], vec![]);
            e.commit(b, Durability::Async).unwrap();
            assert_eq!(e.snapshot().unwrap().get(b"").unwrap(), Some(vec![]));
            e.sync().unwrap();
        });
    }

    #[test]
    fn scans_with_every_bound() {
        with_engines(|e| {
            put_all(
                e,
                &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")],
            );
            let s = e.snapshot().unwrap();
            let scan = |lo: Bound<&str>, hi: Bound<&str>, rev: bool| {
                keys(s.scan(lo.map(k), hi.map(k), rev).unwrap()).join("")
            };
            assert_eq!(scan(Unbounded, Unbounded, false), "abcde");
            assert_eq!(scan(Unbounded, Unbounded, true), "edcba");
            assert_eq!(scan(Included("b"), Included("d"), false), "bcd");
            assert_eq!(scan(Included("b"), Included("d"), true), "dcb");
            assert_eq!(scan(Excluded("b"), Excluded("d"), false), "c");
            assert_eq!(scan(Excluded("b"), Excluded("d"), true), "c");
            assert_eq!(scan(Included("b"), Excluded("d"), false), "bc");
            assert_eq!(scan(Excluded("b"), Included("d"), true), "dc");
            assert_eq!(scan(Unbounded, Excluded("c"), false), "ab");
            assert_eq!(scan(Unbounded, Included("c"), true), "cba");
            assert_eq!(scan(Included("bb"), Unbounded, false), "cde");
            assert_eq!(scan(Excluded("c"), Unbounded, true), "ed");
            // Empty and inverted ranges yield nothing (and do not panic).
            assert_eq!(scan(Included("c"), Excluded("c"), false), "");
            assert_eq!(scan(Excluded("c"), Excluded("c"), true), "");
            assert_eq!(scan(Included("d"), Included("b"), false), "");
            assert_eq!(scan(Excluded("d"), Included("b"), true), "");
            assert_eq!(scan(Included("c"), Included("c"), true), "c");
            // Values come along.
            let pairs: Vec<KvPair> = s
                .scan(Included(k("d")), Unbounded, false)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(pairs, vec![(k("d"), k("4")), (k("e"), k("5"))]);
        });
    }

    #[test]
    fn prefix_scans() {
        with_engines(|e| {
            let mut b = WriteBatch::default();
            for key in [
                &b"a\xff"[..],
                b"a\xff\x00",
                b"a\xff\xff",
                b"b",
                b"a",
                b"\xff\xff",
            ] {
                b.put(key.to_vec(), vec![1]);
            }
            e.commit(b, Durability::Async).unwrap();
            let s = e.snapshot().unwrap();
            let prefix = b"a\xff".to_vec();
            let end = prefix_end(&prefix).map_or(Unbounded, Excluded);
            let got: Vec<Vec<u8>> = s
                .scan(Included(prefix), end, false)
                .unwrap()
                .map(|r| r.unwrap().0)
                .collect();
            assert_eq!(
                got,
                vec![
                    b"a\xff".to_vec(),
                    b"a\xff\x00".to_vec(),
                    b"a\xff\xff".to_vec()
                ]
            );
            let all_ff: Vec<Vec<u8>> = s
                .scan(Included(b"\xff".to_vec()), Unbounded, true)
                .unwrap()
                .map(|r| r.unwrap().0)
                .collect();
            assert_eq!(all_ff, vec![b"\xff\xff".to_vec()]);
        });
    }

    #[test]
    fn large_scans_cross_chunks() {
        with_engines(|e| {
            let mut b = WriteBatch::default();
            for i in 0..2000u32 {
                b.put(i.to_be_bytes().to_vec(), i.to_le_bytes().to_vec());
            }
            e.commit(b, Durability::Async).unwrap();
            // Delete most keys, so chunks see many invisible entries.
            let mut b = WriteBatch::default();
            for i in (0..2000u32).filter(|i| i % 7 != 0) {
                b.delete(i.to_be_bytes().to_vec());
            }
            e.commit(b, Durability::Async).unwrap();
            let expect: Vec<u32> = (0..2000).filter(|i| i % 7 == 0).collect();
            let s = e.snapshot().unwrap();
            let fwd: Vec<u32> = s
                .scan(Unbounded, Unbounded, false)
                .unwrap()
                .map(|r| u32::from_be_bytes(r.unwrap().0.try_into().unwrap()))
                .collect();
            assert_eq!(fwd, expect);
            let mut rev: Vec<u32> = s
                .scan(Unbounded, Unbounded, true)
                .unwrap()
                .map(|r| u32::from_be_bytes(r.unwrap().0.try_into().unwrap()))
                .collect();
            rev.reverse();
            assert_eq!(rev, expect);
        });
    }

    #[test]
    fn merges() {
        with_engines(|e| {
            let mut b = WriteBatch::default();
            b.ops.push((k("n"), Op::AddI64(5)));
            b.ops.push((k("n"), Op::AddI64(-2)));
            b.ops.push((k("m"), Op::MaxI64(-7)));
            e.commit(b, Durability::Async).unwrap();
            let s = e.snapshot().unwrap();
            assert_eq!(s.get(b"n").unwrap(), Some(encode_i64(3).to_vec()));
            assert_eq!(s.get(b"m").unwrap(), Some(encode_i64(-7).to_vec()));
            let mut b = WriteBatch::default();
            b.ops.push((k("m"), Op::MaxI64(-9)));
            b.ops.push((k("n"), Op::AddI64(10)));
            b.ops.push((k("p"), Op::Put(encode_i64(100).to_vec())));
            b.ops.push((k("p"), Op::MaxI64(50)));
            b.ops.push((k("q"), Op::Put(encode_i64(1).to_vec())));
            b.ops.push((k("q"), Op::Delete));
            b.ops.push((k("q"), Op::AddI64(4)));
            e.commit(b, Durability::Async).unwrap();
            let s = e.snapshot().unwrap();
            assert_eq!(decode_i64(&s.get(b"m").unwrap().unwrap()), Some(-7));
            assert_eq!(decode_i64(&s.get(b"n").unwrap().unwrap()), Some(13));
            assert_eq!(decode_i64(&s.get(b"p").unwrap().unwrap()), Some(100));
            assert_eq!(decode_i64(&s.get(b"q").unwrap().unwrap()), Some(4));

            // A malformed operand fails the whole batch: nothing written, no seq used.
            let seq = s.seq();
            put_all(e, &[("bad", "xyz")]);
            let mut b = WriteBatch::default();
            b.put(k("side"), k("effect"));
            b.ops.push((k("bad"), Op::AddI64(1)));
            let err = e.commit(b, Durability::Sync).unwrap_err();
            assert_eq!(err.code, SqlState::DATA_CORRUPTED, "{err:?}");
            let mut b = WriteBatch::default();
            b.ops.push((k("n"), Op::AddI64(i64::MAX)));
            let err = e.commit(b, Durability::Sync).unwrap_err();
            assert_eq!(err.code, SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "{err:?}");
            let s = e.snapshot().unwrap();
            assert_eq!(s.seq(), seq + 1);
            assert_eq!(s.get(b"side").unwrap(), None);
            assert_eq!(put_all(e, &[("ok", "1")]), seq + 2);
        });
    }

    #[test]
    fn concurrent_counters_lose_no_update() {
        let mem: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let dir = tempfile::tempdir().unwrap();
        let disk: Arc<dyn Engine> = Arc::new(DiskEngine::open(dir.path()).unwrap());
        for e in [mem, disk] {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let e = e.clone();
                    std::thread::spawn(move || {
                        for _ in 0..100 {
                            let mut b = WriteBatch::default();
                            b.ops.push((k("ctr"), Op::AddI64(1)));
                            e.commit(b, Durability::Async).unwrap();
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            let s = e.snapshot().unwrap();
            assert_eq!(decode_i64(&s.get(b"ctr").unwrap().unwrap()), Some(400));
            assert_eq!(s.seq(), 400);
        }
    }

    fn log_lsns(s: &dyn Snapshot, from: u64, reverse: bool) -> Vec<(u64, u64, Vec<u8>)> {
        s.log_scan(from, reverse)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.lsn, e.seq, e.data)
            })
            .collect()
    }

    #[test]
    fn change_log_entries_are_numbered_in_commit_order() {
        with_engines(|e| {
            assert_eq!(e.snapshot().unwrap().log_last(), 0);
            let mut b = WriteBatch::default();
            b.put(k("row"), k("v"));
            b.log = vec![k("a"), k("b")].into();
            assert_eq!(e.commit(b, Durability::Sync).unwrap(), 1);
            let old = e.snapshot().unwrap();
            // A log-only batch is a commit.
            let b = WriteBatch {
                ops: vec![],
                log: vec![k("c")].into(),
            };
            assert!(!b.is_empty());
            assert_eq!(e.commit(b, Durability::Async).unwrap(), 2);
            // A failing batch takes no LSN.
            let mut b = WriteBatch::default();
            b.put(k("bad"), k("x"));
            b.ops.push((k("bad"), Op::AddI64(1)));
            b.log = vec![k("never")].into();
            assert!(e.commit(b, Durability::Sync).is_err());
            put_all(e, &[("plain", "1")]);
            let b = WriteBatch {
                ops: vec![],
                log: vec![k("d")].into(),
            };
            assert_eq!(e.commit(b, Durability::Sync).unwrap(), 4);

            let s = e.snapshot().unwrap();
            let all = vec![
                (1, 1, k("a")),
                (2, 1, k("b")),
                (3, 2, k("c")),
                (4, 4, k("d")),
            ];
            assert_eq!(log_lsns(s.as_ref(), 1, false), all);
            assert_eq!(log_lsns(s.as_ref(), 3, false), all[2..].to_vec());
            let mut rev = all.clone();
            rev.reverse();
            assert_eq!(log_lsns(s.as_ref(), u64::MAX, true), rev);
            assert_eq!(log_lsns(s.as_ref(), 2, true), rev[2..].to_vec());
            assert_eq!(s.log_last(), 4);
            // An older snapshot sees its commits' entries only.
            assert_eq!(log_lsns(old.as_ref(), 1, false), all[..2].to_vec());
            assert_eq!(old.log_last(), 2);
            drop(old);

            // Truncation: later scans leave the entries out; the numbering
            // goes on.
            e.truncate_log(2).unwrap();
            let s = e.snapshot().unwrap();
            assert_eq!(log_lsns(s.as_ref(), 1, false), all[2..].to_vec());
            assert_eq!(
                log_lsns(s.as_ref(), 9, true),
                vec![all[3].clone(), all[2].clone()]
            );
            assert_eq!(s.log_last(), 4);
            e.truncate_log(99).unwrap();
            let s = e.snapshot().unwrap();
            assert!(log_lsns(s.as_ref(), 1, false).is_empty());
            assert_eq!(s.log_last(), 4);
            let b = WriteBatch {
                ops: vec![],
                log: vec![k("e")].into(),
            };
            e.commit(b, Durability::Sync).unwrap();
            let s = e.snapshot().unwrap();
            assert_eq!(log_lsns(s.as_ref(), 1, false), vec![(5, 5, k("e"))]);
        });
    }

    #[test]
    fn snapshot_isolation_during_scan() {
        with_engines(|e| {
            let mut b = WriteBatch::default();
            for i in 0..1000u32 {
                b.put(i.to_be_bytes().to_vec(), b"old".to_vec());
            }
            e.commit(b, Durability::Async).unwrap();
            let s = e.snapshot().unwrap();
            for reverse in [false, true] {
                let mut it = s.scan(Unbounded, Unbounded, reverse).unwrap();
                let mut seen = 0;
                for (n, item) in it.by_ref().take(300).enumerate() {
                    assert_eq!(item.unwrap().1, b"old");
                    seen = n + 1;
                }
                // Rewrite, delete and insert keys on both sides of the cursor.
                let mut b = WriteBatch::default();
                for i in 0..1000u32 {
                    if i % 3 == 0 {
                        b.delete(i.to_be_bytes().to_vec());
                    } else {
                        b.put(i.to_be_bytes().to_vec(), b"new".to_vec());
                    }
                    b.put([i.to_be_bytes().as_slice(), b"+"].concat(), b"new".to_vec());
                }
                e.commit(b, Durability::Async).unwrap();
                for item in it {
                    assert_eq!(item.unwrap().1, b"old");
                    seen += 1;
                }
                assert_eq!(seen, 1000);
                assert_eq!(s.get(&5u32.to_be_bytes()).unwrap(), Some(b"old".to_vec()));
                assert_eq!(s.get(&3u32.to_be_bytes()).unwrap(), Some(b"old".to_vec()));
            }
            let now = e.snapshot().unwrap();
            assert_eq!(now.get(&3u32.to_be_bytes()).unwrap(), None);
            assert_eq!(
                now.scan(Unbounded, Unbounded, false).unwrap().count(),
                666 + 1000
            );
        });
    }

    #[test]
    fn scan_outlives_its_snapshot() {
        with_engines(|e| {
            put_all(e, &[("a", "1"), ("b", "1")]);
            let s = e.snapshot().unwrap();
            let it = s.scan(Unbounded, Unbounded, false).unwrap();
            drop(s);
            put_all(e, &[("a", "2"), ("b", "2")]);
            put_all(e, &[("a", "3"), ("b", "3")]);
            let vals: Vec<Vec<u8>> = it.map(|r| r.unwrap().1).collect();
            assert_eq!(vals, vec![k("1"), k("1")]);
        });
    }

    // ---------------------------------------------------------------------
    // Model-based property test: both engines against a BTreeMap model.

    #[derive(Clone, Debug)]
    enum Action {
        Commit {
            ops: Vec<(Vec<u8>, Op)>,
            log: bool,
            sync: bool,
        },
        TruncateLog(u64),
        TakeSnapshot,
        DropSnapshot(usize),
        Get(usize, Vec<u8>),
        Scan(usize, Bound<Vec<u8>>, Bound<Vec<u8>>, bool),
    }

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xff]), 0..4)
    }

    fn bound_strategy() -> impl Strategy<Value = Bound<Vec<u8>>> {
        prop_oneof![
            Just(Unbounded),
            key_strategy().prop_map(Included),
            key_strategy().prop_map(Excluded),
        ]
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..3).prop_map(Op::Put),
            // Large values make the disk engine split and rewrite chunks.
            1 => (1usize..6000, any::<u8>()).prop_map(|(n, b)| Op::Put(vec![b; n])),
            2 => Just(Op::Delete),
            2 => (-5i64..5).prop_map(Op::AddI64),
            1 => prop_oneof![Just(i64::MAX), Just(i64::MIN), -5i64..5].prop_map(Op::AddI64),
            2 => (-5i64..5).prop_map(Op::MaxI64),
        ]
    }

    fn action_strategy() -> impl Strategy<Value = Action> {
        prop_oneof![
            4 => (
                prop::collection::vec((key_strategy(), op_strategy()), 0..5),
                any::<bool>(),
                prop::bool::weighted(0.1),
            )
                .prop_map(|(ops, log, sync)| Action::Commit { ops, log, sync }),
            1 => (0u64..40).prop_map(Action::TruncateLog),
            1 => Just(Action::TakeSnapshot),
            1 => any::<usize>().prop_map(Action::DropSnapshot),
            2 => (any::<usize>(), key_strategy()).prop_map(|(i, key)| Action::Get(i, key)),
            2 => (any::<usize>(), bound_strategy(), bound_strategy(), any::<bool>())
                .prop_map(|(i, lo, hi, rev)| Action::Scan(i, lo, hi, rev)),
        ]
    }

    /// The change-log entries of batch `seq` (one or two).
    fn log_entries(seq: u64) -> Vec<Vec<u8>> {
        (0..1 + seq % 2).map(|i| vec![seq as u8, i as u8]).collect()
    }

    /// The model: applies a batch to a BTreeMap with the documented semantics.
    fn model_commit(
        model: &BTreeMap<Vec<u8>, Vec<u8>>,
        ops: &[(Vec<u8>, Op)],
    ) -> std::result::Result<BTreeMap<Vec<u8>, Vec<u8>>, SqlState> {
        let mut next = model.clone();
        for (key, op) in ops.iter().cloned() {
            let current = || match next.get(&key) {
                None => Ok(None),
                Some(v) => decode_i64(v).map(Some).ok_or(SqlState::DATA_CORRUPTED),
            };
            match op {
                Op::Put(v) => {
                    next.insert(key, v);
                }
                Op::Delete => {
                    next.remove(&key);
                }
                Op::AddI64(d) => {
                    let sum = current()?
                        .unwrap_or(0)
                        .checked_add(d)
                        .ok_or(SqlState::NUMERIC_VALUE_OUT_OF_RANGE)?;
                    next.insert(key, encode_i64(sum).to_vec());
                }
                Op::MaxI64(c) => {
                    let max = current()?.unwrap_or(i64::MIN).max(c);
                    next.insert(key, encode_i64(max).to_vec());
                }
            }
        }
        Ok(next)
    }

    fn model_scan(
        model: &BTreeMap<Vec<u8>, Vec<u8>>,
        lo: &Bound<Vec<u8>>,
        hi: &Bound<Vec<u8>>,
        reverse: bool,
    ) -> Vec<KvPair> {
        let mut out: Vec<KvPair> = model
            .iter()
            .filter(|(key, _)| {
                (match lo {
                    Unbounded => true,
                    Included(l) => *key >= l,
                    Excluded(l) => *key > l,
                }) && (match hi {
                    Unbounded => true,
                    Included(h) => *key <= h,
                    Excluded(h) => *key < h,
                })
            })
            .map(|(key, v)| (key.clone(), v.clone()))
            .collect();
        if reverse {
            out.reverse();
        }
        out
    }

    fn run_actions(actions: &[Action]) {
        let dir = tempfile::tempdir().unwrap();
        let engines: Vec<Box<dyn Engine>> = vec![
            Box::new(MemoryEngine::new()),
            Box::new(DiskEngine::open(dir.path()).unwrap()),
        ];
        let mut model = BTreeMap::new();
        let mut seq = 0u64;
        // The change log: (lsn, seq, data), and the truncation point.
        let mut log: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        let mut floor = 0u64;
        // (seq, model state, one snapshot per engine)
        type Snap = (u64, BTreeMap<Vec<u8>, Vec<u8>>, Vec<Arc<dyn Snapshot>>);
        let mut snaps: Vec<Snap> = Vec::new();
        for action in actions {
            match action {
                Action::Commit {
                    ops,
                    log: logged,
                    sync,
                } => {
                    let expected = model_commit(&model, ops);
                    let entries = if *logged {
                        log_entries(seq + 1)
                    } else {
                        Vec::new()
                    };
                    for e in &engines {
                        let batch = WriteBatch {
                            ops: ops.clone(),
                            log: entries.clone().into(),
                        };
                        let durability = if *sync {
                            Durability::Sync
                        } else {
                            Durability::Async
                        };
                        let got = e.commit(batch, durability).map_err(|e| e.code);
                        match &expected {
                            Ok(_) => assert_eq!(got, Ok(seq + 1)),
                            Err(code) => assert_eq!(got, Err(*code)),
                        }
                    }
                    if let Ok(next) = expected {
                        model = next;
                        seq += 1;
                        for data in entries {
                            log.push((log.len() as u64 + 1, seq, data));
                        }
                    }
                }
                Action::TruncateLog(through) => {
                    floor = floor.max((*through).min(log.len() as u64));
                    for e in &engines {
                        e.truncate_log(*through).unwrap();
                    }
                }
                Action::TakeSnapshot => {
                    let views: Vec<_> = engines.iter().map(|e| e.snapshot().unwrap()).collect();
                    for v in &views {
                        assert_eq!(v.seq(), seq);
                    }
                    snaps.push((seq, model.clone(), views));
                }
                Action::DropSnapshot(i) => {
                    if !snaps.is_empty() {
                        let i = i % snaps.len();
                        snaps.remove(i);
                    }
                }
                Action::Get(i, key) => {
                    let current;
                    let (state, views): (&BTreeMap<_, _>, Vec<Arc<dyn Snapshot>>) =
                        if snaps.is_empty() || i % 2 == 0 {
                            current = engines.iter().map(|e| e.snapshot().unwrap()).collect();
                            (&model, current)
                        } else {
                            let (_, m, v) = &snaps[i % snaps.len()];
                            (m, v.clone())
                        };
                    for v in views {
                        assert_eq!(v.get(key).unwrap().as_ref(), state.get(key));
                    }
                }
                Action::Scan(i, lo, hi, reverse) => {
                    let current;
                    let (state, views): (&BTreeMap<_, _>, Vec<Arc<dyn Snapshot>>) =
                        if snaps.is_empty() || i % 2 == 0 {
                            current = engines.iter().map(|e| e.snapshot().unwrap()).collect();
                            (&model, current)
                        } else {
                            let (_, m, v) = &snaps[i % snaps.len()];
                            (m, v.clone())
                        };
                    let expected = model_scan(state, lo, hi, *reverse);
                    for v in &views {
                        // The log as the snapshot sees it, less what is
                        // truncated now (a scan may miss entries truncated
                        // since it began; these begin afterwards).
                        let seen: Vec<_> = (log.iter())
                            .filter(|(l, s, _)| *s <= v.seq() && *l > floor)
                            .cloned()
                            .collect();
                        assert_eq!(log_lsns(v.as_ref(), 0, false), seen);
                        let last = log.iter().rfind(|(_, s, _)| *s <= v.seq());
                        assert_eq!(v.log_last(), last.map_or(0, |(l, _, _)| *l));
                    }
                    for v in views {
                        let got: Vec<KvPair> = v
                            .scan(lo.clone(), hi.clone(), *reverse)
                            .unwrap()
                            .map(Result::unwrap)
                            .collect();
                        assert_eq!(got, expected, "scan {lo:?}..{hi:?} rev={reverse}");
                    }
                }
            }
        }
        // Every snapshot still reads its own state at the end.
        for (s, state, views) in &snaps {
            for v in views {
                assert_eq!(v.seq(), *s);
                let got: Vec<KvPair> = v
                    .scan(Unbounded, Unbounded, false)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(got, model_scan(state, &Unbounded, &Unbounded, false));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn engines_match_model(actions in prop::collection::vec(action_strategy(), 1..80)) {
            run_actions(&actions);
        }
    }
}
