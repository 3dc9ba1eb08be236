//! SQL-level `PREPARE name [(types)] AS statement`, `EXECUTE name [(args)]`
//! and `DEALLOCATE`, as in PostgreSQL: a session's named statements, planned
//! once (the plan is cached like any prepared statement's) and run with the
//! argument values, each cast to its parameter's type.

use super::{Session, StatementResult, command_result};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::{Binder, ident};
use crate::types::DataType;
use sqlparser::ast;
use std::sync::Arc;

impl Session {
    pub(super) fn prepare_sql(
        &mut self,
        name: &ast::Ident,
        types: &[ast::DataType],
        stmt: &ast::Statement,
    ) -> Result<StatementResult> {
        let key = ident(name);
        self.check_statement_name(&key)?;
        let declared = self.autocommit(true, |s| {
            let catalog = s.catalog()?;
            let search_path = s.search_path(&catalog);
            let binder = Binder::new(&catalog, &search_path);
            types
                .iter()
                .map(|t| binder.resolve_type(t).map(|(t, _)| t))
                .collect::<Result<Vec<_>>>()
        })?;
        let prepared = self.prepared_from(
            stmt.to_string(),
            crate::sql::parser::Statement::Sql(stmt.clone()),
            declared,
        )?;
        self.sql_prepared.insert(key, Arc::new(prepared));
        Ok(command_result("PREPARE"))
    }

    /// 42P05 if `name` is taken, by SQL `PREPARE` or by the wire protocol.
    fn check_statement_name(&self, name: &str) -> Result<()> {
        if self.sql_prepared.contains_key(name) || self.protocol_statements.contains(name) {
            return Err(Error::new(
                SqlState::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        Ok(())
    }

    /// Records the name of a statement a wire-protocol client prepared
    /// (Parse); SQL `PREPARE` and the protocol share one namespace, so a
    /// taken name is 42P05. `DEALLOCATE` and `DISCARD ALL` release it too
    /// (see [`StatementResult::deallocates`]).
    pub fn claim_statement_name(&mut self, name: &str) -> Result<()> {
        self.check_statement_name(name)?;
        self.protocol_statements.insert(name.to_owned());
        Ok(())
    }

    /// Forgets a protocol-level statement name (the client closed it).
    pub fn release_statement_name(&mut self, name: &str) {
        self.protocol_statements.remove(name);
    }

    pub(super) fn execute_sql(
        &mut self,
        name: &ast::ObjectName,
        args: &[ast::Expr],
    ) -> Result<StatementResult> {
        let key = match name.0.as_slice() {
            [part] => part
                .as_ident()
                .map(ident)
                .unwrap_or_else(|| part.to_string()),
            _ => name.to_string(),
        };
        let p = self.sql_prepared.get(&key).cloned().ok_or_else(|| {
            Error::new(
                SqlState::INVALID_SQL_STATEMENT_NAME,
                format!("prepared statement \"{key}\" does not exist"),
            )
        })?;
        if args.len() != p.param_types.len() {
            return Err(Error::new(
                SqlState::SYNTAX_ERROR,
                format!("wrong number of parameters for prepared statement \"{key}\""),
            )
            .with_detail(format!(
                "Expected {} parameters but got {}.",
                p.param_types.len(),
                args.len()
            )));
        }
        // The arguments are constant expressions: evaluate them in one
        // SELECT, each cast to its parameter's type.
        let values = if args.is_empty() {
            Vec::new()
        } else {
            let list: Vec<String> = args
                .iter()
                .zip(&p.param_types)
                .map(|(a, t)| match t {
                    DataType::Unknown => format!("({a})"),
                    t => format!("CAST(({a}) AS {})", t.name()),
                })
                .collect();
            let rows = self.query(&format!("SELECT {}", list.join(", ")), &[])?;
            rows.into_iter()
                .next()
                .map(|r| r.values().to_vec())
                .unwrap_or_default()
        };
        self.run_unmetered(&p.stmt, &values, Some(&p))
    }
}
