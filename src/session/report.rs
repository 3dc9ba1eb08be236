//! What a session tells its client besides results: notices raised while
//! statements run, the parameters a server reports with ParameterStatus,
//! and facts about the connection (`pg_backend_pid()`, `inet_*()`).
//!
//! **Notices.** A statement raises notices through its `EvalEnv` (DDL's
//! `... does not exist, skipping`) or the session (transaction-control
//! warnings). Those `client_min_messages` lets through are queued on the
//! session; each call that returns a [`StatementResult`] moves the queue
//! into [`StatementResult::notices`]. Whatever a call did not hand out that
//! way (calls returning only a count or rows, failed statements) stays
//! queued until [`Session::take_notices`] or the start of the next call.
//!
//! **Reported parameters.** The server sends the values of
//! [`REPORTED`] at startup ([`Session::reported_parameters`]) and, before
//! each ReadyForQuery, those that changed ([`Session::parameter_changes`]):
//! by SET, RESET, `set_config`, SET ROLE, SET SESSION AUTHORIZATION, or a
//! transaction end that undid or dropped them.

use super::{Session, StatementResult, StmtEnv};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::expr::EvalEnv;
use crate::types::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};

/// The parameters PostgreSQL reports to clients (GUC_REPORT), by their
/// canonical names; `default_transaction_read_only` and `in_hot_standby`
/// are always `off`.
pub const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "TimeZone",
];

/// Process ids for sessions; unique within the process.
static NEXT_BACKEND_PID: AtomicI32 = AtomicI32::new(10_000);

/// Where a session's client is: its process id and, for a wire session,
/// the addresses of both ends of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `pg_backend_pid()`; the server sends it in BackendKeyData.
    pub backend_pid: i32,
    /// The server address the connection came in on (`inet_server_addr()`, `inet_server_port()`).
    pub server_addr: Option<SocketAddr>,
    /// The client's address (`inet_client_addr()`, `inet_client_port()`).
    pub client_addr: Option<SocketAddr>,
    /// The connection is encrypted (TLS): `pg_stat_ssl.ssl`.
    pub ssl: bool,
}

impl ConnectionInfo {
    /// A new session's info: a fresh process id, no addresses.
    pub(super) fn embedded() -> ConnectionInfo {
        ConnectionInfo {
            backend_pid: NEXT_BACKEND_PID.fetch_add(1, Ordering::Relaxed),
            server_addr: None,
            client_addr: None,
            ssl: false,
        }
    }
}

/// A `set_config` call waiting for its statement to succeed.
pub(super) struct PendingSetting {
    pub name: String,
    /// `None`: reset to the default.
    pub value: Option<String>,
    pub local: bool,
}

/// The value a pending `set_config` gives `name`, if any (the latest call wins).
pub(super) fn pending_value(pending: &[PendingSetting], name: &str) -> Option<String> {
    pending
        .iter()
        .rev()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
        .map(|p| p.value.clone().unwrap_or_default())
}

/// `set_config(name, value, is_local)` during a statement: checks the value
/// as SET would and queues it (see [`Session::apply_settings`]).
pub(super) fn set_config(
    env: &StmtEnv,
    name: &str,
    value: Option<&str>,
    local: bool,
) -> Result<String> {
    let lower = name.trim().to_ascii_lowercase();
    let shown = match (lower.as_str(), value) {
        ("is_superuser", _) => {
            return Err(Error::new(
                SqlState::CANT_CHANGE_RUNTIME_PARAM,
                "parameter \"is_superuser\" cannot be changed",
            ));
        }
        ("role", Some(v)) if v.eq_ignore_ascii_case("none") => "none".to_string(),
        ("role" | "session_authorization", Some(v)) => {
            // Permission is checked when it is applied, as SET ROLE checks it.
            env.catalog.role_by_name(v).ok_or_else(|| {
                Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("role \"{v}\" does not exist"),
                )
            })?;
            v.to_string()
        }
        ("role", None) => "none".to_string(),
        ("session_authorization", None) => env.session_user()?,
        (_, Some(v)) => env.settings.check(&lower, v)?,
        (_, None) => env.settings.reset_value(&lower)?,
    };
    env.pending_settings.borrow_mut().push(PendingSetting {
        name: lower,
        value: value.map(|_| shown.clone()),
        local,
    });
    Ok(shown)
}

/// Rows of the session-dependent system relations (see `EvalEnv::session_relation`).
pub(super) fn session_relation(
    env: &StmtEnv,
    name: &str,
    args: &[Value],
    txn: &crate::txn::Transaction,
) -> Result<Vec<Vec<Value>>> {
    use crate::sql::system;
    match name {
        "pg_settings" => Ok(system::settings_rows(env.settings.describe())),
        "pg_authid" | "pg_shadow" => {
            let user = env.catalog.role(env.identity.current_user())?;
            if !user.superuser {
                return Err(Error::new(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied for table {name}"),
                ));
            }
            Ok(system::role_secrets_rows(env.catalog, name))
        }
        // The session's own connection (other backends are not listed);
        // rustls does not tell the server the negotiated version and cipher.
        "pg_stat_ssl" => Ok(vec![vec![
            Value::Int4(env.info.backend_pid),
            Value::Bool(env.info.ssl),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ]]),
        "helios.tenants" => Ok(system::tenant_rows(
            env.catalog,
            env.identity.current_user(),
            super::tenant::tenant_of(env.settings),
        )),
        "helios.tenant_usage" => tenant_usage_rows(env),
        "helios.changes" => super::changes::change_rows(env, args, txn),
        "helios.consumers" => super::changes::consumer_rows(env, txn),
        "helios.change_log" => super::changes::change_log_rows(env, txn),
        "helios.migrations" => super::migrations::migration_rows(env, txn),
        "helios.tenant_checksum" => super::migrations::checksum_rows(env, args, txn),
        "enabled_roles" | "applicable_roles" => Ok(system::current_user_roles_rows(
            env.catalog,
            name,
            env.identity.current_user(),
        )),
        other => Err(Error::internal(format!(
            "{other} is not a session relation"
        ))),
    }
}

/// `helios.tenant_usage`: each tenant's storage (as the newest commit
/// counts it), connections, rate and rejections, with its limits. Managers
/// of tenants (superusers, CREATEROLE) see every tenant; a role bound to a
/// tenant sees its own; anyone else nothing.
fn tenant_usage_rows(env: &StmtEnv) -> Result<Vec<Vec<Value>>> {
    let cat = env.catalog;
    let user = env.identity.current_user();
    let manager = cat.manages_tenants(user);
    let own = cat.roles.get(&user).and_then(|r| r.tenant);
    let txn = env
        .db
        .txns
        .begin_read_only(crate::txn::IsolationLevel::ReadCommitted)?;
    let mut rows = Vec::new();
    for t in cat.tenants.values() {
        if !manager && own != Some(t.id) {
            continue;
        }
        let limits = cat.tenant_limits(t);
        let storage = crate::tenant::usage::usage_in(&txn, t.id)?;
        let tracked = env.db.quotas.get(t.id).map(|q| q.tracking());
        let n = |f: &dyn Fn(&crate::tenant::quota::QuotaTracking) -> u64| {
            Value::Int8(tracked.as_ref().map_or(0, |q| f(q) as i64))
        };
        rows.push(vec![
            Value::Text(t.name.clone()),
            Value::Text(t.tier.clone()),
            Value::Int8(storage),
            Value::Int8(limits.max_storage_bytes),
            Value::Int8(tracked.as_ref().map_or(0, |q| q.connections)),
            Value::Int8(limits.max_connections),
            n(&|q| q.qps),
            Value::Int8(limits.max_qps),
            n(&|q| q.statements_total),
            n(&|q| q.rejected_storage),
            n(&|q| q.rejected_connections),
            n(&|q| q.rejected_qps),
        ]);
    }
    txn.rollback();
    rows.sort_by(|a, b| a[0].to_string().cmp(&b[0].to_string()));
    Ok(rows)
}

/// The reported parameter values last handed to the server.
pub(super) struct Reported {
    settings_version: u64,
    users: (u32, u32),
    values: Vec<(&'static str, String)>,
}

impl Session {
    /// This session's process id: what `pg_backend_pid()` returns and, for
    /// a wire session, the process id of its BackendKeyData. Unique among
    /// the sessions of this process.
    pub fn backend_pid(&self) -> i32 {
        self.info.backend_pid
    }

    /// The connection facts `pg_backend_pid()` and the `inet_*()` functions report.
    pub fn connection_info(&self) -> ConnectionInfo {
        self.info
    }

    /// Tells a session opened for a network client where the connection's
    /// ends are (the server calls this once, before the first statement);
    /// embedded sessions have no addresses, and the `inet_*()` functions
    /// return NULL for them.
    pub fn set_connection_info(&mut self, server: SocketAddr, client: SocketAddr) {
        self.info.server_addr = Some(server);
        self.info.client_addr = Some(client);
    }

    /// The server tells the session that its connection uses TLS.
    pub fn set_connection_ssl(&mut self, ssl: bool) {
        self.info.ssl = ssl;
    }

    /// The notices raised by the last call that it did not hand out in a
    /// [`StatementResult`]: those of [`Session::execute`],
    /// [`Session::query`] and the other calls returning only a count or
    /// rows, and those a failed statement raised before its error. Each
    /// call starts with an empty queue, so what is not taken is dropped.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(self.notices.get_mut())
    }

    /// Queues a notice the session itself raises, unless `client_min_messages` filters it.
    pub(super) fn notice(&self, notice: Notice) {
        if notice
            .severity
            .passes(self.settings.builtin("client_min_messages"))
        {
            self.notices.borrow_mut().push(notice);
        }
    }

    /// COMMIT, END or ROLLBACK outside a transaction block.
    pub(super) fn warn_no_transaction(&self) {
        self.notice(Notice::warning(
            SqlState::NO_ACTIVE_SQL_TRANSACTION,
            "there is no transaction in progress",
        ));
    }

    /// Hands the queued notices out with a statement's result.
    pub(super) fn deliver(&self, r: Result<StatementResult>) -> Result<StatementResult> {
        r.map(|mut r| {
            r.notices = self.notices.take();
            r
        })
    }

    /// The current value of every reported parameter ([`REPORTED`]), by
    /// canonical name; remembered as what the client knows.
    pub fn reported_parameters(&mut self) -> Result<Vec<(String, String)>> {
        let values = self.reported_values()?;
        let out = values
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        self.reported = Some(Reported {
            settings_version: self.settings.version(),
            users: self.users(),
            values,
        });
        Ok(out)
    }

    /// The reported parameters whose values changed since they were last
    /// reported (or since [`Session::reported_parameters`]); empty unless a
    /// setting or the session's roles changed. A server sends them as
    /// ParameterStatus before ReadyForQuery.
    pub fn parameter_changes(&mut self) -> Result<Vec<(String, String)>> {
        let Some(last) = &self.reported else {
            return Ok(Vec::new());
        };
        if last.settings_version == self.settings.version() && last.users == self.users() {
            return Ok(Vec::new());
        }
        let values = self.reported_values()?;
        let last = self.reported.as_mut().expect("checked above");
        let changed = values
            .iter()
            .zip(&last.values)
            .filter(|(now, before)| now.1 != before.1)
            .map(|(now, _)| (now.0.to_string(), now.1.clone()))
            .collect();
        last.values = values;
        last.settings_version = self.settings.version();
        last.users = (self.identity.session_user(), self.identity.current_user());
        Ok(changed)
    }

    fn users(&self) -> (u32, u32) {
        (self.identity.session_user(), self.identity.current_user())
    }

    fn reported_values(&mut self) -> Result<Vec<(&'static str, String)>> {
        let (su, cu) = self.users();
        let (session_user, superuser) =
            self.with_catalog(|c| Ok((c.role(su)?.name.clone(), c.role(cu)?.superuser)))?;
        REPORTED
            .iter()
            .map(|&name| {
                let value = match name {
                    "in_hot_standby" => "off".to_string(),
                    "is_superuser" => if superuser { "on" } else { "off" }.to_string(),
                    "session_authorization" => session_user.clone(),
                    other => self.settings.get(other)?.unwrap_or_default(),
                };
                Ok((name, value))
            })
            .collect()
    }
}
