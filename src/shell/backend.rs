//! Where the shell's SQL goes: an embedded [`Session`] on a data directory,
//! or a server over the PostgreSQL wire protocol ([`super::remote`]). Both
//! report results as text tables and full command tags, so everything above
//! this seam prints the same way.

use super::format::{Column, Table};
use crate::error::Error;
use crate::session::{CopyMode, Session, StatementResult};
use crate::types::Value;
use std::io::Write;

/// An error as the shell prints it: PostgreSQL's fields, whichever backend
/// produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ShellError {
    pub fn new(code: &str, message: impl Into<String>) -> ShellError {
        ShellError {
            code: code.to_string(),
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// An error of the shell itself (bad arguments, unreadable files): 58030
    /// for I/O, as the engine uses it.
    pub fn io(message: impl Into<String>) -> ShellError {
        ShellError::new("58030", message)
    }

    /// The connection to the server is gone or could not be made.
    pub fn connection(message: impl Into<String>) -> ShellError {
        ShellError::new("08006", message)
    }

    /// Whether the connection is unusable (the shell exits with status 2).
    pub fn is_connection(&self) -> bool {
        self.code.starts_with("08")
    }
}

impl From<&Error> for ShellError {
    fn from(e: &Error) -> ShellError {
        ShellError {
            code: e.code.to_string(),
            message: e.message.clone(),
            detail: e.detail.clone(),
            hint: e.hint.clone(),
        }
    }
}

impl From<Error> for ShellError {
    fn from(e: Error) -> ShellError {
        ShellError::from(&e)
    }
}

pub type ShellResult<T> = std::result::Result<T, ShellError>;

/// The outcome of one statement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// PostgreSQL's command tag, e.g. `INSERT 0 3`, `CREATE TABLE`.
    pub tag: String,
    /// Result rows (SELECT, SHOW, EXPLAIN, RETURNING).
    pub table: Option<Table>,
    /// `COPY ... FROM STDIN` started: the backend waits for
    /// [`Backend::copy_data`] and [`Backend::copy_end`].
    pub copy_in: bool,
    /// `COPY ... TO STDOUT` ran; its data went to the writer given to
    /// [`Backend::execute`].
    pub copy_out: bool,
}

impl Outcome {
    /// The tag without its counts: `INSERT`, `CREATE TABLE`, ...
    pub fn command(&self) -> &str {
        self.tag
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ')
            .trim_end()
    }
}

/// Runs a function that cancels the statement running on the backend;
/// callable from another thread (the Ctrl-C handler).
pub type Canceller = Box<dyn Fn() + Send + Sync>;

/// The shell's view of a database connection.
pub trait Backend {
    /// Runs `sql` (normally one statement) and returns the outcome of each
    /// statement, stopping at the first error, which is then the last item.
    /// Data of `COPY ... TO STDOUT` is written to `copy_out`.
    fn execute(&mut self, sql: &str, copy_out: &mut dyn Write) -> Vec<ShellResult<Outcome>>;

    /// Sends data to the running `COPY ... FROM STDIN`.
    fn copy_data(&mut self, data: &[u8]) -> ShellResult<()>;

    /// Ends the running `COPY ... FROM STDIN`: completes it, or with
    /// `failure` abandons it. Returns its outcome (tag `COPY n`) and those of
    /// any statements that followed it in the same [`Backend::execute`] text.
    fn copy_end(&mut self, failure: Option<&str>) -> Vec<ShellResult<Outcome>>;

    /// A handle that cancels the running statement.
    fn canceller(&self) -> Canceller;

    /// Where the database is, for `\conninfo`: `on host "h" at port "p"`
    /// or `in the data directory "d"`.
    fn location(&self) -> String;

    /// Whether the database is open in this process (its background work,
    /// such as migrations, runs only while it is open).
    fn in_process(&self) -> bool {
        false
    }
}

/// The embedded backend: a [`Session`] on this process's database.
pub struct Embedded<'a> {
    session: &'a mut Session,
    description: String,
}

impl<'a> Embedded<'a> {
    /// `description` says where the database lives, e.g. `in the data
    /// directory "./data"` (for `\conninfo`).
    pub fn new(session: &'a mut Session, description: impl Into<String>) -> Embedded<'a> {
        Embedded {
            session,
            description: description.into(),
        }
    }
}

fn text_value(v: &Value) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

fn outcome(r: StatementResult, copy_out: &mut dyn Write) -> ShellResult<Outcome> {
    let tag = r.tag();
    match r.copy_mode() {
        Some(CopyMode::Out { .. }) => {
            for row in r.rows.iter().flat_map(|rows| rows.iter()) {
                if let Value::Bytea(line) = &row.values()[0] {
                    copy_out
                        .write_all(line)
                        .map_err(|e| ShellError::io(format!("could not write COPY data: {e}")))?;
                }
            }
            Ok(Outcome {
                tag: format!("COPY {}", r.affected),
                copy_out: true,
                ..Outcome::default()
            })
        }
        Some(CopyMode::In { .. }) => Ok(Outcome {
            tag,
            copy_in: true,
            ..Outcome::default()
        }),
        None => {
            let table = r.rows.as_ref().map(|rows| Table {
                columns: rows
                    .columns()
                    .iter()
                    .map(|c| Column {
                        name: c.name.clone(),
                        numeric: c.ty.is_numeric(),
                    })
                    .collect(),
                rows: rows
                    .iter()
                    .map(|row| row.values().iter().map(text_value).collect())
                    .collect(),
            });
            Ok(Outcome {
                tag,
                table,
                ..Outcome::default()
            })
        }
    }
}

impl Backend for Embedded<'_> {
    fn execute(&mut self, sql: &str, copy_out: &mut dyn Write) -> Vec<ShellResult<Outcome>> {
        let mut out = Vec::new();
        self.session.run_each(sql, &mut |r| {
            out.push(match r {
                Ok(r) => outcome(r, copy_out),
                Err(e) => Err(e.into()),
            })
        });
        out
    }

    fn copy_data(&mut self, data: &[u8]) -> ShellResult<()> {
        Ok(self.session.copy_data(data)?)
    }

    fn copy_end(&mut self, failure: Option<&str>) -> Vec<ShellResult<Outcome>> {
        let r = match failure {
            Some(msg) => Err(self.session.copy_fail(msg).into()),
            None => self
                .session
                .copy_done()
                .map_err(Into::into)
                .map(|n| Outcome {
                    tag: format!("COPY {n}"),
                    ..Outcome::default()
                }),
        };
        vec![r]
    }

    fn canceller(&self) -> Canceller {
        let h = self.session.cancel_handle();
        Box::new(move || h.cancel())
    }

    fn location(&self) -> String {
        self.description.clone()
    }

    fn in_process(&self) -> bool {
        true
    }
}
