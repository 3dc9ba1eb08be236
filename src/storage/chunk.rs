//! Chunks: many key-value pairs packed into one redb value.
//!
//! The disk engine stores runs of neighbouring pairs together instead of one
//! redb entry per pair, so a scan pays redb's per-entry cost (cursor step,
//! bound check, guard) once per chunk of ~4 KiB rather than once per row, and
//! a bulk load writes a few thousand redb entries instead of a million. A
//! chunk is keyed in redb by its **last** key: the chunk that may hold `k` is
//! the first chunk whose key is `>= k`, one redb lookup.
//!
//! Encoding (all integers little-endian `u32`):
//!
//! ```text
//! n | off[0] .. off[n] | entry 0 | entry 1 | ... | entry n-1
//! entry i = klen | key | value       (occupies off[i] .. off[i+1])
//! ```
//!
//! `off[n]` is the chunk length, so every entry's value length is implied.
//! [`validate`] checks the whole table of offsets once, when a chunk is read;
//! after that the accessors only slice inside checked bounds.

use crate::error::{Error, Result};
use std::cmp::Ordering;

/// Chunks are cut at about this size when they are rewritten: a little under
/// redb's 4 KiB page, so a chunk with its key and the leaf's header fits one
/// page (a 4 KiB chunk would take an 8 KiB page, half of it empty).
pub(crate) const TARGET: usize = 3800;
/// A rewritten chunk up to this size stays in one piece.
pub(crate) const MAX: usize = 7600;

/// A validated chunk: `n` entries over `bytes`.
#[derive(Clone, Copy)]
pub(crate) struct ChunkView<'a> {
    bytes: &'a [u8],
    n: usize,
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn malformed() -> Error {
    Error::corrupted("database file is corrupted: malformed data chunk")
}

impl<'a> ChunkView<'a> {
    /// A view of `bytes` after checking the header (entry count and the
    /// ends of the offset table); each entry is checked when it is read, so
    /// a point read costs no pass over the whole chunk.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<ChunkView<'a>> {
        let n = read_u32(bytes, 0).ok_or_else(malformed)?;
        let table_end = n
            .checked_add(2)
            .and_then(|x| x.checked_mul(4))
            .filter(|&t| t <= bytes.len())
            .ok_or_else(malformed)?;
        if read_u32(bytes, 4) != Some(table_end) || read_u32(bytes, 4 + 4 * n) != Some(bytes.len())
        {
            return Err(malformed());
        }
        Ok(ChunkView { bytes, n })
    }

    /// A view of bytes that [`ChunkView::parse`] accepted with `n` entries.
    pub(crate) fn trusted(bytes: &'a [u8], n: usize) -> ChunkView<'a> {
        ChunkView { bytes, n }
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    fn offset(&self, i: usize) -> usize {
        let at = 4 + 4 * i;
        u32::from_le_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ]) as usize
    }

    /// The key and value of entry `i` (`i < len`), checked against the chunk.
    pub(crate) fn entry(&self, i: usize) -> Result<(&'a [u8], &'a [u8])> {
        let start = self.offset(i);
        let end = self.offset(i + 1);
        if start < 4 * (self.n + 2) || end > self.bytes.len() || end < start + 4 {
            return Err(malformed());
        }
        let klen = u32::from_le_bytes([
            self.bytes[start],
            self.bytes[start + 1],
            self.bytes[start + 2],
            self.bytes[start + 3],
        ]) as usize;
        let key_start = start + 4;
        if klen > end - key_start {
            return Err(malformed());
        }
        Ok((
            &self.bytes[key_start..key_start + klen],
            &self.bytes[key_start + klen..end],
        ))
    }

    pub(crate) fn key(&self, i: usize) -> Result<&'a [u8]> {
        Ok(self.entry(i)?.0)
    }

    /// Binary search: `Ok(i)` if entry `i` has `key`, else `Err(i)` where it would go.
    pub(crate) fn search(&self, key: &[u8]) -> Result<std::result::Result<usize, usize>> {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key(mid)?.cmp(key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// The value stored under `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<&'a [u8]>> {
        match self.search(key)? {
            Ok(i) => Ok(Some(self.entry(i)?.1)),
            Err(_) => Ok(None),
        }
    }

    /// Every entry, failing on the first malformed one.
    pub(crate) fn entries(&self) -> Result<Vec<(&'a [u8], &'a [u8])>> {
        (0..self.n).map(|i| self.entry(i)).collect()
    }
}

/// Encoded size of one entry, including its offset slot.
pub(crate) fn entry_size(key: &[u8], value: &[u8]) -> usize {
    8 + key.len() + value.len()
}

/// Encodes entries (ascending, unique keys) as one chunk.
pub(crate) fn encode<'e>(entries: &[(&'e [u8], &'e [u8])]) -> Vec<u8> {
    let n = entries.len();
    let table_end = 4 * (n + 2);
    let size = table_end
        + entries
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    let mut at = table_end;
    out.extend_from_slice(&(at as u32).to_le_bytes());
    for (k, v) in entries {
        at += 4 + k.len() + v.len();
        out.extend_from_slice(&(at as u32).to_le_bytes());
    }
    for (k, v) in entries {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    debug_assert_eq!(out.len(), size);
    out
}

/// Cuts ascending entries into chunks: one chunk if it fits in [`MAX`],
/// else pieces of about [`TARGET`] (an entry larger than that gets a piece of
/// its own). Returns `(last key, chunk)` pairs in key order.
pub(crate) fn pack<'e>(entries: &[(&'e [u8], &'e [u8])]) -> Vec<(&'e [u8], Vec<u8>)> {
    let total: usize = 8 + entries.iter().map(|(k, v)| entry_size(k, v)).sum::<usize>();
    let mut out = Vec::new();
    if entries.is_empty() {
        return out;
    }
    if total <= MAX {
        out.push((entries[entries.len() - 1].0, encode(entries)));
        return out;
    }
    let mut start = 0;
    let mut size = 8;
    for (i, (k, v)) in entries.iter().enumerate() {
        let s = entry_size(k, v);
        if i > start && size + s > TARGET {
            out.push((entries[i - 1].0, encode(&entries[start..i])));
            start = i;
            size = 8;
        }
        size += s;
    }
    out.push((entries[entries.len() - 1].0, encode(&entries[start..])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_search() {
        let entries: Vec<(&[u8], &[u8])> =
            vec![(b"", b"empty"), (b"a", b""), (b"b", b"2"), (b"bb", b"22")];
        let bytes = encode(&entries);
        let view = ChunkView::parse(&bytes).unwrap();
        assert_eq!(view.len(), 4);
        assert_eq!(view.entries().unwrap(), entries);
        assert_eq!(view.get(b"").unwrap(), Some(&b"empty"[..]));
        assert_eq!(view.get(b"a").unwrap(), Some(&b""[..]));
        assert_eq!(view.get(b"ab").unwrap(), None);
        assert_eq!(view.search(b"ab").unwrap(), Err(2));
        assert_eq!(view.search(b"c").unwrap(), Err(4));
        let empty = encode(&[]);
        assert_eq!(ChunkView::parse(&empty).unwrap().len(), 0);
    }

    #[test]
    fn pack_splits_large_runs_and_isolates_big_values() {
        let keys: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let value = vec![7u8; 50];
        let big = vec![9u8; 3 * TARGET];
        let mut entries: Vec<(&[u8], &[u8])> = keys
            .iter()
            .map(|k| (k.as_slice(), value.as_slice()))
            .collect();
        entries[500].1 = &big;
        let pieces = pack(&entries);
        assert!(pieces.len() > 10);
        let mut all = Vec::new();
        for (last, bytes) in &pieces {
            let view = ChunkView::parse(bytes).unwrap();
            assert_eq!(view.key(view.len() - 1).unwrap(), *last);
            let got = view.entries().unwrap();
            if got.iter().any(|(_, v)| v.len() == big.len()) {
                assert_eq!(view.len(), 1, "a big value gets its own chunk");
            } else {
                assert!(bytes.len() <= TARGET + 100);
            }
            all.extend(got);
        }
        assert_eq!(all, entries);
        // A small run stays whole.
        assert_eq!(pack(&entries[..10]).len(), 1);
    }

    proptest! {
        #[test]
        fn malformed_chunks_are_errors_not_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(view) = ChunkView::parse(&bytes) {
                for i in 0..view.len() {
                    let _ = view.entry(i);
                }
                let _ = view.search(b"x");
            }
        }

        #[test]
        fn damaged_encodings_never_panic(
            n in 0usize..6,
            flip in 0usize..200,
            byte in any::<u8>(),
        ) {
            let keys: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; i]).collect();
            let entries: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_slice(), &b"vv"[..])).collect();
            let mut bytes = encode(&entries);
            if flip < bytes.len() {
                bytes[flip] = byte;
            }
            if let Ok(view) = ChunkView::parse(&bytes) {
                for i in 0..view.len() {
                    let _ = view.entry(i);
                }
                let _ = view.search(b"\x02\x02");
            }
        }
    }
}
