//! Running database and maintenance commands (CREATE / ALTER / DROP
//! DATABASE, VACUUM, ANALYZE), and what a session checks about its
//! database for every statement: that it was not terminated by
//! `DROP DATABASE ... WITH (FORCE)`, and that qualified names do not reach
//! into another database.

use super::{Session, StatementResult, command_result};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::ident;
use crate::sql::commands::Command;
use sqlparser::ast;
use std::ops::ControlFlow;

impl Session {
    pub(super) fn run_command(&mut self, c: &Command) -> Result<StatementResult> {
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
            } => self.drop_database(name, *if_exists, *force)?,
            Command::CreateDatabase { name, options } => {
                self.command_in_txn(|s| s.with_ddl(|ctx| ctx.create_database(name, options)))?
            }
            Command::AlterDatabase { name, action } => {
                let me = self.slot.registrant();
                self.command_in_txn(|s| {
                    s.with_ddl(|ctx| ctx.alter_database(name, action, &|id| me.others_on(id)))
                })?
            }
            Command::Vacuum { options, tables } => {
                self.command_in_txn(|s| s.with_ddl(|ctx| ctx.vacuum(options, tables)))?
            }
            Command::Analyze { options, tables } => {
                self.command_in_txn(|s| s.with_ddl(|ctx| ctx.analyze(options, tables)))?
            }
        }
        Ok(command_result(c.tag()))
    }

    /// Runs `f` as a statement of the session's transaction (or of its own).
    fn command_in_txn(&mut self, f: impl FnOnce(&mut Session) -> Result<()>) -> Result<()> {
        self.autocommit(false, |s| {
            s.txn
                .as_mut()
                .expect("autocommit started a transaction")
                .txn
                .begin_statement()?;
            f(s)
        })
    }

    /// DROP DATABASE in its own transaction. Other sessions are kept out of
    /// the database from the check that none is connected until the
    /// transaction has ended.
    fn drop_database(&mut self, name: &str, if_exists: bool, force: bool) -> Result<()> {
        let me = self.slot.registrant();
        let mut mark = None;
        let dropped = self.command_in_txn(|s| {
            let dropped = s.with_ddl(|ctx| {
                ctx.drop_database(name, if_exists, &mut |d| {
                    mark = Some(me.begin_drop(d.id, &d.name, force)?);
                    Ok(())
                })
            })?;
            if let Some(id) = dropped {
                s.db.catalog_cache.forget(id);
            }
            Ok(())
        });
        // Committed (or rolled back): new sessions may look again.
        drop(mark);
        dropped
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
    pub(super) fn check_cross_database(&mut self, stmt: &ast::Statement) -> Result<()> {
        let mut qualified = Vec::new();
        let _ = ast::visit_relations(stmt, |name| {
            if let [ast::ObjectNamePart::Identifier(db), _, _] = name.0.as_slice() {
                qualified.push((ident(db), name.to_string()));
            }
            ControlFlow::<()>::Continue(())
        });
        if qualified.is_empty() {
            return Ok(());
        }
        let catalog = self.catalog()?;
        let current = &catalog.current_database()?.name;
        match qualified.into_iter().find(|(db, _)| db != current) {
            Some((_, name)) => Err(Error::unsupported(format!(
                "cross-database references are not implemented: \"{name}\""
            ))),
            None => Ok(()),
        }
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
