//! INSERT, UPDATE and DELETE through a view: PostgreSQL's automatically
//! updatable views.
//!
//! A view whose query reads one table, without DISTINCT, GROUP BY, HAVING,
//! LIMIT / OFFSET, WITH or set operations, and whose columns are that
//! table's columns (not renamed), can be written through: the statement is
//! rewritten to one on the table, with the view's columns as its column
//! list and `RETURNING *`, the view's WHERE clause added to UPDATE and
//! DELETE (rows the view does not show cannot be changed), and the table
//! named by the view's name (or the statement's alias) so that references
//! to it still resolve. Privileges: the current user needs the privilege on
//! the view; on the table, the current user too for a security-invoker view
//! (the default), the view's owner for one WITH (security_invoker = false)
//! (see `Binder::require_target` and `Binder::as_target`). The table's
//! row-level security policies apply as they would to the same role
//! writing the table itself: the view's rows are only those its policies
//! let it see and change, and new rows must pass their checks (42501).
//! A view `WITH CHECK OPTION` also checks that new rows satisfy its WHERE
//! clause (44000).

use super::{Binder, ident, object_name_parts, split_name};
use crate::catalog::ViewDef;
use crate::error::{Error, Result, SqlState};
use crate::sql::parser;
use sqlparser::ast;
use std::ops::ControlFlow;
use std::sync::Arc;

/// What writing through a view needs.
pub(super) struct UpdatableView {
    pub view: Arc<ViewDef>,
    /// The table, schema-qualified.
    base: ast::ObjectName,
    /// The view's WHERE clause, its table references qualified by `alias`.
    selection: Option<ast::Expr>,
    /// The name the view's query gives the table.
    qualifier: String,
    /// The name the statement refers to the table by.
    pub alias: String,
    /// Per view column, its expression when it is not a plain column.
    computed: Vec<(String, Option<ast::Expr>)>,
}

impl UpdatableView {
    /// The view's columns as RETURNING items over the table.
    fn column_items(&self) -> Vec<ast::SelectItem> {
        self.computed
            .iter()
            .map(|(c, e)| match e {
                None => ast::SelectItem::UnnamedExpr(ast::Expr::Identifier(quoted(c))),
                Some(e) => {
                    let mut e = e.clone();
                    requalify(&mut e, &self.qualifier, &self.alias);
                    ast::SelectItem::ExprWithAlias {
                        expr: e,
                        alias: quoted(c),
                    }
                }
            })
            .collect()
    }

    /// `RETURNING *` means the view's columns.
    fn returning(&self, items: &Option<Vec<ast::SelectItem>>) -> Option<Vec<ast::SelectItem>> {
        items.as_ref().map(|items| {
            items
                .iter()
                .flat_map(|it| match it {
                    ast::SelectItem::Wildcard(_) => self.column_items(),
                    other => vec![other.clone()],
                })
                .collect()
        })
    }

    /// The view's WHERE clause as a check (WITH CHECK OPTION).
    pub fn check(&self) -> Option<ast::Expr> {
        self.view.check_option.as_ref()?;
        Some(
            self.selection
                .clone()
                .unwrap_or(ast::Expr::Value(ast::Value::Boolean(true).into())),
        )
    }

    fn table_name(&self) -> ast::ObjectName {
        self.base.clone()
    }

    fn alias_ident(&self) -> ast::Ident {
        quoted(&self.alias)
    }

    /// Fails unless `col` is a column of the view that is a column of the
    /// table (`verb`: "insert into" or "update").
    fn require_column(&self, col: &str, verb: &str) -> Result<()> {
        match self.computed.iter().find(|(c, _)| c == col) {
            Some((_, None)) => Ok(()),
            Some((_, Some(_))) => Err(Error::unsupported(format!(
                "cannot {verb} column \"{col}\" of view \"{}\"",
                self.view.name
            ))
            .with_detail(
                "View columns that are not columns of their base relation are not updatable.",
            )),
            None => Err(Error::new(
                SqlState::UNDEFINED_COLUMN,
                format!(
                    "column \"{col}\" of relation \"{}\" does not exist",
                    self.view.name
                ),
            )),
        }
    }
}

fn quoted(s: &str) -> ast::Ident {
    ast::Ident::with_quote('"', s)
}

/// PostgreSQL's error for a view it cannot write through.
fn not_updatable(view: &str, verb: &str, detail: &str) -> Error {
    let (what, event) = match verb {
        "insert into" => ("inserting into", "INSERT"),
        "update" => ("updating", "UPDATE"),
        _ => ("deleting from", "DELETE"),
    };
    Error::new(
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("cannot {verb} view \"{view}\""),
    )
    .with_detail(detail)
    .with_hint(format!(
        "To enable {what} the view, provide an INSTEAD OF {event} trigger or an unconditional ON {event} DO INSTEAD rule."
    ))
}

/// A view's query as a write through it sees it: the table, the name the
/// query gives it, the WHERE clause, and per view column the expression it
/// is when it is not a plain column of the table (such columns cannot be
/// written).
pub struct ViewQuery {
    pub table: ast::ObjectName,
    pub qualifier: String,
    pub selection: Option<ast::Expr>,
    pub computed: Vec<(String, Option<ast::Expr>)>,
}

/// Whether an expression calls an aggregate or window function (outside
/// subqueries).
fn has_aggregate_or_window(e: &ast::Expr) -> (bool, bool) {
    let (mut agg, mut win) = (false, false);
    let _ = ast::visit_expressions(e, |x| {
        if let ast::Expr::Function(f) = x {
            if f.over.is_some() {
                win = true;
            } else if f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| super::expr::is_aggregate_name(&ident(i)))
            {
                agg = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    (agg, win)
}

/// Why a view's query is not automatically updatable (PostgreSQL's detail
/// message), or how a write goes through it. `columns` are the view's
/// column names (what `*` stood for when it was created).
pub fn updatable_query(
    q: &ast::Query,
    columns: &[String],
) -> std::result::Result<ViewQuery, &'static str> {
    if q.with.is_some() {
        return Err("Views containing WITH are not automatically updatable.");
    }
    if q.limit_clause.is_some() || q.fetch.is_some() {
        return Err("Views containing LIMIT or OFFSET are not automatically updatable.");
    }
    let ast::SetExpr::Select(s) = q.body.as_ref() else {
        return Err(
            "Views containing UNION, INTERSECT, or EXCEPT are not automatically updatable.",
        );
    };
    if s.distinct.is_some() {
        return Err("Views containing DISTINCT are not automatically updatable.");
    }
    if !matches!(&s.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty()) {
        return Err("Views containing GROUP BY are not automatically updatable.");
    }
    if s.having.is_some() {
        return Err("Views containing HAVING are not automatically updatable.");
    }
    let single = match s.from.as_slice() {
        [t] if t.joins.is_empty() => match &t.relation {
            ast::TableFactor::Table {
                name, alias, args, ..
            } if args.is_none() => Some((name.clone(), alias.as_ref().map(|a| ident(&a.name)))),
            _ => None,
        },
        _ => None,
    };
    let Some((name, alias)) = single else {
        return Err(
            "Views that do not select from a single table or view are not automatically updatable.",
        );
    };
    let qualifier = alias.unwrap_or_else(|| {
        object_name_parts(&name)
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default()
    });
    let mut computed = Vec::new();
    for item in &s.projection {
        let (expr, alias) = match item {
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                // The table's columns when the view was created.
                let from = computed.len();
                computed.extend(columns.iter().skip(from).map(|c| (c.clone(), None)));
                continue;
            }
            ast::SelectItem::UnnamedExpr(e) => (e, None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(ident(alias))),
            _ => {
                return Err(
                    "Views that return columns that are not columns of their base relation are not automatically updatable.",
                );
            }
        };
        let (agg, win) = has_aggregate_or_window(expr);
        if agg {
            return Err("Views that return aggregate functions are not automatically updatable.");
        }
        if win {
            return Err("Views that return window functions are not automatically updatable.");
        }
        let column = match expr {
            ast::Expr::Identifier(i) => Some(ident(i)),
            ast::Expr::CompoundIdentifier(ids) => ids.last().map(ident),
            _ => None,
        };
        let n = computed.len();
        let shown = columns.get(n).cloned().unwrap_or_default();
        match column {
            Some(c) if alias.as_ref().is_none_or(|a| *a == c) => computed.push((shown, None)),
            Some(_) => {
                return Err(
                    "Views that rename the columns of their base relation are not updatable yet.",
                );
            }
            None => computed.push((shown, Some(expr.clone()))),
        }
    }
    Ok(ViewQuery {
        table: name,
        qualifier,
        selection: s.selection.clone(),
        computed,
    })
}

impl Binder<'_> {
    /// The view the target of a statement names, if it names one.
    pub(super) fn target_view(&self, name: &ast::ObjectName) -> Result<Option<Arc<ViewDef>>> {
        self.view(name)
    }

    /// How to write through view `v` (`verb`: "insert into", "update",
    /// "delete from"), with `alias` the statement's name for it.
    pub(super) fn updatable_view(
        &self,
        v: &Arc<ViewDef>,
        verb: &str,
        alias: Option<String>,
    ) -> Result<UpdatableView> {
        let q = parser::parse_query(&v.sql)?;
        let ViewQuery {
            table: base,
            qualifier,
            selection,
            computed,
        } = updatable_query(&q, &v.columns).map_err(|d| not_updatable(&v.name, verb, d))?;
        // The table, qualified as the view's query saw it (its schema).
        let (schema, name) = split_name(&base)?;
        let base_table = self
            .checked_as(v.owner, || self.table_by_name(schema.as_deref(), &name))
            .map_err(|e| {
                if e.code == SqlState::WRONG_OBJECT_TYPE {
                    not_updatable(
                        &v.name,
                        verb,
                        "Views on views are not automatically updatable yet.",
                    )
                } else {
                    e
                }
            })?;
        let base =
            ast::ObjectName::from(vec![quoted(&base_table.schema), quoted(&base_table.name)]);
        let alias = alias.unwrap_or_else(|| v.name.clone());
        let selection = selection.map(|mut e| {
            requalify(&mut e, &qualifier, &alias);
            e
        });
        Ok(UpdatableView {
            view: v.clone(),
            base,
            selection,
            qualifier,
            alias,
            computed,
        })
    }

    /// INSERT into a view, as INSERT into its table.
    pub(super) fn view_insert(
        &self,
        ins: &ast::Insert,
        v: &Arc<ViewDef>,
    ) -> Result<(ast::Insert, UpdatableView)> {
        let alias = ins.table_alias.as_ref().map(|a| ident(&a.alias));
        let u = self.updatable_view(v, "insert into", alias)?;
        let mut out = ins.clone();
        out.table = ast::TableObject::TableName(u.table_name());
        out.table_alias = Some(ast::TableAliasWithoutColumns {
            explicit: true,
            alias: u.alias_ident(),
        });
        if out.columns.is_empty() && out.source.is_some() {
            // As many of the view's columns as the rows have values.
            let width = match out.source.as_deref().map(|q| q.body.as_ref()) {
                Some(ast::SetExpr::Values(vals)) => vals.rows.iter().map(|r| r.len()).max(),
                _ => None,
            }
            .unwrap_or(v.columns.len());
            out.columns = v
                .columns
                .iter()
                .take(width)
                .map(|c| ast::ObjectName::from(vec![quoted(c)]))
                .collect();
        }
        for c in &out.columns {
            let col = object_name_parts(c)?.pop().unwrap_or_default();
            let col = col.trim_start_matches(parser::INFERENCE_MARKER);
            let col = col.split('[').next().unwrap_or(col);
            u.require_column(col, "insert into")?;
        }
        out.returning = u.returning(&ins.returning);
        Ok((out, u))
    }

    /// UPDATE of a view, as UPDATE of its table limited to the view's rows.
    pub(super) fn view_update(
        &self,
        up: &ast::Update,
        v: &Arc<ViewDef>,
    ) -> Result<(ast::Update, UpdatableView)> {
        let alias = match &up.table.relation {
            ast::TableFactor::Table { alias, .. } => alias.as_ref().map(|a| ident(&a.name)),
            _ => None,
        };
        let u = self.updatable_view(v, "update", alias)?;
        let mut out = up.clone();
        out.table.relation = table_factor(&u);
        for a in &up.assignments {
            match &a.target {
                ast::AssignmentTarget::ColumnName(n) => {
                    u.require_column(&object_name_parts(n)?.pop().unwrap_or_default(), "update")?
                }
                ast::AssignmentTarget::Tuple(ns) => {
                    for n in ns {
                        u.require_column(
                            &object_name_parts(n)?.pop().unwrap_or_default(),
                            "update",
                        )?;
                    }
                }
            }
        }
        out.selection = and(u.selection.clone(), up.selection.clone());
        out.returning = u.returning(&up.returning);
        Ok((out, u))
    }

    /// DELETE from a view, as DELETE from its table limited to the view's rows.
    pub(super) fn view_delete(
        &self,
        del: &ast::Delete,
        v: &Arc<ViewDef>,
    ) -> Result<(ast::Delete, UpdatableView)> {
        let mut out = del.clone();
        let from = match &mut out.from {
            ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => f,
        };
        let alias = match from.first().map(|t| &t.relation) {
            Some(ast::TableFactor::Table { alias, .. }) => alias.as_ref().map(|a| ident(&a.name)),
            _ => None,
        };
        let u = self.updatable_view(v, "delete from", alias)?;
        if let Some(first) = from.first_mut() {
            first.relation = table_factor(&u);
        }
        out.selection = and(u.selection.clone(), del.selection.clone());
        out.returning = u.returning(&del.returning);
        Ok((out, u))
    }
}

fn table_factor(u: &UpdatableView) -> ast::TableFactor {
    ast::TableFactor::Table {
        name: u.table_name(),
        alias: Some(ast::TableAlias {
            explicit: true,
            name: u.alias_ident(),
            columns: vec![],
            at: None,
        }),
        args: None,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    }
}

fn and(a: Option<ast::Expr>, b: Option<ast::Expr>) -> Option<ast::Expr> {
    match (a, b) {
        (Some(a), Some(b)) => Some(ast::Expr::BinaryOp {
            left: Box::new(ast::Expr::Nested(Box::new(a))),
            op: ast::BinaryOperator::And,
            right: Box::new(ast::Expr::Nested(Box::new(b))),
        }),
        (a, b) => a.or(b),
    }
}

/// Points the view's WHERE clause at the statement's name for the table:
/// `q.col` and plain `col` become `alias.col`.
fn requalify(e: &mut ast::Expr, qualifier: &str, alias: &str) {
    let _ = ast::visit_expressions_mut(e, |x| {
        match x {
            ast::Expr::Identifier(i) => {
                *x = ast::Expr::CompoundIdentifier(vec![quoted(alias), i.clone()]);
            }
            ast::Expr::CompoundIdentifier(ids) if ids.len() >= 2 => {
                let n = ids.len();
                if ident(&ids[n - 2]) == qualifier {
                    *x = ast::Expr::CompoundIdentifier(vec![quoted(alias), ids[n - 1].clone()]);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}
