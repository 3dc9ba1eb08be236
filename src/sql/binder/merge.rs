//! Binding MERGE (PostgreSQL 15).
//!
//! `MERGE INTO target USING source ON cond WHEN [NOT] MATCHED [AND cond]
//! THEN action ...` becomes a [`MergePlan`]: a scan of the target, the
//! source's plan, the join condition and the WHEN clauses in order. Every
//! expression is bound over one row, `[target columns, source columns]`;
//! for WHEN NOT MATCHED the target's columns are NULL and cannot be named
//! (42P01 `invalid reference to FROM-clause entry`, as PostgreSQL).
//!
//! Privileges are those of the actions (INSERT, UPDATE, DELETE on the
//! target), SELECT on the source, and SELECT on the target when any
//! condition or assignment reads its columns.
//!
//! Row-level security, as PostgreSQL 15's `get_row_security_policies` for
//! `CMD_MERGE`:
//! * when the statement reads the target, its SELECT policies filter the
//!   target scan, ahead of the join condition (rows the role cannot see
//!   are NOT MATCHED), and an updated row must pass them too;
//! * an UPDATE or DELETE action checks the matched row against the USING
//!   expressions of the UPDATE or DELETE policies and fails with 42501
//!   `target row violates row-level security policy (USING expression)`
//!   rather than skipping it;
//! * new rows are checked against the INSERT policies' or the UPDATE
//!   policies' WITH CHECK.

use super::dml::{Checks, with_security};
use super::insert::InsertTargets;
use super::rls::{RlsCheck, RlsCommand};
use super::{Binder, Scope, ScopeColumn, object_name_parts};
use crate::catalog::{TableDef, acl};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::parser;
use crate::sql::plan::{Access, JoinKind, Plan, Scan};
use sqlparser::ast;
use std::sync::Arc;

/// A bound MERGE statement.
#[derive(Clone, Debug)]
pub struct MergePlan {
    pub table: Arc<TableDef>,
    /// The target rows: the whole table, filtered by the SELECT policies
    /// when row-level security applies and the statement reads the target.
    pub scan: Scan,
    /// The source rows.
    pub source: Plan,
    /// The join condition over `[target, source]`.
    pub on: Expr,
    /// Hash keys of the join (set by the planner, empty until then): equal
    /// values of `target_keys` over a target row and `source_keys` over a
    /// source row are the candidates `on` is evaluated on.
    pub target_keys: Vec<Expr>,
    pub source_keys: Vec<Expr>,
    /// The WHEN clauses, in the order written.
    pub clauses: Vec<MergeWhen>,
    pub checks: Checks,
    /// Row-level security: checks of inserted rows, of updated rows, and
    /// of the matched row an UPDATE or DELETE action changes.
    pub rls_insert: Vec<RlsCheck>,
    pub rls_update: Vec<RlsCheck>,
    pub rls_update_target: Vec<RlsCheck>,
    pub rls_delete_target: Vec<RlsCheck>,
    /// Row-level security applies (integrity errors then print no values).
    pub rls: bool,
}

impl MergePlan {
    /// The join MERGE performs, as a plan (for EXPLAIN): the target scan
    /// joined to the source (through its hash keys when it has them),
    /// right-outer when a WHEN NOT MATCHED clause needs the source rows
    /// without a match.
    pub fn join_plan(&self) -> Plan {
        let kind = if self.clauses.iter().any(|c| !c.matched) {
            JoinKind::Right
        } else {
            JoinKind::Inner
        };
        let (left, right) = (
            Box::new(Plan::Scan(self.scan.clone())),
            Box::new(self.source.clone()),
        );
        if self.target_keys.is_empty() {
            Plan::NestedLoop {
                left,
                right,
                kind,
                on: Some(self.on.clone()),
                lateral: false,
            }
        } else {
            Plan::HashJoin {
                left,
                right,
                kind,
                left_keys: self.target_keys.clone(),
                right_keys: self.source_keys.clone(),
                on: Some(self.on.clone()),
            }
        }
    }
}

/// One `WHEN [NOT] MATCHED [AND condition] THEN action`.
#[derive(Clone, Debug)]
pub struct MergeWhen {
    pub matched: bool,
    /// Over `[target, source]`.
    pub condition: Option<Expr>,
    pub action: MergeAction,
}

#[derive(Clone, Debug)]
pub enum MergeAction {
    /// (column, value over `[target, source]`).
    Update(Vec<(usize, Expr)>),
    Delete,
    /// The new row's values (defaults filled in, before assignment casts),
    /// over `[target (all NULL), source]`.
    Insert(Vec<Expr>),
    Nothing,
}

/// Marks INSERT DEFAULT VALUES, which sqlparser does not read in MERGE:
/// the parser rewrites it to `INSERT ("<NUL>") VALUES (DEFAULT)`.
fn is_default_values(ins: &ast::MergeInsertExpr) -> bool {
    match ins.columns.as_slice() {
        [n] => object_name_parts(n)
            .is_ok_and(|p| matches!(p.as_slice(), [one] if one.len() == 1 && one.starts_with(parser::INFERENCE_MARKER))),
        _ => false,
    }
}

impl Binder<'_> {
    pub fn bind_merge(&self, m: &ast::Merge) -> Result<MergePlan> {
        // A clause after an unconditional one of its kind is never reached.
        let mut terminal = [false, false];
        for c in &m.clauses {
            let k = usize::from(c.clause_kind == ast::MergeClauseKind::Matched);
            if terminal[k] {
                return Err(Error::syntax(
                    "unreachable WHEN clause specified after unconditional WHEN clause",
                ));
            }
            terminal[k] |= c.predicate.is_none();
        }
        if let Some(out) = &m.output {
            let word = match out {
                ast::OutputClause::Returning { .. } => "RETURNING",
                ast::OutputClause::Output { .. } => "OUTPUT",
            };
            return Err(Error::syntax(format!("syntax error at or near \"{word}\"")));
        }
        if let ast::TableFactor::Table { name, .. } = &m.table
            && let Some(view) = self.target_view(name)?
        {
            return Err(Error::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("cannot execute MERGE on relation \"{}\"", view.name),
            )
            .with_detail("This operation is not supported for views."));
        }
        let (table, alias) = self.target_table(&m.table, "MERGE")?;
        let n = table.columns.len();
        // Privileges of the actions first, as PostgreSQL checks the target's.
        for c in &m.clauses {
            let need = match &c.action {
                ast::MergeAction::Insert(_) => acl::INSERT,
                ast::MergeAction::Update(_) => acl::UPDATE,
                ast::MergeAction::Delete { .. } => acl::DELETE,
                ast::MergeAction::DoNothing { .. } => continue,
            };
            self.require_target(&table, need)?;
        }
        let source_item = ast::TableWithJoins {
            relation: m.source.clone(),
            joins: vec![],
        };
        let (source, source_scope) = self.bind_from(std::slice::from_ref(&source_item))?;
        if source_scope.tables.iter().any(|t| t.qualifier == alias) {
            return Err(Error::new(
                SqlState::DUPLICATE_ALIAS,
                format!("name \"{alias}\" specified more than once"),
            )
            .with_detail("The name is used both as MERGE target table and data source."));
        }
        let mut matched_scope = Scope::for_table(&table, &alias);
        matched_scope.extend(source_scope.clone());
        // WHEN NOT MATCHED sees the source only: the target's columns keep
        // their places but answer to no name.
        let mut unmatched_scope = Scope::unreachable_table(&table, &alias);
        unmatched_scope.columns = (0..n)
            .map(|_| ScopeColumn {
                qualifier: Some(parser::INFERENCE_MARKER.to_string()),
                name: parser::INFERENCE_MARKER.to_string(),
                ty: crate::types::DataType::Unknown,
                qualified_only: true,
            })
            .collect();
        unmatched_scope.extend(source_scope);

        let on = self.bind_predicate(&m.on, &matched_scope, "JOIN/ON")?;
        let reads_target = |e: &Expr, reads: &mut bool| {
            e.walk(&mut |x| *reads |= matches!(x, Expr::Column(i) if *i < n));
        };
        let mut reads = false;
        reads_target(&on, &mut reads);
        let mut defaults: Option<Vec<Expr>> = None;
        let mut clauses = Vec::with_capacity(m.clauses.len());
        for c in &m.clauses {
            let matched = match c.clause_kind {
                ast::MergeClauseKind::Matched => true,
                ast::MergeClauseKind::NotMatched | ast::MergeClauseKind::NotMatchedByTarget => {
                    false
                }
                ast::MergeClauseKind::NotMatchedBySource => {
                    return Err(Error::syntax("syntax error at or near \"BY\""));
                }
            };
            let scope = if matched {
                &matched_scope
            } else {
                &unmatched_scope
            };
            let condition = match &c.predicate {
                Some(p) => {
                    let x = self.bind_predicate(p, scope, "WHEN")?;
                    reads_target(&x, &mut reads);
                    Some(x)
                }
                None => None,
            };
            let action = match &c.action {
                ast::MergeAction::DoNothing { .. } => MergeAction::Nothing,
                ast::MergeAction::Delete { .. } => MergeAction::Delete,
                ast::MergeAction::Update(u) => {
                    let assignments = match &u.kind {
                        ast::MergeUpdateKind::Set(a)
                            if u.update_predicate.is_none() && u.delete_predicate.is_none() =>
                        {
                            a
                        }
                        _ => return Err(Error::syntax("syntax error in MERGE UPDATE action")),
                    };
                    let assignments = self.bind_assignments(&table, assignments, scope)?;
                    for (_, e) in &assignments {
                        reads_target(e, &mut reads);
                    }
                    MergeAction::Update(assignments)
                }
                ast::MergeAction::Insert(ins) => {
                    if ins.insert_predicate.is_some() {
                        return Err(Error::syntax("syntax error at or near \"WHERE\""));
                    }
                    let defaults = match &defaults {
                        Some(d) => d,
                        None => defaults.insert(self.column_defaults(&table)?),
                    };
                    let row = if is_default_values(ins) {
                        defaults.clone()
                    } else {
                        let values = match &ins.kind {
                            ast::MergeInsertKind::Values(v) => v,
                            _ => return Err(Error::syntax("syntax error in MERGE INSERT action")),
                        };
                        let [r] = values.rows.as_slice() else {
                            return Err(Error::syntax("syntax error at or near \",\""));
                        };
                        let targets: InsertTargets = self.insert_targets(&table, &ins.columns)?;
                        self.insert_values_row(&table, &targets, defaults, r, scope)?
                    };
                    MergeAction::Insert(row)
                }
            };
            clauses.push(MergeWhen {
                matched,
                condition,
                action,
            });
        }
        if reads {
            self.require_target(&table, acl::SELECT)?;
        }
        let has = |f: fn(&MergeAction) -> bool| clauses.iter().any(|c| f(&c.action));
        let updates = has(|a| matches!(a, MergeAction::Update(_)));
        let deletes = has(|a| matches!(a, MergeAction::Delete));
        let inserts = has(|a| matches!(a, MergeAction::Insert(_)));
        let select: &[RlsCommand] = if reads { &[RlsCommand::Select] } else { &[] };
        let security = self.as_target(|| self.rls_filter(&table, &alias, select))?;
        let rls = self.as_target(|| self.rls_role(&table))?.is_some();
        let when = |on: bool, f: &dyn Fn() -> Result<Vec<RlsCheck>>| -> Result<Vec<RlsCheck>> {
            if on {
                self.as_target(f)
            } else {
                Ok(Vec::new())
            }
        };
        Ok(MergePlan {
            rls_insert: when(inserts, &|| {
                self.rls_checks(&table, RlsCommand::Insert, false)
            })?,
            rls_update: when(updates, &|| {
                self.rls_checks(&table, RlsCommand::Update, reads)
            })?,
            rls_update_target: when(updates, &|| {
                self.rls_target_checks(&table, RlsCommand::Update)
            })?,
            rls_delete_target: when(deletes, &|| {
                self.rls_target_checks(&table, RlsCommand::Delete)
            })?,
            rls,
            checks: self.table_checks(&table)?,
            scan: Scan {
                table: table.clone(),
                alias: Some(alias),
                access: Access::Full,
                filter: with_security(security, None),
                indexes: self.catalog.plain_indexes_of(table.id),
                stats: self.catalog.stats.get(&table.id).cloned(),
                needed: None,
                reverse: false,
            },
            table,
            source,
            on,
            target_keys: Vec::new(),
            source_keys: Vec::new(),
            clauses,
        })
    }
}
