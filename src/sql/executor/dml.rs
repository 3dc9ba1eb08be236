//! INSERT, UPDATE and DELETE: constraint checks, index maintenance, row
//! locks and RETURNING.
//!
//! Every statement first materialises the rows it will change (so it never
//! sees its own writes while reading: no Halloween problem), then changes
//! them one by one:
//!
//! 1. take the row's exclusive lock ([`Transaction::lock_for_write`]); if a
//!    transaction that committed after our snapshot changed the row, READ
//!    COMMITTED re-reads the newest version and re-checks the WHERE clause,
//!    REPEATABLE READ fails with 40001;
//! 2. compute the new row, apply assignment casts, NOT NULL and CHECK;
//! 3. check uniqueness against the newest committed data plus our own
//!    writes, holding a lock on the unique key so concurrent inserters of the
//!    same key wait for each other;
//! 4. write the row and its index entries;
//! 5. run referential actions for rows that reference a deleted or re-keyed
//!    row (CASCADE, SET NULL, SET DEFAULT, RESTRICT / NO ACTION).
//!
//! Foreign-key checks of new rows run at the end of the statement, as
//! PostgreSQL's RI triggers do, so a statement may insert rows that refer to
//! each other. MERGE (`merge`) joins its source to the target and runs each
//! pair's action through the same steps.

pub(crate) mod apply;
mod merge;

use super::ExecCtx;
use super::index_keys::IndexKeys;
use super::scan::{KeyedRow, decode_table_row, filtered_rows, pk_of_key, pk_suffix, row_key};
use crate::catalog::keys::{PRIMARY_INDEX, index_prefix, table_lock_key};
use crate::catalog::{Catalog, FkAction, ForeignKeyDef, IndexDef, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::rls::RlsCheck;
use crate::sql::binder::{
    ConflictAction, DeletePlan, DmlPlan, InsertPlan, OnConflict, Returning, UpdatePlan,
};
use crate::sql::expr::{EvalCtx, EvalEnv, Expr, Subquery, SubqueryEval};
use crate::sql::functions::BoundDomain;
use crate::storage::prefix_end;
use crate::tenant::usage::UsageDelta;
use crate::txn::changes;
use crate::txn::locks::LockMode;
use crate::txn::{Transaction, WriteCheck};
use crate::types::Value;
use crate::types::encoding::encode_row;
use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

/// Result of a data-changing statement.
#[derive(Debug, Default)]
pub struct DmlOutcome {
    pub count: u64,
    /// RETURNING rows (empty without RETURNING).
    pub rows: Vec<Vec<Value>>,
}

/// Runs an INSERT, UPDATE or DELETE plan inside `txn`.
pub fn execute_dml(
    plan: &DmlPlan,
    txn: &mut Transaction,
    catalog: &Catalog,
    params: &[Value],
    env: &dyn EvalEnv,
) -> Result<DmlOutcome> {
    execute_dml_in(plan, txn, catalog, params, env, Default::default(), None)
}

/// Foreign-key checks that parts of one statement leave for its end (see
/// [`execute_dml_in`]): PostgreSQL checks them after the whole statement.
#[derive(Default)]
pub struct DeferredChecks {
    fk_checks: Vec<(Arc<TableDef>, usize, Vec<Value>)>,
    no_action: Vec<NoActionCheck>,
    /// A part ran under row-level security: errors print no values.
    hide_values: bool,
}

/// Runs an INSERT, UPDATE or DELETE plan as part of a statement whose
/// `state` it shares: the work tables of the statement's data-modifying
/// WITH queries, and the results of its uncorrelated subqueries. A row
/// another part of the statement already changed
/// ([`Transaction::written_in_statement`]) is not changed again, as in
/// PostgreSQL. With `defer`, the foreign-key checks of the rows written are
/// added to it instead of run ([`run_deferred_checks`] runs them).
pub fn execute_dml_in(
    plan: &DmlPlan,
    txn: &mut Transaction,
    catalog: &Catalog,
    params: &[Value],
    env: &dyn EvalEnv,
    state: std::rc::Rc<super::StatementState>,
    defer: Option<&mut DeferredChecks>,
) -> Result<DmlOutcome> {
    let track_inserts = matches!(
        plan,
        DmlPlan::Insert(InsertPlan {
            on_conflict: Some(OnConflict {
                action: ConflictAction::Update { .. },
                ..
            }),
            ..
        })
    );
    let mut w = Writer::new(txn, catalog, params, env, state, track_inserts);
    // Under row-level security an integrity error, or a view's CHECK OPTION
    // failure, must not print values (of the new row, or of a row the user
    // may not see), as in PostgreSQL.
    let hide_values = match plan {
        DmlPlan::Insert(p) => !p.rls.is_empty(),
        DmlPlan::Update(p) => !p.rls.is_empty(),
        DmlPlan::Delete(p) => p.rls,
        DmlPlan::Merge(p) => p.rls,
    };
    w.hide_values = hide_values;
    let run = |w: &mut Writer| -> Result<()> {
        match plan {
            DmlPlan::Insert(p) => w.insert(p)?,
            DmlPlan::Update(p) => w.update(p)?,
            DmlPlan::Delete(p) => w.delete(p)?,
            DmlPlan::Merge(p) => w.merge(p)?,
        }
        match defer {
            Some(d) => {
                d.fk_checks.append(&mut w.fk_checks);
                d.no_action.append(&mut w.no_action);
                d.hide_values |= hide_values;
                Ok(())
            }
            None => w.run_fk_checks(),
        }
    };
    let run = |w: &mut Writer| -> Result<()> {
        run(w)?;
        let usage = std::mem::take(&mut w.usage);
        usage.apply(w.txn, w.catalog, w.env.quotas_enforced(), &|t| {
            w.env.storage_rejected(t)
        })
    };
    match run(&mut w) {
        Ok(()) => Ok(w.out),
        Err(e) => Err(hidden_values(e, hide_values)),
    }
}

/// Runs the foreign-key checks the parts of a statement deferred.
pub fn run_deferred_checks(
    checks: DeferredChecks,
    txn: &mut Transaction,
    catalog: &Catalog,
    params: &[Value],
    env: &dyn EvalEnv,
    state: std::rc::Rc<super::StatementState>,
) -> Result<()> {
    let mut w = Writer::new(txn, catalog, params, env, state, false);
    w.fk_checks = checks.fk_checks;
    w.no_action = checks.no_action;
    w.hide_values = checks.hide_values;
    w.run_fk_checks()
        .map_err(|e| hidden_values(e, checks.hide_values))
}

/// `e` without the values its detail prints, when `hide` and it is an
/// integrity error or a CHECK OPTION failure.
fn hidden_values(mut e: Error, hide: bool) -> Error {
    if hide && (e.code.code().starts_with("23") || e.code == SqlState::WITH_CHECK_OPTION_VIOLATION)
        // A foreign-key violation's detail leaves the key out itself
        // (see `Writer::shown_key`).
        && e.code != SqlState::FOREIGN_KEY_VIOLATION
    {
        e.detail = None;
    }
    e
}

/// What a new row must satisfy: the table's CHECK constraints, its
/// row-level security checks, and the CHECK OPTION of the view it is
/// written through.
type RowChecks<'c> = (
    &'c [(String, Expr)],
    &'c [RlsCheck],
    Option<&'c (String, Expr)>,
);

/// A deferred NO ACTION check: (parent, child, fk index, old referenced values).
type NoActionCheck = (Arc<TableDef>, Arc<TableDef>, usize, Vec<Value>);

/// A target row, its key and the joined FROM/USING row.
type JoinedTarget = (Vec<u8>, Vec<Value>, Vec<Value>);

struct Writer<'a> {
    txn: &'a mut Transaction,
    catalog: &'a Catalog,
    params: &'a [Value],
    env: &'a dyn EvalEnv,
    /// Row keys written by this statement.
    touched: HashSet<Vec<u8>>,
    /// Whether inserted rows join `touched` (needed by ON CONFLICT DO UPDATE).
    track_inserts: bool,
    /// Deferred foreign-key checks: (child table, fk index, row).
    fk_checks: Vec<(Arc<TableDef>, usize, Vec<Value>)>,
    /// Deferred NO ACTION checks: (parent, child, fk index, old referenced values).
    no_action: Vec<NoActionCheck>,
    out: DmlOutcome,
    /// Results of uncorrelated subqueries in the statement.
    cache: std::rc::Rc<super::StatementState>,
    /// Entries of the indexes of the tables written.
    keys: IndexKeys<'a>,
    /// Constraints of the domains of columns written, bound on first use.
    domains: std::cell::RefCell<std::collections::HashMap<u32, Arc<BoundDomain>>>,
    /// Bytes of tenant-scoped rows and index entries written and removed.
    usage: UsageDelta,
    /// Errors must not print row values (row-level security applies).
    hide_values: bool,
    /// Tenants whose write fence this statement has entered.
    fenced: HashSet<uuid::Uuid>,
    /// The change layout of the table captured last (table id, layout id):
    /// the statement's catalog does not change, so neither does a table's
    /// layout; a multi-row statement computes and checks it once.
    last_layout: Option<(u32, u64)>,
}

enum Conflict {
    /// The conflicting row's key and the constraint name.
    Row(Vec<u8>, String),
}

fn key_detail(table: &TableDef, cols: &[usize], row: &[Value]) -> String {
    let names: Vec<&str> = cols
        .iter()
        .map(|&c| table.columns[c].name.as_str())
        .collect();
    let vals: Vec<Value> = cols.iter().map(|&c| row[c].clone()).collect();
    key_detail_values(&names, &vals)
}

/// `(a, b)=(1, 2)`, as PostgreSQL shows a key in an error's detail.
pub(crate) fn key_detail_values(names: &[&str], vals: &[Value]) -> String {
    let vals: Vec<String> = vals
        .iter()
        .map(|v| {
            if v.is_null() {
                "null".to_string()
            } else {
                v.to_string()
            }
        })
        .collect();
    format!("({})=({})", names.join(", "), vals.join(", "))
}

/// The names of an index's keys as PostgreSQL shows them in a key detail:
/// column names, and expressions as written.
pub(crate) fn index_key_names(table: &TableDef, ix: &IndexDef) -> Vec<String> {
    if ix.keys.is_empty() {
        return ix
            .columns
            .iter()
            .map(|&c| table.columns[c].name.clone())
            .collect();
    }
    ix.keys
        .iter()
        .map(|k| match (&k.expr, k.column) {
            (Some(e), _) => e.clone(),
            (None, Some(c)) => table.columns[c].name.clone(),
            (None, None) => String::new(),
        })
        .collect()
}

fn failing_row(row: &[Value]) -> String {
    let vals: Vec<String> = row
        .iter()
        .map(|v| {
            if v.is_null() {
                "null".to_string()
            } else {
                v.to_string()
            }
        })
        .collect();
    format!("Failing row contains ({}).", vals.join(", "))
}

impl SubqueryEval for Writer<'_> {
    fn eval_subquery(
        &self,
        sq: &Subquery,
        lhs: Option<Value>,
        row: &[Value],
        ctx: &EvalCtx,
    ) -> Result<Value> {
        let exec = ExecCtx {
            txn: self.txn,
            params: self.params,
            env: self.env,
            outer: None,
            cache: self.cache.clone(),
        };
        exec.eval_subquery(sq, lhs, row, ctx)
    }
}

impl<'a> Writer<'a> {
    fn new(
        txn: &'a mut Transaction,
        catalog: &'a Catalog,
        params: &'a [Value],
        env: &'a dyn EvalEnv,
        cache: std::rc::Rc<super::StatementState>,
        track_inserts: bool,
    ) -> Writer<'a> {
        Writer {
            txn,
            catalog,
            params,
            env,
            touched: HashSet::new(),
            track_inserts,
            fk_checks: Vec::new(),
            no_action: Vec::new(),
            out: DmlOutcome::default(),
            cache,
            keys: IndexKeys::new(catalog),
            domains: Default::default(),
            usage: UsageDelta::default(),
            hide_values: false,
            fenced: HashSet::new(),
            last_layout: None,
        }
    }

    /// `Key (a, b)=(1, 2)` for a foreign-key violation's detail, or just
    /// `Key` when values must not be printed (as PostgreSQL: "Key is not
    /// present in table \"t\".").
    fn shown_key(&self, table: &TableDef, cols: &[usize], row: &[Value]) -> String {
        if self.hide_values {
            "Key".into()
        } else {
            format!("Key {}", key_detail(table, cols, row))
        }
    }

    fn ectx(&self) -> EvalCtx<'_> {
        EvalCtx {
            params: self.params,
            env: self.env,
            outer: None,
            subqueries: Some(self),
        }
    }

    fn lock_table(&mut self, table: &TableDef) -> Result<()> {
        self.txn.lock(&table_lock_key(table.id), LockMode::Shared)?;
        Ok(())
    }

    /// Materialises the rows a scan yields (with keys).
    fn collect_scan(&self, scan: &crate::sql::plan::Scan) -> Result<Vec<KeyedRow>> {
        let ctx = ExecCtx {
            txn: self.txn,
            params: self.params,
            env: self.env,
            outer: None,
            cache: self.cache.clone(),
        };
        filtered_rows(self.txn, scan, &ctx, true)?.collect()
    }

    /// The target rows of an UPDATE or DELETE: those its scan yields, or
    /// with `WHERE CURRENT OF cursor` the row the cursor is on, if it still
    /// exists and the scan's filter (its row-level security) lets it through.
    fn target_rows(
        &self,
        scan: &crate::sql::plan::Scan,
        current_of: Option<&str>,
    ) -> Result<Vec<KeyedRow>> {
        let Some(cursor) = current_of else {
            return self.collect_scan(scan);
        };
        let key = self.env.current_of(cursor, &scan.table)?;
        let Some(bytes) = self.txn.get(&key)? else {
            return Ok(Vec::new());
        };
        let row = decode_table_row(&scan.table, &bytes)?;
        if let Some(f) = &scan.filter
            && !f.eval_pred(&row, &self.ectx())?
        {
            return Ok(Vec::new());
        }
        Ok(vec![(key, row)])
    }

    fn collect_plan(&self, plan: &crate::sql::plan::Plan) -> Result<Vec<Vec<Value>>> {
        let ctx = ExecCtx {
            txn: self.txn,
            params: self.params,
            env: self.env,
            outer: None,
            cache: self.cache.clone(),
        };
        let rows = super::execute(plan, &ctx)?;
        let mut out = Vec::with_capacity(rows.size_hint().0.max(1));
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// Assignment casts, NOT NULL and CHECK constraints of a new row.
    fn prepare(
        &self,
        table: &TableDef,
        row: Vec<Value>,
        checks: &[(String, Expr)],
        rls: &[RlsCheck],
    ) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(row.len());
        for (v, c) in row.into_iter().zip(&table.columns) {
            let v = if v.is_null() || v.data_type() == c.ty {
                v
            } else {
                v.coerce_to(&c.ty)?
            };
            if let Some(d) = c.domain {
                let bound = self.domain(d)?;
                let ectx = EvalCtx::new(self.params, self.env);
                let of_elements =
                    self.catalog.domains.get(&d).is_some_and(|def| {
                        crate::sql::binder::domain::is_array_of_domain(&c.ty, def)
                    });
                match &v {
                    Value::Array(_, items) if of_elements => {
                        for item in items {
                            bound.check(item, &ectx)?;
                        }
                    }
                    _ if of_elements => {}
                    _ => bound.check(&v, &ectx)?,
                }
            }
            out.push(v);
        }
        // Row-level security first, as in PostgreSQL: a constraint error
        // would print the values of a row the policies reject.
        self.check_rls(table, &out, rls)?;
        for (v, c) in out.iter().zip(&table.columns) {
            if v.is_null() && !c.nullable {
                return Err(Error::new(
                    SqlState::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                        c.name, table.name
                    ),
                )
                .with_detail(failing_row(&out)));
            }
        }
        let ectx = self.ectx();
        for (name, pred) in checks {
            if let Value::Bool(false) = pred.eval(&out, &ectx)? {
                return Err(Error::new(
                    SqlState::CHECK_VIOLATION,
                    format!(
                        "new row for relation \"{}\" violates check constraint \"{name}\"",
                        table.name
                    ),
                )
                .with_detail(failing_row(&out)));
            }
        }
        Ok(out)
    }

    /// A view's CHECK OPTION on a row written through it (NULL fails too:
    /// the row must be visible in the view).
    fn check_view(&self, view_check: Option<&(String, Expr)>, row: &[Value]) -> Result<()> {
        let Some((view, cond)) = view_check else {
            return Ok(());
        };
        if cond.eval_pred(row, &self.ectx())? {
            return Ok(());
        }
        Err(Error::new(
            SqlState::WITH_CHECK_OPTION_VIOLATION,
            format!("new row violates check option for view \"{view}\""),
        )
        .with_detail(failing_row(row)))
    }

    /// Fails with 42501 unless `row` passes every row-level security check.
    fn check_rls(&self, table: &TableDef, row: &[Value], rls: &[RlsCheck]) -> Result<()> {
        if rls.is_empty() {
            return Ok(());
        }
        let ectx = self.ectx();
        for c in rls {
            if !c.expr.eval_pred(row, &ectx)? {
                return Err(c.violation(&table.name));
            }
        }
        Ok(())
    }

    /// The bound constraints of domain `id`.
    fn domain(&self, id: u32) -> Result<Arc<BoundDomain>> {
        if let Some(d) = self.domains.borrow().get(&id) {
            return Ok(d.clone());
        }
        let def = self
            .catalog
            .domains
            .get(&id)
            .ok_or_else(|| Error::internal(format!("domain {id} missing from catalog")))?;
        let d = crate::sql::binder::Binder::new(self.catalog, &[]).bind_domain(def)?;
        self.domains.borrow_mut().insert(id, d.clone());
        Ok(d)
    }

    fn has_unique_indexes(&self, table: &TableDef) -> bool {
        self.unique_indexes(table).next().is_some()
    }

    fn unique_indexes(&self, table: &TableDef) -> impl Iterator<Item = &'a Arc<IndexDef>> + 'a {
        self.catalog.index_iter(table.id).filter(|i| i.unique)
    }

    /// Finds a row that conflicts with `row` (key `pk`) on the primary key
    /// or a unique index, locking the keys checked. `own` is the row's
    /// current key when it is being updated; `skip_pk` and `changed_indexes`
    /// leave out constraints an update does not change. `only` limits the
    /// check to the named constraints (ON CONFLICT's arbiters).
    #[allow(clippy::too_many_arguments)]
    fn find_conflict(
        &mut self,
        table: &TableDef,
        row: &[Value],
        pk: &[u8],
        own: Option<&[u8]>,
        skip_pk: bool,
        changed_indexes: Option<&[u32]>,
        only: Option<&[String]>,
    ) -> Result<Option<Conflict>> {
        let pk_name = || {
            table
                .pk_name
                .clone()
                .unwrap_or_else(|| format!("{}_pkey", table.name))
        };
        let check_pk = !skip_pk && only.is_none_or(|names| names.contains(&pk_name()));
        if !table.primary_key.is_empty() && check_pk {
            let key = row_key(table, pk);
            if Some(key.as_slice()) != own {
                self.txn.lock(&key, LockMode::Exclusive)?;
                if self.txn.get_latest(&key)?.is_some() {
                    return Ok(Some(Conflict::Row(key, pk_name())));
                }
            }
        }
        let catalog = self.catalog;
        for ix in catalog.index_iter(table.id).filter(|i| i.unique) {
            if let Some(ch) = changed_indexes
                && !ch.contains(&ix.id)
            {
                continue;
            }
            if only.is_some_and(|names| !names.contains(&ix.name)) {
                continue;
            }
            let ectx = EvalCtx::new(self.params, self.env);
            let Some((vk, has_null)) = self.keys.values_key(table, ix, row, &ectx)? else {
                continue;
            };
            if has_null {
                continue;
            }
            self.txn.lock(&vk, LockMode::Exclusive)?;
            let end = prefix_end(&vk)
                .map(Bound::Excluded)
                .unwrap_or(Bound::Unbounded);
            for kv in self
                .txn
                .scan_latest(Bound::Included(vk.clone()), end, false)?
            {
                let (_, other_pk) = kv?;
                if other_pk != pk {
                    return Ok(Some(Conflict::Row(
                        row_key(table, &other_pk),
                        ix.name.clone(),
                    )));
                }
            }
        }
        Ok(None)
    }

    fn unique_error(&self, table: &TableDef, constraint: &str, row: &[Value]) -> Error {
        let detail = if table.pk_name.as_deref() == Some(constraint) {
            key_detail(table, &table.primary_key, row)
        } else {
            let ix = self
                .catalog
                .index_iter(table.id)
                .find(|i| i.name == constraint);
            let ectx = EvalCtx::new(self.params, self.env);
            match ix.map(|ix| (ix, self.keys.values(table, ix, row, &ectx))) {
                Some((ix, Ok(Some(vals)))) => {
                    let names = index_key_names(table, ix);
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    key_detail_values(&names, &vals)
                }
                _ => key_detail(table, &[], row),
            }
        };
        Error::new(
            SqlState::UNIQUE_VIOLATION,
            format!("duplicate key value violates unique constraint \"{constraint}\""),
        )
        .with_detail(format!("Key {detail} already exists."))
    }

    /// Captures a row change for the change log (see `txn::changes`):
    /// the row's tenant and the operation in the entry's head, then the
    /// table's layout (its names, stored once) and the row before and
    /// after as the table stores rows; readers turn them into JSON. The
    /// entry's bytes count towards the tenant's storage. Temporary tables,
    /// and tables whose capture is off, are left out.
    /// `stored`: the after image as `encode_row` gave it, if the caller
    /// has it (the row it writes).
    fn capture(
        &mut self,
        table: &TableDef,
        op: &str,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
        stored: Option<&[u8]>,
    ) -> Result<()> {
        if table.is_temp() || table.capture_off {
            return Ok(());
        }
        let row = after.or(before).unwrap_or(&[]);
        let tenant = table.tenant_column.and_then(|c| match row.get(c) {
            Some(Value::Uuid(t)) => Some(*t),
            _ => None,
        });
        let layout = match self.last_layout {
            Some((id, layout)) if id == table.id => layout,
            _ => {
                let mgr = self.txn.manager();
                let layout = self.catalog.change_layout(table, || {
                    let layout = change_layout(table);
                    let id = layout.id();
                    mgr.put_once(&changes::layout_key(id), || {
                        serde_json::to_vec(&layout).expect("a layout serializes")
                    })?;
                    Ok(id)
                })?;
                self.last_layout = Some((table.id, layout));
                layout
            }
        };
        let mut len = 0;
        self.txn.capture_with(|buf| {
            let start = buf.len();
            change_payload(buf, layout, tenant, op, before, after, stored);
            len = buf.len() - start;
        })?;
        if let Some(t) = tenant {
            self.usage.add_log(t, changes::entry_bytes(len));
        }
        Ok(())
    }

    /// Counts `bytes` for the tenant of `row` if `table` is tenant-scoped,
    /// entering the tenant's write fence with its first row.
    fn account(&mut self, table: &TableDef, row: &[Value], bytes: i64) -> Result<()> {
        if let Some(c) = table.tenant_column
            && let Some(Value::Uuid(t)) = row.get(c)
        {
            if !self.fenced.contains(t) {
                crate::tenant::fence::enter(self.txn, *t)?;
                self.fenced.insert(*t);
            }
            self.usage.add(*t, bytes);
        }
        Ok(())
    }

    /// Writes a new row and its index entries.
    fn write_new(&mut self, table: &TableDef, pk: &[u8], row: &[Value]) -> Result<()> {
        let key = row_key(table, pk);
        let mut buf = Vec::with_capacity(64);
        encode_row(row, &mut buf);
        if self.track_inserts {
            self.touched.insert(key.clone());
        }
        let mut bytes = key.len() + buf.len();
        let ectx = EvalCtx::new(self.params, self.env);
        for ix in self.catalog.index_iter(table.id) {
            if let Some(k) = self.keys.entry_key(table, ix, row, pk, &ectx)? {
                bytes += k.len() + pk.len();
                self.txn.put(k, pk.to_vec());
            }
        }
        self.account(table, row, bytes as i64)?;
        self.capture(table, "insert", None, Some(row), Some(&buf))?;
        self.txn.put(key, buf);
        Ok(())
    }

    fn remove(&mut self, table: &TableDef, key: &[u8], row: &[Value]) -> Result<()> {
        let pk = pk_of_key(key).to_vec();
        let ectx = EvalCtx::new(self.params, self.env);
        let mut bytes = 0;
        for ix in self.catalog.index_iter(table.id) {
            if let Some(k) = self.keys.entry_key(table, ix, row, &pk, &ectx)? {
                bytes += k.len() + pk.len();
                self.txn.delete(k);
            }
        }
        if table.tenant_column.is_some() {
            let mut buf = Vec::with_capacity(64);
            encode_row(row, &mut buf);
            bytes += key.len() + buf.len();
            self.account(table, row, -(bytes as i64))?;
        }
        self.txn.delete(key.to_vec());
        self.capture(table, "delete", Some(row), None, None)
    }

    /// Replaces a row, maintaining indexes; returns the new key.
    fn rewrite(
        &mut self,
        table: &TableDef,
        key: &[u8],
        old: &[Value],
        new: &[Value],
        new_pk: &[u8],
    ) -> Result<Vec<u8>> {
        let old_pk = pk_of_key(key).to_vec();
        let new_key = row_key(table, new_pk);
        if new_key != key {
            self.txn.delete(key.to_vec());
        }
        let mut buf = Vec::with_capacity(64);
        encode_row(new, &mut buf);
        let tenant_scoped = table.tenant_column.is_some();
        let (mut old_bytes, mut new_bytes) = (0, new_key.len() + buf.len());
        if tenant_scoped {
            let mut old_buf = Vec::with_capacity(64);
            encode_row(old, &mut old_buf);
            old_bytes = key.len() + old_buf.len();
        }
        let ectx = EvalCtx::new(self.params, self.env);
        for ix in self.catalog.index_iter(table.id) {
            let ok = self.keys.entry_key(table, ix, old, &old_pk, &ectx)?;
            let nk = self.keys.entry_key(table, ix, new, new_pk, &ectx)?;
            if tenant_scoped {
                old_bytes += ok.as_ref().map_or(0, |k| k.len() + old_pk.len());
                new_bytes += nk.as_ref().map_or(0, |k| k.len() + new_pk.len());
            }
            if ok != nk {
                if let Some(ok) = ok {
                    self.txn.delete(ok);
                }
                if let Some(nk) = nk {
                    self.txn.put(nk, new_pk.to_vec());
                }
            }
        }
        if tenant_scoped {
            self.account(table, old, -(old_bytes as i64))?;
            self.account(table, new, new_bytes as i64)?;
        }
        self.capture(table, "update", Some(old), Some(new), Some(&buf))?;
        self.txn.put(new_key.clone(), buf);
        self.touched.insert(new_key.clone());
        Ok(new_key)
    }

    fn queue_fk_checks(&mut self, table: &Arc<TableDef>, row: &[Value], old: Option<&[Value]>) {
        for (i, fk) in table.foreign_keys.iter().enumerate() {
            if let Some(old) = old
                && fk.columns.iter().all(|&c| old[c] == row[c])
            {
                continue;
            }
            if fk.columns.iter().any(|&c| row[c].is_null()) {
                continue;
            }
            self.fk_checks.push((table.clone(), i, row.to_vec()));
        }
    }

    /// Finds rows of `table` whose `cols` equal `vals` (newest committed data
    /// plus own writes), using an index on those columns when there is one.
    fn rows_matching(
        &self,
        table: &TableDef,
        cols: &[usize],
        vals: &[Value],
    ) -> Result<Vec<KeyedRow>> {
        let mut out = Vec::new();
        if !table.primary_key.is_empty() && table.primary_key == cols {
            let mut pk = Vec::new();
            for (v, &c) in vals.iter().zip(cols) {
                let v = v.clone().cast(&table.columns[c].ty)?;
                crate::types::encoding::encode_key_value(&v, &mut pk);
            }
            let key = row_key(table, &pk);
            if let Some(bytes) = self.txn.get_latest(&key)? {
                out.push((key, decode_table_row(table, &bytes)?));
            }
            return Ok(out);
        }
        let index = self
            .catalog
            .plain_indexes_of(table.id)
            .into_iter()
            .find(|i| i.columns.len() >= cols.len() && i.columns[..cols.len()] == *cols);
        let matches = |row: &[Value]| {
            cols.iter()
                .zip(vals)
                .all(|(&c, v)| row[c].sql_cmp(v) == Some(std::cmp::Ordering::Equal))
        };
        match index {
            Some(ix) => {
                let mut p = index_prefix(table.id, ix.id);
                for (v, &c) in vals.iter().zip(cols) {
                    let v = v.clone().cast(&table.columns[c].ty)?;
                    crate::types::encoding::encode_key_value(&v, &mut p);
                }
                let end = prefix_end(&p)
                    .map(Bound::Excluded)
                    .unwrap_or(Bound::Unbounded);
                for kv in self.txn.scan_latest(Bound::Included(p), end, false)? {
                    let (_, pk) = kv?;
                    let key = row_key(table, &pk);
                    if let Some(bytes) = self.txn.get_latest(&key)? {
                        let row = decode_table_row(table, &bytes)?;
                        if matches(&row) {
                            out.push((key, row));
                        }
                    }
                }
            }
            None => {
                let p = index_prefix(table.id, PRIMARY_INDEX);
                let end = prefix_end(&p)
                    .map(Bound::Excluded)
                    .unwrap_or(Bound::Unbounded);
                for kv in self.txn.scan_latest(Bound::Included(p), end, false)? {
                    let (key, bytes) = kv?;
                    let row = decode_table_row(table, &bytes)?;
                    if matches(&row) {
                        out.push((key, row));
                    }
                }
            }
        }
        Ok(out)
    }

    fn run_fk_checks(&mut self) -> Result<()> {
        // NO ACTION: referencing rows may not outlive the statement.
        for (parent, child, i, vals) in std::mem::take(&mut self.no_action) {
            let fk = &child.foreign_keys[i];
            if self.rows_matching(&child, &fk.columns, &vals)?.is_empty()
                || !self
                    .rows_matching(&parent, &fk.ref_columns, &vals)?
                    .is_empty()
            {
                continue;
            }
            let names: Vec<&str> = fk
                .ref_columns
                .iter()
                .map(|&c| parent.columns[c].name.as_str())
                .collect();
            let key = if self.hide_values {
                "Key".to_string()
            } else {
                format!("Key {}", key_detail_values(&names, &vals))
            };
            return Err(Error::new(
                SqlState::FOREIGN_KEY_VIOLATION,
                format!(
                    "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                    parent.name, fk.name, child.name
                ),
            )
            .with_detail(format!(
                "{key} is still referenced from table \"{}\".",
                child.name
            )));
        }
        let checks = std::mem::take(&mut self.fk_checks);
        for (table, i, row) in checks {
            let fk = &table.foreign_keys[i];
            let parent = self.catalog.table(fk.ref_table)?.clone();
            let vals: Vec<Value> = fk.columns.iter().map(|&c| row[c].clone()).collect();
            let found = self.rows_matching(&parent, &fk.ref_columns, &vals)?;
            match found.first() {
                Some((key, _)) => {
                    // Keep the referenced row from being deleted until we commit.
                    let key = key.clone();
                    self.txn.lock(&key, LockMode::Shared)?;
                    if self.txn.get_latest(&key)?.is_none() {
                        let key = self.shown_key(&table, &fk.columns, &row);
                        return Err(fk_missing(&table, fk, &parent, key));
                    }
                }
                None => {
                    let key = self.shown_key(&table, &fk.columns, &row);
                    return Err(fk_missing(&table, fk, &parent, key));
                }
            }
        }
        Ok(())
    }

    /// Referential actions when a referenced row is deleted (`new` None) or
    /// its referenced columns change.
    fn parent_changed(
        &mut self,
        parent: &Arc<TableDef>,
        old: &[Value],
        new: Option<&[Value]>,
        depth: usize,
    ) -> Result<()> {
        if depth > 64 {
            return Err(Error::new(
                SqlState::STATEMENT_TOO_COMPLEX,
                "foreign-key cascade is nested too deeply",
            ));
        }
        for child in self.catalog.referencing(parent.id) {
            for fk in child
                .foreign_keys
                .iter()
                .filter(|f| f.ref_table == parent.id)
            {
                if let Some(new) = new
                    && fk.ref_columns.iter().all(|&c| old[c] == new[c])
                {
                    continue;
                }
                let vals: Vec<Value> = fk.ref_columns.iter().map(|&c| old[c].clone()).collect();
                if vals.iter().any(|v| v.is_null()) {
                    continue;
                }
                let action = if new.is_some() {
                    fk.on_update
                } else {
                    fk.on_delete
                };
                if action == FkAction::NoAction {
                    let i = child
                        .foreign_keys
                        .iter()
                        .position(|f| f.name == fk.name)
                        .expect("fk of child");
                    self.no_action
                        .push((parent.clone(), child.clone(), i, vals));
                    continue;
                }
                let rows = self.rows_matching(&child, &fk.columns, &vals)?;
                for (key, crow) in rows {
                    if self.txn.lock_for_write(&key)? == WriteCheck::Changed
                        && self.txn.get_latest(&key)?.is_none()
                    {
                        continue;
                    }
                    match action {
                        FkAction::NoAction | FkAction::Restrict => {
                            // RESTRICT fails at once (NO ACTION was deferred above).
                            return Err(Error::new(
                                SqlState::FOREIGN_KEY_VIOLATION,
                                format!(
                                    "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                                    parent.name, fk.name, child.name
                                ),
                            )
                            .with_detail(format!(
                                "{} is still referenced from table \"{}\".",
                                self.shown_key(parent, &fk.ref_columns, old),
                                child.name
                            )));
                        }
                        FkAction::Cascade => match new {
                            None => {
                                self.remove(&child, &key, &crow)?;
                                self.parent_changed(&child, &crow, None, depth + 1)?;
                            }
                            Some(new) => {
                                let mut nrow = crow.clone();
                                for (&cc, &pc) in fk.columns.iter().zip(&fk.ref_columns) {
                                    nrow[cc] = new[pc].clone();
                                }
                                self.child_rewrite(&child, &key, &crow, nrow, depth)?;
                            }
                        },
                        FkAction::SetNull | FkAction::SetDefault => {
                            let mut nrow = crow.clone();
                            for &cc in &fk.columns {
                                nrow[cc] = if action == FkAction::SetNull {
                                    Value::Null
                                } else {
                                    let b = crate::sql::binder::Binder::new(self.catalog, &[]);
                                    b.column_default(&child, cc)?.eval(&[], &self.ectx())?
                                };
                            }
                            self.child_rewrite(&child, &key, &crow, nrow, depth)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn child_rewrite(
        &mut self,
        child: &Arc<TableDef>,
        key: &[u8],
        old: &[Value],
        nrow: Vec<Value>,
        depth: usize,
    ) -> Result<()> {
        let nrow = self.prepare(child, nrow, &[], &[])?;
        let pk = if child.primary_key.is_empty() {
            pk_of_key(key).to_vec()
        } else {
            pk_suffix(child, &nrow, None)
        };
        self.rewrite(child, key, old, &nrow, &pk)?;
        self.queue_fk_checks(child, &nrow, Some(old));
        self.parent_changed(child, old, Some(&nrow), depth + 1)
    }

    fn push_returning(
        &mut self,
        ret: &Option<Returning>,
        cur: &[Value],
        old: Option<&[Value]>,
        new: Option<&[Value]>,
        extra: &[Value],
    ) -> Result<()> {
        let Some(r) = ret else { return Ok(()) };
        let n = cur.len();
        let mut row = Vec::with_capacity(3 * n + extra.len());
        row.extend_from_slice(cur);
        match old {
            Some(o) => row.extend_from_slice(o),
            None => row.extend(std::iter::repeat_n(Value::Null, n)),
        }
        match new {
            Some(o) => row.extend_from_slice(o),
            None => row.extend(std::iter::repeat_n(Value::Null, n)),
        }
        row.extend_from_slice(extra);
        let ectx = self.ectx();
        let out = Expr::eval_all(&r.exprs, &row, &ectx)?;
        self.out.rows.push(out);
        Ok(())
    }

    fn insert(&mut self, p: &InsertPlan) -> Result<()> {
        let table = &p.table;
        self.lock_table(table)?;
        let rows = self.collect_plan(&p.source)?;
        for row in rows {
            let row = self.prepare(table, row, &p.checks, &p.rls)?;
            self.check_view(p.view_check.as_ref(), &row)?;
            let rowid = match table.rowid_seq {
                Some(seq) if table.primary_key.is_empty() => Some(self.env.nextval(seq)?),
                _ => None,
            };
            let pk = pk_suffix(table, &row, rowid);
            // ON CONFLICT with arbiters checks them first; a conflict on
            // another constraint is then an error, as in PostgreSQL.
            let arbiters = p
                .on_conflict
                .as_ref()
                .filter(|oc| !oc.any)
                .map(|oc| oc.arbiters.as_slice());
            let mut conflict = self.find_conflict(table, &row, &pk, None, false, None, arbiters)?;
            if conflict.is_none() && arbiters.is_some() {
                if let Some(Conflict::Row(_, constraint)) =
                    self.find_conflict(table, &row, &pk, None, false, None, None)?
                {
                    return Err(self.unique_error(table, &constraint, &row));
                }
                conflict = None;
            }
            match conflict {
                None => {
                    self.write_new(table, &pk, &row)?;
                    self.queue_fk_checks(table, &row, None);
                    self.out.count += 1;
                    self.push_returning(&p.returning, &row, None, Some(&row), &[])?;
                }
                Some(Conflict::Row(existing, constraint)) => {
                    let Some(oc) = &p.on_conflict else {
                        return Err(self.unique_error(table, &constraint, &row));
                    };
                    match &oc.action {
                        ConflictAction::Nothing => {}
                        ConflictAction::Update {
                            assignments,
                            filter,
                        } => {
                            // Also a row another part of the statement wrote
                            // (a data-modifying WITH query), as in PostgreSQL.
                            if self.touched.contains(&existing)
                                || self.txn.written_in_statement(&existing)
                            {
                                return Err(Error::new(
                                    SqlState::CARDINALITY_VIOLATION,
                                    "ON CONFLICT DO UPDATE command cannot affect row a second time",
                                )
                                .with_hint("Ensure that no rows proposed for insertion within the same command have duplicate constrained values."));
                            }
                            if self.txn.lock_for_write(&existing)? == WriteCheck::Changed {
                                // The conflicting row is locked now; re-read its newest version.
                            }
                            let Some(bytes) = self.txn.get_latest(&existing)? else {
                                return Err(Error::serialization_failure());
                            };
                            let old = decode_table_row(table, &bytes)?;
                            // The conflicting row must be one the role may update.
                            self.check_rls(table, &old, &p.rls_conflict)?;
                            let mut both = old.clone();
                            both.extend_from_slice(&row);
                            let ectx = self.ectx();
                            if let Some(f) = filter
                                && !f.eval_pred(&both, &ectx)?
                            {
                                continue;
                            }
                            let mut new = old.clone();
                            for (c, e) in assignments {
                                new[*c] = e.eval(&both, &ectx)?;
                            }
                            self.apply_update(
                                table,
                                &existing,
                                &old,
                                new,
                                (&p.checks, &p.rls_update, p.view_check.as_ref()),
                                &p.returning,
                                &[],
                            )?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Updates one locked row: constraints, uniqueness, write, referential actions, RETURNING.
    #[allow(clippy::too_many_arguments)]
    fn apply_update(
        &mut self,
        table: &Arc<TableDef>,
        key: &[u8],
        old: &[Value],
        new: Vec<Value>,
        (checks, rls, view_check): RowChecks<'_>,
        returning: &Option<Returning>,
        extra: &[Value],
    ) -> Result<()> {
        let new = self.prepare(table, new, checks, rls)?;
        self.check_view(view_check, &new)?;
        let pk = if table.primary_key.is_empty() {
            pk_of_key(key).to_vec()
        } else {
            pk_suffix(table, &new, None)
        };
        let pk_changed = row_key(table, &pk) != key;
        let changed: Vec<u32> = self
            .unique_indexes(table)
            .filter(|ix| ix.columns.iter().any(|&c| old[c] != new[c]))
            .map(|ix| ix.id)
            .collect();
        if let Some(Conflict::Row(_, constraint)) = self.find_conflict(
            table,
            &new,
            &pk,
            Some(key),
            !pk_changed,
            Some(&changed),
            None,
        )? {
            return Err(self.unique_error(table, &constraint, &new));
        }
        self.rewrite(table, key, old, &new, &pk)?;
        self.queue_fk_checks(table, &new, Some(old));
        self.parent_changed(table, old, Some(&new), 0)?;
        self.out.count += 1;
        self.push_returning(returning, &new, Some(old), Some(&new), extra)
    }

    /// Locks a target row; returns its current version if it should still be processed.
    fn lock_target(
        &mut self,
        table: &TableDef,
        key: &[u8],
        row: Vec<Value>,
        recheck: Option<&Expr>,
    ) -> Result<Option<Vec<Value>>> {
        match self.txn.lock_for_write(key)? {
            WriteCheck::Unchanged => Ok(Some(row)),
            WriteCheck::Changed => {
                let Some(bytes) = self.txn.get_latest(key)? else {
                    return Ok(None);
                };
                let row = decode_table_row(table, &bytes)?;
                if let Some(f) = recheck
                    && !f.eval_pred(&row, &self.ectx())?
                {
                    return Ok(None);
                }
                Ok(Some(row))
            }
        }
    }

    /// Pairs each target row with the first FROM/USING row that passes the filter.
    fn join_targets(
        &self,
        targets: Vec<KeyedRow>,
        other: Option<&crate::sql::plan::Plan>,
        filter: Option<&Expr>,
    ) -> Result<Vec<JoinedTarget>> {
        let Some(other) = other else {
            return Ok(targets
                .into_iter()
                .map(|(k, r)| (k, r, Vec::new()))
                .collect());
        };
        let others = self.collect_plan(other)?;
        let ectx = self.ectx();
        let mut out = Vec::new();
        for (k, r) in targets {
            for o in &others {
                let mut both = r.clone();
                both.extend_from_slice(o);
                let pass = match filter {
                    Some(f) => f.eval_pred(&both, &ectx)?,
                    None => true,
                };
                if pass {
                    out.push((k.clone(), r.clone(), o.clone()));
                    break;
                }
            }
        }
        Ok(out)
    }

    fn update(&mut self, p: &UpdatePlan) -> Result<()> {
        let table = &p.table;
        self.lock_table(table)?;
        let targets = self.target_rows(&p.scan, p.current_of.as_deref())?;
        let targets = self.join_targets(targets, p.from.as_ref(), p.filter.as_ref())?;
        for (key, row, other) in targets {
            if self.touched.contains(&key) || self.txn.written_in_statement(&key) {
                continue;
            }
            let Some(row) = self.lock_target(table, &key, row, p.scan.filter.as_ref())? else {
                continue;
            };
            let mut both = row.clone();
            both.extend_from_slice(&other);
            let ectx = self.ectx();
            let mut new = row.clone();
            for (c, e) in &p.assignments {
                new[*c] = e.eval(&both, &ectx)?;
            }
            self.apply_update(
                table,
                &key,
                &row,
                new,
                (&p.checks, &p.rls, p.view_check.as_ref()),
                &p.returning,
                &other,
            )?;
        }
        Ok(())
    }

    fn delete(&mut self, p: &DeletePlan) -> Result<()> {
        let table = &p.table;
        self.lock_table(table)?;
        let targets = self.target_rows(&p.scan, p.current_of.as_deref())?;
        let targets = self.join_targets(targets, p.using.as_ref(), p.filter.as_ref())?;
        for (key, row, other) in targets {
            if self.touched.contains(&key) || self.txn.written_in_statement(&key) {
                continue;
            }
            let Some(row) = self.lock_target(table, &key, row, p.scan.filter.as_ref())? else {
                continue;
            };
            self.remove(table, &key, &row)?;
            self.touched.insert(key.clone());
            self.parent_changed(table, &row, None, 0)?;
            self.out.count += 1;
            self.push_returning(&p.returning, &row, Some(&row), None, &other)?;
        }
        Ok(())
    }
}

/// `key` is [`Writer::shown_key`]'s text.
fn fk_missing(table: &TableDef, fk: &ForeignKeyDef, parent: &TableDef, key: String) -> Error {
    Error::new(
        SqlState::FOREIGN_KEY_VIOLATION,
        format!(
            "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
            table.name, fk.name
        ),
    )
    .with_detail(format!(
        "{key} is not present in table \"{}\".",
        parent.name
    ))
}

/// `table`'s [`changes::Layout`].
fn change_layout(table: &TableDef) -> changes::Layout {
    changes::Layout {
        db: table.database,
        table_id: table.id,
        table: table.qualified_name(),
        columns: table.columns.iter().map(|c| c.name.clone()).collect(),
        pk: table.primary_key.clone(),
    }
}

/// Appends to `buf` the change-log payload of one row change: its head
/// (`changes::write_head`), then the binary body (`changes::ROW_BODY`):
/// the layout, and the images as `encode_row` stores rows. Capture is on
/// the path of every write, so nothing here builds JSON; readers do.
fn change_payload(
    buf: &mut Vec<u8>,
    layout: u64,
    tenant: Option<uuid::Uuid>,
    op: &str,
    before: Option<&[Value]>,
    after: Option<&[Value]>,
    stored: Option<&[u8]>,
) {
    changes::write_head(buf, op, tenant);
    let flags = u8::from(before.is_some()) | (u8::from(after.is_some()) << 1);
    buf.extend_from_slice(&[changes::ROW_BODY, flags]);
    buf.extend_from_slice(&layout.to_le_bytes());
    if let Some(row) = before {
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        encode_row(row, buf);
        let len = (buf.len() - at - 4) as u32;
        buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    match (stored, after) {
        (Some(bytes), _) => buf.extend_from_slice(bytes),
        (None, Some(row)) => encode_row(row, buf),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ColumnDef;
    use crate::txn::changes::ChangeRecord;
    use crate::types::DataType;

    fn table(columns: &[(&str, DataType)], primary_key: Vec<usize>) -> TableDef {
        TableDef {
            id: 16_384,
            database: 1,
            schema: "public".into(),
            name: "t \"quoted\" é".into(),
            columns: columns
                .iter()
                .map(|(n, ty)| ColumnDef {
                    name: n.to_string(),
                    ty: ty.clone(),
                    nullable: true,
                    default: None,
                    identity: None,
                    domain: None,
                })
                .collect(),
            primary_key,
            pk_name: None,
            rowid_seq: None,
            checks: vec![],
            foreign_keys: vec![],
            owner: 10,
            acl: None,
            rls: Default::default(),
            tenant_column: None,
            on_commit: None,
            capture_off: false,
        }
    }

    /// The record as capture built it when images were JSON: values from
    /// `to_json`.
    fn reference(
        table: &TableDef,
        tenant: Option<uuid::Uuid>,
        op: &str,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
    ) -> Result<ChangeRecord> {
        use crate::sql::functions::to_json;
        let image = |row: Option<&[Value]>| -> Result<serde_json::Value> {
            let Some(row) = row else {
                return Ok(serde_json::Value::Null);
            };
            let mut m = serde_json::Map::new();
            for (c, v) in table.columns.iter().zip(row) {
                m.insert(c.name.clone(), to_json(v)?);
            }
            Ok(serde_json::Value::Object(m))
        };
        let row = after.or(before).unwrap_or(&[]);
        let pk = if table.primary_key.is_empty() {
            serde_json::Value::Null
        } else {
            let mut pk = serde_json::Map::new();
            for &c in &table.primary_key {
                if let Some(v) = row.get(c) {
                    pk.insert(table.columns[c].name.clone(), to_json(v)?);
                }
            }
            serde_json::Value::Object(pk)
        };
        Ok(ChangeRecord {
            db: table.database,
            table_id: table.id,
            table: table.qualified_name(),
            tenant,
            op: op.to_string(),
            pk,
            before: image(before)?,
            after: image(after)?,
        })
    }

    /// The record a reader gets from the payload capture writes.
    fn payload(
        table: &TableDef,
        tenant: Option<uuid::Uuid>,
        op: &str,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
    ) -> Result<ChangeRecord> {
        let mut buf = Vec::new();
        let id = change_layout(table).id();
        change_payload(&mut buf, id, tenant, op, before, after, None);
        if let Some(row) = after {
            // The same bytes when the caller passes the stored row.
            let mut stored = Vec::new();
            encode_row(row, &mut stored);
            let mut again = Vec::new();
            change_payload(&mut again, id, tenant, op, before, after, Some(&stored));
            assert_eq!(again, buf);
        }
        let record = serde_json::to_vec(&change_layout(table)).unwrap();
        let layout: changes::Layout = serde_json::from_slice(&record).unwrap();
        assert_eq!(layout.id(), id);
        crate::cdc::decode_payload(&buf, |got| {
            assert_eq!(got, id);
            Ok(Arc::new(layout))
        })
    }

    #[test]
    fn change_payloads_read_back_as_the_json_records() {
        let types = [
            ("id", DataType::Int8),
            ("k2", DataType::Int2),
            ("b", DataType::Bool),
            ("i", DataType::Int4),
            ("f4", DataType::Float4),
            ("f8", DataType::Float8),
            ("n", DataType::Numeric(None)),
            ("t", DataType::Text),
            ("bytes", DataType::Bytea),
            ("d", DataType::Date),
            ("tm", DataType::Time),
            ("ts", DataType::Timestamp),
            ("tz", DataType::Timestamptz),
            ("iv", DataType::Interval),
            ("u", DataType::Uuid),
            ("j", DataType::Json),
            ("jb", DataType::Jsonb),
            ("a", DataType::Array(Box::new(DataType::Text))),
            ("\"odd\" name\n", DataType::Text),
        ];
        let texts = [
            [
                "-9223372036854775808",
                "-7",
                "true",
                "2147483647",
                "1.5",
                "-2.5e300",
                "123456789.000000001",
                "quote \" backslash \\ newline \n tab \t bell \u{7} é 😀",
                "\\x00ff10",
                "2024-02-29",
                "23:59:59.123456",
                "2024-02-29 12:34:56.789",
                "2024-02-29 12:34:56.789+02",
                "1 year 2 mons 3 days 04:05:06.7",
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "{ \"z\": 1,  \"a\": [true, null, \"x\"] }",
                "{\"z\": 1, \"a\": {\"c\": 2.50, \"b\": \"é\"}}",
                "{\"a\",NULL,\"b c\"}",
                "",
            ],
            [
                "0",
                "0",
                "false",
                "-1",
                "NaN",
                "Infinity",
                "-0.0",
                "",
                "\\x",
                "1970-01-01",
                "00:00",
                "1970-01-01",
                "1970-01-01 00:00+00",
                "0",
                "00000000-0000-0000-0000-000000000000",
                "null",
                "[]",
                "{}",
                "x",
            ],
        ];
        let rows: Vec<Vec<Value>> = texts
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&types)
                    .map(|(text, (_, ty))| Value::parse(text, ty).unwrap())
                    .collect()
            })
            .collect();
        let nulls = vec![Value::Null; types.len()];
        let tenant = Some(uuid::Uuid::from_u128(
            0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
        ));
        for primary_key in [vec![], vec![0], vec![1, 0, 7]] {
            let t = table(&types, primary_key);
            for (before, after) in [
                (None, Some(&rows[0])),
                (Some(&rows[0]), Some(&rows[1])),
                (Some(&rows[1]), None),
                (None, Some(&nulls)),
            ] {
                let (before, after) = (before.map(Vec::as_slice), after.map(Vec::as_slice));
                for tenant in [None, tenant] {
                    for op in ["insert", "update", "delete"] {
                        assert_eq!(
                            payload(&t, tenant, op, before, after).unwrap(),
                            reference(&t, tenant, op, before, after).unwrap(),
                        );
                    }
                }
            }
        }
        // A row shorter than the columns (images stop where it does).
        let t = table(&types, vec![0, 3]);
        let short = &rows[0][..2];
        assert_eq!(
            payload(&t, None, "insert", None, Some(short)).unwrap(),
            reference(&t, None, "insert", None, Some(short)).unwrap()
        );
        // A value to_json refuses: its own error, when the change is read.
        let t = table(&[("j", DataType::Json)], vec![]);
        let bad = [Value::Json("{".into())];
        let e = payload(&t, None, "insert", None, Some(&bad)).unwrap_err();
        let r = reference(&t, None, "insert", None, Some(&bad)).unwrap_err();
        assert_eq!((e.sqlstate(), e.to_string()), (r.sqlstate(), r.to_string()));
    }
}
