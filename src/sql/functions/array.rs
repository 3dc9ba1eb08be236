//! Array functions (one-dimensional arrays, lower bound 1) and
//! `format_type`, the catalog's type-name formatter.

use super::{Func, int};
use crate::error::{Error, Result, SqlState};
use crate::types::{DataType, Value};

/// `arr[sub] := v`: a NULL or empty array becomes `{v}` when `sub` is 1;
/// a subscript past the end pads with NULLs, as PostgreSQL does for
/// one-dimensional arrays. Arrays here always start at 1, so a subscript
/// that would move the lower bound is refused.
pub fn assign(elem: &DataType, arr: &Value, sub: &Value, v: Value) -> Result<Value> {
    if sub.is_null() {
        return Err(Error::new(
            SqlState::NULL_VALUE_NOT_ALLOWED,
            "array subscript in assignment must not be null",
        ));
    }
    let i = int(sub)?;
    let mut items = match arr {
        Value::Array(_, items) => items.clone(),
        _ => Vec::new(),
    };
    if i < 1 {
        return Err(Error::unsupported(
            "arrays with a lower bound other than 1 are not supported",
        ));
    }
    // PostgreSQL's MaxArraySize.
    const MAX_ELEMENTS: i64 = 134_217_727;
    if i > MAX_ELEMENTS {
        return Err(Error::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            format!("array size exceeds the maximum allowed ({MAX_ELEMENTS})"),
        ));
    }
    let i = usize::try_from(i - 1).map_err(|_| Error::internal("subscript out of range"))?;
    if items.is_empty() && i > 0 {
        return Err(Error::unsupported(
            "arrays with a lower bound other than 1 are not supported",
        ));
    }
    if i >= items.len() {
        items.resize(i, Value::Null);
        items.push(v);
    } else {
        items[i] = v;
    }
    Ok(Value::Array(elem.clone(), items))
}

/// Evaluates the functions of this module (`None` for any other function).
/// Arguments are non-null except where noted.
pub fn eval(f: &Func, vals: &[Value]) -> Result<Option<Value>> {
    let elems = |v: &Value| match v {
        Value::Array(_, e) => e.len(),
        _ => 0,
    };
    Ok(Some(match f {
        Func::ArrayToString => {
            let sep = vals[1].to_string();
            let null = vals.get(2).map(|v| v.to_string());
            let Value::Array(_, items) = &vals[0] else {
                return Ok(Some(Value::Null));
            };
            let parts: Vec<String> = items
                .iter()
                .filter_map(|v| match (v, &null) {
                    (Value::Null, Some(n)) => Some(n.clone()),
                    (Value::Null, None) => None,
                    (v, _) => Some(v.to_string()),
                })
                .collect();
            Value::Text(parts.join(&sep))
        }
        // Not strict: a NULL delimiter splits into characters.
        Func::StringToArray => {
            let Value::Text(text) = &vals[0] else {
                return Ok(Some(Value::Null));
            };
            let null = match vals.get(2) {
                Some(Value::Text(n)) => Some(n.as_str()),
                _ => None,
            };
            let parts: Vec<&str> = match &vals[1] {
                _ if text.is_empty() => Vec::new(),
                Value::Text(d) if d.is_empty() => vec![text.as_str()],
                Value::Text(d) => text.split(d.as_str()).collect(),
                _ => text
                    .char_indices()
                    .map(|(i, c)| &text[i..i + c.len_utf8()])
                    .collect(),
            };
            let items = parts
                .into_iter()
                .map(|p| match null {
                    Some(n) if n == p => Value::Null,
                    _ => Value::Text(p.to_string()),
                })
                .collect();
            Value::Array(DataType::Text, items)
        }
        Func::ArrayUpper | Func::ArrayLength => {
            let n = elems(&vals[0]);
            if int(&vals[1])? != 1 || n == 0 {
                Value::Null
            } else {
                Value::Int4(n as i32)
            }
        }
        Func::ArrayLower => {
            if int(&vals[1])? != 1 || elems(&vals[0]) == 0 {
                Value::Null
            } else {
                Value::Int4(1)
            }
        }
        Func::ArrayElement => match &vals[0] {
            Value::Array(_, items) => {
                let i = int(&vals[1])?;
                usize::try_from(i - 1)
                    .ok()
                    .and_then(|k| items.get(k).cloned())
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
        Func::PgSizePretty => Value::Text(size_pretty(int(&vals[0])?)),
        Func::Cardinality => Value::Int4(elems(&vals[0]) as i32),
        // Not strict: a NULL type modifier means "no modifier".
        Func::FormatType => {
            if vals[0].is_null() {
                return Ok(Some(Value::Null));
            }
            let typmod = vals[1].as_i64().map(|m| m as i32);
            let oid = int(&vals[0])?;
            match crate::sql::system::format_type(oid, typmod) {
                Some(s) => Value::Text(s),
                None => Value::Text("???".into()),
            }
        }
        _ => return Ok(None),
    }))
}

/// `pg_size_pretty`: bytes below 10 kB, then the largest unit that keeps
/// the value below 20480 (PostgreSQL's rule), rounded half away from zero.
fn size_pretty(bytes: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    if bytes.abs() < LIMIT {
        return format!("{bytes} bytes");
    }
    // One extra bit is kept for rounding.
    let mut size = bytes / 512;
    let mut unit = "kB";
    for next in ["MB", "GB", "TB", "PB"] {
        if size.abs() < LIMIT2 {
            break;
        }
        size /= 1024;
        unit = next;
    }
    let rounded = (size + if size < 0 { -1 } else { 1 }) / 2;
    format!("{rounded} {unit}")
}
