//! `DROP OWNED BY` and `REASSIGN OWNED BY`: what roles own in the current
//! database, dropped or given to another role, as in PostgreSQL (the usual
//! way to empty a role before `DROP ROLE`).
//!
//! DROP OWNED drops the roles' tables, views, sequences, functions, types
//! and schemas, revokes every privilege granted to them (and the grants they
//! made), and takes them out of the roles of policies, dropping a policy
//! left with no role. Without CASCADE an object that something not being
//! dropped depends on stops the statement (2BP01). REASSIGN OWNED makes the
//! new role the owner of those objects and of the roles' databases.

use super::DdlCtx;
use super::privilege::{Target, change_owner_in_acl};
use crate::catalog::acl::{AclItem, Object};
use crate::catalog::{self as cat};
use crate::error::{Error, Result, SqlState};
use crate::sql::commands::RoleSpec;

/// An object some of the roles own, in the order DROP OWNED drops them
/// (dependents before what they depend on).
#[derive(Clone, Debug)]
enum Owned {
    View(u32),
    Table(u32),
    Sequence(u32),
    Function(u32),
    Domain(u32),
    Composite(u32),
    Schema(String),
}

/// Temporary schemas belong to their sessions, which drop them.
fn is_temp_schema(schema: &str) -> bool {
    schema.starts_with("pg_temp") || schema.starts_with("pg_toast_temp")
}

impl DdlCtx<'_> {
    /// The roles of a `BY` list, which the current user must have the
    /// privileges of (`what`: PostgreSQL's "drop" or "reassign").
    fn owned_by_roles(&self, specs: &[RoleSpec], what: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for spec in specs {
            let id = self.role_of_spec(spec)?;
            if !self.catalog.has_privileges_of_role(self.current_user, id) {
                return Err(Error::new(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied to {what} objects"),
                ));
            }
            if self.catalog.bootstrap_role() == Some(id) {
                let name = &self.catalog.role(id)?.name;
                let verb = if what == "drop" {
                    "drop objects owned by"
                } else {
                    "reassign ownership of objects owned by"
                };
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot {verb} role {name} because they are required by the database system"
                    ),
                ));
            }
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn role_of_spec(&self, spec: &RoleSpec) -> Result<u32> {
        Ok(match spec {
            RoleSpec::Name(n) => self.catalog.role_named(n)?.id,
            RoleSpec::CurrentUser => self.current_user,
            RoleSpec::SessionUser => self.session_user,
        })
    }

    /// What `roles` own in the current database, in drop order.
    fn owned_objects(&self, roles: &[u32]) -> Vec<Owned> {
        let c = &self.catalog;
        let mine = |owner: u32, schema: &str| roles.contains(&owner) && !is_temp_schema(schema);
        let mut out = Vec::new();
        // Later objects may depend on earlier ones: newest first.
        let mut views: Vec<u32> = c
            .views
            .values()
            .filter(|v| mine(v.owner, &v.schema))
            .map(|v| v.id)
            .collect();
        views.sort_unstable_by(|a, b| b.cmp(a));
        out.extend(views.into_iter().map(Owned::View));
        let mut tables: Vec<u32> = c
            .tables
            .values()
            .filter(|t| mine(t.owner, &t.schema))
            .map(|t| t.id)
            .collect();
        tables.sort_unstable_by(|a, b| b.cmp(a));
        out.extend(tables.into_iter().map(Owned::Table));
        // A table's own sequences go with it.
        out.extend(
            c.sequences
                .values()
                .filter(|s| mine(s.owner, &s.schema) && !s.internal && s.owned_by.is_none())
                .map(|s| Owned::Sequence(s.id)),
        );
        out.extend(
            c.functions
                .values()
                .filter(|f| mine(f.owner, &f.schema))
                .map(|f| Owned::Function(f.id)),
        );
        out.extend(
            c.domains
                .values()
                .filter(|d| mine(d.owner, &d.schema))
                .map(|d| Owned::Domain(d.id)),
        );
        out.extend(
            c.composites
                .values()
                .filter(|t| mine(t.owner, &t.schema))
                .map(|t| Owned::Composite(t.id)),
        );
        out.extend(
            c.schemas
                .values()
                .filter(|s| mine(s.owner, &s.name))
                .map(|s| Owned::Schema(s.name.clone())),
        );
        out
    }

    /// Every object of the current database that has an owner and a
    /// privilege list (tables, views, sequences, functions, schemas).
    fn acl_targets(&self) -> Vec<Target> {
        let c = &self.catalog;
        c.tables
            .keys()
            .map(|&id| Target::Table(id))
            .chain(c.views.keys().map(|&id| Target::View(id)))
            .chain(c.sequences.keys().map(|&id| Target::Sequence(id)))
            .chain(c.functions.keys().map(|&id| Target::Function(id)))
            .chain(c.schemas.keys().map(|n| Target::Schema(n.clone())))
            .collect()
    }

    /// Whether `o` is still in the catalog (a cascade may have dropped it).
    fn still_exists(&self, o: &Owned) -> bool {
        let c = &self.catalog;
        match o {
            Owned::View(id) => c.views.contains_key(id),
            Owned::Table(id) => c.tables.contains_key(id),
            Owned::Sequence(id) => c.sequences.contains_key(id),
            Owned::Function(id) => c.functions.contains_key(id),
            Owned::Domain(id) => c.domains.contains_key(id),
            Owned::Composite(id) => c.composites.contains_key(id),
            Owned::Schema(n) => c.schemas.contains_key(n),
        }
    }

    fn drop_owned_object(&mut self, o: &Owned, cascade: bool) -> Result<()> {
        match o {
            Owned::View(id) => self.drop_view(*id, cascade)?,
            Owned::Table(id) => self.drop_table(*id, cascade)?,
            Owned::Sequence(id) => self.drop_sequence(*id, cascade)?,
            Owned::Function(id) => {
                cat::delete_object(self.txn, cat::KIND_FUNCTION, *id);
                cat::bump_version(self.txn);
            }
            Owned::Domain(id) => self.drop_domain(*id, cascade, false)?,
            Owned::Composite(id) => self.drop_composite(*id, cascade, false)?,
            Owned::Schema(n) => self.drop_schema_unchecked(n, cascade)?,
        }
        self.reload()
    }

    /// `DROP OWNED BY roles [CASCADE]`.
    pub fn drop_owned(&mut self, specs: &[RoleSpec], cascade: bool) -> Result<()> {
        let roles = self.owned_by_roles(specs, "drop")?;
        self.remove_from_policies(&roles)?;
        self.revoke_all_from(&roles)?;
        let mut pending = self.owned_objects(&roles);
        for o in &pending {
            if let Owned::Table(id) = o {
                self.lock_table_exclusive(*id)?;
            }
        }
        // Without CASCADE, an object others depend on may become droppable
        // once the roles' own dependents are gone: retry while that helps.
        loop {
            let mut blocked = Vec::new();
            let mut last = None;
            let before = pending.len();
            for o in pending {
                if !self.still_exists(&o) {
                    continue;
                }
                match self.drop_owned_object(&o, cascade) {
                    Ok(()) => {}
                    Err(e) if !cascade && e.code == SqlState::DEPENDENT_OBJECTS_STILL_EXIST => {
                        blocked.push(o);
                        last = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            match last {
                None => return Ok(()),
                Some(e) if blocked.len() == before => {
                    let mut err = Error::new(
                        SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                        "cannot drop desired object(s) because other objects depend on them",
                    )
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too.");
                    err.detail = e.detail;
                    return Err(err);
                }
                Some(_) => pending = blocked,
            }
        }
    }

    /// Takes `roles` out of the roles every policy applies to; a policy
    /// left with none is dropped.
    fn remove_from_policies(&mut self, roles: &[u32]) -> Result<()> {
        let tables: Vec<u32> = self
            .catalog
            .tables
            .values()
            .filter(|t| {
                t.rls
                    .policies
                    .iter()
                    .any(|p| p.roles.iter().any(|r| roles.contains(r)))
            })
            .map(|t| t.id)
            .collect();
        for id in tables {
            self.lock_table_exclusive(id)?;
            let mut t = (**self.catalog.table(id)?).clone();
            for p in &mut t.rls.policies {
                p.roles.retain(|r| !roles.contains(r));
            }
            // Policies that applied only to these roles go (PUBLIC is an
            // entry of its own, so no other policy is left empty).
            t.rls.policies.retain(|p| !p.roles.is_empty());
            self.put_table(&t)?;
        }
        self.reload()
    }

    /// Revokes every privilege granted to `roles`, and every grant they
    /// made, on the objects of the current database.
    fn revoke_all_from(&mut self, roles: &[u32]) -> Result<()> {
        let involved = |acl: Option<&[AclItem]>| {
            acl.is_some_and(|a| {
                a.iter()
                    .any(|i| roles.contains(&i.grantee) || roles.contains(&i.grantor))
            })
        };
        let targets: Vec<Target> = self
            .acl_targets()
            .into_iter()
            .filter(|t| self.target_object(t).is_ok_and(|o| involved(o.acl())))
            .collect();
        for t in targets {
            if let Target::Table(id) = t {
                self.lock_table_exclusive(id)?;
            }
            self.update_target(&t, |owner, acl| {
                if let Some(items) = acl {
                    // The owner's own entry stays even when it names a role
                    // being emptied (its objects are dropped anyway).
                    items.retain(|i| {
                        i.grantee == *owner
                            || !(roles.contains(&i.grantee) || roles.contains(&i.grantor))
                    });
                }
            })?;
        }
        self.reload()
    }

    /// `REASSIGN OWNED BY roles TO role`.
    pub fn reassign_owned(&mut self, specs: &[RoleSpec], to: &RoleSpec) -> Result<()> {
        let roles = self.owned_by_roles(specs, "reassign")?;
        let new = self.role_of_spec(to)?;
        if !self.catalog.has_privileges_of_role(self.current_user, new) {
            return Err(Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                "permission denied to reassign objects",
            ));
        }
        let c = self.catalog.clone();
        let mine = |owner: u32, schema: &str| roles.contains(&owner) && !is_temp_schema(schema);
        let targets: Vec<(u32, Target)> = self
            .acl_targets()
            .into_iter()
            .filter_map(|t| {
                let o = self.target_object(&t).ok()?;
                mine(o.owner(), object_schema(&o)).then_some((o.owner(), t))
            })
            .collect();
        for (old, t) in targets {
            if let Target::Table(id) = t {
                self.lock_table_exclusive(id)?;
            }
            self.update_target(&t, |owner, acl| {
                *owner = new;
                change_owner_in_acl(acl, old, new);
            })?;
        }
        for d in c.domains.values().filter(|d| mine(d.owner, &d.schema)) {
            let mut d = (**d).clone();
            d.owner = new;
            cat::put_object(self.txn, cat::KIND_DOMAIN, d.id, &d)?;
        }
        for t in c.composites.values().filter(|t| mine(t.owner, &t.schema)) {
            let mut t = (**t).clone();
            t.owner = new;
            cat::put_object(self.txn, cat::KIND_COMPOSITE, t.id, &t)?;
        }
        // Databases are shared objects: those the roles own anywhere.
        if c.databases.values().any(|d| roles.contains(&d.owner)) {
            self.lock_roles_and_databases()?;
            let dbs: Vec<_> = self
                .catalog
                .databases
                .values()
                .filter(|d| roles.contains(&d.owner))
                .cloned()
                .collect();
            for d in dbs {
                let mut d = (*d).clone();
                d.owner = new;
                self.put_database(&d)?;
            }
        }
        cat::bump_version(self.txn);
        self.reload()
    }
}

/// The schema an object is in (a schema: itself).
fn object_schema<'a>(o: &Object<'a>) -> &'a str {
    match o {
        Object::Table(d) => &d.schema,
        Object::View(d) => &d.schema,
        Object::Sequence(d) => &d.schema,
        Object::Function(d) => &d.schema,
        Object::Schema(d) => &d.name,
    }
}
