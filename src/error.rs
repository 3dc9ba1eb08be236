//! One error type for the whole engine.
//!
//! Every error carries a PostgreSQL SQLSTATE, a message and, where useful, a
//! detail and a hint. The embedded API returns exactly this value and the wire
//! protocol sends exactly these fields, so a client sees the same SQLSTATE
//! whichever way it reaches the database. User mistakes never surface as the
//! generic `XX000`; that code is reserved for broken invariants and I/O
//! failures the user cannot fix.

use std::fmt;

/// A PostgreSQL SQLSTATE code (five characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState([u8; 5]);

impl SqlState {
    pub const SUCCESSFUL_COMPLETION: SqlState = SqlState::new("00000");
    pub const INVALID_FUNCTION_DEFINITION: SqlState = SqlState::new("42P13");
    pub const DUPLICATE_FUNCTION: SqlState = SqlState::new("42723");
    pub const INVALID_RECURSION: SqlState = SqlState::new("42P19");
    pub const WARNING_PRIVILEGE_NOT_GRANTED: SqlState = SqlState::new("01007");
    pub const WARNING_PRIVILEGE_NOT_REVOKED: SqlState = SqlState::new("01006");
    pub const WARNING: SqlState = SqlState::new("01000");
    pub const FEATURE_NOT_SUPPORTED: SqlState = SqlState::new("0A000");
    pub const INVALID_GRANT_OPERATION: SqlState = SqlState::new("0LP01");
    pub const CARDINALITY_VIOLATION: SqlState = SqlState::new("21000");
    pub const DATA_EXCEPTION: SqlState = SqlState::new("22000");
    pub const STRING_DATA_RIGHT_TRUNCATION: SqlState = SqlState::new("22001");
    pub const NUMERIC_VALUE_OUT_OF_RANGE: SqlState = SqlState::new("22003");
    pub const INVALID_PRECEDING_OR_FOLLOWING_SIZE: SqlState = SqlState::new("22013");
    pub const INVALID_ARGUMENT_FOR_NTILE: SqlState = SqlState::new("22014");
    pub const INVALID_ARGUMENT_FOR_NTH_VALUE: SqlState = SqlState::new("22016");
    pub const WINDOWING_ERROR: SqlState = SqlState::new("42P20");
    pub const NULL_VALUE_NOT_ALLOWED: SqlState = SqlState::new("22004");
    pub const INVALID_DATETIME_FORMAT: SqlState = SqlState::new("22007");
    pub const DATETIME_FIELD_OVERFLOW: SqlState = SqlState::new("22008");
    pub const INVALID_ESCAPE_SEQUENCE: SqlState = SqlState::new("22025");
    pub const DIVISION_BY_ZERO: SqlState = SqlState::new("22012");
    pub const SEQUENCE_GENERATOR_LIMIT_EXCEEDED: SqlState = SqlState::new("2200H");
    pub const INVALID_PARAMETER_VALUE: SqlState = SqlState::new("22023");
    pub const INVALID_REGULAR_EXPRESSION: SqlState = SqlState::new("2201B");
    pub const INVALID_TEXT_REPRESENTATION: SqlState = SqlState::new("22P02");
    pub const INVALID_BINARY_REPRESENTATION: SqlState = SqlState::new("22P03");
    pub const INVALID_JSON_TEXT: SqlState = SqlState::new("22032");
    pub const INVALID_ROW_COUNT_IN_LIMIT: SqlState = SqlState::new("2201W");
    pub const INVALID_ROW_COUNT_IN_OFFSET: SqlState = SqlState::new("2201X");
    pub const INTEGRITY_CONSTRAINT_VIOLATION: SqlState = SqlState::new("23000");
    pub const NOT_NULL_VIOLATION: SqlState = SqlState::new("23502");
    pub const FOREIGN_KEY_VIOLATION: SqlState = SqlState::new("23503");
    pub const UNIQUE_VIOLATION: SqlState = SqlState::new("23505");
    pub const CHECK_VIOLATION: SqlState = SqlState::new("23514");
    pub const INVALID_TRANSACTION_STATE: SqlState = SqlState::new("25000");
    pub const WITH_CHECK_OPTION_VIOLATION: SqlState = SqlState::new("44000");
    pub const ACTIVE_SQL_TRANSACTION: SqlState = SqlState::new("25001");
    pub const NO_ACTIVE_SQL_TRANSACTION: SqlState = SqlState::new("25P01");
    pub const IN_FAILED_SQL_TRANSACTION: SqlState = SqlState::new("25P02");
    pub const READ_ONLY_SQL_TRANSACTION: SqlState = SqlState::new("25006");
    pub const INVALID_SQL_STATEMENT_NAME: SqlState = SqlState::new("26000");
    pub const INVALID_CURSOR_NAME: SqlState = SqlState::new("34000");
    pub const DUPLICATE_CURSOR: SqlState = SqlState::new("42P03");
    pub const INVALID_CURSOR_STATE: SqlState = SqlState::new("24000");
    pub const DUPLICATE_PREPARED_STATEMENT: SqlState = SqlState::new("42P05");
    pub const INVALID_SAVEPOINT_SPECIFICATION: SqlState = SqlState::new("3B001");
    pub const SERIALIZATION_FAILURE: SqlState = SqlState::new("40001");
    pub const DEADLOCK_DETECTED: SqlState = SqlState::new("40P01");
    pub const RESERVED_NAME: SqlState = SqlState::new("42939");
    pub const OBJECT_IN_USE: SqlState = SqlState::new("55006");
    pub const CANT_CHANGE_RUNTIME_PARAM: SqlState = SqlState::new("55P02");
    pub const INVALID_ARGUMENT_FOR_POWER: SqlState = SqlState::new("2201F");
    pub const INVALID_ARGUMENT_FOR_LOG: SqlState = SqlState::new("2201E");
    pub const SUBSTRING_ERROR: SqlState = SqlState::new("22011");
    pub const GENERATED_ALWAYS: SqlState = SqlState::new("428C9");
    pub const SYNTAX_ERROR: SqlState = SqlState::new("42601");
    pub const INSUFFICIENT_PRIVILEGE: SqlState = SqlState::new("42501");
    pub const UNDEFINED_COLUMN: SqlState = SqlState::new("42703");
    pub const AMBIGUOUS_COLUMN: SqlState = SqlState::new("42702");
    pub const GROUPING_ERROR: SqlState = SqlState::new("42803");
    pub const DATATYPE_MISMATCH: SqlState = SqlState::new("42804");
    pub const UNDEFINED_FUNCTION: SqlState = SqlState::new("42883");
    pub const UNDEFINED_TABLE: SqlState = SqlState::new("42P01");
    pub const UNDEFINED_PARAMETER: SqlState = SqlState::new("42P02");
    pub const UNDEFINED_OBJECT: SqlState = SqlState::new("42704");
    pub const UNDEFINED_SCHEMA: SqlState = SqlState::new("3F000");
    pub const DUPLICATE_ALIAS: SqlState = SqlState::new("42712");
    pub const AMBIGUOUS_ALIAS: SqlState = SqlState::new("42P09");
    pub const DUPLICATE_COLUMN: SqlState = SqlState::new("42701");
    pub const DUPLICATE_TABLE: SqlState = SqlState::new("42P07");
    pub const INVALID_OBJECT_DEFINITION: SqlState = SqlState::new("42P17");
    pub const DUPLICATE_SCHEMA: SqlState = SqlState::new("42P06");
    pub const DUPLICATE_DATABASE: SqlState = SqlState::new("42P04");
    pub const DUPLICATE_OBJECT: SqlState = SqlState::new("42710");
    pub const AMBIGUOUS_FUNCTION: SqlState = SqlState::new("42725");
    pub const INVALID_COLUMN_REFERENCE: SqlState = SqlState::new("42P10");
    pub const INVALID_TABLE_DEFINITION: SqlState = SqlState::new("42P16");
    pub const INVALID_FOREIGN_KEY: SqlState = SqlState::new("42830");
    pub const WRONG_OBJECT_TYPE: SqlState = SqlState::new("42809");
    pub const INVALID_COLUMN_DEFINITION: SqlState = SqlState::new("42611");
    pub const CANNOT_COERCE: SqlState = SqlState::new("42846");
    pub const INDETERMINATE_DATATYPE: SqlState = SqlState::new("42P18");
    pub const DEPENDENT_OBJECTS_STILL_EXIST: SqlState = SqlState::new("2BP01");
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: SqlState = SqlState::new("55000");
    pub const LOCK_NOT_AVAILABLE: SqlState = SqlState::new("55P03");
    pub const PROGRAM_LIMIT_EXCEEDED: SqlState = SqlState::new("54000");
    pub const STATEMENT_TOO_COMPLEX: SqlState = SqlState::new("54001");
    pub const TOO_MANY_COLUMNS: SqlState = SqlState::new("54011");
    pub const PROTOCOL_VIOLATION: SqlState = SqlState::new("08P01");
    pub const QUERY_CANCELED: SqlState = SqlState::new("57014");
    pub const ADMIN_SHUTDOWN: SqlState = SqlState::new("57P01");
    pub const CONFIG_FILE_ERROR: SqlState = SqlState::new("F0000");
    pub const BAD_COPY_FILE_FORMAT: SqlState = SqlState::new("22P04");
    pub const IDLE_SESSION_TIMEOUT: SqlState = SqlState::new("57P05");
    pub const IDLE_IN_TRANSACTION_SESSION_TIMEOUT: SqlState = SqlState::new("25P03");
    pub const CHARACTER_NOT_IN_REPERTOIRE: SqlState = SqlState::new("22021");
    pub const INVALID_AUTHORIZATION_SPECIFICATION: SqlState = SqlState::new("28000");
    pub const INVALID_PASSWORD: SqlState = SqlState::new("28P01");
    pub const INVALID_CATALOG_NAME: SqlState = SqlState::new("3D000");
    pub const DISK_FULL: SqlState = SqlState::new("53100");
    pub const TOO_MANY_CONNECTIONS: SqlState = SqlState::new("53300");
    pub const CONFIGURATION_LIMIT_EXCEEDED: SqlState = SqlState::new("53400");
    pub const IO_ERROR: SqlState = SqlState::new("58030");
    pub const DATA_CORRUPTED: SqlState = SqlState::new("XX001");
    pub const INTERNAL_ERROR: SqlState = SqlState::new("XX000");
    pub const FUNCTION_EXECUTED_NO_RETURN_STATEMENT: SqlState = SqlState::new("2F005");
    pub const ERROR_IN_ASSIGNMENT: SqlState = SqlState::new("22005");
    pub const RAISE_EXCEPTION: SqlState = SqlState::new("P0001");
    pub const NO_DATA_FOUND: SqlState = SqlState::new("P0002");
    pub const TOO_MANY_ROWS: SqlState = SqlState::new("P0003");

    /// A SQLSTATE from its five characters (digits or upper-case letters;
    /// anything else, or another length, is an internal-error code).
    pub const fn new(code: &str) -> SqlState {
        let b = code.as_bytes();
        if b.len() != 5 {
            return SqlState(*b"XX000");
        }
        let mut i = 0;
        while i < 5 {
            if !b[i].is_ascii_digit() && !b[i].is_ascii_uppercase() {
                return SqlState(*b"XX000");
            }
            i += 1;
        }
        SqlState([b[0], b[1], b[2], b[3], b[4]])
    }

    /// The five-character code, e.g. `"23505"`.
    pub fn code(&self) -> &str {
        // Only ASCII digits and letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XX000")
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error from any layer of HeliosDB Nano.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    /// The SQLSTATE clients match on.
    pub code: SqlState,
    /// The primary, human-readable message (PostgreSQL's wording where one exists).
    pub message: String,
    /// Optional secondary detail, e.g. the conflicting key of a unique violation.
    pub detail: Option<String>,
    /// Optional hint on how to fix the problem.
    pub hint: Option<String>,
}

/// The result type of every fallible operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: SqlState, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// The SQLSTATE as a string, e.g. `"42P01"`.
    pub fn sqlstate(&self) -> &str {
        self.code.code()
    }

    /// True for errors where retrying the whole transaction may succeed
    /// (serialization failures and deadlocks).
    pub fn is_retryable(&self) -> bool {
        self.code == SqlState::SERIALIZATION_FAILURE || self.code == SqlState::DEADLOCK_DETECTED
    }

    pub fn syntax(message: impl Into<String>) -> Error {
        Error::new(SqlState::SYNTAX_ERROR, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(SqlState::FEATURE_NOT_SUPPORTED, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(SqlState::INTERNAL_ERROR, message)
    }

    pub fn io(message: impl Into<String>) -> Error {
        Error::new(SqlState::IO_ERROR, message)
    }

    pub fn corrupted(message: impl Into<String>) -> Error {
        Error::new(SqlState::DATA_CORRUPTED, message)
    }

    pub fn invalid_text(type_name: &str, input: &str) -> Error {
        Error::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type {type_name}: \"{input}\""),
        )
    }

    pub fn out_of_range(type_name: &str) -> Error {
        Error::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("{type_name} out of range"),
        )
    }

    pub fn division_by_zero() -> Error {
        Error::new(SqlState::DIVISION_BY_ZERO, "division by zero")
    }

    pub fn undefined_table(name: &str) -> Error {
        Error::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    }

    pub fn undefined_column(name: &str) -> Error {
        Error::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{name}\" does not exist"),
        )
    }

    pub fn serialization_failure() -> Error {
        Error::new(
            SqlState::SERIALIZATION_FAILURE,
            "could not serialize access due to concurrent update",
        )
    }

    pub fn aborted_transaction() -> Error {
        Error::new(
            SqlState::IN_FAILED_SQL_TRANSACTION,
            "current transaction is aborted, commands ignored until end of transaction block",
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(d) = &self.detail {
            write!(f, " DETAIL: {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " HINT: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Builds an [`Error`] with a SQLSTATE constant and a format string:
/// `err!(UNDEFINED_TABLE, "relation \"{}\" does not exist", name)`.
#[macro_export]
macro_rules! err {
    ($code:ident, $($arg:tt)+) => {
        $crate::error::Error::new($crate::error::SqlState::$code, format!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_display() {
        let e = Error::undefined_table("t").with_hint("create it");
        assert_eq!(e.sqlstate(), "42P01");
        assert_eq!(e.to_string(), "relation \"t\" does not exist");
        assert!(format!("{e:?}").contains("HINT: create it"));
        assert!(Error::serialization_failure().is_retryable());
        let e = err!(SYNTAX_ERROR, "at {}", 3);
        assert_eq!(e.code, SqlState::SYNTAX_ERROR);
        assert_eq!(e.message, "at 3");
    }
}
