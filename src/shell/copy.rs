//! `\copy`: COPY between a client-side file and a table, as psql does it.
//!
//! `\copy t [(cols)] FROM 'file' [options]` runs `COPY t (cols) FROM STDIN
//! [options]` and streams the file to it; `\copy t | (query) TO 'file'`
//! runs `COPY ... TO STDOUT` and writes the data to the file. The options
//! (`WITH (FORMAT csv, HEADER)`, `CSV HEADER`, `DELIMITER ','`, ...) are
//! passed to the server's COPY unchanged. Reading a file shows a progress
//! bar (bytes of the file) when standard error is a terminal.

use super::backend::ShellResult;
use super::{Failure, LineSource, Shell};
use std::io::{self, IsTerminal, Read, Write};

/// Where the data comes from or goes to.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    File(String),
    /// `stdin` / `stdout`: the shell's input (the script) or output.
    Script,
    /// `pstdin` / `pstdout`: the process's standard input or output.
    Process,
}

#[derive(Debug, PartialEq, Eq)]
struct CopyCommand {
    /// `t (a, b)` or `(SELECT ...)`.
    source: String,
    from: bool,
    endpoint: Endpoint,
    /// Everything after the file name.
    options: String,
}

fn syntax(args: &str) -> Failure {
    Failure::Message(format!("\\copy: parse error at \"{}\"", args.trim()))
}

/// Length of the parenthesised group starting at `s[0] == '('`, quotes respected.
pub(super) fn paren_group(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The next whitespace-delimited word (double quotes respected) and the rest.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted && i > 0 => return (&s[..i], &s[i..]),
            c if c.is_whitespace() && !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

fn parse(args: &str) -> Result<CopyCommand, Failure> {
    let s = args.trim();
    let (mut source, mut rest) = if s.starts_with('(') {
        let n = paren_group(s).ok_or_else(|| syntax(args))?;
        (s[..n].to_string(), &s[n..])
    } else {
        let (table, rest) = word(s);
        if table.is_empty() {
            return Err(syntax(args));
        }
        (table.to_string(), rest)
    };
    let trimmed = rest.trim_start();
    if trimmed.starts_with('(') {
        let n = paren_group(trimmed).ok_or_else(|| syntax(args))?;
        source.push(' ');
        source.push_str(&trimmed[..n]);
        rest = &trimmed[n..];
    }
    let (dir, rest) = word(rest);
    let from = match dir.to_ascii_lowercase().as_str() {
        "from" => true,
        "to" => false,
        _ => return Err(syntax(rest)),
    };
    let rest = rest.trim_start();
    let (endpoint, options) = if let Some(quoted) = rest.strip_prefix('\'') {
        // A quoted file name; '' is a quote.
        let mut name = String::new();
        let mut chars = quoted.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    chars.next();
                    name.push('\'');
                    continue;
                }
                end = Some(i + 1);
                break;
            }
            name.push(c);
        }
        let end = end.ok_or_else(|| syntax(args))?;
        (Endpoint::File(name), &quoted[end..])
    } else {
        let (w, options) = word(rest);
        let endpoint = match w.to_ascii_lowercase().as_str() {
            "" => return Err(syntax(args)),
            "stdin" | "stdout" => Endpoint::Script,
            "pstdin" | "pstdout" => Endpoint::Process,
            _ => Endpoint::File(w.to_string()),
        };
        (endpoint, options)
    };
    Ok(CopyCommand {
        source,
        from,
        endpoint,
        options: options.trim().to_string(),
    })
}

/// Why streaming a file into COPY stopped.
enum SendError {
    /// Reading the file failed: the COPY is abandoned with this message.
    Read(String),
    /// The backend refused the data (the COPY is already over).
    Backend(super::ShellError),
}

/// Reads a file while advancing a progress bar.
struct Progress<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

/// A bar over `len` bytes, drawn on standard error only when it is a terminal.
fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .expect("the template is valid");
    bar.set_style(style);
    Some(bar)
}

impl Shell<'_> {
    /// Runs `\copy ARGS`.
    pub(super) fn copy(&mut self, args: &str, src: &mut dyn LineSource) -> Result<(), Failure> {
        let cmd = parse(args)?;
        let sql = format!(
            "COPY {} {} {}",
            cmd.source,
            if cmd.from { "FROM STDIN" } else { "TO STDOUT" },
            cmd.options
        );
        let sql = sql.trim_end();
        if cmd.from {
            let results = match &cmd.endpoint {
                Endpoint::File(path) => {
                    let file = std::fs::File::open(path)
                        .map_err(|e| Failure::Message(format!("{path}: {e}")))?;
                    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                    let mut started = self.backend.execute(sql, &mut io::sink());
                    match started.pop() {
                        Some(Ok(o)) if o.copy_in => {}
                        Some(Err(e)) => return Err(Failure::Sql(e)),
                        _ => {
                            return Err(Failure::Message(format!("\\copy: {sql} started no COPY")));
                        }
                    }
                    let mut reader = Progress {
                        inner: io::BufReader::new(file),
                        bar: progress_bar(len),
                    };
                    let sent = self.send_file(&mut reader);
                    if let Some(b) = &reader.bar {
                        b.finish_and_clear();
                    }
                    match sent {
                        Ok(()) => self.backend.copy_end(None),
                        Err(SendError::Read(msg)) => self.backend.copy_end(Some(&msg)),
                        Err(SendError::Backend(e)) => vec![Err(e)],
                    }
                }
                Endpoint::Script | Endpoint::Process => {
                    let saved = self.copy_from_stdin;
                    self.copy_from_stdin = cmd.endpoint == Endpoint::Process;
                    let mut results = self.backend.execute(sql, &mut io::sink());
                    if matches!(results.last(), Some(Ok(o)) if o.copy_in) {
                        results.pop();
                        results.extend(self.copy_from_input(src));
                    }
                    self.copy_from_stdin = saved;
                    results
                }
            };
            return self.copy_results(results, true);
        }
        match &cmd.endpoint {
            Endpoint::File(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| Failure::Message(format!("{path}: {e}")))?;
                let mut w = io::BufWriter::new(file);
                let results = self.backend.execute(sql, &mut w);
                w.flush()
                    .map_err(|e| Failure::Message(format!("{path}: {e}")))?;
                self.copy_results(results, true)
            }
            Endpoint::Script | Endpoint::Process => {
                let stdout = io::stdout();
                let mut out = stdout.lock();
                let results = self.backend.execute(sql, &mut out);
                let _ = out.flush();
                drop(out);
                self.copy_results(results, false)
            }
        }
    }

    /// Streams a file into the running COPY.
    fn send_file(&mut self, reader: &mut dyn Read) -> Result<(), SendError> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SendError::Read(e.to_string())),
            };
            // The embedded backend reports bad rows here (the copy is then
            // over); a server reports them when the copy ends.
            self.backend
                .copy_data(&chunk[..n])
                .map_err(SendError::Backend)?;
        }
    }

    /// Prints `COPY n` (when `tag`), or the first error.
    fn copy_results(
        &mut self,
        results: Vec<ShellResult<super::Outcome>>,
        tag: bool,
    ) -> Result<(), Failure> {
        for r in results {
            let o = r?;
            if tag && self.format == super::Format::Aligned {
                println!("{}", o.tag);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(source: &str, from: bool, endpoint: Endpoint, options: &str) -> CopyCommand {
        CopyCommand {
            source: source.into(),
            from,
            endpoint,
            options: options.into(),
        }
    }

    #[test]
    fn parses_psql_copy_syntax() {
        assert_eq!(
            parse("t FROM '/tmp/a b.csv' WITH (FORMAT csv, HEADER)").unwrap(),
            cmd(
                "t",
                true,
                Endpoint::File("/tmp/a b.csv".into()),
                "WITH (FORMAT csv, HEADER)"
            )
        );
        assert_eq!(
            parse("\"My T\"(a, b) to data.txt csv header").unwrap(),
            cmd(
                "\"My T\" (a, b)",
                false,
                Endpoint::File("data.txt".into()),
                "csv header"
            )
        );
        assert_eq!(
            parse("(SELECT ')' FROM t) TO stdout").unwrap(),
            cmd("(SELECT ')' FROM t)", false, Endpoint::Script, "")
        );
        assert_eq!(
            parse("t from 'it''s'").unwrap(),
            cmd("t", true, Endpoint::File("it's".into()), "")
        );
        assert!(parse("t into x").is_err());
        assert!(parse("").is_err());
    }
}
