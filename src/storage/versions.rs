//! Multi-version ordered maps: the memory engine's whole store, and the disk
//! engine's memtable (the commits since its last checkpoint).
//!
//! Every key holds a short chain of versions `(seq, Option<value>)` in
//! ascending `seq` order (`None` is a deletion). A reader at sequence number
//! `seq` sees, for each key, the newest version at or below `seq`.
//!
//! Scans never hold the map's lock across `next()`: a [`VersionCursor`]
//! copies up to [`SCAN_CHUNK`] entries per lock acquisition and resumes after
//! the last key it looked at, so a slow consumer never stalls a committer.

use super::bounds_are_empty;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

/// Most entries copied per lock acquisition during a scan.
pub(crate) const SCAN_CHUNK: usize = 256;
/// Entries copied by a scan's first refill; each refill doubles it up to
/// [`SCAN_CHUNK`], so a scan that stops after a row or two (a lookup through
/// an open-ended range, a LIMIT) copies a few entries, not a whole batch.
const FIRST_BATCH: usize = 8;

/// Versions of one key, ascending by sequence number; `None` marks a deletion.
pub(crate) type Chain = Vec<(u64, Option<Vec<u8>>)>;

/// A versioned map.
pub(crate) type VersionMap = BTreeMap<Vec<u8>, Chain>;

/// The version of `chain` visible at `seq`, if any (`Some(None)` = deleted).
pub(crate) fn visible(chain: &Chain, seq: u64) -> Option<&Option<Vec<u8>>> {
    chain.iter().rev().find(|(s, _)| *s <= seq).map(|(_, v)| v)
}

/// The unread rest of a range of a [`VersionMap`] as seen at one sequence
/// number, read in batches: the remaining range is `lower..upper`; each
/// refill copies entries from its front (or back, when reversed) and narrows
/// it.
pub(crate) struct VersionCursor {
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    seq: u64,
    /// Also yield deletions (`None`), which a merge with older data needs to
    /// hide the pairs they deleted.
    deletions: bool,
    buffer: VecDeque<(Vec<u8>, Option<Vec<u8>>)>,
    /// Entries the next refill copies at most.
    batch: usize,
    /// Nothing is left to copy from the map.
    done: bool,
}

impl VersionCursor {
    pub(crate) fn new(
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
        seq: u64,
        deletions: bool,
    ) -> VersionCursor {
        let done = bounds_are_empty(&lower, &upper);
        VersionCursor {
            lower,
            upper,
            reverse,
            seq,
            deletions,
            buffer: VecDeque::new(),
            batch: FIRST_BATCH,
            done,
        }
    }

    /// Whether the next entry must come from [`VersionCursor::refill`].
    pub(crate) fn needs_refill(&self) -> bool {
        self.buffer.is_empty() && !self.done
    }

    /// The next entry, if one is buffered.
    pub(crate) fn front(&self) -> Option<&(Vec<u8>, Option<Vec<u8>>)> {
        self.buffer.front()
    }

    /// Takes the next buffered entry.
    pub(crate) fn pop(&mut self) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        self.buffer.pop_front()
    }

    /// Copies the next batch from `map` (the caller holds its read lock).
    pub(crate) fn refill(&mut self, map: &VersionMap) {
        if self.done || bounds_are_empty(&self.lower, &self.upper) {
            self.done = true;
            return;
        }
        let range = map.range::<[u8], _>((
            self.lower.as_ref().map(Vec::as_slice),
            self.upper.as_ref().map(Vec::as_slice),
        ));
        let (seq, deletions, batch) = (self.seq, self.deletions, self.batch);
        // Keys examined per lock acquisition are bounded too, for when most
        // keys are invisible to the reader.
        let examine = 4 * batch;
        self.batch = (batch * 2).min(SCAN_CHUNK);
        let mut last: Option<&Vec<u8>> = None;
        let mut examined = 0;
        let mut exhausted = true;
        let mut take = |key: &Vec<u8>, chain: &Chain, buffer: &mut VecDeque<_>| {
            match visible(chain, seq) {
                Some(Some(value)) => buffer.push_back((key.clone(), Some(value.clone()))),
                Some(None) if deletions => buffer.push_back((key.clone(), None)),
                _ => {}
            }
            examined += 1;
            buffer.len() < batch && examined < examine
        };
        if self.reverse {
            for (key, chain) in range.rev() {
                last = Some(key);
                if !take(key, chain, &mut self.buffer) {
                    exhausted = false;
                    break;
                }
            }
        } else {
            for (key, chain) in range {
                last = Some(key);
                if !take(key, chain, &mut self.buffer) {
                    exhausted = false;
                    break;
                }
            }
        }
        match last {
            Some(key) if !exhausted => {
                let resume = Bound::Excluded(key.clone());
                if self.reverse {
                    self.upper = resume;
                } else {
                    self.lower = resume;
                }
            }
            _ => self.done = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Bound::{Excluded, Included, Unbounded};

    fn map(n: u32) -> VersionMap {
        (0..n)
            .map(|i| {
                let chain = if i % 5 == 0 {
                    vec![(1, Some(vec![1])), (3, None)]
                } else {
                    vec![(2, Some(i.to_be_bytes().to_vec()))]
                };
                (i.to_be_bytes().to_vec(), chain)
            })
            .collect()
    }

    fn drain(mut c: VersionCursor, m: &VersionMap) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        loop {
            if c.needs_refill() {
                c.refill(m);
            }
            match c.pop() {
                Some(e) => out.push(e),
                None if c.needs_refill() => continue,
                None => return out,
            }
        }
    }

    #[test]
    fn batches_cover_the_range_in_both_directions() {
        let m = map(3000);
        let key = |i: u32| i.to_be_bytes().to_vec();
        // At seq 3: every fifth key is deleted.
        let fwd = drain(
            VersionCursor::new(Unbounded, Unbounded, false, 3, false),
            &m,
        );
        assert_eq!(fwd.len(), 2400);
        assert!(fwd.windows(2).all(|w| w[0].0 < w[1].0));
        let mut rev = drain(VersionCursor::new(Unbounded, Unbounded, true, 3, false), &m);
        rev.reverse();
        assert_eq!(fwd, rev);
        // With deletions, and bounded.
        let part = drain(
            VersionCursor::new(Included(key(10)), Excluded(key(20)), false, 3, true),
            &m,
        );
        assert_eq!(part.len(), 10);
        assert_eq!(part[0], (key(10), None));
        // At seq 1 only the first version of every fifth key exists.
        let old = drain(
            VersionCursor::new(Unbounded, Unbounded, false, 1, false),
            &m,
        );
        assert_eq!(old.len(), 600);
        // An empty range.
        let empty = drain(
            VersionCursor::new(Excluded(key(5)), Excluded(key(5)), false, 3, true),
            &m,
        );
        assert!(empty.is_empty());
    }
}
