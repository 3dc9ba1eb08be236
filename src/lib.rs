//! HeliosDB Nano: a PostgreSQL-compatible SQL database, embedded or served.
//!
//! Layers, top to bottom (each only uses the ones below it):
//!
//! * [`shell`] and [`server`]: the `heliosdb shell` client (psql-like, on an
//!   embedded session or over the wire) and the wire-protocol server.
//! * [`session`]: the `Database` / `Session` API used by embedded callers,
//!   the shell and the server.
//! * [`tenant`] and [`cdc`]: tenants' quotas, and the committed changes read
//!   back from the change log (beside the session, used from it).
//! * [`sql`]: parsing, binding, optimizing and executing statements.
//! * [`catalog`]: databases, schemas, tables, indexes, constraints,
//!   sequences, views, roles and planner statistics, stored transactionally
//!   in the key space.
//! * [`txn`]: MVCC transactions: snapshots, write sets, row locks, commit.
//! * [`storage`]: the key-value engine seam, with a memory and a redb engine.
//! * [`types`]: SQL types and values, casts, operators and key/row encodings.
//! * [`error`]: the one error type, carrying PostgreSQL SQLSTATEs.
//! * [`notice`]: notices and warnings a statement sends besides its result.

pub mod catalog;
pub mod cdc;
pub mod error;
pub mod notice;
pub mod server;
pub mod session;
pub mod shell;
pub mod sql;
mod stack;
pub mod storage;
pub mod tenant;
pub mod txn;
pub mod types;

pub use cdc::{ChangeEvent, ChangeFilter};
pub use error::{Error, Result, SqlState};
pub use notice::{Notice, Severity};
pub use session::{
    CancelHandle, ColumnInfo, CopyMode, Database, FromValue, LoginRole, Prepared, Row, Rows,
    ScramVerifier, Session, StatementResult, ToValue, TransactionGuard,
};
pub use types::{DataType, Value};

/// The product version printed by `heliosdb --version`.
pub const VERSION: &str = "3.2.0";

/// The text `version()` returns: a PostgreSQL-style version string drivers can parse.
pub fn version_string() -> String {
    format!(
        "PostgreSQL 16.0 (HeliosDB Nano {VERSION}) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit"
    )
}

/// The README's Rust examples are compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
