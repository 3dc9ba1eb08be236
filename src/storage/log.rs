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
use crate::error::{Error, Result};
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

/// Entries held in memory, ascending by LSN (and so by commit sequence
/// number), and the truncation point.
#[derive(Debug, Default)]
pub(crate) struct LogTail {
    entries: VecDeque<LogEntry>,
    /// Entries at or below this LSN are truncated (readers skip any still
    /// held).
    pub(crate) floor: u64,
    /// The LSN of the last entry removed from `entries` (whose commit every
    /// snapshot sees: see [`LogTail::prune`]).
    pruned: u64,
}

impl LogTail {
    pub(crate) fn new(floor: u64, pruned: u64) -> LogTail {
        LogTail {
            entries: VecDeque::new(),
            floor,
            pruned,
        }
    }

    pub(crate) fn push(&mut self, entry: LogEntry) {
        debug_assert!(self.entries.back().is_none_or(|e| e.lsn < entry.lsn));
        self.entries.push_back(entry);
    }

    /// The entries held (the disk engine's checkpoint writes them).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }

    /// The LSN of the last entry a snapshot at `seq` sees, if it sees one
    /// held here; else the last entry pruned, if any was (0 if none).
    pub(crate) fn last_visible(&self, seq: u64) -> u64 {
        let n = self.entries.partition_point(|e| e.seq <= seq);
        match n {
            0 => self.pruned,
            n => self.entries[n - 1].lsn,
        }
    }

    /// Removes the entries at or below the floor whose commits are at or
    /// below `horizon` (the oldest sequence number a live snapshot reads
    /// at), so that [`LogTail::last_visible`] stays exact for every live
    /// snapshot.
    pub(crate) fn prune(&mut self, horizon: u64) {
        while let Some(e) = self.entries.front() {
            if e.lsn > self.floor || e.seq > horizon {
                break;
            }
            self.pruned = e.lsn;
            self.entries.pop_front();
        }
    }

    /// Copies up to `max` entries a snapshot at `seq` sees, above the floor,
    /// from LSN `from` on (descending from it when `reverse`).
    fn copy(&self, from: u64, reverse: bool, seq: u64, max: usize, out: &mut VecDeque<LogEntry>) {
        let visible = self.entries.partition_point(|e| e.seq <= seq);
        let floor = self.floor;
        if reverse {
            let end = self.entries.partition_point(|e| e.lsn <= from).min(visible);
            let taken = self
                .entries
                .range(..end)
                .rev()
                .take_while(|e| e.lsn > floor)
                .take(max);
            out.extend(taken.cloned());
        } else {
            let start = self
                .entries
                .partition_point(|e| e.lsn < from.max(floor + 1));
            if start < visible {
                out.extend(self.entries.range(start..visible).take(max).cloned());
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

/// A segment of checkpointed entries is cut once it reaches this size.
pub(crate) const SEGMENT_BYTES: usize = 64 * 1024;

/// Appends an entry to a segment (little endian: `u64 lsn`, `u64 seq`,
/// `u32 length`, the data).
pub(crate) fn encode_entry(segment: &mut Vec<u8>, e: &LogEntry) {
    segment.extend_from_slice(&e.lsn.to_le_bytes());
    segment.extend_from_slice(&e.seq.to_le_bytes());
    segment.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
    segment.extend_from_slice(&e.data);
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
            t.push(entry(lsn, seq));
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

    #[test]
    fn pruning_keeps_last_visible_exact() {
        let mut t = tail(&[(1, 1), (2, 1), (3, 2), (4, 5)]);
        assert_eq!(t.last_visible(0), 0);
        assert_eq!(t.last_visible(1), 2);
        assert_eq!(t.last_visible(4), 3);
        t.floor = 4;
        // A snapshot at 1 is live: only commit 1's entries may go.
        t.prune(1);
        assert_eq!(t.iter().map(|e| e.lsn).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(t.last_visible(1), 2);
        t.prune(9);
        assert!(t.iter().next().is_none());
        assert_eq!(t.last_visible(9), 4);
    }

    #[test]
    fn segments_round_trip_and_damage_is_an_error() {
        let mut seg = Vec::new();
        for l in 7..10 {
            encode_entry(&mut seg, &entry(l, l * 10));
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
