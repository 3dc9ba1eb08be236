//! Set-returning functions in the select list: `unnest(array)` and
//! `generate_subscripts(array, 1)`.
//!
//! PostgreSQL evaluates select-list SRFs in lockstep: the row of each input
//! row repeats as many times as the longest SRF result, shorter results
//! padded with NULL. That is rewritten here into a LATERAL join with a
//! subscript series, which the rest of the binder already plans:
//!
//! ```sql
//! SELECT x, unnest(a), generate_subscripts(a, 1) FROM t
//! -- becomes
//! SELECT x, a[s.i] AS unnest, CASE WHEN s.i <= cardinality(a) THEN s.i END AS generate_subscripts
//! FROM t, LATERAL generate_series(1, GREATEST(cardinality(a))) AS s(i)
//! ```
//!
//! Only SRF calls that are whole select-list items are rewritten, and only
//! in SELECTs without GROUP BY (SRFs run after grouping in PostgreSQL).

use super::{Binder, Scope, ident};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::functions::Func;
use crate::sql::parser::parse_expr;
use crate::sql::plan::{Column, Plan};
use crate::types::{DataType, Value};
use sqlparser::ast;

impl Binder<'_> {
    /// `unnest(array)` in FROM: one row per element, planned as a subscript
    /// series projected through the array. The column is named after the
    /// alias (`unnest(a) x`) or `unnest`.
    pub(super) fn bind_unnest(
        &self,
        args: &[&ast::Expr],
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let [arg] = args else {
            return Err(Error::unsupported("unnest of more than one array"));
        };
        let (arr, ty) = self.bind_expr(arg, &Scope::default())?;
        let elem = match ty {
            DataType::Array(e) => *e,
            other => {
                return Err(Error::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function unnest({}) does not exist", other.name()),
                ));
            }
        };
        let series = Plan::Series {
            args: vec![
                Expr::Literal(Value::Int4(1)),
                Expr::Function(Func::Cardinality, vec![arr.clone()]),
            ],
            column: Column {
                name: "i".into(),
                ty: DataType::Int4,
            },
        };
        let q = alias.map(|a| ident(&a.name));
        let name = match alias {
            Some(a) if a.columns.is_empty() => ident(&a.name),
            _ => "unnest".into(),
        };
        let plan = Plan::Project {
            input: Box::new(series),
            exprs: vec![Expr::Function(
                Func::ArrayElement,
                vec![arr, Expr::Column(0)],
            )],
            columns: vec![Column { name, ty: elem }],
        };
        let scope = super::from::item_scope(
            &plan,
            Some(q.unwrap_or_else(|| "unnest".into())),
            &[],
            alias,
        )?;
        Ok((plan, scope))
    }
}

const SUBSCRIPT: &str = "__srf_subscripts.__srf_i";

/// The SRF name and array argument of a select-list SRF call.
fn srf_call(e: &ast::Expr) -> Option<(&'static str, &ast::Expr)> {
    let ast::Expr::Function(f) = e else {
        return None;
    };
    let name = match f.name.0.last()?.as_ident().map(ident)?.as_str() {
        "unnest" => "unnest",
        "generate_subscripts" => "generate_subscripts",
        _ => return None,
    };
    let ast::FunctionArguments::List(l) = &f.args else {
        return None;
    };
    let arg = match l.args.first()? {
        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => x,
        _ => return None,
    };
    let arity_ok = match name {
        "unnest" => l.args.len() == 1,
        _ => l.args.len() == 2,
    };
    arity_ok.then_some((name, arg))
}

/// The SELECT with its select-list SRFs rewritten, or `None` if it has none.
pub(super) fn rewrite(s: &ast::Select) -> Result<Option<ast::Select>> {
    let has_srf = s.projection.iter().any(|p| match p {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
            srf_call(e).is_some()
        }
        _ => false,
    });
    let grouped = !matches!(&s.group_by, ast::GroupByExpr::Expressions(g, _) if g.is_empty());
    if !has_srf || grouped {
        return Ok(None);
    }
    let mut out = s.clone();
    let mut lengths = Vec::new();
    for item in &mut out.projection {
        let (e, alias) = match item {
            ast::SelectItem::UnnamedExpr(e) => (e.clone(), None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
            _ => continue,
        };
        let Some((name, arg)) = srf_call(&e) else {
            continue;
        };
        let len = format!("cardinality({arg})");
        let replacement = match name {
            "unnest" => format!("({arg})[{SUBSCRIPT}]"),
            _ => format!("CASE WHEN {SUBSCRIPT} <= {len} THEN {SUBSCRIPT} END"),
        };
        lengths.push(len);
        *item = ast::SelectItem::ExprWithAlias {
            expr: parse_expr(&replacement)?,
            alias: alias.unwrap_or_else(|| ast::Ident::new(name)),
        };
    }
    let series = format!(
        "SELECT 1 FROM LATERAL generate_series(1, GREATEST({})) AS __srf_subscripts(__srf_i)",
        lengths.join(", ")
    );
    let stmts = crate::sql::parser::parse(&series)?;
    let Some(ast::Statement::Query(q)) = stmts.into_iter().next() else {
        return Err(Error::internal("SRF rewrite did not parse"));
    };
    let ast::SetExpr::Select(sel) = *q.body else {
        return Err(Error::internal("SRF rewrite is not a SELECT"));
    };
    out.from.extend(sel.from);
    Ok(Some(out))
}
