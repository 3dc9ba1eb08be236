//! `pg_settings`: the session's configuration parameters with PostgreSQL's
//! columns. The session describes its parameters ([`SettingRow`]); the rows
//! are built when the plan runs, so they always show the current values.

use super::{Builder, SystemTable, opt_text, text};
use crate::types::{DataType, Value};

/// One parameter as `pg_settings` shows it.
#[derive(Clone, Debug)]
pub struct SettingRow {
    /// PostgreSQL's spelling (`DateStyle`), or a custom name as set.
    pub name: String,
    /// The current value (time parameters in their unit, milliseconds).
    pub setting: String,
    pub unit: Option<&'static str>,
    pub category: &'static str,
    pub short_desc: &'static str,
    pub extra_desc: Option<&'static str>,
    /// `user` (anyone may SET it) or `internal` (fixed).
    pub context: &'static str,
    /// `bool`, `enum`, `integer`, `real` or `string`.
    pub vartype: &'static str,
    /// `default`, `configuration file`, `client` or `session`.
    pub source: &'static str,
    pub min_val: Option<&'static str>,
    pub max_val: Option<&'static str>,
    pub enumvals: Option<&'static [&'static str]>,
    pub boot_val: Option<String>,
    pub reset_val: String,
}

/// The relation's columns; its rows come from [`settings_rows`].
pub(super) fn pg_settings() -> SystemTable {
    let t = DataType::Text;
    Builder::new(&[
        ("name", t.clone()),
        ("setting", t.clone()),
        ("unit", t.clone()),
        ("category", t.clone()),
        ("short_desc", t.clone()),
        ("extra_desc", t.clone()),
        ("context", t.clone()),
        ("vartype", t.clone()),
        ("source", t.clone()),
        ("min_val", t.clone()),
        ("max_val", t.clone()),
        ("enumvals", DataType::Array(Box::new(t.clone()))),
        ("boot_val", t.clone()),
        ("reset_val", t.clone()),
        ("sourcefile", t.clone()),
        ("sourceline", DataType::Int4),
        ("pending_restart", DataType::Bool),
    ])
    .session("pg_settings")
}

/// The rows of `pg_settings` for the given parameters.
pub fn settings_rows(settings: Vec<SettingRow>) -> Vec<Vec<Value>> {
    settings
        .into_iter()
        .map(|s| {
            vec![
                text(s.name),
                text(s.setting),
                opt_text(s.unit),
                text(s.category),
                text(s.short_desc),
                opt_text(s.extra_desc),
                text(s.context),
                text(s.vartype),
                text(s.source),
                opt_text(s.min_val),
                opt_text(s.max_val),
                s.enumvals
                    .map(|v| Value::Array(DataType::Text, v.iter().map(|e| text(*e)).collect()))
                    .unwrap_or(Value::Null),
                opt_text(s.boot_val),
                text(s.reset_val),
                Value::Null,
                Value::Null,
                Value::Bool(false),
            ]
        })
        .collect()
}
