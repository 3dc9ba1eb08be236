//! ALTER TABLE: columns, defaults, NOT NULL, constraints and renames.

use super::DdlCtx;
use super::create::{Constraint, table_constraint};
use super::privilege::Target;
use crate::catalog::acl::Object;
use crate::catalog::{self as cat, Relation, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::{ident, split_name};
use crate::sql::executor::index_keys::IndexKeys;
use crate::sql::executor::scan::pk_of_key;
use crate::sql::expr::EvalCtx;
use crate::sql::parser;
use crate::types::Value;
use crate::types::encoding::encode_row;
use sqlparser::ast;
use std::ops::ControlFlow;

/// Renames identifier references `old` -> `new` inside stored SQL expression text.
fn rename_in_expr(text: &str, old: &str, new: &str) -> Result<String> {
    let mut e = parser::parse_expr(text)?;
    let _ = ast::visit_expressions_mut(&mut e, |x| {
        if let ast::Expr::Identifier(i) = x
            && ident(i) == old
        {
            *i = ast::Ident::with_quote('"', new);
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(e.to_string())
}

/// True if stored expression text references column `col`.
fn mentions(text: &str, col: &str) -> bool {
    let Ok(mut e) = parser::parse_expr(text) else {
        return false;
    };
    let mut hit = false;
    let _ = ast::visit_expressions_mut(&mut e, |x| {
        if let ast::Expr::Identifier(i) = x
            && ident(i) == col
        {
            hit = true;
        }
        ControlFlow::<()>::Continue(())
    });
    hit
}

impl DdlCtx<'_> {
    pub fn alter_table(&mut self, at: &ast::AlterTable) -> Result<String> {
        let (schema, n) = split_name(&at.name)?;
        let id = match self
            .catalog
            .resolve(schema.as_deref(), &n, self.search_path)
        {
            Some((_, Relation::Table(id))) if at.operations.iter().any(may_change_bytes) => {
                Some(id)
            }
            _ => None,
        };
        self.with_table_usage(id, |ctx| ctx.alter_table_unaccounted(at))
    }

    fn alter_table_unaccounted(&mut self, at: &ast::AlterTable) -> Result<String> {
        let (schema, n) = split_name(&at.name)?;
        // OWNER TO also applies to views and sequences (ALTER VIEW and
        // ALTER SEQUENCE ... OWNER TO arrive here).
        if let [ast::AlterTableOperation::OwnerTo { new_owner }] = at.operations.as_slice() {
            let target = match self
                .catalog
                .resolve(schema.as_deref(), &n, self.search_path)
            {
                Some((_, Relation::Table(id))) => Target::Table(id),
                Some((_, Relation::View(id))) => Target::View(id),
                Some((_, Relation::Sequence(id))) => Target::Sequence(id),
                Some((_, Relation::Index(_))) => {
                    return Err(Error::new(
                        SqlState::WRONG_OBJECT_TYPE,
                        format!("\"{n}\" is an index"),
                    ));
                }
                None if at.if_exists => return Ok("ALTER TABLE".into()),
                None => return Err(Error::undefined_table(&at.name.to_string())),
            };
            self.lock_target(&target)?;
            self.alter_owner(target, new_owner)?;
            return Ok("ALTER TABLE".into());
        }
        let table = match self.binder().table_by_name(schema.as_deref(), &n) {
            Ok(t) => t,
            Err(e) if at.if_exists && e.code == SqlState::UNDEFINED_TABLE => {
                self.env.notice(Notice::plain(format!(
                    "relation \"{n}\" does not exist, skipping"
                )));
                return Ok("ALTER TABLE".into());
            }
            Err(e) => return Err(e),
        };
        self.require_owner(Object::Table(&table))?;
        self.lock_table_exclusive(table.id)?;
        for op in &at.operations {
            // Views store their query as text, so a column they may read
            // cannot disappear or change its name under them.
            if let Some(v) = self.catalog.views_depending_on(table.id).first()
                && matches!(
                    op,
                    ast::AlterTableOperation::DropColumn { .. }
                        | ast::AlterTableOperation::RenameColumn { .. }
                        | ast::AlterTableOperation::RenameTable { .. }
                )
            {
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot alter table {} because other objects depend on it",
                        table.name
                    ),
                )
                .with_detail(format!("view {} depends on table {}", v.name, table.name))
                .with_hint("Drop the view first, then recreate it after the change."));
            }
            self.alter_one(table.id, op)?;
            self.reload()?;
        }
        Ok("ALTER TABLE".into())
    }

    fn table_now(&self, id: u32) -> Result<TableDef> {
        Ok((**self.catalog.table(id)?).clone())
    }

    fn column_of(&self, t: &TableDef, name: &str) -> Result<usize> {
        t.column_index(name).ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_COLUMN,
                format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    t.name
                ),
            )
        })
    }

    /// Rewrites every row (and its index entries) with `f`.
    fn rewrite_rows(
        &mut self,
        old: &TableDef,
        new: &TableDef,
        f: &mut dyn FnMut(Vec<Value>) -> Result<Vec<Value>>,
    ) -> Result<()> {
        let rows = self.table_rows(old)?;
        let old_ix = self.catalog.indexes_of(old.id);
        let catalog = self.catalog.clone();
        let keys = IndexKeys::new(&catalog);
        let ectx = EvalCtx::new(&[], self.env);
        for (key, row) in rows {
            let pk = pk_of_key(&key).to_vec();
            let nrow = f(row.clone())?;
            for ix in &old_ix {
                if let Some(k) = keys.entry_key(old, ix, &row, &pk, &ectx)? {
                    self.txn.delete(k);
                }
            }
            let mut buf = Vec::new();
            encode_row(&nrow, &mut buf);
            self.txn.put(key.clone(), buf);
            let _ = new;
            let _ = &nrow;
            self.pending_rows.push((pk, nrow));
        }
        Ok(())
    }

    fn alter_one(&mut self, id: u32, op: &ast::AlterTableOperation) -> Result<()> {
        use ast::AlterTableOperation as Op;
        let mut t = self.table_now(id)?;
        match op {
            Op::AddColumn {
                if_not_exists,
                column_def,
                ..
            } => {
                let name = ident(&column_def.name);
                if t.column_index(&name).is_some() {
                    if *if_not_exists {
                        self.env.notice(
                            Notice::plain(format!(
                                "column \"{name}\" of relation \"{}\" already exists, skipping",
                                t.name
                            ))
                            .with_code(SqlState::DUPLICATE_COLUMN),
                        );
                        return Ok(());
                    }
                    return Err(Error::new(
                        SqlState::DUPLICATE_COLUMN,
                        format!(
                            "column \"{name}\" of relation \"{}\" already exists",
                            t.name
                        ),
                    ));
                }
                let mut cons = Vec::new();
                let mut seqs = Vec::new();
                let col = self.column_def(&t.name, column_def, &mut cons, &mut seqs)?;
                t.columns.push(col);
                let ci = t.columns.len() - 1;
                let schema = t.schema.clone();
                for (_, ty, _, opts) in seqs {
                    let d = self.owned_sequence(&schema, &t, ci, &ty, &opts)?;
                    t.columns[ci].default = Some(d);
                }
                self.put_table(&t)?;
                self.reload()?;
                // Fill existing rows with the default (evaluated per row, as PostgreSQL does for volatile defaults).
                let old = self.table_now(id)?;
                let default = self.binder().column_default(&old, ci)?;
                let nullable = old.columns[ci].nullable;
                let env = self.env;
                let tname = old.name.clone();
                let cname = old.columns[ci].name.clone();
                let ty = old.columns[ci].ty.clone();
                self.pending_rows.clear();
                self.rewrite_rows(&old, &old, &mut |mut row| {
                    let ectx = EvalCtx::new(&[], env);
                    let v = default.eval(&[], &ectx)?;
                    let v = if v.is_null() { v } else { v.coerce_to(&ty)? };
                    if v.is_null() && !nullable {
                        return Err(Error::new(
                            SqlState::NOT_NULL_VIOLATION,
                            format!(
                                "column \"{cname}\" of relation \"{tname}\" contains null values"
                            ),
                        ));
                    }
                    row.truncate(ci);
                    row.push(v);
                    Ok(row)
                })?;
                self.reindex_pending(&old)?;
                for c in cons {
                    if let Constraint::Primary(..) = c {
                        return Err(Error::unsupported(
                            "adding a primary key column is not supported yet",
                        ));
                    }
                    self.add_constraint(id, c, false)?;
                }
            }
            Op::DropColumn {
                column_names,
                if_exists,
                drop_behavior,
                ..
            } => {
                for cname in column_names {
                    let t = self.table_now(id)?;
                    let name = ident(cname);
                    let Some(ci) = t.column_index(&name) else {
                        if *if_exists {
                            self.env.notice(Notice::plain(format!(
                                "column \"{name}\" of relation \"{}\" does not exist, skipping",
                                t.name
                            )));
                            continue;
                        }
                        return Err(Error::undefined_column(&name));
                    };
                    self.drop_column(
                        t,
                        ci,
                        matches!(drop_behavior, Some(ast::DropBehavior::Cascade)),
                    )?;
                    self.reload()?;
                }
            }
            Op::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let old = ident(old_column_name);
                let new = ident(new_column_name);
                let ci = self.column_of(&t, &old)?;
                if t.column_index(&new).is_some() {
                    return Err(Error::new(
                        SqlState::DUPLICATE_COLUMN,
                        format!("column \"{new}\" of relation \"{}\" already exists", t.name),
                    ));
                }
                t.columns[ci].name = new.clone();
                for c in &mut t.checks {
                    c.expr = rename_in_expr(&c.expr, &old, &new)?;
                }
                self.put_table(&t)?;
                for ix in self.catalog.indexes_of(t.id) {
                    if ix.is_plain() || !ix.columns.contains(&ci) {
                        continue;
                    }
                    let mut ix2 = (*ix).clone();
                    for k in &mut ix2.keys {
                        if let Some(e) = &k.expr {
                            k.expr = Some(rename_in_expr(e, &old, &new)?);
                        }
                    }
                    if let Some(p) = &ix2.predicate {
                        ix2.predicate = Some(rename_in_expr(p, &old, &new)?);
                    }
                    self.put_index(&ix2)?;
                }
            }
            Op::RenameTable { table_name } => {
                let (ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n)) =
                    table_name;
                let (_, new) = split_name(n)?;
                if self.catalog.relation_exists(&t.schema, &new) {
                    return Err(Error::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{new}\" already exists"),
                    ));
                }
                t.name = new;
                self.put_table(&t)?;
            }
            Op::AlterColumn { column_name, op } => {
                let name = ident(column_name);
                let ci = self.column_of(&t, &name)?;
                match op {
                    ast::AlterColumnOperation::SetNotNull => {
                        for (_, row) in self.table_rows(&t)? {
                            if row[ci].is_null() {
                                return Err(Error::new(
                                    SqlState::NOT_NULL_VIOLATION,
                                    format!(
                                        "column \"{name}\" of relation \"{}\" contains null values",
                                        t.name
                                    ),
                                ));
                            }
                        }
                        t.columns[ci].nullable = false;
                    }
                    ast::AlterColumnOperation::DropNotNull => {
                        if t.primary_key.contains(&ci) {
                            return Err(Error::new(
                                SqlState::INVALID_TABLE_DEFINITION,
                                format!("column \"{name}\" is in a primary key"),
                            ));
                        }
                        if t.columns[ci].identity.is_some() {
                            return Err(Error::new(
                                SqlState::INVALID_TABLE_DEFINITION,
                                format!(
                                    "column \"{name}\" of relation \"{}\" is an identity column",
                                    t.name
                                ),
                            ));
                        }
                        t.columns[ci].nullable = true;
                    }
                    ast::AlterColumnOperation::SetDefault { value } => {
                        let b = self.binder();
                        let (x, ty) = b.bind_expr(value, &crate::sql::binder::Scope::default())?;
                        let _ = b.coerce(x, &ty, &t.columns[ci].ty)?;
                        t.columns[ci].default = Some(value.to_string());
                    }
                    ast::AlterColumnOperation::DropDefault => {
                        t.columns[ci].default = None;
                    }
                    other => {
                        return Err(Error::unsupported(format!(
                            "ALTER COLUMN {other} is not supported yet"
                        )));
                    }
                }
                self.put_table(&t)?;
            }
            Op::AddConstraint { constraint, .. } => {
                let c = table_constraint(constraint)?;
                self.add_constraint(id, c, false)?;
            }
            Op::DropConstraint {
                if_exists, name, ..
            } => {
                let n = ident(name);
                if let Some(pos) = t.checks.iter().position(|c| c.name == n) {
                    t.checks.remove(pos);
                    self.put_table(&t)?;
                } else if let Some(pos) = t.foreign_keys.iter().position(|c| c.name == n) {
                    t.foreign_keys.remove(pos);
                    self.put_table(&t)?;
                } else if let Some(ix) = self
                    .catalog
                    .indexes_of(id)
                    .into_iter()
                    .find(|i| i.name == n && i.constraint)
                {
                    self.delete_prefix(crate::catalog::keys::index_prefix(id, ix.id))?;
                    cat::delete_object(self.txn, cat::KIND_INDEX, ix.id);
                    cat::bump_version(self.txn);
                } else if t.pk_name.as_deref() == Some(n.as_str()) {
                    return Err(Error::unsupported(
                        "dropping a primary key is not supported yet",
                    ));
                } else if !*if_exists {
                    return Err(Error::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!(
                            "constraint \"{n}\" of relation \"{}\" does not exist",
                            t.name
                        ),
                    ));
                } else {
                    self.env.notice(Notice::plain(format!(
                        "constraint \"{n}\" of relation \"{}\" does not exist, skipping",
                        t.name
                    )));
                }
            }
            Op::EnableRowLevelSecurity => self.set_row_security(&mut t, Some(true), None)?,
            Op::DisableRowLevelSecurity => self.set_row_security(&mut t, Some(false), None)?,
            Op::ForceRowLevelSecurity => self.set_row_security(&mut t, None, Some(true))?,
            Op::NoForceRowLevelSecurity => self.set_row_security(&mut t, None, Some(false))?,
            other => {
                return Err(Error::unsupported(format!(
                    "ALTER TABLE {other} is not supported yet"
                )));
            }
        }
        Ok(())
    }

    /// Writes index entries for rows rewritten by [`Self::rewrite_rows`].
    fn reindex_pending(&mut self, t: &TableDef) -> Result<()> {
        let rows = std::mem::take(&mut self.pending_rows);
        let catalog = self.catalog.clone();
        let keys = IndexKeys::new(&catalog);
        let ectx = EvalCtx::new(&[], self.env);
        for ix in catalog.index_iter(t.id) {
            for (pk, row) in &rows {
                if let Some(k) = keys.entry_key(t, ix, row, pk, &ectx)? {
                    self.txn.put(k, pk.clone());
                }
            }
        }
        Ok(())
    }

    /// Drops column `column` of table `table` with whatever depends on it
    /// (a dropped domain's columns).
    pub(super) fn drop_column_named(&mut self, table: u32, column: &str) -> Result<()> {
        self.lock_table_exclusive(table)?;
        let t = self.table_now(table)?;
        let ci = self.column_of(&t, column)?;
        self.drop_column(t, ci, true)
    }

    fn drop_column(&mut self, t: TableDef, ci: usize, cascade: bool) -> Result<()> {
        let name = t.columns[ci].name.clone();
        if t.primary_key.contains(&ci) {
            return Err(Error::unsupported(format!(
                "cannot drop column \"{name}\" because it is part of the primary key"
            )));
        }
        for child in self.catalog.referencing(t.id) {
            for fk in child
                .foreign_keys
                .iter()
                .filter(|f| f.ref_table == t.id && f.ref_columns.contains(&ci))
            {
                if !cascade {
                    return Err(Error::new(
                        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!("cannot drop column {name} of table {} because other objects depend on it", t.name),
                    )
                    .with_detail(format!("constraint {} on table {} depends on column {name} of table {}", fk.name, child.name, t.name))
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
            }
            if cascade && child.id != t.id {
                let mut c = (*child).clone();
                c.foreign_keys
                    .retain(|f| !(f.ref_table == t.id && f.ref_columns.contains(&ci)));
                self.put_table(&c)?;
            }
        }
        // Drop indexes using the column, then rewrite rows without it.
        for ix in self.catalog.indexes_of(t.id) {
            self.delete_prefix(crate::catalog::keys::index_prefix(t.id, ix.id))?;
            if ix.columns.contains(&ci) {
                cat::delete_object(self.txn, cat::KIND_INDEX, ix.id);
            } else {
                let shift = |c: usize| if c > ci { c - 1 } else { c };
                let mut ix2 = (*ix).clone();
                ix2.columns = ix2.columns.iter().map(|&c| shift(c)).collect();
                for k in &mut ix2.keys {
                    k.column = k.column.map(shift);
                }
                self.put_index(&ix2)?;
            }
        }
        let shift = |v: &Vec<usize>| {
            v.iter()
                .map(|&c| if c > ci { c - 1 } else { c })
                .collect::<Vec<_>>()
        };
        let mut nt = t.clone();
        nt.columns.remove(ci);
        nt.primary_key = shift(&t.primary_key);
        nt.checks.retain(|c| !mentions(&c.expr, &name));
        nt.foreign_keys.retain(|f| !f.columns.contains(&ci));
        for f in &mut nt.foreign_keys {
            f.columns = shift(&f.columns);
            if f.ref_table == t.id {
                f.ref_columns = shift(&f.ref_columns);
            }
        }
        for s in self
            .catalog
            .sequences
            .values()
            .filter(|s| s.owned_by == Some((t.id, ci)))
        {
            cat::delete_object(self.txn, cat::KIND_SEQUENCE, s.id);
        }
        let moved: Vec<_> = self
            .catalog
            .sequences
            .values()
            .filter(|s| matches!(s.owned_by, Some((tid, c)) if tid == t.id && c > ci))
            .cloned()
            .collect();
        for s in moved {
            let mut s2 = (*s).clone();
            s2.owned_by = s2.owned_by.map(|(tid, c)| (tid, c - 1));
            self.put_sequence(&s2)?;
        }
        self.put_table(&nt)?;
        self.pending_rows.clear();
        self.rewrite_rows(&t, &nt, &mut |mut row| {
            row.remove(ci);
            Ok(row)
        })?;
        self.reload()?;
        self.reindex_pending(&nt)
    }
}

/// Whether an ALTER TABLE operation may change the bytes of the table's
/// rows or index entries (which a tenant-scoped table then recounts):
/// everything but renames, owners, defaults, NOT NULL and row security.
fn may_change_bytes(op: &ast::AlterTableOperation) -> bool {
    use ast::AlterColumnOperation as C;
    use ast::AlterTableOperation as Op;
    !matches!(
        op,
        Op::RenameColumn { .. }
            | Op::RenameTable { .. }
            | Op::OwnerTo { .. }
            | Op::EnableRowLevelSecurity
            | Op::DisableRowLevelSecurity
            | Op::ForceRowLevelSecurity
            | Op::NoForceRowLevelSecurity
            | Op::AlterColumn {
                op: C::SetDefault { .. } | C::DropDefault | C::SetNotNull | C::DropNotNull,
                ..
            }
    )
}
