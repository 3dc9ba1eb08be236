//! Subqueries in expressions: scalar, EXISTS, ARRAY, IN, ANY and ALL.
//!
//! An uncorrelated subquery runs once per statement; its result is cached by
//! subquery id. A correlated one runs again for every row that evaluates it,
//! with that row pushed onto the chain of enclosing rows that
//! [`Expr::Outer`](crate::sql::expr::Expr::Outer) reads. EXISTS stops at the
//! first row and a scalar subquery at the second.

use super::{ExecCtx, execute};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::{EvalCtx, OuterRow, Subquery, SubqueryKind};
use crate::types::{DataType, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// State shared by every operator of one statement: results of
/// uncorrelated subqueries (by subquery id), the current round's rows of
/// each recursive CTE (by CTE id), and EXPLAIN ANALYZE's per-node counters.
#[derive(Default)]
pub struct StatementState {
    results: RefCell<HashMap<usize, Rc<Cached>>>,
    work_tables: RefCell<HashMap<usize, Rc<Vec<Vec<Value>>>>>,
    /// Per plan node (by address): rows, loops, time. None unless analyzing.
    stats: RefCell<Option<HashMap<usize, NodeStats>>>,
}

/// What EXPLAIN ANALYZE reports for one plan node.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeStats {
    pub rows: u64,
    pub loops: u64,
    pub time: std::time::Duration,
}

impl StatementState {
    /// A state that counts rows and time per plan node.
    pub fn analyzing() -> StatementState {
        StatementState {
            stats: RefCell::new(Some(HashMap::new())),
            ..Default::default()
        }
    }

    pub(super) fn is_analyzing(&self) -> bool {
        self.stats.borrow().is_some()
    }

    pub(super) fn record(&self, node: usize, rows: u64, loops: u64, time: std::time::Duration) {
        if let Some(m) = self.stats.borrow_mut().as_mut() {
            let s = m.entry(node).or_default();
            s.rows += rows;
            s.loops += loops;
            s.time += time;
        }
    }

    /// The counters of a plan node, if it ran.
    pub fn node_stats(&self, node: &crate::sql::plan::Plan) -> Option<NodeStats> {
        let key = node as *const crate::sql::plan::Plan as usize;
        self.stats.borrow().as_ref()?.get(&key).copied()
    }
    pub(crate) fn set_work_table(&self, id: usize, rows: Rc<Vec<Vec<Value>>>) {
        self.work_tables.borrow_mut().insert(id, rows);
    }

    pub(super) fn work_table(&self, id: usize) -> Rc<Vec<Vec<Value>>> {
        self.work_tables
            .borrow()
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }
}

enum Cached {
    Value(Value),
    /// First-column values (for IN, ANY, ALL).
    Set {
        values: Vec<Value>,
        distinct: HashSet<Value>,
        has_null: bool,
    },
}

/// Evaluates `sq` for the current `row` (whose enclosing rows are `ctx.outer`).
pub(super) fn eval(
    exec: &ExecCtx,
    sq: &Subquery,
    lhs: Option<Value>,
    row: &[Value],
    ctx: &EvalCtx,
) -> Result<Value> {
    let cached = if sq.correlated {
        None
    } else {
        exec.cache.results.borrow().get(&sq.id).cloned()
    };
    let result = match cached {
        Some(c) => c,
        None => {
            let outer = OuterRow {
                row,
                parent: ctx.outer,
            };
            let child = ExecCtx {
                txn: exec.txn,
                params: exec.params,
                env: exec.env,
                outer: Some(&outer),
                cache: exec.cache.clone(),
            };
            let c = Rc::new(run(&child, sq)?);
            if !sq.correlated {
                exec.cache.results.borrow_mut().insert(sq.id, c.clone());
            }
            c
        }
    };
    match (&*result, sq.kind) {
        (Cached::Value(v), _) => Ok(v.clone()),
        (
            Cached::Set {
                values,
                distinct,
                has_null,
            },
            kind,
        ) => {
            let lhs = lhs.ok_or_else(|| Error::internal("IN/ANY/ALL without a left operand"))?;
            match kind {
                SubqueryKind::In => Ok(in_set(&lhs, values, distinct, *has_null)),
                SubqueryKind::Any(op) => {
                    crate::sql::expr::quantified(&lhs, op, values, *has_null, true)
                }
                SubqueryKind::All(op) => {
                    crate::sql::expr::quantified(&lhs, op, values, *has_null, false)
                }
                _ => Err(Error::internal("subquery result of the wrong kind")),
            }
        }
    }
}

fn run(ctx: &ExecCtx, sq: &Subquery) -> Result<Cached> {
    let mut rows = execute(&sq.plan, ctx)?;
    Ok(match sq.kind {
        SubqueryKind::Exists => Cached::Value(Value::Bool(match rows.next() {
            Some(r) => {
                r?;
                true
            }
            None => false,
        })),
        SubqueryKind::Scalar => {
            let first = match rows.next() {
                Some(r) => r?.into_iter().next().unwrap_or(Value::Null),
                None => Value::Null,
            };
            if let Some(r) = rows.next() {
                r?;
                return Err(Error::new(
                    SqlState::CARDINALITY_VIOLATION,
                    "more than one row returned by a subquery used as an expression",
                ));
            }
            Cached::Value(first)
        }
        SubqueryKind::Array => {
            let elem = sq
                .plan
                .columns()
                .first()
                .map(|c| c.ty.clone())
                .unwrap_or(DataType::Text);
            let mut vals = Vec::new();
            for r in rows {
                vals.push(r?.into_iter().next().unwrap_or(Value::Null));
            }
            Cached::Value(Value::Array(elem, vals))
        }
        SubqueryKind::In | SubqueryKind::Any(_) | SubqueryKind::All(_) => {
            let mut values = Vec::new();
            let mut distinct = HashSet::new();
            let mut has_null = false;
            for r in rows {
                let v = r?.into_iter().next().unwrap_or(Value::Null);
                if v.is_null() {
                    has_null = true;
                } else if sq.kind == SubqueryKind::In {
                    distinct.insert(v);
                } else {
                    values.push(v);
                }
            }
            Cached::Set {
                values,
                distinct,
                has_null,
            }
        }
    })
}

/// `lhs IN (set)` with SQL's NULL rules: NULL unless found or provably absent.
fn in_set(lhs: &Value, values: &[Value], distinct: &HashSet<Value>, has_null: bool) -> Value {
    debug_assert!(values.is_empty());
    if distinct.is_empty() && !has_null {
        return Value::Bool(false);
    }
    if lhs.is_null() {
        return Value::Null;
    }
    if distinct.contains(lhs) {
        Value::Bool(true)
    } else if has_null {
        Value::Null
    } else {
        Value::Bool(false)
    }
}
