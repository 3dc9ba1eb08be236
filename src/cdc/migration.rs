//! Online tenant migration: making a target tenant's rows a copy of a source
//! tenant's while the source keeps being written, driven by the change log.
//!
//! A migration is a persisted record (`0x07 0x04 id`, JSON) that moves
//! through Pending → Snapshotting → Replicating → Verifying → Completed (or
//! Failed with a reason; Paused from any running state; RolledBack). The
//! database's maintenance thread advances it a step at a time
//! (`session::migrations`); each step is one transaction that also writes
//! the record, so a crash leaves it at a step boundary and the next start
//! goes on from there.
//!
//! * **Snapshot**: one snapshot of the source (a transaction held open by
//!   the maintenance thread) is copied in batches, each batch written in its
//!   own transaction with the tenant column rewritten to the target. The
//!   highest LSN that snapshot sees is the migration's `snapshot_lsn`; a
//!   consumer `migration_<id>` holds the log's changes after it. A snapshot
//!   interrupted by a restart cannot be resumed (its transaction is gone), so
//!   the step removes the partial copy and starts the snapshot over.
//! * **Replication**: each step reads the source's changes after
//!   `applied_lsn` that its transaction sees, collects the keys they touched,
//!   and sets each target row to what the source row is in that same
//!   snapshot (or removes it). Afterwards the target equals the source at the
//!   step's snapshot, for every key — so replaying is idempotent, and a
//!   TRUNCATE resynchronises the table.
//! * **Verification** catches up and computes an order-independent checksum
//!   of every table's rows of both tenants in one transaction: they must be
//!   equal.
//! * **Completion** closes the source's write fence (`tenant::fence`: it
//!   waits for the source's writers in flight and keeps new ones out), drains
//!   the last changes, and with `cutover` hands the source's name, roles,
//!   tier and limits to the target, all in one transaction of milliseconds.
//!
//! Rows are keyed by primary key, so every tenant-scoped table needs a
//! primary key that includes the tenant column (the copy lives in the same
//! table as the original), and so does every unique index.

use super::consumers;
use crate::catalog::{Catalog, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::executor::dml::apply::{ApplyOp, apply_rows};
use crate::sql::executor::scan::{decode_table_row, pk_suffix, row_key};
use crate::sql::expr::EvalEnv;
use crate::storage::prefix_end;
use crate::txn::Transaction;
use crate::txn::changes::{CDC_STATE_PREFIX, OP_TRUNCATE};
use crate::txn::locks::LockMode;
use crate::types::{DataType, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

/// The tenant-scoped tables of every database, with their database's catalog.
pub type Tables = [(Arc<Catalog>, Arc<TableDef>)];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Pending,
    Snapshotting,
    Replicating,
    Verifying,
    Completed,
    Failed,
    Paused,
    RolledBack,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Snapshotting => "snapshotting",
            State::Replicating => "replicating",
            State::Verifying => "verifying",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Paused => "paused",
            State::RolledBack => "rolled_back",
        }
    }

    /// Whether the maintenance thread works on it.
    pub fn running(self) -> bool {
        matches!(
            self,
            State::Pending | State::Snapshotting | State::Replicating | State::Verifying
        )
    }

    /// Whether it is over (nothing can change it any more).
    pub fn finished(self) -> bool {
        matches!(self, State::Completed | State::RolledBack)
    }
}

/// Copy progress of one table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableCopy {
    pub db: u32,
    pub table_id: u32,
    pub name: String,
    pub done: bool,
    /// The last source row key copied.
    pub last_key: Option<Vec<u8>>,
    pub rows: u64,
}

/// One table's checksums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableChecksum {
    pub table: String,
    pub rows: u64,
    pub checksum: u64,
}

/// A migration's persisted state (the release notes' `MigrationState`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub id: u64,
    pub source: uuid::Uuid,
    pub target: uuid::Uuid,
    pub source_name: String,
    pub target_name: String,
    /// The migration created the target (a rollback drops it again).
    pub target_created: bool,
    pub cutover: bool,
    pub state: State,
    /// The state a paused migration resumes in.
    pub paused_from: Option<State>,
    pub snapshot_lsn: u64,
    pub applied_lsn: u64,
    pub total_rows: u64,
    pub rows_copied: u64,
    pub changes_applied: u64,
    pub tables: Vec<TableCopy>,
    /// Per table: (source, target) checksums of the last verification.
    pub checksums: Vec<(TableChecksum, TableChecksum)>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

impl Migration {
    /// The consumer that holds the log's changes for it.
    pub fn consumer(&self) -> String {
        format!("migration_{}", self.id)
    }
}

fn record_key(id: u64) -> Vec<u8> {
    let mut k = vec![CDC_STATE_PREFIX, 0x04];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn next_id_key() -> Vec<u8> {
    vec![CDC_STATE_PREFIX, 0x05]
}

fn decode(v: &[u8]) -> Result<Migration> {
    serde_json::from_slice(v).map_err(|e| Error::corrupted(format!("migration: {e}")))
}

pub fn not_found(id: u64) -> Error {
    Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("migration {id} does not exist"),
    )
}

/// Migration `id` as `txn` sees it.
pub fn get(txn: &Transaction, id: u64) -> Result<Option<Migration>> {
    txn.get(&record_key(id))?.map(|v| decode(&v)).transpose()
}

/// Locks migration `id` for a change and reads its newest state.
pub fn lock(txn: &mut Transaction, id: u64) -> Result<Migration> {
    txn.lock(&record_key(id), LockMode::Exclusive)?;
    match txn.get_latest(&record_key(id))? {
        Some(v) => decode(&v),
        None => Err(not_found(id)),
    }
}

pub fn put(txn: &mut Transaction, m: &mut Migration) -> Result<()> {
    m.updated_at = consumers::now_micros();
    let v = serde_json::to_vec(m).map_err(|e| Error::internal(format!("migration: {e}")))?;
    txn.put(record_key(m.id), v);
    Ok(())
}

/// Every migration, by id.
pub fn list(txn: &Transaction) -> Result<Vec<Migration>> {
    let start = vec![CDC_STATE_PREFIX, 0x04];
    let end = vec![CDC_STATE_PREFIX, 0x05];
    txn.scan(Bound::Included(start), Bound::Excluded(end), false)?
        .map(|kv| decode(&kv?.1))
        .collect()
}

/// Hands out the next migration id.
pub fn next_id(txn: &mut Transaction) -> Result<u64> {
    let key = next_id_key();
    txn.lock(&key, LockMode::Exclusive)?;
    let last = match txn.get_latest(&key)? {
        Some(v) => crate::txn::changes::u64_value(&v)
            .ok_or_else(|| Error::corrupted("migration id counter"))?,
        None => 0,
    };
    txn.put(key, (last + 1).to_be_bytes().to_vec());
    Ok(last + 1)
}

/// A new migration record (Pending).
pub fn new_record(
    id: u64,
    source: (uuid::Uuid, &str),
    target: (uuid::Uuid, &str),
    target_created: bool,
    cutover: bool,
) -> Migration {
    let now = consumers::now_micros();
    Migration {
        id,
        source: source.0,
        target: target.0,
        source_name: source.1.to_string(),
        target_name: target.1.to_string(),
        target_created,
        cutover,
        state: State::Pending,
        paused_from: None,
        snapshot_lsn: 0,
        applied_lsn: 0,
        total_rows: 0,
        rows_copied: 0,
        changes_applied: 0,
        tables: Vec::new(),
        checksums: Vec::new(),
        error: None,
        created_at: now,
        updated_at: now,
        completed_at: None,
    }
}

/// 55000 unless every table can hold a second tenant's copy: a primary key
/// and every unique index must include the tenant column.
pub fn check_tables(tables: &Tables) -> Result<()> {
    for (catalog, t) in tables {
        let col = t.tenant_column.expect("tenant-scoped");
        let name = &t.columns[col].name;
        let refuse = |what: String| {
            Error::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "table \"{}\" cannot hold a migrated copy: {what} does not include its tenant column \"{name}\"",
                    t.qualified_name()
                ),
            )
            .with_hint(format!(
                "Make the key ({name}, ...), so that two tenants' rows may share the other columns."
            ))
        };
        if !t.primary_key.contains(&col) {
            return Err(refuse("its primary key".into()));
        }
        for ix in catalog.index_iter(t.id).filter(|i| i.unique) {
            if !ix.columns.contains(&col) {
                return Err(refuse(format!("unique index \"{}\"", ix.name)));
            }
        }
        if t.capture_off {
            return Err(Error::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "table \"{}\" cannot be migrated online: its changes are not captured",
                    t.qualified_name()
                ),
            )
            .with_hint("Switch capture on with helios.set_capture(table, true)."));
        }
    }
    Ok(())
}

/// The highest LSN `txn`'s snapshot sees (its position in the log).
pub fn visible_lsn(txn: &Transaction) -> Result<u64> {
    Ok(txn.log_last().max(super::horizon(txn)?))
}

/// Visits tenant `tenant`'s rows of `table` after key `after`, in key
/// order, until `f` returns false. Returns whether the table was finished.
fn each_tenant_row(
    txn: &Transaction,
    table: &TableDef,
    tenant: uuid::Uuid,
    after: Option<&[u8]>,
    mut f: impl FnMut(Vec<u8>, Vec<Value>) -> Result<bool>,
) -> Result<bool> {
    let col = table.tenant_column.expect("tenant-scoped");
    let id = Value::Uuid(tenant);
    // With the tenant column first in the key, the tenant's rows are a range.
    let prefix = if table.primary_key.first() == Some(&col) {
        let mut p = row_key(table, &[]);
        crate::types::encoding::encode_key_value(&id, &mut p);
        p
    } else {
        row_key(table, &[])
    };
    let start = match after {
        Some(k) => Bound::Excluded(k.to_vec()),
        None => Bound::Included(prefix.clone()),
    };
    let end = prefix_end(&prefix)
        .map(Bound::Excluded)
        .unwrap_or(Bound::Unbounded);
    for kv in txn.scan(start, end, false)? {
        let (k, v) = kv?;
        let row = decode_table_row(table, &v)?;
        if row[col] != id {
            continue;
        }
        if !f(k, row)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// How many rows `tenant` has in `tables`, as `txn` sees them.
pub fn count_rows(txn: &Transaction, tables: &Tables, tenant: uuid::Uuid) -> Result<u64> {
    let mut n = 0;
    for (_, t) in tables {
        each_tenant_row(txn, t, tenant, None, |_, _| {
            n += 1;
            Ok(true)
        })?;
    }
    Ok(n)
}

/// `row` as `to`'s row (the tenant column rewritten).
fn as_tenant(table: &TableDef, mut row: Vec<Value>, to: uuid::Uuid) -> Vec<Value> {
    row[table.tenant_column.expect("tenant-scoped")] = Value::Uuid(to);
    row
}

/// An order-independent checksum of each table's rows of `tenant` (the
/// tenant column left out, so two tenants with the same rows agree), as
/// `txn` sees them: the wrapping sum of a 64-bit hash of each row.
pub fn checksums(
    txn: &Transaction,
    tables: &Tables,
    tenant: uuid::Uuid,
) -> Result<Vec<TableChecksum>> {
    let mut out = Vec::new();
    for (_, t) in tables {
        let mut c = TableChecksum {
            table: t.qualified_name(),
            rows: 0,
            checksum: 0,
        };
        let col = t.tenant_column.expect("tenant-scoped");
        let mut buf = Vec::new();
        each_tenant_row(txn, t, tenant, None, |_, mut row| {
            row[col] = Value::Null;
            buf.clear();
            crate::types::encoding::encode_row(&row, &mut buf);
            c.rows += 1;
            c.checksum = c.checksum.wrapping_add(row_hash(&buf));
            Ok(true)
        })?;
        out.push(c);
    }
    out.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(out)
}

/// FNV-1a over the bytes, then a 64-bit finalizer (splitmix64) so that
/// sums of hashes of similar rows do not cancel out.
fn row_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Starts the snapshot: lists the tables, counts the source's rows and
/// records the LSN `read` (the snapshot's transaction) sees.
pub fn begin_snapshot(read: &Transaction, tables: &Tables, m: &mut Migration) -> Result<()> {
    m.snapshot_lsn = visible_lsn(read)?;
    m.applied_lsn = m.snapshot_lsn;
    m.total_rows = count_rows(read, tables, m.source)?;
    m.rows_copied = 0;
    m.tables = tables
        .iter()
        .map(|(c, t)| TableCopy {
            db: c.database,
            table_id: t.id,
            name: t.qualified_name(),
            done: false,
            last_key: None,
            rows: 0,
        })
        .collect();
    m.state = State::Snapshotting;
    Ok(())
}

/// Copies up to `limit` more source rows (read in `read`, the snapshot) as
/// the target's, in `txn`. Returns true when every table is copied.
pub fn copy_batch(
    read: &Transaction,
    txn: &mut Transaction,
    env: &dyn EvalEnv,
    tables: &Tables,
    m: &mut Migration,
    limit: usize,
) -> Result<bool> {
    let mut budget = limit;
    for copy in m.tables.iter_mut().filter(|c| !c.done) {
        let Some((catalog, table)) = tables
            .iter()
            .find(|(c, t)| c.database == copy.db && t.id == copy.table_id)
        else {
            // Dropped since: nothing left to copy.
            copy.done = true;
            continue;
        };
        let mut ops = Vec::new();
        let mut last = None;
        let finished =
            each_tenant_row(read, table, m.source, copy.last_key.as_deref(), |k, row| {
                // The target is empty where the copy goes (a snapshot starts
                // on an empty target and copies each key once).
                ops.push(ApplyOp::Insert(as_tenant(table, row, m.target)));
                last = Some(k);
                Ok(ops.len() < budget)
            })?;
        let n = ops.len() as u64;
        apply_rows(txn, catalog, env, table, ops)?;
        copy.rows += n;
        m.rows_copied += n;
        budget -= n as usize;
        if last.is_some() {
            copy.last_key = last;
        }
        copy.done = finished;
        if budget == 0 {
            break;
        }
    }
    Ok(m.tables.iter().all(|c| c.done))
}

/// A primary-key value from its JSON in a change event.
fn json_value(v: &serde_json::Value, ty: &DataType) -> Result<Value> {
    let v = match v {
        serde_json::Value::Null => return Ok(Value::Null),
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Number(n) => Value::Text(n.to_string()),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        other => Value::Jsonb(other.clone()),
    };
    v.cast(ty)
}

/// Applies the source's changes after `applied_lsn` that `txn` sees to the
/// target. Returns how many changes it read.
pub fn catch_up(
    txn: &mut Transaction,
    env: &dyn EvalEnv,
    tables: &Tables,
    m: &mut Migration,
) -> Result<u64> {
    let upto = visible_lsn(txn)?;
    // Every change after the position: the source's rows, and TRUNCATEs
    // (which name no tenant).
    let events = super::read_where(
        txn,
        m.applied_lsn,
        |op, tenant| op == OP_TRUNCATE || tenant == Some(m.source),
        |_| true,
        usize::MAX,
    )?;
    // The keys each table's changes touched (source keys), or None for the
    // whole table after a TRUNCATE.
    let mut touched: BTreeMap<(u32, u32), Option<BTreeSet<Vec<u8>>>> = BTreeMap::new();
    let mut read = 0;
    for e in &events {
        let truncate = e.op == "truncate";
        if !truncate && e.tenant_id != Some(m.source) {
            continue;
        }
        let Some((_, table)) = tables
            .iter()
            .find(|(c, t)| c.database == e.database && t.qualified_name() == e.table)
        else {
            continue;
        };
        read += 1;
        let slot = touched
            .entry((e.database, table.id))
            .or_insert_with(|| Some(BTreeSet::new()));
        if truncate {
            *slot = None;
            continue;
        }
        let Some(keys) = slot else { continue };
        let mut row = vec![Value::Null; table.columns.len()];
        for &c in &table.primary_key {
            let col = &table.columns[c];
            row[c] = json_value(&e.pk[&col.name], &col.ty)?;
        }
        keys.insert(row_key(table, &pk_suffix(table, &row, None)));
    }
    for ((db, id), keys) in touched {
        let Some((catalog, table)) = tables.iter().find(|(c, t)| c.database == db && t.id == id)
        else {
            continue;
        };
        let col = table.tenant_column.expect("tenant-scoped");
        let mut removes = Vec::new();
        let mut puts = Vec::new();
        match keys {
            Some(keys) => {
                for key in keys {
                    let row = match txn.get(&key)? {
                        Some(v) => Some(decode_table_row(table, &v)?),
                        None => None,
                    };
                    let target_key = {
                        let mut r = match &row {
                            Some(r) => r.clone(),
                            None => key_row(table, &key)?,
                        };
                        r[col] = Value::Uuid(m.target);
                        row_key(table, &pk_suffix(table, &r, None))
                    };
                    match row {
                        Some(r) if r[col] == Value::Uuid(m.source) => {
                            puts.push((target_key, as_tenant(table, r, m.target)))
                        }
                        _ => removes.push(target_key),
                    }
                }
            }
            None => {
                // Resynchronise the whole table.
                each_tenant_row(txn, table, m.target, None, |k, _| {
                    removes.push(k);
                    Ok(true)
                })?;
                each_tenant_row(txn, table, m.source, None, |_, r| {
                    let r = as_tenant(table, r, m.target);
                    puts.push((row_key(table, &pk_suffix(table, &r, None)), r));
                    Ok(true)
                })?;
            }
        }
        apply_changes(txn, env, catalog, table, removes, puts)?;
    }
    m.changes_applied += read;
    m.applied_lsn = m.applied_lsn.max(upto);
    Ok(read)
}

/// The row (primary-key columns only) a row key stands for.
fn key_row(table: &TableDef, key: &[u8]) -> Result<Vec<Value>> {
    let pk = crate::sql::executor::scan::pk_of_key(key);
    let (values, _) = crate::types::encoding::decode_key(
        pk,
        &table
            .primary_key
            .iter()
            .map(|&c| table.columns[c].ty.clone())
            .collect::<Vec<_>>(),
    )?;
    let mut row = vec![Value::Null; table.columns.len()];
    for (&c, v) in table.primary_key.iter().zip(values) {
        row[c] = v;
    }
    Ok(row)
}

/// Removes and puts target rows: in place first; if that collides on a
/// unique index (two rows swapped a value), every touched row is removed
/// before any is written again.
fn apply_changes(
    txn: &mut Transaction,
    env: &dyn EvalEnv,
    catalog: &Catalog,
    table: &TableDef,
    removes: Vec<Vec<u8>>,
    puts: Vec<(Vec<u8>, Vec<Value>)>,
) -> Result<()> {
    const SP: &str = "helios_migration_apply";
    txn.savepoint(SP);
    let mut ops: Vec<ApplyOp> = removes.iter().cloned().map(ApplyOp::Delete).collect();
    ops.extend(puts.iter().map(|(_, r)| ApplyOp::Put(r.clone())));
    match apply_rows(txn, catalog, env, table, ops) {
        Ok(_) => txn.release_savepoint(SP),
        Err(e) if e.code == SqlState::UNIQUE_VIOLATION => {
            txn.rollback_to_savepoint(SP)?;
            txn.release_savepoint(SP)?;
            let mut ops: Vec<ApplyOp> = removes.into_iter().map(ApplyOp::Delete).collect();
            ops.extend(puts.iter().map(|(k, _)| ApplyOp::Delete(k.clone())));
            ops.extend(puts.into_iter().map(|(_, r)| ApplyOp::Put(r)));
            apply_rows(txn, catalog, env, table, ops).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Removes up to `limit` of `tenant`'s rows from `tables`; returns how many.
pub fn clear_tenant(
    txn: &mut Transaction,
    env: &dyn EvalEnv,
    tables: &Tables,
    tenant: uuid::Uuid,
    limit: usize,
) -> Result<u64> {
    let mut removed = 0;
    for (catalog, table) in tables {
        let mut keys = Vec::new();
        each_tenant_row(txn, table, tenant, None, |k, _| {
            keys.push(ApplyOp::Delete(k));
            Ok(keys.len() < limit - removed as usize)
        })?;
        removed += apply_rows(txn, catalog, env, table, keys)?;
        if removed as usize >= limit {
            break;
        }
    }
    Ok(removed)
}

/// Verifies: checksums of both tenants at `txn`'s snapshot (after a
/// catch-up in it). Records them; Err names the tables that differ.
pub fn verify(txn: &Transaction, tables: &Tables, m: &mut Migration) -> Result<bool> {
    let source = checksums(txn, tables, m.source)?;
    let target = checksums(txn, tables, m.target)?;
    m.checksums = source.into_iter().zip(target).collect();
    let differ: Vec<&str> = m
        .checksums
        .iter()
        .filter(|(s, t)| s.rows != t.rows || s.checksum != t.checksum)
        .map(|(s, _)| s.table.as_str())
        .collect();
    if differ.is_empty() {
        Ok(true)
    } else {
        m.error = Some(format!("checksums differ for {}", differ.join(", ")));
        Ok(false)
    }
}
