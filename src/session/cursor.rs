//! SQL cursors: `DECLARE name CURSOR [WITH HOLD] FOR query`, `FETCH`,
//! `CLOSE`, as drivers use them for server-side cursors (psycopg's named
//! cursors, for one).
//!
//! DECLARE runs its query at once in the statement's transaction and keeps
//! the result rows, so a cursor sees the snapshot of its DECLARE, as in
//! PostgreSQL; FETCH then moves over them in either direction without
//! re-running anything. Memory is that of the whole result. A cursor
//! without HOLD ends with its transaction; a WITH HOLD cursor outlives the
//! commit of the transaction that declared it (and goes if it rolls back).
//!
//! When the query is a simply updatable scan of one table (a scan under
//! filters and projections), the cursor also keeps the key of the table row
//! behind each of its rows: `UPDATE` / `DELETE ... WHERE CURRENT OF` change
//! the row the cursor is on ([`current_key`]).

use super::{ColumnInfo, Prepared, Session, StatementResult, command_result, rows_result_shared};
use crate::catalog::TableDef;
use crate::error::{Error, Result, SqlState};
use crate::sql::executor::ExecCtx;
use crate::sql::executor::scan::keyed_query_rows;
use crate::types::Value;
use sqlparser::ast;
use std::collections::HashMap;
use std::sync::Arc;

/// One open cursor: its rows and where it stands.
pub(super) struct Cursor {
    columns: Arc<Vec<ColumnInfo>>,
    rows: Vec<Vec<Value>>,
    /// 0 before the first row, `rows.len() + 1` after the last; otherwise
    /// the 1-based row the cursor is on.
    position: usize,
    hold: bool,
    /// `NO SCROLL`: only forward moves.
    no_scroll: bool,
    /// Declared in the open transaction (a rollback removes it).
    uncommitted: bool,
    /// A simply updatable scan: the table's id and each row's key.
    keys: Option<(u32, Vec<Vec<u8>>)>,
}

fn no_cursor(name: &str) -> Error {
    Error::new(
        SqlState::INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}

fn count(v: &ast::ValueWithSpan) -> Result<i64> {
    match &v.value {
        ast::Value::Number(n, _) => n
            .parse::<i64>()
            .map_err(|_| Error::syntax(format!("invalid FETCH count: {n}"))),
        other => Err(Error::syntax(format!("invalid FETCH count: {other}"))),
    }
}

/// `WHERE CURRENT OF cursor` on `table`: the key of the row the cursor is on.
pub(super) fn current_key(
    cursors: &HashMap<String, Cursor>,
    name: &str,
    table: &TableDef,
) -> Result<Vec<u8>> {
    let invalid = |what: &str| {
        Error::new(
            SqlState::INVALID_CURSOR_STATE,
            format!("cursor \"{name}\" {what}"),
        )
    };
    let c = cursors.get(name).ok_or_else(|| no_cursor(name))?;
    if c.hold && !c.uncommitted {
        return Err(invalid("is held from a previous transaction"));
    }
    let keys = match &c.keys {
        Some((id, keys)) if *id == table.id => keys,
        _ => {
            return Err(invalid(&format!(
                "is not a simply updatable scan of table \"{}\"",
                table.name
            )));
        }
    };
    match c.position.checked_sub(1).and_then(|i| keys.get(i)) {
        Some(k) => Ok(k.clone()),
        None => Err(invalid("is not positioned on a row")),
    }
}

impl Session {
    /// `DECLARE`: runs the query now and keeps its rows.
    pub(super) fn declare_cursor(
        &mut self,
        stmts: &[ast::Declare],
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<StatementResult> {
        let [d] = stmts else {
            return Err(Error::syntax("DECLARE names one cursor"));
        };
        let (Some(ast::DeclareType::Cursor), [name], Some(q)) =
            (&d.declare_type, d.names.as_slice(), &d.for_query)
        else {
            return Err(Error::unsupported(
                "only DECLARE name CURSOR FOR query is supported",
            ));
        };
        if crate::sql::binder::has_dml_ctes(q) {
            return Err(Error::unsupported(
                "DECLARE CURSOR must not contain data-modifying statements in WITH",
            ));
        }
        let name = crate::sql::binder::ident(name);
        let hold = d.hold == Some(true);
        let explicit = self.txn.as_ref().is_some_and(|t| t.explicit);
        if !hold && !explicit {
            return Err(Error::new(
                SqlState::NO_ACTIVE_SQL_TRANSACTION,
                "DECLARE CURSOR can only be used in transaction blocks",
            ));
        }
        if self.cursors.contains_key(&name) {
            return Err(Error::new(
                SqlState::DUPLICATE_CURSOR,
                format!("cursor \"{name}\" already exists"),
            ));
        }
        let catalog = self.catalog()?;
        let (plan, columns) = self.plan_query_in(&catalog, q, prepared, params)?;
        let keyed = {
            let search_path = self.search_path(&catalog);
            let env = self.env(&catalog, &search_path);
            let t = self.txn.as_ref().expect("transaction started");
            let ctx = ExecCtx::new(&t.txn, params, &env);
            keyed_query_rows(&plan, &ctx, !q.locks.is_empty())?
        };
        let (rows, keys) = match keyed {
            Some((table, rows)) => {
                let (keys, rows) = rows.into_iter().unzip();
                (rows, Some((table, keys)))
            }
            None => (self.execute_plan_in(&catalog, &plan, params)?, None),
        };
        self.cursors.insert(
            name,
            Cursor {
                columns,
                rows,
                position: 0,
                hold,
                no_scroll: d.scroll == Some(false),
                uncommitted: true,
                keys,
            },
        );
        Ok(command_result("DECLARE CURSOR"))
    }

    /// The result columns of an open cursor (FETCH's, and what the wire
    /// protocol's Describe of the cursor's portal reports).
    pub fn cursor_columns(&self, name: &str) -> Option<Arc<Vec<ColumnInfo>>> {
        self.cursors.get(name).map(|c| c.columns.clone())
    }

    /// The columns FETCH from `name` returns (34000 if there is no such cursor).
    pub(super) fn fetch_columns(&self, name: &ast::Ident) -> Result<Vec<ColumnInfo>> {
        let name = crate::sql::binder::ident(name);
        self.cursor_columns(&name)
            .map(|c| c.as_ref().clone())
            .ok_or_else(|| no_cursor(&name))
    }

    /// `FETCH direction FROM name`: the rows it passes over, in order; or,
    /// for `MOVE` (`rows` false), only their number.
    pub(super) fn fetch_cursor(
        &mut self,
        name: &ast::Ident,
        direction: &ast::FetchDirection,
        rows: bool,
    ) -> Result<StatementResult> {
        use ast::FetchDirection as D;
        if self.transaction_failed() {
            return Err(Error::aborted_transaction());
        }
        let name = crate::sql::binder::ident(name);
        let c = self
            .cursors
            .get_mut(&name)
            .ok_or_else(|| no_cursor(&name))?;
        let n = c.rows.len() as i64;
        let p = c.position as i64;
        // (rows to return as 1-based positions, new position)
        let (range, position): (Vec<i64>, i64) = match direction {
            D::Next => forward(p, n, 1),
            D::Prior => backward(p, 1),
            D::Count { limit } => match count(limit)? {
                k if k >= 0 => forward(p, n, k),
                k => backward(p, -k),
            },
            D::Forward { limit } => match limit.as_ref().map(count).transpose()?.unwrap_or(1) {
                k if k >= 0 => forward(p, n, k),
                k => backward(p, -k),
            },
            D::All | D::ForwardAll => forward(p, n, n + 1),
            D::Backward { limit } => match limit.as_ref().map(count).transpose()?.unwrap_or(1) {
                k if k >= 0 => backward(p, k),
                k => forward(p, n, -k),
            },
            D::BackwardAll => backward(p, n + 1),
            D::First => absolute(n, 1),
            D::Last => absolute(n, n),
            D::Absolute { limit } => {
                let k = count(limit)?;
                absolute(n, if k < 0 { n + 1 + k } else { k })
            }
            D::Relative { limit } => match count(limit)? {
                0 if (1..=n).contains(&p) => (vec![p], p),
                0 => (vec![], p),
                k => absolute(n, p + k),
            },
        };
        // What PostgreSQL reads backwards: a row at or before the current
        // one, a move back, and LAST or a negative ABSOLUTE (read from the
        // end backwards).
        let from_end = match direction {
            D::Last => true,
            D::Absolute { limit } => count(limit)? < 0,
            _ => false,
        };
        let moves_back =
            from_end || position < p || range.first().is_some_and(|&r| p >= 1 && r <= p);
        if c.no_scroll && moves_back {
            return Err(Error::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "cursor can only scan forward",
            )
            .with_hint("Declare it with SCROLL option to enable backward scan."));
        }
        c.position = position as usize;
        if !rows {
            let mut result = command_result("MOVE");
            result.affected = range.len() as u64;
            return Ok(result);
        }
        let rows = range
            .into_iter()
            .map(|r| c.rows[r as usize - 1].clone())
            .collect();
        let mut result = rows_result_shared(c.columns.clone(), rows);
        result.command = std::borrow::Cow::Borrowed("FETCH");
        Ok(result)
    }

    /// `CLOSE name` / `CLOSE ALL`.
    pub(super) fn close_cursor(&mut self, cursor: &ast::CloseCursor) -> Result<StatementResult> {
        if self.transaction_failed() {
            return Err(Error::aborted_transaction());
        }
        match cursor {
            ast::CloseCursor::All => {
                self.cursors.clear();
                Ok(command_result("CLOSE CURSOR ALL"))
            }
            ast::CloseCursor::Specific { name } => {
                let name = crate::sql::binder::ident(name);
                self.cursors.remove(&name).ok_or_else(|| no_cursor(&name))?;
                Ok(command_result("CLOSE CURSOR"))
            }
        }
    }

    /// The transaction ended: cursors without HOLD go, and so do those it
    /// declared if it rolled back.
    pub(super) fn end_transaction_cursors(&mut self, committed: bool) {
        if self.cursors.is_empty() {
            return;
        }
        self.cursors
            .retain(|_, c| c.hold && (committed || !c.uncommitted));
        for c in self.cursors.values_mut() {
            c.uncommitted = false;
        }
    }
}

/// Moving forward `k` rows from position `p` of `n`.
fn forward(p: i64, n: i64, k: i64) -> (Vec<i64>, i64) {
    let last = (p + k).min(n);
    let rows = ((p + 1).max(1)..=last).collect();
    (rows, if p + k > n { n + 1 } else { p + k })
}

/// Moving backward `k` rows from position `p`.
fn backward(p: i64, k: i64) -> (Vec<i64>, i64) {
    let first = (p - k).max(1);
    let rows = (first..p).rev().collect();
    (rows, if p - k < 1 { 0 } else { p - k })
}

/// Jumping to row `k` (before the first or after the last if out of range).
fn absolute(n: i64, k: i64) -> (Vec<i64>, i64) {
    if k < 1 {
        (vec![], 0)
    } else if k > n {
        (vec![], n + 1)
    } else {
        (vec![k], k)
    }
}
