//! Statements that write through a query: a WITH clause holding INSERT,
//! UPDATE or DELETE, and `SELECT ... INTO`.
//!
//! **Data-modifying WITH queries.** `WITH d AS (DELETE FROM a RETURNING *)
//! INSERT INTO b SELECT * FROM d` (or a SELECT as the main statement) is
//! bound in one go: the binder returns each data-modifying WITH query as a
//! [`DmlCte`] with a work-table id, and the main statement reads their
//! RETURNING rows from those work tables. The session then
//!
//! 1. takes the shared lock of every target table before binding (as for
//!    a lone INSERT, UPDATE or DELETE);
//! 2. freezes the transaction's reads ([`Transaction::freeze_reads`]): every
//!    part of the statement reads the snapshot and write set as they were
//!    when the statement began, as in PostgreSQL, where all of them run
//!    with the same snapshot — the main query sees the WITH queries'
//!    RETURNING rows, never their changes to the tables;
//! 3. runs each data-modifying WITH query that the statement reads once,
//!    to completion, in order, keeping its RETURNING rows in the
//!    statement's work tables; a row an earlier part already changed is
//!    not changed again ([`Transaction::written_in_statement`]);
//! 4. runs the main statement with the same statement state, then the WITH
//!    queries nothing reads (PostgreSQL runs a data-modifying WITH query
//!    when it is first read and the unread ones at the end, so which of two
//!    parts changing one row wins matches it in these cases), then the
//!    foreign-key checks of every part (at the end of the statement, as
//!    PostgreSQL's RI triggers), then thaws the reads. The command tag is
//!    the main statement's.
//!
//! The query of CREATE TABLE AS and SELECT INTO may have such WITH queries
//! too: its rows then go into the new table as the main statement.
//! Such statements are never cached as prepared plans.

use super::{
    Prepared, Session, StatementResult, StmtEnv, check_param_count, optimize_dml, rows_result,
};
use crate::catalog::Catalog;
use crate::catalog::keys::table_lock_key;
use crate::error::{Error, Result};
use crate::sql::binder::{Binder, DmlCte, DmlPlan, dml_in_query};
use crate::sql::executor::{self, ExecCtx, StatementState, dml};
use crate::sql::expr::EvalEnv;
use crate::sql::optimizer;
use crate::sql::plan::Plan;
use crate::txn::Transaction;
use crate::txn::locks::LockMode;
use crate::types::Value;
use sqlparser::ast;
use std::rc::Rc;

/// The INSERT, UPDATE and DELETE statements of a query: its data-modifying
/// WITH queries, and its main statement if it is one (their target tables
/// are locked before binding).
fn dml_statements(q: &ast::Query) -> impl Iterator<Item = &ast::Statement> {
    let ctes = q.with.iter().flat_map(|w| w.cte_tables.iter());
    ctes.filter_map(|c| match c.query.body.as_ref() {
        ast::SetExpr::Insert(s) | ast::SetExpr::Update(s) | ast::SetExpr::Delete(s) => Some(s),
        _ => None,
    })
    .chain(dml_in_query(q))
}

/// The main statement under a WITH holding data-modifying queries.
enum Main {
    Query(Box<Plan>),
    Dml(Box<DmlPlan>),
}

/// `SELECT ... INTO [TEMP | UNLOGGED] [TABLE] name FROM ...` as the
/// `CREATE TABLE name AS SELECT ...` it means. None when `q` has no INTO.
pub(super) fn select_into_table(q: &ast::Query) -> Option<Result<ast::CreateTable>> {
    let ast::SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let into = s.into.as_ref()?;
    Some((|| {
        let name = match into.targets.as_slice() {
            [ast::Expr::Identifier(i)] => ast::ObjectName::from(vec![i.clone()]),
            [ast::Expr::CompoundIdentifier(parts)] => ast::ObjectName::from(parts.clone()),
            [other] => {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{other}\""
                )));
            }
            _ => return Err(Error::syntax("syntax error at or near \",\"")),
        };
        let mut query = q.clone();
        if let ast::SetExpr::Select(s) = query.body.as_mut() {
            s.into = None;
        }
        Ok(
            ast::helpers::stmt_create_table::CreateTableBuilder::new(name)
                .temporary(into.temporary)
                .unlogged(into.unlogged)
                .query(Some(Box::new(query)))
                .build(),
        )
    })())
}

impl Session {
    /// `SELECT ... INTO name ...`: CREATE TABLE AS, with its privileges,
    /// row-level security and command tag (`SELECT n`).
    pub(super) fn select_into(
        &mut self,
        ct: Result<ast::CreateTable>,
        params: &[Value],
    ) -> Result<StatementResult> {
        self.create_table_as(&ct?, params)
    }

    /// Binds a statement whose WITH holds INSERT, UPDATE or DELETE, after
    /// taking the shared locks of its target tables (step 1 of the module
    /// doc): the catalog and search path it was bound in, the WITH queries
    /// and the main statement, optimized.
    fn bind_with_dml_ctes(
        &mut self,
        stmt: &ast::Statement,
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<Bound> {
        let ast::Statement::Query(q) = stmt else {
            return Err(Error::internal("not a query with WITH"));
        };
        let mut catalog = self.catalog()?;
        let mut search_path = self.search_path(&catalog);
        let targets: Vec<u32> = dml_statements(q)
            .filter_map(|s| self.dml_target(&catalog, s, &search_path))
            .collect();
        let mut waited = false;
        {
            let t = self.txn.as_mut().expect("transaction started");
            for id in targets {
                waited |= t.txn.lock(&table_lock_key(id), LockMode::Shared)?;
            }
            if waited {
                t.txn.refresh_snapshot()?;
            }
        }
        if waited {
            catalog = self.catalog()?;
            search_path = self.search_path(&catalog);
        }
        let binder = Binder::new(&catalog, &search_path)
            .with_privilege_checks(self.identity.current_user())
            .with_row_security(self.row_security())
            .with_param_types(prepared.map(|p| p.declared.clone()).unwrap_or_default());
        let main = if dml_in_query(q).is_some() {
            let mut plan = binder.bind_top_dml(stmt)?;
            optimize_dml(&mut plan);
            Main::Dml(Box::new(plan))
        } else {
            Main::Query(Box::new(optimizer::optimize(binder.bind_top_query(q)?)))
        };
        check_param_count(params.len(), binder.param_types().len())?;
        let mut ctes = binder.take_dml_ctes();
        for c in &mut ctes {
            optimize_dml(&mut c.plan);
        }
        drop(binder);
        Ok(Bound {
            catalog,
            search_path,
            ctes,
            main,
        })
    }

    /// Runs a statement whose WITH holds INSERT, UPDATE or DELETE (see the
    /// module doc).
    pub(super) fn run_with_dml_ctes(
        &mut self,
        stmt: &ast::Statement,
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<StatementResult> {
        let b = self.bind_with_dml_ctes(stmt, params, prepared)?;
        let mut t = self.txn.take().expect("transaction started");
        t.txn.freeze_reads();
        let result = {
            let env = StmtEnv::new(self, &b.catalog, &b.search_path, &t.start);
            run_parts(&b.ctes, &b.main, &mut t.txn, &b.catalog, params, &env)
        };
        t.txn.thaw_reads();
        self.txn = Some(t);
        result
    }

    /// `CREATE TABLE ... AS` (or `SELECT ... INTO`) over a query whose WITH
    /// holds INSERT, UPDATE or DELETE: the table is created with the
    /// query's columns, then the query's rows are inserted into it as the
    /// main statement of the WITH queries (tag `SELECT n`).
    pub(super) fn create_table_as_with_dml(
        &mut self,
        ct: &ast::CreateTable,
        params: &[Value],
    ) -> Result<StatementResult> {
        let q = ct.query.as_ref().expect("checked by caller");
        let b = self.bind_with_dml_ctes(&ast::Statement::Query(q.clone()), params, None)?;
        let Main::Query(plan) = b.main else {
            return Err(Error::syntax(
                "CREATE TABLE AS needs a query, not INSERT, UPDATE or DELETE",
            ));
        };
        let mut plain = ct.clone();
        plain.query = None;
        let created = self.with_ddl(|ctx| ctx.create_table(&plain, Some(plan.columns())))?;
        let Some(id) = created else {
            return Ok(super::command_result("CREATE TABLE AS"));
        };
        let catalog = self.catalog()?;
        let insert = DmlPlan::Insert(crate::sql::binder::InsertPlan::plain(
            catalog.table(id)?.clone(),
            *plan,
        ));
        let main = Main::Dml(Box::new(insert));
        let mut t = self.txn.take().expect("transaction started");
        t.txn.freeze_reads();
        let result = {
            let env = StmtEnv::new(self, &catalog, &b.search_path, &t.start);
            run_parts(&b.ctes, &main, &mut t.txn, &catalog, params, &env)
        };
        t.txn.thaw_reads();
        self.txn = Some(t);
        let mut result = result?;
        result.command = std::borrow::Cow::Borrowed("SELECT");
        Ok(result)
    }

    /// EXPLAIN of such a statement: the main statement's plan, then each
    /// data-modifying WITH query's (its references read `WorkTable Scan`).
    pub(super) fn explain_with_dml_ctes(
        &mut self,
        stmt: &ast::Statement,
        params: &[Value],
    ) -> Result<Vec<String>> {
        let b = self.bind_with_dml_ctes(stmt, params, None)?;
        let mut lines = match &b.main {
            Main::Query(plan) => plan.explain(),
            Main::Dml(plan) => super::explain_dml(plan),
        };
        for c in &b.ctes {
            lines.push(format!("  CTE {}", c.name));
            for (i, l) in super::explain_dml(&c.plan).into_iter().enumerate() {
                lines.push(if i == 0 {
                    format!("    ->  {l}")
                } else {
                    format!("        {l}")
                });
            }
        }
        Ok(lines)
    }
}

/// A statement with data-modifying WITH queries, bound.
struct Bound {
    catalog: std::sync::Arc<Catalog>,
    search_path: std::sync::Arc<Vec<String>>,
    ctes: Vec<DmlCte>,
    main: Main,
}

/// Steps 3 and 4 of the module doc: the WITH queries, then the main statement.
fn run_parts(
    ctes: &[DmlCte],
    main: &Main,
    txn: &mut Transaction,
    catalog: &Catalog,
    params: &[Value],
    env: &dyn EvalEnv,
) -> Result<StatementResult> {
    let state = Rc::new(StatementState::default());
    let mut deferred = dml::DeferredChecks::default();
    let run_ctes = |txn: &mut Transaction,
                    deferred: &mut dml::DeferredChecks,
                    referenced: bool|
     -> Result<()> {
        for c in ctes.iter().filter(|c| c.referenced == referenced) {
            let out = dml::execute_dml_in(
                &c.plan,
                txn,
                catalog,
                params,
                env,
                state.clone(),
                Some(deferred),
            )?;
            state.set_work_table(c.id, Rc::new(out.rows));
        }
        Ok(())
    };
    run_ctes(txn, &mut deferred, true)?;
    let result = match main {
        Main::Dml(plan) => {
            let out = dml::execute_dml_in(
                plan,
                txn,
                catalog,
                params,
                env,
                state.clone(),
                Some(&mut deferred),
            )?;
            super::dml_result(plan, out)
        }
        Main::Query(plan) => {
            let mut ctx = ExecCtx::new(txn, params, env);
            ctx.cache = state.clone();
            let rows = executor::execute(plan, &ctx)?.collect::<Result<Vec<_>>>()?;
            rows_result(plan.columns(), rows)
        }
    };
    run_ctes(txn, &mut deferred, false)?;
    // Foreign keys are checked once every part has run, as PostgreSQL's
    // RI triggers fire at the end of the statement.
    dml::run_deferred_checks(deferred, txn, catalog, params, env, state)?;
    Ok(result)
}
