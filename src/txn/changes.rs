//! The change log in the commit path: what a captured change's entry
//! holds and how a commit writes it.
//!
//! A transaction queues each change it makes as an opaque payload
//! ([`super::Transaction::capture`]; the SQL layer encodes table, tenant,
//! operation, key and row images). At commit the entries go into the same
//! atomic write batch as the data, as the batch's change-log entries (see
//! [`crate::storage::log`]): the engine gives each the next log sequence
//! number (LSN) in commit order and stores it with the commit's sequence
//! number (its transaction id in the log). So the log holds exactly the
//! committed changes, a transaction's changes are contiguous and in the
//! order it made them, LSNs increase in commit order, and the log is as
//! durable as the data. A rolled-back transaction, or the part of one
//! rolled back to a savepoint, queues nothing that reaches the log.
//!
//! An entry's data is the commit time in microseconds since the Unix
//! epoch, then the payload.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// What one captured change says (an entry's payload: the operation and
/// tenant in a binary head, the rest as JSON): written by the SQL layer,
/// read back by `cdc`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// The database the table belongs to.
    pub db: u32,
    /// The table's id (0 for DDL that names no table).
    #[serde(default)]
    pub table_id: u32,
    /// `schema.table` (empty for DDL that names no table).
    #[serde(default)]
    pub table: String,
    /// The row's tenant, for a tenant-scoped table (in the payload's head,
    /// not its JSON).
    #[serde(skip)]
    pub tenant: Option<uuid::Uuid>,
    /// `insert`, `update`, `delete`, `truncate` or `ddl` (in the head).
    #[serde(skip)]
    pub op: String,
    /// The primary key's columns (null without one, and for TRUNCATE and DDL).
    #[serde(default)]
    pub pk: Json,
    /// The row before (UPDATE, DELETE).
    #[serde(default)]
    pub before: Json,
    /// The row after (INSERT, UPDATE); for DDL, the command tag and statement.
    #[serde(default)]
    pub after: Json,
}

impl ChangeRecord {
    /// The payload: a short binary head (operation, tenant) that readers
    /// filter on without parsing, then the rest of the record as JSON.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(128);
        write_head(&mut v, &self.op, self.tenant);
        serde_json::to_writer(&mut v, self)
            .map_err(|e| Error::internal(format!("change record: {e}")))?;
        Ok(v)
    }

    pub fn decode(payload: &[u8]) -> Result<ChangeRecord> {
        let (op, tenant, json) =
            peek(payload).ok_or_else(|| Error::corrupted("change log entry"))?;
        let mut r: ChangeRecord = serde_json::from_slice(json)
            .map_err(|e| Error::corrupted(format!("change log entry: {e}")))?;
        r.op = op_name(op).to_string();
        r.tenant = tenant;
        Ok(r)
    }
}

/// The first byte of a row change's binary body (a JSON body, which DDL
/// and TRUNCATE events and entries of earlier builds have, starts with
/// `{`). The body: this byte, a flags byte (1: a before image follows, 2:
/// an after image), the [`Layout`] id (u64, little endian), the before
/// image's length (u32, little endian) and bytes if present, then the after
/// image's bytes to the end. An image is the row as the table stores it.
pub const ROW_BODY: u8 = 0x01;

/// What a row change's binary images are read with: the table's identity
/// and its columns' names when the change was made. Stored once per
/// distinct content under [`layout_key`]`(id)`, before any entry that
/// names it commits, and never changed or removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub db: u32,
    pub table_id: u32,
    /// `schema.table`.
    pub table: String,
    pub columns: Vec<String>,
    /// The primary key's columns (positions in `columns`).
    pub pk: Vec<usize>,
}

impl Layout {
    /// Its id: a 64-bit hash of its fields (its record's key is
    /// [`layout_key`]`(id)`).
    pub fn id(&self) -> u64 {
        // Eight bytes at a time (FxHash's step), lengths between the parts.
        let mut h: u64 = 0;
        let mut word = |w: u64| h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        let mut eat = |bytes: &[u8]| {
            word(bytes.len() as u64);
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
            }
            let mut last = [0u8; 8];
            last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
            word(u64::from_le_bytes(last));
        };
        eat(&self.db.to_le_bytes());
        eat(&self.table_id.to_le_bytes());
        eat(self.table.as_bytes());
        for column in &self.columns {
            eat(column.as_bytes());
        }
        for &c in &self.pk {
            eat(&(c as u64).to_le_bytes());
        }
        h
    }
}

/// The key of layout `id` (`cdc` state).
pub fn layout_key(id: u64) -> Vec<u8> {
    let mut k = vec![CDC_STATE_PREFIX, 0x07];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The parts of a binary row body: layout id, before image, after image.
pub type RowBody<'a> = (u64, Option<&'a [u8]>, Option<&'a [u8]>);

/// Splits a binary row body into its parts (None if it is malformed).
pub fn parse_row_body(body: &[u8]) -> Option<RowBody<'_>> {
    let [ROW_BODY, flags, rest @ ..] = body else {
        return None;
    };
    let (id, mut rest) = rest.split_at_checked(8)?;
    let id = u64::from_le_bytes(id.try_into().ok()?);
    let before = if flags & 1 != 0 {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (image, tail) = tail.split_at_checked(len)?;
        rest = tail;
        Some(image)
    } else {
        None
    };
    let after = (flags & 2 != 0).then_some(rest);
    if after.is_none() && !rest.is_empty() {
        return None;
    }
    Some((id, before, after))
}

/// Writes a payload's head: the operation's code and the tenant (the JSON
/// follows).
pub fn write_head(buf: &mut Vec<u8>, op: &str, tenant: Option<uuid::Uuid>) {
    buf.push(op_code(op));
    match tenant {
        Some(t) => {
            buf.push(1);
            buf.extend_from_slice(t.as_bytes());
        }
        None => buf.push(0),
    }
}

/// The one-byte code of an operation in a payload's head.
fn op_code(op: &str) -> u8 {
    match op {
        "insert" => b'i',
        "update" => b'u',
        "delete" => b'd',
        "truncate" => b't',
        _ => b'D',
    }
}

/// The operation an operation code stands for.
pub fn op_name(code: u8) -> &'static str {
    match code {
        b'i' => "insert",
        b'u' => "update",
        b'd' => "delete",
        b't' => "truncate",
        _ => "ddl",
    }
}

/// A payload's operation code (`i`, `u`, `d`, `t`, `D` for DDL), tenant and
/// JSON, without parsing the JSON.
pub fn peek(payload: &[u8]) -> Option<(u8, Option<uuid::Uuid>, &[u8])> {
    match payload {
        [op, 0, rest @ ..] => Some((*op, None, rest)),
        [op, 1, rest @ ..] if rest.len() >= 16 => {
            let t = uuid::Uuid::from_slice(&rest[..16]).ok()?;
            Some((*op, Some(t), &rest[16..]))
        }
        _ => None,
    }
}

/// The operation code of a TRUNCATE in a payload's head.
pub const OP_TRUNCATE: u8 = b't';

/// The bytes an entry with a payload of `payload_len` bytes takes: its
/// LSN, commit number and length as the engine stores them, the commit
/// time and the payload (what it counts towards its tenant's storage).
pub fn entry_bytes(payload_len: usize) -> i64 {
    (crate::storage::log::SEGMENT_ENTRY_HEADER + ENTRY_HEADER + payload_len) as i64
}

/// The key prefix of change data capture's state (`cdc`): the log's
/// horizon, consumers, retention, migrations.
pub const CDC_STATE_PREFIX: u8 = 0x07;

/// The key prefix the change log's entries had when they were keys
/// (converted at open, see `cdc::convert_legacy_log`).
pub const LEGACY_CHANGE_LOG_PREFIX: u8 = 0x06;

/// The key of the log's horizon: the highest LSN compaction has removed
/// (a u64; absent means 0). Everything at or below it may be gone, and
/// the numbering never goes back below it.
pub fn horizon_key() -> Vec<u8> {
    vec![CDC_STATE_PREFIX, 0x01]
}

/// The bytes of an entry's header: the commit time.
pub const ENTRY_HEADER: usize = 8;

/// Writes an entry's header (its first [`ENTRY_HEADER`] bytes): the
/// commit time; the payload follows.
pub fn set_entry_header(entry: &mut [u8], commit_micros: i64) {
    if let Some(header) = entry.get_mut(..ENTRY_HEADER) {
        header.copy_from_slice(&commit_micros.to_be_bytes());
    }
}

/// The parts of an entry's data (commit time, payload), or None if it is
/// too short.
pub fn decode_entry(data: &[u8]) -> Option<(i64, &[u8])> {
    let (head, payload) = data.split_at_checked(ENTRY_HEADER)?;
    Some((i64::from_be_bytes(head.try_into().ok()?), payload))
}

/// A u64 state value.
pub fn u64_value(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The bytes of the log's retained entries, as `txn` sees the log: all
/// of them, or those of `tenant`'s rows (what `helios.recompute_usage`
/// counts besides the rows).
pub fn log_bytes(txn: &super::Transaction, tenant: Option<uuid::Uuid>) -> Result<i64> {
    let mut total = 0;
    let horizon = match txn.get(&horizon_key())? {
        Some(v) => u64_value(&v).ok_or_else(|| Error::corrupted("change log horizon"))?,
        None => 0,
    };
    for entry in txn.log_scan(horizon.saturating_add(1), false)? {
        let entry = entry?;
        let (_, payload) =
            decode_entry(&entry.data).ok_or_else(|| Error::corrupted("change log entry"))?;
        if let Some(tenant) = tenant {
            let (_, t, _) = peek(payload).ok_or_else(|| Error::corrupted("change log entry"))?;
            if t != Some(tenant) {
                continue;
            }
        }
        total += entry_bytes(payload.len());
    }
    Ok(total)
}
