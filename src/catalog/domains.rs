//! User-defined types: domains, named types over a base type with a
//! default, NOT NULL and CHECK constraints (`CREATE DOMAIN`), and composite
//! (row) types (`CREATE TYPE ... AS (...)`), whose values are
//! `Value::Record`s of their fields.
//!
//! A domain's values are values of its base type; a column of a domain type
//! stores the base type (`ColumnDef::ty`) and names the domain
//! (`ColumnDef::domain`). The domain's constraints are checked wherever a
//! value becomes of the domain: when a row is written to such a column, and
//! in a cast to the domain. A new type's name may not be a relation's (a
//! relation's row type has its name in PostgreSQL), and a composite type's
//! name is taken for relations too (it is a relation in PostgreSQL); tables
//! have no row types of their own here.
//!
//! Each type has an array type (`array_id`, its oid; `name[]`), as in
//! PostgreSQL; a column of an array of a domain names the domain, and the
//! domain's constraints apply to each element.

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
    /// The oid of the array type (0 for domains made before there was one).
    #[serde(default)]
    pub array_id: u32,
}

/// A composite type: named, typed fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompositeDef {
    pub id: u32,
    #[serde(default = "databases::bootstrap_database")]
    pub database: u32,
    pub schema: String,
    pub name: String,
    pub fields: Vec<CompositeField>,
    pub owner: u32,
    /// The oid of the array type.
    pub array_id: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompositeField {
    pub name: String,
    pub ty: DataType,
}

impl CompositeDef {
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn field_types(&self) -> Vec<DataType> {
        self.fields.iter().map(|f| f.ty.clone()).collect()
    }
}

/// A type a name stands for.
pub enum TypeRef<'a> {
    Domain(&'a std::sync::Arc<DomainDef>),
    Composite(&'a std::sync::Arc<CompositeDef>),
}
