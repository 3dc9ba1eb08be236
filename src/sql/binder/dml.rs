//! Binding INSERT, UPDATE and DELETE (with ON CONFLICT and RETURNING).

use super::composite::PathStep;
use super::insert::check_identity;
use super::merge::MergePlan;
use super::query::output_name;
use super::rls::{RlsCheck, RlsCommand};
use super::{Binder, Scope, ScopeColumn, ident, object_name_parts, split_name};
use crate::catalog::{IdentityKind, TableDef, acl};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::parser;
use crate::sql::plan::{Access, Column, Plan, Scan};
use crate::types::{DataType, Value};
use sqlparser::ast;
use std::sync::Arc;

/// RETURNING expressions, evaluated over `[current row, old row, new row]`
/// (each as wide as the table); the current row is the new row for INSERT
/// and UPDATE and the old row for DELETE. Missing images are all NULL.
#[derive(Clone, Debug)]
pub struct Returning {
    pub exprs: Vec<Expr>,
    pub columns: Vec<Column>,
}

#[derive(Clone, Debug)]
pub enum ConflictAction {
    Nothing,
    /// Assignments and filter over `[existing row, excluded row]`.
    Update {
        assignments: Vec<(usize, Expr)>,
        filter: Option<Expr>,
    },
}

#[derive(Clone, Debug)]
pub struct OnConflict {
    /// The arbiters: the constraints (primary key or unique indexes, by
    /// name) whose conflicts take the action. `any` is set for DO NOTHING
    /// without a target (any unique constraint).
    pub arbiters: Vec<String>,
    pub any: bool,
    pub action: ConflictAction,
}

/// CHECK constraints bound over the table row.
pub type Checks = Vec<(String, Expr)>;

#[derive(Clone, Debug)]
pub struct InsertPlan {
    pub table: Arc<TableDef>,
    /// Produces complete table rows (defaults filled in), before assignment casts.
    pub source: Plan,
    pub on_conflict: Option<OnConflict>,
    pub returning: Option<Returning>,
    pub checks: Checks,
    /// Written through a view WITH CHECK OPTION: its name and condition
    /// over the table row.
    pub view_check: Option<(String, Expr)>,
    /// Row-level security checks of inserted rows.
    pub rls: Vec<RlsCheck>,
    /// ON CONFLICT DO UPDATE: checks of the conflicting row (its USING
    /// policies) and of the updated row.
    pub rls_conflict: Vec<RlsCheck>,
    pub rls_update: Vec<RlsCheck>,
}

impl InsertPlan {
    /// Inserts the rows of `source` as they are: no conflict handling,
    /// RETURNING, CHECK or policy checks (CREATE TABLE AS, SELECT INTO).
    pub fn plain(table: Arc<TableDef>, source: Plan) -> InsertPlan {
        InsertPlan {
            table,
            source,
            on_conflict: None,
            returning: None,
            checks: vec![],
            view_check: None,
            rls: vec![],
            rls_conflict: vec![],
            rls_update: vec![],
        }
    }
}

#[derive(Clone, Debug)]
pub struct UpdatePlan {
    pub table: Arc<TableDef>,
    /// Target rows; without FROM its filter is the whole WHERE clause.
    pub scan: Scan,
    /// `UPDATE ... FROM`: joined rows; `filter` is then over `[target, from]`.
    pub from: Option<Plan>,
    pub filter: Option<Expr>,
    /// (column, value over `[target, from]`).
    pub assignments: Vec<(usize, Expr)>,
    pub returning: Option<Returning>,
    pub checks: Checks,
    /// Written through a view WITH CHECK OPTION (see [`InsertPlan`]).
    pub view_check: Option<(String, Expr)>,
    /// Row-level security checks of the new rows.
    pub rls: Vec<RlsCheck>,
    /// `WHERE CURRENT OF cursor`: the target is the row the cursor is on
    /// (if `scan`'s filter, the row-level security policies, lets it through).
    pub current_of: Option<String>,
}

#[derive(Clone, Debug)]
pub struct DeletePlan {
    pub table: Arc<TableDef>,
    /// Row-level security applies (integrity errors then print no values).
    pub rls: bool,
    pub scan: Scan,
    pub using: Option<Plan>,
    pub filter: Option<Expr>,
    pub returning: Option<Returning>,
    /// `WHERE CURRENT OF cursor` (see [`UpdatePlan`]).
    pub current_of: Option<String>,
}

#[derive(Clone, Debug)]
pub enum DmlPlan {
    Insert(InsertPlan),
    Update(UpdatePlan),
    Delete(DeletePlan),
    Merge(MergePlan),
}

impl DmlPlan {
    /// The table the statement changes.
    pub fn table(&self) -> &Arc<TableDef> {
        match self {
            DmlPlan::Insert(p) => &p.table,
            DmlPlan::Update(p) => &p.table,
            DmlPlan::Delete(p) => &p.table,
            DmlPlan::Merge(p) => &p.table,
        }
    }

    pub fn returning(&self) -> Option<&Returning> {
        match self {
            DmlPlan::Insert(p) => p.returning.as_ref(),
            DmlPlan::Update(p) => p.returning.as_ref(),
            DmlPlan::Delete(p) => p.returning.as_ref(),
            DmlPlan::Merge(_) => None,
        }
    }
}

/// The items of `ROW(...)` as expressions, `t.*` expanded to `t`'s columns
/// (qualified by `t`).
fn row_constructor_items(f: &ast::Function, scope: &Scope) -> Result<Vec<ast::Expr>> {
    let ast::FunctionArguments::List(list) = &f.args else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for a in &list.args {
        match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => out.push(x.clone()),
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::QualifiedWildcard(n)) => {
                let q = object_name_parts(n)?.pop().unwrap_or_default();
                for c in scope
                    .columns
                    .iter()
                    .filter(|c| c.qualifier.as_deref() == Some(q.as_str()))
                {
                    out.push(ast::Expr::CompoundIdentifier(vec![
                        ast::Ident::with_quote('"', q.clone()),
                        ast::Ident::with_quote('"', c.name.clone()),
                    ]));
                }
            }
            other => {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{other}\""
                )));
            }
        }
    }
    Ok(out)
}

/// The INSERT, UPDATE, DELETE or MERGE a query consists of (`WITH ...
/// INSERT ...`).
pub fn dml_in_query(q: &ast::Query) -> Option<&ast::Statement> {
    match q.body.as_ref() {
        ast::SetExpr::Insert(s)
        | ast::SetExpr::Update(s)
        | ast::SetExpr::Delete(s)
        | ast::SetExpr::Merge(s)
            if q.order_by.is_none() && q.limit_clause.is_none() =>
        {
            Some(s)
        }
        _ => None,
    }
}

/// Whether a statement changes data (INSERT, UPDATE, DELETE, also under
/// WITH, and MERGE).
pub fn is_dml(stmt: &ast::Statement) -> bool {
    match stmt {
        ast::Statement::Insert(_)
        | ast::Statement::Update(_)
        | ast::Statement::Delete(_)
        | ast::Statement::Merge(_) => true,
        ast::Statement::Query(q) => dml_in_query(q).is_some(),
        _ => false,
    }
}

/// The cursor of `WHERE CURRENT OF cursor` (as `sql::parser` rewrote it).
fn current_of(selection: &Option<ast::Expr>) -> Option<String> {
    let Some(ast::Expr::Function(f)) = selection else {
        return None;
    };
    match f.name.0.as_slice() {
        [part] if part.as_ident()?.value == parser::CURRENT_OF_MARKER => {}
        _ => return None,
    }
    let ast::FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Identifier(i)))] => {
            Some(ident(i))
        }
        _ => None,
    }
}

/// A WHERE clause without `CURRENT OF`, and the cursor it named. UPDATE
/// ... FROM and DELETE ... USING cannot use a cursor.
fn split_current_of(
    selection: &Option<ast::Expr>,
    joined: bool,
) -> Result<(&Option<ast::Expr>, Option<String>)> {
    match current_of(selection) {
        None => Ok((selection, None)),
        Some(_) if joined => Err(Error::unsupported(
            "WHERE CURRENT OF is not supported with FROM or USING",
        )),
        Some(c) => Ok((&None, Some(c))),
    }
}

pub(super) fn is_default_keyword(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

impl Binder<'_> {
    /// The bound default of a column (NULL when it has none).
    /// A column of a domain without a default of its own takes the
    /// domain's.
    pub fn column_default(&self, table: &TableDef, col: usize) -> Result<Expr> {
        let c = &table.columns[col];
        let domain_default = c
            .domain
            .and_then(|d| self.catalog.domains.get(&d))
            .and_then(|d| d.default.as_ref());
        match c.default.as_ref().or(domain_default) {
            None => Ok(Expr::Literal(Value::Null)),
            Some(text) => {
                let ast = parser::parse_expr(text)?;
                let (x, ty) = self.bind_expr(&ast, &Scope::default())?;
                self.coerce(x, &ty, &c.ty)
            }
        }
    }

    /// Binds the table's CHECK constraints over its row.
    pub fn table_checks(&self, table: &TableDef) -> Result<Checks> {
        let scope = Scope::for_table(table, &table.name);
        table
            .checks
            .iter()
            .map(|c| {
                let ast = parser::parse_expr(&c.expr)?;
                Ok((c.name.clone(), self.bind_predicate(&ast, &scope, "CHECK")?))
            })
            .collect()
    }

    /// The bound defaults of all of `table`'s columns.
    pub(super) fn column_defaults(&self, table: &TableDef) -> Result<Vec<Expr>> {
        (0..table.columns.len())
            .map(|i| self.column_default(table, i))
            .collect()
    }

    pub fn bind_insert(&self, ins: &ast::Insert) -> Result<InsertPlan> {
        let name = match &ins.table {
            ast::TableObject::TableName(n) => n,
            _ => return Err(Error::unsupported("INSERT INTO a table function")),
        };
        let table = self.table(name)?;
        if let Err(e) = self.require_target(&table, acl::INSERT) {
            self.rls_errors_first(&table, RlsCommand::Insert)?;
            return Err(e);
        }
        let targets = self.insert_targets(&table, &ins.columns)?;
        let defaults = self.column_defaults(&table)?;
        let source = match ins.source.as_deref() {
            None => Plan::Values {
                rows: vec![defaults.clone()],
                columns: table_columns(&table),
            },
            Some(q) => match q.body.as_ref() {
                ast::SetExpr::Values(values)
                    if q.order_by.is_none() && q.limit_clause.is_none() =>
                {
                    let empty = Scope::default();
                    let rows = values
                        .rows
                        .iter()
                        .map(|r| self.insert_values_row(&table, &targets, &defaults, r, &empty))
                        .collect::<Result<Vec<_>>>()?;
                    Plan::Values {
                        rows,
                        columns: table_columns(&table),
                    }
                }
                _ => {
                    let plan = self.bind_query(q)?;
                    let n = plan.columns().len();
                    if n > targets.cols.len() {
                        return Err(Error::syntax(
                            "INSERT has more expressions than target columns",
                        ));
                    }
                    let mut exprs = defaults.clone();
                    let mut started = Vec::new();
                    let types: Vec<DataType> = plan.columns().into_iter().map(|c| c.ty).collect();
                    for (k, col) in targets.cols.iter().take(n).enumerate() {
                        check_identity(&table, *col)?;
                        if targets.paths[k].is_empty()
                            && !matches!(table.columns[*col].ty, DataType::Composite(_))
                        {
                            exprs[*col] = Expr::Column(k);
                        } else {
                            self.assign_target(
                                &table,
                                &targets,
                                &mut exprs,
                                &mut started,
                                k,
                                Expr::Column(k),
                                &types[k],
                            )?;
                        }
                    }
                    Plan::Project {
                        input: Box::new(plan),
                        exprs,
                        columns: table_columns(&table),
                    }
                }
            },
        };
        let alias = ins
            .table_alias
            .as_ref()
            .map(|a| ident(&a.alias))
            .unwrap_or_else(|| table.name.clone());
        let on_conflict = match &ins.on {
            None => None,
            Some(ast::OnInsert::OnConflict(oc)) => Some(self.bind_on_conflict(&table, &alias, oc)?),
            Some(_) => {
                return Err(Error::syntax(
                    "ON DUPLICATE KEY UPDATE is not PostgreSQL syntax",
                ));
            }
        };
        // ON CONFLICT DO UPDATE's EXCLUDED is known, not reachable, in RETURNING.
        let excluded = match &ins.on {
            Some(ast::OnInsert::OnConflict(ast::OnConflict {
                action: ast::OnConflictAction::DoUpdate(_),
                ..
            })) => Some(Scope::unreachable_table(&table, "excluded")),
            _ => None,
        };
        let returning = match &ins.returning {
            Some(items) => {
                Some(self.bind_returning(&table, &alias, items, excluded.as_ref(), false)?)
            }
            None => None,
        };
        // RETURNING and a conflict target read the table; DO UPDATE updates it.
        if let Some(ast::OnInsert::OnConflict(oc)) = &ins.on {
            if matches!(oc.action, ast::OnConflictAction::DoUpdate(_)) {
                self.require_target(&table, acl::UPDATE)?;
            }
            if matches!(oc.conflict_target, Some(ast::ConflictTarget::Columns(_))) {
                self.require_target(&table, acl::SELECT)?;
            }
        }
        if returning.is_some() {
            self.require_target(&table, acl::SELECT)?;
        }
        let do_update = matches!(
            on_conflict,
            Some(OnConflict {
                action: ConflictAction::Update { .. },
                ..
            })
        );
        let (rls_conflict, rls_update) = if do_update {
            (
                self.as_target(|| self.rls_conflict_checks(&table))?,
                self.as_target(|| self.rls_checks(&table, RlsCommand::Update, true))?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        // Reading back (RETURNING, or a conflict target) also needs the new
        // row to pass the SELECT policies, as in PostgreSQL.
        let reads = returning.is_some()
            || matches!(&ins.on, Some(ast::OnInsert::OnConflict(oc))
                if matches!(oc.conflict_target, Some(ast::ConflictTarget::Columns(_))));
        Ok(InsertPlan {
            view_check: None,
            rls: self.as_target(|| self.rls_checks(&table, RlsCommand::Insert, reads))?,
            rls_conflict,
            rls_update,
            checks: self.table_checks(&table)?,
            table,
            source,
            on_conflict,
            returning,
        })
    }

    /// Types an untyped literal or parameter for a column; typed values are
    /// cast at write time with assignment semantics.
    pub(super) fn coerce_for_column(
        &self,
        column: &str,
        x: Expr,
        from: &DataType,
        to: &DataType,
    ) -> Result<Expr> {
        let mismatch = || {
            Error::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "column \"{column}\" is of type {} but expression is of type {}",
                    self.type_display(to),
                    self.type_display(from)
                ),
            )
            .with_hint("You will need to rewrite or cast the expression.")
        };
        // Records: untyped text, ROW(...) (an anonymous record) or a value
        // of the type; arrays of records: untyped text or the array type.
        match (from, to) {
            (f, t) if f == t => return Ok(x),
            (DataType::Unknown | DataType::Composite(0), DataType::Composite(id)) => {
                return self.coerce_to_composite(x, from, *id);
            }
            (DataType::Unknown, t) if super::composite::is_composite_array(t) => {
                return self.coerce_to_composite_array(x, from, to);
            }
            (_, DataType::Composite(_)) => return Err(mismatch()),
            (_, t) if super::composite::is_composite_array(t) => return Err(mismatch()),
            (DataType::Composite(_), t) if !t.is_text() => return Err(mismatch()),
            _ => {}
        }
        match (&x, from) {
            (Expr::Literal(Value::Text(_)), DataType::Unknown)
            | (Expr::Param(_, DataType::Unknown), _) => self.coerce(x, from, to),
            _ => Ok(x),
        }
    }

    fn bind_on_conflict(
        &self,
        table: &Arc<TableDef>,
        alias: &str,
        oc: &ast::OnConflict,
    ) -> Result<OnConflict> {
        // As in PostgreSQL, the target and the action are bound before the
        // arbiters are inferred (a planner step there).
        let (mut arbiters, inference) = match &oc.conflict_target {
            None => {
                if matches!(oc.action, ast::OnConflictAction::DoUpdate(_)) {
                    return Err(Error::syntax(
                        "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                    )
                    .with_hint("For example, ON CONFLICT (column_name)."));
                }
                (Vec::new(), None)
            }
            Some(ast::ConflictTarget::Columns(cols)) => {
                let spec = match cols.as_slice() {
                    [one] if one.value.starts_with(parser::INFERENCE_MARKER) => {
                        parser::parse_inference_spec(&one.value[1..])?
                    }
                    _ => (
                        cols.iter()
                            .map(|c| parser::InferenceElem {
                                expr: ast::Expr::Identifier(c.clone()),
                                collation: None,
                                opclass: None,
                            })
                            .collect(),
                        None,
                    ),
                };
                let excluded = matches!(oc.action, ast::OnConflictAction::DoUpdate(_));
                let spec = self.bind_inference(table, alias, &spec.0, spec.1.as_ref(), excluded)?;
                (Vec::new(), Some(spec))
            }
            Some(ast::ConflictTarget::OnConstraint(name)) => {
                let (_, n) = split_name(name)?;
                if table.pk_name.as_deref() == Some(n.as_str()) {
                    (vec![n], None)
                } else {
                    match self
                        .catalog
                        .indexes_of(table.id)
                        .into_iter()
                        .find(|i| i.name == n && i.unique)
                    {
                        Some(i) => (vec![i.name.clone()], None),
                        None => {
                            return Err(Error::new(
                                SqlState::UNDEFINED_OBJECT,
                                format!(
                                    "constraint \"{n}\" for table \"{}\" does not exist",
                                    table.name
                                ),
                            ));
                        }
                    }
                }
            }
        };
        let action = match &oc.action {
            ast::OnConflictAction::DoNothing => ConflictAction::Nothing,
            ast::OnConflictAction::DoUpdate(du) => {
                let mut scope = Scope::for_table(table, alias);
                scope.extend(Scope::for_table(table, "excluded"));
                let assignments = self.bind_assignments(table, &du.assignments, &scope)?;
                let filter = match &du.selection {
                    Some(w) => Some(self.bind_predicate(w, &scope, "WHERE")?),
                    None => None,
                };
                ConflictAction::Update {
                    assignments,
                    filter,
                }
            }
        };
        if let Some(spec) = inference {
            arbiters = self.infer_arbiters(table, &spec)?;
        }
        Ok(OnConflict {
            any: oc.conflict_target.is_none(),
            arbiters,
            action,
        })
    }

    pub(super) fn bind_assignments(
        &self,
        table: &TableDef,
        assignments: &[ast::Assignment],
        scope: &Scope,
    ) -> Result<Vec<(usize, Expr)>> {
        let mut out: Vec<(usize, Expr)> = Vec::new();
        // Columns set by field assignments (`SET c.f = ...`), which combine.
        let mut by_field: Vec<usize> = Vec::new();
        for (name, path, value) in self.single_assignments(table, assignments, scope)? {
            let a = ast::Assignment {
                target: ast::AssignmentTarget::ColumnName(ast::ObjectName::from(vec![
                    ast::Ident::with_quote('"', name.clone()),
                ])),
                value,
            };
            let col = table.column_index(&name).ok_or_else(|| {
                Error::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!(
                        "column \"{name}\" of relation \"{}\" does not exist",
                        table.name
                    ),
                )
            })?;
            let earlier = out.iter().position(|(c, _)| *c == col);
            if earlier.is_some() && (path.is_empty() || !by_field.contains(&col)) {
                return Err(Error::syntax(format!(
                    "multiple assignments to same column \"{name}\""
                )));
            }
            if !path.is_empty() {
                if is_default_keyword(&a.value) {
                    return Err(Error::unsupported("cannot set a subfield to DEFAULT"));
                }
                // From the column's value, or what earlier fields made of it.
                let base = match earlier {
                    Some(k) => out.remove(k).1,
                    None => Expr::Column(col),
                };
                let (x, t) = self.bind_expr(&a.value, scope)?;
                let c = &table.columns[col];
                let steps: Vec<PathStep> = path.into_iter().map(PathStep::Field).collect();
                out.push((col, self.assign_path(&c.name, base, &c.ty, &steps, x, &t)?));
                by_field.push(col);
                continue;
            }
            let is_row = !matches!(table.columns[col].ty, DataType::Composite(_))
                && match &a.value {
                    ast::Expr::QualifiedWildcard(..) | ast::Expr::Tuple(_) => true,
                    ast::Expr::Function(f) => super::row::is_row_constructor(f),
                    _ => false,
                };
            if is_row {
                return Err(Error::new(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "column \"{name}\" is of type {} but expression is of type record",
                        table.columns[col].ty.name()
                    ),
                )
                .with_hint("You will need to rewrite or cast the expression."));
            }
            let x = if is_default_keyword(&a.value) {
                self.column_default(table, col)?
            } else {
                if table.columns[col].identity == Some(IdentityKind::Always) {
                    return Err(Error::new(
                        SqlState::GENERATED_ALWAYS,
                        format!("column \"{name}\" can only be updated to DEFAULT"),
                    )
                    .with_detail(format!(
                        "Column \"{name}\" is an identity column defined as GENERATED ALWAYS."
                    )));
                }
                let (x, t) = self
                    .bind_expr(&a.value, scope)
                    .map_err(|e| super::expr::no_aggregates_in(e, "UPDATE"))?;
                self.coerce_for_column(&name, x, &t, &table.columns[col].ty)?
            };
            out.push((col, x));
        }
        Ok(out)
    }

    /// Splits multiple-column assignments into one per column:
    /// `(a, b) = (1, 2)` into `a = 1, b = 2`, and `(a, b) = (SELECT x, y ...)`
    /// into one scalar subquery per column over the same query.
    fn single_assignments(
        &self,
        table: &TableDef,
        assignments: &[ast::Assignment],
        scope: &Scope,
    ) -> Result<Vec<(String, Vec<String>, ast::Expr)>> {
        let mut out = Vec::new();
        for a in assignments {
            let names = match &a.target {
                // `c.f`: field f of column c (of a composite type).
                ast::AssignmentTarget::ColumnName(n) => {
                    let mut parts = object_name_parts(n)?;
                    let composite = parts.len() > 1
                        && table
                            .column_index(&parts[0])
                            .is_some_and(|c| matches!(table.columns[c].ty, DataType::Composite(_)));
                    if composite {
                        let rest = parts.split_off(1);
                        out.push((parts.remove(0), rest, a.value.clone()));
                    } else {
                        out.push((parts.pop().unwrap_or_default(), Vec::new(), a.value.clone()));
                    }
                    continue;
                }
                ast::AssignmentTarget::Tuple(names) => names
                    .iter()
                    .map(|n| Ok(object_name_parts(n)?.pop().unwrap_or_default()))
                    .collect::<Result<Vec<String>>>()?,
            };
            let mismatch = || Error::syntax("number of columns does not match number of values");
            // ROW(...) with `t.*` items expands them to the table's columns.
            let row_items = match &a.value {
                ast::Expr::Function(f) if super::row::is_row_constructor(f) => {
                    Some(row_constructor_items(f, scope)?)
                }
                _ => None,
            };
            match &a.value {
                _ if row_items.is_some() => {
                    let values = row_items.unwrap_or_default();
                    if values.len() != names.len() {
                        return Err(mismatch());
                    }
                    out.extend(
                        names
                            .into_iter()
                            .zip(values)
                            .map(|(n, v)| (n, Vec::new(), v)),
                    );
                }
                ast::Expr::Tuple(values) => {
                    if values.len() != names.len() {
                        return Err(mismatch());
                    }
                    out.extend(
                        names
                            .into_iter()
                            .zip(values.iter().cloned())
                            .map(|(n, v)| (n, Vec::new(), v)),
                    );
                }
                ast::Expr::Subquery(q) => {
                    // Bound once (inside the statement's scope, for
                    // correlated references) to learn its width.
                    self.outer
                        .borrow_mut()
                        .push(super::OuterFrame::new(scope.clone()));
                    let plan = self.bind_query(q);
                    self.outer.borrow_mut().pop();
                    let width = plan?.columns().len();
                    if width != names.len() {
                        return Err(mismatch());
                    }
                    let cols: Vec<String> = (1..=width).map(|i| format!("__c{i}")).collect();
                    for (i, name) in names.into_iter().enumerate() {
                        let text = format!(
                            "(SELECT __c{} FROM ({q}) AS __multiassign({}))",
                            i + 1,
                            cols.join(", ")
                        );
                        out.push((name, Vec::new(), parser::parse_expr(&text)?));
                    }
                }
                _ if names.len() == 1 => out.push((names[0].clone(), Vec::new(), a.value.clone())),
                _ => {
                    return Err(Error::syntax(
                        "source for a multiple-column UPDATE item must be a sub-SELECT or ROW() expression",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// RETURNING items over `[current, old, new]`, followed by the columns of
    /// `extra` (the FROM / USING items of UPDATE and DELETE, which `*`
    /// includes when `extra_in_star`, or ON CONFLICT's EXCLUDED, which it
    /// does not).
    pub fn bind_returning(
        &self,
        table: &TableDef,
        alias: &str,
        items: &[ast::SelectItem],
        extra: Option<&Scope>,
        extra_in_star: bool,
    ) -> Result<Returning> {
        let n = table.columns.len();
        let mut scope = Scope::for_table(table, alias);
        for q in ["old", "new"] {
            for c in &table.columns {
                scope.columns.push(ScopeColumn {
                    qualifier: Some(q.into()),
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    qualified_only: true,
                });
            }
        }
        if let Some(extra) = extra {
            scope.extend(extra.clone());
        }
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        for it in items {
            match it {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let (x, ty) = self.bind_expr(e, &scope)?;
                    let name = match it {
                        ast::SelectItem::ExprWithAlias { alias, .. } => ident(alias),
                        _ => output_name(e),
                    };
                    exprs.push(x);
                    columns.push(Column {
                        name,
                        ty: if ty == DataType::Unknown {
                            DataType::Text
                        } else {
                            ty
                        },
                    });
                }
                ast::SelectItem::Wildcard(_) => {
                    for (i, c) in table.columns.iter().enumerate() {
                        exprs.push(Expr::Column(i));
                        columns.push(Column {
                            name: c.name.clone(),
                            ty: c.ty.clone(),
                        });
                    }
                    // `*` of UPDATE ... FROM / DELETE ... USING includes the
                    // columns of those items, as in PostgreSQL.
                    if extra_in_star {
                        for (i, c) in scope.columns.iter().enumerate().skip(3 * n) {
                            if !c.qualified_only {
                                exprs.push(Expr::Column(i));
                                columns.push(Column {
                                    name: c.name.clone(),
                                    ty: c.ty.clone(),
                                });
                            }
                        }
                    }
                }
                ast::SelectItem::QualifiedWildcard(
                    ast::SelectItemQualifiedWildcardKind::ObjectName(q),
                    _,
                ) => {
                    let (_, q) = split_name(q)?;
                    let offset = match q.as_str() {
                        "old" => Some(n),
                        "new" => Some(2 * n),
                        _ if q == alias => Some(0),
                        _ => None,
                    };
                    if let Some(offset) = offset {
                        for (i, c) in table.columns.iter().enumerate() {
                            exprs.push(Expr::Column(offset + i));
                            columns.push(Column {
                                name: c.name.clone(),
                                ty: c.ty.clone(),
                            });
                        }
                        continue;
                    }
                    // A FROM / USING item: its columns follow the table's
                    // three images in the row.
                    if !scope.has_qualifier(&q) {
                        return Err(self.missing_table(&q, &scope));
                    }
                    for (i, c) in scope.columns.iter().enumerate().skip(3 * n) {
                        if c.qualifier.as_deref() == Some(q.as_str()) {
                            exprs.push(Expr::Column(i));
                            columns.push(Column {
                                name: c.name.clone(),
                                ty: c.ty.clone(),
                            });
                        }
                    }
                }
                other => {
                    return Err(Error::unsupported(format!(
                        "RETURNING item not supported: {other}"
                    )));
                }
            }
        }
        Ok(Returning { exprs, columns })
    }

    /// Binds an INSERT, UPDATE or DELETE statement.
    /// Binds INSERT, UPDATE or DELETE, also under a WITH clause (whose
    /// queries its statements can then read).
    pub fn bind_dml(&self, stmt: &ast::Statement) -> Result<DmlPlan> {
        if let Some(plan) = self.bind_view_dml(stmt)? {
            return Ok(plan);
        }
        Ok(match stmt {
            ast::Statement::Insert(i) => DmlPlan::Insert(self.bind_insert(i)?),
            ast::Statement::Update(u) => DmlPlan::Update(self.bind_update(u)?),
            ast::Statement::Delete(d) => DmlPlan::Delete(self.bind_delete(d)?),
            ast::Statement::Merge(m) => DmlPlan::Merge(self.bind_merge(m)?),
            ast::Statement::Query(q) => match (dml_in_query(q), &q.with) {
                (Some(inner), Some(with)) => self.with_ctes(with, || self.bind_dml(inner))?,
                (Some(inner), None) => self.bind_dml(inner)?,
                (None, _) => return Err(Error::internal("not a data-changing statement")),
            },
            _ => return Err(Error::internal("not a data-changing statement")),
        })
    }

    /// A statement that writes through a view, bound as the statement on
    /// the view's table (see `view_dml`); None for other statements.
    fn bind_view_dml(&self, stmt: &ast::Statement) -> Result<Option<DmlPlan>> {
        let target = match stmt {
            ast::Statement::Insert(i) => match &i.table {
                ast::TableObject::TableName(n) => Some(n),
                _ => None,
            },
            ast::Statement::Update(u) => match &u.table.relation {
                ast::TableFactor::Table { name, .. } => Some(name),
                _ => None,
            },
            ast::Statement::Delete(d) => match &d.from {
                ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => {
                    match f.first().map(|t| &t.relation) {
                        Some(ast::TableFactor::Table { name, .. }) => Some(name),
                        _ => None,
                    }
                }
            },
            _ => None,
        };
        let Some(view) = target.map(|n| self.target_view(n)).transpose()?.flatten() else {
            return Ok(None);
        };
        *self.dml_view.borrow_mut() = Some(view.clone());
        let bound = (|| {
            let plan = match stmt {
                ast::Statement::Insert(i) => {
                    let (ins, u) = self.view_insert(i, &view)?;
                    let mut p = self.bind_insert(&ins)?;
                    p.view_check = self.view_check(&p.table, &u)?;
                    DmlPlan::Insert(p)
                }
                ast::Statement::Update(up) => {
                    let (up, u) = self.view_update(up, &view)?;
                    let mut p = self.bind_update(&up)?;
                    p.view_check = self.view_check(&p.table, &u)?;
                    DmlPlan::Update(p)
                }
                ast::Statement::Delete(d) => {
                    let (d, _) = self.view_delete(d, &view)?;
                    DmlPlan::Delete(self.bind_delete(&d)?)
                }
                _ => return Err(Error::internal("not a data-changing statement")),
            };
            Ok(plan)
        })();
        *self.dml_view.borrow_mut() = None;
        bound.map(Some)
    }

    /// A view's CHECK OPTION as a condition over its table's row.
    fn view_check(
        &self,
        table: &TableDef,
        u: &super::view_dml::UpdatableView,
    ) -> Result<Option<(String, Expr)>> {
        let Some(cond) = u.check() else {
            return Ok(None);
        };
        let scope = Scope::for_table(table, &u.alias);
        let x = self.as_target(|| self.bind_predicate(&cond, &scope, "WHERE"))?;
        Ok(Some((u.view.name.clone(), x)))
    }

    /// The table an UPDATE or DELETE changes, and the name it goes by.
    pub(super) fn target_table(
        &self,
        f: &ast::TableFactor,
        what: &str,
    ) -> Result<(Arc<TableDef>, String)> {
        match f {
            ast::TableFactor::Table { name, alias, .. } => {
                let t = self.table(name)?;
                let a = alias
                    .as_ref()
                    .map(|a| ident(&a.name))
                    .unwrap_or_else(|| t.name.clone());
                Ok((t, a))
            }
            other => Err(Error::unsupported(format!(
                "{what} target not supported: {other}"
            ))),
        }
    }

    /// The scope of an UPDATE/DELETE (target row, then FROM/USING items), the
    /// plan of those items, and their scope alone (for RETURNING).
    fn target_scope(
        &self,
        table: &TableDef,
        alias: &str,
        items: Option<&[ast::TableWithJoins]>,
    ) -> Result<(Scope, Option<Plan>, Option<Scope>)> {
        let mut scope = Scope::for_table(table, alias);
        match items {
            None => Ok((scope, None, None)),
            Some(items) => {
                let (plan, s) = self.bind_from(items)?;
                scope.extend(s.clone());
                Ok((scope, Some(plan), Some(s)))
            }
        }
    }

    /// WHERE and RETURNING of an UPDATE or DELETE. Without FROM/USING the
    /// WHERE clause filters the target scan (first result); with them it
    /// filters the joined rows (second result).
    #[allow(clippy::too_many_arguments)]
    fn target_clauses(
        &self,
        table: &TableDef,
        alias: &str,
        scope: &Scope,
        joined: bool,
        selection: &Option<ast::Expr>,
        returning: &Option<Vec<ast::SelectItem>>,
        extra: Option<&Scope>,
    ) -> Result<(Option<Expr>, Option<Expr>, Option<Returning>)> {
        let filter = match selection {
            Some(w) => Some(self.bind_predicate(w, scope, "WHERE")?),
            None => None,
        };
        let returning = match returning {
            Some(items) => Some(self.bind_returning(table, alias, items, extra, true)?),
            None => None,
        };
        Ok(if joined {
            (None, filter, returning)
        } else {
            (filter, None, returning)
        })
    }

    pub fn bind_update(&self, u: &ast::Update) -> Result<UpdatePlan> {
        if !u.table.joins.is_empty() {
            return Err(Error::unsupported("UPDATE of a join"));
        }
        let (table, alias) = self.target_table(&u.table.relation, "UPDATE")?;
        if let Err(e) = self.require_target(&table, acl::UPDATE) {
            self.rls_errors_first(&table, RlsCommand::Update)?;
            return Err(e);
        }
        let from_items = match &u.from {
            None => None,
            Some(ast::UpdateTableFromKind::BeforeSet(f))
            | Some(ast::UpdateTableFromKind::AfterSet(f)) => Some(f.as_slice()),
        };
        let (selection, current_of) = split_current_of(&u.selection, from_items.is_some())?;
        let (scope, from, extra) = self.target_scope(&table, &alias, from_items)?;
        let assignments = self.bind_assignments(&table, &u.assignments, &scope)?;
        let (scan_filter, filter, returning) = self.target_clauses(
            &table,
            &alias,
            &scope,
            from.is_some(),
            selection,
            &u.returning,
            extra.as_ref(),
        )?;
        // Reading the target's columns (WHERE, RETURNING, SET a = a + 1)
        // needs SELECT too.
        let width = table.columns.len();
        let mut reads = selection.is_some() || returning.is_some();
        for (_, e) in &assignments {
            e.walk(&mut |x| reads |= matches!(x, Expr::Column(i) if *i < width));
        }
        if reads {
            self.require_target(&table, acl::SELECT)?;
        }
        let cmds: &[RlsCommand] = if reads {
            &[RlsCommand::Update, RlsCommand::Select]
        } else {
            &[RlsCommand::Update]
        };
        let security = self.as_target(|| self.rls_filter(&table, &alias, cmds))?;
        let scan_filter = with_security(security, scan_filter);
        Ok(UpdatePlan {
            view_check: None,
            rls: self.as_target(|| self.rls_checks(&table, RlsCommand::Update, reads))?,
            checks: self.table_checks(&table)?,
            scan: Scan {
                table: table.clone(),
                alias: Some(alias),
                access: Access::Full,
                filter: scan_filter,
                indexes: self.catalog.plain_indexes_of(table.id),
                stats: self.catalog.stats.get(&table.id).cloned(),
                needed: None,
                reverse: false,
            },
            table,
            from,
            filter,
            assignments,
            returning,
            current_of,
        })
    }

    pub fn bind_delete(&self, d: &ast::Delete) -> Result<DeletePlan> {
        let from = match &d.from {
            ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => v,
        };
        if from.len() != 1 || !from[0].joins.is_empty() {
            return Err(Error::unsupported("DELETE from more than one table"));
        }
        let (table, alias) = self.target_table(&from[0].relation, "DELETE")?;
        if let Err(e) = self.require_target(&table, acl::DELETE) {
            self.rls_errors_first(&table, RlsCommand::Delete)?;
            return Err(e);
        }
        let (selection, current_of) = split_current_of(&d.selection, d.using.is_some())?;
        let reads = selection.is_some() || d.returning.is_some();
        if reads {
            self.require_target(&table, acl::SELECT)?;
        }
        let cmds: &[RlsCommand] = if reads {
            &[RlsCommand::Delete, RlsCommand::Select]
        } else {
            &[RlsCommand::Delete]
        };
        let security = self.as_target(|| self.rls_filter(&table, &alias, cmds))?;
        let rls = security.is_some();
        let (scope, using, extra) = self.target_scope(&table, &alias, d.using.as_deref())?;
        let (scan_filter, filter, returning) = self.target_clauses(
            &table,
            &alias,
            &scope,
            using.is_some(),
            selection,
            &d.returning,
            extra.as_ref(),
        )?;
        Ok(DeletePlan {
            rls,
            scan: Scan {
                table: table.clone(),
                alias: Some(alias),
                access: Access::Full,
                filter: with_security(security, scan_filter),
                indexes: self.catalog.plain_indexes_of(table.id),
                stats: self.catalog.stats.get(&table.id).cloned(),
                needed: None,
                reverse: false,
            },
            table,
            using,
            filter,
            returning,
            current_of,
        })
    }
}

/// A scan filter with the row-level security filter first: it is evaluated
/// before (and short-circuits) any user predicate.
pub(super) fn with_security(security: Option<Expr>, user: Option<Expr>) -> Option<Expr> {
    match (security, user) {
        (Some(s), Some(u)) => Some(Expr::And(Box::new(s), Box::new(u))),
        (s, u) => s.or(u),
    }
}

pub(super) fn table_columns(t: &TableDef) -> Vec<Column> {
    t.columns
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            ty: c.ty.clone(),
        })
        .collect()
}
