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
    /// A composite (row) value: its type's id (0: anonymous) and fields.
    Record(u32, Vec<Value>),
}

use super::datetime;
use crate::error::{Error, Result, SqlState};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value's type (`Unknown` for NULL; text covers varchar and char values).
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Unknown,
            Value::Bool(_) => DataType::Bool,
            Value::Int2(_) => DataType::Int2,
            Value::Int4(_) => DataType::Int4,
            Value::Int8(_) => DataType::Int8,
            Value::Float4(_) => DataType::Float4,
            Value::Float8(_) => DataType::Float8,
            Value::Numeric(_) => DataType::Numeric(None),
            Value::Text(_) => DataType::Text,
            Value::Bytea(_) => DataType::Bytea,
            Value::Date(_) => DataType::Date,
            Value::Time(_) => DataType::Time,
            Value::Timestamp(_) => DataType::Timestamp,
            Value::Timestamptz(_) => DataType::Timestamptz,
            Value::Interval(_) => DataType::Interval,
            Value::Uuid(_) => DataType::Uuid,
            Value::Json(_) => DataType::Json,
            Value::Jsonb(_) => DataType::Jsonb,
            Value::Array(t, _) => DataType::Array(Box::new(t.clone())),
            Value::Record(id, _) => DataType::Composite(*id),
        }
    }

    /// SQL comparison: `None` if either side is NULL.
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        if self.is_null() || other.is_null() {
            None
        } else {
            Some(self.cmp(other))
        }
    }

    /// Integer value of an integer-typed datum.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int2(i) => Some(*i as i64),
            Value::Int4(i) => Some(*i as i64),
            Value::Int8(i) => Some(*i),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 255,
            Value::Bool(_) => 1,
            Value::Int2(_)
            | Value::Int4(_)
            | Value::Int8(_)
            | Value::Float4(_)
            | Value::Float8(_)
            | Value::Numeric(_) => 2,
            Value::Text(_) => 3,
            Value::Bytea(_) => 4,
            Value::Date(_) | Value::Timestamp(_) | Value::Timestamptz(_) => 5,
            Value::Time(_) => 6,
            Value::Interval(_) => 7,
            Value::Uuid(_) => 8,
            Value::Json(_) => 9,
            Value::Jsonb(_) => 10,
            Value::Array(..) => 11,
            Value::Record(..) => 12,
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            Value::Int2(i) => *i as f64,
            Value::Int4(i) => *i as f64,
            Value::Int8(i) => *i as f64,
            Value::Float4(f) => *f as f64,
            Value::Float8(f) => *f,
            Value::Numeric(d) => d.to_f64().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }

    fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int2(i) => Some(Decimal::from(*i)),
            Value::Int4(i) => Some(Decimal::from(*i)),
            Value::Int8(i) => Some(Decimal::from(*i)),
            Value::Numeric(d) => Some(*d),
            _ => None,
        }
    }

    fn timestamp_micros(&self) -> i64 {
        match self {
            Value::Date(d) => d
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_micros())
                .unwrap_or(0),
            Value::Timestamp(t) => t.and_utc().timestamp_micros(),
            Value::Timestamptz(t) => t.timestamp_micros(),
            _ => 0,
        }
    }

    /// Parses PostgreSQL text input for `ty`.
    pub fn parse(text: &str, ty: &DataType) -> Result<Value> {
        let t = text.trim();
        Ok(match ty {
            DataType::Unknown | DataType::Text => Value::Text(text.to_string()),
            DataType::Varchar(n) => {
                let v = Value::Text(text.to_string());
                match n {
                    Some(_) => v.coerce_to(ty)?,
                    None => v,
                }
            }
            DataType::Char(_) => Value::Text(text.to_string()).coerce_to(ty)?,
            DataType::Bool => match t.to_lowercase().as_str() {
                "t" | "true" | "yes" | "y" | "on" | "1" => Value::Bool(true),
                "f" | "false" | "no" | "n" | "off" | "0" => Value::Bool(false),
                _ => return Err(Error::invalid_text("boolean", text)),
            },
            DataType::Int2 | DataType::Int4 | DataType::Int8 => {
                let name = match ty {
                    DataType::Int2 => "smallint",
                    DataType::Int4 => "integer",
                    _ => "bigint",
                };
                let digits = t.strip_prefix('+').unwrap_or(t);
                let valid = !digits.is_empty()
                    && digits
                        .strip_prefix('-')
                        .unwrap_or(digits)
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '_')
                    && !digits.strip_prefix('-').unwrap_or(digits).is_empty();
                if !valid {
                    return Err(Error::invalid_text(name, text));
                }
                let cleaned = digits.replace('_', "");
                let n: i128 = cleaned.parse().map_err(|_| {
                    Error::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        format!("value \"{text}\" is out of range for type {name}"),
                    )
                })?;
                let range_err = || {
                    Error::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        format!("value \"{text}\" is out of range for type {name}"),
                    )
                };
                match ty {
                    DataType::Int2 => Value::Int2(i16::try_from(n).map_err(|_| range_err())?),
                    DataType::Int4 => Value::Int4(i32::try_from(n).map_err(|_| range_err())?),
                    _ => Value::Int8(i64::try_from(n).map_err(|_| range_err())?),
                }
            }
            DataType::Float4 | DataType::Float8 => {
                let name = if *ty == DataType::Float4 {
                    "real"
                } else {
                    "double precision"
                };
                let f = match t.to_lowercase().as_str() {
                    "nan" => f64::NAN,
                    "infinity" | "inf" | "+infinity" | "+inf" => f64::INFINITY,
                    "-infinity" | "-inf" => f64::NEG_INFINITY,
                    _ => t
                        .parse::<f64>()
                        .map_err(|_| Error::invalid_text(name, text))?,
                };
                if f.is_infinite() && !t.to_lowercase().contains("inf") {
                    return Err(Error::new(
                        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                        format!("\"{text}\" is out of range for type {name}"),
                    ));
                }
                if *ty == DataType::Float4 {
                    let g = f as f32;
                    if g.is_infinite() && f.is_finite() {
                        return Err(Error::new(
                            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                            format!("\"{text}\" is out of range for type real"),
                        ));
                    }
                    Value::Float4(g)
                } else {
                    Value::Float8(f)
                }
            }
            DataType::Numeric(_) => {
                let d = if t.contains(['e', 'E']) {
                    Decimal::from_scientific(t)
                } else {
                    Decimal::from_str(t)
                }
                .map_err(|e| {
                    if t.chars()
                        .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+')
                        && !t.is_empty()
                    {
                        Error::new(
                            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                            format!("value overflows numeric format: {e}"),
                        )
                    } else {
                        Error::invalid_text("numeric", text)
                    }
                })?;
                Value::Numeric(d).coerce_to(ty)?
            }
            DataType::Bytea => {
                if let Some(hex) = t.strip_prefix("\\x") {
                    if hex.len() % 2 != 0 {
                        return Err(Error::new(
                            SqlState::INVALID_TEXT_REPRESENTATION,
                            "invalid hexadecimal data: odd number of digits".to_string(),
                        ));
                    }
                    let mut out = Vec::with_capacity(hex.len() / 2);
                    for i in (0..hex.len()).step_by(2) {
                        let b = u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16).map_err(
                            |_| {
                                Error::new(
                                    SqlState::INVALID_TEXT_REPRESENTATION,
                                    "invalid hexadecimal digit",
                                )
                            },
                        )?;
                        out.push(b);
                    }
                    Value::Bytea(out)
                } else {
                    let mut out = Vec::new();
                    let bytes = text.as_bytes();
                    let mut i = 0;
                    while i < bytes.len() {
                        if bytes[i] == b'\\' {
                            if bytes.get(i + 1) == Some(&b'\\') {
                                out.push(b'\\');
                                i += 2;
                            } else {
                                let oct = text
                                    .get(i + 1..i + 4)
                                    .and_then(|o| u8::from_str_radix(o, 8).ok());
                                match oct {
                                    Some(b) => {
                                        out.push(b);
                                        i += 4;
                                    }
                                    None => return Err(Error::invalid_text("bytea", text)),
                                }
                            }
                        } else {
                            out.push(bytes[i]);
                            i += 1;
                        }
                    }
                    Value::Bytea(out)
                }
            }
            DataType::Date => Value::Date(datetime::parse_date(t)?),
            DataType::Time => Value::Time(datetime::parse_time(t)?),
            DataType::Timestamp => Value::Timestamp(datetime::parse_timestamp(t)?),
            DataType::Timestamptz => Value::Timestamptz(datetime::parse_timestamptz(t)?),
            DataType::Interval => Value::Interval(Interval::parse(t)?),
            DataType::Uuid => Value::Uuid(
                Uuid::parse_str(t.trim_start_matches('{').trim_end_matches('}'))
                    .map_err(|_| Error::invalid_text("uuid", text))?,
            ),
            DataType::Json => {
                serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|_| Error::invalid_text("json", text))?;
                Value::Json(text.to_string())
            }
            DataType::Jsonb => Value::Jsonb(
                serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|_| Error::invalid_text("json", text))?,
            ),
            DataType::Array(elem) => parse_array(text, elem)?,
            // A record's fields' types are in the catalog: the binder turns
            // text into a record with `parse_record`.
            DataType::Composite(_) => {
                return Err(Error::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("input of anonymous composite types is not implemented: \"{text}\""),
                ));
            }
        })
    }

    /// Parses text as a value of `ty`, which may be or hold composite
    /// types (whose fields' types are in `all`).
    pub fn parse_typed(text: &str, ty: &DataType, all: &RecordTypes) -> Result<Value> {
        match ty {
            DataType::Composite(id) => Value::parse_record(text, *id, all),
            DataType::Array(elem) if matches!(**elem, DataType::Composite(_)) => {
                let Value::Array(_, items) = parse_array(text, &DataType::Text)? else {
                    return Err(Error::internal("array literal is not an array"));
                };
                let items = items
                    .into_iter()
                    .map(|v| match v {
                        Value::Text(t) => Value::parse_typed(&t, elem, all),
                        other => Ok(other),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Value::Array((**elem).clone(), items))
            }
            other => Value::parse(text, other),
        }
    }

    /// Parses a record literal `(f1,f2,...)` of composite type `id` with
    /// fields of `types` (PostgreSQL's `record_in`): an empty field is NULL,
    /// a double-quoted one may hold anything (`""` and `\x` escape).
    pub fn parse_record(text: &str, id: u32, all: &RecordTypes) -> Result<Value> {
        let types = all
            .get(&id)
            .ok_or_else(|| Error::internal(format!("composite type {id} unknown")))?;
        let bad = |detail: &str| {
            Error::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                format!("malformed record literal: \"{text}\""),
            )
            .with_detail(detail)
        };
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if chars.get(i) != Some(&'(') {
            return Err(bad("Missing left parenthesis."));
        }
        i += 1;
        let mut fields = Vec::with_capacity(types.len());
        for (k, ty) in types.iter().enumerate() {
            let mut raw = String::new();
            // A quoted part makes the field a value even when empty.
            let mut quoted = false;
            loop {
                match chars.get(i) {
                    None => return Err(bad("Unexpected end of input.")),
                    Some(',') | Some(')') => break,
                    Some('"') => {
                        quoted = true;
                        i += 1;
                        loop {
                            match chars.get(i) {
                                None => return Err(bad("Unexpected end of input.")),
                                Some('"') if chars.get(i + 1) == Some(&'"') => {
                                    raw.push('"');
                                    i += 2;
                                }
                                Some('"') => {
                                    i += 1;
                                    break;
                                }
                                Some('\\') => {
                                    if let Some(c) = chars.get(i + 1) {
                                        raw.push(*c);
                                    }
                                    i += 2;
                                }
                                Some(c) => {
                                    raw.push(*c);
                                    i += 1;
                                }
                            }
                        }
                    }
                    Some('\\') => {
                        if let Some(c) = chars.get(i + 1) {
                            raw.push(*c);
                        }
                        i += 2;
                    }
                    Some(c) => {
                        raw.push(*c);
                        i += 1;
                    }
                }
            }
            fields.push(if raw.is_empty() && !quoted {
                Value::Null
            } else {
                Value::parse_typed(&raw, ty, all)?
            });
            let last = k + 1 == types.len();
            match chars.get(i) {
                Some(',') if !last => i += 1,
                Some(',') => return Err(bad("Too many columns.")),
                Some(')') if last => i += 1,
                Some(')') => return Err(bad("Too few columns.")),
                _ => return Err(bad("Unexpected end of input.")),
            }
        }
        if types.is_empty() {
            if chars.get(i) != Some(&')') {
                return Err(bad("Too many columns."));
            }
            i += 1;
        }
        if chars[i.min(chars.len())..]
            .iter()
            .any(|c| !c.is_whitespace())
        {
            return Err(bad("Junk after right parenthesis."));
        }
        Ok(Value::Record(id, fields))
    }
}

fn parse_array(text: &str, elem: &DataType) -> Result<Value> {
    let t = text.trim();
    let bad = || {
        Error::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("malformed array literal: \"{text}\""),
        )
    };
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut items = Vec::new();
    if inner.trim().is_empty() {
        return Ok(Value::Array(elem.clone(), items));
    }
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = inner.chars().peekable();
    let push = |cur: &mut String, was_quoted: &mut bool, items: &mut Vec<Value>| -> Result<()> {
        let s = if *was_quoted {
            cur.clone()
        } else {
            cur.trim().to_string()
        };
        if !*was_quoted && s.eq_ignore_ascii_case("null") {
            items.push(Value::Null);
        } else {
            items.push(Value::parse(&s, elem)?);
        }
        cur.clear();
        *was_quoted = false;
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' if !quoted => push(&mut cur, &mut was_quoted, &mut items)?,
            '{' | '}' if !quoted => {
                return Err(Error::unsupported(
                    "multi-dimensional arrays are not supported",
                ));
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(bad());
    }
    push(&mut cur, &mut was_quoted, &mut items)?;
    Ok(Value::Array(elem.clone(), items))
}

/// PostgreSQL's shortest-round-trip float output with its exponent rule.
fn format_float(f: f64, sci_at: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= sci_at {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

fn format_float4(f: f32) -> String {
    if f.is_nan() || f.is_infinite() || f == 0.0 {
        return format_float(f as f64, 6);
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

fn array_item(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        other => {
            let s = other.to_string();
            let needs = s.is_empty()
                || s.eq_ignore_ascii_case("null")
                || s.chars()
                    .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
            if needs {
                format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                s
            }
        }
    }
}

/// jsonb's canonical text: `{"a": 1, "b": [1, 2]}`.
pub(crate) fn jsonb_text(j: &serde_json::Value, out: &mut String) {
    match j {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push_str(": ");
                jsonb_text(&m[*k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                jsonb_text(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => f.write_str(if *b { "t" } else { "f" }),
            Value::Int2(i) => write!(f, "{i}"),
            Value::Int4(i) => write!(f, "{i}"),
            Value::Int8(i) => write!(f, "{i}"),
            Value::Float4(x) => f.write_str(&format_float4(*x)),
            Value::Float8(x) => f.write_str(&format_float(*x, 15)),
            Value::Numeric(d) => write!(f, "{d}"),
            Value::Text(s) | Value::Json(s) => f.write_str(s),
            Value::Bytea(b) => {
                f.write_str("\\x")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
            Value::Date(d) => f.write_str(&datetime::format_date(d)),
            Value::Time(t) => f.write_str(&datetime::format_time(t)),
            Value::Timestamp(t) => f.write_str(&datetime::format_timestamp(t)),
            Value::Timestamptz(t) => f.write_str(&datetime::format_timestamptz(t)),
            Value::Interval(i) => write!(f, "{i}"),
            Value::Uuid(u) => write!(f, "{u}"),
            Value::Jsonb(j) => {
                let mut s = String::new();
                jsonb_text(j, &mut s);
                f.write_str(&s)
            }
            Value::Array(_, items) => {
                let parts: Vec<String> = items.iter().map(array_item).collect();
                write!(f, "{{{}}}", parts.join(","))
            }
            Value::Record(_, fields) => {
                let texts: Vec<Option<String>> = fields
                    .iter()
                    .map(|v| (!v.is_null()).then(|| v.to_string()))
                    .collect();
                f.write_str(&record_text(&texts))
            }
        }
    }
}

/// The field types of composite types by id, for reading record text.
pub type RecordTypes = std::collections::BTreeMap<u32, Vec<DataType>>;

/// The record output form of fields' text (`(1,"a b",)`, PostgreSQL's
/// `record_out`): NULL is empty, a field that is empty or holds a quote,
/// backslash, parenthesis, comma or white space is double-quoted with
/// quotes and backslashes doubled.
pub fn record_text(fields: &[Option<String>]) -> String {
    let mut out = String::from("(");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(s) = f else { continue };
        let quote = s.is_empty()
            || s.chars()
                .any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',') || c.is_whitespace());
        if quote {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push(c);
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(s);
        }
    }
    out.push(')');
    out
}

fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn numeric_cmp(a: &Value, b: &Value) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    let is_float = |v: &Value| matches!(v, Value::Float4(_) | Value::Float8(_));
    if is_float(a) || is_float(b) {
        return float_cmp(a.as_f64(), b.as_f64());
    }
    match (a.as_decimal(), b.as_decimal()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => Ordering::Equal,
    }
}

impl Ord for Value {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // Same-typed integers, the most common case, first.
        match (self, other) {
            (Value::Int8(a), Value::Int8(b)) => a.cmp(b),
            (Value::Int4(a), Value::Int4(b)) => a.cmp(b),
            (Value::Int8(a), Value::Int4(b)) => a.cmp(&i64::from(*b)),
            (Value::Int4(a), Value::Int8(b)) => i64::from(*a).cmp(b),
            _ => self.cmp_general(other),
        }
    }
}

impl Value {
    fn cmp_general(&self, other: &Self) -> Ordering {
        let (ra, rb) = (self.rank(), other.rank());
        if ra != rb {
            return ra.cmp(&rb);
        }
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Bytea(a), Value::Bytea(b)) => a.cmp(b),
            (Value::Time(a), Value::Time(b)) => a.cmp(b),
            (Value::Interval(a), Value::Interval(b)) => a.cmp(b),
            (Value::Uuid(a), Value::Uuid(b)) => a.cmp(b),
            (Value::Json(a), Value::Json(b)) => a.cmp(b),
            (Value::Jsonb(a), Value::Jsonb(b)) => {
                let (mut x, mut y) = (String::new(), String::new());
                jsonb_text(a, &mut x);
                jsonb_text(b, &mut y);
                x.cmp(&y)
            }
            (Value::Array(_, a), Value::Array(_, b)) => a.cmp(b),
            (Value::Record(_, a), Value::Record(_, b)) => a.cmp(b),
            _ if ra == 2 => numeric_cmp(self, other),
            _ if ra == 5 => self.timestamp_micros().cmp(&other.timestamp_micros()),
            _ => Ordering::Equal,
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int2(_)
            | Value::Int4(_)
            | Value::Int8(_)
            | Value::Float4(_)
            | Value::Float8(_)
            | Value::Numeric(_) => {
                if let Some(i) = self.as_i64() {
                    i.hash(state);
                    return;
                }
                if let Value::Numeric(d) = self
                    && d.fract().is_zero()
                    && let Some(i) = d.to_i64()
                {
                    i.hash(state);
                    return;
                }
                let f = self.as_f64();
                if f.fract() == 0.0 && f.abs() < 9.2e18 {
                    (f as i64).hash(state);
                } else if f.is_nan() {
                    u64::MAX.hash(state);
                } else {
                    f.to_bits().hash(state);
                }
            }
            Value::Text(s) | Value::Json(s) => s.hash(state),
            Value::Bytea(b) => b.hash(state),
            Value::Date(_) | Value::Timestamp(_) | Value::Timestamptz(_) => {
                self.timestamp_micros().hash(state)
            }
            Value::Time(t) => t.hash(state),
            Value::Interval(i) => i.hash(state),
            Value::Uuid(u) => u.hash(state),
            Value::Jsonb(_) => self.to_string().hash(state),
            Value::Array(_, items) | Value::Record(_, items) => items.hash(state),
        }
    }
}

impl Value {
    /// Numeric value as f64 (for casts and float arithmetic).
    pub(crate) fn to_f64_lossy(&self) -> f64 {
        self.as_f64()
    }

    /// Numeric value as Decimal (integers and numerics only).
    pub(crate) fn to_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Float4(f) => Decimal::from_f32(*f),
            Value::Float8(f) => Decimal::from_f64(*f),
            other => other.as_decimal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_like_postgres() {
        assert_eq!(Value::Float8(1e20).to_string(), "1e+20");
        assert_eq!(Value::Float8(0.1).to_string(), "0.1");
        assert_eq!(Value::Float8(1e-5).to_string(), "1e-05");
        assert_eq!(Value::Float8(100.0).to_string(), "100");
        assert_eq!(Value::Float4(1234567.0).to_string(), "1.234567e+06");
        assert_eq!(Value::Bool(true).to_string(), "t");
        assert_eq!(Value::Bytea(vec![10, 11]).to_string(), "\\x0a0b");
        let j = Value::parse(r#"{"b":[1,2],"a":1}"#, &DataType::Jsonb).unwrap();
        assert_eq!(j.to_string(), r#"{"a": 1, "b": [1, 2]}"#);
        let a = Value::parse("{1,NULL,3}", &DataType::Array(Box::new(DataType::Int4))).unwrap();
        assert_eq!(a.to_string(), "{1,NULL,3}");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            Value::parse("abc", &DataType::Int4).unwrap_err().sqlstate(),
            "22P02"
        );
        assert_eq!(
            Value::parse("99999999999", &DataType::Int4)
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
        assert_eq!(
            Value::parse(" 12 ", &DataType::Int4).unwrap(),
            Value::Int4(12)
        );
        assert_eq!(
            Value::parse("yes", &DataType::Bool).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            Value::parse("{bad", &DataType::Json)
                .unwrap_err()
                .sqlstate(),
            "22P02"
        );
    }

    #[test]
    fn cross_type_equality_and_hash() {
        use std::collections::hash_map::DefaultHasher;
        let h = |v: &Value| {
            let mut s = DefaultHasher::new();
            v.hash(&mut s);
            s.finish()
        };
        let one = [
            Value::Int4(1),
            Value::Int8(1),
            Value::Numeric(Decimal::new(100, 2)),
            Value::Float8(1.0),
        ];
        for a in &one {
            for b in &one {
                assert_eq!(a, b);
                assert_eq!(h(a), h(b));
            }
        }
        assert!(Value::Null > Value::Int4(5));
        assert!(Value::Float8(f64::NAN) > Value::Float8(f64::INFINITY));
    }
}
