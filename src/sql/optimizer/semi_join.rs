//! ExistsToSemiJoin: a correlated `EXISTS` in a WHERE clause becomes a semi
//! join (`NOT EXISTS` an anti join) when one pass over the subquery's table is
//! estimated cheaper than running the subquery once per row.
//!
//! `WHERE EXISTS (SELECT ... FROM t WHERE t.a = outer.x AND <local>)` runs,
//! as written, one index probe (or scan) of `t` per outer row. As a semi join
//! the subquery's table is read once, filtered by its local conditions, and
//! hashed on `t.a` (JoinPlanning turns the equality into hash keys); each
//! outer row then costs one hash lookup. PostgreSQL makes the same choice
//! ("Hash Semi Join") by cost. Here the costs come from the subquery table's
//! ANALYZE statistics; a table never analyzed keeps the per-row plan, which
//! is never much worse than the other (it uses an index when there is one).
//!
//! The rewrite applies to a subquery over one table whose WHERE conjuncts
//! either read no enclosing row or read only the immediately enclosing one,
//! with at least one equality between an expression of the table and one of
//! the enclosing row; the select list is irrelevant to EXISTS. Semantics are
//! unchanged: a semi join keeps each outer row at most once, NULL keys never
//! match (as `=` with NULL is never true in the subquery's WHERE), and the
//! table's own scan filter (including row-level security predicates) stays
//! on the table's scan.

use super::join_order::estimate;
use super::{Rule, map_children};
use crate::sql::expr::{Expr, Subquery, SubqueryKind};
use crate::sql::plan::{Access, JoinKind, Plan, Scan};
use crate::types::BinaryOp;

pub struct ExistsToSemiJoin;

impl Rule for ExistsToSemiJoin {
    fn name(&self) -> &'static str {
        "exists_to_semi_join"
    }

    fn apply(&self, plan: Plan) -> Plan {
        rewrite(plan)
    }
}

fn rewrite(plan: Plan) -> Plan {
    match map_children(plan, &rewrite) {
        Plan::Filter { input, predicate } => {
            let (exists, other): (Vec<Expr>, Vec<Expr>) =
                predicate.conjuncts().into_iter().partition(is_exists);
            if exists.is_empty() {
                return Plan::Filter {
                    input,
                    predicate: Expr::and_all(other).expect("a filter has a predicate"),
                };
            }
            // The outer rows the subquery would run for: the input after the
            // filter's other conditions.
            let outer_rows = estimate(&filtered(&input, &other));
            let mut input = *input;
            let mut keep = other;
            for c in exists {
                match semi_join_for(&input, &c, outer_rows) {
                    Some((kind, right, on)) => {
                        input = Plan::NestedLoop {
                            left: Box::new(input),
                            right: Box::new(right),
                            kind,
                            on: Some(on),
                            lateral: false,
                        };
                    }
                    None => keep.push(c),
                }
            }
            match Expr::and_all(keep) {
                Some(predicate) => Plan::Filter {
                    input: Box::new(input),
                    predicate,
                },
                None => input,
            }
        }
        other => other,
    }
}

/// The subquery of an `EXISTS` (semi join) or `NOT EXISTS` (anti join) conjunct.
fn exists_subquery(c: &Expr) -> Option<(&Subquery, JoinKind)> {
    let (sq, kind) = match c {
        Expr::Subquery { sq, lhs: None } => (sq, JoinKind::Semi),
        Expr::Not(inner) => match &**inner {
            Expr::Subquery { sq, lhs: None } => (sq, JoinKind::Anti),
            _ => return None,
        },
        _ => return None,
    };
    (sq.kind == SubqueryKind::Exists).then_some((&**sq, kind))
}

fn is_exists(c: &Expr) -> bool {
    exists_subquery(c).is_some()
}

/// `input` with `conds` applied, for estimating (a scan takes them as its
/// filter, so their selectivities count).
fn filtered(input: &Plan, conds: &[Expr]) -> Plan {
    let Some(f) = Expr::and_all(conds.to_vec()) else {
        return input.clone();
    };
    match input {
        Plan::Scan(s) => {
            let mut s = s.clone();
            s.filter = Some(match s.filter.take() {
                Some(g) => Expr::And(Box::new(g), Box::new(f)),
                None => f,
            });
            Plan::Scan(s)
        }
        _ => Plan::Filter {
            input: Box::new(input.clone()),
            predicate: f,
        },
    }
}

/// What an expression reads.
#[derive(Default)]
struct Reads {
    columns: bool,
    outer: bool,
    deeper: bool,
    subquery: bool,
}

fn reads(e: &Expr) -> Reads {
    let mut r = Reads::default();
    e.walk(&mut |x| match x {
        Expr::Column(_) => r.columns = true,
        Expr::Outer { level: 1, .. } => r.outer = true,
        Expr::Outer { .. } => r.deeper = true,
        Expr::Subquery { .. } => r.subquery = true,
        _ => {}
    });
    r
}

/// The join that replaces conjunct `c` of a filter over `left` (of about
/// `outer_rows` rows after the filter's other conditions), if any: its kind,
/// its right input and its ON condition (over left ++ right).
fn semi_join_for(left: &Plan, c: &Expr, outer_rows: f64) -> Option<(JoinKind, Plan, Expr)> {
    let (sq, kind) = exists_subquery(c)?;
    if !sq.correlated {
        return None;
    }
    let mut body = &sq.plan;
    if let Plan::Project { input, .. } = body {
        // EXISTS ignores the select list (PostgreSQL drops it too).
        body = input;
    }
    let Plan::Filter {
        input: table,
        predicate,
    } = body
    else {
        return None;
    };
    let Plan::Scan(scan) = &**table else {
        return None;
    };
    if let Some(f) = &scan.filter {
        let r = reads(f);
        if r.outer || r.deeper || r.subquery {
            return None;
        }
    }
    let nl = left.columns().len();
    let mut correlated = Vec::new();
    let mut local = Vec::new();
    let mut key_column = None;
    for part in predicate.clone().conjuncts() {
        let r = reads(&part);
        if r.deeper || r.subquery {
            return None;
        }
        if !r.outer {
            local.push(part);
            continue;
        }
        if let Expr::Binary(BinaryOp::Eq, a, b) = &part {
            let (ra, rb) = (reads(a), reads(b));
            let inner_side = if !ra.outer && ra.columns && rb.outer && !rb.columns {
                Some(a)
            } else if !rb.outer && rb.columns && ra.outer && !ra.columns {
                Some(b)
            } else {
                None
            };
            if let Some(side) = inner_side
                && key_column.is_none()
            {
                key_column = Some(match &**side {
                    Expr::Column(j) => Some(*j),
                    _ => None,
                });
            }
        }
        correlated.push(part);
    }
    let key_column = key_column?;
    if !hashing_is_cheaper(outer_rows, scan, key_column) {
        return None;
    }
    let right = match Expr::and_all(local) {
        Some(predicate) => Plan::Filter {
            input: table.clone(),
            predicate,
        },
        None => (**table).clone(),
    };
    let on = Expr::and_all(
        correlated
            .into_iter()
            .map(|mut e| {
                rebase(&mut e, nl);
                e
            })
            .collect(),
    )?;
    Some((kind, right, on))
}

/// Moves a subquery conjunct into a join over left ++ right: the enclosing
/// row's columns become the left columns, the table's are shifted right.
fn rebase(e: &mut Expr, nl: usize) {
    match e {
        Expr::Column(j) => *j += nl,
        Expr::Outer {
            level: 1, index, ..
        } => *e = Expr::Column(*index),
        _ => {
            for c in e.children_mut() {
                rebase(c, nl);
            }
        }
    }
}

/// Compares running the subquery per outer row (an index probe plus the
/// matching rows, each an index entry and a row lookup, or a full scan
/// without an index) with one pass over the table plus one hash probe per
/// outer row. Needs the table's statistics.
fn hashing_is_cheaper(outer_rows: f64, scan: &Scan, key_column: Option<usize>) -> bool {
    let Some(stats) = &scan.stats else {
        return false;
    };
    if !matches!(scan.access, Access::Full) {
        return false;
    }
    let inner_rows = stats.rows as f64;
    let indexed = key_column.is_some_and(|j| {
        scan.table.primary_key.first() == Some(&j)
            || scan.indexes.iter().any(|ix| ix.columns.first() == Some(&j))
    });
    let per_outer_row = if indexed {
        let distinct = key_column
            .and_then(|j| scan.table.columns.get(j))
            .and_then(|c| stats.column(&c.name))
            .map_or(10.0, |c| c.n_distinct.max(1.0));
        // A probe, then per matching row an index entry and a row lookup,
        // each a few times the cost of a row of a sequential scan.
        4.0 + 4.0 * (inner_rows / distinct)
    } else {
        inner_rows
    };
    inner_rows + outer_rows < outer_rows * per_outer_row
}
