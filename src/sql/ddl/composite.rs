//! CREATE TYPE ... AS (...) and dropping composite types (DROP TYPE, and
//! with their schema).

use super::DdlCtx;
use crate::catalog::{self as cat, CompositeDef, CompositeField};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::{ident, index, split_name};
use crate::types::DataType;
use sqlparser::ast;

/// Whether type `ty` is, or is an array of, user-defined type `id`.
pub fn mentions_type(ty: &DataType, id: u32) -> bool {
    match ty {
        DataType::Composite(c) => *c == id,
        DataType::Array(e) => mentions_type(e, id),
        _ => false,
    }
}

impl DdlCtx<'_> {
    /// A new type's name must not be taken by a type, or by a relation
    /// (whose row type has its name in PostgreSQL).
    pub(super) fn check_type_name(&self, schema: &str, name: &str) -> Result<()> {
        if self.catalog.type_exists(schema, name) || self.catalog.relation_exists(schema, name) {
            return Err(Error::new(
                SqlState::DUPLICATE_OBJECT,
                format!("type \"{name}\" already exists"),
            ));
        }
        Ok(())
    }

    /// `CREATE TYPE name AS (field type [COLLATE c], ...)`.
    pub fn create_type(
        &mut self,
        name: &ast::ObjectName,
        representation: Option<&ast::UserDefinedTypeRepresentation>,
    ) -> Result<String> {
        let attributes = match representation {
            Some(ast::UserDefinedTypeRepresentation::Composite { attributes }) => attributes,
            Some(ast::UserDefinedTypeRepresentation::Enum { .. }) => {
                return Err(Error::unsupported("enum types are not supported"));
            }
            Some(_) => {
                return Err(Error::unsupported(
                    "only composite types (CREATE TYPE name AS (...)) are supported",
                ));
            }
            None => return Err(Error::unsupported("shell types are not supported")),
        };
        let (schema, name) = split_name(name)?;
        let schema = self.target_schema(schema)?;
        self.require_create_in(&schema)?;
        self.lock_name(&schema, &name)?;
        self.check_type_name(&schema, &name)?;
        let mut fields: Vec<CompositeField> = Vec::with_capacity(attributes.len());
        for a in attributes {
            let fname = ident(&a.name);
            if fields.iter().any(|f| f.name == fname) {
                return Err(Error::new(
                    SqlState::DUPLICATE_COLUMN,
                    format!("column \"{fname}\" specified more than once"),
                ));
            }
            let ty = match self.binder().resolve_type(&a.data_type)? {
                (t, None) => t,
                (_, Some(_)) => {
                    return Err(Error::unsupported(
                        "fields of domain types in composite types are not supported",
                    ));
                }
            };
            if let Some(c) = &a.collation {
                index::collation(c, &ty)?;
            }
            fields.push(CompositeField { name: fname, ty });
        }
        let def = CompositeDef {
            id: self.oids.allocate(self.txn)?,
            database: self.catalog.database,
            schema,
            name,
            fields,
            owner: self.current_user,
            array_id: self.oids.allocate(self.txn)?,
        };
        cat::put_object(self.txn, cat::KIND_COMPOSITE, def.id, &def)?;
        cat::bump_version(self.txn);
        self.reload()?;
        Ok("CREATE TYPE".into())
    }

    /// The columns of type `id` (named `name`; a domain when `domain`) as
    /// PostgreSQL lists them: what depends, and on which type (those of
    /// the type's array type first), in the order they were created.
    pub(super) fn column_dependents(
        &self,
        id: u32,
        name: &str,
        domain: bool,
    ) -> Vec<(String, String)> {
        let mut of_array = Vec::new();
        let mut direct = Vec::new();
        for t in self.catalog.tables.values() {
            for c in &t.columns {
                let array = if domain {
                    if c.domain != Some(id) {
                        continue;
                    }
                    self.catalog
                        .domains
                        .get(&id)
                        .is_some_and(|d| crate::sql::binder::domain::is_array_of_domain(&c.ty, d))
                } else {
                    if c.domain.is_some() || !mentions_type(&c.ty, id) {
                        continue;
                    }
                    matches!(c.ty, DataType::Array(_))
                };
                let what = format!("column {} of table {}", c.name, t.name);
                if array {
                    of_array.push((t.id, what, format!("{name}[]")));
                } else {
                    direct.push((t.id, what, name.to_string()));
                }
            }
        }
        of_array
            .into_iter()
            .chain(direct)
            .map(|(_, what, on)| (what, on))
            .collect()
    }

    /// Drops composite type `id`; with `cascade`, the domains over it and
    /// the columns of it go too (fields of other composite types of it
    /// cannot: 0A000). `report`: say what the cascade drops.
    pub(super) fn drop_composite(&mut self, id: u32, cascade: bool, report: bool) -> Result<()> {
        let Some(t) = self.catalog.composites.get(&id).cloned() else {
            return Ok(());
        };
        if let Some((other, f)) = self.catalog.composites.values().find_map(|o| {
            o.fields
                .iter()
                .find(|f| o.id != id && mentions_type(&f.ty, id))
                .map(|f| (o.name.clone(), f.name.clone()))
        }) {
            if !cascade {
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot drop type {} because other objects depend on it",
                        t.name
                    ),
                )
                .with_detail(format!(
                    "column {f} of composite type {other} depends on type {}",
                    t.name
                ))
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            return Err(Error::unsupported(format!(
                "dropping column {f} of composite type {other} is not supported"
            )));
        }
        // What depends (and on which type): columns of the type and of its
        // array type, domains over it, then the columns of those domains.
        let mut deps = self.column_dependents(id, &t.name, false);
        let mut domains: Vec<(u32, String)> = self
            .catalog
            .domains
            .values()
            .filter(|d| mentions_type(&d.base, id))
            .map(|d| (d.id, d.name.clone()))
            .collect();
        domains.sort();
        let mut all = Vec::new();
        for (d, dname) in &domains {
            all.push((format!("type {dname}"), t.name.clone()));
            all.extend(self.column_dependents(*d, dname, true));
        }
        deps.extend(all);
        if !deps.is_empty() && !cascade {
            let detail: Vec<String> = deps
                .iter()
                .map(|(what, on)| format!("{what} depends on type {on}"))
                .collect();
            return Err(Error::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop type {} because other objects depend on it",
                    t.name
                ),
            )
            .with_detail(detail.join("\n"))
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        if report {
            self.report_dropped(
                &deps
                    .iter()
                    .map(|(what, _)| what.clone())
                    .collect::<Vec<_>>(),
            );
        }
        for (d, _) in domains {
            self.drop_domain(d, true, false)?;
            self.reload()?;
        }
        let columns: Vec<(u32, String)> = self
            .catalog
            .tables
            .values()
            .flat_map(|tab| {
                tab.columns
                    .iter()
                    .filter(|c| c.domain.is_none() && mentions_type(&c.ty, id))
                    .map(|c| (tab.id, c.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (table, column) in columns {
            self.drop_column_named(table, &column)?;
            self.reload()?;
        }
        cat::delete_object(self.txn, cat::KIND_COMPOSITE, id);
        cat::bump_version(self.txn);
        Ok(())
    }
}
