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

/// The setting that carries the tenant context.
pub const TENANT_SETTING: &str = "helios.tenant";

impl Session {
    /// Locks the session to the tenant its login role is bound to.
    pub(crate) fn bind_tenant(&mut self, id: uuid::Uuid) -> Result<()> {
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
            None => self.settings.reset(TENANT_SETTING),
            Some("") => self.settings.set(TENANT_SETTING, "", local),
            Some(v) => {
                let id = self.tenant_catalog()?.tenant_named(v)?.id;
                self.settings.set(TENANT_SETTING, &id.to_string(), local)
            }
        }
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
