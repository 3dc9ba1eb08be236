//! The `heliosdb shell`: runs SQL from `-c`, a script on stdin, or an
//! interactive prompt, printing results like psql.

use crate::error::Error;
use crate::session::{Rows, Session, StatementResult};
use crate::types::{DataType, Value};
use std::io::{self, BufRead, IsTerminal, Read, Write};

/// Output style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// psql's aligned table.
    Aligned,
    /// Header line plus rows, as `psql --csv`.
    Csv,
}

fn is_right_aligned(t: &DataType) -> bool {
    t.is_numeric()
}

fn cell(v: &Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        v.to_string()
    }
}

fn csv_field(s: &str, null: bool) -> String {
    if null {
        return String::new();
    }
    if s.is_empty() || s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Formats rows as psql does in its default aligned mode.
pub fn format_aligned(rows: &Rows) -> String {
    let cols = rows.columns();
    let data: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.values().iter().map(cell).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            data.iter()
                .map(|r| r[i].lines().map(|l| l.chars().count()).max().unwrap_or(0))
                .chain(std::iter::once(c.name.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header: Vec<String> = cols
        .iter()
        .zip(&widths)
        .map(|(c, w)| {
            let n = c.name.chars().count();
            let left = (w - n) / 2;
            format!("{}{}{}", " ".repeat(left), c.name, " ".repeat(w - n - left))
        })
        .collect();
    // psql centres headers and keeps the trailing blank of the last one.
    out.push_str(&format!(" {} \n", header.join(" | ")));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for r in &data {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .zip(cols)
            .map(|((v, w), c)| {
                let pad = w - v.chars().count().min(*w);
                if is_right_aligned(&c.ty) {
                    format!("{}{v}", " ".repeat(pad))
                } else {
                    format!("{v}{}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(format!(" {} ", line.join(" | ")).trim_end());
        out.push('\n');
    }
    let n = rows.len();
    out.push_str(&format!("({n} {})\n", if n == 1 { "row" } else { "rows" }));
    out
}

/// Formats rows as `psql --csv` does.
pub fn format_csv(rows: &Rows) -> String {
    let mut out = String::new();
    let header: Vec<String> = rows
        .columns()
        .iter()
        .map(|c| csv_field(&c.name, false))
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for r in rows {
        let line: Vec<String> = r
            .values()
            .iter()
            .map(|v| csv_field(&cell(v), v.is_null()))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Prints one statement's result.
pub fn print_result(out: &mut dyn Write, r: &StatementResult, format: Format) -> io::Result<()> {
    match (&r.rows, format) {
        (Some(rows), Format::Aligned) => {
            write!(out, "{}", format_aligned(rows))?;
            writeln!(out)?;
            // Like psql, data-changing statements with RETURNING also print their tag.
            if matches!(&*r.command, "INSERT" | "UPDATE" | "DELETE") {
                writeln!(out, "{}", r.tag())?;
            }
            Ok(())
        }
        (Some(rows), Format::Csv) => write!(out, "{}", format_csv(rows)),
        (None, Format::Aligned) => writeln!(out, "{}", r.tag()),
        (None, Format::Csv) => Ok(()),
    }
}

/// Prints an error the way scripts expect: `ERROR: message`, then the SQLSTATE.
pub fn print_error(err: &mut dyn Write, e: &Error) -> io::Result<()> {
    writeln!(err, "ERROR: {}", e.message)?;
    if let Some(d) = &e.detail {
        writeln!(err, "DETAIL: {d}")?;
    }
    if let Some(h) = &e.hint {
        writeln!(err, "HINT: {h}")?;
    }
    writeln!(err, "SQLSTATE: {}", e.code)
}

/// Runs a script; returns false after the first error (which is printed).
pub fn run_script(session: &mut Session, sql: &str, format: Format) -> bool {
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let mut ok = true;
    session.run_each(sql, &mut |r| match r {
        Ok(r) => {
            let _ = print_result(&mut out, &r, format);
        }
        Err(e) => {
            let _ = out.flush();
            let _ = print_error(&mut stderr.lock(), &e);
            ok = false;
        }
    });
    let _ = out.flush();
    ok
}

/// True if `buf` holds at least one complete statement (ends with `;` outside quotes).
fn complete(buf: &str) -> bool {
    let mut in_single = false;
    let mut in_double = false;
    let mut last_semicolon = false;
    for c in buf.chars() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            _ => {}
        }
        if !c.is_whitespace() {
            last_semicolon = c == ';' && !in_single && !in_double;
        }
    }
    last_semicolon
}

/// Runs the shell: `-c` SQL, a script from stdin, or an interactive prompt.
/// Returns the process exit code.
pub fn main(session: &mut Session, command: Option<String>, format: Format) -> i32 {
    if let Some(sql) = command {
        return if run_script(session, &sql, format) {
            0
        } else {
            1
        };
    }
    if !io::stdin().is_terminal() {
        let mut sql = String::new();
        if let Err(e) = io::stdin().read_to_string(&mut sql) {
            eprintln!("ERROR: cannot read standard input: {e}");
            return 1;
        }
        return if run_script(session, &sql, format) {
            0
        } else {
            1
        };
    }
    interactive(session, format)
}

fn interactive(session: &mut Session, format: Format) -> i32 {
    println!(
        "HeliosDB Nano {} shell. End statements with ';', \\q quits.",
        crate::VERSION
    );
    let mut rl = match rustyline::DefaultEditor::new() {
        Ok(rl) => rl,
        Err(_) => return plain_loop(session, format),
    };
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() {
            "heliosdb=> "
        } else {
            "heliosdb-> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                let t = line.trim();
                if buf.is_empty() && (t == "\\q" || t == "quit" || t == "exit") {
                    return 0;
                }
                let _ = rl.add_history_entry(line.as_str());
                buf.push_str(&line);
                buf.push('\n');
                if complete(&buf) {
                    run_script(session, &buf, format);
                    buf.clear();
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => buf.clear(),
            Err(_) => return 0,
        }
    }
}

fn plain_loop(session: &mut Session, format: Format) -> i32 {
    let stdin = io::stdin();
    let mut buf = String::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        buf.push_str(&line);
        buf.push('\n');
        if complete(&buf) {
            run_script(session, &buf, format);
            buf.clear();
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_completion() {
        assert!(complete("select 1;"));
        assert!(!complete("select ';"));
        assert!(complete("select ';';  \n"));
        assert!(!complete("select 1"));
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("a,b", false), "\"a,b\"");
        assert_eq!(csv_field("", false), "\"\"");
        assert_eq!(csv_field("", true), "");
        assert_eq!(csv_field("x", false), "x");
    }
}
