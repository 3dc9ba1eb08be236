//! Types named in statements that may be domains, and domains' constraints
//! bound for evaluation (see `catalog::domains`).

use super::{Binder, Scope, ScopeColumn, split_name};
use crate::catalog::DomainDef;
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::functions::{BoundDomain, Func};
use crate::sql::parser;
use crate::types::DataType;
use sqlparser::ast;
use std::sync::Arc;

impl Binder<'_> {
    /// The type `ty` names: a built-in type, or a domain (its base type and
    /// the domain).
    pub fn resolve_type(&self, ty: &ast::DataType) -> Result<(DataType, Option<Arc<DomainDef>>)> {
        match DataType::from_sql(ty) {
            Ok(t) => Ok((t, None)),
            Err(e) => {
                let ast::DataType::Custom(name, modifiers) = ty else {
                    return Err(e);
                };
                if !modifiers.is_empty() {
                    return Err(e);
                }
                let (schema, n) = split_name(name)?;
                match self
                    .catalog
                    .resolve_domain(schema.as_deref(), &n, self.search_path)
                {
                    Some(d) => Ok((d.base.clone(), Some(d.clone()))),
                    None => Err(e),
                }
            }
        }
    }

    /// A domain's CHECK constraints bound over `VALUE`.
    pub fn bind_domain(&self, d: &DomainDef) -> Result<Arc<BoundDomain>> {
        let scope = value_scope(&d.base);
        let checks = d
            .checks
            .iter()
            .map(|c| {
                let ast = parser::parse_expr(&c.expr)?;
                Ok((c.name.clone(), self.bind_predicate(&ast, &scope, "CHECK")?))
            })
            .collect::<Result<_>>()?;
        Ok(Arc::new(BoundDomain {
            name: d.name.clone(),
            not_null: d.not_null,
            checks,
        }))
    }

    /// `x` becoming of domain `d` (its constraints checked when evaluated).
    pub fn coerce_to_domain(&self, x: Expr, d: &DomainDef) -> Result<Expr> {
        Ok(Expr::Function(
            Func::DomainCheck(self.bind_domain(d)?),
            vec![x],
        ))
    }
}

/// The scope of a domain constraint: the value, as column `value`.
pub fn value_scope(base: &DataType) -> Scope {
    Scope {
        columns: vec![ScopeColumn {
            qualifier: None,
            name: "value".into(),
            ty: base.clone(),
            qualified_only: false,
        }],
        tables: vec![],
    }
}

/// The error for a domain name that names nothing, as PostgreSQL words it.
pub fn type_not_found(name: &str) -> Error {
    Error::new(
        crate::error::SqlState::UNDEFINED_OBJECT,
        format!("type \"{name}\" does not exist"),
    )
}
