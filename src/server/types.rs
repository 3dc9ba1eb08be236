//! Values on the wire: PostgreSQL's text and binary formats for every type
//! the engine has, both directions (result columns out, parameters in).

use crate::error::{Error, Result, SqlState};
use crate::types::{DataType, Interval, Value};
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// The pgwire type for a column or parameter (`unknown` is sent as text).
pub fn pg_type(ty: &DataType) -> Type {
    let oid = match ty {
        DataType::Unknown => DataType::Text.oid(),
        // Composite values go out as anonymous records (their fields carry
        // their own types in the binary form).
        DataType::Composite(_) => Type::RECORD.oid(),
        t => t.oid(),
    };
    Type::from_oid(oid).unwrap_or(Type::TEXT)
}

/// `pg_attribute.atttypmod` for a type: declared length or precision.
pub fn type_modifier(ty: &DataType) -> i32 {
    match ty {
        DataType::Varchar(Some(n)) | DataType::Char(n) if *n > 0 => *n as i32 + 4,
        DataType::Numeric(Some((p, s))) => (((*p as i32) << 16) | *s as i32) + 4,
        _ => -1,
    }
}

/// `pg_type.typlen`.
pub fn type_size(ty: &DataType) -> i16 {
    match ty {
        DataType::Bool => 1,
        DataType::Int2 => 2,
        DataType::Int4 | DataType::Float4 | DataType::Date => 4,
        DataType::Int8
        | DataType::Float8
        | DataType::Time
        | DataType::Timestamp
        | DataType::Timestamptz => 8,
        DataType::Interval | DataType::Uuid => 16,
        _ => -1,
    }
}

/// The row description of a result.
pub fn field_infos(
    columns: &[crate::ColumnInfo],
    format: impl Fn(usize) -> FieldFormat,
) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            FieldInfo::new(c.name.clone(), None, None, pg_type(&c.ty), format(i))
                .with_type_size(type_size(&c.ty))
                .with_type_modifier(type_modifier(&c.ty))
        })
        .collect()
}

/// Appends one value in the requested format, with its length prefix.
pub fn encode_field(buf: &mut BytesMut, value: &Value, ty: &DataType, format: FieldFormat) {
    if value.is_null() {
        buf.put_i32(-1);
        return;
    }
    let at = buf.len();
    buf.put_i32(0);
    if format == FieldFormat::Binary {
        encode_binary(buf, value, ty);
    } else {
        use std::fmt::Write;
        let mut w = BytesWriter(buf);
        let _ = write!(w, "{value}");
    }
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

struct BytesWriter<'a>(&'a mut BytesMut);

impl std::fmt::Write for BytesWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

fn days_since_pg_epoch(d: &NaiveDate) -> i32 {
    (d.signed_duration_since(NaiveDate::default()).num_days() - PG_EPOCH_DAYS) as i32
}

fn micros_of_day(t: &NaiveTime) -> i64 {
    t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1_000) as i64
}

fn encode_binary(buf: &mut BytesMut, value: &Value, ty: &DataType) {
    match value {
        Value::Null => {}
        Value::Bool(b) => buf.put_u8(*b as u8),
        Value::Int2(i) => buf.put_i16(*i),
        Value::Int4(i) => buf.put_i32(*i),
        Value::Int8(i) => buf.put_i64(*i),
        Value::Float4(x) => buf.put_f32(*x),
        Value::Float8(x) => buf.put_f64(*x),
        Value::Numeric(d) => encode_numeric(buf, d),
        Value::Text(s) | Value::Json(s) => buf.put_slice(s.as_bytes()),
        Value::Jsonb(_) => {
            buf.put_u8(1);
            buf.put_slice(value.to_string().as_bytes());
        }
        Value::Bytea(b) => buf.put_slice(b),
        Value::Date(d) => buf.put_i32(days_since_pg_epoch(d)),
        Value::Time(t) => buf.put_i64(micros_of_day(t)),
        Value::Timestamp(t) => buf.put_i64(t.and_utc().timestamp_micros() - PG_EPOCH_MICROS),
        Value::Timestamptz(t) => buf.put_i64(t.timestamp_micros() - PG_EPOCH_MICROS),
        Value::Interval(i) => {
            buf.put_i64(i.micros);
            buf.put_i32(i.days);
            buf.put_i32(i.months);
        }
        Value::Uuid(u) => buf.put_slice(u.as_bytes()),
        Value::Array(elem, items) => {
            let elem = match ty {
                DataType::Array(e) => e.as_ref().clone(),
                _ => elem.clone(),
            };
            let has_null = items.iter().any(Value::is_null);
            buf.put_i32(if items.is_empty() { 0 } else { 1 });
            buf.put_i32(has_null as i32);
            buf.put_u32(pg_type(&elem).oid());
            if !items.is_empty() {
                buf.put_i32(items.len() as i32);
                buf.put_i32(1);
            }
            for item in items {
                encode_field(buf, item, &elem, FieldFormat::Binary);
            }
        }
        // PostgreSQL's binary record: field count, then each field's type
        // oid and value (the oid of a NULL field's type is not known: text).
        Value::Record(_, fields) => {
            buf.put_i32(fields.len() as i32);
            for f in fields {
                let t = match f {
                    Value::Null => DataType::Text,
                    v => v.data_type(),
                };
                buf.put_u32(pg_type(&t).oid());
                encode_field(buf, f, &t, FieldFormat::Binary);
            }
        }
    }
}

/// PostgreSQL's binary numeric: base-10000 digits with weight, sign and display scale.
fn encode_numeric(buf: &mut BytesMut, d: &Decimal) {
    let scale = d.scale() as usize;
    let mut digits = d.mantissa().unsigned_abs().to_string();
    if digits.len() <= scale {
        digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
    }
    let (int_part, frac_part) = digits.split_at(digits.len() - scale);
    // Left-pad the integer part and right-pad the fraction to groups of four.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let int_s = format!("{}{int_part}", "0".repeat(int_pad));
    let frac_s = format!("{frac_part}{}", "0".repeat(frac_pad));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap().parse::<i16>().unwrap_or(0))
            .collect()
    };
    let mut groups = group(&int_s);
    let mut weight = groups.len() as i16 - 1;
    groups.extend(group(&frac_s));
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    buf.put_i16(groups.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if d.is_sign_negative() && !groups.is_empty() {
        0x4000
    } else {
        0
    });
    buf.put_u16(scale as u16);
    for g in groups {
        buf.put_i16(g);
    }
}

fn bad_binary(ty: &DataType) -> Error {
    Error::new(
        SqlState::INVALID_BINARY_REPRESENTATION,
        format!(
            "incorrect binary data format in bind parameter of type {}",
            ty.name()
        ),
    )
}

fn take<'a>(data: &mut &'a [u8], n: usize, ty: &DataType) -> Result<&'a [u8]> {
    if data.len() < n {
        return Err(bad_binary(ty));
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn take_i16(data: &mut &[u8], ty: &DataType) -> Result<i16> {
    Ok(i16::from_be_bytes(take(data, 2, ty)?.try_into().unwrap()))
}

fn take_i32(data: &mut &[u8], ty: &DataType) -> Result<i32> {
    Ok(i32::from_be_bytes(take(data, 4, ty)?.try_into().unwrap()))
}

fn take_i64(data: &mut &[u8], ty: &DataType) -> Result<i64> {
    Ok(i64::from_be_bytes(take(data, 8, ty)?.try_into().unwrap()))
}

fn utf8(data: &[u8]) -> Result<&str> {
    std::str::from_utf8(data).map_err(|_| {
        Error::new(
            SqlState::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\"",
        )
    })
}

/// Decodes a bind parameter sent in text or binary format as a value of `ty`.
pub fn decode_param(data: Option<&[u8]>, binary: bool, ty: &DataType) -> Result<Value> {
    let Some(data) = data else {
        return Ok(Value::Null);
    };
    if !binary {
        let text = utf8(data)?;
        return match ty {
            DataType::Unknown => Ok(Value::Text(text.to_string())),
            t => Value::parse(text, t),
        };
    }
    let mut rest = data;
    let v = decode_binary(&mut rest, ty)?;
    if !rest.is_empty() {
        return Err(bad_binary(ty));
    }
    Ok(v)
}

fn all<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    std::mem::take(data)
}

fn decode_binary(data: &mut &[u8], ty: &DataType) -> Result<Value> {
    Ok(match ty {
        DataType::Bool => Value::Bool(take(data, 1, ty)?[0] != 0),
        DataType::Int2 => Value::Int2(take_i16(data, ty)?),
        DataType::Int4 => Value::Int4(take_i32(data, ty)?),
        DataType::Int8 => Value::Int8(take_i64(data, ty)?),
        DataType::Float4 => Value::Float4(f32::from_bits(take_i32(data, ty)? as u32)),
        DataType::Float8 => Value::Float8(f64::from_bits(take_i64(data, ty)? as u64)),
        DataType::Numeric(_) => decode_numeric(data, ty)?,
        DataType::Text | DataType::Unknown => Value::Text(utf8(all(data))?.to_string()),
        DataType::Varchar(_) | DataType::Char(_) | DataType::Json => {
            Value::parse(utf8(all(data))?, ty)?
        }
        DataType::Jsonb => {
            let bytes = all(data);
            match bytes.split_first() {
                Some((1, text)) => Value::parse(utf8(text)?, ty)?,
                _ => return Err(bad_binary(ty)),
            }
        }
        DataType::Bytea => Value::Bytea(all(data).to_vec()),
        DataType::Date => {
            let days = take_i32(data, ty)? as i64 + PG_EPOCH_DAYS;
            Value::Date(
                NaiveDate::default()
                    .checked_add_signed(chrono::Duration::days(days))
                    .ok_or_else(|| Error::out_of_range("date"))?,
            )
        }
        DataType::Time => {
            let us = take_i64(data, ty)?;
            Value::Time(
                NaiveTime::from_num_seconds_from_midnight_opt(
                    (us / 1_000_000) as u32,
                    ((us % 1_000_000) * 1000) as u32,
                )
                .ok_or_else(|| Error::out_of_range("time"))?,
            )
        }
        DataType::Timestamp | DataType::Timestamptz => {
            let us = take_i64(data, ty)?;
            let t = DateTime::<Utc>::from_timestamp_micros(us + PG_EPOCH_MICROS)
                .ok_or_else(|| Error::out_of_range("timestamp"))?;
            if *ty == DataType::Timestamp {
                Value::Timestamp(t.naive_utc())
            } else {
                Value::Timestamptz(t)
            }
        }
        DataType::Interval => {
            let micros = take_i64(data, ty)?;
            let days = take_i32(data, ty)?;
            let months = take_i32(data, ty)?;
            Value::Interval(Interval {
                months,
                days,
                micros,
            })
        }
        DataType::Uuid => Value::Uuid(uuid::Uuid::from_slice(take(data, 16, ty)?).unwrap()),
        // Binary records would need each field's declared type.
        DataType::Composite(_) => return Err(bad_binary(ty)),
        DataType::Array(elem) => {
            let ndim = take_i32(data, ty)?;
            let _has_null = take_i32(data, ty)?;
            let _oid = take_i32(data, ty)?;
            let mut items = Vec::new();
            match ndim {
                0 => {}
                1 => {
                    let n = take_i32(data, ty)?;
                    let _lower = take_i32(data, ty)?;
                    for _ in 0..n.max(0) {
                        let len = take_i32(data, ty)?;
                        if len < 0 {
                            items.push(Value::Null);
                        } else {
                            let mut e = take(data, len as usize, ty)?;
                            items.push(decode_binary(&mut e, elem)?);
                        }
                    }
                }
                _ => {
                    return Err(Error::unsupported(
                        "multidimensional arrays are not supported",
                    ));
                }
            }
            Value::Array(elem.as_ref().clone(), items)
        }
    })
}

fn decode_numeric(data: &mut &[u8], ty: &DataType) -> Result<Value> {
    let ndigits = take_i16(data, ty)?;
    let weight = take_i16(data, ty)? as i32;
    let sign = take_i16(data, ty)? as u16;
    let dscale = take_i16(data, ty)?.max(0) as usize;
    if sign == 0xC000 {
        return Err(Error::unsupported("numeric NaN is not supported"));
    }
    let mut int_part = String::new();
    let mut frac_part = String::new();
    for i in 0..ndigits.max(0) as i32 {
        let g = take_i16(data, ty)?;
        if !(0..10000).contains(&g) {
            return Err(bad_binary(ty));
        }
        let pos = weight - i;
        if pos >= 0 {
            int_part.push_str(&format!("{g:04}"));
            if i == ndigits as i32 - 1 {
                for _ in 0..pos {
                    int_part.push_str("0000");
                }
            }
        } else {
            if frac_part.is_empty() {
                for _ in 0..(-pos - 1) {
                    frac_part.push_str("0000");
                }
            }
            frac_part.push_str(&format!("{g:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    while frac_part.len() < dscale {
        frac_part.push('0');
    }
    frac_part.truncate(dscale);
    let text = format!(
        "{}{}{}{}",
        if sign == 0x4000 { "-" } else { "" },
        int_part.trim_start_matches('0').max("0"),
        if dscale > 0 { "." } else { "" },
        frac_part
    );
    let d = Decimal::from_str(&text).map_err(|_| Error::out_of_range("numeric"))?;
    Value::Numeric(d).cast(ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value, ty: DataType) {
        let mut buf = BytesMut::new();
        encode_field(&mut buf, &v, &ty, FieldFormat::Binary);
        let bytes = &buf[4..];
        assert_eq!(decode_param(Some(bytes), true, &ty).unwrap(), v, "{ty:?}");
    }

    #[test]
    fn binary_roundtrips() {
        roundtrip(Value::Int4(-7), DataType::Int4);
        roundtrip(Value::Int8(1 << 40), DataType::Int8);
        roundtrip(Value::Float8(0.1), DataType::Float8);
        roundtrip(Value::Text("héllo".into()), DataType::Text);
        roundtrip(Value::Bool(true), DataType::Bool);
        for s in [
            "0",
            "1",
            "-1",
            "12345.678",
            "0.0001",
            "-0.5",
            "10000",
            "99999999.99",
        ] {
            roundtrip(
                Value::Numeric(Decimal::from_str(s).unwrap()),
                DataType::Numeric(None),
            );
        }
        roundtrip(
            Value::Date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
            DataType::Date,
        );
        roundtrip(
            Value::Timestamp(
                NaiveDate::from_ymd_opt(2024, 2, 29)
                    .unwrap()
                    .and_hms_micro_opt(13, 14, 15, 123456)
                    .unwrap(),
            ),
            DataType::Timestamp,
        );
        roundtrip(
            Value::Array(
                DataType::Int4,
                vec![Value::Int4(1), Value::Null, Value::Int4(3)],
            ),
            DataType::Array(Box::new(DataType::Int4)),
        );
        roundtrip(
            Value::Interval(Interval {
                months: 14,
                days: 3,
                micros: 4_000_000,
            }),
            DataType::Interval,
        );
    }

    #[test]
    fn numeric_layout_matches_postgres() {
        // SELECT '12345.678'::numeric in binary: ndigits 3, weight 1, dscale 3, digits 1 2345 6780.
        let mut buf = BytesMut::new();
        encode_numeric(&mut buf, &Decimal::from_str("12345.678").unwrap());
        assert_eq!(
            &buf[..],
            &[0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
    }

    #[test]
    fn truncated_binary_is_an_error() {
        let e = decode_param(Some(&[0, 1]), true, &DataType::Int4).unwrap_err();
        assert_eq!(e.code, SqlState::INVALID_BINARY_REPRESENTATION);
    }
}
