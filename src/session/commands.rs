//! Running database and maintenance commands (CREATE / ALTER / DROP
//! DATABASE, VACUUM, ANALYZE), and what a session checks about its
//! database for every statement: that it was not terminated by
//! `DROP DATABASE ... WITH (FORCE)`, and that qualified names do not reach
//! into another database.

use super::{Prepared, Session, StatementResult, command_result};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::check_database_part;
use crate::sql::commands::Command;
use crate::txn::IsolationLevel;
use sqlparser::ast;
use std::ops::ControlFlow;

/// Collects the `db.schema.name` names of a statement: its relations, and
/// the names sqlparser does not visit as relations (DROP of any object,
/// CREATE SEQUENCE, foreign-key targets).
struct ThreePartNames(Vec<ast::ObjectName>);

impl ThreePartNames {
    fn add(&mut self, name: &ast::ObjectName) {
        if name.0.len() == 3 {
            self.0.push(name.clone());
        }
    }

    fn add_column_fks(&mut self, col: &ast::ColumnDef) {
        for o in &col.options {
            if let ast::ColumnOption::ForeignKey(fk) = &o.option {
                self.add(&fk.foreign_table);
            }
        }
    }
}

/// The `db.schema.name` names of a statement.
fn three_part_names(stmt: &ast::Statement) -> Vec<ast::ObjectName> {
    let mut names = ThreePartNames(Vec::new());
    let _ = ast::Visit::visit(stmt, &mut names);
    names.0
}

impl ast::Visitor for ThreePartNames {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ast::ObjectName) -> ControlFlow<()> {
        self.add(relation);
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &ast::Statement) -> ControlFlow<()> {
        use ast::Statement as S;
        match statement {
            S::Drop { names, .. } => names.iter().for_each(|n| self.add(n)),
            S::CreateSequence { name, .. } => self.add(name),
            S::CreateTable(ct) => {
                ct.columns.iter().for_each(|c| self.add_column_fks(c));
                for c in &ct.constraints {
                    if let ast::TableConstraint::ForeignKey(fk) = c {
                        self.add(&fk.foreign_table);
                    }
                }
            }
            S::AlterTable(at) => {
                for op in &at.operations {
                    match op {
                        ast::AlterTableOperation::AddConstraint {
                            constraint: ast::TableConstraint::ForeignKey(fk),
                            ..
                        } => self.add(&fk.foreign_table),
                        ast::AlterTableOperation::AddColumn { column_def, .. } => {
                            self.add_column_fks(column_def)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

impl Session {
    /// Runs command `c`, written as `text`.
    pub(super) fn run_command(&mut self, c: &Command, text: &str) -> Result<StatementResult> {
        if self.transaction_failed() {
            return Err(Error::aborted_transaction());
        }
        if c.needs_own_transaction() && self.txn.is_some() {
            // Inside BEGIN ... COMMIT, or one of several statements of a
            // simple query (which run as one transaction).
            self.fail_transaction();
            return Err(Error::new(
                SqlState::ACTIVE_SQL_TRANSACTION,
                format!("{} cannot run inside a transaction block", c.tag()),
            ));
        }
        match c {
            Command::DropDatabase {
                name,
                if_exists,
                force,
            } => self.drop_database(name, *if_exists, *force, text)?,
            Command::CreateDatabase { name, options } => self.command_in_txn(c, text, |s| {
                s.with_ddl(|ctx| ctx.create_database(name, options))
            })?,
            Command::AlterDatabase { name, action } => {
                let me = self.slot.registrant();
                self.command_in_txn(c, text, |s| {
                    s.with_ddl(|ctx| ctx.alter_database(name, action, &|id| me.others_on(id)))
                })?
            }
            Command::Vacuum { options, tables } => {
                self.command_in_txn(c, text, |s| s.with_ddl(|ctx| ctx.vacuum(options, tables)))?
            }
            Command::Analyze { options, tables } => {
                self.command_in_txn(c, text, |s| s.with_ddl(|ctx| ctx.analyze(options, tables)))?
            }
            Command::CreateDomain(d) => {
                self.command_in_txn(c, text, |s| s.with_ddl(|ctx| ctx.create_domain(d)))?
            }
            Command::DropDomain {
                names,
                if_exists,
                cascade,
            } => self.command_in_txn(c, text, |s| {
                s.with_ddl(|ctx| {
                    ctx.drop_types(names, *if_exists, *cascade, true)
                        .map(|_| ())
                })
            })?,
            Command::DropOwned { roles, cascade } => self.command_in_txn(c, text, |s| {
                s.with_ddl(|ctx| ctx.drop_owned(roles, *cascade))
            })?,
            Command::ReassignOwned { roles, to } => {
                self.command_in_txn(c, text, |s| s.with_ddl(|ctx| ctx.reassign_owned(roles, to)))?
            }
        }
        Ok(command_result(c.tag()))
    }

    /// Runs `f` as statement `c` (written as `text`) of the session's
    /// transaction (or of its own), which must not be READ ONLY if `c`
    /// writes; a schema change is captured as a schema event.
    fn command_in_txn(
        &mut self,
        c: &Command,
        text: &str,
        f: impl FnOnce(&mut Session) -> Result<()>,
    ) -> Result<()> {
        self.autocommit(false, |s| {
            s.txn
                .as_mut()
                .expect("autocommit started a transaction")
                .txn
                .begin_statement()?;
            if c.writes() {
                s.check_writable(c.tag())?;
            }
            f(s)?;
            if c.changes_schema() {
                let db = s.catalog()?.database;
                s.capture_schema_event(db, None, c.tag(), text)?;
            }
            Ok(())
        })
    }

    /// DROP DATABASE in its own READ COMMITTED transaction (it reads the
    /// victim's catalog after the last other session has left, so it needs
    /// the newest snapshot then). Other sessions are kept out of the
    /// database from the check that none is connected until the
    /// transaction has ended.
    fn drop_database(
        &mut self,
        name: &str,
        if_exists: bool,
        force: bool,
        text: &str,
    ) -> Result<()> {
        let me = self.slot.registrant();
        let mut mark = None;
        self.begin_txn_with(false, Some(IsolationLevel::ReadCommitted), false)?;
        let dropped = self
            .with_ddl(|ctx| {
                ctx.txn.begin_statement()?;
                ctx.drop_database(name, if_exists, &mut |d| {
                    mark = Some(me.begin_drop(d.id, &d.name, force)?);
                    Ok(())
                })
            })
            .and_then(|dropped| {
                let db = self.catalog()?.database;
                self.capture_schema_event(db, None, "DROP DATABASE", text)?;
                Ok(dropped)
            });
        let result = match dropped {
            Ok(dropped) => self.end_txn(true).map(|()| dropped),
            Err(e) => {
                self.end_txn(false)?;
                Err(e)
            }
        };
        // Committed (or rolled back): new sessions may look again.
        drop(mark);
        if let Some(id) = result? {
            self.db.catalog_cache.forget(id);
        }
        Ok(())
    }

    /// 57P01 once `DROP DATABASE ... WITH (FORCE)` has terminated the session.
    pub(super) fn check_terminated(&self) -> Result<()> {
        if self.slot.signals.terminated() {
            return Err(Error::new(
                SqlState::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            ));
        }
        Ok(())
    }

    /// `db.schema.name` must name the session's own database (0A000
    /// otherwise, as in PostgreSQL).
    /// A prepared statement's names are collected once, on its first run.
    pub(super) fn check_cross_database(
        &mut self,
        stmt: &ast::Statement,
        prepared: Option<&Prepared>,
    ) -> Result<()> {
        let collected;
        let names = match prepared {
            Some(p) => p.three_part_names.get_or_init(|| three_part_names(stmt)),
            None => {
                collected = three_part_names(stmt);
                &collected
            }
        };
        if names.is_empty() {
            return Ok(());
        }
        let catalog = self.catalog()?;
        names
            .iter()
            .try_for_each(|n| check_database_part(&catalog, n))
    }

    /// Lets the server notice that the session was terminated.
    pub(crate) fn termination_watch(&self) -> super::registry::TerminationWatch {
        self.slot.termination_watch()
    }

    /// The name of the database the session is connected to
    /// (`current_database()`).
    pub fn current_database(&mut self) -> Result<String> {
        let database = self.database;
        self.with_catalog(|c| Ok(c.database(database)?.name.clone()))
    }
}
