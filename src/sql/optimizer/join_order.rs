//! JoinPlanning: orders inner joins and turns equi-joins into hash joins.
//!
//! A tree of inner (non-lateral) joins is flattened into its inputs and the
//! conjuncts of its ON conditions. The order is chosen greedily: start from
//! the input estimated smallest, then repeatedly add the smallest input that
//! an equality connects to the inputs already joined (a cross product only
//! when nothing is connected). Each step becomes a hash join on the equalities
//! between the two sides, with the other conjuncts as its residual condition;
//! a projection restores the original column order above the tree. Outer,
//! semi and anti joins keep their place; their equalities become hash keys.

use super::{Rule, map_children};
use crate::sql::expr::Expr;
use crate::sql::plan::{Access, JoinKind, Plan, Scan};
use crate::types::{BinaryOp, DataType};

pub struct JoinPlanning;

impl Rule for JoinPlanning {
    fn name(&self) -> &'static str {
        "join_planning"
    }

    fn apply(&self, plan: Plan) -> Plan {
        plan_joins(plan)
    }
}

fn plan_joins(plan: Plan) -> Plan {
    match plan {
        Plan::NestedLoop {
            kind: JoinKind::Inner,
            lateral: false,
            ..
        } => {
            let mut items = Vec::new();
            let mut conjuncts = Vec::new();
            flatten(plan, &mut items, &mut conjuncts);
            let items: Vec<Plan> = items.into_iter().map(plan_joins).collect();
            order(items, conjuncts)
        }
        Plan::NestedLoop {
            left,
            right,
            kind,
            on,
            lateral,
        } => {
            let left = plan_joins(*left);
            let right = plan_joins(*right);
            if lateral {
                return Plan::NestedLoop {
                    left: Box::new(left),
                    right: Box::new(right),
                    kind,
                    on,
                    lateral,
                };
            }
            let nl = left.columns().len();
            let conjuncts = on.map(Expr::conjuncts).unwrap_or_default();
            let types = column_types(&left, &right);
            let (lk, rk, rest) = split_keys(conjuncts, nl, &types);
            make_join(left, right, kind, lk, rk, rest)
        }
        other => map_children(other, &plan_joins),
    }
}

/// Collects the inputs and ON conjuncts of a tree of inner joins; conjunct
/// columns are positions in the concatenation of all inputs.
fn flatten(plan: Plan, items: &mut Vec<Plan>, conjuncts: &mut Vec<Expr>) {
    match plan {
        Plan::NestedLoop {
            left,
            right,
            kind: JoinKind::Inner,
            on,
            lateral: false,
        } => {
            let base: usize = items.iter().map(|p| p.columns().len()).sum();
            flatten(*left, items, conjuncts);
            flatten(*right, items, conjuncts);
            if let Some(on) = on {
                conjuncts.extend(
                    on.conjuncts()
                        .into_iter()
                        .map(|c| c.map_columns(&|i| Expr::Column(i + base))),
                );
            }
        }
        other => items.push(other),
    }
}

/// A row estimate for ordering: literal rows are counted, an equality on a
/// whole unique key gives one row, a scan starts from the row count of the
/// table's last ANALYZE (1000 for a table never analyzed), and each filter
/// conjunct scales it by its [`selectivity`].
pub(super) fn estimate(plan: &Plan) -> f64 {
    match plan {
        Plan::Values { rows, .. } => rows.len() as f64,
        Plan::Scan(s) => {
            if let Access::Index { index, eq, .. } = &s.access {
                let key_len = match index {
                    Some(ix) if ix.unique => ix.columns.len(),
                    Some(_) => usize::MAX,
                    None => s.table.primary_key.len(),
                };
                if eq.len() >= key_len {
                    return 1.0;
                }
            }
            let mut est = s.stats.as_ref().map_or(1000.0, |st| st.rows as f64);
            if let Some(f) = &s.filter {
                for c in f.clone().conjuncts() {
                    est *= selectivity(s, &c);
                }
            }
            est
        }
        Plan::Filter { input, .. } => estimate(input) * 0.3,
        Plan::Limit { input, .. } => estimate(input).min(100.0),
        Plan::Aggregate {
            group_by, input, ..
        } => {
            if group_by.is_empty() {
                1.0
            } else {
                estimate(input) * 0.5
            }
        }
        Plan::NestedLoop { left, right, .. } | Plan::HashJoin { left, right, .. } => {
            estimate(left).max(estimate(right))
        }
        Plan::Project { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Distinct { input, .. }
        | Plan::Truncate { input, .. } => estimate(input),
        _ => 1000.0,
    }
}

/// The fraction of a scan's rows a filter conjunct keeps. With column
/// statistics: `col = x` keeps one distinct value's share of the non-NULL
/// rows, `col IS [NOT] NULL` the NULL fraction (or the rest); otherwise an
/// equality keeps 10% and anything else 30%.
fn selectivity(s: &Scan, c: &Expr) -> f64 {
    let column = |e: &Expr| match e {
        Expr::Column(i) => s
            .stats
            .as_ref()?
            .column(&s.table.columns.get(*i)?.name)
            .cloned(),
        _ => None,
    };
    match c {
        Expr::Binary(BinaryOp::Eq, a, b) => match column(a).or_else(|| column(b)) {
            Some(st) => (1.0 - st.null_frac) / st.n_distinct.max(1.0),
            None => 0.1,
        },
        Expr::IsNull(e) => column(e).map_or(0.3, |st| st.null_frac),
        Expr::Not(inner) => match &**inner {
            Expr::IsNull(e) => column(e).map_or(0.3, |st| 1.0 - st.null_frac),
            _ => 0.3,
        },
        _ => 0.3,
    }
}

fn column_span(c: &Expr) -> Vec<usize> {
    let mut cols = Vec::new();
    c.walk(&mut |e| {
        if let Expr::Column(i) = e {
            cols.push(*i);
        }
    });
    cols
}

fn order(items: Vec<Plan>, conjuncts: Vec<Expr>) -> Plan {
    // Original layout: item k's columns start at offsets[k].
    let widths: Vec<usize> = items.iter().map(|p| p.columns().len()).collect();
    let mut offsets = Vec::with_capacity(items.len());
    let mut total = 0;
    for w in &widths {
        offsets.push(total);
        total += w;
    }
    let item_of = |col: usize| offsets.iter().rposition(|&o| o <= col).unwrap_or(0);
    // Conjuncts that cannot move keep their place above the whole tree.
    let (movable, fixed): (Vec<Expr>, Vec<Expr>) = conjuncts
        .into_iter()
        .partition(|c| c.is_deterministic() && !c.has_correlated_subquery());
    let needs: Vec<Vec<usize>> = movable
        .iter()
        .map(|c| {
            let mut v: Vec<usize> = column_span(c).into_iter().map(item_of).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let estimates: Vec<f64> = items.iter().map(estimate).collect();
    let n = items.len();
    let mut slots: Vec<Option<Plan>> = items.into_iter().map(Some).collect();
    let mut used = vec![false; movable.len()];
    let mut joined: Vec<usize> = Vec::new();
    let mut in_tree = vec![false; n];

    let first = (0..n)
        .min_by(|&a, &b| estimates[a].total_cmp(&estimates[b]))
        .expect("a join has inputs");
    in_tree[first] = true;
    joined.push(first);
    let mut tree = slots[first].take().expect("each input is used once");
    // The inputs in the tree's column order.
    let mut layout: Vec<usize> = vec![first];
    let mut tree_estimate = estimates[first];

    while joined.len() < n {
        let connected = |k: usize| {
            needs.iter().enumerate().any(|(ci, need)| {
                !used[ci] && need.contains(&k) && need.iter().any(|j| in_tree[*j])
            })
        };
        let next = (0..n)
            .filter(|&k| !in_tree[k])
            .min_by(|&a, &b| {
                connected(b)
                    .cmp(&connected(a))
                    .then(estimates[a].total_cmp(&estimates[b]))
            })
            .expect("an input is left");
        in_tree[next] = true;
        joined.push(next);
        // A hash join builds on its right input: the smaller side goes there.
        let swap = estimates[next] > tree_estimate;
        let new_layout: Vec<usize> = if swap {
            std::iter::once(next)
                .chain(layout.iter().copied())
                .collect()
        } else {
            layout
                .iter()
                .copied()
                .chain(std::iter::once(next))
                .collect()
        };
        // Position of each original column in the joined row.
        let new_pos = |col: usize, order: &[usize]| -> Option<usize> {
            let k = item_of(col);
            let mut at = 0;
            for &j in order {
                if j == k {
                    return Some(at + col - offsets[k]);
                }
                at += widths[j];
            }
            None
        };
        let mut step = Vec::new();
        for (ci, c) in movable.iter().enumerate() {
            if !used[ci] && needs[ci].iter().all(|j| in_tree[*j]) {
                used[ci] = true;
                step.push(c.map_columns(&|i| {
                    Expr::Column(new_pos(i, &new_layout).expect("conjunct inputs are joined"))
                }));
            }
        }
        let input = slots[next].take().expect("each input is used once");
        let (left, right) = if swap { (input, tree) } else { (tree, input) };
        let nl = left.columns().len();
        let types = column_types(&left, &right);
        let (lk, rk, rest) = split_keys(step, nl, &types);
        tree = make_join(left, right, JoinKind::Inner, lk, rk, rest);
        layout = new_layout;
        tree_estimate = tree_estimate.max(estimates[next]);
    }
    // Back to the original column order.
    let mut pos = vec![0; total];
    let mut at = 0;
    for &k in &layout {
        for c in 0..widths[k] {
            pos[offsets[k] + c] = at + c;
        }
        at += widths[k];
    }
    let identity = pos.iter().enumerate().all(|(i, p)| i == *p);
    let mut plan = if identity {
        tree
    } else {
        let columns = {
            let cols = tree.columns();
            pos.iter().map(|&p| cols[p].clone()).collect()
        };
        Plan::Project {
            input: Box::new(tree),
            exprs: pos.iter().map(|&p| Expr::Column(p)).collect(),
            columns,
        }
    };
    if let Some(f) = Expr::and_all(fixed) {
        plan = Plan::Filter {
            input: Box::new(plan),
            predicate: f,
        };
    }
    plan
}

fn column_types(left: &Plan, right: &Plan) -> Vec<DataType> {
    let mut t: Vec<DataType> = left.columns().into_iter().map(|c| c.ty).collect();
    t.extend(right.columns().into_iter().map(|c| c.ty));
    t
}

/// The static type of a key expression, when it is a (cast) column.
fn key_type(e: &Expr, types: &[DataType]) -> Option<DataType> {
    match e {
        Expr::Column(i) => types.get(*i).cloned(),
        Expr::Cast(_, t) => Some(t.clone()),
        _ => None,
    }
}

/// Whether equal values of these types always hash alike.
fn hash_compatible(a: &DataType, b: &DataType) -> bool {
    use DataType as T;
    let numeric =
        |t: &DataType| t.is_integer() || matches!(t, T::Numeric(_) | T::Float4 | T::Float8);
    let text = |t: &DataType| matches!(t, T::Text | T::Varchar(_));
    (numeric(a) && numeric(b)) || (text(a) && text(b)) || (a == b && !matches!(a, T::Char(_)))
}

/// Hash keys for joining `left` and `right` on `on`: the `left expr =
/// right expr` conjuncts whose values hash alike (see [`split_keys`]).
pub(super) fn equi_keys(on: &Expr, left: &Plan, right: &Plan) -> (Vec<Expr>, Vec<Expr>) {
    let types = column_types(left, right);
    let (lk, rk, _) = split_keys(on.clone().conjuncts(), left.columns().len(), &types);
    (lk, rk)
}

/// Splits conjuncts over a join into hash keys (`left expr = right expr`)
/// and the rest.
fn split_keys(
    conjuncts: Vec<Expr>,
    nl: usize,
    types: &[DataType],
) -> (Vec<Expr>, Vec<Expr>, Vec<Expr>) {
    let (mut lk, mut rk, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for c in conjuncts {
        if let Expr::Binary(BinaryOp::Eq, a, b) = &c
            && c.is_deterministic()
            && !c.has_subquery()
        {
            let sa = column_span(a);
            let sb = column_span(b);
            let left_only = |s: &[usize]| !s.is_empty() && s.iter().all(|&i| i < nl);
            let right_only = |s: &[usize]| !s.is_empty() && s.iter().all(|&i| i >= nl);
            let pair = if left_only(&sa) && right_only(&sb) {
                Some((a, b))
            } else if left_only(&sb) && right_only(&sa) {
                Some((b, a))
            } else {
                None
            };
            if let Some((l, r)) = pair
                && let (Some(lt), Some(rt)) = (key_type(l, types), key_type(r, types))
                && hash_compatible(&lt, &rt)
            {
                lk.push((**l).clone());
                rk.push(r.map_columns(&|i| Expr::Column(i - nl)));
                continue;
            }
        }
        rest.push(c);
    }
    (lk, rk, rest)
}

fn make_join(
    left: Plan,
    right: Plan,
    kind: JoinKind,
    left_keys: Vec<Expr>,
    right_keys: Vec<Expr>,
    rest: Vec<Expr>,
) -> Plan {
    if left_keys.is_empty() {
        Plan::NestedLoop {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            on: Expr::and_all(rest),
            lateral: false,
        }
    } else {
        Plan::HashJoin {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            left_keys,
            right_keys,
            on: Expr::and_all(rest),
        }
    }
}
