//! `to_char`, `to_date` and `to_timestamp` template patterns.

use crate::error::{Error, Result, SqlState};
use crate::types::Value;
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Date/time template keywords, longest first within a shared prefix.
const KEYS: &[&str] = &[
    "A.D.", "A.M.", "AD", "AM", "B.C.", "BC", "P.M.", "PM", "CC", "DAY", "DDD", "DD", "DY", "D",
    "FX", "HH24", "HH12", "HH", "IDDD", "ID", "IW", "IYYY", "IYY", "IY", "J", "MI", "MM", "MONTH",
    "MON", "MS", "OF", "Q", "RM", "SSSSS", "SSSS", "SS", "TZ", "US", "WW", "W", "Y,YYY", "YYYY",
    "YYY", "YY", "Y",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Case {
    Upper,
    Capital,
    Lower,
}

#[derive(Debug, PartialEq)]
enum Node {
    Lit(String),
    Field {
        key: &'static str,
        case: Case,
        fm: bool,
        /// `TH` / `th` ordinal suffix: Some(uppercase).
        th: Option<bool>,
    },
}

fn apply_case(s: &str, case: Case) -> String {
    match case {
        Case::Upper => s.to_uppercase(),
        Case::Lower => s.to_lowercase(),
        Case::Capital => s.to_string(),
    }
}

/// Splits a date/time template into keywords and literal text.
fn parse_template(pat: &str) -> Vec<Node> {
    let chars: Vec<char> = pat.chars().collect();
    let mut nodes = Vec::new();
    let mut i = 0;
    let mut fm = false;
    let lit = |nodes: &mut Vec<Node>, c: char| match nodes.last_mut() {
        Some(Node::Lit(s)) => s.push(c),
        _ => nodes.push(Node::Lit(c.to_string())),
    };
    while i < chars.len() {
        let rest: String = chars[i..].iter().take(5).collect::<String>().to_uppercase();
        if rest.starts_with("FM") {
            fm = true;
            i += 2;
            continue;
        }
        match chars[i] {
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    lit(&mut nodes, chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            '\\' if i + 1 < chars.len() => {
                lit(&mut nodes, chars[i + 1]);
                i += 2;
                continue;
            }
            _ => {}
        }
        let key = KEYS
            .iter()
            .filter(|k| rest.starts_with(*k))
            .max_by_key(|k| k.len());
        let Some(&key) = key else {
            lit(&mut nodes, chars[i]);
            i += 1;
            fm = false;
            continue;
        };
        let written: Vec<char> = chars[i..i + key.chars().count()]
            .iter()
            .filter(|c| c.is_alphabetic())
            .copied()
            .collect();
        let case = if written.iter().all(|c| c.is_uppercase()) {
            Case::Upper
        } else if written[0].is_uppercase() && written[1..].iter().all(|c| c.is_lowercase()) {
            Case::Capital
        } else {
            Case::Lower
        };
        i += key.chars().count();
        let th = match chars.get(i..i + 2) {
            Some(['T', 'H']) => Some(true),
            Some(['t', 'h']) => Some(false),
            _ => None,
        };
        if th.is_some() {
            i += 2;
        }
        nodes.push(Node::Field { key, case, fm, th });
        fm = false;
    }
    nodes
}

fn ordinal(n: i64, upper: bool) -> &'static str {
    let s = match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    if upper {
        match s {
            "st" => "ST",
            "nd" => "ND",
            "rd" => "RD",
            _ => "TH",
        }
    } else {
        s
    }
}

/// The broken-down time `to_char` formats.
struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    us: i64,
    date: Option<NaiveDate>,
    /// Some for timestamptz (always UTC here).
    utc: bool,
}

fn tm_of(v: &Value) -> Result<Tm> {
    let from_ts = |t: &NaiveDateTime, utc: bool| {
        let y = t.year() as i64;
        Tm {
            year: if y <= 0 { y - 1 } else { y },
            mon: t.month() as i64,
            mday: t.day() as i64,
            hour: t.hour() as i64,
            min: t.minute() as i64,
            sec: t.second() as i64,
            us: (t.nanosecond() / 1000) as i64,
            date: Some(t.date()),
            utc,
        }
    };
    Ok(match v {
        Value::Timestamp(t) => from_ts(t, false),
        Value::Timestamptz(t) => from_ts(&t.naive_utc(), true),
        Value::Date(d) => from_ts(&d.and_time(NaiveTime::MIN), true),
        Value::Interval(iv) => Tm {
            year: (iv.months / 12) as i64,
            mon: (iv.months % 12) as i64,
            mday: iv.days as i64,
            hour: iv.micros / 3_600_000_000,
            min: iv.micros / 60_000_000 % 60,
            sec: iv.micros / 1_000_000 % 60,
            us: iv.micros % 1_000_000,
            date: None,
            utc: false,
        },
        other => return Err(Error::internal(format!("to_char of {other:?}"))),
    })
}

fn format_datetime(tm: &Tm, pat: &str) -> String {
    let mut out = String::new();
    for node in parse_template(pat) {
        let (key, case, fm, th) = match node {
            Node::Lit(s) => {
                out.push_str(&s);
                continue;
            }
            Node::Field { key, case, fm, th } => (key, case, fm, th),
        };
        let d = tm.date;
        let num = |n: i64, width: usize| -> (i64, usize) { (n, width) };
        let text = |s: &str, width: usize| {
            let s = apply_case(s, case);
            if fm { s } else { format!("{s:<width$}") }
        };
        let ampm = |dots: bool| {
            let s = match (tm.hour >= 12, dots) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            apply_case(
                s,
                if case == Case::Lower {
                    Case::Lower
                } else {
                    Case::Upper
                },
            )
        };
        let number = match key {
            "HH" | "HH12" => num(if tm.hour % 12 == 0 { 12 } else { tm.hour % 12 }, 2),
            "HH24" => num(tm.hour, 2),
            "MI" => num(tm.min, 2),
            "SS" => num(tm.sec, 2),
            "MS" => num(tm.us / 1000, 3),
            "US" => num(tm.us, 6),
            "SSSS" | "SSSSS" => num(tm.hour * 3600 + tm.min * 60 + tm.sec, 0),
            "YYYY" => num(tm.year, 4),
            "YYY" => num(tm.year % 1000, 3),
            "YY" => num(tm.year % 100, 2),
            "Y" => num(tm.year % 10, 1),
            "IYYY" => num(d.map_or(0, |d| d.iso_week().year() as i64), 4),
            "IYY" => num(d.map_or(0, |d| d.iso_week().year() as i64 % 1000), 3),
            "IY" => num(d.map_or(0, |d| d.iso_week().year() as i64 % 100), 2),
            "MM" => num(tm.mon, 2),
            "DD" => num(tm.mday, 2),
            "DDD" => num(d.map_or(0, |d| d.ordinal() as i64), 3),
            "IDDD" => num(
                d.map_or(0, |d| {
                    (d.iso_week().week() as i64 - 1) * 7 + d.weekday().number_from_monday() as i64
                }),
                3,
            ),
            "D" => num(d.map_or(0, |d| d.weekday().number_from_sunday() as i64), 1),
            "ID" => num(d.map_or(0, |d| d.weekday().number_from_monday() as i64), 1),
            "WW" => num(d.map_or(0, |d| (d.ordinal() as i64 - 1) / 7 + 1), 2),
            "IW" => num(d.map_or(0, |d| d.iso_week().week() as i64), 2),
            "W" => num((tm.mday - 1) / 7 + 1, 1),
            "Q" => num((tm.mon - 1).max(0) / 3 + 1, 1),
            "CC" => num(
                if tm.year > 0 {
                    (tm.year + 99) / 100
                } else {
                    tm.year / 100 - 1
                },
                2,
            ),
            "J" => num(d.map_or(0, |d| d.num_days_from_ce() as i64 + 1_721_425), 0),
            _ => {
                let s = match key {
                    "Y,YYY" => format!("{},{:03}", tm.year / 1000, tm.year % 1000),
                    "AM" | "PM" => ampm(false),
                    "A.M." | "P.M." => ampm(true),
                    "AD" | "BC" | "A.D." | "B.C." => {
                        let s = match (tm.year > 0, key.len() > 2) {
                            (true, false) => "AD",
                            (false, false) => "BC",
                            (true, true) => "A.D.",
                            (false, true) => "B.C.",
                        };
                        apply_case(
                            s,
                            if case == Case::Lower {
                                Case::Lower
                            } else {
                                Case::Upper
                            },
                        )
                    }
                    "MONTH" if tm.mon >= 1 => text(MONTHS[(tm.mon - 1) as usize], 9),
                    "MON" if tm.mon >= 1 => apply_case(&MONTHS[(tm.mon - 1) as usize][..3], case),
                    "RM" if tm.mon >= 1 => text(ROMAN[(tm.mon - 1) as usize], 4),
                    "DAY" => d.map_or(String::new(), |d| {
                        text(DAYS[d.weekday().num_days_from_sunday() as usize], 9)
                    }),
                    "DY" => d.map_or(String::new(), |d| {
                        apply_case(
                            &DAYS[d.weekday().num_days_from_sunday() as usize][..3],
                            case,
                        )
                    }),
                    "TZ" if tm.utc => apply_case("UTC", case),
                    "OF" if tm.utc => "+00".to_string(),
                    _ => String::new(),
                };
                out.push_str(&s);
                continue;
            }
        };
        let (n, width) = number;
        if fm || width == 0 {
            out.push_str(&n.to_string());
        } else if n < 0 {
            out.push_str(&format!("-{:0w$}", -n, w = width));
        } else {
            out.push_str(&format!("{n:0width$}"));
        }
        if let Some(upper) = th {
            out.push_str(ordinal(n, upper));
        }
    }
    out
}

/// `to_char(value, template)` for timestamps, intervals and numbers.
pub(super) fn to_char(v: &Value, pat: &str) -> Result<String> {
    match v {
        Value::Timestamp(_) | Value::Timestamptz(_) | Value::Date(_) | Value::Interval(_) => {
            Ok(format_datetime(&tm_of(v)?, pat))
        }
        Value::Float4(f) => format_number(Decimal::from_f32(*f), pat),
        Value::Float8(f) => format_number(Decimal::from_f64(*f), pat),
        other => format_number(other.to_decimal(), pat),
    }
}

fn unsupported(what: &str) -> Error {
    Error::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        format!("\"{what}\" is not supported in number templates"),
    )
}

/// Numeric `to_char`: `9`, `0`, `.`/`D`, `,`/`G`, `S`, `MI`, `PL`, `SG`, `FM`.
fn format_number(d: Option<Decimal>, pat: &str) -> Result<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum T {
        Nine,
        Zero,
        Point,
        Group,
        Sign,
        Minus,
        Plus,
        SignG,
        Lit(char),
    }
    let up = pat.to_uppercase();
    let chars: Vec<char> = up.chars().collect();
    let orig: Vec<char> = pat.chars().collect();
    let mut toks = Vec::new();
    let mut fm = false;
    let mut i = 0;
    while i < chars.len() {
        let two: String = chars[i..].iter().take(2).collect();
        let (t, n) = match (chars[i], two.as_str()) {
            (_, "FM") => {
                fm = true;
                i += 2;
                continue;
            }
            (_, "MI") => (T::Minus, 2),
            (_, "PL") => (T::Plus, 2),
            (_, "SG") => (T::SignG, 2),
            (_, "PR") => return Err(unsupported("PR")),
            (_, "RN") => return Err(unsupported("RN")),
            (_, "EE") => return Err(unsupported("EEEE")),
            ('9', _) => (T::Nine, 1),
            ('0', _) => (T::Zero, 1),
            ('.' | 'D', _) => (T::Point, 1),
            (',' | 'G', _) => (T::Group, 1),
            ('S', _) => (T::Sign, 1),
            _ => (T::Lit(orig.get(i).copied().unwrap_or(' ')), 1),
        };
        toks.push(t);
        i += n;
    }
    let point = toks.iter().position(|t| *t == T::Point);
    let is_digit = |t: &T| matches!(t, T::Nine | T::Zero);
    let int_pos: Vec<usize> = (0..point.unwrap_or(toks.len()))
        .filter(|&k| is_digit(&toks[k]))
        .collect();
    let frac_n = point.map_or(0, |p| toks[p..].iter().filter(|t| is_digit(t)).count());
    let d = d
        .ok_or_else(|| Error::out_of_range("numeric"))?
        .round_dp_with_strategy(
            frac_n.min(28) as u32,
            RoundingStrategy::MidpointAwayFromZero,
        );
    let neg = d.is_sign_negative() && !d.is_zero();
    let abs = d.abs();
    let mut int_digits: Vec<char> = abs.trunc().to_string().chars().collect();
    if int_digits == ['0'] && (point.is_some() || int_pos.is_empty()) {
        int_digits.clear();
    }
    let overflow = int_digits.len() > int_pos.len();
    let frac_str = {
        let mut f = abs.fract();
        f.rescale(frac_n.min(28) as u32);
        let s = f.to_string();
        s.split_once('.')
            .map_or(String::new(), |(_, x)| x.to_string())
    };
    let mut frac_digits: Vec<char> = frac_str.chars().collect();
    frac_digits.resize(frac_n, '0');
    let has_sign_tok = toks
        .iter()
        .any(|t| matches!(t, T::Sign | T::Minus | T::Plus | T::SignG));
    // Integer digit k (0-based from the left of the int part) gets a digit,
    // a zero or a blank.
    let lead = int_pos.len().saturating_sub(int_digits.len());
    let first_zero = int_pos
        .iter()
        .position(|&k| toks[k] == T::Zero)
        .unwrap_or(usize::MAX);
    let fill_from = first_zero.min(lead);
    let mut out = String::new();
    let mut digit_no = 0usize;
    let mut frac_no = 0usize;
    let mut started = false;
    // A leading `S` puts the sign right before the first digit, like the default sign.
    let first_digit = toks.iter().position(is_digit).unwrap_or(toks.len());
    let leading_s = toks[..first_digit].contains(&T::Sign);
    let mut sign_done = has_sign_tok && !leading_s;
    let sign_char = if neg {
        '-'
    } else if leading_s {
        '+'
    } else if fm {
        '\0'
    } else {
        ' '
    };
    // Under FM, trailing fraction zeros of `9` positions are dropped.
    let frac_kinds: Vec<T> = point.map_or(vec![], |p| {
        toks[p..].iter().filter(|t| is_digit(t)).copied().collect()
    });
    let last_nonzero_frac = (0..frac_n)
        .filter(|&k| frac_digits[k] != '0' || frac_kinds[k] == T::Zero)
        .map(|k| k + 1)
        .max()
        .unwrap_or(0);
    for (k, t) in toks.iter().enumerate() {
        let in_frac = point.is_some_and(|p| k > p);
        match t {
            T::Nine | T::Zero if !in_frac => {
                let c = if overflow {
                    '#'
                } else if digit_no >= lead {
                    int_digits[digit_no - lead]
                } else if digit_no >= fill_from {
                    '0'
                } else {
                    ' '
                };
                if c != ' ' && !sign_done {
                    out.push(sign_char);
                    sign_done = true;
                }
                if c == ' ' {
                    if !fm {
                        out.push(' ');
                    }
                } else {
                    started = true;
                    out.push(c);
                }
                digit_no += 1;
            }
            T::Nine | T::Zero => {
                if overflow {
                    out.push('#');
                } else if !(fm && *t == T::Nine && frac_no >= last_nonzero_frac) {
                    out.push(frac_digits[frac_no]);
                }
                frac_no += 1;
            }
            T::Point => {
                if !sign_done {
                    out.push(sign_char);
                    sign_done = true;
                }
                out.push(if overflow { '#' } else { '.' });
            }
            T::Group => {
                if started {
                    out.push(',');
                } else if !fm {
                    out.push(' ');
                }
            }
            T::Sign if leading_s => {}
            T::Sign | T::SignG => out.push(if neg { '-' } else { '+' }),
            T::Minus => out.push(if neg {
                '-'
            } else if fm {
                '\0'
            } else {
                ' '
            }),
            T::Plus => out.push(if neg { ' ' } else { '+' }),
            T::Lit(c) => out.push(*c),
        }
    }
    if !sign_done {
        out.insert(0, sign_char);
    }
    Ok(out.replace('\0', ""))
}

fn parse_error(key: &str, found: &str) -> Error {
    Error::new(
        SqlState::INVALID_DATETIME_FORMAT,
        format!("invalid value \"{found}\" for \"{key}\""),
    )
}

/// Input position of `to_timestamp` parsing.
struct Cursor {
    input: Vec<char>,
    i: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.input.get(self.i).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    /// Reads an integer of up to `width` digits (any number when `greedy`).
    fn digits(&mut self, key: &str, width: usize, greedy: bool) -> Result<i64> {
        let start = self.i;
        if self.peek() == Some('-') && key.starts_with('Y') {
            self.i += 1;
        }
        let digits_from = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit())
            && (greedy || self.i - digits_from < width)
        {
            self.i += 1;
        }
        if self.i == digits_from {
            let found: String = self.input[start..].iter().take(width.max(1)).collect();
            return Err(parse_error(key, &found).with_detail("Value must be an integer."));
        }
        let txt: String = self.input[start..self.i].iter().collect();
        txt.parse::<i64>().map_err(|_| {
            Error::new(
                SqlState::DATETIME_FIELD_OVERFLOW,
                format!("value for \"{key}\" in source string is out of range"),
            )
        })
    }

    /// Matches one of `list` (or its 3-letter abbreviations), case-insensitively.
    fn word(&mut self, key: &str, list: &[&str], abbrev: bool) -> Result<usize> {
        let rest: String = self.input[self.i..]
            .iter()
            .collect::<String>()
            .to_lowercase();
        for (k, name) in list.iter().enumerate() {
            let name = if abbrev { &name[..3] } else { name };
            if rest.starts_with(&name.to_lowercase()) {
                self.i += name.chars().count();
                return Ok(k);
            }
        }
        let found: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
        Err(parse_error(key, &found)
            .with_detail("The given value did not match any of the allowed values for this field."))
    }
}

/// `to_timestamp(text, template)` / `to_date`: parses `s` by the template.
pub(super) fn parse(s: &str, pat: &str) -> Result<NaiveDateTime> {
    let mut cur = Cursor {
        input: s.chars().collect(),
        i: 0,
    };
    let nodes = parse_template(pat);
    let (mut year, mut mon, mut day, mut doy) = (None::<i64>, 1i64, 1i64, None::<i64>);
    let (mut hour, mut min, mut sec, mut us) = (0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut hour12 = false;
    for (n, node) in nodes.iter().enumerate() {
        let (key, fm) = match node {
            Node::Lit(l) => {
                for c in l.chars() {
                    if c.is_whitespace() {
                        cur.skip_spaces();
                    } else if !c.is_alphanumeric() {
                        if cur.peek().is_some_and(|c| !c.is_alphanumeric()) {
                            cur.i += 1;
                        }
                    } else if cur.peek().is_some() {
                        cur.i += 1;
                    }
                }
                continue;
            }
            Node::Field { key, fm, .. } => (*key, *fm),
        };
        cur.skip_spaces();
        if cur.peek().is_none() {
            break;
        }
        let greedy = fm || !matches!(nodes.get(n + 1), Some(Node::Field { .. }));
        let digits = |cur: &mut Cursor, width: usize| cur.digits(key, width, greedy);
        match key {
            "YYYY" | "IYYY" => year = Some(digits(&mut cur, 4)?),
            "Y,YYY" => {
                let a = digits(&mut cur, 1)?;
                if cur.peek() == Some(',') {
                    cur.i += 1;
                }
                year = Some(a * 1000 + digits(&mut cur, 3)?);
            }
            "YYY" | "IYY" => {
                let y = digits(&mut cur, 3)?;
                year = Some(if y < 520 { y + 2000 } else { y + 1000 });
            }
            "YY" | "IY" => {
                let y = digits(&mut cur, 2)?;
                year = Some(if y < 70 { y + 2000 } else { y + 1900 });
            }
            "Y" => year = Some(digits(&mut cur, 1)? + 2000),
            "MM" => mon = digits(&mut cur, 2)?,
            "DD" => day = digits(&mut cur, 2)?,
            "DDD" => doy = Some(digits(&mut cur, 3)?),
            "HH" | "HH12" => {
                hour = digits(&mut cur, 2)?;
                hour12 = true;
            }
            "HH24" => hour = digits(&mut cur, 2)?,
            "MI" => min = digits(&mut cur, 2)?,
            "SS" => sec = digits(&mut cur, 2)?,
            "MS" => {
                let start = cur.i;
                let v = digits(&mut cur, 3)?;
                us = v * 10i64.pow(3u32.saturating_sub((cur.i - start) as u32)) * 1000;
            }
            "US" => {
                let start = cur.i;
                let v = digits(&mut cur, 6)?;
                us = v * 10i64.pow(6u32.saturating_sub((cur.i - start) as u32));
            }
            "MONTH" => mon = cur.word(key, &MONTHS, false)? as i64 + 1,
            "MON" => mon = cur.word(key, &MONTHS, true)? as i64 + 1,
            "DAY" => {
                cur.word(key, &DAYS, false)?;
            }
            "DY" => {
                cur.word(key, &DAYS, true)?;
            }
            "AM" | "PM" => pm = Some(cur.word(key, &["am", "pm"], false)? == 1),
            "A.M." | "P.M." => pm = Some(cur.word(key, &["a.m.", "p.m."], false)? == 1),
            "D" | "ID" | "Q" | "W" | "WW" | "IW" | "CC" => {
                digits(&mut cur, 2)?;
            }
            "TZ" | "OF" | "FX" => {}
            other => {
                return Err(Error::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("formatting field \"{other}\" is only supported in to_char"),
                ));
            }
        }
    }
    let range = || {
        Error::new(
            SqlState::DATETIME_FIELD_OVERFLOW,
            format!("date/time field value out of range: \"{s}\""),
        )
    };
    if hour12 || pm.is_some() {
        if !(1..=12).contains(&hour) {
            return Err(Error::new(
                SqlState::INVALID_DATETIME_FORMAT,
                format!("hour \"{hour}\" is invalid for the 12-hour clock"),
            )
            .with_hint("Use the 24-hour clock, or give an hour between 1 and 12."));
        }
        hour = hour % 12 + if pm == Some(true) { 12 } else { 0 };
    }
    let y = year.unwrap_or(1);
    let cy = i32::try_from(if y < 0 { y + 1 } else { y }).map_err(|_| range())?;
    let date = match doy {
        Some(n) => u32::try_from(n)
            .ok()
            .and_then(|n| NaiveDate::from_yo_opt(cy, n))
            .ok_or_else(range)?,
        None => u32::try_from(mon)
            .ok()
            .zip(u32::try_from(day).ok())
            .and_then(|(m, d)| NaiveDate::from_ymd_opt(cy, m, d))
            .ok_or_else(range)?,
    };
    if !(0..24).contains(&hour) || !(0..60).contains(&min) || !(0..60).contains(&sec) {
        return Err(range());
    }
    let t = NaiveTime::from_hms_micro_opt(hour as u32, min as u32, sec as u32, us as u32)
        .ok_or_else(range)?;
    Ok(date.and_time(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let ts = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_micro_opt(14, 7, 9, 123456)
            .unwrap();
        let tm = tm_of(&Value::Timestamp(ts)).unwrap();
        assert_eq!(
            format_datetime(&tm, "YYYY-MM-DD HH24:MI:SS.US"),
            "2024-03-05 14:07:09.123456"
        );
        assert_eq!(
            format_datetime(&tm, "FMMonth DDth, HH12 am"),
            "March 05th, 02 pm"
        );
        assert_eq!(format_datetime(&tm, "Dy Mon \"Q\"Q"), "Tue Mar Q1");
        assert_eq!(
            parse("2024-03-05 14:07:09", "YYYY-MM-DD HH24:MI:SS").unwrap(),
            ts.with_nanosecond(0).unwrap()
        );
        assert!(parse("2024-13-05", "YYYY-MM-DD").is_err());
        assert_eq!(
            format_number(Some(Decimal::new(-12345, 2)), "999.99").unwrap(),
            "-123.45"
        );
        assert_eq!(
            format_number(Some(Decimal::new(5, 1)), "FM9.99").unwrap(),
            ".5"
        );
        assert_eq!(
            format_number(Some(Decimal::new(1234, 0)), "99").unwrap(),
            " ##"
        );
    }
}
