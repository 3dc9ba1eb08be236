//! String functions: PostgreSQL's semantics on characters (not bytes).

use super::{Func, check_len, int, text};
use crate::error::{Error, Result, SqlState};
use crate::types::Value;

/// Evaluates a string function; `None` if `f` is not one.
pub(super) fn eval(f: &Func, a: &[Value]) -> Result<Option<Value>> {
    let t = |i: usize| text(&a[i]);
    let opt_t = |i: usize, default: &'static str| a.get(i).map(text).unwrap_or(default.into());
    let txt = |s: String| Ok(Some(Value::Text(s)));
    match f {
        Func::Lower => txt(t(0).chars().map(|c| single(c.to_lowercase(), c)).collect()),
        Func::Upper => txt(t(0).chars().map(|c| single(c.to_uppercase(), c)).collect()),
        Func::Initcap => txt(initcap(&t(0))),
        Func::Reverse => txt(t(0).chars().rev().collect()),
        Func::Length => Ok(Some(Value::Int4(match &a[0] {
            Value::Bytea(b) => b.len(),
            v => text(v).chars().count(),
        } as i32))),
        Func::OctetLength => Ok(Some(Value::Int4(match &a[0] {
            Value::Bytea(b) => b.len(),
            v => text(v).len(),
        } as i32))),
        Func::Md5 => {
            use md5::{Digest, Md5};
            let digest = match &a[0] {
                Value::Bytea(b) => Md5::digest(b),
                v => Md5::digest(text(v).as_bytes()),
            };
            txt(digest.iter().map(|b| format!("{b:02x}")).collect())
        }
        Func::Btrim | Func::Ltrim | Func::Rtrim => {
            let set: Vec<char> = opt_t(1, " ").chars().collect();
            let s = t(0);
            let s = match f {
                Func::Ltrim => s.trim_start_matches(set.as_slice()),
                Func::Rtrim => s.trim_end_matches(set.as_slice()),
                _ => s.trim_matches(set.as_slice()),
            };
            txt(s.to_string())
        }
        Func::Substr => txt(substr(&t(0), int(&a[1])?, a.get(2).map(int).transpose()?)?),
        Func::Strpos => Ok(Some(Value::Int4(strpos(&t(0), &t(1))))),
        Func::Replace => {
            let from = t(1);
            if from.is_empty() {
                txt(t(0).into_owned())
            } else {
                txt(t(0).replace(from.as_ref(), &t(2)))
            }
        }
        Func::Translate => {
            let from: Vec<char> = t(1).chars().collect();
            let to: Vec<char> = t(2).chars().collect();
            txt(t(0)
                .chars()
                .filter_map(|c| match from.iter().position(|x| *x == c) {
                    Some(i) => to.get(i).copied(),
                    None => Some(c),
                })
                .collect())
        }
        Func::SplitPart => txt(split_part(&t(0), &t(1), int(&a[2])?)?),
        Func::Left | Func::Right => {
            let chars: Vec<char> = t(0).chars().collect();
            let len = chars.len() as i64;
            let n = int(&a[1])?;
            let keep = if n >= 0 { n.min(len) } else { (len + n).max(0) } as usize;
            let part = if *f == Func::Left {
                &chars[..keep]
            } else {
                &chars[chars.len() - keep..]
            };
            txt(part.iter().collect())
        }
        Func::Lpad | Func::Rpad => txt(pad(&t(0), int(&a[1])?, &opt_t(2, " "), *f == Func::Lpad)?),
        Func::Repeat => {
            let s = t(0);
            let n = int(&a[1])?.max(0) as usize;
            check_len(s.len().checked_mul(n).and_then(|l| l.checked_add(4)))?;
            txt(s.repeat(n))
        }
        Func::StartsWith => Ok(Some(Value::Bool(t(0).starts_with(t(1).as_ref())))),
        Func::Ascii => Ok(Some(Value::Int4(
            t(0).chars().next().map_or(0, |c| c as i32),
        ))),
        Func::Chr => txt(chr(int(&a[0])?)?.to_string()),
        Func::ToHex => txt(match &a[0] {
            Value::Int4(i) => format!("{:x}", *i as u32),
            v => format!("{:x}", int(v)? as u64),
        }),
        Func::QuoteIdent => txt(quote_ident(&t(0))),
        Func::QuoteLiteral => txt(quote_literal(&t(0))),
        Func::QuoteNullable => txt(match &a[0] {
            Value::Null => "NULL".into(),
            v => quote_literal(&text(v)),
        }),
        Func::Overlay => {
            let s: Vec<char> = t(0).chars().collect();
            let placing = t(1);
            let start = int(&a[2])?;
            let count = match a.get(3) {
                Some(v) => int(v)?,
                None => placing.chars().count() as i64,
            };
            // overlay(s placing p from a for n) = substr(s, 1, a-1) || p || substr(s, a+n)
            let head = substr_chars(&s, 1, Some(start - 1))?;
            let tail = substr_chars(&s, start.saturating_add(count), None)?;
            txt(format!("{head}{placing}{tail}"))
        }
        Func::Concat => txt(a
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| text(v).into_owned())
            .collect()),
        Func::ConcatWs => {
            if a[0].is_null() {
                return Ok(Some(Value::Null));
            }
            let parts: Vec<String> = a[1..]
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| text(v).into_owned())
                .collect();
            txt(parts.join(&t(0)))
        }
        Func::Format => {
            if a[0].is_null() {
                return Ok(Some(Value::Null));
            }
            txt(format(&t(0), &a[1..])?)
        }
        _ => Ok(None),
    }
}

/// A one-character case mapping, or `c` unchanged (as PostgreSQL maps characters one by one).
fn single(mut m: impl ExactSizeIterator<Item = char>, c: char) -> char {
    if m.len() == 1 {
        m.next().unwrap_or(c)
    } else {
        c
    }
}

fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        out.push(if in_word {
            single(c.to_lowercase(), c)
        } else {
            single(c.to_uppercase(), c)
        });
        in_word = c.is_alphanumeric();
    }
    out
}

/// `substr(s, start, count)`: characters from `start` (1-based, may be
/// zero or negative) up to `start + count`.
fn substr(s: &str, start: i64, count: Option<i64>) -> Result<String> {
    substr_chars(&s.chars().collect::<Vec<_>>(), start, count)
}

fn substr_chars(s: &[char], start: i64, count: Option<i64>) -> Result<String> {
    let end = match count {
        Some(n) if n < 0 => {
            return Err(Error::new(
                SqlState::SUBSTRING_ERROR,
                "negative substring length not allowed",
            ));
        }
        Some(n) => start.saturating_add(n),
        None => i64::MAX,
    };
    let from = (start.max(1) - 1).min(s.len() as i64) as usize;
    let to = (end.max(1) - 1).min(s.len() as i64) as usize;
    Ok(s[from..to.max(from)].iter().collect())
}

fn strpos(s: &str, sub: &str) -> i32 {
    match s.find(sub) {
        Some(byte) => s[..byte].chars().count() as i32 + 1,
        None => 0,
    }
}

fn split_part(s: &str, delim: &str, n: i64) -> Result<String> {
    if n == 0 {
        return Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "field position must not be zero",
        ));
    }
    if s.is_empty() {
        return Ok(String::new());
    }
    let fields: Vec<&str> = if delim.is_empty() {
        vec![s]
    } else {
        s.split(delim).collect()
    };
    let idx = if n > 0 {
        n - 1
    } else {
        fields.len() as i64 + n
    };
    Ok(usize::try_from(idx)
        .ok()
        .and_then(|i| fields.get(i))
        .map_or(String::new(), |f| f.to_string()))
}

fn pad(s: &str, len: i64, fill: &str, left: bool) -> Result<String> {
    let len = len.max(0) as usize;
    // PostgreSQL sizes the result for 4-byte characters before padding.
    check_len(len.checked_mul(4))?;
    let chars: Vec<char> = s.chars().collect();
    if chars.len() >= len || fill.is_empty() {
        return Ok(chars.iter().take(len).collect());
    }
    let padding: String = fill.chars().cycle().take(len - chars.len()).collect();
    Ok(if left {
        padding + s
    } else {
        s.to_string() + &padding
    })
}

fn chr(code: i64) -> Result<char> {
    if code == 0 {
        return Err(Error::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            "null character not permitted",
        ));
    }
    let too_large = || {
        Error::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            format!("requested character too large for encoding: {code}"),
        )
    };
    let c = u32::try_from(code).map_err(|_| too_large())?;
    if c > 0x10FFFF {
        return Err(too_large());
    }
    char::from_u32(c).ok_or_else(|| {
        Error::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            format!("requested character not valid for encoding: {code}"),
        )
    })
}

/// Keywords `quote_ident` quotes (PostgreSQL's non-unreserved keywords).
const KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// SQL's `quote_ident`: also quotes keywords, as PostgreSQL's does.
pub(super) fn quote_ident(s: &str) -> String {
    if KEYWORDS.contains(&s) {
        format!("\"{s}\"")
    } else {
        crate::sql::quote_ident(s)
    }
}

pub(super) fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

fn format_error(msg: impl Into<String>) -> Error {
    Error::new(SqlState::INVALID_PARAMETER_VALUE, msg)
}

/// `format(fmt, args...)`: `%s`, `%I`, `%L`, `%%`, positions (`%2$s`),
/// the `-` flag and widths (`%10s`, `%*s`, `%*2$s`).
pub(super) fn format(fmt: &str, args: &[Value]) -> Result<String> {
    let chars: Vec<char> = fmt.chars().collect();
    let unterminated = || {
        format_error("unterminated format() type specifier")
            .with_hint("For a single \"%\" use \"%%\".")
    };
    let too_few = || format_error("too few arguments for format()");
    let mut out = String::new();
    let mut i = 0;
    let mut next = 0usize;
    // Reads digits at `i`; with `dollar`, only when followed by '$' (consumed).
    let number = |i: &mut usize, dollar: bool| -> Result<Option<usize>> {
        let start = *i;
        let mut j = *i;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        if j == start || (dollar && chars.get(j) != Some(&'$')) {
            return Ok(None);
        }
        let n: usize = chars[start..j]
            .iter()
            .collect::<String>()
            .parse()
            .map_err(|_| format_error("number is out of range"))?;
        *i = if dollar { j + 1 } else { j };
        if dollar && n == 0 {
            return Err(format_error(
                "format specifies argument 0, but arguments are numbered from 1",
            ));
        }
        Ok(Some(n))
    };
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.get(i) == Some(&'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let pos = number(&mut i, true)?;
        let mut left = false;
        while chars.get(i) == Some(&'-') {
            left = true;
            i += 1;
        }
        let mut width: Option<i64> = None;
        if chars.get(i) == Some(&'*') {
            i += 1;
            let idx = match number(&mut i, true)? {
                Some(p) => p - 1,
                None => next,
            };
            next = idx + 1;
            let w = args.get(idx).ok_or_else(too_few)?;
            if !w.is_null() {
                width = Some(int(&w.clone().cast(&crate::types::DataType::Int4)?)?);
            }
        } else if let Some(w) = number(&mut i, false)? {
            width = Some(w as i64);
        }
        let Some(&kind) = chars.get(i) else {
            return Err(unterminated());
        };
        i += 1;
        if !matches!(kind, 's' | 'I' | 'L') {
            return Err(
                format_error(format!("unrecognized format() type specifier \"{kind}\""))
                    .with_hint("For a single \"%\" use \"%%\"."),
            );
        }
        let idx = pos.map_or(next, |p| p - 1);
        next = idx + 1;
        let v = args.get(idx).ok_or_else(too_few)?;
        let s = match (kind, v) {
            ('s', Value::Null) => String::new(),
            ('s', v) => text(v).into_owned(),
            ('I', Value::Null) => {
                return Err(Error::new(
                    SqlState::NULL_VALUE_NOT_ALLOWED,
                    "null values cannot be formatted as an SQL identifier",
                ));
            }
            ('I', v) => quote_ident(&text(v)),
            (_, Value::Null) => "NULL".to_string(),
            (_, v) => quote_literal(&text(v)),
        };
        let w = width.unwrap_or(0);
        let pad = (w.unsigned_abs() as usize).saturating_sub(s.chars().count());
        if left || w < 0 {
            out.push_str(&s);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_specifiers() {
        let args = [Value::Text("a b".into()), Value::Null, Value::Int4(7)];
        assert_eq!(
            format(
                "%s|%I|%L|%%",
                &[args[0].clone(), args[0].clone(), args[1].clone()]
            )
            .unwrap(),
            "a b|\"a b\"|NULL|%"
        );
        assert_eq!(
            format("%3$s %1$s %s", &args).unwrap(),
            "7 a b NULL".replace("NULL", "")
        );
        assert_eq!(
            format("[%5s][%-5s]", &[Value::Int4(1), Value::Int4(2)]).unwrap(),
            "[    1][2    ]"
        );
        assert_eq!(
            format("[%*s]", &[Value::Int4(-3), Value::Text("x".into())]).unwrap(),
            "[x  ]"
        );
        assert_eq!(format("%s %s", &args[..1]).unwrap_err().sqlstate(), "22023");
        assert_eq!(format("%x", &args).unwrap_err().sqlstate(), "22023");
        assert_eq!(format("%", &args).unwrap_err().sqlstate(), "22023");
        assert_eq!(format("%I", &args[1..]).unwrap_err().sqlstate(), "22004");
    }

    #[test]
    fn substr_and_split() {
        assert_eq!(substr("hello", 0, Some(3)).unwrap(), "he");
        assert_eq!(substr("hello", -5, Some(3)).unwrap(), "");
        assert_eq!(substr("hello", 2, None).unwrap(), "ello");
        assert!(substr("hello", 1, Some(-1)).is_err());
        assert_eq!(split_part("a,b,c", ",", -1).unwrap(), "c");
        assert_eq!(split_part("a,b,c", ",", 4).unwrap(), "");
        assert_eq!(quote_ident("Foo"), "\"Foo\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_literal("it's \\"), "E'it''s \\\\'");
    }
}
