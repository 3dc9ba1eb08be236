//! The change log in the commit path: where captured changes live in the
//! key space and how a commit numbers them.
//!
//! A transaction queues each change it makes as an opaque payload
//! ([`super::Transaction::capture`]; the SQL layer encodes table, tenant,
//! operation, key and row images). At commit the payloads go into the same
//! atomic write batch as the data, through the batch's `on_seq` hook: the
//! hook runs once the commit's sequence number is known, in commit order,
//! and gives each change the next log sequence number (LSN) and a key
//! [`change_key`]`(lsn)`. So the log holds exactly the committed changes,
//! a transaction's changes are contiguous and in the order it made them,
//! LSNs increase in commit order, and the log is as durable as the data
//! (the hook's writes are part of the logged batch). A rolled-back
//! transaction, or the part of one rolled back to a savepoint, queues
//! nothing that reaches the log.
//!
//! An entry's value is the commit's sequence number (its transaction id in
//! the log), the commit time in microseconds since the Unix epoch, then the
//! payload.

use crate::error::{Error, Result};
use crate::storage::{Engine, prefix_end};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::ops::Bound;

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
fn op_name(code: u8) -> &'static str {
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

/// The bytes an entry with a payload of `payload_len` bytes takes: key,
/// header and payload (what it counts towards its tenant's storage).
pub fn entry_bytes(payload_len: usize) -> i64 {
    (9 + ENTRY_HEADER + payload_len) as i64
}

/// The key prefix of the change log (`0x06 lsn:u64`).
pub const CHANGE_LOG_PREFIX: u8 = 0x06;

/// The key prefix of change data capture's state (`cdc`): the log's
/// size, consumers, retention, migrations.
pub const CDC_STATE_PREFIX: u8 = 0x07;

/// The key of the log's horizon: the highest LSN compaction has removed
/// (a u64; absent means 0). Everything at or below it may be gone, and
/// the numbering never goes back below it.
pub fn horizon_key() -> Vec<u8> {
    vec![CDC_STATE_PREFIX, 0x01]
}

/// The key of the change numbered `lsn`.
pub fn change_key(lsn: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(CHANGE_LOG_PREFIX);
    k.extend_from_slice(&lsn.to_be_bytes());
    k
}

/// The LSN of a change-log key.
pub fn lsn_of_key(key: &[u8]) -> Option<u64> {
    match key {
        [CHANGE_LOG_PREFIX, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// The bytes of an entry's header: the commit's sequence number and time.
pub const ENTRY_HEADER: usize = 16;

/// An entry without its header yet: room for the header, to write the
/// payload after (`capacity`: the payload's expected size). The commit
/// fills the header in place ([`set_entry_header`]), so a payload written
/// here is never copied again.
pub fn entry_buffer(capacity: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(ENTRY_HEADER + capacity);
    v.resize(ENTRY_HEADER, 0);
    v
}

/// Writes the header of an entry made by [`entry_buffer`]: an entry's
/// value is the commit's sequence number, its time, then the payload.
pub fn set_entry_header(entry: &mut [u8], seq: u64, commit_micros: i64) {
    entry[..8].copy_from_slice(&seq.to_be_bytes());
    entry[8..ENTRY_HEADER].copy_from_slice(&commit_micros.to_be_bytes());
}

/// The parts of a log entry's value, or None if it is too short.
pub fn decode_entry(value: &[u8]) -> Option<(u64, i64, &[u8])> {
    if value.len() < ENTRY_HEADER {
        return None;
    }
    let seq = u64::from_be_bytes(value[..8].try_into().ok()?);
    let micros = i64::from_be_bytes(value[8..ENTRY_HEADER].try_into().ok()?);
    Some((seq, micros, &value[ENTRY_HEADER..]))
}

/// The highest LSN given so far: the last entry's, or the horizon if
/// compaction has emptied the log (0 for a log never written).
pub(super) fn last_lsn(engine: &dyn Engine) -> Result<u64> {
    let start = vec![CHANGE_LOG_PREFIX];
    let end = prefix_end(&start)
        .map(Bound::Excluded)
        .unwrap_or(Bound::Unbounded);
    let snapshot = engine.snapshot()?;
    let last = match snapshot.scan(Bound::Included(start), end, true)?.next() {
        Some(kv) => lsn_of_key(&kv?.0).unwrap_or(0),
        None => 0,
    };
    let horizon = match snapshot.get(&horizon_key())? {
        Some(v) => u64_value(&v).ok_or_else(|| Error::corrupted("change log horizon"))?,
        None => 0,
    };
    Ok(last.max(horizon))
}

/// A u64 state value.
pub fn u64_value(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The bytes of the log's entries, as `txn` sees the log: all of them, or
/// those of `tenant`'s rows (what `helios.recompute_usage` counts besides
/// the rows).
pub fn log_bytes(txn: &super::Transaction, tenant: Option<uuid::Uuid>) -> Result<i64> {
    let mut total = 0;
    for kv in txn.scan(
        Bound::Included(vec![CHANGE_LOG_PREFIX]),
        Bound::Excluded(vec![CHANGE_LOG_PREFIX + 1]),
        false,
    )? {
        let (_, value) = kv?;
        let (_, _, payload) =
            decode_entry(&value).ok_or_else(|| Error::corrupted("change log entry"))?;
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
