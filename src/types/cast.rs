//! Casts: explicit (`CAST`, `::`) and assignment (INSERT/UPDATE) conversions.

use super::{DataType, Value};
use crate::error::{Error, Result, SqlState};
use chrono::{DateTime, NaiveTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

fn cannot(from: &DataType, to: &DataType) -> Error {
    Error::new(
        SqlState::CANNOT_COERCE,
        format!("cannot cast type {} to {}", from.name(), to.name()),
    )
}

fn int_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int2 => "smallint",
        DataType::Int4 => "integer",
        _ => "bigint",
    }
}

fn to_int(i: i128, t: &DataType) -> Result<Value> {
    let err = || Error::out_of_range(int_name(t));
    Ok(match t {
        DataType::Int2 => Value::Int2(i16::try_from(i).map_err(|_| err())?),
        DataType::Int4 => Value::Int4(i32::try_from(i).map_err(|_| err())?),
        _ => Value::Int8(i64::try_from(i).map_err(|_| err())?),
    })
}

/// Rounds a numeric to `numeric(p, s)` or fails with 22003 like PostgreSQL.
fn fit_numeric(d: Decimal, m: &Option<(u32, u32)>) -> Result<Decimal> {
    let Some((p, s)) = m else { return Ok(d) };
    let r = d.round_dp_with_strategy(*s, RoundingStrategy::MidpointAwayFromZero);
    let int_digits = {
        let t = r.trunc().abs();
        if t.is_zero() {
            0
        } else {
            t.to_string().len() as u32
        }
    };
    if int_digits > p - s {
        return Err(Error::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "numeric field overflow",
        )
        .with_detail(format!(
            "A field with precision {p}, scale {s} must round to an absolute value less than {}.",
            if p == s {
                "1".to_string()
            } else {
                format!("10^{}", p - s)
            }
        )));
    }
    let mut r = r;
    r.rescale(*s);
    Ok(r)
}

fn float_to_int(f: f64, t: &DataType) -> Result<Value> {
    if !f.is_finite() {
        return Err(Error::out_of_range(int_name(t)));
    }
    let r = f.round_ties_even();
    if r.abs() > 9.3e18 {
        return Err(Error::out_of_range(int_name(t)));
    }
    to_int(r as i128, t)
}

fn decimal_to_int(d: Decimal, t: &DataType) -> Result<Value> {
    let r = d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    let i = r
        .to_i128()
        .ok_or_else(|| Error::out_of_range(int_name(t)))?;
    to_int(i, t)
}

/// A value cast to a string type: its output form, except that booleans
/// cast to `true` / `false` (PostgreSQL's bool-to-text cast), not `t` / `f`.
fn cast_text(v: Value) -> String {
    match v {
        Value::Text(s) => s,
        Value::Bool(b) => if b { "true" } else { "false" }.to_string(),
        other => other.to_string(),
    }
}

impl Value {
    /// Explicit cast with PostgreSQL's semantics.
    pub fn cast(self, to: &DataType) -> Result<Value> {
        self.convert(to, true)
    }

    /// Assignment cast (INSERT/UPDATE): like [`Value::cast`] but over-long
    /// strings are an error (22001) instead of being truncated.
    pub fn coerce_to(self, to: &DataType) -> Result<Value> {
        self.convert(to, false)
    }

    fn convert(self, to: &DataType, explicit: bool) -> Result<Value> {
        if self.is_null() {
            return Ok(Value::Null);
        }
        let from = self.data_type();
        Ok(match (self, to) {
            (v, DataType::Unknown) => v,
            (Value::Record(id, fields), DataType::Composite(t)) if id == *t => {
                Value::Record(id, fields)
            }
            // Strings.
            (v, DataType::Text) => Value::Text(cast_text(v)),
            (v, DataType::Varchar(n)) => {
                let s = cast_text(v);
                let Some(n) = n else {
                    return Ok(Value::Text(s));
                };
                let n = *n as usize;
                if s.chars().count() <= n {
                    Value::Text(s)
                } else if explicit || s.chars().skip(n).all(|c| c == ' ') {
                    Value::Text(s.chars().take(n).collect())
                } else {
                    return Err(Error::new(
                        SqlState::STRING_DATA_RIGHT_TRUNCATION,
                        format!("value too long for type character varying({n})"),
                    ));
                }
            }
            (v, DataType::Char(n)) => {
                let s = cast_text(v);
                let n = *n as usize;
                let len = s.chars().count();
                if len > n {
                    if explicit || s.chars().skip(n).all(|c| c == ' ') {
                        Value::Text(s.chars().take(n).collect())
                    } else {
                        return Err(Error::new(
                            SqlState::STRING_DATA_RIGHT_TRUNCATION,
                            format!("value too long for type character({n})"),
                        ));
                    }
                } else {
                    Value::Text(format!("{s}{}", " ".repeat(n - len)))
                }
            }
            (Value::Text(s), t) => Value::parse(&s, t)?,
            // Integers.
            (Value::Int2(i), t) if t.is_integer() => to_int(i as i128, t)?,
            (Value::Int4(i), t) if t.is_integer() => to_int(i as i128, t)?,
            (Value::Int8(i), t) if t.is_integer() => to_int(i as i128, t)?,
            (Value::Float4(f), t) if t.is_integer() => float_to_int(f as f64, t)?,
            (Value::Float8(f), t) if t.is_integer() => float_to_int(f, t)?,
            (Value::Numeric(d), t) if t.is_integer() => decimal_to_int(d, t)?,
            (Value::Bool(b), t) if t.is_integer() && explicit => to_int(b as i128, t)?,
            // Floats.
            (v, DataType::Float8) if from.is_numeric() => Value::Float8(v.to_f64_lossy()),
            (v, DataType::Float4) if from.is_numeric() => {
                let f = v.to_f64_lossy();
                let g = f as f32;
                if g.is_infinite() && f.is_finite() {
                    return Err(Error::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        "value out of range: overflow",
                    ));
                }
                Value::Float4(g)
            }
            // Numeric.
            (v, DataType::Numeric(m)) if from.is_numeric() => {
                let d = match &v {
                    Value::Float4(f) if !f.is_finite() => {
                        return Err(Error::new(
                            SqlState::FEATURE_NOT_SUPPORTED,
                            "cannot convert infinity or NaN to numeric",
                        ));
                    }
                    Value::Float8(f) if !f.is_finite() => {
                        return Err(Error::new(
                            SqlState::FEATURE_NOT_SUPPORTED,
                            "cannot convert infinity or NaN to numeric",
                        ));
                    }
                    _ => v
                        .to_decimal()
                        .ok_or_else(|| Error::out_of_range("numeric"))?,
                };
                Value::Numeric(fit_numeric(d, m)?)
            }
            // Booleans.
            (Value::Bool(b), DataType::Bool) => Value::Bool(b),
            (Value::Int4(i), DataType::Bool) if explicit => Value::Bool(i != 0),
            (Value::Int8(i), DataType::Bool) if explicit => Value::Bool(i != 0),
            // Date and time.
            (Value::Date(d), DataType::Date) => Value::Date(d),
            (Value::Date(d), DataType::Timestamp) => Value::Timestamp(d.and_time(NaiveTime::MIN)),
            (Value::Date(d), DataType::Timestamptz) => Value::Timestamptz(
                DateTime::from_naive_utc_and_offset(d.and_time(NaiveTime::MIN), Utc),
            ),
            (Value::Timestamp(t), DataType::Timestamp) => Value::Timestamp(t),
            (Value::Timestamp(t), DataType::Timestamptz) => {
                Value::Timestamptz(DateTime::from_naive_utc_and_offset(t, Utc))
            }
            (Value::Timestamp(t), DataType::Date) => Value::Date(t.date()),
            (Value::Timestamp(t), DataType::Time) => Value::Time(t.time()),
            (Value::Timestamptz(t), DataType::Timestamptz) => Value::Timestamptz(t),
            (Value::Timestamptz(t), DataType::Timestamp) => Value::Timestamp(t.naive_utc()),
            (Value::Timestamptz(t), DataType::Date) => Value::Date(t.date_naive()),
            (Value::Timestamptz(t), DataType::Time) => Value::Time(t.naive_utc().time()),
            (Value::Time(t), DataType::Time) => Value::Time(t),
            (Value::Time(t), DataType::Interval) => {
                let micros = (t - NaiveTime::MIN).num_microseconds().unwrap_or(0);
                Value::Interval(super::Interval::new(0, 0, micros))
            }
            (Value::Interval(i), DataType::Interval) => Value::Interval(i),
            (Value::Interval(i), DataType::Time) => {
                let day = 86_400_000_000i64;
                let m = i.micros.rem_euclid(day);
                Value::Time(NaiveTime::MIN + chrono::Duration::microseconds(m))
            }
            // Others.
            (Value::Uuid(u), DataType::Uuid) => Value::Uuid(u),
            (Value::Bytea(b), DataType::Bytea) => Value::Bytea(b),
            (Value::Json(s), DataType::Json) => Value::Json(s),
            (Value::Json(s), DataType::Jsonb) => Value::parse(&s, &DataType::Jsonb)?,
            (Value::Jsonb(j), DataType::Jsonb) => Value::Jsonb(j),
            (Value::Jsonb(j), DataType::Json) => Value::Json(Value::Jsonb(j).to_string()),
            (Value::Jsonb(j), t) if explicit && (t.is_numeric() || *t == DataType::Bool) => match j
            {
                serde_json::Value::Number(n) => Value::Text(n.to_string()).convert(t, true)?,
                serde_json::Value::Bool(b) if *t == DataType::Bool => Value::Bool(b),
                other => {
                    return Err(Error::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!(
                            "cannot cast jsonb {} to type {}",
                            json_kind(&other),
                            t.name()
                        ),
                    ));
                }
            },
            (Value::Array(_, items), DataType::Array(e)) => Value::Array(
                (**e).clone(),
                items
                    .into_iter()
                    .map(|v| v.convert(e, explicit))
                    .collect::<Result<Vec<_>>>()?,
            ),
            (_, to) => return Err(cannot(&from, to)),
        })
    }
}

fn json_kind(j: &serde_json::Value) -> &'static str {
    match j {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "numeric",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_like_postgres() {
        assert_eq!(
            Value::Numeric(Decimal::new(25, 1))
                .cast(&DataType::Int4)
                .unwrap(),
            Value::Int4(3)
        );
        assert_eq!(
            Value::Numeric(Decimal::new(-25, 1))
                .cast(&DataType::Int4)
                .unwrap(),
            Value::Int4(-3)
        );
        assert_eq!(
            Value::Float8(2.5).cast(&DataType::Int4).unwrap(),
            Value::Int4(2)
        );
        assert_eq!(
            Value::Int8(1 << 40)
                .cast(&DataType::Int4)
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
        assert_eq!(
            Value::Text("abcdef".into())
                .cast(&DataType::Varchar(Some(3)))
                .unwrap(),
            Value::Text("abc".into())
        );
        assert_eq!(
            Value::Text("abcdef".into())
                .coerce_to(&DataType::Varchar(Some(3)))
                .unwrap_err()
                .sqlstate(),
            "22001"
        );
        let v = Value::Text("12.345".into())
            .cast(&DataType::Numeric(Some((5, 2))))
            .unwrap();
        assert_eq!(v.to_string(), "12.35");
        assert_eq!(
            Value::Text("1234.5".into())
                .cast(&DataType::Numeric(Some((5, 2))))
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
        assert_eq!(
            Value::Text("ab".into())
                .cast(&DataType::Char(4))
                .unwrap()
                .to_string(),
            "ab  "
        );
        assert_eq!(
            Value::Bool(true)
                .cast(&DataType::Date)
                .unwrap_err()
                .sqlstate(),
            "42846"
        );
    }
}
