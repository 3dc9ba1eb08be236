//! PL/pgSQL: a subset of PostgreSQL's procedural language for scalar
//! functions (`CREATE FUNCTION ... LANGUAGE plpgsql`).
//!
//! The subset: one block (`[DECLARE name [CONSTANT] type [NOT NULL]
//! [{:= | = | DEFAULT} expr]; ... | name ALIAS FOR $n;] BEGIN ... END`) of
//! `var := expr`, `IF ... THEN ... ELSIF ... ELSE ... END IF`, `RETURN expr`,
//! `RAISE level 'format', args USING option = expr`, `PERFORM query`,
//! `SELECT ... INTO [STRICT] var, ...` and `NULL`. Everything else (loops,
//! exception handlers, cursors, dynamic SQL, data-changing statements,
//! nested blocks, records) is refused with 0A000 when the function is
//! created.
//!
//! Where things happen:
//!
//! * **CREATE FUNCTION** (`sql::ddl::function`) parses the body with
//!   [`parse::parse`] (the block structure here, every expression and query
//!   checked by sqlparser) and stores the body text in the catalog, as SQL
//!   functions are stored.
//! * **A call is bound** (`sql::binder::plpgsql`) where it appears, like an
//!   SQL function's, but not inlined: the body is compiled into a
//!   [`Function`] whose expressions are the engine's own bound [`Expr`]s
//!   over a row of variables (the parameters, then the declared variables).
//!   Queries (`PERFORM`, `SELECT INTO`) become subqueries of those
//!   expressions, reading the variables as the enclosing row. The call is
//!   `Expr::Function(Func::Plpgsql(function), args)`.
//! * **A call runs** ([`Function::call`]) with the caller's evaluation
//!   context: the same transaction and snapshot, subquery runner and
//!   session (notices go through [`EvalEnv::notice`](crate::sql::expr::EvalEnv::notice),
//!   filtered by `client_min_messages`).
//!
//! A call is an ordinary function to the planner: it is not LEAKPROOF
//! unless declared so, so row-level-security policies (which the binder puts
//! first in a scan's filter) are evaluated before it, and it is volatile
//! unless declared STABLE or IMMUTABLE, so filters calling it are not moved.

pub mod names;
pub mod parse;

use crate::error::{Error, Result, SqlState};
use crate::notice::{Notice, Severity};
use crate::sql::expr::{EvalCtx, Expr};
use crate::types::{DataType, Value};
pub use parse::Level;

/// Checks a function body when the function is created (see
/// [`names::check`]); `resolve` turns a declared type's text into a type.
pub fn compile_check(
    body: &str,
    params: &[(Option<String>, DataType)],
    resolve: &dyn Fn(&str) -> Result<DataType>,
) -> Result<()> {
    names::check(&parse::parse(body)?, params, resolve)
}

/// A compiled PL/pgSQL function, ready to run.
#[derive(Debug)]
pub struct Function {
    /// `name(types)`, for messages.
    pub signature: String,
    pub returns: DataType,
    /// STRICT: NULL for any NULL argument, without running the body.
    pub strict: bool,
    /// VOLATILE (the default): never folded, never moved.
    pub volatile: bool,
    pub immutable: bool,
    /// Parameters first, then declared variables.
    pub vars: Vec<Var>,
    /// Declared variables' initial values, in declaration order.
    pub init: Vec<(usize, Option<Expr>)>,
    pub body: Vec<Stmt>,
}

/// Calls are compared by identity (each binding compiles its own).
impl PartialEq for Function {
    fn eq(&self, other: &Function) -> bool {
        std::ptr::eq(self, other)
    }
}

/// A variable of the function.
#[derive(Clone, Debug)]
pub struct Var {
    pub name: String,
    pub ty: DataType,
    pub not_null: bool,
}

/// A compiled statement; expressions read the variables as the input row.
#[derive(Debug)]
pub enum Stmt {
    /// The expression is already cast to the variable's type.
    Assign(usize, Expr),
    If(Vec<(Expr, Vec<Stmt>)>, Vec<Stmt>),
    /// The expression is already cast to the result type.
    Return(Expr),
    Raise(Box<Raise>),
    /// A subquery expression that runs the whole query.
    Perform(Expr),
    /// `source` is `ARRAY(SELECT row ... LIMIT 2)`: the first element
    /// (a record for several targets) goes into the targets.
    Into {
        source: Expr,
        targets: Vec<usize>,
        strict: bool,
    },
    Null,
}

#[derive(Debug)]
pub struct Raise {
    pub level: Level,
    pub format: Option<String>,
    pub args: Vec<Expr>,
    pub sqlstate: Option<String>,
    pub message: Option<Expr>,
    pub detail: Option<Expr>,
    pub hint: Option<Expr>,
    pub errcode: Option<Expr>,
}

/// How a statement list ended.
enum Flow {
    Next,
    Return(Value),
}

impl Function {
    /// Runs the function on `args` (already of the parameters' types).
    pub fn call(&self, args: Vec<Value>, ctx: &EvalCtx) -> Result<Value> {
        if self.strict && args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        // The body sees only its variables; its queries run in the
        // caller's transaction, with the variables as their enclosing row.
        let inner = EvalCtx {
            params: &[],
            env: ctx.env,
            outer: None,
            subqueries: ctx.subqueries,
        };
        let mut vars = args;
        vars.resize(self.vars.len(), Value::Null);
        for (i, init) in &self.init {
            if let Some(e) = init {
                let v = e.eval(&vars, &inner)?;
                self.check_not_null(*i, &v)?;
                vars[*i] = v;
            }
        }
        match self.run(&self.body, &mut vars, &inner)? {
            Flow::Return(v) => Ok(v),
            Flow::Next => Err(Error::new(
                SqlState::FUNCTION_EXECUTED_NO_RETURN_STATEMENT,
                "control reached end of function without RETURN",
            )),
        }
    }

    fn check_not_null(&self, i: usize, v: &Value) -> Result<()> {
        if v.is_null() && self.vars[i].not_null {
            return Err(Error::new(
                SqlState::NULL_VALUE_NOT_ALLOWED,
                format!(
                    "null value cannot be assigned to variable \"{}\" declared NOT NULL",
                    self.vars[i].name
                ),
            ));
        }
        Ok(())
    }

    fn run(&self, stmts: &[Stmt], vars: &mut Vec<Value>, ctx: &EvalCtx) -> Result<Flow> {
        for s in stmts {
            ctx.env.check_interrupt()?;
            match s {
                Stmt::Assign(i, e) => {
                    let v = e.eval(vars, ctx)?;
                    self.check_not_null(*i, &v)?;
                    vars[*i] = v;
                }
                Stmt::If(arms, otherwise) => {
                    let mut taken = None;
                    for (cond, body) in arms {
                        if cond.eval_pred(vars, ctx)? {
                            taken = Some(body);
                            break;
                        }
                    }
                    let body = taken.unwrap_or(otherwise);
                    if let Flow::Return(v) = self.run(body, vars, ctx)? {
                        return Ok(Flow::Return(v));
                    }
                }
                Stmt::Return(e) => return Ok(Flow::Return(e.eval(vars, ctx)?)),
                Stmt::Raise(r) => raise(r, vars, ctx)?,
                Stmt::Perform(e) => {
                    e.eval(vars, ctx)?;
                }
                Stmt::Into {
                    source,
                    targets,
                    strict,
                } => {
                    let rows = match source.eval(vars, ctx)? {
                        Value::Array(_, rows) => rows,
                        _ => Vec::new(),
                    };
                    if *strict && rows.is_empty() {
                        return Err(Error::new(
                            SqlState::NO_DATA_FOUND,
                            "query returned no rows",
                        ));
                    }
                    if *strict && rows.len() > 1 {
                        return Err(Error::new(
                            SqlState::TOO_MANY_ROWS,
                            "query returned more than one row",
                        )
                        .with_hint("Make sure the query returns a single row, or use LIMIT 1."));
                    }
                    let values: Vec<Value> = match rows.into_iter().next() {
                        None => vec![Value::Null; targets.len()],
                        Some(v) if targets.len() == 1 => vec![v],
                        Some(Value::Record(_, fields)) => fields,
                        Some(_) => vec![Value::Null; targets.len()],
                    };
                    for (k, &i) in targets.iter().enumerate() {
                        let v = values.get(k).cloned().unwrap_or(Value::Null);
                        let v = if v.is_null() || v.data_type() == self.vars[i].ty {
                            v
                        } else {
                            v.cast(&self.vars[i].ty)?
                        };
                        self.check_not_null(i, &v)?;
                        vars[i] = v;
                    }
                }
                Stmt::Null => {}
            }
        }
        Ok(Flow::Next)
    }
}

/// Fills a RAISE format: each `%` takes the next argument's text (NULL
/// shows as `<NULL>`), `%%` is a `%`.
pub fn format_message(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
        } else if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
        } else {
            match args.next() {
                Some(Value::Null) => out.push_str("<NULL>"),
                Some(v) => out.push_str(&v.to_string()),
                None => {}
            }
        }
    }
    out
}

fn raise(r: &Raise, vars: &[Value], ctx: &EvalCtx) -> Result<()> {
    let option = |e: &Option<Expr>| -> Result<Option<String>> {
        match e {
            None => Ok(None),
            Some(e) => match e.eval(vars, ctx)? {
                Value::Null => Err(Error::new(
                    SqlState::NULL_VALUE_NOT_ALLOWED,
                    "RAISE statement option cannot be null",
                )),
                v => Ok(Some(v.to_string())),
            },
        }
    };
    let args = Expr::eval_all(&r.args, vars, ctx)?;
    let errcode = match option(&r.errcode)? {
        Some(code) => {
            parse::check_sqlstate(&code)?;
            Some(code)
        }
        None => r.sqlstate.clone(),
    };
    let message = match (&r.format, option(&r.message)?) {
        (Some(f), _) => format_message(f, &args),
        (None, Some(m)) => m,
        // PostgreSQL then shows the SQLSTATE as the message.
        (None, None) => errcode.clone().unwrap_or_else(|| {
            if r.level == Level::Exception {
                "P0001"
            } else {
                "00000"
            }
            .to_string()
        }),
    };
    let detail = option(&r.detail)?;
    let hint = option(&r.hint)?;
    let severity = match r.level {
        Level::Exception => {
            let code = match &errcode {
                Some(c) => SqlState::new(c),
                None => SqlState::RAISE_EXCEPTION,
            };
            return Err(Error {
                code,
                message,
                detail,
                hint,
            });
        }
        Level::Debug => Severity::Debug,
        Level::Log => Severity::Log,
        Level::Info => Severity::Info,
        Level::Notice => Severity::Notice,
        Level::Warning => Severity::Warning,
    };
    let code = match &errcode {
        Some(c) => SqlState::new(c),
        None if severity == Severity::Warning => SqlState::WARNING,
        None => SqlState::SUCCESSFUL_COMPLETION,
    };
    ctx.env.notice(Notice {
        severity,
        code,
        message,
        detail,
        hint,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_format() {
        assert_eq!(
            format_message(
                "a=% b=% 100%%",
                &[Value::Int4(1), Value::Null, Value::Bool(true)]
            ),
            "a=1 b=<NULL> 100%"
        );
        assert_eq!(
            format_message("f_leak => %", &[Value::Text("x".into())]),
            "f_leak => x"
        );
    }
}
