//! Who a session is: PostgreSQL's authenticated user, session user and current user.
//!
//! * The **authenticated user** is the role the session connected as
//!   ([`Database::connect`](super::Database::connect) uses the bootstrap
//!   superuser, [`Database::connect_as`](super::Database::connect_as) a named
//!   role). It never changes; if it was a superuser at connect time the
//!   session may `SET SESSION AUTHORIZATION` to any role.
//! * The **session user** (`session_user`) is the authenticated user until
//!   `SET SESSION AUTHORIZATION` changes it; that also resets the role.
//! * The **current user** (`current_user`, `current_role`, `user`) is the
//!   role chosen by `SET ROLE` (allowed when the session user is a superuser
//!   or a member of the role), or the session user after `SET ROLE NONE` /
//!   `RESET ROLE`. Permission checks use the current user.
//!
//! Identities are role ids; names are looked up in the catalog when shown,
//! so a renamed role shows its new name. As in PostgreSQL, changing them is
//! transactional: a transaction that rolls back restores the identity it
//! started with, and `SET LOCAL ROLE` lasts until the transaction ends.
//! (Rolling back to a savepoint does not restore it.)

use super::Session;
use super::database::DbInner;
use crate::catalog::Catalog;
use crate::catalog::roles::role_not_found;
use crate::error::{Error, Result, SqlState};
use sqlparser::ast;
use std::sync::Arc;

/// A session's roles (see the module documentation).
pub(crate) struct Identity {
    authenticated: u32,
    authenticated_superuser: bool,
    session_user: u32,
    /// SET ROLE (`None`: NONE).
    role: Option<u32>,
    /// SET LOCAL ROLE, until the transaction ends.
    local_role: Option<Option<u32>>,
    /// (session user, role) at BEGIN, restored if the transaction rolls back.
    at_begin: Option<(u32, Option<u32>)>,
    /// Counts this session against the role's CONNECTION LIMIT while it lives.
    _slot: Option<ConnectionSlot>,
}

impl Identity {
    pub(crate) fn new(role: u32, superuser: bool, slot: Option<ConnectionSlot>) -> Identity {
        Identity {
            authenticated: role,
            authenticated_superuser: superuser,
            session_user: role,
            role: None,
            local_role: None,
            at_begin: None,
            _slot: slot,
        }
    }

    /// The role `SET ROLE` chose, if any.
    fn role_setting(&self) -> Option<u32> {
        self.local_role.unwrap_or(self.role)
    }

    pub(crate) fn current_user(&self) -> u32 {
        self.role_setting().unwrap_or(self.session_user)
    }

    pub(crate) fn session_user(&self) -> u32 {
        self.session_user
    }

    /// An explicit transaction starts: remember what to restore on rollback.
    pub(crate) fn begin_transaction(&mut self) {
        self.at_begin = Some((self.session_user, self.role));
    }

    /// The transaction ended; `committed` is false for a rollback (or failed commit).
    pub(crate) fn end_transaction(&mut self, committed: bool) {
        self.local_role = None;
        if let Some((session_user, role)) = self.at_begin.take()
            && !committed
        {
            self.session_user = session_user;
            self.role = role;
        }
    }

    /// The value of the identity settings `role`, `session_authorization`
    /// and `is_superuser`; `None` for any other name.
    pub(crate) fn setting(&self, catalog: &Catalog, name: &str) -> Option<Result<String>> {
        let name_of = |id: u32| catalog.role(id).map(|r| r.name.clone());
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "role" => match self.role_setting() {
                Some(id) => name_of(id),
                None => Ok("none".into()),
            },
            "session_authorization" => name_of(self.session_user),
            "is_superuser" => catalog
                .role(self.current_user())
                .map(|r| if r.superuser { "on" } else { "off" }.to_string()),
            _ => return None,
        })
    }
}

/// A session's place in its role's CONNECTION LIMIT; released on drop.
pub(crate) struct ConnectionSlot {
    db: Arc<DbInner>,
    role: u32,
}

impl ConnectionSlot {
    /// Takes a slot unless `limit` sessions of the role are open (53300).
    pub(crate) fn acquire(db: &Arc<DbInner>, role: u32, name: &str, limit: i32) -> Result<Self> {
        let mut open = db.role_sessions.lock();
        let n = open.entry(role).or_insert(0);
        if i64::from(*n) >= i64::from(limit) {
            return Err(Error::new(
                SqlState::TOO_MANY_CONNECTIONS,
                format!("too many connections for role \"{name}\""),
            ));
        }
        *n += 1;
        Ok(ConnectionSlot {
            db: db.clone(),
            role,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.db.role_sessions.lock();
        if let Some(n) = open.get_mut(&self.role) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.role);
            }
        }
    }
}

/// The role a SET names, with PostgreSQL's error for an unknown one (a bad
/// parameter value, 22023).
fn role_for_set(catalog: &Catalog, name: &str) -> Result<u32> {
    catalog.role_by_name(name).map(|r| r.id).ok_or_else(|| {
        let e = role_not_found(name);
        Error::new(SqlState::INVALID_PARAMETER_VALUE, e.message)
    })
}

/// The name in `SET ROLE name` (`None`: NONE).
fn set_role_name(i: Option<&ast::Ident>) -> Option<String> {
    let i = i?;
    let name = crate::sql::binder::ident(i);
    if i.quote_style != Some('"') && name.eq_ignore_ascii_case("none") {
        return None;
    }
    Some(name)
}

impl Session {
    /// `SET [LOCAL] ROLE name | NONE`, `SET role = ...`, `RESET ROLE`.
    pub(super) fn set_role(&mut self, name: Option<&ast::Ident>, local: bool) -> Result<()> {
        let target = match set_role_name(name) {
            None => None,
            Some(name) => {
                let catalog = self.catalog()?;
                let id = role_for_set(&catalog, &name)?;
                if !catalog.is_member_of(self.identity.session_user, id) {
                    return Err(Error::new(
                        SqlState::INSUFFICIENT_PRIVILEGE,
                        format!("permission denied to set role \"{name}\""),
                    ));
                }
                Some(id)
            }
        };
        if local {
            // Outside a transaction block SET LOCAL has no effect (PostgreSQL warns).
            if self.in_transaction() {
                self.identity.local_role = Some(target);
            }
        } else {
            self.identity.role = target;
            self.identity.local_role = None;
        }
        Ok(())
    }

    /// `SET SESSION AUTHORIZATION name | DEFAULT`, `RESET SESSION AUTHORIZATION`.
    pub(super) fn set_session_authorization(&mut self, name: Option<&ast::Ident>) -> Result<()> {
        let target = match name {
            None => self.identity.authenticated,
            Some(i) => {
                let name = crate::sql::binder::ident(i);
                let catalog = self.catalog()?;
                let id = role_for_set(&catalog, &name)?;
                if id != self.identity.authenticated && !self.identity.authenticated_superuser {
                    return Err(Error::new(
                        SqlState::INSUFFICIENT_PRIVILEGE,
                        format!("permission denied to set session authorization \"{name}\""),
                    ));
                }
                id
            }
        };
        self.identity.session_user = target;
        self.identity.role = None;
        self.identity.local_role = None;
        Ok(())
    }

    /// `SET role = ...` / `SET session_authorization = ...` written as
    /// ordinary settings; false if `name` is neither.
    pub(super) fn set_identity_setting(
        &mut self,
        name: &str,
        values: &[ast::Expr],
        local: bool,
    ) -> Result<bool> {
        let name = name.to_ascii_lowercase();
        if !matches!(
            name.as_str(),
            "role" | "session_authorization" | "is_superuser"
        ) {
            return Ok(false);
        }
        if name == "is_superuser" {
            return Err(Error::new(
                SqlState::CANT_CHANGE_RUNTIME_PARAM,
                "parameter \"is_superuser\" cannot be changed",
            ));
        }
        // The value: an identifier (folded to lower case unless quoted) or a string.
        let value = match values {
            [ast::Expr::Identifier(i)] => i.clone(),
            [ast::Expr::Value(v)] => match &v.value {
                ast::Value::SingleQuotedString(s) => ast::Ident::with_quote('\'', s.as_str()),
                other => ast::Ident::new(other.to_string()),
            },
            _ => {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("SET {name} takes only one argument"),
                ));
            }
        };
        let default = value.quote_style.is_none() && value.value.eq_ignore_ascii_case("default");
        let value = (!default).then_some(&value);
        if name == "role" {
            self.set_role(value, local)?;
        } else {
            self.set_session_authorization(value)?;
        }
        Ok(true)
    }

    /// The session user's name (`session_user`).
    pub fn session_user(&mut self) -> Result<String> {
        let id = self.identity.session_user;
        self.with_catalog(|c| c.role(id).map(|r| r.name.clone()))
    }

    /// The current user's name (`current_user`): the role SET ROLE chose, or the session user.
    pub fn current_user(&mut self) -> Result<String> {
        let id = self.identity.current_user();
        self.with_catalog(|c| c.role(id).map(|r| r.name.clone()))
    }

    /// Runs `f` over the catalog of the current transaction, or the latest
    /// committed catalog outside one.
    pub(super) fn with_catalog<R>(&mut self, f: impl FnOnce(&Catalog) -> Result<R>) -> Result<R> {
        if self.txn.is_some() {
            let c = self.catalog()?;
            return f(&c);
        }
        f(&*super::database::latest_catalog(&self.db, self.database)?)
    }
}
