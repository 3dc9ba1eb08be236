//! The executor: turns a [`Plan`] into an iterator of rows.
//!
//! Operators are pull-based iterators; scans, filters, projections and
//! limits stream, while sorts, aggregates, DISTINCT and the inner side of a
//! nested loop materialise. Data-changing statements live in [`dml`].

mod agg;
pub mod dml;
pub mod index_keys;
mod join;
pub mod scan;
mod setop;
mod subquery;
mod topn;
mod window;

pub use subquery::{NodeStats, StatementState};

use crate::error::{Error, Result, SqlState};
use crate::sql::expr::{EvalCtx, EvalEnv, Expr, OuterRow, Subquery, SubqueryEval};
use crate::sql::functions::value_to_i64;
use crate::sql::plan::{JoinKind, Plan, SortKey};
use crate::txn::Transaction;
use crate::types::{BinaryOp, DataType, Value};
use std::cmp::Ordering;
use std::collections::HashSet;

pub type Row = Vec<Value>;
pub type RowIter<'a> = Box<dyn Iterator<Item = Result<Row>> + 'a>;

/// What operators need while running: the transaction to read through,
/// parameter values and session services.
pub struct ExecCtx<'a> {
    pub txn: &'a Transaction,
    pub params: &'a [Value],
    pub env: &'a dyn EvalEnv,
    /// Current rows of enclosing queries (inside a correlated subquery).
    pub outer: Option<&'a OuterRow<'a>>,
    /// Results of uncorrelated subqueries, shared by the whole statement.
    pub cache: std::rc::Rc<StatementState>,
}

impl<'a> ExecCtx<'a> {
    pub fn new(txn: &'a Transaction, params: &'a [Value], env: &'a dyn EvalEnv) -> ExecCtx<'a> {
        ExecCtx {
            txn,
            params,
            env,
            outer: None,
            cache: Default::default(),
        }
    }

    pub fn eval_ctx(&'a self) -> EvalCtx<'a> {
        EvalCtx {
            params: self.params,
            env: self.env,
            outer: self.outer,
            subqueries: Some(self),
        }
    }
}

/// Runs a query plan.
pub fn execute<'a>(plan: &'a Plan, ctx: &'a ExecCtx<'a>) -> Result<RowIter<'a>> {
    // Plans nest as deep as their UNION chains are long.
    crate::stack::guard(|| execute_plan(plan, ctx))
}

fn execute_plan<'a>(plan: &'a Plan, ctx: &'a ExecCtx<'a>) -> Result<RowIter<'a>> {
    if !ctx.cache.is_analyzing() {
        return execute_node(plan, ctx);
    }
    let node = plan as *const Plan as usize;
    let start = std::time::Instant::now();
    let inner = execute_node(plan, ctx)?;
    ctx.cache.record(node, 0, 1, start.elapsed());
    Ok(Box::new(Timed {
        inner,
        node,
        state: ctx.cache.clone(),
    }))
}

/// Checks `statement_timeout` every 1024 rows of `rows`.
pub(crate) fn interruptible<'a, T: 'a>(
    rows: impl Iterator<Item = Result<T>> + 'a,
    env: &'a dyn EvalEnv,
) -> impl Iterator<Item = Result<T>> + 'a {
    let mut n: u32 = 0;
    rows.map(move |r| {
        n = n.wrapping_add(1);
        if n.is_multiple_of(1024) {
            env.check_interrupt()?;
        }
        r
    })
}

/// Runs a node that `execute` does not see (a sort done as top-N), counting it
/// for EXPLAIN ANALYZE.
fn timed(ctx: &ExecCtx, node: &Plan, run: impl FnOnce() -> Result<Vec<Row>>) -> Result<Vec<Row>> {
    let start = std::time::Instant::now();
    let rows = run()?;
    ctx.cache.record(
        node as *const Plan as usize,
        rows.len() as u64,
        1,
        start.elapsed(),
    );
    Ok(rows)
}

/// Counts the rows and time of one plan node (EXPLAIN ANALYZE).
struct Timed<'a> {
    inner: RowIter<'a>,
    node: usize,
    state: std::rc::Rc<StatementState>,
}

impl Iterator for Timed<'_> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        let start = std::time::Instant::now();
        let r = self.inner.next();
        let rows = matches!(r, Some(Ok(_))) as u64;
        self.state.record(self.node, rows, 0, start.elapsed());
        r
    }
}

fn execute_node<'a>(plan: &'a Plan, ctx: &'a ExecCtx<'a>) -> Result<RowIter<'a>> {
    let ectx = ctx.eval_ctx();
    Ok(match plan {
        Plan::Values { rows, .. } => {
            let ectx2 = ctx.eval_ctx();
            Box::new(rows.iter().map(move |r| Expr::eval_all(r, &[], &ectx2)))
        }
        Plan::Scan(s) => match scan::point_row(ctx.txn, s, ctx)? {
            Some(row) => Box::new(row.into_iter().map(Ok)),
            None => Box::new(
                scan::filtered_rows(ctx.txn, s, ctx, false)?.map(|r| r.map(|(_, row)| row)),
            ),
        },
        Plan::Series { args, column } => {
            Box::new(interruptible(series(args, &column.ty, ctx)?, ctx.env))
        }
        Plan::Filter { input, predicate } => {
            let input = execute(input, ctx)?;
            Box::new(input.filter_map(move |r| match r {
                Ok(row) => match predicate.eval_pred(&row, &ectx) {
                    Ok(true) => Some(Ok(row)),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                },
                Err(e) => Some(Err(e)),
            }))
        }
        Plan::Project { input, exprs, .. } => {
            let input = execute(input, ctx)?;
            // A plain column referenced once by the whole projection is moved
            // out of the input row instead of cloned.
            let mut uses = std::collections::HashMap::<usize, usize>::new();
            for e in exprs {
                e.walk(&mut |x| {
                    if let crate::sql::expr::Expr::Column(i) = x {
                        *uses.entry(*i).or_default() += 1;
                    }
                });
            }
            let movable: Vec<Option<usize>> = exprs
                .iter()
                .map(|e| match e {
                    crate::sql::expr::Expr::Column(i) if uses.get(i) == Some(&1) => Some(*i),
                    _ => None,
                })
                .collect();
            // Columns picked in increasing order are moved down within the
            // input row itself (no new row per input row).
            let in_place: Option<Vec<usize>> = movable
                .iter()
                .copied()
                .collect::<Option<Vec<usize>>>()
                .filter(|cols| cols.windows(2).all(|w| w[0] < w[1]));
            if let Some(cols) = in_place {
                return Ok(Box::new(input.map(move |r| {
                    let mut row = r?;
                    if cols.last().is_some_and(|&c| c >= row.len()) {
                        return Err(Error::internal("projection reads past the row"));
                    }
                    for (j, &i) in cols.iter().enumerate() {
                        if i != j {
                            row[j] = std::mem::replace(&mut row[i], Value::Null);
                        }
                    }
                    row.truncate(cols.len());
                    Ok(row)
                })));
            }
            Box::new(input.map(move |r| {
                let mut row = r?;
                let mut out = Vec::with_capacity(exprs.len());
                for (e, m) in exprs.iter().zip(&movable) {
                    out.push(match m {
                        Some(i) if *i < row.len() => std::mem::replace(&mut row[*i], Value::Null),
                        _ => e.eval(&row, &ectx)?,
                    });
                }
                Ok(out)
            }))
        }
        Plan::Aggregate {
            input,
            group_by,
            aggs,
            ..
        } => {
            let input = execute(input, ctx)?;
            let rows = agg::aggregate(input, group_by, aggs, &ectx)?;
            Box::new(rows.into_iter().map(Ok))
        }
        Plan::Sort { input, keys } => {
            let input = execute(input, ctx)?;
            let rows = sort(input, keys, &ectx)?;
            Box::new(rows.into_iter().map(Ok))
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let count = |e: &Option<crate::sql::expr::Expr>,
                         what: &str,
                         code: SqlState|
             -> Result<Option<i64>> {
                match e {
                    None => Ok(None),
                    Some(e) => match value_to_i64(&e.eval(&[], &ectx)?)? {
                        Some(n) if n < 0 => {
                            Err(Error::new(code, format!("{what} must not be negative")))
                        }
                        other => Ok(other),
                    },
                }
            };
            let limit = count(limit, "LIMIT", SqlState::INVALID_ROW_COUNT_IN_LIMIT)?;
            let offset =
                count(offset, "OFFSET", SqlState::INVALID_ROW_COUNT_IN_OFFSET)?.unwrap_or(0);
            // ORDER BY ... LIMIT keeps only the first rows while sorting (top-N).
            let bound = limit.map(|n| (n as usize).saturating_add(offset as usize));
            let input: RowIter = match (input.as_ref(), bound) {
                (sort @ Plan::Sort { input: rows, keys }, Some(k)) => {
                    let rows = timed(ctx, sort, || topn::top_n(rows, keys, k, ctx))?;
                    Box::new(rows.into_iter().map(Ok))
                }
                (Plan::Truncate { input: t, keep }, Some(k))
                    if matches!(t.as_ref(), Plan::Sort { .. }) =>
                {
                    let Plan::Sort { input: rows, keys } = t.as_ref() else {
                        unreachable!("matched above")
                    };
                    let keep = *keep;
                    let rows = timed(ctx, t, || topn::top_n(rows, keys, k, ctx))?;
                    Box::new(rows.into_iter().map(move |mut r| {
                        r.truncate(keep);
                        Ok(r)
                    }))
                }
                _ => execute(input, ctx)?,
            };
            let skipped = input.skip(offset as usize);
            match limit {
                Some(n) => Box::new(skipped.take(n as usize)),
                None => Box::new(skipped),
            }
        }
        Plan::Distinct { input, on } => {
            let input = execute(input, ctx)?;
            let mut seen = HashSet::new();
            Box::new(input.filter_map(move |r| match r {
                Ok(row) => {
                    let key = match on {
                        Some(cols) => cols.iter().map(|&i| row[i].clone()).collect(),
                        None => row.clone(),
                    };
                    if seen.insert(key) {
                        Some(Ok(row))
                    } else {
                        None
                    }
                }
                Err(e) => Some(Err(e)),
            }))
        }
        Plan::NestedLoop {
            left,
            right,
            kind,
            on,
            lateral: true,
        } => join::lateral(left, right, *kind, on.as_ref(), ctx)?,
        Plan::NestedLoop {
            left,
            right,
            kind,
            on,
            lateral: false,
        } => join(left, right, *kind, join::Probe::All, None, on.as_ref(), ctx)?,
        Plan::HashJoin {
            left,
            right,
            kind,
            left_keys,
            right_keys,
            on,
        } => join(
            left,
            right,
            *kind,
            join::Probe::Hash {
                left_keys,
                table: Default::default(),
            },
            Some(right_keys),
            on.as_ref(),
            ctx,
        )?,
        Plan::SetOp {
            op,
            all,
            left,
            right,
        } => setop::set_op(*op, *all, left, right, ctx)?,
        Plan::Window { input, calls, .. } => {
            let rows: Vec<Row> = execute(input, ctx)?.collect::<Result<_>>()?;
            Box::new(window::window(rows, calls, &ectx)?.into_iter().map(Ok))
        }
        Plan::RecursiveCte {
            id,
            anchor,
            step,
            union_all,
            ..
        } => setop::recursive(*id, anchor, step, *union_all, ctx)?,
        Plan::SessionRelation { name, args, .. } => {
            let args = Expr::eval_all(args, &[], &ectx)?;
            Box::new(
                ctx.env
                    .session_relation(name, &args, ctx.txn)?
                    .into_iter()
                    .map(Ok),
            )
        }
        Plan::WorkTable { id, .. } => {
            let rows = ctx.cache.work_table(*id);
            Box::new((0..rows.len()).map(move |i| Ok(rows[i].clone())))
        }
        Plan::Barrier { input } => execute(input, ctx)?,
        Plan::Truncate { input, keep } => {
            let input = execute(input, ctx)?;
            let keep = *keep;
            Box::new(input.map(move |r| {
                r.map(|mut row| {
                    row.truncate(keep);
                    row
                })
            }))
        }
    })
}

impl SubqueryEval for ExecCtx<'_> {
    fn eval_subquery(
        &self,
        sq: &Subquery,
        lhs: Option<Value>,
        row: &[Value],
        ctx: &EvalCtx,
    ) -> Result<Value> {
        subquery::eval(self, sq, lhs, row, ctx)
    }
}

/// Calls `f` with each row of `plan`. A scan of a primary-index range lends
/// its rows from one reused buffer instead of building a vector per row, so
/// `f` copies what it keeps.
fn for_each_row<'a>(
    plan: &'a Plan,
    ctx: &'a ExecCtx<'a>,
    mut f: impl FnMut(&[Value]) -> Result<()>,
) -> Result<()> {
    // EXPLAIN ANALYZE times every node, so it runs them as iterators.
    if let Plan::Scan(s) = plan
        && !ctx.cache.is_analyzing()
        && scan::each_primary_row(ctx.txn, s, ctx, &mut f)?
    {
        return Ok(());
    }
    for r in execute(plan, ctx)? {
        f(&r?)?;
    }
    Ok(())
}

/// Runs a join: materialises the right input (hashing it for a hash join)
/// and streams the left.
fn join<'a>(
    left: &'a Plan,
    right: &'a Plan,
    kind: JoinKind,
    mut probe: join::Probe<'a>,
    right_keys: Option<&'a [Expr]>,
    on: Option<&'a Expr>,
    ctx: &'a ExecCtx<'a>,
) -> Result<RowIter<'a>> {
    let ectx = ctx.eval_ctx();
    let right_rows: Vec<Row> = match right_keys {
        // A semi or anti join without a residual condition only asks whether
        // a key occurs: keep one right row per key (NULL keys never match).
        Some(keys) if matches!(kind, JoinKind::Semi | JoinKind::Anti) && on.is_none() => {
            let mut seen = std::collections::HashSet::new();
            let mut rows = Vec::new();
            let mut key = Vec::with_capacity(keys.len());
            for_each_row(right, ctx, |r| {
                key.clear();
                for k in keys {
                    key.push(k.eval(r, &ectx)?);
                }
                if !key.iter().any(Value::is_null) && !seen.contains(&key) {
                    seen.insert(key.clone());
                    rows.push(r.to_vec());
                }
                Ok(())
            })?;
            rows
        }
        _ => execute(right, ctx)?.collect::<Result<_>>()?,
    };
    if let (join::Probe::Hash { table, .. }, Some(keys)) = (&mut probe, right_keys) {
        *table = join::build_hash(&right_rows, keys, &ectx)?;
    }
    // An inner join with nothing to match produces nothing: skip the left input.
    if right_rows.is_empty() && matches!(kind, JoinKind::Inner | JoinKind::Semi) {
        return Ok(Box::new(std::iter::empty()));
    }
    Ok(Box::new(join::JoinIter {
        left: execute(left, ctx)?,
        matched: vec![false; right_rows.len()],
        right_width: right.columns().len(),
        left_width: left.columns().len(),
        right: right_rows,
        probe,
        kind,
        on,
        ectx,
        pending: Default::default(),
        tail: None,
        key: Vec::new(),
    }))
}

/// Compares two values for ORDER BY: NULLs first or last, then value order.
#[inline]
pub fn compare_for_sort(a: &Value, b: &Value, desc: bool, nulls_first: bool) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => {
            if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (false, true) => {
            if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (false, false) => {
            let o = a.cmp(b);
            if desc { o.reverse() } else { o }
        }
    }
}

pub(super) fn compare_keys(keys: &[SortKey], a: &[Value], b: &[Value]) -> Ordering {
    for (i, k) in keys.iter().enumerate() {
        let o = compare_for_sort(&a[i], &b[i], k.desc, k.nulls_first);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn sort(input: RowIter, keys: &[SortKey], ectx: &EvalCtx) -> Result<Vec<Row>> {
    let mut keyed: Vec<(Vec<Value>, Row)> = Vec::new();
    for r in input {
        let row = r?;
        let k = Expr::eval_all_keys(keys, &row, ectx)?;
        keyed.push((k, row));
    }
    keyed.sort_by(|(a, _), (b, _)| compare_keys(keys, a, b));
    Ok(keyed.into_iter().map(|(_, r)| r).collect())
}

/// generate_series over integers, numerics or timestamps (lazily).
fn series<'a>(
    args: &'a [crate::sql::expr::Expr],
    ty: &DataType,
    ctx: &'a ExecCtx<'a>,
) -> Result<RowIter<'a>> {
    let ectx = ctx.eval_ctx();
    let vals: Vec<Value> = args
        .iter()
        .map(|a| a.eval(&[], &ectx))
        .collect::<Result<_>>()?;
    if vals.iter().any(|v| v.is_null()) {
        return Ok(Box::new(std::iter::empty()));
    }
    let start = vals[0].clone();
    let stop = vals[1].clone();
    let step = match vals.get(2) {
        Some(s) => s.clone(),
        None if ty.is_temporal() => {
            return Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!(
                    "function generate_series({0}, {0}) does not exist",
                    ty.name()
                ),
            ));
        }
        None => Value::Int4(1).cast(ty)?,
    };
    let zero = match &step {
        Value::Interval(iv) => iv.months == 0 && iv.days == 0 && iv.micros == 0,
        other => other.sql_cmp(&Value::Int4(0)) == Some(Ordering::Equal),
    };
    if zero {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "step size cannot equal zero",
        ));
    }
    let ascending = match &step {
        Value::Interval(iv) => iv.months > 0 || iv.days > 0 || iv.micros > 0,
        other => other.sql_cmp(&Value::Int4(0)) == Some(Ordering::Greater),
    };
    let mut cur = Some(start);
    Ok(Box::new(std::iter::from_fn(move || {
        let c = cur.take()?;
        let past = match c.sql_cmp(&stop) {
            Some(Ordering::Greater) => ascending,
            Some(Ordering::Less) => !ascending,
            _ => false,
        };
        if past {
            return None;
        }
        // Overflow past the type's range ends the series, as in PostgreSQL.
        cur = BinaryOp::Plus.eval(&c, &step).ok();
        Some(Ok(vec![c]))
    })))
}
