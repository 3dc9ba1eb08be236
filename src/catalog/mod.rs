//! The catalog: databases, schemas, tables, columns, indexes, constraints,
//! sequences, views, roles and planner statistics.
//!
//! Catalog objects are stored as JSON values under their own keys (see
//! [`keys`]) and written through the same [`Transaction`] as data, so DDL is
//! transactional: a rolled-back `CREATE TABLE` never existed, and a
//! concurrent transaction sees a new table only once it commits.
//!
//! Databases and roles are global; every other object belongs to one
//! database, and a [`Catalog`] is the view of one database: the global
//! objects plus that database's own (see [`databases`]).
//!
//! Reading the catalog is cheap: every DDL commit bumps a version counter,
//! and the decoded [`Catalog`] is cached per database and version
//! ([`CatalogCache`]). A transaction that has itself changed the catalog
//! reads its own version.

pub mod acl;
pub mod databases;
pub mod domains;
pub mod functions;
pub mod keys;
pub mod policy;
pub mod roles;
pub mod scram;
pub mod sequences;
pub mod stats;
pub mod tenants;

pub use acl::AclItem;
pub use databases::{BOOTSTRAP_DATABASE, DatabaseDef};
pub use domains::{CompositeDef, CompositeField, DomainDef, TypeRef};
pub use functions::FunctionDef;
pub use policy::{PolicyCommand, PolicyDef, RowSecurity};
pub use roles::RoleDef;
pub use stats::TableStats;
pub use tenants::{LimitOverrides, ResourceLimits, TenantDef, TierDef};

use crate::error::{Error, Result, SqlState};
use crate::storage::prefix_end;
use crate::txn::Transaction;
use crate::types::DataType;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

pub const KIND_SCHEMA: u8 = 1;
pub const KIND_TABLE: u8 = 2;
pub const KIND_INDEX: u8 = 3;
pub const KIND_SEQUENCE: u8 = 4;
pub const KIND_VIEW: u8 = 5;
pub const KIND_ROLE: u8 = 6;
pub const KIND_DATABASE: u8 = 7;
pub const KIND_TENANT: u8 = 9;
pub const KIND_FUNCTION: u8 = 10;
pub const KIND_DOMAIN: u8 = 8;
pub const KIND_COMPOSITE: u8 = 11;
pub const KIND_TIER: u8 = 12;

/// Object ids start here, like PostgreSQL's first user OID.
pub const FIRST_OID: u32 = 16384;

/// Temporary schemas are named `pg_temp_<n>`, one per session that creates
/// temporary objects (`n` is the session's number in the registry). Names
/// starting with `pg_` are reserved, so no user schema looks like one.
pub const TEMP_SCHEMA_PREFIX: &str = "pg_temp_";

/// Whether `schema` is a session's temporary schema.
pub fn is_temp_schema(schema: &str) -> bool {
    schema
        .strip_prefix(TEMP_SCHEMA_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What happens to a temporary table when a transaction commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnCommit {
    /// `ON COMMIT DELETE ROWS`: emptied at every commit.
    DeleteRows,
    /// `ON COMMIT DROP`: dropped when its creating transaction commits.
    Drop,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SchemaDef {
    pub id: u32,
    /// The database the object belongs to (absent in entries written
    /// before databases existed: the bootstrap database).
    #[serde(default = "databases::bootstrap_database")]
    pub database: u32,
    pub name: String,
    /// The owning role (0 in entries written before owners existed: the
    /// bootstrap superuser, filled in when the catalog is loaded).
    #[serde(default)]
    pub owner: u32,
    /// Access control list; None means the default (see [`acl`]).
    #[serde(default)]
    pub acl: Option<Vec<AclItem>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityKind {
    Always,
    ByDefault,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub ty: DataType,
    pub nullable: bool,
    /// Default expression as SQL text (bound when a statement needs it).
    pub default: Option<String>,
    pub identity: Option<IdentityKind>,
    /// The domain the column's type is (its values are of `ty`, the
    /// domain's base type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FkAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForeignKeyDef {
    pub name: String,
    pub columns: Vec<usize>,
    pub ref_table: u32,
    pub ref_columns: Vec<usize>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckDef {
    pub name: String,
    /// The check expression as SQL text.
    pub expr: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableDef {
    pub id: u32,
    /// The database the object belongs to (absent in entries written
    /// before databases existed: the bootstrap database).
    #[serde(default = "databases::bootstrap_database")]
    pub database: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// Primary-key column positions; empty means rows are keyed by a hidden row id.
    pub primary_key: Vec<usize>,
    /// Name of the primary-key constraint (`<table>_pkey`).
    pub pk_name: Option<String>,
    /// Sequence handing out hidden row ids for tables without a primary key.
    pub rowid_seq: Option<u32>,
    pub checks: Vec<CheckDef>,
    pub foreign_keys: Vec<ForeignKeyDef>,
    /// The owning role (0 in entries written before owners existed: the
    /// bootstrap superuser, filled in when the catalog is loaded).
    #[serde(default)]
    pub owner: u32,
    /// Access control list; None means the default (see [`acl`]).
    #[serde(default)]
    pub acl: Option<Vec<AclItem>>,
    /// Row-level security: whether it is enabled or forced, and the policies.
    #[serde(default)]
    pub rls: RowSecurity,
    /// The uuid column naming each row's tenant, for a tenant-scoped table
    /// (`helios.enable_tenancy`).
    #[serde(default)]
    pub tenant_column: Option<usize>,
    /// For a temporary table, its ON COMMIT action (None: PRESERVE ROWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_commit: Option<OnCommit>,
    /// Whether the change log leaves the table's changes out
    /// (`helios.set_capture(t, false)`; captured by default).
    #[serde(default, skip_serializing_if = "is_false")]
    pub capture_off: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl TableDef {
    /// Whether the table is temporary (lives in a session's temporary schema).
    pub fn is_temp(&self) -> bool {
        is_temp_schema(&self.schema)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn pk_types(&self) -> Vec<DataType> {
        if self.primary_key.is_empty() {
            vec![DataType::Int8]
        } else {
            self.primary_key
                .iter()
                .map(|&i| self.columns[i].ty.clone())
                .collect()
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexDef {
    pub id: u32,
    /// The database the object belongs to (absent in entries written
    /// before databases existed: the bootstrap database).
    #[serde(default = "databases::bootstrap_database")]
    pub database: u32,
    pub table_id: u32,
    pub schema: String,
    pub name: String,
    /// The key columns of a plain index. For an index with expression keys
    /// or a predicate, the columns its keys and predicate read (so that
    /// dropping one drops the index and changing one re-checks it).
    pub columns: Vec<usize>,
    pub unique: bool,
    /// True when the index backs a UNIQUE constraint (dropped with it).
    pub constraint: bool,
    /// The keys, when any is an expression or names a collation or
    /// operator class, or the index is partial; empty for an index on
    /// plain `columns`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<IndexKey>,
    /// A partial index's WHERE predicate (SQL text): only rows satisfying
    /// it have entries, and only they must be unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
}

/// One key of an index: a column or an expression, with the collation and
/// operator class written in CREATE INDEX (None: the defaults).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    pub column: Option<usize>,
    /// The expression as SQL text, over the table's columns.
    pub expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opclass: Option<String>,
}

impl IndexDef {
    /// Whether the index's entries are keyed by plain `columns` and exist
    /// for every row: what the planner can use to find rows, and what can
    /// back a foreign key.
    pub fn is_plain(&self) -> bool {
        self.predicate.is_none() && self.keys.iter().all(|k| k.expr.is_none())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SequenceDef {
    pub id: u32,
    /// The database the object belongs to (absent in entries written
    /// before databases existed: the bootstrap database).
    #[serde(default = "databases::bootstrap_database")]
    pub database: u32,
    pub schema: String,
    pub name: String,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub start: i64,
    pub cycle: bool,
    /// (table id, column position) owning the sequence (serial / identity).
    pub owned_by: Option<(u32, usize)>,
    /// Internal sequences (hidden row ids) are not visible by name.
    pub internal: bool,
    /// The owning role (0 in entries written before owners existed: the
    /// bootstrap superuser, filled in when the catalog is loaded).
    #[serde(default)]
    pub owner: u32,
    /// Access control list; None means the default (see [`acl`]).
    #[serde(default)]
    pub acl: Option<Vec<AclItem>>,
}

/// A view: a stored query, bound again wherever the view is used.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViewDef {
    pub id: u32,
    /// The database the object belongs to (absent in entries written
    /// before databases existed: the bootstrap database).
    #[serde(default = "databases::bootstrap_database")]
    pub database: u32,
    pub schema: String,
    pub name: String,
    /// The defining query, as SQL text.
    pub sql: String,
    /// Output column names (the view's column list, or the query's names).
    pub columns: Vec<String>,
    /// Tables and views the query reads (they cannot be dropped without CASCADE).
    pub depends_on: Vec<u32>,
    /// `WITH [LOCAL | CASCADED] CHECK OPTION`: "local" or "cascaded".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_option: Option<String>,
    /// The owning role (0 in entries written before owners existed: the
    /// bootstrap superuser, filled in when the catalog is loaded).
    #[serde(default)]
    pub owner: u32,
    /// Access control list; None means the default (see [`acl`]).
    #[serde(default)]
    pub acl: Option<Vec<AclItem>>,
    /// Whether the view's query reads its tables with the querying user's
    /// privileges and row-level security policies (the default here), or
    /// with the view owner's (`WITH (security_invoker = false)`).
    #[serde(default = "default_security_invoker")]
    pub security_invoker: bool,
    /// `WITH (security_barrier)`: conditions of the querying statement run
    /// after the view's own unless they are leakproof.
    #[serde(default)]
    pub security_barrier: bool,
    /// The options given at CREATE VIEW, as `pg_class.reloptions` shows them.
    #[serde(default)]
    pub options: Vec<String>,
}

fn default_security_invoker() -> bool {
    true
}

/// A relation-namespace entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Table(u32),
    Index(u32),
    Sequence(u32),
    View(u32),
}

/// A decoded, immutable view of the catalog at one version.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// The database this catalog is the view of.
    pub database: u32,
    /// Every database of the data directory, by id.
    pub databases: BTreeMap<u32, Arc<DatabaseDef>>,
    /// Planner statistics of this database's analyzed tables, by table id.
    pub stats: HashMap<u32, Arc<TableStats>>,
    pub schemas: BTreeMap<String, SchemaDef>,
    pub tables: BTreeMap<u32, Arc<TableDef>>,
    pub indexes: BTreeMap<u32, Arc<IndexDef>>,
    pub sequences: BTreeMap<u32, Arc<SequenceDef>>,
    pub views: BTreeMap<u32, Arc<ViewDef>>,
    /// Roles by id (the lowest id is the bootstrap superuser).
    pub roles: BTreeMap<u32, Arc<RoleDef>>,
    /// Tenants by object id (global, like roles).
    pub tenants: BTreeMap<u32, Arc<TenantDef>>,
    /// The same tenants by uuid (the statement path looks them up so).
    pub tenants_by_id: HashMap<uuid::Uuid, Arc<TenantDef>>,
    /// Stored tiers by name (see [`Catalog::tier`] for the built-in ones).
    pub tiers: BTreeMap<String, Arc<TierDef>>,
    /// This database's SQL functions, by id.
    pub functions: BTreeMap<u32, Arc<FunctionDef>>,
    pub domains: BTreeMap<u32, Arc<DomainDef>>,
    pub composites: BTreeMap<u32, Arc<CompositeDef>>,
    names: HashMap<(String, String), Relation>,
    /// Type names (domains and composite types) by (schema, name).
    type_names: HashMap<(String, String), u32>,
    role_names: HashMap<String, u32>,
    table_indexes: HashMap<u32, Vec<u32>>,
    /// The change-log layout id of each table whose writes were captured
    /// (see [`Catalog::change_layout`]).
    change_layouts: LayoutMemo,
}

/// [`Catalog::change_layout`]'s memo; a clone starts empty (a cloned
/// catalog may be changed).
#[derive(Debug, Default)]
struct LayoutMemo(Mutex<HashMap<u32, u64>>);

impl Clone for LayoutMemo {
    fn clone(&self) -> Self {
        LayoutMemo::default()
    }
}

impl Catalog {
    /// The change-log layout id of `table` (see `txn::changes::Layout`):
    /// `register` computes it and stores the layout, once per table of
    /// this catalog version; a table that is not this catalog's own (by
    /// address) is registered every time.
    pub fn change_layout(
        &self,
        table: &TableDef,
        register: impl FnOnce() -> Result<u64>,
    ) -> Result<u64> {
        let ours = self
            .tables
            .get(&table.id)
            .is_some_and(|t| std::ptr::eq(t.as_ref(), table));
        if !ours {
            return register();
        }
        if let Some(&id) = self.change_layouts.0.lock().get(&table.id) {
            return Ok(id);
        }
        let id = register()?;
        self.change_layouts.0.lock().insert(table.id, id);
        Ok(id)
    }

    fn build(
        schemas: Vec<SchemaDef>,
        tables: Vec<TableDef>,
        indexes: Vec<IndexDef>,
        sequences: Vec<SequenceDef>,
        views: Vec<ViewDef>,
        roles: Vec<RoleDef>,
    ) -> Catalog {
        let mut c = Catalog::default();
        for r in roles {
            c.role_names.insert(r.name.clone(), r.id);
            c.roles.insert(r.id, Arc::new(r));
        }
        // Entries from before owners existed belong to the bootstrap superuser.
        let bootstrap = c.bootstrap_role().unwrap_or(0);
        let own = |owner: &mut u32| {
            if *owner == 0 {
                *owner = bootstrap;
            }
        };
        for mut s in schemas {
            own(&mut s.owner);
            if s.name == "public" && s.acl.is_none() {
                s.acl = Some(acl::public_schema_acl(s.owner));
            }
            c.schemas.insert(s.name.clone(), s);
        }
        for mut t in tables {
            own(&mut t.owner);
            c.names
                .insert((t.schema.clone(), t.name.clone()), Relation::Table(t.id));
            c.tables.insert(t.id, Arc::new(t));
        }
        for i in indexes {
            c.names
                .insert((i.schema.clone(), i.name.clone()), Relation::Index(i.id));
            c.table_indexes.entry(i.table_id).or_default().push(i.id);
            c.indexes.insert(i.id, Arc::new(i));
        }
        for mut s in sequences {
            own(&mut s.owner);
            if !s.internal {
                c.names
                    .insert((s.schema.clone(), s.name.clone()), Relation::Sequence(s.id));
            }
            c.sequences.insert(s.id, Arc::new(s));
        }
        for mut v in views {
            own(&mut v.owner);
            c.names
                .insert((v.schema.clone(), v.name.clone()), Relation::View(v.id));
            c.views.insert(v.id, Arc::new(v));
        }
        c
    }

    /// Policies (with their tables) whose expressions read relation `id`,
    /// not counting the policies of `id` itself.
    pub fn policies_depending_on(&self, id: u32) -> Vec<(Arc<TableDef>, PolicyDef)> {
        let mut out = Vec::new();
        for t in self.tables.values().filter(|t| t.id != id) {
            for p in t.rls.policies.iter().filter(|p| p.depends_on.contains(&id)) {
                out.push((t.clone(), p.clone()));
            }
        }
        out.sort_by_key(|(_, p)| p.id);
        out
    }

    /// Views that read relation `id` directly.
    pub fn views_depending_on(&self, id: u32) -> Vec<Arc<ViewDef>> {
        self.views
            .values()
            .filter(|v| v.depends_on.contains(&id))
            .cloned()
            .collect()
    }

    /// Loads the catalog of database `database` as `txn` sees it: every
    /// database and role, and the schemas, tables, indexes, sequences,
    /// views and statistics of that database.
    pub fn load(txn: &Transaction, database: u32) -> Result<Catalog> {
        let start = vec![keys::CATALOG_PREFIX];
        let end = prefix_end(&start).expect("prefix is not all 0xFF");
        let mut domains: Vec<DomainDef> = Vec::new();
        let mut composites: Vec<CompositeDef> = Vec::new();
        let (mut schemas, mut tables, mut indexes, mut sequences, mut views, mut roles) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let mut dbs = BTreeMap::new();
        let mut tenants = BTreeMap::new();
        let mut tiers = BTreeMap::new();
        let mut functions = BTreeMap::new();
        fn decode<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<T> {
            serde_json::from_slice(value)
                .map_err(|e| Error::corrupted(format!("catalog entry: {e}")))
        }
        /// Keeps an object of database `database`, skips other databases' ones.
        fn keep<T: serde::de::DeserializeOwned>(
            value: &[u8],
            database: u32,
            out: &mut Vec<T>,
            db_of: impl Fn(&T) -> u32,
        ) -> Result<()> {
            let obj: T = decode(value)?;
            if db_of(&obj) == database {
                out.push(obj);
            }
            Ok(())
        }
        for item in txn.scan(Bound::Included(start), Bound::Excluded(end), false)? {
            let (key, value) = item?;
            let kind = *key
                .get(1)
                .ok_or_else(|| Error::corrupted("catalog key too short"))?;
            match kind {
                KIND_SCHEMA => keep(&value, database, &mut schemas, |s: &SchemaDef| s.database)?,
                KIND_TABLE => keep(&value, database, &mut tables, |t: &TableDef| t.database)?,
                KIND_INDEX => keep(&value, database, &mut indexes, |i: &IndexDef| i.database)?,
                KIND_SEQUENCE => keep(&value, database, &mut sequences, |s: &SequenceDef| {
                    s.database
                })?,
                KIND_VIEW => keep(&value, database, &mut views, |v: &ViewDef| v.database)?,
                KIND_ROLE => roles.push(decode(&value)?),
                KIND_FUNCTION => {
                    let f: FunctionDef = decode(&value)?;
                    if f.database == database {
                        functions.insert(f.id, Arc::new(f));
                    }
                }
                KIND_TENANT => {
                    let t: TenantDef = decode(&value)?;
                    tenants.insert(t.oid, Arc::new(t));
                }
                KIND_TIER => {
                    let t: TierDef = decode(&value)?;
                    tiers.insert(t.name.clone(), Arc::new(t));
                }
                KIND_DATABASE => {
                    let d: DatabaseDef = decode(&value)?;
                    dbs.insert(d.id, Arc::new(d));
                }
                KIND_DOMAIN => keep(&value, database, &mut domains, |d: &DomainDef| d.database)?,
                KIND_COMPOSITE => keep(&value, database, &mut composites, |t: &CompositeDef| {
                    t.database
                })?,
                _ => return Err(Error::corrupted(format!("unknown catalog kind {kind}"))),
            }
        }
        let mut c = Catalog::build(schemas, tables, indexes, sequences, views, roles);
        for mut d in domains {
            if d.owner == 0 {
                d.owner = c.bootstrap_role().unwrap_or(0);
            }
            c.type_names
                .insert((d.schema.clone(), d.name.clone()), d.id);
            c.domains.insert(d.id, Arc::new(d));
        }
        for mut t in composites {
            if t.owner == 0 {
                t.owner = c.bootstrap_role().unwrap_or(0);
            }
            c.type_names
                .insert((t.schema.clone(), t.name.clone()), t.id);
            c.composites.insert(t.id, Arc::new(t));
        }
        c.database = database;
        c.databases = dbs;
        c.tenants_by_id = tenants.values().map(|t| (t.id, t.clone())).collect();
        c.tenants = tenants;
        c.tiers = tiers;
        c.functions = functions;
        let start = vec![keys::STATS_PREFIX];
        let end = prefix_end(&start).expect("prefix is not all 0xFF");
        for item in txn.scan(Bound::Included(start), Bound::Excluded(end), false)? {
            let (key, value) = item?;
            let id = key
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| Error::corrupted("statistics key too short"))?;
            if c.tables.contains_key(&id) {
                c.stats.insert(id, Arc::new(stats::decode(&value)?));
            }
        }
        Ok(c)
    }

    /// Resolves a possibly qualified relation name through the search path.
    /// The schema `pg_temp` means the session's own temporary schema (the
    /// temporary schema on its search path).
    pub fn resolve(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<(String, Relation)> {
        let own_temp;
        let schema = match schema {
            Some("pg_temp") => {
                own_temp = search_path.iter().find(|s| is_temp_schema(s))?;
                Some(own_temp.as_str())
            }
            other => other,
        };
        match schema {
            Some(s) => self
                .names
                .get(&(s.to_string(), name.to_string()))
                .map(|r| (s.to_string(), *r)),
            None => search_path.iter().find_map(|s| {
                self.names
                    .get(&(s.clone(), name.to_string()))
                    .map(|r| (s.clone(), *r))
            }),
        }
    }

    /// Resolves a possibly qualified name of a user-defined type through
    /// the search path.
    pub fn resolve_type_name(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<TypeRef<'_>> {
        let id = match schema {
            Some(s) => self.type_names.get(&(s.to_string(), name.to_string())),
            None => search_path
                .iter()
                .find_map(|s| self.type_names.get(&(s.clone(), name.to_string()))),
        }?;
        match self.domains.get(id) {
            Some(d) => Some(TypeRef::Domain(d)),
            None => self.composites.get(id).map(TypeRef::Composite),
        }
    }

    /// Resolves a possibly qualified domain name through the search path.
    pub fn resolve_domain(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<&Arc<DomainDef>> {
        match self.resolve_type_name(schema, name, search_path)? {
            TypeRef::Domain(d) => Some(d),
            TypeRef::Composite(_) => None,
        }
    }

    /// The schema and name of user-defined type `id`, if it is one.
    pub fn type_name(&self, id: u32) -> Option<(&str, &str)> {
        if let Some(d) = self.domains.get(&id) {
            return Some((&d.schema, &d.name));
        }
        self.composites
            .get(&id)
            .map(|t| (t.schema.as_str(), t.name.as_str()))
    }

    /// Whether a type (domain) of this name exists in `schema`.
    pub fn type_exists(&self, schema: &str, name: &str) -> bool {
        self.type_names
            .contains_key(&(schema.to_string(), name.to_string()))
    }

    /// Whether a relation of this name exists in `schema` (a composite
    /// type counts: it is a relation in PostgreSQL).
    pub fn relation_exists(&self, schema: &str, name: &str) -> bool {
        let key = (schema.to_string(), name.to_string());
        self.names.contains_key(&key)
            || self
                .type_names
                .get(&key)
                .is_some_and(|id| self.composites.contains_key(id))
    }

    pub fn table(&self, id: u32) -> Result<&Arc<TableDef>> {
        self.tables
            .get(&id)
            .ok_or_else(|| Error::internal(format!("table {id} missing from catalog")))
    }

    /// Secondary indexes of a table, in creation order.
    pub fn indexes_of(&self, table: u32) -> Vec<Arc<IndexDef>> {
        self.index_iter(table).cloned().collect()
    }

    /// The indexes of a table that can find its rows by plain column values
    /// (see [`IndexDef::is_plain`]): what the planner may scan.
    pub fn plain_indexes_of(&self, table: u32) -> Vec<Arc<IndexDef>> {
        self.index_iter(table)
            .filter(|i| i.is_plain())
            .cloned()
            .collect()
    }

    /// Secondary indexes of a table, in creation order, without allocating.
    pub fn index_iter(&self, table: u32) -> impl Iterator<Item = &Arc<IndexDef>> {
        self.table_indexes
            .get(&table)
            .into_iter()
            .flatten()
            .filter_map(|i| self.indexes.get(i))
    }

    /// Tables whose foreign keys reference `table`.
    pub fn referencing(&self, table: u32) -> Vec<Arc<TableDef>> {
        self.tables
            .values()
            .filter(|t| t.foreign_keys.iter().any(|f| f.ref_table == table))
            .cloned()
            .collect()
    }
}

/// Writes a catalog object in the transaction.
pub fn put_object<T: Serialize>(txn: &mut Transaction, kind: u8, id: u32, obj: &T) -> Result<()> {
    let value = serde_json::to_vec(obj)
        .map_err(|e| Error::internal(format!("cannot encode catalog entry: {e}")))?;
    txn.put(keys::catalog_key(kind, id), value);
    Ok(())
}

pub fn delete_object(txn: &mut Transaction, kind: u8, id: u32) {
    txn.delete(keys::catalog_key(kind, id));
}

/// Caches the decoded catalog of each database per committed catalog
/// version (one version counter covers every database).
#[derive(Default)]
pub struct CatalogCache {
    cached: Mutex<HashMap<u32, CachedCatalog>>,
    /// Told of each catalog that becomes the newest cached one (the
    /// tenant quota registry takes new limits from it).
    on_newest: std::sync::OnceLock<NewestHook>,
}

type NewestHook = Box<dyn Fn(&Catalog) + Send + Sync>;

/// A database's cached catalog: (catalog version, the newest snapshot seen
/// at that version, catalog).
type CachedCatalog = (i64, u64, Arc<Catalog>);

impl CatalogCache {
    /// The catalog of `database` as `txn`'s snapshot sees it (the
    /// transaction must not have changed the catalog itself; use
    /// [`Catalog::load`] then).
    pub fn get(&self, txn: &Transaction, database: u32) -> Result<Arc<Catalog>> {
        let seq = txn.snapshot_seq();
        if let Some((_, seen, cat)) = self.cached.lock().get(&database)
            && *seen == seq
        {
            return Ok(cat.clone());
        }
        let version = match txn.get(keys::META_CATALOG_VERSION)? {
            Some(v) => keys::i64_value(&v)
                .ok_or_else(|| Error::corrupted("catalog version is not an i64"))?,
            None => 0,
        };
        if let Some((v, seen, cat)) = self.cached.lock().get_mut(&database)
            && *v == version
        {
            *seen = (*seen).max(seq);
            return Ok(cat.clone());
        }
        let cat = Arc::new(Catalog::load(txn, database)?);
        let mut cached = self.cached.lock();
        match cached.get(&database) {
            Some((v, _, _)) if *v > version => {}
            _ => {
                cached.insert(database, (version, seq, cat.clone()));
                drop(cached);
                if let Some(hook) = self.on_newest.get() {
                    hook(&cat);
                }
            }
        }
        Ok(cat)
    }

    /// Sets the function told of each catalog that becomes the newest
    /// cached one (once; later calls are ignored).
    pub fn on_newest(&self, hook: NewestHook) {
        let _ = self.on_newest.set(hook);
    }

    /// Forgets a dropped database's catalog.
    pub fn forget(&self, database: u32) {
        self.cached.lock().remove(&database);
    }
}

/// Allocates object ids; the high-water mark is persisted with each DDL commit.
pub struct OidAllocator {
    next: std::sync::atomic::AtomicU32,
}

impl OidAllocator {
    pub fn load(txn: &Transaction) -> Result<OidAllocator> {
        let last = match txn.get(keys::META_NEXT_OID)? {
            Some(v) => keys::i64_value(&v).ok_or_else(|| Error::corrupted("bad oid counter"))?,
            None => FIRST_OID as i64 - 1,
        };
        let next =
            u32::try_from(last + 1).map_err(|_| Error::corrupted("oid counter out of range"))?;
        Ok(OidAllocator {
            next: std::sync::atomic::AtomicU32::new(next.max(FIRST_OID)),
        })
    }

    pub fn allocate(&self, txn: &mut Transaction) -> Result<u32> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if id == u32::MAX {
            return Err(Error::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                "out of object ids",
            ));
        }
        txn.merge(
            keys::META_NEXT_OID.to_vec(),
            crate::storage::Op::MaxI64(id as i64),
        );
        Ok(id)
    }
}

/// Marks the catalog as changed by this transaction (bumps the version on commit).
pub fn bump_version(txn: &mut Transaction) {
    txn.merge(
        keys::META_CATALOG_VERSION.to_vec(),
        crate::storage::Op::AddI64(1),
    );
}
