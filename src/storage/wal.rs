//! The write-ahead log of the durable engine: `<dir>/heliosdb.wal`.
//!
//! A durable commit used to be a durable redb commit: new tree pages written
//! all over the file plus an fsync, about twice the cost of appending to a log.
//! Now each commit group appends one record per batch to this file and
//! `fdatasync`s it once; the group then lives in the engine's memtable until
//! the next checkpoint (see [`super::disk`]). A **checkpoint** is a durable
//! redb commit of everything before it, after which the log starts again at
//! offset 0.
//!
//! Record layout (little endian):
//!
//! ```text
//! u32 body length | u32 crc32 of (seq, body) | u64 seq | body
//! body: u32 count, then per write: u32 key length, key,
//!       u32 value length (u32::MAX for a delete), value;
//!       then, if the batch appended to the change log: u32 count, then per
//!       entry: u64 LSN, u32 length, data
//! ```
//!
//! Each record holds the resolved writes of one batch (the final value of
//! every key it writes) and its numbered change-log entries, so replaying
//! it needs no reads.
//!
//! Recovery reads records from offset 0 while they are valid (length in
//! bounds, checksum right) and numbered `durable + 1, durable + 2, ...`, where
//! `durable` is the sequence number redb holds durably. Records at or below
//! `durable` at the start of the file (a crash between a checkpoint and the
//! first write after it) are skipped; anything else ends the log: a torn
//! write, zeros, or a stale record of an earlier cycle (whose numbers are all
//! at or below `durable`). So the replayed commits are always a prefix of the
//! commit history, and every commit whose `fdatasync` returned is in it.
//!
//! The file is extended with zeros in [`GROW`] steps rather than appended to,
//! so that the `fdatasync` of a commit does not also have to journal a new
//! file size. It is truncated to zero length when the engine is closed
//! cleanly (after a final checkpoint).

use super::ResolvedWrites;
use super::log::{LogEntry, LogRef};
use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Name of the log file inside the data directory.
pub const FILE_NAME: &str = "heliosdb.wal";
/// The log grows by this many zero bytes at a time.
pub const GROW: u64 = 1 << 20;
/// A group whose records would exceed this is checkpointed instead of logged
/// (a bulk load is written once, to redb, not twice).
pub const MAX_GROUP_BYTES: usize = 1 << 20;
/// The log is checkpointed once it holds this many bytes of writes to
/// keys (what the memtable holds and a checkpoint merges into redb's
/// chunks), or [`CHECKPOINT_LOG_FACTOR`] times as many in all: change-log
/// entries are cheap to checkpoint (appended as whole segments), so they
/// count less.
pub const CHECKPOINT_BYTES: u64 = 4 << 20;
/// See [`CHECKPOINT_BYTES`].
pub const CHECKPOINT_LOG_FACTOR: u64 = 4;

const HEADER: usize = 16;
const DELETE: u32 = u32::MAX;

/// One logged batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub writes: ResolvedWrites,
    /// Its change-log entries (each with `seq` as its commit).
    pub log: Vec<LogEntry>,
}

/// The log file and the position of the next record.
pub struct Wal {
    file: File,
    path: PathBuf,
    /// Offset of the next record.
    pos: u64,
    /// Length of the file (zero-filled or old records beyond `pos`).
    len: u64,
    /// Records written since the last `fdatasync`.
    unsynced: bool,
    /// Records of the group being built, not written yet.
    buf: Vec<u8>,
    /// Bytes of change-log entries in `buf`, and in the records written
    /// since the last reset.
    buf_log_bytes: u64,
    log_bytes: u64,
    /// The group being built outgrew [`MAX_GROUP_BYTES`].
    overflowed: bool,
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`. The caller replays it with
    /// [`Wal::replay`] before writing.
    pub fn open(dir: &Path) -> Result<Wal> {
        let path = dir.join(FILE_NAME);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error(&path, "read metadata of", e))?
            .len();
        Ok(Wal {
            file,
            path,
            pos: 0,
            len,
            unsynced: false,
            buf: Vec::new(),
            buf_log_bytes: 0,
            log_bytes: 0,
            overflowed: false,
        })
    }

    /// The records numbered `durable + 1, durable + 2, ...` at the start of
    /// the log, while they are valid (see the module comment).
    pub fn replay(&self, durable: u64) -> Result<Vec<Record>> {
        let mut bytes = Vec::new();
        let mut reader = &self.file;
        std::io::Read::read_to_end(&mut reader, &mut bytes)
            .map_err(|e| io_error(&self.path, "read", e))?;
        let mut records = decode_records(&bytes);
        records.retain(|r| r.seq > durable);
        if records.first().is_some_and(|r| r.seq != durable + 1) {
            // A gap: the commits after `durable` are not all here.
            records.clear();
        }
        Ok(records)
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of records since the last checkpoint.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Whether the records written since the last reset call for a
    /// checkpoint (see [`CHECKPOINT_BYTES`]).
    pub fn wants_checkpoint(&self) -> bool {
        self.pos - self.log_bytes >= CHECKPOINT_BYTES
            || self.pos >= CHECKPOINT_LOG_FACTOR * CHECKPOINT_BYTES
    }

    /// Length of the file.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Whether written records still need an `fdatasync`.
    pub fn unsynced(&self) -> bool {
        self.unsynced
    }

    /// Adds a record for batch `seq` to the group being built. Returns false
    /// (and drops the group's records) once the group exceeds
    /// [`MAX_GROUP_BYTES`]: the group must then be checkpointed.
    pub fn add<'a>(
        &mut self,
        seq: u64,
        writes: &ResolvedWrites,
        log: impl Iterator<Item = LogRef<'a>> + Clone,
    ) -> bool {
        if self.overflowed {
            return false;
        }
        let (count, data) = log
            .clone()
            .fold((0, 0), |(n, b), e| (n + 1, b + e.data.len()));
        let log_bytes = match count {
            0 => 0,
            _ => 4 + 12 * count + data,
        };
        let body: usize = 4
            + log_bytes
            + writes
                .iter()
                .map(|(k, v)| 8 + k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
        if self.buf.len() + HEADER + body > MAX_GROUP_BYTES {
            self.buf.clear();
            self.buf_log_bytes = 0;
            self.overflowed = true;
            return false;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&(body as u32).to_le_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf
            .extend_from_slice(&(writes.len() as u32).to_le_bytes());
        for (key, value) in writes {
            self.buf
                .extend_from_slice(&(key.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(key);
            match value {
                Some(v) => {
                    self.buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    self.buf.extend_from_slice(v);
                }
                None => self.buf.extend_from_slice(&DELETE.to_le_bytes()),
            }
        }
        if count > 0 {
            self.buf_log_bytes += log_bytes as u64;
            self.buf.extend_from_slice(&(count as u32).to_le_bytes());
            for e in log {
                self.buf.extend_from_slice(&e.lsn.to_le_bytes());
                self.buf
                    .extend_from_slice(&(e.data.len() as u32).to_le_bytes());
                self.buf.extend_from_slice(e.data);
            }
        }
        let crc = crc32fast::hash(&self.buf[start + 8..]);
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        true
    }

    /// Whether the group being built outgrew [`MAX_GROUP_BYTES`].
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Drops the records of the group being built.
    pub fn discard_group(&mut self) {
        self.buf.clear();
        self.buf_log_bytes = 0;
        self.overflowed = false;
    }

    /// Makes room in the file for the group's records (extending it with
    /// zeros if needed). An error here leaves the log as it was.
    pub fn reserve(&mut self) -> Result<()> {
        let end = self.pos + self.buf.len() as u64;
        if end > self.len {
            self.grow(end)?;
        }
        Ok(())
    }

    /// Writes the group's records at the end of the log, and `fdatasync`s the
    /// log if `sync`. On error the position does not move, so the next write
    /// overwrites whatever part of the group reached the file.
    pub fn write_group(&mut self, sync: bool) -> Result<()> {
        debug_assert!(!self.overflowed, "an overflowed group must be checkpointed");
        if !self.buf.is_empty() {
            self.reserve()?;
            let end = self.pos + self.buf.len() as u64;
            self.file
                .write_all_at(&self.buf, self.pos)
                .map_err(|e| io_error(&self.path, "write to", e))?;
            self.pos = end;
            self.unsynced = true;
            self.buf.clear();
            self.log_bytes += std::mem::take(&mut self.buf_log_bytes);
        }
        if sync && self.unsynced {
            self.sync()?;
        }
        Ok(())
    }

    /// `fdatasync`s the log.
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| io_error(&self.path, "fsync", e))?;
        self.unsynced = false;
        Ok(())
    }

    /// Starts the log again at offset 0, after a checkpoint made every record
    /// in it durable in redb.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.log_bytes = 0;
        self.unsynced = false;
        self.discard_group();
    }

    /// Truncates the file to zero length (after a final checkpoint).
    pub fn truncate(&mut self) -> Result<()> {
        self.reset();
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| io_error(&self.path, "truncate", e))?;
        self.len = 0;
        Ok(())
    }

    /// Extends the file with zeros to cover `end` (rounded up to [`GROW`]),
    /// made durable at once, so commits that write into it only sync data.
    fn grow(&mut self, end: u64) -> Result<()> {
        let new_len = end.div_ceil(GROW) * GROW;
        let zeros = vec![0u8; GROW as usize];
        let mut at = self.len;
        while at < new_len {
            let n = (new_len - at).min(GROW);
            self.file
                .write_all_at(&zeros[..n as usize], at)
                .map_err(|e| io_error(&self.path, "extend", e))?;
            at += n;
        }
        self.file
            .sync_all()
            .map_err(|e| io_error(&self.path, "fsync", e))?;
        self.len = new_len;
        Ok(())
    }
}

/// Decodes the valid, consecutively numbered records at the start of `bytes`.
fn decode_records(bytes: &[u8]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut at = 0usize;
    while let Some((record, len)) = decode_record(&bytes[at..]) {
        if let Some(last) = out.last()
            && record.seq != last.seq + 1
        {
            break;
        }
        out.push(record);
        at += len;
    }
    out
}

/// One record at the start of `bytes`, and its length.
fn decode_record(bytes: &[u8]) -> Option<(Record, usize)> {
    let header = bytes.get(..HEADER)?;
    let body_len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    if body_len < 4 {
        return None;
    }
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let rest = bytes.get(8..HEADER + body_len)?;
    if crc32fast::hash(rest) != crc {
        return None;
    }
    let body = &rest[8..];
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let part = body.get(at..at.checked_add(n)?)?;
        at += n;
        Some(part)
    };
    let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let count = u32_at(take(4)?) as usize;
    let mut writes = Vec::with_capacity(count.min(body_len / 8));
    for _ in 0..count {
        let klen = u32_at(take(4)?) as usize;
        let key = take(klen)?.to_vec();
        let vlen = u32_at(take(4)?);
        let value = if vlen == DELETE {
            None
        } else {
            Some(take(vlen as usize)?.to_vec())
        };
        writes.push((key, value));
    }
    let mut log = Vec::new();
    // The change-log section is there if bytes are left.
    if let Some(count) = take(4) {
        let count = u32_at(count) as usize;
        log.reserve(count.min(body_len / 12));
        for _ in 0..count {
            let lsn = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let len = u32_at(take(4)?) as usize;
            let data = take(len)?.to_vec();
            log.push(LogEntry { lsn, seq, data });
        }
        if take(1).is_some() {
            return None;
        }
    }
    Some((Record { seq, writes, log }, HEADER + body_len))
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    let message = format!(
        "could not {what} write-ahead log \"{}\": {e}",
        path.display()
    );
    if e.kind() == std::io::ErrorKind::StorageFull {
        Error::new(crate::error::SqlState::DISK_FULL, message)
    } else {
        Error::io(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(n: u8) -> ResolvedWrites {
        (0..n)
            .map(|i| {
                let value = (i % 3 != 0).then(|| vec![i; i as usize * 10]);
                (vec![b'k', i], value)
            })
            .collect()
    }

    fn log(wal: &mut Wal, seqs: std::ops::RangeInclusive<u64>, sync: bool) {
        for seq in seqs {
            let log = entries(seq);
            assert!(wal.add(
                seq,
                &writes(seq as u8 % 7 + 1),
                log.iter().map(LogEntry::as_ref)
            ));
        }
        wal.write_group(sync).unwrap();
    }

    /// Change-log entries for some of the batches.
    fn entries(seq: u64) -> Vec<LogEntry> {
        (0..seq % 3)
            .map(|i| LogEntry {
                lsn: seq * 10 + i,
                seq,
                data: vec![seq as u8; i as usize * 5],
            })
            .collect()
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn records_round_trip_and_grow_in_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        assert!(wal.replay(0).unwrap().is_empty());
        log(&mut wal, 1..=3, true);
        log(&mut wal, 4..=4, false);
        assert!(wal.unsynced());
        log(&mut wal, 5..=9, true);
        assert!(!wal.unsynced());
        assert_eq!(wal.file_len(), GROW);
        let wal2 = Wal::open(dir.path()).unwrap();
        let records = wal2.replay(0).unwrap();
        assert_eq!(seqs(&records), (1..=9).collect::<Vec<_>>());
        for r in records {
            assert_eq!(r.writes, writes(r.seq as u8 % 7 + 1));
            assert_eq!(r.log, entries(r.seq));
        }
    }

    /// A torn or damaged record ends the log; so does a stale record of an
    /// earlier cycle after the current ones.
    #[test]
    fn replay_stops_at_damage_and_stale_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        log(&mut wal, 1..=20, true);
        // A new cycle after a checkpoint at 20 overwrites the start.
        wal.reset();
        log(&mut wal, 21..=23, true);
        let records = Wal::open(dir.path()).unwrap().replay(20).unwrap();
        assert_eq!(seqs(&records), vec![21, 22, 23]);
        // Records at or below the durable number are skipped; a gap after
        // it replays nothing.
        let records = Wal::open(dir.path()).unwrap().replay(22).unwrap();
        assert_eq!(seqs(&records), vec![23]);
        assert!(
            Wal::open(dir.path())
                .unwrap()
                .replay(23)
                .unwrap()
                .is_empty()
        );
        assert!(
            Wal::open(dir.path())
                .unwrap()
                .replay(10)
                .unwrap()
                .is_empty()
        );

        // Flip one byte inside record 22: only 21 survives.
        let bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        let first = HEADER + u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let mut damaged = bytes.clone();
        damaged[first + HEADER + 2] ^= 0x40;
        std::fs::write(dir.path().join(FILE_NAME), &damaged).unwrap();
        let records = Wal::open(dir.path()).unwrap().replay(20).unwrap();
        assert_eq!(seqs(&records), vec![21]);

        // A length pointing past the end, or garbage, ends it too.
        let mut damaged = bytes.clone();
        damaged[first..first + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(dir.path().join(FILE_NAME), &damaged).unwrap();
        assert_eq!(
            seqs(&Wal::open(dir.path()).unwrap().replay(20).unwrap()),
            vec![21]
        );
        std::fs::write(dir.path().join(FILE_NAME), b"garbage").unwrap();
        assert!(Wal::open(dir.path()).unwrap().replay(0).unwrap().is_empty());
    }

    #[test]
    fn oversized_groups_are_refused_and_truncate_empties_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        let big: ResolvedWrites = vec![(b"k".to_vec(), Some(vec![1; MAX_GROUP_BYTES]))];
        assert!(wal.add(1, &writes(2), std::iter::empty()));
        assert!(!wal.add(2, &big, std::iter::empty()));
        assert!(
            !wal.add(3, &writes(2), std::iter::empty()),
            "the group stays refused"
        );
        wal.discard_group();
        assert!(wal.add(1, &writes(2), std::iter::empty()));
        wal.write_group(true).unwrap();
        assert_eq!(wal.pos() as usize, HEADER + 4 + 2 * (8 + 2) + 10);
        wal.truncate().unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len(),
            0
        );
        assert!(Wal::open(dir.path()).unwrap().replay(0).unwrap().is_empty());
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn decoding_garbage_never_panics() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..400usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 7) as u8
                })
                .collect();
            let _ = decode_records(&bytes);
        }
    }
}
