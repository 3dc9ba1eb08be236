//! Tenants: the customers that share a database. A tenant is a global
//! catalog object (like a role: every database of the data directory sees
//! the same tenants), identified by a uuid and a unique name, with a
//! quota tier and optional limits of its own. Tables become tenant-scoped with `helios.enable_tenancy`
//! (`TableDef::tenant_column`), and roles can be bound to one tenant
//! (`RoleDef::tenant`).

use super::Catalog;
use crate::error::{Error, Result, SqlState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The tier a tenant gets unless told otherwise.
pub const DEFAULT_TIER: &str = "free";

const GB: i64 = 1_000_000_000;

/// The built-in tiers: name, storage bytes, connections, queries per second.
pub const BUILTIN_TIERS: [(&str, i64, i64, i64); 4] = [
    ("free", 10 * GB, 5, 100),
    ("starter", 50 * GB, 20, 500),
    ("pro", 500 * GB, 100, 5_000),
    ("enterprise", 10_000 * GB, 1_000, 50_000),
];

/// What a tenant may use: bytes of stored rows and index entries, concurrent
/// sessions, and statements per second (the release notes' `ResourceLimits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimits {
    pub max_storage_bytes: i64,
    pub max_connections: i64,
    pub max_qps: i64,
}

/// A tier: named limits tenants are given (`helios.tiers` row). The built-in
/// ones exist without being stored; a stored tier of the same name (from
/// `helios.alter_tier`) replaces one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TierDef {
    /// The catalog object id (the key it is stored under; 0 for a built-in
    /// tier never altered).
    pub oid: u32,
    pub name: String,
    pub limits: ResourceLimits,
}

/// A tenant's own limits (`helios.set_tenant_limits`); None falls back to
/// its tier's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverrides {
    pub max_storage_bytes: Option<i64>,
    pub max_connections: Option<i64>,
    pub max_qps: Option<i64>,
}

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
    /// Limits of its own, over its tier's.
    #[serde(default, skip_serializing_if = "LimitOverrides::is_empty")]
    pub overrides: LimitOverrides,
    /// A migration's cutover handed this tenant's name to that one: sessions
    /// still in this tenant run in that one from their next statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<uuid::Uuid>,
}

impl LimitOverrides {
    pub fn is_empty(&self) -> bool {
        *self == LimitOverrides::default()
    }
}

impl Catalog {
    pub fn tenant_by_name(&self, name: &str) -> Option<&Arc<TenantDef>> {
        self.tenants.values().find(|t| t.name == name)
    }

    pub fn tenant_by_id(&self, id: uuid::Uuid) -> Option<&Arc<TenantDef>> {
        self.tenants_by_id.get(&id)
    }

    /// Whether role `user` manages tenants (a superuser or CREATEROLE role):
    /// it sees and manages every tenant, its usage, changes and migrations.
    pub fn manages_tenants(&self, user: u32) -> bool {
        self.roles
            .get(&user)
            .is_some_and(|r| r.superuser || r.createrole)
    }

    /// The tenant a session in tenant `id` runs in: itself, or where
    /// migrations' cutovers moved it.
    pub fn current_home(&self, mut id: uuid::Uuid) -> uuid::Uuid {
        for _ in 0..16 {
            match self.tenant_by_id(id).and_then(|t| t.moved_to) {
                Some(next) => id = next,
                None => break,
            }
        }
        id
    }

    /// The tier named `name` (stored, else built in).
    pub fn tier(&self, name: &str) -> Option<TierDef> {
        if let Some(t) = self.tiers.get(name) {
            return Some((**t).clone());
        }
        BUILTIN_TIERS
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|&(n, s, c, q)| TierDef {
                oid: 0,
                name: n.to_string(),
                limits: ResourceLimits {
                    max_storage_bytes: s,
                    max_connections: c,
                    max_qps: q,
                },
            })
    }

    /// Every tier, built-in ones first, then the others by name.
    pub fn all_tiers(&self) -> Vec<TierDef> {
        let mut out: Vec<TierDef> = BUILTIN_TIERS
            .iter()
            .filter_map(|(n, ..)| self.tier(n))
            .collect();
        for t in self.tiers.values() {
            if !BUILTIN_TIERS.iter().any(|(n, ..)| *n == t.name) {
                out.push((**t).clone());
            }
        }
        out
    }

    /// A tenant's effective limits: its overrides over its tier's. A tier
    /// that no longer exists gives the default tier's.
    pub fn tenant_limits(&self, t: &TenantDef) -> ResourceLimits {
        let tier = self
            .tier(&t.tier)
            .or_else(|| self.tier(DEFAULT_TIER))
            .expect("the default tier is built in");
        let o = t.overrides;
        ResourceLimits {
            max_storage_bytes: o.max_storage_bytes.unwrap_or(tier.limits.max_storage_bytes),
            max_connections: o.max_connections.unwrap_or(tier.limits.max_connections),
            max_qps: o.max_qps.unwrap_or(tier.limits.max_qps),
        }
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
