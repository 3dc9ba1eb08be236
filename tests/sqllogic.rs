//! Runs the sqllogictest files under `tests/sql/` against HeliosDB Nano,
//! once on the in-memory engine and once on the disk engine.
//!
//! Every record of every file is run (a mismatch does not stop the file), so
//! the summary shows the real number of failures. `connection <name>`
//! records open further sessions on the same database, for multi-session
//! and multi-tenant cases.
//!
//! Usage: `cargo test --test sqllogic [-- FILTER]`.

use heliosdb_nano::{DataType, Database, Session, Value};
use sqllogictest::{DBOutput, DefaultColumnType, Record, Runner, parse_file};
use std::path::{Path, PathBuf};

struct Conn(Session);

/// Formats a value the sqllogictest way: NULL, (empty), PostgreSQL text otherwise.
fn format_value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        other => {
            let s = other.to_string();
            if s.is_empty() { "(empty)".into() } else { s }
        }
    }
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
        let mut results = self.0.run(sql)?;
        let Some(last) = results.pop() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        match last.rows {
            Some(rows) => Ok(DBOutput::Rows {
                types: rows.columns().iter().map(|c| column_type(&c.ty)).collect(),
                rows: rows
                    .iter()
                    .map(|r| r.values().iter().map(format_value).collect())
                    .collect(),
            }),
            None => Ok(DBOutput::StatementComplete(last.affected)),
        }
    }

    fn engine_name(&self) -> &str {
        "heliosdb"
    }

    fn error_sql_state(err: &Self::Error) -> Option<String> {
        Some(err.sqlstate().to_string())
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            slt_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "slt") {
            out.push(p);
        }
    }
}

/// Runs one file on `db`; returns the failures as printable strings.
fn run_file(db: &Database, path: &Path) -> Vec<String> {
    let records = match parse_file::<DefaultColumnType>(path) {
        Ok(r) => r,
        Err(e) => return vec![format!("{}: parse error: {e}", path.display())],
    };
    let db2 = db.clone();
    let mut runner = Runner::new(move || {
        let db = db2.clone();
        async move { Ok::<_, heliosdb_nano::Error>(Conn(db.connect())) }
    });
    let mut failures = Vec::new();
    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        if let Err(e) = runner.run(record) {
            failures.push(format!("{}", e.display(false)));
        }
    }
    failures
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let mut files = Vec::new();
    slt_files(&root, &mut files);
    if let Some(f) = &filter {
        files.retain(|p| p.to_string_lossy().contains(f.as_str()));
    }
    let mut failed = 0usize;
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        for engine in ["memory", "disk"] {
            let dir = tempfile::tempdir().expect("temp dir");
            let db = match engine {
                "memory" => Database::open_in_memory(),
                _ => Database::open(dir.path().join("data")),
            }
            .expect("open database");
            let failures = run_file(&db, path);
            if failures.is_empty() {
                println!("ok      {name} ({engine})");
            } else {
                println!("FAILED  {name} ({engine}): {} record(s)", failures.len());
                for f in &failures {
                    println!("{f}");
                }
                failed += failures.len();
            }
        }
    }
    println!("\n{} file(s), {failed} failing record(s)", files.len());
    if failed > 0 {
        std::process::exit(1);
    }
}
