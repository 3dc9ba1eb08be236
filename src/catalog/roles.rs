//! Roles: PostgreSQL's users and groups, and membership between them.
//!
//! A role is a catalog object (kind [`KIND_ROLE`](super::KIND_ROLE)) like a
//! table, so CREATE / ALTER / DROP ROLE and GRANT / REVOKE of membership are
//! transactional. Roles are global: they do not live in a schema.
//!
//! Membership is stored on the member: `member_of` lists the roles a role was
//! granted. It is acyclic (GRANT refuses to close a loop, 0LP01) and a member
//! of a role may `SET ROLE` to it; superusers are members of every role.
//!
//! The bootstrap superuser is the role with the lowest id: it is created when
//! a database is first opened, before any other role can be, and it can
//! neither be dropped nor lose SUPERUSER.

use super::Catalog;
use crate::error::{Error, Result, SqlState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The superuser every new database starts with.
pub const BOOTSTRAP_SUPERUSER: &str = "heliosdb";

/// A role (`pg_authid` row plus its memberships).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoleDef {
    pub id: u32,
    pub name: String,
    pub superuser: bool,
    pub createrole: bool,
    pub createdb: bool,
    pub login: bool,
    pub bypassrls: bool,
    pub inherit: bool,
    /// Maximum concurrent sessions; -1 means no limit.
    pub connection_limit: i32,
    /// The password (not the role) stops being valid at this instant.
    #[serde(with = "micros")]
    pub valid_until: Option<DateTime<Utc>>,
    /// A SCRAM-SHA-256 verifier in PostgreSQL's text form; never a plain password.
    pub password: Option<String>,
    /// Roles this role is a direct member of.
    pub member_of: Vec<u32>,
    /// The tenant every session of this role runs in (`helios.bind_role`).
    #[serde(default)]
    pub tenant: Option<uuid::Uuid>,
}

impl RoleDef {
    /// A role with CREATE ROLE's defaults (NOLOGIN, INHERIT, nothing else).
    pub fn new(id: u32, name: String) -> RoleDef {
        RoleDef {
            id,
            name,
            superuser: false,
            createrole: false,
            createdb: false,
            login: false,
            bypassrls: false,
            inherit: true,
            connection_limit: -1,
            valid_until: None,
            password: None,
            member_of: Vec::new(),
            tenant: None,
        }
    }

    /// The bootstrap superuser `heliosdb`: every attribute, no password.
    pub fn bootstrap(id: u32) -> RoleDef {
        RoleDef {
            superuser: true,
            createrole: true,
            createdb: true,
            login: true,
            bypassrls: true,
            ..RoleDef::new(id, BOOTSTRAP_SUPERUSER.into())
        }
    }
}

impl Catalog {
    pub fn role_by_name(&self, name: &str) -> Option<&std::sync::Arc<RoleDef>> {
        self.role_names.get(name).and_then(|id| self.roles.get(id))
    }

    /// The role `id`, or PostgreSQL's error for a role that no longer exists.
    pub fn role(&self, id: u32) -> Result<&std::sync::Arc<RoleDef>> {
        self.roles.get(&id).ok_or_else(|| {
            Error::new(
                SqlState::UNDEFINED_OBJECT,
                format!("invalid role OID: {id}"),
            )
        })
    }

    /// The role called `name`, or 42704 `role "name" does not exist`.
    pub fn role_named(&self, name: &str) -> Result<&std::sync::Arc<RoleDef>> {
        self.role_by_name(name).ok_or_else(|| role_not_found(name))
    }

    /// The bootstrap superuser's id (the lowest role id).
    pub fn bootstrap_role(&self) -> Option<u32> {
        self.roles.keys().next().copied()
    }

    /// True if `member` is `role`, or a direct or indirect member of it,
    /// ignoring superuser status.
    pub fn is_member_of_nosuper(&self, member: u32, role: u32) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![member];
        while let Some(r) = stack.pop() {
            if r == role {
                return true;
            }
            if seen.insert(r)
                && let Some(def) = self.roles.get(&r)
            {
                stack.extend(def.member_of.iter().copied());
            }
        }
        false
    }

    /// True if `member` may act as `role` (SET ROLE): it is a superuser or a member.
    pub fn is_member_of(&self, member: u32, role: u32) -> bool {
        self.roles.get(&member).is_some_and(|m| m.superuser)
            || self.is_member_of_nosuper(member, role)
    }
}

pub fn role_not_found(name: &str) -> Error {
    Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("role \"{name}\" does not exist"),
    )
}

/// Stores an optional instant as microseconds since the Unix epoch.
mod micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        t.map(|t| t.timestamp_micros()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            None => Ok(None),
            Some(us) => DateTime::from_timestamp_micros(us)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("valid_until out of range")),
        }
    }
}
