//! PruneColumns: every scan decodes only the columns some node above it
//! reads.
//!
//! The pass runs top-down with the set of output columns the parent needs
//! (all of them at the root). Filters, projections, aggregates, sorts,
//! limits and joins (hash and nested loop, of every kind) narrow the set for
//! their inputs by the columns their own expressions read; a scan marks the
//! rest as not needed (they come back as NULL, undecoded). Any other node
//! (DML, DISTINCT, windows, set operations, LATERAL, ...) asks its inputs for
//! every column, so nothing it reads can be pruned by mistake. A correlated
//! subquery counts as reading the enclosing row's columns it refers to.

use super::Rule;
use crate::sql::expr::Expr;
use crate::sql::plan::Plan;

pub struct PruneColumns;

impl Rule for PruneColumns {
    fn name(&self) -> &'static str {
        "prune_columns"
    }

    fn apply(&self, plan: Plan) -> Plan {
        prune(plan, None)
    }
}

/// Marks the columns (positions `< width`, shifted down by `from`) that `e` reads.
fn mark(e: &Expr, needed: &mut [bool], from: usize) {
    e.walk(&mut |x| {
        if let Expr::Column(i) = x
            && *i >= from
            && let Some(slot) = needed.get_mut(*i - from)
        {
            *slot = true;
        }
    });
}

/// The parent's requirement widened to `width` columns (None: all).
fn start(required: Option<&[bool]>, width: usize) -> Vec<bool> {
    match required {
        Some(r) => {
            let mut v = r.to_vec();
            v.resize(width, false);
            v
        }
        None => vec![true; width],
    }
}

fn prune(plan: Plan, required: Option<&[bool]>) -> Plan {
    match plan {
        Plan::Scan(mut s) => {
            let mut needed = start(required, s.table.columns.len());
            if let Some(f) = &s.filter {
                mark(f, &mut needed, 0);
            }
            s.needed = needed.iter().any(|n| !n).then_some(needed);
            Plan::Scan(s)
        }
        Plan::Filter { input, predicate } => {
            let mut need = start(required, input.columns().len());
            mark(&predicate, &mut need, 0);
            Plan::Filter {
                input: Box::new(prune(*input, Some(&need))),
                predicate,
            }
        }
        Plan::Project {
            input,
            exprs,
            columns,
        } => {
            let mut need = vec![false; input.columns().len()];
            for e in &exprs {
                mark(e, &mut need, 0);
            }
            Plan::Project {
                input: Box::new(prune(*input, Some(&need))),
                exprs,
                columns,
            }
        }
        Plan::Aggregate {
            input,
            group_by,
            aggs,
            columns,
        } => {
            let mut need = vec![false; input.columns().len()];
            for e in &group_by {
                mark(e, &mut need, 0);
            }
            for a in &aggs {
                for e in a
                    .args
                    .iter()
                    .chain(a.order_by.iter().map(|k| &k.expr))
                    .chain(a.filter.iter())
                {
                    mark(e, &mut need, 0);
                }
            }
            Plan::Aggregate {
                input: Box::new(prune(*input, Some(&need))),
                group_by,
                aggs,
                columns,
            }
        }
        Plan::Sort { input, keys } => {
            let mut need = start(required, input.columns().len());
            for k in &keys {
                mark(&k.expr, &mut need, 0);
            }
            Plan::Sort {
                input: Box::new(prune(*input, Some(&need))),
                keys,
            }
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => Plan::Limit {
            input: Box::new(prune(*input, required)),
            limit,
            offset,
        },
        Plan::HashJoin {
            left,
            right,
            kind,
            left_keys,
            right_keys,
            on,
        } => {
            let (need_l, need_r) = join_needs(&left, &right, kind, required, on.as_ref());
            let (mut need_l, mut need_r) = (need_l, need_r);
            for e in &left_keys {
                mark(e, &mut need_l, 0);
            }
            for e in &right_keys {
                mark(e, &mut need_r, 0);
            }
            Plan::HashJoin {
                left: Box::new(prune(*left, Some(&need_l))),
                right: Box::new(prune(*right, Some(&need_r))),
                kind,
                left_keys,
                right_keys,
                on,
            }
        }
        Plan::NestedLoop {
            left,
            right,
            kind,
            on,
            lateral: false,
        } => {
            let (need_l, need_r) = join_needs(&left, &right, kind, required, on.as_ref());
            Plan::NestedLoop {
                left: Box::new(prune(*left, Some(&need_l))),
                right: Box::new(prune(*right, Some(&need_r))),
                kind,
                on,
                lateral: false,
            }
        }
        other => super::map_children(other, &|c| prune(c, None)),
    }
}

/// What each side of a join must produce: the required output columns that
/// come from it, plus what the join condition reads.
fn join_needs(
    left: &Plan,
    right: &Plan,
    kind: crate::sql::plan::JoinKind,
    required: Option<&[bool]>,
    on: Option<&Expr>,
) -> (Vec<bool>, Vec<bool>) {
    let nl = left.columns().len();
    let nr = right.columns().len();
    let out_width = if kind.has_right_columns() {
        nl + nr
    } else {
        nl
    };
    let out = start(required, out_width);
    let mut need_l = out[..nl].to_vec();
    let mut need_r = if kind.has_right_columns() {
        out[nl..].to_vec()
    } else {
        vec![false; nr]
    };
    if let Some(on) = on {
        mark(on, &mut need_l, 0);
        mark(on, &mut need_r, nl);
    }
    (need_l, need_r)
}
