//! The engines' change log: an append-only sequence of opaque entries
//! written by commits, next to (not inside) the ordered key space.
//!
//! A [`super::WriteBatch`] carries the entries to append (`log`); the
//! committer numbers them with the next log sequence numbers (LSNs: 1, 2,
//! 3, ..., dense, increasing in commit order) and stores each with its
//! commit's sequence number, in the same atomic commit as the batch's
//! writes. A snapshot sees exactly the entries of the commits it sees
//! ([`super::Snapshot::log_scan`], [`super::Snapshot::log_last`]).
//! [`super::Engine::truncate_log`] drops the oldest entries; it is not
//! part of a commit (the layer above keeps its own, transactional record
//! of what it has let go and truncates after committing it), and a scan
//! already running may find them gone, which shows as a gap in the LSNs.
//!
//! Why not keys: an entry per change as a key of the ordered map cost as
//! much as the change's own row (a map insertion, a version chain, its
//! share of checkpoints), which made capturing changes slow the writes
//! down by a third. Appending to a list costs a push.
//!
//! This module holds what both engines share: [`LogTail`], the entries
//! kept in memory (the memory engine's whole log; the disk engine's since
//! its last checkpoint), a scan over it that copies a batch of entries
//! per lock acquisition, and the disk engine's segment encoding.

use super::versions::SCAN_CHUNK;
use crate::error::{Error, Result, SqlState};
use parking_lot::RwLock;
use std::collections::VecDeque;
use std::sync::Arc;

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Its position: dense, increasing in commit order.
    pub lsn: u64,
    /// The sequence number of the commit that wrote it.
    pub seq: u64,
    /// What the committer appended.
    pub data: Vec<u8>,
}

/// Log entries in LSN order.
pub type LogIter = Box<dyn Iterator<Item = Result<LogEntry>> + Send>;

/// The entries a batch appends, packed in one buffer, each after its
/// length (`u32`, little endian): a transaction that changes rows
/// allocates once, not once per change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogBatch {
    bytes: Vec<u8>,
    count: usize,
}

/// The room a batch's first entry gets (a row change's entry is usually
/// a few hundred bytes).
const FIRST_BYTES: usize = 512;

/// Bytes of an entry's length in a [`LogBatch`].
const LEN: usize = 4;

/// The largest entry: a checkpointed segment holding it alone must fit
/// redb's limit on a value (which also keeps its length within the 32
/// bits the write-ahead log and the segments give it).
pub const MAX_ENTRY_BYTES: usize = super::disk::MAX_ITEM_LEN - SEGMENT_ENTRY_HEADER;

impl LogBatch {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends an entry.
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        self.append(|buf| buf.extend_from_slice(data))
    }

    /// Appends an entry that `write` writes at the end of the buffer; one
    /// larger than [`MAX_ENTRY_BYTES`] is refused (54000), leaving the
    /// batch as it was (and its memory given back).
    pub fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        if self.bytes.capacity() == 0 {
            // Most transactions change a row or a few: one allocation.
            self.bytes.reserve(FIRST_BYTES);
        }
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; LEN]);
        write(&mut self.bytes);
        let len = self.bytes.len() - at - LEN;
        if len > MAX_ENTRY_BYTES {
            self.bytes.truncate(at);
            self.bytes.shrink_to(at.max(FIRST_BYTES));
            return Err(Error::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!("a change of {len} bytes is too large for the change log"),
            )
            .with_hint("Switch capture off for the table with helios.set_capture."));
        }
        self.bytes[at..at + LEN].copy_from_slice(&(len as u32).to_le_bytes());
        self.count += 1;
        Ok(())
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) {
        if n < self.count {
            let end = self
                .spans()
                .nth(n)
                .map_or(self.bytes.len(), |(at, _)| at - LEN);
            self.bytes.truncate(end);
            self.count = n;
        }
    }

    /// Where each entry's data starts and ends in `bytes`.
    fn spans(&self) -> impl Iterator<Item = (usize, usize)> + Clone + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let head = self.bytes.get(at..at + LEN)?;
            let len = u32::from_le_bytes(head.try_into().expect("LEN bytes")) as usize;
            let start = at + LEN;
            at = start + len;
            Some((start, at))
        })
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone {
        self.spans().map(|(start, end)| &self.bytes[start..end])
    }

    /// The entries, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut [u8]> {
        let mut rest = self.bytes.as_mut_slice();
        std::iter::from_fn(move || {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut_checked(LEN)?;
            let len = u32::from_le_bytes((&*head).try_into().expect("LEN bytes")) as usize;
            let (entry, tail) = tail.split_at_mut(len);
            rest = tail;
            Some(entry)
        })
    }

    /// The entries numbered from `first` as committed by commit `seq`.
    pub(crate) fn refs(&self, first: u64, seq: u64) -> impl Iterator<Item = LogRef<'_>> + Clone {
        (first..)
            .zip(self.iter())
            .map(move |(lsn, data)| LogRef { lsn, seq, data })
    }
}

#[cfg(test)]
impl From<Vec<Vec<u8>>> for LogBatch {
    fn from(entries: Vec<Vec<u8>>) -> LogBatch {
        let mut b = LogBatch::default();
        for e in entries {
            b.push(&e).expect("a small entry");
        }
        b
    }
}

/// An entry's parts, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRef<'a> {
    pub lsn: u64,
    pub seq: u64,
    pub data: &'a [u8],
}

impl LogEntry {
    pub fn as_ref(&self) -> LogRef<'_> {
        LogRef {
            lsn: self.lsn,
            seq: self.seq,
            data: &self.data,
        }
    }
}

/// Bytes of a [`LogTail`] block (an entry larger than this gets a block
/// of its own).
const BLOCK_BYTES: usize = 256 * 1024;

/// Entries of a [`LogTail`] block at most (their sequence numbers and ends
/// are allocated once, for this many: the vectors never grow).
const BLOCK_ENTRIES: usize = 4096;

/// Entries held in memory, ascending by LSN (and so by commit sequence
/// number), and the truncation point. Their bytes are copied into large
/// blocks: millions of small allocations that live for minutes would
/// fragment the heap for everything else.
#[derive(Debug, Default)]
pub(crate) struct LogTail {
    blocks: VecDeque<Block>,
    /// Entries at or below this LSN are truncated (readers skip any still
    /// held).
    pub(crate) floor: u64,
    /// The LSN of the last entry removed (whose commit every snapshot
    /// sees: see [`LogTail::prune`]).
    pruned: u64,
}

/// Consecutive entries: 12 bytes each besides their data.
#[derive(Debug, Default)]
struct Block {
    /// The first entry's LSN (the others follow it one by one).
    first: u64,
    bytes: Vec<u8>,
    /// Per entry: its commit's sequence number.
    seqs: Vec<u64>,
    /// Per entry: where its data ends in `bytes`.
    ends: Vec<u32>,
}

/// An entry's position in the log.
#[derive(Clone, Copy, Debug)]
struct Slot {
    lsn: u64,
    seq: u64,
}

impl Block {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn slot(&self, i: usize) -> Slot {
        Slot {
            lsn: self.first + i as u64,
            seq: self.seqs[i],
        }
    }

    fn entry(&self, i: usize) -> LogRef<'_> {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        LogRef {
            lsn: self.first + i as u64,
            seq: self.seqs[i],
            data: &self.bytes[start..self.ends[i] as usize],
        }
    }

    /// The first index whose slot fails `pred` (which holds for a prefix).
    fn partition_point(&self, pred: impl Fn(&Slot) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.slot(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// A position in a [`LogTail`]: block, slot.
type Pos = (usize, usize);

impl LogTail {
    pub(crate) fn new(floor: u64, pruned: u64) -> LogTail {
        LogTail {
            blocks: VecDeque::new(),
            floor,
            pruned,
        }
    }

    pub(crate) fn push(&mut self, lsn: u64, seq: u64, data: &[u8]) {
        let fits = self.blocks.back().is_some_and(|b| {
            b.first + b.len() as u64 == lsn
                && b.len() < BLOCK_ENTRIES
                && b.bytes.len() + data.len() <= b.bytes.capacity()
        });
        if !fits {
            debug_assert!(
                self.blocks
                    .back()
                    .is_none_or(|b| b.first + (b.len() as u64) <= lsn)
            );
            self.blocks.push_back(Block {
                first: lsn,
                bytes: Vec::with_capacity(BLOCK_BYTES.max(data.len())),
                seqs: Vec::with_capacity(BLOCK_ENTRIES),
                ends: Vec::with_capacity(BLOCK_ENTRIES),
            });
        }
        let block = self.blocks.back_mut().expect("a block");
        // A block holds at most BLOCK_BYTES or one entry, which is at
        // most MAX_ENTRY_BYTES: its offsets fit 32 bits.
        debug_assert!(block.bytes.len() + data.len() <= u32::MAX as usize);
        block.bytes.extend_from_slice(data);
        block.seqs.push(seq);
        block.ends.push(block.bytes.len() as u32);
    }

    /// The entries held, in order (the disk engine's checkpoint writes
    /// them).
    pub(crate) fn iter(&self) -> impl Iterator<Item = LogRef<'_>> {
        self.blocks
            .iter()
            .flat_map(|b| (0..b.len()).map(move |i| b.entry(i)))
    }

    /// The LSN of the first entry held.
    pub(crate) fn first_lsn(&self) -> Option<u64> {
        let b = self.blocks.front()?;
        (b.len() > 0).then_some(b.first)
    }

    /// The first position whose entry fails `pred` (which holds for a
    /// prefix of the entries).
    fn partition_point(&self, pred: impl Fn(&Slot) -> bool) -> Pos {
        let b = self.blocks.partition_point(|blk| {
            blk.len()
                .checked_sub(1)
                .is_some_and(|last| pred(&blk.slot(last)))
        });
        match self.blocks.get(b) {
            Some(blk) => (b, blk.partition_point(&pred)),
            None => (b, 0),
        }
    }

    /// The position before `p`, if any.
    fn before(&self, (b, i): Pos) -> Option<Pos> {
        if i > 0 {
            return Some((b, i - 1));
        }
        let mut b = b;
        while b > 0 {
            b -= 1;
            if let Some(n) = self.blocks[b].len().checked_sub(1) {
                return Some((b, n));
            }
        }
        None
    }

    /// The position after `p` (past the end at the end).
    fn after(&self, (b, i): Pos) -> Pos {
        if i + 1 < self.blocks[b].len() {
            (b, i + 1)
        } else {
            (b + 1, 0)
        }
    }

    fn get(&self, (b, i): Pos) -> Option<LogRef<'_>> {
        let blk = self.blocks.get(b)?;
        (i < blk.len()).then(|| blk.entry(i))
    }

    /// The LSN of the last entry a snapshot at `seq` sees, if it sees one
    /// held here; else the last entry pruned, if any was (0 if none).
    pub(crate) fn last_visible(&self, seq: u64) -> u64 {
        let end = self.partition_point(|e| e.seq <= seq);
        match self.before(end).and_then(|p| self.get(p)) {
            Some(e) => e.lsn,
            None => self.pruned,
        }
    }

    /// Drops the blocks whose entries are all at or below the floor and
    /// whose commits are at or below `horizon` (the oldest sequence number
    /// a live snapshot reads at), so that [`LogTail::last_visible`] stays
    /// exact for every live snapshot.
    pub(crate) fn prune(&mut self, horizon: u64) {
        while let Some(last) =
            (self.blocks.front()).and_then(|b| Some(b.slot(b.len().checked_sub(1)?)))
        {
            if last.lsn > self.floor || last.seq > horizon {
                break;
            }
            self.pruned = last.lsn;
            self.blocks.pop_front();
        }
    }

    /// Whether entries at or below the floor are still held.
    pub(crate) fn holds_truncated(&self) -> bool {
        self.first_lsn().is_some_and(|l| l <= self.floor)
    }

    /// Copies up to `max` entries a snapshot at `seq` sees, above the floor,
    /// from LSN `from` on (descending from it when `reverse`).
    fn copy(&self, from: u64, reverse: bool, seq: u64, max: usize, out: &mut VecDeque<LogEntry>) {
        let visible = self.partition_point(|e| e.seq <= seq);
        let floor = self.floor;
        let owned = |e: LogRef<'_>| LogEntry {
            lsn: e.lsn,
            seq: e.seq,
            data: e.data.to_vec(),
        };
        if reverse {
            let end = self.partition_point(|e| e.lsn <= from).min(visible);
            let mut at = self.before(end);
            while let Some(p) = at {
                let e = self.get(p).expect("a position before another");
                if e.lsn <= floor || out.len() >= max {
                    break;
                }
                out.push_back(owned(e));
                at = self.before(p);
            }
        } else {
            let lowest = from.max(floor.saturating_add(1));
            let mut at = self.partition_point(|e| e.lsn < lowest);
            while at < visible && out.len() < max {
                match self.get(at) {
                    Some(e) => out.push_back(owned(e)),
                    None => break,
                }
                at = self.after(at);
            }
        }
    }
}

/// A scan of a shared [`LogTail`] as a snapshot at `seq` sees it, copying
/// a batch of entries per lock acquisition (so a slow reader never holds
/// up a committer).
pub(crate) struct TailScan {
    tail: Arc<RwLock<LogTail>>,
    /// Keeps what the snapshot needs alive while the scan runs.
    _keep: Arc<dyn std::any::Any + Send + Sync>,
    seq: u64,
    reverse: bool,
    /// The next LSN to look at (forward: the lowest; reverse: the highest).
    next: Option<u64>,
    buffer: VecDeque<LogEntry>,
    batch: usize,
}

impl TailScan {
    pub(crate) fn new(
        tail: Arc<RwLock<LogTail>>,
        keep: Arc<dyn std::any::Any + Send + Sync>,
        seq: u64,
        from: u64,
        reverse: bool,
    ) -> TailScan {
        TailScan {
            tail,
            _keep: keep,
            seq,
            reverse,
            next: Some(from),
            buffer: VecDeque::new(),
            batch: 8,
        }
    }
}

impl Iterator for TailScan {
    type Item = Result<LogEntry>;

    fn next(&mut self) -> Option<Result<LogEntry>> {
        if self.buffer.is_empty() {
            let from = self.next?;
            self.tail
                .read()
                .copy(from, self.reverse, self.seq, self.batch, &mut self.buffer);
            self.batch = (self.batch * 2).min(SCAN_CHUNK);
            let last = self.buffer.back()?.lsn;
            self.next = if self.reverse {
                last.checked_sub(1)
            } else {
                last.checked_add(1)
            };
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// Bytes of a segment's entry besides its data: LSN, commit sequence
/// number, data length.
pub(crate) const SEGMENT_ENTRY_HEADER: usize = 20;

/// A segment of checkpointed entries holds at most this many bytes
/// (unless one entry is larger): with the 16 bytes of the redb leaf that
/// holds it alone, a full segment fills a 64 KiB page exactly. (Segments
/// cut just past 64 KiB each took a 128 KiB page: the change log's
/// checkpoints wrote twice its bytes.)
pub(crate) const SEGMENT_BYTES: usize = 64 * 1024 - 16;

/// Appends an entry to a segment (little endian: `u64 lsn`, `u64 seq`,
/// `u32 length`, the data).
pub(crate) fn encode_entry(segment: &mut Vec<u8>, e: LogRef<'_>) {
    segment.extend_from_slice(&e.lsn.to_le_bytes());
    segment.extend_from_slice(&e.seq.to_le_bytes());
    segment.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
    segment.extend_from_slice(e.data);
}

/// The entries of a segment, in order.
pub(crate) fn decode_segment(mut bytes: &[u8]) -> Result<Vec<LogEntry>> {
    let bad = || Error::corrupted("change log segment");
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (head, rest) = bytes
            .split_at_checked(SEGMENT_ENTRY_HEADER)
            .ok_or_else(bad)?;
        let lsn = u64::from_le_bytes(head[0..8].try_into().map_err(|_| bad())?);
        let seq = u64::from_le_bytes(head[8..16].try_into().map_err(|_| bad())?);
        let len = u32::from_le_bytes(head[16..20].try_into().map_err(|_| bad())?) as usize;
        let (data, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
        out.push(LogEntry {
            lsn,
            seq,
            data: data.to_vec(),
        });
        bytes = rest;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(lsn: u64, seq: u64) -> LogEntry {
        LogEntry {
            lsn,
            seq,
            data: format!("e{lsn}").into_bytes(),
        }
    }

    fn tail(entries: &[(u64, u64)]) -> LogTail {
        let mut t = LogTail::default();
        for &(lsn, seq) in entries {
            t.push(lsn, seq, &entry(lsn, seq).data);
        }
        t
    }

    fn lsns(t: LogTail, from: u64, reverse: bool, seq: u64) -> Vec<u64> {
        let scan = TailScan::new(Arc::new(RwLock::new(t)), Arc::new(()), seq, from, reverse);
        scan.map(|e| e.unwrap().lsn).collect()
    }

    #[test]
    fn scans_see_their_snapshot_above_the_floor() {
        let entries: Vec<(u64, u64)> = (1..=40u64).map(|l| (l, l.div_ceil(2))).collect();
        assert_eq!(lsns(tail(&entries), 1, false, 20).len(), 40);
        assert_eq!(lsns(tail(&entries), 5, false, 3), vec![5, 6]);
        assert_eq!(lsns(tail(&entries), 40, true, 3), vec![6, 5, 4, 3, 2, 1]);
        assert_eq!(lsns(tail(&entries), 4, true, 20), vec![4, 3, 2, 1]);
        let mut t = tail(&entries);
        t.floor = 30;
        assert_eq!(lsns(t, 1, false, 20), (31..=40).collect::<Vec<_>>());
        let mut t = tail(&entries);
        t.floor = 30;
        assert_eq!(lsns(t, 35, true, 20), (31..=35).rev().collect::<Vec<_>>());
        assert!(lsns(tail(&[]), 1, false, 9).is_empty());
        assert!(lsns(tail(&entries), 41, false, 99).is_empty());
        assert!(lsns(tail(&entries), 0, true, 99).is_empty());
    }

    /// A tail of entries of `size` bytes (blocks hold few of big ones).
    fn sized_tail(entries: &[(u64, u64)], size: usize) -> LogTail {
        let mut t = LogTail::default();
        for &(lsn, seq) in entries {
            t.push(lsn, seq, &vec![lsn as u8; size]);
        }
        t
    }

    #[test]
    fn scans_cross_blocks() {
        let entries: Vec<(u64, u64)> = (1..=40u64).map(|l| (l, l.div_ceil(3))).collect();
        // About three entries per block.
        let t = Arc::new(RwLock::new(sized_tail(&entries, BLOCK_BYTES / 3 - 10)));
        assert!(t.read().blocks.len() > 10);
        let scan = |from, reverse, seq| {
            TailScan::new(t.clone(), Arc::new(()), seq, from, reverse)
                .map(|e| {
                    let e = e.unwrap();
                    assert!(e.data.iter().all(|&b| b == e.lsn as u8));
                    e.lsn
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(scan(1, false, 99), (1..=40).collect::<Vec<_>>());
        assert_eq!(scan(7, false, 5), (7..=15).collect::<Vec<_>>());
        assert_eq!(scan(40, true, 5), (1..=15).rev().collect::<Vec<_>>());
        assert_eq!(scan(22, true, 99), (1..=22).rev().collect::<Vec<_>>());
        assert_eq!(t.read().last_visible(7), 21);
        t.write().floor = 20;
        assert_eq!(scan(1, false, 99), (21..=40).collect::<Vec<_>>());
        assert_eq!(scan(25, true, 99), (21..=25).rev().collect::<Vec<_>>());
    }

    #[test]
    fn blocks_hold_consecutive_entries_up_to_their_count() {
        // Small entries: a block ends at BLOCK_ENTRIES of them.
        let n = BLOCK_ENTRIES as u64 + 10;
        let entries: Vec<(u64, u64)> = (1..=n).map(|l| (l, l)).collect();
        let t = tail(&entries);
        assert_eq!(t.blocks.len(), 2);
        assert_eq!(lsns(t, 1, false, n), (1..=n).collect::<Vec<_>>());
        // A jump in the LSNs starts a block.
        let t = tail(&[(1, 1), (2, 1), (5, 2), (6, 3)]);
        assert_eq!(t.blocks.len(), 2);
        assert_eq!(t.last_visible(2), 5);
        assert_eq!(lsns(t, 3, false, 9), vec![5, 6]);
        let t = tail(&[(1, 1), (2, 1), (5, 2), (6, 3)]);
        let got: Vec<(u64, Vec<u8>)> = t.iter().map(|e| (e.lsn, e.data.to_vec())).collect();
        let want: Vec<(u64, Vec<u8>)> = [1, 2, 5, 6]
            .iter()
            .map(|&l| (l, format!("e{l}").into_bytes()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(lsns(t, 4, true, 9), vec![2, 1]);
    }

    #[test]
    fn pruning_keeps_last_visible_exact() {
        // One entry per block.
        let mut t = sized_tail(&[(1, 1), (2, 1), (3, 2), (4, 5)], BLOCK_BYTES);
        assert_eq!(t.last_visible(0), 0);
        assert_eq!(t.last_visible(1), 2);
        assert_eq!(t.last_visible(4), 3);
        t.floor = 4;
        assert!(t.holds_truncated());
        // A snapshot at 1 is live: only commit 1's entries may go.
        t.prune(1);
        assert_eq!(t.iter().map(|e| e.lsn).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(t.last_visible(1), 2);
        t.prune(9);
        assert!(t.iter().next().is_none());
        assert!(!t.holds_truncated());
        assert_eq!(t.last_visible(9), 4);
        // A block goes once all of its entries may.
        let mut t = tail(&[(1, 1), (2, 2)]);
        t.floor = 1;
        t.prune(9);
        assert_eq!(t.first_lsn(), Some(1));
    }

    #[test]
    fn batches_pack_entries() {
        let mut b = LogBatch::from(vec![b"one".to_vec(), Vec::new(), b"three".to_vec()]);
        assert_eq!(b.len(), 3);
        for e in b.iter_mut() {
            if let Some(first) = e.first_mut() {
                *first = b'_';
            }
        }
        let got: Vec<&[u8]> = b.iter().collect();
        assert_eq!(got, vec![&b"_ne"[..], b"", b"_hree"]);
        let refs: Vec<(u64, u64)> = b.refs(7, 2).map(|r| (r.lsn, r.seq)).collect();
        assert_eq!(refs, vec![(7, 2), (8, 2), (9, 2)]);
        b.truncate(1);
        b.append(|buf| buf.extend_from_slice(b"four")).unwrap();
        let got: Vec<&[u8]> = b.iter().collect();
        assert_eq!(got, vec![&b"_ne"[..], b"four"]);
        b.truncate(0);
        assert!(b.is_empty() && b.iter().next().is_none());
    }

    #[test]
    fn segments_round_trip_and_damage_is_an_error() {
        let mut seg = Vec::new();
        for l in 7..10 {
            encode_entry(&mut seg, entry(l, l * 10).as_ref());
        }
        let back = decode_segment(&seg).unwrap();
        assert_eq!(back, (7..10).map(|l| entry(l, l * 10)).collect::<Vec<_>>());
        for cut in 1..seg.len() {
            if decode_segment(&seg[..cut]).is_ok() {
                // Only cuts at entry boundaries decode.
                assert!(decode_segment(&seg[..cut]).unwrap().len() < 3);
            }
        }
        assert!(decode_segment(&seg[..seg.len() - 1]).is_err());
    }
}
