//! Logging in: what a server needs to authenticate a role, and sessions that
//! run as a named role.
//!
//! The wire server looks a role up with [`Database::login_role`], checks the
//! client's password or SCRAM proof against the stored [`ScramVerifier`]
//! (and `valid_until`), then opens the session with [`Database::connect_as`].
//! Embedded callers are trusted: `connect_as` takes no password.

use super::Session;
use super::database::Database;
use super::identity::{ConnectionSlot, Identity};
use crate::catalog::keys;
use crate::catalog::{self as cat, BOOTSTRAP_DATABASE, Catalog};
use crate::error::{Error, Result, SqlState};
use crate::txn::IsolationLevel;
use chrono::{DateTime, Utc};

pub use crate::catalog::scram::ScramVerifier;

/// What authentication needs to know about a role.
#[derive(Clone, Debug)]
pub struct LoginRole {
    pub name: String,
    /// The role has LOGIN.
    pub can_login: bool,
    pub superuser: bool,
    /// Maximum concurrent sessions; -1 means no limit (superusers are exempt).
    pub connection_limit: i32,
    /// The password is not accepted after this instant.
    pub valid_until: Option<DateTime<Utc>>,
    /// The stored password verifier; `None` if the role has no password.
    pub scram: Option<ScramVerifier>,
}

impl Database {
    /// The role `name` as the latest committed catalog has it, or `None` if
    /// there is no such role.
    pub fn login_role(&self, name: &str) -> Result<Option<LoginRole>> {
        let catalog = self.latest_catalog()?;
        Ok(catalog.role_by_name(name).map(|r| LoginRole {
            name: r.name.clone(),
            can_login: r.login,
            superuser: r.superuser,
            connection_limit: r.connection_limit,
            valid_until: r.valid_until,
            scram: r.password.as_deref().and_then(ScramVerifier::parse),
        }))
    }

    /// Sets (or with `None` clears) a role's password and commits. A
    /// password already in SCRAM-SHA-256 verifier form is stored as is, like
    /// `ALTER ROLE ... PASSWORD`. Fails with 42704 for an unknown role.
    pub fn set_role_password(&self, role: &str, password: Option<&str>) -> Result<()> {
        let mut txn = self.inner.txns.begin(IsolationLevel::ReadCommitted)?;
        txn.lock(keys::LOCK_ROLES, crate::txn::locks::LockMode::Exclusive)?;
        txn.refresh_snapshot()?;
        let catalog = Catalog::load(&txn, BOOTSTRAP_DATABASE)?;
        let mut r = (**catalog.role_named(role)?).clone();
        r.password = password
            .filter(|p| !p.is_empty())
            .map(|p| match ScramVerifier::parse(p) {
                Some(_) => p.to_string(),
                None => ScramVerifier::from_password(p).to_string(),
            });
        cat::put_object(&mut txn, cat::KIND_ROLE, r.id, &r)?;
        cat::bump_version(&mut txn);
        txn.commit()?;
        Ok(())
    }

    /// True if the bootstrap superuser has a password (a server that may
    /// otherwise only trust loopback connections checks this).
    pub fn superuser_has_password(&self) -> Result<bool> {
        let catalog = self.latest_catalog()?;
        Ok(catalog
            .bootstrap_role()
            .and_then(|id| catalog.roles.get(&id))
            .is_some_and(|r| r.password.is_some()))
    }

    /// A new session running as role `name` (session user and current user)
    /// in the bootstrap database. The caller has authenticated the role;
    /// this only checks that it may log in (`valid_until` limits passwords,
    /// so it is the authenticator's check, not this one's). Fails with 28000
    /// if the role does not exist or lacks LOGIN, and with 53300 if its
    /// CONNECTION LIMIT sessions are already open (superusers are exempt, as
    /// in PostgreSQL).
    pub fn connect_as(&self, name: &str) -> Result<Session> {
        self.connect_role(name, None)
    }

    /// Like [`Database::connect_as`], in database `database`: also fails
    /// with 3D000 if it does not exist, 55000 if it does not allow
    /// connections and 53300 if its CONNECTION LIMIT is reached (checked
    /// after the role, as PostgreSQL does).
    pub fn connect_as_to(&self, name: &str, database: &str) -> Result<Session> {
        self.connect_role(name, Some(database))
    }

    fn connect_role(&self, name: &str, database: Option<&str>) -> Result<Session> {
        let catalog = self.latest_catalog()?;
        let invalid = |msg: String| Error::new(SqlState::INVALID_AUTHORIZATION_SPECIFICATION, msg);
        let role = catalog
            .role_by_name(name)
            .ok_or_else(|| invalid(format!("role \"{name}\" does not exist")))?;
        if !role.login {
            return Err(invalid(format!(
                "role \"{name}\" is not permitted to log in"
            )));
        }
        let database = match database {
            Some(d) => catalog.database_named(d)?,
            None => catalog.database(BOOTSTRAP_DATABASE)?,
        };
        let db_slot = self.open_database(database, role.superuser)?;
        let slot = if role.superuser || role.connection_limit < 0 {
            None
        } else {
            Some(ConnectionSlot::acquire(
                &self.inner,
                role.id,
                &role.name,
                role.connection_limit,
            )?)
        };
        let identity = Identity::new(role.id, role.superuser, slot);
        let mut session = Session::new(self.inner.clone(), identity, db_slot);
        if let Some(tenant) = role.tenant {
            session.bind_tenant(tenant)?;
        }
        Ok(session)
    }
}
