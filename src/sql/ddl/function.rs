//! CREATE [OR REPLACE] FUNCTION ... LANGUAGE sql and DROP FUNCTION.

use super::DdlCtx;
use crate::catalog::acl::Object;
use crate::catalog::functions::Volatility;
use crate::catalog::{self as cat, FunctionDef};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::{ident, split_name};
use crate::types::DataType;
use sqlparser::ast;

/// The setting the parser turns `LEAKPROOF` into (sqlparser does not read it).
pub const LEAKPROOF_MARKER: &str = "helios.leakproof";

fn body_text(e: &ast::Expr) -> Result<String> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => Ok(s.clone()),
            ast::Value::DollarQuotedString(d) => Ok(d.value.clone()),
            other => Err(Error::syntax(format!("invalid function body {other}"))),
        },
        other => Err(Error::syntax(format!("invalid function body {other}"))),
    }
}

fn signature(name: &str, params: &[DataType]) -> String {
    let types: Vec<String> = params.iter().map(|t| t.name()).collect();
    format!("{name}({})", types.join(", "))
}

impl DdlCtx<'_> {
    pub fn create_function(&mut self, cf: &ast::CreateFunction) -> Result<String> {
        let language = cf.language.as_ref().map(ident);
        let is_return = matches!(cf.function_body, Some(ast::CreateFunctionBody::Return(_)));
        match language.as_deref() {
            Some("sql") => {}
            None if is_return => {}
            Some(other) => {
                return Err(Error::unsupported(format!(
                    "language \"{other}\" is not supported (only LANGUAGE sql)"
                )));
            }
            None => return Err(Error::syntax("no language specified")),
        }
        if cf.temporary || cf.or_alter || cf.if_not_exists {
            return Err(Error::unsupported("CREATE FUNCTION form not supported"));
        }
        let (schema, name) = split_name(&cf.name)?;
        let schema = self.target_schema(schema)?;
        self.require_create_in(&schema)?;
        let mut params = Vec::new();
        for a in cf.args.iter().flatten() {
            if !matches!(a.mode, None | Some(ast::ArgMode::In)) || a.default_expr.is_some() {
                return Err(Error::unsupported(
                    "only IN parameters without defaults are supported",
                ));
            }
            params.push((
                a.name.as_ref().map(ident),
                DataType::from_sql(&a.data_type)?,
            ));
        }
        let returns = match &cf.return_type {
            Some(ast::FunctionReturnType::DataType(t)) => DataType::from_sql(t)?,
            Some(ast::FunctionReturnType::SetOf(_)) => {
                return Err(Error::unsupported(
                    "set-returning functions are not supported",
                ));
            }
            None => {
                return Err(Error::new(
                    SqlState::INVALID_FUNCTION_DEFINITION,
                    "function result type must be specified",
                ));
            }
        };
        let (body, body_is_expr) = match &cf.function_body {
            Some(ast::CreateFunctionBody::AsBeforeOptions { body, .. })
            | Some(ast::CreateFunctionBody::AsAfterOptions(body)) => {
                let text = body_text(body)?;
                let stmts = crate::sql::parser::parse(&text)?;
                match stmts.as_slice() {
                    [ast::Statement::Query(q)] => (q.to_string(), false),
                    _ => {
                        return Err(Error::unsupported(
                            "a SQL function body must be a single query",
                        ));
                    }
                }
            }
            Some(ast::CreateFunctionBody::Return(e)) => (e.to_string(), true),
            _ => return Err(Error::syntax("function body missing")),
        };
        let leakproof = cf
            .set_params
            .iter()
            .any(|p| p.name.to_string().trim_matches('"') == LEAKPROOF_MARKER);
        if let Some(p) = cf
            .set_params
            .iter()
            .find(|p| p.name.to_string().trim_matches('"') != LEAKPROOF_MARKER)
        {
            return Err(Error::unsupported(format!(
                "SET {} on functions is not supported",
                p.name
            )));
        }
        if leakproof && !self.catalog.is_superuser(self.current_user) {
            return Err(Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                "only superuser can define a leakproof function",
            ));
        }
        let types: Vec<DataType> = params.iter().map(|(_, t)| t.clone()).collect();
        let existing = self
            .catalog
            .functions_named(Some(&schema), &name, &[])
            .into_iter()
            .find(|f| f.params.iter().map(|(_, t)| t).eq(types.iter()))
            .cloned();
        let (id, owner, acl) = match existing {
            Some(old) if cf.or_replace => {
                self.require_owner(Object::Function(&old))?;
                (old.id, old.owner, old.acl.clone())
            }
            Some(_) => {
                return Err(Error::new(
                    SqlState::DUPLICATE_FUNCTION,
                    format!("function \"{name}\" already exists with same argument types"),
                ));
            }
            None => (self.oids.allocate(self.txn)?, self.current_user, None),
        };
        let def = FunctionDef {
            id,
            database: self.catalog.database,
            schema,
            name,
            params,
            returns,
            body,
            body_is_expr,
            volatility: match cf.behavior {
                Some(ast::FunctionBehavior::Immutable) => Volatility::Immutable,
                Some(ast::FunctionBehavior::Stable) => Volatility::Stable,
                _ => Volatility::Volatile,
            },
            leakproof,
            security_definer: matches!(cf.security, Some(ast::FunctionSecurity::Definer)),
            owner,
            acl,
        };
        // The body must bind: call it with NULL arguments of the right types.
        let mut probe = (*self.catalog).clone();
        probe
            .functions
            .insert(def.id, std::sync::Arc::new(def.clone()));
        let call = format!(
            "{}.{}({})",
            crate::sql::quote_ident(&def.schema),
            crate::sql::quote_ident(&def.name),
            def.params
                .iter()
                .map(|(_, t)| format!("NULL::{}", t.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let binder = crate::sql::binder::Binder::new(&probe, self.search_path);
        binder.bind_expr(&crate::sql::parser::parse_expr(&call)?, &Default::default())?;
        cat::put_object(self.txn, cat::KIND_FUNCTION, def.id, &def)?;
        cat::bump_version(self.txn);
        self.reload()?;
        Ok("CREATE FUNCTION".into())
    }

    pub fn drop_function(&mut self, df: &ast::DropFunction) -> Result<String> {
        for desc in &df.func_desc {
            let (schema, name) = split_name(&desc.name)?;
            let candidates: Vec<std::sync::Arc<FunctionDef>> = self
                .catalog
                .functions_named(schema.as_deref(), &name, self.search_path)
                .into_iter()
                .cloned()
                .collect();
            let wanted = match &desc.args {
                Some(args) => Some(
                    args.iter()
                        .map(|a| DataType::from_sql(&a.data_type))
                        .collect::<Result<Vec<_>>>()?,
                ),
                None => None,
            };
            let found: Vec<_> = candidates
                .into_iter()
                .filter(|f| {
                    wanted
                        .as_ref()
                        .is_none_or(|w| f.params.iter().map(|(_, t)| t).eq(w.iter()))
                })
                .collect();
            let f = match found.as_slice() {
                [f] => f.clone(),
                [] => {
                    let shown = match &wanted {
                        Some(w) => signature(&name, w),
                        None => name.clone(),
                    };
                    if df.if_exists {
                        self.env.notice(Notice::plain(format!(
                            "function {shown} does not exist, skipping"
                        )));
                        continue;
                    }
                    return Err(Error::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("function {shown} does not exist"),
                    ));
                }
                _ => {
                    return Err(Error::new(
                        SqlState::AMBIGUOUS_FUNCTION,
                        format!("function name \"{name}\" is not unique"),
                    )
                    .with_hint("Specify the argument list to select the function unambiguously."));
                }
            };
            self.require_owner(Object::Function(&f))?;
            cat::delete_object(self.txn, cat::KIND_FUNCTION, f.id);
            cat::bump_version(self.txn);
            self.reload()?;
        }
        Ok("DROP FUNCTION".into())
    }
}
