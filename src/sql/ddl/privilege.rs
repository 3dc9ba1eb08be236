//! GRANT / REVOKE of privileges on tables, views, sequences and schemas,
//! `ALTER ... OWNER TO`, and the ownership and CREATE checks of DDL.
//!
//! The rules are PostgreSQL's (see [`crate::catalog::acl`]): the owner (or
//! a superuser, acting for the owner) grants as the owner; another role may
//! grant only what it holds with grant option, and its grants are recorded
//! with it as grantor. Revoking a grant option from a role that passed the
//! privilege on fails with 2BP01 unless CASCADE also revokes what it granted.

use super::DdlCtx;
use crate::catalog::acl::{self, AclItem, Object, ObjectKind, PUBLIC, Privs};
use crate::catalog::{self as cat, Relation};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::{ident, split_name};
use crate::types::DataType;
use sqlparser::ast;

/// An object GRANT, REVOKE or OWNER TO works on.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Target {
    Table(u32),
    View(u32),
    Sequence(u32),
    Schema(String),
    Function(u32),
}

fn invalid_privilege(p: Privs, kind: ObjectKind) -> Error {
    Error::new(
        SqlState::INVALID_GRANT_OPERATION,
        format!(
            "invalid privilege type {} for {}",
            acl::privilege_name(p),
            kind.noun()
        ),
    )
}

/// The privilege bits of a GRANT / REVOKE list for objects of `kind`.
fn privileges_of(p: &ast::Privileges, kind: ObjectKind) -> Result<Privs> {
    let actions = match p {
        ast::Privileges::All { .. } => return Ok(kind.all()),
        ast::Privileges::Actions(a) => a,
    };
    let mut bits = 0;
    for a in actions {
        let (p, columns) = match a {
            ast::Action::Select { columns } => (acl::SELECT, columns.is_some()),
            ast::Action::Insert { columns } => (acl::INSERT, columns.is_some()),
            ast::Action::Update { columns } => (acl::UPDATE, columns.is_some()),
            ast::Action::References { columns } => (acl::REFERENCES, columns.is_some()),
            ast::Action::Delete => (acl::DELETE, false),
            ast::Action::Truncate => (acl::TRUNCATE, false),
            ast::Action::Trigger => (acl::TRIGGER, false),
            ast::Action::Usage => (acl::USAGE, false),
            ast::Action::Create { obj_type: None } => (acl::CREATE, false),
            ast::Action::Connect => (acl::CONNECT, false),
            ast::Action::Temporary => (acl::TEMPORARY, false),
            ast::Action::Execute { obj_type: None } => (acl::EXECUTE, false),
            other => {
                return Err(Error::new(
                    SqlState::SYNTAX_ERROR,
                    format!("unrecognized privilege type \"{other}\""),
                ));
            }
        };
        if columns {
            return Err(Error::unsupported("column privileges are not supported"));
        }
        if p & kind.all() == 0 {
            return Err(invalid_privilege(p, kind));
        }
        bits |= p;
    }
    Ok(bits)
}

/// Replaces `old` by `new` in every item (PostgreSQL's `aclnewowner`),
/// merging items that become the same grantee and grantor.
pub(super) fn change_owner_in_acl(list: &mut Option<Vec<AclItem>>, old: u32, new: u32) {
    let Some(items) = list.take() else {
        return;
    };
    let mut out: Vec<AclItem> = Vec::with_capacity(items.len());
    for mut i in items {
        if i.grantee == old {
            i.grantee = new;
        }
        if i.grantor == old {
            i.grantor = new;
        }
        acl::grant(&mut out, i.grantee, i.grantor, i.privs, i.grant_option);
    }
    *list = Some(out);
}

impl DdlCtx<'_> {
    /// Fails with 42501 unless the current user owns `obj`.
    pub(super) fn require_owner(&self, obj: Object<'_>) -> Result<()> {
        self.catalog.check_owner(self.current_user, obj)
    }

    /// Fails unless the current user owns relation `rel` (an index is
    /// owned by its table's owner, but named as the index).
    pub(super) fn require_relation_owner(&self, rel: Relation) -> Result<()> {
        let c = &self.catalog;
        match rel {
            Relation::Table(id) => self.require_owner(Object::Table(c.table(id)?)),
            Relation::View(id) => match c.views.get(&id) {
                Some(v) => self.require_owner(Object::View(v)),
                None => Ok(()),
            },
            Relation::Sequence(id) => match c.sequences.get(&id) {
                Some(s) => self.require_owner(Object::Sequence(s)),
                None => Ok(()),
            },
            Relation::Index(id) => {
                let Some(ix) = c.indexes.get(&id) else {
                    return Ok(());
                };
                let t = c.table(ix.table_id)?;
                if c.has_privileges_of_role(self.current_user, t.owner) {
                    Ok(())
                } else {
                    Err(Error::new(
                        SqlState::INSUFFICIENT_PRIVILEGE,
                        format!("must be owner of index {}", ix.name),
                    ))
                }
            }
        }
    }

    /// Fails with 42501 unless the current user may create objects in `schema`.
    pub(super) fn require_create_in(&self, schema: &str) -> Result<()> {
        match self.catalog.schemas.get(schema) {
            Some(s) => {
                self.catalog
                    .check_privilege(self.current_user, Object::Schema(s), acl::CREATE)
            }
            None => Ok(()),
        }
    }

    /// The role an `OWNER TO` / `AUTHORIZATION` names.
    pub(super) fn owner_role(&self, o: &ast::Owner) -> Result<u32> {
        Ok(match o {
            ast::Owner::Ident(i) => self.catalog.role_named(&ident(i))?.id,
            ast::Owner::CurrentUser | ast::Owner::CurrentRole => self.current_user,
            ast::Owner::SessionUser => self.session_user,
        })
    }

    /// Fails unless the current user may make `role` an owner: it must be
    /// able to act as that role (`SET ROLE`).
    pub(super) fn require_member_of(&self, role: u32) -> Result<()> {
        if self.catalog.is_member_of(self.current_user, role) {
            return Ok(());
        }
        let name = self.catalog.role(role)?.name.clone();
        Err(Error::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("must be able to SET ROLE \"{name}\""),
        ))
    }

    pub(super) fn target_object(&self, t: &Target) -> Result<Object<'_>> {
        let c = &self.catalog;
        let missing = || Error::internal("object vanished from the catalog");
        Ok(match t {
            Target::Table(id) => Object::Table(c.table(*id)?),
            Target::View(id) => Object::View(c.views.get(id).ok_or_else(missing)?),
            Target::Sequence(id) => Object::Sequence(c.sequences.get(id).ok_or_else(missing)?),
            Target::Schema(n) => Object::Schema(c.schemas.get(n).ok_or_else(missing)?),
            Target::Function(id) => Object::Function(c.functions.get(id).ok_or_else(missing)?),
        })
    }

    /// Rewrites the owner and access control list of `t`.
    pub(super) fn update_target(
        &mut self,
        t: &Target,
        f: impl FnOnce(&mut u32, &mut Option<Vec<AclItem>>),
    ) -> Result<()> {
        let c = self.catalog.clone();
        match t {
            Target::Table(id) => {
                let mut d = (**c.table(*id)?).clone();
                f(&mut d.owner, &mut d.acl);
                self.put_table(&d)?;
            }
            Target::View(id) => {
                let mut d = (**c.views.get(id).ok_or_else(|| Error::internal("view"))?).clone();
                f(&mut d.owner, &mut d.acl);
                cat::put_object(self.txn, cat::KIND_VIEW, d.id, &d)?;
                cat::bump_version(self.txn);
            }
            Target::Sequence(id) => {
                let mut d = (**c
                    .sequences
                    .get(id)
                    .ok_or_else(|| Error::internal("sequence"))?)
                .clone();
                f(&mut d.owner, &mut d.acl);
                self.put_sequence(&d)?;
            }
            Target::Schema(n) => {
                let mut d = c
                    .schemas
                    .get(n)
                    .ok_or_else(|| Error::internal("schema"))?
                    .clone();
                f(&mut d.owner, &mut d.acl);
                cat::put_object(self.txn, cat::KIND_SCHEMA, d.id, &d)?;
                cat::bump_version(self.txn);
            }
            Target::Function(id) => {
                let mut d = (**c
                    .functions
                    .get(id)
                    .ok_or_else(|| Error::internal("function"))?)
                .clone();
                f(&mut d.owner, &mut d.acl);
                cat::put_object(self.txn, cat::KIND_FUNCTION, d.id, &d)?;
                cat::bump_version(self.txn);
            }
        }
        Ok(())
    }

    /// `ALTER TABLE / VIEW / SEQUENCE / SCHEMA ... OWNER TO role`. A table's
    /// owned sequences follow it, as in PostgreSQL.
    pub(super) fn alter_owner(&mut self, t: Target, new_owner: &ast::Owner) -> Result<()> {
        let new = self.owner_role(new_owner)?;
        let (old, schema) = {
            let obj = self.target_object(&t)?;
            let schema = match obj {
                Object::Table(d) => Some(d.schema.clone()),
                Object::View(d) => Some(d.schema.clone()),
                Object::Sequence(d) => Some(d.schema.clone()),
                Object::Function(d) => Some(d.schema.clone()),
                Object::Schema(_) => None,
            };
            if obj.owner() != new {
                self.require_owner(obj)?;
            }
            (obj.owner(), schema)
        };
        if old == new {
            return Ok(());
        }
        if !self.catalog.is_superuser(self.current_user) {
            self.require_member_of(new)?;
            if let Some(s) = schema.as_deref().and_then(|s| self.catalog.schemas.get(s)) {
                self.catalog
                    .check_privilege(new, Object::Schema(s), acl::CREATE)?;
            }
        }
        let change = |owner: &mut u32, list: &mut Option<Vec<AclItem>>| {
            *owner = new;
            change_owner_in_acl(list, old, new);
        };
        self.update_target(&t, change)?;
        if let Target::Table(id) = t {
            let owned: Vec<u32> = self
                .catalog
                .sequences
                .values()
                .filter(|s| {
                    s.owned_by.map(|o| o.0) == Some(id) || Some(s.id) == rowid_seq(self, id)
                })
                .map(|s| s.id)
                .collect();
            for s in owned {
                self.update_target(&Target::Sequence(s), change)?;
            }
        }
        self.reload()
    }

    /// The objects a GRANT / REVOKE names, with their kind.
    fn grant_targets(&self, objects: Option<&ast::GrantObjects>) -> Result<Vec<Target>> {
        use ast::GrantObjects as G;
        let c = &self.catalog;
        let schema_named = |n: &ast::ObjectName| -> Result<String> {
            let (_, s) = split_name(n)?;
            if c.schemas.contains_key(&s) {
                Ok(s)
            } else {
                Err(Error::new(
                    SqlState::UNDEFINED_SCHEMA,
                    format!("schema \"{s}\" does not exist"),
                ))
            }
        };
        let relation = |n: &ast::ObjectName| -> Result<(Relation, String)> {
            let (schema, name) = split_name(n)?;
            match c.resolve(schema.as_deref(), &name, self.search_path) {
                Some((_, r)) => Ok((r, name)),
                None => Err(Error::new(
                    SqlState::UNDEFINED_TABLE,
                    format!("relation \"{n}\" does not exist"),
                )),
            }
        };
        let mut out = Vec::new();
        match objects {
            Some(G::Tables(names)) => {
                for n in names {
                    out.push(match relation(n)? {
                        (Relation::Table(id), _) => Target::Table(id),
                        (Relation::View(id), _) => Target::View(id),
                        (Relation::Sequence(id), _) => Target::Sequence(id),
                        (Relation::Index(_), name) => {
                            return Err(Error::new(
                                SqlState::WRONG_OBJECT_TYPE,
                                format!("\"{name}\" is an index"),
                            ));
                        }
                    });
                }
            }
            Some(G::Sequences(names)) => {
                for n in names {
                    match relation(n)? {
                        (Relation::Sequence(id), _) => out.push(Target::Sequence(id)),
                        (_, name) => {
                            return Err(Error::new(
                                SqlState::WRONG_OBJECT_TYPE,
                                format!("\"{name}\" is not a sequence"),
                            ));
                        }
                    }
                }
            }
            Some(G::Schemas(names)) => {
                for n in names {
                    out.push(Target::Schema(schema_named(n)?));
                }
            }
            Some(G::AllTablesInSchema { schemas }) => {
                for n in schemas {
                    let s = schema_named(n)?;
                    out.extend(
                        c.tables
                            .values()
                            .filter(|t| t.schema == s)
                            .map(|t| Target::Table(t.id)),
                    );
                    out.extend(
                        c.views
                            .values()
                            .filter(|v| v.schema == s)
                            .map(|v| Target::View(v.id)),
                    );
                }
            }
            Some(G::AllSequencesInSchema { schemas }) => {
                for n in schemas {
                    let s = schema_named(n)?;
                    out.extend(
                        c.sequences
                            .values()
                            .filter(|q| q.schema == s && !q.internal)
                            .map(|q| Target::Sequence(q.id)),
                    );
                }
            }
            Some(G::Function { name, arg_types }) => {
                let types = arg_types
                    .iter()
                    .map(DataType::from_sql)
                    .collect::<Result<Vec<_>>>()?;
                out.push(Target::Function(
                    self.function_by_signature(name, Some(&types))?.id,
                ));
            }
            Some(G::AllFunctionsInSchema { schemas }) => {
                for n in schemas {
                    let s = schema_named(n)?;
                    out.extend(
                        c.functions
                            .values()
                            .filter(|f| f.schema == s)
                            .map(|f| Target::Function(f.id)),
                    );
                }
            }
            Some(other) => {
                return Err(Error::unsupported(format!(
                    "GRANT and REVOKE on {other} are not supported"
                )));
            }
            None => return Err(Error::syntax("GRANT and REVOKE need an object (ON ...)")),
        }
        Ok(out)
    }

    /// The grantees of a GRANT / REVOKE (PUBLIC is [`PUBLIC`]).
    fn grantee_ids(&self, grantees: &[ast::Grantee]) -> Result<Vec<u32>> {
        grantees
            .iter()
            .map(|g| {
                if g.grantee_type == ast::GranteesType::Public {
                    return Ok(PUBLIC);
                }
                let name = match &g.name {
                    Some(ast::GranteeName::ObjectName(n)) => split_name(n)?.1,
                    _ => return Err(Error::syntax(format!("invalid grantee {g}"))),
                };
                // CURRENT_USER and friends arrive as (unquoted) names.
                let quoted = matches!(&g.name, Some(ast::GranteeName::ObjectName(n))
                    if matches!(n.0.last(), Some(ast::ObjectNamePart::Identifier(i)) if i.quote_style.is_some()));
                Ok(match (quoted, name.as_str()) {
                    (false, "current_user" | "current_role") => self.current_user,
                    (false, "session_user") => self.session_user,
                    (false, "public") => PUBLIC,
                    _ => self.catalog.role_named(&name)?.id,
                })
            })
            .collect()
    }

    /// The grantor of a grant or revoke on `obj` by the current user, and
    /// the privileges it may grant: the owner and everything when the
    /// current user owns the object, else itself and its grant options.
    fn grantor_for(&self, obj: Object<'_>) -> Result<(u32, Privs)> {
        if self
            .catalog
            .has_privileges_of_role(self.current_user, obj.owner())
        {
            return Ok((obj.owner(), obj.kind().all()));
        }
        let (privs, options) = self.catalog.privileges(self.current_user, obj);
        if privs == 0 && options == 0 {
            return Err(acl::denied(obj.kind(), obj.name()));
        }
        Ok((self.current_user, options))
    }

    fn check_granted_by(&self, granted_by: Option<&ast::Ident>) -> Result<()> {
        if let Some(g) = granted_by {
            let role = self.catalog.role_named(&ident(g))?.id;
            if role != self.current_user {
                return Err(Error::unsupported("grantor must be current user"));
            }
        }
        Ok(())
    }

    /// `GRANT privileges ON objects TO roles [WITH GRANT OPTION]`.
    pub fn grant_privileges(&mut self, g: &ast::Grant) -> Result<String> {
        self.check_granted_by(g.granted_by.as_ref())?;
        let targets = self.grant_targets(g.objects.as_ref())?;
        let grantees = self.grantee_ids(&g.grantees)?;
        if g.with_grant_option && grantees.contains(&PUBLIC) {
            return Err(Error::new(
                SqlState::INVALID_GRANT_OPERATION,
                "grant options can only be granted to roles",
            ));
        }
        for t in targets {
            self.lock_target(&t)?;
            let (grantor, acl_now, wanted) = {
                let obj = self.target_object(&t)?;
                let asked = privileges_of(&g.privileges, obj.kind())?;
                let (grantor, may) = self.grantor_for(obj)?;
                let all = matches!(g.privileges, ast::Privileges::All { .. });
                self.warn_partial(obj.name(), asked, asked & may, all, true);
                (grantor, obj.effective_acl(), asked & may)
            };
            let mut list = acl_now;
            for &grantee in grantees.iter().filter(|_| wanted != 0) {
                let options = if g.with_grant_option { wanted } else { 0 };
                acl::grant(&mut list, grantee, grantor, wanted, options);
            }
            self.update_target(&t, |_, a| *a = Some(list))?;
        }
        self.reload()?;
        Ok("GRANT".into())
    }

    /// `REVOKE [GRANT OPTION FOR] privileges ON objects FROM roles [CASCADE | RESTRICT]`.
    pub fn revoke_privileges(&mut self, r: &ast::Revoke) -> Result<String> {
        self.check_granted_by(r.granted_by.as_ref())?;
        let targets = self.grant_targets(r.objects.as_ref())?;
        let grantees = self.grantee_ids(&r.grantees)?;
        let cascade = matches!(r.cascade, Some(ast::CascadeOption::Cascade));
        for t in targets {
            self.lock_target(&t)?;
            let (grantor, mut list, revoked, kind, owner) = {
                let obj = self.target_object(&t)?;
                let revoked = privileges_of(&r.privileges, obj.kind())?;
                let (grantor, may) = self.grantor_for(obj)?;
                let all = matches!(r.privileges, ast::Privileges::All { .. });
                self.warn_partial(obj.name(), revoked, revoked & may, all, false);
                (
                    grantor,
                    obj.effective_acl(),
                    revoked & may,
                    obj.kind(),
                    obj.owner(),
                )
            };
            for item in list.iter_mut() {
                if item.grantor == grantor && grantees.contains(&item.grantee) {
                    item.grant_option &= !revoked;
                    if !r.grant_option_for {
                        item.privs &= !revoked;
                    }
                }
            }
            self.abandon_dependent_grants(&mut list, owner, kind, cascade)?;
            list.retain(|i| i.privs != 0);
            self.update_target(&t, |_, a| *a = Some(list))?;
        }
        self.reload()?;
        Ok("REVOKE".into())
    }

    /// PostgreSQL's warnings when a role without (all) the grant options
    /// grants or revokes: nothing at all, or not everything it named.
    fn warn_partial(&self, name: &str, asked: Privs, done: Privs, all: bool, grant: bool) {
        let message = match (done == 0, grant) {
            (true, true) => format!("no privileges were granted for \"{name}\""),
            (true, false) => format!("no privileges could be revoked for \"{name}\""),
            (false, _) if all || done == asked => return,
            (false, true) => format!("not all privileges were granted for \"{name}\""),
            (false, false) => format!("not all privileges could be revoked for \"{name}\""),
        };
        let code = if grant {
            SqlState::WARNING_PRIVILEGE_NOT_GRANTED
        } else {
            SqlState::WARNING_PRIVILEGE_NOT_REVOKED
        };
        self.env.notice(Notice::warning(code, message));
    }

    /// Removes (CASCADE) or refuses (2BP01) grants whose grantor no longer
    /// holds the grant option they were made under.
    fn abandon_dependent_grants(
        &self,
        list: &mut [AclItem],
        owner: u32,
        kind: ObjectKind,
        cascade: bool,
    ) -> Result<()> {
        loop {
            let mut changed = false;
            for k in 0..list.len() {
                let grantor = list[k].grantor;
                if grantor == owner || list[k].privs == 0 {
                    continue;
                }
                let roles = self.catalog.roles_with_privileges_of(grantor);
                let options: Privs = if roles.contains(&owner) {
                    kind.all()
                } else {
                    list.iter()
                        .filter(|i| roles.contains(&i.grantee))
                        .fold(0, |a, i| a | i.grant_option)
                };
                let lost = list[k].privs & !options;
                if lost != 0 {
                    if !cascade {
                        return Err(Error::new(
                            SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                            "dependent privileges exist",
                        )
                        .with_hint("Use CASCADE to revoke them too."));
                    }
                    list[k].privs &= !lost;
                    list[k].grant_option &= !lost;
                    changed = true;
                }
            }
            if !changed {
                return Ok(());
            }
        }
    }

    /// GRANT / REVOKE / OWNER TO on a table or view serialize with its writers.
    pub(super) fn lock_target(&mut self, t: &Target) -> Result<()> {
        match t {
            Target::Table(id) => self.lock_table_exclusive(*id),
            _ => Ok(()),
        }
    }

    /// `ALTER SCHEMA name OWNER TO role` and `RENAME TO`.
    pub fn alter_schema(
        &mut self,
        name: &ast::ObjectName,
        ops: &[ast::AlterSchemaOperation],
    ) -> Result<String> {
        let (_, n) = split_name(name)?;
        if !self.catalog.schemas.contains_key(&n) {
            return Err(Error::new(
                SqlState::UNDEFINED_SCHEMA,
                format!("schema \"{n}\" does not exist"),
            ));
        }
        for op in ops {
            match op {
                ast::AlterSchemaOperation::OwnerTo { owner } => {
                    self.alter_owner(Target::Schema(n.clone()), owner)?
                }
                other => {
                    return Err(Error::unsupported(format!(
                        "ALTER SCHEMA {other} is not supported"
                    )));
                }
            }
        }
        Ok("ALTER SCHEMA".into())
    }
}

/// The hidden row-id sequence of table `id`, if it has one.
fn rowid_seq(ctx: &DdlCtx<'_>, id: u32) -> Option<u32> {
    ctx.catalog.tables.get(&id).and_then(|t| t.rowid_seq)
}
