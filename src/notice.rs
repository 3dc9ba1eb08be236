//! Notices: messages a statement sends besides its result, such as
//! PostgreSQL's `NOTICE:  table "t" does not exist, skipping` or
//! `WARNING:  there is no transaction in progress`.
//!
//! A notice has the fields of an [`Error`](crate::Error) (SQLSTATE, message,
//! detail, hint) plus a [`Severity`]. Statements raise them through the
//! session while they run; the session keeps those at or above the
//! `client_min_messages` setting (INFO always passes, as in PostgreSQL) and
//! hands them out with the statement's result
//! ([`StatementResult::notices`](crate::StatementResult::notices), or
//! [`Session::take_notices`](crate::Session::take_notices)); the wire server
//! sends each as a NoticeResponse before the statement's CommandComplete.

use crate::error::SqlState;
use std::fmt;

/// How serious a [`Notice`] is, least serious first (the order
/// `client_min_messages` filters by; PostgreSQL's DEBUG1..5 are one level here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Debug,
    Log,
    /// Sent whatever `client_min_messages` says.
    Info,
    Notice,
    Warning,
}

impl Severity {
    /// The severity as PostgreSQL spells it on the wire (`NOTICE`, `WARNING`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Debug => "DEBUG",
            Severity::Log => "LOG",
            Severity::Info => "INFO",
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
        }
    }

    /// Whether a message of this severity reaches a client whose
    /// `client_min_messages` is `min` (one of debug5..debug1, log, notice,
    /// warning, error; anything else counts as the default, notice).
    pub fn passes(&self, min: &str) -> bool {
        let floor = match min {
            "debug5" | "debug4" | "debug3" | "debug2" | "debug1" | "debug" => Severity::Debug,
            "log" => Severity::Log,
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            // Notices and warnings are below ERROR, so nothing passes.
            "error" => return *self == Severity::Info,
            _ => Severity::Notice,
        };
        *self == Severity::Info || *self >= floor
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message a statement sent besides its result (PostgreSQL's NoticeResponse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub severity: Severity,
    /// The SQLSTATE: `00000` for plain notices, a warning or error class otherwise
    /// (e.g. `42P07` for `relation "t" already exists, skipping`).
    pub code: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Notice {
    pub fn new(severity: Severity, code: SqlState, message: impl Into<String>) -> Notice {
        Notice {
            severity,
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// A NOTICE with SQLSTATE 00000.
    pub fn plain(message: impl Into<String>) -> Notice {
        Notice::new(Severity::Notice, SqlState::SUCCESSFUL_COMPLETION, message)
    }

    /// A WARNING with the given SQLSTATE.
    pub fn warning(code: SqlState, message: impl Into<String>) -> Notice {
        Notice::new(Severity::Warning, code, message)
    }

    pub fn with_code(mut self, code: SqlState) -> Notice {
        self.code = code;
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Notice {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Notice {
        self.hint = Some(hint.into());
        self
    }

    /// The SQLSTATE as a string, e.g. `"25P01"`.
    pub fn sqlstate(&self) -> &str {
        self.code.code()
    }
}

/// psql's default rendering: `NOTICE:  message`, then `DETAIL:  ...` and
/// `HINT:  ...` lines when present.
impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:  {}", self.severity, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, "\nDETAIL:  {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nHINT:  {h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_min_messages_filter() {
        assert!(Severity::Notice.passes("notice"));
        assert!(Severity::Warning.passes("notice"));
        assert!(!Severity::Notice.passes("warning"));
        assert!(!Severity::Warning.passes("error"));
        assert!(Severity::Info.passes("error"));
        assert!(!Severity::Log.passes("notice"));
        assert!(Severity::Log.passes("debug1"));
    }

    #[test]
    fn display_like_psql() {
        let n = Notice::plain("drop cascades to 2 other objects")
            .with_detail("drop cascades to view v\ndrop cascades to view w");
        assert_eq!(
            n.to_string(),
            "NOTICE:  drop cascades to 2 other objects\nDETAIL:  drop cascades to view v\ndrop cascades to view w"
        );
        assert_eq!(n.sqlstate(), "00000");
    }
}
