//! The tenancy API by the names of the v3.2 release notes: [`TenantManager`],
//! [`TenantContext`], [`IsolationMode`] and [`RLSCommand`].
//!
//! Every call is a thin wrapper over the same catalog and statements SQL
//! uses (`helios.create_tenant`, `SET helios.tenant`, `CREATE POLICY`, the
//! binder's row-level security), never a second source of truth:
//!
//! ```
//! use heliosdb_nano::Database;
//! use heliosdb_nano::tenant::{IsolationMode, RLSCommand, TenantContext};
//!
//! let db = Database::open_in_memory()?;
//! let tenants = db.tenant_manager();
//! let acme = tenants.register_tenant("acme", IsolationMode::SharedSchema)?;
//! db.connect().run("CREATE TABLE notes (id int PRIMARY KEY, body text);
//!                   SELECT helios.enable_tenancy('notes');
//!                   CREATE ROLE app; GRANT ALL ON notes TO app")?;
//! tenants.create_rls_policy("short", "notes", "length(body) < 100", RLSCommand::Insert, None)?;
//!
//! let mut s = db.connect();
//! s.set_current_context(TenantContext::new(acme).user("app"))?;
//! s.execute("INSERT INTO notes (id, body) VALUES (1, 'hello')", &[])?;
//! assert!(s.should_apply_rls("notes", RLSCommand::Select)?);
//! assert_eq!(
//!     s.get_rls_conditions("notes", RLSCommand::Select)?,
//!     vec!["(tenant_id = current_tenant_id())".to_string()]
//! );
//! # Ok::<(), heliosdb_nano::Error>(())
//! ```

pub mod fence;
pub mod quota;
pub mod usage;

use crate::catalog::PolicyCommand;
pub use crate::catalog::ResourceLimits;
use crate::error::{Error, Result, SqlState};
use crate::session::{Database, Session};
use crate::sql::quote_ident;
pub use quota::QuotaTracking;

/// How a tenant's data is kept apart. Shared tables with a tenant column
/// and row-level security (`SharedSchema`) is what HeliosDB Nano provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IsolationMode {
    #[default]
    SharedSchema,
}

/// The command a row-level security policy applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RLSCommand {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl RLSCommand {
    fn sql(self) -> &'static str {
        match self {
            RLSCommand::All => "ALL",
            RLSCommand::Select => "SELECT",
            RLSCommand::Insert => "INSERT",
            RLSCommand::Update => "UPDATE",
            RLSCommand::Delete => "DELETE",
        }
    }

    fn matches(self, p: PolicyCommand) -> bool {
        matches!(
            (self, p),
            (RLSCommand::All, _)
                | (_, PolicyCommand::All)
                | (RLSCommand::Select, PolicyCommand::Select)
                | (RLSCommand::Insert, PolicyCommand::Insert)
                | (RLSCommand::Update, PolicyCommand::Update)
                | (RLSCommand::Delete, PolicyCommand::Delete)
        )
    }
}

/// What a session works as: a tenant, optionally a role to act as, and
/// roles the caller expects it to hold (checked, 42501 if it does not).
#[derive(Clone, Debug)]
pub struct TenantContext {
    pub tenant_id: uuid::Uuid,
    /// The role to act as (`SET ROLE`), if any.
    pub user_id: Option<String>,
    /// Roles the acting role must be a member of.
    pub roles: Vec<String>,
    pub isolation_mode: IsolationMode,
}

impl TenantContext {
    pub fn new(tenant_id: uuid::Uuid) -> TenantContext {
        TenantContext {
            tenant_id,
            user_id: None,
            roles: Vec::new(),
            isolation_mode: IsolationMode::SharedSchema,
        }
    }

    /// Acts as role `user` in this context.
    pub fn user(mut self, user: &str) -> TenantContext {
        self.user_id = Some(user.to_string());
        self
    }
}

/// Manages tenants and policies; runs as the bootstrap superuser.
pub struct TenantManager {
    db: Database,
}

impl Database {
    /// The tenant manager of this data directory.
    pub fn tenant_manager(&self) -> TenantManager {
        TenantManager { db: self.clone() }
    }
}

impl TenantManager {
    /// `helios.create_tenant(name)`: the new tenant's id (42710 if the name is taken).
    pub fn register_tenant(&self, name: &str, mode: IsolationMode) -> Result<uuid::Uuid> {
        let IsolationMode::SharedSchema = mode;
        let rows = self
            .db
            .connect()
            .query("SELECT helios.create_tenant($1)", &[&name])?;
        rows.get(0)
            .ok_or_else(|| Error::internal("create_tenant returned no row"))?
            .get::<uuid::Uuid>(0)
    }

    /// `helios.drop_tenant(name, cascade => ...)`.
    pub fn drop_tenant(&self, name: &str, cascade: bool) -> Result<()> {
        let sql = format!("SELECT helios.drop_tenant($1, cascade => {cascade})");
        self.db.connect().query(&sql, &[&name])?;
        Ok(())
    }

    /// `CREATE POLICY name ON table FOR command USING (using) [WITH CHECK (check)]`
    /// (for INSERT the `using_expr` is the WITH CHECK expression, as
    /// PostgreSQL allows only that for INSERT policies).
    pub fn create_rls_policy(
        &self,
        name: &str,
        table: &str,
        using_expr: &str,
        command: RLSCommand,
        with_check_expr: Option<&str>,
    ) -> Result<()> {
        let mut sql = format!(
            "CREATE POLICY {} ON {} FOR {}",
            quote_ident(name),
            quote_ident(table),
            command.sql()
        );
        if command == RLSCommand::Insert {
            sql.push_str(&format!(
                " WITH CHECK ({})",
                with_check_expr.unwrap_or(using_expr)
            ));
        } else {
            sql.push_str(&format!(" USING ({using_expr})"));
            if let Some(c) = with_check_expr {
                sql.push_str(&format!(" WITH CHECK ({c})"));
            }
        }
        self.db.connect().execute(&sql, &[])?;
        Ok(())
    }

    /// `helios.set_tenant_limits(tenant, ...)` with every limit given.
    pub fn update_resource_limits(&self, tenant: &str, limits: ResourceLimits) -> Result<()> {
        self.db.connect().query(
            "SELECT helios.set_tenant_limits($1, max_storage_bytes => $2, max_connections => $3, max_qps => $4)",
            &[
                &tenant,
                &limits.max_storage_bytes,
                &limits.max_connections,
                &limits.max_qps,
            ],
        )?;
        Ok(())
    }

    /// `helios.start_migration(source, target, cutover => ...)`: the new
    /// migration's id. It runs in the background (see `cdc::migration`).
    pub fn start_migration(&self, source: &str, target: &str, cutover: bool) -> Result<u64> {
        let rows = self.db.connect().query(
            "SELECT helios.start_migration($1, $2, cutover => $3)",
            &[&source, &target, &cutover],
        )?;
        let id = rows
            .get(0)
            .ok_or_else(|| Error::internal("start_migration returned no row"))?
            .get::<i64>(0)?;
        Ok(id as u64)
    }

    /// A migration's persisted state (the release notes' `MigrationState`).
    pub fn get_migration_status(&self, id: u64) -> Result<crate::cdc::migration::Migration> {
        let txn = self
            .db
            .txn_manager()
            .begin_read_only(crate::txn::IsolationLevel::ReadCommitted)?;
        let m = crate::cdc::migration::get(&txn, id);
        txn.rollback();
        m?.ok_or_else(|| crate::cdc::migration::not_found(id))
    }

    /// The migrations not finished yet: running or paused (the release
    /// notes' replication targets of each source).
    pub fn get_active_migrations(&self) -> Result<Vec<crate::cdc::migration::Migration>> {
        let txn = self
            .db
            .txn_manager()
            .begin_read_only(crate::txn::IsolationLevel::ReadCommitted)?;
        let all = crate::cdc::migration::list(&txn);
        txn.rollback();
        Ok(all?
            .into_iter()
            .filter(|m| m.state.running() || m.state == crate::cdc::migration::State::Paused)
            .collect())
    }

    pub fn pause_migration(&self, id: u64) -> Result<()> {
        self.migration_call("pause_migration", id)
    }

    pub fn resume_migration(&self, id: u64) -> Result<()> {
        self.migration_call("resume_migration", id)
    }

    pub fn rollback_migration(&self, id: u64) -> Result<()> {
        self.migration_call("rollback_migration", id)
    }

    fn migration_call(&self, f: &str, id: u64) -> Result<()> {
        self.db
            .connect()
            .query(&format!("SELECT helios.{f}($1)"), &[&(id as i64)])?;
        Ok(())
    }

    /// Whether migration `id`'s source and target hold the same rows now:
    /// their checksums (`helios.tenant_checksum`) at one snapshot.
    pub fn verify_migration_consistency(&self, id: u64) -> Result<bool> {
        let m = self.get_migration_status(id)?;
        let mut s = self.db.connect();
        s.run("BEGIN ISOLATION LEVEL REPEATABLE READ")?;
        let sums = |s: &mut Session, t: uuid::Uuid| -> Result<Vec<Vec<crate::Value>>> {
            Ok(s.query(
                "SELECT table_name, row_count, checksum FROM helios.tenant_checksum($1)",
                &[&t.to_string()],
            )?
            .iter()
            .map(|r| r.values().to_vec())
            .collect())
        };
        let same = sums(&mut s, m.source)? == sums(&mut s, m.target)?;
        s.run("COMMIT")?;
        Ok(same)
    }

    /// The change log from LSN `after` on (at most `limit` changes): the
    /// release notes' `CDCLog`.
    pub fn get_cdc_log(&self, after: u64, limit: usize) -> Result<Vec<crate::cdc::ChangeEvent>> {
        self.db
            .changes(after, crate::cdc::ChangeFilter::default())
            .take(limit)
            .collect()
    }

    /// The newest `limit` changes of tenant `tenant` (name or uuid), oldest first.
    pub fn get_recent_changes(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<crate::cdc::ChangeEvent>> {
        let t = self.db.latest_catalog()?.tenant_named(tenant)?.id;
        let txn = self
            .db
            .txn_manager()
            .begin_read_only(crate::txn::IsolationLevel::ReadCommitted)?;
        let r =
            crate::cdc::read_recent(&txn, &crate::cdc::ChangeFilter::default().tenant(t), limit);
        txn.rollback();
        r
    }

    /// The quota of a tenant, by name or uuid, with its current limits.
    fn quota(&self, tenant: &str) -> Result<std::sync::Arc<quota::TenantQuota>> {
        let catalog = self.db.latest_catalog()?;
        let t = catalog.tenant_named(tenant)?;
        Ok(self
            .db
            .quotas()
            .tenant(t.id, &t.name, catalog.tenant_limits(t)))
    }

    /// Fails with the error a statement would get now if `kind`'s limit
    /// (`"storage"`, `"connections"` or `"qps"`) has been reached: 53100,
    /// 53300 or 53400. Takes nothing.
    pub fn check_quota(&self, tenant: &str, kind: &str) -> Result<()> {
        let q = self.quota(tenant)?;
        match kind {
            "connections" => q.check_connections(),
            "qps" => q.check_rate(),
            "storage" => {
                let t = self.get_quota_tracking(tenant)?;
                if t.storage_bytes >= t.limits.max_storage_bytes {
                    return Err(Error::new(
                        SqlState::DISK_FULL,
                        format!(
                            "tenant \"{}\" has reached its storage limit: {} bytes used, limit {} bytes",
                            t.tenant, t.storage_bytes, t.limits.max_storage_bytes
                        ),
                    ));
                }
                Ok(())
            }
            other => Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("unknown quota \"{other}\""),
            )
            .with_hint("The quotas are storage, connections and qps.")),
        }
    }

    /// Counts a connection of the tenant made outside a session (an
    /// application's own pool): 53300 beyond the limit. Dropping the slot,
    /// or [`TenantManager::remove_connection`], gives it back.
    pub fn add_connection(&self, tenant: &str) -> Result<quota::Slot> {
        self.quota(tenant)?.connect()
    }

    pub fn remove_connection(&self, slot: quota::Slot) {
        drop(slot);
    }

    /// Takes one statement's token of the tenant's rate quota (53400 when
    /// there is none), for work done outside SQL that should count.
    pub fn record_query(&self, tenant: &str) -> Result<()> {
        let q = self.quota(tenant)?;
        if self.db.quotas().enforced() {
            q.admit()
        } else {
            q.count_statement();
            Ok(())
        }
    }

    /// The tenant's limits, storage, connections, rate and rejections, as
    /// `helios.tenant_usage` shows them.
    pub fn get_quota_tracking(&self, tenant: &str) -> Result<QuotaTracking> {
        let catalog = self.db.latest_catalog()?;
        let name = catalog.tenant_named(tenant)?.name.clone();
        let rows = self.db.connect().query(
            "SELECT storage_bytes FROM helios.tenant_usage WHERE tenant = $1",
            &[&name],
        )?;
        let storage: i64 = rows
            .get(0)
            .ok_or_else(|| Error::internal("helios.tenant_usage has no row for the tenant"))?
            .get(0)?;
        let mut t = self.quota(tenant)?.tracking();
        t.storage_bytes = storage;
        Ok(t)
    }
}

impl Session {
    /// Enters a tenant context: the tenant (like `SET helios.tenant`), the
    /// role to act as (like `SET ROLE`), and a check that the acting role
    /// holds the context's roles.
    pub fn set_current_context(&mut self, ctx: TenantContext) -> Result<()> {
        let IsolationMode::SharedSchema = ctx.isolation_mode;
        if let Some(user) = &ctx.user_id {
            self.execute(&format!("SET ROLE {}", quote_ident(user)), &[])?;
        }
        self.set_tenant(&ctx.tenant_id.to_string())?;
        for r in &ctx.roles {
            let rows = self.query("SELECT pg_has_role($1, 'USAGE')", &[r])?;
            if !rows
                .get(0)
                .is_some_and(|row| row.get::<bool>(0).unwrap_or(false))
            {
                return Err(Error::new(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    format!("the current role does not have the privileges of role \"{r}\""),
                ));
            }
        }
        Ok(())
    }

    /// Whether row-level security filters `table` for `command` in this
    /// session (false for superusers, BYPASSRLS roles, and owners without FORCE).
    pub fn should_apply_rls(&mut self, table: &str, command: RLSCommand) -> Result<bool> {
        Ok(self.rls_policies(table, command)?.is_some())
    }

    /// The USING expressions (WITH CHECK for INSERT) of the policies that
    /// apply to the current user for `command` on `table`, as SQL text;
    /// empty when row-level security does not apply.
    pub fn get_rls_conditions(&mut self, table: &str, command: RLSCommand) -> Result<Vec<String>> {
        Ok(self.rls_policies(table, command)?.unwrap_or_default())
    }

    /// None when RLS does not apply; else the applicable expressions.
    fn rls_policies(&mut self, table: &str, command: RLSCommand) -> Result<Option<Vec<String>>> {
        let (catalog, role, search_path) = self.binding_state()?;
        let name = crate::sql::parser::parse_expr(table)?;
        let name = match name {
            sqlparser::ast::Expr::Identifier(i) => sqlparser::ast::ObjectName::from(vec![i]),
            sqlparser::ast::Expr::CompoundIdentifier(p) => sqlparser::ast::ObjectName::from(p),
            _ => return Err(Error::undefined_table(table)),
        };
        let binder =
            crate::sql::binder::Binder::new(&catalog, &search_path).with_privilege_checks(role);
        let t = binder.table(&name)?;
        if binder.rls_role(&t)?.is_none() {
            return Ok(None);
        }
        let roles = catalog.roles_with_privileges_of(role);
        let out = t
            .rls
            .policies
            .iter()
            .filter(|p| command.matches(p.command))
            .filter(|p| {
                p.roles
                    .iter()
                    .any(|r| *r == crate::catalog::acl::PUBLIC || roles.contains(r))
            })
            .filter_map(|p| {
                let e = if command == RLSCommand::Insert {
                    p.with_check.clone().or_else(|| p.using.clone())
                } else {
                    p.using.clone()
                };
                e.map(|e| format!("({e})"))
            })
            .collect();
        Ok(Some(out))
    }
}
