//! Online tenant migration through SQL and the maintenance thread (the
//! state machine and the data work are in `cdc::migration`):
//! `helios.start_migration(source, target [, cutover])`,
//! `helios.pause_migration(id)`, `helios.resume_migration(id)`,
//! `helios.rollback_migration(id)`, the view `helios.migrations` and the
//! table function `helios.tenant_checksum(tenant)`.
//!
//! Migrations are managed by superusers and CREATEROLE roles (who manage
//! tenants). A role bound to a tenant may checksum its own tenant.

use super::changes::micros_ts;
use super::{Session, StmtEnv};
use crate::catalog::{Catalog, TableDef};
use crate::cdc::consumers;
use crate::cdc::migration::{self as mig, Migration, State};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::EvalEnv;
use crate::txn::{IsolationLevel, Transaction};
use crate::types::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Source rows copied per snapshot step (one transaction each).
const COPY_BATCH: usize = 20_000;
/// Target rows removed per step when a snapshot starts over.
const CLEAR_BATCH: usize = 50_000;
/// How long completion waits for the source's writers in flight before it
/// gives up and tries again at the next step (the fence is not held
/// meanwhile).
const FENCE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
/// A replicating migration verifies once a step applies no more changes
/// than this (it has caught up).
const CAUGHT_UP: u64 = 100;

fn denied(what: &str) -> Error {
    Error::new(
        SqlState::INSUFFICIENT_PRIVILEGE,
        format!("permission denied to {what}"),
    )
    .with_hint("Superusers and CREATEROLE roles manage migrations.")
}

fn state_error(m: &Migration, what: &str) -> Error {
    Error::new(
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("migration {} is {}: it cannot {what}", m.id, m.state.name()),
    )
}

/// `helios.migrations`: every migration (for managers of tenants).
pub(super) fn migration_rows(env: &StmtEnv, txn: &Transaction) -> Result<Vec<Vec<Value>>> {
    if !env.catalog.manages_tenants(env.identity.current_user()) {
        return Err(denied("read migrations"));
    }
    let mut rows = Vec::new();
    for m in mig::list(txn)? {
        let checksums: Vec<serde_json::Value> = m
            .checksums
            .iter()
            .map(|(s, t)| {
                serde_json::json!({
                    "table": s.table,
                    "source_rows": s.rows,
                    "source": format!("{:016x}", s.checksum),
                    "target_rows": t.rows,
                    "target": format!("{:016x}", t.checksum),
                })
            })
            .collect();
        // The source's changes not applied yet, once replication has
        // started (a scan from the applied position: while the snapshot is
        // copied, that would be the copy's own writes too).
        let replicating =
            |s: Option<State>| matches!(s, Some(State::Replicating | State::Verifying));
        let lag = if replicating(Some(m.state))
            || (m.state == State::Paused && replicating(m.paused_from))
        {
            Value::Int8(crate::cdc::count_tenant_changes(txn, m.applied_lsn, m.source)? as i64)
        } else {
            Value::Null
        };
        rows.push(vec![
            Value::Int8(m.id as i64),
            Value::Text(m.source_name.clone()),
            Value::Text(m.target_name.clone()),
            Value::Text(m.state.name().into()),
            Value::Bool(m.cutover),
            Value::Int8(m.snapshot_lsn as i64),
            Value::Int8(m.applied_lsn as i64),
            lag,
            Value::Int8(m.total_rows as i64),
            Value::Int8(m.rows_copied as i64),
            Value::Int8(m.changes_applied as i64),
            Value::Jsonb(serde_json::Value::Array(checksums)),
            m.error.clone().map(Value::Text).unwrap_or(Value::Null),
            micros_ts(m.created_at),
            micros_ts(m.updated_at),
            m.completed_at.map(micros_ts).unwrap_or(Value::Null),
        ]);
    }
    Ok(rows)
}

/// The tenant-scoped tables of every database, newest catalogs.
pub(super) fn migration_tables(
    db: &super::database::DbInner,
    root: &Arc<Catalog>,
) -> Result<Vec<(Arc<Catalog>, Arc<TableDef>)>> {
    let mut out = Vec::new();
    let mut ids: Vec<u32> = root.databases.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let c = if id == root.database {
            root.clone()
        } else {
            super::database::latest_catalog(db, id)?
        };
        let mut tables: Vec<Arc<TableDef>> = c
            .tables
            .values()
            .filter(|t| t.tenant_column.is_some() && !t.is_temp())
            .cloned()
            .collect();
        tables.sort_by_key(|t| t.id);
        out.extend(tables.into_iter().map(|t| (c.clone(), t)));
    }
    Ok(out)
}

/// `helios.tenant_checksum(tenant)`: per tenant-scoped table, the tenant's
/// row count and order-independent checksum at the statement's snapshot.
pub(super) fn checksum_rows(
    env: &StmtEnv,
    args: &[Value],
    txn: &Transaction,
) -> Result<Vec<Vec<Value>>> {
    let cat = env.catalog;
    let name = match &args[0] {
        Value::Null => {
            return Err(Error::new(
                SqlState::NULL_VALUE_NOT_ALLOWED,
                "argument \"tenant\" must not be null",
            ));
        }
        v => v.to_string(),
    };
    let tenant = cat.tenant_named(&name)?.id;
    let user = env.identity.current_user();
    let own = cat.roles.get(&user).and_then(|r| r.tenant);
    if !cat.manages_tenants(user) && own != Some(tenant) {
        return Err(denied("checksum this tenant"));
    }
    let root = super::database::latest_catalog(env.db, cat.database)?;
    let tables = migration_tables(env.db, &root)?;
    Ok(mig::checksums(txn, &tables, tenant)?
        .into_iter()
        .map(|c| {
            vec![
                Value::Text(c.table),
                Value::Int8(c.rows as i64),
                Value::Text(format!("{:016x}", c.checksum)),
            ]
        })
        .collect())
}

impl Session {
    fn require_migration_admin(&mut self, what: &str) -> Result<()> {
        let cat = self.catalog()?;
        if cat.manages_tenants(self.identity.current_user()) {
            Ok(())
        } else {
            Err(denied(what))
        }
    }

    /// Runs `f` on the statement's transaction with an evaluation
    /// environment and the tenant-scoped tables of every database.
    fn with_migration_env<R>(
        &mut self,
        f: impl FnOnce(&mut Transaction, &dyn EvalEnv, &mig::Tables) -> Result<R>,
    ) -> Result<R> {
        let catalog = self.catalog()?;
        let tables = migration_tables(&self.db, &catalog)?;
        let search_path = self.search_path(&catalog);
        let mut t = self.txn.take().expect("transaction started");
        let result = {
            let env = StmtEnv::new(self, &catalog, &search_path, &t.start);
            f(&mut t.txn, &env, &tables)
        };
        self.txn = Some(t);
        result
    }

    /// `helios.start_migration(source, target [, cutover])`: the new
    /// migration's id. The target is created (with the source's tier) if it
    /// does not exist, and must have no rows.
    pub(super) fn start_migration(
        &mut self,
        source: &str,
        target: &str,
        cutover: bool,
    ) -> Result<i64> {
        self.require_migration_admin("start migrations")?;
        let cat = self.catalog()?;
        let s = cat.tenant_named(source)?.clone();
        if s.moved_to.is_some() {
            return Err(Error::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("tenant \"{}\" was moved by an earlier migration", s.name),
            ));
        }
        let (t_id, t_name, created) = match cat.tenant_named(target) {
            Ok(t) => (t.id, t.name.clone(), false),
            Err(_) => {
                let tier = s.tier.clone();
                let id = self.with_ddl(|ctx| ctx.create_tenant(target, Some(&tier)))?;
                (id, target.to_string(), true)
            }
        };
        if t_id == s.id {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "a tenant cannot be migrated to itself",
            ));
        }
        self.with_migration_env(|txn, _, tables| {
            mig::check_tables(tables)?;
            for m in mig::list(txn)? {
                if m.state.finished() {
                    continue;
                }
                if cutover && m.cutover && m.source == s.id {
                    return Err(Error::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!(
                            "migration {} already cuts \"{}\" over to \"{}\"",
                            m.id, m.source_name, m.target_name
                        ),
                    )
                    .with_hint("One migration of a source may cut over; start this one without cutover."));
                }
                if m.target == t_id || m.target == s.id || m.source == t_id {
                    return Err(Error::new(
                        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!(
                            "migration {} from \"{}\" to \"{}\" is not finished",
                            m.id, m.source_name, m.target_name
                        ),
                    )
                    .with_hint("A tenant can be the target of one migration at a time, and a target cannot be a source."));
                }
            }
            if mig::count_rows(txn, tables, t_id)? > 0 {
                return Err(Error::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("target tenant \"{t_name}\" is not empty"),
                ));
            }
            let id = mig::next_id(txn)?;
            let mut m = mig::new_record(id, (s.id, &s.name), (t_id, &t_name), created, cutover);
            mig::put(txn, &mut m)?;
            Ok(id as i64)
        })
    }

    /// `helios.pause_migration(id)`.
    pub(super) fn pause_migration(&mut self, id: i64) -> Result<()> {
        self.require_migration_admin("pause migrations")?;
        self.with_migration_env(|txn, _, _| {
            let mut m = mig::lock(txn, id as u64)?;
            match m.state {
                State::Paused => return Ok(()),
                s if s.running() => {
                    m.paused_from = Some(s);
                    m.state = State::Paused;
                }
                _ => return Err(state_error(&m, "be paused")),
            }
            mig::put(txn, &mut m)
        })
    }

    /// `helios.resume_migration(id)`: a paused migration goes on where it
    /// was; a failed one starts over.
    pub(super) fn resume_migration(&mut self, id: i64) -> Result<()> {
        self.require_migration_admin("resume migrations")?;
        self.with_migration_env(|txn, _, _| {
            let mut m = mig::lock(txn, id as u64)?;
            match m.state {
                State::Paused => {
                    m.state = m.paused_from.take().unwrap_or(State::Pending);
                }
                State::Failed => {
                    m.state = State::Pending;
                    m.error = None;
                }
                s if s.running() => return Ok(()),
                _ => return Err(state_error(&m, "be resumed")),
            }
            mig::put(txn, &mut m)
        })
    }

    /// `helios.rollback_migration(id)`: removes the target's copied rows
    /// (and the target, if the migration created it); the source is not
    /// touched.
    pub(super) fn rollback_migration(&mut self, id: i64) -> Result<()> {
        self.require_migration_admin("roll back migrations")?;
        let m = self.with_migration_env(|txn, env, tables| {
            let mut m = mig::lock(txn, id as u64)?;
            if m.state.finished() {
                return Err(state_error(&m, "be rolled back"));
            }
            mig::clear_tenant(txn, env, tables, m.target, usize::MAX)?;
            consumers::drop(txn, &m.consumer(), true)?;
            m.state = State::RolledBack;
            m.paused_from = None;
            m.completed_at = Some(consumers::now_micros());
            mig::put(txn, &mut m)?;
            Ok(m)
        })?;
        if m.target_created {
            let cat = self.catalog()?;
            if let Some(t) = cat.tenant_by_id(m.target) {
                let name = t.name.clone();
                self.with_ddl(|ctx| ctx.drop_tenant(&name, true))?;
            }
        }
        Ok(())
    }

    /// Advances every running migration by one step (the maintenance
    /// thread's work); `held` keeps the snapshots of those copying. Returns
    /// whether any step did something.
    pub(crate) fn run_migrations(&mut self, held: &mut HashMap<u64, Transaction>) -> Result<bool> {
        let txn = self
            .db
            .txns
            .begin_read_only(IsolationLevel::ReadCommitted)?;
        let all = mig::list(&txn);
        txn.rollback();
        let all = all?;
        // Snapshots are kept while their migration runs or is paused.
        held.retain(|id, _| {
            all.iter()
                .any(|m| m.id == *id && (m.state.running() || m.state == State::Paused))
        });
        let mut worked = false;
        for m in all.iter().filter(|m| m.state.running()) {
            match self.migration_step(m.id, held) {
                Ok(w) => worked |= w,
                // Conflicts, and a fence that could not close: next time.
                Err(e) if e.is_retryable() || e.code == SqlState::LOCK_NOT_AVAILABLE => {
                    worked = true
                }
                Err(e) => {
                    tracing::warn!("migration {} failed: {e}", m.id);
                    held.remove(&m.id);
                    self.fail_migration(m.id, &e)?;
                }
            }
        }
        Ok(worked)
    }

    /// One step of migration `id`, in a transaction of its own.
    fn migration_step(&mut self, id: u64, held: &mut HashMap<u64, Transaction>) -> Result<bool> {
        self.begin_txn(false, Some(IsolationLevel::ReadCommitted))?;
        let r = self.step_in_txn(id, held);
        match r {
            Ok(worked) => {
                self.end_txn(true)?;
                Ok(worked)
            }
            Err(e) => {
                let _ = self.end_txn(false);
                Err(e)
            }
        }
    }

    fn step_in_txn(&mut self, id: u64, held: &mut HashMap<u64, Transaction>) -> Result<bool> {
        let txns = self.db.txns.clone();
        let (m, cutover) = self.with_migration_env(|txn, env, tables| {
            let mut m = mig::lock(txn, id)?;
            let mut cutover = false;
            match m.state {
                State::Pending => {
                    // What an interrupted snapshot left goes first.
                    if mig::clear_tenant(txn, env, tables, m.target, CLEAR_BATCH)? > 0 {
                        m.rows_copied = 0;
                        mig::put(txn, &mut m)?;
                        return Ok((m, false));
                    }
                    mig::check_tables(tables)?;
                    let mut read = txns.begin(IsolationLevel::RepeatableRead)?;
                    read.begin_statement()?;
                    mig::begin_snapshot(&read, tables, &mut m)?;
                    consumers::drop(txn, &m.consumer(), true)?;
                    consumers::create(txn, &m.consumer(), m.snapshot_lsn, None)?;
                    held.insert(id, read);
                }
                State::Snapshotting => match held.get(&id) {
                    // Its snapshot is gone (a restart): start over.
                    None => {
                        m.state = State::Pending;
                        m.tables.clear();
                    }
                    Some(read) => {
                        if mig::copy_batch(read, txn, env, tables, &mut m, COPY_BATCH)? {
                            m.state = State::Replicating;
                            if let Some(r) = held.remove(&id) {
                                r.rollback();
                            }
                        }
                    }
                },
                State::Replicating => {
                    let n = mig::catch_up(txn, env, tables, &mut m)?;
                    consumers::ack(txn, &m.consumer(), m.applied_lsn, txns.last_lsn())?;
                    if n <= CAUGHT_UP {
                        m.state = State::Verifying;
                    }
                }
                State::Verifying => {
                    mig::catch_up(txn, env, tables, &mut m)?;
                    if !mig::verify(txn, tables, &mut m)? {
                        m.state = State::Failed;
                        consumers::drop(txn, &m.consumer(), true)?;
                    } else {
                        // The fence: the source's writers in flight end,
                        // new ones wait; then the last changes.
                        crate::tenant::fence::close(txn, m.source, FENCE_PATIENCE)?;
                        txn.refresh_snapshot()?;
                        mig::catch_up(txn, env, tables, &mut m)?;
                        consumers::drop(txn, &m.consumer(), true)?;
                        m.state = State::Completed;
                        m.completed_at = Some(consumers::now_micros());
                        cutover = m.cutover;
                    }
                }
                _ => return Ok((m, false)),
            }
            mig::put(txn, &mut m)?;
            Ok((m, cutover))
        })?;
        if cutover {
            let retired = format!("{}_premigration_{}", m.source_name, m.id);
            self.with_ddl(|ctx| ctx.cutover_tenant(m.source, m.target, &retired))?;
        }
        Ok(true)
    }

    /// Records that migration `id` failed with `e` (its own transaction).
    fn fail_migration(&mut self, id: u64, e: &Error) -> Result<()> {
        self.begin_txn(false, Some(IsolationLevel::ReadCommitted))?;
        let r = self.with_migration_env(|txn, _, _| {
            let mut m = mig::lock(txn, id)?;
            if !m.state.running() {
                return Ok(());
            }
            m.state = State::Failed;
            m.error = Some(format!("{} ({})", e.message, e.sqlstate()));
            consumers::drop(txn, &m.consumer(), true)?;
            mig::put(txn, &mut m)
        });
        self.end_txn(r.is_ok())?;
        r
    }
}
