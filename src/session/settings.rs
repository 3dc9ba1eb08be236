//! Session settings: SET, SET LOCAL, RESET and SHOW with PostgreSQL's names.

use crate::error::{Error, Result, SqlState};
use std::collections::BTreeMap;

/// Built-in parameters with their defaults. Names are lower case.
const BUILTIN: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("idle_session_timeout", "0"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", "16.0 (HeliosDB Nano 3.2.0)"),
    ("server_version_num", "160000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("synchronous_commit", "on"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
];

/// The values a session has set (session level plus transaction-local overrides).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    session: BTreeMap<String, String>,
    local: BTreeMap<String, String>,
    /// Parsed search_path (recomputed whenever a setting changes).
    path: Option<std::sync::Arc<Vec<String>>>,
}

fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

fn known(name: &str) -> bool {
    BUILTIN.iter().any(|(n, _)| *n == name) || name.contains('.')
}

fn unknown(name: &str) -> Error {
    Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

fn validate(name: &str, value: &str) -> Result<String> {
    let v = value.trim();
    Ok(match name {
        "synchronous_commit" => match v.to_lowercase().as_str() {
            "on" | "true" | "1" | "yes" | "remote_apply" | "remote_write" | "local" => "on".into(),
            "off" | "false" | "0" | "no" => "off".into(),
            _ => {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"synchronous_commit\": \"{v}\""),
                ));
            }
        },
        "default_transaction_isolation" | "transaction_isolation" => {
            let l = v.to_lowercase();
            match l.as_str() {
                "read committed" | "repeatable read" | "serializable" => l,
                "read uncommitted" => "read committed".into(),
                _ => {
                    return Err(Error::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"{name}\": \"{v}\""),
                    ));
                }
            }
        }
        "timezone" => {
            if !matches!(
                v.to_uppercase().as_str(),
                "UTC" | "GMT" | "ETC/UTC" | "Z" | "+00" | "0"
            ) {
                return Err(Error::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("time zone \"{v}\" is not supported; only UTC is"),
                ));
            }
            "UTC".into()
        }
        "client_encoding" | "server_encoding" => {
            let u = v.to_uppercase().replace('-', "");
            if u != "UTF8" && u != "UNICODE" {
                return Err(Error::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("encoding \"{v}\" is not supported; only UTF8 is"),
                ));
            }
            "UTF8".into()
        }
        "statement_timeout" | "idle_session_timeout" | "idle_in_transaction_session_timeout" => {
            let ms = parse_duration_ms(v).ok_or_else(|| {
                Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{name}\": \"{v}\""),
                )
                .with_hint("Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".")
            })?;
            format_duration_ms(ms)
        }
        "server_version" | "server_version_num" | "integer_datetimes" => {
            return Err(Error::new(
                SqlState::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        _ => v.to_string(),
    })
}

/// A time setting in milliseconds: a bare number is milliseconds; units
/// us, ms, s, min, h and d as in PostgreSQL.
fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim().trim_matches('\'');
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = (n * factor).round();
    (ms.is_finite() && (0.0..=i32::MAX as f64).contains(&ms)).then_some(ms as u64)
}

/// PostgreSQL's display of a millisecond setting: the largest exact unit.
fn format_duration_ms(ms: u64) -> String {
    if ms == 0 {
        return "0".into();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

impl Settings {
    /// `statement_timeout` as a duration (None when 0, the default).
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.duration("statement_timeout")
    }

    /// A time setting (`statement_timeout`, `idle_session_timeout`,
    /// `idle_in_transaction_session_timeout`) as a duration; None when 0.
    pub fn duration(&self, name: &'static str) -> Option<std::time::Duration> {
        if self.local.is_empty() && self.session.is_empty() {
            return None;
        }
        match parse_duration_ms(self.builtin(name)) {
            Some(0) | None => None,
            Some(ms) => Some(std::time::Duration::from_millis(ms)),
        }
    }

    /// Current value of a parameter (`None` for an unset custom parameter).
    pub fn get(&self, name: &str) -> Result<Option<String>> {
        let n = normalize(name);
        if let Some(v) = self.local.get(&n).or_else(|| self.session.get(&n)) {
            return Ok(Some(v.clone()));
        }
        match BUILTIN.iter().find(|(b, _)| *b == n) {
            Some((_, d)) => Ok(Some(d.to_string())),
            None if n.contains('.') => Ok(None),
            None => Err(unknown(&n)),
        }
    }

    /// The value of a built-in parameter by its lower-case name, without allocating.
    pub fn builtin(&self, name: &'static str) -> &str {
        self.local
            .get(name)
            .or_else(|| self.session.get(name))
            .map(|s| s.as_str())
            .or_else(|| BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, d)| *d))
            .unwrap_or("")
    }

    pub fn set(&mut self, name: &str, value: &str, local: bool) -> Result<()> {
        let n = normalize(name);
        if !known(&n) {
            return Err(unknown(&n));
        }
        let v = validate(&n, value)?;
        self.path = None;
        if local {
            self.local.insert(n, v);
        } else {
            self.local.remove(&n);
            self.session.insert(n, v);
        }
        Ok(())
    }

    pub fn reset(&mut self, name: &str) -> Result<()> {
        let n = normalize(name);
        if !known(&n) {
            return Err(unknown(&n));
        }
        self.session.remove(&n);
        self.local.remove(&n);
        self.path = None;
        Ok(())
    }

    pub fn reset_all(&mut self) {
        self.session.clear();
        self.local.clear();
        self.path = None;
    }

    /// Drops SET LOCAL values at transaction end.
    pub fn end_transaction(&mut self) {
        if !self.local.is_empty() {
            self.local.clear();
            self.path = None;
        }
    }

    /// All parameters with their values, sorted by name (SHOW ALL).
    pub fn all(&self) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = BUILTIN
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect();
        for (k, v) in self.session.iter().chain(self.local.iter()) {
            out.insert(k.clone(), v.clone());
        }
        out.into_iter().collect()
    }

    /// The schemas of `search_path`, in order (`$user` kept as `"$user"`;
    /// the session expands it).
    pub fn search_path(&mut self) -> std::sync::Arc<Vec<String>> {
        if let Some(p) = &self.path {
            return p.clone();
        }
        let p = std::sync::Arc::new(self.parse_search_path());
        self.path = Some(p.clone());
        p
    }

    fn parse_search_path(&self) -> Vec<String> {
        let raw = self.get("search_path").ok().flatten().unwrap_or_default();
        raw.split(',')
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s == "\"$user\"" {
                    // The session expands it to the current user's name.
                    "$user".to_string()
                } else if s.starts_with('"') && s.ends_with('"') && s.len() >= 2 {
                    s[1..s.len() - 1].to_string()
                } else {
                    s.to_lowercase()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_timeout_values() {
        let mut s = Settings::default();
        assert_eq!(s.statement_timeout(), None);
        s.set("statement_timeout", "5000", false).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap().unwrap(), "5s");
        assert_eq!(
            s.statement_timeout(),
            Some(std::time::Duration::from_secs(5))
        );
        s.set("statement_timeout", "1.5s", false).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap().unwrap(), "1500ms");
        s.set("statement_timeout", "2min", false).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap().unwrap(), "2min");
        assert!(s.set("statement_timeout", "soon", false).is_err());
        assert!(s.set("statement_timeout", "-1", false).is_err());
        s.set("statement_timeout", "0", false).unwrap();
        assert_eq!(s.statement_timeout(), None);
    }

    #[test]
    fn set_local_and_reset() {
        let mut s = Settings::default();
        assert_eq!(s.get("search_path").unwrap().unwrap(), "\"$user\", public");
        s.set("search_path", "app, public", false).unwrap();
        assert_eq!(
            *s.search_path(),
            vec!["app".to_string(), "public".to_string()]
        );
        s.set("app.user", "42", true).unwrap();
        assert_eq!(s.get("APP.USER").unwrap().unwrap(), "42");
        s.end_transaction();
        assert_eq!(s.get("app.user").unwrap(), None);
        assert_eq!(s.set("nope", "1", false).unwrap_err().sqlstate(), "42704");
        assert_eq!(
            s.set("synchronous_commit", "maybe", false)
                .unwrap_err()
                .sqlstate(),
            "22023"
        );
    }
}
