//! Change data capture through SQL: the `helios.changes(...)` table
//! function, the views `helios.consumers` and `helios.change_log`, and the
//! functions that manage consumers, capture and retention.
//!
//! Who reads the log: like PostgreSQL's logical decoding, a privileged
//! role. Superusers and CREATEROLE roles (who manage tenants) read every
//! change; a role bound to a tenant reads its own tenant's changes and
//! nothing else (its deletes included); anyone else gets 42501.

use super::{Session, StmtEnv};
use crate::catalog::Catalog;
use crate::cdc::{self, ChangeFilter, consumers, retention};
use crate::error::{Error, Result, SqlState};
use crate::txn::Transaction;
use crate::types::Interval;
use crate::types::Value;

/// Whose changes `user` may read: `Ok(None)` every tenant's, `Ok(Some(t))`
/// only tenant `t`'s.
pub(super) fn reader_scope(cat: &Catalog, user: u32) -> Result<Option<uuid::Uuid>> {
    if cat.manages_tenants(user) {
        return Ok(None);
    }
    match cat.roles.get(&user).and_then(|r| r.tenant) {
        Some(t) => Ok(Some(t)),
        None => Err(Error::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            "permission denied to read the change log",
        )
        .with_hint(
            "Superusers and CREATEROLE roles read every change; a role bound to a tenant reads its tenant's.",
        )),
    }
}

/// The tenant a reader limited to `scope` asks for with `name` (None: all
/// it may see). 42501 for another tenant than its own.
fn tenant_filter(
    cat: &Catalog,
    scope: Option<uuid::Uuid>,
    name: Option<&str>,
) -> Result<Option<uuid::Uuid>> {
    let asked = match name {
        Some(n) => Some(cat.tenant_named(n)?.id),
        None => None,
    };
    match (scope, asked) {
        (Some(own), Some(t)) if own != t => Err(Error::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            "permission denied to read another tenant's changes",
        )),
        (Some(own), _) => Ok(Some(own)),
        (None, t) => Ok(t),
    }
}

fn lsn_arg(v: &Value, what: &str) -> Result<Option<u64>> {
    match v {
        Value::Null => Ok(None),
        Value::Int8(n) if *n >= 0 => Ok(Some(*n as u64)),
        _ => Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("{what} must be a non-negative LSN"),
        )),
    }
}

/// A time in microseconds since the epoch as a timestamptz.
pub(super) fn micros_ts(micros: i64) -> Value {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(Value::Timestamptz)
        .unwrap_or(Value::Null)
}

/// The rows of `helios.changes(since_lsn, tenant, tables, limit, consumer)`
/// in the current database, as the statement's transaction sees the log.
pub(super) fn change_rows(
    env: &StmtEnv,
    args: &[Value],
    txn: &Transaction,
) -> Result<Vec<Vec<Value>>> {
    let cat = env.catalog;
    let scope = reader_scope(cat, env.identity.current_user())?;
    let text = |v: &Value| match v {
        Value::Null => None,
        v => Some(v.to_string()),
    };
    let mut since = lsn_arg(&args[0], "since_lsn")?;
    let mut tenant = text(&args[1]);
    if let Some(name) = text(&args[4]) {
        let c = consumers::get(txn, &name)?.ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_OBJECT,
                format!("change consumer \"{name}\" does not exist"),
            )
        })?;
        since = since.or(Some(c.acked_lsn));
        if let Some(t) = c.tenant {
            if scope.is_some_and(|own| own != t) {
                return Err(Error::new(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    "permission denied to read another tenant's changes",
                ));
            }
            tenant = Some(t.to_string());
        }
        // A consumer left behind by compaction is told so by name.
        let h = cdc::horizon(txn)?;
        if since.unwrap_or(0) < h {
            return Err(cdc::behind(
                &format!("changes consumer \"{name}\" has not acknowledged"),
                h,
            ));
        }
    }
    let filter = ChangeFilter {
        tenant: tenant_filter(cat, scope, tenant.as_deref())?,
        tables: match &args[2] {
            Value::Array(_, items) => items.iter().map(|v| v.to_string()).collect(),
            _ => Vec::new(),
        },
        database: Some(cat.database),
    };
    let limit = match &args[3] {
        Value::Null => usize::MAX,
        Value::Int8(n) if *n >= 0 => *n as usize,
        _ => {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "limit must not be negative",
            ));
        }
    };
    let events = cdc::read(txn, since.unwrap_or(0), &filter, limit)?;
    Ok(events
        .into_iter()
        .map(|e| {
            vec![
                Value::Int8(e.lsn as i64),
                Value::Int8(e.txid as i64),
                micros_ts(e.commit_ts),
                Value::Text(e.table),
                e.tenant_id.map(Value::Uuid).unwrap_or(Value::Null),
                Value::Text(e.op),
                json(e.pk),
                json(e.before),
                json(e.after),
            ]
        })
        .collect())
}

fn json(v: serde_json::Value) -> Value {
    if v.is_null() {
        Value::Null
    } else {
        Value::Jsonb(v)
    }
}

/// `helios.consumers`: every consumer the user may see (a tenant's role:
/// its tenant's), with how far behind the log it is.
pub(super) fn consumer_rows(env: &StmtEnv, txn: &Transaction) -> Result<Vec<Vec<Value>>> {
    let cat = env.catalog;
    let scope = reader_scope(cat, env.identity.current_user())?;
    let horizon = cdc::horizon(txn)?;
    let last = env.db.txns.last_lsn();
    let mut rows = Vec::new();
    for c in consumers::list(txn)? {
        if scope.is_some() && c.tenant != scope {
            continue;
        }
        rows.push(vec![
            Value::Text(c.name),
            c.tenant
                .map(|t| match cat.tenant_by_id(t) {
                    Some(def) => Value::Text(def.name.clone()),
                    None => Value::Text(t.to_string()),
                })
                .unwrap_or(Value::Null),
            Value::Int8(c.acked_lsn as i64),
            Value::Int8(last.saturating_sub(c.acked_lsn) as i64),
            Value::Text(
                if c.acked_lsn < horizon {
                    "behind"
                } else {
                    "active"
                }
                .into(),
            ),
            micros_ts(c.created_at),
            micros_ts(c.acked_at),
        ]);
    }
    Ok(rows)
}

/// `helios.change_log`: the log's extent, size and retention settings.
pub(super) fn change_log_rows(env: &StmtEnv, txn: &Transaction) -> Result<Vec<Vec<Value>>> {
    reader_scope(env.catalog, env.identity.current_user())?;
    let horizon = cdc::horizon(txn)?;
    let last = env.db.txns.last_lsn();
    let r = retention::settings(txn)?;
    let int = |v: Option<i64>| v.map(Value::Int8).unwrap_or(Value::Null);
    Ok(vec![vec![
        Value::Int8(horizon as i64 + 1),
        Value::Int8(last as i64),
        Value::Int8(horizon as i64),
        Value::Int8(retention::log_bytes(txn)?),
        r.age_secs
            .map(|s| {
                let days = i32::try_from(s / 86_400).unwrap_or(i32::MAX);
                Value::Interval(Interval::new(0, days, (s % 86_400) * 1_000_000))
            })
            .unwrap_or(Value::Null),
        int(r.bytes),
        int(r.max_bytes),
    ]])
}

/// How many changes one compaction transaction removes at most.
pub(crate) const COMPACT_BATCH: usize = 50_000;

impl Session {
    /// The statement's transaction (started by the caller).
    fn statement_txn(&mut self) -> &mut Transaction {
        &mut self.txn.as_mut().expect("transaction started").txn
    }

    fn require_superuser(&mut self, what: &str) -> Result<()> {
        let cat = self.catalog()?;
        if cat.is_superuser(self.identity.current_user()) {
            Ok(())
        } else {
            Err(Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("permission denied to {what}"),
            )
            .with_hint("Only superusers manage the change log."))
        }
    }

    /// `helios.create_consumer(name [, start_lsn] [, tenant])`: the new
    /// consumer's position (by default the end of the log: it sees the
    /// changes committed from now on).
    pub(super) fn create_consumer(
        &mut self,
        name: &str,
        start: Option<i64>,
        tenant: Option<&str>,
    ) -> Result<i64> {
        let cat = self.catalog()?;
        let scope = reader_scope(&cat, self.identity.current_user())?;
        let tenant = tenant_filter(&cat, scope, tenant)?;
        let start = match start {
            Some(n) => lsn_arg(&Value::Int8(n), "start_lsn")?.unwrap_or(0),
            None => self.db.txns.last_lsn(),
        };
        consumers::create(self.statement_txn(), name, start, tenant)?;
        Ok(start as i64)
    }

    /// Checks that the user may act for consumer `name`.
    fn own_consumer(&mut self, name: &str) -> Result<()> {
        let cat = self.catalog()?;
        let scope = reader_scope(&cat, self.identity.current_user())?;
        if let Some(own) = scope {
            let c = consumers::get(self.statement_txn(), name)?;
            if c.is_some_and(|c| c.tenant != Some(own)) {
                return Err(Error::new(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied for change consumer \"{name}\""),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn drop_consumer(&mut self, name: &str, missing_ok: bool) -> Result<()> {
        self.own_consumer(name)?;
        consumers::drop(self.statement_txn(), name, missing_ok)
    }

    /// `helios.consumer_ack(name, lsn)`: the consumer's acknowledged LSN after it.
    pub(super) fn consumer_ack(&mut self, name: &str, lsn: i64) -> Result<i64> {
        self.own_consumer(name)?;
        let lsn = lsn_arg(&Value::Int8(lsn), "lsn")?.unwrap_or(0);
        let last = self.db.txns.last_lsn();
        Ok(consumers::ack(self.statement_txn(), name, lsn, last)?.acked_lsn as i64)
    }

    /// `helios.truncate_changes(before_lsn)`: how many changes went.
    pub(super) fn truncate_changes(&mut self, before: i64) -> Result<i64> {
        self.require_superuser("truncate the change log")?;
        let before = lsn_arg(&Value::Int8(before), "before_lsn")?.unwrap_or(0);
        let mut total = 0;
        loop {
            let c = retention::truncate(self.statement_txn(), before, COMPACT_BATCH)?;
            total += c.removed;
            if (c.removed as usize) < COMPACT_BATCH {
                return Ok(total as i64);
            }
        }
    }

    /// `helios.compact_changes()`: how many changes retention let go.
    pub(super) fn compact_changes(&mut self) -> Result<i64> {
        self.require_superuser("compact the change log")?;
        let now = consumers::now_micros();
        let mut total = 0;
        loop {
            let c = retention::compact(self.statement_txn(), now, COMPACT_BATCH)?;
            total += c.removed;
            if (c.removed as usize) < COMPACT_BATCH {
                return Ok(total as i64);
            }
        }
    }

    /// `helios.set_change_retention(age, bytes, max_bytes)`: a setting not
    /// given stays; one given as NULL is switched off.
    pub(super) fn set_change_retention(
        &mut self,
        age: Option<Option<Interval>>,
        bytes: Option<Option<i64>>,
        max_bytes: Option<Option<i64>>,
    ) -> Result<()> {
        self.require_superuser("set the change log's retention")?;
        let txn = self.statement_txn();
        let mut r = retention::settings(txn)?;
        if let Some(age) = age {
            r.age_secs = match age {
                None => None,
                Some(i) => {
                    let secs = i64::try_from(i.total_micros() / 1_000_000).unwrap_or(i64::MAX);
                    if secs < 0 {
                        return Err(Error::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            "the retention age must not be negative",
                        ));
                    }
                    Some(secs)
                }
            };
        }
        for (given, slot) in [(bytes, &mut r.bytes), (max_bytes, &mut r.max_bytes)] {
            if let Some(v) = given {
                if v.is_some_and(|b| b < 0) {
                    return Err(Error::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "a retention size must not be negative",
                    ));
                }
                *slot = v;
            }
        }
        retention::set_settings(txn, &r)
    }
}
