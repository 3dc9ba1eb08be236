//! Built-in scalar functions: name resolution, result types and evaluation.

use super::expr::{EvalCtx, Expr};
use crate::error::{Error, Result, SqlState};
use crate::types::{DataType, Value};
use rust_decimal::prelude::ToPrimitive;

/// A resolved built-in scalar function.
#[derive(Clone, Debug, PartialEq)]
pub enum Func {
    /// `nextval(seq)`; the sequence id when known at bind time.
    NextVal(Option<u32>),
    CurrVal(Option<u32>),
    SetVal(Option<u32>),
    Now,
    StatementTimestamp,
    CurrentDate,
    GenRandomUuid,
    Random,
    Coalesce,
    NullIf,
    Greatest,
    Least,
    Lower,
    Upper,
    /// rtrim(text): strips trailing spaces.
    Rtrim,
    Length,
    Abs,
    Concat,
    Md5,
    JsonbBuildObject,
    JsonBuildObject,
    ToJsonb,
    CurrentSetting,
    Version,
    CurrentSchema,
    GenerateSeries,
}

/// Result-type rule of a function given its argument types.
pub fn resolve(name: &str, arg_types: &[DataType]) -> Result<(Func, DataType)> {
    use DataType as T;
    let n = arg_types.len();
    let arity = |ok: bool| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(undefined_function(name, arg_types))
        }
    };
    let common = || -> Result<DataType> {
        let mut t = T::Unknown;
        for a in arg_types {
            t = DataType::common_type(&t, a).ok_or_else(|| {
                Error::new(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "{} types {} and {} cannot be matched",
                        name.to_uppercase(),
                        t.name(),
                        a.name()
                    ),
                )
            })?;
        }
        Ok(if t == T::Unknown { T::Text } else { t })
    };
    Ok(match name {
        "nextval" => {
            arity(n == 1)?;
            (Func::NextVal(None), T::Int8)
        }
        "currval" => {
            arity(n == 1)?;
            (Func::CurrVal(None), T::Int8)
        }
        "setval" => {
            arity(n == 2 || n == 3)?;
            (Func::SetVal(None), T::Int8)
        }
        "now" | "transaction_timestamp" | "current_timestamp" => {
            arity(n == 0)?;
            (Func::Now, T::Timestamptz)
        }
        "statement_timestamp" | "clock_timestamp" => {
            arity(n == 0)?;
            (Func::StatementTimestamp, T::Timestamptz)
        }
        "current_date" => {
            arity(n == 0)?;
            (Func::CurrentDate, T::Date)
        }
        "gen_random_uuid" | "uuid_generate_v4" => {
            arity(n == 0)?;
            (Func::GenRandomUuid, T::Uuid)
        }
        "random" => {
            arity(n == 0)?;
            (Func::Random, T::Float8)
        }
        "coalesce" => {
            arity(n >= 1)?;
            (Func::Coalesce, common()?)
        }
        "nullif" => {
            arity(n == 2)?;
            (
                Func::NullIf,
                if arg_types[0] == T::Unknown {
                    common()?
                } else {
                    arg_types[0].clone()
                },
            )
        }
        "greatest" => {
            arity(n >= 1)?;
            (Func::Greatest, common()?)
        }
        "least" => {
            arity(n >= 1)?;
            (Func::Least, common()?)
        }
        "lower" => {
            arity(n == 1)?;
            (Func::Lower, T::Text)
        }
        "upper" => {
            arity(n == 1)?;
            (Func::Upper, T::Text)
        }
        "rtrim" => {
            arity(n == 1)?;
            (Func::Rtrim, T::Text)
        }
        "length" | "char_length" | "character_length" => {
            arity(n == 1)?;
            (Func::Length, T::Int4)
        }
        "abs" => {
            arity(n == 1 && (arg_types[0].is_numeric() || arg_types[0] == T::Unknown))?;
            (
                Func::Abs,
                if arg_types[0] == T::Unknown {
                    T::Float8
                } else {
                    arg_types[0].clone()
                },
            )
        }
        "concat" => (Func::Concat, T::Text),
        "md5" => {
            arity(n == 1)?;
            (Func::Md5, T::Text)
        }
        "jsonb_build_object" => {
            arity(n.is_multiple_of(2))?;
            (Func::JsonbBuildObject, T::Jsonb)
        }
        "json_build_object" => {
            arity(n.is_multiple_of(2))?;
            (Func::JsonBuildObject, T::Json)
        }
        "to_jsonb" => {
            arity(n == 1)?;
            (Func::ToJsonb, T::Jsonb)
        }
        "current_setting" => {
            arity(n == 1 || n == 2)?;
            (Func::CurrentSetting, T::Text)
        }
        "version" => {
            arity(n == 0)?;
            (Func::Version, T::Text)
        }
        "current_schema" => {
            arity(n == 0)?;
            (Func::CurrentSchema, T::Text)
        }
        "generate_series" => {
            return Err(Error::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "generate_series is only supported in FROM or as a whole select-list item",
            ));
        }
        _ => return Err(undefined_function(name, arg_types)),
    })
}

pub fn undefined_function(name: &str, arg_types: &[DataType]) -> Error {
    let args: Vec<String> = arg_types.iter().map(|t| t.name()).collect();
    Error::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("function {}({}) does not exist", name, args.join(", ")),
    )
    .with_hint("No function matches the given name and argument types. You might need to add explicit type casts.")
}

fn to_json(v: &Value) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int2(i) => J::from(*i),
        Value::Int4(i) => J::from(*i),
        Value::Int8(i) => J::from(*i),
        Value::Float4(f) => serde_json::Number::from_f64(*f as f64)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Float8(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Numeric(d) => match d.to_string().parse::<serde_json::Number>() {
            Ok(n) => J::Number(n),
            Err(_) => J::String(d.to_string()),
        },
        Value::Jsonb(j) => j.clone(),
        Value::Json(s) => serde_json::from_str(s).map_err(|e| {
            Error::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                format!("invalid json: {e}"),
            )
        })?,
        Value::Array(_, items) => J::Array(items.iter().map(to_json).collect::<Result<_>>()?),
        other => J::String(other.to_string()),
    })
}

impl Func {
    pub fn name(&self) -> &'static str {
        match self {
            Func::NextVal(_) => "nextval",
            Func::CurrVal(_) => "currval",
            Func::SetVal(_) => "setval",
            Func::Now => "now",
            Func::StatementTimestamp => "statement_timestamp",
            Func::CurrentDate => "current_date",
            Func::GenRandomUuid => "gen_random_uuid",
            Func::Random => "random",
            Func::Coalesce => "COALESCE",
            Func::NullIf => "NULLIF",
            Func::Greatest => "GREATEST",
            Func::Least => "LEAST",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Rtrim => "rtrim",
            Func::Length => "length",
            Func::Abs => "abs",
            Func::Concat => "concat",
            Func::Md5 => "md5",
            Func::JsonbBuildObject => "jsonb_build_object",
            Func::JsonBuildObject => "json_build_object",
            Func::ToJsonb => "to_jsonb",
            Func::CurrentSetting => "current_setting",
            Func::Version => "version",
            Func::CurrentSchema => "current_schema",
            Func::GenerateSeries => "generate_series",
        }
    }

    /// Volatile functions give a new value per call (never folded or used as index keys).
    pub fn is_volatile(&self) -> bool {
        matches!(
            self,
            Func::NextVal(_)
                | Func::SetVal(_)
                | Func::GenRandomUuid
                | Func::Random
                | Func::StatementTimestamp
        )
    }

    pub fn eval(&self, args: &[Expr], row: &[Value], ctx: &EvalCtx) -> Result<Value> {
        // Lazily evaluated functions first.
        match self {
            Func::Coalesce => {
                for a in args {
                    let v = a.eval(row, ctx)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                return Ok(Value::Null);
            }
            Func::Greatest | Func::Least => {
                let mut best: Option<Value> = None;
                for a in args {
                    let v = a.eval(row, ctx)?;
                    if v.is_null() {
                        continue;
                    }
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            let better = match v.sql_cmp(&b) {
                                Some(std::cmp::Ordering::Greater) => *self == Func::Greatest,
                                Some(std::cmp::Ordering::Less) => *self == Func::Least,
                                _ => false,
                            };
                            if better { v } else { b }
                        }
                    });
                }
                return Ok(best.unwrap_or(Value::Null));
            }
            _ => {}
        }
        let vals: Vec<Value> = args
            .iter()
            .map(|a| a.eval(row, ctx))
            .collect::<Result<_>>()?;
        let env = ctx.env;
        let seq_of = |known: &Option<u32>, v: &Value| -> Result<u32> {
            match known {
                Some(id) => Ok(*id),
                None => env.sequence_by_name(&v.to_string()),
            }
        };
        Ok(match self {
            Func::NextVal(id) => {
                if vals[0].is_null() {
                    return Ok(Value::Null);
                }
                Value::Int8(env.nextval(seq_of(id, &vals[0])?)?)
            }
            Func::CurrVal(id) => {
                if vals[0].is_null() {
                    return Ok(Value::Null);
                }
                Value::Int8(env.currval(seq_of(id, &vals[0])?)?)
            }
            Func::SetVal(id) => {
                if vals.iter().any(|v| v.is_null()) {
                    return Ok(Value::Null);
                }
                let seq = seq_of(id, &vals[0])?;
                let value = match vals[1].clone().cast(&DataType::Int8)? {
                    Value::Int8(i) => i,
                    _ => return Err(Error::internal("setval value is not bigint")),
                };
                let called = match vals.get(2) {
                    Some(v) => matches!(v.clone().cast(&DataType::Bool)?, Value::Bool(true)),
                    None => true,
                };
                Value::Int8(env.setval(seq, value, called)?)
            }
            Func::Now => Value::Timestamptz(env.transaction_time()),
            Func::StatementTimestamp => Value::Timestamptz(env.statement_time()),
            Func::CurrentDate => Value::Date(env.transaction_time().date_naive()),
            Func::GenRandomUuid => Value::Uuid(uuid::Uuid::new_v4()),
            Func::Random => {
                let bytes = uuid::Uuid::new_v4().as_u64_pair().0;
                Value::Float8((bytes >> 11) as f64 / (1u64 << 53) as f64)
            }
            Func::NullIf => {
                if vals[0].sql_cmp(&vals[1]) == Some(std::cmp::Ordering::Equal) {
                    Value::Null
                } else {
                    vals[0].clone()
                }
            }
            Func::Lower | Func::Upper | Func::Length | Func::Md5 | Func::Rtrim => {
                let v = &vals[0];
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let s = v.to_string();
                match self {
                    Func::Lower => Value::Text(s.to_lowercase()),
                    Func::Upper => Value::Text(s.to_uppercase()),
                    Func::Rtrim => Value::Text(s.trim_end_matches(' ').to_string()),
                    Func::Length => match v {
                        Value::Bytea(b) => Value::Int4(b.len() as i32),
                        _ => Value::Int4(s.chars().count() as i32),
                    },
                    _ => {
                        use md5::{Digest, Md5};
                        let bytes: Vec<u8> = match v {
                            Value::Bytea(b) => b.clone(),
                            _ => s.into_bytes(),
                        };
                        let digest = Md5::digest(&bytes);
                        Value::Text(digest.iter().map(|b| format!("{b:02x}")).collect())
                    }
                }
            }
            Func::Abs => match &vals[0] {
                Value::Null => Value::Null,
                Value::Int2(i) => Value::Int2(
                    i.checked_abs()
                        .ok_or_else(|| Error::out_of_range("smallint"))?,
                ),
                Value::Int4(i) => Value::Int4(
                    i.checked_abs()
                        .ok_or_else(|| Error::out_of_range("integer"))?,
                ),
                Value::Int8(i) => Value::Int8(
                    i.checked_abs()
                        .ok_or_else(|| Error::out_of_range("bigint"))?,
                ),
                Value::Float4(f) => Value::Float4(f.abs()),
                Value::Float8(f) => Value::Float8(f.abs()),
                Value::Numeric(d) => Value::Numeric(d.abs()),
                Value::Text(s) => Value::Float8(
                    s.trim()
                        .parse::<f64>()
                        .map_err(|_| Error::invalid_text("double precision", s))?
                        .abs(),
                ),
                other => return Err(undefined_function("abs", &[other.data_type()])),
            },
            Func::Concat => {
                let mut s = String::new();
                for v in &vals {
                    if !v.is_null() {
                        s.push_str(&v.to_string());
                    }
                }
                Value::Text(s)
            }
            Func::JsonbBuildObject | Func::JsonBuildObject => {
                let mut map = serde_json::Map::new();
                for pair in vals.chunks(2) {
                    if pair[0].is_null() {
                        return Err(Error::new(
                            SqlState::NULL_VALUE_NOT_ALLOWED,
                            "argument 1: key must not be null",
                        ));
                    }
                    map.insert(pair[0].to_string(), to_json(&pair[1])?);
                }
                let obj = serde_json::Value::Object(map);
                if *self == Func::JsonbBuildObject {
                    Value::Jsonb(obj)
                } else {
                    Value::Json(obj.to_string())
                }
            }
            Func::ToJsonb => {
                if vals[0].is_null() {
                    Value::Null
                } else {
                    Value::Jsonb(to_json(&vals[0])?)
                }
            }
            Func::CurrentSetting => {
                if vals[0].is_null() {
                    return Ok(Value::Null);
                }
                let missing_ok = matches!(vals.get(1), Some(Value::Bool(true)));
                match env.current_setting(&vals[0].to_string(), missing_ok)? {
                    Some(s) => Value::Text(s),
                    None => Value::Null,
                }
            }
            Func::Version => Value::Text(crate::version_string()),
            Func::CurrentSchema => match env.current_setting("search_path", true)? {
                Some(p) => Value::Text(
                    p.split(',')
                        .map(|s| s.trim().trim_matches('"').to_string())
                        .find(|s| !s.is_empty() && s != "$user")
                        .unwrap_or_else(|| "public".into()),
                ),
                None => Value::Text("public".into()),
            },
            Func::Coalesce | Func::Greatest | Func::Least => unreachable!("handled above"),
            Func::GenerateSeries => {
                return Err(Error::internal("generate_series evaluated as a scalar"));
            }
        })
    }
}

/// Converts a numeric-ish value to i64 (used by LIMIT/OFFSET and series bounds).
pub fn value_to_i64(v: &Value) -> Result<Option<i64>> {
    Ok(match v {
        Value::Null => None,
        Value::Int2(i) => Some(*i as i64),
        Value::Int4(i) => Some(*i as i64),
        Value::Int8(i) => Some(*i),
        Value::Numeric(d) => Some(
            d.round()
                .to_i64()
                .ok_or_else(|| Error::out_of_range("bigint"))?,
        ),
        Value::Float4(_) | Value::Float8(_) | Value::Text(_) => {
            match v.clone().cast(&DataType::Int8)? {
                Value::Int8(i) => Some(i),
                _ => None,
            }
        }
        other => {
            return Err(Error::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "cannot use a value of type {} as an integer",
                    other.data_type().name()
                ),
            ));
        }
    })
}
