//! Dates, times, timestamps and intervals: PostgreSQL's text formats.

use crate::error::{Error, Result, SqlState};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

const USECS_PER_DAY: i64 = 86_400_000_000;

/// A PostgreSQL interval: months, days and microseconds kept apart.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    pub fn new(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    /// Total length with 30-day months and 24-hour days (PostgreSQL's comparison rule).
    pub fn total_micros(&self) -> i128 {
        (self.months as i128 * 30 + self.days as i128) * USECS_PER_DAY as i128 + self.micros as i128
    }

    pub fn checked_add(&self, o: &Interval) -> Option<Interval> {
        Some(Interval {
            months: self.months.checked_add(o.months)?,
            days: self.days.checked_add(o.days)?,
            micros: self.micros.checked_add(o.micros)?,
        })
    }

    pub fn checked_neg(&self) -> Option<Interval> {
        Some(Interval {
            months: self.months.checked_neg()?,
            days: self.days.checked_neg()?,
            micros: self.micros.checked_neg()?,
        })
    }

    /// Multiplies by a factor, cascading fractional months into days and days into time.
    pub fn mul_f64(&self, f: f64) -> Option<Interval> {
        let months = self.months as f64 * f;
        let whole_months = months.trunc();
        let days = self.days as f64 * f + (months - whole_months) * 30.0;
        let whole_days = days.trunc();
        let micros = self.micros as f64 * f + (days - whole_days) * USECS_PER_DAY as f64;
        if !months.is_finite()
            || !micros.is_finite()
            || whole_months.abs() > i32::MAX as f64
            || whole_days.abs() > i32::MAX as f64
            || micros.abs() > i64::MAX as f64
        {
            return None;
        }
        Some(Interval {
            months: whole_months as i32,
            days: whole_days as i32,
            micros: micros.round() as i64,
        })
    }

    /// Parses PostgreSQL interval input (`1 day 02:00:00`, `2 hours`, `P1D`, `-1 week`).
    pub fn parse(s: &str) -> Result<Interval> {
        let bad = || {
            Error::new(
                SqlState::INVALID_DATETIME_FORMAT,
                format!("invalid input syntax for type interval: \"{s}\""),
            )
        };
        let t = s.trim().to_lowercase();
        if t.is_empty() {
            return Err(bad());
        }
        if let Some(iso) = t.strip_prefix('p') {
            return parse_iso(iso).ok_or_else(bad);
        }
        let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
        let toks: Vec<&str> = t.split_whitespace().collect();
        let mut i = 0;
        let mut ago = false;
        while i < toks.len() {
            let tok = toks[i].trim_start_matches('@');
            if tok.is_empty() {
                i += 1;
                continue;
            }
            if tok == "ago" {
                ago = true;
                i += 1;
                continue;
            }
            if tok.contains(':') {
                micros += parse_clock(tok).ok_or_else(bad)?;
                i += 1;
                continue;
            }
            // A number, optionally glued to its unit ("10s", "3days").
            let split = tok
                .char_indices()
                .find(|(_, c)| c.is_alphabetic())
                .map(|(p, _)| p)
                .unwrap_or(tok.len());
            let (num, glued) = tok.split_at(split);
            let n: f64 = num.parse().map_err(|_| bad())?;
            let unit = if !glued.is_empty() {
                glued.to_string()
            } else if i + 1 < toks.len()
                && toks[i + 1].chars().all(|c| c.is_alphabetic())
                && toks[i + 1] != "ago"
            {
                i += 1;
                toks[i].to_string()
            } else {
                // A bare number means seconds.
                "second".to_string()
            };
            let f = |x: f64| x.round() as i64;
            let unit = match unit.as_str() {
                "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => {
                    "millisecond".to_string()
                }
                "us" | "usec" | "usecs" | "microsecond" | "microseconds" => {
                    "microsecond".to_string()
                }
                other => other.trim_end_matches('s').to_string(),
            };
            match unit.as_str() {
                "year" | "yr" | "y" => months += f(n * 12.0),
                "decade" => months += f(n * 120.0),
                "century" | "centurie" => months += f(n * 1200.0),
                "millennium" | "millennia" => months += f(n * 12000.0),
                "month" | "mon" => {
                    months += n.trunc() as i64;
                    days += f(n.fract() * 30.0);
                }
                "week" | "w" => {
                    days += (n * 7.0).trunc() as i64;
                    micros += f((n * 7.0).fract() * USECS_PER_DAY as f64);
                }
                "day" | "d" => {
                    days += n.trunc() as i64;
                    micros += f(n.fract() * USECS_PER_DAY as f64);
                }
                "hour" | "hr" | "h" => micros += f(n * 3_600_000_000.0),
                "minute" | "min" | "m" => micros += f(n * 60_000_000.0),
                "second" | "sec" | "" => micros += f(n * 1_000_000.0),
                "millisecond" => micros += f(n * 1000.0),
                "microsecond" => micros += f(n),
                _ => return Err(bad()),
            }
            i += 1;
        }
        let mut iv = Interval {
            months: i32::try_from(months).map_err(|_| {
                Error::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range")
            })?,
            days: i32::try_from(days).map_err(|_| {
                Error::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range")
            })?,
            micros,
        };
        if ago {
            iv = iv.checked_neg().ok_or_else(bad)?;
        }
        Ok(iv)
    }
}

fn parse_clock(tok: &str) -> Option<i64> {
    let neg = tok.starts_with('-');
    let t = tok.trim_start_matches(['-', '+']);
    let parts: Vec<&str> = t.split(':').collect();
    let (h, m, s): (i64, i64, f64) = match parts.as_slice() {
        [h, m] => (h.parse().ok()?, m.parse().ok()?, 0.0),
        [h, m, s] => (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?),
        _ => return None,
    };
    let v = h * 3_600_000_000 + m * 60_000_000 + (s * 1_000_000.0).round() as i64;
    Some(if neg { -v } else { v })
}

fn parse_iso(s: &str) -> Option<Interval> {
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut in_time = false;
    let mut num = String::new();
    for c in s.chars() {
        match c {
            't' => in_time = true,
            '0'..='9' | '.' | '-' => num.push(c),
            u => {
                let n: f64 = num.parse().ok()?;
                num.clear();
                match (u, in_time) {
                    ('y', false) => months += (n * 12.0) as i64,
                    ('m', false) => months += n as i64,
                    ('w', false) => days += (n * 7.0) as i64,
                    ('d', false) => days += n as i64,
                    ('h', true) => micros += (n * 3.6e9) as i64,
                    ('m', true) => micros += (n * 6e7) as i64,
                    ('s', true) => micros += (n * 1e6) as i64,
                    _ => return None,
                }
            }
        }
    }
    if !num.is_empty() {
        return None;
    }
    Some(Interval {
        months: months.try_into().ok()?,
        days: days.try_into().ok()?,
        micros,
    })
}

impl PartialEq for Interval {
    fn eq(&self, other: &Self) -> bool {
        self.total_micros() == other.total_micros()
    }
}
impl Eq for Interval {}
impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Interval {
    fn cmp(&self, other: &Self) -> Ordering {
        self.total_micros().cmp(&other.total_micros())
    }
}
impl std::hash::Hash for Interval {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.total_micros().hash(state)
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("{n} {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Formats seconds with up to 6 fractional digits, trailing zeros removed.
fn fmt_secs(micros: i64) -> String {
    let s = micros / 1_000_000;
    let frac = micros % 1_000_000;
    if frac == 0 {
        format!("{s:02}")
    } else {
        let f = format!("{frac:06}");
        format!("{s:02}.{}", f.trim_end_matches('0'))
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let years = self.months / 12;
        let months = self.months % 12;
        if years != 0 {
            parts.push(plural(years as i64, "year"));
        }
        if months != 0 {
            parts.push(plural(months as i64, "mon"));
        }
        if self.days != 0 {
            parts.push(plural(self.days as i64, "day"));
        }
        if self.micros != 0 || parts.is_empty() {
            let neg = self.micros < 0;
            let m = self.micros.unsigned_abs() as i64;
            let h = m / 3_600_000_000;
            let mi = (m / 60_000_000) % 60;
            let s = m % 60_000_000;
            let sign = if neg {
                "-"
            } else if parts.iter().any(|p| p.starts_with('-')) {
                "+"
            } else {
                ""
            };
            parts.push(format!("{sign}{h:02}:{mi:02}:{}", fmt_secs(s)));
        }
        f.write_str(&parts.join(" "))
    }
}

fn bad_datetime(ty: &str, s: &str) -> Error {
    Error::new(
        SqlState::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type {ty}: \"{s}\""),
    )
}

fn out_of_range(s: &str) -> Error {
    Error::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{s}\""),
    )
}

/// Parses `YYYY-MM-DD` (with range checking).
pub fn parse_date(s: &str) -> Result<NaiveDate> {
    let t = s.trim();
    match t.to_lowercase().as_str() {
        "epoch" => return Ok(NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")),
        "today" | "now" => return Ok(Utc::now().date_naive()),
        _ => {}
    }
    let datepart = t.split([' ', 'T']).next().unwrap_or(t);
    let fields: Vec<&str> = datepart.split('-').collect();
    if fields.len() != 3
        || fields
            .iter()
            .any(|f| f.is_empty() || !f.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad_datetime("date", s));
    }
    let y: i32 = fields[0].parse().map_err(|_| bad_datetime("date", s))?;
    let m: u32 = fields[1].parse().map_err(|_| bad_datetime("date", s))?;
    let d: u32 = fields[2].parse().map_err(|_| bad_datetime("date", s))?;
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| out_of_range(s))
}

/// Parses `HH:MM[:SS[.ffffff]]`.
pub fn parse_time(s: &str) -> Result<NaiveTime> {
    let t = s.trim();
    let parts: Vec<&str> = t.split(':').collect();
    let parse = || -> Option<(u32, u32, u32, u32)> {
        let h: u32 = parts.first()?.parse().ok()?;
        let m: u32 = parts.get(1)?.parse().ok()?;
        let (sec, nano) = match parts.get(2) {
            None => (0, 0),
            Some(sx) => {
                let (whole, frac) = sx.split_once('.').unwrap_or((sx, ""));
                let sec: u32 = whole.parse().ok()?;
                let mut f = frac.to_string();
                if f.len() > 9 || !f.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                while f.len() < 9 {
                    f.push('0');
                }
                (sec, f.parse().ok()?)
            }
        };
        if parts.len() > 3 {
            return None;
        }
        Some((h, m, sec, nano))
    };
    let (h, m, sec, nano) = parse().ok_or_else(|| bad_datetime("time", s))?;
    if h == 24 && m == 0 && sec == 0 && nano == 0 {
        return NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).ok_or_else(|| out_of_range(s));
    }
    let nano = (nano / 1000) * 1000;
    NaiveTime::from_hms_nano_opt(h, m, sec, nano).ok_or_else(|| out_of_range(s))
}

/// Splits a timestamp into its date-time text and an optional UTC offset in seconds.
fn split_zone(t: &str) -> (String, Option<i32>) {
    let t = t.trim();
    let lower = t.to_lowercase();
    for z in [" utc", " gmt", "z", " z"] {
        if lower.ends_with(z) {
            return (t[..t.len() - z.len()].trim().to_string(), Some(0));
        }
    }
    // Offset after the time part: +hh, -hh, +hh:mm, +hhmm.
    if let Some(pos) = t.rfind(['+', '-']) {
        let (head, tail) = t.split_at(pos);
        if head.contains(':') || head.len() > 10 {
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            let digits = tail[1..].replace(':', "");
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) && digits.len() <= 4
            {
                let (h, m) = if digits.len() <= 2 {
                    (digits.parse::<i32>().unwrap_or(0), 0)
                } else {
                    let (a, b) = digits.split_at(digits.len() - 2);
                    (a.parse::<i32>().unwrap_or(0), b.parse::<i32>().unwrap_or(0))
                };
                return (head.trim().to_string(), Some(sign * (h * 3600 + m * 60)));
            }
        }
    }
    (t.to_string(), None)
}

fn parse_naive(t: &str, ty: &str, orig: &str) -> Result<NaiveDateTime> {
    let t = t.trim();
    match t.to_lowercase().as_str() {
        "epoch" => return Ok(DateTime::UNIX_EPOCH.naive_utc()),
        "now" => return Ok(Utc::now().naive_utc()),
        "today" => {
            return Ok(Utc::now()
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .expect("midnight"));
        }
        _ => {}
    }
    let (date, time) = match t.find([' ', 'T', 't']) {
        Some(p) => (&t[..p], t[p + 1..].trim()),
        None => (t, ""),
    };
    let d = parse_date(date).map_err(|e| {
        if e.code == SqlState::DATETIME_FIELD_OVERFLOW {
            out_of_range(orig)
        } else {
            bad_datetime(ty, orig)
        }
    })?;
    let tm = if time.is_empty() {
        NaiveTime::MIN
    } else {
        parse_time(time).map_err(|e| {
            if e.code == SqlState::DATETIME_FIELD_OVERFLOW {
                out_of_range(orig)
            } else {
                bad_datetime(ty, orig)
            }
        })?
    };
    Ok(NaiveDateTime::new(d, tm))
}

/// Parses timestamp input; a zone, if given, converts the value to UTC wall time.
pub fn parse_timestamp(s: &str) -> Result<NaiveDateTime> {
    let (t, zone) = split_zone(s);
    let n = parse_naive(&t, "timestamp", s)?;
    let _ = zone; // timestamp without time zone ignores a zone, as PostgreSQL does.
    Ok(n)
}

/// Parses timestamptz input (no zone means the session zone, UTC).
pub fn parse_timestamptz(s: &str) -> Result<DateTime<Utc>> {
    let (t, zone) = split_zone(s);
    let n = parse_naive(&t, "timestamp with time zone", s)?;
    let off = zone.unwrap_or(0) as i64;
    let utc = n
        .checked_sub_signed(Duration::seconds(off))
        .ok_or_else(|| out_of_range(s))?;
    Ok(DateTime::from_naive_utc_and_offset(utc, Utc))
}

fn fmt_time_of_day(t: &NaiveTime) -> String {
    let micros = (t.nanosecond() / 1000) as i64 + t.second() as i64 * 1_000_000;
    format!("{:02}:{:02}:{}", t.hour(), t.minute(), fmt_secs(micros))
}

fn fmt_date(d: &NaiveDate) -> String {
    use chrono::Datelike;
    if d.year() <= 0 {
        format!("{:04}-{:02}-{:02} BC", 1 - d.year(), d.month(), d.day())
    } else {
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    }
}

pub fn format_date(d: &NaiveDate) -> String {
    fmt_date(d)
}

pub fn format_time(t: &NaiveTime) -> String {
    fmt_time_of_day(t)
}

pub fn format_timestamp(ts: &NaiveDateTime) -> String {
    format!("{} {}", fmt_date(&ts.date()), fmt_time_of_day(&ts.time()))
}

pub fn format_timestamptz(ts: &DateTime<Utc>) -> String {
    format!("{}+00", format_timestamp(&ts.naive_utc()))
}

/// timestamp + interval with PostgreSQL's month arithmetic (clamping to month end).
pub fn add_interval(ts: NaiveDateTime, iv: &Interval) -> Option<NaiveDateTime> {
    let ts = if iv.months != 0 {
        let d = ts.date();
        let d = if iv.months > 0 {
            d.checked_add_months(chrono::Months::new(iv.months as u32))?
        } else {
            d.checked_sub_months(chrono::Months::new(iv.months.unsigned_abs()))?
        };
        NaiveDateTime::new(d, ts.time())
    } else {
        ts
    };
    ts.checked_add_signed(Duration::days(iv.days as i64))?
        .checked_add_signed(Duration::microseconds(iv.micros))
}

/// Difference of two timestamps as an interval of days and time.
pub fn diff(a: NaiveDateTime, b: NaiveDateTime) -> Interval {
    let micros = (a - b).num_microseconds().unwrap_or(i64::MAX);
    Interval {
        months: 0,
        days: (micros / USECS_PER_DAY) as i32,
        micros: micros % USECS_PER_DAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_text() {
        assert_eq!(Interval::parse("1 day").unwrap().to_string(), "1 day");
        assert_eq!(
            Interval::parse("2 hours 30 minutes").unwrap().to_string(),
            "02:30:00"
        );
        assert_eq!(
            Interval::parse("1 year 2 mons 3 days 04:05:06.5")
                .unwrap()
                .to_string(),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(Interval::parse("-1 day").unwrap().to_string(), "-1 days");
        assert_eq!(Interval::parse("1 week").unwrap().days, 7);
        assert_eq!(
            Interval::parse("P1DT2H").unwrap().to_string(),
            "1 day 02:00:00"
        );
        assert_eq!(Interval::default().to_string(), "00:00:00");
        assert_eq!(
            Interval::parse("1 day").unwrap(),
            Interval::parse("24 hours").unwrap()
        );
        assert!(Interval::parse("banana").is_err());
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2024-01-15 10:30:00.5").unwrap();
        assert_eq!(format_timestamp(&t), "2024-01-15 10:30:00.5");
        let tz = parse_timestamptz("2024-01-15 10:30:00+02").unwrap();
        assert_eq!(format_timestamptz(&tz), "2024-01-15 08:30:00+00");
        assert_eq!(parse_date("2024-13-01").unwrap_err().sqlstate(), "22008");
        assert_eq!(parse_date("nope").unwrap_err().sqlstate(), "22007");
        let d = add_interval(
            parse_timestamp("2024-01-31").unwrap(),
            &Interval::new(1, 0, 0),
        )
        .unwrap();
        assert_eq!(format_timestamp(&d), "2024-02-29 00:00:00");
    }
}
