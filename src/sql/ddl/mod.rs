//! DDL: CREATE / DROP / ALTER of databases, schemas, tables, indexes,
//! sequences, views and roles, GRANT / REVOKE of role membership, TRUNCATE,
//! and the maintenance commands VACUUM and ANALYZE.
//!
//! DDL writes catalog entries and data through the session's transaction, so
//! it is transactional; it takes the exclusive lock of each table it changes
//! (waiting for transactions that are writing the table) and bumps the
//! catalog version so other sessions reload the catalog after commit.

mod alter;
mod cascade;
mod composite;
mod create;
mod database;
mod domain;
mod function;
mod maintenance;
mod owned;
mod policy;
mod privilege;
mod role;
mod temp;
mod tenant;
mod view;

pub use role::is_role_grant;

use crate::catalog::keys::{self, index_prefix, table_lock_key};
use crate::catalog::sequences::SequenceManager;
use crate::catalog::{self as cat, Catalog, IndexDef, OidAllocator, SequenceDef, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::{Binder, split_name};
use crate::sql::executor::dml::{index_key_names, key_detail_values};
use crate::sql::executor::index_keys::IndexKeys;
use crate::sql::executor::scan::{KeyedRow, decode_table_row, pk_of_key};
use crate::sql::expr::EvalCtx;
use crate::sql::expr::EvalEnv;
use crate::storage::{Engine, prefix_end};
use crate::tenant::usage::UsageDelta;
use crate::txn::Transaction;
use crate::txn::locks::LockMode;
use crate::types::Value;
use cascade::DropRoot;
use sqlparser::ast;
use std::ops::Bound;
use std::sync::Arc;

/// What DDL needs from the session.
pub struct DdlCtx<'a> {
    pub txn: &'a mut Transaction,
    /// The catalog as this transaction sees it.
    pub catalog: Arc<Catalog>,
    pub search_path: &'a [String],
    /// The session's temporary schema (`pg_temp_<n>`; it exists once the
    /// session has created a temporary object).
    pub temp_schema: &'a str,
    pub oids: &'a OidAllocator,
    pub sequences: &'a SequenceManager,
    pub engine: &'a dyn Engine,
    pub env: &'a dyn EvalEnv,
    /// The session's current user and session user (role ids), for permission checks.
    pub current_user: u32,
    pub session_user: u32,
    /// Rows rewritten by ALTER TABLE, waiting for their index entries.
    pub(crate) pending_rows: Vec<(Vec<u8>, Vec<Value>)>,
}

impl DdlCtx<'_> {
    fn binder(&self) -> Binder<'_> {
        Binder::new(&self.catalog, self.search_path)
    }

    /// CREATE ... IF NOT EXISTS of an existing relation: PostgreSQL's notice.
    fn relation_exists_skipping(&self, name: &str) {
        self.env.notice(
            Notice::plain(format!("relation \"{name}\" already exists, skipping"))
                .with_code(SqlState::DUPLICATE_TABLE),
        );
    }

    /// Re-reads the catalog including this transaction's own changes.
    fn reload(&mut self) -> Result<()> {
        self.catalog = Arc::new(Catalog::load(self.txn, self.catalog.database)?);
        Ok(())
    }

    /// The schema a new object goes into (first existing schema of the
    /// search path; the temporary schema only when asked for, see
    /// [`DdlCtx::creation_target`]).
    fn target_schema(&self, schema: Option<String>) -> Result<String> {
        match schema {
            Some(s) => {
                if self.catalog.schemas.contains_key(&s) {
                    Ok(s)
                } else {
                    Err(Error::new(
                        SqlState::UNDEFINED_SCHEMA,
                        format!("schema \"{s}\" does not exist"),
                    ))
                }
            }
            None => self
                .search_path
                .iter()
                .find(|s| self.catalog.schemas.contains_key(*s) && !cat::is_temp_schema(s))
                .cloned()
                .ok_or_else(|| {
                    Error::new(
                        SqlState::UNDEFINED_SCHEMA,
                        "no schema has been selected to create in",
                    )
                }),
        }
    }

    fn lock_table_exclusive(&mut self, id: u32) -> Result<()> {
        if self.txn.lock(&table_lock_key(id), LockMode::Exclusive)? {
            // Waited for writers: look at what they committed.
            self.txn.refresh_snapshot()?;
            self.reload()?;
        }
        Ok(())
    }

    fn lock_name(&mut self, schema: &str, name: &str) -> Result<()> {
        if self.txn.lock(
            &keys::name_lock_key(self.catalog.database, schema, name),
            LockMode::Exclusive,
        )? {
            self.txn.refresh_snapshot()?;
            self.reload()?;
        }
        Ok(())
    }

    fn put_table(&mut self, t: &TableDef) -> Result<()> {
        cat::put_object(self.txn, cat::KIND_TABLE, t.id, t)?;
        cat::bump_version(self.txn);
        Ok(())
    }

    fn put_index(&mut self, i: &IndexDef) -> Result<()> {
        cat::put_object(self.txn, cat::KIND_INDEX, i.id, i)?;
        cat::bump_version(self.txn);
        Ok(())
    }

    fn put_sequence(&mut self, s: &SequenceDef) -> Result<()> {
        cat::put_object(self.txn, cat::KIND_SEQUENCE, s.id, s)?;
        cat::bump_version(self.txn);
        Ok(())
    }

    /// All rows of a table: newest committed data plus own writes (DDL
    /// holds the table's exclusive lock, so nothing else changes it).
    fn table_rows(&self, t: &TableDef) -> Result<Vec<KeyedRow>> {
        let p = index_prefix(t.id, keys::PRIMARY_INDEX);
        let end = prefix_end(&p)
            .map(Bound::Excluded)
            .unwrap_or(Bound::Unbounded);
        self.txn
            .scan_latest(Bound::Included(p), end, false)?
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k, decode_table_row(t, &v)?))
            })
            .collect()
    }

    /// The bytes each tenant has in tenant-scoped table `t` (rows and index
    /// entries, counted as the writer counts them: see
    /// [`crate::tenant::usage`]); empty for other tables.
    fn table_usage(&self, t: &TableDef) -> Result<UsageDelta> {
        let catalog = self.catalog.clone();
        self.table_usage_in(&catalog, t)
    }

    /// [`DdlCtx::table_usage`] of a table of the database `catalog` describes.
    fn table_usage_in(&self, catalog: &Catalog, t: &TableDef) -> Result<UsageDelta> {
        let mut out = UsageDelta::default();
        let Some(col) = t.tenant_column else {
            return Ok(out);
        };
        let p = index_prefix(t.id, keys::PRIMARY_INDEX);
        let end = prefix_end(&p)
            .map(Bound::Excluded)
            .unwrap_or(Bound::Unbounded);
        let keys = IndexKeys::new(catalog);
        let ectx = EvalCtx::new(&[], self.env);
        let indexes: Vec<_> = catalog.index_iter(t.id).cloned().collect();
        for kv in self.txn.scan_latest(Bound::Included(p), end, false)? {
            let (key, value) = kv?;
            let row = decode_table_row(t, &value)?;
            let Some(Value::Uuid(tenant)) = row.get(col) else {
                continue;
            };
            let pk = pk_of_key(&key);
            let mut bytes = key.len() + value.len();
            for ix in &indexes {
                if let Some(k) = keys.entry_key(t, ix, &row, pk, &ectx)? {
                    bytes += k.len() + pk.len();
                }
            }
            out.add(*tenant, bytes as i64);
        }
        Ok(out)
    }

    /// Applies the change between two [`DdlCtx::table_usage`] counts of a
    /// table (before and after a DDL statement changed it), checking the
    /// limits of tenants that grow.
    fn account_table(&mut self, before: UsageDelta, after: UsageDelta) -> Result<()> {
        let mut delta = after;
        for (t, b) in before.entries() {
            delta.add(t, -b);
        }
        let env = self.env;
        delta.apply(self.txn, &self.catalog, env.quotas_enforced(), &|t| {
            env.storage_rejected(t)
        })
    }

    /// Releases what tenant-scoped table `id` counts for its tenants (before
    /// its rows go: TRUNCATE, DROP TABLE).
    fn release_table_usage(&mut self, id: u32) -> Result<()> {
        let Some(t) = self.catalog.tables.get(&id).cloned() else {
            return Ok(());
        };
        let before = self.table_usage(&t)?;
        self.account_table(before, UsageDelta::default())
    }

    /// Runs `f`, a change to table `id` (ALTER TABLE, CREATE or DROP INDEX),
    /// and accounts how the bytes of its tenants changed.
    fn with_table_usage<T>(
        &mut self,
        id: Option<u32>,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let table = id.and_then(|id| self.catalog.tables.get(&id).cloned());
        let Some(t) = table.filter(|t| t.tenant_column.is_some()) else {
            return f(self);
        };
        let before = self.table_usage(&t)?;
        let out = f(self)?;
        self.reload()?;
        let after = match self.catalog.tables.get(&t.id).cloned() {
            Some(now) => self.table_usage(&now)?,
            None => UsageDelta::default(),
        };
        self.account_table(before, after)?;
        Ok(out)
    }

    /// Deletes every key under `prefix` (newest committed data plus own writes).
    fn delete_prefix(&mut self, prefix: Vec<u8>) -> Result<u64> {
        let end = prefix_end(&prefix)
            .map(Bound::Excluded)
            .unwrap_or(Bound::Unbounded);
        let keys: Vec<Vec<u8>> = self
            .txn
            .scan_latest(Bound::Included(prefix), end, false)?
            .map(|kv| kv.map(|(k, _)| k))
            .collect::<Result<_>>()?;
        let n = keys.len() as u64;
        for k in keys {
            self.txn.delete(k);
        }
        Ok(n)
    }

    /// Writes the entries of a new index for every existing row, checking uniqueness.
    fn build_index(&mut self, t: &TableDef, ix: &IndexDef) -> Result<()> {
        let rows = self.table_rows(t)?;
        let keys = IndexKeys::new(&self.catalog);
        let ectx = EvalCtx::new(&[], self.env);
        let mut seen = std::collections::HashSet::new();
        for (key, row) in rows {
            let Some(vals) = keys.values(t, ix, &row, &ectx)? else {
                continue;
            };
            if ix.unique && vals.iter().all(|v| !v.is_null()) && !seen.insert(vals.clone()) {
                let names = index_key_names(t, ix);
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                return Err(Error::new(
                    SqlState::UNIQUE_VIOLATION,
                    format!("could not create unique index \"{}\"", ix.name),
                )
                .with_detail(format!(
                    "Key {} is duplicated.",
                    key_detail_values(&names, &vals)
                )));
            }
            let pk = pk_of_key(&key).to_vec();
            if let Some(k) = keys.entry_key(t, ix, &row, &pk, &ectx)? {
                self.txn.put(k, pk);
            }
        }
        Ok(())
    }

    /// Picks a free relation name in `schema` based on `base` (PostgreSQL's scheme: base, base1, ...).
    fn free_name(&self, schema: &str, base: &str) -> String {
        let base: String = base.chars().take(63).collect();
        if !self.catalog.relation_exists(schema, &base) {
            return base;
        }
        (1..)
            .map(|i| format!("{base}{i}"))
            .find(|n| !self.catalog.relation_exists(schema, n))
            .expect("an unused name exists")
    }

    pub fn create_schema(&mut self, name: &ast::SchemaName, if_not_exists: bool) -> Result<String> {
        let (n, authorization) = match name {
            ast::SchemaName::Simple(n) => (split_name(n)?.1, None),
            ast::SchemaName::NamedAuthorization(n, a) => (split_name(n)?.1, Some(a)),
            ast::SchemaName::UnnamedAuthorization(i) => (crate::sql::binder::ident(i), Some(i)),
        };
        let owner = match authorization {
            Some(a) => self.owner_role(&ast::Owner::Ident(a.clone()))?,
            None => self.current_user,
        };
        // CREATE on the database: its owner and the roles that have its
        // privileges (database grants are not stored).
        let db = self.catalog.current_database()?.clone();
        if !self
            .catalog
            .has_privileges_of_role(self.current_user, db.owner)
        {
            return Err(Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("permission denied for database {}", db.name),
            ));
        }
        if owner != self.current_user {
            self.require_member_of(owner)?;
        }
        self.lock_name(&n, "")?;
        if self.catalog.schemas.contains_key(&n) {
            if if_not_exists {
                self.env.notice(
                    Notice::plain(format!("schema \"{n}\" already exists, skipping"))
                        .with_code(SqlState::DUPLICATE_SCHEMA),
                );
                return Ok("CREATE SCHEMA".into());
            }
            return Err(Error::new(
                SqlState::DUPLICATE_SCHEMA,
                format!("schema \"{n}\" already exists"),
            ));
        }
        if n.starts_with("pg_") {
            return Err(Error::new(
                SqlState::RESERVED_NAME,
                format!("unacceptable schema name \"{n}\""),
            )
            .with_detail("The prefix \"pg_\" is reserved for system schemas."));
        }
        let id = self.oids.allocate(self.txn)?;
        cat::put_object(
            self.txn,
            cat::KIND_SCHEMA,
            id,
            &cat::SchemaDef {
                id,
                database: self.catalog.database,
                name: n,
                owner,
                acl: None,
            },
        )?;
        cat::bump_version(self.txn);
        Ok("CREATE SCHEMA".into())
    }

    /// DROP TABLE / INDEX / SEQUENCE / VIEW / SCHEMA. Every name is
    /// resolved first (a missing one is an error, or with IF EXISTS a
    /// notice); with CASCADE a notice lists what else goes, then each
    /// object is dropped.
    pub fn drop(
        &mut self,
        kind: &ast::ObjectType,
        names: &[ast::ObjectName],
        if_exists: bool,
        cascade: bool,
    ) -> Result<String> {
        let (tag, what) = match kind {
            ast::ObjectType::Table => ("DROP TABLE", "table"),
            ast::ObjectType::Index => ("DROP INDEX", "index"),
            ast::ObjectType::Sequence => ("DROP SEQUENCE", "sequence"),
            ast::ObjectType::Schema => ("DROP SCHEMA", "schema"),
            ast::ObjectType::View => ("DROP VIEW", "view"),
            other => return Err(Error::unsupported(format!("DROP {other} is not supported"))),
        };
        let skipping = |name: &str, what: &str| {
            self.env.notice(Notice::plain(format!(
                "{what} \"{name}\" does not exist, skipping"
            )));
        };
        let mut roots = Vec::new();
        for name in names {
            let (schema, n) = split_name(name)?;
            if *kind == ast::ObjectType::Schema {
                match self.catalog.schemas.contains_key(&n) {
                    true => roots.push(DropRoot::Schema(n)),
                    false if if_exists => skipping(&n, "schema"),
                    false => {
                        return Err(Error::new(
                            SqlState::UNDEFINED_SCHEMA,
                            format!("schema \"{n}\" does not exist"),
                        ));
                    }
                }
                continue;
            }
            if let Some(s) = &schema
                && !self.catalog.schemas.contains_key(s)
                && !matches!(s.as_str(), "pg_catalog" | "information_schema")
            {
                if if_exists {
                    skipping(s, "schema");
                    continue;
                }
                return Err(Error::new(
                    SqlState::UNDEFINED_SCHEMA,
                    format!("schema \"{s}\" does not exist"),
                ));
            }
            let found = self
                .catalog
                .resolve(schema.as_deref(), &n, self.search_path);
            if let Some((_, rel)) = found
                && matches!(
                    (kind, rel),
                    (ast::ObjectType::Table, cat::Relation::Table(_))
                        | (ast::ObjectType::Index, cat::Relation::Index(_))
                        | (ast::ObjectType::Sequence, cat::Relation::Sequence(_))
                        | (ast::ObjectType::View, cat::Relation::View(_))
                )
            {
                self.require_relation_owner(rel)?;
            }
            match (kind, found) {
                (ast::ObjectType::Table, Some((_, cat::Relation::Table(id)))) => {
                    roots.push(DropRoot::Table(id))
                }
                (ast::ObjectType::Index, Some((_, cat::Relation::Index(id)))) => {
                    roots.push(DropRoot::Index(id))
                }
                (ast::ObjectType::Sequence, Some((_, cat::Relation::Sequence(id)))) => {
                    roots.push(DropRoot::Sequence(id))
                }
                (ast::ObjectType::View, Some((_, cat::Relation::View(id)))) => {
                    roots.push(DropRoot::View(id))
                }
                (_, Some(_)) => {
                    let article = if what == "index" { "an" } else { "a" };
                    return Err(Error::new(
                        SqlState::WRONG_OBJECT_TYPE,
                        format!("\"{n}\" is not {article} {what}"),
                    ));
                }
                (_, None) if if_exists => skipping(&n, what),
                (_, None) => {
                    return Err(Error::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("{what} \"{n}\" does not exist"),
                    ));
                }
            }
        }
        // Objects that depend only on each other go together without
        // CASCADE, as in PostgreSQL; otherwise the drop below refuses.
        let cascade = if cascade {
            self.report_cascade(&roots);
            true
        } else {
            self.cascade_items(&roots).is_empty()
        };
        for root in roots {
            // An object may already have gone with an earlier one (CASCADE).
            match root {
                DropRoot::Table(id) if self.catalog.tables.contains_key(&id) => {
                    self.drop_table(id, cascade)?
                }
                DropRoot::Index(id) if self.catalog.indexes.contains_key(&id) => {
                    let table = self.catalog.indexes.get(&id).map(|ix| ix.table_id);
                    self.with_table_usage(table, |ctx| ctx.drop_index(id))?
                }
                DropRoot::Sequence(id) if self.catalog.sequences.contains_key(&id) => {
                    self.drop_sequence(id, cascade)?
                }
                DropRoot::View(id) if self.catalog.views.contains_key(&id) => {
                    self.drop_view(id, cascade)?
                }
                DropRoot::Schema(n) => self.drop_schema(&n, cascade)?,
                _ => {}
            }
            self.reload()?;
        }
        Ok(tag.into())
    }

    fn drop_schema(&mut self, n: &str, cascade: bool) -> Result<()> {
        let Some(s) = self.catalog.schemas.get(n).cloned() else {
            return Ok(());
        };
        self.require_owner(cat::acl::Object::Schema(&s))?;
        self.drop_schema_unchecked(n, cascade)
    }

    /// Drops schema `n` (and with `cascade` its contents) once the caller
    /// has checked the privileges.
    fn drop_schema_unchecked(&mut self, n: &str, cascade: bool) -> Result<()> {
        let Some(s) = self.catalog.schemas.get(n).cloned() else {
            return Ok(());
        };
        let tables: Vec<u32> = self
            .catalog
            .tables
            .values()
            .filter(|t| t.schema == n)
            .map(|t| t.id)
            .collect();
        let seqs: Vec<u32> = self
            .catalog
            .sequences
            .values()
            .filter(|q| q.schema == n && q.owned_by.is_none() && !q.internal)
            .map(|q| q.id)
            .collect();
        let views: Vec<u32> = self
            .catalog
            .views
            .values()
            .filter(|v| v.schema == n)
            .map(|v| v.id)
            .collect();
        let domains: Vec<u32> = self
            .catalog
            .domains
            .values()
            .filter(|d| d.schema == n)
            .map(|d| d.id)
            .collect();
        let composites: Vec<u32> = self
            .catalog
            .composites
            .values()
            .filter(|t| t.schema == n)
            .map(|t| t.id)
            .collect();
        let empty = tables.is_empty()
            && seqs.is_empty()
            && views.is_empty()
            && domains.is_empty()
            && composites.is_empty();
        if !cascade && !empty {
            return Err(Error::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!("cannot drop schema {n} because other objects depend on it"),
            )
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        for v in views {
            if self.catalog.views.contains_key(&v) {
                self.drop_view(v, true)?;
                self.reload()?;
            }
        }
        for t in tables {
            if self.catalog.tables.contains_key(&t) {
                self.drop_table(t, true)?;
                self.reload()?;
            }
        }
        for q in seqs {
            if self.catalog.sequences.contains_key(&q) {
                self.drop_sequence(q, true)?;
            }
        }
        for d in domains {
            self.drop_domain(d, true, false)?;
            self.reload()?;
        }
        for t in composites {
            self.drop_composite(t, true, false)?;
            self.reload()?;
        }
        cat::delete_object(self.txn, cat::KIND_SCHEMA, s.id);
        cat::bump_version(self.txn);
        self.reload()
    }

    fn drop_table(&mut self, id: u32, cascade: bool) -> Result<()> {
        self.lock_table_exclusive(id)?;
        let t = self.catalog.table(id)?.clone();
        self.drop_dependent_views(id, &format!("table {}", t.name), cascade)?;
        for child in self.catalog.referencing(id) {
            if child.id == id {
                continue;
            }
            let fk = child
                .foreign_keys
                .iter()
                .find(|f| f.ref_table == id)
                .expect("referencing");
            if !cascade {
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot drop table {} because other objects depend on it",
                        t.name
                    ),
                )
                .with_detail(format!(
                    "constraint {} on table {} depends on table {}",
                    fk.name, child.name, t.name
                ))
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            let mut c = (*child).clone();
            c.foreign_keys.retain(|f| f.ref_table != id);
            self.put_table(&c)?;
        }
        self.release_table_usage(id)?;
        self.delete_prefix(keys::table_prefix(id))?;
        cat::stats::delete_stats(self.txn, id);
        for ix in self.catalog.indexes_of(id) {
            cat::delete_object(self.txn, cat::KIND_INDEX, ix.id);
        }
        for s in self
            .catalog
            .sequences
            .values()
            .filter(|s| s.owned_by.map(|o| o.0) == Some(id))
        {
            cat::delete_object(self.txn, cat::KIND_SEQUENCE, s.id);
            self.sequences.forget(s.id);
        }
        if let Some(seq) = t.rowid_seq {
            cat::delete_object(self.txn, cat::KIND_SEQUENCE, seq);
        }
        cat::delete_object(self.txn, cat::KIND_TABLE, id);
        cat::bump_version(self.txn);
        Ok(())
    }

    fn drop_index(&mut self, id: u32) -> Result<()> {
        let ix = self
            .catalog
            .indexes
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::internal("index vanished"))?;
        self.lock_table_exclusive(ix.table_id)?;
        if ix.constraint {
            let t = self.catalog.table(ix.table_id)?;
            return Err(Error::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop index {} because constraint {} on table {} requires it",
                    ix.name, ix.name, t.name
                ),
            )
            .with_hint(format!(
                "You can drop constraint {} on table {} instead.",
                ix.name, t.name
            )));
        }
        self.delete_prefix(index_prefix(ix.table_id, ix.id))?;
        cat::delete_object(self.txn, cat::KIND_INDEX, id);
        cat::bump_version(self.txn);
        Ok(())
    }

    fn drop_sequence(&mut self, id: u32, cascade: bool) -> Result<()> {
        let s = self
            .catalog
            .sequences
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::internal("sequence vanished"))?;
        if let Some((tid, col)) = s.owned_by
            && let Ok(t) = self.catalog.table(tid)
        {
            if !cascade && t.columns.get(col).is_some_and(|c| c.default.is_some()) {
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot drop sequence {} because other objects depend on it",
                        s.name
                    ),
                )
                .with_detail(format!(
                    "default value for column {} of table {} depends on sequence {}",
                    t.columns[col].name, t.name, s.name
                ))
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            let mut t2 = (**t).clone();
            if let Some(c) = t2.columns.get_mut(col) {
                c.default = None;
                c.identity = None;
            }
            self.put_table(&t2)?;
        }
        cat::delete_object(self.txn, cat::KIND_SEQUENCE, id);
        self.txn.delete(keys::sequence_key(id));
        cat::bump_version(self.txn);
        self.sequences.forget(id);
        Ok(())
    }

    /// TRUNCATE [TABLE] t [, ...] [RESTART IDENTITY] [CASCADE].
    pub fn truncate(&mut self, t: &ast::Truncate) -> Result<String> {
        let mut ids = Vec::new();
        for target in &t.table_names {
            let tab = self.binder().table(&target.name)?;
            self.catalog.check_privilege(
                self.current_user,
                cat::acl::Object::Table(&tab),
                cat::acl::TRUNCATE,
            )?;
            ids.push(tab.id);
        }
        let cascade = matches!(t.cascade, Some(ast::CascadeOption::Cascade));
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i];
            for child in self.catalog.referencing(id) {
                if !ids.contains(&child.id) {
                    if cascade {
                        self.catalog.check_privilege(
                            self.current_user,
                            cat::acl::Object::Table(&child),
                            cat::acl::TRUNCATE,
                        )?;
                        self.env.notice(Notice::plain(format!(
                            "truncate cascades to table \"{}\"",
                            child.name
                        )));
                        ids.push(child.id);
                    } else {
                        let parent = self.catalog.table(id)?;
                        return Err(Error::new(
                            SqlState::FEATURE_NOT_SUPPORTED,
                            "cannot truncate a table referenced in a foreign key constraint",
                        )
                        .with_detail(format!(
                            "Table \"{}\" references \"{}\".",
                            child.name, parent.name
                        ))
                        .with_hint(format!(
                            "Truncate table \"{}\" at the same time, or use TRUNCATE ... CASCADE.",
                            child.name
                        )));
                    }
                }
            }
            i += 1;
        }
        let restart = matches!(t.identity, Some(ast::TruncateIdentityOption::Restart));
        self.truncate_ids(&ids, restart)?;
        Ok("TRUNCATE TABLE".into())
    }

    /// Empties tables `ids` (checked by the caller); `restart` resets the
    /// sequences their columns own.
    fn truncate_ids(&mut self, ids: &[u32], restart: bool) -> Result<()> {
        for &id in ids {
            self.lock_table_exclusive(id)?;
            self.release_table_usage(id)?;
            self.delete_prefix(keys::table_prefix(id))?;
            let table = self.catalog.table(id)?;
            if !table.is_temp() && !table.capture_off {
                let record = crate::txn::changes::ChangeRecord {
                    db: table.database,
                    table_id: id,
                    table: table.qualified_name(),
                    op: "truncate".into(),
                    ..Default::default()
                };
                self.txn.capture(&record.encode()?)?;
            }
            if restart {
                let owned: Vec<Arc<SequenceDef>> = self
                    .catalog
                    .sequences
                    .values()
                    .filter(|s| s.owned_by.map(|o| o.0) == Some(id))
                    .cloned()
                    .collect();
                for s in owned {
                    self.sequences.setval(self.engine, &s, s.start, false)?;
                }
            }
        }
        Ok(())
    }
}
