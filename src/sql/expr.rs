//! Bound scalar expressions and their evaluation.
//!
//! The binder turns sqlparser's AST into [`Expr`]: names are resolved to
//! column positions of the input row, functions to [`Func`], types are
//! checked. Evaluation is a plain recursive walk over one row, with SQL's
//! three-valued logic for AND, OR and NOT.

use super::functions::Func;
use super::plan::Plan;
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::types::{BinaryOp, DataType, UnaryOp, Value};
use chrono::{DateTime, Utc};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Session services an expression may call (sequences, settings, clock,
/// notices, connection facts).
pub trait EvalEnv {
    fn nextval(&self, seq: u32) -> Result<i64>;
    fn currval(&self, seq: u32) -> Result<i64>;
    fn setval(&self, seq: u32, value: i64, is_called: bool) -> Result<i64>;
    /// Resolves a sequence name at run time (for non-literal `nextval` arguments).
    fn sequence_by_name(&self, name: &str) -> Result<u32>;
    /// Start time of the current transaction (`now()`).
    fn transaction_time(&self) -> DateTime<Utc>;
    /// Start time of the current statement (`statement_timestamp()`).
    fn statement_time(&self) -> DateTime<Utc>;
    fn current_setting(&self, name: &str, missing_ok: bool) -> Result<Option<String>>;
    /// The current user's role name (`current_user`, `current_role`, `user`).
    fn current_user(&self) -> Result<String>;
    /// The session user's role name (`session_user`).
    fn session_user(&self) -> Result<String>;
    /// The session's tenant (`current_tenant_id()`), read once per statement.
    fn current_tenant_id(&self) -> Result<Option<uuid::Uuid>> {
        Ok(None)
    }
    /// A statement was refused because it would take `tenant` over its
    /// storage limit (counted in the tenant's quota figures).
    fn storage_rejected(&self, _tenant: uuid::Uuid) {}
    /// Whether tenants' storage limits are enforced (usage is counted
    /// either way).
    fn quotas_enforced(&self) -> bool {
        true
    }
    /// Fails with 57014 once the statement has run past `statement_timeout`
    /// (long-running operators call this every so many rows).
    fn check_interrupt(&self) -> Result<()> {
        Ok(())
    }
    /// `set_config(name, value, is_local)`: checks the value now and sets it
    /// when the statement succeeds (`current_setting` sees it at once);
    /// `None` resets. Returns the new value as `current_setting` shows it.
    fn set_config(&self, name: &str, value: Option<&str>, is_local: bool) -> Result<String>;
    /// Raises a notice or warning; the session drops it if `client_min_messages` filters it out.
    fn notice(&self, notice: Notice);
    /// The session's process id (`pg_backend_pid()`, the wire protocol's BackendKeyData).
    fn backend_pid(&self) -> i32;
    /// The server address a wire session came in on (`None` embedded).
    fn server_addr(&self) -> Option<SocketAddr>;
    /// The client's address of a wire session (`None` embedded).
    fn client_addr(&self) -> Option<SocketAddr>;
    /// The rows of a system relation that depends on the session rather
    /// than only on the catalog (`pg_settings`; `pg_authid`, which only
    /// superusers may read), when the plan runs; `args` are a table
    /// function's arguments (`helios.changes(...)`), read through `txn`.
    fn session_relation(
        &self,
        name: &str,
        args: &[Value],
        txn: &crate::txn::Transaction,
    ) -> Result<Vec<Vec<Value>>>;
    /// The key of the row of `table` that the session's cursor `cursor` is
    /// on (`WHERE CURRENT OF`): 34000 if there is no such cursor, 24000 if
    /// it is not a simply updatable scan of `table` or not on a row.
    fn current_of(&self, cursor: &str, table: &crate::catalog::TableDef) -> Result<Vec<u8>>;
}

/// A bound expression over an input row.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// Column of the input row, by position.
    Column(usize),
    /// Query parameter `$n` (0-based) with the type inferred for it.
    Param(usize, DataType),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Unary(UnaryOp, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    IsNull(Box<Expr>),
    /// `IS [NOT] TRUE/FALSE`: (expr, value tested).
    IsBool(Box<Expr>, bool),
    /// `a IS NOT DISTINCT FROM b` (null-safe equality).
    NotDistinct(Box<Expr>, Box<Expr>),
    Cast(Box<Expr>, DataType),
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<Box<Expr>>,
        case_insensitive: bool,
    },
    InList(Box<Expr>, Vec<Expr>),
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Function(Func, Vec<Expr>),
    Array(Vec<Expr>, DataType),
    /// A column of an enclosing query's current row (in a correlated
    /// subquery): `level` 1 is the immediately enclosing query.
    Outer {
        level: usize,
        index: usize,
        ty: DataType,
    },
    /// `lhs op ANY (array)` / `lhs op ALL (array)`.
    Quantified {
        op: BinaryOp,
        all: bool,
        lhs: Box<Expr>,
        array: Box<Expr>,
    },
    /// A subquery; `lhs` is the left operand of IN / ANY / ALL.
    Subquery {
        sq: Arc<Subquery>,
        lhs: Option<Box<Expr>>,
    },
}

/// What a subquery expression computes from the subquery's rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SubqueryKind {
    /// `(SELECT ...)`: the single value of at most one row (NULL for none).
    Scalar,
    /// `EXISTS (SELECT ...)`.
    Exists,
    /// `ARRAY(SELECT ...)`.
    Array,
    /// `lhs IN (SELECT ...)` (NOT IN is `NOT (lhs IN ...)`).
    In,
    /// `lhs op ANY (SELECT ...)`.
    Any(BinaryOp),
    /// `lhs op ALL (SELECT ...)`.
    All(BinaryOp),
}

/// A bound subquery. Its plan reads enclosing rows through [`Expr::Outer`].
#[derive(Clone, Debug)]
pub struct Subquery {
    pub plan: Plan,
    pub kind: SubqueryKind,
    /// Reads a column of some enclosing query, so it is re-run per row;
    /// otherwise its result is computed once per statement.
    pub correlated: bool,
    /// Columns of the immediately enclosing row that the subquery reads.
    pub outer_refs: Vec<usize>,
    /// Identity within the statement (the key of the result cache).
    pub id: usize,
}

impl PartialEq for Subquery {
    fn eq(&self, other: &Subquery) -> bool {
        self.id == other.id
    }
}

/// The current row of each enclosing query, innermost first.
pub struct OuterRow<'a> {
    pub row: &'a [Value],
    pub parent: Option<&'a OuterRow<'a>>,
}

impl OuterRow<'_> {
    fn column(&self, level: usize, index: usize) -> Result<Value> {
        let mut at = self;
        for _ in 1..level {
            at = at
                .parent
                .ok_or_else(|| Error::internal("outer reference beyond the outermost query"))?;
        }
        at.row
            .get(index)
            .cloned()
            .ok_or_else(|| Error::internal(format!("outer column {index} out of range")))
    }
}

/// Runs subqueries for expression evaluation (implemented by the executor).
pub trait SubqueryEval {
    fn eval_subquery(
        &self,
        sq: &Subquery,
        lhs: Option<Value>,
        row: &[Value],
        ctx: &EvalCtx,
    ) -> Result<Value>;
}

pub struct EvalCtx<'a> {
    pub params: &'a [Value],
    pub env: &'a dyn EvalEnv,
    /// Rows of the enclosing queries, for correlated subqueries.
    pub outer: Option<&'a OuterRow<'a>>,
    /// The subquery runner; None where no subquery can occur (DDL defaults).
    pub subqueries: Option<&'a dyn SubqueryEval>,
}

impl<'a> EvalCtx<'a> {
    /// A context without subqueries or enclosing rows.
    pub fn new(params: &'a [Value], env: &'a dyn EvalEnv) -> EvalCtx<'a> {
        EvalCtx {
            params,
            env,
            outer: None,
            subqueries: None,
        }
    }
}

fn truth(v: &Value) -> Result<Option<bool>> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        other => Err(Error::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "argument of boolean expression must be type boolean, not type {}",
                other.data_type().name()
            ),
        )),
    }
}

impl Expr {
    pub fn lit(v: Value) -> Expr {
        Expr::Literal(v)
    }

    /// Evaluates the expression over `row`.
    pub fn eval(&self, row: &[Value], ctx: &EvalCtx) -> Result<Value> {
        match self {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Column(i) => row
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::internal(format!("column {i} out of range"))),
            _ => crate::stack::guard(|| self.eval_inner(row, ctx)),
        }
    }

    /// Evaluates sort keys over `row`.
    pub fn eval_all_keys(
        keys: &[super::plan::SortKey],
        row: &[Value],
        ctx: &EvalCtx,
    ) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(k.expr.eval(row, ctx)?);
        }
        Ok(out)
    }

    /// Evaluates each expression over `row`, in order.
    pub fn eval_all(exprs: &[Expr], row: &[Value], ctx: &EvalCtx) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(exprs.len());
        for e in exprs {
            out.push(e.eval(row, ctx)?);
        }
        Ok(out)
    }

    fn eval_inner(&self, row: &[Value], ctx: &EvalCtx) -> Result<Value> {
        Ok(match self {
            Expr::Literal(v) => v.clone(),
            Expr::Column(i) => row
                .get(*i)
                .cloned()
                .ok_or_else(|| Error::internal(format!("column {i} out of range")))?,
            Expr::Param(i, ty) => {
                let v = ctx.params.get(*i).cloned().ok_or_else(|| {
                    Error::new(
                        SqlState::UNDEFINED_PARAMETER,
                        format!("there is no parameter ${}", i + 1),
                    )
                })?;
                if *ty == DataType::Unknown || v.is_null() || v.data_type() == *ty {
                    v
                } else {
                    v.cast(ty)?
                }
            }
            Expr::Binary(op, l, r) => {
                let l = l.eval(row, ctx)?;
                let r = r.eval(row, ctx)?;
                op.eval(&l, &r)?
            }
            Expr::Unary(op, e) => op.eval(&e.eval(row, ctx)?)?,
            Expr::And(l, r) => {
                let lv = truth(&l.eval(row, ctx)?)?;
                if lv == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let rv = truth(&r.eval(row, ctx)?)?;
                match (lv, rv) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                }
            }
            Expr::Or(l, r) => {
                let lv = truth(&l.eval(row, ctx)?)?;
                if lv == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let rv = truth(&r.eval(row, ctx)?)?;
                match (lv, rv) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                }
            }
            Expr::Not(e) => match truth(&e.eval(row, ctx)?)? {
                Some(b) => Value::Bool(!b),
                None => Value::Null,
            },
            Expr::IsNull(e) => Value::Bool(e.eval(row, ctx)?.is_null()),
            Expr::IsBool(e, want) => Value::Bool(truth(&e.eval(row, ctx)?)? == Some(*want)),
            Expr::NotDistinct(l, r) => {
                let l = l.eval(row, ctx)?;
                let r = r.eval(row, ctx)?;
                Value::Bool(match (l.is_null(), r.is_null()) {
                    (true, true) => true,
                    (false, false) => l.sql_cmp(&r) == Some(std::cmp::Ordering::Equal),
                    _ => false,
                })
            }
            Expr::Cast(e, ty) => e.eval(row, ctx)?.cast(ty)?,
            Expr::Like {
                expr,
                pattern,
                escape,
                case_insensitive,
            } => {
                let v = expr.eval(row, ctx)?;
                let p = pattern.eval(row, ctx)?;
                let esc = match escape {
                    Some(e) => Some(e.eval(row, ctx)?),
                    None => None,
                };
                if v.is_null() || p.is_null() || esc.as_ref().is_some_and(|e| e.is_null()) {
                    return Ok(Value::Null);
                }
                let esc_char = match esc {
                    None => Some('\\'),
                    Some(e) => {
                        let s = e.to_string();
                        let mut chars = s.chars();
                        match (chars.next(), chars.next()) {
                            (None, _) => None,
                            (Some(c), None) => Some(c),
                            _ => {
                                return Err(Error::new(
                                    SqlState::INVALID_ESCAPE_SEQUENCE,
                                    "invalid escape string",
                                )
                                .with_hint("Escape string must be empty or one character."));
                            }
                        }
                    }
                };
                Value::Bool(like(
                    &v.to_string(),
                    &p.to_string(),
                    esc_char,
                    *case_insensitive,
                )?)
            }
            Expr::InList(e, list) => {
                let v = e.eval(row, ctx)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let x = item.eval(row, ctx)?;
                    match v.sql_cmp(&x) {
                        Some(std::cmp::Ordering::Equal) => return Ok(Value::Bool(true)),
                        None => saw_null = true,
                        _ => {}
                    }
                }
                if saw_null {
                    Value::Null
                } else {
                    Value::Bool(false)
                }
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let op = match operand {
                    Some(o) => Some(o.eval(row, ctx)?),
                    None => None,
                };
                for (cond, result) in whens {
                    let hit = match &op {
                        Some(o) => {
                            let c = cond.eval(row, ctx)?;
                            o.sql_cmp(&c) == Some(std::cmp::Ordering::Equal)
                        }
                        None => truth(&cond.eval(row, ctx)?)? == Some(true),
                    };
                    if hit {
                        return result.eval(row, ctx);
                    }
                }
                match otherwise {
                    Some(e) => e.eval(row, ctx)?,
                    None => Value::Null,
                }
            }
            Expr::Function(f, args) => f.eval(args, row, ctx)?,
            Expr::Quantified {
                op,
                all,
                lhs,
                array,
            } => {
                let l = lhs.eval(row, ctx)?;
                match array.eval(row, ctx)? {
                    Value::Null => Value::Null,
                    Value::Array(_, items) => {
                        let has_null = items.iter().any(Value::is_null);
                        let items: Vec<Value> =
                            items.into_iter().filter(|v| !v.is_null()).collect();
                        quantified(&l, *op, &items, has_null, !*all)?
                    }
                    other => {
                        return Err(Error::new(
                            SqlState::DATATYPE_MISMATCH,
                            format!(
                                "op ANY/ALL (array) requires array on right side, not {}",
                                other.data_type().name()
                            ),
                        ));
                    }
                }
            }
            Expr::Outer { level, index, .. } => ctx
                .outer
                .ok_or_else(|| Error::internal("outer reference outside a subquery"))?
                .column(*level, *index)?,
            Expr::Subquery { sq, lhs } => {
                let lhs = match lhs {
                    Some(l) => Some(l.eval(row, ctx)?),
                    None => None,
                };
                ctx.subqueries
                    .ok_or_else(|| Error::unsupported("subqueries are not allowed here"))?
                    .eval_subquery(sq, lhs, row, ctx)?
            }
            Expr::Array(items, ty) => {
                let elem = match ty {
                    DataType::Array(e) => (**e).clone(),
                    other => other.clone(),
                };
                let mut vals = Vec::with_capacity(items.len());
                for i in items {
                    let v = i.eval(row, ctx)?;
                    vals.push(if v.is_null() || elem == DataType::Unknown {
                        v
                    } else {
                        v.cast(&elem)?
                    });
                }
                Value::Array(elem, vals)
            }
        })
    }

    /// Evaluates a predicate: true only for SQL TRUE (NULL counts as false).
    pub fn eval_pred(&self, row: &[Value], ctx: &EvalCtx) -> Result<bool> {
        Ok(self.eval_truth(row, ctx)? == Some(true))
    }

    /// The truth value of a boolean expression (`None` for NULL), as
    /// `truth(eval(..))` gives it. Comparisons of columns, literals,
    /// parameters and `current_tenant_id()`, `IS TRUE` / `IS FALSE` and ANDs
    /// of them are evaluated without copying values.
    fn eval_truth(&self, row: &[Value], ctx: &EvalCtx) -> Result<Option<bool>> {
        match self {
            Expr::Binary(op, l, r) => {
                if let Some(a) = l.operand(row, ctx)?
                    && let Some(b) = r.operand(row, ctx)?
                    && let Some(t) = op.compare(&a, &b)
                {
                    return Ok(t);
                }
            }
            // `x IS TRUE` (how the binder wraps row-level security
            // predicates) and `x IS FALSE` are never NULL.
            Expr::IsBool(inner, want) => {
                let t = crate::stack::guard(|| inner.eval_truth(row, ctx))?;
                return Ok(Some(t == Some(*want)));
            }
            Expr::And(l, r) => {
                // The same order and short cut as `eval`.
                let lv = crate::stack::guard(|| l.eval_truth(row, ctx))?;
                if lv == Some(false) {
                    return Ok(Some(false));
                }
                let rv = crate::stack::guard(|| r.eval_truth(row, ctx))?;
                return Ok(match (lv, rv) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                });
            }
            _ => {}
        }
        truth(&self.eval(row, ctx)?)
    }

    /// The value of a column, literal or parameter (one that needs no
    /// cast) without copying it, or of `current_tenant_id()` (fixed for the
    /// statement; row-level security compares with it on every row);
    /// `None` for other expressions, or when `eval` would fail.
    #[inline]
    fn operand<'v>(
        &'v self,
        row: &'v [Value],
        ctx: &'v EvalCtx,
    ) -> Result<Option<std::borrow::Cow<'v, Value>>> {
        use std::borrow::Cow;
        Ok(match self {
            Expr::Column(i) => row.get(*i).map(Cow::Borrowed),
            Expr::Literal(v) => Some(Cow::Borrowed(v)),
            Expr::Param(i, ty) => ctx
                .params
                .get(*i)
                .filter(|v| *ty == DataType::Unknown || v.is_null() || v.data_type() == *ty)
                .map(Cow::Borrowed),
            Expr::Function(Func::CurrentTenantId, _) => {
                Some(Cow::Owned(match ctx.env.current_tenant_id()? {
                    Some(id) => Value::Uuid(id),
                    None => Value::Null,
                }))
            }
            _ => None,
        })
    }

    /// True if the expression reads no column of the row (literals, params,
    /// functions of them): it has one value per statement execution.
    pub fn is_row_independent(&self) -> bool {
        let mut independent = true;
        self.walk(&mut |e| match e {
            Expr::Column(_) => independent = false,
            Expr::Function(f, _) if f.is_volatile() => independent = false,
            Expr::Subquery { sq, .. } if !sq.outer_refs.is_empty() => independent = false,
            _ => {}
        });
        independent
    }

    /// True if a subquery inside reads the current row (such an expression
    /// must be evaluated over exactly the row shape it was bound for).
    pub fn has_correlated_subquery(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if let Expr::Subquery { sq, .. } = e
                && !sq.outer_refs.is_empty()
            {
                found = true;
            }
        });
        found
    }

    /// True if the expression contains a subquery.
    pub fn has_subquery(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if let Expr::Subquery { .. } = e {
                found = true;
            }
        });
        found
    }

    /// True if the expression calls no volatile function.
    /// Whether evaluating the expression can neither fail nor show what it
    /// reads other than through its result (PostgreSQL's LEAKPROOF):
    /// columns, constants, parameters, comparisons, AND / OR / NOT, IS [NOT]
    /// NULL / TRUE / FALSE, IS [NOT] DISTINCT FROM and IN lists of those.
    /// Functions, casts and arithmetic (which can fail on a value) are not.
    pub fn is_leakproof(&self) -> bool {
        use crate::types::BinaryOp as B;
        match self {
            Expr::Literal(_) | Expr::Column(_) | Expr::Param(..) => true,
            Expr::Binary(B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq, l, r)
            | Expr::And(l, r)
            | Expr::Or(l, r)
            | Expr::NotDistinct(l, r) => l.is_leakproof() && r.is_leakproof(),
            Expr::Not(x) | Expr::IsNull(x) | Expr::IsBool(x, _) => x.is_leakproof(),
            Expr::InList(x, list) => x.is_leakproof() && list.iter().all(Expr::is_leakproof),
            _ => false,
        }
    }

    pub fn is_deterministic(&self) -> bool {
        let mut det = true;
        self.walk(&mut |e| {
            if let Expr::Function(f, _) = e
                && f.is_volatile()
            {
                det = false;
            }
        });
        det
    }

    /// Visits this expression and every sub-expression.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        crate::stack::guard(|| self.walk_inner(f))
    }

    fn walk_inner(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Literal(_) | Expr::Column(_) | Expr::Param(..) | Expr::Outer { .. } => {}
            Expr::Subquery { sq, lhs } => {
                if let Some(l) = lhs {
                    l.walk(f);
                }
                // The row columns a correlated subquery reads count as read here.
                for i in &sq.outer_refs {
                    f(&Expr::Column(*i));
                }
            }
            Expr::Binary(_, l, r) | Expr::And(l, r) | Expr::Or(l, r) | Expr::NotDistinct(l, r) => {
                l.walk(f);
                r.walk(f);
            }
            Expr::Unary(_, e)
            | Expr::Not(e)
            | Expr::IsNull(e)
            | Expr::IsBool(e, _)
            | Expr::Cast(e, _) => e.walk(f),
            Expr::Like {
                expr,
                pattern,
                escape,
                ..
            } => {
                expr.walk(f);
                pattern.walk(f);
                if let Some(e) = escape {
                    e.walk(f);
                }
            }
            Expr::InList(e, list) => {
                e.walk(f);
                list.iter().for_each(|x| x.walk(f));
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                if let Some(o) = operand {
                    o.walk(f);
                }
                for (c, r) in whens {
                    c.walk(f);
                    r.walk(f);
                }
                if let Some(o) = otherwise {
                    o.walk(f);
                }
            }
            Expr::Function(_, args) | Expr::Array(args, _) => args.iter().for_each(|x| x.walk(f)),
            Expr::Quantified { lhs, array, .. } => {
                lhs.walk(f);
                array.walk(f);
            }
        }
    }

    /// The direct sub-expressions, for in-place rewrites.
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Literal(_) | Expr::Column(_) | Expr::Param(..) | Expr::Outer { .. } => vec![],
            Expr::Binary(_, l, r) | Expr::And(l, r) | Expr::Or(l, r) | Expr::NotDistinct(l, r) => {
                vec![l.as_mut(), r.as_mut()]
            }
            Expr::Unary(_, e)
            | Expr::Not(e)
            | Expr::IsNull(e)
            | Expr::IsBool(e, _)
            | Expr::Cast(e, _) => vec![e.as_mut()],
            Expr::Like {
                expr,
                pattern,
                escape,
                ..
            } => {
                let mut v = vec![expr.as_mut(), pattern.as_mut()];
                v.extend(escape.as_deref_mut());
                v
            }
            Expr::InList(e, list) => {
                let mut v = vec![e.as_mut()];
                v.extend(list.iter_mut());
                v
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let mut v: Vec<&mut Expr> = operand.as_deref_mut().into_iter().collect();
                for (c, r) in whens {
                    v.push(c);
                    v.push(r);
                }
                v.extend(otherwise.as_deref_mut());
                v
            }
            Expr::Function(_, args) | Expr::Array(args, _) => args.iter_mut().collect(),
            Expr::Quantified { lhs, array, .. } => vec![lhs.as_mut(), array.as_mut()],
            Expr::Subquery { lhs, .. } => lhs.as_deref_mut().into_iter().collect(),
        }
    }

    /// Applies `f` to every subquery in this expression (outermost first).
    pub fn for_each_subquery_mut(&mut self, f: &mut dyn FnMut(&mut Subquery)) {
        crate::stack::guard(|| {
            if let Expr::Subquery { sq, .. } = self {
                f(Arc::make_mut(sq));
            }
            for c in self.children_mut() {
                c.for_each_subquery_mut(f);
            }
        })
    }

    /// Rewrites column references through `map` (old position -> new expression).
    pub fn map_columns(&self, map: &dyn Fn(usize) -> Expr) -> Expr {
        crate::stack::guard(|| self.map_columns_inner(map))
    }

    fn map_columns_inner(&self, map: &dyn Fn(usize) -> Expr) -> Expr {
        let m = |e: &Expr| Box::new(e.map_columns(map));
        match self {
            Expr::Column(i) => map(*i),
            Expr::Literal(_) | Expr::Param(..) | Expr::Outer { .. } => self.clone(),
            // Callers never remap a correlated subquery (see has_correlated_subquery).
            Expr::Subquery { sq, lhs } => Expr::Subquery {
                sq: sq.clone(),
                lhs: lhs.as_ref().map(|l| m(l)),
            },
            Expr::Binary(op, l, r) => Expr::Binary(*op, m(l), m(r)),
            Expr::Unary(op, e) => Expr::Unary(*op, m(e)),
            Expr::And(l, r) => Expr::And(m(l), m(r)),
            Expr::Or(l, r) => Expr::Or(m(l), m(r)),
            Expr::NotDistinct(l, r) => Expr::NotDistinct(m(l), m(r)),
            Expr::Not(e) => Expr::Not(m(e)),
            Expr::IsNull(e) => Expr::IsNull(m(e)),
            Expr::IsBool(e, b) => Expr::IsBool(m(e), *b),
            Expr::Cast(e, t) => Expr::Cast(m(e), t.clone()),
            Expr::Like {
                expr,
                pattern,
                escape,
                case_insensitive,
            } => Expr::Like {
                expr: m(expr),
                pattern: m(pattern),
                escape: escape.as_ref().map(|e| m(e)),
                case_insensitive: *case_insensitive,
            },
            Expr::InList(e, l) => {
                Expr::InList(m(e), l.iter().map(|x| x.map_columns(map)).collect())
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => Expr::Case {
                operand: operand.as_ref().map(|o| m(o)),
                whens: whens
                    .iter()
                    .map(|(c, r)| (c.map_columns(map), r.map_columns(map)))
                    .collect(),
                otherwise: otherwise.as_ref().map(|o| m(o)),
            },
            Expr::Function(f, args) => {
                Expr::Function(f.clone(), args.iter().map(|x| x.map_columns(map)).collect())
            }
            Expr::Array(items, t) => Expr::Array(
                items.iter().map(|x| x.map_columns(map)).collect(),
                t.clone(),
            ),
            Expr::Quantified {
                op,
                all,
                lhs,
                array,
            } => Expr::Quantified {
                op: *op,
                all: *all,
                lhs: m(lhs),
                array: m(array),
            },
        }
    }

    /// Splits a conjunction into its AND-ed parts.
    pub fn conjuncts(self) -> Vec<Expr> {
        match self {
            Expr::And(l, r) => {
                let mut v = l.conjuncts();
                v.extend(r.conjuncts());
                v
            }
            other => vec![other],
        }
    }

    /// Joins predicates with AND (None for an empty list).
    pub fn and_all(parts: Vec<Expr>) -> Option<Expr> {
        parts
            .into_iter()
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
    }
}

/// `lhs op ANY (values)` (`any` = true) or `lhs op ALL (values)`; `has_null`
/// says the subquery also returned NULLs (which compare as unknown).
pub fn quantified(
    lhs: &Value,
    op: BinaryOp,
    values: &[Value],
    has_null: bool,
    any: bool,
) -> Result<Value> {
    let mut saw_null = has_null;
    let mut check = |v: &Value| -> Result<Option<bool>> {
        match op.eval(lhs, v)? {
            Value::Bool(b) => Ok(Some(b)),
            Value::Null => {
                saw_null = true;
                Ok(None)
            }
            other => Err(Error::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "op ANY/ALL (array) requires operator to yield boolean, not {}",
                    other.data_type().name()
                ),
            )),
        }
    };
    for v in values {
        match check(v)? {
            Some(true) if any => return Ok(Value::Bool(true)),
            Some(false) if !any => return Ok(Value::Bool(false)),
            _ => {}
        }
    }
    Ok(if saw_null {
        Value::Null
    } else {
        Value::Bool(!any)
    })
}

/// SQL LIKE matching with `%`, `_` and an escape character.
pub fn like(text: &str, pattern: &str, escape: Option<char>, ci: bool) -> Result<bool> {
    #[derive(Debug)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n) => toks.push(Tok::Lit(n)),
                None => {
                    return Err(Error::new(
                        SqlState::INVALID_ESCAPE_SEQUENCE,
                        "LIKE pattern must not end with escape character",
                    ));
                }
            }
        } else if c == '%' {
            toks.push(Tok::Any);
        } else if c == '_' {
            toks.push(Tok::One);
        } else {
            toks.push(Tok::Lit(c));
        }
    }
    let fold = |c: char| -> char {
        if ci {
            c.to_lowercase().next().unwrap_or(c)
        } else {
            c
        }
    };
    let text: Vec<char> = text.chars().map(fold).collect();
    // Iterative matcher with backtracking to the last `%` (linear-ish, no recursion).
    let (mut ti, mut pi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < text.len() {
        match toks.get(pi) {
            Some(Tok::Any) => {
                star = Some(pi);
                mark = ti;
                pi += 1;
            }
            Some(Tok::One) => {
                ti += 1;
                pi += 1;
            }
            Some(Tok::Lit(c)) if fold(*c) == text[ti] => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some(s) => {
                    pi = s + 1;
                    mark += 1;
                    ti = mark;
                }
                None => return Ok(false),
            },
        }
    }
    while let Some(Tok::Any) = toks.get(pi) {
        pi += 1;
    }
    Ok(pi == toks.len())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|i| format!("#{i}")))
    }
}

impl Expr {
    /// SQL-like text of the expression, naming columns with `names` (EXPLAIN).
    pub fn render(&self, names: &dyn Fn(usize) -> String) -> String {
        crate::stack::guard(|| self.render_inner(names))
    }

    fn render_inner(&self, names: &dyn Fn(usize) -> String) -> String {
        let r = |e: &Expr| e.render(names);
        let list = |l: &[Expr]| {
            l.iter()
                .map(|x| x.render(names))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Expr::Literal(v) => match v {
                Value::Null => "NULL".into(),
                Value::Text(s) => format!("'{}'::text", s.replace('\'', "''")),
                Value::Bool(_)
                | Value::Int2(_)
                | Value::Int4(_)
                | Value::Int8(_)
                | Value::Numeric(_) => v.to_string(),
                other => format!("'{}'::{}", other, other.data_type().name()),
            },
            Expr::Column(i) => names(*i),
            Expr::Param(i, _) => format!("${}", i + 1),
            Expr::Binary(op, a, b) => format!("({} {} {})", r(a), op.symbol(), r(b)),
            Expr::Unary(op, e) => match op {
                UnaryOp::Neg => format!("(- {})", r(e)),
                UnaryOp::Plus => format!("(+ {})", r(e)),
                UnaryOp::BitNot => format!("(~ {})", r(e)),
            },
            Expr::And(a, b) => format!("({} AND {})", r(a), r(b)),
            Expr::Or(a, b) => format!("({} OR {})", r(a), r(b)),
            Expr::Not(e) => format!("(NOT {})", r(e)),
            Expr::IsNull(e) => format!("({} IS NULL)", r(e)),
            Expr::IsBool(e, b) => format!("({} IS {})", r(e), if *b { "TRUE" } else { "FALSE" }),
            Expr::NotDistinct(a, b) => format!("({} IS NOT DISTINCT FROM {})", r(a), r(b)),
            Expr::Cast(e, t) => format!("({})::{}", r(e), t.name()),
            Expr::Like {
                expr,
                pattern,
                case_insensitive,
                ..
            } => format!(
                "({} {} {})",
                r(expr),
                if *case_insensitive { "~~*" } else { "~~" },
                r(pattern)
            ),
            Expr::InList(e, l) => format!("({} IN ({}))", r(e), list(l)),
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let mut s = String::from("CASE");
                if let Some(o) = operand {
                    s += &format!(" {}", r(o));
                }
                for (c, v) in whens {
                    s += &format!(" WHEN {} THEN {}", r(c), r(v));
                }
                if let Some(o) = otherwise {
                    s += &format!(" ELSE {}", r(o));
                }
                s + " END"
            }
            Expr::Function(super::functions::Func::Plpgsql(f), args) => {
                let name = f.signature.split('(').next().unwrap_or_default();
                format!("{name}({})", list(args))
            }
            Expr::Function(func, args) => format!("{}({})", func.name(), list(args)),
            Expr::Array(items, _) => format!("ARRAY[{}]", list(items)),
            Expr::Outer { level, index, .. } => format!("outer{level}.#{index}"),
            Expr::Quantified {
                op,
                all,
                lhs,
                array,
            } => format!(
                "({} {} {} ({}))",
                r(lhs),
                op.symbol(),
                if *all { "ALL" } else { "ANY" },
                r(array)
            ),
            Expr::Subquery { sq, lhs } => {
                let what = match sq.kind {
                    SubqueryKind::Scalar => format!("(SubPlan {})", sq.id),
                    SubqueryKind::Exists => format!("(EXISTS SubPlan {})", sq.id),
                    SubqueryKind::Array => format!("(ARRAY SubPlan {})", sq.id),
                    SubqueryKind::In => format!("(ANY (= SubPlan {}))", sq.id),
                    SubqueryKind::Any(op) => format!("(ANY ({} SubPlan {}))", op.symbol(), sq.id),
                    SubqueryKind::All(op) => format!("(ALL ({} SubPlan {}))", op.symbol(), sq.id),
                };
                match lhs {
                    Some(l) => format!("({} {})", r(l), what),
                    None => what,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o", Some('\\'), false).unwrap());
        assert!(like("hello", "h_llo", Some('\\'), false).unwrap());
        assert!(!like("hello", "h_lo", Some('\\'), false).unwrap());
        assert!(like("50%", "50\\%", Some('\\'), false).unwrap());
        assert!(!like("500", "50\\%", Some('\\'), false).unwrap());
        assert!(like("HeLLo", "hello", None, true).unwrap());
        assert!(like("", "%", None, false).unwrap());
        assert!(like("abcabc", "%abc", None, false).unwrap());
        assert!(like("a%b", "a#%b", Some('#'), false).unwrap());
        assert!(like("abc", "a\\", Some('\\'), false).is_err());
    }
}
