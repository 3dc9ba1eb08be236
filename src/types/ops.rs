//! Operators: result types and evaluation, with PostgreSQL's promotions and errors.

use super::datetime::{self, Interval};
use super::{DataType, Value};
use crate::error::{Error, Result, SqlState};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    Exponent,
    Concat,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    JsonGet,
    JsonGetText,
    JsonPathGet,
    JsonPathGetText,
    JsonContains,
    JsonContainedBy,
    JsonExists,
    BitAnd,
    BitOr,
    BitXor,
    ShiftLeft,
    ShiftRight,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryOp {
    Neg,
    Plus,
    BitNot,
}

fn no_operator(op: &str, l: &DataType, r: &DataType) -> Error {
    Error::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("operator does not exist: {} {op} {}", l.name(), r.name()),
    )
    .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

fn int_rank(t: &DataType) -> u8 {
    match t {
        DataType::Int2 => 1,
        DataType::Int4 => 2,
        _ => 3,
    }
}

/// The numeric type both operands are promoted to.
fn promote(l: &DataType, r: &DataType) -> Option<DataType> {
    if !l.is_numeric() || !r.is_numeric() {
        return None;
    }
    Some(if l.is_float() || r.is_float() {
        if *l == DataType::Float4 && *r == DataType::Float4 {
            DataType::Float4
        } else {
            DataType::Float8
        }
    } else if matches!(l, DataType::Numeric(_)) || matches!(r, DataType::Numeric(_)) {
        DataType::Numeric(None)
    } else if int_rank(l) >= int_rank(r) {
        l.clone()
    } else {
        r.clone()
    })
}

fn comparable(l: &DataType, r: &DataType) -> bool {
    (l.is_numeric() && r.is_numeric())
        || (l.is_text() && r.is_text())
        || (matches!(
            l,
            DataType::Date | DataType::Timestamp | DataType::Timestamptz
        ) && matches!(
            r,
            DataType::Date | DataType::Timestamp | DataType::Timestamptz
        ))
        || (l == r && !matches!(l, DataType::Json))
        || (matches!(l, DataType::Array(_)) && matches!(r, DataType::Array(_)))
        || (matches!(l, DataType::Jsonb) && matches!(r, DataType::Jsonb))
}

impl BinaryOp {
    pub fn symbol(&self) -> &'static str {
        match self {
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Modulo => "%",
            BinaryOp::Exponent => "^",
            BinaryOp::Concat => "||",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::JsonGet => "->",
            BinaryOp::JsonGetText => "->>",
            BinaryOp::JsonPathGet => "#>",
            BinaryOp::JsonPathGetText => "#>>",
            BinaryOp::JsonContains => "@>",
            BinaryOp::JsonContainedBy => "<@",
            BinaryOp::JsonExists => "?",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "#",
            BinaryOp::ShiftLeft => "<<",
            BinaryOp::ShiftRight => ">>",
        }
    }

    fn is_comparison(&self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }

    /// The result type, or 42883 when no such operator exists.
    pub fn result_type(&self, l: &DataType, r: &DataType) -> Result<DataType> {
        use DataType as T;
        let err = || no_operator(self.symbol(), l, r);
        if *l == T::Unknown && *r == T::Unknown {
            return Ok(match self {
                op if op.is_comparison() => T::Bool,
                BinaryOp::Concat => T::Text,
                _ => T::Unknown,
            });
        }
        if self.is_comparison() {
            let (a, b) = match (l, r) {
                (T::Unknown, x) | (x, T::Unknown) => (x, x),
                _ => (l, r),
            };
            return if comparable(a, b) {
                Ok(T::Bool)
            } else {
                Err(err())
            };
        }
        Ok(match self {
            BinaryOp::Plus | BinaryOp::Minus => match (l, r) {
                (a, b) if a.is_numeric() && b.is_numeric() => promote(a, b).ok_or_else(err)?,
                (T::Date, b) if b.is_integer() => T::Date,
                (a, T::Date) if a.is_integer() && *self == BinaryOp::Plus => T::Date,
                (T::Date, T::Date) if *self == BinaryOp::Minus => T::Int4,
                (T::Date, T::Interval) => T::Timestamp,
                (T::Interval, T::Date) if *self == BinaryOp::Plus => T::Timestamp,
                (T::Timestamp, T::Interval) => T::Timestamp,
                (T::Interval, T::Timestamp) if *self == BinaryOp::Plus => T::Timestamp,
                (T::Timestamptz, T::Interval) => T::Timestamptz,
                (T::Interval, T::Timestamptz) if *self == BinaryOp::Plus => T::Timestamptz,
                (T::Timestamp, T::Timestamp) | (T::Timestamptz, T::Timestamptz)
                    if *self == BinaryOp::Minus =>
                {
                    T::Interval
                }
                (T::Interval, T::Interval) => T::Interval,
                (T::Time, T::Interval) => T::Time,
                (T::Time, T::Time) if *self == BinaryOp::Minus => T::Interval,
                (T::Jsonb, T::Text | T::Int4) if *self == BinaryOp::Minus => T::Jsonb,
                _ => return Err(err()),
            },
            BinaryOp::Multiply | BinaryOp::Divide => match (l, r) {
                (a, b) if a.is_numeric() && b.is_numeric() => promote(a, b).ok_or_else(err)?,
                (T::Interval, b) if b.is_numeric() => T::Interval,
                (a, T::Interval) if a.is_numeric() && *self == BinaryOp::Multiply => T::Interval,
                _ => return Err(err()),
            },
            BinaryOp::Modulo => match (l, r) {
                (a, b) if a.is_numeric() && b.is_numeric() && !a.is_float() && !b.is_float() => {
                    promote(a, b).ok_or_else(err)?
                }
                _ => return Err(err()),
            },
            BinaryOp::Exponent => match (l, r) {
                (a, b) if a.is_numeric() && b.is_numeric() => {
                    if matches!(a, T::Numeric(_)) || matches!(b, T::Numeric(_)) {
                        T::Numeric(None)
                    } else {
                        T::Float8
                    }
                }
                _ => return Err(err()),
            },
            BinaryOp::Concat => match (l, r) {
                (T::Array(a), T::Array(_)) => T::Array(a.clone()),
                (T::Array(a), _) | (_, T::Array(a)) => T::Array(a.clone()),
                (T::Jsonb, T::Jsonb) => T::Jsonb,
                (T::Bytea, T::Bytea) => T::Bytea,
                (a, b) if a.is_text() || b.is_text() || *a == T::Unknown || *b == T::Unknown => {
                    T::Text
                }
                _ => return Err(err()),
            },
            BinaryOp::JsonGet | BinaryOp::JsonPathGet => match l {
                T::Jsonb => T::Jsonb,
                T::Json => T::Json,
                _ => return Err(err()),
            },
            BinaryOp::JsonGetText | BinaryOp::JsonPathGetText => match l {
                T::Jsonb | T::Json => T::Text,
                _ => return Err(err()),
            },
            BinaryOp::JsonContains | BinaryOp::JsonContainedBy => match (l, r) {
                (T::Jsonb, T::Jsonb | T::Unknown) | (T::Unknown, T::Jsonb) => T::Bool,
                (T::Array(_), T::Array(_)) => T::Bool,
                _ => return Err(err()),
            },
            BinaryOp::JsonExists => match l {
                T::Jsonb => T::Bool,
                _ => return Err(err()),
            },
            BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor => match (l, r) {
                (a, b) if a.is_integer() && b.is_integer() => promote(a, b).ok_or_else(err)?,
                _ => return Err(err()),
            },
            BinaryOp::ShiftLeft | BinaryOp::ShiftRight => match (l, r) {
                (a, b) if a.is_integer() && b.is_integer() => a.clone(),
                _ => return Err(err()),
            },
            _ => return Err(err()),
        })
    }

    /// Evaluates the operator; NULL in gives NULL out.
    /// The result of a comparison operator (`=`, `<>`, `<`, `<=`, `>`, `>=`)
    /// without building a value: `Some(None)` if either side is NULL, `None`
    /// if the operator is not a comparison.
    #[inline]
    pub fn compare(&self, l: &Value, r: &Value) -> Option<Option<bool>> {
        if !self.is_comparison() {
            return None;
        }
        if l.is_null() || r.is_null() {
            return Some(None);
        }
        let ord = l.cmp(r);
        Some(Some(match self {
            BinaryOp::Eq => ord == Ordering::Equal,
            BinaryOp::NotEq => ord != Ordering::Equal,
            BinaryOp::Lt => ord == Ordering::Less,
            BinaryOp::LtEq => ord != Ordering::Greater,
            BinaryOp::Gt => ord == Ordering::Greater,
            _ => ord != Ordering::Less,
        }))
    }

    pub fn eval(&self, l: &Value, r: &Value) -> Result<Value> {
        if l.is_null() || r.is_null() {
            return Ok(Value::Null);
        }
        if let Some(b) = self.compare(l, r) {
            return Ok(b.map_or(Value::Null, Value::Bool));
        }
        let lt = l.data_type();
        let rt = r.data_type();
        match self {
            BinaryOp::Plus
            | BinaryOp::Minus
            | BinaryOp::Multiply
            | BinaryOp::Divide
            | BinaryOp::Modulo
                if lt.is_numeric() && rt.is_numeric() =>
            {
                arith(*self, l, r)
            }
            BinaryOp::Plus | BinaryOp::Minus => temporal(*self, l, r),
            BinaryOp::Multiply | BinaryOp::Divide => match (l, r) {
                (Value::Interval(i), n) if rt.is_numeric() => {
                    let f = n.to_f64_lossy();
                    let f = if *self == BinaryOp::Divide {
                        if f == 0.0 {
                            return Err(Error::division_by_zero());
                        }
                        1.0 / f
                    } else {
                        f
                    };
                    i.mul_f64(f)
                        .map(Value::Interval)
                        .ok_or_else(|| Error::out_of_range("interval"))
                }
                (n, Value::Interval(i)) if lt.is_numeric() && *self == BinaryOp::Multiply => i
                    .mul_f64(n.to_f64_lossy())
                    .map(Value::Interval)
                    .ok_or_else(|| Error::out_of_range("interval")),
                _ => Err(no_operator(self.symbol(), &lt, &rt)),
            },
            BinaryOp::Exponent => {
                if matches!(l, Value::Numeric(_)) || matches!(r, Value::Numeric(_)) {
                    let a = l
                        .to_decimal()
                        .ok_or_else(|| Error::out_of_range("numeric"))?;
                    let b = r
                        .to_decimal()
                        .ok_or_else(|| Error::out_of_range("numeric"))?;
                    use rust_decimal::MathematicalOps;
                    if a.is_zero() && b.is_sign_negative() {
                        return Err(Error::new(
                            SqlState::INVALID_ARGUMENT_FOR_POWER,
                            "zero raised to a negative power is undefined",
                        ));
                    }
                    if a.is_sign_negative() && !b.fract().is_zero() {
                        return Err(Error::new(
                            SqlState::INVALID_ARGUMENT_FOR_POWER,
                            "a negative number raised to a non-integer power yields a complex result",
                        ));
                    }
                    let r = match b.to_i64() {
                        Some(e) if b.fract().is_zero() => a.checked_powi(e),
                        _ => a.checked_powd(b),
                    }
                    .ok_or_else(|| Error::out_of_range("numeric"))?;
                    // PostgreSQL's result scale: 16 significant digits, at
                    // least the inputs' scales (capped at rust_decimal's 28).
                    let weight =
                        b.to_f64().unwrap_or(0.0) * a.abs().to_f64().unwrap_or(1.0).log10();
                    let weight = if weight.is_finite() { weight as i64 } else { 0 };
                    let s = (16 - weight)
                        .max(a.scale() as i64)
                        .max(b.scale() as i64)
                        .clamp(0, 28) as u32;
                    let mut r = r.round_dp_with_strategy(
                        s,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    );
                    r.rescale(s);
                    Ok(Value::Numeric(r))
                } else {
                    let (a, b) = (l.to_f64_lossy(), r.to_f64_lossy());
                    if a == 0.0 && b < 0.0 {
                        return Err(Error::new(
                            SqlState::INVALID_ARGUMENT_FOR_POWER,
                            "zero raised to a negative power is undefined",
                        ));
                    }
                    let v = a.powf(b);
                    if v.is_infinite() {
                        return Err(Error::new(
                            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                            "value out of range: overflow",
                        ));
                    }
                    if v.is_nan() && !a.is_nan() && !b.is_nan() {
                        return Err(Error::new(
                            SqlState::INVALID_ARGUMENT_FOR_POWER,
                            "a negative number raised to a non-integer power yields a complex result",
                        ));
                    }
                    Ok(Value::Float8(v))
                }
            }
            BinaryOp::Concat => match (l, r) {
                (Value::Array(t, a), Value::Array(_, b)) => {
                    let mut v = a.clone();
                    v.extend(b.iter().cloned());
                    Ok(Value::Array(t.clone(), v))
                }
                (Value::Array(t, a), x) => {
                    let mut v = a.clone();
                    v.push(x.clone().cast(t)?);
                    Ok(Value::Array(t.clone(), v))
                }
                (x, Value::Array(t, a)) => {
                    let mut v = vec![x.clone().cast(t)?];
                    v.extend(a.iter().cloned());
                    Ok(Value::Array(t.clone(), v))
                }
                (Value::Jsonb(a), Value::Jsonb(b)) => Ok(Value::Jsonb(match (a, b) {
                    (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                        let mut m = x.clone();
                        for (k, v) in y {
                            m.insert(k.clone(), v.clone());
                        }
                        serde_json::Value::Object(m)
                    }
                    (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
                        serde_json::Value::Array(x.iter().chain(y).cloned().collect())
                    }
                    (serde_json::Value::Array(x), other) => {
                        let mut v = x.clone();
                        v.push(other.clone());
                        serde_json::Value::Array(v)
                    }
                    (other, serde_json::Value::Array(y)) => {
                        let mut v = vec![other.clone()];
                        v.extend(y.iter().cloned());
                        serde_json::Value::Array(v)
                    }
                    (x, y) => serde_json::Value::Array(vec![x.clone(), y.clone()]),
                })),
                (Value::Bytea(a), Value::Bytea(b)) => {
                    Ok(Value::Bytea([a.as_slice(), b.as_slice()].concat()))
                }
                // `anynonarray || text` casts to text: booleans are `true` / `false`.
                (a, b) => Ok(Value::Text(format!("{}{}", CastText(a), CastText(b)))),
            },
            BinaryOp::JsonGet
            | BinaryOp::JsonGetText
            | BinaryOp::JsonPathGet
            | BinaryOp::JsonPathGetText => json_get(*self, l, r),
            BinaryOp::JsonContains | BinaryOp::JsonContainedBy => {
                let (a, b) = if *self == BinaryOp::JsonContains {
                    (l, r)
                } else {
                    (r, l)
                };
                match (a, b) {
                    (Value::Array(_, x), Value::Array(_, y)) => {
                        Ok(Value::Bool(y.iter().all(|e| x.contains(e))))
                    }
                    _ => {
                        let a = as_json(a)?;
                        let b = as_json(b)?;
                        Ok(Value::Bool(json_contains(&a, &b)))
                    }
                }
            }
            BinaryOp::JsonExists => {
                let j = as_json(l)?;
                let k = r.to_string();
                Ok(Value::Bool(match j {
                    serde_json::Value::Object(m) => m.contains_key(&k),
                    serde_json::Value::Array(a) => a.iter().any(|e| e.as_str() == Some(k.as_str())),
                    serde_json::Value::String(s) => s == k,
                    _ => false,
                }))
            }
            BinaryOp::BitAnd
            | BinaryOp::BitOr
            | BinaryOp::BitXor
            | BinaryOp::ShiftLeft
            | BinaryOp::ShiftRight => {
                let (Some(a), Some(b)) = (l.as_i64(), r.as_i64()) else {
                    return Err(no_operator(self.symbol(), &lt, &rt));
                };
                let v = match self {
                    BinaryOp::BitAnd => a & b,
                    BinaryOp::BitOr => a | b,
                    BinaryOp::BitXor => a ^ b,
                    BinaryOp::ShiftLeft => a.wrapping_shl(b as u32),
                    _ => a.wrapping_shr(b as u32),
                };
                let t = if matches!(self, BinaryOp::ShiftLeft | BinaryOp::ShiftRight) {
                    lt
                } else {
                    promote(&lt, &rt).unwrap_or(DataType::Int8)
                };
                Ok(match t {
                    DataType::Int2 => Value::Int2(v as i16),
                    DataType::Int4 => Value::Int4(v as i32),
                    _ => Value::Int8(v),
                })
            }
            _ => Err(no_operator(self.symbol(), &lt, &rt)),
        }
    }
}

fn int_result(v: Option<i64>, t: &DataType) -> Result<Value> {
    let name = match t {
        DataType::Int2 => "smallint",
        DataType::Int4 => "integer",
        _ => "bigint",
    };
    let v = v.ok_or_else(|| Error::out_of_range(name))?;
    Ok(match t {
        DataType::Int2 => Value::Int2(i16::try_from(v).map_err(|_| Error::out_of_range(name))?),
        DataType::Int4 => Value::Int4(i32::try_from(v).map_err(|_| Error::out_of_range(name))?),
        _ => Value::Int8(v),
    })
}

/// NBASE (10000) weight and first digit of a decimal, as PostgreSQL computes them.
fn nbase_weight(d: &Decimal) -> (i32, u32) {
    let s = d.abs().to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = int.trim_start_matches('0');
    if !int.is_empty() {
        let pad = (4 - int.len() % 4) % 4;
        let padded = format!("{}{int}", "0".repeat(pad));
        let first: u32 = padded[..4].parse().unwrap_or(0);
        ((padded.len() / 4) as i32 - 1, first)
    } else {
        let z = frac.len() - frac.trim_start_matches('0').len();
        let start = (z / 4) * 4;
        let mut group: String = frac.chars().skip(start).take(4).collect();
        while group.len() < 4 {
            group.push('0');
        }
        (-((z / 4) as i32) - 1, group.parse().unwrap_or(0))
    }
}

/// Result scale of numeric division (PostgreSQL's select_div_scale), capped
/// by the 28 significant digits rust_decimal holds.
fn div_scale(a: &Decimal, b: &Decimal) -> u32 {
    let (w1, f1) = nbase_weight(a);
    let (w2, f2) = nbase_weight(b);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    let rscale = (16 - qweight * 4)
        .max(a.scale() as i32)
        .max(b.scale() as i32)
        .max(0);
    rscale.min(28) as u32
}

fn arith(op: BinaryOp, l: &Value, r: &Value) -> Result<Value> {
    let t = promote(&l.data_type(), &r.data_type()).expect("numeric operands");
    match &t {
        DataType::Int2 | DataType::Int4 | DataType::Int8 => {
            let (a, b) = (l.as_i64().expect("integer"), r.as_i64().expect("integer"));
            let v = match op {
                BinaryOp::Plus => a.checked_add(b),
                BinaryOp::Minus => a.checked_sub(b),
                BinaryOp::Multiply => a.checked_mul(b),
                BinaryOp::Divide => {
                    if b == 0 {
                        return Err(Error::division_by_zero());
                    }
                    a.checked_div(b)
                }
                _ => {
                    if b == 0 {
                        return Err(Error::division_by_zero());
                    }
                    Some(a.checked_rem(b).unwrap_or(0))
                }
            };
            int_result(v, &t)
        }
        DataType::Float4 | DataType::Float8 => {
            let (a, b) = (l.to_f64_lossy(), r.to_f64_lossy());
            let v = match op {
                BinaryOp::Plus => a + b,
                BinaryOp::Minus => a - b,
                BinaryOp::Multiply => a * b,
                BinaryOp::Divide => {
                    if b == 0.0 {
                        return Err(Error::division_by_zero());
                    }
                    a / b
                }
                _ => {
                    if b == 0.0 {
                        return Err(Error::division_by_zero());
                    }
                    a % b
                }
            };
            if v.is_infinite() && a.is_finite() && b.is_finite() {
                return Err(Error::new(
                    SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: overflow",
                ));
            }
            Ok(if t == DataType::Float4 {
                Value::Float4(v as f32)
            } else {
                Value::Float8(v)
            })
        }
        _ => {
            let a = l
                .to_decimal()
                .ok_or_else(|| Error::out_of_range("numeric"))?;
            let b = r
                .to_decimal()
                .ok_or_else(|| Error::out_of_range("numeric"))?;
            let overflow = || {
                Error::new(
                    SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value overflows numeric format",
                )
            };
            let max_scale = a.scale().max(b.scale());
            let keep = |mut d: Decimal, scale: u32| {
                if d.scale() < scale {
                    d.rescale(scale.min(28));
                }
                d
            };
            let v = match op {
                BinaryOp::Plus => keep(a.checked_add(b).ok_or_else(overflow)?, max_scale),
                BinaryOp::Minus => keep(a.checked_sub(b).ok_or_else(overflow)?, max_scale),
                BinaryOp::Multiply => keep(
                    a.checked_mul(b).ok_or_else(overflow)?,
                    a.scale() + b.scale(),
                ),
                BinaryOp::Divide => {
                    if b.is_zero() {
                        return Err(Error::division_by_zero());
                    }
                    let scale = div_scale(&a, &b);
                    let mut q = a.checked_div(b).ok_or_else(overflow)?;
                    q = q.round_dp_with_strategy(
                        scale,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    );
                    q.rescale(scale);
                    q
                }
                _ => {
                    if b.is_zero() {
                        return Err(Error::division_by_zero());
                    }
                    a.checked_rem(b).ok_or_else(overflow)?
                }
            };
            Ok(Value::Numeric(v))
        }
    }
}

fn temporal(op: BinaryOp, l: &Value, r: &Value) -> Result<Value> {
    let range = || Error::new(SqlState::DATETIME_FIELD_OVERFLOW, "timestamp out of range");
    let neg = |i: &Interval| {
        i.checked_neg()
            .ok_or_else(|| Error::out_of_range("interval"))
    };
    let plus = op == BinaryOp::Plus;
    Ok(match (l, r) {
        (Value::Date(d), n) if n.as_i64().is_some() => {
            let days = n.as_i64().expect("integer");
            let days = if plus { days } else { -days };
            Value::Date(
                d.checked_add_signed(Duration::days(days))
                    .ok_or_else(range)?,
            )
        }
        (n, Value::Date(d)) if plus && n.as_i64().is_some() => Value::Date(
            d.checked_add_signed(Duration::days(n.as_i64().expect("integer")))
                .ok_or_else(range)?,
        ),
        (Value::Date(a), Value::Date(b)) if !plus => Value::Int4((*a - *b).num_days() as i32),
        (Value::Date(d), Value::Interval(i)) => {
            let i = if plus { *i } else { neg(i)? };
            Value::Timestamp(
                datetime::add_interval(d.and_time(NaiveTime::MIN), &i).ok_or_else(range)?,
            )
        }
        (Value::Interval(i), Value::Date(d)) if plus => Value::Timestamp(
            datetime::add_interval(d.and_time(NaiveTime::MIN), i).ok_or_else(range)?,
        ),
        (Value::Timestamp(t), Value::Interval(i)) => {
            let i = if plus { *i } else { neg(i)? };
            Value::Timestamp(datetime::add_interval(*t, &i).ok_or_else(range)?)
        }
        (Value::Interval(i), Value::Timestamp(t)) if plus => {
            Value::Timestamp(datetime::add_interval(*t, i).ok_or_else(range)?)
        }
        (Value::Timestamptz(t), Value::Interval(i)) => {
            let i = if plus { *i } else { neg(i)? };
            let n = datetime::add_interval(t.naive_utc(), &i).ok_or_else(range)?;
            Value::Timestamptz(DateTime::from_naive_utc_and_offset(n, Utc))
        }
        (Value::Interval(i), Value::Timestamptz(t)) if plus => {
            let n = datetime::add_interval(t.naive_utc(), i).ok_or_else(range)?;
            Value::Timestamptz(DateTime::from_naive_utc_and_offset(n, Utc))
        }
        (Value::Timestamp(a), Value::Timestamp(b)) if !plus => {
            Value::Interval(datetime::diff(*a, *b))
        }
        (Value::Timestamptz(a), Value::Timestamptz(b)) if !plus => {
            Value::Interval(datetime::diff(a.naive_utc(), b.naive_utc()))
        }
        (Value::Interval(a), Value::Interval(b)) => {
            let b = if plus { *b } else { neg(b)? };
            Value::Interval(
                a.checked_add(&b)
                    .ok_or_else(|| Error::out_of_range("interval"))?,
            )
        }
        (Value::Time(t), Value::Interval(i)) => {
            let m = if plus { i.micros } else { -i.micros };
            Value::Time(t.overflowing_add_signed(Duration::microseconds(m)).0)
        }
        (Value::Time(a), Value::Time(b)) if !plus => Value::Interval(Interval::new(
            0,
            0,
            (*a - *b).num_microseconds().unwrap_or(0),
        )),
        (Value::Jsonb(j), k) if !plus => {
            let mut j = j.clone();
            match (&mut j, k) {
                (serde_json::Value::Object(m), Value::Text(key)) => {
                    m.shift_remove(key);
                }
                (serde_json::Value::Array(a), n) if n.as_i64().is_some() => {
                    let i = n.as_i64().expect("integer");
                    let len = a.len() as i64;
                    let idx = if i < 0 { len + i } else { i };
                    if idx >= 0 && idx < len {
                        a.remove(idx as usize);
                    }
                }
                (serde_json::Value::Array(a), Value::Text(key)) => {
                    a.retain(|e| e.as_str() != Some(key.as_str()))
                }
                _ => {}
            }
            Value::Jsonb(j)
        }
        _ => return Err(no_operator(op.symbol(), &l.data_type(), &r.data_type())),
    })
}

fn as_json(v: &Value) -> Result<serde_json::Value> {
    match v {
        Value::Jsonb(j) => Ok(j.clone()),
        Value::Json(s) | Value::Text(s) => {
            serde_json::from_str(s).map_err(|_| Error::invalid_text("json", s))
        }
        other => Err(no_operator("->", &other.data_type(), &DataType::Text)),
    }
}

fn json_contains(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Object(x), J::Object(y)) => y
            .iter()
            .all(|(k, v)| x.get(k).is_some_and(|xv| json_contains(xv, v))),
        (J::Array(x), J::Array(y)) => y.iter().all(|e| x.iter().any(|xe| json_contains(xe, e))),
        (J::Array(x), scalar) if !scalar.is_object() && !scalar.is_array() => {
            x.iter().any(|e| e == scalar)
        }
        (x, y) => x == y,
    }
}

fn json_step<'a>(j: &'a serde_json::Value, key: &Value) -> Option<&'a serde_json::Value> {
    match (j, key) {
        (serde_json::Value::Object(m), k) if k.as_i64().is_none() => m.get(&k.to_string()),
        (serde_json::Value::Array(a), k) => {
            let i = match k {
                Value::Text(s) => s.parse::<i64>().ok()?,
                other => other.as_i64()?,
            };
            let idx = if i < 0 { a.len() as i64 + i } else { i };
            if idx < 0 { None } else { a.get(idx as usize) }
        }
        _ => None,
    }
}

fn json_get(op: BinaryOp, l: &Value, r: &Value) -> Result<Value> {
    let j = as_json(l)?;
    let found = match op {
        BinaryOp::JsonGet | BinaryOp::JsonGetText => json_step(&j, r).cloned(),
        _ => {
            let path: Vec<Value> = match r {
                Value::Array(_, items) => items.clone(),
                Value::Text(s) => Value::parse(s, &DataType::Array(Box::new(DataType::Text))).map(
                    |v| match v {
                        Value::Array(_, i) => i,
                        _ => vec![],
                    },
                )?,
                other => vec![other.clone()],
            };
            let mut cur = Some(&j);
            for p in &path {
                cur = cur.and_then(|c| json_step(c, p));
            }
            cur.cloned()
        }
    };
    let Some(found) = found else {
        return Ok(Value::Null);
    };
    let text = matches!(op, BinaryOp::JsonGetText | BinaryOp::JsonPathGetText);
    Ok(if text {
        match found {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::String(s) => Value::Text(s),
            other => Value::Text(Value::Jsonb(other).to_string()),
        }
    } else if matches!(l, Value::Json(_)) {
        Value::Json(found.to_string())
    } else {
        Value::Jsonb(found)
    })
}

impl UnaryOp {
    pub fn result_type(&self, t: &DataType) -> Result<DataType> {
        match (self, t) {
            (UnaryOp::Neg | UnaryOp::Plus, t) if t.is_numeric() || *t == DataType::Interval => {
                Ok(t.clone())
            }
            (UnaryOp::Neg | UnaryOp::Plus, DataType::Unknown) => Ok(DataType::Numeric(None)),
            (UnaryOp::BitNot, t) if t.is_integer() => Ok(t.clone()),
            _ => Err(Error::new(
                SqlState::UNDEFINED_FUNCTION,
                format!(
                    "operator does not exist: {} {}",
                    match self {
                        UnaryOp::Neg => "-",
                        UnaryOp::Plus => "+",
                        UnaryOp::BitNot => "~",
                    },
                    t.name()
                ),
            )),
        }
    }

    pub fn eval(&self, v: &Value) -> Result<Value> {
        Ok(match (self, v) {
            (_, Value::Null) => Value::Null,
            (UnaryOp::Plus, v) => v.clone(),
            (UnaryOp::Neg, Value::Int2(i)) => Value::Int2(
                i.checked_neg()
                    .ok_or_else(|| Error::out_of_range("smallint"))?,
            ),
            (UnaryOp::Neg, Value::Int4(i)) => Value::Int4(
                i.checked_neg()
                    .ok_or_else(|| Error::out_of_range("integer"))?,
            ),
            (UnaryOp::Neg, Value::Int8(i)) => Value::Int8(
                i.checked_neg()
                    .ok_or_else(|| Error::out_of_range("bigint"))?,
            ),
            (UnaryOp::Neg, Value::Float4(f)) => Value::Float4(-f),
            (UnaryOp::Neg, Value::Float8(f)) => Value::Float8(-f),
            (UnaryOp::Neg, Value::Numeric(d)) => Value::Numeric(-d),
            (UnaryOp::Neg, Value::Interval(i)) => Value::Interval(
                i.checked_neg()
                    .ok_or_else(|| Error::out_of_range("interval"))?,
            ),
            (UnaryOp::Neg, Value::Text(s)) => {
                let d: Value = Value::parse(s, &DataType::Numeric(None))?;
                return UnaryOp::Neg.eval(&d);
            }
            (UnaryOp::BitNot, Value::Int2(i)) => Value::Int2(!i),
            (UnaryOp::BitNot, Value::Int4(i)) => Value::Int4(!i),
            (UnaryOp::BitNot, Value::Int8(i)) => Value::Int8(!i),
            (_, other) => {
                return Err(self
                    .result_type(&other.data_type())
                    .err()
                    .unwrap_or_else(|| Error::internal("bad unary operand")));
            }
        })
    }
}

/// Displays a value as its cast to text (booleans as `true` / `false`).
struct CastText<'a>(&'a Value);

impl std::fmt::Display for CastText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Value::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            v => v.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(
            BinaryOp::Plus
                .eval(&Value::Int4(1), &Value::Int8(2))
                .unwrap(),
            Value::Int8(3)
        );
        assert_eq!(
            BinaryOp::Divide
                .eval(&Value::Int4(7), &Value::Int4(2))
                .unwrap(),
            Value::Int4(3)
        );
        assert_eq!(
            BinaryOp::Divide
                .eval(&Value::Int4(-7), &Value::Int4(2))
                .unwrap(),
            Value::Int4(-3)
        );
        assert_eq!(
            BinaryOp::Divide
                .eval(&Value::Int4(1), &Value::Int4(0))
                .unwrap_err()
                .sqlstate(),
            "22012"
        );
        assert_eq!(
            BinaryOp::Plus
                .eval(&Value::Int4(i32::MAX), &Value::Int4(1))
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
        let q = BinaryOp::Divide
            .eval(
                &Value::Numeric(Decimal::ONE),
                &Value::Numeric(Decimal::from(3)),
            )
            .unwrap();
        assert_eq!(q.to_string(), "0.33333333333333333333");
        assert_eq!(
            BinaryOp::Concat
                .eval(&Value::Text("a".into()), &Value::Int4(1))
                .unwrap(),
            Value::Text("a1".into())
        );
        assert_eq!(
            BinaryOp::Eq.eval(&Value::Int4(1), &Value::Null).unwrap(),
            Value::Null
        );
        assert_eq!(
            BinaryOp::Plus
                .result_type(&DataType::Int4, &DataType::Bool)
                .unwrap_err()
                .sqlstate(),
            "42883"
        );
        assert_eq!(
            UnaryOp::Neg
                .eval(&Value::Int4(i32::MIN))
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
    }

    #[test]
    fn json_ops() {
        let j = Value::parse(r#"{"a": {"b": [1, 2]}, "c": "x"}"#, &DataType::Jsonb).unwrap();
        assert_eq!(
            BinaryOp::JsonGetText
                .eval(&j, &Value::Text("c".into()))
                .unwrap(),
            Value::Text("x".into())
        );
        let a = BinaryOp::JsonGet
            .eval(&j, &Value::Text("a".into()))
            .unwrap();
        assert_eq!(a.to_string(), r#"{"b": [1, 2]}"#);
        let sub = Value::parse(r#"{"a": {"b": [2]}}"#, &DataType::Jsonb).unwrap();
        assert_eq!(
            BinaryOp::JsonContains.eval(&j, &sub).unwrap(),
            Value::Bool(true)
        );
    }
}
