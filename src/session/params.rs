//! The built-in configuration parameters: PostgreSQL's name, default and the
//! descriptive columns `pg_settings` and `SHOW ALL` report (taken from
//! PostgreSQL 15). Values and validation live in `settings`.

/// One built-in parameter.
pub(super) struct Param {
    /// PostgreSQL's spelling (`DateStyle`); names match case-insensitively.
    pub name: &'static str,
    pub default: &'static str,
    /// `bool`, `enum`, `integer`, `real` or `string`.
    pub vartype: &'static str,
    /// The unit of an integer parameter's `pg_settings.setting` (`ms`).
    pub unit: Option<&'static str>,
    /// `user` (anyone may SET it) or `internal` (fixed).
    pub context: &'static str,
    pub category: &'static str,
    pub short_desc: &'static str,
    pub extra_desc: Option<&'static str>,
    pub min: Option<&'static str>,
    pub max: Option<&'static str>,
    pub enumvals: &'static [&'static str],
}

const LOCALE: &str = "Client Connection Defaults / Locale and Formatting";
const STATEMENT: &str = "Client Connection Defaults / Statement Behavior";
const PRESET: &str = "Preset Options";
const TIMEOUT_OFF: Option<&str> = Some("A value of 0 turns off the timeout.");
const ISOLATION_LEVELS: &[&str] = &[
    "serializable",
    "repeatable read",
    "read committed",
    "read uncommitted",
];

const fn param(name: &'static str, default: &'static str, vartype: &'static str) -> Param {
    Param {
        name,
        default,
        vartype,
        unit: None,
        context: "user",
        category: STATEMENT,
        short_desc: "",
        extra_desc: None,
        min: None,
        max: None,
        enumvals: &[],
    }
}

const fn timeout(name: &'static str, short_desc: &'static str) -> Param {
    Param {
        unit: Some("ms"),
        short_desc,
        extra_desc: TIMEOUT_OFF,
        min: Some("0"),
        max: Some("2147483647"),
        ..param(name, "0", "integer")
    }
}

/// Every built-in parameter, sorted by lower-case name.
pub(super) const PARAMS: &[Param] = &[
    Param {
        category: "Reporting and Logging / What to Log",
        short_desc: "Sets the application name to be reported in statistics and logs.",
        ..param("application_name", "", "string")
    },
    Param {
        category: LOCALE,
        short_desc: "Sets the client's character set encoding.",
        ..param("client_encoding", "UTF8", "string")
    },
    Param {
        short_desc: "Sets the message levels that are sent to the client.",
        extra_desc: Some(
            "Each level includes all the levels that follow it. The later the level, the fewer messages are sent.",
        ),
        enumvals: &[
            "debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice", "warning", "error",
        ],
        ..param("client_min_messages", "notice", "enum")
    },
    Param {
        category: LOCALE,
        short_desc: "Sets the display format for date and time values.",
        extra_desc: Some("Also controls interpretation of ambiguous date inputs."),
        ..param("DateStyle", "ISO, MDY", "string")
    },
    Param {
        short_desc: "Sets the default table access method for new tables.",
        ..param("default_table_access_method", "heap", "string")
    },
    Param {
        short_desc: "Sets the default read-only status of new transactions.",
        ..param("default_transaction_read_only", "off", "bool")
    },
    Param {
        short_desc: "Sets the transaction isolation level of each new transaction.",
        enumvals: ISOLATION_LEVELS,
        ..param("default_transaction_isolation", "read committed", "enum")
    },
    Param {
        category: LOCALE,
        short_desc: "Sets the number of digits displayed for floating-point values.",
        extra_desc: Some(
            "This affects real, double precision, and geometric data types. A zero or negative parameter value is added to the standard number of digits (FLT_DIG or DBL_DIG as appropriate). Any value greater than zero selects precise output mode.",
        ),
        min: Some("-15"),
        max: Some("3"),
        ..param("extra_float_digits", "1", "integer")
    },
    timeout(
        "idle_in_transaction_session_timeout",
        "Sets the maximum allowed idle time between queries, when in a transaction.",
    ),
    timeout(
        "idle_session_timeout",
        "Sets the maximum allowed idle time between queries, when not in a transaction.",
    ),
    Param {
        context: "internal",
        category: PRESET,
        short_desc: "Shows whether datetimes are integer based.",
        ..param("integer_datetimes", "on", "bool")
    },
    Param {
        category: LOCALE,
        short_desc: "Sets the display format for interval values.",
        enumvals: &["postgres", "postgres_verbose", "sql_standard", "iso_8601"],
        ..param("IntervalStyle", "postgres", "enum")
    },
    Param {
        short_desc: "Enable row security.",
        extra_desc: Some("When enabled, row security will be applied to all users."),
        ..param("row_security", "on", "bool")
    },
    Param {
        short_desc: "Sets the schema search order for names that are not schema-qualified.",
        ..param("search_path", "\"$user\", public", "string")
    },
    Param {
        context: "internal",
        category: PRESET,
        short_desc: "Shows the server (database) character set encoding.",
        ..param("server_encoding", "UTF8", "string")
    },
    Param {
        context: "internal",
        category: PRESET,
        short_desc: "Shows the server version.",
        ..param(
            "server_version",
            concat!("16.0 (HeliosDB Nano ", env!("CARGO_PKG_VERSION"), ")"),
            "string",
        )
    },
    Param {
        context: "internal",
        category: PRESET,
        short_desc: "Shows the server version as an integer.",
        min: Some("160000"),
        max: Some("160000"),
        ..param("server_version_num", "160000", "integer")
    },
    Param {
        category: "Version and Platform Compatibility / Previous PostgreSQL Versions",
        short_desc: "Causes '...' strings to treat backslashes literally.",
        ..param("standard_conforming_strings", "on", "bool")
    },
    timeout(
        "statement_timeout",
        "Sets the maximum allowed duration of any statement.",
    ),
    Param {
        category: "Write-Ahead Log / Settings",
        short_desc: "Sets the current transaction's synchronization level.",
        enumvals: &["local", "remote_write", "remote_apply", "on", "off"],
        ..param("synchronous_commit", "on", "enum")
    },
    Param {
        category: LOCALE,
        short_desc: "Sets the time zone for displaying and interpreting time stamps.",
        ..param("TimeZone", "UTC", "string")
    },
    Param {
        short_desc: "Sets the current transaction's isolation level.",
        enumvals: ISOLATION_LEVELS,
        ..param("transaction_isolation", "read committed", "enum")
    },
    Param {
        short_desc: "Sets the current transaction's read-only status.",
        ..param("transaction_read_only", "off", "bool")
    },
];

/// The built-in parameter called `name` (any case).
pub(super) fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}
