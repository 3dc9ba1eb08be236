//! A session's tenant: `SET [LOCAL] helios.tenant = 'name' | 'uuid'`,
//! `RESET helios.tenant`, `set_config('helios.tenant', ...)`, the Rust
//! [`Session::set_tenant`], and the tenant a bound role's sessions are
//! locked to from login.
//!
//! The setting holds the tenant's uuid (whichever form was given), so
//! `current_setting('helios.tenant')` and `current_tenant_id()` agree; it is
//! transactional like every setting. A name or uuid that names no tenant is
//! 22023. A session whose login role is bound to a tenant
//! (`helios.bind_role`) starts in it and can never change it (42501).

use super::Session;
use super::settings::SettingSource;
use crate::catalog::Catalog;
use crate::error::{Error, Result, SqlState};
use crate::tenant::quota::{QuotaTracking, TenantQuota};
use std::sync::Arc;

/// The setting that carries the tenant context.
pub const TENANT_SETTING: &str = "helios.tenant";

impl Session {
    /// Locks the session to the tenant its login role is bound to (53300
    /// when the tenant has all the connections it may).
    pub(crate) fn bind_tenant(&mut self, id: uuid::Uuid) -> Result<()> {
        let quota = self.tenant_quota(id)?;
        self.tenant_slot = Some(if self.db.quotas.enforced() {
            quota.connect()?
        } else {
            quota.connect_anyway()
        });
        let text = id.to_string();
        self.settings
            .set_reset_value(TENANT_SETTING, &text, SettingSource::Client)?;
        self.settings.reset(TENANT_SETTING)?;
        self.bound_tenant = Some(id);
        Ok(())
    }

    /// The catalog the tenant name is looked up in: the transaction's own,
    /// or the newest committed one.
    fn tenant_catalog(&mut self) -> Result<std::sync::Arc<Catalog>> {
        if self.txn.is_some() {
            self.catalog()
        } else {
            super::database::latest_catalog(&self.db, self.database)
        }
    }

    /// SET / RESET of `helios.tenant` (value None: back to the default).
    pub(super) fn set_tenant_setting(&mut self, value: Option<&str>, local: bool) -> Result<()> {
        if let Some(bound) = self.bound_tenant {
            let name = self
                .tenant_catalog()?
                .tenant_by_id(bound)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| bound.to_string());
            return Err(Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("the session is bound to tenant \"{name}\" and cannot change tenants"),
            )
            .with_detail("Its login role is bound to the tenant with helios.bind_role."));
        }
        match value {
            None => self.settings.reset(TENANT_SETTING)?,
            Some("") => self.settings.set(TENANT_SETTING, "", local)?,
            Some(v) => {
                let id = self.tenant_catalog()?.tenant_named(v)?.id;
                // The session counts against the new tenant's connections
                // from here (53300 if it has all it may).
                let slot = match &self.tenant_slot {
                    Some(s) if s.tenant() == id => None,
                    _ => {
                        let q = self.tenant_quota(id)?;
                        Some(if self.db.quotas.enforced() {
                            q.connect()?
                        } else {
                            q.connect_anyway()
                        })
                    }
                };
                self.settings.set(TENANT_SETTING, &id.to_string(), local)?;
                if slot.is_some() {
                    self.tenant_slot = slot;
                }
            }
        }
        self.follow_tenant()
    }

    /// The quota of tenant `id`, with its limits from the newest catalog.
    fn tenant_quota(&mut self, id: uuid::Uuid) -> Result<Arc<TenantQuota>> {
        if let Some(q) = self.db.quotas.get(id) {
            return Ok(q);
        }
        let catalog = self.tenant_catalog()?;
        let t = catalog
            .tenant_by_id(id)
            .ok_or_else(|| crate::catalog::tenants::tenant_not_found(&id.to_string()))?;
        Ok(self.db.quotas.tenant(id, &t.name, catalog.tenant_limits(t)))
    }

    /// Makes the connection slot follow the tenant the settings name (a
    /// rollback or the end of SET LOCAL may have changed it; the session was
    /// counted there before, so the limit is not checked again).
    fn follow_tenant(&mut self) -> Result<()> {
        let now = self.settings.tenant();
        if now == self.tenant_slot.as_ref().map(|s| s.tenant()) {
            return Ok(());
        }
        self.tenant_slot = match now {
            None => None,
            Some(id) => Some(self.tenant_quota(id)?.connect_anyway()),
        };
        Ok(())
    }

    /// Admits a statement under the tenant's rate quota (53400 when its
    /// bucket is empty); a session outside tenants is not limited.
    pub(super) fn admit_statement(&mut self) -> Result<()> {
        self.follow_tenant()?;
        match &self.tenant_slot {
            Some(slot) if self.db.quotas.enforced() => slot.quota().admit(),
            Some(slot) => {
                slot.quota().count_statement();
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The quota figures of the session's tenant (the release notes'
    /// `get_quota_tracking` for its own tenant), if the session runs in one.
    pub fn quota_tracking(&self) -> Option<QuotaTracking> {
        let slot = self.tenant_slot.as_ref()?;
        let mut t = slot.quota().tracking();
        if let Ok(txn) = self
            .db
            .txns
            .begin_read_only(crate::txn::IsolationLevel::ReadCommitted)
        {
            t.storage_bytes = crate::tenant::usage::usage_in(&txn, slot.tenant()).unwrap_or(0);
            txn.rollback();
        }
        Some(t)
    }

    /// Runs the session in tenant `tenant` (a name or a uuid), like
    /// `SET helios.tenant`.
    pub fn set_tenant(&mut self, tenant: &str) -> Result<()> {
        self.set_tenant_setting(Some(tenant), false)
    }

    /// Leaves the tenant context (`RESET helios.tenant`).
    pub fn clear_tenant(&mut self) -> Result<()> {
        self.set_tenant_setting(None, false)
    }

    /// The tenant the session runs in, if any (`current_tenant_id()`).
    pub fn tenant(&self) -> Option<uuid::Uuid> {
        tenant_of(&self.settings)
    }
}

/// The tenant a session's settings name.
pub(super) fn tenant_of(settings: &super::Settings) -> Option<uuid::Uuid> {
    settings.tenant()
}
