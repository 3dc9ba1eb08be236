//! PushDownFilters: moves WHERE conjuncts into scans and join inputs.

use super::{Rule, map_children};
use crate::sql::expr::Expr;
use crate::sql::plan::Plan;

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
        other => map_children(other, &push),
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
        Plan::NestedLoop { left, right, on } => {
            let nl = left.columns().len();
            let (mut to_left, mut to_right, mut keep) = (Vec::new(), Vec::new(), Vec::new());
            for c in pred.conjuncts() {
                let mut min = usize::MAX;
                let mut max = 0;
                let mut any = false;
                c.walk(&mut |e| {
                    if let Expr::Column(i) = e {
                        any = true;
                        min = min.min(*i);
                        max = max.max(*i);
                    }
                });
                if any && max < nl && c.is_deterministic() {
                    to_left.push(c);
                } else if any && min >= nl && c.is_deterministic() {
                    to_right.push(c.map_columns(&|i| Expr::Column(i - nl)));
                } else {
                    keep.push(c);
                }
            }
            let left = match Expr::and_all(to_left) {
                Some(p) => push_into(*left, p),
                None => *left,
            };
            let right = match Expr::and_all(to_right) {
                Some(p) => push_into(*right, p),
                None => *right,
            };
            let mut on_parts = on.map(|o| o.conjuncts()).unwrap_or_default();
            on_parts.extend(keep);
            Plan::NestedLoop {
                left: Box::new(left),
                right: Box::new(right),
                on: Expr::and_all(on_parts),
            }
        }
        other => Plan::Filter {
            input: Box::new(other),
            predicate: pred,
        },
    }
}
