//! Databases: the top-level namespaces of a data directory.
//!
//! A data directory holds one or more databases, as a PostgreSQL cluster
//! does. A database is a global catalog object (kind
//! [`KIND_DATABASE`](super::KIND_DATABASE)), like a role; every schema,
//! table, index, sequence and view belongs to exactly one database (its
//! `database` field), and a session sees the global objects plus those of
//! the database it connected to ([`Catalog::load`](super::Catalog::load)).
//! All databases share one storage engine, one key space and one commit
//! path, so a transaction is atomic however the data is spread.
//!
//! The first database, [`BOOTSTRAP_DATABASE_NAME`], has the fixed id
//! [`BOOTSTRAP_DATABASE`] (PostgreSQL's oid of `postgres`). Objects written
//! before databases existed have no `database` field and belong to it, so
//! older data directories open unchanged. It cannot be dropped:
//! `Database::connect` and the server's default connections rely on it.

use super::Catalog;
use crate::error::{Error, Result, SqlState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The id of the bootstrap database.
pub const BOOTSTRAP_DATABASE: u32 = 5;

/// The name the bootstrap database gets when a data directory is created.
pub const BOOTSTRAP_DATABASE_NAME: &str = "heliosdb";

/// The serde default of the `database` field of per-database objects.
pub fn bootstrap_database() -> u32 {
    BOOTSTRAP_DATABASE
}

/// A database (`pg_database` row).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatabaseDef {
    pub id: u32,
    pub name: String,
    /// The owning role.
    pub owner: u32,
    /// False: nobody can connect (`ALLOW_CONNECTIONS false`).
    pub allow_connections: bool,
    /// Maximum concurrent sessions of non-superusers; -1 means no limit.
    pub connection_limit: i32,
}

impl DatabaseDef {
    /// A database with CREATE DATABASE's defaults.
    pub fn new(id: u32, name: String, owner: u32) -> DatabaseDef {
        DatabaseDef {
            id,
            name,
            owner,
            allow_connections: true,
            connection_limit: -1,
        }
    }
}

impl Catalog {
    /// The database this catalog was loaded for.
    pub fn current_database(&self) -> Result<&Arc<DatabaseDef>> {
        self.database(self.database)
    }

    /// The database with id `id`, or 3D000 for one that no longer exists.
    pub fn database(&self, id: u32) -> Result<&Arc<DatabaseDef>> {
        self.databases.get(&id).ok_or_else(|| {
            Error::new(
                SqlState::INVALID_CATALOG_NAME,
                format!("database with OID {id} does not exist"),
            )
        })
    }

    pub fn database_by_name(&self, name: &str) -> Option<&Arc<DatabaseDef>> {
        self.databases.values().find(|d| d.name == name)
    }

    /// The database called `name`, or 3D000 `database "name" does not exist`.
    pub fn database_named(&self, name: &str) -> Result<&Arc<DatabaseDef>> {
        self.database_by_name(name)
            .ok_or_else(|| database_not_found(name))
    }
}

pub fn database_not_found(name: &str) -> Error {
    Error::new(
        SqlState::INVALID_CATALOG_NAME,
        format!("database \"{name}\" does not exist"),
    )
}

/// PostgreSQL's error for a database other sessions use (DROP, RENAME).
pub fn database_in_use(name: &str, others: usize) -> Error {
    let detail = if others == 1 {
        "There is 1 other session using the database.".to_string()
    } else {
        format!("There are {others} other sessions using the database.")
    };
    Error::new(
        SqlState::OBJECT_IN_USE,
        format!("database \"{name}\" is being accessed by other users"),
    )
    .with_detail(detail)
}
