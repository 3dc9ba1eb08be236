//! Domains: named types over a base type with a default, NOT NULL and CHECK
//! constraints (`CREATE DOMAIN`).
//!
//! A domain's values are values of its base type; a column of a domain type
//! stores the base type (`ColumnDef::ty`) and names the domain
//! (`ColumnDef::domain`). The domain's constraints are checked wherever a
//! value becomes of the domain: when a row is written to such a column, and
//! in a cast to the domain. Types and relations have separate namespaces
//! here, as in PostgreSQL (where a table's row type would also clash with a
//! domain of the same name; HeliosDB has no row types yet).

use super::{AclItem, CheckDef, databases};
use crate::types::DataType;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DomainDef {
    pub id: u32,
    #[serde(default = "databases::bootstrap_database")]
    pub database: u32,
    pub schema: String,
    pub name: String,
    /// The base type.
    pub base: DataType,
    pub not_null: bool,
    /// Default expression as SQL text (used when a column of the domain has
    /// none of its own).
    pub default: Option<String>,
    /// CHECK constraints over `VALUE`, in creation order.
    pub checks: Vec<CheckDef>,
    pub owner: u32,
    #[serde(default)]
    pub acl: Option<Vec<AclItem>>,
}
