//! User-defined functions (`CREATE FUNCTION ... LANGUAGE sql | plpgsql`).
//!
//! A SQL function's body is one SQL expression or scalar query, stored as
//! text; a call is bound by inlining the body with the call's arguments in
//! place of its parameters (`sql::binder::user_functions`), so the planner
//! sees through it and policies calling functions like `auth.uid()` cost no
//! more than the expression itself. A PL/pgSQL function's body is stored as
//! its source text and compiled where a call is bound (`sql::plpgsql`).

use super::{AclItem, Catalog};
use crate::types::DataType;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The language of a function's body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    #[default]
    Sql,
    Plpgsql,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    /// `pg_proc.provolatile`.
    pub fn letter(self) -> &'static str {
        match self {
            Volatility::Immutable => "i",
            Volatility::Stable => "s",
            Volatility::Volatile => "v",
        }
    }
}

/// A user-defined function.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FunctionDef {
    pub id: u32,
    pub database: u32,
    pub schema: String,
    pub name: String,
    /// Parameters: name (if given) and type.
    pub params: Vec<(Option<String>, DataType)>,
    pub returns: DataType,
    /// SQL: a scalar query (`SELECT ...`) or an expression (`RETURN expr`);
    /// PL/pgSQL: the block's source text.
    pub body: String,
    #[serde(default)]
    pub language: Language,
    /// STRICT (RETURNS NULL ON NULL INPUT); honoured for PL/pgSQL.
    #[serde(default)]
    pub strict: bool,
    /// True when the body is an expression rather than a query.
    pub body_is_expr: bool,
    pub volatility: Volatility,
    pub leakproof: bool,
    /// SECURITY DEFINER: the body reads tables with the owner's privileges.
    pub security_definer: bool,
    pub owner: u32,
    #[serde(default)]
    pub acl: Option<Vec<AclItem>>,
}

impl Catalog {
    /// The functions called `name` in `schema` (or on the search path).
    pub fn functions_named(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Vec<&Arc<FunctionDef>> {
        match schema {
            Some(s) => self
                .functions
                .values()
                .filter(|f| f.schema == s && f.name == name)
                .collect(),
            None => search_path
                .iter()
                .map(|s| {
                    self.functions
                        .values()
                        .filter(|f| &f.schema == s && f.name == name)
                        .collect::<Vec<_>>()
                })
                .find(|v| !v.is_empty())
                .unwrap_or_default(),
        }
    }
}
