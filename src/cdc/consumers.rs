//! Named consumers of the change log: each keeps, durably, the LSN it has
//! acknowledged, so a restarted consumer resumes after it, and compaction
//! keeps every change some consumer has not acknowledged.
//!
//! A consumer is a key `0x07 0x02 name` holding JSON. It is created,
//! acknowledged and dropped in the caller's transaction, so an embedded
//! consumer that acknowledges in the same transaction as its own writes
//! processes each change exactly once: both commit or neither does, and two
//! transactions acknowledging one consumer at once conflict (40001).

use crate::error::{Error, Result, SqlState};
use crate::txn::changes::CDC_STATE_PREFIX;
use crate::txn::{Transaction, WriteCheck};
use serde::{Deserialize, Serialize};
use std::ops::Bound;

const CONSUMER_TAG: u8 = 0x02;

/// A consumer's durable state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consumer {
    pub name: String,
    /// Every change up to this LSN is acknowledged.
    pub acked_lsn: u64,
    /// Only this tenant's changes (a consumer created by a tenant's role).
    #[serde(default)]
    pub tenant: Option<uuid::Uuid>,
    /// When it was created, microseconds since the Unix epoch.
    pub created_at: i64,
    /// When it last acknowledged (or was created).
    pub acked_at: i64,
}

fn key(name: &str) -> Vec<u8> {
    let mut k = vec![CDC_STATE_PREFIX, CONSUMER_TAG];
    k.extend_from_slice(name.as_bytes());
    k
}

fn not_found(name: &str) -> Error {
    Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("change consumer \"{name}\" does not exist"),
    )
}

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn put(txn: &mut Transaction, c: &Consumer) -> Result<()> {
    let v = serde_json::to_vec(c).map_err(|e| Error::internal(format!("consumer: {e}")))?;
    txn.put(key(&c.name), v);
    Ok(())
}

/// The consumer named `name`, as `txn` sees it.
pub fn get(txn: &Transaction, name: &str) -> Result<Option<Consumer>> {
    decode(name, txn.get(&key(name))?)
}

fn decode(name: &str, value: Option<Vec<u8>>) -> Result<Option<Consumer>> {
    match value {
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| Error::corrupted(format!("consumer {name}: {e}"))),
        None => Ok(None),
    }
}

/// Every consumer, by name.
pub fn list(txn: &Transaction) -> Result<Vec<Consumer>> {
    let start = vec![CDC_STATE_PREFIX, CONSUMER_TAG];
    let end = vec![CDC_STATE_PREFIX, CONSUMER_TAG + 1];
    let mut out = Vec::new();
    for kv in txn.scan(Bound::Included(start), Bound::Excluded(end), false)? {
        let (_, v) = kv?;
        out.push(
            serde_json::from_slice(&v).map_err(|e| Error::corrupted(format!("consumer: {e}")))?,
        );
    }
    Ok(out)
}

/// Creates consumer `name` positioned after LSN `start` (changes after it
/// are kept for it). 42710 if it exists; 55000 if `start` was compacted.
pub fn create(
    txn: &mut Transaction,
    name: &str,
    start: u64,
    tenant: Option<uuid::Uuid>,
) -> Result<()> {
    if name.is_empty() || name.len() > 63 {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "a consumer's name must have 1 to 63 bytes",
        ));
    }
    if get(txn, name)?.is_some() {
        return Err(Error::new(
            SqlState::DUPLICATE_OBJECT,
            format!("change consumer \"{name}\" already exists"),
        ));
    }
    super::check_retained(txn, start)?;
    let now = now_micros();
    txn.lock_for_write(&key(name))?;
    put(
        txn,
        &Consumer {
            name: name.to_string(),
            acked_lsn: start,
            tenant,
            created_at: now,
            acked_at: now,
        },
    )
}

/// Drops consumer `name` (42704 if there is none, unless `missing_ok`).
pub fn drop(txn: &mut Transaction, name: &str, missing_ok: bool) -> Result<()> {
    if get(txn, name)?.is_none() {
        return if missing_ok {
            Ok(())
        } else {
            Err(not_found(name))
        };
    }
    txn.lock_for_write(&key(name))?;
    txn.delete(key(name));
    Ok(())
}

/// Acknowledges every change up to `lsn` for consumer `name` (an older
/// LSN than it has acknowledged changes nothing). `last` is the highest
/// LSN given so far: acknowledging beyond it is 22023.
pub fn ack(txn: &mut Transaction, name: &str, lsn: u64, last: u64) -> Result<Consumer> {
    if lsn > last {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("LSN {lsn} is beyond the end of the change log (LSN {last})"),
        ));
    }
    // Lock first, then read the newest state: concurrent acknowledgements
    // of one consumer queue up (or fail with 40001 under REPEATABLE READ).
    let current = match txn.lock_for_write(&key(name))? {
        WriteCheck::Unchanged => txn.get(&key(name))?,
        WriteCheck::Changed => txn.get_latest(&key(name))?,
    };
    let Some(mut c) = decode(name, current)? else {
        return Err(not_found(name));
    };
    if lsn > c.acked_lsn {
        c.acked_lsn = lsn;
        c.acked_at = now_micros();
        put(txn, &c)?;
    }
    Ok(c)
}

/// The lowest acknowledged LSN over all consumers (None without consumers):
/// what compaction must keep the changes after.
pub fn min_acked(txn: &Transaction) -> Result<Option<u64>> {
    Ok(list(txn)?.iter().map(|c| c.acked_lsn).min())
}
