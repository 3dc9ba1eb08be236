//! Applying rows as they are somewhere else: the write side of online tenant
//! migration (`cdc::migration`), which makes a target tenant's rows equal to
//! a source tenant's.
//!
//! Each operation puts a whole row by its primary key (inserting it, or
//! replacing the row with that key) or deletes the row with a key. The
//! rows come from committed source rows, so they are not cast, defaulted or
//! checked again (NOT NULL, CHECK, domains); uniqueness is checked, and
//! the indexes, the tenant's storage and the change log are maintained as
//! for any write. Foreign keys are not checked and their actions not run,
//! as in a PostgreSQL replica (`session_replication_role = replica`): the
//! rows arrive in key order, not in the order that satisfies references,
//! and the source already kept them consistent.

use super::Writer;
use crate::catalog::{Catalog, TableDef};
use crate::error::Result;
use crate::sql::executor::scan::{decode_table_row, pk_suffix, row_key};
use crate::sql::expr::EvalEnv;
use crate::txn::Transaction;
use crate::txn::locks::LockMode;
use crate::types::Value;

/// One change to a target table.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyOp {
    /// Make the row with this row's primary key equal to it.
    Put(Vec<Value>),
    /// Add a row whose key the caller knows is free (a snapshot's copy
    /// into an empty target): no lookup of the key; unique indexes are
    /// still checked.
    Insert(Vec<Value>),
    /// Remove the row stored under this key, if there is one.
    Delete(Vec<u8>),
}

/// Applies `ops` to `table` (which has a primary key) in `txn`, in order.
/// Returns how many rows changed. A put that collides with another row on
/// a unique index is 23505, and the tenant's storage limit applies (53100).
pub fn apply_rows(
    txn: &mut Transaction,
    catalog: &Catalog,
    env: &dyn EvalEnv,
    table: &TableDef,
    ops: Vec<ApplyOp>,
) -> Result<u64> {
    let mut w = Writer::new(txn, catalog, &[], env, Default::default(), false);
    w.lock_table(table)?;
    let mut changed = 0;
    for op in ops {
        match op {
            ApplyOp::Put(row) => {
                let pk = pk_suffix(table, &row, None);
                let key = row_key(table, &pk);
                w.txn.lock(&key, LockMode::Exclusive)?;
                match w.txn.get_latest(&key)? {
                    Some(bytes) => {
                        let old = decode_table_row(table, &bytes)?;
                        if old == row {
                            continue;
                        }
                        if let Some(super::Conflict::Row(_, name)) =
                            w.find_conflict(table, &row, &pk, Some(&key), true, None, None)?
                        {
                            return Err(w.unique_error(table, &name, &row));
                        }
                        w.rewrite(table, &key, &old, &row, &pk)?;
                    }
                    None => {
                        if let Some(super::Conflict::Row(_, name)) =
                            w.find_conflict(table, &row, &pk, None, true, None, None)?
                        {
                            return Err(w.unique_error(table, &name, &row));
                        }
                        w.write_new(table, &pk, &row)?;
                    }
                }
                changed += 1;
            }
            ApplyOp::Insert(row) => {
                let pk = pk_suffix(table, &row, None);
                if w.has_unique_indexes(table)
                    && let Some(super::Conflict::Row(_, name)) =
                        w.find_conflict(table, &row, &pk, None, true, None, None)?
                {
                    return Err(w.unique_error(table, &name, &row));
                }
                w.write_new(table, &pk, &row)?;
                changed += 1;
            }
            ApplyOp::Delete(key) => {
                w.txn.lock(&key, LockMode::Exclusive)?;
                if let Some(bytes) = w.txn.get_latest(&key)? {
                    let old = decode_table_row(table, &bytes)?;
                    w.remove(table, &key, &old)?;
                    changed += 1;
                }
            }
        }
    }
    let usage = std::mem::take(&mut w.usage);
    usage.apply(w.txn, catalog, env.quotas_enforced(), &|t| {
        env.storage_rejected(t)
    })?;
    Ok(changed)
}
