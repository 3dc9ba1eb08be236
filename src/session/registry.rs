//! Which sessions are open on which database.
//!
//! Every [`Session`](super::Session) registers with the database it
//! connected to for as long as it lives ([`DatabaseSlot`]). The registry
//! answers what database statements need to know: DROP DATABASE and
//! ALTER DATABASE RENAME refuse while other sessions use the database
//! (55006), a database's CONNECTION LIMIT counts its sessions (53300), and
//! `DROP DATABASE ... WITH (FORCE)` asks those sessions to terminate.
//!
//! Each registration also holds a small number, unique among the open
//! sessions of the data directory (PostgreSQL's backend id): the session's
//! temporary schema is `pg_temp_<number>`.
//!
//! DROP DATABASE marks the database as being dropped ([`DropMark`]) from
//! the moment it has checked that nobody else is connected until its
//! transaction has ended, and new sessions cannot register on a marked
//! database. A session that registers just before the mark makes the drop
//! fail; one that registers after the drop committed finds, when it checks
//! the catalog again, that the database is gone (3D000).

use super::database::DbInner;
use crate::catalog::databases::database_in_use;
use crate::error::{Error, Result, SqlState};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long `DROP DATABASE ... WITH (FORCE)` waits for the sessions it
/// terminated to close (PostgreSQL waits as long).
const FORCE_WAIT: Duration = Duration::from_secs(5);

/// Open sessions per database.
#[derive(Default)]
pub(crate) struct SessionRegistry {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_serial: u64,
    /// Database id -> its sessions.
    open: HashMap<u32, Vec<Entry>>,
    /// Databases a DROP DATABASE is removing.
    dropping: HashSet<u32>,
}

struct Entry {
    serial: u64,
    temp_id: u32,
    signals: Arc<Signals>,
}

/// What another thread can ask of a session.
pub(crate) struct Signals {
    /// Set by `DROP DATABASE ... WITH (FORCE)`: every further statement
    /// fails with 57P01 and the server closes the connection.
    terminate: AtomicBool,
    /// The session's cancel flag (stops its running statement).
    interrupt: Arc<AtomicBool>,
}

impl Signals {
    pub(crate) fn terminated(&self) -> bool {
        self.terminate.load(Ordering::SeqCst)
    }

    /// Terminates the session: its running statement stops, and it and
    /// every further one fail with 57P01.
    pub(crate) fn terminate(&self) {
        self.terminate.store(true, Ordering::SeqCst);
        self.interrupt.store(true, Ordering::SeqCst);
    }

    /// The session's cancel flag.
    pub(crate) fn interrupt(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }
}

/// Tells another thread whether a session was terminated (the server's
/// watchdog closes such connections), and terminates it.
#[derive(Clone)]
pub(crate) struct TerminationWatch(Arc<Signals>);

impl TerminationWatch {
    pub(crate) fn requested(&self) -> bool {
        self.0.terminated()
    }

    /// Terminates the session (the server's shutdown).
    pub(crate) fn terminate(&self) {
        self.0.terminate()
    }
}

/// A session's registration with its database; released on drop.
pub(crate) struct DatabaseSlot {
    db: Arc<DbInner>,
    pub(crate) database: u32,
    serial: u64,
    /// The number of the session's temporary schema (`pg_temp_<n>`), the
    /// lowest not held by another open session.
    pub(crate) temp_id: u32,
    pub(crate) signals: Arc<Signals>,
}

impl DatabaseSlot {
    /// Registers a session on `database`. Fails with 53300 if `limit` (a
    /// database CONNECTION LIMIT; `None` or -1: none) sessions are already
    /// open, and with 55006 while the database is being dropped.
    pub(crate) fn acquire(
        db: &Arc<DbInner>,
        database: u32,
        name: &str,
        limit: Option<i32>,
    ) -> Result<DatabaseSlot> {
        let mut st = db.sessions.state.lock();
        if st.dropping.contains(&database) {
            return Err(Error::new(
                SqlState::OBJECT_IN_USE,
                format!("database \"{name}\" is being dropped"),
            ));
        }
        let open = st.open.get(&database).map_or(0, Vec::len);
        if let Some(limit) = limit.filter(|l| *l >= 0)
            && open >= limit as usize
        {
            return Err(Error::new(
                SqlState::TOO_MANY_CONNECTIONS,
                format!("too many connections for database \"{name}\""),
            ));
        }
        st.next_serial += 1;
        let serial = st.next_serial;
        let taken: HashSet<u32> = st.open.values().flatten().map(|e| e.temp_id).collect();
        let temp_id = (1..)
            .find(|n| !taken.contains(n))
            .expect("fewer than u32::MAX sessions");
        let signals = Arc::new(Signals {
            terminate: AtomicBool::new(false),
            interrupt: Arc::new(AtomicBool::new(false)),
        });
        st.open.entry(database).or_default().push(Entry {
            serial,
            temp_id,
            signals: signals.clone(),
        });
        Ok(DatabaseSlot {
            db: db.clone(),
            database,
            serial,
            temp_id,
            signals,
        })
    }

    /// Whether another thread asked the session to terminate.
    pub(crate) fn terminated(&self) -> bool {
        self.signals.terminated()
    }

    /// Whether a DROP DATABASE is removing the session's database.
    pub(crate) fn database_dropping(&self) -> bool {
        self.db
            .sessions
            .state
            .lock()
            .dropping
            .contains(&self.database)
    }

    pub(crate) fn termination_watch(&self) -> TerminationWatch {
        TerminationWatch(self.signals.clone())
    }

    /// A handle that answers for this session while the session is
    /// borrowed elsewhere (DDL runs with the session borrowed).
    pub(crate) fn registrant(&self) -> Registrant {
        Registrant {
            db: self.db.clone(),
            serial: self.serial,
        }
    }
}

/// A registered session, as database DDL asks about the others.
pub(crate) struct Registrant {
    db: Arc<DbInner>,
    serial: u64,
}

impl Registrant {
    /// How many other sessions use `database`.
    pub(crate) fn others_on(&self, database: u32) -> usize {
        let st = self.db.sessions.state.lock();
        st.open
            .get(&database)
            .map_or(0, |v| v.iter().filter(|e| e.serial != self.serial).count())
    }

    /// Marks `database` as being dropped, after checking that no other
    /// session uses it (55006). With `force`, the other sessions are first
    /// told to terminate (their running statements are cancelled) and
    /// waited for, up to five seconds.
    pub(crate) fn begin_drop(&self, database: u32, name: &str, force: bool) -> Result<DropMark> {
        let deadline = Instant::now() + FORCE_WAIT;
        let mut signalled = false;
        loop {
            {
                let mut st = self.db.sessions.state.lock();
                let others: Vec<&Entry> = st
                    .open
                    .get(&database)
                    .map(|v| v.iter().filter(|e| e.serial != self.serial).collect())
                    .unwrap_or_default();
                if others.is_empty() {
                    st.dropping.insert(database);
                    return Ok(DropMark {
                        db: self.db.clone(),
                        database,
                    });
                }
                if !force || Instant::now() >= deadline {
                    return Err(database_in_use(name, others.len()));
                }
                if !signalled {
                    for e in &others {
                        e.signals.terminate();
                    }
                    signalled = true;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for DatabaseSlot {
    fn drop(&mut self) {
        let mut st = self.db.sessions.state.lock();
        if let Some(v) = st.open.get_mut(&self.database) {
            v.retain(|e| e.serial != self.serial);
            if v.is_empty() {
                st.open.remove(&self.database);
            }
        }
    }
}

/// A database being dropped: no session can register on it until this is
/// dropped (after the dropping transaction ended).
pub(crate) struct DropMark {
    db: Arc<DbInner>,
    database: u32,
}

impl Drop for DropMark {
    fn drop(&mut self) {
        self.db
            .sessions
            .state
            .lock()
            .dropping
            .remove(&self.database);
    }
}
