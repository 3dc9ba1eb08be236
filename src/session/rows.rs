//! Query results for the embedded API: [`Rows`], [`Row`], and conversions
//! between Rust values and SQL [`Value`]s.

use crate::error::{Error, Result, SqlState};
use crate::types::{DataType, Interval, Value};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;
use uuid::Uuid;

/// Name and type of a result column.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub ty: DataType,
}

/// The rows a statement returned, with their column names and types.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    columns: Arc<Vec<ColumnInfo>>,
    rows: Vec<Row>,
}

impl Rows {
    pub(crate) fn new(columns: Vec<ColumnInfo>, values: Vec<Vec<Value>>) -> Rows {
        Rows::with_columns(Arc::new(columns), values)
    }

    pub(crate) fn with_columns(columns: Arc<Vec<ColumnInfo>>, values: Vec<Vec<Value>>) -> Rows {
        let rows = values
            .into_iter()
            .map(|v| Row {
                values: v,
                columns: columns.clone(),
            })
            .collect();
        Rows { columns, rows }
    }

    pub fn columns(&self) -> &[ColumnInfo] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Row> {
        self.rows.iter()
    }

    pub fn get(&self, i: usize) -> Option<&Row> {
        self.rows.get(i)
    }
}

impl IntoIterator for Rows {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

/// One result row.
#[derive(Clone, Debug)]
pub struct Row {
    values: Vec<Value>,
    columns: Arc<Vec<ColumnInfo>>,
}

/// A column position or name.
pub trait ColumnIndex {
    fn index(&self, columns: &[ColumnInfo]) -> Result<usize>;
}

impl ColumnIndex for usize {
    fn index(&self, columns: &[ColumnInfo]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!(
                    "column index {self} out of range ({} columns)",
                    columns.len()
                ),
            ))
        }
    }
}

impl ColumnIndex for &str {
    fn index(&self, columns: &[ColumnInfo]) -> Result<usize> {
        columns
            .iter()
            .position(|c| c.name == *self)
            .ok_or_else(|| Error::undefined_column(self))
    }
}

impl Row {
    /// The value of a column converted to `T` (22P02/22003 style errors on mismatch).
    pub fn get<T: FromValue>(&self, idx: impl ColumnIndex) -> Result<T> {
        let i = idx.index(&self.columns)?;
        T::from_value(&self.values[i])
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    pub fn columns(&self) -> &[ColumnInfo] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Conversion from a SQL value.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Result<Self>;
}

fn mismatch(v: &Value, want: &str) -> Error {
    Error::new(
        SqlState::DATATYPE_MISMATCH,
        format!(
            "cannot read a value of type {} as {want}",
            v.data_type().name()
        ),
    )
}

fn not_null<T>(v: &Value, want: &str) -> Result<T> {
    let _ = v;
    Err(Error::new(
        SqlState::NULL_VALUE_NOT_ALLOWED,
        format!("unexpected NULL read as {want}; use Option<{want}>"),
    ))
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self> {
        if v.is_null() {
            Ok(None)
        } else {
            T::from_value(v).map(Some)
        }
    }
}

impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self> {
        Ok(v.clone())
    }
}

macro_rules! int_from_value {
    ($t:ty, $name:literal) => {
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self> {
                let wide: i64 = match v {
                    Value::Null => return not_null(v, $name),
                    Value::Int2(i) => *i as i64,
                    Value::Int4(i) => *i as i64,
                    Value::Int8(i) => *i,
                    _ => return Err(mismatch(v, $name)),
                };
                <$t>::try_from(wide).map_err(|_| Error::out_of_range($name))
            }
        }
    };
}
int_from_value!(i16, "i16");
int_from_value!(i32, "i32");
int_from_value!(i64, "i64");

impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => not_null(v, "f64"),
            Value::Float4(f) => Ok(*f as f64),
            Value::Float8(f) => Ok(*f),
            Value::Int2(i) => Ok(*i as f64),
            Value::Int4(i) => Ok(*i as f64),
            Value::Int8(i) => Ok(*i as f64),
            Value::Numeric(d) => d.to_string().parse().map_err(|_| mismatch(v, "f64")),
            _ => Err(mismatch(v, "f64")),
        }
    }
}

impl FromValue for f32 {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Float4(f) => Ok(*f),
            other => f64::from_value(other).map(|f| f as f32),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => not_null(v, "bool"),
            Value::Bool(b) => Ok(*b),
            _ => Err(mismatch(v, "bool")),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => not_null(v, "String"),
            Value::Text(s) | Value::Json(s) => Ok(s.clone()),
            other => Ok(other.to_string()),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => not_null(v, "Vec<u8>"),
            Value::Bytea(b) => Ok(b.clone()),
            _ => Err(mismatch(v, "Vec<u8>")),
        }
    }
}

impl FromValue for Decimal {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => not_null(v, "Decimal"),
            Value::Numeric(d) => Ok(*d),
            Value::Int2(i) => Ok(Decimal::from(*i)),
            Value::Int4(i) => Ok(Decimal::from(*i)),
            Value::Int8(i) => Ok(Decimal::from(*i)),
            _ => Err(mismatch(v, "Decimal")),
        }
    }
}

macro_rules! simple_from_value {
    ($t:ty, $variant:ident, $name:literal) => {
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self> {
                match v {
                    Value::Null => not_null(v, $name),
                    Value::$variant(x) => Ok(x.clone()),
                    _ => Err(mismatch(v, $name)),
                }
            }
        }
    };
}
simple_from_value!(Uuid, Uuid, "Uuid");
simple_from_value!(NaiveDate, Date, "NaiveDate");
simple_from_value!(NaiveTime, Time, "NaiveTime");
simple_from_value!(NaiveDateTime, Timestamp, "NaiveDateTime");
simple_from_value!(DateTime<Utc>, Timestamptz, "DateTime<Utc>");
simple_from_value!(Interval, Interval, "Interval");

impl FromValue for serde_json::Value {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => not_null(v, "serde_json::Value"),
            Value::Jsonb(j) => Ok(j.clone()),
            Value::Json(s) => serde_json::from_str(s).map_err(|_| mismatch(v, "serde_json::Value")),
            _ => Err(mismatch(v, "serde_json::Value")),
        }
    }
}

/// Conversion of a Rust value into a query parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

macro_rules! to_value {
    ($t:ty, $variant:ident) => {
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::$variant(self.clone().into())
            }
        }
    };
}
to_value!(bool, Bool);
to_value!(i16, Int2);
to_value!(i32, Int4);
to_value!(i64, Int8);
to_value!(f32, Float4);
to_value!(f64, Float8);
to_value!(Decimal, Numeric);
to_value!(String, Text);
to_value!(Vec<u8>, Bytea);
to_value!(Uuid, Uuid);
to_value!(NaiveDate, Date);
to_value!(NaiveTime, Time);
to_value!(NaiveDateTime, Timestamp);
to_value!(DateTime<Utc>, Timestamptz);
to_value!(Interval, Interval);
to_value!(serde_json::Value, Jsonb);

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Bytea(self.to_vec())
    }
}
