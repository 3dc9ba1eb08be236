//! The tenant management functions, called as statements:
//! `SELECT helios.create_tenant('acme' [, tier => 'pro'])`,
//! `helios.drop_tenant('acme' [, cascade => true])`,
//! `helios.enable_tenancy('orders' [, column => 'tenant_id'])`,
//! `helios.disable_tenancy('orders')`, `helios.bind_role('alice', 'acme')`
//! and `helios.unbind_role('alice')`.
//!
//! They change the catalog, so they run as DDL in the statement's
//! transaction (and roll back with it); a call must be the whole statement
//! (`SELECT helios.f(...)`, arguments constants or `$n` parameters).

use super::Session;
use crate::error::{Error, Result, SqlState};
use crate::sql::plan::Column;
use crate::types::{DataType, Value};
use sqlparser::ast;

/// A `SELECT helios.name(args)` statement: (name, positional and named arguments).
pub(super) struct HeliosCall<'q> {
    pub name: String,
    pub args: Vec<(Option<String>, &'q ast::Expr)>,
}

/// Recognizes a statement that is exactly one call of a `helios.` function.
pub(super) fn helios_call(q: &ast::Query) -> Option<HeliosCall<'_>> {
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() {
        return None;
    }
    let ast::SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    if !s.from.is_empty() || s.selection.is_some() || s.projection.len() != 1 {
        return None;
    }
    let expr = match &s.projection[0] {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    let ast::Expr::Function(f) = expr else {
        return None;
    };
    let parts = crate::sql::binder::object_name_parts(&f.name).ok()?;
    let [schema, name] = parts.as_slice() else {
        return None;
    };
    if schema != "helios" {
        return None;
    }
    let ast::FunctionArguments::List(list) = &f.args else {
        return Some(HeliosCall {
            name: name.clone(),
            args: Vec::new(),
        });
    };
    let mut args = Vec::new();
    for a in &list.args {
        match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => args.push((None, e)),
            ast::FunctionArg::Named {
                name,
                arg: ast::FunctionArgExpr::Expr(e),
                ..
            } => args.push((Some(crate::sql::binder::ident(name)), e)),
            ast::FunctionArg::ExprNamed {
                name: ast::Expr::Identifier(name),
                arg: ast::FunctionArgExpr::Expr(e),
                ..
            } => args.push((Some(crate::sql::binder::ident(name)), e)),
            _ => return None,
        }
    }
    Some(HeliosCall {
        name: name.clone(),
        args,
    })
}

/// The type of a `helios.` function's parameter, by its name (what a
/// `$n` given for it is described as).
fn param_type(name: &str) -> DataType {
    match name {
        "id" | "lsn" | "start_lsn" | "before_lsn" | "bytes" | "max_bytes" | "max_storage_bytes"
        | "max_connections" | "max_qps" => DataType::Int8,
        "enabled" | "cascade" | "if_exists" | "cutover" => DataType::Bool,
        "age" => DataType::Interval,
        _ => DataType::Text,
    }
}

/// The parameter names of each `helios.` function, in order, and the type
/// of its result (text: no value).
const SIGNATURES: &[(&str, &[&str], DataType)] = &[
    ("create_tenant", &["name", "tier"], DataType::Uuid),
    ("drop_tenant", &["name", "cascade"], DataType::Text),
    ("bind_role", &["role", "tenant"], DataType::Text),
    ("unbind_role", &["role"], DataType::Text),
    ("enable_tenancy", &["table", "column"], DataType::Text),
    ("disable_tenancy", &["table"], DataType::Text),
    ("recompute_usage", &["tenant"], DataType::Int8),
    ("create_tier", &LIMIT_ARGS_WITH_NAME, DataType::Text),
    ("alter_tier", &LIMIT_ARGS_WITH_NAME, DataType::Text),
    ("set_tenant_tier", &["tenant", "tier"], DataType::Text),
    (
        "set_tenant_limits",
        &["tenant", "max_storage_bytes", "max_connections", "max_qps"],
        DataType::Text,
    ),
    ("set_capture", &["table", "enabled"], DataType::Text),
    (
        "create_consumer",
        &["name", "start_lsn", "tenant"],
        DataType::Int8,
    ),
    ("drop_consumer", &["name", "if_exists"], DataType::Text),
    ("consumer_ack", &["name", "lsn"], DataType::Int8),
    ("truncate_changes", &["before_lsn"], DataType::Int8),
    ("compact_changes", &[], DataType::Int8),
    (
        "set_change_retention",
        &["age", "bytes", "max_bytes"],
        DataType::Text,
    ),
    (
        "start_migration",
        &["source", "target", "cutover"],
        DataType::Int8,
    ),
    ("pause_migration", &["id"], DataType::Text),
    ("resume_migration", &["id"], DataType::Text),
    ("rollback_migration", &["id"], DataType::Text),
];

fn signature(name: &str) -> Result<(&'static [&'static str], DataType)> {
    SIGNATURES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, p, t)| (*p, t.clone()))
        .ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("function helios.{name} does not exist"),
            )
        })
}

/// The parameter types (`$n` given as arguments, by the parameter they
/// stand for) and result column of a call, without running it.
pub(super) fn describe_call(call: &HeliosCall) -> Result<(Vec<DataType>, Column)> {
    let (names, result) = signature(&call.name)?;
    let mut types: Vec<DataType> = Vec::new();
    for (k, (name, e)) in call.args.iter().enumerate() {
        let mut e = *e;
        while let ast::Expr::Cast { expr, .. } | ast::Expr::Nested(expr) = e {
            e = expr;
        }
        let ast::Expr::Value(v) = e else { continue };
        let ast::Value::Placeholder(p) = &v.value else {
            continue;
        };
        let Ok(n) = p.trim_start_matches('$').parse::<usize>() else {
            continue;
        };
        let pname = name.as_deref().or(names.get(k).copied()).unwrap_or("");
        if n >= 1 {
            if types.len() < n {
                types.resize(n, DataType::Text);
            }
            types[n - 1] = param_type(pname);
        }
    }
    Ok((
        types,
        Column {
            name: call.name.clone(),
            ty: result,
        },
    ))
}

/// A constant argument: a literal, or parameter `$n`.
fn constant(e: &ast::Expr, params: &[Value]) -> Result<Value> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => Ok(Value::Text(s.clone())),
            ast::Value::Boolean(b) => Ok(Value::Bool(*b)),
            ast::Value::Null => Ok(Value::Null),
            ast::Value::Placeholder(p) => {
                let n: usize = p
                    .trim_start_matches('$')
                    .parse()
                    .map_err(|_| Error::syntax(format!("bad parameter {p}")))?;
                params.get(n.wrapping_sub(1)).cloned().ok_or_else(|| {
                    Error::new(
                        SqlState::UNDEFINED_PARAMETER,
                        format!("there is no parameter {p}"),
                    )
                })
            }
            other => Ok(Value::Text(other.to_string())),
        },
        ast::Expr::Cast { expr, .. } | ast::Expr::Nested(expr) => constant(expr, params),
        // A signed number.
        ast::Expr::UnaryOp {
            op: op @ (ast::UnaryOperator::Minus | ast::UnaryOperator::Plus),
            expr,
        } if matches!(&**expr, ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..))) => {
            let sign = if *op == ast::UnaryOperator::Minus {
                "-"
            } else {
                ""
            };
            Ok(Value::Text(format!("{sign}{expr}")))
        }
        other => Err(Error::unsupported(format!(
            "arguments of helios functions must be constants, not {other}"
        ))),
    }
}

/// The parameters of `helios.create_tier` and `helios.alter_tier`.
const LIMIT_ARGS_WITH_NAME: [&str; 4] = ["name", "max_storage_bytes", "max_connections", "max_qps"];

/// The arguments of a call, by parameter name (positional ones in order).
struct Args {
    values: Vec<(String, Value)>,
}

/// A call with its arguments' values.
pub(super) struct EvaluatedCall {
    name: String,
    args: Vec<(Option<String>, Value)>,
}

impl Args {
    /// Binds a call's arguments to its function's parameters (see
    /// [`SIGNATURES`]); the first `required` must be given.
    fn bind(call: &EvaluatedCall, required: usize) -> Result<Args> {
        let (names, _) = signature(&call.name)?;
        let signature = || {
            Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!(
                    "function helios.{}({}) does not exist",
                    call.name,
                    call.args
                        .iter()
                        .map(|_| "unknown")
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_hint(format!(
                "helios.{} takes ({}).",
                call.name,
                names.join(", ")
            ))
        };
        let mut values: Vec<(String, Value)> = Vec::new();
        for (k, (name, v)) in call.args.iter().enumerate() {
            let key = match name {
                Some(n) if names.contains(&n.as_str()) => n.clone(),
                Some(_) => return Err(signature()),
                None => names.get(k).ok_or_else(signature)?.to_string(),
            };
            if values.iter().any(|(n, _)| *n == key) {
                return Err(signature());
            }
            values.push((key, v.clone()));
        }
        if names[..required]
            .iter()
            .any(|n| !values.iter().any(|(k, _)| k == n))
        {
            return Err(signature());
        }
        Ok(Args { values })
    }

    fn text(&self, name: &str) -> Result<Option<String>> {
        match self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Ok(Some(v.to_string())),
        }
    }

    fn required(&self, name: &str) -> Result<String> {
        self.text(name)?.ok_or_else(|| {
            Error::new(
                SqlState::NULL_VALUE_NOT_ALLOWED,
                format!("argument \"{name}\" must not be null"),
            )
        })
    }

    /// An integer argument (None: not given or NULL), or 22P02.
    fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.clone().cast(&DataType::Int8)? {
                Value::Int8(i) => Ok(Some(i)),
                _ => Ok(None),
            },
        }
    }

    /// An integer argument that was given (`Some(None)`: given as NULL).
    fn given_int(&self, name: &str) -> Result<Option<Option<i64>>> {
        if self.values.iter().any(|(n, _)| n == name) {
            Ok(Some(self.int(name)?))
        } else {
            Ok(None)
        }
    }

    fn required_int(&self, name: &str) -> Result<i64> {
        self.int(name)?.ok_or_else(|| {
            Error::new(
                SqlState::NULL_VALUE_NOT_ALLOWED,
                format!("argument \"{name}\" must not be null"),
            )
        })
    }

    /// An interval argument that was given (`Some(None)`: given as NULL).
    fn given_interval(&self, name: &str) -> Result<Option<Option<crate::types::Interval>>> {
        match self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => match v.clone().cast(&DataType::Interval)? {
                Value::Interval(i) => Ok(Some(Some(i))),
                _ => Ok(Some(None)),
            },
        }
    }

    fn required_flag(&self, name: &str) -> Result<bool> {
        if matches!(
            self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            None | Some(Value::Null)
        ) {
            return Err(Error::new(
                SqlState::NULL_VALUE_NOT_ALLOWED,
                format!("argument \"{name}\" must not be null"),
            ));
        }
        self.flag(name)
    }

    fn flag(&self, name: &str) -> Result<bool> {
        match self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
            None | Some(Value::Null) => Ok(false),
            Some(v) => match v.clone().cast(&DataType::Bool)? {
                Value::Bool(b) => Ok(b),
                _ => Ok(false),
            },
        }
    }
}

impl Session {
    /// Runs a `helios.` management function and returns its one-row result.
    pub(super) fn run_helios(
        &mut self,
        call: &HeliosCall,
        params: &[Value],
    ) -> Result<super::StatementResult> {
        let void = |name: &str| {
            super::rows_result(
                vec![Column {
                    name: name.to_string(),
                    ty: DataType::Text,
                }],
                vec![vec![Value::Null]],
            )
        };
        let mut args = Vec::with_capacity(call.args.len());
        for (n, e) in &call.args {
            let v = match constant(e, params) {
                Ok(v) => v,
                Err(_) => self.eval_arg(e, params)?,
            };
            args.push((n.clone(), v));
        }
        let call = EvaluatedCall {
            name: call.name.clone(),
            args,
        };
        let name = call.name.as_str();
        match name {
            "create_tenant" => {
                let a = Args::bind(&call, 1)?;
                let (n, tier) = (a.required("name")?, a.text("tier")?);
                let id = self.with_ddl(|ctx| ctx.create_tenant(&n, tier.as_deref()))?;
                Ok(super::rows_result(
                    vec![Column {
                        name: name.into(),
                        ty: DataType::Uuid,
                    }],
                    vec![vec![Value::Uuid(id)]],
                ))
            }
            "drop_tenant" => {
                let a = Args::bind(&call, 1)?;
                let (n, cascade) = (a.required("name")?, a.flag("cascade")?);
                self.with_ddl(|ctx| ctx.drop_tenant(&n, cascade))?;
                Ok(void(name))
            }
            "bind_role" => {
                let a = Args::bind(&call, 2)?;
                let (r, t) = (a.required("role")?, a.required("tenant")?);
                self.with_ddl(|ctx| ctx.bind_role(&r, Some(&t)))?;
                Ok(void(name))
            }
            "unbind_role" => {
                let a = Args::bind(&call, 1)?;
                let r = a.required("role")?;
                self.with_ddl(|ctx| ctx.bind_role(&r, None))?;
                Ok(void(name))
            }
            "enable_tenancy" | "disable_tenancy" => {
                let a = Args::bind(&call, 1)?;
                let table = table_name(&a.required("table")?)?;
                let column = a.text("column")?.unwrap_or_else(|| "tenant_id".into());
                if name == "enable_tenancy" {
                    self.with_ddl(|ctx| ctx.enable_tenancy(&table, &column))?;
                } else {
                    self.with_ddl(|ctx| ctx.disable_tenancy(&table))?;
                }
                Ok(void(name))
            }
            "recompute_usage" => {
                let a = Args::bind(&call, 1)?;
                let t = a.required("tenant")?;
                let bytes = self.with_ddl(|ctx| ctx.recompute_usage(&t))?;
                Ok(super::rows_result(
                    vec![Column {
                        name: name.into(),
                        ty: DataType::Int8,
                    }],
                    vec![vec![Value::Int8(bytes)]],
                ))
            }
            "create_tier" => {
                let a = Args::bind(&call, 4)?;
                let n = a.required("name")?;
                let limits = crate::catalog::ResourceLimits {
                    max_storage_bytes: a.required_int("max_storage_bytes")?,
                    max_connections: a.required_int("max_connections")?,
                    max_qps: a.required_int("max_qps")?,
                };
                self.with_ddl(|ctx| ctx.create_tier(&n, limits))?;
                Ok(void(name))
            }
            "alter_tier" => {
                let a = Args::bind(&call, 1)?;
                let n = a.required("name")?;
                let change = crate::catalog::LimitOverrides {
                    max_storage_bytes: a.int("max_storage_bytes")?,
                    max_connections: a.int("max_connections")?,
                    max_qps: a.int("max_qps")?,
                };
                self.with_ddl(|ctx| ctx.alter_tier(&n, change))?;
                Ok(void(name))
            }
            "set_tenant_tier" => {
                let a = Args::bind(&call, 2)?;
                let (t, tier) = (a.required("tenant")?, a.required("tier")?);
                self.with_ddl(|ctx| ctx.set_tenant_tier(&t, &tier))?;
                Ok(void(name))
            }
            "set_tenant_limits" => {
                let a = Args::bind(&call, 1)?;
                let t = a.required("tenant")?;
                let change = [
                    a.given_int("max_storage_bytes")?,
                    a.given_int("max_connections")?,
                    a.given_int("max_qps")?,
                ];
                self.with_ddl(|ctx| ctx.set_tenant_limits(&t, change))?;
                Ok(void(name))
            }
            "set_capture" => {
                let a = Args::bind(&call, 2)?;
                let table = table_name(&a.required("table")?)?;
                let enabled = a.required_flag("enabled")?;
                self.with_ddl(|ctx| ctx.set_capture(&table, enabled))?;
                Ok(void(name))
            }
            "create_consumer" => {
                let a = Args::bind(&call, 1)?;
                let n = a.required("name")?;
                let lsn =
                    self.create_consumer(&n, a.int("start_lsn")?, a.text("tenant")?.as_deref())?;
                Ok(int8(name, lsn))
            }
            "drop_consumer" => {
                let a = Args::bind(&call, 1)?;
                let n = a.required("name")?;
                self.drop_consumer(&n, a.flag("if_exists")?)?;
                Ok(void(name))
            }
            "consumer_ack" => {
                let a = Args::bind(&call, 2)?;
                let (n, lsn) = (a.required("name")?, a.required_int("lsn")?);
                let acked = self.consumer_ack(&n, lsn)?;
                Ok(int8(name, acked))
            }
            "truncate_changes" => {
                let a = Args::bind(&call, 1)?;
                let removed = self.truncate_changes(a.required_int("before_lsn")?)?;
                Ok(int8(name, removed))
            }
            "compact_changes" => {
                Args::bind(&call, 0)?;
                let removed = self.compact_changes()?;
                Ok(int8(name, removed))
            }
            "set_change_retention" => {
                let a = Args::bind(&call, 0)?;
                self.set_change_retention(
                    a.given_interval("age")?,
                    a.given_int("bytes")?,
                    a.given_int("max_bytes")?,
                )?;
                Ok(void(name))
            }
            "start_migration" => {
                let a = Args::bind(&call, 2)?;
                let (source, target) = (a.required("source")?, a.required("target")?);
                let id = self.start_migration(&source, &target, a.flag("cutover")?)?;
                Ok(int8(name, id))
            }
            "pause_migration" | "resume_migration" | "rollback_migration" => {
                let a = Args::bind(&call, 1)?;
                let id = a.required_int("id")?;
                match name {
                    "pause_migration" => self.pause_migration(id)?,
                    "resume_migration" => self.resume_migration(id)?,
                    _ => self.rollback_migration(id)?,
                }
                Ok(void(name))
            }
            other => Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("function helios.{other} does not exist"),
            )),
        }
    }
}

impl Session {
    /// The value of an argument that is not a constant (`(SELECT max(lsn)
    /// FROM helios.changes(...))`, `now() - interval '1 day'`), computed as
    /// `SELECT expr` in the statement's transaction.
    fn eval_arg(&mut self, e: &ast::Expr, params: &[Value]) -> Result<Value> {
        let q = match crate::sql::parser::parse(&format!("SELECT {e}"))?.pop() {
            Some(ast::Statement::Query(q)) => q,
            _ => return Err(Error::syntax(format!("bad argument {e}"))),
        };
        let rows = self.run_query_rows(&q, params)?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or(Value::Null))
    }
}

/// A one-row bigint result named after the function.
fn int8(name: &str, v: i64) -> super::StatementResult {
    super::rows_result(
        vec![Column {
            name: name.into(),
            ty: DataType::Int8,
        }],
        vec![vec![Value::Int8(v)]],
    )
}

/// A table name given as text (`'orders'`, `'s.orders'`).
fn table_name(text: &str) -> Result<ast::ObjectName> {
    match crate::sql::parser::parse_expr(text)? {
        ast::Expr::Identifier(i) => Ok(ast::ObjectName::from(vec![i])),
        ast::Expr::CompoundIdentifier(parts) => Ok(ast::ObjectName::from(parts)),
        _ => Err(crate::error::Error::undefined_table(text)),
    }
}
