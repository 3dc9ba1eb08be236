//! Following an online tenant migration (`cdc::migration`): `heliosdb
//! migrate`, and the interactive shell after `SELECT
//! helios.start_migration(...)`.
//!
//! Everything goes through the shell's [`Backend`] seam, so a data
//! directory opened here ([`Embedded`]) and a server ([`Remote`]) are
//! driven by the same SQL: `helios.start_migration`, `pause_migration`,
//! `resume_migration`, `rollback_migration`, and `helios.migrations`, polled
//! every [`POLL`] until the migration is completed, failed or rolled back.
//!
//! On a terminal (standard error) the progress is an indicatif bar over the
//! rows to copy while the snapshot is copied, then a spinner with the
//! replication lag and the verification; at the end the per-table checksums.
//! Elsewhere (pipes, tests) a plain line goes to standard error when the
//! state changes (and at most once a second when only the figures do). The
//! final line, on standard output, says how it ended.
//!
//! A migration is run by the maintenance thread of the database that has
//! the data open: a server keeps it going when the follower stops, but one
//! in a data directory opened by `heliosdb migrate --data-dir` stops when
//! the command ends, and goes on when the directory is next opened.

use super::backend::{Backend, Embedded, Outcome, ShellError, ShellResult};
use super::format::{self, Column, Table};
use super::remote::{ConnParams, Remote};
use crate::cdc::tail::{self, Source, literal};
use crate::session::Database;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often `helios.migrations` is read while following.
pub const POLL: Duration = Duration::from_millis(150);

/// Plain output repeats a state's changing figures at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// One table's checksums as `helios.migrations` shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableChecksum {
    pub table: String,
    pub source_rows: u64,
    pub source: String,
    pub target_rows: u64,
    pub target: String,
}

impl TableChecksum {
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source == self.target
    }
}

/// One row of `helios.migrations`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: u64,
    pub source: String,
    pub target: String,
    pub state: String,
    pub cutover: bool,
    pub lag: u64,
    pub total_rows: u64,
    pub rows_copied: u64,
    pub changes_applied: u64,
    pub checksums: Vec<TableChecksum>,
    pub error: Option<String>,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Status {
    /// Completed, failed or rolled back: following ends.
    pub fn over(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "failed" | "rolled_back")
    }

    pub fn succeeded(&self) -> bool {
        self.state == "completed"
    }

    /// Where it is: `snapshotting, 20000 of 200000 rows copied`,
    /// `replicating, lag 3 changes, 12 applied`, ...
    pub fn progress(&self) -> String {
        match self.state.as_str() {
            "snapshotting" => format!(
                "snapshotting, {} of {} rows copied",
                self.rows_copied, self.total_rows
            ),
            "replicating" => format!(
                "replicating, lag {} changes, {} applied",
                self.lag, self.changes_applied
            ),
            "verifying" => "verifying checksums".into(),
            "paused" => format!(
                "paused (resume it with helios.resume_migration({}))",
                self.id
            ),
            other => other.into(),
        }
    }

    /// The tables whose checksums differ.
    fn mismatches(&self) -> Vec<String> {
        self.checksums
            .iter()
            .filter(|c| !c.matches())
            .map(|c| {
                format!(
                    "{} (source {} rows, target {} rows)",
                    c.table, c.source_rows, c.target_rows
                )
            })
            .collect()
    }

    /// How it ended, in one line: `migration 3 completed: 1000 rows copied,
    /// 12 changes applied, checksums match (2 tables)`, `migration 3
    /// failed: ...`, `migration 3 rolled back`.
    pub fn final_line(&self) -> String {
        let id = self.id;
        match self.state.as_str() {
            "completed" => {
                let bad = self.mismatches();
                let checks = if bad.is_empty() {
                    format!(
                        "checksums match ({})",
                        plural(self.checksums.len(), "table", "tables")
                    )
                } else {
                    format!("checksums differ: {}", bad.join(", "))
                };
                let cutover = if self.cutover {
                    format!(
                        "; cut over: \"{}\" names the copy, the old source is \"{}_premigration_{id}\"",
                        self.source, self.source
                    )
                } else {
                    String::new()
                };
                format!(
                    "migration {id} completed: {} copied, {} applied, {checks}{cutover}",
                    plural(self.rows_copied as usize, "row", "rows"),
                    plural(self.changes_applied as usize, "change", "changes"),
                )
            }
            "failed" => {
                let why = match &self.error {
                    Some(e) => e.clone(),
                    None => {
                        let bad = self.mismatches();
                        if bad.is_empty() {
                            "no error was recorded".into()
                        } else {
                            format!("checksums differ: {}", bad.join(", "))
                        }
                    }
                };
                format!("migration {id} failed: {why}")
            }
            "rolled_back" => format!("migration {id} was rolled back"),
            other => format!("migration {id} is {other}"),
        }
    }

    /// The checksums as an aligned table (empty when there are none).
    pub fn checksum_table(&self) -> String {
        if self.checksums.is_empty() {
            return String::new();
        }
        let col = |name: &str, numeric| Column {
            name: name.into(),
            numeric,
        };
        let t = Table {
            columns: vec![
                col("table", false),
                col("source rows", true),
                col("target rows", true),
                col("source checksum", false),
                col("target checksum", false),
                col("", false),
            ],
            rows: self
                .checksums
                .iter()
                .map(|c| {
                    vec![
                        Some(c.table.clone()),
                        Some(c.source_rows.to_string()),
                        Some(c.target_rows.to_string()),
                        Some(c.source.clone()),
                        Some(c.target.clone()),
                        Some(if c.matches() { "match" } else { "DIFFER" }.into()),
                    ]
                })
                .collect(),
        };
        format::aligned(&t, None, false)
    }
}

// ---- SQL --------------------------------------------------------------------

fn bad_value(what: &str, v: &str) -> ShellError {
    ShellError::new(
        "XX000",
        format!("unexpected {what} in helios.migrations: \"{v}\""),
    )
}

/// Runs one statement; the rows of its (last) result.
fn rows(backend: &mut dyn Backend, sql: &str) -> ShellResult<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for r in backend.execute(sql, &mut io::sink()) {
        if let Some(t) = r?.table {
            out = t.rows;
        }
    }
    Ok(out)
}

/// The query for migration `id`'s row.
pub fn status_query(id: u64) -> String {
    format!(
        "SELECT id, source, target, state, cutover, lag, total_rows, rows_copied, \
         changes_applied, checksums, error FROM helios.migrations WHERE id = {id}"
    )
}

fn checksum_of(v: &serde_json::Value) -> Option<TableChecksum> {
    let text = |k: &str| v.get(k)?.as_str().map(str::to_string);
    let count = |k: &str| v.get(k)?.as_u64();
    Some(TableChecksum {
        table: text("table")?,
        source_rows: count("source_rows")?,
        source: text("source")?,
        target_rows: count("target_rows")?,
        target: text("target")?,
    })
}

/// A row of [`status_query`] (text values, NULL as None).
pub fn status_from_row(row: &[Option<String>]) -> ShellResult<Status> {
    if row.len() != 11 {
        return Err(ShellError::new(
            "XX000",
            format!(
                "unexpected result from helios.migrations: {} columns instead of 11",
                row.len()
            ),
        ));
    }
    let text = |i: usize| row[i].clone().unwrap_or_default();
    let number = |i: usize, what: &str| -> ShellResult<u64> {
        let v = row[i].as_deref().unwrap_or_default();
        v.parse().map_err(|_| bad_value(what, v))
    };
    let cutover = match row[4].as_deref() {
        Some("t" | "true") => true,
        Some("f" | "false") => false,
        v => return Err(bad_value("cutover", v.unwrap_or("NULL"))),
    };
    let checksums = match row[9].as_deref() {
        None => Vec::new(),
        Some(v) => {
            let json: serde_json::Value =
                serde_json::from_str(v).map_err(|_| bad_value("checksums", v))?;
            let items = json.as_array().ok_or_else(|| bad_value("checksums", v))?;
            items
                .iter()
                .map(|c| checksum_of(c).ok_or_else(|| bad_value("checksums", v)))
                .collect::<ShellResult<_>>()?
        }
    };
    Ok(Status {
        id: number(0, "id")?,
        source: text(1),
        target: text(2),
        state: text(3),
        cutover,
        // NULL until replication starts.
        lag: match row[5].as_deref() {
            None => 0,
            Some(v) => v.parse().map_err(|_| bad_value("lag", v))?,
        },
        total_rows: number(6, "total_rows")?,
        rows_copied: number(7, "rows_copied")?,
        changes_applied: number(8, "changes_applied")?,
        checksums,
        error: row[10].clone(),
    })
}

/// Migration `id` as `helios.migrations` shows it.
pub fn status(backend: &mut dyn Backend, id: u64) -> ShellResult<Status> {
    let rows = rows(backend, &status_query(id))?;
    match rows.first() {
        Some(r) => status_from_row(r),
        None => Err(ShellError::new(
            "42704",
            format!("migration {id} does not exist"),
        )),
    }
}

/// The call that starts a migration.
pub fn start_query(source: &str, target: &str, cutover: bool) -> String {
    format!(
        "SELECT helios.start_migration(source => {}, target => {}{})",
        literal(source),
        literal(target),
        if cutover { ", cutover => true" } else { "" }
    )
}

/// Starts a migration; its id.
pub fn start(
    backend: &mut dyn Backend,
    source: &str,
    target: &str,
    cutover: bool,
) -> ShellResult<u64> {
    let rows = rows(backend, &start_query(source, target, cutover))?;
    let v = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default();
    v.parse().map_err(|_| {
        ShellError::new(
            "XX000",
            format!("unexpected result from helios.start_migration: \"{v}\""),
        )
    })
}

/// `helios.pause_migration(id)` and its kin (`what` is `pause`, `resume`
/// or `rollback`).
pub fn act(backend: &mut dyn Backend, what: &str, id: u64) -> ShellResult<()> {
    rows(backend, &format!("SELECT helios.{what}_migration({id})"))?;
    Ok(())
}

// ---- following --------------------------------------------------------------

/// How the progress is shown.
pub trait View {
    fn update(&mut self, s: &Status);
    /// Following ends (the migration is over, or the follower stops).
    fn finish(&mut self);
}

/// Plain lines (no ANSI) for pipes and logs: `migration 3 snapshotting,
/// 20000 of 200000 rows copied`, when the state changes, and at most once
/// every [`PLAIN_EVERY`] when only the figures do. The end is left to the
/// final line.
pub struct Plain<W: Write> {
    out: W,
    last_state: Option<String>,
    last_line: String,
    printed: Option<Instant>,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Plain<W> {
        Plain {
            out,
            last_state: None,
            last_line: String::new(),
            printed: None,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> View for Plain<W> {
    fn update(&mut self, s: &Status) {
        if s.over() {
            return;
        }
        let line = format!("migration {} {}", s.id, s.progress());
        let new_state = self.last_state.as_deref() != Some(s.state.as_str());
        let due = self.printed.is_none_or(|t| t.elapsed() >= PLAIN_EVERY);
        if new_state || (line != self.last_line && due) {
            let _ = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
            self.last_state = Some(s.state.clone());
            self.last_line = line;
            self.printed = Some(Instant::now());
        }
    }

    fn finish(&mut self) {}
}

/// The terminal view: a bar over the rows to copy while snapshotting, a
/// spinner with a message otherwise; drawn on standard error.
pub struct Bar {
    bar: Option<ProgressBar>,
    copying: bool,
}

impl Bar {
    pub fn new() -> Bar {
        Bar {
            bar: None,
            copying: false,
        }
    }

    fn replace(&mut self, bar: ProgressBar, copying: bool) -> &ProgressBar {
        if let Some(old) = self.bar.take() {
            old.finish_and_clear();
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        self.copying = copying;
        self.bar.insert(bar)
    }
}

impl Default for Bar {
    fn default() -> Bar {
        Bar::new()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .progress_chars("=> ")
}

impl View for Bar {
    fn update(&mut self, s: &Status) {
        if s.over() {
            // The end is reported once the bar is cleared.
            return;
        }
        let copying = s.state == "snapshotting" && s.total_rows > 0;
        if copying {
            if !self.copying || self.bar.is_none() {
                let bar =
                    ProgressBar::with_draw_target(Some(s.total_rows), ProgressDrawTarget::stderr());
                bar.set_style(style(
                    "{spinner} {prefix} copying [{wide_bar}] {human_pos}/{human_len} rows {percent}% eta {eta}",
                ));
                bar.set_prefix(format!("migration {}", s.id));
                self.replace(bar, true);
            }
            if let Some(b) = &self.bar {
                b.set_length(s.total_rows);
                b.set_position(s.rows_copied.min(s.total_rows));
            }
            return;
        }
        if self.copying {
            // The snapshot is copied: leave a line for it.
            if let Some(b) = &self.bar {
                b.println(format!(
                    "migration {}: snapshot copied, {}",
                    s.id,
                    plural(s.rows_copied as usize, "row", "rows")
                ));
            }
        }
        if self.copying || self.bar.is_none() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(style("{spinner} {msg}"));
            self.replace(bar, false);
        }
        if let Some(b) = &self.bar {
            b.set_message(format!("migration {} {}", s.id, s.progress()));
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        self.copying = false;
    }
}

/// How following ended.
#[derive(Debug)]
pub enum Ended {
    /// Completed, failed or rolled back.
    Over(Status),
    /// The follower stopped (Ctrl-C); the migration is as last seen.
    Stopped(Status),
}

/// Reads migration `id` every [`POLL`], showing it in `view`, until it is
/// over or `stop` says so.
pub fn follow(
    backend: &mut dyn Backend,
    id: u64,
    view: &mut dyn View,
    stop: &dyn Fn() -> bool,
) -> ShellResult<Ended> {
    loop {
        let s = match status(backend, id) {
            Ok(s) => s,
            Err(e) => {
                view.finish();
                return Err(e);
            }
        };
        view.update(&s);
        if s.over() {
            view.finish();
            return Ok(Ended::Over(s));
        }
        let until = Instant::now() + POLL;
        loop {
            if stop() {
                view.finish();
                return Ok(Ended::Stopped(s));
            }
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }
}

/// Prints how it ended: on a terminal the checksums first (standard error),
/// then the final line on standard output; after a failure, `hint`.
fn report(s: &Status, terminal: bool, hint: &str) {
    if terminal {
        let table = s.checksum_table();
        if !table.is_empty() {
            eprint!("{table}");
        }
    }
    println!("{}", s.final_line());
    let _ = io::stdout().flush();
    if s.state == "failed" {
        eprintln!("HINT: {hint}");
    }
}

// ---- the interactive shell ----------------------------------------------------

/// Ctrl-C presses seen by the interactive shell's handler
/// ([`note_interrupt`]); following stops when the count changes.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Called by the interactive shell's SIGINT handler.
pub(crate) fn note_interrupt() {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// Whether `sql` is exactly a call `SELECT helios.start_migration(...)`.
pub fn is_start_call(sql: &str) -> bool {
    let s = sql.trim().trim_end_matches(';').trim_end();
    let Some(rest) = s
        .get(..6)
        .filter(|w| w.eq_ignore_ascii_case("select"))
        .map(|_| &s[6..])
    else {
        return false;
    };
    if !rest.starts_with(char::is_whitespace) {
        return false;
    }
    let rest = rest.trim_start();
    let name = "helios.start_migration";
    let Some(args) = rest
        .get(..name.len())
        .filter(|w| w.eq_ignore_ascii_case(name))
        .map(|_| rest[name.len()..].trim_start())
    else {
        return false;
    };
    // One parenthesised argument list that ends the statement.
    args.starts_with('(') && super::copy::paren_group(args) == Some(args.len())
}

/// The id a statement's outcome shows if the statement started a migration.
pub(crate) fn started_id(sql: &str, o: &Outcome) -> Option<u64> {
    let t = o.table.as_ref()?;
    if t.columns.len() != 1 || t.rows.len() != 1 || !is_start_call(sql) {
        return None;
    }
    t.rows[0][0].as_deref()?.parse().ok()
}

/// After `SELECT helios.start_migration(...)` at the prompt: follows the
/// migration on a terminal until it is over or Ctrl-C (which stops the
/// following, not the migration).
pub(crate) fn follow_in_shell(backend: &mut dyn Backend, id: u64) -> ShellResult<()> {
    if !io::stderr().is_terminal() {
        return Ok(());
    }
    let seen = INTERRUPTS.load(Ordering::SeqCst);
    let stop = || INTERRUPTS.load(Ordering::SeqCst) != seen;
    eprintln!("Following migration {id}; Ctrl-C stops following (not the migration).");
    let mut view = Bar::new();
    match follow(backend, id, &mut view, &stop) {
        Ok(Ended::Over(s)) => {
            report(
                &s,
                true,
                &format!(
                    "SELECT helios.resume_migration({id}) starts it over, \
                     SELECT helios.rollback_migration({id}) removes what it copied."
                ),
            );
            Ok(())
        }
        Ok(Ended::Stopped(_)) => {
            stopped_in_shell(backend, id);
            Ok(())
        }
        // Ctrl-C canceled the look at helios.migrations.
        Err(e) if e.code == "57014" => {
            stopped_in_shell(backend, id);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn stopped_in_shell(backend: &dyn Backend, id: u64) {
    let where_ = if backend.in_process() {
        "while this database is open"
    } else {
        "on the server"
    };
    eprintln!(
        "Stopped following migration {id}; it goes on {where_} \
         (SELECT * FROM helios.migrations WHERE id = {id} shows it)."
    );
}

// ---- heliosdb migrate -----------------------------------------------------------

/// What `heliosdb migrate` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Start {
        source: String,
        target: String,
        cutover: bool,
    },
    Follow(u64),
    Pause(u64),
    Resume(u64),
    Rollback(u64),
}

/// `heliosdb migrate`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateOptions {
    pub source: Source,
    pub action: Action,
    /// Follow the migration after starting or resuming it (not `--no-wait`).
    pub wait: bool,
}

/// Runs `heliosdb migrate`; the exit status: 0, or 1 when the migration
/// failed or was rolled back while followed, or on an error (printed as
/// `heliosdb: ERROR: ...`). `stop` (SIGINT, SIGTERM) stops following.
pub fn run(opts: &MigrateOptions, stop: &AtomicBool) -> i32 {
    let r = match &opts.source {
        Source::DataDir(dir) => embedded(dir, opts, stop),
        Source::Url(url) => remote(url, opts, stop),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            let _ = tail::print_error(&mut io::stderr(), &e);
            1
        }
    }
}

/// Where the migration runs, for the messages.
enum Place<'a> {
    DataDir(&'a Path),
    Server,
}

impl Place<'_> {
    /// The command-line argument naming the database.
    fn arg(&self) -> String {
        match self {
            Place::DataDir(d) => format!("--data-dir {}", shell_word(&d.display().to_string())),
            Place::Server => "URL".into(),
        }
    }
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn embedded(dir: &Path, opts: &MigrateOptions, stop: &AtomicBool) -> ShellResult<i32> {
    // Opening creates a missing data directory: refuse instead.
    if !dir.join(crate::storage::disk::FILE_NAME).is_file() {
        return Err(ShellError::new(
            "58P01",
            format!(
                "\"{}\" is not a HeliosDB data directory (no {} in it)",
                dir.display(),
                crate::storage::disk::FILE_NAME
            ),
        ));
    }
    let db = Database::open(dir)?;
    let mut session = db.connect();
    let r = {
        let mut backend = Embedded::new(
            &mut session,
            format!("in the data directory \"{}\"", dir.display()),
        );
        drive(&mut backend, opts, stop, &Place::DataDir(dir))
    };
    drop(session);
    let synced = db.sync();
    let code = r?;
    synced?;
    Ok(code)
}

fn remote(url: &str, opts: &MigrateOptions, stop: &AtomicBool) -> ShellResult<i32> {
    let mut params = ConnParams::parse(url)?;
    if params.application_name == "heliosdb shell" {
        params.application_name = "heliosdb migrate".into();
    }
    let mut remote = Remote::connect(params)?;
    drive(&mut remote, opts, stop, &Place::Server)
}

fn drive(
    backend: &mut dyn Backend,
    opts: &MigrateOptions,
    stop: &AtomicBool,
    place: &Place,
) -> ShellResult<i32> {
    let (id, done) = match &opts.action {
        Action::Start {
            source,
            target,
            cutover,
        } => (start(backend, source, target, *cutover)?, "started"),
        Action::Follow(id) => (*id, ""),
        Action::Resume(id) => {
            act(backend, "resume", *id)?;
            (*id, "resumed")
        }
        Action::Pause(id) => {
            act(backend, "pause", *id)?;
            println!("migration {id} paused");
            return Ok(0);
        }
        Action::Rollback(id) => {
            act(backend, "rollback", *id)?;
            println!("migration {id} rolled back");
            return Ok(0);
        }
    };
    let again = place.arg();
    if !done.is_empty() {
        if !opts.wait {
            println!("migration {id} {done}");
            let _ = io::stdout().flush();
            let note = match place {
                Place::DataDir(_) => " (it runs only while the data directory is open)",
                Place::Server => "",
            };
            eprintln!("Follow it with: heliosdb migrate {again} --follow {id}{note}");
            return Ok(0);
        }
        if !io::stderr().is_terminal() {
            eprintln!("migration {id} {done}");
        }
    }
    let terminal = io::stderr().is_terminal();
    let mut view: Box<dyn View> = if terminal {
        Box::new(Bar::new())
    } else {
        Box::new(Plain::new(io::stderr()))
    };
    let stopped = || stop.load(Ordering::SeqCst);
    match follow(backend, id, view.as_mut(), &stopped)? {
        Ended::Over(s) => {
            let hint = format!(
                "Start it over with heliosdb migrate {again} --resume {id}, or remove what \
                 it copied with heliosdb migrate {again} --rollback {id}."
            );
            report(&s, terminal, &hint);
            Ok(if s.succeeded() { 0 } else { 1 })
        }
        Ended::Stopped(s) => {
            match place {
                Place::Server => eprintln!(
                    "Stopped following migration {id} ({}); it goes on in the server.\n\
                     Follow it again with: heliosdb migrate {again} --follow {id}",
                    s.state
                ),
                Place::DataDir(_) => eprintln!(
                    "Stopped following migration {id} ({}). It runs only while the data \
                     directory is open, so it pauses now and resumes when the directory is \
                     opened again (a snapshot being copied then starts over).\n\
                     Follow it again with: heliosdb migrate {again} --follow {id}",
                    s.state
                ),
            }
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str) -> Status {
        Status {
            id: 3,
            source: "acme".into(),
            target: "acme_eu".into(),
            state: state.into(),
            cutover: false,
            lag: 5,
            total_rows: 1000,
            rows_copied: 400,
            changes_applied: 12,
            checksums: vec![
                TableChecksum {
                    table: "public.orders".into(),
                    source_rows: 600,
                    source: "00000000000000aa".into(),
                    target_rows: 600,
                    target: "00000000000000aa".into(),
                },
                TableChecksum {
                    table: "public.items".into(),
                    source_rows: 400,
                    source: "00000000000000bb".into(),
                    target_rows: 400,
                    target: "00000000000000bb".into(),
                },
            ],
            error: None,
        }
    }

    #[test]
    fn final_lines() {
        let mut s = status("completed");
        s.rows_copied = 1000;
        assert_eq!(
            s.final_line(),
            "migration 3 completed: 1000 rows copied, 12 changes applied, checksums match (2 tables)"
        );
        s.cutover = true;
        s.changes_applied = 1;
        s.checksums.pop();
        assert_eq!(
            s.final_line(),
            "migration 3 completed: 1000 rows copied, 1 change applied, checksums match (1 table); \
             cut over: \"acme\" names the copy, the old source is \"acme_premigration_3\""
        );
        let mut f = status("failed");
        f.error = Some("disk full (53100)".into());
        assert_eq!(f.final_line(), "migration 3 failed: disk full (53100)");
        // A failed verification records no error: the checksums say it.
        f.error = None;
        f.checksums[1].target_rows = 399;
        f.checksums[1].target = "00000000000000cc".into();
        assert_eq!(
            f.final_line(),
            "migration 3 failed: checksums differ: public.items (source 400 rows, target 399 rows)"
        );
        assert!(f.checksum_table().contains("DIFFER"));
        assert_eq!(
            status("rolled_back").final_line(),
            "migration 3 was rolled back"
        );
        assert!(status("completed").succeeded() && status("completed").over());
        assert!(status("failed").over() && !status("failed").succeeded());
        assert!(!status("paused").over());
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            status("snapshotting").progress(),
            "snapshotting, 400 of 1000 rows copied"
        );
        assert_eq!(
            status("replicating").progress(),
            "replicating, lag 5 changes, 12 applied"
        );
        assert_eq!(status("verifying").progress(), "verifying checksums");
        assert_eq!(status("pending").progress(), "pending");
    }

    #[test]
    fn plain_lines_on_changes_of_state() {
        let mut v = Plain::new(Vec::new());
        let mut s = status("pending");
        v.update(&s);
        v.update(&s);
        s.state = "snapshotting".into();
        v.update(&s);
        // The figures alone: not again within a second.
        s.rows_copied = 500;
        v.update(&s);
        s.state = "replicating".into();
        v.update(&s);
        s.state = "completed".into();
        v.update(&s);
        v.finish();
        let out = String::from_utf8(v.into_inner()).unwrap();
        assert_eq!(
            out,
            "migration 3 pending\n\
             migration 3 snapshotting, 400 of 1000 rows copied\n\
             migration 3 replicating, lag 5 changes, 12 applied\n"
        );
    }

    #[test]
    fn rows_from_helios_migrations() {
        let row: Vec<Option<String>> = vec![
            Some("3".into()),
            Some("acme".into()),
            Some("acme_eu".into()),
            Some("completed".into()),
            Some("t".into()),
            Some("0".into()),
            Some("10".into()),
            Some("10".into()),
            Some("2".into()),
            Some(
                r#"[{"table": "public.orders", "source_rows": 10, "source": "00ff", "target_rows": 10, "target": "00ff"}]"#
                    .into(),
            ),
            None,
        ];
        let s = status_from_row(&row).unwrap();
        assert_eq!(
            (s.id, s.cutover, s.total_rows, s.changes_applied),
            (3, true, 10, 2)
        );
        assert_eq!(s.checksums.len(), 1);
        assert!(s.checksums[0].matches());
        assert_eq!(s.error, None);
        // Bad values are errors, not panics.
        for (i, v) in [(0, "x"), (4, "maybe"), (6, "-1"), (9, "{"), (9, "[1]")] {
            let mut bad = row.clone();
            bad[i] = Some(v.into());
            assert!(status_from_row(&bad).is_err(), "{i} {v}");
        }
        assert!(status_from_row(&row[..5]).is_err());
    }

    #[test]
    fn start_calls_are_recognised() {
        for yes in [
            "SELECT helios.start_migration('a', 'b')",
            "select  HELIOS.START_MIGRATION (source => 'a', target => 'b(', cutover => true);",
            "SELECT\nhelios.start_migration(source => 'a', target => 'b')  ; ",
        ] {
            assert!(is_start_call(yes), "{yes}");
        }
        for no in [
            "SELECT helios.start_migration('a', 'b') AS id",
            "SELECT helios.start_migration('a', 'b'), 1",
            "SELECT helios.pause_migration(1)",
            "SELECThelios.start_migration('a', 'b')",
            "SELECT helios.start_migration",
            "SELECT helios.start_migration('a'",
            "SELECT * FROM helios.migrations",
            "",
            "sel",
        ] {
            assert!(!is_start_call(no), "{no}");
        }
        let one = |v: &str| Outcome {
            tag: "SELECT 1".into(),
            table: Some(Table {
                columns: vec![Column {
                    name: "start_migration".into(),
                    numeric: true,
                }],
                rows: vec![vec![Some(v.into())]],
            }),
            ..Outcome::default()
        };
        let sql = "SELECT helios.start_migration('a', 'b')";
        assert_eq!(started_id(sql, &one("7")), Some(7));
        assert_eq!(started_id(sql, &one("x")), None);
        assert_eq!(started_id("SELECT 7", &one("7")), None);
    }

    #[test]
    fn quoting_for_the_hint() {
        assert_eq!(shell_word("/tmp/data-1"), "/tmp/data-1");
        assert_eq!(shell_word("my data"), "'my data'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(
            start_query("o'b", "x", true),
            "SELECT helios.start_migration(source => 'o''b', target => 'x', cutover => true)"
        );
    }
}
