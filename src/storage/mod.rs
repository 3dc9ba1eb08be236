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
//!   updated by concurrent transactions never lose an update.

pub mod disk;
pub mod memory;

use crate::error::Result;
use std::ops::Bound;
use std::sync::Arc;

/// An owned key-value pair.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// An iterator over key-value pairs in key order (or reverse key order).
pub type KvIter = Box<dyn Iterator<Item = Result<KvPair>> + Send>;

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

/// Extra writes computed by the committer once the commit's sequence number is known
/// (used by the layers above for change-log positions).
pub type SeqHook = Box<dyn FnOnce(u64) -> Vec<(Vec<u8>, Op)> + Send>;

/// A set of writes applied atomically, in order.
#[derive(Default)]
pub struct WriteBatch {
    pub ops: Vec<(Vec<u8>, Op)>,
    /// Called by the committer with this batch's sequence number; its writes are
    /// applied after `ops`, in the same atomic commit.
    pub on_seq: Option<SeqHook>,
}

impl WriteBatch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Op::Put(value)));
    }
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, Op::Delete));
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.on_seq.is_none()
    }
}

/// A read-only, consistent view of committed data.
pub trait Snapshot: Send + Sync {
    /// Sequence number of the last commit visible in this view (0 for an empty store).
    fn seq(&self) -> u64;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Pairs with keys inside the bounds, ascending, or descending when `reverse`.
    fn scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> Result<KvIter>;
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
