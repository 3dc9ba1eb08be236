//! CREATE DOMAIN and DROP DOMAIN (also DROP TYPE of a domain).

use super::DdlCtx;
use crate::catalog::{self as cat, CheckDef, DomainDef, TypeRef};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::domain::{type_not_found, value_scope};
use crate::sql::binder::{index, split_name};
use crate::sql::commands::{CreateDomain, DomainConstraintKind};
use sqlparser::ast;

impl DdlCtx<'_> {
    pub fn create_domain(&mut self, d: &CreateDomain) -> Result<()> {
        let (schema, name) = split_name(&d.name)?;
        let schema = self.target_schema(schema)?;
        self.require_create_in(&schema)?;
        self.lock_name(&schema, &name)?;
        self.check_type_name(&schema, &name)?;
        let base = match self.binder().resolve_type(&d.data_type)? {
            (t, None) => t,
            (_, Some(_)) => {
                return Err(Error::unsupported("domains over domains are not supported"));
            }
        };
        if let Some(c) = &d.collation {
            index::collation(c, &base)?;
        }
        let default = match &d.default {
            Some(e) => {
                self.check_default(e, &base)?;
                Some(e.to_string())
            }
            None => None,
        };
        let mut def = DomainDef {
            id: 0,
            database: self.catalog.database,
            schema,
            name: name.clone(),
            base: base.clone(),
            not_null: false,
            default,
            checks: Vec::new(),
            owner: self.current_user,
            acl: None,
            array_id: 0,
        };
        let (mut null, mut not_null) = (false, false);
        let scope = value_scope(&base);
        for c in &d.constraints {
            match &c.kind {
                DomainConstraintKind::NotNull => not_null = true,
                DomainConstraintKind::Null => null = true,
                DomainConstraintKind::Check(e) => {
                    self.binder().bind_predicate(e, &scope, "CHECK")?;
                    let name = match &c.name {
                        Some(n) => n.clone(),
                        None => free_check_name(&def, &format!("{name}_check")),
                    };
                    if def.checks.iter().any(|k| k.name == name) {
                        return Err(Error::new(
                            SqlState::DUPLICATE_OBJECT,
                            format!(
                                "constraint \"{name}\" for domain \"{}\" already exists",
                                def.name
                            ),
                        ));
                    }
                    def.checks.push(CheckDef {
                        name,
                        expr: e.to_string(),
                    });
                }
            }
        }
        if null && not_null {
            return Err(Error::syntax("conflicting NULL/NOT NULL constraints"));
        }
        def.not_null = not_null;
        def.id = self.oids.allocate(self.txn)?;
        def.array_id = self.oids.allocate(self.txn)?;
        cat::put_object(self.txn, cat::KIND_DOMAIN, def.id, &def)?;
        cat::bump_version(self.txn);
        self.reload()
    }

    /// DROP DOMAIN / DROP TYPE (whose tag this returns): columns of the
    /// type go with CASCADE (PostgreSQL drops them), else 2BP01. DROP
    /// DOMAIN (`domains_only`) drops only domains.
    pub fn drop_types(
        &mut self,
        names: &[ast::ObjectName],
        if_exists: bool,
        cascade: bool,
        domains_only: bool,
    ) -> Result<String> {
        let mut ids = Vec::new();
        for n in names {
            let (schema, name) = split_name(n)?;
            let (id, owner, tname) =
                match self
                    .catalog
                    .resolve_type_name(schema.as_deref(), &name, self.search_path)
                {
                    Some(TypeRef::Domain(d)) => (d.id, d.owner, d.name.clone()),
                    Some(TypeRef::Composite(_)) if domains_only => {
                        return Err(Error::new(
                            SqlState::WRONG_OBJECT_TYPE,
                            format!("\"{name}\" is not a domain"),
                        ));
                    }
                    Some(TypeRef::Composite(c)) => (c.id, c.owner, c.name.clone()),
                    None if if_exists => {
                        self.env.notice(Notice::plain(format!(
                            "type \"{name}\" does not exist, skipping"
                        )));
                        continue;
                    }
                    None => return Err(type_not_found(&name)),
                };
            if !self
                .catalog
                .has_privileges_of_role(self.current_user, owner)
            {
                return Err(Error::new(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    format!("must be owner of type {tname}"),
                ));
            }
            ids.push(id);
        }
        for id in ids {
            if self.catalog.domains.contains_key(&id) {
                self.drop_domain(id, cascade, true)?;
            } else {
                self.drop_composite(id, cascade, true)?;
            }
            self.reload()?;
        }
        Ok(if domains_only {
            "DROP DOMAIN"
        } else {
            "DROP TYPE"
        }
        .into())
    }

    /// Drops domain `id`; `report`: say what the cascade drops (not when a
    /// DROP SCHEMA has said it already).
    pub(super) fn drop_domain(&mut self, id: u32, cascade: bool, report: bool) -> Result<()> {
        let Some(d) = self.catalog.domains.get(&id).cloned() else {
            return Ok(());
        };
        let deps = self.column_dependents(id, &d.name, true);
        if !deps.is_empty() && !cascade {
            let detail: Vec<String> = deps
                .iter()
                .map(|(what, on)| format!("{what} depends on type {on}"))
                .collect();
            return Err(Error::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop type {} because other objects depend on it",
                    d.name
                ),
            )
            .with_detail(detail.join("\n"))
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        let users: Vec<(u32, String, String)> = self
            .catalog
            .tables
            .values()
            .flat_map(|t| {
                t.columns
                    .iter()
                    .filter(|c| c.domain == Some(id))
                    .map(|c| (t.id, t.name.clone(), c.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if report {
            self.report_dropped(
                &deps
                    .iter()
                    .map(|(what, _)| what.clone())
                    .collect::<Vec<_>>(),
            );
        }
        for (table, _, column) in users {
            self.drop_column_named(table, &column)?;
            self.reload()?;
        }
        cat::delete_object(self.txn, cat::KIND_DOMAIN, id);
        cat::bump_version(self.txn);
        Ok(())
    }
}

/// `base`, or `base1`, `base2`, ... if the domain has a check of that name.
fn free_check_name(d: &DomainDef, base: &str) -> String {
    if !d.checks.iter().any(|c| c.name == base) {
        return base.to_string();
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !d.checks.iter().any(|c| &c.name == n))
        .expect("a free name exists")
}
