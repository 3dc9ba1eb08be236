//! Data types with PostgreSQL's names and type OIDs.

use serde::{Deserialize, Serialize};

/// A SQL data type. Modifiers (`varchar(n)`, `numeric(p,s)`) are part of the type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`; `None` is unconstrained `numeric`.
    Numeric(Option<(u32, u32)>),
    Text,
    /// `varchar(n)`; `None` is unbounded.
    Varchar(Option<u32>),
    /// `char(n)` (bpchar); blank-padded to n.
    Char(u32),
    Bytea,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// One-dimensional array of the element type.
    Array(Box<DataType>),
    /// The type of an untyped NULL or an untyped string literal before coercion.
    Unknown,
}
