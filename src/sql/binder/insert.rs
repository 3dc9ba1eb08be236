//! The rows of INSERT and of MERGE's INSERT action: target columns (with
//! the element and field paths below them), DEFAULT, identity columns, and
//! one VALUES row bound into a complete table row.

use super::composite::PathStep;
use super::dml::is_default_keyword;
use super::{Binder, Scope, object_name_parts};
use crate::catalog::{IdentityKind, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::parser;
use crate::types::{DataType, Value};
use sqlparser::ast;

/// The target columns of an INSERT: table columns and the path below each
/// (`a[1]`, `c.f`) that a target sets.
pub(super) struct InsertTargets {
    pub cols: Vec<usize>,
    pub paths: Vec<Vec<PathStep>>,
    /// Whether the statement lists its columns (else all, in order).
    pub listed: bool,
}

/// An explicit value for a GENERATED ALWAYS identity column is 428C9.
pub(super) fn check_identity(table: &TableDef, col: usize) -> Result<()> {
    if table.columns[col].identity == Some(IdentityKind::Always) {
        return Err(Error::new(
            SqlState::GENERATED_ALWAYS,
            format!(
                "cannot insert a non-DEFAULT value into column \"{}\"",
                table.columns[col].name
            ),
        )
        .with_detail(format!(
            "Column \"{}\" is an identity column defined as GENERATED ALWAYS.",
            table.columns[col].name
        ))
        .with_hint("Use OVERRIDING SYSTEM VALUE to override."));
    }
    Ok(())
}

impl Binder<'_> {
    /// The target columns of an INSERT (or of MERGE's INSERT action): all
    /// columns without a list.
    pub(super) fn insert_targets(
        &self,
        table: &TableDef,
        columns: &[ast::ObjectName],
    ) -> Result<InsertTargets> {
        let width = table.columns.len();
        // Target columns, and the path below the column a target sets
        // (array elements `a[1]`, fields `c.f`, `c.f[1]`, ...).
        let mut paths: Vec<Vec<PathStep>> = Vec::new();
        if columns.is_empty() {
            paths.resize(width, Vec::new());
            return Ok(InsertTargets {
                cols: (0..width).collect(),
                paths,
                listed: false,
            });
        }
        let mut v: Vec<usize> = Vec::new();
        for c in columns {
            let parts = object_name_parts(c)?;
            // As in PostgreSQL, `a.b` is field b of column a.
            let (cname, path) = match parts.as_slice() {
                [one] if one.starts_with(parser::INFERENCE_MARKER) => {
                    super::composite::parse_target(&one[1..])?
                }
                [first, rest @ ..] => (
                    first.clone(),
                    rest.iter().map(|f| PathStep::Field(f.clone())).collect(),
                ),
                [] => (String::new(), Vec::new()),
            };
            let i = table.column_index(&cname).ok_or_else(|| {
                Error::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!(
                        "column \"{cname}\" of relation \"{}\" does not exist",
                        table.name
                    ),
                )
            })?;
            // The path must fit the column's type (checked first, as
            // PostgreSQL does).
            if !path.is_empty() {
                let c = &table.columns[i];
                let null = || Expr::Literal(Value::Null);
                self.assign_path(&c.name, null(), &c.ty, &path, null(), &DataType::Unknown)?;
            }
            // Element and field targets of one column combine; a
            // whole-column target excludes any other target of it.
            let clash = v
                .iter()
                .zip(&paths)
                .any(|(&o, p)| o == i && (p.is_empty() || path.is_empty()));
            if clash {
                return Err(Error::new(
                    SqlState::DUPLICATE_COLUMN,
                    format!("column \"{cname}\" specified more than once"),
                ));
            }
            v.push(i);
            paths.push(path);
        }
        Ok(InsertTargets {
            cols: v,
            paths,
            listed: true,
        })
    }

    /// Sets target `k` in `row` to `x` (of type `t`): the column, or the
    /// column with an element or field set (built up from NULL across a
    /// row's targets; `started` holds the columns begun).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn assign_target(
        &self,
        table: &TableDef,
        targets: &InsertTargets,
        row: &mut [Expr],
        started: &mut Vec<usize>,
        k: usize,
        x: Expr,
        t: &DataType,
    ) -> Result<()> {
        let col = targets.cols[k];
        let c = &table.columns[col];
        if targets.paths[k].is_empty() {
            row[col] = self.coerce_for_column(&c.name, x, t, &c.ty)?;
            return Ok(());
        }
        let base = if started.contains(&col) {
            std::mem::replace(&mut row[col], Expr::Literal(Value::Null))
        } else {
            started.push(col);
            Expr::Literal(Value::Null)
        };
        row[col] = self.assign_path(&c.name, base, &c.ty, &targets.paths[k], x, t)?;
        Ok(())
    }

    /// One row of VALUES as a complete table row: `defaults` where the row
    /// sets nothing or says DEFAULT, its expressions bound in `scope`.
    pub(super) fn insert_values_row(
        &self,
        table: &TableDef,
        targets: &InsertTargets,
        defaults: &[Expr],
        r: &[ast::Expr],
        scope: &Scope,
    ) -> Result<Vec<Expr>> {
        if r.len() > targets.cols.len() {
            return Err(Error::syntax(
                "INSERT has more expressions than target columns",
            ));
        }
        if r.len() < targets.cols.len() && targets.listed {
            return Err(Error::syntax(
                "INSERT has more target columns than expressions",
            ));
        }
        let mut row = defaults.to_vec();
        let mut started = Vec::new();
        for (k, e) in r.iter().enumerate() {
            let col = targets.cols[k];
            if is_default_keyword(e) {
                match targets.paths[k].first() {
                    None => {}
                    Some(PathStep::Index(_)) => {
                        return Err(Error::unsupported("cannot set an array element to DEFAULT"));
                    }
                    Some(PathStep::Field(_)) => {
                        return Err(Error::unsupported("cannot set a subfield to DEFAULT"));
                    }
                }
                continue;
            }
            check_identity(table, col)?;
            let (x, t) = self
                .bind_expr(e, scope)
                .map_err(|e| super::expr::no_aggregates_in(e, "VALUES"))?;
            self.assign_target(table, targets, &mut row, &mut started, k, x, &t)?;
        }
        Ok(row)
    }
}
