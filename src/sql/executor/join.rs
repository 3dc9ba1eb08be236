//! Joins: nested loop and hash join, for every [`JoinKind`].
//!
//! The right input is materialised (and, for a hash join, indexed by its
//! keys); the left input streams. Right and full joins remember which right
//! rows matched and emit the others, NULL-extended, after the left input ends.

use super::{Row, RowIter};
use crate::error::Result;
use crate::sql::expr::{EvalCtx, Expr};
use crate::sql::plan::JoinKind;
use crate::types::Value;
use std::collections::{HashMap, VecDeque};

/// How candidate right rows are found for a left row.
pub(super) enum Probe<'a> {
    /// Every right row is a candidate.
    All,
    /// Right rows indexed by their key values.
    Hash {
        left_keys: &'a [Expr],
        table: HashMap<Vec<Value>, Vec<usize>>,
    },
}

/// Builds the hash table of a hash join: right rows by key (rows with a NULL
/// key can never match and are left out).
pub(super) fn build_hash(
    rows: &[Row],
    keys: &[Expr],
    ectx: &EvalCtx,
) -> Result<HashMap<Vec<Value>, Vec<usize>>> {
    let mut table: HashMap<Vec<Value>, Vec<usize>> = HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let key = Expr::eval_all(keys, row, ectx)?;
        if key.iter().any(Value::is_null) {
            continue;
        }
        table.entry(key).or_default().push(i);
    }
    Ok(table)
}

pub(super) struct JoinIter<'a> {
    pub left: RowIter<'a>,
    pub right: Vec<Row>,
    pub right_width: usize,
    pub probe: Probe<'a>,
    pub kind: JoinKind,
    pub on: Option<&'a Expr>,
    pub ectx: EvalCtx<'a>,
    /// Right rows that matched some left row (right and full joins).
    pub matched: Vec<bool>,
    /// Output rows produced for the current left row, not yet returned.
    pub pending: VecDeque<Row>,
    /// Position in `right` while emitting unmatched right rows.
    pub tail: Option<usize>,
    pub left_width: usize,
    /// The probe key of the current left row (reused).
    pub key: Vec<Value>,
}

impl<'a> JoinIter<'a> {
    /// Joins one left row, queueing its output rows in `pending`.
    fn join_row(&mut self, l: Row) -> Result<()> {
        let JoinIter {
            right,
            probe,
            kind,
            on,
            ectx,
            matched,
            pending,
            key,
            right_width,
            ..
        } = self;
        // Every right row (nested loop), or the rows under the key (hash).
        let (every, hashed): (Option<std::ops::Range<usize>>, &[usize]) = match probe {
            Probe::All => (Some(0..right.len()), &[]),
            Probe::Hash { left_keys, table } => {
                key.clear();
                for k in left_keys.iter() {
                    key.push(k.eval(&l, ectx)?);
                }
                if key.iter().any(Value::is_null) {
                    (None, &[])
                } else {
                    (None, table.get(key.as_slice()).map_or(&[], Vec::as_slice))
                }
            }
        };
        let count = every.as_ref().map_or(hashed.len(), |r| r.len());
        let candidates = every.into_iter().flatten().chain(hashed.iter().copied());
        let mut l = Some(l);
        let mut any = false;
        let track = matches!(kind, JoinKind::Right | JoinKind::Full);
        let last = count.saturating_sub(1);
        for (n, i) in candidates.enumerate() {
            let r = &right[i];
            let left_row = l.as_ref().expect("the left row is moved only at the end");
            let ok = match on {
                None => true,
                Some(p) => {
                    let mut row = Vec::with_capacity(left_row.len() + r.len());
                    row.extend_from_slice(left_row);
                    row.extend_from_slice(r);
                    let ok = p.eval_pred(&row, ectx)?;
                    if ok && kind.has_right_columns() {
                        pending.push_back(row);
                    }
                    ok
                }
            };
            if !ok {
                continue;
            }
            any = true;
            if track {
                matched[i] = true;
            }
            match kind {
                JoinKind::Semi | JoinKind::Anti => break,
                _ => {
                    if on.is_none() {
                        // The last candidate takes the left row itself.
                        let mut row = if n == last {
                            l.take().expect("taken once")
                        } else {
                            left_row.clone()
                        };
                        row.reserve(r.len());
                        row.extend_from_slice(r);
                        pending.push_back(row);
                    }
                }
            }
        }
        match kind {
            JoinKind::Semi if any => pending.extend(l),
            JoinKind::Anti if !any => pending.extend(l),
            JoinKind::Left | JoinKind::Full if !any => {
                if let Some(mut row) = l {
                    row.resize(row.len() + *right_width, Value::Null);
                    pending.push_back(row);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Iterator for JoinIter<'_> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            if let Some(row) = self.pending.pop_front() {
                return Some(Ok(row));
            }
            if let Some(pos) = self.tail.as_mut() {
                // Unmatched right rows, NULL-extended on the left.
                while *pos < self.right.len() {
                    let i = *pos;
                    *pos += 1;
                    if !self.matched[i] {
                        let mut row = vec![Value::Null; self.left_width];
                        row.extend_from_slice(&self.right[i]);
                        return Some(Ok(row));
                    }
                }
                return None;
            }
            match self.left.next() {
                Some(Ok(l)) => {
                    if let Err(e) = self
                        .ectx
                        .env
                        .check_interrupt()
                        .and_then(|_| self.join_row(l))
                    {
                        return Some(Err(e));
                    }
                }
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
                        self.tail = Some(0);
                    } else {
                        return None;
                    }
                }
            }
        }
    }
}

/// A LATERAL join: the right plan runs once per left row, with the left row
/// as its enclosing row (inner and left joins only).
pub(super) fn lateral<'a>(
    left: &'a crate::sql::plan::Plan,
    right: &'a crate::sql::plan::Plan,
    kind: JoinKind,
    on: Option<&'a Expr>,
    ctx: &'a super::ExecCtx<'a>,
) -> Result<RowIter<'a>> {
    let right_width = right.columns().len();
    let left_rows = super::execute(left, ctx)?;
    let ectx = ctx.eval_ctx();
    Ok(Box::new(left_rows.flat_map(move |l| {
        let run = || -> Result<Vec<Row>> {
            let l = l?;
            let outer = crate::sql::expr::OuterRow {
                row: &l,
                parent: ctx.outer,
            };
            let child = super::ExecCtx {
                txn: ctx.txn,
                params: ctx.params,
                env: ctx.env,
                outer: Some(&outer),
                cache: ctx.cache.clone(),
            };
            let mut out = Vec::new();
            for r in super::execute(right, &child)? {
                let mut row = l.clone();
                row.extend(r?);
                let ok = match on {
                    None => true,
                    Some(p) => p.eval_pred(&row, &ectx)?,
                };
                if ok {
                    out.push(row);
                }
            }
            if out.is_empty() && kind == JoinKind::Left {
                let mut row = l.clone();
                row.resize(row.len() + right_width, Value::Null);
                out.push(row);
            }
            Ok(out)
        };
        match run() {
            Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        }
    })))
}
