//! PushDownFilters: moves WHERE and ON conjuncts as close to the data as the
//! join kinds allow (into scans, join inputs, below projections and sorts).
//!
//! A conjunct moves below an outer join only to the side whose rows the join
//! preserves, so NULL-extended rows are never filtered early. Conjuncts with
//! correlated subqueries stay where they were bound (a correlated subquery
//! reads the row shape it was bound for). Volatile conjuncts move into the
//! inputs of joins, as PostgreSQL places a WHERE clause on the relation it
//! reads (so a function with side effects, such as one that raises a
//! notice, runs once per row of that relation rather than per joined row),
//! but no further: not into a projection (a view or derived table), below
//! DISTINCT, GROUP BY or a set operation, as PostgreSQL does not push them
//! into subqueries either.

use super::{Rule, map_children};
use crate::sql::expr::Expr;
use crate::sql::plan::{JoinKind, Plan};

pub struct PushDownFilters;

impl Rule for PushDownFilters {
    fn name(&self) -> &'static str {
        "push_down_filters"
    }

    fn apply(&self, plan: Plan) -> Plan {
        push(plan)
    }
}

fn push(plan: Plan) -> Plan {
    match plan {
        Plan::Filter { input, predicate } => push_into(push(*input), predicate),
        Plan::NestedLoop {
            left,
            right,
            kind,
            on,
            lateral,
        } => {
            let (left, right, on) = push_join_on(push(*left), push(*right), kind, on, lateral);
            Plan::NestedLoop {
                left: Box::new(left),
                right: Box::new(right),
                kind,
                on,
                lateral,
            }
        }
        other => map_children(other, &push),
    }
}

/// Column range `(min, max)` read by a conjunct, or None if it reads none.
fn column_span(c: &Expr) -> Option<(usize, usize)> {
    let mut span: Option<(usize, usize)> = None;
    c.walk(&mut |e| {
        if let Expr::Column(i) = e {
            span = Some(match span {
                None => (*i, *i),
                Some((lo, hi)) => (lo.min(*i), hi.max(*i)),
            });
        }
    });
    span
}

/// Whether a conjunct may be moved to another operator at all.
fn movable(c: &Expr) -> bool {
    c.is_deterministic() && !c.has_correlated_subquery()
}

/// Whether a conjunct may move into an input of a join.
fn movable_into_join(c: &Expr) -> bool {
    !c.has_correlated_subquery()
}

/// Which input of a join (left width `nl`) a conjunct reads only.
enum Side {
    Left,
    Right,
    Both,
}

fn side(c: &Expr, nl: usize) -> Side {
    match column_span(c) {
        Some((_, hi)) if hi < nl => Side::Left,
        Some((lo, _)) if lo >= nl => Side::Right,
        _ => Side::Both,
    }
}

fn shift_left(c: Expr, nl: usize) -> Expr {
    c.map_columns(&|i| Expr::Column(i - nl))
}

/// Pushes a join's own ON conjuncts into the input they constrain, where the
/// join kind allows it.
fn push_join_on(
    left: Plan,
    right: Plan,
    kind: JoinKind,
    on: Option<Expr>,
    lateral: bool,
) -> (Plan, Plan, Option<Expr>) {
    let nl = left.columns().len();
    let (mut to_left, mut to_right, mut keep) = (Vec::new(), Vec::new(), Vec::new());
    for c in on.map(Expr::conjuncts).unwrap_or_default() {
        if !movable_into_join(&c) {
            keep.push(c);
            continue;
        }
        match (side(&c, nl), kind) {
            (Side::Left, JoinKind::Inner | JoinKind::Right) => to_left.push(c),
            (Side::Right, JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti) => {
                to_right.push(shift_left(c, nl))
            }
            _ => keep.push(c),
        }
    }
    let left = attach(left, to_left);
    let right = if lateral {
        // The lateral side's plan was bound with the left row as its
        // enclosing row; keep its own filters, but don't restructure it here.
        attach_filter(right, to_right)
    } else {
        attach(right, to_right)
    };
    (left, right, Expr::and_all(keep))
}

fn attach(plan: Plan, conjuncts: Vec<Expr>) -> Plan {
    match Expr::and_all(conjuncts) {
        Some(p) => push_into(plan, p),
        None => plan,
    }
}

fn attach_filter(plan: Plan, conjuncts: Vec<Expr>) -> Plan {
    match Expr::and_all(conjuncts) {
        Some(p) => Plan::Filter {
            input: Box::new(plan),
            predicate: p,
        },
        None => plan,
    }
}

/// Places `pred` as deep as possible in `plan` (already optimized below).
fn push_into(plan: Plan, pred: Expr) -> Plan {
    match plan {
        Plan::Scan(mut s) => {
            s.filter = Some(match s.filter.take() {
                Some(f) => Expr::And(Box::new(f), Box::new(pred)),
                None => pred,
            });
            Plan::Scan(s)
        }
        Plan::Filter { input, predicate } => {
            push_into(*input, Expr::And(Box::new(predicate), Box::new(pred)))
        }
        Plan::NestedLoop {
            left,
            right,
            kind,
            on,
            lateral,
        } => {
            let nl = left.columns().len();
            let (mut to_left, mut to_right, mut to_on, mut keep) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for c in pred.conjuncts() {
                if !movable_into_join(&c) {
                    keep.push(c);
                    continue;
                }
                match (side(&c, nl), kind) {
                    (
                        Side::Left,
                        JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti,
                    ) => to_left.push(c),
                    (Side::Right, JoinKind::Inner | JoinKind::Right) if !lateral => {
                        to_right.push(shift_left(c, nl))
                    }
                    (_, JoinKind::Inner) => to_on.push(c),
                    _ => keep.push(c),
                }
            }
            let left = attach(*left, to_left);
            let right = attach(*right, to_right);
            let mut on_parts = on.map(Expr::conjuncts).unwrap_or_default();
            on_parts.extend(to_on);
            let join = Plan::NestedLoop {
                left: Box::new(left),
                right: Box::new(right),
                kind,
                on: Expr::and_all(on_parts),
                lateral,
            };
            attach_filter(join, keep)
        }
        Plan::Project {
            input,
            exprs,
            columns,
        } => {
            // Substitute the projected expressions for the columns the
            // conjunct reads, when they are cheap and deterministic.
            let (mut down, mut keep) = (Vec::new(), Vec::new());
            for c in pred.conjuncts() {
                let mut ok = movable(&c);
                c.walk(&mut |e| {
                    if let Expr::Column(i) = e
                        && !exprs
                            .get(*i)
                            .is_some_and(|x| x.is_deterministic() && !x.has_subquery())
                    {
                        ok = false;
                    }
                });
                if ok {
                    down.push(c.map_columns(&|i| exprs[i].clone()));
                } else {
                    keep.push(c);
                }
            }
            let input = attach(*input, down);
            attach_filter(
                Plan::Project {
                    input: Box::new(input),
                    exprs,
                    columns,
                },
                keep,
            )
        }
        // Only leakproof conditions go below a security barrier.
        Plan::Barrier { input } => {
            let (down, keep): (Vec<Expr>, Vec<Expr>) =
                pred.conjuncts().into_iter().partition(Expr::is_leakproof);
            attach_filter(
                Plan::Barrier {
                    input: Box::new(attach(*input, down)),
                },
                keep,
            )
        }
        Plan::Sort { input, keys } => Plan::Sort {
            input: Box::new(push_into(*input, pred)),
            keys,
        },
        // Filtering before or after removing duplicates keeps the same rows.
        Plan::Distinct { input, on: None } if movable(&pred) => Plan::Distinct {
            input: Box::new(push_into(*input, pred)),
            on: None,
        },
        // A set operation gives the same rows when both inputs are filtered.
        Plan::SetOp {
            op,
            all,
            left,
            right,
        } if movable(&pred) => Plan::SetOp {
            op,
            all,
            left: Box::new(push_into(*left, pred.clone())),
            right: Box::new(push_into(*right, pred)),
        },
        // Conjuncts on group keys only (HAVING-like filters over a grouped
        // derived table or view) filter the input rows instead.
        Plan::Aggregate {
            input,
            group_by,
            aggs,
            columns,
        } => {
            let n = group_by.len();
            let (mut down, mut keep) = (Vec::new(), Vec::new());
            for c in pred.conjuncts() {
                let on_keys = movable(&c)
                    && !group_by.is_empty()
                    && column_span(&c).is_some_and(|(_, hi)| hi < n)
                    && group_by
                        .iter()
                        .all(|g| g.is_deterministic() && !g.has_subquery());
                if on_keys {
                    down.push(c.map_columns(&|i| group_by[i].clone()));
                } else {
                    keep.push(c);
                }
            }
            let input = attach(*input, down);
            attach_filter(
                Plan::Aggregate {
                    input: Box::new(input),
                    group_by,
                    aggs,
                    columns,
                },
                keep,
            )
        }
        Plan::Truncate { input, keep } => Plan::Truncate {
            input: Box::new(push_into(*input, pred)),
            keep,
        },
        other => Plan::Filter {
            input: Box::new(other),
            predicate: pred,
        },
    }
}
