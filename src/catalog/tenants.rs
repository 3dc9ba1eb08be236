//! Tenants: the customers that share a database. A tenant is a global
//! catalog object (like a role: every database of the data directory sees
//! the same tenants), identified by a uuid and a unique name, with a
//! quota tier. Tables become tenant-scoped with `helios.enable_tenancy`
//! (`TableDef::tenant_column`), and roles can be bound to one tenant
//! (`RoleDef::tenant`).

use super::Catalog;
use crate::error::{Error, Result, SqlState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The tier a tenant gets unless told otherwise.
pub const DEFAULT_TIER: &str = "free";

/// A tenant (`helios.tenants` row).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantDef {
    /// The catalog object id (the key it is stored under).
    pub oid: u32,
    pub id: uuid::Uuid,
    pub name: String,
    pub tier: String,
    /// Creation time, microseconds since the Unix epoch.
    pub created_at: i64,
}

impl Catalog {
    pub fn tenant_by_name(&self, name: &str) -> Option<&Arc<TenantDef>> {
        self.tenants.values().find(|t| t.name == name)
    }

    pub fn tenant_by_id(&self, id: uuid::Uuid) -> Option<&Arc<TenantDef>> {
        self.tenants.values().find(|t| t.id == id)
    }

    /// The tenant a name or uuid text names, or 22023 `tenant "x" does not exist`.
    pub fn tenant_named(&self, text: &str) -> Result<&Arc<TenantDef>> {
        let found = match uuid::Uuid::parse_str(text.trim()) {
            Ok(id) => self.tenant_by_id(id),
            Err(_) => self.tenant_by_name(text),
        };
        found.ok_or_else(|| tenant_not_found(text))
    }
}

pub fn tenant_not_found(name: &str) -> Error {
    Error::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("tenant \"{name}\" does not exist"),
    )
}
