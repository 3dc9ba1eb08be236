//! One SQL datum.

use super::{DataType, Interval};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A single value. `Null` is SQL NULL (of any type).
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Decimal),
    /// text, varchar(n) and char(n) values.
    Text(String),
    Bytea(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    Timestamptz(DateTime<Utc>),
    Interval(Interval),
    Uuid(Uuid),
    /// `json`: the input text, kept as written (validated on input).
    Json(String),
    /// `jsonb`: parsed and normalised.
    Jsonb(serde_json::Value),
    /// One-dimensional array; the element type is the first component.
    Array(DataType, Vec<Value>),
}
