//! The database's maintenance thread: background work that belongs to no
//! session. It compacts the change log (`cdc::retention`) every few
//! seconds and advances online tenant migrations (`session::migrations`),
//! step after step while there is work.
//!
//! The thread holds the database weakly and stops when the last
//! [`super::Database`] handle is dropped (its [`Maintenance`] guard joins
//! it, so a closed data directory is released at once).

use super::database::DbInner;
use crate::cdc::retention;
use crate::error::Result;
use crate::txn::IsolationLevel;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the change log is compacted.
const COMPACT_EVERY: Duration = Duration::from_secs(10);

/// Stops and joins the maintenance thread when dropped.
pub(crate) struct Maintenance {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub fn start(db: &Arc<DbInner>) -> Maintenance {
        let (stop, stopped) = channel::<()>();
        let weak: Weak<DbInner> = Arc::downgrade(db);
        let thread = std::thread::Builder::new()
            .name("heliosdb-maintenance".into())
            .spawn(move || {
                let mut next_compaction = Instant::now() + COMPACT_EVERY;
                let mut migrations = Migrations::default();
                let mut busy = false;
                loop {
                    let wait = if busy {
                        Duration::ZERO
                    } else {
                        Duration::from_millis(200)
                    };
                    match stopped.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let Some(db) = weak.upgrade() else { return };
                    if Instant::now() >= next_compaction {
                        if let Err(e) = compact(&db) {
                            tracing::warn!("change log compaction failed: {e}");
                        }
                        next_compaction = Instant::now() + COMPACT_EVERY;
                    }
                    busy = match migrations.run(&db) {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!("migration step failed: {e}");
                            false
                        }
                    };
                }
            })
            .ok();
        Maintenance {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The migrations' runner: a session of the bootstrap superuser, made on
/// first need, and the snapshots of the migrations that are copying.
#[derive(Default)]
struct Migrations {
    session: Option<super::Session>,
    held: std::collections::HashMap<u64, crate::txn::Transaction>,
}

impl Migrations {
    /// Advances the running migrations a step; true if there was work.
    fn run(&mut self, db: &Arc<DbInner>) -> Result<bool> {
        if self.held.is_empty() && !any_running(db)? {
            return Ok(false);
        }
        let session = match &mut self.session {
            Some(s) => s,
            None => {
                let identity = super::identity::Identity::new(db.bootstrap_role, true, None);
                let slot = super::registry::DatabaseSlot::acquire(
                    db,
                    crate::catalog::BOOTSTRAP_DATABASE,
                    crate::catalog::databases::BOOTSTRAP_DATABASE_NAME,
                    None,
                )?;
                self.session
                    .insert(super::Session::new(db.clone(), identity, slot))
            }
        };
        session.run_migrations(&mut self.held)
    }
}

/// Whether any migration is running (a cheap read of their records).
fn any_running(db: &DbInner) -> Result<bool> {
    let txn = db.txns.begin_read_only(IsolationLevel::ReadCommitted)?;
    let all = crate::cdc::migration::list(&txn);
    txn.rollback();
    Ok(all?.iter().any(|m| m.state.running()))
}

/// Compacts the change log as retention allows, a batch per transaction.
pub(crate) fn compact(db: &DbInner) -> Result<u64> {
    let mut total = 0;
    loop {
        let mut txn = db.txns.begin(IsolationLevel::ReadCommitted)?;
        txn.begin_statement()?;
        let now = crate::cdc::consumers::now_micros();
        let c = match retention::compact(&mut txn, now, super::changes::COMPACT_BATCH) {
            Ok(c) => c,
            Err(e) => {
                txn.rollback();
                return Err(e);
            }
        };
        if c.removed == 0 {
            txn.rollback();
            return Ok(total);
        }
        txn.commit()?;
        total += c.removed;
        if (c.removed as usize) < super::changes::COMPACT_BATCH {
            return Ok(total);
        }
    }
}
