//! Sessions: the API every client uses (embedded callers, the shell, and
//! later the wire server).
//!
//! A [`Session`] owns its transaction state, settings and role identity
//! (session user and current user, see `identity`; logging in as a role is
//! in `auth`). Each call parses
//! SQL, runs transaction control and settings itself, and hands other
//! statements to the SQL layer inside the current transaction (or a new
//! one that commits when the statement succeeds, like PostgreSQL's
//! autocommit). A statement that fails inside `BEGIN ... COMMIT` puts the
//! transaction into the aborted state (25P02) until ROLLBACK or ROLLBACK TO
//! SAVEPOINT.
//!
//! Besides results, a session reports what PostgreSQL sends a client
//! asynchronously (`report`): notices and warnings raised while a statement
//! runs ([`StatementResult::notices`], [`Session::take_notices`]), and the
//! values of the parameters a server reports with ParameterStatus.

pub mod auth;
mod changes;
mod commands;
mod copy;
mod cursor;
mod database;
mod helios;
mod identity;
mod maintenance;
mod migrations;
mod params;
mod prepare;
mod registry;
mod report;
mod rows;
mod set;
mod settings;
mod tenant;
mod writes;

pub use crate::catalog::roles::BOOTSTRAP_SUPERUSER;
pub use auth::{LoginRole, ScramVerifier};
pub use database::Database;
pub(crate) use registry::TerminationWatch;
pub use report::ConnectionInfo;
pub use rows::{ColumnIndex, ColumnInfo, FromValue, Row, Rows, ToValue};
pub use settings::{SettingSource, Settings};

use crate::catalog::keys::table_lock_key;
use crate::catalog::{Catalog, SequenceDef, TableDef, acl};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::{Binder, DmlPlan, InsertPlan, resolve_sequence};
use crate::sql::ddl::{DdlCtx, is_role_grant};
use crate::sql::executor::{self, ExecCtx, dml};
use crate::sql::expr::EvalEnv;
use crate::sql::parser::Statement;
use crate::sql::plan::{Column, Plan};
use crate::sql::{optimizer, parser};
use crate::storage::Durability;
use crate::txn::locks::LockMode;
use crate::txn::{IsolationLevel, Transaction};
use crate::types::{DataType, Value};
use chrono::{DateTime, Utc};
use database::DbInner;
use identity::Identity;
use sqlparser::ast;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The outcome of one statement: its command tag and, for statements that
/// return rows, the rows.
#[derive(Debug)]
pub struct StatementResult {
    /// The command: `SELECT`, `INSERT`, `UPDATE`, `DELETE`, or a complete
    /// tag such as `CREATE TABLE`; [`StatementResult::tag`] adds the count.
    pub command: std::borrow::Cow<'static, str>,
    /// Rows affected (INSERT/UPDATE/DELETE) or returned (SELECT).
    pub affected: u64,
    /// Result rows for SELECT, SHOW, EXPLAIN and RETURNING (for COPY TO
    /// STDOUT: one `bytea` line of formatted data per row).
    pub rows: Option<Rows>,
    /// Notices and warnings the statement raised, in order, already
    /// filtered by `client_min_messages` (see [`crate::notice`]). Filled by
    /// the calls that return a `StatementResult` ([`Session::run`],
    /// [`Session::run_each`], [`Session::run_simple_query`],
    /// [`Session::run_prepared`]); the other calls leave them for
    /// [`Session::take_notices`].
    pub notices: Vec<Notice>,
    /// Set for COPY statements: the wire protocol answers them with its
    /// copy sub-protocol.
    pub(crate) copy: Option<CopyMode>,
    /// Set for `DEALLOCATE` and `DISCARD ALL`: the wire protocol's named
    /// statements they drop. The statements themselves are the server's, so
    /// it drops them (embedded [`Prepared`] values are the caller's own).
    pub(crate) deallocate: Option<Vec<String>>,
}

/// What a COPY statement started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyMode {
    /// `COPY ... FROM STDIN`: the session waits for data.
    In { columns: usize },
    /// `COPY ... TO STDOUT`: the rows are the data.
    Out { columns: usize },
}

/// A parsed statement for repeated execution with `$1..$n` parameters.
pub struct Prepared {
    sql: String,
    stmt: Statement,
    param_types: Vec<DataType>,
    /// Parameter types the caller declared (wire protocol Parse); `Unknown` = infer.
    declared: Vec<DataType>,
    columns: Vec<ColumnInfo>,
    cache: parking_lot::Mutex<Option<PlanCacheEntry>>,
    /// The statement's `db.schema.name` names, collected on first run.
    three_part_names: std::sync::OnceLock<Vec<ast::ObjectName>>,
}

/// A bound plan with the catalog, search path and current user it was
/// bound for (privileges are checked while binding).
type PlanCacheEntry = (Arc<Catalog>, Arc<Vec<String>>, u32, CachedPlan);

enum CachedPlan {
    Query(Arc<Plan>, Arc<Vec<ColumnInfo>>),
    Dml(Arc<DmlPlan>),
}

impl Prepared {
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Parameter types inferred from the statement (Unknown where no context fixed one).
    pub fn param_types(&self) -> &[DataType] {
        &self.param_types
    }

    /// Result columns (empty for statements without rows).
    pub fn columns(&self) -> &[ColumnInfo] {
        &self.columns
    }
}

struct ActiveTxn {
    txn: Transaction,
    explicit: bool,
    aborted: bool,
    /// READ ONLY access mode (`BEGIN READ ONLY`, `default_transaction_read_only`):
    /// statements that write fail with 25006.
    read_only: bool,
    /// The transaction changed the catalog: read its own version.
    catalog_dirty: bool,
    local_catalog: Option<Arc<Catalog>>,
    /// Transaction start time, read from the clock on first use (`now()`).
    start: std::sync::OnceLock<DateTime<Utc>>,
}

/// One connection's state: transaction, settings and session-level values.
pub struct Session {
    db: Arc<DbInner>,
    /// The database the session is connected to (its id), and its place
    /// among that database's open sessions.
    database: u32,
    slot: registry::DatabaseSlot,
    txn: Option<ActiveTxn>,
    settings: Settings,
    currvals: RefCell<HashMap<u32, i64>>,
    identity: Identity,
    /// Set by [`CancelHandle::cancel`]; running statements stop with 57014.
    interrupt: Arc<AtomicBool>,
    /// A `COPY ... FROM STDIN` waiting for data.
    copy_in: Option<Box<copy::CopyIn>>,
    /// The effective search path, for the catalog, user and raw path it was computed from.
    path_cache: Option<SearchPathCache>,
    /// The tenant the login role is bound to: the session cannot leave it.
    bound_tenant: Option<uuid::Uuid>,
    /// The connection the session counts against its tenant's quota.
    tenant_slot: Option<crate::tenant::quota::Slot>,
    /// Notices raised and not yet handed out (see [`Session::take_notices`]).
    notices: RefCell<Vec<Notice>>,
    /// `set_config` calls of the running statement, applied when it succeeds.
    pending_settings: RefCell<Vec<report::PendingSetting>>,
    /// Process id, server and client address (see [`Session::backend_pid`]).
    info: ConnectionInfo,
    /// The reported parameters as last handed to the server.
    reported: Option<report::Reported>,
    /// The session's temporary schema, `pg_temp_<n>` (see `sql::ddl::temp`).
    temp_schema: String,
    /// Whether the session may have temporary objects (it ran DDL that can
    /// create them): commits then run their ON COMMIT actions, and the end
    /// of the session drops them.
    temp_used: bool,
    /// Open SQL cursors (DECLARE), by name.
    cursors: HashMap<String, cursor::Cursor>,
    /// Statements prepared with SQL `PREPARE` (see `prepare_sql`).
    sql_prepared: HashMap<String, Arc<Prepared>>,
    /// Names of the statements a wire-protocol client prepared (Parse),
    /// which share one namespace with SQL `PREPARE`, as in PostgreSQL.
    protocol_statements: std::collections::BTreeSet<String>,
}

/// (catalog, current user, `search_path` as set, the schemas it means).
type SearchPathCache = (Arc<Catalog>, u32, Arc<Vec<String>>, Arc<Vec<String>>);

/// Cancels the statement a [`Session`] is running, from any thread (the
/// wire server's CancelRequest uses it). A cancel that arrives while the
/// session is idle is forgotten when its next statement starts.
#[derive(Clone, Debug)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The instant `statement_timeout` (if set) runs out for a statement starting now.
fn statement_deadline(settings: &Settings) -> Option<std::time::Instant> {
    settings
        .statement_timeout()
        .map(|t| std::time::Instant::now() + t)
}

/// Services for expressions during one statement.
struct StmtEnv<'a> {
    db: &'a DbInner,
    catalog: &'a Catalog,
    search_path: &'a [String],
    currvals: &'a RefCell<HashMap<u32, i64>>,
    settings: &'a Settings,
    txn_time: &'a std::sync::OnceLock<DateTime<Utc>>,
    stmt_time: std::cell::OnceCell<DateTime<Utc>>,
    /// When `statement_timeout` expires for this statement.
    deadline: Option<std::time::Instant>,
    identity: &'a Identity,
    interrupt: &'a AtomicBool,
    /// Whether the session was terminated (an interrupt is then 57P01).
    signals: &'a registry::Signals,
    /// `current_tenant_id()`, read once per statement.
    tenant: std::cell::OnceCell<Option<uuid::Uuid>>,
    notices: &'a RefCell<Vec<Notice>>,
    pending_settings: &'a RefCell<Vec<report::PendingSetting>>,
    info: &'a ConnectionInfo,
    cursors: &'a HashMap<String, cursor::Cursor>,
}

impl<'a> StmtEnv<'a> {
    /// The environment for one statement of `session` (whose transaction
    /// may be taken out for the duration, hence `txn_time` separately).
    fn new(
        session: &'a Session,
        catalog: &'a Catalog,
        search_path: &'a [String],
        txn_time: &'a std::sync::OnceLock<DateTime<Utc>>,
    ) -> StmtEnv<'a> {
        StmtEnv {
            db: &session.db,
            catalog,
            search_path,
            currvals: &session.currvals,
            settings: &session.settings,
            txn_time,
            stmt_time: std::cell::OnceCell::new(),
            deadline: statement_deadline(&session.settings),
            interrupt: &session.interrupt,
            signals: &session.slot.signals,
            tenant: std::cell::OnceCell::new(),
            identity: &session.identity,
            notices: &session.notices,
            pending_settings: &session.pending_settings,
            info: &session.info,
            cursors: &session.cursors,
        }
    }
}

impl StmtEnv<'_> {
    /// Fails with 42501 unless the current user holds one of `any_of` on
    /// the sequence. Identity columns' sequences need none (as in PostgreSQL),
    /// nor do hidden row-id sequences.
    fn check_sequence(&self, def: &SequenceDef, any_of: acl::Privs) -> Result<()> {
        let identity = def.owned_by.is_some_and(|(t, c)| {
            self.catalog
                .tables
                .get(&t)
                .and_then(|t| t.columns.get(c))
                .is_some_and(|c| c.identity.is_some())
        });
        if def.internal || identity {
            return Ok(());
        }
        self.catalog.check_privilege(
            self.identity.current_user(),
            acl::Object::Sequence(def),
            any_of,
        )
    }
}

impl EvalEnv for StmtEnv<'_> {
    fn quotas_enforced(&self) -> bool {
        self.db.quotas.enforced()
    }

    fn storage_rejected(&self, tenant: uuid::Uuid) {
        if let Some(t) = self.catalog.tenant_by_id(tenant) {
            self.db
                .quotas
                .tenant(tenant, &t.name, self.catalog.tenant_limits(t))
                .note_storage_rejection();
        }
    }

    fn nextval(&self, seq: u32) -> Result<i64> {
        let def = self
            .catalog
            .sequences
            .get(&seq)
            .ok_or_else(|| Error::undefined_table(&format!("sequence {seq}")))?;
        self.check_sequence(def, acl::USAGE | acl::UPDATE)?;
        let v = self.db.sequences.nextval(self.db.engine.as_ref(), def)?;
        self.currvals.borrow_mut().insert(seq, v);
        Ok(v)
    }

    fn currval(&self, seq: u32) -> Result<i64> {
        if let Some(def) = self.catalog.sequences.get(&seq) {
            self.check_sequence(def, acl::SELECT | acl::USAGE)?;
        }
        self.currvals.borrow().get(&seq).copied().ok_or_else(|| {
            let name = self
                .catalog
                .sequences
                .get(&seq)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            Error::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("currval of sequence \"{name}\" is not yet defined in this session"),
            )
        })
    }

    fn setval(&self, seq: u32, value: i64, is_called: bool) -> Result<i64> {
        let def = self
            .catalog
            .sequences
            .get(&seq)
            .ok_or_else(|| Error::undefined_table(&format!("sequence {seq}")))?;
        self.check_sequence(def, acl::UPDATE)?;
        let v = self
            .db
            .sequences
            .setval(self.db.engine.as_ref(), def, value, is_called)?;
        if is_called {
            self.currvals.borrow_mut().insert(seq, value);
        }
        Ok(v)
    }

    fn sequence_by_name(&self, name: &str) -> Result<u32> {
        resolve_sequence(self.catalog, self.search_path, name)
    }

    fn transaction_time(&self) -> DateTime<Utc> {
        *self.txn_time.get_or_init(Utc::now)
    }

    fn statement_time(&self) -> DateTime<Utc> {
        *self.stmt_time.get_or_init(Utc::now)
    }

    fn check_interrupt(&self) -> Result<()> {
        if self.interrupt.load(Ordering::Relaxed) {
            if self.signals.terminated() {
                return Err(Error::new(
                    SqlState::ADMIN_SHUTDOWN,
                    "terminating connection due to administrator command",
                ));
            }
            return Err(Error::new(
                SqlState::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => Err(Error::new(
                SqlState::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            )),
            _ => Ok(()),
        }
    }

    fn current_user(&self) -> Result<String> {
        Ok(self
            .catalog
            .role(self.identity.current_user())?
            .name
            .clone())
    }

    fn current_tenant_id(&self) -> Result<Option<uuid::Uuid>> {
        Ok(*self
            .tenant
            .get_or_init(|| tenant::tenant_of(self.settings).map(|t| self.catalog.current_home(t))))
    }

    fn session_user(&self) -> Result<String> {
        Ok(self
            .catalog
            .role(self.identity.session_user())?
            .name
            .clone())
    }

    fn current_setting(&self, name: &str, missing_ok: bool) -> Result<Option<String>> {
        if let Some(v) = report::pending_value(&self.pending_settings.borrow(), name) {
            return Ok(Some(v));
        }
        if let Some(v) = self.identity.setting(self.catalog, name) {
            return v.map(Some);
        }
        match self.settings.get(name) {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) if missing_ok => Ok(None),
            Err(_) | Ok(None) if missing_ok => Ok(None),
            Ok(None) => Err(Error::new(
                SqlState::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            )),
            Err(e) => Err(e),
        }
    }

    fn set_config(&self, name: &str, value: Option<&str>, is_local: bool) -> Result<String> {
        report::set_config(self, name, value, is_local)
    }

    fn notice(&self, notice: Notice) {
        if notice
            .severity
            .passes(self.settings.builtin("client_min_messages"))
        {
            self.notices.borrow_mut().push(notice);
        }
    }

    fn backend_pid(&self) -> i32 {
        self.info.backend_pid
    }

    fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.info.server_addr
    }

    fn client_addr(&self) -> Option<std::net::SocketAddr> {
        self.info.client_addr
    }

    fn session_relation(
        &self,
        name: &str,
        args: &[Value],
        txn: &Transaction,
    ) -> Result<Vec<Vec<Value>>> {
        report::session_relation(self, name, args, txn)
    }

    fn current_of(&self, cursor: &str, table: &crate::catalog::TableDef) -> Result<Vec<u8>> {
        cursor::current_key(self.cursors, cursor, table)
    }
}

fn isolation_of(level: &ast::TransactionIsolationLevel) -> IsolationLevel {
    match level {
        ast::TransactionIsolationLevel::RepeatableRead => IsolationLevel::RepeatableRead,
        ast::TransactionIsolationLevel::Serializable => IsolationLevel::Serializable,
        _ => IsolationLevel::ReadCommitted,
    }
}

fn isolation_from_setting(s: &str) -> IsolationLevel {
    match s {
        "repeatable read" => IsolationLevel::RepeatableRead,
        "serializable" => IsolationLevel::Serializable,
        _ => IsolationLevel::ReadCommitted,
    }
}

impl StatementResult {
    /// For COPY statements, which direction and how many columns.
    pub fn copy_mode(&self) -> Option<CopyMode> {
        self.copy
    }

    /// For DEALLOCATE and DISCARD ALL: the wire protocol's named statements
    /// to drop (see [`Session::claim_statement_name`]).
    pub fn deallocates(&self) -> &[String] {
        self.deallocate.as_deref().unwrap_or_default()
    }

    /// PostgreSQL's command tag, e.g. `INSERT 0 3`, `SELECT 2`, `CREATE TABLE`.
    pub fn tag(&self) -> String {
        match &*self.command {
            "SELECT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" => {
                format!("{} {}", self.command, self.affected)
            }
            "INSERT" => format!("INSERT 0 {}", self.affected),
            other => other.to_string(),
        }
    }
}

fn command_result(tag: impl Into<String>) -> StatementResult {
    StatementResult {
        command: std::borrow::Cow::Owned(tag.into()),
        affected: 0,
        rows: None,
        notices: Vec::new(),
        copy: None,
        deallocate: None,
    }
}

/// Result columns as the API reports them (untyped literals are text).
fn column_infos(columns: Vec<Column>) -> Vec<ColumnInfo> {
    columns
        .into_iter()
        .map(|c| ColumnInfo {
            name: c.name,
            ty: if c.ty == DataType::Unknown {
                DataType::Text
            } else {
                c.ty
            },
        })
        .collect()
}

fn rows_result(columns: Vec<Column>, values: Vec<Vec<Value>>) -> StatementResult {
    rows_result_shared(Arc::new(column_infos(columns)), values)
}

fn rows_result_shared(columns: Arc<Vec<ColumnInfo>>, values: Vec<Vec<Value>>) -> StatementResult {
    let n = values.len() as u64;
    StatementResult {
        command: std::borrow::Cow::Borrowed("SELECT"),
        affected: n,
        rows: Some(Rows::with_columns(columns, values)),
        notices: Vec::new(),
        copy: None,
        deallocate: None,
    }
}

fn to_values(params: &[&dyn ToValue]) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

impl Session {
    fn new(db: Arc<DbInner>, identity: Identity, slot: registry::DatabaseSlot) -> Session {
        let slot_temp_id = slot.temp_id;
        Session {
            db,
            database: slot.database,
            interrupt: slot.signals.interrupt(),
            slot,
            txn: None,
            settings: Settings::default(),
            currvals: RefCell::new(HashMap::new()),
            identity,
            copy_in: None,
            path_cache: None,
            bound_tenant: None,
            tenant_slot: None,
            notices: RefCell::new(Vec::new()),
            pending_settings: RefCell::new(Vec::new()),
            info: ConnectionInfo::embedded(),
            reported: None,
            temp_schema: format!("{}{}", crate::catalog::TEMP_SCHEMA_PREFIX, slot_temp_id),
            temp_used: false,
            cursors: HashMap::new(),
            sql_prepared: HashMap::new(),
            protocol_statements: Default::default(),
        }
    }

    /// A handle that cancels this session's running statement from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.interrupt.clone())
    }

    /// Forgets a cancel that arrived while no statement ran (each public
    /// entry point starts with this).
    fn arm(&self) {
        self.interrupt.store(false, Ordering::Relaxed);
        self.notices.borrow_mut().clear();
    }

    /// Runs one statement and returns the number of rows it affected.
    pub fn execute(&mut self, sql: &str, params: &[&dyn ToValue]) -> Result<u64> {
        crate::stack::statement(sql.len(), || {
            self.arm();
            let stmt = self.parse_one(sql)?;
            Ok(self
                .run_statement(&stmt, &to_values(params), None)?
                .affected)
        })
    }

    /// Runs one statement and returns its rows (SELECT, or DML with RETURNING).
    pub fn query(&mut self, sql: &str, params: &[&dyn ToValue]) -> Result<Rows> {
        crate::stack::statement(sql.len(), || {
            self.arm();
            let stmt = self.parse_one(sql)?;
            let r = self.run_statement(&stmt, &to_values(params), None)?;
            Ok(r.rows.unwrap_or_default())
        })
    }

    /// Runs a script of `;`-separated statements without parameters, stopping
    /// at the first error; returns one result per statement run.
    pub fn run(&mut self, sql: &str) -> Result<Vec<StatementResult>> {
        crate::stack::statement(sql.len(), || {
            self.arm();
            let stmts = parser::parse_statements(sql)?;
            let mut out = Vec::with_capacity(stmts.len());
            for s in &stmts {
                let r = self.run_statement(s, &[], None);
                out.push(self.deliver(r)?);
            }
            Ok(out)
        })
    }

    /// Runs each statement of a script, calling `f` with each result (or error)
    /// in turn; stops after the first error. Returns whether all succeeded.
    pub fn run_each(&mut self, sql: &str, f: &mut dyn FnMut(Result<StatementResult>)) -> bool {
        crate::stack::statement(sql.len(), || {
            self.arm();
            match parser::parse_statements(sql) {
                Err(e) => {
                    f(Err(e));
                    false
                }
                Ok(stmts) => {
                    for s in &stmts {
                        let r = self.run_statement(s, &[], None);
                        let r = self.deliver(r);
                        let ok = r.is_ok();
                        f(r);
                        if !ok {
                            return false;
                        }
                    }
                    true
                }
            }
        })
    }

    /// Runs a script the way PostgreSQL runs one simple-protocol Query
    /// message: several statements without transaction control of their own
    /// run in one implicit transaction, so an error in any of them undoes
    /// them all. Calls `f` per statement as [`Session::run_each`] does.
    pub fn run_simple_query(
        &mut self,
        sql: &str,
        f: &mut dyn FnMut(Result<StatementResult>),
    ) -> bool {
        crate::stack::statement(sql.len(), || {
            self.arm();
            let stmts = match parser::parse_statements(sql) {
                Ok(s) => s,
                Err(e) => {
                    f(Err(e));
                    return false;
                }
            };
            use ast::Statement as S;
            let controls_txn = |s: &Statement| {
                matches!(
                    s,
                    Statement::Sql(
                        S::StartTransaction { .. }
                            | S::Commit { .. }
                            | S::Rollback { .. }
                            | S::Savepoint { .. }
                            | S::ReleaseSavepoint { .. }
                    )
                )
            };
            let implicit = stmts.len() > 1 && self.txn.is_none() && !stmts.iter().any(controls_txn);
            if implicit && let Err(e) = self.begin_txn(false, None) {
                f(Err(e));
                return false;
            }
            let n = stmts.len();
            for (i, s) in stmts.iter().enumerate() {
                let mut r = self.run_statement(s, &[], None);
                if implicit && r.is_ok() && i + 1 == n {
                    // The last statement's result is reported once the whole
                    // batch has committed.
                    if let Err(e) = self.end_txn(true) {
                        r = Err(e);
                    }
                }
                let r = self.deliver(r);
                let ok = r.is_ok();
                f(r);
                if !ok {
                    if implicit && self.txn.is_some() {
                        let _ = self.end_txn(false);
                    }
                    return false;
                }
            }
            true
        })
    }

    /// Parses and checks a statement for repeated execution.
    pub fn prepare(&mut self, sql: &str) -> Result<Prepared> {
        self.prepare_typed(sql, &[])
    }

    /// Like [`Session::prepare`], with declared types for the first
    /// parameters (`DataType::Unknown` leaves one to inference), as the wire
    /// protocol's Parse message carries them.
    pub fn prepare_typed(&mut self, sql: &str, types: &[DataType]) -> Result<Prepared> {
        crate::stack::statement(sql.len(), || {
            let stmt = self.parse_one(sql)?;
            self.prepared_from(sql.to_string(), stmt, types.to_vec())
        })
    }

    /// A parsed statement, described, ready for repeated execution (the API's
    /// and the protocol's prepares, and SQL `PREPARE`).
    fn prepared_from(
        &mut self,
        sql: String,
        stmt: crate::sql::parser::Statement,
        declared: Vec<DataType>,
    ) -> Result<Prepared> {
        let (param_types, columns) = self.describe(&stmt, &declared)?;
        Ok(Prepared {
            sql,
            stmt,
            param_types,
            declared,
            columns,
            cache: parking_lot::Mutex::new(None),
            three_part_names: std::sync::OnceLock::new(),
        })
    }

    /// Executes a prepared statement; returns rows affected.
    pub fn execute_prepared(&mut self, p: &Prepared, params: &[&dyn ToValue]) -> Result<u64> {
        crate::stack::statement(p.sql.len(), || {
            self.arm();
            Ok(self
                .run_statement(&p.stmt, &to_values(params), Some(p))?
                .affected)
        })
    }

    /// Executes a prepared statement; returns its rows.
    pub fn query_prepared(&mut self, p: &Prepared, params: &[&dyn ToValue]) -> Result<Rows> {
        crate::stack::statement(p.sql.len(), || {
            self.arm();
            Ok(self
                .run_statement(&p.stmt, &to_values(params), Some(p))?
                .rows
                .unwrap_or_default())
        })
    }

    /// Executes a prepared statement with already-converted values (wire protocol).
    pub fn run_prepared(&mut self, p: &Prepared, params: &[Value]) -> Result<StatementResult> {
        crate::stack::statement(p.sql.len(), || {
            self.arm();
            let r = self.run_statement(&p.stmt, params, Some(p));
            self.deliver(r)
        })
    }

    /// Starts an explicit transaction; the guard rolls it back unless committed.
    pub fn transaction(&mut self) -> Result<TransactionGuard<'_>> {
        self.run_statement(&parser::parse_statements("BEGIN")?.remove(0), &[], None)?;
        Ok(TransactionGuard {
            session: self,
            done: false,
        })
    }

    /// True while inside BEGIN ... COMMIT.
    pub fn in_transaction(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.explicit)
    }

    /// True if the current transaction failed and awaits ROLLBACK.
    pub fn transaction_failed(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.aborted)
    }

    /// Marks an open transaction failed, as an error in a protocol step
    /// (Parse, Bind) does in PostgreSQL; ROLLBACK is then required.
    pub(crate) fn fail_transaction(&mut self) {
        if let Some(t) = self.txn.as_mut() {
            t.aborted = true;
        }
    }

    pub(crate) fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn parse_one(&self, sql: &str) -> Result<Statement> {
        let mut stmts = parser::parse_statements(sql)?;
        match stmts.len() {
            1 => Ok(stmts.remove(0)),
            0 => Err(Error::syntax("empty statement")),
            _ => Err(Error::syntax(
                "cannot insert multiple commands into a prepared statement",
            )),
        }
    }

    fn begin_txn(&mut self, explicit: bool, level: Option<IsolationLevel>) -> Result<()> {
        self.begin_txn_with(explicit, level, false)
    }

    /// `read_only`: the transaction runs a single SELECT (see `TxnManager::begin_read_only`).
    fn begin_txn_with(
        &mut self,
        explicit: bool,
        level: Option<IsolationLevel>,
        read_only: bool,
    ) -> Result<()> {
        let level = level.unwrap_or_else(|| {
            isolation_from_setting(self.settings.builtin("default_transaction_isolation"))
        });
        let mut txn = if read_only {
            self.db.txns.begin_read_only(level)?
        } else {
            self.db.txns.begin(level)?
        };
        if self.settings.builtin("synchronous_commit") == "off" {
            txn.set_durability(Durability::Async);
        }
        if explicit {
            self.identity.begin_transaction();
        }
        self.settings.begin_transaction();
        let access_read_only = self.settings.builtin("default_transaction_read_only") == "on";
        self.txn = Some(ActiveTxn {
            txn,
            explicit,
            aborted: false,
            read_only: access_read_only,
            catalog_dirty: false,
            local_catalog: None,
            start: std::sync::OnceLock::new(),
        });
        Ok(())
    }

    fn end_txn(&mut self, commit: bool) -> Result<()> {
        // A transaction that wrote nothing cannot have created an ON COMMIT
        // DROP table or filled an ON COMMIT DELETE ROWS one.
        if commit
            && self.temp_used
            && self
                .txn
                .as_ref()
                .is_some_and(|t| !t.aborted && t.txn.has_writes())
            && let Err(e) = self.with_ddl(|ctx| ctx.on_commit_actions())
        {
            self.end_txn(false)?;
            return Err(e);
        }
        let Some(t) = self.txn.take() else {
            self.settings.end_transaction(true);
            return Ok(());
        };
        let committed = commit && !t.aborted;
        let changed_catalog = t.catalog_dirty;
        let result = if committed {
            t.txn.commit().map(|_| ())
        } else {
            t.txn.rollback();
            Ok(())
        };
        // A committed catalog change (a tier or a tenant's limits among
        // them) reaches the catalog cache, and so the quotas of live
        // sessions, at once.
        if committed && changed_catalog && result.is_ok() {
            let _ = database::latest_catalog(&self.db, self.database);
        }
        self.settings.end_transaction(committed && result.is_ok());
        self.identity.end_transaction(committed && result.is_ok());
        self.end_transaction_cursors(committed && result.is_ok());
        result
    }

    /// 25006 if the transaction is READ ONLY (`what` is the command tag).
    fn check_writable(&self, what: &str) -> Result<()> {
        if self.txn.as_ref().is_some_and(|t| t.read_only) {
            return Err(Error::new(
                SqlState::READ_ONLY_SQL_TRANSACTION,
                format!("cannot execute {what} in a read-only transaction"),
            ));
        }
        Ok(())
    }

    /// The catalog the current transaction sees.
    /// The schemas unqualified names resolve in, as PostgreSQL computes
    /// them for the current user: `$user` becomes the user's own schema if
    /// one exists, and schemas without USAGE for the user are skipped.
    fn search_path(&mut self, catalog: &Arc<Catalog>) -> Arc<Vec<String>> {
        let raw = self.settings.search_path();
        let role = self.identity.current_user();
        if let Some((c, r, p, eff)) = &self.path_cache
            && Arc::ptr_eq(c, catalog)
            && *r == role
            && Arc::ptr_eq(p, &raw)
        {
            return eff.clone();
        }
        let superuser = catalog.is_superuser(role);
        let user = catalog.roles.get(&role).map(|r| r.name.clone());
        // The session's temporary schema, once it exists, is searched first
        // unless the path names `pg_temp` elsewhere; other sessions' never.
        let temp = catalog
            .schemas
            .contains_key(&self.temp_schema)
            .then(|| self.temp_schema.clone());
        let mut eff: Vec<String> = raw
            .iter()
            .filter_map(|s| {
                let s = if s == "$user" {
                    user.clone().filter(|u| catalog.schemas.contains_key(u))?
                } else if s == "pg_temp" {
                    temp.clone()?
                } else if crate::catalog::is_temp_schema(s) {
                    return None;
                } else {
                    s.clone()
                };
                let usable = superuser
                    || Some(&s) == temp.as_ref()
                    || catalog.schemas.get(&s).is_none_or(|d| {
                        catalog.privileges(role, acl::Object::Schema(d)).0 & acl::USAGE != 0
                    });
                usable.then_some(s)
            })
            .collect();
        if let Some(t) = temp
            && !raw.iter().any(|s| s == "pg_temp")
        {
            eff.insert(0, t);
        }
        let eff = Arc::new(eff);
        self.path_cache = Some((catalog.clone(), role, raw, eff.clone()));
        eff
    }

    /// The catalog, current user and effective search path statements are
    /// bound with right now (for API calls that inspect how a name binds).
    pub(crate) fn binding_state(&mut self) -> Result<(Arc<Catalog>, u32, Arc<Vec<String>>)> {
        let catalog = if self.txn.is_some() {
            self.catalog()?
        } else {
            database::latest_catalog(&self.db, self.database)?
        };
        let search_path = self.search_path(&catalog);
        Ok((catalog, self.identity.current_user(), search_path))
    }

    fn catalog(&mut self) -> Result<Arc<Catalog>> {
        let t = self.txn.as_mut().expect("a transaction is active");
        if t.catalog_dirty {
            if let Some(c) = &t.local_catalog {
                return Ok(c.clone());
            }
            let c = Arc::new(Catalog::load(&t.txn, self.database)?);
            t.local_catalog = Some(c.clone());
            return Ok(c);
        }
        self.db.catalog_cache.get(&t.txn, self.database)
    }

    /// Runs a statement a client sent: counted against the tenant's rate
    /// quota, then [`Session::run_unmetered`].
    fn run_statement(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<StatementResult> {
        use ast::Statement as S;
        self.check_terminated()?;
        // Ending a transaction and changing settings (leaving the tenant
        // included) are always allowed; anything else in a tenant takes a
        // token of its rate quota.
        if !matches!(
            stmt,
            Statement::Sql(S::Commit { .. } | S::Rollback { .. } | S::Set(_) | S::Reset(_))
        ) {
            self.admit_statement()?;
        }
        self.run_unmetered(stmt, params, prepared)
    }

    /// Runs a statement without counting it against the rate quota (the
    /// rows of a COPY, the statement an EXECUTE runs).
    fn run_unmetered(
        &mut self,
        stmt: &Statement,
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<StatementResult> {
        use ast::Statement as S;
        self.check_terminated()?;
        if self.copy_in.is_some() {
            return Err(Error::new(
                SqlState::PROTOCOL_VIOLATION,
                "a COPY FROM STDIN is in progress; send its data first",
            ));
        }
        let stmt = match stmt {
            Statement::Sql(s) => s,
            Statement::Command(c, text) => return self.run_command(c, text),
        };
        // Transaction control never starts an implicit transaction.
        match stmt {
            S::Copy {
                source,
                to: false,
                target,
                options,
                legacy_options,
                values,
            } => {
                let ast::CopySource::Table {
                    table_name,
                    columns,
                } = source
                else {
                    return Err(Error::syntax("COPY FROM needs a table"));
                };
                if !matches!(target, ast::CopyTarget::Stdin) {
                    return Err(Error::unsupported(
                        "COPY from a file or program is not supported; use COPY ... FROM STDIN (psql's \\copy)",
                    ));
                }
                if self.transaction_failed() {
                    return Err(Error::aborted_transaction());
                }
                let implicit = self.txn.is_none();
                if implicit {
                    self.begin_txn(false, None)?;
                }
                if let Err(e) = self.check_writable("COPY FROM") {
                    if implicit {
                        self.end_txn(false)?;
                    } else {
                        self.fail_transaction();
                    }
                    return Err(e);
                }
                let started =
                    self.start_copy_in(table_name, columns, options, legacy_options, implicit);
                let r = match started {
                    Err(e) => {
                        if implicit {
                            self.end_txn(false)?;
                        } else {
                            self.fail_transaction();
                        }
                        return Err(e);
                    }
                    Ok(r) => r,
                };
                if !values.is_empty() {
                    // sqlparser's reading of inline data loses escapes and
                    // row boundaries; refuse rather than load altered data.
                    self.abort_copy();
                    return Err(Error::unsupported(
                        "COPY data inline after the statement is not supported; send it with Session::copy_data or the wire protocol's COPY (psql does)",
                    ));
                }
                return Ok(r);
            }
            S::StartTransaction { modes, .. } => {
                if self.in_transaction() {
                    // PostgreSQL warns and carries on.
                    self.notice(Notice::warning(
                        SqlState::ACTIVE_SQL_TRANSACTION,
                        "there is already a transaction in progress",
                    ));
                    return Ok(command_result("BEGIN"));
                }
                let mut level = None;
                let mut access = None;
                for m in modes {
                    match m {
                        ast::TransactionMode::IsolationLevel(l) => level = Some(isolation_of(l)),
                        ast::TransactionMode::AccessMode(a) => {
                            access = Some(*a == ast::TransactionAccessMode::ReadOnly)
                        }
                    }
                }
                self.begin_txn(true, level)?;
                if let (Some(read_only), Some(t)) = (access, self.txn.as_mut()) {
                    t.read_only = read_only;
                }
                return Ok(command_result("BEGIN"));
            }
            S::Commit { .. } => {
                let aborted = self.transaction_failed();
                if !self.in_transaction() {
                    self.warn_no_transaction();
                    return Ok(command_result("COMMIT"));
                }
                self.end_txn(!aborted)?;
                return Ok(command_result(if aborted { "ROLLBACK" } else { "COMMIT" }));
            }
            S::Rollback {
                savepoint: None, ..
            } => {
                if !self.in_transaction() {
                    self.warn_no_transaction();
                }
                self.end_txn(false)?;
                return Ok(command_result("ROLLBACK"));
            }
            S::Rollback {
                savepoint: Some(sp),
                ..
            } => {
                let Some(t) = self.txn.as_mut().filter(|t| t.explicit) else {
                    return Err(Error::new(
                        SqlState::NO_ACTIVE_SQL_TRANSACTION,
                        "ROLLBACK TO SAVEPOINT can only be used in transaction blocks",
                    ));
                };
                t.txn
                    .rollback_to_savepoint(&crate::sql::binder::ident(sp))?;
                t.aborted = false;
                t.local_catalog = None;
                return Ok(command_result("ROLLBACK"));
            }
            S::Fetch {
                name,
                direction,
                into: None,
                ..
            } => return self.fetch_cursor(name, direction, true),
            S::Fetch {
                name,
                direction,
                into: Some(into),
                ..
            } if crate::sql::parser::is_move_marker(into) => {
                return self.fetch_cursor(name, direction, false);
            }
            S::Close { cursor } => return self.close_cursor(cursor),
            S::Discard { object_type } => return self.discard(*object_type),
            S::Prepare {
                name,
                data_types,
                statement,
            } => {
                if self.transaction_failed() {
                    return Err(Error::aborted_transaction());
                }
                return self.prepare_sql(name, data_types, statement);
            }
            S::Execute {
                name: Some(name),
                parameters,
                immediate: false,
                into,
                using,
                ..
            } if into.is_empty() && using.is_empty() => {
                if self.transaction_failed() {
                    return Err(Error::aborted_transaction());
                }
                return self.execute_sql(name, parameters);
            }
            S::Deallocate { name, .. } => {
                if self.transaction_failed() {
                    return Err(Error::aborted_transaction());
                }
                let all = name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all");
                let key = crate::sql::binder::ident(name);
                let mut r = command_result(if all { "DEALLOCATE ALL" } else { "DEALLOCATE" });
                // The server drops the protocol-level statements too (all
                // of them, or the named one when it is one of them).
                if all {
                    self.sql_prepared.clear();
                    r.deallocate = Some(
                        std::mem::take(&mut self.protocol_statements)
                            .into_iter()
                            .collect(),
                    );
                } else if self.sql_prepared.remove(&key).is_none() {
                    if !self.protocol_statements.remove(&key) {
                        return Err(Error::new(
                            SqlState::INVALID_SQL_STATEMENT_NAME,
                            format!("prepared statement \"{key}\" does not exist"),
                        ));
                    }
                    r.deallocate = Some(vec![key]);
                }
                return Ok(r);
            }
            _ => {}
        }
        if self.transaction_failed() {
            return Err(Error::aborted_transaction());
        }
        let read_only = matches!(stmt, S::Query(q) if helios::helios_call(q).is_none()
            && !crate::sql::binder::has_dml_ctes(q)
            && writes::select_into_table(q).is_none())
            && !crate::sql::binder::is_dml(stmt);
        self.autocommit(read_only, |s| s.run_in_txn(stmt, params, prepared))
    }

    /// Runs `f` in the session's transaction, or outside one in a new
    /// transaction (read-only for a lone query) that commits if `f`
    /// succeeds and rolls back if it fails. An error inside a transaction
    /// block aborts the block.
    fn autocommit<R>(
        &mut self,
        read_only: bool,
        f: impl FnOnce(&mut Self) -> Result<R>,
    ) -> Result<R> {
        let implicit = self.txn.is_none();
        if implicit {
            self.begin_txn_with(false, None, read_only)?;
        }
        let mut result = f(self);
        let pending = self.pending_settings.take();
        if result.is_ok()
            && !pending.is_empty()
            && let Err(e) = self.apply_settings(pending)
        {
            result = Err(e);
        }
        match (&result, implicit) {
            (Ok(_), true) => {
                // The statement may have ended the implicit transaction itself.
                if self.txn.as_ref().is_some_and(|t| !t.explicit) {
                    self.end_txn(true)?;
                }
            }
            (Err(_), true) => {
                if self.txn.as_ref().is_some_and(|t| !t.explicit) {
                    self.end_txn(false)?;
                }
            }
            (Err(_), false) => {
                if let Some(t) = self.txn.as_mut() {
                    t.aborted = true;
                }
            }
            (Ok(_), false) => {}
        }
        result
    }

    fn run_in_txn(
        &mut self,
        stmt: &ast::Statement,
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<StatementResult> {
        use ast::Statement as S;
        // Statements that read or write data take their snapshot now; SET,
        // SHOW and savepoints do not count as the transaction's first query.
        let reads_data = !matches!(
            stmt,
            S::Savepoint { .. }
                | S::ReleaseSavepoint { .. }
                | S::Set(_)
                | S::ShowVariable { .. }
                | S::Reset(_)
        );
        if reads_data {
            let t = self.txn.as_mut().expect("transaction started");
            t.txn.begin_statement()?;
            self.check_cross_database(stmt, prepared)?;
        }
        if let Some(tag) = write_tag(stmt) {
            self.check_writable(&tag)?;
        }
        match stmt {
            S::Savepoint { name } => {
                let t = self.txn.as_mut().expect("transaction started");
                if !t.explicit {
                    return Err(Error::new(
                        SqlState::NO_ACTIVE_SQL_TRANSACTION,
                        "SAVEPOINT can only be used in transaction blocks",
                    ));
                }
                t.txn.savepoint(&crate::sql::binder::ident(name));
                Ok(command_result("SAVEPOINT"))
            }
            S::ReleaseSavepoint { name } => {
                let t = self.txn.as_mut().expect("transaction started");
                if !t.explicit {
                    return Err(Error::new(
                        SqlState::NO_ACTIVE_SQL_TRANSACTION,
                        "RELEASE SAVEPOINT can only be used in transaction blocks",
                    ));
                }
                t.txn.release_savepoint(&crate::sql::binder::ident(name))?;
                Ok(command_result("RELEASE"))
            }
            S::Set(set) => self.set(set),
            S::Reset(r) => self.reset(&r.reset),
            S::Declare { stmts } => self.declare_cursor(stmts, params, prepared),
            S::ShowVariable { variable } => self.show_variable(variable),
            S::Query(q) if let Some(ct) = writes::select_into_table(q) => {
                self.select_into(ct, params)
            }
            S::Query(q) if crate::sql::binder::has_dml_ctes(q) => {
                self.run_with_dml_ctes(stmt, params, prepared)
            }
            S::Query(_) if crate::sql::binder::is_dml(stmt) => self.run_dml(stmt, params, prepared),
            S::Query(q) if let Some(call) = helios::helios_call(q) => {
                self.run_helios(&call, params)
            }
            S::Query(q) => {
                let catalog = self.catalog()?;
                let (plan, columns) = self.plan_query_in(&catalog, q, prepared, params)?;
                let rows = self.execute_plan_in(&catalog, &plan, params)?;
                Ok(rows_result_shared(columns, rows))
            }
            S::Insert(_) | S::Update(_) | S::Delete(_) | S::Merge(_) => {
                self.run_dml(stmt, params, prepared)
            }
            S::Copy {
                source,
                to: true,
                target,
                options,
                legacy_options,
                ..
            } => {
                if !matches!(target, ast::CopyTarget::Stdout) {
                    return Err(Error::unsupported(
                        "COPY to a file or program is not supported; use COPY ... TO STDOUT (psql's \\copy)",
                    ));
                }
                self.copy_out(source, options, legacy_options)
            }
            S::Explain {
                statement, analyze, ..
            } => {
                let lines = if *analyze {
                    self.explain_analyze(statement, params)?
                } else {
                    self.explain(statement, params)?
                };
                Ok(rows_result(
                    vec![Column {
                        name: "QUERY PLAN".into(),
                        ty: DataType::Text,
                    }],
                    lines.into_iter().map(|l| vec![Value::Text(l)]).collect(),
                ))
            }
            S::CreateTable(ct) if ct.query.is_some() => self.create_table_as(ct, params),
            S::CreateTable(_)
            | S::CreateIndex(_)
            | S::CreateSchema { .. }
            | S::CreateSequence { .. }
            | S::CreateView(_)
            | S::CreateType { .. }
            | S::Drop { .. }
            | S::AlterTable(_)
            | S::Truncate(_)
            | S::CreateRole(_)
            | S::AlterRole { .. } => self.run_ddl(stmt),
            S::Grant(_)
            | S::Revoke(_)
            | S::AlterSchema(_)
            | S::CreatePolicy(_)
            | S::AlterPolicy(_)
            | S::DropPolicy(_)
            | S::CreateFunction(_)
            | S::DropFunction(_) => self.run_ddl(stmt),
            S::Analyze(_) => Ok(command_result("ANALYZE")),
            other => Err(Error::unsupported(format!(
                "statement not supported: {}",
                other
                    .to_string()
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
        }
    }

    fn env<'a>(&'a self, catalog: &'a Catalog, search_path: &'a [String]) -> StmtEnv<'a> {
        let t = self.txn.as_ref().expect("transaction started");
        StmtEnv::new(self, catalog, search_path, &t.start)
    }

    /// Binds and optimizes a query (reusing a prepared statement's plan when the catalog is unchanged).
    fn plan_query(
        &mut self,
        q: &ast::Query,
        prepared: Option<&Prepared>,
        params: &[Value],
    ) -> Result<(Arc<Plan>, Arc<Vec<ColumnInfo>>)> {
        let catalog = self.catalog()?;
        self.plan_query_in(&catalog, q, prepared, params)
    }

    fn plan_query_in(
        &mut self,
        catalog: &Arc<Catalog>,
        q: &ast::Query,
        prepared: Option<&Prepared>,
        params: &[Value],
    ) -> Result<(Arc<Plan>, Arc<Vec<ColumnInfo>>)> {
        let catalog = catalog.clone();
        let search_path = self.search_path(&catalog);
        let role = self.identity.current_user();
        if let Some(p) = prepared
            && self.row_security()
            && let Some((c, sp, r, plan)) = &*p.cache.lock()
            && Arc::ptr_eq(c, &catalog)
            && *sp == search_path
            && *r == role
            && let CachedPlan::Query(plan, cols) = plan
        {
            check_param_count(params.len(), p.param_types.len())?;
            return Ok((plan.clone(), cols.clone()));
        }
        let binder = Binder::new(&catalog, &search_path)
            .with_privilege_checks(role)
            .with_row_security(self.row_security())
            .with_param_types(prepared.map(|p| p.declared.clone()).unwrap_or_default());
        let plan = Arc::new(optimizer::optimize(binder.bind_query(q)?));
        check_param_count(params.len(), binder.param_types().len())?;
        let cols = Arc::new(column_infos(plan.columns()));
        // Plans bound with row_security off are not cached (they were
        // checked against the setting, which the cache key leaves out).
        if let Some(p) = prepared
            && self.row_security()
        {
            *p.cache.lock() = Some((
                catalog.clone(),
                search_path,
                role,
                CachedPlan::Query(plan.clone(), cols.clone()),
            ));
        }
        Ok((plan, cols))
    }

    fn execute_plan_in(
        &mut self,
        catalog: &Arc<Catalog>,
        plan: &Plan,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>> {
        let search_path = self.search_path(catalog);
        let env = self.env(catalog, &search_path);
        let t = self.txn.as_ref().expect("transaction started");
        let ctx = ExecCtx::new(&t.txn, params, &env);
        executor::execute(plan, &ctx)?.collect()
    }

    /// Table targeted by a DML statement (for taking its lock before the snapshot).
    fn dml_target(
        &self,
        catalog: &Catalog,
        stmt: &ast::Statement,
        search_path: &[String],
    ) -> Option<u32> {
        if let ast::Statement::Query(q) = stmt
            && let Some(inner) = crate::sql::binder::dml_in_query(q)
        {
            return self.dml_target(catalog, inner, search_path);
        }
        let name = match stmt {
            ast::Statement::Insert(i) => match &i.table {
                ast::TableObject::TableName(n) => Some(n.clone()),
                _ => None,
            },
            ast::Statement::Update(u) => match &u.table.relation {
                ast::TableFactor::Table { name, .. } => Some(name.clone()),
                _ => None,
            },
            ast::Statement::Delete(d) => match &d.from {
                ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => {
                    match v.first().map(|t| &t.relation) {
                        Some(ast::TableFactor::Table { name, .. }) => Some(name.clone()),
                        _ => None,
                    }
                }
            },
            ast::Statement::Merge(m) => match &m.table {
                ast::TableFactor::Table { name, .. } => Some(name.clone()),
                _ => None,
            },
            _ => None,
        }?;
        let b = Binder::new(catalog, search_path);
        b.table(&name).ok().map(|t| t.id)
    }

    fn bind_dml(
        &mut self,
        stmt: &ast::Statement,
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<(Arc<Catalog>, Arc<DmlPlan>)> {
        let mut catalog = self.catalog()?;
        let mut search_path = self.search_path(&catalog);
        let role = self.identity.current_user();
        let row_security = self.row_security();
        let cached_plan = |catalog: &Arc<Catalog>, search_path: &Arc<Vec<String>>| {
            // Plans bound with row_security off are never cached.
            let p = prepared.filter(|_| row_security)?;
            match &*p.cache.lock() {
                Some((c, sp, r, CachedPlan::Dml(plan)))
                    if Arc::ptr_eq(c, catalog) && sp == search_path && *r == role =>
                {
                    Some(plan.clone())
                }
                _ => None,
            }
        };
        let mut cached = cached_plan(&catalog, &search_path);
        // Lock the target table first: after waiting for a DDL, READ COMMITTED
        // re-plans against what it committed.
        let target = match &cached {
            Some(plan) => Some(plan.table().id),
            None => self.dml_target(&catalog, stmt, &search_path),
        };
        if let Some(id) = target {
            let t = self.txn.as_mut().expect("transaction started");
            if t.txn.lock(&table_lock_key(id), LockMode::Shared)? {
                t.txn.refresh_snapshot()?;
                catalog = self.catalog()?;
                search_path = self.search_path(&catalog);
                cached = cached_plan(&catalog, &search_path);
            }
        }
        if let (Some(plan), Some(p)) = (cached, prepared) {
            check_param_count(params.len(), p.param_types.len())?;
            return Ok((catalog, plan));
        }
        let binder = Binder::new(&catalog, &search_path)
            .with_privilege_checks(role)
            .with_row_security(self.row_security())
            .with_param_types(prepared.map(|p| p.declared.clone()).unwrap_or_default());
        let mut plan = binder.bind_dml(stmt)?;
        check_param_count(params.len(), binder.param_types().len())?;
        optimize_dml(&mut plan);
        let plan = Arc::new(plan);
        if let Some(p) = prepared.filter(|_| row_security) {
            *p.cache.lock() = Some((
                catalog.clone(),
                search_path,
                role,
                CachedPlan::Dml(plan.clone()),
            ));
        }
        Ok((catalog, plan))
    }

    /// The `row_security` setting.
    pub(super) fn row_security(&self) -> bool {
        self.settings.builtin("row_security") != "off"
    }

    fn run_dml(
        &mut self,
        stmt: &ast::Statement,
        params: &[Value],
        prepared: Option<&Prepared>,
    ) -> Result<StatementResult> {
        let (catalog, plan) = self.bind_dml(stmt, params, prepared)?;
        let outcome = self.exec_dml(&catalog, &plan, params)?;
        Ok(dml_result(&plan, outcome))
    }

    fn exec_dml(
        &mut self,
        catalog: &Arc<Catalog>,
        plan: &DmlPlan,
        params: &[Value],
    ) -> Result<dml::DmlOutcome> {
        let search_path = self.search_path(catalog);
        let mut t = self.txn.take().expect("transaction started");
        let result = {
            let env = StmtEnv::new(self, catalog, &search_path, &t.start);
            dml::execute_dml(plan, &mut t.txn, catalog, params, &env)
        };
        self.txn = Some(t);
        result
    }

    /// Runs `f` with a DDL context over the current transaction; the
    /// transaction then reads its own catalog until it ends.
    fn with_ddl<R>(&mut self, f: impl FnOnce(&mut DdlCtx) -> Result<R>) -> Result<R> {
        let catalog = self.catalog()?;
        let search_path = self.search_path(&catalog);
        let mut t = self.txn.take().expect("transaction started");
        let result = {
            let env = StmtEnv::new(self, &catalog, &search_path, &t.start);
            let mut ctx = DdlCtx {
                txn: &mut t.txn,
                catalog: catalog.clone(),
                search_path: &search_path,
                temp_schema: &self.temp_schema,
                oids: &self.db.oids,
                sequences: &self.db.sequences,
                engine: self.db.engine.as_ref(),
                env: &env,
                current_user: self.identity.current_user(),
                session_user: self.identity.session_user(),
                pending_rows: Vec::new(),
            };
            let r = f(&mut ctx);
            if ctx.catalog.schemas.contains_key(&self.temp_schema) {
                self.temp_used = true;
            }
            r
        };
        t.catalog_dirty = true;
        t.local_catalog = None;
        self.txn = Some(t);
        result
    }

    fn run_ddl(&mut self, stmt: &ast::Statement) -> Result<StatementResult> {
        use ast::Statement as S;
        if !self.temp_used {
            // A temporary schema left by an earlier session with this
            // number (whose cleanup failed) is not ours: empty it first.
            let catalog = self.catalog()?;
            if catalog.schemas.contains_key(&self.temp_schema) {
                let name = self.temp_schema.clone();
                self.with_ddl(|ctx| ctx.drop_temp_schema(&name))?;
                self.notices.borrow_mut().clear();
            }
        }
        let before = self.catalog()?;
        let tag = self.with_ddl(|ctx| match stmt {
            S::CreateTable(ct) => ctx
                .create_table(ct, None)
                .map(|_| "CREATE TABLE".to_string()),
            S::CreateIndex(ci) => ctx.create_index(ci),
            S::CreateView(cv) => ctx.create_view(cv),
            S::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => ctx.create_schema(schema_name, *if_not_exists),
            S::CreateSequence {
                if_not_exists,
                name,
                data_type,
                sequence_options,
                temporary,
                ..
            } => ctx.create_sequence(
                name,
                *temporary,
                *if_not_exists,
                data_type.as_ref(),
                sequence_options,
            ),
            S::CreateRole(cr) => ctx.create_role(cr),
            S::AlterRole { name, operation } => ctx.alter_role(name, operation),
            S::Drop {
                object_type: ast::ObjectType::Type,
                if_exists,
                names,
                cascade,
                ..
            } => ctx.drop_types(names, *if_exists, *cascade, false),
            S::CreateType {
                name,
                representation,
            } => ctx.create_type(name, representation.as_ref()),
            S::Drop {
                object_type: ast::ObjectType::Role | ast::ObjectType::User,
                if_exists,
                names,
                cascade,
                ..
            } => ctx.drop_roles(names, *if_exists, *cascade),
            S::Grant(g) if is_role_grant(g.objects.as_ref(), &g.privileges) => ctx.grant_roles(g),
            S::Revoke(r) if is_role_grant(r.objects.as_ref(), &r.privileges) => ctx.revoke_roles(r),
            S::Grant(g) => ctx.grant_privileges(g),
            S::Revoke(r) => ctx.revoke_privileges(r),
            S::AlterSchema(a) => ctx.alter_schema(&a.name, &a.operations),
            S::CreatePolicy(cp) => ctx.create_policy(cp),
            S::AlterPolicy(ap) => ctx.alter_policy(ap),
            S::DropPolicy(dp) => ctx.drop_policy(dp),
            S::CreateFunction(cf) => ctx.create_function(cf),
            S::DropFunction(df) => ctx.drop_function(df),
            S::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => ctx.drop(object_type, names, *if_exists, *cascade),
            S::AlterTable(at) => ctx.alter_table(at),
            S::Truncate(tr) => ctx.truncate(tr),

            other => Err(Error::unsupported(format!(
                "statement not supported: {other}"
            ))),
        })?;
        self.capture_ddl(stmt, &tag, &before)?;
        Ok(command_result(tag))
    }

    /// Captures a schema change for the change log: its command tag and
    /// statement, and the table it is about (if it names one). TRUNCATE
    /// has its own events; role statements (which may carry passwords) and
    /// changes to temporary tables are not captured.
    fn capture_ddl(
        &mut self,
        stmt: &ast::Statement,
        tag: &str,
        before: &Arc<Catalog>,
    ) -> Result<()> {
        use ast::Statement as S;
        let name = match stmt {
            S::Truncate(_)
            | S::CreateRole(_)
            | S::AlterRole { .. }
            | S::Drop {
                object_type: ast::ObjectType::Role | ast::ObjectType::User,
                ..
            } => return Ok(()),
            S::Grant(g) if is_role_grant(g.objects.as_ref(), &g.privileges) => return Ok(()),
            S::Revoke(r) if is_role_grant(r.objects.as_ref(), &r.privileges) => return Ok(()),
            S::CreateTable(ct) => Some(&ct.name),
            S::AlterTable(at) => Some(&at.name),
            S::CreateIndex(ci) => Some(&ci.table_name),
            S::CreatePolicy(cp) => Some(&cp.table_name),
            S::AlterPolicy(ap) => Some(&ap.table_name),
            S::DropPolicy(dp) => Some(&dp.table_name),
            S::Drop {
                object_type: ast::ObjectType::Table,
                names,
                ..
            } if names.len() == 1 => Some(&names[0]),
            _ => None,
        };
        let after = self.catalog()?;
        let table = match name {
            Some(n) => {
                let path = self.search_path(&after);
                let found = Binder::new(&after, &path)
                    .table(n)
                    .or_else(|_| Binder::new(before, &path).table(n));
                match found {
                    Ok(t) if t.is_temp() => return Ok(()),
                    Ok(t) => Some(t),
                    Err(_) => None,
                }
            }
            None => None,
        };
        self.capture_schema_event(after.database, table, tag, &stmt.to_string())
    }

    /// Queues a schema event (`op` ddl) of database `db` in the session's
    /// transaction: the command tag and statement, and the table it is
    /// about, if any.
    pub(super) fn capture_schema_event(
        &mut self,
        db: u32,
        table: Option<Arc<TableDef>>,
        tag: &str,
        statement: &str,
    ) -> Result<()> {
        let record = crate::txn::changes::ChangeRecord {
            db,
            table_id: table.as_ref().map_or(0, |t| t.id),
            table: table.map(|t| t.qualified_name()).unwrap_or_default(),
            op: "ddl".into(),
            after: serde_json::json!({ "tag": tag, "statement": statement }),
            ..Default::default()
        };
        let t = self.txn.as_mut().expect("transaction started");
        t.txn.capture(&record.encode()?)?;
        Ok(())
    }

    fn create_table_as(
        &mut self,
        ct: &ast::CreateTable,
        params: &[Value],
    ) -> Result<StatementResult> {
        let q = ct.query.as_ref().expect("checked by caller");
        if crate::sql::binder::has_dml_ctes(q) {
            return self.create_table_as_with_dml(ct, params);
        }
        let (plan, _) = self.plan_query(q, None, params)?;
        let mut ct_plain = ct.clone();
        ct_plain.query = None;
        let before = self.catalog()?;
        let created = self.with_ddl(|ctx| ctx.create_table(&ct_plain, Some(plan.columns())))?;
        let Some(id) = created else {
            return Ok(command_result("CREATE TABLE AS"));
        };
        self.capture_ddl(
            &ast::Statement::CreateTable(ct.clone()),
            "CREATE TABLE AS",
            &before,
        )?;
        let catalog = self.catalog()?;
        let insert = DmlPlan::Insert(InsertPlan::plain(
            catalog.table(id)?.clone(),
            (*plan).clone(),
        ));
        let outcome = self.exec_dml(&catalog, &insert, params)?;
        Ok(StatementResult {
            command: std::borrow::Cow::Borrowed("SELECT"),
            affected: outcome.count,
            rows: None,
            notices: Vec::new(),
            copy: None,
            deallocate: None,
        })
    }

    /// Runs query `q` in the statement's transaction and collects its rows.
    fn run_query_rows(&mut self, q: &ast::Query, params: &[Value]) -> Result<Vec<Vec<Value>>> {
        let catalog = self.catalog()?;
        let (plan, _) = self.plan_query_in(&catalog, q, None, params)?;
        let search_path = self.search_path(&catalog);
        let env = self.env(&catalog, &search_path);
        let t = self.txn.as_ref().expect("transaction started");
        let ctx = ExecCtx::new(&t.txn, params, &env);
        executor::execute(&plan, &ctx)?.collect()
    }

    /// EXPLAIN ANALYZE: runs the query, then prints the plan with each
    /// operator's actual rows (per loop), time (per loop, inclusive of its
    /// inputs, in ms) and loops, and the planning and execution times.
    fn explain_analyze(&mut self, stmt: &ast::Statement, params: &[Value]) -> Result<Vec<String>> {
        let ast::Statement::Query(q) = stmt else {
            return Err(Error::unsupported(
                "EXPLAIN ANALYZE is supported for queries only",
            ));
        };
        if crate::sql::binder::is_dml(stmt) {
            return Err(Error::unsupported(
                "EXPLAIN ANALYZE is supported for queries only",
            ));
        }
        let planning = std::time::Instant::now();
        let catalog = self.catalog()?;
        let (plan, _) = self.plan_query_in(&catalog, q, None, params)?;
        let planning = planning.elapsed();
        let search_path = self.search_path(&catalog);
        let env = self.env(&catalog, &search_path);
        let t = self.txn.as_ref().expect("transaction started");
        let mut ctx = ExecCtx::new(&t.txn, params, &env);
        ctx.cache = std::rc::Rc::new(executor::StatementState::analyzing());
        let started = std::time::Instant::now();
        for row in executor::execute(&plan, &ctx)? {
            row?;
        }
        let execution = started.elapsed();
        let state = ctx.cache.clone();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let mut lines = plan.explain_annotated(&|node| {
            Some(match state.node_stats(node) {
                Some(s) if s.loops > 0 => format!(
                    " (actual time={:.3} rows={} loops={})",
                    ms(s.time) / s.loops as f64,
                    s.rows / s.loops,
                    s.loops
                ),
                _ => " (never executed)".to_string(),
            })
        });
        lines.push(format!("Planning Time: {:.3} ms", ms(planning)));
        lines.push(format!("Execution Time: {:.3} ms", ms(execution)));
        Ok(lines)
    }

    fn explain(&mut self, stmt: &ast::Statement, params: &[Value]) -> Result<Vec<String>> {
        match stmt {
            ast::Statement::Query(q) if writes::select_into_table(q).is_some() => Err(
                Error::unsupported("EXPLAIN of SELECT INTO is not supported"),
            ),
            ast::Statement::Query(q) if crate::sql::binder::has_dml_ctes(q) => {
                self.explain_with_dml_ctes(stmt, params)
            }
            ast::Statement::Query(q) if !crate::sql::binder::is_dml(stmt) => {
                Ok(self.plan_query(q, None, params)?.0.explain())
            }
            ast::Statement::Query(_)
            | ast::Statement::Insert(_)
            | ast::Statement::Update(_)
            | ast::Statement::Delete(_)
            | ast::Statement::Merge(_) => {
                let (_, plan) = self.bind_dml(stmt, params, None)?;
                Ok(explain_dml(&plan))
            }
            _ => Err(Error::unsupported(
                "EXPLAIN of this statement is not supported",
            )),
        }
    }

    /// Parameter types and result columns of a statement, without running it.
    fn describe(
        &mut self,
        stmt: &Statement,
        declared: &[DataType],
    ) -> Result<(Vec<DataType>, Vec<ColumnInfo>)> {
        let Statement::Sql(stmt) = stmt else {
            // Commands take no parameters and return no rows.
            return Ok((Vec::new(), Vec::new()));
        };
        let implicit = self.txn.is_none();
        if implicit {
            self.begin_txn(false, None)?;
        }
        let result = (|| {
            self.check_cross_database(stmt, None)?;
            let catalog = self.catalog()?;
            let search_path = self.search_path(&catalog);
            let binder = Binder::new(&catalog, &search_path).with_param_types(declared.to_vec());
            let cols = match stmt {
                ast::Statement::Query(q) if let Some(call) = helios::helios_call(q) => {
                    let (types, col) = helios::describe_call(&call)?;
                    return Ok((types, column_infos(vec![col])));
                }
                ast::Statement::Query(q) if let Some(ct) = writes::select_into_table(q) => {
                    // Binding the query gives the parameters' types.
                    if let Some(q) = &ct?.query {
                        binder.bind_top_query(q)?;
                    }
                    vec![]
                }
                ast::Statement::Query(q) if !crate::sql::binder::is_dml(stmt) => {
                    column_infos(binder.bind_top_query(q)?.columns())
                }
                ast::Statement::Query(_)
                | ast::Statement::Insert(_)
                | ast::Statement::Update(_)
                | ast::Statement::Delete(_)
                | ast::Statement::Merge(_) => column_infos(
                    binder
                        .bind_top_dml(stmt)?
                        .returning()
                        .map(|r| r.columns.clone())
                        .unwrap_or_default(),
                ),
                ast::Statement::ShowVariable { variable } => set::show_columns(variable),
                ast::Statement::Fetch {
                    name, into: None, ..
                } => self.fetch_columns(name)?,
                ast::Statement::Declare { stmts } => {
                    // Binding the query gives the parameters' types.
                    for q in stmts.iter().filter_map(|d| d.for_query.as_ref()) {
                        binder.bind_query(q)?;
                    }
                    vec![]
                }
                ast::Statement::Explain { .. } => vec![ColumnInfo {
                    name: "QUERY PLAN".into(),
                    ty: DataType::Text,
                }],
                _ => vec![],
            };
            Ok((binder.param_types(), cols))
        })();
        if implicit {
            self.end_txn(false)?;
        }
        result
    }
}

/// The command tag of a statement that writes (data, the catalog or roles),
/// as PostgreSQL names it when a read-only transaction refuses it.
fn write_tag(stmt: &ast::Statement) -> Option<String> {
    use ast::Statement as S;
    Some(match stmt {
        S::Insert(_) => "INSERT".into(),
        S::Update(_) => "UPDATE".into(),
        S::Delete(_) => "DELETE".into(),
        S::Merge(_) => "MERGE".into(),
        S::Truncate(_) => "TRUNCATE TABLE".into(),
        S::CreateTable(ct) if ct.query.is_some() => "CREATE TABLE AS".into(),
        S::CreateTable(_) => "CREATE TABLE".into(),
        S::CreateIndex(_) => "CREATE INDEX".into(),
        S::CreateView(_) => "CREATE VIEW".into(),
        S::CreateSchema { .. } => "CREATE SCHEMA".into(),
        S::CreateSequence { .. } => "CREATE SEQUENCE".into(),
        S::CreateRole(_) => "CREATE ROLE".into(),
        S::AlterRole { .. } => "ALTER ROLE".into(),
        S::AlterTable(_) => "ALTER TABLE".into(),
        S::AlterSchema(_) => "ALTER SCHEMA".into(),
        S::Drop { object_type, .. } => format!("DROP {object_type}"),
        S::Grant(_) => "GRANT".into(),
        S::Revoke(_) => "REVOKE".into(),
        S::CreatePolicy(_) => "CREATE POLICY".into(),
        S::AlterPolicy(_) => "ALTER POLICY".into(),
        S::DropPolicy(_) => "DROP POLICY".into(),
        S::CreateFunction(_) => "CREATE FUNCTION".into(),
        S::DropFunction(_) => "DROP FUNCTION".into(),
        S::CreateType { .. } => "CREATE TYPE".into(),
        // INSERT, UPDATE or DELETE under WITH.
        S::Query(q) if crate::sql::binder::dml_in_query(q).is_some() => {
            return crate::sql::binder::dml_in_query(q).and_then(write_tag);
        }
        S::Query(q) if writes::select_into_table(q).is_some() => "SELECT INTO".into(),
        // A query with data-modifying WITH queries.
        S::Query(q) if crate::sql::binder::has_dml_ctes(q) => "SELECT".into(),
        _ => return None,
    })
}

/// EXPLAIN's lines for an INSERT, UPDATE or DELETE.
fn explain_dml(plan: &DmlPlan) -> Vec<String> {
    let (head, inner, current_of) = match plan {
        DmlPlan::Insert(p) => (
            format!("Insert on {}", p.table.name),
            p.source.clone(),
            None,
        ),
        DmlPlan::Update(p) => (
            format!("Update on {}", p.table.name),
            Plan::Scan(p.scan.clone()),
            p.current_of.as_deref(),
        ),
        DmlPlan::Delete(p) => (
            format!("Delete on {}", p.table.name),
            Plan::Scan(p.scan.clone()),
            p.current_of.as_deref(),
        ),
        DmlPlan::Merge(p) => (format!("Merge on {}", p.table.name), p.join_plan(), None),
    };
    let mut lines = vec![head];
    if let Some(c) = current_of {
        lines.push(format!("  ->  Row of cursor {c}"));
        if let Plan::Scan(s) = &inner
            && let Some(f) = &s.filter
        {
            lines.push(format!("        Filter: {f}"));
        }
        return lines;
    }
    for l in inner.explain() {
        let l = if lines.len() == 1 {
            format!("  ->  {l}")
        } else {
            format!("      {l}")
        };
        lines.push(l);
    }
    lines
}

/// The result of an INSERT, UPDATE or DELETE: its tag, count and RETURNING rows.
fn dml_result(plan: &DmlPlan, outcome: dml::DmlOutcome) -> StatementResult {
    let command = match plan {
        DmlPlan::Insert(_) => "INSERT",
        DmlPlan::Update(_) => "UPDATE",
        DmlPlan::Delete(_) => "DELETE",
        DmlPlan::Merge(_) => "MERGE",
    };
    let rows = plan.returning().map(|r| {
        Rows::new(
            r.columns
                .iter()
                .map(|c| ColumnInfo {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                })
                .collect(),
            outcome.rows,
        )
    });
    StatementResult {
        command: std::borrow::Cow::Borrowed(command),
        affected: outcome.count,
        rows,
        notices: Vec::new(),
        copy: None,
        deallocate: None,
    }
}

/// Extra or missing parameter values are a protocol error, as in PostgreSQL.
fn check_param_count(given: usize, used: usize) -> Result<()> {
    if given < used {
        return Err(Error::new(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "bind message supplies {given} parameters, but prepared statement requires {used}"
            ),
        ));
    }
    Ok(())
}

/// Index selection for the target scans of UPDATE, DELETE and MERGE, the
/// optimizer for their other inputs, MERGE's join keys.
fn optimize_dml(plan: &mut DmlPlan) {
    let opt = |s: &mut crate::sql::plan::Scan| {
        if let Plan::Scan(o) = optimizer::optimize(Plan::Scan(s.clone())) {
            *s = o;
        }
    };
    match plan {
        DmlPlan::Insert(p) => p.source = optimizer::optimize(p.source.clone()),
        DmlPlan::Update(p) => {
            opt(&mut p.scan);
            if let Some(f) = p.from.take() {
                p.from = Some(optimizer::optimize(f));
            }
        }
        DmlPlan::Delete(p) => {
            opt(&mut p.scan);
            if let Some(f) = p.using.take() {
                p.using = Some(optimizer::optimize(f));
            }
        }
        DmlPlan::Merge(p) => {
            opt(&mut p.scan);
            p.source = optimizer::optimize(p.source.clone());
            (p.target_keys, p.source_keys) =
                optimizer::equi_join_keys(&p.on, &Plan::Scan(p.scan.clone()), &p.source);
        }
    }
}

impl Session {
    /// Drops temporary schemas `names` and everything in them, in one
    /// transaction (the end of this session, or crash recovery).
    pub(crate) fn drop_temp_schemas(&mut self, names: &[String]) -> Result<()> {
        self.end_txn(false)?;
        self.begin_txn(false, None)?;
        let r = self.with_ddl(|ctx| names.iter().try_for_each(|n| ctx.drop_temp_schema(n)));
        self.temp_used = false;
        let r = match r {
            Ok(()) => self.end_txn(true),
            Err(e) => self.end_txn(false).and(Err(e)),
        };
        self.notices.borrow_mut().clear();
        r
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.end_txn(false);
        // The session's temporary objects go with it. A terminated session's
        // database is being dropped (whole), and crash recovery at the next
        // open catches what a failure here leaves.
        if self.temp_used && !self.slot.terminated() && !self.slot.database_dropping() {
            let name = self.temp_schema.clone();
            if let Err(e) = self.drop_temp_schemas(&[name]) {
                tracing::warn!("could not drop temporary schema {}: {e}", self.temp_schema);
            }
        }
    }
}

/// An explicit transaction; rolls back on drop unless [`TransactionGuard::commit`] is called.
pub struct TransactionGuard<'a> {
    session: &'a mut Session,
    done: bool,
}

impl TransactionGuard<'_> {
    /// Commits; fails (and rolls back) if a statement in the transaction failed.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        if self.session.transaction_failed() {
            self.session.end_txn(false)?;
            return Err(Error::aborted_transaction());
        }
        self.session.end_txn(true)
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.session.end_txn(false)
    }
}

impl std::ops::Deref for TransactionGuard<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session
    }
}

impl std::ops::DerefMut for TransactionGuard<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session
    }
}

impl Drop for TransactionGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.session.end_txn(false);
        }
    }
}
