//! Backslash commands, in scripts, `-c` and at the prompt alike.

use super::scan::Scanner;
use super::{Failure, Flow, LineSource, Script, Shell};
use std::io::{self, Write};

const HELP: &str = "\
General
  \\q                     quit the shell
  \\? [commands]          show this help
  \\conninfo              show the current connection
  \\timing [on|off]       show how long each statement takes
  \\x [on|off]            toggle expanded output (one line per column)
  \\echo [TEXT]           print TEXT

Query buffer
  \\g                     run the query buffer (or the previous statement)
  \\r                     reset (clear) the query buffer

Input and output
  \\i FILE                run commands from FILE
  \\copy ...              COPY between a client-side file and a table:
                         \\copy TABLE [(COLUMNS)] FROM 'FILE' [WITH (OPTIONS) | CSV [HEADER]]
                         \\copy TABLE | (QUERY) TO 'FILE' [WITH (OPTIONS) | CSV [HEADER]]
                         FILE may also be stdin/stdout or pstdin/pstdout

Informational (PATTERN: * and ? are wildcards, SCHEMA.NAME, \"Quoted\" keeps case)
  \\d                     list tables, views and sequences
  \\d NAME                describe a table, view, sequence or index
  \\dt [PATTERN]          list tables
  \\di [PATTERN]          list indexes
  \\dv [PATTERN]          list views
  \\ds [PATTERN]          list sequences
  \\dn [PATTERN]          list schemas
  \\du [PATTERN]          list roles
  \\l                     list databases
";

/// Splits meta-command arguments at whitespace; `'...'` is one argument
/// with the quotes removed (`''` is a quote), `"..."` keeps its quotes (a
/// case-sensitive name in a pattern).
pub(super) fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(args);
        }
        let mut arg = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            arg.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => arg.push(c),
                        None => return Err("unterminated quoted string".into()),
                    }
                },
                '"' => {
                    arg.push('"');
                    loop {
                        match chars.next() {
                            Some('"') => {
                                arg.push('"');
                                break;
                            }
                            Some(c) => arg.push(c),
                            None => return Err("unterminated quoted identifier".into()),
                        }
                    }
                }
                c => arg.push(c),
            }
        }
        args.push(arg);
    }
}

/// `on`/`off` for `\timing` and `\x`; no argument toggles.
fn toggle(cmd: &str, current: bool, arg: Option<&str>) -> Result<bool, Failure> {
    match arg.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(!current),
        Some("on" | "true" | "yes" | "1") => Ok(true),
        Some("off" | "false" | "no" | "0") => Ok(false),
        Some(other) => Err(Failure::Message(format!(
            "unrecognized value \"{other}\" for \"\\{cmd}\": Boolean expected"
        ))),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Most `\i` nesting allowed (psql's limit too).
const MAX_INCLUDE_DEPTH: usize = 64;

impl Shell<'_> {
    /// Runs one backslash command (`cmd` is the text after the `\`).
    pub(super) fn meta(
        &mut self,
        cmd: &str,
        scanner: &mut Scanner,
        src: &mut dyn LineSource,
    ) -> Result<Option<Flow>, Failure> {
        let (name, rest) = cmd
            .split_once(char::is_whitespace)
            .map(|(n, r)| (n, r.trim()))
            .unwrap_or((cmd, ""));
        if name == "copy" {
            self.copy(rest, src)?;
            return Ok(None);
        }
        let args = split_args(rest).map_err(|e| Failure::Message(format!("\\{name}: {e}")))?;
        let arg = args.first().map(String::as_str);
        let too_many = |max: usize| {
            if args.len() > max {
                eprintln!(
                    "\\{name}: extra argument \"{}\" ignored",
                    args[max..].join(" ")
                );
            }
        };
        // psql's `+` variants show more detail; here they show the same.
        let base = name.strip_suffix('+').unwrap_or(name);
        match base {
            "q" | "quit" if name == base => return Ok(Some(Flow::Quit)),
            "?" if name == base => print!("{HELP}"),
            "timing" if name == base => {
                self.timing = toggle(name, self.timing, arg)?;
                println!("Timing is {}.", on_off(self.timing));
            }
            "x" if name == base => {
                self.expanded = toggle(name, self.expanded, arg)?;
                println!("Expanded display is {}.", on_off(self.expanded));
            }
            "echo" if name == base => println!("{}", args.join(" ")),
            "conninfo" if name == base => {
                let t = self.query("SELECT pg_catalog.current_database(), current_user")?;
                if t.rows.is_empty() {
                    return Err(Failure::Message("\\conninfo: no session".into()));
                }
                println!(
                    "You are connected to database \"{}\" as user \"{}\" {}.",
                    t.text(0, 0),
                    t.text(0, 1),
                    self.backend.location()
                );
            }
            "g" if name == base => {
                let sql = scanner.take().or_else(|| self.last.clone());
                match sql {
                    Some(sql) => return self.statement(&sql, src),
                    None => {
                        return Err(Failure::Message("\\g: the query buffer is empty".into()));
                    }
                }
            }
            "r" | "reset" if name == base => {
                scanner.reset();
                println!("Query buffer reset (cleared).");
            }
            "i" | "include" if name == base => {
                let Some(path) = arg else {
                    return Err(Failure::Message(format!(
                        "\\{name}: missing required argument"
                    )));
                };
                too_many(1);
                return self.include(path);
            }
            "d" => match arg {
                None => self.list_relations("rvmSfp", None)?,
                Some(p) => {
                    too_many(1);
                    self.describe(p)?
                }
            },
            "dt" | "di" | "dv" | "ds" => {
                too_many(1);
                let kinds = match base {
                    "dt" => "rp",
                    "di" => "i",
                    "dv" => "v",
                    _ => "S",
                };
                self.list_relations(kinds, arg)?
            }
            "dn" => {
                too_many(1);
                self.list_schemas(arg)?
            }
            "du" | "dg" => {
                too_many(1);
                self.list_roles(arg)?
            }
            "l" | "list" => self.list_databases()?,
            _ => {
                return Err(Failure::Message(format!(
                    "invalid command \\{name}. Try \\? for help."
                )));
            }
        }
        let _ = io::stdout().flush();
        Ok(None)
    }

    /// `\i FILE`: runs the file as a script (its first error stops it).
    fn include(&mut self, path: &str) -> Result<Option<Flow>, Failure> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(Failure::Message(format!(
                "{path}: \\i is nested too deeply (more than {MAX_INCLUDE_DEPTH} files)"
            )));
        }
        let file =
            std::fs::File::open(path).map_err(|e| Failure::Message(format!("{path}: {e}")))?;
        self.depth += 1;
        let flow = self.run(&mut Script::new(io::BufReader::new(file)));
        self.depth -= 1;
        match flow {
            Flow::Done => Ok(None),
            Flow::Quit => Ok(Some(Flow::Quit)),
            // The failure was printed where it happened; in a script it
            // stops the caller too, at the prompt the session goes on.
            Flow::Failed(code) if self.interactive && self.depth == 0 && code != 2 => Ok(None),
            Flow::Failed(code) => Ok(Some(Flow::Failed(code))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(
            split_args(" 'a b''c'  \"My T\" x ").unwrap(),
            vec!["a b'c", "\"My T\"", "x"]
        );
        assert!(split_args("'open").is_err());
        assert!(split_args("").unwrap().is_empty());
    }
}
