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
//! changes' bytes off their tenants' storage, in one transaction; once
//! it has committed, the engine drops the entries (see
//! [`crate::storage::Engine::truncate_log`]; readers never look at or
//! below the horizon, so entries a crash brings back are harmless and go
//! with the next compaction). The
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
    CDC_STATE_PREFIX, ENTRY_HEADER, decode_entry, entry_bytes, horizon_key, peek,
};
use crate::txn::locks::LockMode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    let horizon = super::horizon(txn)?;
    for entry in txn.log_scan_latest(u64::MAX, true)? {
        let entry = entry?;
        if entry.lsn <= horizon {
            break;
        }
        newer += entry_bytes(entry.data.len().saturating_sub(ENTRY_HEADER));
        if newer > limit {
            return Ok(entry.lsn);
        }
    }
    Ok(0)
}

/// Readies the change log when a database is opened: drops entries at or
/// below the horizon that a crash brought back, and moves the log of
/// earlier builds (one key `0x06 lsn` per entry) into the engine's log
/// with the same LSNs. (Their entries keep their data; their transaction
/// ids become the converting commit's. LSNs the old log had compacted are
/// filled with empty entries, truncated at once.)
pub fn open_log(txns: &std::sync::Arc<crate::txn::TxnManager>) -> Result<()> {
    use crate::txn::changes::LEGACY_CHANGE_LOG_PREFIX as OLD;
    use std::ops::Bound;
    let mut txn = txns.begin(crate::txn::IsolationLevel::ReadCommitted)?;
    let horizon = super::horizon(&txn)?;
    let old: Vec<(Vec<u8>, Vec<u8>)> = txn
        .scan(
            Bound::Included(vec![OLD]),
            Bound::Excluded(vec![OLD + 1]),
            false,
        )?
        .collect::<Result<_>>()?;
    if old.is_empty() || txn.log_last() > 0 {
        txn.rollback();
        if horizon > 0 {
            txns.engine().truncate_log(horizon)?;
        }
        return Ok(());
    }
    let lsn = |key: &[u8]| -> Result<u64> {
        let bytes: [u8; 8] = key[1..]
            .try_into()
            .map_err(|_| Error::corrupted("change log key"))?;
        Ok(u64::from_be_bytes(bytes))
    };
    let first = lsn(&old[0].0)?;
    // The old entries' commit time and payload (an old value was `seq,
    // micros, payload`), after empty entries for the LSNs before them.
    let mut next = 1;
    for (key, value) in old {
        let data = value
            .get(8..)
            .ok_or_else(|| Error::corrupted("change log entry"))?;
        for _ in next..lsn(&key)? {
            txn.capture_entry(&[])?;
        }
        next = lsn(&key)? + 1;
        txn.capture_entry(data)?;
        txn.delete(key);
    }
    txn.put(
        horizon_key(),
        (first - 1).max(horizon).to_be_bytes().to_vec(),
    );
    txn.truncate_log_on_commit((first - 1).max(horizon));
    txn.commit_raw_entries()?;
    tracing::info!("moved the change log into the storage engine's log");
    Ok(())
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
    for entry in txn.log_scan_latest(horizon.saturating_add(1), false)? {
        if out.removed >= limit as u64 {
            break;
        }
        let entry = entry?;
        let lsn = entry.lsn;
        let (commit_ts, payload) =
            decode_entry(&entry.data).ok_or_else(|| Error::corrupted("change log entry"))?;
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
    }
    if out.removed == 0 {
        // Entries a crash brought back after their truncation go again.
        if horizon > 0 {
            txn.truncate_log_on_commit(horizon);
        }
        return Ok(out);
    }
    txn.put(horizon_key(), out.horizon.to_be_bytes().to_vec());
    txn.truncate_log_on_commit(out.horizon);
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
