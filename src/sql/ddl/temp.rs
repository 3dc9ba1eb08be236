//! Temporary objects: the session's temporary schema, where temporary
//! tables, views and sequences are created, and what happens to them at
//! commit and when the session ends.
//!
//! A session's temporary objects live in its own schema `pg_temp_<n>`
//! ([`DdlCtx::temp_schema`], `n` from the session registry), an ordinary
//! catalog schema owned by the bootstrap superuser and created by the
//! session's first temporary object. The session puts it first on its
//! search path; other sessions never have it on theirs, and the binder
//! refuses their qualified references to it. Data and catalog entries go
//! through the transaction like any other, so a rolled-back CREATE TEMP
//! TABLE never existed. The schema and everything in it are dropped when the
//! session ends, and any left behind by a crash are dropped when the data
//! directory is opened ([`DdlCtx::drop_temp_schema`]).

use super::DdlCtx;
use crate::catalog::{self as cat, OnCommit, SchemaDef, is_temp_schema};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::split_name;
use sqlparser::ast;

/// PostgreSQL's error for a temporary object in an ordinary schema.
fn temp_in_permanent_schema() -> Error {
    Error::new(
        SqlState::INVALID_TABLE_DEFINITION,
        "cannot create temporary relation in non-temporary schema",
    )
}

impl DdlCtx<'_> {
    /// The schema and name a new relation `name` goes into, and whether it is
    /// temporary: `temporary` (CREATE TEMP ...) or a `pg_temp` qualifier put
    /// it in the session's temporary schema, created if need be; otherwise
    /// the named schema or the first existing one on the search path.
    pub(super) fn creation_target(
        &mut self,
        name: &ast::ObjectName,
        temporary: bool,
    ) -> Result<(String, String, bool)> {
        let (schema, n) = split_name(name)?;
        let temp = match schema.as_deref() {
            Some("pg_temp") => true,
            Some(s) if s == self.temp_schema => true,
            Some(_) if temporary => return Err(temp_in_permanent_schema()),
            _ => temporary,
        };
        if temp {
            let schema = self.ensure_temp_schema()?;
            return Ok((schema, n, true));
        }
        let schema = self.target_schema(schema)?;
        self.require_create_in(&schema)?;
        Ok((schema, n, false))
    }

    /// Creates the session's temporary schema unless it exists.
    fn ensure_temp_schema(&mut self) -> Result<String> {
        let name = self.temp_schema.to_string();
        if self.catalog.schemas.contains_key(&name) {
            return Ok(name);
        }
        let owner = self
            .catalog
            .bootstrap_role()
            .ok_or_else(|| Error::internal("no bootstrap superuser"))?;
        let id = self.oids.allocate(self.txn)?;
        cat::put_object(
            self.txn,
            cat::KIND_SCHEMA,
            id,
            &SchemaDef {
                id,
                database: self.catalog.database,
                name: name.clone(),
                owner,
                acl: None,
            },
        )?;
        cat::bump_version(self.txn);
        self.reload()?;
        Ok(name)
    }

    /// Drops temporary schema `name` and everything in it, without
    /// privilege checks or notices: the end of its session, or recovery
    /// from a crash.
    pub fn drop_temp_schema(&mut self, name: &str) -> Result<()> {
        if !is_temp_schema(name) || !self.catalog.schemas.contains_key(name) {
            return Ok(());
        }
        self.drop_schema_unchecked(name, true)
    }

    /// Runs the ON COMMIT actions of the session's temporary tables, just
    /// before its transaction commits: `ON COMMIT DROP` tables (which exist
    /// only inside the transaction that created them) are dropped, `ON
    /// COMMIT DELETE ROWS` tables emptied.
    pub fn on_commit_actions(&mut self) -> Result<()> {
        let actions: Vec<(u32, OnCommit)> = self
            .catalog
            .tables
            .values()
            .filter(|t| t.schema == self.temp_schema)
            .filter_map(|t| t.on_commit.map(|a| (t.id, a)))
            .collect();
        for (id, action) in actions {
            if !self.catalog.tables.contains_key(&id) {
                continue;
            }
            match action {
                OnCommit::Drop => self.drop_table(id, true)?,
                OnCommit::DeleteRows => self.truncate_ids(&[id], false)?,
            }
            self.reload()?;
        }
        Ok(())
    }

    /// Whether relation `id` (table or view) is temporary.
    pub(super) fn is_temp_relation(&self, id: u32) -> bool {
        if let Some(t) = self.catalog.tables.get(&id) {
            return t.is_temp();
        }
        self.catalog
            .views
            .get(&id)
            .is_some_and(|v| is_temp_schema(&v.schema))
    }

    /// The schema and name of a new view reading relations `reads`. A view
    /// over temporary relations is itself temporary, as in PostgreSQL (which
    /// says so in a notice).
    pub(super) fn view_target(
        &mut self,
        cv: &ast::CreateView,
        reads: &[u32],
    ) -> Result<(String, String)> {
        let reads_temp = reads.iter().any(|&id| self.is_temp_relation(id));
        let (schema, name) = split_name(&cv.name)?;
        if reads_temp
            && !cv.temporary
            && !schema
                .as_deref()
                .is_some_and(|s| s == "pg_temp" || s == self.temp_schema)
        {
            if schema.is_some() {
                return Err(temp_in_permanent_schema());
            }
            self.env.notice(Notice::plain(format!(
                "view \"{name}\" will be a temporary view"
            )));
            let (s, n, _) = self.creation_target(&cv.name, true)?;
            return Ok((s, n));
        }
        let (s, n, _) = self.creation_target(&cv.name, cv.temporary)?;
        Ok((s, n))
    }

    /// A foreign key may not mix temporary and permanent tables.
    pub(super) fn check_fk_persistence(&self, table_temp: bool, ref_table: u32) -> Result<()> {
        let ref_temp = self.is_temp_relation(ref_table);
        match (table_temp, ref_temp) {
            (false, true) => Err(Error::new(
                SqlState::INVALID_TABLE_DEFINITION,
                "constraints on permanent tables may reference only permanent tables",
            )),
            (true, false) => Err(Error::new(
                SqlState::INVALID_TABLE_DEFINITION,
                "constraints on temporary tables may reference only temporary tables",
            )),
            _ => Ok(()),
        }
    }

    /// The ON COMMIT clause of CREATE TABLE, which only temporary tables take.
    pub(super) fn on_commit_of(
        &self,
        on_commit: Option<&ast::OnCommit>,
        temp: bool,
    ) -> Result<Option<OnCommit>> {
        let action = match on_commit {
            None | Some(ast::OnCommit::PreserveRows) => None,
            Some(ast::OnCommit::DeleteRows) => Some(OnCommit::DeleteRows),
            Some(ast::OnCommit::Drop) => Some(OnCommit::Drop),
        };
        if on_commit.is_some() && !temp {
            return Err(Error::new(
                SqlState::INVALID_TABLE_DEFINITION,
                "ON COMMIT can only be used on temporary tables",
            ));
        }
        Ok(action)
    }
}
