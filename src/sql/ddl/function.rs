//! CREATE [OR REPLACE] FUNCTION ... LANGUAGE sql | plpgsql and DROP FUNCTION.

use super::DdlCtx;
use crate::catalog::acl::Object;
use crate::catalog::functions::{Language, Volatility};
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
        let lang = match language.as_deref() {
            Some("sql") => Language::Sql,
            None if is_return => Language::Sql,
            Some("plpgsql") if !is_return => Language::Plpgsql,
            Some("plpgsql") => {
                return Err(Error::syntax("syntax error at or near \"RETURN\""));
            }
            Some(other) => {
                return Err(Error::unsupported(format!(
                    "language \"{other}\" is not supported (only LANGUAGE sql and plpgsql)"
                )));
            }
            None => return Err(Error::syntax("no language specified")),
        };
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
            | Some(ast::CreateFunctionBody::AsAfterOptions(body))
                if lang == Language::Plpgsql =>
            {
                let text = body_text(body)?;
                let binder = crate::sql::binder::Binder::new(&self.catalog, self.search_path);
                crate::sql::plpgsql::compile_check(&text, &params, &|t| binder.plpgsql_type(t))?;
                (text, false)
            }
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
            language: lang,
            strict: matches!(
                cf.called_on_null,
                Some(
                    ast::FunctionCalledOnNull::ReturnsNullOnNullInput
                        | ast::FunctionCalledOnNull::Strict
                )
            ),
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
        // (A PL/pgSQL body is only checked for syntax, as PostgreSQL does:
        // its queries may name tables created later.)
        if lang == Language::Plpgsql {
            cat::put_object(self.txn, cat::KIND_FUNCTION, def.id, &def)?;
            cat::bump_version(self.txn);
            self.reload()?;
            return Ok("CREATE FUNCTION".into());
        }
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

    /// The function `name(wanted)` names (any argument types when
    /// `wanted` is None): 42883 if none, 42725 if several.
    pub(super) fn function_by_signature(
        &self,
        name: &ast::ObjectName,
        wanted: Option<&[DataType]>,
    ) -> Result<std::sync::Arc<FunctionDef>> {
        let (schema, n) = split_name(name)?;
        let found: Vec<std::sync::Arc<FunctionDef>> = self
            .catalog
            .functions_named(schema.as_deref(), &n, self.search_path)
            .into_iter()
            .filter(|f| wanted.is_none_or(|w| f.params.iter().map(|(_, t)| t).eq(w.iter())))
            .cloned()
            .collect();
        match found.as_slice() {
            [f] => Ok(f.clone()),
            [] => {
                let shown = match wanted {
                    Some(w) => signature(&n, w),
                    None => n.clone(),
                };
                Err(Error::new(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function {shown} does not exist"),
                ))
            }
            _ => Err(Error::new(
                SqlState::AMBIGUOUS_FUNCTION,
                format!("function name \"{n}\" is not unique"),
            )
            .with_hint("Specify the argument list to select the function unambiguously.")),
        }
    }

    pub fn drop_function(&mut self, df: &ast::DropFunction) -> Result<String> {
        for desc in &df.func_desc {
            let wanted = match &desc.args {
                Some(args) => Some(
                    args.iter()
                        .map(|a| DataType::from_sql(&a.data_type))
                        .collect::<Result<Vec<_>>>()?,
                ),
                None => None,
            };
            let f = match self.function_by_signature(&desc.name, wanted.as_deref()) {
                Ok(f) => f,
                Err(e) if e.code == SqlState::UNDEFINED_FUNCTION && df.if_exists => {
                    self.env
                        .notice(Notice::plain(format!("{}, skipping", e.message)));
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.require_owner(Object::Function(&f))?;
            cat::delete_object(self.txn, cat::KIND_FUNCTION, f.id);
            cat::bump_version(self.txn);
            self.reload()?;
        }
        Ok("DROP FUNCTION".into())
    }
}
