//! Session settings: SET, SET LOCAL, RESET and SHOW with PostgreSQL's names.
//!
//! A parameter's value is looked up in layers, first match wins: the
//! transaction's `SET LOCAL` values, the session's `SET` values, the reset
//! values (what `RESET` returns to: the server's configuration file and the
//! client's startup packet), the built-in default (`params`). Custom
//! parameters (a dotted name such as `app.user`) need no declaration; once
//! set, a custom parameter exists for the rest of the session (empty when it
//! has no value), as PostgreSQL's placeholders do.
//!
//! As in PostgreSQL, SET is transactional: a transaction that rolls back
//! restores the values the session had when it began (rolling back to a
//! savepoint does not), and SET LOCAL values end with the transaction.

use super::params::{self, Param};
use crate::error::{Error, Result, SqlState};
use crate::sql::system::SettingRow;
use std::collections::{BTreeMap, BTreeSet};

/// Where a parameter's current value came from (`pg_settings.source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingSource {
    Default,
    /// The server's configuration file.
    ConfigurationFile,
    /// The client's startup packet.
    Client,
    /// SET or SET LOCAL.
    Session,
}

impl SettingSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            SettingSource::Default => "default",
            SettingSource::ConfigurationFile => "configuration file",
            SettingSource::Client => "client",
            SettingSource::Session => "session",
        }
    }
}

/// The values a session has set (session level plus transaction-local
/// overrides) over the reset values and built-in defaults.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    session: BTreeMap<String, String>,
    local: BTreeMap<String, String>,
    /// Values RESET returns to, with where they came from.
    reset: BTreeMap<String, (String, SettingSource)>,
    /// Custom parameters that have been set at some point.
    placeholders: BTreeSet<String>,
    /// Inside a transaction: the session values to restore if it rolls
    /// back (saved at the first change).
    saved: Option<BTreeMap<String, String>>,
    in_transaction: bool,
    /// Counts changes of any value (to notice reported parameters changing).
    version: u64,
    /// Parsed search_path (recomputed whenever a setting changes).
    path: Option<std::sync::Arc<Vec<String>>>,
    /// The tenant (`helios.tenant`, parsed) at `version`: row-level security
    /// reads it in every statement.
    tenant: std::cell::Cell<Option<(u64, Option<uuid::Uuid>)>>,
    /// `statement_timeout` (parsed) at `version`.
    statement_timeout: std::cell::Cell<Option<(u64, Option<std::time::Duration>)>>,
}

fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

fn known(name: &str) -> bool {
    params::find(name).is_some() || name.contains('.')
}

fn unknown(name: &str) -> Error {
    Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// 22023 for a value outside an enum parameter's values, with PostgreSQL's hint.
fn invalid_enum(name: &str, v: &str) -> Error {
    let values = params::find(name).map(|p| p.enumvals).unwrap_or_default();
    Error::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{name}\": \"{v}\""),
    )
    .with_hint(format!("Available values: {}.", values.join(", ")))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Some(true),
        "off" | "false" | "no" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
}

fn validate(name: &str, value: &str) -> Result<String> {
    let v = value.trim();
    Ok(match name {
        "synchronous_commit" => match v.to_lowercase().as_str() {
            "remote_apply" | "remote_write" | "local" => "on".into(),
            other => match parse_bool(other) {
                Some(true) => "on".into(),
                Some(false) => "off".into(),
                None => return Err(invalid_enum(name, v)),
            },
        },
        "default_transaction_isolation" | "transaction_isolation" => {
            let l = v.to_lowercase();
            match l.as_str() {
                "read committed" | "repeatable read" | "serializable" => l,
                "read uncommitted" => "read committed".into(),
                _ => return Err(invalid_enum(name, v)),
            }
        }
        // Every table is stored the same way, under PostgreSQL's name.
        "default_table_access_method" => {
            if v != "heap" {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{name}\": \"{v}\""),
                )
                .with_detail(format!("Table access method \"{v}\" does not exist.")));
            }
            v.into()
        }
        "client_min_messages" => {
            let l = v.to_lowercase();
            match l.as_str() {
                "debug" => "debug2".into(),
                "debug5" | "debug4" | "debug3" | "debug2" | "debug1" | "log" | "info"
                | "notice" | "warning" | "error" => l,
                _ => return Err(invalid_enum(name, v)),
            }
        }
        "intervalstyle" => {
            let l = v.to_lowercase();
            if !params::find(name).is_some_and(|p| p.enumvals.contains(&l.as_str())) {
                return Err(invalid_enum("IntervalStyle", v));
            }
            if l != "postgres" {
                return Err(Error::unsupported(format!(
                    "IntervalStyle \"{v}\" is not supported; only postgres is"
                )));
            }
            l
        }
        "datestyle" => {
            // The output style is always ISO and input is read month-first.
            let ok = v
                .split(',')
                .map(|p| p.trim().to_lowercase())
                .all(|p| matches!(p.as_str(), "iso" | "mdy" | "us" | "noneuropean" | "default"));
            if !ok {
                return Err(Error::unsupported(format!(
                    "DateStyle \"{v}\" is not supported; only ISO, MDY is"
                )));
            }
            "ISO, MDY".into()
        }
        "extra_float_digits" => match v.parse::<i32>() {
            Ok(n) if (-15..=3).contains(&n) => n.to_string(),
            Ok(_) => {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("{v} is outside the valid range for parameter \"{name}\" (-15 .. 3)"),
                ));
            }
            Err(_) => {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{name}\": \"{v}\""),
                ));
            }
        },
        "default_transaction_read_only" | "transaction_read_only" | "row_security" => {
            match parse_bool(v) {
                Some(on) => if on { "on" } else { "off" }.into(),
                None => {
                    return Err(Error::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!("parameter \"{name}\" requires a Boolean value"),
                    ));
                }
            }
        }
        "standard_conforming_strings" => match parse_bool(v) {
            Some(true) => "on".into(),
            Some(false) => {
                return Err(Error::unsupported(
                    "standard_conforming_strings cannot be turned off: backslashes in string literals are always literal",
                ));
            }
            None => {
                return Err(Error::new(
                    SqlState::INVALID_PARAMETER_VALUE,
                    format!("parameter \"{name}\" requires a Boolean value"),
                ));
            }
        },
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
        "client_encoding" => {
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
        _ if params::find(name).is_some_and(|p| p.context == "internal") => {
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
    /// `statement_timeout` as a duration (None when 0, the default); parsed
    /// once per change of the settings, since every statement reads it.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        if let Some((version, timeout)) = self.statement_timeout.get()
            && version == self.version
        {
            return timeout;
        }
        let timeout = self.duration("statement_timeout");
        self.statement_timeout.set(Some((self.version, timeout)));
        timeout
    }

    /// A time setting (`statement_timeout`, `idle_session_timeout`,
    /// `idle_in_transaction_session_timeout`) as a duration; None when 0.
    pub fn duration(&self, name: &'static str) -> Option<std::time::Duration> {
        if self.local.is_empty() && self.session.is_empty() && self.reset.is_empty() {
            return None;
        }
        match parse_duration_ms(self.builtin(name)) {
            Some(0) | None => None,
            Some(ms) => Some(std::time::Duration::from_millis(ms)),
        }
    }

    /// The value and source of a parameter by its lower-case name, without
    /// the built-in default.
    fn lookup(&self, n: &str) -> Option<(&str, SettingSource)> {
        if let Some(v) = self.local.get(n).or_else(|| self.session.get(n)) {
            return Some((v, SettingSource::Session));
        }
        self.reset.get(n).map(|(v, src)| (v.as_str(), *src))
    }

    /// Current value of a parameter (`None` for a custom parameter never set).
    pub fn get(&self, name: &str) -> Result<Option<String>> {
        let n = normalize(name);
        if let Some((v, _)) = self.lookup(&n) {
            return Ok(Some(v.to_string()));
        }
        match params::find(&n) {
            Some(p) => Ok(Some(p.default.to_string())),
            None if self.placeholders.contains(&n) => Ok(Some(String::new())),
            None if n.contains('.') => Ok(None),
            None => Err(unknown(&n)),
        }
    }

    /// The value of a built-in parameter by its lower-case name, without allocating.
    pub fn builtin(&self, name: &'static str) -> &str {
        match self.lookup(name) {
            Some((v, _)) => v,
            None => params::find(name).map(|p| p.default).unwrap_or(""),
        }
    }

    /// The value a parameter would have after RESET.
    pub fn reset_value(&self, name: &str) -> Result<String> {
        let n = normalize(name);
        if let Some((v, _)) = self.reset.get(&n) {
            return Ok(v.clone());
        }
        match params::find(&n) {
            Some(p) => Ok(p.default.to_string()),
            None if n.contains('.') => Ok(String::new()),
            None => Err(unknown(&n)),
        }
    }

    /// Checks a value for a parameter without setting it; returns the value
    /// as it would be stored (`set_config` reports it).
    pub fn check(&self, name: &str, value: &str) -> Result<String> {
        let n = normalize(name);
        if !known(&n) {
            return Err(unknown(&n));
        }
        validate(&n, value)
    }

    /// Remembers the session values once per transaction, before the first change.
    fn before_change(&mut self) {
        if self.in_transaction && self.saved.is_none() {
            self.saved = Some(self.session.clone());
        }
        self.path = None;
        self.version += 1;
    }

    /// SET (`local`: SET LOCAL, until the transaction ends).
    pub fn set(&mut self, name: &str, value: &str, local: bool) -> Result<()> {
        let n = normalize(name);
        let v = self.check(&n, value)?;
        self.before_change();
        if params::find(&n).is_none() {
            self.placeholders.insert(n.clone());
        }
        if local {
            self.local.insert(n, v);
        } else {
            self.local.remove(&n);
            self.session.insert(n, v);
        }
        Ok(())
    }

    /// The value RESET returns to, from the server's configuration file or
    /// the client's startup packet. Not transactional: set when a session opens.
    pub fn set_reset_value(
        &mut self,
        name: &str,
        value: &str,
        source: SettingSource,
    ) -> Result<()> {
        let n = normalize(name);
        let v = self.check(&n, value)?;
        if params::find(&n).is_none() {
            self.placeholders.insert(n.clone());
        }
        self.reset.insert(n, (v, source));
        self.path = None;
        self.version += 1;
        Ok(())
    }

    pub fn reset(&mut self, name: &str) -> Result<()> {
        let n = normalize(name);
        if !known(&n) {
            return Err(unknown(&n));
        }
        if params::find(&n).is_some_and(|p| p.context == "internal") {
            return Err(Error::new(
                SqlState::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{n}\" cannot be changed"),
            ));
        }
        self.before_change();
        self.session.remove(&n);
        self.local.remove(&n);
        Ok(())
    }

    pub fn reset_all(&mut self) {
        self.before_change();
        self.session.clear();
        self.local.clear();
    }

    /// A transaction starts: changes from here on are undone if it rolls back.
    pub fn begin_transaction(&mut self) {
        self.in_transaction = true;
    }

    /// The transaction ended: drops SET LOCAL values and, if it rolled
    /// back (`committed` false), restores the session's values.
    pub fn end_transaction(&mut self, committed: bool) {
        self.in_transaction = false;
        let saved = self.saved.take();
        if !self.local.is_empty() {
            self.local.clear();
            self.path = None;
            self.version += 1;
        }
        if let Some(saved) = saved
            && !committed
        {
            self.session = saved;
            self.path = None;
            self.version += 1;
        }
    }

    /// Changes with every change of a value (to compare cheaply).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The tenant `helios.tenant` names (a uuid; the session validated it),
    /// parsed once per change of the settings.
    pub fn tenant(&self) -> Option<uuid::Uuid> {
        if let Some((version, tenant)) = self.tenant.get()
            && version == self.version
        {
            return tenant;
        }
        let tenant = self
            .get(super::tenant::TENANT_SETTING)
            .ok()
            .flatten()
            .and_then(|v| uuid::Uuid::parse_str(&v).ok());
        self.tenant.set(Some((self.version, tenant)));
        tenant
    }

    /// The canonical name of a parameter (`DateStyle` for `datestyle`);
    /// custom names as given, in lower case.
    pub fn display_name(name: &str) -> String {
        match params::find(name) {
            Some(p) => p.name.to_string(),
            None => normalize(name),
        }
    }

    /// The built-in parameters with their values and descriptions, in
    /// PostgreSQL's order (by name, ignoring case): what SHOW ALL lists.
    /// Custom parameters are left out, as PostgreSQL leaves out its placeholders.
    pub fn all(&self) -> Vec<(String, String, String)> {
        self.describe()
            .into_iter()
            .map(|d| {
                let value = self.get(&d.name).ok().flatten().unwrap_or_default();
                (d.name, value, d.short_desc.to_string())
            })
            .collect()
    }

    /// Every built-in parameter as `pg_settings` describes it, ordered as [`Settings::all`].
    pub fn describe(&self) -> Vec<SettingRow> {
        let mut out: Vec<SettingRow> = params::PARAMS
            .iter()
            .map(|p| self.describe_builtin(p))
            .collect();
        out.sort_by_key(|d| d.name.to_lowercase());
        out
    }

    fn describe_builtin(&self, p: &'static Param) -> SettingRow {
        let n = p.name.to_lowercase();
        let (value, source) = self
            .lookup(&n)
            .unwrap_or((p.default, SettingSource::Default));
        let reset_val = self
            .reset
            .get(&n)
            .map(|(v, _)| v.as_str())
            .unwrap_or(p.default);
        // Time parameters show their value in the unit (ms) there.
        let shown = |v: &str| match p.unit {
            Some("ms") => parse_duration_ms(v).map_or(v.to_string(), |ms| ms.to_string()),
            _ => v.to_string(),
        };
        SettingRow {
            name: p.name.to_string(),
            setting: shown(value),
            unit: p.unit,
            category: p.category,
            short_desc: p.short_desc,
            extra_desc: p.extra_desc,
            context: p.context,
            vartype: p.vartype,
            source: source.as_str(),
            min_val: p.min,
            max_val: p.max,
            enumvals: (p.vartype == "enum").then_some(p.enumvals),
            boot_val: Some(shown(p.default)),
            reset_val: shown(reset_val),
        }
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

    /// The cached tenant follows every way the setting changes.
    #[test]
    fn tenant_cache_follows_changes() {
        let a = "00000000-0000-0000-0000-00000000000a";
        let b = "00000000-0000-0000-0000-00000000000b";
        let id = |s: &str| Some(uuid::Uuid::parse_str(s).unwrap());
        let mut s = Settings::default();
        assert_eq!(s.tenant(), None);
        s.set("helios.tenant", a, false).unwrap();
        assert_eq!(s.tenant(), id(a));
        s.begin_transaction();
        s.set("helios.tenant", b, false).unwrap();
        assert_eq!(s.tenant(), id(b));
        s.end_transaction(false);
        assert_eq!(s.tenant(), id(a), "a rollback restores the tenant");
        s.begin_transaction();
        s.set("helios.tenant", b, true).unwrap();
        assert_eq!(s.tenant(), id(b));
        s.end_transaction(true);
        assert_eq!(s.tenant(), id(a), "SET LOCAL ends with the transaction");
        s.reset("helios.tenant").unwrap();
        assert_eq!(s.tenant(), None);
        s.set_reset_value("helios.tenant", b, SettingSource::Client)
            .unwrap();
        assert_eq!(s.tenant(), id(b));
        s.set("helios.tenant", a, false).unwrap();
        s.reset_all();
        assert_eq!(s.tenant(), id(b));
    }

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
        assert_eq!(s.get("app.user").unwrap(), None);
        s.begin_transaction();
        s.set("app.user", "42", true).unwrap();
        assert_eq!(s.get("APP.USER").unwrap().unwrap(), "42");
        s.end_transaction(true);
        // Once set, a custom parameter exists (empty) for the rest of the session.
        assert_eq!(s.get("app.user").unwrap().unwrap(), "");
        assert_eq!(s.set("nope", "1", false).unwrap_err().sqlstate(), "42704");
        assert_eq!(
            s.set("synchronous_commit", "maybe", false)
                .unwrap_err()
                .sqlstate(),
            "22023"
        );
    }

    #[test]
    fn rollback_restores_and_reset_returns_to_reset_value() {
        let mut s = Settings::default();
        s.set_reset_value("statement_timeout", "30s", SettingSource::ConfigurationFile)
            .unwrap();
        s.set("statement_timeout", "1s", false).unwrap();
        s.begin_transaction();
        s.set("statement_timeout", "2s", false).unwrap();
        s.reset_all();
        assert_eq!(s.get("statement_timeout").unwrap().unwrap(), "30s");
        s.end_transaction(false);
        assert_eq!(s.get("statement_timeout").unwrap().unwrap(), "1s");
        s.reset("statement_timeout").unwrap();
        assert_eq!(s.get("statement_timeout").unwrap().unwrap(), "30s");
        let d = s
            .describe()
            .into_iter()
            .find(|d| d.name == "statement_timeout")
            .unwrap();
        assert_eq!(
            (d.setting.as_str(), d.source, d.reset_val.as_str()),
            ("30000", "configuration file", "30000")
        );
        assert_eq!(
            s.set("server_version", "1", false).unwrap_err().sqlstate(),
            "55P02"
        );
        assert_eq!(
            s.set("client_min_messages", "loud", false)
                .unwrap_err()
                .sqlstate(),
            "22023"
        );
    }
}
