//! Calls of PL/pgSQL functions: the body is compiled where the call is
//! bound into a [`plpgsql::Function`] whose expressions are bound over the
//! function's variables (`sql::plpgsql::names`), and the call becomes
//! `Func::Plpgsql` over the bound arguments. Unlike a SQL function's body,
//! the body is not inlined: it runs when the call is evaluated.
//!
//! The body is bound on its own: it sees neither the caller's columns, its
//! enclosing queries nor its WITH names. A SECURITY DEFINER body is bound
//! with its owner's privileges and policies.

use super::Binder;
use crate::catalog::FunctionDef;
use crate::catalog::functions::Volatility;
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::functions::Func;
use crate::sql::plpgsql::names::{self, Layout};
use crate::sql::plpgsql::parse::{self, Decl, Stmt};
use crate::sql::plpgsql::{self, Function};
use crate::sql::{optimizer, parser};
use crate::types::DataType;
use sqlparser::ast;
use std::sync::Arc;

impl Binder<'_> {
    /// The type a PL/pgSQL declaration names (built-in or composite; a
    /// domain is refused, its constraints would not be checked).
    pub fn plpgsql_type(&self, text: &str) -> Result<DataType> {
        let ast::Expr::Cast { data_type, .. } = parser::parse_expr(&format!("NULL::{text}"))?
        else {
            return Err(Error::syntax(format!("invalid type name \"{text}\"")));
        };
        match self.resolve_type(&data_type)? {
            (t, None) => Ok(t),
            (_, Some(d)) => Err(Error::unsupported(format!(
                "PL/pgSQL variables of domain type {} are not supported",
                d.name
            ))),
        }
    }

    /// Binds a call of PL/pgSQL function `def` with bound `args` (already of
    /// the parameter types).
    pub(super) fn bind_plpgsql_call(
        &self,
        def: &FunctionDef,
        args: Vec<Expr>,
    ) -> Result<(Expr, DataType)> {
        if self.fn_stack.borrow().contains(&def.id) {
            return Err(Error::unsupported(format!(
                "recursive PL/pgSQL function {} is not supported",
                def.name
            )));
        }
        self.fn_stack.borrow_mut().push(def.id);
        let compiled = self.isolated(|| {
            if def.security_definer {
                self.checked_as(def.owner, || self.compile_plpgsql(def))
            } else {
                self.compile_plpgsql(def)
            }
        });
        self.fn_stack.borrow_mut().pop();
        Ok((
            Expr::Function(Func::Plpgsql(Arc::new(compiled?)), args),
            def.returns.clone(),
        ))
    }

    /// Runs `f` with none of the caller's scopes, WITH names or window
    /// calls in reach.
    fn isolated<T>(&self, f: impl FnOnce() -> T) -> T {
        let outer = self.outer.take();
        let ctes = self.ctes.take();
        let fn_args = self.fn_args.take();
        let windows = self.windows.take();
        let r = f();
        *self.outer.borrow_mut() = outer;
        *self.ctes.borrow_mut() = ctes;
        *self.fn_args.borrow_mut() = fn_args;
        *self.windows.borrow_mut() = windows;
        r
    }

    fn compile_plpgsql(&self, def: &FunctionDef) -> Result<Function> {
        let block = parse::parse(&def.body)?;
        let layout = Layout::new(&block, &def.params, &|t| self.plpgsql_type(t))?;
        let mut c = Compiler {
            binder: self,
            layout: &layout,
            function: &def.name,
            returns: &def.returns,
        };
        let mut init = Vec::new();
        let mut k = def.params.len();
        for d in &block.decls {
            if let Decl::Var { default, .. } = d {
                let e = match default {
                    Some(text) => Some(c.value(text, k, k)?),
                    None => None,
                };
                init.push((k, e));
                k += 1;
            }
        }
        let body = c.statements(&block.body)?;
        let types: Vec<String> = def.params.iter().map(|(_, t)| t.name()).collect();
        Ok(Function {
            signature: format!("{}({})", def.name, types.join(", ")),
            returns: def.returns.clone(),
            strict: def.strict,
            volatile: def.volatility == Volatility::Volatile,
            immutable: def.volatility == Volatility::Immutable,
            vars: layout
                .slots
                .iter()
                .map(|s| plpgsql::Var {
                    name: s.column.clone(),
                    ty: s.ty.clone(),
                    not_null: s.not_null,
                })
                .collect(),
            init,
            body,
        })
    }
}

/// Binds the SQL of one body.
struct Compiler<'b, 'a> {
    binder: &'b Binder<'a>,
    layout: &'b Layout,
    function: &'b str,
    returns: &'b DataType,
}

impl Compiler<'_, '_> {
    /// Binds expression text over the first `visible` variables.
    fn expr(&self, text: &str, visible: usize) -> Result<(Expr, DataType)> {
        let ast = parser::parse_expr(&self.layout.substitute(text)?)?;
        let scope = super::Scope {
            columns: self.layout.slots[..visible]
                .iter()
                .map(|s| super::ScopeColumn {
                    qualifier: s.param.then(|| self.function.to_string()),
                    name: s.column.clone(),
                    ty: s.ty.clone(),
                    qualified_only: false,
                })
                .collect(),
            tables: Vec::new(),
        };
        let (mut x, ty) = self.binder.bind_expr(&ast, &scope)?;
        // Each call runs the body's queries again (the caller's statement
        // would otherwise cache an uncorrelated one), and the caller's
        // optimizer does not see inside the function.
        x.for_each_subquery_mut(&mut |sq| sq.correlated = true);
        optimizer::optimize_expr_subqueries(&mut x);
        Ok((x, ty))
    }

    /// An expression's value for variable `slot` (cast as an assignment).
    fn value(&self, text: &str, slot: usize, visible: usize) -> Result<Expr> {
        let (x, ty) = self.expr(text, visible)?;
        self.binder
            .assignment_cast(x, &ty, &self.layout.slots[slot].ty)
    }

    fn all(&self) -> usize {
        self.layout.slots.len()
    }

    fn statements(&mut self, stmts: &[Stmt]) -> Result<Vec<plpgsql::Stmt>> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            out.push(match s {
                Stmt::Assign { target, expr } => {
                    let k = self.layout.target(target)?;
                    plpgsql::Stmt::Assign(k, self.value(expr, k, self.all())?)
                }
                Stmt::If { arms, otherwise } => {
                    let mut bound = Vec::with_capacity(arms.len());
                    for (cond, body) in arms {
                        let (x, ty) = self.expr(cond, self.all())?;
                        let x = self.binder.expect_bool(x, ty, "IF")?;
                        bound.push((x, self.statements(body)?));
                    }
                    plpgsql::Stmt::If(bound, self.statements(otherwise)?)
                }
                Stmt::Return(e) => {
                    let (x, ty) = self.expr(e, self.all())?;
                    plpgsql::Stmt::Return(self.binder.assignment_cast(x, &ty, self.returns)?)
                }
                Stmt::Raise(r) => {
                    let args = r
                        .args
                        .iter()
                        .map(|a| self.expr(a, self.all()).map(|(x, _)| x))
                        .collect::<Result<Vec<_>>>()?;
                    let option = |name: &str| -> Result<Option<Expr>> {
                        match r.options.iter().find(|(o, _)| o == name) {
                            Some((_, e)) => Ok(Some(self.expr(e, self.all())?.0)),
                            None => Ok(None),
                        }
                    };
                    plpgsql::Stmt::Raise(Box::new(plpgsql::Raise {
                        level: r.level,
                        format: r.format.clone(),
                        args,
                        sqlstate: r.sqlstate.clone(),
                        message: option("MESSAGE")?,
                        detail: option("DETAIL")?,
                        hint: option("HINT")?,
                        errcode: option("ERRCODE")?,
                    }))
                }
                Stmt::Perform(q) => {
                    names::parse_query(&self.layout.substitute(q)?)?;
                    plpgsql::Stmt::Perform(self.expr(&names::perform_expr(q), self.all())?.0)
                }
                Stmt::SelectInto {
                    query,
                    targets,
                    strict,
                } => {
                    names::parse_query(&self.layout.substitute(query)?)?;
                    let slots = targets
                        .iter()
                        .map(|t| self.layout.target(t))
                        .collect::<Result<Vec<_>>>()?;
                    let (source, _) =
                        self.expr(&names::into_expr(query, slots.len()), self.all())?;
                    plpgsql::Stmt::Into {
                        source,
                        targets: slots,
                        strict: *strict,
                    }
                }
                Stmt::Null => plpgsql::Stmt::Null,
            });
        }
        Ok(out)
    }
}
