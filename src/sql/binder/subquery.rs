//! Binding subqueries inside expressions: scalar, EXISTS, IN, ANY/ALL, ARRAY.

use super::{AggCtx, Binder, OuterFrame, Scope};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::{Expr, Subquery, SubqueryKind};
use crate::types::{BinaryOp, DataType};
use sqlparser::ast;
use std::sync::Arc;

impl Binder<'_> {
    /// Binds `q` as a subquery of kind `kind` inside an expression over
    /// `scope`; `lhs` is the bound left operand of IN / ANY / ALL.
    pub(super) fn bind_subquery(
        &self,
        q: &ast::Query,
        kind: SubqueryKind,
        lhs: Option<(Expr, DataType)>,
        scope: &Scope,
        agg: Option<&AggCtx>,
    ) -> Result<(Expr, DataType)> {
        self.outer.borrow_mut().push(OuterFrame::new(scope.clone()));
        let plan = self.bind_query(q);
        let frame = self.outer.borrow_mut().pop().expect("frame pushed above");
        let plan = plan?;
        let mut outer_refs = frame.refs.into_inner();
        outer_refs.sort_unstable();
        outer_refs.dedup();
        let mut plan = plan;
        if let Some(a) = agg
            && !outer_refs.is_empty()
        {
            // The subquery runs over grouped rows: each enclosing column it
            // reads must be a group key, and it reads the key's position.
            let mut map = Vec::with_capacity(outer_refs.len());
            for &i in &outer_refs {
                match a.groups.iter().position(|g| *g == Expr::Column(i)) {
                    Some(g) => map.push((i, g)),
                    None => {
                        let c = &scope.columns[i];
                        let shown = match &c.qualifier {
                            Some(q) => format!("{q}.{}", c.name),
                            None => c.name.clone(),
                        };
                        return Err(Error::new(
                            SqlState::GROUPING_ERROR,
                            format!("subquery uses ungrouped column \"{shown}\" from outer query"),
                        ));
                    }
                }
            }
            let lookup = |i: usize| map.iter().find(|(from, _)| *from == i).map(|(_, to)| *to);
            remap_outer(&mut plan, 1, &lookup);
            outer_refs = outer_refs.iter().filter_map(|&i| lookup(i)).collect();
        }
        let columns = plan.columns();
        if kind != SubqueryKind::Exists && columns.len() != 1 {
            return Err(Error::new(
                SqlState::SYNTAX_ERROR,
                match (kind, columns.len()) {
                    (SubqueryKind::Scalar | SubqueryKind::Array, _) => {
                        "subquery must return only one column"
                    }
                    (_, 0) => "subquery has too few columns",
                    _ => "subquery has too many columns",
                },
            ));
        }
        let col_ty = columns
            .first()
            .map(|c| c.ty.clone())
            .unwrap_or(DataType::Bool);
        let (lhs, ty) = match (kind, lhs) {
            (SubqueryKind::Scalar, _) => (None, col_ty),
            (SubqueryKind::Exists, _) => (None, DataType::Bool),
            (SubqueryKind::Array, _) => (None, DataType::Array(Box::new(col_ty))),
            (SubqueryKind::In | SubqueryKind::Any(_) | SubqueryKind::All(_), Some((l, lt))) => {
                let op = match kind {
                    SubqueryKind::Any(op) | SubqueryKind::All(op) => op,
                    _ => BinaryOp::Eq,
                };
                // Type-check `lhs op column` as a comparison would be.
                let probe = Expr::Outer {
                    level: 1,
                    index: 0,
                    ty: col_ty.clone(),
                };
                let (checked, rt) =
                    self.binary(op, l.clone(), lt.clone(), probe, col_ty.clone())?;
                if rt != DataType::Bool {
                    return Err(Error::new(
                        SqlState::DATATYPE_MISMATCH,
                        "operator of ANY/ALL must return type boolean",
                    ));
                }
                // Keep the coerced left operand (an untyped literal gets the column's type).
                let l = match checked {
                    Expr::Binary(_, l, _) => *l,
                    _ => l,
                };
                (Some(Box::new(l)), DataType::Bool)
            }
            _ => {
                return Err(Error::internal(
                    "IN/ANY/ALL subquery without a left operand",
                ));
            }
        };
        let sq = Subquery {
            plan,
            kind,
            correlated: frame.correlated.get(),
            outer_refs,
            id: self.subquery_id(),
        };
        Ok((
            Expr::Subquery {
                sq: Arc::new(sq),
                lhs,
            },
            ty,
        ))
    }
}

/// Rewrites references to the enclosing row `depth` levels up (as seen from
/// `plan`) through `map`, in `plan` and in the subqueries nested inside it.
fn remap_outer(
    plan: &mut crate::sql::plan::Plan,
    depth: usize,
    map: &dyn Fn(usize) -> Option<usize>,
) {
    plan.for_each_expr_mut(&mut |e| remap_expr(e, depth, map));
}

fn remap_expr(e: &mut Expr, depth: usize, map: &dyn Fn(usize) -> Option<usize>) {
    crate::stack::guard(|| {
        match e {
            Expr::Outer { level, index, .. } if *level == depth => {
                if let Some(to) = map(*index) {
                    *index = to;
                }
            }
            Expr::Subquery { sq, .. } => {
                remap_outer(&mut Arc::make_mut(sq).plan, depth + 1, map);
            }
            _ => {}
        }
        for c in e.children_mut() {
            remap_expr(c, depth, map);
        }
    })
}
