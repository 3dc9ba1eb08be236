//! Byte encodings of values.
//!
//! * **Keys** ([`encode_key`]): memcomparable: comparing encodings bytewise
//!   orders tuples like comparing their values, with NULL last. Used for
//!   primary keys and index entries; a tuple's encoding is the concatenation
//!   of its values' encodings, so prefixes of a key are prefixes of its bytes.
//! * **Rows** ([`encode_row`]): compact, self-describing (a type tag per
//!   value), exact round trip.
//!
//! Decoders never panic: truncated or corrupt input is an `XX001` error.

use super::{DataType, Interval, Value};
use crate::error::{Error, Result};
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike};
use rust_decimal::Decimal;
use uuid::Uuid;

const K_BOOL: u8 = 0x01;
const K_INT: u8 = 0x02;
const K_FLOAT: u8 = 0x03;
const K_NUMERIC: u8 = 0x04;
const K_TEXT: u8 = 0x05;
const K_BYTEA: u8 = 0x06;
const K_DATE: u8 = 0x07;
const K_TIME: u8 = 0x08;
const K_TS: u8 = 0x09;
const K_TSTZ: u8 = 0x0A;
const K_INTERVAL: u8 = 0x0B;
const K_UUID: u8 = 0x0C;
const K_JSON: u8 = 0x0D;
const K_JSONB: u8 = 0x0E;
const K_ARRAY: u8 = 0x0F;
const K_NULL: u8 = 0xFF;

fn corrupt(what: &str) -> Error {
    Error::corrupted(format!("corrupt encoded {what}"))
}

fn put_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        if b == 0 {
            out.extend_from_slice(&[0, 0xFF]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

fn get_escaped(buf: &[u8], pos: &mut usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let b = *buf.get(*pos).ok_or_else(|| corrupt("key"))?;
        *pos += 1;
        if b == 0 {
            let n = *buf.get(*pos).ok_or_else(|| corrupt("key"))?;
            *pos += 1;
            match n {
                0 => return Ok(out),
                0xFF => out.push(0),
                _ => return Err(corrupt("key")),
            }
        } else {
            out.push(b);
        }
    }
}

#[inline]
fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize, what: &str) -> Result<&'a [u8]> {
    let end = pos.checked_add(n).ok_or_else(|| corrupt(what))?;
    let s = buf.get(*pos..end).ok_or_else(|| corrupt(what))?;
    *pos = end;
    Ok(s)
}

#[inline]
fn arr<const N: usize>(buf: &[u8], pos: &mut usize, what: &str) -> Result<[u8; N]> {
    take(buf, pos, N, what)?
        .try_into()
        .map_err(|_| corrupt(what))
}

fn flip_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn unflip_i64(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

fn float_key(f: f64) -> [u8; 8] {
    let f = if f.is_nan() {
        f64::NAN
    } else if f == 0.0 {
        0.0
    } else {
        f
    };
    let bits = if f.is_nan() {
        0x7FF8_0000_0000_0000u64
    } else {
        f.to_bits()
    };
    let t = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    t.to_be_bytes()
}

fn float_unkey(b: [u8; 8]) -> f64 {
    let t = u64::from_be_bytes(b);
    let bits = if t >> 63 == 1 { t ^ (1 << 63) } else { !t };
    f64::from_bits(bits)
}

/// Order-preserving decimal: sign class, exponent, digit string.
fn numeric_key(d: &Decimal, out: &mut Vec<u8>) {
    let d = d.normalize();
    if d.is_zero() {
        out.push(1);
        return;
    }
    let neg = d.is_sign_negative();
    let s = d.abs().to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = int.trim_start_matches('0');
    let (digits, exp): (String, i16) = if !int.is_empty() {
        (
            format!("{int}{frac}").trim_end_matches('0').to_string(),
            int.len() as i16,
        )
    } else {
        let lead = frac.len() - frac.trim_start_matches('0').len();
        (
            frac.trim_start_matches('0')
                .trim_end_matches('0')
                .to_string(),
            -(lead as i16),
        )
    };
    let e = ((exp as i32 + 32768) as u16).to_be_bytes();
    if neg {
        out.push(0);
        out.extend(e.iter().map(|b| !b));
        out.extend(digits.bytes().map(|b| !b));
        out.push(0xFF);
    } else {
        out.push(2);
        out.extend_from_slice(&e);
        out.extend(digits.bytes());
        out.push(0);
    }
}

fn numeric_unkey(buf: &[u8], pos: &mut usize) -> Result<Decimal> {
    let class = arr::<1>(buf, pos, "numeric")?[0];
    if class == 1 {
        return Ok(Decimal::ZERO);
    }
    let neg = class == 0;
    let mut e = arr::<2>(buf, pos, "numeric")?;
    if neg {
        e = [!e[0], !e[1]];
    }
    let exp = u16::from_be_bytes(e) as i32 - 32768;
    let mut digits = String::new();
    loop {
        let b = arr::<1>(buf, pos, "numeric")?[0];
        let b = if neg { !b } else { b };
        if b == 0 {
            break;
        }
        if !b.is_ascii_digit() {
            return Err(corrupt("numeric"));
        }
        digits.push(b as char);
    }
    let text = if exp <= 0 {
        format!("0.{}{}", "0".repeat((-exp) as usize), digits)
    } else if (exp as usize) >= digits.len() {
        format!("{}{}", digits, "0".repeat(exp as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..exp as usize], &digits[exp as usize..])
    };
    let d: Decimal = text.parse().map_err(|_| corrupt("numeric"))?;
    Ok(if neg { -d } else { d })
}

fn micros_of_time(t: &NaiveTime) -> u64 {
    t.num_seconds_from_midnight() as u64 * 1_000_000 + (t.nanosecond() / 1000) as u64
}

fn time_of_micros(m: u64) -> Option<NaiveTime> {
    NaiveTime::from_num_seconds_from_midnight_opt(
        (m / 1_000_000) as u32,
        ((m % 1_000_000) * 1000) as u32,
    )
}

/// Encodes one value as a key component.
pub fn encode_key_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(K_NULL),
        Value::Bool(b) => out.extend_from_slice(&[K_BOOL, *b as u8]),
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => {
            out.push(K_INT);
            out.extend_from_slice(&flip_i64(v.as_i64().expect("integer")));
        }
        Value::Float4(f) => {
            out.push(K_FLOAT);
            out.extend_from_slice(&float_key(*f as f64));
        }
        Value::Float8(f) => {
            out.push(K_FLOAT);
            out.extend_from_slice(&float_key(*f));
        }
        Value::Numeric(d) => {
            out.push(K_NUMERIC);
            numeric_key(d, out);
        }
        Value::Text(s) => {
            out.push(K_TEXT);
            put_escaped(s.as_bytes(), out);
        }
        Value::Bytea(b) => {
            out.push(K_BYTEA);
            put_escaped(b, out);
        }
        Value::Date(d) => {
            out.push(K_DATE);
            out.extend_from_slice(&flip_i64(chrono::Datelike::num_days_from_ce(d) as i64));
        }
        Value::Time(t) => {
            out.push(K_TIME);
            out.extend_from_slice(&micros_of_time(t).to_be_bytes());
        }
        Value::Timestamp(t) => {
            out.push(K_TS);
            out.extend_from_slice(&flip_i64(t.and_utc().timestamp_micros()));
        }
        Value::Timestamptz(t) => {
            out.push(K_TSTZ);
            out.extend_from_slice(&flip_i64(t.timestamp_micros()));
        }
        Value::Interval(i) => {
            out.push(K_INTERVAL);
            out.extend_from_slice(&((i.total_micros() as u128) ^ (1 << 127)).to_be_bytes());
            out.extend_from_slice(&i.months.to_be_bytes());
            out.extend_from_slice(&i.days.to_be_bytes());
            out.extend_from_slice(&i.micros.to_be_bytes());
        }
        Value::Uuid(u) => {
            out.push(K_UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Json(s) => {
            out.push(K_JSON);
            put_escaped(s.as_bytes(), out);
        }
        Value::Jsonb(_) => {
            out.push(K_JSONB);
            put_escaped(v.to_string().as_bytes(), out);
        }
        Value::Array(..) | Value::Record(..) => {
            out.push(K_ARRAY);
            let mut row = Vec::new();
            encode_row(std::slice::from_ref(v), &mut row);
            put_escaped(&row, out);
        }
    }
}

/// Encodes a tuple as a memcomparable key.
pub fn encode_key(values: &[Value], out: &mut Vec<u8>) {
    for v in values {
        encode_key_value(v, out);
    }
}

/// Decodes `types.len()` key components; returns the values and bytes consumed.
pub fn decode_key(bytes: &[u8], types: &[DataType]) -> Result<(Vec<Value>, usize)> {
    let mut pos = 0;
    let mut out = Vec::with_capacity(types.len());
    for ty in types {
        let tag = arr::<1>(bytes, &mut pos, "key")?[0];
        let v = match tag {
            K_NULL => Value::Null,
            K_BOOL => Value::Bool(arr::<1>(bytes, &mut pos, "key")?[0] != 0),
            K_INT => {
                let i = unflip_i64(arr(bytes, &mut pos, "key")?);
                match ty {
                    DataType::Int2 => Value::Int2(i16::try_from(i).map_err(|_| corrupt("key"))?),
                    DataType::Int4 => Value::Int4(i32::try_from(i).map_err(|_| corrupt("key"))?),
                    _ => Value::Int8(i),
                }
            }
            K_FLOAT => {
                let f = float_unkey(arr(bytes, &mut pos, "key")?);
                if *ty == DataType::Float4 {
                    Value::Float4(f as f32)
                } else {
                    Value::Float8(f)
                }
            }
            K_NUMERIC => Value::Numeric(numeric_unkey(bytes, &mut pos)?),
            K_TEXT => Value::Text(
                String::from_utf8(get_escaped(bytes, &mut pos)?).map_err(|_| corrupt("key"))?,
            ),
            K_BYTEA => Value::Bytea(get_escaped(bytes, &mut pos)?),
            K_DATE => {
                let d = unflip_i64(arr(bytes, &mut pos, "key")?);
                Value::Date(
                    i32::try_from(d)
                        .ok()
                        .and_then(NaiveDate::from_num_days_from_ce_opt)
                        .ok_or_else(|| corrupt("key"))?,
                )
            }
            K_TIME => Value::Time(
                time_of_micros(u64::from_be_bytes(arr(bytes, &mut pos, "key")?))
                    .ok_or_else(|| corrupt("key"))?,
            ),
            K_TS => Value::Timestamp(
                DateTime::from_timestamp_micros(unflip_i64(arr(bytes, &mut pos, "key")?))
                    .ok_or_else(|| corrupt("key"))?
                    .naive_utc(),
            ),
            K_TSTZ => Value::Timestamptz(
                DateTime::from_timestamp_micros(unflip_i64(arr(bytes, &mut pos, "key")?))
                    .ok_or_else(|| corrupt("key"))?,
            ),
            K_INTERVAL => {
                take(bytes, &mut pos, 16, "key")?;
                let months = i32::from_be_bytes(arr(bytes, &mut pos, "key")?);
                let days = i32::from_be_bytes(arr(bytes, &mut pos, "key")?);
                let micros = i64::from_be_bytes(arr(bytes, &mut pos, "key")?);
                Value::Interval(Interval::new(months, days, micros))
            }
            K_UUID => Value::Uuid(Uuid::from_bytes(arr(bytes, &mut pos, "key")?)),
            K_JSON => Value::Json(
                String::from_utf8(get_escaped(bytes, &mut pos)?).map_err(|_| corrupt("key"))?,
            ),
            K_JSONB => {
                let s =
                    String::from_utf8(get_escaped(bytes, &mut pos)?).map_err(|_| corrupt("key"))?;
                Value::Jsonb(serde_json::from_str(&s).map_err(|_| corrupt("key"))?)
            }
            K_ARRAY => {
                let raw = get_escaped(bytes, &mut pos)?;
                decode_row(&raw)?.pop().ok_or_else(|| corrupt("key"))?
            }
            _ => return Err(corrupt("key")),
        };
        out.push(v);
    }
    Ok((out, pos))
}

// ---- Rows ----

const R_NULL: u8 = 0;
const R_FALSE: u8 = 1;
const R_TRUE: u8 = 2;
const R_INT2: u8 = 3;
const R_INT4: u8 = 4;
const R_INT8: u8 = 5;
const R_FLOAT4: u8 = 6;
const R_FLOAT8: u8 = 7;
const R_NUMERIC: u8 = 8;
const R_TEXT: u8 = 9;
const R_BYTEA: u8 = 10;
const R_DATE: u8 = 11;
const R_TIME: u8 = 12;
const R_TS: u8 = 13;
const R_TSTZ: u8 = 14;
const R_INTERVAL: u8 = 15;
const R_UUID: u8 = 16;
const R_JSON: u8 = 17;
const R_JSONB: u8 = 18;
const R_ARRAY: u8 = 19;
const R_RECORD: u8 = 20;

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
    // Most varints (lengths, column counts) are one byte.
    if let Some(&b) = buf.get(*pos)
        && b < 0x80
    {
        *pos += 1;
        return Ok(b as u64);
    }
    get_varint_long(buf, pos)
}

fn get_varint_long(buf: &[u8], pos: &mut usize) -> Result<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(|| corrupt("row"))?;
        *pos += 1;
        n |= ((b & 0x7F) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(corrupt("row"))
}

fn put_bytes(b: &[u8], out: &mut Vec<u8>) {
    put_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8]> {
    let n = get_varint(buf, pos)?;
    let n = usize::try_from(n).map_err(|_| corrupt("row"))?;
    take(buf, pos, n, "row")
}

fn put_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(R_NULL),
        Value::Bool(false) => out.push(R_FALSE),
        Value::Bool(true) => out.push(R_TRUE),
        Value::Int2(i) => {
            out.push(R_INT2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Int4(i) => {
            out.push(R_INT4);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Int8(i) => {
            out.push(R_INT8);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float4(f) => {
            out.push(R_FLOAT4);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Float8(f) => {
            out.push(R_FLOAT8);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Numeric(d) => {
            out.push(R_NUMERIC);
            out.extend_from_slice(&d.serialize());
        }
        Value::Text(s) => {
            out.push(R_TEXT);
            put_bytes(s.as_bytes(), out);
        }
        Value::Bytea(b) => {
            out.push(R_BYTEA);
            put_bytes(b, out);
        }
        Value::Date(d) => {
            out.push(R_DATE);
            out.extend_from_slice(&chrono::Datelike::num_days_from_ce(d).to_le_bytes());
        }
        Value::Time(t) => {
            out.push(R_TIME);
            out.extend_from_slice(&micros_of_time(t).to_le_bytes());
        }
        Value::Timestamp(t) => {
            out.push(R_TS);
            out.extend_from_slice(&t.and_utc().timestamp_micros().to_le_bytes());
        }
        Value::Timestamptz(t) => {
            out.push(R_TSTZ);
            out.extend_from_slice(&t.timestamp_micros().to_le_bytes());
        }
        Value::Interval(i) => {
            out.push(R_INTERVAL);
            out.extend_from_slice(&i.months.to_le_bytes());
            out.extend_from_slice(&i.days.to_le_bytes());
            out.extend_from_slice(&i.micros.to_le_bytes());
        }
        Value::Uuid(u) => {
            out.push(R_UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Json(s) => {
            out.push(R_JSON);
            put_bytes(s.as_bytes(), out);
        }
        Value::Jsonb(j) => {
            out.push(R_JSONB);
            put_bytes(j.to_string().as_bytes(), out);
        }
        Value::Array(t, items) => {
            out.push(R_ARRAY);
            put_bytes(serde_json::to_string(t).unwrap_or_default().as_bytes(), out);
            put_varint(items.len() as u64, out);
            for i in items {
                put_value(i, out);
            }
        }
        Value::Record(id, fields) => {
            out.push(R_RECORD);
            put_varint(*id as u64, out);
            put_varint(fields.len() as u64, out);
            for f in fields {
                put_value(f, out);
            }
        }
    }
}

fn get_value(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Value> {
    if depth > 8 {
        return Err(corrupt("row"));
    }
    let tag = arr::<1>(buf, pos, "row")?[0];
    Ok(match tag {
        R_NULL => Value::Null,
        R_FALSE => Value::Bool(false),
        R_TRUE => Value::Bool(true),
        R_INT2 => Value::Int2(i16::from_le_bytes(arr(buf, pos, "row")?)),
        R_INT4 => Value::Int4(i32::from_le_bytes(arr(buf, pos, "row")?)),
        R_INT8 => Value::Int8(i64::from_le_bytes(arr(buf, pos, "row")?)),
        R_FLOAT4 => Value::Float4(f32::from_le_bytes(arr(buf, pos, "row")?)),
        R_FLOAT8 => Value::Float8(f64::from_le_bytes(arr(buf, pos, "row")?)),
        R_NUMERIC => Value::Numeric(Decimal::deserialize(arr(buf, pos, "row")?)),
        R_TEXT => Value::Text(
            String::from_utf8(get_bytes(buf, pos)?.to_vec()).map_err(|_| corrupt("row"))?,
        ),
        R_BYTEA => Value::Bytea(get_bytes(buf, pos)?.to_vec()),
        R_DATE => Value::Date(
            NaiveDate::from_num_days_from_ce_opt(i32::from_le_bytes(arr(buf, pos, "row")?))
                .ok_or_else(|| corrupt("row"))?,
        ),
        R_TIME => Value::Time(
            time_of_micros(u64::from_le_bytes(arr(buf, pos, "row")?))
                .ok_or_else(|| corrupt("row"))?,
        ),
        R_TS => Value::Timestamp(
            DateTime::from_timestamp_micros(i64::from_le_bytes(arr(buf, pos, "row")?))
                .ok_or_else(|| corrupt("row"))?
                .naive_utc(),
        ),
        R_TSTZ => Value::Timestamptz(
            DateTime::from_timestamp_micros(i64::from_le_bytes(arr(buf, pos, "row")?))
                .ok_or_else(|| corrupt("row"))?,
        ),
        R_INTERVAL => {
            let months = i32::from_le_bytes(arr(buf, pos, "row")?);
            let days = i32::from_le_bytes(arr(buf, pos, "row")?);
            let micros = i64::from_le_bytes(arr(buf, pos, "row")?);
            Value::Interval(Interval::new(months, days, micros))
        }
        R_UUID => Value::Uuid(Uuid::from_bytes(arr(buf, pos, "row")?)),
        R_JSON => Value::Json(
            String::from_utf8(get_bytes(buf, pos)?.to_vec()).map_err(|_| corrupt("row"))?,
        ),
        R_JSONB => {
            Value::Jsonb(serde_json::from_slice(get_bytes(buf, pos)?).map_err(|_| corrupt("row"))?)
        }
        R_ARRAY => {
            let t: DataType =
                serde_json::from_slice(get_bytes(buf, pos)?).map_err(|_| corrupt("row"))?;
            let n = get_varint(buf, pos)?;
            if n > buf.len() as u64 {
                return Err(corrupt("row"));
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(get_value(buf, pos, depth + 1)?);
            }
            Value::Array(t, items)
        }
        R_RECORD => {
            let id = u32::try_from(get_varint(buf, pos)?).map_err(|_| corrupt("row"))?;
            let n = get_varint(buf, pos)?;
            if n > buf.len() as u64 {
                return Err(corrupt("row"));
            }
            let mut fields = Vec::with_capacity(n as usize);
            for _ in 0..n {
                fields.push(get_value(buf, pos, depth + 1)?);
            }
            Value::Record(id, fields)
        }
        _ => return Err(corrupt("row")),
    })
}

/// Encodes a row.
pub fn encode_row(values: &[Value], out: &mut Vec<u8>) {
    put_varint(values.len() as u64, out);
    for v in values {
        put_value(v, out);
    }
}

/// Skips one encoded value; fixed-width values and short strings inline.
#[inline(always)]
fn skip_value_fast(buf: &[u8], pos: &mut usize) -> Result<()> {
    let width = match buf.get(*pos) {
        Some(&(R_NULL | R_FALSE | R_TRUE)) => 1,
        Some(&R_INT4) => 5,
        Some(&(R_INT8 | R_TS | R_TSTZ)) => 9,
        Some(&(R_TEXT | R_BYTEA)) => match buf.get(*pos + 1) {
            Some(&len) if len < 0x80 => 2 + len as usize,
            _ => return skip_value(buf, pos, 0),
        },
        _ => return skip_value(buf, pos, 0),
    };
    if *pos + width > buf.len() {
        return Err(corrupt("row"));
    }
    *pos += width;
    Ok(())
}

/// Skips one encoded value without building it.
fn skip_value(buf: &[u8], pos: &mut usize, depth: usize) -> Result<()> {
    if depth > 8 {
        return Err(corrupt("row"));
    }
    let tag = arr::<1>(buf, pos, "row")?[0];
    let fixed = match tag {
        R_NULL | R_FALSE | R_TRUE => 0,
        R_INT2 => 2,
        R_INT4 | R_FLOAT4 | R_DATE => 4,
        R_INT8 | R_FLOAT8 | R_TIME | R_TS | R_TSTZ => 8,
        R_NUMERIC | R_UUID | R_INTERVAL => 16,
        R_TEXT | R_BYTEA | R_JSON | R_JSONB => {
            get_bytes(buf, pos)?;
            return Ok(());
        }
        R_RECORD | R_ARRAY => {
            // A record's type id, or an array's element type.
            if tag == R_RECORD {
                get_varint(buf, pos)?;
            } else {
                get_bytes(buf, pos)?;
            }
            let n = get_varint(buf, pos)?;
            if n > buf.len() as u64 {
                return Err(corrupt("row"));
            }
            for _ in 0..n {
                skip_value(buf, pos, depth + 1)?;
            }
            return Ok(());
        }
        _ => return Err(corrupt("row")),
    };
    take(buf, pos, fixed, "row")?;
    Ok(())
}

/// Decodes only the values whose position is marked in `needed`; the others
/// (and positions beyond `needed`) come back as NULL.
pub fn decode_row_projected(bytes: &[u8], needed: &[bool]) -> Result<Vec<Value>> {
    let mut pos = 0;
    let n = get_varint(bytes, &mut pos)?;
    if n > bytes.len() as u64 {
        return Err(corrupt("row"));
    }
    let n = n as usize;
    // Values after the last needed one are not parsed at all.
    let last = needed.iter().take(n).rposition(|&b| b).map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(n.max(needed.len()));
    for &want in &needed[..last] {
        if want {
            out.push(get_value(bytes, &mut pos, 0)?);
        } else {
            skip_value(bytes, &mut pos, 0)?;
            out.push(Value::Null);
        }
    }
    out.resize_with(n, || Value::Null);
    if last == n && pos != bytes.len() {
        return Err(corrupt("row"));
    }
    Ok(out)
}

/// Decodes one value into `slot`. Integers and NULL are written in place
/// (the common case of a scan, which reuses its row: an integer slot gets
/// its new integer without dropping the old value); other values go through
/// [`get_value`].
#[inline(always)]
fn get_value_into(buf: &[u8], pos: &mut usize, slot: &mut Value) -> Result<()> {
    fn fixed<const N: usize>(buf: &[u8], pos: &mut usize) -> Result<[u8; N]> {
        let b = buf
            .get(*pos + 1..*pos + 1 + N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("row"))?;
        *pos += 1 + N;
        Ok(b)
    }
    match buf.get(*pos) {
        Some(&R_INT8) => {
            let v = i64::from_le_bytes(fixed(buf, pos)?);
            match slot {
                Value::Int8(x) => *x = v,
                _ => *slot = Value::Int8(v),
            }
        }
        Some(&R_INT4) => {
            let v = i32::from_le_bytes(fixed(buf, pos)?);
            match slot {
                Value::Int4(x) => *x = v,
                _ => *slot = Value::Int4(v),
            }
        }
        Some(&R_NULL) if slot.is_null() => *pos += 1,
        _ => *slot = get_value(buf, pos, 0)?,
    }
    Ok(())
}

/// Decodes a row in place: each position marked in `mask` (every position
/// if `None`) gets its value, NULL for positions beyond the stored values
/// (columns added after the row was written); the other positions of `out`
/// are left as they are. A row with more values than `out` has positions is
/// corrupt. With a mask, values after the last marked one are not parsed.
pub fn decode_row_into(bytes: &[u8], mask: Option<&[bool]>, out: &mut [Value]) -> Result<()> {
    let mut pos = 0;
    let n = get_varint(bytes, &mut pos)?;
    if n > out.len() as u64 || n > bytes.len() as u64 {
        return Err(corrupt("row"));
    }
    let n = n as usize;
    let Some(mask) = mask else {
        for slot in &mut out[..n] {
            get_value_into(bytes, &mut pos, slot)?;
        }
        out[n..].fill(Value::Null);
        if pos != bytes.len() {
            return Err(corrupt("row"));
        }
        return Ok(());
    };
    let mask = &mask[..mask.len().min(out.len())];
    let last = mask.iter().take(n).rposition(|&b| b).map_or(0, |i| i + 1);
    for (slot, &want) in out[..last].iter_mut().zip(&mask[..last]) {
        if want {
            get_value_into(bytes, &mut pos, slot)?;
        } else {
            skip_value_fast(bytes, &mut pos)?;
        }
    }
    if n < mask.len() {
        for (slot, &want) in out[n..].iter_mut().zip(&mask[n..]) {
            if want {
                *slot = Value::Null;
            }
        }
    }
    if last == n && pos != bytes.len() {
        return Err(corrupt("row"));
    }
    Ok(())
}

/// Decodes a row written by [`encode_row`].
pub fn decode_row(bytes: &[u8]) -> Result<Vec<Value>> {
    let mut pos = 0;
    let n = get_varint(bytes, &mut pos)?;
    if n > bytes.len() as u64 {
        return Err(corrupt("row"));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        out.push(get_value(bytes, &mut pos, 0)?);
    }
    if pos != bytes.len() {
        return Err(corrupt("row"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(v: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(v, &mut out);
        out
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Int8),
            any::<f64>().prop_map(Value::Float8),
            "[a-z\\x00]{0,6}".prop_map(Value::Text),
            (any::<i64>(), 0u32..10).prop_map(|(m, s)| Value::Numeric(Decimal::new(m, s))),
        ]
    }

    proptest! {
        #[test]
        fn int_keys_order(a: i64, b: i64) {
            prop_assert_eq!(a.cmp(&b), key(&[Value::Int8(a)]).cmp(&key(&[Value::Int8(b)])));
        }

        #[test]
        fn text_tuple_keys_order(a in "[a-c\\x00]{0,4}", b in "[a-c\\x00]{0,4}", x: i32, y: i32) {
            let ka = key(&[Value::Text(a.clone()), Value::Int4(x)]);
            let kb = key(&[Value::Text(b.clone()), Value::Int4(y)]);
            prop_assert_eq!((a, x).cmp(&(b, y)), ka.cmp(&kb));
        }

        #[test]
        fn numeric_keys_order(m1: i64, s1 in 0u32..12, m2: i64, s2 in 0u32..12) {
            let (a, b) = (Decimal::new(m1, s1), Decimal::new(m2, s2));
            prop_assert_eq!(a.cmp(&b), key(&[Value::Numeric(a)]).cmp(&key(&[Value::Numeric(b)])));
            let (v, _) = decode_key(&key(&[Value::Numeric(a)]), &[DataType::Numeric(None)]).unwrap();
            prop_assert_eq!(v[0].clone(), Value::Numeric(a));
        }

        #[test]
        fn float_keys_order(a: f64, b: f64) {
            let (va, vb) = (Value::Float8(a), Value::Float8(b));
            prop_assert_eq!(va.cmp(&vb), key(&[va]).cmp(&key(&[vb])));
        }

        #[test]
        fn rows_round_trip(vals in proptest::collection::vec(arb_value(), 0..8)) {
            let mut buf = Vec::new();
            encode_row(&vals, &mut buf);
            let back = decode_row(&buf).unwrap();
            prop_assert_eq!(back.len(), vals.len());
            for (a, b) in back.iter().zip(&vals) {
                prop_assert_eq!(a.to_string(), b.to_string());
            }
        }

        #[test]
        fn projected_decoding_matches(vals in proptest::collection::vec(arb_value(), 0..8), mask in proptest::collection::vec(any::<bool>(), 0..8)) {
            let mut buf = Vec::new();
            encode_row(&vals, &mut buf);
            let got = decode_row_projected(&buf, &mask).unwrap();
            for (i, v) in vals.iter().enumerate() {
                let want = if mask.get(i).copied().unwrap_or(false) { v.to_string() } else { String::new() };
                prop_assert_eq!(got[i].to_string(), want);
            }
        }

        #[test]
        fn in_place_decoding_matches(
            vals in proptest::collection::vec(arb_value(), 0..8),
            mask in proptest::option::of(proptest::collection::vec(any::<bool>(), 0..10)),
            extra in 0usize..3,
        ) {
            let mut buf = Vec::new();
            encode_row(&vals, &mut buf);
            // Unmarked positions keep what they held; marked ones past the
            // stored values become NULL.
            let mut out = vec![Value::Int4(7); vals.len() + extra];
            decode_row_into(&buf, mask.as_deref(), &mut out).unwrap();
            for (i, got) in out.iter().enumerate() {
                let marked = mask.as_ref().is_none_or(|m| m.get(i).copied().unwrap_or(false));
                let want = match vals.get(i) {
                    _ if !marked => "7".to_string(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                prop_assert_eq!(got.to_string(), want);
            }
            if !vals.is_empty() {
                let mut short = vec![Value::Null; vals.len() - 1];
                prop_assert!(decode_row_into(&buf, mask.as_deref(), &mut short).is_err());
            }
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_row(&bytes);
            let _ = decode_row_projected(&bytes, &[true, false, true]);
            let _ = decode_row_into(&bytes, Some(&[true, false, true]), &mut [Value::Null, Value::Null, Value::Null]);
            let _ = decode_row_into(&bytes, None, &mut [Value::Null, Value::Null]);
            let _ = decode_key(&bytes, &[DataType::Int8, DataType::Text, DataType::Numeric(None)]);
        }
    }

    #[test]
    fn null_sorts_last() {
        assert!(key(&[Value::Null]) > key(&[Value::Int4(i32::MAX)]));
        assert!(key(&[Value::Text("ab".into())]) < key(&[Value::Text("abc".into())]));
    }
}
