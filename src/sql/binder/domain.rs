//! Types named in statements that may be domains, and domains' constraints
//! bound for evaluation (see `catalog::domains`).

use super::{Binder, Scope, ScopeColumn, split_name};
use crate::catalog::{DomainDef, TypeRef};
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::functions::{BoundDomain, Func};
use crate::sql::parser;
use crate::types::DataType;
use sqlparser::ast;
use std::sync::Arc;

impl Binder<'_> {
    /// The type `ty` names: a built-in type, a composite type, an array of
    /// them, or a domain (its base type and the domain; for an array of a
    /// domain, the array of the base type and the domain of its elements).
    pub fn resolve_type(&self, ty: &ast::DataType) -> Result<(DataType, Option<Arc<DomainDef>>)> {
        match DataType::from_sql(ty) {
            Ok(t) => Ok((t, None)),
            Err(e) => match ty {
                ast::DataType::Custom(name, modifiers) if modifiers.is_empty() => {
                    let (schema, n) = split_name(name)?;
                    match self
                        .catalog
                        .resolve_type_name(schema.as_deref(), &n, self.search_path)
                    {
                        Some(TypeRef::Domain(d)) => Ok((d.base.clone(), Some(d.clone()))),
                        Some(TypeRef::Composite(c)) => Ok((DataType::Composite(c.id), None)),
                        None => Err(e),
                    }
                }
                ast::DataType::Array(
                    ast::ArrayElemTypeDef::SquareBracket(inner, _)
                    | ast::ArrayElemTypeDef::AngleBracket(inner),
                ) => {
                    let (t, d) = self.resolve_type(inner)?;
                    if matches!(t, DataType::Array(_)) {
                        // Arrays of arrays are multi-dimensional arrays.
                        return Err(e);
                    }
                    Ok((DataType::Array(Box::new(t)), d))
                }
                _ => Err(e),
            },
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
            elements: false,
        }))
    }

    /// `x` becoming of domain `d` (its constraints checked when evaluated),
    /// or of an array of it when `ty`, its type, is an array and the
    /// domain's base type is not.
    pub fn coerce_to_domain(&self, x: Expr, ty: &DataType, d: &DomainDef) -> Result<Expr> {
        let mut bound = self.bind_domain(d)?;
        if is_array_of_domain(ty, d) {
            let mut b = (*bound).clone();
            b.elements = true;
            bound = Arc::new(b);
        }
        Ok(Expr::Function(Func::DomainCheck(bound), vec![x]))
    }
}

/// Whether a value of type `ty` with domain `d` is an array of the domain
/// (rather than of a domain over an array type).
pub fn is_array_of_domain(ty: &DataType, d: &DomainDef) -> bool {
    matches!(ty, DataType::Array(_)) && !matches!(d.base, DataType::Array(_))
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
