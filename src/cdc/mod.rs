//! Change data capture: the committed changes of every table, read back in
//! commit order from the change log the commit path writes
//! ([`crate::txn::changes`]), named consumers that keep their position, and
//! the log's retention and compaction.
//!
//! Each INSERT, UPDATE and DELETE of a row of a persistent table, each
//! TRUNCATE and each schema change is captured as it happens and reaches
//! the log only if its transaction commits, in the same atomic write as
//! the data. Positions (LSNs) are dense and increase in commit order;
//! reading "after LSN n" gives every retained change numbered above `n`.
//! When compaction has removed changes a reader asks for, the read fails
//! with 55000 instead of skipping them.

pub mod consumers;
pub mod migration;
pub mod retention;
pub mod tail;

use crate::error::{Error, Result, SqlState};
use crate::session::Database;
use crate::sql::functions::to_json;
use crate::storage::LogEntry;
use crate::txn::changes::{
    ChangeRecord, Layout, ROW_BODY, decode_entry, horizon_key, layout_key, parse_row_body, peek,
    u64_value,
};
use crate::txn::{IsolationLevel, Transaction, TxnManager};
use crate::types::Value;
use crate::types::encoding::decode_row;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// One committed change (the release notes' `ChangeEvent`).
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    /// Its position in the log: increasing in commit order.
    pub lsn: u64,
    /// The committing transaction (its commit's sequence number).
    pub txid: u64,
    /// Commit time, microseconds since the Unix epoch.
    pub commit_ts: i64,
    /// The database (oid) the table belongs to.
    pub database: u32,
    /// `schema.table` (empty for a schema change that names no table).
    pub table: String,
    /// The row's tenant, for a tenant-scoped table.
    pub tenant_id: Option<uuid::Uuid>,
    /// `insert`, `update`, `delete`, `truncate` or `ddl`.
    pub op: String,
    /// The primary key's columns (null for a table without one).
    pub pk: serde_json::Value,
    /// The row before (UPDATE, DELETE).
    pub before: serde_json::Value,
    /// The row after (INSERT, UPDATE); for `ddl`, `{"tag", "statement"}`.
    pub after: serde_json::Value,
}

impl ChangeEvent {
    fn decode(entry: &LogEntry, layouts: &mut Layouts) -> Result<ChangeEvent> {
        let (commit_ts, payload) =
            decode_entry(&entry.data).ok_or_else(|| Error::corrupted("change log entry"))?;
        let r = decode_payload(payload, |id| layouts.get(id))?;
        Ok(ChangeEvent {
            lsn: entry.lsn,
            txid: entry.seq,
            commit_ts,
            database: r.db,
            table: r.table,
            tenant_id: r.tenant,
            op: r.op,
            pk: r.pk,
            before: r.before,
            after: r.after,
        })
    }

    /// The table's name without its schema.
    pub fn table_name(&self) -> &str {
        self.table.rsplit('.').next().unwrap_or(&self.table)
    }
}

/// Decodes a change's payload: a row change's binary body with its
/// layout (`layout` finds it by id), or a JSON body (DDL and TRUNCATE
/// events, entries of earlier builds).
pub fn decode_payload(
    payload: &[u8],
    layout: impl FnOnce(u64) -> Result<Arc<Layout>>,
) -> Result<ChangeRecord> {
    let bad = || Error::corrupted("change log entry");
    let (op, tenant, body) = peek(payload).ok_or_else(bad)?;
    if body.first() != Some(&ROW_BODY) {
        return ChangeRecord::decode(payload);
    }
    let (id, before, after) = parse_row_body(body).ok_or_else(bad)?;
    let layout = layout(id)?;
    let rows = |image: Option<&[u8]>| image.map(decode_row).transpose();
    let (before, after) = (rows(before)?, rows(after)?);
    let image = |row: &Option<Vec<Value>>| -> Result<serde_json::Value> {
        let Some(row) = row else {
            return Ok(serde_json::Value::Null);
        };
        let mut m = serde_json::Map::with_capacity(row.len());
        for (name, v) in layout.columns.iter().zip(row) {
            m.insert(name.clone(), to_json(v)?);
        }
        Ok(serde_json::Value::Object(m))
    };
    let pk = match after.as_ref().or(before.as_ref()) {
        Some(row) if !layout.pk.is_empty() => {
            let mut m = serde_json::Map::new();
            for &c in &layout.pk {
                if let (Some(name), Some(v)) = (layout.columns.get(c), row.get(c)) {
                    m.insert(name.clone(), to_json(v)?);
                }
            }
            serde_json::Value::Object(m)
        }
        _ => serde_json::Value::Null,
    };
    Ok(ChangeRecord {
        db: layout.db,
        table_id: layout.table_id,
        table: layout.table.clone(),
        tenant,
        op: crate::txn::changes::op_name(op).to_string(),
        pk,
        before: image(&before)?,
        after: image(&after)?,
    })
}

/// The layouts a reader has looked up (see `txn::changes::Layout`).
struct Layouts<'t> {
    txn: &'t Transaction,
    cache: HashMap<u64, Arc<Layout>>,
}

impl<'t> Layouts<'t> {
    fn new(txn: &'t Transaction) -> Layouts<'t> {
        Layouts {
            txn,
            cache: HashMap::new(),
        }
    }

    /// Layout `id` (committed before any entry naming it, so every
    /// snapshot that sees the entry sees it).
    fn get(&mut self, id: u64) -> Result<Arc<Layout>> {
        if let Some(l) = self.cache.get(&id) {
            return Ok(l.clone());
        }
        let bytes = self
            .txn
            .get_latest(&layout_key(id))?
            .ok_or_else(|| Error::corrupted(format!("change log: layout {id:016x} is missing")))?;
        let layout: Layout = serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupted(format!("change log layout: {e}")))?;
        let layout = Arc::new(layout);
        self.cache.insert(id, layout.clone());
        Ok(layout)
    }
}

/// Which changes to read: all by default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeFilter {
    /// Only this tenant's rows.
    pub tenant: Option<uuid::Uuid>,
    /// Only these tables (`name` or `schema.name`).
    pub tables: Vec<String>,
    /// Only this database's tables.
    pub database: Option<u32>,
}

impl ChangeFilter {
    pub fn tenant(mut self, tenant: uuid::Uuid) -> ChangeFilter {
        self.tenant = Some(tenant);
        self
    }

    pub fn table(mut self, table: impl Into<String>) -> ChangeFilter {
        self.tables.push(table.into());
        self
    }

    pub fn matches(&self, e: &ChangeEvent) -> bool {
        self.tenant.is_none_or(|t| e.tenant_id == Some(t))
            && self.database.is_none_or(|d| e.database == d)
            && (self.tables.is_empty()
                || self
                    .tables
                    .iter()
                    .any(|t| *t == e.table || t == e.table_name()))
    }
}

/// The highest LSN compaction has removed (0: nothing yet).
pub fn horizon(txn: &Transaction) -> Result<u64> {
    match txn.get_latest(&horizon_key())? {
        Some(v) => u64_value(&v).ok_or_else(|| Error::corrupted("change log horizon")),
        None => Ok(0),
    }
}

/// 55000 unless the changes after `after` are all still in the log.
pub fn check_retained(txn: &Transaction, after: u64) -> Result<()> {
    let h = horizon(txn)?;
    if after < h {
        return Err(behind(&format!("changes after LSN {after}"), h));
    }
    Ok(())
}

/// The error for a reader that asks for compacted changes.
pub(crate) fn behind(what: &str, horizon: u64) -> Error {
    Error::new(
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("{what} are no longer retained: the change log was compacted through LSN {horizon}"),
    )
    .with_hint(format!(
        "Read from LSN {horizon} on, after taking a fresh copy of the data; keep a consumer (helios.create_consumer) to hold changes until they are acknowledged."
    ))
}

/// Reads the changes after LSN `after` that pass `filter`, at most `limit`,
/// as `txn` sees the log. 55000 if some of them were compacted.
pub fn read(
    txn: &Transaction,
    after: u64,
    filter: &ChangeFilter,
    limit: usize,
) -> Result<Vec<ChangeEvent>> {
    // A tenant filter is checked on the entry's head, before parsing.
    read_where(
        txn,
        after,
        |_, tenant| filter.tenant.is_none_or(|t| tenant == Some(t)),
        |e| filter.matches(e),
        limit,
    )
}

/// Reads the changes after LSN `after` whose head (operation code, tenant;
/// see `txn::changes::peek`) passes `head` and whose event passes `event`,
/// at most `limit`. 55000 if some of them were compacted.
pub fn read_where(
    txn: &Transaction,
    after: u64,
    head: impl Fn(u8, Option<uuid::Uuid>) -> bool,
    event: impl Fn(&ChangeEvent) -> bool,
    limit: usize,
) -> Result<Vec<ChangeEvent>> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let mut layouts = Layouts::new(txn);
    each_entry(txn, after, |entry, payload| {
        let (op, tenant, _) = peek(payload).ok_or_else(|| Error::corrupted("change log entry"))?;
        if head(op, tenant) {
            let e = ChangeEvent::decode(entry, &mut layouts)?;
            if event(&e) {
                out.push(e);
            }
        }
        Ok(out.len() < limit)
    })?;
    Ok(out)
}

/// Visits the entries after LSN `after`, as `txn` sees the log, with their
/// payloads, while `f` returns true. 55000 if some of them were compacted
/// (before the read, or by a compaction that overtook it: the LSNs are
/// dense, so a missing one is a compacted one).
fn each_entry(
    txn: &Transaction,
    after: u64,
    mut f: impl FnMut(&LogEntry, &[u8]) -> Result<bool>,
) -> Result<()> {
    check_retained(txn, after)?;
    let Some(mut expect) = after.checked_add(1) else {
        return Ok(());
    };
    let overtaken = |txn: &Transaction, expect: u64| {
        let lost = format!("changes after LSN {}", expect - 1);
        behind(&lost, horizon(txn).unwrap_or(0).max(expect))
    };
    for entry in txn.log_scan(expect, false)? {
        let entry = entry?;
        if entry.lsn != expect {
            return Err(overtaken(txn, expect));
        }
        expect += 1;
        let (_, payload) =
            decode_entry(&entry.data).ok_or_else(|| Error::corrupted("change log entry"))?;
        if !f(&entry, payload)? {
            return Ok(());
        }
    }
    if expect <= txn.log_last() {
        return Err(overtaken(txn, expect));
    }
    Ok(())
}

/// How many changes after LSN `after` belong to `tenant` (read from the
/// entries' heads only).
pub fn count_tenant_changes(txn: &Transaction, after: u64, tenant: uuid::Uuid) -> Result<u64> {
    let mut n = 0;
    each_entry(txn, after.max(horizon(txn)?), |_, payload| {
        if peek(payload).is_some_and(|(_, t, _)| t == Some(tenant)) {
            n += 1;
        }
        Ok(true)
    })?;
    Ok(n)
}

/// The newest `limit` changes that pass `filter`, oldest first.
pub fn read_recent(
    txn: &Transaction,
    filter: &ChangeFilter,
    limit: usize,
) -> Result<Vec<ChangeEvent>> {
    let mut out = Vec::new();
    let horizon = horizon(txn)?;
    let mut layouts = Layouts::new(txn);
    for entry in txn.log_scan(txn.log_last(), true)? {
        if out.len() >= limit {
            break;
        }
        let entry = entry?;
        if entry.lsn <= horizon {
            break;
        }
        let e = ChangeEvent::decode(&entry, &mut layouts)?;
        if filter.matches(&e) {
            out.push(e);
        }
    }
    out.reverse();
    Ok(out)
}

/// How many changes one page of an iterator or subscription reads.
const PAGE: usize = 1024;

/// The committed changes after an LSN, read lazily a page at a time
/// ([`Database::changes`]). It ends at the end of the log as it is when
/// the last page is read.
pub struct Changes {
    txns: Arc<TxnManager>,
    filter: ChangeFilter,
    after: u64,
    buffer: VecDeque<ChangeEvent>,
    done: bool,
}

impl Changes {
    /// Reads the next page; false at the end of the log.
    fn fill(&mut self) -> Result<bool> {
        let txn = self.txns.begin_read_only(IsolationLevel::ReadCommitted)?;
        // Read unfiltered pages so that `after` advances past skipped changes.
        let page = read(&txn, self.after, &ChangeFilter::default(), PAGE);
        txn.rollback();
        let page = page?;
        let Some(last) = page.last() else {
            return Ok(false);
        };
        self.after = last.lsn;
        self.buffer
            .extend(page.into_iter().filter(|e| self.filter.matches(e)));
        Ok(true)
    }

    /// The last LSN read so far (filtered out or not).
    pub fn position(&self) -> u64 {
        self.after
    }
}

impl Iterator for Changes {
    type Item = Result<ChangeEvent>;

    fn next(&mut self) -> Option<Result<ChangeEvent>> {
        while self.buffer.is_empty() && !self.done {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// A subscription to the change log ([`Database::subscribe`]): yields
/// every committed change after its starting LSN that passes its filter,
/// then waits for the next commit that writes changes.
pub struct Subscription {
    changes: Changes,
}

impl Subscription {
    /// The next change, waiting up to `timeout` for one to be committed
    /// (`None` if none came).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<ChangeEvent>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(e) = self.changes.buffer.pop_front() {
                return Ok(Some(e));
            }
            // Read the commit count first: a commit after it wakes the wait.
            let seen = self.changes.txns.change_commits();
            if self.changes.fill()? {
                continue;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.changes.txns.wait_for_changes(seen, deadline - now);
        }
    }

    /// The last LSN read so far (what to resume after).
    pub fn position(&self) -> u64 {
        self.changes.position()
    }
}

impl Iterator for Subscription {
    type Item = Result<ChangeEvent>;

    /// Waits as long as it takes for the next change.
    fn next(&mut self) -> Option<Result<ChangeEvent>> {
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Database {
    /// The committed changes after LSN `after` (0: from the start) that
    /// pass `filter`, in commit order, read lazily. An item is an error
    /// (55000) if changes after `after` were already compacted.
    pub fn changes(&self, after: u64, filter: ChangeFilter) -> Changes {
        Changes {
            txns: self.txn_manager().clone(),
            filter,
            after,
            buffer: VecDeque::new(),
            done: false,
        }
    }

    /// Like [`Database::changes`], but instead of ending at the end of the
    /// log it waits for the next commit (see [`Subscription`]).
    pub fn subscribe(&self, after: u64, filter: ChangeFilter) -> Subscription {
        Subscription {
            changes: self.changes(after, filter),
        }
    }

    /// The LSN of the last change captured so far (0 before the first).
    pub fn last_lsn(&self) -> u64 {
        self.txn_manager().last_lsn()
    }
}
