//! WITH queries (common table expressions), WITH RECURSIVE, and the set
//! operations UNION / INTERSECT / EXCEPT.
//!
//! A CTE is bound where it is referenced (each reference gets its own plan,
//! as PostgreSQL does for a CTE it inlines). A recursive CTE binds its anchor
//! first; references to the CTE inside the recursive term read the previous
//! round's rows ([`Plan::WorkTable`]).
//!
//! A data-modifying WITH query (`WITH d AS (DELETE ... RETURNING *)`) is
//! allowed only in the statement's own WITH. It is bound once, where it is
//! defined, into a [`DmlCte`] the session runs exactly once, referenced or
//! not (before the main statement if it is read, after it if not);
//! references read its RETURNING rows as a work table.

use super::from::item_scope;
use super::{Binder, DmlPlan, Scope, ident};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::plan::{Column, Plan, SetOpKind};
use crate::types::DataType;
use sqlparser::ast;
use std::cell::RefCell;

/// A CTE visible to the query being bound.
pub(crate) struct CteDef {
    pub name: String,
    pub alias: ast::TableAlias,
    pub query: ast::Query,
    pub recursive: bool,
    /// While the recursive term is bound: the work table's id and columns.
    pub working: RefCell<Option<(usize, Vec<Column>)>>,
    /// A data-modifying query: the work table its RETURNING rows go to,
    /// and their columns (None without RETURNING).
    pub dml: Option<(usize, Option<Vec<Column>>)>,
}

/// A data-modifying WITH query of the statement: it runs once, and its
/// RETURNING rows become work table `id`.
#[derive(Clone, Debug)]
pub struct DmlCte {
    pub name: String,
    pub id: usize,
    pub plan: DmlPlan,
    /// Read somewhere in the statement (then it runs before the main
    /// statement; otherwise after it, as PostgreSQL runs a data-modifying
    /// WITH query when it is first read, and the unread ones at the end).
    pub referenced: bool,
}

/// Whether a WITH query is INSERT, UPDATE or DELETE.
fn is_dml_body(q: &ast::Query) -> bool {
    matches!(
        q.body.as_ref(),
        ast::SetExpr::Insert(_) | ast::SetExpr::Update(_) | ast::SetExpr::Delete(_)
    )
}

/// Whether the statement's own WITH holds an INSERT, UPDATE or DELETE.
pub fn has_dml_ctes(q: &ast::Query) -> bool {
    q.with
        .as_ref()
        .is_some_and(|w| w.cte_tables.iter().any(|c| is_dml_body(&c.query)))
}

impl Binder<'_> {
    /// Makes the CTEs of `with` visible while `bind` runs.
    pub(super) fn with_ctes<T>(
        &self,
        with: &ast::With,
        bind: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        // Only the first WITH bound after a top-level entry point is the
        // statement's own.
        let top = self.top_with.replace(false);
        let before = self.ctes.borrow().len();
        let r = self.define_ctes(with, top).and_then(|()| bind());
        self.ctes.borrow_mut().truncate(before);
        r
    }

    /// Makes the CTEs of `with` visible, binding its data-modifying ones
    /// (allowed when `top`) in order.
    fn define_ctes(&self, with: &ast::With, top: bool) -> Result<()> {
        for (i, cte) in with.cte_tables.iter().enumerate() {
            let name = ident(&cte.alias.name);
            if with.cte_tables[..i]
                .iter()
                .any(|c| ident(&c.alias.name) == name)
            {
                return Err(Error::new(
                    SqlState::DUPLICATE_ALIAS,
                    format!("WITH query name \"{name}\" specified more than once"),
                ));
            }
            let dml = if is_dml_body(&cte.query) {
                if !top {
                    return Err(Error::unsupported(
                        "WITH clause containing a data-modifying statement must be at the top level",
                    ));
                }
                let plan = self.bind_dml(&ast::Statement::Query(cte.query.clone()))?;
                let id = self.subquery_id();
                let columns = match plan.returning() {
                    Some(r) => {
                        let work = Plan::WorkTable {
                            id,
                            columns: r.columns.clone(),
                        };
                        // Checks the alias's column count now.
                        rename_plan(work, &cte.alias)?;
                        Some(r.columns.clone())
                    }
                    None => None,
                };
                self.dml_ctes.borrow_mut().push(DmlCte {
                    name: name.clone(),
                    id,
                    plan,
                    referenced: false,
                });
                Some((id, columns))
            } else {
                None
            };
            self.ctes.borrow_mut().push(std::rc::Rc::new(CteDef {
                name,
                alias: cte.alias.clone(),
                query: (*cte.query).clone(),
                recursive: with.recursive,
                working: RefCell::new(None),
                dml,
            }));
        }
        Ok(())
    }

    /// Binds a statement's query: its own WITH may hold INSERT, UPDATE or
    /// DELETE, which [`Binder::take_dml_ctes`] then returns.
    pub fn bind_top_query(&self, q: &ast::Query) -> Result<Plan> {
        self.top_with.set(q.with.is_some());
        let r = self.bind_query(q);
        self.top_with.set(false);
        r
    }

    /// Binds a data-changing statement whose WITH may hold INSERT, UPDATE
    /// or DELETE (see [`Binder::bind_top_query`]).
    pub fn bind_top_dml(&self, stmt: &ast::Statement) -> Result<DmlPlan> {
        self.top_with
            .set(matches!(stmt, ast::Statement::Query(q) if q.with.is_some()));
        let r = self.bind_dml(stmt);
        self.top_with.set(false);
        r
    }

    /// The data-modifying WITH queries bound, in the order they run.
    pub fn take_dml_ctes(&self) -> Vec<DmlCte> {
        std::mem::take(&mut *self.dml_ctes.borrow_mut())
    }

    /// The CTE an unqualified table name refers to, innermost first.
    pub(super) fn cte(&self, name: &ast::ObjectName) -> Option<std::rc::Rc<CteDef>> {
        if name.0.len() != 1 {
            return None;
        }
        let n = ident(name.0[0].as_ident()?);
        self.ctes
            .borrow()
            .iter()
            .rev()
            .find(|c| c.name == n)
            .cloned()
    }

    /// A reference to a CTE in FROM.
    pub(super) fn bind_cte_ref(
        &self,
        cte: &CteDef,
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let plan = if let Some((id, columns)) = &cte.dml {
            if let Some(c) = self.dml_ctes.borrow_mut().iter_mut().find(|c| c.id == *id) {
                c.referenced = true;
            }
            let Some(columns) = columns else {
                return Err(Error::unsupported(format!(
                    "WITH query \"{}\" does not have a RETURNING clause",
                    cte.name
                )));
            };
            let work = Plan::WorkTable {
                id: *id,
                columns: columns.clone(),
            };
            rename_plan(work, &cte.alias)?
        } else if let Some((id, columns)) = cte.working.borrow().clone() {
            Plan::WorkTable { id, columns }
        } else if cte.recursive {
            self.bind_recursive(cte)?
        } else {
            let plan = self.bind_query(&cte.query)?;
            rename_plan(plan, &cte.alias)?
        };
        let q = alias.map(|a| ident(&a.name)).unwrap_or(cte.name.clone());
        let scope = item_scope(&plan, Some(q), &[], alias)?;
        Ok((plan, scope))
    }

    /// `WITH RECURSIVE name AS (anchor UNION [ALL] step)`.
    fn bind_recursive(&self, cte: &CteDef) -> Result<Plan> {
        let (left, right, all) = match cte.query.body.as_ref() {
            ast::SetExpr::SetOperation {
                left,
                op: ast::SetOperator::Union,
                set_quantifier,
                right,
            } if cte.query.order_by.is_none() && cte.query.limit_clause.is_none() => (
                left,
                right,
                matches!(set_quantifier, ast::SetQuantifier::All),
            ),
            // Not self-referencing in the recursive form: an ordinary CTE.
            _ => {
                let plan = self.bind_query(&cte.query)?;
                return rename_plan(plan, &cte.alias);
            }
        };
        let anchor = rename_plan(self.bind_set_expr(left)?, &cte.alias)?;
        let columns = anchor.columns();
        let id = self.subquery_id();
        *cte.working.borrow_mut() = Some((id, columns.clone()));
        let step = self.bind_set_expr(right);
        *cte.working.borrow_mut() = None;
        let step = step?;
        let types: Vec<DataType> = columns.iter().map(|c| c.ty.clone()).collect();
        let step = self.cast_columns(step, &types, "UNION")?;
        Ok(Plan::RecursiveCte {
            id,
            anchor: Box::new(anchor),
            step: Box::new(step),
            union_all: all,
            columns,
        })
    }

    /// UNION / INTERSECT / EXCEPT [ALL | DISTINCT].
    pub(super) fn bind_set_operation(
        &self,
        left: &ast::SetExpr,
        op: &ast::SetOperator,
        quantifier: &ast::SetQuantifier,
        right: &ast::SetExpr,
    ) -> Result<Plan> {
        let (kind, word) = match op {
            ast::SetOperator::Union => (SetOpKind::Union, "UNION"),
            ast::SetOperator::Intersect => (SetOpKind::Intersect, "INTERSECT"),
            ast::SetOperator::Except | ast::SetOperator::Minus => (SetOpKind::Except, "EXCEPT"),
        };
        let all = match quantifier {
            ast::SetQuantifier::All => true,
            ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
            _ => {
                return Err(Error::syntax(format!(
                    "{word} BY NAME is not PostgreSQL syntax"
                )));
            }
        };
        let l = self.bind_set_expr(left)?;
        let r = self.bind_set_expr(right)?;
        let (lc, rc) = (l.columns(), r.columns());
        if lc.len() != rc.len() {
            return Err(Error::new(
                SqlState::SYNTAX_ERROR,
                format!("each {word} query must have the same number of columns"),
            ));
        }
        let mut types = Vec::with_capacity(lc.len());
        for (a, b) in lc.iter().zip(&rc) {
            let t = super::expr::unify_types(word, &a.ty, &b.ty)?;
            types.push(if t == DataType::Unknown {
                DataType::Text
            } else {
                t
            });
        }
        let l = self.cast_columns(l, &types, word)?;
        let r = self.cast_columns(r, &types, word)?;
        Ok(Plan::SetOp {
            op: kind,
            all,
            left: Box::new(l),
            right: Box::new(r),
        })
    }

    /// Projects `plan` so that its columns have `types` (implicit casts).
    fn cast_columns(&self, plan: Plan, types: &[DataType], word: &str) -> Result<Plan> {
        let cols = plan.columns();
        if cols.len() != types.len() {
            return Err(Error::new(
                SqlState::SYNTAX_ERROR,
                format!("each {word} query must have the same number of columns"),
            ));
        }
        if cols.iter().zip(types).all(|(c, t)| c.ty == *t) {
            return Ok(plan);
        }
        let mut exprs = Vec::with_capacity(cols.len());
        let mut columns = Vec::with_capacity(cols.len());
        for (i, (c, t)) in cols.into_iter().zip(types).enumerate() {
            // `t` is the common type the inputs were unified to.
            exprs.push(if c.ty == *t {
                Expr::Column(i)
            } else {
                Expr::Cast(Box::new(Expr::Column(i)), t.clone())
            });
            columns.push(Column {
                name: c.name,
                ty: t.clone(),
            });
        }
        Ok(Plan::Project {
            input: Box::new(plan),
            exprs,
            columns,
        })
    }
}

/// Applies a CTE's column list (`WITH t(a, b) AS ...`) to its plan's columns.
fn rename_plan(plan: Plan, alias: &ast::TableAlias) -> Result<Plan> {
    if alias.columns.is_empty() {
        return Ok(plan);
    }
    let cols = plan.columns();
    if alias.columns.len() > cols.len() {
        return Err(Error::new(
            SqlState::INVALID_COLUMN_REFERENCE,
            format!(
                "WITH query \"{}\" has {} columns available but {} columns specified",
                ident(&alias.name),
                cols.len(),
                alias.columns.len()
            ),
        ));
    }
    let columns: Vec<Column> = cols
        .into_iter()
        .enumerate()
        .map(|(i, c)| Column {
            name: alias
                .columns
                .get(i)
                .map(|a| ident(&a.name))
                .unwrap_or(c.name),
            ty: c.ty,
        })
        .collect();
    let n = columns.len();
    Ok(Plan::Project {
        input: Box::new(plan),
        exprs: (0..n).map(Expr::Column).collect(),
        columns,
    })
}
