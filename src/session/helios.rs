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

impl Args {
    fn bind(call: &HeliosCall, names: &[&str], required: usize, params: &[Value]) -> Result<Args> {
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
        for (k, (name, e)) in call.args.iter().enumerate() {
            let key = match name {
                Some(n) if names.contains(&n.as_str()) => n.clone(),
                Some(_) => return Err(signature()),
                None => names.get(k).ok_or_else(signature)?.to_string(),
            };
            if values.iter().any(|(n, _)| *n == key) {
                return Err(signature());
            }
            values.push((key, constant(e, params)?));
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
        let name = call.name.as_str();
        match name {
            "create_tenant" => {
                let a = Args::bind(call, &["name", "tier"], 1, params)?;
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
                let a = Args::bind(call, &["name", "cascade"], 1, params)?;
                let (n, cascade) = (a.required("name")?, a.flag("cascade")?);
                self.with_ddl(|ctx| ctx.drop_tenant(&n, cascade))?;
                Ok(void(name))
            }
            "bind_role" => {
                let a = Args::bind(call, &["role", "tenant"], 2, params)?;
                let (r, t) = (a.required("role")?, a.required("tenant")?);
                self.with_ddl(|ctx| ctx.bind_role(&r, Some(&t)))?;
                Ok(void(name))
            }
            "unbind_role" => {
                let a = Args::bind(call, &["role"], 1, params)?;
                let r = a.required("role")?;
                self.with_ddl(|ctx| ctx.bind_role(&r, None))?;
                Ok(void(name))
            }
            "enable_tenancy" | "disable_tenancy" => {
                let a = if name == "enable_tenancy" {
                    Args::bind(call, &["table", "column"], 1, params)?
                } else {
                    Args::bind(call, &["table"], 1, params)?
                };
                let table = a.required("table")?;
                let table = match crate::sql::parser::parse_expr(&table)? {
                    ast::Expr::Identifier(i) => ast::ObjectName::from(vec![i]),
                    ast::Expr::CompoundIdentifier(parts) => ast::ObjectName::from(parts),
                    _ => return Err(crate::error::Error::undefined_table(&table)),
                };
                let column = a.text("column")?.unwrap_or_else(|| "tenant_id".into());
                if name == "enable_tenancy" {
                    self.with_ddl(|ctx| ctx.enable_tenancy(&table, &column))?;
                } else {
                    self.with_ddl(|ctx| ctx.disable_tenancy(&table))?;
                }
                Ok(void(name))
            }
            "recompute_usage" => {
                let a = Args::bind(call, &["tenant"], 1, params)?;
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
                let a = Args::bind(call, &LIMIT_ARGS_WITH_NAME, 4, params)?;
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
                let a = Args::bind(call, &LIMIT_ARGS_WITH_NAME, 1, params)?;
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
                let a = Args::bind(call, &["tenant", "tier"], 2, params)?;
                let (t, tier) = (a.required("tenant")?, a.required("tier")?);
                self.with_ddl(|ctx| ctx.set_tenant_tier(&t, &tier))?;
                Ok(void(name))
            }
            "set_tenant_limits" => {
                let a = Args::bind(
                    call,
                    &["tenant", "max_storage_bytes", "max_connections", "max_qps"],
                    1,
                    params,
                )?;
                let t = a.required("tenant")?;
                let change = [
                    a.given_int("max_storage_bytes")?,
                    a.given_int("max_connections")?,
                    a.given_int("max_qps")?,
                ];
                self.with_ddl(|ctx| ctx.set_tenant_limits(&t, change))?;
                Ok(void(name))
            }
            other => Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("function helios.{other} does not exist"),
            )),
        }
    }
}
