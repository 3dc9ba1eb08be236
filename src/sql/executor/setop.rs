//! UNION / INTERSECT / EXCEPT [ALL] and recursive CTEs.
//!
//! Rows compare as in PostgreSQL's set operations: NULLs are equal to each
//! other (duplicates are decided by "not distinct", not by `=`).

use super::{ExecCtx, Row, RowIter, execute};
use crate::error::Result;
use crate::sql::plan::{Plan, SetOpKind};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

pub(super) fn set_op<'a>(
    op: SetOpKind,
    all: bool,
    left: &'a Plan,
    right: &'a Plan,
    ctx: &'a ExecCtx<'a>,
) -> Result<RowIter<'a>> {
    match op {
        SetOpKind::Union => {
            let both = execute(left, ctx)?.chain(execute(right, ctx)?);
            if all {
                return Ok(Box::new(both));
            }
            let mut seen = HashSet::new();
            Ok(Box::new(both.filter(move |r| match r {
                Ok(row) => seen.insert(row.clone()),
                Err(_) => true,
            })))
        }
        SetOpKind::Intersect | SetOpKind::Except => {
            // Multiplicity of each right row.
            let mut counts: HashMap<Row, usize> = HashMap::new();
            for r in execute(right, ctx)? {
                *counts.entry(r?).or_default() += 1;
            }
            let mut emitted: HashSet<Row> = HashSet::new();
            let intersect = op == SetOpKind::Intersect;
            Ok(Box::new(execute(left, ctx)?.filter_map(move |r| {
                let row = match r {
                    Ok(row) => row,
                    Err(e) => return Some(Err(e)),
                };
                let in_right = match counts.get_mut(&row) {
                    Some(n) if *n > 0 => {
                        if all {
                            *n -= 1;
                        }
                        true
                    }
                    _ => false,
                };
                let keep = in_right == intersect;
                if !keep || (!all && !emitted.insert(row.clone())) {
                    return None;
                }
                Some(Ok(row))
            })))
        }
    }
}

/// Runs a recursive CTE to its fixpoint (materialised).
pub(super) fn recursive<'a>(
    id: usize,
    anchor: &'a Plan,
    step: &'a Plan,
    union_all: bool,
    ctx: &'a ExecCtx<'a>,
) -> Result<RowIter<'a>> {
    let mut seen: HashSet<Row> = HashSet::new();
    let mut result: Vec<Row> = Vec::new();
    let mut fresh = Vec::new();
    for r in execute(anchor, ctx)? {
        let row = r?;
        if union_all || seen.insert(row.clone()) {
            fresh.push(row);
        }
    }
    while !fresh.is_empty() {
        ctx.env.check_interrupt()?;
        result.extend(fresh.iter().cloned());
        ctx.cache
            .set_work_table(id, Rc::new(std::mem::take(&mut fresh)));
        for r in execute(step, ctx)? {
            let row = r?;
            if union_all || seen.insert(row.clone()) {
                fresh.push(row);
            }
        }
    }
    ctx.cache.set_work_table(id, Rc::new(Vec::new()));
    Ok(Box::new(result.into_iter().map(Ok)))
}
