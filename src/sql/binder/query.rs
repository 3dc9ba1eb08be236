//! Binding SELECT and VALUES into a [`Plan`].

use super::expr::{contains_aggregate, is_agg_found, number_literal, unify_types};
use super::{AggCtx, Binder, Scope, ScopeColumn, ident, split_name};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::plan::{Column, Plan, SortKey};
use crate::types::{DataType, Value};
use sqlparser::ast;
use std::cell::RefCell;

/// The name PostgreSQL gives an unaliased select-list expression.
pub(crate) fn output_name(e: &ast::Expr) -> String {
    use ast::Expr as A;
    match e {
        A::Identifier(i) => ident(i),
        A::CompoundIdentifier(ids) => ids.last().map(ident).unwrap_or_default(),
        A::Nested(inner) => output_name(inner),
        A::Collate { expr, .. } => output_name(expr),
        // The last field selected, else the subscripted expression's name.
        A::CompoundFieldAccess { root, access_chain } => access_chain
            .iter()
            .rev()
            .find_map(|a| match a {
                ast::AccessExpr::Dot(A::Identifier(f)) => Some(ident(f)),
                _ => None,
            })
            .unwrap_or_else(|| output_name(root)),
        A::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident)
            .unwrap_or_else(|| "?column?".into()),
        A::Cast {
            expr, data_type, ..
        } => match output_name(expr).as_str() {
            "?column?" => cast_name(data_type),
            n => n.to_string(),
        },
        A::Case { .. } => "case".into(),
        A::Exists { .. } => "exists".into(),
        // A scalar subquery is named after its single output column.
        A::Subquery(q) => match q.body.as_ref() {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::UnnamedExpr(e)) => output_name(e),
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => ident(alias),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        A::Array(_) => "array".into(),
        A::TypedString(ts) => cast_name(&ts.data_type),
        _ => "?column?".into(),
    }
}

fn cast_name(t: &ast::DataType) -> String {
    match DataType::from_sql(t) {
        Ok(DataType::Int2) => "int2".into(),
        Ok(DataType::Int4) => "int4".into(),
        Ok(DataType::Int8) => "int8".into(),
        Ok(DataType::Float4) => "float4".into(),
        Ok(DataType::Float8) => "float8".into(),
        Ok(DataType::Bool) => "bool".into(),
        Ok(DataType::Varchar(_)) => "varchar".into(),
        Ok(DataType::Char(_)) => "bpchar".into(),
        Ok(DataType::Numeric(_)) => "numeric".into(),
        Ok(DataType::Timestamp) => "timestamp".into(),
        Ok(DataType::Timestamptz) => "timestamptz".into(),
        Ok(DataType::Time) => "time".into(),
        Ok(other) => other.name(),
        // A type by name (a domain): named after it, as PostgreSQL does.
        Err(_) => match t {
            ast::DataType::Custom(name, _) => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(ident)
                .unwrap_or_else(|| "?column?".into()),
            _ => "?column?".into(),
        },
    }
}

/// A select-list item after expansion of `*`.
struct Item<'q> {
    name: String,
    /// The AST (None for columns expanded from `*`, which carry `star`).
    ast: Option<&'q ast::Expr>,
    star: Option<usize>,
}

impl Binder<'_> {
    /// Binds a query; the plan's columns are the query's output columns.
    pub fn bind_query(&self, q: &ast::Query) -> Result<Plan> {
        match &q.with {
            Some(with) => self.with_ctes(with, || self.bind_query_body(q)),
            None => self.bind_query_body(q),
        }
    }

    fn bind_query_body(&self, q: &ast::Query) -> Result<Plan> {
        if q.fetch.is_some() {
            return Err(Error::unsupported("FETCH is not supported yet"));
        }
        let order_by: &[ast::OrderByExpr] = match &q.order_by {
            None => &[],
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(v) => v,
                ast::OrderByKind::All(_) => {
                    return Err(Error::syntax("syntax error at or near \"ALL\""));
                }
            },
        };
        let plan = match q.body.as_ref() {
            ast::SetExpr::Select(s) => self.bind_select(s, order_by)?,
            other => {
                let plan = self.bind_set_expr(other)?;
                if order_by.is_empty() {
                    plan
                } else {
                    self.sort_output(plan, order_by)?
                }
            }
        };
        self.bind_limit(plan, q.limit_clause.as_ref())
    }

    pub(super) fn bind_set_expr(&self, e: &ast::SetExpr) -> Result<Plan> {
        // Long UNION chains nest (left-deep) as deep as they are long.
        crate::stack::guard(|| self.bind_set_expr_inner(e))
    }

    fn bind_set_expr_inner(&self, e: &ast::SetExpr) -> Result<Plan> {
        match e {
            ast::SetExpr::Select(s) => self.bind_select(s, &[]),
            ast::SetExpr::Query(q) => self.bind_query(q),
            ast::SetExpr::Values(v) => self.bind_values(v, None),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => self.bind_set_operation(left, op, set_quantifier, right),
            other => Err(Error::unsupported(format!(
                "query form not supported: {other}"
            ))),
        }
    }

    /// ORDER BY over a plan's output columns only (VALUES, nested queries).
    fn sort_output(&self, plan: Plan, order_by: &[ast::OrderByExpr]) -> Result<Plan> {
        let cols = plan.columns();
        let scope = Scope {
            columns: cols
                .iter()
                .map(|c| ScopeColumn {
                    qualifier: None,
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    qualified_only: false,
                })
                .collect(),
            tables: vec![],
        };
        let mut keys = Vec::new();
        for ob in order_by {
            let expr = match ordinal(&ob.expr, cols.len())? {
                Some(i) => Expr::Column(i),
                None => self.bind_expr(&ob.expr, &scope)?.0,
            };
            keys.push(sort_key(expr, &ob.options));
        }
        Ok(Plan::Sort {
            input: Box::new(plan),
            keys,
        })
    }

    pub(crate) fn bind_limit(&self, plan: Plan, lc: Option<&ast::LimitClause>) -> Result<Plan> {
        let Some(lc) = lc else { return Ok(plan) };
        let empty = Scope::default();
        let (limit, offset) = match lc {
            ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            } => {
                if !limit_by.is_empty() {
                    return Err(Error::syntax("LIMIT BY is not PostgreSQL syntax"));
                }
                (limit.as_ref(), offset.as_ref().map(|o| &o.value))
            }
            ast::LimitClause::OffsetCommaLimit { .. } => {
                return Err(Error::unsupported(
                    "LIMIT #,# syntax is not supported; use separate LIMIT and OFFSET clauses",
                ));
            }
        };
        let bind_count = |e: &ast::Expr| -> Result<Option<Expr>> {
            if matches!(e, ast::Expr::Value(v) if v.value == ast::Value::Null) {
                return Ok(None);
            }
            let (x, t) = self.bind_expr(e, &empty)?;
            if !x.is_row_independent() {
                return Err(Error::new(
                    SqlState::INVALID_COLUMN_REFERENCE,
                    "argument of LIMIT must not contain variables",
                ));
            }
            Ok(Some(self.coerce(x, &t, &DataType::Int8)?))
        };
        let limit = match limit {
            Some(e) => bind_count(e)?,
            None => None,
        };
        let offset = match offset {
            Some(e) => bind_count(e)?,
            None => None,
        };
        if limit.is_none() && offset.is_none() {
            return Ok(plan);
        }
        Ok(Plan::Limit {
            input: Box::new(plan),
            limit,
            offset,
        })
    }

    /// VALUES lists; `target` gives the column types for INSERT.
    pub(crate) fn bind_values(&self, v: &ast::Values, target: Option<&[DataType]>) -> Result<Plan> {
        let empty = Scope::default();
        let width = v.rows.first().map(|r| r.len()).unwrap_or(0);
        let mut rows = Vec::with_capacity(v.rows.len());
        let mut types = vec![DataType::Unknown; width];
        for r in &v.rows {
            if r.len() != width {
                return Err(Error::syntax("VALUES lists must all be the same length"));
            }
            let mut row = Vec::with_capacity(width);
            for (i, e) in r.iter().enumerate() {
                let (x, t) = self.bind_expr(e, &empty)?;
                types[i] = unify_types("VALUES", &types[i], &t)?;
                row.push((x, t));
            }
            rows.push(row);
        }
        for (i, t) in types.iter_mut().enumerate() {
            if let Some(tt) = target.and_then(|tt| tt.get(i)) {
                *t = tt.clone();
            } else if *t == DataType::Unknown {
                *t = DataType::Text;
            }
        }
        let rows = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .enumerate()
                    .map(|(i, (x, t))| {
                        if target.is_some() {
                            // Assignment casts happen at write time; only type untyped values.
                            if t == DataType::Unknown {
                                self.coerce(x, &t, &types[i])
                            } else {
                                Ok(x)
                            }
                        } else {
                            self.coerce(x, &t, &types[i])
                        }
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let columns = types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| Column {
                name: format!("column{}", i + 1),
                ty,
            })
            .collect();
        Ok(Plan::Values { rows, columns })
    }

    fn bind_select(&self, s: &ast::Select, order_by: &[ast::OrderByExpr]) -> Result<Plan> {
        self.push_window_scope(&s.named_window);
        let plan = self.bind_select_inner(s, order_by);
        self.pop_window_scope();
        plan
    }

    fn bind_select_inner(&self, s: &ast::Select, order_by: &[ast::OrderByExpr]) -> Result<Plan> {
        if let Some(rewritten) = super::srf::rewrite(s)? {
            return self.bind_select_inner(&rewritten, order_by);
        }
        // A statement's own SELECT INTO is CREATE TABLE AS (the session's).
        if s.into.is_some() {
            return Err(Error::syntax("SELECT ... INTO is not allowed here"));
        }
        // SELECT generate_series(...) as a whole select list.
        if s.from.is_empty() && s.projection.len() == 1 {
            let (e, alias) = match &s.projection[0] {
                ast::SelectItem::UnnamedExpr(e) => (e, None),
                ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(ident(alias))),
                _ => (&ast::Expr::Value(ast::Value::Null.into()), None),
            };
            if let ast::Expr::Function(f) = e
                && f.name.to_string().eq_ignore_ascii_case("generate_series")
                && let ast::FunctionArguments::List(l) = &f.args
            {
                let args: Vec<&ast::Expr> = l
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Some(x),
                        _ => None,
                    })
                    .collect();
                let (args, ty) = self.series_args(&args)?;
                let plan = Plan::Series {
                    args,
                    column: Column {
                        name: alias.unwrap_or_else(|| "generate_series".into()),
                        ty,
                    },
                };
                return if order_by.is_empty() {
                    Ok(plan)
                } else {
                    self.sort_output(plan, order_by)
                };
            }
        }
        let (mut input, scope) = self.bind_from(&s.from)?;
        if let Some(w) = &s.selection {
            let pred = self.bind_predicate(w, &scope, "WHERE").map_err(|e| {
                if is_agg_found(&e) {
                    Error::new(
                        SqlState::GROUPING_ERROR,
                        "aggregate functions are not allowed in WHERE",
                    )
                } else {
                    e
                }
            })?;
            input = Plan::Filter {
                input: Box::new(input),
                predicate: pred,
            };
        }
        // Window functions may appear from here on (output list, ORDER BY).
        self.allow_windows(true);
        // Expand the select list.
        let mut items: Vec<Item> = Vec::new();
        for it in &s.projection {
            match it {
                ast::SelectItem::UnnamedExpr(e) => items.push(Item {
                    name: output_name(e),
                    ast: Some(e),
                    star: None,
                }),
                ast::SelectItem::ExprWithAlias { expr, alias } => items.push(Item {
                    name: ident(alias),
                    ast: Some(expr),
                    star: None,
                }),
                ast::SelectItem::Wildcard(_) => {
                    if scope.columns.is_empty() {
                        return Err(Error::syntax(
                            "SELECT * with no tables specified is not valid",
                        ));
                    }
                    for (i, c) in scope.columns.iter().enumerate() {
                        if !c.qualified_only {
                            items.push(Item {
                                name: c.name.clone(),
                                ast: None,
                                star: Some(i),
                            });
                        }
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let q = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => split_name(n)?.1,
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => {
                            return Err(Error::unsupported(format!("{e}.* is not supported")));
                        }
                    };
                    if !scope.has_qualifier(&q) {
                        return Err(self.missing_table(&q, &scope));
                    }
                    for (i, c) in scope.columns.iter().enumerate() {
                        if c.qualifier.as_deref() == Some(q.as_str()) {
                            items.push(Item {
                                name: c.name.clone(),
                                ast: None,
                                star: Some(i),
                            });
                        }
                    }
                }
                other => {
                    return Err(Error::unsupported(format!(
                        "select item not supported: {other}"
                    )));
                }
            }
        }
        let group_exprs: &[ast::Expr] = match &s.group_by {
            ast::GroupByExpr::Expressions(v, mods) => {
                if !mods.is_empty() {
                    return Err(Error::unsupported("GROUP BY modifiers are not supported"));
                }
                v
            }
            ast::GroupByExpr::All(_) => {
                return Err(Error::syntax("syntax error at or near \"ALL\""));
            }
        };
        let needs_agg = !group_exprs.is_empty()
            || s.having.is_some()
            || items.iter().any(|i| i.ast.is_some_and(contains_aggregate))
            || order_by.iter().any(|o| contains_aggregate(&o.expr));
        let distinct = match &s.distinct {
            None | Some(ast::Distinct::All) => DistinctSpec::None,
            Some(ast::Distinct::Distinct) => DistinctSpec::All,
            Some(ast::Distinct::On(exprs)) => DistinctSpec::On(exprs),
        };
        if needs_agg {
            self.bind_aggregate_select(s, input, &scope, items, group_exprs, order_by, distinct)
        } else {
            let mut exprs = Vec::new();
            let mut columns = Vec::new();
            for it in &items {
                let (x, ty) = match (it.ast, it.star) {
                    (Some(e), _) => self.bind_expr(e, &scope)?,
                    (None, Some(i)) => (Expr::Column(i), scope.columns[i].ty.clone()),
                    _ => unreachable!("an item has an expression or a star"),
                };
                let ty = if ty == DataType::Unknown {
                    DataType::Text
                } else {
                    ty
                };
                exprs.push(x);
                columns.push(Column {
                    name: it.name.clone(),
                    ty,
                });
            }
            let bind_key = |e: &ast::Expr| self.bind_expr(e, &scope).map(|(x, _)| x);
            self.finish_select(input, exprs, columns, &items, order_by, distinct, &bind_key)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bind_aggregate_select(
        &self,
        s: &ast::Select,
        input: Plan,
        scope: &Scope,
        items: Vec<Item>,
        group_exprs: &[ast::Expr],
        order_by: &[ast::OrderByExpr],
        distinct: DistinctSpec,
    ) -> Result<Plan> {
        let mut groups = Vec::new();
        let mut group_cols = Vec::new();
        for g in group_exprs {
            // GROUP BY accepts output ordinals and output column names.
            let target: &ast::Expr = match ordinal(g, items.len())? {
                Some(i) => match items[i].ast {
                    Some(e) => e,
                    None => {
                        let si = items[i].star.expect("star item");
                        groups.push(Expr::Column(si));
                        group_cols.push(Column {
                            name: items[i].name.clone(),
                            ty: scope.columns[si].ty.clone(),
                        });
                        continue;
                    }
                },
                None => match g {
                    ast::Expr::Identifier(id) if scope.resolve(None, &ident(id))?.is_none() => {
                        items
                            .iter()
                            .find(|it| it.name == ident(id))
                            .and_then(|it| it.ast)
                            .unwrap_or(g)
                    }
                    _ => g,
                },
            };
            if contains_aggregate(target) {
                return Err(Error::new(
                    SqlState::GROUPING_ERROR,
                    "aggregate functions are not allowed in GROUP BY",
                ));
            }
            let (x, ty) = self.bind_expr(target, scope)?;
            group_cols.push(Column {
                name: output_name(target),
                ty,
            });
            groups.push(x);
        }
        let ctx = AggCtx {
            input: scope,
            groups: groups.clone(),
            aggs: RefCell::new(Vec::new()),
        };
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        for it in &items {
            let (x, ty) = match (it.ast, it.star) {
                (Some(e), _) => self.bind_agg_expr(e, &ctx)?,
                (None, Some(i)) => match groups.iter().position(|g| *g == Expr::Column(i)) {
                    Some(g) => (Expr::Column(g), scope.columns[i].ty.clone()),
                    None => {
                        let c = &scope.columns[i];
                        return Err(Error::new(
                            SqlState::GROUPING_ERROR,
                            format!(
                                "column \"{}.{}\" must appear in the GROUP BY clause or be used in an aggregate function",
                                c.qualifier.clone().unwrap_or_default(),
                                c.name
                            ),
                        ));
                    }
                },
                _ => unreachable!("an item has an expression or a star"),
            };
            exprs.push(x);
            columns.push(Column {
                name: it.name.clone(),
                ty: if ty == DataType::Unknown {
                    DataType::Text
                } else {
                    ty
                },
            });
        }
        let having = match &s.having {
            Some(h) => {
                let (x, t) = self.bind_agg_expr(h, &ctx)?;
                Some(self.expect_bool(x, t, "HAVING")?)
            }
            None => None,
        };
        // ORDER BY keys are bound now so that their aggregates join the list.
        let mut order_keys = Vec::new();
        for ob in order_by {
            let k = match ordinal(&ob.expr, items.len())? {
                Some(i) => OrderKey::Output(i),
                None => match output_alias(&ob.expr, &items, scope)? {
                    Some(i) => OrderKey::Output(i),
                    None => OrderKey::Expr(self.bind_agg_expr(&ob.expr, &ctx)?.0),
                },
            };
            order_keys.push((k, &ob.options));
        }
        let distinct = self.bind_distinct(distinct, &items, &|e| {
            self.bind_agg_expr(e, &ctx).map(|(x, _)| x)
        })?;
        let aggs = ctx.aggs.into_inner();
        let mut agg_cols = group_cols;
        for (i, a) in aggs.iter().enumerate() {
            agg_cols.push(Column {
                name: format!("agg{i}"),
                ty: a.ty.clone(),
            });
        }
        let mut plan = Plan::Aggregate {
            input: Box::new(input),
            group_by: groups,
            aggs,
            columns: agg_cols,
        };
        if let Some(h) = having {
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: h,
            };
        }
        let (plan, exprs, order_keys, distinct) =
            self.with_windows(plan, exprs, order_keys, distinct)?;
        self.project_sort(plan, exprs, columns, order_keys, distinct)
    }

    /// Puts the SELECT's window calls (if any) between `input` and the
    /// projection, rewriting the expressions that read their results.
    #[allow(clippy::type_complexity)]
    fn with_windows<'o>(
        &self,
        input: Plan,
        mut exprs: Vec<Expr>,
        mut keys: Vec<(OrderKey, &'o ast::OrderByOptions)>,
        mut distinct: BoundDistinct,
    ) -> Result<(
        Plan,
        Vec<Expr>,
        Vec<(OrderKey, &'o ast::OrderByOptions)>,
        BoundDistinct,
    )> {
        let mut refs: Vec<&mut Expr> = exprs.iter_mut().collect();
        for (k, _) in keys.iter_mut() {
            if let OrderKey::Expr(x) = k {
                refs.push(x);
            }
        }
        if let BoundDistinct::On(ks) = &mut distinct {
            for k in ks.iter_mut() {
                if let OrderKey::Expr(x) = k {
                    refs.push(x);
                }
            }
        }
        let plan = self.apply_windows(input, &mut refs)?;
        Ok((plan, exprs, keys, distinct))
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_select(
        &self,
        input: Plan,
        exprs: Vec<Expr>,
        columns: Vec<Column>,
        items: &[Item],
        order_by: &[ast::OrderByExpr],
        distinct: DistinctSpec,
        bind_key: &dyn Fn(&ast::Expr) -> Result<Expr>,
    ) -> Result<Plan> {
        let distinct = self.bind_distinct(distinct, items, bind_key)?;
        let mut keys = Vec::new();
        for ob in order_by {
            let k = match ordinal(&ob.expr, items.len())? {
                Some(i) => OrderKey::Output(i),
                None => match output_alias_simple(&ob.expr, items) {
                    Some(i) => OrderKey::Output(i),
                    None => OrderKey::Expr(bind_key(&ob.expr)?),
                },
            };
            keys.push((k, &ob.options));
        }
        let (input, exprs, keys, distinct) = self.with_windows(input, exprs, keys, distinct)?;
        self.project_sort(input, exprs, columns, keys, distinct)
    }

    /// Binds DISTINCT ON keys like ORDER BY keys (ordinals, output names, expressions).
    fn bind_distinct(
        &self,
        spec: DistinctSpec,
        items: &[Item],
        bind_key: &dyn Fn(&ast::Expr) -> Result<Expr>,
    ) -> Result<BoundDistinct> {
        Ok(match spec {
            DistinctSpec::None => BoundDistinct::None,
            DistinctSpec::All => BoundDistinct::All,
            DistinctSpec::On(exprs) => {
                let mut keys = Vec::with_capacity(exprs.len());
                for e in exprs {
                    keys.push(match ordinal(e, items.len())? {
                        Some(i) => OrderKey::Output(i),
                        None => match output_alias_simple(e, items) {
                            Some(i) => OrderKey::Output(i),
                            None => OrderKey::Expr(bind_key(e)?),
                        },
                    });
                }
                BoundDistinct::On(keys)
            }
        })
    }

    /// Project the outputs (plus hidden sort and DISTINCT ON keys), then
    /// DISTINCT, sort (DISTINCT ON after the sort), and drop hidden keys.
    fn project_sort(
        &self,
        input: Plan,
        mut exprs: Vec<Expr>,
        mut columns: Vec<Column>,
        keys: Vec<(OrderKey, &ast::OrderByOptions)>,
        distinct: BoundDistinct,
    ) -> Result<Plan> {
        let visible = exprs.len();
        let hidden = |x: Expr, exprs: &mut Vec<Expr>, columns: &mut Vec<Column>| match exprs
            .iter()
            .position(|e| *e == x)
        {
            Some(i) => i,
            None => {
                exprs.push(x);
                columns.push(Column {
                    name: "?sort?".into(),
                    ty: DataType::Unknown,
                });
                exprs.len() - 1
            }
        };
        let distinct_all = matches!(distinct, BoundDistinct::All);
        let on_keys: Option<Vec<usize>> = match distinct {
            BoundDistinct::On(ks) => Some(
                ks.into_iter()
                    .map(|k| match k {
                        OrderKey::Output(i) => i,
                        OrderKey::Expr(x) => hidden(x, &mut exprs, &mut columns),
                    })
                    .collect(),
            ),
            _ => None,
        };
        let mut sort_keys = Vec::new();
        for (k, opts) in keys {
            let idx = match k {
                OrderKey::Output(i) => i,
                OrderKey::Expr(x) => match exprs.iter().position(|e| *e == x) {
                    Some(i) => i,
                    None => {
                        if distinct_all {
                            return Err(Error::new(
                                SqlState::INVALID_COLUMN_REFERENCE,
                                "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
                            ));
                        }
                        exprs.push(x);
                        columns.push(Column {
                            name: "?sort?".into(),
                            ty: DataType::Unknown,
                        });
                        exprs.len() - 1
                    }
                },
            };
            sort_keys.push(sort_key(Expr::Column(idx), opts));
        }
        if let Some(on) = &on_keys {
            // No other ORDER BY key may come before all DISTINCT ON keys have.
            let mut remaining: Vec<usize> = on.clone();
            for k in &sort_keys {
                if remaining.is_empty() {
                    break;
                }
                match k.expr {
                    Expr::Column(i) if on.contains(&i) => remaining.retain(|r| *r != i),
                    _ => {
                        return Err(Error::new(
                            SqlState::INVALID_COLUMN_REFERENCE,
                            "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
                        ));
                    }
                }
            }
        }
        let mut plan = Plan::Project {
            input: Box::new(input),
            exprs,
            columns,
        };
        if distinct_all {
            plan = Plan::Distinct {
                input: Box::new(plan),
                on: None,
            };
        }
        if !sort_keys.is_empty() {
            plan = Plan::Sort {
                input: Box::new(plan),
                keys: sort_keys,
            };
        }
        if let Some(on) = on_keys {
            plan = Plan::Distinct {
                input: Box::new(plan),
                on: Some(on),
            };
        }
        if plan.columns().len() > visible {
            plan = Plan::Truncate {
                input: Box::new(plan),
                keep: visible,
            };
        }
        Ok(plan)
    }
}

enum OrderKey {
    Output(usize),
    Expr(Expr),
}

/// The DISTINCT clause of a SELECT, before and after binding its keys.
enum DistinctSpec<'q> {
    None,
    All,
    On(&'q [ast::Expr]),
}

enum BoundDistinct {
    None,
    All,
    On(Vec<OrderKey>),
}

fn sort_key(expr: Expr, o: &ast::OrderByOptions) -> SortKey {
    let desc = matches!(o.sort, Some(ast::OrderBySort::Desc));
    SortKey {
        expr,
        desc,
        // PostgreSQL: NULLs sort as larger than every value.
        nulls_first: o.nulls_first.unwrap_or(desc),
    }
}

/// `ORDER BY 2` / `GROUP BY 1`: a positive integer literal is an output ordinal.
fn ordinal(e: &ast::Expr, n: usize) -> Result<Option<usize>> {
    if let ast::Expr::Value(v) = e
        && let ast::Value::Number(s, _) = &v.value
        && let Ok(Value::Int4(i)) = number_literal(s)
    {
        if i < 1 || i as usize > n {
            return Err(Error::new(
                SqlState::INVALID_COLUMN_REFERENCE,
                format!("ORDER BY position {i} is not in select list"),
            ));
        }
        return Ok(Some(i as usize - 1));
    }
    Ok(None)
}

/// A bare name in ORDER BY that names an output column (PostgreSQL prefers outputs).
fn output_alias_simple(e: &ast::Expr, items: &[Item]) -> Option<usize> {
    if let ast::Expr::Identifier(id) = e {
        let n = ident(id);
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, it)| it.name == n && (it.ast.is_some() || it.star.is_some()))
            .map(|(i, _)| i)
            .collect();
        if hits.len() == 1 {
            return Some(hits[0]);
        }
    }
    None
}

fn output_alias(e: &ast::Expr, items: &[Item], _scope: &Scope) -> Result<Option<usize>> {
    Ok(output_alias_simple(e, items))
}
