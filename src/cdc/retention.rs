//! How long the change log keeps changes, and compaction.
//!
//! A change is removed once every consumer has acknowledged it and it is
//! past retention: older than the retention age, or beyond the retention
//! size (counting from the newest change). Without consumers, retention
//! alone decides. A hard size limit, if set, removes the oldest changes
//! whether acknowledged or not: a consumer left behind by it is told so
//! (55000) when it next reads, never handed a log with a gap.
//!
//! Compaction removes a prefix of the log (LSNs are dense), records the
//! highest removed LSN as the log's horizon, and takes the removed
//! changes' bytes off their tenants' storage, in one transaction. The
//! size rules walk back from the newest entry to find where the size is
//! passed. The database's maintenance thread runs it every few
//! seconds; `helios.compact_changes()` runs it at once and
//! `helios.truncate_changes(before_lsn)` removes changes regardless of
//! consumers and retention.

use super::consumers;
use crate::catalog::keys::tenant_usage_key;
use crate::error::{Error, Result};
use crate::storage::Op;
use crate::txn::Transaction;
use crate::txn::changes::{
    CDC_STATE_PREFIX, CHANGE_LOG_PREFIX, ENTRY_HEADER, change_key, decode_entry, entry_bytes,
    horizon_key, lsn_of_key, peek,
};
use crate::txn::locks::LockMode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Bound;

/// The retention settings (`helios.set_change_retention`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// Acknowledged changes older than this many seconds go (None: age
    /// alone removes nothing).
    pub age_secs: Option<i64>,
    /// Acknowledged changes beyond this many bytes of log go.
    pub bytes: Option<i64>,
    /// The oldest changes beyond this many bytes go even if a consumer has
    /// not acknowledged them.
    pub max_bytes: Option<i64>,
}

impl Default for Retention {
    /// One day.
    fn default() -> Self {
        Retention {
            age_secs: Some(86_400),
            bytes: None,
            max_bytes: None,
        }
    }
}

fn settings_key() -> Vec<u8> {
    vec![CDC_STATE_PREFIX, 0x03]
}

/// The retention settings as `txn` sees them.
pub fn settings(txn: &Transaction) -> Result<Retention> {
    match txn.get(&settings_key())? {
        Some(v) => serde_json::from_slice(&v)
            .map_err(|e| Error::corrupted(format!("change retention: {e}"))),
        None => Ok(Retention::default()),
    }
}

pub fn set_settings(txn: &mut Transaction, r: &Retention) -> Result<()> {
    let v = serde_json::to_vec(r).map_err(|e| Error::internal(format!("retention: {e}")))?;
    txn.lock_for_write(&settings_key())?;
    txn.put(settings_key(), v);
    Ok(())
}

/// The log's size in bytes, as `txn` sees it (a scan of the log: the size
/// is not kept in a counter, which every commit would have to update).
pub fn log_bytes(txn: &Transaction) -> Result<i64> {
    crate::txn::changes::log_bytes(txn, None)
}

/// The highest LSN whose entry lies beyond the newest `limit` bytes of the
/// log (0 if the whole log fits): walks back from the newest entry.
fn beyond_bytes(txn: &Transaction, limit: i64) -> Result<u64> {
    let mut newer = 0;
    for kv in txn.scan_latest(
        Bound::Included(vec![CHANGE_LOG_PREFIX]),
        Bound::Excluded(vec![CHANGE_LOG_PREFIX + 1]),
        true,
    )? {
        let (key, value) = kv?;
        newer += entry_bytes(value.len().saturating_sub(ENTRY_HEADER));
        if newer > limit {
            return lsn_of_key(&key).ok_or_else(|| Error::corrupted("change log key"));
        }
    }
    Ok(0)
}

/// What a compaction removed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Compacted {
    pub removed: u64,
    pub bytes: i64,
    /// The horizon after it (the highest LSN removed so far).
    pub horizon: u64,
}

/// Removes, in `txn`, up to `limit` changes that retention lets go (see
/// the module doc), oldest first. `now` is in microseconds since the epoch.
pub fn compact(txn: &mut Transaction, now: i64, limit: usize) -> Result<Compacted> {
    lock(txn)?;
    let r = settings(txn)?;
    let acked = consumers::min_acked(txn)?.unwrap_or(u64::MAX);
    let over_size = match r.bytes {
        Some(b) => beyond_bytes(txn, b)?,
        None => 0,
    };
    let over_max = match r.max_bytes {
        Some(m) => beyond_bytes(txn, m)?,
        None => 0,
    };
    remove_prefix(txn, limit, |lsn, commit_ts, _| {
        let past = r.age_secs.is_some_and(|a| now - commit_ts > a * 1_000_000) || lsn <= over_size;
        (lsn <= acked && past) || lsn <= over_max
    })
}

/// Removes, in `txn`, every change before LSN `before` (up to `limit`),
/// whether consumers have acknowledged it or not.
pub fn truncate(txn: &mut Transaction, before: u64, limit: usize) -> Result<Compacted> {
    lock(txn)?;
    remove_prefix(txn, limit, |lsn, _, _| lsn < before)
}

/// Compactions take turns.
fn lock(txn: &mut Transaction) -> Result<()> {
    txn.lock(&horizon_key(), LockMode::Exclusive)?;
    Ok(())
}

/// Removes changes from the oldest on while `go(lsn, commit_ts, bytes)`.
fn remove_prefix(
    txn: &mut Transaction,
    limit: usize,
    mut go: impl FnMut(u64, i64, i64) -> bool,
) -> Result<Compacted> {
    let horizon = super::horizon(txn)?;
    let mut out = Compacted {
        horizon,
        ..Default::default()
    };
    let mut tenants: HashMap<uuid::Uuid, i64> = HashMap::new();
    let mut removed_keys = Vec::new();
    for kv in txn.scan_latest(
        Bound::Included(change_key(horizon.saturating_add(1))),
        Bound::Excluded(vec![CHANGE_LOG_PREFIX + 1]),
        false,
    )? {
        if removed_keys.len() >= limit {
            break;
        }
        let (key, value) = kv?;
        let lsn = lsn_of_key(&key).ok_or_else(|| Error::corrupted("change log key"))?;
        let (_, commit_ts, payload) =
            decode_entry(&value).ok_or_else(|| Error::corrupted("change log entry"))?;
        let size = entry_bytes(payload.len());
        if !go(lsn, commit_ts, size) {
            break;
        }
        let (_, tenant, _) = peek(payload).ok_or_else(|| Error::corrupted("change log entry"))?;
        if let Some(t) = tenant {
            *tenants.entry(t).or_default() += size;
        }
        out.removed += 1;
        out.bytes += size;
        out.horizon = lsn;
        removed_keys.push(key);
    }
    if removed_keys.is_empty() {
        return Ok(out);
    }
    for k in removed_keys {
        txn.delete(k);
    }
    txn.put(horizon_key(), out.horizon.to_be_bytes().to_vec());
    for (t, bytes) in tenants {
        // A dropped tenant's counter was zeroed: never take it below zero.
        let now = crate::tenant::usage::usage_in(txn, t)?;
        let take = bytes.min(now.max(0));
        if take > 0 {
            txn.merge(tenant_usage_key(t), Op::AddI64(-take));
        }
    }
    Ok(out)
}
