//! ORDER BY ... LIMIT n: the first `n` rows in sort order, kept while the
//! input is read (top-N) instead of sorting the whole input.
//!
//! Rows are offered to a [`TopN`] buffer, which admits a row only if its sort
//! key comes before the current n-th key. When the input is a scan of a
//! primary-index range (alone or under a projection), rows are not built one
//! vector at a time: each stored row is decoded into one reused buffer, and
//! only rows that are admitted are copied. When every sort key is a plain
//! column of the table and the projection (if any) only picks columns and
//! constants, a row is tested before it is projected; if the scan has no
//! filter, only the key columns are decoded before that test and the other
//! columns for admitted rows only. A scan's filter (row-level security
//! included) sees every row before its key is looked at, as it would in the
//! scan itself, and a projection that could fail runs for every row.

use super::{ExecCtx, Row, compare_for_sort, compare_keys, execute, scan};
use crate::error::{Error, Result};
use crate::sql::expr::{EvalCtx, Expr};
use crate::sql::plan::{Plan, SortKey};
use crate::types::Value;
use crate::types::encoding::decode_row_into;
use std::cmp::Ordering;

/// The first `k` rows of `input` in the order of `keys` (ties keep input order).
pub(super) fn top_n<'a>(
    input: &'a Plan,
    keys: &[SortKey],
    k: usize,
    ctx: &'a ExecCtx<'a>,
) -> Result<Vec<Row>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut top = TopN::new(keys, k);
    let ectx = ctx.eval_ctx();
    // EXPLAIN ANALYZE times every node, so it runs them as iterators.
    if ctx.cache.is_analyzing() || !offer_scan(input, &mut top, ctx, &ectx)? {
        for r in execute(input, ctx)? {
            let row = r?;
            if let Some(key) = top.admit(&row, &ectx)? {
                top.push(key, row);
            }
        }
    }
    Ok(top.finish())
}

/// Offers the rows of `input` to `top` straight from storage, if `input` is
/// a scan of a primary-index range or a projection over one; `false` (having
/// read nothing) otherwise.
fn offer_scan(input: &Plan, top: &mut TopN, ctx: &ExecCtx, ectx: &EvalCtx) -> Result<bool> {
    let (scan, exprs) = match input {
        Plan::Scan(s) => (s, None),
        Plan::Project { input, exprs, .. } => match input.as_ref() {
            Plan::Scan(s) => (s, Some(exprs.as_slice())),
            _ => return Ok(false),
        },
        _ => return Ok(false),
    };
    let table = &scan.table;
    let width = table.columns.len();
    let needed: Vec<bool> = match &scan.needed {
        Some(n) => (0..width)
            .map(|i| n.get(i).copied().unwrap_or(false))
            .collect(),
        None => vec![true; width],
    };
    // The table columns the sort keys read, if every key is a plain column
    // (through the projection, if there is one). Rows are compared with the
    // threshold before they are projected only if projecting cannot fail or
    // have effects (every output is a column or a constant): otherwise every
    // row is projected, as PostgreSQL does below its sort.
    let plain_project = exprs.is_none_or(|exprs| {
        exprs
            .iter()
            .all(|e| matches!(e, Expr::Column(_) | Expr::Literal(_)))
    });
    let key_col = |k: &SortKey| {
        let Expr::Column(i) = &k.expr else {
            return None;
        };
        let c = match exprs {
            None => *i,
            Some(exprs) => match exprs.get(*i)? {
                Expr::Column(c) => *c,
                _ => return None,
            },
        };
        (c < width && needed[c]).then_some(c)
    };
    let key_cols: Option<Vec<usize>> = if plain_project {
        top.keys.iter().map(key_col).collect()
    } else {
        None
    };
    // Without a filter, the key columns are decoded first and the rest of
    // the row only if it is admitted.
    let split: Option<(Vec<bool>, Vec<bool>)> = match (&key_cols, &scan.filter) {
        (Some(cols), None) => {
            let mut early = vec![false; width];
            for &c in cols {
                early[c] = true;
            }
            let late: Vec<bool> = needed.iter().zip(&early).map(|(n, e)| *n && !e).collect();
            late.contains(&true).then_some((early, late))
        }
        _ => None,
    };
    if let (Some((early, late)), Some(cols)) = (&split, &key_cols) {
        let mut row: Row = vec![Value::Null; width];
        let mut out: Row = Vec::new();
        return scan::each_primary_value(ctx.txn, scan, ctx, |bytes| {
            decode_row_into(bytes, Some(early), &mut row)?;
            if !top.may_enter(&row, cols) {
                return Ok(());
            }
            decode_row_into(bytes, Some(late), &mut row)?;
            offer_output(top, &row, exprs, &mut out, ectx)
        });
    }
    let mut out: Row = Vec::new();
    scan::each_primary_row(ctx.txn, scan, ctx, |row| {
        if let Some(cols) = &key_cols
            && !top.may_enter(row, cols)
        {
            return Ok(());
        }
        offer_output(top, row, exprs, &mut out, ectx)
    })
}

/// Offers a scan row to `top`, through the projection `exprs` if there is one.
fn offer_output(
    top: &mut TopN,
    row: &[Value],
    exprs: Option<&[Expr]>,
    out: &mut Row,
    ectx: &EvalCtx,
) -> Result<()> {
    let output: &[Value] = match exprs {
        None => row,
        Some(exprs) => {
            out.clear();
            for e in exprs {
                out.push(e.eval(row, ectx)?);
            }
            out
        }
    };
    if let Some(key) = top.admit(output, ectx)? {
        top.push(key, output.to_vec());
    }
    Ok(())
}

/// The first `k` rows offered, in sort order: a buffer of at most
/// `max(2k, 64)` rows is sorted (stably) and cut back to `k` whenever it
/// fills, which makes the whole O(n log k).
struct TopN<'k> {
    keys: &'k [SortKey],
    k: usize,
    cap: usize,
    /// Admitted rows with their sort keys, in the order they were offered.
    buf: Vec<(Vec<Value>, Row)>,
    /// The k-th key after the last cut: a later row whose key does not sort
    /// before it can never be among the first k (ties keep input order).
    threshold: Option<Vec<Value>>,
    /// The columns of the offered rows that the keys are, if every key is a
    /// plain column.
    plain: Option<Vec<usize>>,
    /// Reused for keys that are evaluated.
    key: Vec<Value>,
}

impl<'k> TopN<'k> {
    fn new(keys: &'k [SortKey], k: usize) -> TopN<'k> {
        let plain = keys
            .iter()
            .map(|k| match k.expr {
                Expr::Column(i) => Some(i),
                _ => None,
            })
            .collect();
        TopN {
            keys,
            k,
            cap: k.saturating_mul(2).max(64),
            buf: Vec::new(),
            threshold: None,
            plain,
            key: Vec::with_capacity(keys.len()),
        }
    }

    /// Whether a row whose sort keys are its columns `cols` sorts before the
    /// threshold. The caller guarantees that `cols` are within the row.
    fn may_enter(&self, row: &[Value], cols: &[usize]) -> bool {
        let Some(t) = &self.threshold else {
            return true;
        };
        for ((k, &c), tv) in self.keys.iter().zip(cols).zip(t) {
            match compare_for_sort(&row[c], tv, k.desc, k.nulls_first) {
                Ordering::Less => return true,
                Ordering::Greater => return false,
                Ordering::Equal => {}
            }
        }
        false
    }

    /// The sort key of `row` if the row is admitted, `None` if it cannot be
    /// among the first k.
    fn admit(&mut self, row: &[Value], ectx: &EvalCtx) -> Result<Option<Vec<Value>>> {
        if let Some(cols) = &self.plain {
            if cols.iter().any(|&c| c >= row.len()) {
                return Err(Error::internal("sort key past the end of the row"));
            }
            if !self.may_enter(row, cols) {
                return Ok(None);
            }
            return Ok(Some(cols.iter().map(|&c| row[c].clone()).collect()));
        }
        self.key.clear();
        for k in self.keys {
            self.key.push(k.expr.eval(row, ectx)?);
        }
        if let Some(t) = &self.threshold
            && compare_keys(self.keys, &self.key, t) != Ordering::Less
        {
            return Ok(None);
        }
        Ok(Some(std::mem::replace(
            &mut self.key,
            Vec::with_capacity(self.keys.len()),
        )))
    }

    /// Adds an admitted row.
    fn push(&mut self, key: Vec<Value>, row: Row) {
        self.buf.push((key, row));
        if self.buf.len() >= self.cap {
            self.cut();
        }
    }

    fn cut(&mut self) {
        let keys = self.keys;
        self.buf.sort_by(|(a, _), (b, _)| compare_keys(keys, a, b));
        self.buf.truncate(self.k);
        if self.buf.len() == self.k {
            self.threshold = self.buf.last().map(|(key, _)| key.clone());
        }
    }

    fn finish(mut self) -> Vec<Row> {
        self.cut();
        self.buf.into_iter().map(|(_, r)| r).collect()
    }
}
