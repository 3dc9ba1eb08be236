//! Change data capture: the committed changes of every table, read back in
//! commit order from the change log the commit path writes
//! (`txn::changes`).
//!
//! Each INSERT, UPDATE and DELETE of a row of a persistent table is
//! captured by the executor's writer as it happens and reaches the log only
//! if its transaction commits, in the same atomic write as the row.

use crate::error::{Error, Result};
use crate::session::Database;
use crate::txn::IsolationLevel;
use crate::txn::changes::{CHANGE_LOG_PREFIX, change_key, decode_entry, lsn_of_key};
use std::ops::Bound;

/// One committed change (the release notes' `ChangeEvent`).
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    /// Its position in the log: increasing in commit order.
    pub lsn: u64,
    /// The committing transaction (its commit's sequence number).
    pub txid: u64,
    /// Commit time, microseconds since the Unix epoch.
    pub commit_ts: i64,
    /// `schema.table`.
    pub table: String,
    /// The row's tenant, for a tenant-scoped table.
    pub tenant_id: Option<uuid::Uuid>,
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// The primary key's columns (null for a table without one).
    pub pk: serde_json::Value,
    /// The row before (UPDATE, DELETE) and after (INSERT, UPDATE).
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl Database {
    /// The committed changes from LSN `from` on (at most `limit`), in order.
    pub fn changes(&self, from: u64, limit: usize) -> Result<Vec<ChangeEvent>> {
        let txn = self
            .txn_manager()
            .begin_read_only(IsolationLevel::ReadCommitted)?;
        let end = vec![CHANGE_LOG_PREFIX + 1];
        let mut out = Vec::new();
        for kv in txn.scan(
            Bound::Included(change_key(from)),
            Bound::Excluded(end),
            false,
        )? {
            if out.len() >= limit {
                break;
            }
            let (key, value) = kv?;
            let lsn = lsn_of_key(&key).ok_or_else(|| Error::corrupted("change log key"))?;
            let (txid, commit_ts, payload) =
                decode_entry(&value).ok_or_else(|| Error::corrupted("change log entry"))?;
            let e: serde_json::Value = serde_json::from_slice(payload)
                .map_err(|e| Error::corrupted(format!("change log entry: {e}")))?;
            out.push(ChangeEvent {
                lsn,
                txid,
                commit_ts,
                table: e["table"].as_str().unwrap_or_default().to_string(),
                tenant_id: e["tenant"]
                    .as_str()
                    .and_then(|t| uuid::Uuid::parse_str(t).ok()),
                op: e["op"].as_str().unwrap_or_default().to_string(),
                pk: e["pk"].clone(),
                before: e["before"].clone(),
                after: e["after"].clone(),
            });
        }
        txn.rollback();
        Ok(out)
    }
}
