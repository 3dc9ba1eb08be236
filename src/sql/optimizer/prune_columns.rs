//! PruneColumns: a scan directly under a projection or aggregate decodes only
//! the columns that the projection, the aggregate or the scan's own filter read.

use super::{Rule, map_children};
use crate::sql::expr::Expr;
use crate::sql::plan::{Plan, Scan};

pub struct PruneColumns;

impl Rule for PruneColumns {
    fn name(&self) -> &'static str {
        "prune_columns"
    }

    fn apply(&self, plan: Plan) -> Plan {
        prune(plan)
    }
}

fn mark(e: &Expr, needed: &mut [bool]) {
    e.walk(&mut |x| {
        if let Expr::Column(i) = x
            && let Some(slot) = needed.get_mut(*i)
        {
            *slot = true;
        }
    });
}

fn with_needed(mut s: Scan, exprs: &[&Expr]) -> Scan {
    let mut needed = vec![false; s.table.columns.len()];
    for e in exprs {
        mark(e, &mut needed);
    }
    if let Some(f) = &s.filter {
        mark(f, &mut needed);
    }
    if needed.iter().any(|n| !n) {
        s.needed = Some(needed);
    }
    s
}

fn prune(plan: Plan) -> Plan {
    match plan {
        Plan::Project {
            input,
            exprs,
            columns,
        } => match *input {
            Plan::Scan(s) => {
                let refs: Vec<&Expr> = exprs.iter().collect();
                Plan::Project {
                    input: Box::new(Plan::Scan(with_needed(s, &refs))),
                    exprs,
                    columns,
                }
            }
            other => Plan::Project {
                input: Box::new(prune(other)),
                exprs,
                columns,
            },
        },
        Plan::Aggregate {
            input,
            group_by,
            aggs,
            columns,
        } => match *input {
            Plan::Scan(s) => {
                let mut refs: Vec<&Expr> = group_by.iter().collect();
                for a in &aggs {
                    refs.extend(a.args.iter());
                    refs.extend(a.order_by.iter().map(|k| &k.expr));
                    refs.extend(a.filter.iter());
                }
                let s = with_needed(s, &refs);
                Plan::Aggregate {
                    input: Box::new(Plan::Scan(s)),
                    group_by,
                    aggs,
                    columns,
                }
            }
            other => Plan::Aggregate {
                input: Box::new(prune(other)),
                group_by,
                aggs,
                columns,
            },
        },
        other => map_children(other, &prune),
    }
}
