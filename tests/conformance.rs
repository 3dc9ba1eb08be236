//! Runs the external sqllogictest corpus (`../shared/conformance/sqllogictest`,
//! or `$HELIOSDB_CONFORMANCE_DIR`) against HeliosDB Nano and compares the
//! failures with the committed list `tests/conformance/expected_failures.txt`.
//!
//! Every record of every file runs, on a fresh in-memory database per file,
//! as engine `postgresql` (so `skipif postgresql` and `onlyif mysql` records
//! drop out). A failing record never stops its file. Each file runs in its
//! own worker process (this binary, started with `--conformance-worker`), at
//! most one per core; the parent watches every record's time and the worker's
//! memory. A record that takes longer than the timeout, or that crashes the
//! worker, fails; the worker is then restarted, replays the file's earlier
//! statements to rebuild the database, and carries on after that record. A
//! panic inside the engine is caught in the worker and fails only its record.
//!
//! Values are printed as the original sqllogictest harness prints them: the
//! query's type letters decide the format (`I` integer, `R` `%.3f`, `T` text),
//! NULL as `NULL`, the empty string as `(empty)`, and results of more than
//! eight values compare as an MD5 hash unless a file says otherwise.
//!
//! The run fails if a record fails that the list does not name (a
//! regression). Records the list names that now pass are reported, so the
//! list can be updated: `HELIOSDB_BLESS=1` rewrites it from the current
//! results, together with the numbers in `docs/conformance.md`.
//!
//! Usage: `cargo test --test conformance [-- FILTER]` (FILTER: a substring of
//! the files' paths relative to the corpus directory).
//!
//! Environment: `HELIOSDB_CONFORMANCE_DIR` (corpus directory),
//! `HELIOSDB_BLESS=1`, `HELIOSDB_CONFORMANCE_JOBS` (worker processes; default
//! the number of cores), `HELIOSDB_CONFORMANCE_TIMEOUT` (seconds per record,
//! default 30), `HELIOSDB_CONFORMANCE_MAX_TIMEOUTS` (timeouts after which a
//! file's remaining records do not run, default 3),
//! `HELIOSDB_CONFORMANCE_FILE_BUDGET` (seconds per file, default 900),
//! `HELIOSDB_CONFORMANCE_MEMORY_MB` (per worker, default 4096).

use heliosdb_nano::{DataType, Database, Session, Value};
use sqllogictest::{
    Condition, DBOutput, DefaultColumnType, QueryExpect, Record, RecordOutput, Runner,
    TestErrorKind, parse_with_name,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The engine name records are matched against in `skipif` / `onlyif`.
const ENGINE: &str = "postgresql";
/// The original harness hashes results of more than eight values unless a
/// file sets `hash-threshold` itself.
const DEFAULT_HASH_THRESHOLD: usize = 8;
const WORKER_FLAG: &str = "--conformance-worker";
const LIST_PATH: &str = "tests/conformance/expected_failures.txt";
const DOC_PATH: &str = "docs/conformance.md";
const DOC_BEGIN: &str = "<!-- BEGIN GENERATED: cargo test --test conformance -->";
const DOC_END: &str = "<!-- END GENERATED -->";

// ---------------------------------------------------------------------------
// The database side: a session that formats values by the query's type letters.
// ---------------------------------------------------------------------------

/// The type letters of the query record about to run, set by the worker
/// before each query. The crate hands `DB::run` only the SQL, while the
/// original harness formats each column by the letter the record expects
/// (its `xQuery` receives the type string), so the letters travel beside it.
type ExpectedTypes = Arc<Mutex<Option<Vec<DefaultColumnType>>>>;

struct Conn {
    session: Session,
    expected: ExpectedTypes,
}

/// Formats a value for a column of type letter `letter` (None: the result
/// has more columns than the record expects; format by the value's type).
fn format_value(v: &Value, letter: Option<&DefaultColumnType>) -> String {
    if let Value::Null = v {
        return "NULL".into();
    }
    match letter {
        Some(DefaultColumnType::Integer) => format_integer(v),
        Some(DefaultColumnType::FloatingPoint) => format_real(v),
        Some(_) => format_text(v),
        None => match v {
            Value::Float4(_) | Value::Float8(_) | Value::Numeric(_) => format_real(v),
            _ => format_text(v),
        },
    }
}

/// `I`: integers as they are; reals and numerics truncated toward zero, as
/// the harness's integer fetch does; anything else by its text's leading
/// number, 0 if it has none (the reference outputs hash `0` for a text
/// column in an `I` result).
fn format_integer(v: &Value) -> String {
    match v {
        Value::Int2(i) => i.to_string(),
        Value::Int4(i) => i.to_string(),
        Value::Int8(i) => i.to_string(),
        Value::Bool(b) => i32::from(*b).to_string(),
        Value::Float4(f) => (f.trunc() as i64).to_string(),
        Value::Float8(f) => (f.trunc() as i64).to_string(),
        Value::Numeric(d) => d.trunc().normalize().to_string(),
        other => (leading_number(&other.to_string()).trunc() as i64).to_string(),
    }
}

/// `R`: any number with three decimals; anything else by its text's leading
/// number, 0 if it has none.
fn format_real(v: &Value) -> String {
    let f = match v {
        Value::Int2(i) => f64::from(*i),
        Value::Int4(i) => f64::from(*i),
        Value::Int8(i) => *i as f64,
        Value::Float4(f) => f64::from(*f),
        Value::Float8(f) => *f,
        Value::Numeric(d) => rust_decimal::prelude::ToPrimitive::to_f64(d).unwrap_or(f64::NAN),
        other => leading_number(&other.to_string()),
    };
    format!("{f:.3}")
}

/// The number a text starts with (after blanks), as C's `strtod` reads it;
/// 0 if it starts with none.
fn leading_number(s: &str) -> f64 {
    let s = s.trim_start();
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let sign = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_end = digits(sign);
    let mut end = int_end;
    if b.get(end) == Some(&b'.') {
        end = digits(end + 1);
    }
    if int_end == sign && end <= int_end + 1 {
        return 0.0; // no digits
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let exp = end + 1 + usize::from(matches!(b.get(end + 1), Some(b'+' | b'-')));
        let exp_end = digits(exp);
        if exp_end > exp {
            end = exp_end;
        }
    }
    s[..end].parse().unwrap_or(0.0)
}

/// `T`: PostgreSQL's text form; `(empty)` for the empty string, and bytes
/// outside printable ASCII as `@`, as the harness prints them.
fn format_text(v: &Value) -> String {
    let s = v.to_string();
    if s.is_empty() {
        return "(empty)".into();
    }
    if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return s;
    }
    s.bytes()
        .map(|b| {
            if (b' '..=b'~').contains(&b) {
                b as char
            } else {
                '@'
            }
        })
        .collect()
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_numeric() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

impl sqllogictest::DB for Conn {
    type Error = heliosdb_nano::Error;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        let letters = self.expected.lock().unwrap().take().unwrap_or_default();
        let mut results = self.session.run(sql)?;
        let Some(last) = results.pop() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        match last.rows {
            Some(rows) => Ok(DBOutput::Rows {
                types: rows.columns().iter().map(|c| column_type(&c.ty)).collect(),
                rows: rows
                    .iter()
                    .map(|r| {
                        r.values()
                            .iter()
                            .enumerate()
                            .map(|(i, v)| format_value(v, letters.get(i)))
                            .collect()
                    })
                    .collect(),
            }),
            None => Ok(DBOutput::StatementComplete(last.affected)),
        }
    }

    fn engine_name(&self) -> &str {
        ENGINE
    }

    fn error_sql_state(err: &Self::Error) -> Option<String> {
        Some(err.sqlstate().to_string())
    }
}

/// The type letters are coercions, not claims about the result's types, so
/// only the number of columns is checked.
#[allow(clippy::ptr_arg)] // the crate's validator signature
fn column_count_validator(
    actual: &Vec<DefaultColumnType>,
    expected: &Vec<DefaultColumnType>,
) -> bool {
    actual.len() == expected.len()
}

/// The corpus lists results one value per line (a hash counts as one value),
/// so values compare one by one rather than row by row.
fn valuewise_validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    let actual = actual.iter().flatten();
    actual.clone().count() == expected.len()
        && actual
            .zip(expected)
            .all(|(a, e)| normalizer(a) == normalizer(e))
}

// ---------------------------------------------------------------------------
// The worker process: runs one file and reports each record on stdout.
// ---------------------------------------------------------------------------

/// Protocol (one line each, tab-separated): `S <line>` before a record runs,
/// `D <line> <pass|fail|skip> <microseconds> <reason> <detail>` after it, `END` at the end.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    if line.chars().count() <= max {
        line.to_string()
    } else {
        format!("{}...", line.chars().take(max).collect::<String>())
    }
}

/// A short, stable reason for a failure (the list's second column).
fn reason(kind: &TestErrorKind) -> String {
    match kind {
        TestErrorKind::Fail { err, kind, .. } => {
            format!("{kind} failed: {}", first_line(&err.to_string(), 100))
        }
        TestErrorKind::ErrorMismatch { err, kind, .. } => {
            format!(
                "{kind} failed with another error: {}",
                first_line(&err.to_string(), 80)
            )
        }
        TestErrorKind::Ok { kind, .. } => format!("{kind} succeeded but an error was expected"),
        TestErrorKind::StatementResultMismatch { .. } => {
            "statement affected another row count".into()
        }
        TestErrorKind::QueryResultMismatch { .. } => "query result mismatch".into(),
        TestErrorKind::QueryResultColumnsMismatch { .. } => {
            "query returned another number of columns".into()
        }
        other => first_line(&other.to_string(), 100),
    }
}

thread_local! {
    static PANIC_MESSAGE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps the panic message (and where it happened) for the record's report
/// instead of printing it.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string payload)".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

/// Reads a corpus file. Two things the original harness accepts and the
/// crate's parser does not are handled here, keeping every line number:
/// - a comment after a condition (`onlyif mysql # DIV for integer
///   division`) is cut off;
/// - a conditional `halt` (`onlyif mssql` + `halt`): the crate has no
///   conditions on `halt` (it would halt always and hand the condition to the
///   next record), so the file ends there if the conditions hold for this
///   engine, and the conditions and the `halt` are blanked out otherwise.
fn load(path: &Path) -> Result<Vec<Record<DefaultColumnType>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut script: Vec<&str> = Vec::new();
    let mut conditions: Vec<usize> = Vec::new(); // indexes of the pending condition lines
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["skipif" | "onlyif", _, ..] => {
                conditions.push(script.len());
                script.push(line.split(" #").next().unwrap_or(line));
            }
            ["halt"] => {
                let applies = conditions.iter().all(|&i| {
                    let words: Vec<&str> = script[i].split_whitespace().collect();
                    match words.as_slice() {
                        ["skipif", label] => *label != ENGINE,
                        ["onlyif", label] => *label == ENGINE,
                        _ => true,
                    }
                });
                if applies {
                    break;
                }
                for &i in &conditions {
                    script[i] = "";
                }
                conditions.clear();
                script.push("");
            }
            _ => {
                if !line.starts_with('#') {
                    conditions.clear();
                }
                script.push(line);
            }
        }
    }
    parse_with_name(&script.join("\n"), path.display().to_string()).map_err(|e| e.to_string())
}

fn record_line<T: sqllogictest::ColumnType>(record: &Record<T>) -> Option<u32> {
    match record {
        Record::Statement { loc, .. } | Record::Query { loc, .. } => Some(loc.line()),
        _ => None,
    }
}

/// `args`: the file, then optionally `--skip L1,L2,...`: records at those
/// lines do not run, and statements before the last of them run silently
/// (replaying the database's state) while queries before it do not run.
fn worker_main(args: &[String]) -> ! {
    install_panic_hook();
    let path = PathBuf::from(&args[0]);
    let skip: HashSet<u32> = args
        .iter()
        .position(|a| a == "--skip")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    let resume_after = skip.iter().copied().max().unwrap_or(0);
    // Do not outlive the parent (a killed run must not leave a busy worker).
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(2);
            }
        }
    });
    let mut out = std::io::stdout().lock();
    let records = match load(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("parse error: {e}");
            std::process::exit(3);
        }
    };
    let db = Database::open_in_memory().expect("open in-memory database");
    let expected: ExpectedTypes = Arc::new(Mutex::new(None));
    let expected2 = expected.clone();
    let mut runner = Runner::new(move || {
        let session = db.connect();
        let expected = expected2.clone();
        async move { Ok::<_, heliosdb_nano::Error>(Conn { session, expected }) }
    });
    runner.with_hash_threshold(DEFAULT_HASH_THRESHOLD);
    runner.with_validator(valuewise_validator);
    runner.with_column_validator(column_count_validator);

    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        let line = record_line(&record);
        if let Some(l) = line {
            if skip.contains(&l) || (l < resume_after && matches!(record, Record::Query { .. })) {
                continue;
            }
            writeln!(out, "S\t{l}").unwrap();
            out.flush().unwrap();
        }
        let replay = line.is_some_and(|l| l < resume_after);
        *expected.lock().unwrap() = match &record {
            Record::Query {
                expected: QueryExpect::Results { types, .. },
                ..
            } => Some(types.clone()),
            _ => None,
        };
        let t0 = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(record)));
        let Some(l) = line else { continue };
        if replay {
            continue;
        }
        let (status, why, detail) = match result {
            Ok(Ok(RecordOutput::Nothing)) => ("skip", String::new(), String::new()),
            Ok(Ok(_)) => ("pass", String::new(), String::new()),
            Ok(Err(e)) => {
                let detail: String = e.display(false).to_string().chars().take(4000).collect();
                ("fail", reason(&e.kind()), detail)
            }
            Err(_) => {
                let msg = PANIC_MESSAGE
                    .with(|m| m.borrow_mut().take())
                    .unwrap_or_default();
                (
                    "fail",
                    format!("panic: {}", first_line(&msg, 100)),
                    format!("panic: {msg}"),
                )
            }
        };
        let micros = t0.elapsed().as_micros();
        writeln!(
            out,
            "D\t{l}\t{status}\t{micros}\t{}\t{}",
            escape(&why),
            escape(&detail)
        )
        .unwrap();
        out.flush().unwrap();
    }
    writeln!(out, "END").unwrap();
    out.flush().unwrap();
    std::process::exit(0);
}

// ---------------------------------------------------------------------------
// The parent: plans files, supervises workers, compares with the list.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Statement,
    Query,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Skip,
}

struct Outcome {
    line: u32,
    kind: Kind,
    status: Status,
    reason: String,
    detail: String,
    /// How long the record took in the worker.
    micros: u64,
}

struct FileResult {
    name: String,
    outcomes: Vec<Outcome>,
    elapsed: Duration,
}

struct Limits {
    record_timeout: Duration,
    file_budget: Duration,
    /// After this many timeouts in a file, its remaining records do not run.
    max_timeouts: usize,
    memory_bytes: u64,
}

/// A record is skipped for this engine if a condition says so.
fn skipped(conditions: &[Condition]) -> bool {
    conditions.iter().any(|c| match c {
        Condition::OnlyIf { label } => label != ENGINE,
        Condition::SkipIf { label } => label == ENGINE,
    })
}

/// The file's records as the parent sees them: line, kind, skipped.
fn plan_file(path: &Path) -> Result<Vec<(u32, Kind, bool)>, String> {
    let records = load(path)?;
    let mut plan = Vec::new();
    for r in records {
        match r {
            Record::Halt { .. } => break,
            Record::Statement {
                loc, conditions, ..
            } => plan.push((loc.line(), Kind::Statement, skipped(&conditions))),
            Record::Query {
                loc, conditions, ..
            } => plan.push((loc.line(), Kind::Query, skipped(&conditions))),
            _ => {}
        }
    }
    Ok(plan)
}

/// Resident memory of a process in bytes (Linux; None elsewhere).
fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

enum WorkerEvent {
    Line(String),
    Closed,
}

/// Runs one file in worker processes, restarting after a timeout or crash.
fn run_file(path: &Path, name: &str, limits: &Limits) -> FileResult {
    let started = Instant::now();
    let plan = match plan_file(path) {
        Ok(p) => p,
        Err(e) => {
            return FileResult {
                name: name.to_string(),
                outcomes: vec![Outcome {
                    line: 0,
                    kind: Kind::Statement,
                    status: Status::Fail,
                    reason: format!("file does not parse: {}", first_line(&e, 100)),
                    detail: e,
                    micros: 0,
                }],
                elapsed: started.elapsed(),
            };
        }
    };
    let mut results: HashMap<u32, (Status, String, String, u64)> = HashMap::new();
    let mut timeouts = 0;
    let mut skip: Vec<u32> = Vec::new();
    let mut not_run_reason = String::from("not run");
    'restart: loop {
        let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
        cmd.arg(WORKER_FLAG).arg(path);
        if !skip.is_empty() {
            let list: Vec<String> = skip.iter().map(|l| l.to_string()).collect();
            cmd.arg("--skip").arg(list.join(","));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start conformance worker");
        let (tx2, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx2.send(WorkerEvent::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx2.send(WorkerEvent::Closed);
        });
        // Keep the end of stderr, for the reason of a crash.
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let tail = stderr_tail.clone();
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap();
                t.push_str(&String::from_utf8_lossy(&buf[..n]));
                if t.len() > 8192 {
                    let cut = t.len() - 4096;
                    let cut = (cut..t.len())
                        .find(|&i| t.is_char_boundary(i))
                        .unwrap_or(t.len());
                    t.drain(..cut);
                }
            }
        });

        let mut current: Option<(u32, Instant)> = None;
        let failure: (Option<u32>, String) = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(WorkerEvent::Line(line)) => {
                    let mut parts = line.splitn(6, '\t');
                    match parts.next() {
                        Some("S") => {
                            let l = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
                            current = Some((l, Instant::now()));
                        }
                        Some("D") => {
                            let l: u32 = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
                            let status = match parts.next() {
                                Some("pass") => Status::Pass,
                                Some("skip") => Status::Skip,
                                _ => Status::Fail,
                            };
                            let micros: u64 =
                                parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
                            let why = unescape(parts.next().unwrap_or(""));
                            let detail = unescape(parts.next().unwrap_or(""));
                            results.insert(l, (status, why, detail, micros));
                            current = None;
                        }
                        Some("END") => {
                            let _ = child.wait();
                            let _ = stderr_thread.join();
                            break 'restart;
                        }
                        _ => {}
                    }
                }
                Ok(WorkerEvent::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    let _ = stderr_thread.join();
                    let tail = stderr_tail.lock().unwrap().clone();
                    let last = tail
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    let status = status.map(|s| s.to_string()).unwrap_or_default();
                    break (
                        current.map(|c| c.0),
                        format!("worker crashed ({status}): {}", first_line(last, 100)),
                    );
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if started.elapsed() > limits.file_budget {
                not_run_reason = format!(
                    "not run: file time budget of {}s exceeded",
                    limits.file_budget.as_secs()
                );
                let _ = child.kill();
                let _ = child.wait();
                break 'restart;
            }
            if let Some((l, since)) = current {
                if since.elapsed() > limits.record_timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    timeouts += 1;
                    break (
                        Some(l),
                        format!(
                            "timeout: no result after {}s",
                            limits.record_timeout.as_secs()
                        ),
                    );
                }
                if resident_bytes(child.id()).is_some_and(|b| b > limits.memory_bytes) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break (
                        Some(l),
                        format!(
                            "memory limit: worker used more than {} MiB",
                            limits.memory_bytes >> 20
                        ),
                    );
                }
            }
        };
        match failure {
            (Some(l), why) if !skip.contains(&l) => {
                // The record that hung or crashed fails (unless it already
                // reported, during a replay); the file goes on after it.
                results
                    .entry(l)
                    .or_insert_with(|| (Status::Fail, why.clone(), why, 0));
                skip.push(l);
                if timeouts >= limits.max_timeouts {
                    not_run_reason = format!("not run: the file had {timeouts} timeouts");
                    break 'restart;
                }
            }
            (_, why) => {
                // A crash outside any record (or twice at the same one).
                not_run_reason = format!("not run: {why}");
                break 'restart;
            }
        }
    }

    let outcomes = plan
        .into_iter()
        .map(|(line, kind, is_skipped)| {
            let (status, reason, detail, micros) = if is_skipped {
                (Status::Skip, String::new(), String::new(), 0)
            } else {
                results.remove(&line).unwrap_or_else(|| {
                    (
                        Status::Fail,
                        not_run_reason.clone(),
                        not_run_reason.clone(),
                        0,
                    )
                })
            };
            Outcome {
                line,
                kind,
                status,
                reason,
                detail,
                micros,
            }
        })
        .collect();
    FileResult {
        name: name.to_string(),
        outcomes,
        elapsed: started.elapsed(),
    }
}

fn test_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            test_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "test") {
            out.push(p);
        }
    }
}

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Groups similar failure reasons: quoted names and numbers are elided.
fn category(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut chars = reason.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                out.push(c);
                out.push_str("...");
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push(c);
            }
            '0'..='9' => {
                out.push('N');
                while chars
                    .peek()
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.')
                {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The expected-failures list: `file:line` → reason.
fn read_list(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('\t') {
            Some((k, r)) => (k.to_string(), r.to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect()
}

fn key(file: &str, line: u32) -> String {
    format!("{file}:{line}")
}

fn write_list(path: &Path, files: &[FileResult], keep: &BTreeMap<String, String>) {
    let mut text = String::from(
        "# Expected failures of the sqllogictest conformance corpus (tests/conformance.rs).\n\
         # One failing record per line: <file>:<line of the record><TAB><reason>.\n\
         # Regenerate with: HELIOSDB_BLESS=1 cargo test --test conformance\n",
    );
    let mut lines: Vec<(String, u32, String)> = keep
        .iter()
        .filter_map(|(k, r)| {
            let (f, l) = k.rsplit_once(':')?;
            Some((f.to_string(), l.parse().ok()?, r.clone()))
        })
        .collect();
    for f in files {
        for o in f.outcomes.iter().filter(|o| o.status == Status::Fail) {
            lines.push((f.name.clone(), o.line, o.reason.clone()));
        }
    }
    lines.sort();
    for (f, l, r) in lines {
        text.push_str(&format!("{}\t{r}\n", key(&f, l)));
    }
    std::fs::create_dir_all(path.parent().unwrap()).expect("create list directory");
    std::fs::write(path, text).expect("write expected-failures list");
}

#[derive(Default, Clone, Copy)]
struct Counts {
    statements: usize,
    statements_passed: usize,
    queries: usize,
    queries_passed: usize,
    skipped: usize,
}

impl Counts {
    fn of(f: &FileResult) -> Counts {
        let mut c = Counts::default();
        for o in &f.outcomes {
            match (o.status, o.kind) {
                (Status::Skip, _) => c.skipped += 1,
                (s, Kind::Statement) => {
                    c.statements += 1;
                    c.statements_passed += usize::from(s == Status::Pass);
                }
                (s, Kind::Query) => {
                    c.queries += 1;
                    c.queries_passed += usize::from(s == Status::Pass);
                }
            }
        }
        c
    }

    fn add(&mut self, o: Counts) {
        self.statements += o.statements;
        self.statements_passed += o.statements_passed;
        self.queries += o.queries;
        self.queries_passed += o.queries_passed;
        self.skipped += o.skipped;
    }

    fn run(&self) -> usize {
        self.statements + self.queries
    }

    fn passed(&self) -> usize {
        self.statements_passed + self.queries_passed
    }
}

fn percent(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

/// The summary as a Markdown table (printed, and put into the docs on bless).
fn summary_table(files: &[FileResult]) -> String {
    let mut s = String::from(
        "| file | records run | passed | failed | skipped | statements passed | queries passed | pass rate |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut total = Counts::default();
    for f in files {
        let c = Counts::of(f);
        total.add(c);
        s.push_str(&row(&f.name, c));
    }
    s.push_str(&row("**total**", total));
    s
}

fn row(name: &str, c: Counts) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {}/{} | {}/{} | {} |\n",
        c.run(),
        c.passed(),
        c.run() - c.passed(),
        c.skipped,
        c.statements_passed,
        c.statements,
        c.queries_passed,
        c.queries,
        percent(c.passed(), c.run())
    )
}

/// The most common failure categories as a Markdown table.
fn breakdown_table(files: &[FileResult], top: usize) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut failed = 0;
    for o in files
        .iter()
        .flat_map(|f| &f.outcomes)
        .filter(|o| o.status == Status::Fail)
    {
        *counts.entry(category(&o.reason)).or_default() += 1;
        failed += 1;
    }
    let mut sorted: Vec<_> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut s = String::from("| failing records | share | reason |\n| ---: | ---: | --- |\n");
    for (reason, n) in sorted.iter().take(top) {
        s.push_str(&format!(
            "| {n} | {} | {} |\n",
            percent(*n, failed),
            reason.replace('|', "\\|")
        ));
    }
    s
}

fn update_docs(root: &Path, files: &[FileResult], elapsed: Duration) {
    let path = root.join(DOC_PATH);
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| format!("# Conformance\n\n{DOC_BEGIN}\n{DOC_END}\n"));
    let (Some(begin), Some(end)) = (doc.find(DOC_BEGIN), doc.find(DOC_END)) else {
        eprintln!("{DOC_PATH} has no generated section markers; not updated");
        return;
    };
    let generated = format!(
        "{DOC_BEGIN}\n\nResults of `HELIOSDB_BLESS=1 cargo test --test conformance` on {} \
         ({} worker processes, {:.0}s for the corpus).\n\n{}\n\
         Most common failure reasons (quoted names and numbers elided):\n\n{}\n",
        chrono::Local::now().format("%Y-%m-%d"),
        workers(),
        elapsed.as_secs_f64(),
        summary_table(files),
        breakdown_table(files, 20),
    );
    let new = format!("{}{generated}{}", &doc[..begin], &doc[end..]);
    std::fs::write(&path, new).expect("write docs/conformance.md");
}

fn workers() -> usize {
    std::env::var("HELIOSDB_CONFORMANCE_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == WORKER_FLAG) {
        worker_main(&args[1..]);
    }
    let filter: Option<String> = args.iter().find(|a| !a.starts_with('-')).cloned();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = std::env::var_os("HELIOSDB_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/conformance/sqllogictest"));
    if !corpus.is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            eprintln!(
                "conformance: corpus not found at {} (set HELIOSDB_CONFORMANCE_DIR); it must run in CI",
                corpus.display()
            );
            std::process::exit(1);
        }
        println!(
            "conformance: SKIPPED, corpus not found at {} (set HELIOSDB_CONFORMANCE_DIR to run it)",
            corpus.display()
        );
        return;
    }
    let mut paths = Vec::new();
    test_files(&corpus, &mut paths);
    let mut files: Vec<(PathBuf, String)> = paths
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(&corpus)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            (p, name)
        })
        .collect();
    if let Some(f) = &filter {
        files.retain(|(_, name)| name.contains(f.as_str()));
    }
    if files.is_empty() {
        eprintln!(
            "conformance: no .test files under {} match",
            corpus.display()
        );
        std::process::exit(1);
    }
    let limits = Limits {
        record_timeout: Duration::from_secs(env_secs("HELIOSDB_CONFORMANCE_TIMEOUT", 30)),
        file_budget: Duration::from_secs(env_secs("HELIOSDB_CONFORMANCE_FILE_BUDGET", 900)),
        max_timeouts: env_secs("HELIOSDB_CONFORMANCE_MAX_TIMEOUTS", 3) as usize,
        memory_bytes: env_secs("HELIOSDB_CONFORMANCE_MEMORY_MB", 4096) << 20,
    };
    let started = Instant::now();

    // Largest files first, so the long ones do not start last.
    let mut queue: Vec<(PathBuf, String)> = files.clone();
    queue.sort_by_key(|(p, _)| std::cmp::Reverse(std::fs::metadata(p).map_or(0, |m| m.len())));
    let queue = Arc::new(Mutex::new(VecDeque::from(queue)));
    let done: Arc<Mutex<Vec<FileResult>>> = Arc::new(Mutex::new(Vec::new()));
    let limits = Arc::new(limits);
    let handles: Vec<_> = (0..workers().min(files.len()))
        .map(|_| {
            let (queue, done, limits) = (queue.clone(), done.clone(), limits.clone());
            std::thread::spawn(move || {
                loop {
                    let Some((path, name)) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let r = run_file(&path, &name, &limits);
                    let c = Counts::of(&r);
                    println!(
                        "{:<45} {:>6}/{:<6} passed  ({:.1}s)",
                        r.name,
                        c.passed(),
                        c.run(),
                        r.elapsed.as_secs_f64()
                    );
                    done.lock().unwrap().push(r);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("conformance supervisor thread");
    }
    let elapsed = started.elapsed();
    let mut results = std::mem::take(&mut *done.lock().unwrap());
    results.sort_by(|a, b| a.name.cmp(&b.name));

    println!("\n{}", summary_table(&results));
    println!(
        "Most common failure reasons:\n\n{}",
        breakdown_table(&results, 20)
    );
    let mut slowest: Vec<(u64, String)> = results
        .iter()
        .flat_map(|f| {
            f.outcomes
                .iter()
                .filter(|o| o.status == Status::Pass)
                .map(|o| (o.micros, key(&f.name, o.line)))
        })
        .collect();
    slowest.sort_by(|a, b| b.cmp(a));
    let slowest_keys: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|(m, k)| format!("{k} ({:.2}s)", *m as f64 / 1e6))
        .collect();
    println!("Slowest passing records: {}", slowest_keys.join(", "));
    let over = |secs: u64| {
        slowest
            .iter()
            .filter(|(m, _)| *m >= secs * 1_000_000)
            .count()
    };
    println!(
        "Passing records taking at least 1s: {}, 3s: {}, 10s: {} (timeout {}s)\n",
        over(1),
        over(3),
        over(10),
        limits.record_timeout.as_secs()
    );

    // Compare with the list (only the files that ran).
    let list_path = root.join(LIST_PATH);
    let list = read_list(&list_path);
    let ran: HashSet<&str> = results.iter().map(|f| f.name.as_str()).collect();
    let in_scope = |k: &str| k.rsplit_once(':').is_some_and(|(f, _)| ran.contains(f));
    let mut failing: HashSet<String> = HashSet::new();
    let mut regressions: Vec<(String, &Outcome)> = Vec::new();
    for f in &results {
        for o in f.outcomes.iter().filter(|o| o.status == Status::Fail) {
            let k = key(&f.name, o.line);
            if !list.contains_key(&k) {
                regressions.push((k.clone(), o));
            }
            failing.insert(k);
        }
    }
    let newly_passing: Vec<&String> = list
        .keys()
        .filter(|k| in_scope(k) && !failing.contains(*k))
        .collect();

    if std::env::var("HELIOSDB_BLESS").is_ok_and(|v| v == "1") {
        let keep: BTreeMap<String, String> =
            list.into_iter().filter(|(k, _)| !in_scope(k)).collect();
        write_list(&list_path, &results, &keep);
        println!(
            "blessed: {LIST_PATH} rewritten ({} failing records)",
            failing.len()
        );
        if filter.is_none() {
            update_docs(&root, &results, elapsed);
            println!("blessed: {DOC_PATH} updated");
        } else {
            println!("{DOC_PATH} not updated (a filter was given)");
        }
        println!("\nconformance: {:.1}s", elapsed.as_secs_f64());
        return;
    }

    if !newly_passing.is_empty() {
        println!(
            "NOTE: {} record(s) in {LIST_PATH} now pass; update the list with \
             HELIOSDB_BLESS=1 cargo test --test conformance",
            newly_passing.len()
        );
        for k in newly_passing.iter().take(20) {
            println!("  now passing: {k}");
        }
        if newly_passing.len() > 20 {
            println!("  ... and {} more", newly_passing.len() - 20);
        }
    }
    println!("\nconformance: {:.1}s", elapsed.as_secs_f64());
    if !regressions.is_empty() {
        println!(
            "\nREGRESSIONS: {} record(s) fail that {LIST_PATH} does not list:\n",
            regressions.len()
        );
        for (k, o) in regressions.iter().take(50) {
            println!("--- {k}: {}\n{}\n", o.reason, o.detail);
        }
        if regressions.len() > 50 {
            println!("... and {} more", regressions.len() - 50);
        }
        println!(
            "Fix them, or if a failure is expected (e.g. a test now runs into a known gap), \
             rewrite the list with HELIOSDB_BLESS=1 cargo test --test conformance"
        );
        std::process::exit(1);
    }
}
