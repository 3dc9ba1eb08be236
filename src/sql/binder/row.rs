//! Row values in expressions: `ROW(a, b)`, `(a, b)` and a table's whole row
//! `t.*` (or `t` where no column is named so), where PostgreSQL allows them without a record type: compared with
//! each other (field by field, as PostgreSQL's row comparisons are), tested
//! with IS [NOT] NULL and IS [NOT] DISTINCT FROM, and cast to text (the
//! record's output form, `(1,abc)`).
//!
//! A row is not a value here: each use is expanded into expressions over its
//! fields when it is bound.

use super::{AggCtx, Binder, Scope, object_name_parts};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::functions::Func;
use crate::types::{BinaryOp, DataType};
use sqlparser::ast;

/// A bound row: its fields.
pub(super) type Row = Vec<(Expr, DataType)>;

impl Binder<'_> {
    /// The fields of `e` if it is a row expression (`ROW(...)`, a
    /// parenthesized list, `t.*`), else None.
    pub(super) fn bind_row(
        &self,
        e: &ast::Expr,
        scope: &Scope,
        agg: Option<&AggCtx>,
        depth: usize,
    ) -> Result<Option<Row>> {
        let b = |x: &ast::Expr| self.bind(x, scope, agg, depth + 1);
        match e {
            ast::Expr::Nested(inner) => self.bind_row(inner, scope, agg, depth + 1),
            ast::Expr::Tuple(items) => Ok(Some(items.iter().map(b).collect::<Result<_>>()?)),
            ast::Expr::QualifiedWildcard(name, _) => Ok(Some(self.whole_row(name, scope)?)),
            // A table's name where no column has it: its whole row.
            ast::Expr::Identifier(i)
                if scope
                    .resolve(None, &super::ident(i))
                    .ok()
                    .flatten()
                    .is_none()
                    && scope.has_qualifier(&super::ident(i)) =>
            {
                let name = ast::ObjectName::from(vec![i.clone()]);
                Ok(Some(self.whole_row(&name, scope)?))
            }
            ast::Expr::Function(f) if is_row_constructor(f) => {
                let ast::FunctionArguments::List(list) = &f.args else {
                    return Ok(Some(Vec::new()));
                };
                let mut out = Vec::new();
                for a in &list.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => out.push(b(x)?),
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::QualifiedWildcard(n)) => {
                            out.extend(self.whole_row(n, scope)?)
                        }
                        other => {
                            return Err(Error::syntax(format!(
                                "syntax error at or near \"{other}\""
                            )));
                        }
                    }
                }
                Ok(Some(out))
            }
            _ => Ok(None),
        }
    }

    /// The columns of the table a scope knows as `name` (`t.*`).
    fn whole_row(&self, name: &ast::ObjectName, scope: &Scope) -> Result<Row> {
        let q = object_name_parts(name)?.pop().unwrap_or_default();
        if !scope.has_qualifier(&q) {
            return Err(self.missing_table(&q, scope));
        }
        Ok(scope
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.qualifier.as_deref() == Some(q.as_str()))
            .map(|(i, c)| (Expr::Column(i), c.ty.clone()))
            .collect())
    }

    /// `l op r` over two rows: `=` and `<>` field by field, `<`, `<=`, `>`,
    /// `>=` by the first pair of fields that differ.
    pub(super) fn row_comparison(&self, op: BinaryOp, l: Row, r: Row) -> Result<(Expr, DataType)> {
        use BinaryOp::*;
        if l.len() != r.len() {
            return Err(Error::syntax(
                "unequal number of entries in row expressions",
            ));
        }
        if l.is_empty() {
            return Err(Error::unsupported("cannot compare rows of zero length"));
        }
        let pairs: Vec<(Row, Row)> = l
            .into_iter()
            .zip(r)
            .map(|(a, b)| (vec![a], vec![b]))
            .collect();
        let cmp = |op: BinaryOp, a: &Row, b: &Row| -> Result<Expr> {
            let (a, at) = a[0].clone();
            let (b, bt) = b[0].clone();
            Ok(self.binary(op, a, at, b, bt)?.0)
        };
        let x = match op {
            Eq | NotEq => {
                let parts = pairs
                    .iter()
                    .map(|(a, b)| cmp(op, a, b))
                    .collect::<Result<Vec<_>>>()?;
                let join = |a: Expr, b: Expr| {
                    if op == Eq {
                        Expr::And(Box::new(a), Box::new(b))
                    } else {
                        Expr::Or(Box::new(a), Box::new(b))
                    }
                };
                parts
                    .into_iter()
                    .reduce(join)
                    .expect("rows have at least one field")
            }
            Lt | LtEq | Gt | GtEq => {
                // (a1, a2) < (b1, b2): a1 < b1 OR (a1 = b1 AND a2 < b2); the
                // last pair takes the operator itself.
                let strict = match op {
                    LtEq => Lt,
                    GtEq => Gt,
                    o => o,
                };
                let mut acc: Option<Expr> = None;
                for (k, (a, b)) in pairs.iter().enumerate().rev() {
                    let last = k == pairs.len() - 1;
                    let here = cmp(if last { op } else { strict }, a, b)?;
                    acc = Some(match acc {
                        None => here,
                        Some(rest) => Expr::Or(
                            Box::new(here),
                            Box::new(Expr::And(Box::new(cmp(Eq, a, b)?), Box::new(rest))),
                        ),
                    });
                }
                acc.expect("rows have at least one field")
            }
            other => {
                return Err(Error::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("operator does not exist: record {} record", other.symbol()),
                ));
            }
        };
        Ok((x, DataType::Bool))
    }

    /// `row IS [NOT] DISTINCT FROM row`: any field distinct.
    pub(super) fn row_distinct(&self, l: Row, r: Row, distinct: bool) -> Result<(Expr, DataType)> {
        if l.len() != r.len() {
            return Err(Error::syntax(
                "unequal number of entries in row expressions",
            ));
        }
        let mut any: Option<Expr> = None;
        for ((lx, lt), (rx, rt)) in l.into_iter().zip(r) {
            let (a, b) = self.unify(lx, lt, rx, rt)?;
            let d = Expr::Not(Box::new(Expr::NotDistinct(Box::new(a), Box::new(b))));
            any = Some(match any {
                None => d,
                Some(x) => Expr::Or(Box::new(x), Box::new(d)),
            });
        }
        let x = any.unwrap_or(Expr::Literal(crate::types::Value::Bool(false)));
        Ok((
            if distinct { x } else { Expr::Not(Box::new(x)) },
            DataType::Bool,
        ))
    }

    /// `row IS NULL` (every field NULL) or `row IS NOT NULL` (none NULL).
    pub(super) fn row_is_null(row: Row, not: bool) -> (Expr, DataType) {
        let test = |x: Expr| {
            let n = Expr::IsNull(Box::new(x));
            if not { Expr::Not(Box::new(n)) } else { n }
        };
        let x = row
            .into_iter()
            .map(|(x, _)| test(x))
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
            .unwrap_or(Expr::Literal(crate::types::Value::Bool(true)));
        (x, DataType::Bool)
    }

    /// A row cast to text: the record's output form.
    pub(super) fn row_to_text(row: Row) -> (Expr, DataType) {
        (
            Expr::Function(Func::RecordOut, row.into_iter().map(|(x, _)| x).collect()),
            DataType::Text,
        )
    }
}

/// `ROW(...)` (sqlparser reads it as a function call).
pub(super) fn is_row_constructor(f: &ast::Function) -> bool {
    f.name.0.len() == 1
        && f.name.0[0]
            .as_ident()
            .is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("row"))
}

/// The record output form of fields' text (see [`record_text`]).
pub fn record_out(fields: &[Option<String>]) -> String {
    crate::types::record_text(fields)
}
