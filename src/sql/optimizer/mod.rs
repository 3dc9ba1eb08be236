//! The optimizer: named rewrite rules applied in one ordered list.
//!
//! Every rule preserves meaning. Rules may move predicates closer to the data
//! and choose access paths, but never drop a predicate: a scan that uses an
//! index keeps the whole predicate as its filter, so security predicates added
//! by the binder are always evaluated.

mod index_selection;
mod prune_columns;
mod pushdown;

use super::plan::Plan;

/// A plan rewrite.
pub trait Rule {
    fn name(&self) -> &'static str;
    fn apply(&self, plan: Plan) -> Plan;
}

/// The rules, in the order they run.
fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(pushdown::PushDownFilters),
        Box::new(index_selection::IndexSelection),
        Box::new(prune_columns::PruneColumns),
    ]
}

/// Runs every rule once, in order.
pub fn optimize(plan: Plan) -> Plan {
    rules().iter().fold(plan, |p, r| r.apply(p))
}

/// Applies `f` to every child of `plan` (bottom-up helpers use this).
pub(crate) fn map_children(plan: Plan, f: &dyn Fn(Plan) -> Plan) -> Plan {
    let b = |p: Box<Plan>| Box::new(f(*p));
    match plan {
        Plan::Values { .. } | Plan::Scan(_) | Plan::Series { .. } => plan,
        Plan::Filter { input, predicate } => Plan::Filter {
            input: b(input),
            predicate,
        },
        Plan::Project {
            input,
            exprs,
            columns,
        } => Plan::Project {
            input: b(input),
            exprs,
            columns,
        },
        Plan::Aggregate {
            input,
            group_by,
            aggs,
            columns,
        } => Plan::Aggregate {
            input: b(input),
            group_by,
            aggs,
            columns,
        },
        Plan::Sort { input, keys } => Plan::Sort {
            input: b(input),
            keys,
        },
        Plan::Limit {
            input,
            limit,
            offset,
        } => Plan::Limit {
            input: b(input),
            limit,
            offset,
        },
        Plan::Distinct { input } => Plan::Distinct { input: b(input) },
        Plan::NestedLoop { left, right, on } => Plan::NestedLoop {
            left: b(left),
            right: b(right),
            on,
        },
        Plan::Truncate { input, keep } => Plan::Truncate {
            input: b(input),
            keep,
        },
    }
}
