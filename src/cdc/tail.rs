//! `heliosdb cdc tail`: the change log as JSON lines, one per change, in a
//! Debezium-style envelope (`before`, `after`, `op`, `ts_ms`, `source`).
//!
//! Two ways in: a data directory opened embedded (read through
//! [`Database::subscribe`], which wakes on each commit), or a server, polled
//! with `helios.changes(...)` over the wire protocol ([`Remote`]). Both turn
//! what they read into [`ChangeEvent`]s and print them with [`envelope`].
//!
//! With a named consumer the tail starts after the consumer's acknowledged
//! LSN and acknowledges each batch once it is printed, so a restarted tail
//! resumes where the last one stopped (at-least-once: a batch printed but
//! not yet acknowledged is printed again).

use super::{ChangeEvent, ChangeFilter};
use crate::session::{Database, Session};
use crate::shell::{Backend, ConnParams, Remote, ShellError};
use serde_json::{Value as Json, json};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Errors as the shell reports them: SQLSTATE, message, detail, hint.
pub type TailResult<T> = std::result::Result<T, ShellError>;

/// How many changes one read (and one acknowledgement) covers at most.
pub const BATCH: usize = 1000;

/// How long a following tail waits between looks at the log.
const POLL: Duration = Duration::from_millis(200);

/// Where the change log is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A data directory, opened in this process (it must not be in use by
    /// a server).
    DataDir(PathBuf),
    /// A server: a `postgres://` URL or a `key=value` connection string.
    Url(String),
}

/// What `heliosdb cdc tail` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailOptions {
    pub source: Source,
    /// Only this tenant's changes (its name or id).
    pub tenant: Option<String>,
    /// Start after this LSN (default: after the consumer's position, or 0).
    pub from: Option<u64>,
    /// Keep waiting for new commits instead of exiting at the end of the log.
    pub follow: bool,
    /// Only these tables (`name` or `schema.name`); empty: all.
    pub tables: Vec<String>,
    /// Print schema changes (`op` `ddl`) too.
    pub ddl: bool,
    /// Start after this consumer's acknowledged LSN and acknowledge what
    /// is printed.
    pub consumer: Option<String>,
}

/// Debezium's one-letter operation for a change-log op (`ddl` stays `ddl`).
pub fn op_code(op: &str) -> &str {
    match op {
        "insert" => "c",
        "update" => "u",
        "delete" => "d",
        "truncate" => "t",
        other => other,
    }
}

/// Whether the tail prints `e`: schema changes only when asked for.
pub fn wanted(e: &ChangeEvent, ddl: bool) -> bool {
    ddl || e.op != "ddl"
}

/// The JSON envelope of one change. `db` is the database's name; `tenant`
/// the tenant's name if known (otherwise its id is shown).
pub fn envelope(e: &ChangeEvent, db: &str, tenant: Option<&str>) -> Json {
    let (schema, table) = match e.table.split_once('.') {
        Some((s, t)) => (json!(s), json!(t)),
        None if e.table.is_empty() => (Json::Null, Json::Null),
        None => (Json::Null, json!(e.table)),
    };
    let tenant_id = e.tenant_id.map(|t| t.to_string());
    let tenant_label = match (tenant, &tenant_id) {
        (Some(name), Some(_)) => json!(name),
        (_, Some(id)) => json!(id),
        (_, None) => Json::Null,
    };
    let source = json!({
        "version": crate::VERSION,
        "connector": "heliosdb",
        "db": db,
        "schema": schema,
        "table": table,
        "lsn": e.lsn,
        "txId": e.txid,
        "tenant": tenant_label,
        "tenant_id": tenant_id,
    });
    let ts_ms = e.commit_ts.div_euclid(1000);
    if e.op == "ddl" {
        json!({
            "before": null,
            "after": null,
            "op": "ddl",
            "ddl": e.after,
            "ts_ms": ts_ms,
            "source": source,
        })
    } else {
        json!({
            "before": e.before,
            "after": e.after,
            "op": op_code(&e.op),
            "ts_ms": ts_ms,
            "source": source,
        })
    }
}

/// Prints a failure on stderr: `heliosdb: ERROR: message`, then DETAIL,
/// HINT and SQLSTATE lines.
pub fn print_error(err: &mut dyn Write, e: &ShellError) -> std::io::Result<()> {
    crate::shell::print_shell_error(err, e, "heliosdb: ")
}

/// A flag set by SIGINT or SIGTERM (Ctrl-C elsewhere). The tail checks it
/// between reads and ends normally; should it be stuck (a blocked write, a
/// server that does not answer), the process exits with status 0 shortly
/// after the signal anyway.
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (ready, registered) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            else {
                let _ = ready.send(());
                return;
            };
            let waiter = {
                let _guard = rt.enter();
                signal_waiter()
            };
            let _ = ready.send(());
            let Some(waiter) = waiter else {
                return;
            };
            rt.block_on(waiter);
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(3));
            std::process::exit(0);
        });
    // Start reading only once the handlers are in place, so that an early
    // signal is not lost to the default action.
    if spawned.is_ok() {
        let _ = registered.recv();
    }
    stop
}

#[cfg(unix)]
fn signal_waiter() -> Option<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).ok()?;
    let mut term = signal(SignalKind::terminate()).ok()?;
    Some(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn signal_waiter() -> Option<impl std::future::Future<Output = ()>> {
    Some(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Why printing stopped early.
enum Halt {
    Failed(ShellError),
    /// The reader of stdout went away: end quietly.
    Closed,
}

impl From<ShellError> for Halt {
    fn from(e: ShellError) -> Halt {
        Halt::Failed(e)
    }
}

impl From<crate::error::Error> for Halt {
    fn from(e: crate::error::Error) -> Halt {
        Halt::Failed(e.into())
    }
}

/// Writes one line and flushes it.
fn emit(out: &mut dyn Write, line: &Json) -> Result<(), Halt> {
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Halt::Closed),
        Err(e) => Err(Halt::Failed(ShellError::io(format!(
            "could not write to standard output: {e}"
        )))),
    }
}

/// Runs the tail, printing to `out` until the end of the log (or, with
/// `follow`, until `stop` is set). A closed `out` ends it without error.
pub fn run(opts: &TailOptions, out: &mut dyn Write, stop: &AtomicBool) -> TailResult<()> {
    if let Some(c) = &opts.consumer
        && c.is_empty()
    {
        return Err(ShellError::new(
            "22023",
            "a consumer's name must not be empty",
        ));
    }
    let r = match &opts.source {
        Source::DataDir(dir) => embedded(dir, opts, out, stop),
        Source::Url(url) => remote(url, opts, out, stop),
    };
    match r {
        Ok(()) | Err(Halt::Closed) => Ok(()),
        Err(Halt::Failed(e)) => Err(e),
    }
}

fn tenant_not_found(name: &str) -> ShellError {
    ShellError::new("22023", format!("tenant \"{name}\" does not exist"))
}

fn consumer_not_found(name: &str) -> ShellError {
    ShellError {
        hint: Some(format!(
            "Create it with SELECT helios.create_consumer({}).",
            literal(name)
        )),
        ..ShellError::new(
            "42704",
            format!("change consumer \"{name}\" does not exist"),
        )
    }
}

fn consumer_tenant_conflict(consumer: &str, tenant: &str) -> ShellError {
    ShellError::new(
        "22023",
        format!("consumer \"{consumer}\" reads the changes of tenant \"{tenant}\" only"),
    )
}

/// Tenant ids and names, looked up again when an unknown id shows up (a
/// tenant created while the tail runs).
#[derive(Default)]
struct Tenants {
    names: HashMap<uuid::Uuid, String>,
    /// Ids looked up and not found (deleted tenants): not looked up again.
    missing: HashSet<uuid::Uuid>,
}

impl Tenants {
    fn from_rows(rows: impl IntoIterator<Item = (uuid::Uuid, String)>) -> Tenants {
        Tenants {
            names: rows.into_iter().collect(),
            missing: HashSet::new(),
        }
    }

    /// The id of the tenant named (or with the id) `text`.
    fn resolve(&self, text: &str) -> Option<uuid::Uuid> {
        if let Ok(id) = uuid::Uuid::parse_str(text.trim())
            && self.names.contains_key(&id)
        {
            return Some(id);
        }
        self.names
            .iter()
            .find(|(_, n)| n.as_str() == text)
            .map(|(id, _)| *id)
    }

    /// Whether `id` should be looked up (unknown, not known to be missing).
    fn stale(&self, id: Option<uuid::Uuid>) -> bool {
        id.is_some_and(|id| !self.names.contains_key(&id) && !self.missing.contains(&id))
    }

    /// After a fresh lookup: remember `id` as missing if it still is.
    fn refreshed(&mut self, fresh: Tenants, id: uuid::Uuid) {
        self.names = fresh.names;
        if !self.names.contains_key(&id) {
            self.missing.insert(id);
        }
    }

    fn name(&self, id: Option<uuid::Uuid>) -> Option<&str> {
        id.and_then(|id| self.names.get(&id)).map(String::as_str)
    }
}

/// A consumer's position and tenant (as `helios.consumers` shows it: its
/// name, or its id if the tenant is gone).
struct ConsumerState {
    acked_lsn: u64,
    tenant: Option<String>,
}

/// Where to start and which tenant to read, from the options and the
/// consumer: `--from` wins over the consumer's position; a consumer bound to
/// a tenant reads that tenant only.
fn start_and_tenant(
    opts: &TailOptions,
    consumer: Option<&ConsumerState>,
    tenants: &Tenants,
) -> TailResult<(u64, Option<uuid::Uuid>)> {
    let asked = match &opts.tenant {
        Some(name) => Some(
            tenants
                .resolve(name)
                .ok_or_else(|| tenant_not_found(name))?,
        ),
        None => None,
    };
    let own = match consumer.and_then(|c| c.tenant.as_deref()) {
        Some(t) => Some(
            tenants
                .resolve(t)
                .or_else(|| uuid::Uuid::parse_str(t).ok())
                .ok_or_else(|| tenant_not_found(t))?,
        ),
        None => None,
    };
    let tenant = match (asked, own) {
        (Some(a), Some(o)) if a != o => {
            return Err(consumer_tenant_conflict(
                opts.consumer.as_deref().unwrap_or_default(),
                consumer
                    .and_then(|c| c.tenant.as_deref())
                    .unwrap_or_default(),
            ));
        }
        (a, o) => a.or(o),
    };
    Ok((start_lsn(opts, consumer), tenant))
}

/// `--from`, else the consumer's position, else 0.
fn start_lsn(opts: &TailOptions, consumer: Option<&ConsumerState>) -> u64 {
    opts.from
        .or(consumer.map(|c| c.acked_lsn))
        .unwrap_or_default()
}

// ---- embedded -------------------------------------------------------------

fn text_of(v: &crate::types::Value) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

fn embedded_tenants(session: &mut Session) -> TailResult<Tenants> {
    let rows = session.query("SELECT id, name FROM helios.tenants", &[])?;
    let mut out = Vec::new();
    for row in rows.iter() {
        let id: uuid::Uuid = row.get(0)?;
        let name: String = row.get(1)?;
        out.push((id, name));
    }
    Ok(Tenants::from_rows(out))
}

fn embedded_databases(session: &mut Session) -> TailResult<HashMap<u32, String>> {
    let rows = session.query("SELECT oid, datname FROM pg_database", &[])?;
    let mut out = HashMap::new();
    for row in rows.iter() {
        let col = |i: usize| row.values().get(i).and_then(text_of);
        let oid = col(0).and_then(|s| s.parse::<u32>().ok());
        if let (Some(oid), Some(name)) = (oid, col(1)) {
            out.insert(oid, name);
        }
    }
    Ok(out)
}

fn embedded_consumer(session: &mut Session, name: &str) -> TailResult<ConsumerState> {
    let rows = session.query(
        "SELECT acked_lsn, tenant FROM helios.consumers WHERE name = $1",
        &[&name],
    )?;
    let row = rows.get(0).ok_or_else(|| consumer_not_found(name))?;
    let acked: i64 = row.get(0)?;
    Ok(ConsumerState {
        acked_lsn: u64::try_from(acked).unwrap_or_default(),
        tenant: row.get(1)?,
    })
}

fn embedded(
    dir: &std::path::Path,
    opts: &TailOptions,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<(), Halt> {
    // Opening creates a missing data directory: refuse instead.
    if !dir.join(crate::storage::disk::FILE_NAME).is_file() {
        return Err(ShellError::new(
            "58P01",
            format!(
                "\"{}\" is not a HeliosDB data directory (no {} in it)",
                dir.display(),
                crate::storage::disk::FILE_NAME
            ),
        )
        .into());
    }
    let db = Database::open(dir)?;
    let mut session = db.connect();
    let r = embedded_tail(&db, &mut session, opts, out, stop);
    drop(session);
    let synced = db.sync();
    r?;
    synced?;
    Ok(())
}

fn embedded_tail(
    db: &Database,
    session: &mut Session,
    opts: &TailOptions,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<(), Halt> {
    let mut tenants = embedded_tenants(session)?;
    let mut databases = embedded_databases(session)?;
    let consumer = match &opts.consumer {
        Some(name) => Some(embedded_consumer(session, name)?),
        None => None,
    };
    let (start, tenant) = start_and_tenant(opts, consumer.as_ref(), &tenants)?;
    let filter = ChangeFilter {
        tenant,
        tables: opts.tables.clone(),
        database: None,
    };
    let mut sub = db.subscribe(start, filter);
    let mut acked = start;
    while !stop.load(Ordering::SeqCst) {
        let mut next = sub.next_timeout(if opts.follow { POLL } else { Duration::ZERO })?;
        let mut read = 0;
        while let Some(e) = next {
            if wanted(&e, opts.ddl) {
                if tenants.stale(e.tenant_id) {
                    let fresh = embedded_tenants(session)?;
                    tenants.refreshed(fresh, e.tenant_id.unwrap_or_default());
                }
                if !databases.contains_key(&e.database) {
                    // A database created since, or one dropped (shown by oid).
                    databases.extend(embedded_databases(session)?);
                    databases
                        .entry(e.database)
                        .or_insert_with(|| e.database.to_string());
                }
                let db_name = databases.get(&e.database).map_or("", String::as_str);
                emit(out, &envelope(&e, db_name, tenants.name(e.tenant_id)))?;
            }
            read += 1;
            if read >= BATCH {
                break;
            }
            next = sub.next_timeout(Duration::ZERO)?;
        }
        // The subscription's position covers the changes its filter
        // skipped too: acknowledge through it.
        if let Some(name) = &opts.consumer
            && sub.position() > acked
        {
            let lsn = i64::try_from(sub.position()).unwrap_or(i64::MAX);
            session.query(
                "SELECT helios.consumer_ack($1, $2)",
                &[&name.as_str(), &lsn],
            )?;
            acked = sub.position();
        }
        if read < BATCH && !opts.follow {
            break;
        }
    }
    Ok(())
}

// ---- remote ---------------------------------------------------------------

/// `s` as an SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The query that reads the next batch of changes after `since`.
pub fn changes_query(opts: &TailOptions, since: u64) -> String {
    let mut args = format!("since_lsn => {since}");
    if let Some(t) = &opts.tenant {
        args.push_str(&format!(", tenant => {}", literal(t)));
    }
    if !opts.tables.is_empty() {
        let items: Vec<String> = opts.tables.iter().map(|t| literal(t)).collect();
        args.push_str(&format!(", tables => ARRAY[{}]", items.join(", ")));
    }
    if let Some(c) = &opts.consumer {
        args.push_str(&format!(", consumer => {}", literal(c)));
    }
    format!(
        "SELECT lsn, txid, commit_ts, table_name, tenant_id, op, pk, before, after \
         FROM helios.changes({args}, \"limit\" => {BATCH}) ORDER BY lsn LIMIT {BATCH}"
    )
}

fn bad_value(what: &str, v: &str) -> ShellError {
    ShellError::new(
        "XX000",
        format!("unexpected {what} from the server: \"{v}\""),
    )
}

/// A commit time as the server prints a timestamptz, in microseconds
/// since the Unix epoch.
pub fn parse_commit_ts(s: &str) -> Option<i64> {
    let t = s.trim();
    ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"]
        .iter()
        .find_map(|f| chrono::DateTime::parse_from_str(t, f).ok())
        .map(|d| d.timestamp_micros())
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|d| d.and_utc().timestamp_micros())
        })
}

/// One row of [`changes_query`] (text values, NULL as None) as an event
/// (its `database` is 0: the connection's).
pub fn event_from_row(row: &[Option<String>]) -> TailResult<ChangeEvent> {
    let col = |i: usize| row.get(i).and_then(|v| v.as_deref());
    let number = |i: usize, what: &str| -> TailResult<u64> {
        let v = col(i).unwrap_or_default();
        v.parse().map_err(|_| bad_value(what, v))
    };
    let json_col = |i: usize| -> TailResult<Json> {
        match col(i) {
            None => Ok(Json::Null),
            Some(v) => serde_json::from_str(v).map_err(|_| bad_value("JSON", v)),
        }
    };
    if row.len() != 9 {
        return Err(ShellError::new(
            "XX000",
            format!(
                "unexpected result from the server: {} columns instead of 9",
                row.len()
            ),
        ));
    }
    let ts = col(2).unwrap_or_default();
    Ok(ChangeEvent {
        lsn: number(0, "LSN")?,
        txid: number(1, "transaction id")?,
        commit_ts: parse_commit_ts(ts).ok_or_else(|| bad_value("commit time", ts))?,
        database: 0,
        table: col(3).unwrap_or_default().to_string(),
        tenant_id: match col(4) {
            None => None,
            Some(v) => Some(uuid::Uuid::parse_str(v).map_err(|_| bad_value("tenant id", v))?),
        },
        op: col(5).unwrap_or_default().to_string(),
        pk: json_col(6)?,
        before: json_col(7)?,
        after: json_col(8)?,
    })
}

/// Runs one statement; its rows (text, NULL as None).
fn query(remote: &mut Remote, sql: &str) -> TailResult<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    for r in remote.execute(sql, &mut std::io::sink()) {
        if let Some(t) = r?.table {
            rows = t.rows;
        }
    }
    Ok(rows)
}

fn remote_tenants(remote: &mut Remote) -> TailResult<Tenants> {
    let rows = query(remote, "SELECT id, name FROM helios.tenants")?;
    Ok(Tenants::from_rows(rows.into_iter().filter_map(|r| {
        let id = uuid::Uuid::parse_str(r.first()?.as_deref()?).ok()?;
        Some((id, r.get(1)?.clone()?))
    })))
}

fn remote(
    url: &str,
    opts: &TailOptions,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<(), Halt> {
    let mut params = ConnParams::parse(url)?;
    if params.application_name == "heliosdb shell" {
        params.application_name = "heliosdb cdc tail".into();
    }
    let mut remote = Remote::connect(params)?;
    let db_name = query(&mut remote, "SELECT current_database()")?
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .unwrap_or_default();
    let mut tenants = remote_tenants(&mut remote)?;
    let consumer = match &opts.consumer {
        Some(name) => {
            let rows = query(
                &mut remote,
                &format!(
                    "SELECT acked_lsn, tenant FROM helios.consumers WHERE name = {}",
                    literal(name)
                ),
            )?;
            let row = rows.first().ok_or_else(|| consumer_not_found(name))?;
            let acked = row.first().cloned().flatten().unwrap_or_default();
            Some(ConsumerState {
                acked_lsn: acked.parse().map_err(|_| bad_value("LSN", &acked))?,
                tenant: row.get(1).cloned().flatten(),
            })
        }
        None => None,
    };
    // The server resolves the tenant (and refuses one the user may not
    // read), but given a consumer bound to a tenant it reads that tenant's
    // changes whatever else is asked: refuse a contradiction here.
    if let (Some(asked), Some(own)) = (
        &opts.tenant,
        consumer.as_ref().and_then(|c| c.tenant.as_ref()),
    ) {
        let id = |t: &str| tenants.resolve(t).or_else(|| uuid::Uuid::parse_str(t).ok());
        let same = asked == own || id(asked).is_some_and(|a| id(own) == Some(a));
        if !same {
            return Err(consumer_tenant_conflict(
                opts.consumer.as_deref().unwrap_or_default(),
                own,
            )
            .into());
        }
    }
    let mut since = start_lsn(opts, consumer.as_ref());
    while !stop.load(Ordering::SeqCst) {
        let rows = query(&mut remote, &changes_query(opts, since))?;
        let n = rows.len();
        for row in &rows {
            let e = event_from_row(row)?;
            if wanted(&e, opts.ddl) {
                if tenants.stale(e.tenant_id) {
                    let fresh = remote_tenants(&mut remote)?;
                    tenants.refreshed(fresh, e.tenant_id.unwrap_or_default());
                }
                emit(out, &envelope(&e, &db_name, tenants.name(e.tenant_id)))?;
            }
            since = since.max(e.lsn);
        }
        if let Some(name) = &opts.consumer
            && n > 0
        {
            query(
                &mut remote,
                &format!("SELECT helios.consumer_ack({}, {since})", literal(name)),
            )?;
        }
        if n < BATCH {
            if !opts.follow {
                break;
            }
            let until = std::time::Instant::now() + POLL;
            while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(op: &str) -> ChangeEvent {
        ChangeEvent {
            lsn: 17,
            txid: 42,
            commit_ts: 1_700_000_000_123_456,
            database: 1,
            table: "public.orders".into(),
            tenant_id: None,
            op: op.into(),
            pk: json!({"id": 1}),
            before: Json::Null,
            after: Json::Null,
        }
    }

    #[test]
    fn envelopes() {
        let mut e = event("insert");
        e.after = json!({"id": 1, "amount": 10});
        let v = envelope(&e, "heliosdb", None);
        assert_eq!(
            v.to_string(),
            format!(
                r#"{{"before":null,"after":{{"id":1,"amount":10}},"op":"c","ts_ms":1700000000123,"source":{{"version":"{}","connector":"heliosdb","db":"heliosdb","schema":"public","table":"orders","lsn":17,"txId":42,"tenant":null,"tenant_id":null}}}}"#,
                crate::VERSION
            )
        );

        let id = uuid::Uuid::new_v4();
        let mut e = event("update");
        e.tenant_id = Some(id);
        e.before = json!({"id": 1, "amount": 10});
        e.after = json!({"id": 1, "amount": 11});
        let v = envelope(&e, "app", Some("acme"));
        assert_eq!(v["op"], "u");
        assert_eq!(v["before"]["amount"], 10);
        assert_eq!(v["after"]["amount"], 11);
        assert_eq!(v["source"]["db"], "app");
        assert_eq!(v["source"]["tenant"], "acme");
        assert_eq!(v["source"]["tenant_id"], id.to_string());
        // An unknown tenant shows its id.
        let v = envelope(&e, "app", None);
        assert_eq!(v["source"]["tenant"], id.to_string());

        let mut e = event("delete");
        e.before = json!({"id": 1});
        let v = envelope(&e, "app", None);
        assert_eq!((v["op"].as_str(), &v["after"]), (Some("d"), &Json::Null));
        assert_eq!(v["before"], json!({"id": 1}));

        let v = envelope(&event("truncate"), "app", None);
        assert_eq!(v["op"], "t");
        assert!(v["before"].is_null() && v["after"].is_null());

        let mut e = event("ddl");
        e.after = json!({"tag": "CREATE TABLE", "statement": "CREATE TABLE t (a int)"});
        assert!(!wanted(&e, false));
        assert!(wanted(&e, true));
        assert!(wanted(&event("insert"), false));
        let v = envelope(&e, "app", None);
        assert_eq!(v["op"], "ddl");
        assert_eq!(v["ddl"]["tag"], "CREATE TABLE");
        assert!(v["before"].is_null() && v["after"].is_null());

        // A schema change that names no table.
        e.table = String::new();
        let v = envelope(&e, "app", None);
        assert!(v["source"]["schema"].is_null() && v["source"]["table"].is_null());

        // Before the epoch: milliseconds round down.
        let mut e = event("insert");
        e.commit_ts = -1;
        assert_eq!(envelope(&e, "app", None)["ts_ms"], -1);
    }

    #[test]
    fn rows_from_the_server() {
        let row: Vec<Option<String>> = vec![
            Some("5".into()),
            Some("9".into()),
            Some("2024-03-01 12:00:00.25+00".into()),
            Some("public.items".into()),
            Some("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            Some("update".into()),
            Some(r#"{"id": 2}"#.into()),
            Some(r#"{"id": 2, "qty": 20}"#.into()),
            Some(r#"{"id": 2, "qty": 21}"#.into()),
        ];
        let e = event_from_row(&row).unwrap();
        assert_eq!((e.lsn, e.txid), (5, 9));
        assert_eq!(e.commit_ts, 1_709_294_400_250_000);
        assert_eq!(e.table_name(), "items");
        assert_eq!(
            e.tenant_id.unwrap().to_string(),
            "67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
        assert_eq!(e.after["qty"], 21);

        let mut nulls = row.clone();
        nulls[4] = None;
        nulls[8] = None;
        let e = event_from_row(&nulls).unwrap();
        assert_eq!((e.tenant_id, e.after), (None, Json::Null));

        // Bad input is an error, never a panic.
        for (i, v) in [(0, "x"), (2, "yesterday"), (4, "not-a-uuid"), (7, "{")] {
            let mut bad = row.clone();
            bad[i] = Some(v.into());
            let err = event_from_row(&bad).unwrap_err();
            assert!(err.message.contains(v), "{}", err.message);
        }
        assert!(event_from_row(&row[..3]).is_err());
        let mut missing = row.clone();
        missing[0] = None;
        assert!(event_from_row(&missing).is_err());
    }

    #[test]
    fn commit_times() {
        assert_eq!(parse_commit_ts("1970-01-01 00:00:01+00"), Some(1_000_000));
        assert_eq!(
            parse_commit_ts("1970-01-01 02:00:01.5+02:00"),
            Some(1_500_000)
        );
        assert_eq!(parse_commit_ts("1970-01-01T00:00:00.000001+00:00"), Some(1));
        assert_eq!(parse_commit_ts("1970-01-01 00:00:02"), Some(2_000_000));
        assert_eq!(parse_commit_ts(""), None);
    }

    #[test]
    fn queries_quote_their_literals() {
        let opts = TailOptions {
            source: Source::Url("postgres://h/d".into()),
            tenant: Some("o'brien".into()),
            from: None,
            follow: false,
            tables: vec!["orders".into(), "public.it's".into()],
            ddl: false,
            consumer: Some("feed".into()),
        };
        assert_eq!(literal("a'b''c"), "'a''b''''c'");
        assert_eq!(
            changes_query(&opts, 7),
            "SELECT lsn, txid, commit_ts, table_name, tenant_id, op, pk, before, after \
             FROM helios.changes(since_lsn => 7, tenant => 'o''brien', \
             tables => ARRAY['orders', 'public.it''s'], consumer => 'feed', \"limit\" => 1000) \
             ORDER BY lsn LIMIT 1000"
        );
    }

    #[test]
    fn starting_points() {
        let acme = uuid::Uuid::new_v4();
        let globex = uuid::Uuid::new_v4();
        let tenants =
            Tenants::from_rows([(acme, "acme".to_string()), (globex, "globex".to_string())]);
        let opts = TailOptions {
            source: Source::DataDir("d".into()),
            tenant: None,
            from: None,
            follow: false,
            tables: vec![],
            ddl: false,
            consumer: None,
        };
        assert_eq!(start_and_tenant(&opts, None, &tenants).unwrap(), (0, None));
        let by_id = TailOptions {
            tenant: Some(acme.to_string()),
            from: Some(3),
            ..opts.clone()
        };
        assert_eq!(
            start_and_tenant(&by_id, None, &tenants).unwrap(),
            (3, Some(acme))
        );
        let unknown = TailOptions {
            tenant: Some("initech".into()),
            ..opts.clone()
        };
        let e = start_and_tenant(&unknown, None, &tenants).unwrap_err();
        assert_eq!(e.message, "tenant \"initech\" does not exist");
        // A consumer's position and tenant; --from wins over the position.
        let c = ConsumerState {
            acked_lsn: 12,
            tenant: Some("acme".into()),
        };
        let with = TailOptions {
            consumer: Some("feed".into()),
            ..opts.clone()
        };
        assert_eq!(
            start_and_tenant(&with, Some(&c), &tenants).unwrap(),
            (12, Some(acme))
        );
        let from = TailOptions {
            from: Some(20),
            ..with.clone()
        };
        assert_eq!(start_and_tenant(&from, Some(&c), &tenants).unwrap().0, 20);
        let other = TailOptions {
            tenant: Some("globex".into()),
            ..with.clone()
        };
        assert!(start_and_tenant(&other, Some(&c), &tenants).is_err());
    }

    #[test]
    fn tenant_lookups_are_remembered() {
        let known = uuid::Uuid::new_v4();
        let gone = uuid::Uuid::new_v4();
        let mut t = Tenants::from_rows([(known, "acme".to_string())]);
        assert!(!t.stale(None) && !t.stale(Some(known)));
        assert!(t.stale(Some(gone)));
        t.refreshed(Tenants::from_rows([(known, "acme".to_string())]), gone);
        assert!(!t.stale(Some(gone)));
        assert_eq!(t.name(Some(gone)), None);
        assert_eq!(t.name(Some(known)), Some("acme"));
    }
}
