//! Binding scalar expressions: names to column positions, literals and
//! parameters to types, operators and functions to their implementations.

use super::{AggCtx, Binder, Scope, ident};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::{Expr, SubqueryKind};
use crate::sql::functions::{self, Func};
use crate::sql::plan::{AggCall, AggFunc, SortKey};
use crate::types::{BinaryOp, DataType, UnaryOp, Value};
use rust_decimal::Decimal;
use sqlparser::ast;
use std::str::FromStr;

/// Maximum expression nesting depth (deeper input gets 54001, never a stack overflow).
const MAX_DEPTH: usize = 2000;

/// Internal marker: an aggregate was found where the binder was not in
/// aggregate mode; the SELECT binder retries in aggregate mode.
pub(crate) const AGG_FOUND: &str = "\u{0}aggregate-found";

/// `t.*`, possibly in parentheses.
fn is_whole_row(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::QualifiedWildcard(..) => true,
        ast::Expr::Nested(inner) => is_whole_row(inner),
        _ => false,
    }
}

pub(crate) fn is_agg_found(e: &Error) -> bool {
    e.message == AGG_FOUND
}

/// An aggregate found where none may be (`place`: "UPDATE", "VALUES") is
/// 42803, as PostgreSQL words it; other errors pass unchanged.
pub(crate) fn no_aggregates_in(e: Error, place: &str) -> Error {
    if is_agg_found(&e) {
        Error::new(
            SqlState::GROUPING_ERROR,
            format!("aggregate functions are not allowed in {place}"),
        )
    } else {
        e
    }
}

pub(super) fn agg_func(name: &str) -> Option<AggFunc> {
    Some(match name {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "avg" => AggFunc::Avg,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "bool_and" | "every" => AggFunc::BoolAnd,
        "bool_or" => AggFunc::BoolOr,
        "string_agg" => AggFunc::StringAgg,
        "array_agg" => AggFunc::ArrayAgg,
        _ => return None,
    })
}

pub(crate) fn is_aggregate_name(name: &str) -> bool {
    agg_func(name).is_some()
}

pub(super) fn map_binop(op: &ast::BinaryOperator) -> Result<BinaryOp> {
    use ast::BinaryOperator as B;
    Ok(match op {
        B::Plus => BinaryOp::Plus,
        B::Minus => BinaryOp::Minus,
        B::Multiply => BinaryOp::Multiply,
        B::Divide => BinaryOp::Divide,
        B::Modulo => BinaryOp::Modulo,
        B::PGExp => BinaryOp::Exponent,
        B::StringConcat => BinaryOp::Concat,
        B::Eq => BinaryOp::Eq,
        B::NotEq => BinaryOp::NotEq,
        B::Lt => BinaryOp::Lt,
        B::LtEq => BinaryOp::LtEq,
        B::Gt => BinaryOp::Gt,
        B::GtEq => BinaryOp::GtEq,
        B::Arrow => BinaryOp::JsonGet,
        B::LongArrow => BinaryOp::JsonGetText,
        B::HashArrow => BinaryOp::JsonPathGet,
        B::HashLongArrow => BinaryOp::JsonPathGetText,
        B::AtArrow => BinaryOp::JsonContains,
        B::ArrowAt => BinaryOp::JsonContainedBy,
        B::Question => BinaryOp::JsonExists,
        B::BitwiseAnd => BinaryOp::BitAnd,
        B::BitwiseOr => BinaryOp::BitOr,
        B::PGBitwiseXor => BinaryOp::BitXor,
        B::PGBitwiseShiftLeft => BinaryOp::ShiftLeft,
        B::PGBitwiseShiftRight => BinaryOp::ShiftRight,
        other => {
            return Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("operator does not exist: {other}"),
            ));
        }
    })
}

/// Parses a numeric literal: integer (int4, else int8), else numeric.
pub(crate) fn number_literal(s: &str) -> Result<Value> {
    if let Ok(i) = s.parse::<i32>() {
        return Ok(Value::Int4(i));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::Int8(i));
    }
    if s.contains(['e', 'E']) {
        return Decimal::from_scientific(s)
            .map(Value::Numeric)
            .or_else(|_| s.parse::<f64>().map(Value::Float8))
            .map_err(|_| Error::invalid_text("numeric", s));
    }
    Decimal::from_str(s)
        .map(Value::Numeric)
        .map_err(|_| Error::out_of_range("numeric"))
}

impl Binder<'_> {
    /// Binds an expression over `scope`.
    pub fn bind_expr(&self, e: &ast::Expr, scope: &Scope) -> Result<(Expr, DataType)> {
        self.bind(e, scope, None, 0)
    }

    pub(crate) fn bind_agg_expr(&self, e: &ast::Expr, agg: &AggCtx) -> Result<(Expr, DataType)> {
        self.bind(e, agg.input, Some(agg), 0)
    }

    /// Binds a predicate (WHERE, ON, HAVING, CHECK): must be boolean.
    pub fn bind_predicate(&self, e: &ast::Expr, scope: &Scope, clause: &str) -> Result<Expr> {
        let (x, ty) = self.bind_expr(e, scope).map_err(|err| {
            if !is_agg_found(&err) {
                return err;
            }
            let place = match clause {
                "JOIN/ON" => "JOIN conditions",
                "CHECK" => "check constraints",
                "POLICY" => "policy expressions",
                "WHEN" => "MERGE WHEN conditions",
                other => other,
            };
            Error::new(
                SqlState::GROUPING_ERROR,
                format!("aggregate functions are not allowed in {place}"),
            )
        })?;
        self.expect_bool(x, ty, clause)
    }

    pub(crate) fn expect_bool(&self, x: Expr, ty: DataType, clause: &str) -> Result<Expr> {
        match ty {
            DataType::Bool => Ok(x),
            DataType::Unknown => self.coerce(x, &ty, &DataType::Bool),
            other => Err(Error::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "argument of {clause} must be type boolean, not type {}",
                    other.name()
                ),
            )),
        }
    }

    /// Gives an untyped literal or parameter the type `to`; other
    /// expressions are returned unchanged when the types already agree, and
    /// wrapped in an implicit cast otherwise.
    pub fn coerce(&self, x: Expr, from: &DataType, to: &DataType) -> Result<Expr> {
        if from == to || *to == DataType::Unknown {
            return Ok(x);
        }
        // Untyped text becomes a record by the type's fields.
        if *from == DataType::Unknown && !matches!(x, Expr::Param(..)) {
            if let DataType::Composite(id) = to {
                return self.coerce_to_composite(x, from, *id);
            }
            if super::composite::is_composite_array(to) {
                return self.coerce_to_composite_array(x, from, to);
            }
        }
        match x {
            Expr::Literal(Value::Null) => Ok(Expr::Literal(Value::Null)),
            Expr::Literal(Value::Text(s)) if *from == DataType::Unknown => {
                Ok(Expr::Literal(Value::parse(&s, to)?))
            }
            Expr::Param(n, DataType::Unknown) => {
                let t = self.note_param(n, to);
                Ok(Expr::Param(n, t))
            }
            other => {
                if *from == DataType::Unknown || DataType::can_coerce_implicitly(from, to) {
                    Ok(Expr::Cast(Box::new(other), to.clone()))
                } else {
                    Ok(other)
                }
            }
        }
    }

    pub(super) fn bind(
        &self,
        e: &ast::Expr,
        scope: &Scope,
        agg: Option<&AggCtx>,
        depth: usize,
    ) -> Result<(Expr, DataType)> {
        crate::stack::guard(|| self.bind_inner(e, scope, agg, depth))
    }

    fn bind_inner(
        &self,
        e: &ast::Expr,
        scope: &Scope,
        agg: Option<&AggCtx>,
        depth: usize,
    ) -> Result<(Expr, DataType)> {
        if depth > MAX_DEPTH {
            return Err(Error::new(
                SqlState::STATEMENT_TOO_COMPLEX,
                "expression is too deeply nested",
            ));
        }
        // After GROUP BY: a whole expression equal to a group key is that key.
        if let Some(a) = agg
            && !a.groups.is_empty()
            && !contains_aggregate(e)
            && !contains_window(e)
            && let Ok((x, ty)) = self.bind(e, scope, None, depth + 1)
        {
            if let Some(i) = a.groups.iter().position(|g| *g == x) {
                return Ok((Expr::Column(i), ty));
            }
            if x.is_row_independent() {
                return Ok((x, ty));
            }
        }
        let b = |x: &ast::Expr| self.bind(x, scope, agg, depth + 1);
        use ast::Expr as A;
        match e {
            A::Identifier(id) => self.column(None, &ident(id), scope, agg),
            A::CompoundIdentifier(ids) => {
                let names: Vec<String> = ids.iter().map(ident).collect();
                match names.as_slice() {
                    [q, c] => self.column(Some(q), c, scope, agg),
                    [_s, q, c] => self.column(Some(q), c, scope, agg),
                    _ => Err(Error::syntax(format!("improper qualified name: {e}"))),
                }
            }
            A::Nested(inner) => b(inner),
            // Every comparison is by code point ("C"); only the collations
            // that compare that way exist (see `index::collation`).
            A::Collate { expr, collation } => {
                let (x, ty) = b(expr)?;
                super::index::collation(collation, &ty)?;
                Ok((x, ty))
            }
            // a[i]: one-dimensional subscripts, 1-based; NULL out of range;
            // (x).f: a field of a composite value.
            A::CompoundFieldAccess { root, access_chain } => {
                let (mut x, mut ty) = b(root)?;
                for access in access_chain {
                    (x, ty) = match access {
                        ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                            let DataType::Array(elem) = ty else {
                                return Err(Error::new(
                                    SqlState::DATATYPE_MISMATCH,
                                    format!(
                                        "cannot subscript type {} because it does not support subscripting",
                                        self.type_display(&ty)
                                    ),
                                ));
                            };
                            let (i, it) = b(index)?;
                            let i = self.coerce(i, &it, &DataType::Int4)?;
                            (Expr::Function(Func::ArrayElement, vec![x, i]), *elem)
                        }
                        ast::AccessExpr::Dot(ast::Expr::Identifier(f)) => {
                            self.select_field(x, &ty, &ident(f))?
                        }
                        _ => {
                            return Err(Error::unsupported(format!(
                                "expression not supported: {e}"
                            )));
                        }
                    };
                }
                Ok((x, ty))
            }
            A::Value(v) => self.literal(&v.value),
            A::TypedString(ts) => {
                let ty = DataType::from_sql(&ts.data_type)?;
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                Ok((Expr::Literal(Value::parse(&text, &ty)?), ty))
            }
            A::Interval(iv) => {
                let (x, ty) = b(&iv.value)?;
                let mut text = match x {
                    Expr::Literal(Value::Text(s)) => s,
                    Expr::Literal(v) => v.to_string(),
                    _ => {
                        return Ok((
                            Expr::Cast(Box::new(x), DataType::Interval),
                            DataType::Interval,
                        ));
                    }
                };
                let _ = ty;
                if let Some(f) = &iv.leading_field
                    && iv.last_field.is_none()
                    && !text.chars().any(|c| c.is_alphabetic())
                {
                    text = format!("{text} {f}");
                }
                Ok((
                    Expr::Literal(Value::parse(&text, &DataType::Interval)?),
                    DataType::Interval,
                ))
            }
            A::Cast {
                expr, data_type, ..
            } if is_whole_row(expr)
                && matches!(self.resolve_type(data_type), Ok((DataType::Text, None))) =>
            {
                let row = self
                    .bind_row(expr, scope, agg, depth + 1)?
                    .unwrap_or_default();
                Ok(Self::row_to_text(row))
            }
            A::Cast {
                expr, data_type, ..
            } => {
                let (x, from) = b(expr)?;
                if let Some(reg) = super::system::reg_type(data_type) {
                    return self.bind_reg_cast(&reg, (x, from));
                }
                let (ty, domain) = self.cast_target(data_type)?;
                let cast = if let DataType::Composite(id) = ty {
                    self.coerce_to_composite(x, &from, id)?
                } else if super::composite::is_composite_array(&ty) {
                    self.coerce_to_composite_array(x, &from, &ty)?
                } else if let (Expr::Literal(Value::Text(s)), DataType::Unknown) = (&x, &from) {
                    Expr::Literal(Value::Text(s.clone()).cast(&ty)?)
                } else if let Expr::Param(n, DataType::Unknown) = x {
                    let t = self.note_param(n, &ty);
                    Expr::Param(n, t)
                } else {
                    if from != DataType::Unknown && !DataType::can_cast(&from, &ty) {
                        return Err(Error::new(
                            SqlState::CANNOT_COERCE,
                            format!("cannot cast type {} to {}", from.name(), ty.name()),
                        ));
                    }
                    Expr::Cast(Box::new(x), ty.clone())
                };
                match domain {
                    Some(d) => Ok((self.coerce_to_domain(cast, &ty, &d)?, ty)),
                    None => Ok((cast, ty)),
                }
            }
            A::UnaryOp { op, expr } => {
                let (x, ty) = b(expr)?;
                match op {
                    ast::UnaryOperator::Not => {
                        let x = self.expect_bool(x, ty, "NOT")?;
                        Ok((Expr::Not(Box::new(x)), DataType::Bool))
                    }
                    ast::UnaryOperator::Minus => {
                        // Fold negative literals so -2147483648 is an int4.
                        if let Expr::Literal(v) = &x
                            && let Ok(v2) = UnaryOp::Neg.eval(v)
                        {
                            if let (Value::Int8(i), DataType::Int8) = (&v2, &ty)
                                && let Ok(i32v) = i32::try_from(*i)
                            {
                                return Ok((Expr::Literal(Value::Int4(i32v)), DataType::Int4));
                            }
                            let t = v2.data_type();
                            return Ok((Expr::Literal(v2), t));
                        }
                        let rt = UnaryOp::Neg.result_type(&ty)?;
                        Ok((Expr::Unary(UnaryOp::Neg, Box::new(x)), rt))
                    }
                    ast::UnaryOperator::Plus => Ok((x, ty)),
                    ast::UnaryOperator::BitwiseNot => {
                        let rt = UnaryOp::BitNot.result_type(&ty)?;
                        Ok((Expr::Unary(UnaryOp::BitNot, Box::new(x)), rt))
                    }
                    other => Err(Error::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("operator does not exist: {other} {}", ty.name()),
                    )),
                }
            }
            A::BinaryOp { left, op, right } => {
                let lrow = self.bind_row(left, scope, agg, depth + 1)?;
                let rrow = self.bind_row(right, scope, agg, depth + 1)?;
                let no_operator = |l: &str, r: &str| {
                    Error::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("operator does not exist: {l} {op} {r}"),
                    )
                    .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
                };
                match (lrow, rrow) {
                    (Some(l), Some(r)) => {
                        let cmp = super::operators::comparison_op(op)
                            .ok_or_else(|| no_operator("record", "record"))?;
                        return self.row_comparison(cmp, l, r);
                    }
                    (Some(_), None) => {
                        let (_, rt) = b(right)?;
                        return Err(no_operator("record", &rt.name()));
                    }
                    (None, Some(_)) => {
                        let (_, lt) = b(left)?;
                        return Err(no_operator(&lt.name(), "record"));
                    }
                    (None, None) => {}
                }
                let (l, lt) = b(left)?;
                let (r, rt) = b(right)?;
                self.binary_operator(op, l, lt, r, rt)
            }
            A::IsNull(x) | A::IsNotNull(x)
                if is_whole_row(x) || matches!(x.as_ref(), A::Tuple(_)) =>
            {
                let row = self.bind_row(x, scope, agg, depth + 1)?.unwrap_or_default();
                Ok(Self::row_is_null(row, matches!(e, A::IsNotNull(_))))
            }
            // A composite value is null when all its fields are, and not
            // null when none is.
            A::IsNull(x) | A::IsNotNull(x) => {
                let not = matches!(e, A::IsNotNull(_));
                let (x, t) = b(x)?;
                let test = if matches!(t, DataType::Composite(_)) {
                    Expr::Function(Func::RecordNullTest(not), vec![x])
                } else if not {
                    Expr::Not(Box::new(Expr::IsNull(Box::new(x))))
                } else {
                    Expr::IsNull(Box::new(x))
                };
                Ok((test, DataType::Bool))
            }
            A::IsTrue(x) | A::IsNotTrue(x) | A::IsFalse(x) | A::IsNotFalse(x) => {
                let (x2, t) = b(x)?;
                let x2 = self.expect_bool(x2, t, "IS TRUE")?;
                let want = matches!(e, A::IsTrue(_) | A::IsNotTrue(_));
                let t = Expr::IsBool(Box::new(x2), want);
                let neg = matches!(e, A::IsNotTrue(_) | A::IsNotFalse(_));
                Ok((if neg { Expr::Not(Box::new(t)) } else { t }, DataType::Bool))
            }
            A::IsUnknown(x) | A::IsNotUnknown(x) => {
                let (x2, t) = b(x)?;
                let x2 = self.expect_bool(x2, t, "IS UNKNOWN")?;
                let t = Expr::IsNull(Box::new(x2));
                let neg = matches!(e, A::IsNotUnknown(_));
                Ok((if neg { Expr::Not(Box::new(t)) } else { t }, DataType::Bool))
            }
            A::IsDistinctFrom(l, r) | A::IsNotDistinctFrom(l, r)
                if is_whole_row(l) || matches!(l.as_ref(), A::Tuple(_)) =>
            {
                let lrow = self.bind_row(l, scope, agg, depth + 1)?.unwrap_or_default();
                let rrow = self.bind_row(r, scope, agg, depth + 1)?.ok_or_else(|| {
                    Error::new(
                        SqlState::UNDEFINED_FUNCTION,
                        "operator does not exist: record = unknown".to_string(),
                    )
                })?;
                self.row_distinct(lrow, rrow, matches!(e, A::IsDistinctFrom(..)))
            }
            A::IsDistinctFrom(l, r) | A::IsNotDistinctFrom(l, r) => {
                let (l, lt) = b(l)?;
                let (r, rt) = b(r)?;
                let (l, r) = self.unify(l, lt, r, rt)?;
                let x = Expr::NotDistinct(Box::new(l), Box::new(r));
                Ok((
                    if matches!(e, A::IsDistinctFrom(..)) {
                        Expr::Not(Box::new(x))
                    } else {
                        x
                    },
                    DataType::Bool,
                ))
            }
            A::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (x, xt) = b(expr)?;
                let (lo, lot) = b(low)?;
                let (hi, hit) = b(high)?;
                let (ge, _) = self.binary(BinaryOp::GtEq, x.clone(), xt.clone(), lo, lot)?;
                let (le, _) = self.binary(BinaryOp::LtEq, x, xt, hi, hit)?;
                let both = Expr::And(Box::new(ge), Box::new(le));
                Ok((negate_if(both, *negated), DataType::Bool))
            }
            A::InList {
                expr,
                list,
                negated,
            } => {
                let (x, mut xt) = b(expr)?;
                let mut items = Vec::with_capacity(list.len());
                for i in list {
                    items.push(b(i)?);
                }
                for (_, t) in &items {
                    xt = unify_types("IN", &xt, t)?;
                }
                if xt == DataType::Unknown {
                    xt = DataType::Text;
                }
                let x = self.coerce_typed(x, &xt)?;
                let items = items
                    .into_iter()
                    .map(|(i, t)| self.coerce(i, &t, &xt))
                    .collect::<Result<Vec<_>>>()?;
                let inl = Expr::InList(Box::new(x), items);
                Ok((negate_if(inl, *negated), DataType::Bool))
            }
            A::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any: false,
            }
            | A::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any: false,
            } => {
                let (l, lt) = b(expr)?;
                let (r, rt) = b(pattern)?;
                let esc = match escape_char {
                    Some(x) => Some(b(x)?.0),
                    None => None,
                };
                self.like(l, lt, r, rt, esc, matches!(e, A::ILike { .. }), *negated)
            }
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let op = match operand {
                    Some(o) => Some(b(o)?),
                    None => None,
                };
                let mut whens = Vec::new();
                let mut rty = DataType::Unknown;
                let mut results = Vec::new();
                for cw in conditions {
                    let (c, ct) = b(&cw.condition)?;
                    let c = match &op {
                        Some((_, ot)) => self.coerce(c, &ct, ot)?,
                        None => self.expect_bool(c, ct, "CASE/WHEN")?,
                    };
                    let (r, rt) = b(&cw.result)?;
                    whens.push(c);
                    results.push((r, rt));
                }
                let otherwise = match else_result {
                    Some(x) => Some(b(x)?),
                    None => None,
                };
                // PostgreSQL resolves the ELSE branch's type first, then the THENs.
                for (_, t) in otherwise.iter().chain(&results) {
                    rty = unify_types("CASE", &rty, t)?;
                }
                if rty == DataType::Unknown {
                    rty = DataType::Text;
                }
                let whens = whens
                    .into_iter()
                    .zip(results)
                    .map(|(c, (r, rt))| Ok((c, self.coerce(r, &rt, &rty)?)))
                    .collect::<Result<Vec<_>>>()?;
                let otherwise = match otherwise {
                    Some((r, rt)) => Some(Box::new(self.coerce(r, &rt, &rty)?)),
                    None => None,
                };
                Ok((
                    Expr::Case {
                        operand: op.map(|(o, _)| Box::new(o)),
                        whens,
                        otherwise,
                    },
                    rty,
                ))
            }
            A::Function(f) if super::row::is_row_constructor(f) => {
                let row = self.bind_row(e, scope, agg, depth + 1)?.unwrap_or_default();
                Ok(self.make_record(row))
            }
            A::Function(f) => self.function(f, scope, agg, depth),
            A::Array(arr) => {
                let mut items = Vec::new();
                let mut et = DataType::Unknown;
                for i in &arr.elem {
                    let (x, t) = b(i)?;
                    et = unify_types("ARRAY", &et, &t)?;
                    items.push((x, t));
                }
                if et == DataType::Unknown {
                    et = DataType::Text;
                }
                let items = items
                    .into_iter()
                    .map(|(x, t)| self.coerce(x, &t, &et))
                    .collect::<Result<Vec<_>>>()?;
                let ty = DataType::Array(Box::new(et));
                Ok((Expr::Array(items, ty.clone()), ty))
            }
            A::Subquery(q) => self.bind_subquery(q, SubqueryKind::Scalar, None, scope, agg),
            A::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | A::AllOp {
                left,
                compare_op,
                right,
            } => {
                let op = map_binop(compare_op)?;
                let all = matches!(e, A::AllOp { .. });
                if let A::Subquery(q) = right.as_ref() {
                    let kind = if all {
                        SubqueryKind::All(op)
                    } else {
                        SubqueryKind::Any(op)
                    };
                    let lhs = b(left)?;
                    return self.bind_subquery(q, kind, Some(lhs), scope, agg);
                }
                let (l, lt) = b(left)?;
                let (arr, at) = b(right)?;
                let elem = match &at {
                    DataType::Array(el) => (**el).clone(),
                    DataType::Unknown => lt.clone(),
                    other => {
                        return Err(Error::new(
                            SqlState::DATATYPE_MISMATCH,
                            format!(
                                "op ANY/ALL (array) requires array on right side, not {}",
                                other.name()
                            ),
                        ));
                    }
                };
                // Type-check `lhs op element` like a comparison (coercing untyped sides).
                let probe = Expr::Outer {
                    level: 1,
                    index: 0,
                    ty: elem.clone(),
                };
                let (checked, rt) = self.binary(op, l.clone(), lt.clone(), probe, elem.clone())?;
                if rt != DataType::Bool {
                    return Err(Error::new(
                        SqlState::DATATYPE_MISMATCH,
                        "op ANY/ALL (array) requires operator to yield boolean",
                    ));
                }
                let l = match checked {
                    Expr::Binary(_, l, _) => *l,
                    _ => l,
                };
                let arr = if at == DataType::Unknown {
                    self.coerce(arr, &at, &DataType::Array(Box::new(elem)))?
                } else {
                    arr
                };
                Ok((
                    Expr::Quantified {
                        op,
                        all,
                        lhs: Box::new(l),
                        array: Box::new(arr),
                    },
                    DataType::Bool,
                ))
            }
            A::Exists { subquery, negated } => {
                let (x, t) =
                    self.bind_subquery(subquery, SubqueryKind::Exists, None, scope, agg)?;
                Ok((negate_if(x, *negated), t))
            }
            A::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let lhs = b(expr)?;
                let (x, t) =
                    self.bind_subquery(subquery, SubqueryKind::In, Some(lhs), scope, agg)?;
                Ok((negate_if(x, *negated), t))
            }
            other => match self.special_function(other, &b)? {
                Some(bound) => Ok(bound),
                None => Err(Error::unsupported(format!(
                    "expression not supported: {other}"
                ))),
            },
        }
    }

    /// Casts a typed expression to `to` unless it already has that type.
    fn coerce_typed(&self, x: Expr, to: &DataType) -> Result<Expr> {
        match x {
            Expr::Param(n, DataType::Unknown) => Ok(Expr::Param(n, self.note_param(n, to))),
            Expr::Literal(Value::Text(s)) => Ok(Expr::Literal(Value::parse(&s, to)?)),
            other => Ok(other),
        }
    }

    /// The type a cast names, and the domain when it names one.
    fn cast_target(
        &self,
        ty: &ast::DataType,
    ) -> Result<(DataType, Option<std::sync::Arc<crate::catalog::DomainDef>>)> {
        // regclass casts of sequence names are used as nextval('s'::regclass).
        if let ast::DataType::Custom(name, _) = ty
            && name.to_string().eq_ignore_ascii_case("regclass")
        {
            return Ok((DataType::Text, None));
        }
        self.resolve_type(ty)
    }

    fn literal(&self, v: &ast::Value) -> Result<(Expr, DataType)> {
        use ast::Value as V;
        Ok(match v {
            V::Number(s, _) => {
                let v = number_literal(s)?;
                let t = v.data_type();
                (Expr::Literal(v), t)
            }
            V::SingleQuotedString(s)
            | V::EscapedStringLiteral(s)
            | V::UnicodeStringLiteral(s)
            | V::NationalStringLiteral(s)
            | V::TripleSingleQuotedString(s) => {
                (Expr::Literal(Value::Text(s.clone())), DataType::Unknown)
            }
            V::DollarQuotedString(d) => (
                Expr::Literal(Value::Text(d.value.clone())),
                DataType::Unknown,
            ),
            V::HexStringLiteral(h) => (
                Expr::Literal(Value::parse(&format!("\\x{h}"), &DataType::Bytea)?),
                DataType::Bytea,
            ),
            V::Boolean(b) => (Expr::Literal(Value::Bool(*b)), DataType::Bool),
            V::Null => (Expr::Literal(Value::Null), DataType::Unknown),
            V::Placeholder(p) => {
                let n: usize = p
                    .trim_start_matches('$')
                    .parse()
                    .map_err(|_| Error::syntax(format!("syntax error at or near \"{p}\"")))?;
                if n == 0 || n > 65535 {
                    return Err(Error::new(
                        SqlState::UNDEFINED_PARAMETER,
                        format!("there is no parameter ${n}"),
                    ));
                }
                let ty = self.note_param(n - 1, &DataType::Unknown);
                (Expr::Param(n - 1, ty.clone()), ty)
            }
            other => {
                return Err(Error::unsupported(format!(
                    "literal not supported: {other}"
                )));
            }
        })
    }

    fn column(
        &self,
        qualifier: Option<&str>,
        name: &str,
        scope: &Scope,
        agg: Option<&AggCtx>,
    ) -> Result<(Expr, DataType)> {
        if qualifier.is_none()
            && let Some(arg) = self.fn_arg(name)?
        {
            return Ok(arg);
        }
        match scope.resolve(qualifier, name)? {
            Some((i, ty)) => {
                if let Some(a) = agg {
                    // A plain column after GROUP BY must be a group key.
                    let x = Expr::Column(i);
                    if let Some(g) = a.groups.iter().position(|g| *g == x) {
                        return Ok((Expr::Column(g), ty));
                    }
                    let shown = match qualifier {
                        Some(q) => format!("{q}.{name}"),
                        None => scope.columns[i]
                            .qualifier
                            .as_ref()
                            .map(|q| format!("{q}.{name}"))
                            .unwrap_or_else(|| name.to_string()),
                    };
                    return Err(Error::new(
                        SqlState::GROUPING_ERROR,
                        format!(
                            "column \"{shown}\" must appear in the GROUP BY clause or be used in an aggregate function"
                        ),
                    ));
                }
                Ok((Expr::Column(i), ty))
            }
            None => {
                // A column of an enclosing query (correlated subquery).
                if let Some(x) = self.outer_column(qualifier, name)? {
                    return Ok(x);
                }
                // Bare-word session functions (SQL's CURRENT_DATE etc. parse as identifiers).
                if qualifier.is_none()
                    && let Some(x) = self.bare_function(name)?
                {
                    return Ok(x);
                }
                match qualifier {
                    Some(q) if !scope.has_qualifier(q) && !self.outer_has_qualifier(q) => {
                        Err(self.missing_table(q, scope))
                    }
                    // PostgreSQL does not quote a qualified name here.
                    Some(q) => Err(self.undefined_column(Some(q), name, scope)),
                    None => Err(self.undefined_column(None, name, scope)),
                }
            }
        }
    }

    fn bare_function(&self, name: &str) -> Result<Option<(Expr, DataType)>> {
        let f = match name {
            "current_timestamp" | "localtimestamp" => Func::Now,
            "current_date" => Func::CurrentDate,
            "current_schema" => Func::CurrentSchema,
            "current_user" | "current_role" => Func::CurrentUser,
            "session_user" => Func::SessionUser,
            // The release notes' spelling: `tenant_id = current_tenant_id`.
            "current_tenant_id" => Func::CurrentTenantId,
            _ => return Ok(None),
        };
        let (_, ty) = functions::resolve(f.name(), &[])?;
        let ty = if name == "localtimestamp" {
            return Ok(Some((
                Expr::Cast(
                    Box::new(Expr::Function(Func::Now, vec![])),
                    DataType::Timestamp,
                ),
                DataType::Timestamp,
            )));
        } else {
            ty
        };
        Ok(Some((Expr::Function(f, vec![]), ty)))
    }

    pub(super) fn binary(
        &self,
        op: BinaryOp,
        l: Expr,
        lt: DataType,
        r: Expr,
        rt: DataType,
    ) -> Result<(Expr, DataType)> {
        let (l, lt, r, rt) = match (&lt, &rt) {
            (DataType::Unknown, DataType::Unknown) => {
                let t = if op == BinaryOp::Concat || is_comparison(op) {
                    DataType::Text
                } else {
                    DataType::Unknown
                };
                (
                    self.coerce(l, &lt, &t)?,
                    t.clone(),
                    self.coerce(r, &rt, &t)?,
                    t,
                )
            }
            (DataType::Unknown, _) if !is_json_op(op) && op != BinaryOp::Concat => {
                let t = unknown_partner(op, &rt);
                (self.coerce(l, &lt, &t)?, t, r, rt)
            }
            (_, DataType::Unknown) if !is_json_op(op) && op != BinaryOp::Concat => {
                let t = unknown_partner(op, &lt);
                let r = self.coerce(r, &rt, &t)?;
                (l, lt, r, t)
            }
            (_, DataType::Unknown) if is_json_op(op) => {
                // `j -> 'key'` takes text, `j -> 0` an integer.
                let r = self.coerce(r, &rt, &DataType::Text)?;
                (l, lt, r, DataType::Text)
            }
            _ => (l, lt, r, rt),
        };
        let ty = op.result_type(&lt, &rt)?;
        // char(n) loses its padding when used as text, as in PostgreSQL.
        let unpad = |x: Expr, t: &DataType| match t {
            DataType::Char(_) if op == BinaryOp::Concat => Expr::Function(Func::Rtrim, vec![x]),
            _ => x,
        };
        let (l, r) = (unpad(l, &lt), unpad(r, &rt));
        // Fold operations on two literals at bind time.
        if let (Expr::Literal(a), Expr::Literal(b)) = (&l, &r) {
            let v = op.eval(a, b)?;
            return Ok((Expr::Literal(v), ty));
        }
        Ok((Expr::Binary(op, Box::new(l), Box::new(r)), ty))
    }

    pub(super) fn unify(
        &self,
        l: Expr,
        lt: DataType,
        r: Expr,
        rt: DataType,
    ) -> Result<(Expr, Expr)> {
        let t = DataType::common_type(&lt, &rt).unwrap_or(lt.clone());
        let t = if t == DataType::Unknown {
            DataType::Text
        } else {
            t
        };
        Ok((self.coerce(l, &lt, &t)?, self.coerce(r, &rt, &t)?))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn like(
        &self,
        l: Expr,
        lt: DataType,
        r: Expr,
        rt: DataType,
        esc: Option<Expr>,
        ci: bool,
        negated: bool,
    ) -> Result<(Expr, DataType)> {
        for t in [&lt, &rt] {
            if !(t.is_text() || *t == DataType::Unknown) {
                return Err(Error::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!(
                        "operator does not exist: {} {} {}",
                        lt.name(),
                        if ci { "~~*" } else { "~~" },
                        rt.name()
                    ),
                )
                .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts."));
            }
        }
        let l = self.coerce(l, &lt, &DataType::Text)?;
        let r = self.coerce(r, &rt, &DataType::Text)?;
        let x = Expr::Like {
            expr: Box::new(l),
            pattern: Box::new(r),
            escape: esc.map(Box::new),
            case_insensitive: ci,
        };
        Ok((
            if negated { Expr::Not(Box::new(x)) } else { x },
            DataType::Bool,
        ))
    }

    fn function(
        &self,
        f: &ast::Function,
        scope: &Scope,
        agg: Option<&AggCtx>,
        depth: usize,
    ) -> Result<(Expr, DataType)> {
        let parts = super::object_name_parts(&f.name)?;
        let name = match parts.as_slice() {
            [n] => n.clone(),
            [s, n] if s == "pg_catalog" => n.clone(),
            // The tenant management functions change the catalog: they are
            // statements of their own (session::helios).
            [s, n] if s == "helios" => {
                return Err(Error::unsupported(format!(
                    "helios.{n}() must be called as a statement of its own: SELECT helios.{n}(...)"
                )));
            }
            _ => parts.join("."),
        };
        if name == crate::sql::parser::CURRENT_OF_MARKER {
            // Only UPDATE and DELETE of a table read it (binder::dml); in a
            // query PostgreSQL's grammar has no CURRENT OF.
            return Err(Error::syntax("syntax error at or near \"OF\""));
        }
        if let Some(done) = self.bind_user_function(f, &parts, scope, agg, depth)? {
            return Ok(done);
        }
        if f.over.is_some() {
            return self.bind_window_call(f, &name, scope, agg, depth);
        }
        let mut order_by: &[ast::OrderByExpr] = &[];
        let (args, distinct, star) = match &f.args {
            ast::FunctionArguments::None => (vec![], false, false),
            // array(SELECT ...), spelled as a call.
            ast::FunctionArguments::Subquery(q) if name == "array" => {
                return self.bind_subquery(q, SubqueryKind::Array, None, scope, agg);
            }
            ast::FunctionArguments::Subquery(_) => {
                return Err(Error::unsupported("subqueries are not supported yet"));
            }
            ast::FunctionArguments::List(list) => {
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut star = false;
                let mut args = Vec::new();
                for a in &list.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => args.push(x),
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                        ast::FunctionArg::Named {
                            arg: ast::FunctionArgExpr::Expr(x),
                            ..
                        } => args.push(x),
                        _ => {
                            return Err(Error::unsupported(format!(
                                "function argument not supported: {a}"
                            )));
                        }
                    }
                }
                for c in &list.clauses {
                    match c {
                        ast::FunctionArgumentClause::OrderBy(keys) => order_by = keys,
                        _ => {
                            return Err(Error::unsupported(format!(
                                "function clauses not supported: {f}"
                            )));
                        }
                    }
                }
                (args, distinct, star)
            }
        };
        if let Some(af) = agg_func(&name) {
            let Some(a) = agg else {
                return Err(Error::new(SqlState::GROUPING_ERROR, AGG_FOUND));
            };
            // Aggregate arguments are bound over the input rows, not the groups.
            let mut bound = Vec::new();
            for x in &args {
                if contains_aggregate(x) {
                    return Err(Error::new(
                        SqlState::GROUPING_ERROR,
                        "aggregate function calls cannot be nested",
                    ));
                }
                bound.push(self.bind(x, a.input, None, depth + 1)?);
            }
            let filter = match &f.filter {
                Some(x) => Some(self.bind_predicate(x, a.input, "FILTER")?),
                None => None,
            };
            let (func, ty, bargs) = agg_signature(af, star, bound, &name)?;
            // ORDER BY inside the call orders the inputs before they are folded.
            let mut agg_order = Vec::with_capacity(order_by.len());
            for o in order_by {
                let (k, _) = self.bind(&o.expr, a.input, None, depth + 1)?;
                if distinct && !bargs.contains(&k) {
                    return Err(Error::new(
                        SqlState::INVALID_COLUMN_REFERENCE,
                        "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list",
                    ));
                }
                let desc = match &o.options.sort {
                    None | Some(ast::OrderBySort::Asc) => false,
                    Some(ast::OrderBySort::Desc) => true,
                    Some(ast::OrderBySort::Using(_)) => {
                        return Err(Error::unsupported("ORDER BY ... USING is not supported"));
                    }
                };
                agg_order.push(SortKey {
                    expr: k,
                    desc,
                    nulls_first: o.options.nulls_first.unwrap_or(desc),
                });
            }
            let call = AggCall {
                func,
                args: bargs,
                distinct,
                filter,
                order_by: agg_order,
                ty: ty.clone(),
            };
            let mut aggs = a.aggs.borrow_mut();
            let idx = match aggs.iter().position(|c| {
                c.func == call.func
                    && c.args == call.args
                    && c.distinct == call.distinct
                    && c.filter == call.filter
                    && c.order_by == call.order_by
            }) {
                Some(i) => i,
                None => {
                    aggs.push(call);
                    aggs.len() - 1
                }
            };
            return Ok((Expr::Column(a.groups.len() + idx), ty));
        }
        if star {
            return Err(functions::undefined_function(&name, &[]));
        }
        if f.filter.is_some() {
            return Err(Error::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("FILTER specified, but {name} is not an aggregate function"),
            ));
        }
        if !order_by.is_empty() {
            return Err(Error::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("ORDER BY specified, but {name} is not an aggregate function"),
            ));
        }
        // pg_typeof is resolved at bind time: the type of an expression is static.
        if name == "pg_typeof" && args.len() == 1 {
            let (_, ty) = self.bind(args[0], scope, agg, depth + 1)?;
            let shown = match ty {
                DataType::Unknown => "unknown".to_string(),
                t if super::composite::mentions_composite(&t) => self.type_display(&t),
                t => type_name_without_modifiers(&t),
            };
            return Ok((Expr::Literal(Value::Text(shown)), DataType::Text));
        }
        let mut bound = Vec::new();
        for x in &args {
            bound.push(self.bind(x, scope, agg, depth + 1)?);
        }
        if let Some(done) = self.bind_catalog_function(&name, &bound)? {
            return Ok(done);
        }
        // nextval('s'::regclass): the cast resolved the sequence's oid.
        if matches!(name.as_str(), "nextval" | "currval" | "setval")
            && let Some((Expr::Literal(Value::Int8(id)), _)) = bound.first()
            && let Some(s) = u32::try_from(*id)
                .ok()
                .and_then(|i| self.catalog.sequences.get(&i))
        {
            bound[0] = (
                Expr::Literal(Value::Text(format!("\"{}\".\"{}\"", s.schema, s.name))),
                DataType::Text,
            );
        }
        let (mut func, ty, args) = self.resolve_function(&name, bound)?;
        // Sequence functions resolve a literal sequence name now.
        if let Func::NextVal(_) | Func::CurrVal(_) | Func::SetVal(_) = func
            && let Some(Expr::Literal(Value::Text(s))) = args.first()
        {
            let id = self.sequence_by_text(s)?;
            func = match func {
                Func::NextVal(_) => Func::NextVal(Some(id)),
                Func::CurrVal(_) => Func::CurrVal(Some(id)),
                _ => Func::SetVal(Some(id)),
            };
        }
        Ok((Expr::Function(func, args), ty))
    }
}

/// A type's name as `pg_typeof` (regtype output) shows it: without length,
/// precision or scale.
fn type_name_without_modifiers(t: &DataType) -> String {
    match t {
        DataType::Numeric(_) => "numeric".into(),
        DataType::Varchar(_) => "character varying".into(),
        DataType::Char(_) => "character".into(),
        DataType::Array(e) => format!("{}[]", type_name_without_modifiers(e)),
        other => other.name(),
    }
}

pub(super) fn negate_if(x: Expr, negated: bool) -> Expr {
    if negated { Expr::Not(Box::new(x)) } else { x }
}

/// The common type of two branches of CASE, IN, ARRAY or VALUES (42804 if none).
pub(crate) fn unify_types(what: &str, a: &DataType, b: &DataType) -> Result<DataType> {
    DataType::common_type(a, b).ok_or_else(|| {
        Error::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "{what} types {} and {} cannot be matched",
                a.name(),
                b.name()
            ),
        )
    })
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq
    )
}

fn is_json_op(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::JsonGet
            | BinaryOp::JsonGetText
            | BinaryOp::JsonPathGet
            | BinaryOp::JsonPathGetText
            | BinaryOp::JsonExists
    )
}

/// The type an untyped operand takes next to a typed one.
fn unknown_partner(op: BinaryOp, other: &DataType) -> DataType {
    match (op, other) {
        // timestamp - 'literal' is ambiguous in PostgreSQL too; intervals are the common case.
        (BinaryOp::Plus | BinaryOp::Minus, t) if t.is_temporal() && *t != DataType::Interval => {
            DataType::Interval
        }
        (BinaryOp::JsonContains | BinaryOp::JsonContainedBy, _) => other.clone(),
        _ => other.clone(),
    }
}

/// Result type and argument checks of an aggregate.
pub(super) fn agg_signature(
    f: AggFunc,
    star: bool,
    args: Vec<(Expr, DataType)>,
    name: &str,
) -> Result<(AggFunc, DataType, Vec<Expr>)> {
    let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
    let bad = || functions::undefined_function(name, &types);
    if star {
        return if f == AggFunc::Count && args.is_empty() {
            Ok((AggFunc::CountStar, DataType::Int8, vec![]))
        } else {
            Err(bad())
        };
    }
    let one = |args: &Vec<(Expr, DataType)>| args.len() == 1;
    let t = types.first().cloned().unwrap_or(DataType::Unknown);
    let ty = match f {
        AggFunc::Count if one(&args) => DataType::Int8,
        AggFunc::Sum if one(&args) => match t {
            DataType::Int2 | DataType::Int4 => DataType::Int8,
            DataType::Int8 | DataType::Numeric(_) => DataType::Numeric(None),
            DataType::Float4 => DataType::Float4,
            DataType::Float8 | DataType::Unknown => DataType::Float8,
            DataType::Interval => DataType::Interval,
            _ => return Err(bad()),
        },
        AggFunc::Avg if one(&args) => match t {
            DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric(_) => {
                DataType::Numeric(None)
            }
            DataType::Float4 | DataType::Float8 | DataType::Unknown => DataType::Float8,
            DataType::Interval => DataType::Interval,
            _ => return Err(bad()),
        },
        AggFunc::Min | AggFunc::Max if one(&args) => match t {
            DataType::Unknown => DataType::Text,
            DataType::Json
            | DataType::Jsonb
            | DataType::Bool
            | DataType::Uuid
            | DataType::Bytea => {
                return Err(bad());
            }
            other => other,
        },
        AggFunc::BoolAnd | AggFunc::BoolOr if one(&args) => {
            if t != DataType::Bool {
                return Err(bad());
            }
            DataType::Bool
        }
        AggFunc::StringAgg if args.len() == 2 => {
            let text_like = |t: &DataType| t.is_text() || *t == DataType::Unknown;
            match (&types[0], &types[1]) {
                (a, b) if text_like(a) && text_like(b) => DataType::Text,
                _ => return Err(bad()),
            }
        }
        AggFunc::ArrayAgg if one(&args) => DataType::Array(Box::new(if t == DataType::Unknown {
            DataType::Text
        } else {
            t
        })),
        _ => return Err(bad()),
    };
    let args = args.into_iter().map(|(x, t)| match (f, t) {
        // char(n) loses its padding when used as text, as in PostgreSQL.
        (AggFunc::StringAgg, DataType::Char(_)) => Expr::Function(Func::Rtrim, vec![x]),
        _ => x,
    });
    Ok((f, ty, args.collect()))
}

/// True if the expression contains a window function call.
pub(crate) fn contains_window(e: &ast::Expr) -> bool {
    let found = ast::visit_expressions(e, |x| {
        if let ast::Expr::Function(f) = x
            && f.over.is_some()
        {
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    found.is_break()
}

/// True if the expression contains an aggregate call (not looking into subqueries).
pub(crate) fn contains_aggregate(e: &ast::Expr) -> bool {
    use ast::Expr as A;
    match e {
        A::Function(f) => {
            if f.over.is_none()
                && let Ok(parts) = super::object_name_parts(&f.name)
                && parts.len() == 1
                && is_aggregate_name(&parts[0])
            {
                return true;
            }
            match &f.args {
                ast::FunctionArguments::List(l) => l.args.iter().any(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x))
                    | ast::FunctionArg::Named {
                        arg: ast::FunctionArgExpr::Expr(x),
                        ..
                    } => contains_aggregate(x),
                    _ => false,
                }),
                _ => false,
            }
        }
        A::BinaryOp { left, right, .. } => contains_aggregate(left) || contains_aggregate(right),
        A::UnaryOp { expr, .. }
        | A::Nested(expr)
        | A::IsNull(expr)
        | A::IsNotNull(expr)
        | A::IsTrue(expr)
        | A::IsFalse(expr)
        | A::IsNotTrue(expr)
        | A::IsNotFalse(expr)
        | A::Cast { expr, .. } => contains_aggregate(expr),
        A::Between {
            expr, low, high, ..
        } => contains_aggregate(expr) || contains_aggregate(low) || contains_aggregate(high),
        A::InList { expr, list, .. } => {
            contains_aggregate(expr) || list.iter().any(contains_aggregate)
        }
        A::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || conditions
                    .iter()
                    .any(|c| contains_aggregate(&c.condition) || contains_aggregate(&c.result))
                || else_result.as_deref().is_some_and(contains_aggregate)
        }
        A::Like { expr, pattern, .. } | A::ILike { expr, pattern, .. } => {
            contains_aggregate(expr) || contains_aggregate(pattern)
        }
        A::IsDistinctFrom(a, b) | A::IsNotDistinctFrom(a, b) => {
            contains_aggregate(a) || contains_aggregate(b)
        }
        _ => false,
    }
}
