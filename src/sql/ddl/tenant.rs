//! Tenants and tenant-scoped tables: what `helios.create_tenant`,
//! `helios.drop_tenant`, `helios.bind_role`, `helios.enable_tenancy` and
//! `helios.disable_tenancy` do, inside the statement's transaction.
//!
//! Enabling tenancy is ordinary DDL run on the caller's behalf (so it needs
//! the table's ownership, and is as transactional as the rest): the tenant
//! column becomes NOT NULL with DEFAULT current_tenant_id(), an index
//! leading with it is created if none exists, the policy
//! `tenant_isolation` compares it with current_tenant_id() for reads and
//! writes, and the table gets ENABLE and FORCE ROW LEVEL SECURITY.

use super::DdlCtx;
use crate::catalog::keys;
use crate::catalog::tenants::DEFAULT_TIER;
use crate::catalog::{self as cat, LimitOverrides, ResourceLimits, TableDef, TenantDef, TierDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::parser;
use crate::sql::quote_ident;
use crate::types::{DataType, Value};
use sqlparser::ast;
use std::sync::Arc;

/// The policy `helios.enable_tenancy` creates.
pub const TENANT_POLICY: &str = "tenant_isolation";

/// A tenant-scoped table: its database's name, itself, and that database's catalog.
type TenantTable = (String, Arc<TableDef>, Arc<cat::Catalog>);

fn denied(what: &str) -> Error {
    Error::new(
        SqlState::INSUFFICIENT_PRIVILEGE,
        format!("permission denied to {what}"),
    )
    .with_hint("Tenants are managed by superusers and roles with CREATEROLE.")
}

impl DdlCtx<'_> {
    fn require_tenant_admin(&self, what: &str) -> Result<()> {
        if self.catalog.manages_tenants(self.current_user) {
            Ok(())
        } else {
            Err(denied(what))
        }
    }

    fn tenant_exact(&self, text: &str) -> Result<Arc<TenantDef>> {
        self.catalog.tenant_named(text).cloned().map_err(|_| {
            Error::new(
                SqlState::UNDEFINED_OBJECT,
                format!("tenant \"{text}\" does not exist"),
            )
        })
    }

    /// `helios.create_tenant(name [, tier => ...])`: the new tenant's id.
    pub fn create_tenant(&mut self, name: &str, tier: Option<&str>) -> Result<uuid::Uuid> {
        self.require_tenant_admin("create tenants")?;
        self.lock_roles_for_tenants()?;
        if name.is_empty() {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "tenant name cannot be empty",
            ));
        }
        if uuid::Uuid::parse_str(name).is_ok() {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("tenant name \"{name}\" cannot be a uuid"),
            ));
        }
        if self.catalog.tenant_by_name(name).is_some() {
            return Err(Error::new(
                SqlState::DUPLICATE_OBJECT,
                format!("tenant \"{name}\" already exists"),
            ));
        }
        let tier = self.existing_tier(tier.unwrap_or(DEFAULT_TIER))?.name;
        let t = TenantDef {
            oid: self.oids.allocate(self.txn)?,
            id: uuid::Uuid::new_v4(),
            name: name.to_string(),
            tier,
            created_at: chrono::Utc::now().timestamp_micros(),
            overrides: LimitOverrides::default(),
            moved_to: None,
        };
        cat::put_object(self.txn, cat::KIND_TENANT, t.oid, &t)?;
        cat::bump_version(self.txn);
        self.reload()?;
        Ok(t.id)
    }

    /// The tier named `name` (any case), or 22023.
    fn existing_tier(&self, name: &str) -> Result<TierDef> {
        let name = name.to_ascii_lowercase();
        self.catalog.tier(&name).ok_or_else(|| {
            let names: Vec<String> = self
                .catalog
                .all_tiers()
                .into_iter()
                .map(|t| t.name)
                .collect();
            Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("tier \"{name}\" does not exist"),
            )
            .with_hint(format!("The tiers are {}.", names.join(", ")))
        })
    }

    fn put_tier(&mut self, mut t: TierDef) -> Result<()> {
        if t.oid == 0 {
            t.oid = self.oids.allocate(self.txn)?;
        }
        cat::put_object(self.txn, cat::KIND_TIER, t.oid, &t)?;
        cat::bump_version(self.txn);
        self.reload()
    }

    /// `helios.create_tier(name, max_storage_bytes, max_connections, max_qps)`.
    pub fn create_tier(&mut self, name: &str, limits: ResourceLimits) -> Result<()> {
        self.require_tenant_admin("create tiers")?;
        self.lock_roles_for_tenants()?;
        let name = name.to_ascii_lowercase();
        if name.is_empty() {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "tier name cannot be empty",
            ));
        }
        if self.catalog.tier(&name).is_some() {
            return Err(Error::new(
                SqlState::DUPLICATE_OBJECT,
                format!("tier \"{name}\" already exists"),
            ));
        }
        check_limits(&limits)?;
        self.put_tier(TierDef {
            oid: 0,
            name,
            limits,
        })
    }

    /// `helios.alter_tier(name, [max_storage_bytes => ...,] ...)`: the
    /// limits given change, the others stay.
    pub fn alter_tier(&mut self, name: &str, change: LimitOverrides) -> Result<()> {
        self.require_tenant_admin("alter tiers")?;
        self.lock_roles_for_tenants()?;
        let mut t = self.existing_tier(name)?;
        let l = &mut t.limits;
        l.max_storage_bytes = change.max_storage_bytes.unwrap_or(l.max_storage_bytes);
        l.max_connections = change.max_connections.unwrap_or(l.max_connections);
        l.max_qps = change.max_qps.unwrap_or(l.max_qps);
        check_limits(&t.limits)?;
        self.put_tier(t)
    }

    /// `helios.set_tenant_tier(tenant, tier)`.
    pub fn set_tenant_tier(&mut self, tenant: &str, tier: &str) -> Result<()> {
        self.require_tenant_admin("change tenants")?;
        self.lock_roles_for_tenants()?;
        let tier = self.existing_tier(tier)?.name;
        let mut t = (*self.catalog.tenant_named(tenant)?.clone()).clone();
        t.tier = tier;
        cat::put_object(self.txn, cat::KIND_TENANT, t.oid, &t)?;
        cat::bump_version(self.txn);
        self.reload()
    }

    /// `helios.set_tenant_limits(tenant, max_storage_bytes => ..., ...)`:
    /// each limit given becomes the tenant's own (NULL: back to its tier's);
    /// limits not given stay as they are.
    pub fn set_tenant_limits(
        &mut self,
        tenant: &str,
        change: [Option<Option<i64>>; 3],
    ) -> Result<()> {
        self.require_tenant_admin("change tenants")?;
        self.lock_roles_for_tenants()?;
        let mut t = (*self.catalog.tenant_named(tenant)?.clone()).clone();
        let o = &mut t.overrides;
        let [storage, connections, qps] = change;
        if let Some(v) = storage {
            o.max_storage_bytes = v;
        }
        if let Some(v) = connections {
            o.max_connections = v;
        }
        if let Some(v) = qps {
            o.max_qps = v;
        }
        check_limits(&self.catalog.tenant_limits(&t))?;
        cat::put_object(self.txn, cat::KIND_TENANT, t.oid, &t)?;
        cat::bump_version(self.txn);
        self.reload()
    }

    /// Tenant DDL serializes with role DDL (bindings cross both).
    fn lock_roles_for_tenants(&mut self) -> Result<()> {
        if self.txn.lock_for_write(keys::LOCK_ROLES)? == crate::txn::WriteCheck::Changed {
            self.txn.refresh_snapshot()?;
            self.reload()?;
        }
        Ok(())
    }

    /// Every tenant-scoped table of every database, with its database name.
    fn tenant_tables(&self) -> Result<Vec<TenantTable>> {
        let mut out = Vec::new();
        for d in self.catalog.databases.values() {
            let c = if d.id == self.catalog.database {
                self.catalog.clone()
            } else {
                Arc::new(cat::Catalog::load(self.txn, d.id)?)
            };
            for t in c.tables.values().filter(|t| t.tenant_column.is_some()) {
                out.push((d.name.clone(), t.clone(), c.clone()));
            }
        }
        Ok(out)
    }

    /// A migration's cutover: tenant `target` takes `source`'s name, tier,
    /// limits and bound roles; `source` is renamed `retired` and marked as
    /// moved, so sessions still in it run in `target` from their next
    /// statement.
    pub fn cutover_tenant(
        &mut self,
        source: uuid::Uuid,
        target: uuid::Uuid,
        retired: &str,
    ) -> Result<()> {
        self.lock_roles_for_tenants()?;
        let s = self.catalog.tenant_by_id(source).cloned().ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_OBJECT,
                "the source tenant no longer exists",
            )
        })?;
        let t = self.catalog.tenant_by_id(target).cloned().ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_OBJECT,
                "the target tenant no longer exists",
            )
        })?;
        let mut new_target = (*t).clone();
        new_target.name = s.name.clone();
        new_target.tier = s.tier.clone();
        new_target.overrides = s.overrides;
        let mut new_source = (*s).clone();
        new_source.name = retired.to_string();
        new_source.moved_to = Some(target);
        cat::put_object(self.txn, cat::KIND_TENANT, new_source.oid, &new_source)?;
        cat::put_object(self.txn, cat::KIND_TENANT, new_target.oid, &new_target)?;
        let bound: Vec<Arc<cat::RoleDef>> = self
            .catalog
            .roles
            .values()
            .filter(|r| r.tenant == Some(source))
            .cloned()
            .collect();
        for r in bound {
            let mut r = (*r).clone();
            r.tenant = Some(target);
            cat::put_object(self.txn, cat::KIND_ROLE, r.id, &r)?;
        }
        crate::tenant::fence::mark_moved(self.txn, source, target);
        cat::bump_version(self.txn);
        self.reload()
    }

    /// `helios.drop_tenant(name [, cascade => true])`.
    pub fn drop_tenant(&mut self, name: &str, cascade: bool) -> Result<()> {
        self.require_tenant_admin("drop tenants")?;
        self.lock_roles_for_tenants()?;
        let tenant = self.tenant_exact(name)?;
        let bound: Vec<Arc<cat::RoleDef>> = self
            .catalog
            .roles
            .values()
            .filter(|r| r.tenant == Some(tenant.id))
            .cloned()
            .collect();
        if !bound.is_empty() && !cascade {
            let detail: Vec<String> = bound
                .iter()
                .map(|r| format!("role {} is bound to it", r.name))
                .collect();
            return Err(Error::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "tenant \"{}\" cannot be dropped because roles are bound to it",
                    tenant.name
                ),
            )
            .with_detail(detail.join("\n"))
            .with_hint("Use cascade => true to unbind them and delete the tenant's rows."));
        }
        let id = Value::Uuid(tenant.id);
        let mut owned = Vec::new();
        for (db, table, c) in self.tenant_tables()? {
            let col = table.tenant_column.expect("filtered above");
            self.lock_table_exclusive(table.id)?;
            let rows: Vec<_> = self
                .table_rows(&table)?
                .into_iter()
                .filter(|(_, r)| r[col] == id)
                .collect();
            if rows.is_empty() {
                continue;
            }
            if !cascade {
                owned.push(format!(
                    "{} row(s) in table {}.{} of database {db}",
                    rows.len(),
                    table.schema,
                    table.name
                ));
                continue;
            }
            if let Some(child) = c
                .referencing(table.id)
                .into_iter()
                .find(|r| r.tenant_column.is_none())
            {
                return Err(Error::unsupported(format!(
                    "cannot delete the rows of tenant \"{}\": table \"{}\" references tenant-scoped table \"{}\" but is not tenant-scoped",
                    tenant.name, child.name, table.name
                )));
            }
            // Through the executor's writer: index entries go, and the
            // deletes are captured like any other.
            let ops = rows
                .into_iter()
                .map(|(key, _)| crate::sql::executor::dml::apply::ApplyOp::Delete(key))
                .collect();
            crate::sql::executor::dml::apply::apply_rows(self.txn, &c, self.env, &table, ops)?;
        }
        if !owned.is_empty() {
            return Err(Error::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!("tenant \"{}\" still owns rows", tenant.name),
            )
            .with_detail(owned.join("\n"))
            .with_hint("Use cascade => true to delete them."));
        }
        for r in bound {
            let mut r = (*r).clone();
            r.tenant = None;
            cat::put_object(self.txn, cat::KIND_ROLE, r.id, &r)?;
        }
        cat::delete_object(self.txn, cat::KIND_TENANT, tenant.oid);
        // Its rows are gone: so is what they counted.
        crate::tenant::usage::set_usage(self.txn, tenant.id, 0)?;
        cat::bump_version(self.txn);
        self.reload()
    }

    /// `helios.recompute_usage(tenant)`: the bytes of the tenant's rows and
    /// index entries in every tenant-scoped table of every database, and of
    /// its changes in the change log, counted afresh (what the tracked
    /// usage must equal).
    pub fn recompute_usage(&mut self, tenant: &str) -> Result<i64> {
        self.require_tenant_admin("recount tenants' storage")?;
        let id = self.catalog.tenant_named(tenant)?.id;
        let mut total = 0;
        for (_, table, catalog) in self.tenant_tables()? {
            let usage = self.table_usage_in(&catalog, &table)?;
            total += usage
                .entries()
                .iter()
                .filter(|(t, _)| *t == id)
                .map(|(_, b)| b)
                .sum::<i64>();
        }
        Ok(total + crate::txn::changes::log_bytes(self.txn, Some(id))?)
    }

    /// `helios.bind_role(role, tenant)` (tenant None: `helios.unbind_role`).
    pub fn bind_role(&mut self, role: &str, tenant: Option<&str>) -> Result<()> {
        self.require_tenant_admin("bind roles to tenants")?;
        self.lock_roles_for_tenants()?;
        let mut r = (**self.catalog.role_named(role)?).clone();
        if r.superuser && !self.catalog.is_superuser(self.current_user) {
            return Err(denied("bind a superuser"));
        }
        r.tenant = match tenant {
            Some(t) => Some(self.tenant_exact(t)?.id),
            None => None,
        };
        cat::put_object(self.txn, cat::KIND_ROLE, r.id, &r)?;
        cat::bump_version(self.txn);
        self.reload()
    }

    /// Runs internal DDL text (built from quoted names) in this context.
    fn run_internal(&mut self, sql: &str) -> Result<()> {
        for stmt in parser::parse(sql)? {
            match &stmt {
                ast::Statement::AlterTable(at) => {
                    self.alter_table(at)?;
                }
                ast::Statement::CreateIndex(ci) => {
                    self.create_index(ci)?;
                }
                ast::Statement::CreatePolicy(cp) => {
                    self.create_policy(cp)?;
                }
                ast::Statement::DropPolicy(dp) => {
                    self.drop_policy(dp)?;
                }
                other => return Err(Error::internal(format!("unexpected internal DDL {other}"))),
            }
        }
        Ok(())
    }

    /// `helios.enable_tenancy(table [, column => 'tenant_id'])`.
    /// `helios.set_capture(table, enabled)`: whether the change log
    /// captures the table's changes (the table's owner decides).
    pub fn set_capture(&mut self, table: &ast::ObjectName, enabled: bool) -> Result<()> {
        let t = self.binder().table(table)?;
        self.require_owner(crate::catalog::acl::Object::Table(&t))?;
        if t.is_temp() {
            return Err(Error::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "changes to temporary tables are never captured",
            ));
        }
        self.lock_table_exclusive(t.id)?;
        let mut def = (*t).clone();
        def.capture_off = !enabled;
        self.put_table(&def)?;
        self.reload()
    }

    pub fn enable_tenancy(&mut self, table: &ast::ObjectName, column: &str) -> Result<()> {
        let t = self.binder().table(table)?;
        self.require_owner(crate::catalog::acl::Object::Table(&t))?;
        let qt = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
        let qc = quote_ident(column);
        match t.column_index(column) {
            None => self.run_internal(&format!(
                "ALTER TABLE {qt} ADD COLUMN {qc} uuid NOT NULL DEFAULT current_tenant_id()"
            ))?,
            Some(i) => {
                if t.columns[i].ty != DataType::Uuid {
                    return Err(Error::new(
                        SqlState::DATATYPE_MISMATCH,
                        format!(
                            "tenant column \"{column}\" of table \"{}\" must be of type uuid, not {}",
                            t.name,
                            t.columns[i].ty.name()
                        ),
                    ));
                }
                self.run_internal(&format!(
                    "ALTER TABLE {qt} ALTER COLUMN {qc} SET NOT NULL, ALTER COLUMN {qc} SET DEFAULT current_tenant_id()"
                ))?;
            }
        }
        let t = self.catalog.table(t.id)?.clone();
        let col = t.column_index(column).expect("the column exists now");
        let indexed = t.primary_key.first() == Some(&col)
            || self
                .catalog
                .index_iter(t.id)
                .any(|ix| ix.columns.first() == Some(&col));
        if !indexed {
            self.run_internal(&format!("CREATE INDEX ON {qt} ({qc})"))?;
        }
        if t.policy(TENANT_POLICY).is_none() {
            self.run_internal(&format!(
                "CREATE POLICY {TENANT_POLICY} ON {qt} FOR ALL USING ({qc} = current_tenant_id()) WITH CHECK ({qc} = current_tenant_id())"
            ))?;
        }
        let mut t = (**self.catalog.table(t.id)?).clone();
        t.rls.enabled = true;
        t.rls.forced = true;
        let counted = t.tenant_column == Some(col);
        t.tenant_column = Some(col);
        self.put_table(&t)?;
        self.reload()?;
        // From now on its rows count for their tenants.
        if !counted {
            let after = self.table_usage(&t)?;
            self.account_table(Default::default(), after)?;
        }
        Ok(())
    }

    /// `helios.disable_tenancy(table)`: drops the `tenant_isolation` policy
    /// and the column's default, turns row-level security off, and forgets
    /// the tenant column (its data, NOT NULL and index stay).
    pub fn disable_tenancy(&mut self, table: &ast::ObjectName) -> Result<()> {
        let t = self.binder().table(table)?;
        self.require_owner(crate::catalog::acl::Object::Table(&t))?;
        let Some(col) = t.tenant_column else {
            return Err(Error::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("table \"{}\" is not tenant-scoped", t.name),
            ));
        };
        let qt = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
        let qc = quote_ident(&t.columns[col].name);
        // Its rows stop counting for their tenants.
        self.lock_table_exclusive(t.id)?;
        let before = self.table_usage(&t)?;
        self.account_table(before, Default::default())?;
        self.run_internal(&format!(
            "DROP POLICY IF EXISTS {TENANT_POLICY} ON {qt}; ALTER TABLE {qt} ALTER COLUMN {qc} DROP DEFAULT"
        ))?;
        let mut t = (**self.catalog.table(t.id)?).clone();
        t.rls.enabled = false;
        t.rls.forced = false;
        t.tenant_column = None;
        self.put_table(&t)?;
        self.reload()
    }
}

/// Limits must not be negative (0 refuses everything).
fn check_limits(l: &ResourceLimits) -> Result<()> {
    for (name, v) in [
        ("max_storage_bytes", l.max_storage_bytes),
        ("max_connections", l.max_connections),
        ("max_qps", l.max_qps),
    ] {
        if v < 0 {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("{name} must not be negative"),
            ));
        }
    }
    Ok(())
}
