//! MERGE: the source joined to the target, each pair's first WHEN clause
//! run through the writer's steps (PostgreSQL 15's `ExecMerge`).
//!
//! The target rows (through the scan and its row-level security filter) and
//! the source rows are read first. For each source row, every target row the
//! join condition accepts is MATCHED (with join keys, only the target rows
//! with the source row's key are tried): the first WHEN MATCHED clause whose
//! condition holds acts on it; a source row without a match is NOT MATCHED
//! and the first WHEN NOT MATCHED clause that holds acts. Before an UPDATE or
//! DELETE changes a matched row:
//!
//! 1. the row must pass the USING expressions of the action's policies
//!    (42501 `target row violates ...`);
//! 2. a row an earlier action of this statement changed is 21000 (`MERGE
//!    command cannot affect row a second time`): one target row, one source
//!    row (a row only a referential action changed is left alone);
//! 3. the row's lock is taken; if a transaction that committed after our
//!    snapshot changed it, READ COMMITTED re-reads it and re-checks the
//!    security filter and the join condition: a row that still matches
//!    chooses its clause again, one that is gone or no longer matches is
//!    NOT MATCHED (REPEATABLE READ fails with 40001).
//!
//! The new row then takes the path of UPDATE or INSERT: assignment casts,
//! domains, row-level security WITH CHECK, NOT NULL, CHECK, uniqueness,
//! foreign keys at statement end.

use super::{Conflict, Writer};
use crate::catalog::TableDef;
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::{MergeAction, MergePlan, MergeWhen};
use crate::sql::executor::scan::{decode_table_row, pk_suffix};
use crate::sql::expr::Expr;
use crate::txn::WriteCheck;
use crate::types::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

fn second_time() -> Error {
    Error::new(
        SqlState::CARDINALITY_VIOLATION,
        "MERGE command cannot affect row a second time",
    )
    .with_hint("Ensure that not more than one source row matches any one target row.")
}

impl Writer<'_> {
    pub(super) fn merge(&mut self, p: &MergePlan) -> Result<()> {
        self.lock_table(&p.table)?;
        let targets = self.collect_scan(&p.scan)?;
        let sources = self.collect_plan(&p.source)?;
        let unmatched = p.clauses.iter().any(|c| !c.matched);
        // With join keys, the target rows by key: a source row's candidates.
        let by_key = if p.target_keys.is_empty() {
            None
        } else {
            let ectx = self.ectx();
            let mut table: HashMap<Vec<Value>, Vec<usize>> = HashMap::new();
            for (i, (_, row)) in targets.iter().enumerate() {
                let k = Expr::eval_all(&p.target_keys, row, &ectx)?;
                if !k.iter().any(Value::is_null) {
                    table.entry(k).or_default().push(i);
                }
            }
            Some(table)
        };
        let all: Vec<usize> = match by_key {
            None => (0..targets.len()).collect(),
            Some(_) => Vec::new(),
        };
        // Keys of the target rows an action changed.
        let mut changed: HashSet<Vec<u8>> = HashSet::new();
        let mut joined = Vec::new();
        for src in &sources {
            let candidates = match &by_key {
                None => all.as_slice(),
                Some(table) => {
                    let k = Expr::eval_all(&p.source_keys, src, &self.ectx())?;
                    match table.get(&k) {
                        Some(v) if !k.iter().any(Value::is_null) => v.as_slice(),
                        _ => &[],
                    }
                }
            };
            let mut found = false;
            for &i in candidates {
                let (key, trow) = &targets[i];
                joined.clear();
                joined.extend_from_slice(trow);
                joined.extend_from_slice(src);
                if !p.on.eval_pred(&joined, &self.ectx())? {
                    continue;
                }
                found = true;
                self.merge_matched(p, key, joined.clone(), src, &mut changed)?;
            }
            if !found && unmatched {
                self.merge_not_matched(p, src)?;
            }
        }
        Ok(())
    }

    /// The first WHEN clause of the kind whose condition holds for `row`.
    fn merge_clause<'p>(
        &self,
        p: &'p MergePlan,
        matched: bool,
        row: &[Value],
    ) -> Result<Option<&'p MergeWhen>> {
        let ectx = self.ectx();
        for c in p.clauses.iter().filter(|c| c.matched == matched) {
            match &c.condition {
                None => return Ok(Some(c)),
                Some(cond) if cond.eval_pred(row, &ectx)? => return Ok(Some(c)),
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// Runs the WHEN MATCHED action for the target row `key` joined to
    /// `src` (`joined` is both).
    fn merge_matched(
        &mut self,
        p: &MergePlan,
        key: &[u8],
        mut joined: Vec<Value>,
        src: &[Value],
        changed: &mut HashSet<Vec<u8>>,
    ) -> Result<()> {
        let table: &Arc<TableDef> = &p.table;
        let n = table.columns.len();
        let mut locked = false;
        loop {
            let Some(clause) = self.merge_clause(p, true, &joined)? else {
                return Ok(());
            };
            let target_checks = match &clause.action {
                MergeAction::Nothing => return Ok(()),
                MergeAction::Update(_) => &p.rls_update_target,
                MergeAction::Delete => &p.rls_delete_target,
                MergeAction::Insert(_) => {
                    return Err(Error::internal("INSERT in a WHEN MATCHED clause"));
                }
            };
            self.check_rls(table, &joined[..n], target_checks)?;
            if changed.contains(key) {
                return Err(second_time());
            }
            // Changed or deleted by a referential action of this statement
            // (only a table with foreign keys can be the child of one): as
            // UPDATE and DELETE do, such a row is left alone.
            if self.touched.contains(key)
                || (!table.foreign_keys.is_empty() && self.txn.get_latest(key)?.is_none())
            {
                return Ok(());
            }
            if !locked {
                locked = true;
                if self.txn.lock_for_write(key)? == WriteCheck::Changed {
                    // Changed since our snapshot: match its newest version again.
                    let Some(bytes) = self.txn.get_latest(key)? else {
                        return self.merge_not_matched(p, src);
                    };
                    let current = decode_table_row(table, &bytes)?;
                    let visible = match &p.scan.filter {
                        Some(f) => f.eval_pred(&current, &self.ectx())?,
                        None => true,
                    };
                    joined.clear();
                    joined.extend_from_slice(&current);
                    joined.extend_from_slice(src);
                    if !visible || !p.on.eval_pred(&joined, &self.ectx())? {
                        return self.merge_not_matched(p, src);
                    }
                    continue;
                }
            }
            let old = joined[..n].to_vec();
            match &clause.action {
                MergeAction::Update(assignments) => {
                    let mut new = old.clone();
                    {
                        let ectx = self.ectx();
                        for (c, e) in assignments {
                            new[*c] = e.eval(&joined, &ectx)?;
                        }
                    }
                    self.apply_update(
                        table,
                        key,
                        &old,
                        new,
                        (&p.checks, &p.rls_update, None),
                        &None,
                        &[],
                    )?;
                }
                MergeAction::Delete => {
                    self.remove(table, key, &old)?;
                    self.touched.insert(key.to_vec());
                    self.parent_changed(table, &old, None, 0)?;
                    self.out.count += 1;
                }
                MergeAction::Nothing | MergeAction::Insert(_) => {}
            }
            changed.insert(key.to_vec());
            return Ok(());
        }
    }

    /// Runs the WHEN NOT MATCHED action for source row `src`.
    fn merge_not_matched(&mut self, p: &MergePlan, src: &[Value]) -> Result<()> {
        let table = &p.table;
        let mut row = vec![Value::Null; table.columns.len()];
        row.extend_from_slice(src);
        let Some(clause) = self.merge_clause(p, false, &row)? else {
            return Ok(());
        };
        let exprs = match &clause.action {
            MergeAction::Nothing => return Ok(()),
            MergeAction::Insert(exprs) => exprs,
            MergeAction::Update(_) | MergeAction::Delete => {
                return Err(Error::internal(
                    "UPDATE or DELETE in a WHEN NOT MATCHED clause",
                ));
            }
        };
        let values = Expr::eval_all(exprs, &row, &self.ectx())?;
        let new = self.prepare(table, values, &p.checks, &p.rls_insert)?;
        let rowid = match table.rowid_seq {
            Some(seq) if table.primary_key.is_empty() => Some(self.env.nextval(seq)?),
            _ => None,
        };
        let pk = pk_suffix(table, &new, rowid);
        if let Some(Conflict::Row(_, constraint)) =
            self.find_conflict(table, &new, &pk, None, false, None, None)?
        {
            return Err(self.unique_error(table, &constraint, &new));
        }
        self.write_new(table, &pk, &new)?;
        self.queue_fk_checks(table, &new, None);
        self.out.count += 1;
        Ok(())
    }
}
