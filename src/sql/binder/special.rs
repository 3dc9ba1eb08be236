//! Built-in scalar function calls: argument casts, and the SQL-syntax forms
//! (`SUBSTRING(x FROM a FOR b)`, `POSITION(a IN b)`, `TRIM(LEADING c FROM s)`,
//! `EXTRACT(f FROM x)`, `CEIL(x)`, `FLOOR(x)`, `OVERLAY(...)`) mapped onto
//! ordinary functions.

use super::Binder;
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::functions::{self, Func};
use crate::types::{DataType, Value};
use sqlparser::ast;

type Bound = (Expr, DataType);

impl Binder<'_> {
    /// Resolves `name` over bound arguments and casts each argument to its
    /// parameter type (char(n) values lose their padding as text).
    pub(super) fn resolve_function(
        &self,
        name: &str,
        bound: Vec<Bound>,
    ) -> Result<(Func, DataType, Vec<Expr>)> {
        let types: Vec<DataType> = bound.iter().map(|(_, t)| t.clone()).collect();
        let (func, ty, params) = functions::resolve_call(name, &types)?;
        let args = bound
            .into_iter()
            .zip(params)
            .map(|((x, t), p)| match (&t, &p) {
                (DataType::Char(_), DataType::Text) => Ok(Expr::Function(Func::Rtrim, vec![x])),
                _ => self.coerce(x, &t, &p),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((func, ty, args))
    }

    /// Binds the SQL-syntax function forms; `None` if `e` is not one.
    pub(super) fn special_function(
        &self,
        e: &ast::Expr,
        bind: &dyn Fn(&ast::Expr) -> Result<Bound>,
    ) -> Result<Option<Bound>> {
        use ast::Expr as A;
        let lit = |v: Value, t: DataType| (Expr::Literal(v), t);
        let (name, args) = match e {
            A::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut a = vec![bind(expr)?];
                a.push(match substring_from {
                    Some(f) => bind(f)?,
                    None => lit(Value::Int4(1), DataType::Int4),
                });
                if let Some(f) = substring_for {
                    a.push(bind(f)?);
                }
                ("substr", a)
            }
            A::Position { expr, r#in } => ("strpos", vec![bind(r#in)?, bind(expr)?]),
            A::Trim {
                trim_where,
                trim_what,
                expr,
                trim_characters,
            } => {
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                };
                let mut a = vec![bind(expr)?];
                if let Some(w) = trim_what {
                    a.push(bind(w)?);
                }
                for c in trim_characters.iter().flatten() {
                    a.push(bind(c)?);
                }
                (name, a)
            }
            A::Extract { field, expr, .. } => {
                let f = field.to_string().trim_matches(['\'', '"']).to_lowercase();
                (
                    "extract",
                    vec![lit(Value::Text(f), DataType::Text), bind(expr)?],
                )
            }
            A::Ceil { expr, field } | A::Floor { expr, field } => {
                let name = if matches!(e, A::Ceil { .. }) {
                    "ceil"
                } else {
                    "floor"
                };
                let mut a = vec![bind(expr)?];
                match field {
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime) => {}
                    ast::CeilFloorKind::Scale(v) => a.push(bind(&A::Value(v.clone()))?),
                    _ => return Err(Error::unsupported(format!("{name}(... TO field)"))),
                }
                (name, a)
            }
            A::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                let mut a = vec![bind(expr)?, bind(overlay_what)?, bind(overlay_from)?];
                if let Some(f) = overlay_for {
                    a.push(bind(f)?);
                }
                ("overlay", a)
            }
            _ => return Ok(None),
        };
        let (func, ty, args) = self.resolve_function(name, args)?;
        Ok(Some((Expr::Function(func, args), ty)))
    }
}
