//! Tenant storage accounting: the bytes of a tenant's rows and index
//! entries in tenant-scoped tables, kept exact in the commit path.
//!
//! A row counts as the length of its key plus its stored value, and each of
//! its index entries the same way. Whatever writes rows of a tenant-scoped
//! table (INSERT, UPDATE, DELETE, MERGE, COPY, cascades, and the DDL that
//! rewrites, indexes, truncates or drops such a table) adds up the change
//! per tenant in a [`UsageDelta`] and applies it at the end of the statement
//! as one `AddI64` merge per tenant on [`keys::tenant_usage_key`]: the
//! counters change in the same atomic commit as the rows, a rollback (or a
//! rollback to a savepoint) takes the change back with the rows, concurrent
//! writers never lose an update, and after a crash the counters are exactly
//! what the recovered rows add up to. `helios.recompute_usage` recounts.
//!
//! Before applying a delta that grows a tenant, the statement checks the
//! tenant's limit against its committed usage plus what its own transaction
//! has added so far, and fails with 53100 (changing nothing) if the limit
//! would be passed. Shrinking is never refused, so a tenant over its limit
//! can always clean up. Transactions of one tenant that run at the same time
//! each see the others' additions only once committed, so together they can
//! pass the limit by what they add concurrently.

use crate::catalog::{Catalog, keys};
use crate::error::{Error, Result, SqlState};
use crate::storage::Op;
use crate::txn::Transaction;

/// Byte changes per tenant made by one statement: (tenant, rows and index
/// entries, change-log entries).
#[derive(Debug, Default)]
pub struct UsageDelta(Vec<(uuid::Uuid, i64, i64)>);

impl UsageDelta {
    fn slot(&mut self, tenant: uuid::Uuid) -> &mut (uuid::Uuid, i64, i64) {
        let i = match self.0.iter().position(|(t, _, _)| *t == tenant) {
            Some(i) => i,
            None => {
                self.0.push((tenant, 0, 0));
                self.0.len() - 1
            }
        };
        &mut self.0[i]
    }

    /// Adds to a tenant's rows and index entries.
    pub fn add(&mut self, tenant: uuid::Uuid, bytes: i64) {
        self.slot(tenant).1 += bytes;
    }

    /// Adds to a tenant's change-log entries. They count towards its
    /// storage, but a statement is refused only for growing its data: a
    /// DELETE (whose change-log entry may outweigh the row) always runs.
    pub fn add_log(&mut self, tenant: uuid::Uuid, bytes: i64) {
        self.slot(tenant).2 += bytes;
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, d, l)| d + l == 0)
    }

    /// The total changes, by tenant.
    pub fn entries(&self) -> Vec<(uuid::Uuid, i64)> {
        self.0.iter().map(|&(t, d, l)| (t, d + l)).collect()
    }

    /// Checks the limits of the tenants that grow, then queues the merges.
    /// On 53100 nothing is queued; `rejected` is told which tenant.
    pub fn apply(
        self,
        txn: &mut Transaction,
        catalog: &Catalog,
        enforced: bool,
        rejected: &dyn Fn(uuid::Uuid),
    ) -> Result<()> {
        for &(tenant, rows, log) in &self.0 {
            if rows <= 0 || !enforced {
                continue;
            }
            let delta = rows + log;
            let Some(def) = catalog.tenant_by_id(tenant) else {
                continue;
            };
            let limit = catalog.tenant_limits(def).max_storage_bytes;
            let usage = usage_in(txn, tenant)?;
            if usage.saturating_add(delta) > limit {
                rejected(tenant);
                return Err(Error::new(
                    SqlState::DISK_FULL,
                    format!(
                        "tenant \"{}\" would exceed its storage limit: {usage} bytes used, limit {limit} bytes",
                        def.name
                    ),
                )
                .with_detail(format!("The statement would add {delta} bytes."))
                .with_hint("Delete data, or raise the limit with helios.set_tenant_limits."));
            }
        }
        for (tenant, rows, log) in self.0 {
            let delta = rows + log;
            if delta != 0 {
                txn.merge(keys::tenant_usage_key(tenant), Op::AddI64(delta));
            }
        }
        Ok(())
    }
}

/// A tenant's usage as the newest commit has it, plus what `txn` has added.
pub fn usage_in(txn: &Transaction, tenant: uuid::Uuid) -> Result<i64> {
    let key = keys::tenant_usage_key(tenant);
    let committed = match txn.get_latest(&key)? {
        Some(v) => {
            keys::i64_value(&v).ok_or_else(|| Error::corrupted("tenant usage is not an i64"))?
        }
        None => 0,
    };
    Ok(committed + txn.pending_add(&key))
}

/// Sets a tenant's counter to `bytes` (after a recount), in `txn`.
pub fn set_usage(txn: &mut Transaction, tenant: uuid::Uuid, bytes: i64) -> Result<()> {
    let now = usage_in(txn, tenant)?;
    if now != bytes {
        txn.merge(keys::tenant_usage_key(tenant), Op::AddI64(bytes - now));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_add_up_per_tenant() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut d = UsageDelta::default();
        d.add(a, 10);
        d.add(b, 5);
        d.add(a, -10);
        assert_eq!(d.entries(), vec![(a, 0), (b, 5)]);
        assert!(!d.is_empty());
        d.add(b, -5);
        assert!(d.is_empty());
    }
}
