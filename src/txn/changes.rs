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

use crate::error::Result;
use crate::storage::{Engine, prefix_end};
use std::ops::Bound;

/// The key prefix of the change log (`0x06 lsn:u64`).
pub const CHANGE_LOG_PREFIX: u8 = 0x06;

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

/// A log entry's value: commit sequence number, commit time, payload.
pub fn encode_entry(seq: u64, commit_micros: i64, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + payload.len());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&commit_micros.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The parts of a log entry's value, or None if it is too short.
pub fn decode_entry(value: &[u8]) -> Option<(u64, i64, &[u8])> {
    if value.len() < 16 {
        return None;
    }
    let seq = u64::from_be_bytes(value[..8].try_into().ok()?);
    let micros = i64::from_be_bytes(value[8..16].try_into().ok()?);
    Some((seq, micros, &value[16..]))
}

/// The highest LSN in the log (0 when it is empty).
pub(super) fn last_lsn(engine: &dyn Engine) -> Result<u64> {
    let start = vec![CHANGE_LOG_PREFIX];
    let end = prefix_end(&start)
        .map(Bound::Excluded)
        .unwrap_or(Bound::Unbounded);
    let snapshot = engine.snapshot()?;
    let mut it = snapshot.scan(Bound::Included(start), end, true)?;
    match it.next() {
        Some(kv) => Ok(lsn_of_key(&kv?.0).unwrap_or(0)),
        None => Ok(0),
    }
}
