//! [`Database`]: an open data directory (or in-memory store) shared by sessions.

use super::Session;
use super::identity::Identity;
use crate::catalog::sequences::SequenceManager;
use crate::catalog::{self as cat, Catalog, CatalogCache, OidAllocator, RoleDef, SchemaDef};
use crate::error::Result;
use crate::storage::Engine;
use crate::storage::disk::DiskEngine;
use crate::storage::memory::MemoryEngine;
use crate::txn::{IsolationLevel, TxnManager};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// State shared by every session of one database.
pub(crate) struct DbInner {
    pub engine: Arc<dyn Engine>,
    pub txns: Arc<TxnManager>,
    pub catalog_cache: CatalogCache,
    pub oids: OidAllocator,
    pub sequences: SequenceManager,
    pub path: Option<PathBuf>,
    /// The bootstrap superuser `Database::connect` sessions run as.
    pub bootstrap_role: u32,
    /// Open sessions per role, for roles with a CONNECTION LIMIT.
    pub role_sessions: Mutex<HashMap<u32, u32>>,
}

/// An open database. Cheap to clone; sessions from clones share everything.
///
/// ```
/// use heliosdb_nano::Database;
/// let db = Database::open_in_memory()?;
/// let mut s = db.connect();
/// s.execute("CREATE TABLE t (id int PRIMARY KEY, name text)", &[])?;
/// s.execute("INSERT INTO t VALUES ($1, $2)", &[&1, &"one"])?;
/// let rows = s.query("SELECT name FROM t WHERE id = $1", &[&1])?;
/// assert_eq!(rows.get(0).unwrap().get::<String>(0)?, "one");
/// # Ok::<(), heliosdb_nano::Error>(())
/// ```
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<DbInner>,
}

impl Database {
    /// Opens (or creates) a durable database in directory `path`. Fails with
    /// SQLSTATE 55006 if another process has it open, and with XX001 if the
    /// files are not a valid database.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        let engine = Arc::new(DiskEngine::open(path.as_ref())?);
        Self::with_engine(engine, Some(path.as_ref().to_path_buf()))
    }

    /// Opens a fresh database held in memory; it disappears when the last
    /// handle is dropped.
    pub fn open_in_memory() -> Result<Database> {
        Self::with_engine(Arc::new(MemoryEngine::new()), None)
    }

    /// Opens a database on any storage engine. A new database gets the
    /// `public` schema and the bootstrap superuser `heliosdb` (SUPERUSER
    /// CREATEROLE CREATEDB LOGIN BYPASSRLS, no password); an existing one
    /// without roles gets the superuser when it is opened.
    pub fn with_engine(engine: Arc<dyn Engine>, path: Option<PathBuf>) -> Result<Database> {
        let txns = TxnManager::new(engine.clone())?;
        let mut txn = txns.begin(IsolationLevel::ReadCommitted)?;
        let oids = OidAllocator::load(&txn)?;
        let catalog = Catalog::load(&txn)?;
        let mut changed = false;
        if !catalog.schemas.contains_key("public") {
            let id = oids.allocate(&mut txn)?;
            cat::put_object(
                &mut txn,
                cat::KIND_SCHEMA,
                id,
                &SchemaDef {
                    id,
                    name: "public".into(),
                    // The bootstrap superuser, filled in on load.
                    owner: 0,
                    acl: None,
                },
            )?;
            changed = true;
        }
        let bootstrap_role = match catalog.bootstrap_role() {
            Some(id) => id,
            None => {
                let id = oids.allocate(&mut txn)?;
                cat::put_object(&mut txn, cat::KIND_ROLE, id, &RoleDef::bootstrap(id))?;
                changed = true;
                id
            }
        };
        if changed {
            cat::bump_version(&mut txn);
            txn.commit()?;
        } else {
            txn.rollback();
        }
        Ok(Database {
            inner: Arc::new(DbInner {
                engine,
                txns,
                catalog_cache: CatalogCache::default(),
                oids,
                sequences: SequenceManager::default(),
                path,
                bootstrap_role,
                role_sessions: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A new session (connection) with its own transaction state and
    /// settings, running as the bootstrap superuser `heliosdb`.
    pub fn connect(&self) -> Session {
        let identity = Identity::new(self.inner.bootstrap_role, true, None);
        Session::new(self.inner.clone(), identity)
    }

    /// The data directory, for a durable database.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Makes every commit so far durable (including `synchronous_commit = off` ones).
    pub fn sync(&self) -> Result<()> {
        self.inner.engine.sync()
    }
}

/// The newest committed catalog.
pub(crate) fn latest_catalog(db: &DbInner) -> Result<Arc<Catalog>> {
    let txn = db.txns.begin_read_only(IsolationLevel::ReadCommitted)?;
    let catalog = db.catalog_cache.get(&txn);
    txn.rollback();
    catalog
}

impl Database {
    /// The newest committed catalog.
    pub(crate) fn latest_catalog(&self) -> Result<Arc<Catalog>> {
        latest_catalog(&self.inner)
    }
}
