//! Role DDL: CREATE / ALTER / DROP ROLE (and USER), GRANT and REVOKE of role membership.
//!
//! Permissions follow PostgreSQL 15: superusers may do anything; a role with
//! CREATEROLE may create, alter, rename, drop and grant membership in roles
//! that are not superusers; any role may change its own password. Creating
//! a superuser or a BYPASSRLS role, or changing SUPERUSER / BYPASSRLS,
//! needs a superuser. Membership has no ADMIN OPTION, so only superusers
//! and CREATEROLE roles grant it.
//!
//! Every statement takes the roles lock ([`keys::LOCK_ROLES`]) before it
//! reads the roles, so name uniqueness and the membership cycle check see
//! every committed change (READ COMMITTED re-reads after waiting;
//! REPEATABLE READ fails with 40001 if another transaction changed roles).

use super::DdlCtx;
use crate::catalog::keys;
use crate::catalog::roles::role_not_found;
use crate::catalog::scram::ScramVerifier;
use crate::catalog::{self as cat, RoleDef};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::ident;
use crate::txn::WriteCheck;
use crate::types::{DataType, Value};
use chrono::{DateTime, Utc};
use sqlparser::ast;
use std::sync::Arc;

/// Role attributes given in a statement; `None` means "not mentioned".
#[derive(Default)]
struct RoleOptions {
    superuser: Option<bool>,
    createrole: Option<bool>,
    createdb: Option<bool>,
    login: Option<bool>,
    bypassrls: Option<bool>,
    inherit: Option<bool>,
    connection_limit: Option<i32>,
    /// `Some(None)`: VALID UNTIL 'infinity'.
    valid_until: Option<Option<DateTime<Utc>>>,
    /// `Some(None)`: PASSWORD NULL (or an empty password).
    password: Option<Option<String>>,
}

impl RoleOptions {
    fn apply(&self, r: &mut RoleDef) {
        let set = |field: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut r.superuser, self.superuser);
        set(&mut r.createrole, self.createrole);
        set(&mut r.createdb, self.createdb);
        set(&mut r.login, self.login);
        set(&mut r.bypassrls, self.bypassrls);
        set(&mut r.inherit, self.inherit);
        if let Some(n) = self.connection_limit {
            r.connection_limit = n;
        }
        if let Some(v) = self.valid_until {
            r.valid_until = v;
        }
        if let Some(p) = &self.password {
            r.password = p.clone();
        }
    }

    /// True if only the password is changed (what a role may do to itself).
    fn only_password(&self) -> bool {
        self.password.is_some()
            && self.createrole.is_none()
            && self.createdb.is_none()
            && self.login.is_none()
            && self.inherit.is_none()
            && self.connection_limit.is_none()
            && self.valid_until.is_none()
    }

    fn from_create(cr: &ast::CreateRole) -> Result<RoleOptions> {
        if cr.replication == Some(true) {
            return Err(replication_unsupported());
        }
        Ok(RoleOptions {
            superuser: cr.superuser,
            createrole: cr.create_role,
            createdb: cr.create_db,
            login: cr.login,
            bypassrls: cr.bypassrls,
            inherit: cr.inherit,
            connection_limit: cr
                .connection_limit
                .as_ref()
                .map(connection_limit)
                .transpose()?,
            valid_until: cr.valid_until.as_ref().map(valid_until).transpose()?,
            password: cr.password.as_ref().map(password).transpose()?,
        })
    }

    fn from_list(options: &[ast::RoleOption]) -> Result<RoleOptions> {
        use ast::RoleOption as O;
        let mut o = RoleOptions::default();
        fn once<T>(slot: &mut Option<T>, v: T) -> Result<()> {
            if slot.is_some() {
                return Err(Error::syntax("conflicting or redundant options"));
            }
            *slot = Some(v);
            Ok(())
        }
        let mut replication = None;
        for opt in options {
            match opt {
                O::SuperUser(v) => once(&mut o.superuser, *v)?,
                O::CreateRole(v) => once(&mut o.createrole, *v)?,
                O::CreateDB(v) => once(&mut o.createdb, *v)?,
                O::Login(v) => once(&mut o.login, *v)?,
                O::BypassRLS(v) => once(&mut o.bypassrls, *v)?,
                O::Inherit(v) => once(&mut o.inherit, *v)?,
                O::Replication(v) => once(&mut replication, *v)?,
                O::ConnectionLimit(e) => once(&mut o.connection_limit, connection_limit(e)?)?,
                O::ValidUntil(e) => once(&mut o.valid_until, valid_until(e)?)?,
                O::Password(p) => once(&mut o.password, password(p)?)?,
            }
        }
        if replication == Some(true) {
            return Err(replication_unsupported());
        }
        Ok(o)
    }
}

fn replication_unsupported() -> Error {
    Error::unsupported("the REPLICATION attribute is not supported")
}

/// A string constant (`'...'`, `E'...'`, `$$...$$`).
fn string_constant(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::EscapedStringLiteral(s) => {
                Some(s.clone())
            }
            ast::Value::DollarQuotedString(d) => Some(d.value.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn connection_limit(e: &ast::Expr) -> Result<i32> {
    // The parser glue writes `CONNECTION LIMIT -1` as a placeholder.
    let negative = format!("${}", crate::sql::parser::NEGATIVE_PLACEHOLDER);
    let text = match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.clone(),
            ast::Value::Placeholder(p) => match p.strip_prefix(&negative) {
                Some(digits) => format!("-{digits}"),
                None => String::new(),
            },
            _ => String::new(),
        },
        _ => String::new(),
    };
    let n: i32 = text
        .trim()
        .parse()
        .map_err(|_| Error::syntax(format!("syntax error at or near \"{e}\"")))?;
    if n < -1 {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid connection limit: {n}"),
        ));
    }
    Ok(n)
}

fn valid_until(e: &ast::Expr) -> Result<Option<DateTime<Utc>>> {
    let s = string_constant(e)
        .ok_or_else(|| Error::syntax(format!("syntax error at or near \"{e}\"")))?;
    if s.trim().eq_ignore_ascii_case("infinity") {
        return Ok(None);
    }
    match Value::Text(s).cast(&DataType::Timestamptz)? {
        Value::Timestamptz(t) => Ok(Some(t)),
        other => Err(Error::internal(format!(
            "timestamptz cast produced {other:?}"
        ))),
    }
}

/// The verifier to store for a PASSWORD option (`None`: no password).
fn password(p: &ast::Password) -> Result<Option<String>> {
    let ast::Password::Password(e) = p else {
        return Ok(None);
    };
    let text = string_constant(e)
        .ok_or_else(|| Error::syntax(format!("syntax error at or near \"{e}\"")))?;
    if text.is_empty() {
        // PostgreSQL: "empty string is not a valid password, clearing password".
        return Ok(None);
    }
    if ScramVerifier::parse(&text).is_some() {
        return Ok(Some(text));
    }
    let md5_hash = text.len() == 35
        && text.starts_with("md5")
        && text[3..].bytes().all(|b| b.is_ascii_hexdigit());
    if md5_hash {
        return Err(Error::unsupported(
            "MD5 password hashes are not supported; give the password or a SCRAM-SHA-256 verifier",
        ));
    }
    Ok(Some(ScramVerifier::from_password(&text).to_string()))
}

/// Rejects names PostgreSQL reserves for roles.
fn check_new_name(name: &str, i: &ast::Ident) -> Result<()> {
    if i.quote_style.is_none() {
        let special = ["current_user", "current_role", "session_user", "user"];
        if special.contains(&name) {
            return Err(Error::new(
                SqlState::RESERVED_NAME,
                format!("{} cannot be used as a role name here", name.to_uppercase()),
            ));
        }
    }
    if name == "public" || name == "none" {
        return Err(Error::new(
            SqlState::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        ));
    }
    Ok(())
}

fn check_not_pg_prefixed(name: &str) -> Result<()> {
    if name.starts_with("pg_") {
        return Err(Error::new(
            SqlState::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        )
        .with_detail("Role names starting with \"pg_\" are reserved."));
    }
    Ok(())
}

fn denied(msg: impl Into<String>) -> Error {
    Error::new(SqlState::INSUFFICIENT_PRIVILEGE, msg)
}

fn single_name(name: &ast::ObjectName) -> Result<ast::Ident> {
    match name.0.as_slice() {
        [ast::ObjectNamePart::Identifier(i)] => Ok(i.clone()),
        _ => Err(Error::syntax(format!("syntax error at or near \"{name}\""))),
    }
}

impl DdlCtx<'_> {
    /// Takes the roles lock and makes sure the catalog shows every committed role change.
    fn lock_roles(&mut self) -> Result<()> {
        if self.txn.lock_for_write(keys::LOCK_ROLES)? == WriteCheck::Changed {
            self.txn.refresh_snapshot()?;
            self.reload()?;
        }
        Ok(())
    }

    /// The current user's role, as this transaction sees it.
    fn actor(&self) -> Result<Arc<RoleDef>> {
        self.catalog.role(self.current_user).cloned()
    }

    fn put_role(&mut self, r: &RoleDef) -> Result<()> {
        cat::put_object(self.txn, cat::KIND_ROLE, r.id, r)?;
        cat::bump_version(self.txn);
        Ok(())
    }

    /// A role named in a statement: a name, or CURRENT_USER / CURRENT_ROLE / SESSION_USER.
    fn role_spec(&self, i: &ast::Ident) -> Result<Arc<RoleDef>> {
        if i.quote_style.is_none() {
            match i.value.to_lowercase().as_str() {
                "current_user" | "current_role" => return self.actor(),
                "session_user" => return self.catalog.role(self.session_user).cloned(),
                _ => {}
            }
        }
        self.catalog.role_named(&ident(i)).cloned()
    }

    fn grantee(&self, g: &ast::Grantee) -> Result<Arc<RoleDef>> {
        match &g.name {
            Some(ast::GranteeName::ObjectName(n)) => self.role_spec(&single_name(n)?),
            Some(other) => Err(Error::syntax(format!(
                "syntax error at or near \"{other}\""
            ))),
            None => Err(role_not_found("public")),
        }
    }

    /// May the current user add members to (or remove them from) `role`?
    fn check_membership_change(&self, role: &RoleDef) -> Result<()> {
        let actor = self.actor()?;
        if role.superuser {
            if !actor.superuser {
                return Err(denied("must be superuser to alter superusers"));
            }
        } else if !actor.superuser && !actor.createrole {
            return Err(denied(format!(
                "must have admin option on role \"{}\"",
                role.name
            )));
        }
        Ok(())
    }

    /// Makes `member` a member of `role` (a no-op if it already is).
    fn add_member(&mut self, role: &RoleDef, member: u32) -> Result<()> {
        self.check_membership_change(role)?;
        if self.catalog.is_member_of_nosuper(role.id, member) {
            let member_name = &self.catalog.role(member)?.name;
            return Err(Error::new(
                SqlState::INVALID_GRANT_OPERATION,
                format!(
                    "role \"{}\" is a member of role \"{member_name}\"",
                    role.name
                ),
            ));
        }
        let m = self.catalog.role(member)?;
        if !m.member_of.contains(&role.id) {
            let mut m = (**m).clone();
            m.member_of.push(role.id);
            self.put_role(&m)?;
            self.reload()?;
        }
        Ok(())
    }

    /// CREATE ROLE / CREATE USER (the parser glue gives CREATE USER its LOGIN default).
    pub fn create_role(&mut self, cr: &ast::CreateRole) -> Result<String> {
        let opts = RoleOptions::from_create(cr)?;
        if !cr.admin.is_empty() {
            return Err(Error::unsupported(
                "ADMIN option of role membership is not supported",
            ));
        }
        let names: Vec<ast::Ident> = cr.names.iter().map(single_name).collect::<Result<_>>()?;
        for i in &names {
            check_new_name(&ident(i), i)?;
        }
        self.lock_roles()?;
        let actor = self.actor()?;
        if opts.superuser == Some(true) {
            if !actor.superuser {
                return Err(denied("must be superuser to create superusers"));
            }
        } else if opts.bypassrls == Some(true) {
            if !actor.superuser {
                return Err(denied("must be superuser to create bypassrls users"));
            }
        } else if !actor.superuser && !actor.createrole {
            return Err(denied("permission denied to create role"));
        }
        for i in &names {
            let name = ident(i);
            check_not_pg_prefixed(&name)?;
            if self.catalog.role_by_name(&name).is_some() {
                if cr.if_not_exists {
                    self.env.notice(
                        Notice::plain(format!("role \"{name}\" already exists, skipping"))
                            .with_code(SqlState::DUPLICATE_OBJECT),
                    );
                    continue;
                }
                return Err(Error::new(
                    SqlState::DUPLICATE_OBJECT,
                    format!("role \"{name}\" already exists"),
                ));
            }
            let id = self.oids.allocate(self.txn)?;
            let mut role = RoleDef::new(id, name);
            opts.apply(&mut role);
            self.put_role(&role)?;
            self.reload()?;
            for parent in cr.in_role.iter().chain(&cr.in_group) {
                let parent = self.role_spec(parent)?;
                self.add_member(&parent, id)?;
            }
            for member in cr.role.iter().chain(&cr.user) {
                let member = self.role_spec(member)?;
                let role = self.catalog.role(id)?.clone();
                self.add_member(&role, member.id)?;
            }
        }
        Ok("CREATE ROLE".into())
    }

    /// ALTER ROLE / ALTER USER: attributes, password, RENAME TO.
    pub fn alter_role(
        &mut self,
        name: &ast::Ident,
        op: &ast::AlterRoleOperation,
    ) -> Result<String> {
        use ast::AlterRoleOperation as Op;
        let opts = match op {
            Op::WithOptions { options } => RoleOptions::from_list(options)?,
            Op::RenameRole { role_name } => {
                self.rename_role(name, role_name)?;
                return Ok("ALTER ROLE".into());
            }
            Op::Set { .. } | Op::Reset { .. } => {
                return Err(Error::unsupported(
                    "per-role configuration (ALTER ROLE ... SET) is not supported",
                ));
            }
            Op::AddMember { .. } | Op::DropMember { .. } => {
                return Err(Error::syntax(format!("syntax error at or near \"{op}\"")));
            }
        };
        self.lock_roles()?;
        let role = self.role_spec(name)?;
        let actor = self.actor()?;
        if role.superuser || opts.superuser.is_some() {
            if !actor.superuser {
                return Err(denied(
                    "must be superuser to alter superuser roles or change superuser attribute",
                ));
            }
        } else if opts.bypassrls.is_some() {
            if !actor.superuser {
                return Err(denied("must be superuser to change bypassrls attribute"));
            }
        } else if !(actor.superuser
            || actor.createrole
            || (opts.only_password() && role.id == actor.id))
        {
            return Err(denied("permission denied"));
        }
        if opts.superuser == Some(false) && self.catalog.bootstrap_role() == Some(role.id) {
            return Err(denied("permission denied to alter role")
                .with_detail("The bootstrap user must have the SUPERUSER attribute."));
        }
        let mut r = (*role).clone();
        opts.apply(&mut r);
        self.put_role(&r)?;
        Ok("ALTER ROLE".into())
    }

    fn rename_role(&mut self, from: &ast::Ident, to: &ast::Ident) -> Result<()> {
        let new_name = ident(to);
        check_new_name(&new_name, to)?;
        self.lock_roles()?;
        let role = self.role_spec(from)?;
        if role.id == self.session_user {
            return Err(Error::unsupported("session user cannot be renamed"));
        }
        if role.id == self.current_user {
            return Err(Error::unsupported("current user cannot be renamed"));
        }
        check_not_pg_prefixed(&new_name)?;
        if self.catalog.role_by_name(&new_name).is_some() {
            return Err(Error::new(
                SqlState::DUPLICATE_OBJECT,
                format!("role \"{new_name}\" already exists"),
            ));
        }
        let actor = self.actor()?;
        if role.superuser {
            if !actor.superuser {
                return Err(denied("must be superuser to rename superusers"));
            }
        } else if !actor.superuser && !actor.createrole {
            return Err(denied("permission denied to rename role"));
        }
        // PostgreSQL clears MD5 passwords (salted with the name) here; SCRAM
        // verifiers do not depend on the name and are kept.
        let mut r = (*role).clone();
        r.name = new_name;
        self.put_role(&r)
    }

    /// DROP ROLE / DROP USER [IF EXISTS]: also removes the role's memberships.
    pub fn drop_roles(
        &mut self,
        names: &[ast::ObjectName],
        if_exists: bool,
        cascade: bool,
    ) -> Result<String> {
        if cascade {
            return Err(Error::syntax("syntax error at or near \"CASCADE\""));
        }
        self.lock_roles()?;
        let actor = self.actor()?;
        if !actor.superuser && !actor.createrole {
            return Err(denied("permission denied to drop role"));
        }
        for n in names {
            let i = single_name(n)?;
            let role = match self.role_spec(&i) {
                Ok(r) => r,
                Err(_) if if_exists => {
                    self.env.notice(Notice::plain(format!(
                        "role \"{}\" does not exist, skipping",
                        ident(&i)
                    )));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if role.id == self.current_user {
                return Err(Error::new(
                    SqlState::OBJECT_IN_USE,
                    "current user cannot be dropped",
                ));
            }
            if role.id == self.session_user {
                return Err(Error::new(
                    SqlState::OBJECT_IN_USE,
                    "session user cannot be dropped",
                ));
            }
            if role.superuser && !actor.superuser {
                return Err(denied("must be superuser to drop superusers"));
            }
            if self.catalog.bootstrap_role() == Some(role.id) {
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot drop role {} because it is required by the database system",
                        role.name
                    ),
                ));
            }
            self.check_owns_no_database(&role)?;
            let mut dependents = self.catalog.dependents_of_role(role.id, |s, n| {
                crate::sql::system::display_name(&self.catalog, self.search_path, s, n)
            });
            // Objects in the other databases are counted, as PostgreSQL does.
            for d in self.catalog.databases.values() {
                if d.id == self.catalog.database {
                    continue;
                }
                let n = cat::Catalog::load(self.txn, d.id)?
                    .dependents_of_role(role.id, |s, n| format!("{s}.{n}"))
                    .len();
                if n > 0 {
                    let what = if n == 1 { "object" } else { "objects" };
                    dependents.push(format!("{n} {what} in database {}", d.name));
                }
            }
            if !dependents.is_empty() {
                return Err(Error::new(
                    SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "role \"{}\" cannot be dropped because some objects depend on it",
                        role.name
                    ),
                )
                .with_detail(dependents.join("\n")));
            }
            let members: Vec<RoleDef> = self
                .catalog
                .roles
                .values()
                .filter(|r| r.member_of.contains(&role.id))
                .map(|r| (**r).clone())
                .collect();
            for mut m in members {
                m.member_of.retain(|&p| p != role.id);
                self.put_role(&m)?;
            }
            cat::delete_object(self.txn, cat::KIND_ROLE, role.id);
            cat::bump_version(self.txn);
            self.reload()?;
        }
        Ok("DROP ROLE".into())
    }

    /// GRANT role [, ...] TO role [, ...].
    pub fn grant_roles(&mut self, g: &ast::Grant) -> Result<String> {
        if g.with_grant_option {
            return Err(Error::unsupported(
                "WITH ADMIN OPTION is not supported for role membership",
            ));
        }
        let granted = granted_roles(&g.privileges)?;
        self.lock_roles()?;
        let members: Vec<Arc<RoleDef>> = g
            .grantees
            .iter()
            .map(|m| self.grantee(m))
            .collect::<Result<_>>()?;
        for name in granted {
            let role = self.role_spec(&name)?;
            for m in &members {
                self.add_member(&role, m.id)?;
            }
        }
        Ok("GRANT ROLE".into())
    }

    /// REVOKE role [, ...] FROM role [, ...]: removing a membership that does
    /// not exist is not an error (PostgreSQL warns).
    pub fn revoke_roles(&mut self, r: &ast::Revoke) -> Result<String> {
        if r.grant_option_for {
            return Err(Error::unsupported(
                "ADMIN OPTION FOR is not supported for role membership",
            ));
        }
        let granted = granted_roles(&r.privileges)?;
        self.lock_roles()?;
        let members: Vec<u32> = r
            .grantees
            .iter()
            .map(|m| self.grantee(m).map(|m| m.id))
            .collect::<Result<_>>()?;
        for name in granted {
            let role = self.role_spec(&name)?;
            self.check_membership_change(&role)?;
            for &m in &members {
                let member = self.catalog.role(m)?;
                if member.member_of.contains(&role.id) {
                    let mut member = (**member).clone();
                    member.member_of.retain(|&p| p != role.id);
                    self.put_role(&member)?;
                    self.reload()?;
                }
            }
        }
        Ok("REVOKE ROLE".into())
    }
}

/// The roles of a role GRANT / REVOKE (the parser glue writes `GRANT a TO b`
/// as sqlparser's `GRANT ROLE a TO b`).
fn granted_roles(p: &ast::Privileges) -> Result<Vec<ast::Ident>> {
    let ast::Privileges::Actions(actions) = p else {
        return Err(Error::syntax("syntax error at or near \"ALL\""));
    };
    actions
        .iter()
        .map(|a| match a {
            ast::Action::Role { role } => single_name(role),
            other => Err(Error::unsupported(format!(
                "GRANT {other} without ON is not supported"
            ))),
        })
        .collect()
}

/// True if a GRANT / REVOKE is about role membership (no ON clause).
pub fn is_role_grant(objects: Option<&ast::GrantObjects>, p: &ast::Privileges) -> bool {
    objects.is_none()
        && matches!(p, ast::Privileges::Actions(a) if a.iter().all(|a| matches!(a, ast::Action::Role { .. })))
}
