//! Binding the FROM clause: tables, derived tables, table functions and
//! joins of every kind (ON, USING, NATURAL, CROSS, LATERAL).

use super::rls::RlsCommand;
use super::{Binder, OuterFrame, Scope, ScopeColumn, ident, split_name};
use crate::catalog::acl;
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::functions::Func;
use crate::sql::plan::{Access, Column, JoinKind, Plan, Scan};
use crate::types::{BinaryOp, DataType};
use sqlparser::ast;

impl Binder<'_> {
    /// Binds the FROM clause into a plan and the scope its rows expose.
    /// Comma-separated items are cross joins (the optimizer orders them).
    pub(crate) fn bind_from(&self, from: &[ast::TableWithJoins]) -> Result<(Plan, Scope)> {
        if from.is_empty() {
            return Ok((
                Plan::Values {
                    rows: vec![vec![]],
                    columns: vec![],
                },
                Scope::default(),
            ));
        }
        let mut acc: Option<(Plan, Scope)> = None;
        for twj in from {
            acc = Some(match acc {
                None => self.bind_joins(twj, None)?,
                Some((lp, ls)) => {
                    let (rp, rs, lateral) = self.bind_factor(&twj.relation, Some(&ls))?;
                    let (plan, scope) = self.cross(lp, ls, rp, rs, lateral);
                    self.bind_joined(plan, scope, &twj.joins)?
                }
            });
        }
        Ok(acc.expect("from is not empty"))
    }

    fn bind_joins(&self, twj: &ast::TableWithJoins, left: Option<&Scope>) -> Result<(Plan, Scope)> {
        let (plan, scope, _) = self.bind_factor(&twj.relation, left)?;
        self.bind_joined(plan, scope, &twj.joins)
    }

    fn bind_joined(
        &self,
        mut plan: Plan,
        mut scope: Scope,
        joins: &[ast::Join],
    ) -> Result<(Plan, Scope)> {
        for j in joins {
            (plan, scope) = self.bind_join(plan, scope, j)?;
        }
        Ok((plan, scope))
    }

    fn cross(&self, lp: Plan, mut ls: Scope, rp: Plan, rs: Scope, lateral: bool) -> (Plan, Scope) {
        ls.extend(rs);
        (
            Plan::NestedLoop {
                left: Box::new(lp),
                right: Box::new(rp),
                kind: JoinKind::Inner,
                on: None,
                lateral,
            },
            ls,
        )
    }

    fn bind_join(&self, left: Plan, lscope: Scope, j: &ast::Join) -> Result<(Plan, Scope)> {
        use ast::JoinOperator as J;
        let (kind, constraint) = match &j.join_operator {
            J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
            J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, c),
            J::Right(c) | J::RightOuter(c) => (JoinKind::Right, c),
            J::FullOuter(c) => (JoinKind::Full, c),
            J::CrossJoin(c) => {
                if !matches!(c, ast::JoinConstraint::None) {
                    return Err(Error::syntax(
                        "syntax error: CROSS JOIN takes no join condition",
                    ));
                }
                (JoinKind::Inner, c)
            }
            other => {
                return Err(Error::syntax(format!(
                    "join type not supported in PostgreSQL syntax: {other:?}"
                )));
            }
        };
        let (right, rscope, lateral) = self.bind_factor(&j.relation, Some(&lscope))?;
        if lateral && matches!(kind, JoinKind::Right | JoinKind::Full) {
            return Err(Error::new(
                SqlState::INVALID_COLUMN_REFERENCE,
                "the combining JOIN type must be INNER or LEFT for a LATERAL reference",
            ));
        }
        match constraint {
            ast::JoinConstraint::None => {
                if kind != JoinKind::Inner || !matches!(j.join_operator, J::CrossJoin(_)) {
                    return Err(Error::syntax(
                        "syntax error: JOIN requires ON, USING or NATURAL",
                    ));
                }
                Ok(self.cross(left, lscope, right, rscope, lateral))
            }
            ast::JoinConstraint::On(e) => {
                let mut scope = lscope;
                scope.extend(rscope);
                let on = self.bind_predicate(e, &scope, "JOIN/ON")?;
                Ok((
                    Plan::NestedLoop {
                        left: Box::new(left),
                        right: Box::new(right),
                        kind,
                        on: Some(on),
                        lateral,
                    },
                    scope,
                ))
            }
            ast::JoinConstraint::Using(names) => {
                let mut cols = Vec::new();
                for n in names {
                    let (_, c) = split_name(n)?;
                    cols.push(c);
                }
                self.join_using(left, lscope, right, rscope, kind, &cols, lateral)
            }
            ast::JoinConstraint::Natural => {
                let cols: Vec<String> = lscope
                    .columns
                    .iter()
                    .filter(|c| !c.qualified_only)
                    .filter(|c| {
                        rscope
                            .columns
                            .iter()
                            .any(|r| !r.qualified_only && r.name == c.name)
                    })
                    .map(|c| c.name.clone())
                    .collect();
                self.join_using(left, lscope, right, rscope, kind, &cols, lateral)
            }
        }
    }

    /// `JOIN ... USING (cols)`: equality on each named column; the output
    /// starts with one merged column per name (what unqualified names and `*`
    /// see), followed by both inputs' columns, reachable with their qualifiers.
    #[allow(clippy::too_many_arguments)]
    fn join_using(
        &self,
        left: Plan,
        lscope: Scope,
        right: Plan,
        rscope: Scope,
        kind: JoinKind,
        cols: &[String],
        lateral: bool,
    ) -> Result<(Plan, Scope)> {
        let nl = lscope.columns.len();
        let width = nl + rscope.columns.len();
        let mut on = Vec::new();
        let mut merged = Vec::new();
        let mut merged_scope = Vec::new();
        let mut hide_left = Vec::new();
        let mut hide_right = Vec::new();
        for (k, name) in cols.iter().enumerate() {
            if cols[..k].contains(name) {
                return Err(Error::new(
                    SqlState::DUPLICATE_COLUMN,
                    format!("column name \"{name}\" appears more than once in USING clause"),
                ));
            }
            let (li, lt) = lscope.resolve(None, name)?.ok_or_else(|| {
                Error::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!(
                        "column \"{name}\" specified in USING clause does not exist in left table"
                    ),
                )
            })?;
            let (ri, rt) = rscope.resolve(None, name)?.ok_or_else(|| {
                Error::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!(
                        "column \"{name}\" specified in USING clause does not exist in right table"
                    ),
                )
            })?;
            let (eq, _) = self.binary(
                BinaryOp::Eq,
                Expr::Column(li),
                lt.clone(),
                Expr::Column(nl + ri),
                rt.clone(),
            )?;
            on.push(eq);
            let ty = DataType::common_type(&lt, &rt).unwrap_or(lt.clone());
            let cast = |x: Expr, t: &DataType| {
                if *t == ty {
                    x
                } else {
                    Expr::Cast(Box::new(x), ty.clone())
                }
            };
            merged.push(match kind {
                JoinKind::Right => cast(Expr::Column(nl + ri), &rt),
                JoinKind::Full => Expr::Function(
                    Func::Coalesce,
                    vec![
                        cast(Expr::Column(li), &lt),
                        cast(Expr::Column(nl + ri), &rt),
                    ],
                ),
                _ => cast(Expr::Column(li), &lt),
            });
            merged_scope.push(ScopeColumn {
                qualifier: None,
                name: name.clone(),
                ty: ty.clone(),
                qualified_only: false,
            });
            hide_left.push(li);
            hide_right.push(ri);
        }
        let join = Plan::NestedLoop {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            on: Expr::and_all(on),
            lateral,
        };
        if merged.is_empty() {
            let mut scope = lscope;
            scope.extend(rscope);
            return Ok((join, scope));
        }
        let mut exprs = merged;
        exprs.extend((0..width).map(Expr::Column));
        let mut columns: Vec<Column> = merged_scope
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                ty: c.ty.clone(),
            })
            .collect();
        let mut scope = Scope {
            columns: merged_scope,
            tables: lscope
                .tables
                .iter()
                .chain(&rscope.tables)
                .cloned()
                .collect(),
        };
        for (i, mut c) in lscope.columns.into_iter().enumerate() {
            c.qualified_only |= hide_left.contains(&i);
            scope.columns.push(c);
        }
        for (i, mut c) in rscope.columns.into_iter().enumerate() {
            c.qualified_only |= hide_right.contains(&i);
            scope.columns.push(c);
        }
        columns.extend(scope.columns[cols.len()..].iter().map(|c| Column {
            name: c.name.clone(),
            ty: c.ty.clone(),
        }));
        Ok((
            Plan::Project {
                input: Box::new(join),
                exprs,
                columns,
            },
            scope,
        ))
    }

    /// Binds one FROM item; `left` is the scope of the items before it, which
    /// a LATERAL item may reference. Returns whether the item is LATERAL.
    fn bind_factor(
        &self,
        f: &ast::TableFactor,
        left: Option<&Scope>,
    ) -> Result<(Plan, Scope, bool)> {
        match f {
            ast::TableFactor::Table {
                name, alias, args, ..
            } => {
                if let Some(args) = args {
                    let (schema, fname) = split_name(name)?;
                    if schema.as_deref() == Some("helios") {
                        let (p, s) =
                            self.bind_helios_function(&fname, &args.args, alias.as_ref())?;
                        return Ok((p, s, false));
                    }
                    let list = table_function_args(&args.args)?;
                    let (p, s) = self.bind_table_function(&fname, &list, alias.as_ref())?;
                    return Ok((p, s, false));
                }
                if let Some(cte) = self.cte(name) {
                    let (p, s) = self.bind_cte_ref(&cte, alias.as_ref())?;
                    return Ok((p, s, false));
                }
                if let Some((p, s)) = self.bind_system_relation(name, alias.as_ref())? {
                    return Ok((p, s, false));
                }
                if let Some(view) = self.view(name)? {
                    self.require(acl::Object::View(&view), acl::SELECT)?;
                    self.used_relations.borrow_mut().push(view.id);
                    let (p, s) = self.bind_view_ref(&view, alias.as_ref())?;
                    return Ok((p, s, false));
                }
                let table = self.table(name)?;
                if let Err(e) = self.require(acl::Object::Table(&table), acl::SELECT) {
                    self.rls_errors_first(&table, RlsCommand::Select)?;
                    return Err(e);
                }
                self.used_relations.borrow_mut().push(table.id);
                let q = alias
                    .as_ref()
                    .map(|a| ident(&a.name))
                    .unwrap_or_else(|| table.name.clone());
                let mut scope = Scope::for_table(&table, &q);
                if let Some(a) = alias {
                    rename_columns(&mut scope, &a.columns)?;
                }
                let security = self.rls_filter(&table, &q, &[RlsCommand::Select])?;
                let plan = Plan::Scan(Scan {
                    indexes: self.catalog.plain_indexes_of(table.id),
                    stats: self.catalog.stats.get(&table.id).cloned(),
                    needed: None,
                    table,
                    alias: alias.as_ref().map(|a| ident(&a.name)),
                    access: Access::Full,
                    filter: security,
                    reverse: false,
                });
                Ok((plan, scope, false))
            }
            ast::TableFactor::Function {
                name,
                args,
                alias,
                lateral,
                ..
            } => {
                let (schema, fname) = split_name(name)?;
                if schema.as_deref() == Some("helios") {
                    let (p, s) = self.with_lateral(*lateral, left, || {
                        self.bind_helios_function(&fname, args, alias.as_ref())
                    })?;
                    return Ok((p, s, *lateral));
                }
                let list = table_function_args(args)?;
                let (p, s) = self.with_lateral(*lateral, left, || {
                    self.bind_table_function(&fname, &list, alias.as_ref())
                })?;
                Ok((p, s, *lateral))
            }
            // UNNEST(array) [WITH ORDINALITY]: like every function in FROM,
            // it may read the preceding FROM items.
            ast::TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } => {
                let args: Vec<&ast::Expr> = array_exprs.iter().collect();
                let lateral = left.is_some();
                let (p, s) =
                    self.with_lateral(lateral, left, || self.bind_unnest(&args, alias.as_ref()))?;
                Ok((p, s, lateral))
            }
            ast::TableFactor::Derived {
                subquery,
                alias,
                lateral,
                ..
            } => {
                let plan = self.with_lateral(*lateral, left, || self.bind_query(subquery))?;
                let q = alias.as_ref().map(|a| ident(&a.name));
                let scope = item_scope(&plan, q, &[], alias.as_ref())?;
                Ok((plan, scope, *lateral))
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let (plan, mut scope) = self.bind_joins(table_with_joins, None)?;
                if let Some(a) = alias {
                    let q = ident(&a.name);
                    for c in &mut scope.columns {
                        c.qualifier = Some(q.clone());
                    }
                    rename_columns(&mut scope, &a.columns)?;
                }
                Ok((plan, scope, false))
            }
            other => Err(Error::unsupported(format!(
                "FROM item not supported: {other}"
            ))),
        }
    }

    /// A view in FROM: its stored query, bound on its own (it sees neither
    /// the enclosing queries nor their WITH names), with the view's column names.
    fn bind_view_ref(
        &self,
        view: &crate::catalog::ViewDef,
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let stmts = crate::sql::parser::parse(&view.sql)?;
        let Some(ast::Statement::Query(q)) = stmts.first() else {
            return Err(Error::corrupted(format!(
                "view \"{}\" has a definition that is not a query",
                view.name
            )));
        };
        let outer = std::mem::take(&mut *self.outer.borrow_mut());
        let ctes = std::mem::take(&mut *self.ctes.borrow_mut());
        // A security-invoker view (the default) reads its tables with the
        // querying user's privileges and policies; otherwise as its owner.
        let plan = if view.security_invoker {
            self.bind_query(q)
        } else {
            self.checked_as(view.owner, || self.bind_query(q))
        };
        *self.outer.borrow_mut() = outer;
        *self.ctes.borrow_mut() = ctes;
        let mut plan = plan?;
        if view.security_barrier {
            plan = Plan::Barrier {
                input: Box::new(plan),
            };
        }
        let q = alias
            .map(|a| ident(&a.name))
            .unwrap_or_else(|| view.name.clone());
        let scope = item_scope(&plan, Some(q), &view.columns, alias)?;
        Ok((plan, scope))
    }

    /// The scope a view's query produces, bound outside the current
    /// statement's context (no enclosing scopes, CTEs or dependencies).
    pub(super) fn bind_view_ref_detached(&self, view: &crate::catalog::ViewDef) -> Result<Scope> {
        if self.in_system_relation.replace(true) {
            return Ok(Scope::default());
        }
        let used = std::mem::take(&mut *self.used_relations.borrow_mut());
        let r = self.unchecked(|| self.bind_view_ref(view, None));
        *self.used_relations.borrow_mut() = used;
        self.in_system_relation.set(false);
        Ok(r?.1)
    }

    /// Binds a LATERAL item with the preceding FROM items as its enclosing
    /// row (the join re-runs it for every left row).
    fn with_lateral<T>(
        &self,
        lateral: bool,
        left: Option<&Scope>,
        bind: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if !lateral {
            return bind();
        }
        self.outer
            .borrow_mut()
            .push(OuterFrame::new(left.cloned().unwrap_or_default()));
        let r = bind();
        self.outer.borrow_mut().pop();
        r
    }

    fn bind_table_function(
        &self,
        name: &str,
        args: &[&ast::Expr],
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        if name == "pg_partition_ancestors" {
            return self.bind_partition_ancestors(args, alias);
        }
        if name == "unnest" {
            return self.bind_unnest(args, alias);
        }
        if name != "generate_series" {
            return Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("function {name} does not exist"),
            ));
        }
        let (args, ty) = self.series_args(args)?;
        let col = alias
            .map(|a| {
                a.columns
                    .first()
                    .map(|c| ident(&c.name))
                    .unwrap_or_else(|| ident(&a.name))
            })
            .unwrap_or_else(|| "generate_series".to_string());
        let q = alias
            .map(|a| ident(&a.name))
            .unwrap_or_else(|| "generate_series".into());
        let scope = Scope {
            columns: vec![ScopeColumn {
                qualifier: Some(q),
                name: col.clone(),
                ty: ty.clone(),
                qualified_only: false,
            }],
            tables: vec![],
        };
        Ok((
            Plan::Series {
                args,
                column: Column { name: col, ty },
            },
            scope,
        ))
    }

    /// Arguments of generate_series: integer or numeric (timestamps with an interval step).
    pub(super) fn series_args(&self, args: &[&ast::Expr]) -> Result<(Vec<Expr>, DataType)> {
        if args.len() < 2 || args.len() > 3 {
            return Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                "function generate_series with this number of arguments does not exist",
            ));
        }
        let empty = Scope::default();
        let bound: Vec<(Expr, DataType)> = args
            .iter()
            .map(|a| self.bind_expr(a, &empty))
            .collect::<Result<_>>()?;
        let mut ty = DataType::Unknown;
        for (_, t) in bound.iter().take(2) {
            ty = DataType::common_type(&ty, t).unwrap_or(DataType::Unknown);
        }
        let ty = match ty {
            DataType::Int2 | DataType::Int4 | DataType::Unknown => DataType::Int4,
            DataType::Int8 => DataType::Int8,
            DataType::Numeric(_) => DataType::Numeric(None),
            DataType::Timestamp | DataType::Timestamptz | DataType::Date => {
                if ty == DataType::Date {
                    DataType::Timestamp
                } else {
                    ty
                }
            }
            other => {
                return Err(Error::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!(
                        "function generate_series({0}, {0}) does not exist",
                        other.name()
                    ),
                ));
            }
        };
        let step_ty = if ty.is_temporal() {
            DataType::Interval
        } else {
            ty.clone()
        };
        let mut out = Vec::new();
        for (i, (x, t)) in bound.into_iter().enumerate() {
            let target = if i == 2 { &step_ty } else { &ty };
            let x = self.coerce(x, &t, target)?;
            out.push(if t != *target && t != DataType::Unknown {
                Expr::Cast(Box::new(x), target.clone())
            } else {
                x
            });
        }
        Ok((out, ty))
    }
}

fn table_function_args(args: &[ast::FunctionArg]) -> Result<Vec<&ast::Expr>> {
    args.iter()
        .map(|a| match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Ok(x),
            _ => Err(Error::unsupported("named table-function arguments")),
        })
        .collect()
}

/// The scope of a FROM item backed by a plan (derived table, CTE, view):
/// the plan's columns under `qualifier`, named by `names` where given, then
/// renamed by the alias's column list.
pub(super) fn item_scope(
    plan: &Plan,
    qualifier: Option<String>,
    names: &[String],
    alias: Option<&ast::TableAlias>,
) -> Result<Scope> {
    let mut scope = Scope {
        columns: plan
            .columns()
            .into_iter()
            .enumerate()
            .map(|(i, c)| ScopeColumn {
                qualifier: qualifier.clone(),
                name: names.get(i).cloned().unwrap_or(c.name),
                ty: c.ty,
                qualified_only: false,
            })
            .collect(),
        // Not a catalog table (id 0), but a name to hint at.
        tables: qualifier
            .iter()
            .map(|q| super::ScopeTable {
                qualifier: q.clone(),
                table: 0,
                visible: true,
            })
            .collect(),
    };
    if let Some(a) = alias {
        rename_columns(&mut scope, &a.columns)?;
    }
    Ok(scope)
}

pub(super) fn rename_columns(scope: &mut Scope, cols: &[ast::TableAliasColumnDef]) -> Result<()> {
    if cols.len() > scope.columns.len() {
        return Err(Error::new(
            SqlState::INVALID_COLUMN_REFERENCE,
            format!(
                "table has {} columns available but {} columns specified",
                scope.columns.len(),
                cols.len()
            ),
        ));
    }
    for (c, a) in scope.columns.iter_mut().zip(cols) {
        c.name = ident(&a.name);
    }
    Ok(())
}
