//! IndexSelection: turns a filtered full scan into a primary-key or
//! secondary-index range scan when the filter constrains a key prefix.
//!
//! Usable conjuncts are `column op value` (or mirrored) where `value` does
//! not depend on the row and has the column's type family, so that encoding
//! it as a key cannot change the comparison's meaning. The filter is kept in
//! full and re-checked on every row the range yields.

use super::{Rule, map_children};
use crate::catalog::TableDef;
use crate::sql::expr::Expr;
use crate::sql::functions::Func;
use crate::sql::plan::{Access, Plan, Scan};
use crate::types::{BinaryOp, DataType};

pub struct IndexSelection;

impl Rule for IndexSelection {
    fn name(&self) -> &'static str {
        "index_selection"
    }

    fn apply(&self, plan: Plan) -> Plan {
        select(plan)
    }
}

fn select(plan: Plan) -> Plan {
    match plan {
        Plan::Scan(s) => Plan::Scan(choose_access(s)),
        other => map_children(other, &select),
    }
}

/// The static type of a row-independent expression, when known.
fn static_type(e: &Expr) -> Option<DataType> {
    match e {
        Expr::Literal(v) if !v.is_null() => Some(v.data_type()),
        Expr::Param(_, t) if *t != DataType::Unknown => Some(t.clone()),
        Expr::Cast(_, t) => Some(t.clone()),
        // A column of the enclosing row: one value per run of a correlated subquery.
        Expr::Outer { ty, .. } if *ty != DataType::Unknown => Some(ty.clone()),
        // The session's tenant: one value per statement.
        Expr::Function(Func::CurrentTenantId, args) if args.is_empty() => Some(DataType::Uuid),
        _ => None,
    }
}

fn compatible(col: &DataType, val: &DataType) -> bool {
    use DataType as T;
    match (col, val) {
        (a, b) if a.is_integer() && b.is_integer() => true,
        (T::Numeric(_), T::Numeric(_)) => true,
        (T::Text | T::Varchar(_), T::Text | T::Varchar(_)) => true,
        (T::Float8, T::Float8) | (T::Float4, T::Float4) => true,
        // Arrays and records are keyed by their row encoding, not in their
        // comparison order.
        (a, b) => a == b && !matches!(a, T::Char(_) | T::Json | T::Array(_) | T::Composite(_)),
    }
}

/// One usable conjunct: column, operator (normalized to `column op value`), value.
struct Bound {
    col: usize,
    op: BinaryOp,
    value: Expr,
}

fn usable(table: &TableDef, c: &Expr) -> Option<Bound> {
    // `(comparison) IS TRUE` (a row-level security filter) holds on the
    // same rows as the comparison.
    if let Expr::IsBool(inner, true) = c {
        return usable(table, inner);
    }
    let Expr::Binary(op, l, r) = c else {
        return None;
    };
    let (col, op, value) = match (l.as_ref(), r.as_ref()) {
        (Expr::Column(i), v) => (*i, *op, v),
        (v, Expr::Column(i)) => (*i, mirror(*op)?, v),
        _ => return None,
    };
    if !matches!(
        op,
        BinaryOp::Eq | BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq
    ) || !value.is_row_independent()
    {
        return None;
    }
    let ct = &table.columns.get(col)?.ty;
    if !compatible(ct, &static_type(value)?) {
        return None;
    }
    Some(Bound {
        col,
        op,
        value: value.clone(),
    })
}

fn mirror(op: BinaryOp) -> Option<BinaryOp> {
    Some(match op {
        BinaryOp::Eq => BinaryOp::Eq,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        _ => return None,
    })
}

/// (key columns matched, whole key matched, equalities, lower, upper, IN list).
type Candidate = (
    usize,
    bool,
    Vec<Expr>,
    Option<(Expr, bool)>,
    Option<(Expr, bool)>,
    Option<Vec<Expr>>,
);

/// `column IN (values)` usable as a set of key lookups.
fn usable_in_list(table: &TableDef, c: &Expr) -> Option<(usize, Vec<Expr>)> {
    let Expr::InList(e, items) = c else {
        return None;
    };
    let Expr::Column(col) = e.as_ref() else {
        return None;
    };
    let ct = &table.columns.get(*col)?.ty;
    let ok = !items.is_empty()
        && items.len() <= 10_000
        && items
            .iter()
            .all(|v| v.is_row_independent() && static_type(v).is_some_and(|t| compatible(ct, &t)));
    ok.then(|| (*col, items.clone()))
}

/// Matches bounds against key columns: equality prefix, then a range (or
/// an IN list) on the next column.
fn match_key(key_cols: &[usize], bounds: &[Bound], in_lists: &[(usize, Vec<Expr>)]) -> Candidate {
    let mut eq = Vec::new();
    for &k in key_cols {
        match bounds.iter().find(|b| b.col == k && b.op == BinaryOp::Eq) {
            Some(b) => eq.push(b.value.clone()),
            None => break,
        }
    }
    let (mut lower, mut upper) = (None, None);
    if let Some(&next) = key_cols.get(eq.len()) {
        for b in bounds.iter().filter(|b| b.col == next) {
            match b.op {
                BinaryOp::Gt if lower.is_none() => lower = Some((b.value.clone(), false)),
                BinaryOp::GtEq if lower.is_none() => lower = Some((b.value.clone(), true)),
                BinaryOp::Lt if upper.is_none() => upper = Some((b.value.clone(), false)),
                BinaryOp::LtEq if upper.is_none() => upper = Some((b.value.clone(), true)),
                _ => {}
            }
        }
    }
    let mut in_list = None;
    if lower.is_none()
        && upper.is_none()
        && let Some(&next) = key_cols.get(eq.len())
        && let Some((_, items)) = in_lists.iter().find(|(c, _)| *c == next)
    {
        in_list = Some(items.clone());
    }
    let matched = eq.len() + usize::from(in_list.is_some());
    let full = matched == key_cols.len();
    (matched, full, eq, lower, upper, in_list)
}

fn choose_access(mut s: Scan) -> Scan {
    let Some(filter) = &s.filter else { return s };
    if !matches!(s.access, Access::Full) {
        return s;
    }
    let conjuncts = filter.clone().conjuncts();
    let bounds: Vec<Bound> = conjuncts
        .iter()
        .filter_map(|c| usable(&s.table, c))
        .collect();
    let in_lists: Vec<(usize, Vec<Expr>)> = conjuncts
        .iter()
        .filter_map(|c| usable_in_list(&s.table, c))
        .collect();
    if bounds.is_empty() && in_lists.is_empty() {
        return s;
    }
    let mut best: Option<(Option<std::sync::Arc<crate::catalog::IndexDef>>, Candidate)> = None;
    let score = |c: &Candidate, unique: bool| -> (usize, usize, usize) {
        let ranged = c.3.is_some() || c.4.is_some();
        (usize::from(c.1 && unique), c.0, usize::from(ranged))
    };
    if !s.table.primary_key.is_empty() {
        let c = match_key(&s.table.primary_key, &bounds, &in_lists);
        if c.0 > 0 || c.3.is_some() || c.4.is_some() {
            best = Some((None, c));
        }
    }
    for ix in s.indexes.iter() {
        let c = match_key(&ix.columns, &bounds, &in_lists);
        if c.0 == 0 && c.3.is_none() && c.4.is_none() {
            continue;
        }
        let better = match &best {
            None => true,
            Some((bi, bc)) => {
                let bu = bi.as_ref().map(|i| i.unique).unwrap_or(true);
                score(&c, ix.unique) > score(bc, bu)
            }
        };
        if better {
            best = Some((Some(ix.clone()), c));
        }
    }
    if let Some((index, (_, _, eq, lower, upper, in_list))) = best {
        s.access = Access::Index {
            index,
            eq,
            lower,
            upper,
            in_list,
        };
    }
    s
}
