//! SQL data types and values.
//!
//! [`DataType`] names a column or expression type with PostgreSQL's names;
//! [`Value`] is one typed datum. This module owns everything about a value
//! that does not need the catalog: parsing text input, printing output in
//! PostgreSQL's text format, casts, arithmetic and comparison operators, and
//! the two byte encodings the storage layers use (an order-preserving key
//! encoding for primary and index keys, and a compact row encoding).
//!
//! Errors use PostgreSQL's SQLSTATEs: 22P02 for invalid input, 22003 for
//! out-of-range numbers, 22012 for division by zero, 22001 for strings that
//! are too long, 22007/22008 for bad dates and times.

mod cast;
mod datatype;
mod datetime;
pub mod encoding;
mod ops;
mod value;

pub use datatype::DataType;
pub use datetime::Interval;
pub use ops::{BinaryOp, UnaryOp};
pub use value::{RecordTypes, Value, record_text};
