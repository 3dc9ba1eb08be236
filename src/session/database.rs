//! [`Database`]: an open data directory (or in-memory store) shared by
//! sessions, and the databases in it.

use super::Session;
use super::identity::Identity;
use super::registry::{DatabaseSlot, SessionRegistry};
use crate::catalog::databases::{BOOTSTRAP_DATABASE_NAME, database_not_found};
use crate::catalog::sequences::SequenceManager;
use crate::catalog::{
    self as cat, BOOTSTRAP_DATABASE, Catalog, CatalogCache, DatabaseDef, OidAllocator, RoleDef,
    SchemaDef,
};
use crate::error::{Error, Result, SqlState};
use crate::storage::Engine;
use crate::storage::disk::DiskEngine;
use crate::storage::memory::MemoryEngine;
use crate::tenant::quota::QuotaRegistry;
use crate::txn::{IsolationLevel, TxnManager};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// State shared by every session of one data directory.
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
    /// Open sessions per database.
    pub sessions: SessionRegistry,
    /// Tenants' connection and rate quotas.
    pub quotas: Arc<QuotaRegistry>,
}

/// An open data directory (or in-memory store) and the databases in it.
/// Cheap to clone; sessions from clones share everything.
///
/// A data directory starts with one database, `heliosdb`; `CREATE DATABASE`
/// adds more. [`Database::connect`] opens a session on the first one,
/// [`Database::connect_to`] on any.
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
    /// The maintenance thread, stopped when the last handle goes.
    _maintenance: Arc<super::maintenance::Maintenance>,
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

    /// Opens a data directory on any storage engine. A new one gets the
    /// database `heliosdb` with its `public` schema and the bootstrap
    /// superuser `heliosdb` (SUPERUSER CREATEROLE CREATEDB LOGIN BYPASSRLS,
    /// no password); an existing one without roles gets the superuser, and
    /// one from before databases existed gets the `heliosdb` entry (its
    /// objects already belong to it), when it is opened.
    pub fn with_engine(engine: Arc<dyn Engine>, path: Option<PathBuf>) -> Result<Database> {
        let txns = TxnManager::new(engine.clone())?;
        crate::cdc::retention::open_log(&txns)?;
        let mut txn = txns.begin(IsolationLevel::ReadCommitted)?;
        let oids = OidAllocator::load(&txn)?;
        let catalog = Catalog::load(&txn, BOOTSTRAP_DATABASE)?;
        let mut changed = false;
        if !catalog.schemas.contains_key("public") {
            let id = oids.allocate(&mut txn)?;
            cat::put_object(
                &mut txn,
                cat::KIND_SCHEMA,
                id,
                &SchemaDef {
                    id,
                    database: BOOTSTRAP_DATABASE,
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
        if !catalog.databases.contains_key(&BOOTSTRAP_DATABASE) {
            let def = DatabaseDef::new(
                BOOTSTRAP_DATABASE,
                BOOTSTRAP_DATABASE_NAME.into(),
                bootstrap_role,
            );
            cat::put_object(&mut txn, cat::KIND_DATABASE, def.id, &def)?;
            changed = true;
        }
        if changed {
            cat::bump_version(&mut txn);
            txn.commit()?;
        } else {
            txn.rollback();
        }
        let inner = Arc::new(DbInner {
            engine,
            txns,
            catalog_cache: CatalogCache::default(),
            oids,
            sequences: SequenceManager::default(),
            path,
            bootstrap_role,
            role_sessions: Mutex::new(HashMap::new()),
            sessions: SessionRegistry::default(),
            quotas: Arc::new(QuotaRegistry::default()),
        });
        let db = Database {
            _maintenance: Arc::new(super::maintenance::Maintenance::start(&inner)),
            inner,
        };
        let quotas = db.inner.quotas.clone();
        db.inner
            .catalog_cache
            .on_newest(Box::new(move |c| quotas.refresh(c)));
        db.drop_leftover_temp_schemas()?;
        Ok(db)
    }

    /// Drops the temporary schemas (and their objects) of sessions that
    /// ended without dropping them: a crash, or a failed cleanup.
    fn drop_leftover_temp_schemas(&self) -> Result<()> {
        let catalog = self.latest_catalog()?;
        for (&id, def) in &catalog.databases {
            let names: Vec<String> = latest_catalog(&self.inner, id)?
                .schemas
                .keys()
                .filter(|s| cat::is_temp_schema(s))
                .cloned()
                .collect();
            if names.is_empty() {
                continue;
            }
            tracing::info!(
                "dropping {} leftover temporary schema(s) in database \"{}\"",
                names.len(),
                def.name
            );
            let identity = Identity::new(self.inner.bootstrap_role, true, None);
            let slot = DatabaseSlot::acquire(&self.inner, id, &def.name, None)?;
            Session::new(self.inner.clone(), identity, slot).drop_temp_schemas(&names)?;
        }
        Ok(())
    }

    /// A new session (connection) with its own transaction state and
    /// settings, running as the bootstrap superuser `heliosdb` in the
    /// bootstrap database (`heliosdb`, unless renamed; it cannot be dropped).
    pub fn connect(&self) -> Session {
        let identity = Identity::new(self.inner.bootstrap_role, true, None);
        let slot = DatabaseSlot::acquire(
            &self.inner,
            BOOTSTRAP_DATABASE,
            BOOTSTRAP_DATABASE_NAME,
            None,
        )
        .expect("the bootstrap database is never dropped and a superuser has no limit");
        Session::new(self.inner.clone(), identity, slot)
    }

    /// Like [`Database::connect`], in database `database`. Fails with 3D000
    /// `database "x" does not exist`, and with 55000 if the database does
    /// not allow connections.
    pub fn connect_to(&self, database: &str) -> Result<Session> {
        let catalog = self.latest_catalog()?;
        let slot = self.open_database(catalog.database_named(database)?, true)?;
        let identity = Identity::new(self.inner.bootstrap_role, true, None);
        Ok(Session::new(self.inner.clone(), identity, slot))
    }

    /// Registers a new session on database `d`: it must allow connections
    /// (55000) and, for a non-superuser, have room under its CONNECTION
    /// LIMIT (53300); if it was dropped meanwhile, 3D000.
    pub(crate) fn open_database(&self, d: &DatabaseDef, superuser: bool) -> Result<DatabaseSlot> {
        let name = &d.name;
        if !d.allow_connections {
            return Err(Error::new(
                SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("database \"{name}\" is not currently accepting connections"),
            ));
        }
        let limit = (!superuser).then_some(d.connection_limit);
        let slot = DatabaseSlot::acquire(&self.inner, d.id, name, limit)?;
        // A DROP DATABASE may have committed between the lookup and the
        // registration; registered, the database can no longer go away.
        if !self.latest_catalog()?.databases.contains_key(&d.id) {
            return Err(database_not_found(name));
        }
        Ok(slot)
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

/// The newest committed catalog of database `database`.
pub(crate) fn latest_catalog(db: &DbInner, database: u32) -> Result<Arc<Catalog>> {
    let txn = db.txns.begin_read_only(IsolationLevel::ReadCommitted)?;
    let catalog = db.catalog_cache.get(&txn, database);
    txn.rollback();
    catalog
}

impl Database {
    /// The transaction manager (the change log reads through it).
    pub(crate) fn txn_manager(&self) -> &Arc<crate::txn::TxnManager> {
        &self.inner.txns
    }

    /// The tenants' connection and rate quotas.
    pub(crate) fn quotas(&self) -> &Arc<QuotaRegistry> {
        &self.inner.quotas
    }

    /// Turns the enforcement of tenant quotas on (the default) or off, for
    /// every session of this data directory. While off, no statement is
    /// refused for a tenant's storage, connections or rate; counters and
    /// storage usage stay exact.
    pub fn set_quotas_enforced(&self, on: bool) {
        self.inner.quotas.set_enforced(on);
    }

    /// The newest committed catalog (of the bootstrap database: the global
    /// objects, databases and roles, are the same in every database's).
    pub(crate) fn latest_catalog(&self) -> Result<Arc<Catalog>> {
        latest_catalog(&self.inner, BOOTSTRAP_DATABASE)
    }
}
