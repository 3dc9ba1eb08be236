//! Calls of SQL-language functions (`CREATE FUNCTION ... LANGUAGE sql`),
//! bound by inlining: the body's parameters (`$n`, or their names) are
//! replaced by the call's arguments, and the result is bound where the call
//! is, as `CAST((body) AS returns)` — a scalar subquery for a query body.
//! A SECURITY DEFINER function's body is bound with its owner's
//! privileges and policies.

use super::{AggCtx, Binder, Scope};
use crate::catalog::acl;
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::parser;
use crate::types::DataType;
use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The identifier a parameter of inlined call `call` becomes in its body.
pub(super) const FN_ARG_PREFIX: &str = "__helios_fn_arg_";

/// `body` with each parameter (`$n` or its name) replaced by `args[k]`.
fn substitute(body: &str, names: &[Option<String>], args: &[String]) -> Result<String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, body)
        .tokenize()
        .map_err(|e| Error::syntax(e.to_string()))?;
    let mut out = String::with_capacity(body.len() + 16);
    for (k, t) in tokens.iter().enumerate() {
        let prev_dot = k > 0 && tokens[k - 1] == Token::Period;
        let next_call = tokens
            .get(k + 1)
            .is_some_and(|n| matches!(n, Token::LParen | Token::Period));
        let replacement = match t {
            Token::Placeholder(p) => p
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| args.get(n.wrapping_sub(1))),
            Token::Word(w) if !prev_dot && !next_call => {
                let name = if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                };
                names
                    .iter()
                    .position(|n| n.as_deref() == Some(name.as_str()))
                    .and_then(|i| args.get(i))
            }
            _ => None,
        };
        match replacement {
            Some(a) => {
                out.push('(');
                out.push_str(a);
                out.push(')');
            }
            None => out.push_str(&t.to_string()),
        }
    }
    Ok(out)
}

impl Binder<'_> {
    /// Binds a call of a user function, or None if `f` names none.
    pub(super) fn bind_user_function(
        &self,
        f: &ast::Function,
        parts: &[String],
        scope: &Scope,
        agg: Option<&AggCtx>,
        depth: usize,
    ) -> Result<Option<(Expr, DataType)>> {
        if self.catalog.functions.is_empty() {
            return Ok(None);
        }
        let (schema, name) = match parts {
            [n] => (None, n.as_str()),
            [s, n] => (Some(s.as_str()), n.as_str()),
            _ => return Ok(None),
        };
        let args: Vec<&ast::Expr> = match &f.args {
            ast::FunctionArguments::None => Vec::new(),
            ast::FunctionArguments::List(l) if l.duplicate_treatment.is_none() => {
                let mut v = Vec::new();
                for a in &l.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => v.push(e),
                        _ => return Ok(None),
                    }
                }
                v
            }
            _ => return Ok(None),
        };
        let Some(def) = self
            .catalog
            .functions_named(schema, name, self.search_path)
            .into_iter()
            .find(|d| d.params.len() == args.len())
            .cloned()
        else {
            return Ok(None);
        };
        if f.over.is_some() || f.filter.is_some() {
            return Err(Error::unsupported(format!(
                "{name} is not an aggregate or window function"
            )));
        }
        self.require(acl::Object::Function(&def), acl::EXECUTE)?;
        // f(f(x)) inlines f twice; a body that calls itself never ends.
        if self
            .fn_stack
            .borrow()
            .iter()
            .filter(|&&id| id == def.id)
            .count()
            >= 16
        {
            return Err(Error::unsupported(format!(
                "recursive SQL function {name} is not supported"
            )));
        }
        // Arguments are bound here, in the caller's scope; the body refers
        // to them through marker names (so a column of the body's own FROM
        // can never capture an argument's column).
        let mut bound_args = Vec::with_capacity(args.len());
        let mut arg_types = Vec::with_capacity(args.len());
        for (a, (_, t)) in args.iter().zip(&def.params) {
            let (x, ty) = self.bind(a, scope, agg, depth + 1)?;
            bound_args.push((self.coerce(x, &ty, t)?, t.clone()));
            arg_types.push(ty);
        }
        if def.language == crate::catalog::functions::Language::Plpgsql {
            // Not inlined: the arguments must be of the parameter types.
            let fits = arg_types.iter().zip(&def.params).all(|(a, (_, p))| {
                a == p || *a == DataType::Unknown || DataType::can_coerce_implicitly(a, p)
            });
            if !fits {
                let shown: Vec<String> = arg_types.iter().map(|t| t.name()).collect();
                return Err(Error::new(
                    crate::error::SqlState::UNDEFINED_FUNCTION,
                    format!("function {name}({}) does not exist", shown.join(", ")),
                )
                .with_hint(
                    "No function matches the given name and argument types. You might need to add explicit type casts.",
                ));
            }
            let args = bound_args.into_iter().map(|(x, _)| x).collect();
            return self.bind_plpgsql_call(&def, args).map(Some);
        }
        let call = self.subquery_id();
        let names: Vec<Option<String>> = def.params.iter().map(|(n, _)| n.clone()).collect();
        let markers: Vec<String> = (0..args.len())
            .map(|k| format!("\"{FN_ARG_PREFIX}{call}_{k}\""))
            .collect();
        let body = substitute(&def.body, &names, &markers)?;
        let text = format!("CAST(({body}) AS {})", def.returns.name());
        let ast = parser::parse_expr(&text)?;
        let types = scope.columns.iter().map(|c| c.ty.clone()).collect();
        let outer_len = self.outer.borrow().len();
        self.fn_args.borrow_mut().push(FnArgs {
            call,
            outer_len,
            args: bound_args,
            types,
        });
        self.fn_stack.borrow_mut().push(def.id);
        let bound = if def.security_definer {
            self.checked_as(def.owner, || self.bind(&ast, scope, agg, depth + 1))
        } else {
            self.bind(&ast, scope, agg, depth + 1)
        };
        self.fn_stack.borrow_mut().pop();
        self.fn_args.borrow_mut().pop();
        bound.map(Some)
    }

    /// The bound argument a marker name stands for, as seen from the
    /// current binding depth (inside the body's subqueries, the caller's
    /// columns are outer references).
    pub(super) fn fn_arg(&self, name: &str) -> Result<Option<(Expr, DataType)>> {
        let Some(rest) = name.strip_prefix(FN_ARG_PREFIX) else {
            return Ok(None);
        };
        let Some((call, k)) = rest
            .split_once('_')
            .and_then(|(c, k)| Some((c.parse::<usize>().ok()?, k.parse::<usize>().ok()?)))
        else {
            return Ok(None);
        };
        let frames = self.fn_args.borrow();
        let Some(f) = frames.iter().find(|f| f.call == call) else {
            return Ok(None);
        };
        let Some((x, ty)) = f.args.get(k) else {
            return Ok(None);
        };
        let levels = self.outer.borrow().len() - f.outer_len;
        if levels == 0 {
            return Ok(Some((x.clone(), ty.clone())));
        }
        if x.has_subquery() {
            return Err(Error::unsupported(
                "a subquery as the argument of a SQL function whose body is a query",
            ));
        }
        // Shift the argument out by `levels` enclosing queries, recording
        // the references so the subqueries in between are correlated.
        let outer = self.outer.borrow();
        let mut shifted = x.clone();
        let mut bad = false;
        shift(
            &mut shifted,
            levels,
            &f.types,
            &mut |level_from_caller, index| {
                // level_from_caller 0: the caller's own row (frame outer_len).
                match f.outer_len.checked_sub(level_from_caller) {
                    Some(frame) if frame < outer.len() => {
                        outer[frame].refs.borrow_mut().push(index);
                        for fr in &outer[frame..] {
                            fr.correlated.set(true);
                        }
                    }
                    _ => bad = true,
                }
            },
        );
        if bad {
            return Err(Error::internal("function argument refers past its scope"));
        }
        Ok(Some((shifted, ty.clone())))
    }
}

/// The arguments of one inlined call.
pub(super) struct FnArgs {
    call: usize,
    /// How many enclosing scopes existed at the call.
    outer_len: usize,
    args: Vec<(Expr, DataType)>,
    /// Column types of the caller's scope (for outer references).
    types: Vec<DataType>,
}

/// Turns references to the caller's row (`Column`) and to its enclosing
/// rows (`Outer`) into references `levels` queries further out.
fn shift(e: &mut Expr, levels: usize, types: &[DataType], note: &mut dyn FnMut(usize, usize)) {
    crate::stack::guard(|| {
        match e {
            Expr::Column(i) => {
                note(0, *i);
                let ty = types.get(*i).cloned().unwrap_or(DataType::Unknown);
                *e = Expr::Outer {
                    level: levels,
                    index: *i,
                    ty,
                };
                return;
            }
            Expr::Outer { level, index, .. } => {
                note(*level, *index);
                *level += levels;
                return;
            }
            _ => {}
        }
        for c in e.children_mut() {
            shift(c, levels, types, note);
        }
    })
}
