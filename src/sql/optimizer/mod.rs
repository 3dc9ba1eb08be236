//! The optimizer: named rewrite rules applied in one ordered list.
//!
//! Every rule preserves meaning. Rules may move predicates closer to the data
//! and choose access paths, but never drop a predicate: a scan that uses an
//! index keeps the whole predicate as its filter, so security predicates added
//! by the binder are always evaluated.

mod index_selection;
mod join_order;
mod prune_columns;
mod pushdown;
mod semi_join;
mod sort_elimination;

use super::expr::Expr;
use super::plan::Plan;

/// A plan rewrite.
pub trait Rule {
    fn name(&self) -> &'static str;
    fn apply(&self, plan: Plan) -> Plan;
}

/// The rules, in the order they run.
fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(semi_join::ExistsToSemiJoin),
        Box::new(pushdown::PushDownFilters),
        Box::new(join_order::JoinPlanning),
        Box::new(index_selection::IndexSelection),
        Box::new(sort_elimination::SortElimination),
        Box::new(prune_columns::PruneColumns),
    ]
}

/// Hash keys for a join of `left` and `right` on `on` (MERGE's join of
/// its target and source): pairs of `left expr = right expr` conjuncts whose
/// equal values hash alike, the right ones over the right row alone. They
/// only find candidate pairs; `on` is still evaluated on each.
pub fn equi_join_keys(on: &Expr, left: &Plan, right: &Plan) -> (Vec<Expr>, Vec<Expr>) {
    join_order::equi_keys(on, left, right)
}

/// Runs every rule once, in order, on the plan and on every subquery plan
/// inside its expressions.
pub fn optimize(plan: Plan) -> Plan {
    let mut plan = rules().iter().fold(plan, |p, r| r.apply(p));
    optimize_subqueries(&mut plan);
    plan
}

/// Optimizes the plans of subqueries inside `plan`'s expressions.
pub fn optimize_subqueries(plan: &mut Plan) {
    plan.for_each_expr_mut(&mut |e| optimize_expr_subqueries(e));
}

/// Optimizes the plans of subqueries inside one expression.
pub fn optimize_expr_subqueries(e: &mut Expr) {
    e.for_each_subquery_mut(&mut |sq| {
        let p = std::mem::replace(
            &mut sq.plan,
            Plan::Values {
                rows: vec![],
                columns: vec![],
            },
        );
        sq.plan = optimize(p);
    });
}

/// Applies `f` to every child of `plan` (bottom-up helpers use this).
pub(crate) fn map_children(plan: Plan, f: &dyn Fn(Plan) -> Plan) -> Plan {
    // Plans nest as deep as their UNION chains are long.
    let b = |p: Box<Plan>| Box::new(crate::stack::guard(|| f(*p)));
    match plan {
        Plan::Values { .. }
        | Plan::Scan(_)
        | Plan::Series { .. }
        | Plan::WorkTable { .. }
        | Plan::SessionRelation { .. } => plan,
        Plan::SetOp {
            op,
            all,
            left,
            right,
        } => Plan::SetOp {
            op,
            all,
            left: b(left),
            right: b(right),
        },
        Plan::Window {
            input,
            calls,
            columns,
        } => Plan::Window {
            input: b(input),
            calls,
            columns,
        },
        Plan::RecursiveCte {
            id,
            anchor,
            step,
            union_all,
            columns,
        } => Plan::RecursiveCte {
            id,
            anchor: b(anchor),
            step: b(step),
            union_all,
            columns,
        },
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
        Plan::Distinct { input, on } => Plan::Distinct {
            input: b(input),
            on,
        },
        Plan::NestedLoop {
            left,
            right,
            kind,
            on,
            lateral,
        } => Plan::NestedLoop {
            left: b(left),
            right: b(right),
            kind,
            on,
            lateral,
        },
        Plan::HashJoin {
            left,
            right,
            kind,
            left_keys,
            right_keys,
            on,
        } => Plan::HashJoin {
            left: b(left),
            right: b(right),
            kind,
            left_keys,
            right_keys,
            on,
        },
        Plan::Truncate { input, keep } => Plan::Truncate {
            input: b(input),
            keep,
        },
        Plan::Barrier { input } => Plan::Barrier { input: b(input) },
    }
}
