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
use std::collections::HashMap;

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
    pub pending: std::vec::IntoIter<Row>,
    /// Position in `right` while emitting unmatched right rows.
    pub tail: Option<usize>,
    pub left_width: usize,
}

impl<'a> JoinIter<'a> {
    fn join_row(&mut self, l: Row) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        let candidates: Box<dyn Iterator<Item = usize> + '_> = match &self.probe {
            Probe::All => Box::new(0..self.right.len()),
            Probe::Hash { left_keys, table } => {
                let key = Expr::eval_all(left_keys, &l, &self.ectx)?;
                if key.iter().any(Value::is_null) {
                    Box::new(std::iter::empty())
                } else {
                    match table.get(&key) {
                        Some(ix) => Box::new(ix.iter().copied()),
                        None => Box::new(std::iter::empty()),
                    }
                }
            }
        };
        let mut any = false;
        let mut hits = Vec::new();
        for i in candidates {
            let r = &self.right[i];
            let ok = match self.on {
                None => true,
                Some(p) => {
                    let mut row = Vec::with_capacity(l.len() + r.len());
                    row.extend_from_slice(&l);
                    row.extend_from_slice(r);
                    let ok = p.eval_pred(&row, &self.ectx)?;
                    if ok && self.kind.has_right_columns() {
                        out.push(row);
                    }
                    ok
                }
            };
            if !ok {
                continue;
            }
            any = true;
            match self.kind {
                JoinKind::Semi | JoinKind::Anti => break,
                _ => {
                    if self.on.is_none() {
                        let mut row = Vec::with_capacity(l.len() + r.len());
                        row.extend_from_slice(&l);
                        row.extend_from_slice(r);
                        out.push(row);
                    }
                    hits.push(i);
                }
            }
        }
        if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
            for i in hits {
                self.matched[i] = true;
            }
        }
        match self.kind {
            JoinKind::Semi if any => out.push(l),
            JoinKind::Anti if !any => out.push(l),
            JoinKind::Left | JoinKind::Full if !any => {
                let mut row = l;
                row.resize(row.len() + self.right_width, Value::Null);
                out.push(row);
            }
            _ => {}
        }
        Ok(out)
    }
}

impl Iterator for JoinIter<'_> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            if let Some(row) = self.pending.next() {
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
                Some(Ok(l)) => match self
                    .ectx
                    .env
                    .check_interrupt()
                    .and_then(|_| self.join_row(l))
                {
                    Ok(rows) => self.pending = rows.into_iter(),
                    Err(e) => return Some(Err(e)),
                },
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
