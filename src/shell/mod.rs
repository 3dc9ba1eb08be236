//! The `heliosdb shell`: a psql-like client for an embedded data directory
//! or a running server.
//!
//! * [`scan`] splits input into statements (ending at `;` outside quotes,
//!   dollar quotes, comments and parentheses) and backslash commands.
//! * [`backend`] is the seam between the shell and a database: the embedded
//!   [`Embedded`] backend runs a [`crate::session::Session`], [`Remote`]
//!   speaks the wire protocol to `heliosdb serve` (or any PostgreSQL server).
//! * [`format`] prints results as psql does (aligned, expanded, CSV).
//! * [`meta`] runs the backslash commands; [`describe`] the `\d` family as
//!   catalog queries, so they work the same on either backend; [`copy`] runs
//!   `\copy` with a progress bar on terminals.
//! * [`migrate`] follows a tenant migration (`heliosdb migrate`, and the
//!   prompt after `SELECT helios.start_migration(...)` on a terminal).
//!
//! Input comes from `-c`, `-f FILE`, a script on stdin, or an interactive
//! prompt with history. In a script the first error stops the shell (exit
//! status 1, or 2 when the connection to the server is lost); at the
//! prompt errors are printed and the session goes on.

pub mod backend;
mod copy;
mod describe;
pub mod format;
mod interactive;
mod meta;
pub mod migrate;
pub mod remote;
pub mod scan;

pub use backend::{Backend, Embedded, Outcome, ShellError};
pub use format::Format;
pub use remote::{ConnParams, Remote};

use crate::error::Error;
use scan::{Item, Scanner};
use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub format: Format,
    /// `-c`: run this (SQL and backslash commands) and exit.
    pub command: Option<String>,
    /// `-f`: run this file and exit.
    pub file: Option<PathBuf>,
}

/// Prints an engine error the way scripts expect: `ERROR: message`, then
/// `DETAIL:`/`HINT:` lines when present, then the SQLSTATE.
pub fn print_error(err: &mut dyn Write, e: &Error) -> io::Result<()> {
    print_shell_error(err, &ShellError::from(e), "")
}

/// [`print_error`] of a shell error, its first line after `prefix`.
pub(crate) fn print_shell_error(
    err: &mut dyn Write,
    e: &ShellError,
    prefix: &str,
) -> io::Result<()> {
    writeln!(err, "{prefix}ERROR: {}", e.message)?;
    if let Some(d) = &e.detail {
        writeln!(err, "DETAIL: {d}")?;
    }
    if let Some(h) = &e.hint {
        writeln!(err, "HINT: {h}")?;
    }
    writeln!(err, "SQLSTATE: {}", e.code)
}

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A database error (printed with its SQLSTATE).
    Sql(ShellError),
    /// A shell message such as `invalid command \foo. Try \? for help.`
    Message(String),
}

impl From<ShellError> for Failure {
    fn from(e: ShellError) -> Failure {
        Failure::Sql(e)
    }
}

impl Failure {
    fn exit_code(&self) -> i32 {
        match self {
            Failure::Sql(e) if e.is_connection() => 2,
            _ => 1,
        }
    }

    fn print(&self) {
        let mut err = io::stderr().lock();
        let _ = match self {
            Failure::Sql(e) => print_shell_error(&mut err, e, ""),
            Failure::Message(m) => writeln!(err, "{m}"),
        };
    }
}

/// How a run of input ended.
#[derive(Debug)]
pub(crate) enum Flow {
    /// End of input.
    Done,
    /// `\q`.
    Quit,
    /// A script stopped at this failure (already printed).
    Failed(i32),
}

/// One line of input, or why there is none.
pub(crate) enum Input {
    Line(String),
    /// Ctrl-C at the prompt: drop the current input.
    Interrupted,
    Eof,
}

/// Where lines come from: a script or the interactive editor.
pub(crate) trait LineSource {
    fn read_line(&mut self, prompt: &str) -> Input;
    /// Remembers a complete statement or command (history).
    fn remember(&mut self, _entry: &str) {}
}

/// Lines of a script (a file, stdin, or the `-c` text).
pub(crate) struct Script<R: BufRead> {
    reader: R,
    /// A read error ends the script; it is reported once.
    error: Option<String>,
}

impl<R: BufRead> Script<R> {
    pub(crate) fn new(reader: R) -> Script<R> {
        Script {
            reader,
            error: None,
        }
    }
}

impl<R: BufRead> LineSource for Script<R> {
    fn read_line(&mut self, _prompt: &str) -> Input {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Input::Eof,
            Ok(_) => {
                if line.ends_with('\n') {
                    line.pop();
                    if line.ends_with('\r') {
                        line.pop();
                    }
                }
                Input::Line(line)
            }
            Err(e) => {
                self.error = Some(e.to_string());
                eprintln!("could not read input: {e}");
                Input::Eof
            }
        }
    }
}

/// The shell's state: backend, output settings, and the `\g` memory.
pub(crate) struct Shell<'a> {
    backend: &'a mut dyn Backend,
    format: Format,
    expanded: bool,
    timing: bool,
    interactive: bool,
    /// Nesting of `\i` files (bounded, so a file including itself stops).
    depth: usize,
    /// The last statement sent, for `\g` with an empty buffer.
    last: Option<String>,
    /// `COPY ... FROM STDIN` in `-c` reads the process's standard input.
    copy_from_stdin: bool,
}

/// psql's timing line: `Time: 1.234 ms`, plus `(mm:ss.sss)` from a second on.
fn timing_line(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        return format!("Time: {ms:.3} ms");
    }
    let secs = d.as_secs_f64();
    let minutes = (secs / 60.0).floor();
    let rest = secs - minutes * 60.0;
    if minutes < 60.0 {
        format!("Time: {ms:.3} ms ({minutes:02.0}:{rest:06.3})")
    } else {
        let hours = (minutes / 60.0).floor();
        let minutes = minutes - hours * 60.0;
        format!("Time: {ms:.3} ms ({hours:02.0}:{minutes:02.0}:{rest:06.3})")
    }
}

impl<'a> Shell<'a> {
    pub(crate) fn new(
        backend: &'a mut dyn Backend,
        format: Format,
        interactive: bool,
    ) -> Shell<'a> {
        Shell {
            backend,
            format,
            expanded: false,
            timing: false,
            interactive,
            depth: 0,
            last: None,
            copy_from_stdin: false,
        }
    }

    /// Reports a failure; in a script it ends the run.
    fn fail(&self, f: Failure) -> Option<Flow> {
        f.print();
        if f.exit_code() == 2 || !self.interactive || self.depth > 0 {
            Some(Flow::Failed(f.exit_code()))
        } else {
            None
        }
    }

    /// Runs everything `src` yields.
    pub(crate) fn run(&mut self, src: &mut dyn LineSource) -> Flow {
        let mut scanner = Scanner::new();
        let mut entry = String::new();
        loop {
            let prompt = format!("heliosdb{}> ", scanner.prompt_char());
            let line = match src.read_line(&prompt) {
                Input::Line(l) => l,
                Input::Interrupted => {
                    scanner.reset();
                    entry.clear();
                    continue;
                }
                Input::Eof => break,
            };
            // psql's bare `quit` / `exit` at the prompt.
            let word = line.trim().trim_end_matches(';').trim_end();
            if self.interactive
                && self.depth == 0
                && scanner.is_empty()
                && matches!(word, "quit" | "exit")
            {
                return Flow::Quit;
            }
            if !entry.is_empty() {
                entry.push('\n');
            }
            entry.push_str(&line);
            let items = scanner.feed_line(&line);
            if !items.is_empty() || scanner.is_empty() {
                if !entry.trim().is_empty() {
                    src.remember(&entry);
                }
                entry.clear();
            }
            for item in items {
                let r = match item {
                    Item::Statement(sql) => self.statement(&sql, src),
                    Item::Meta(cmd) => self.meta(&cmd, &mut scanner, src),
                };
                match r {
                    Ok(None) => {}
                    Ok(Some(flow)) => return flow,
                    Err(f) => {
                        if let Some(flow) = self.fail(f) {
                            return flow;
                        }
                    }
                }
            }
        }
        // Like psql, a script's last statement needs no `;` (at the prompt,
        // Ctrl-D drops an unfinished statement).
        let script = !self.interactive || self.depth > 0;
        if script
            && let Some(sql) = scanner.take()
            && let Err(f) = self.statement(&sql, src)
            && let Some(flow) = self.fail(f)
        {
            return flow;
        }
        Flow::Done
    }

    /// Sends one statement and prints its results.
    fn statement(&mut self, sql: &str, src: &mut dyn LineSource) -> Result<Option<Flow>, Failure> {
        self.last = Some(sql.to_string());
        let start = Instant::now();
        let stdout = io::stdout();
        let mut out = stdout.lock();
        let mut queue: VecDeque<_> = self.backend.execute(sql, &mut out).into();
        let mut result = Ok(None);
        let mut migration = None;
        while let Some(r) = queue.pop_front() {
            match r {
                Ok(o) if o.copy_in => {
                    let _ = out.flush();
                    drop(out);
                    queue.extend(self.copy_from_input(src));
                    out = stdout.lock();
                }
                Ok(o) => {
                    self.print_outcome(&mut out, &o);
                    migration = migrate::started_id(sql, &o);
                }
                Err(e) => {
                    result = Err(Failure::Sql(e));
                    break;
                }
            }
        }
        if self.timing {
            let _ = writeln!(out, "{}", timing_line(start.elapsed()));
        }
        let _ = out.flush();
        drop(out);
        // At the prompt, a migration just started is followed.
        if let Some(id) = migration
            && result.is_ok()
            && self.interactive
            && self.depth == 0
            && let Err(e) = migrate::follow_in_shell(self.backend, id)
        {
            result = Err(Failure::Sql(e));
        }
        result
    }

    /// Feeds a `COPY ... FROM STDIN` with lines up to `\.` or the end of input.
    fn copy_from_input(&mut self, src: &mut dyn LineSource) -> Vec<Result<Outcome, ShellError>> {
        if self.interactive && !self.copy_from_stdin {
            println!(
                "Enter data to be copied followed by a newline.\n\
                 End with a backslash and a period on a line by itself, or an EOF signal."
            );
        }
        let mut stdin_src;
        let src: &mut dyn LineSource = if self.copy_from_stdin {
            stdin_src = Script::new(io::stdin().lock());
            &mut stdin_src
        } else {
            src
        };
        // After an error the rest of the data (up to `\.`) is skipped, so
        // it is not taken for SQL.
        let mut failed = None;
        loop {
            match src.read_line(">> ") {
                Input::Line(l) if l == "\\." => break,
                Input::Line(_) if failed.is_some() => {}
                Input::Line(mut l) => {
                    l.push('\n');
                    if let Err(e) = self.backend.copy_data(l.as_bytes()) {
                        failed = Some(e);
                    }
                }
                Input::Interrupted if failed.is_none() => {
                    return self.backend.copy_end(Some("canceled by user"));
                }
                Input::Interrupted | Input::Eof => break,
            }
        }
        match failed {
            Some(e) => vec![Err(e)],
            None => self.backend.copy_end(None),
        }
    }

    fn print_outcome(&self, out: &mut dyn Write, o: &Outcome) {
        let _ = match (&o.table, self.format) {
            (Some(t), Format::Aligned) => {
                let text = if self.expanded {
                    format::expanded(t)
                } else {
                    format::aligned(t, None, true)
                };
                // Like psql, data-changing statements with RETURNING also
                // print their tag.
                let tag = matches!(o.command(), "INSERT" | "UPDATE" | "DELETE" | "MERGE");
                write!(
                    out,
                    "{text}\n{}",
                    if tag {
                        format!("{}\n", o.tag)
                    } else {
                        String::new()
                    }
                )
            }
            (Some(t), Format::Csv) => write!(out, "{}", format::csv(t)),
            (None, Format::Aligned) if !o.copy_out => writeln!(out, "{}", o.tag),
            (None, _) => Ok(()),
        };
    }

    /// Prints a catalog listing (the `\d` family) in the current format.
    fn print_listing(&self, t: &format::Table, title: &str, footer: bool) {
        let mut out = io::stdout().lock();
        let _ = match self.format {
            Format::Csv => write!(out, "{}", format::csv(t)),
            Format::Aligned if self.expanded => write!(out, "{title}\n{}\n", format::expanded(t)),
            Format::Aligned => writeln!(out, "{}", format::aligned(t, Some(title), footer)),
        };
        let _ = out.flush();
    }
}

/// Runs the shell: `-c`, then `-f`, else a script on stdin or, on a
/// terminal, the interactive prompt. Returns the process exit status: 0, 1
/// after an error, 2 when the connection to the server was lost.
pub fn main(backend: &mut dyn Backend, opts: Options) -> i32 {
    let code = |flow: Flow| match flow {
        Flow::Done | Flow::Quit => 0,
        Flow::Failed(c) => c,
    };
    if let Some(cmd) = &opts.command {
        let mut shell = Shell::new(backend, opts.format, false);
        shell.copy_from_stdin = true;
        return code(shell.run(&mut Script::new(cmd.as_bytes())));
    }
    if let Some(path) = &opts.file {
        let mut shell = Shell::new(backend, opts.format, false);
        return match std::fs::File::open(path) {
            Ok(f) => code(shell.run(&mut Script::new(io::BufReader::new(f)))),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                1
            }
        };
    }
    if !io::stdin().is_terminal() {
        let mut shell = Shell::new(backend, opts.format, false);
        return code(shell.run(&mut Script::new(io::stdin().lock())));
    }
    interactive::run(backend, opts.format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_lines() {
        assert_eq!(timing_line(Duration::from_micros(1234)), "Time: 1.234 ms");
        assert_eq!(
            timing_line(Duration::from_millis(61_500)),
            "Time: 61500.000 ms (01:01.500)"
        );
        assert_eq!(
            timing_line(Duration::from_secs(3600 + 62)),
            "Time: 3662000.000 ms (01:01:02.000)"
        );
    }
}
