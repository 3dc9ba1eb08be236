//! Date/time functions. The session time zone is always UTC, so timestamptz
//! values behave as UTC timestamps.

use super::{Func, format, int, text};
use crate::error::{Error, Result, SqlState};
use crate::types::{BinaryOp, DataType, Interval, Value};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use rust_decimal::Decimal;

const USECS_PER_DAY: i64 = 86_400_000_000;
const USECS_PER_HOUR: i64 = 3_600_000_000;
const USECS_PER_MINUTE: i64 = 60_000_000;

/// Evaluates a date/time function; `None` if `f` is not one.
pub(super) fn eval(f: &Func, a: &[Value], now: DateTime<Utc>) -> Result<Option<Value>> {
    Ok(Some(match (f, a) {
        (Func::DateTrunc, [unit, Value::Interval(iv)]) => {
            Value::Interval(trunc_interval(&text(unit), iv)?)
        }
        (Func::DateTrunc, [unit, v]) => {
            let (ts, ty) = as_timestamp(v)?;
            let t = trunc_timestamp(&text(unit), ts, &ty)?;
            from_timestamp(t, &ty)
        }
        (Func::DatePart | Func::Extract, [unit, v]) => {
            let d = extract(&text(unit), v)?;
            if *f == Func::Extract {
                Value::Numeric(d)
            } else {
                Value::Numeric(d).cast(&DataType::Float8)?
            }
        }
        (Func::Age, [x]) => {
            let midnight = now.date_naive().and_time(NaiveTime::MIN);
            Value::Interval(age(midnight, as_timestamp(x)?.0))
        }
        (Func::Age, [x, y]) => Value::Interval(age(as_timestamp(x)?.0, as_timestamp(y)?.0)),
        (Func::ToChar, [v, pat]) => Value::Text(format::to_char(v, &text(pat))?),
        (Func::ToDate, [s, pat]) => Value::Date(format::parse(&text(s), &text(pat))?.date()),
        (Func::ToTimestamp, [s, pat]) => {
            Value::Timestamptz(format::parse(&text(s), &text(pat))?.and_utc())
        }
        (Func::ToTimestamp, [Value::Float8(secs)]) => {
            let us = secs * 1e6;
            if !us.is_finite() || us.abs() > 9.2e18 {
                return Err(Error::new(
                    SqlState::DATETIME_FIELD_OVERFLOW,
                    format!("timestamp out of range: \"{secs}\""),
                ));
            }
            Value::Timestamptz(
                DateTime::from_timestamp_micros(us.round() as i64).ok_or_else(ts_range)?,
            )
        }
        (Func::MakeDate, [y, m, d]) => Value::Date(make_date(int(y)?, int(m)?, int(d)?)?),
        (Func::MakeTimestamp, [y, m, d, h, mi, Value::Float8(s)]) => {
            let date = make_date(int(y)?, int(m)?, int(d)?)?;
            let (h, mi) = (int(h)?, int(mi)?);
            let bad = || {
                Error::new(
                    SqlState::DATETIME_FIELD_OVERFLOW,
                    format!("time field value out of range: {h}:{mi}:{s}"),
                )
            };
            if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0.0..60.0).contains(s) {
                return Err(bad());
            }
            let us = (s * 1e6).round() as i64 + (h * 60 + mi) * USECS_PER_MINUTE;
            Value::Timestamp(date.and_time(NaiveTime::MIN) + Duration::microseconds(us))
        }
        (Func::MakeInterval, args) => {
            let i = |k: usize| -> Result<i64> { args.get(k).map_or(Ok(0), int) };
            let secs = match args.get(6) {
                Some(Value::Float8(s)) => *s,
                _ => 0.0,
            };
            let range = || Error::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range");
            let (y, mo, w, d) = (i(0)?, i(1)?, i(2)?, i(3)?);
            let months = y.checked_mul(12).and_then(|y| y.checked_add(mo));
            let days = w.checked_mul(7).and_then(|w| w.checked_add(d));
            let us = (i(4)? * 60 + i(5)?) as f64 * 60e6 + secs * 1e6;
            if !us.is_finite() || us.abs() > 9.2e18 {
                return Err(range());
            }
            Value::Interval(Interval::new(
                months
                    .and_then(|m| i32::try_from(m).ok())
                    .ok_or_else(range)?,
                days.and_then(|d| i32::try_from(d).ok()).ok_or_else(range)?,
                us.round() as i64,
            ))
        }
        (Func::JustifyDays | Func::JustifyHours | Func::JustifyInterval, [Value::Interval(iv)]) => {
            Value::Interval(justify(f, iv).ok_or_else(|| Error::out_of_range("interval"))?)
        }
        _ => return Ok(None),
    }))
}

fn ts_range() -> Error {
    Error::new(SqlState::DATETIME_FIELD_OVERFLOW, "timestamp out of range")
}

/// A timestamp-like value as UTC wall time plus its type.
fn as_timestamp(v: &Value) -> Result<(NaiveDateTime, DataType)> {
    Ok(match v {
        Value::Timestamp(t) => (*t, DataType::Timestamp),
        Value::Timestamptz(t) => (t.naive_utc(), DataType::Timestamptz),
        Value::Date(d) => (d.and_time(NaiveTime::MIN), DataType::Date),
        other => return Err(Error::internal(format!("not a timestamp: {other:?}"))),
    })
}

fn from_timestamp(t: NaiveDateTime, ty: &DataType) -> Value {
    match ty {
        DataType::Timestamptz => Value::Timestamptz(t.and_utc()),
        _ => Value::Timestamp(t),
    }
}

fn make_date(y: i64, m: i64, d: i64) -> Result<NaiveDate> {
    if y == 0 {
        return Err(Error::new(
            SqlState::DATETIME_FIELD_OVERFLOW,
            "date field value out of range: 0-".to_string() + &format!("{m:02}-{d:02}"),
        ));
    }
    // Negative years are BC; chrono's year 0 is 1 BC.
    let cy = if y < 0 { y + 1 } else { y };
    i32::try_from(cy)
        .ok()
        .zip(u32::try_from(m).ok().zip(u32::try_from(d).ok()))
        .and_then(|(y, (m, d))| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(|| {
            Error::new(
                SqlState::DATETIME_FIELD_OVERFLOW,
                format!("date field value out of range: {y}-{m:02}-{d:02}"),
            )
        })
}

/// PostgreSQL's spellings of date/time units, normalised.
fn unit_name(u: &str) -> Option<&'static str> {
    Some(match u.trim().to_lowercase().as_str() {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => "microseconds",
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => "milliseconds",
        "second" | "seconds" | "s" | "sec" | "secs" => "second",
        "minute" | "minutes" | "m" | "min" | "mins" => "minute",
        "hour" | "hours" | "h" | "hr" | "hrs" => "hour",
        "day" | "days" | "d" => "day",
        "week" | "weeks" | "w" => "week",
        "month" | "months" | "mon" | "mons" => "month",
        "quarter" | "qtr" => "quarter",
        "year" | "years" | "y" | "yr" | "yrs" => "year",
        "decade" | "decades" | "dec" | "decs" => "decade",
        "century" | "centuries" | "c" | "cent" => "century",
        "millennium" | "millennia" | "mil" | "mils" | "millenniums" => "millennium",
        "epoch" => "epoch",
        "dow" => "dow",
        "isodow" => "isodow",
        "doy" => "doy",
        "isoyear" => "isoyear",
        "julian" | "j" => "julian",
        "timezone" => "timezone",
        "timezone_h" | "timezone_hour" => "timezone_hour",
        "timezone_m" | "timezone_minute" => "timezone_minute",
        _ => return None,
    })
}

fn type_label(ty: &DataType) -> &'static str {
    match ty {
        DataType::Timestamptz => "timestamp with time zone",
        DataType::Date => "date",
        DataType::Time => "time without time zone",
        DataType::Interval => "interval",
        _ => "timestamp without time zone",
    }
}

fn unit_error(unit: &str, ty: &DataType, known: bool) -> Error {
    if known {
        Error::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("unit \"{unit}\" not supported for type {}", type_label(ty)),
        )
    } else {
        Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("unit \"{unit}\" not recognized for type {}", type_label(ty)),
        )
    }
}

/// PostgreSQL's year number (no year 0: 1 BC is -1).
fn pg_year(d: &NaiveDate) -> i64 {
    let y = d.year() as i64;
    if y <= 0 { y - 1 } else { y }
}

fn first_year_of(y: i64, span: i64) -> i64 {
    if y > 0 {
        (y + span - 1) / span * span - span + 1
    } else {
        -((span - 1 - (y + 1)) / span * span + span - 1) - 1
    }
}

fn trunc_timestamp(unit: &str, ts: NaiveDateTime, ty: &DataType) -> Result<NaiveDateTime> {
    let ty = if *ty == DataType::Date {
        &DataType::Timestamptz
    } else {
        ty
    };
    let name = unit_name(unit).ok_or_else(|| unit_error(unit, ty, false))?;
    let d = ts.date();
    let ymd = |y: i64, m: u32| -> Result<NaiveDateTime> {
        let cy = if y < 0 { y + 1 } else { y } as i32;
        Ok(NaiveDate::from_ymd_opt(cy, m, 1)
            .ok_or_else(ts_range)?
            .and_time(NaiveTime::MIN))
    };
    let us = ts.time().num_seconds_from_midnight() as i64 * 1_000_000
        + (ts.time().nanosecond() / 1000) as i64;
    let keep =
        |unit_us: i64| d.and_time(NaiveTime::MIN) + Duration::microseconds(us / unit_us * unit_us);
    let y = pg_year(&d);
    Ok(match name {
        "millennium" => ymd(first_year_of(y, 1000), 1)?,
        "century" => ymd(first_year_of(y, 100), 1)?,
        "decade" => ymd(
            if y > 0 {
                y / 10 * 10
            } else {
                -((-y + 8) / 10 * 10) + 1
            },
            1,
        )?,
        "year" => ymd(y, 1)?,
        "quarter" => ymd(y, (d.month() - 1) / 3 * 3 + 1)?,
        "month" => ymd(y, d.month())?,
        "week" => {
            (d - Duration::days(d.weekday().num_days_from_monday() as i64)).and_time(NaiveTime::MIN)
        }
        "day" => keep(USECS_PER_DAY),
        "hour" => keep(USECS_PER_HOUR),
        "minute" => keep(USECS_PER_MINUTE),
        "second" => keep(1_000_000),
        "milliseconds" => keep(1000),
        "microseconds" => ts,
        _ => return Err(unit_error(unit, ty, true)),
    })
}

fn trunc_interval(unit: &str, iv: &Interval) -> Result<Interval> {
    let ty = DataType::Interval;
    let name = unit_name(unit).ok_or_else(|| unit_error(unit, &ty, false))?;
    let (y, m) = (iv.months / 12, iv.months % 12);
    let t = |u: i64| iv.micros / u * u;
    let ym = |y: i32, m: i32| Interval::new(y * 12 + m, 0, 0);
    Ok(match name {
        "millennium" => ym(y / 1000 * 1000, 0),
        "century" => ym(y / 100 * 100, 0),
        "decade" => ym(y / 10 * 10, 0),
        "year" => ym(y, 0),
        "quarter" => ym(y, m / 3 * 3),
        "month" => ym(y, m),
        "day" => Interval::new(iv.months, iv.days, 0),
        "hour" => Interval::new(iv.months, iv.days, t(USECS_PER_HOUR)),
        "minute" => Interval::new(iv.months, iv.days, t(USECS_PER_MINUTE)),
        "second" => Interval::new(iv.months, iv.days, t(1_000_000)),
        "milliseconds" => Interval::new(iv.months, iv.days, t(1000)),
        "microseconds" => *iv,
        "week" => {
            return Err(Error::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                format!("unit \"{unit}\" not supported for type interval"),
            )
            .with_detail("Months usually have fractional weeks."));
        }
        _ => return Err(unit_error(unit, &ty, true)),
    })
}

/// `micros` as a numeric with `scale` digits after the point, divided by 10^6 / 10^3.
fn scaled(micros: i64, scale: u32) -> Decimal {
    Decimal::from_i128_with_scale(micros as i128, 6)
        .round_dp(scale)
        .trunc_with_scale(scale)
}

/// EXTRACT(unit FROM v) as a numeric (date_part converts it to double precision).
fn extract(unit: &str, v: &Value) -> Result<Decimal> {
    let ty = v.data_type();
    let name = unit_name(unit).ok_or_else(|| unit_error(unit, &ty, false))?;
    let unsupported = || unit_error(unit, &ty, true);
    let int = |i: i64| Ok(Decimal::from(i));
    if let Value::Interval(iv) = v {
        let (y, m) = ((iv.months / 12) as i64, (iv.months % 12) as i64);
        let sec_us = iv.micros % USECS_PER_MINUTE;
        return match name {
            "microseconds" => int(sec_us),
            "milliseconds" => Ok(scaled(sec_us * 1000, 3)),
            "second" => Ok(scaled(sec_us, 6)),
            "minute" => int(iv.micros / USECS_PER_MINUTE % 60),
            "hour" => int(iv.micros / USECS_PER_HOUR),
            "day" => int(iv.days as i64),
            "month" => int(m),
            "quarter" => int(m / 3 + 1),
            "year" => int(y),
            "decade" => int(y / 10),
            "century" => int(y / 100),
            "millennium" => int(y / 1000),
            "epoch" => {
                let days4 = 1461 * y + 120 * m + 4 * iv.days as i64;
                let us = days4 as i128 * (USECS_PER_DAY / 4) as i128 + iv.micros as i128;
                Ok(Decimal::from_i128_with_scale(us, 6))
            }
            _ => Err(unsupported()),
        };
    }
    let (d, time_us, has_time) = match v {
        Value::Time(t) => {
            let us =
                t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64;
            return match name {
                "microseconds" => int(us % USECS_PER_MINUTE),
                "milliseconds" => Ok(scaled(us % USECS_PER_MINUTE * 1000, 3)),
                "second" => Ok(scaled(us % USECS_PER_MINUTE, 6)),
                "minute" => int(us / USECS_PER_MINUTE % 60),
                "hour" => int(us / USECS_PER_HOUR),
                "epoch" => Ok(Decimal::from_i128_with_scale(us as i128, 6)),
                _ => Err(unsupported()),
            };
        }
        Value::Date(d) => (*d, 0, false),
        other => {
            let (ts, _) = as_timestamp(other)?;
            let t = ts.time();
            let us =
                t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64;
            (ts.date(), us, true)
        }
    };
    let y = pg_year(&d);
    let jd = d.num_days_from_ce() as i64 + 1_721_425;
    match name {
        "year" => int(y),
        "month" => int(d.month() as i64),
        "day" => int(d.day() as i64),
        "quarter" => int((d.month() as i64 - 1) / 3 + 1),
        "dow" => int(d.weekday().num_days_from_sunday() as i64),
        "isodow" => int(d.weekday().number_from_monday() as i64),
        "doy" => int(d.ordinal() as i64),
        "week" => int(d.iso_week().week() as i64),
        "isoyear" => int(d.iso_week().year() as i64),
        "decade" => int(if y >= 0 {
            y / 10
        } else {
            -((8 - (y - 1)) / 10)
        }),
        "century" => int(if y > 0 {
            (y + 99) / 100
        } else {
            -((99 - (y - 1)) / 100)
        }),
        "millennium" => int(if y > 0 {
            (y + 999) / 1000
        } else {
            -((999 - (y - 1)) / 1000)
        }),
        "julian" if !has_time => int(jd),
        "julian" => {
            let frac = BinaryOp::Divide.eval(
                &Value::Numeric(Decimal::from(time_us)),
                &Value::Numeric(Decimal::from(USECS_PER_DAY)),
            )?;
            match BinaryOp::Plus.eval(&Value::Numeric(Decimal::from(jd)), &frac)? {
                Value::Numeric(n) => Ok(n),
                _ => Err(Error::internal("julian day is not numeric")),
            }
        }
        "epoch" => {
            let days = (d - DateTime::UNIX_EPOCH.date_naive()).num_days();
            if has_time {
                Ok(Decimal::from_i128_with_scale(
                    days as i128 * USECS_PER_DAY as i128 + time_us as i128,
                    6,
                ))
            } else {
                int(days * 86_400)
            }
        }
        "timezone" | "timezone_hour" | "timezone_minute" if ty == DataType::Timestamptz => int(0),
        "hour" if has_time => int(time_us / USECS_PER_HOUR),
        "minute" if has_time => int(time_us / USECS_PER_MINUTE % 60),
        "second" if has_time => Ok(scaled(time_us % USECS_PER_MINUTE, 6)),
        "milliseconds" if has_time => Ok(scaled(time_us % USECS_PER_MINUTE * 1000, 3)),
        "microseconds" if has_time => int(time_us % USECS_PER_MINUTE),
        _ => Err(unsupported()),
    }
}

fn days_in_month(y: i32, m: u32) -> i64 {
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    match (next, NaiveDate::from_ymd_opt(y, m, 1)) {
        (Some(n), Some(f)) => (n - f).num_days(),
        _ => 31,
    }
}

/// `age(a, b)`: a - b in years, months and days, borrowing days from the
/// month of the earlier timestamp (PostgreSQL's rule).
pub(super) fn age(a: NaiveDateTime, b: NaiveDateTime) -> Interval {
    let f = |t: &NaiveDateTime| {
        let us = t.time().num_seconds_from_midnight() as i64 * 1_000_000
            + (t.time().nanosecond() / 1000) as i64;
        (t.year() as i64, t.month() as i64, t.day() as i64, us)
    };
    let (y1, m1, d1, t1) = f(&a);
    let (y2, m2, d2, t2) = f(&b);
    let neg = a < b;
    let s = if neg { -1 } else { 1 };
    let (mut y, mut m, mut d, mut us) =
        (s * (y1 - y2), s * (m1 - m2), s * (d1 - d2), s * (t1 - t2));
    if us < 0 {
        us += USECS_PER_DAY;
        d -= 1;
    }
    let earlier = if neg { a } else { b };
    while d < 0 {
        d += days_in_month(earlier.year(), earlier.month());
        m -= 1;
    }
    while m < 0 {
        m += 12;
        y -= 1;
    }
    Interval::new((s * (y * 12 + m)) as i32, (s * d) as i32, s * us)
}

fn justify(f: &Func, iv: &Interval) -> Option<Interval> {
    let mut r = *iv;
    if matches!(f, Func::JustifyHours | Func::JustifyInterval) {
        r.days = r
            .days
            .checked_add(i32::try_from(r.micros / USECS_PER_DAY).ok()?)?;
        r.micros %= USECS_PER_DAY;
    }
    if matches!(f, Func::JustifyDays | Func::JustifyInterval) {
        r.months = r.months.checked_add(r.days / 30)?;
        r.days %= 30;
    }
    if *f == Func::JustifyInterval {
        if r.months > 0 && (r.days < 0 || (r.days == 0 && r.micros < 0)) {
            r.days += 30;
            r.months -= 1;
        } else if r.months < 0 && (r.days > 0 || (r.days == 0 && r.micros > 0)) {
            r.days -= 30;
            r.months += 1;
        }
    }
    if matches!(f, Func::JustifyHours | Func::JustifyInterval) {
        if r.days > 0 && r.micros < 0 {
            r.micros += USECS_PER_DAY;
            r.days -= 1;
        } else if r.days < 0 && r.micros > 0 {
            r.micros -= USECS_PER_DAY;
            r.days += 1;
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn age_borrows_from_the_earlier_month() {
        assert_eq!(
            age(ts("2024-03-01 00:00:00"), ts("2024-01-31 00:00:00")).to_string(),
            "1 mon 1 day"
        );
        assert_eq!(
            age(ts("2024-01-31 00:00:00"), ts("2024-03-01 00:00:00")).to_string(),
            "-1 mons -1 days"
        );
        assert_eq!(
            age(ts("2001-04-10 00:00:00"), ts("1957-06-13 00:00:00")).to_string(),
            "43 years 9 mons 27 days"
        );
        assert_eq!(
            age(ts("2024-01-01 01:00:00"), ts("2023-12-31 23:00:00")).to_string(),
            "02:00:00"
        );
    }
}
