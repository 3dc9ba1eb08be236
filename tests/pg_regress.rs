//! PostgreSQL's own regression scripts for INSERT, UPDATE, DELETE, ON
//! CONFLICT and RETURNING, run through psql against a real `heliosdb serve`
//! and compared statement by statement with the output PostgreSQL 15 gives.
//!
//! The scripts are the `marked/` versions in `../shared/conformance/postgres`
//! (or `$HELIOSDB_PG_REGRESS_DIR`): after every statement they `\echo` a
//! marker `@@U n@@`, so psql's output splits into one unit per statement.
//! Each file runs on a fresh server with `psql -X -a -q` reading the script
//! on stdin (as PostgreSQL's expected output was made); `returning` first
//! gets `sql/returning_prelude.sql`, the tables it borrows from other scripts.
//!
//! A unit passes when its output equals PostgreSQL's, except for the
//! `LINE n:` excerpt and caret psql prints under an error (HeliosDB does not
//! report error positions yet), which are left out of both sides.
//!
//! Failing units are listed in `tests/conformance/pg_expected_failures.txt`
//! (`file:unit`, a tab, the first differing line). A failing unit not in the
//! list fails the test; listed units that now pass are reported.
//! `HELIOSDB_BLESS=1` rewrites the list. Without psql the test is skipped,
//! except under `CI=true` (`.ci/run` installs psql).

mod common;

use common::Server;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FILES: &[&str] = &["delete", "insert", "insert_conflict", "returning", "update"];

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("HELIOSDB_PG_REGRESS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/postgres")
        });
    dir.join("marked").is_dir().then_some(dir)
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn psql_available() -> bool {
    Command::new("psql")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `script` through `psql -X -a -q` on stdin and returns its output
/// (stdout and stderr interleaved, as the expected files have them).
fn psql(server: &Server, script: &str) -> String {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "psql -X -a -q -h 127.0.0.1 -p {} -U heliosdb -d heliosdb 2>&1",
            server.port
        ))
        .env("PGTZ", "PST8PDT")
        .env("PGDATESTYLE", "Postgres, MDY")
        .env("PGAPPNAME", "pg_regress")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run psql");
    let mut stdin = child.stdin.take().unwrap();
    let script = script.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(script.as_bytes());
    });
    let out = child.wait_with_output().expect("psql output");
    writer.join().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Splits psql's output into units at the `@@U n@@` lines it echoed,
/// leaving out error positions.
fn units(output: &str) -> BTreeMap<usize, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut current = Vec::new();
    let mut caret_next = false;
    for line in output.lines() {
        if let Some(n) = line
            .strip_prefix("@@U ")
            .and_then(|r| r.strip_suffix("@@"))
            .and_then(|n| n.parse::<usize>().ok())
        {
            out.insert(n, std::mem::take(&mut current));
            continue;
        }
        if caret_next {
            caret_next = false;
            if line.trim_start().starts_with('^') {
                continue;
            }
        }
        if line.starts_with("LINE ")
            && line[5..]
                .split(':')
                .next()
                .is_some_and(|d| d.parse::<u32>().is_ok())
        {
            caret_next = true;
            continue;
        }
        current.push(line.to_string());
    }
    out
}

fn expected_failures(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn postgres_regression_scripts() {
    let Some(dir) = corpus() else {
        assert!(
            !ci(),
            "PostgreSQL regression scripts not found; they must run in CI"
        );
        eprintln!("pg_regress: corpus not found, skipped");
        return;
    };
    if !psql_available() {
        assert!(!ci(), "psql not found; .ci/run installs it");
        eprintln!("pg_regress: psql not found, skipped");
        return;
    }
    let list =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/pg_expected_failures.txt");
    let known = expected_failures(&list);
    let mut failing: BTreeMap<String, String> = BTreeMap::new();
    let mut summary = Vec::new();
    for file in FILES {
        let script =
            std::fs::read_to_string(dir.join(format!("marked/{file}.marked.sql"))).unwrap();
        let expected =
            std::fs::read_to_string(dir.join(format!("marked/{file}.marked.expected.out")))
                .unwrap();
        let server = Server::start(&[]);
        if *file == "returning" {
            let prelude = std::fs::read_to_string(dir.join("sql/returning_prelude.sql")).unwrap();
            psql(&server, &prelude);
        }
        let got = units(&psql(&server, &script));
        let want = units(&expected);
        let mut passed = 0;
        for (n, lines) in &want {
            let key = format!("{file}:{n}");
            match got.get(n) {
                Some(g) if g == lines => passed += 1,
                other => {
                    let g = other.cloned().unwrap_or_default();
                    let first = lines
                        .iter()
                        .zip(g.iter().chain(std::iter::repeat(&String::new())))
                        .find(|(w, g)| w != g)
                        .map(|(w, g)| format!("expected {w:?}, got {g:?}"))
                        .unwrap_or_else(|| format!("extra output: {:?}", g.get(lines.len())));
                    failing.insert(key, first);
                }
            }
        }
        summary.push(format!(
            "{file}: {passed} of {} statements pass",
            want.len()
        ));
    }
    for line in &summary {
        println!("{line}");
    }
    if std::env::var("HELIOSDB_BLESS").is_ok_and(|v| v == "1") {
        let mut text = String::from(
            "# PostgreSQL regression units that do not pass yet (tests/pg_regress.rs).\n\
             # file:unit<TAB>first difference. Rewrite with HELIOSDB_BLESS=1.\n",
        );
        for (k, why) in &failing {
            text.push_str(&format!("{k}\t{}\n", why.replace('\t', " ")));
        }
        std::fs::write(&list, text).unwrap();
        println!(
            "pg_regress: wrote {} entries to {}",
            failing.len(),
            list.display()
        );
        return;
    }
    let regressions: Vec<_> = failing
        .iter()
        .filter(|(k, _)| !known.contains(*k))
        .collect();
    let fixed: Vec<_> = known.iter().filter(|k| !failing.contains_key(*k)).collect();
    if !fixed.is_empty() {
        println!(
            "pg_regress: {} listed unit(s) now pass (re-bless): {fixed:?}",
            fixed.len()
        );
    }
    for (k, why) in &regressions {
        println!("REGRESSION {k}: {why}");
    }
    assert!(
        regressions.is_empty(),
        "{} unit(s) regressed",
        regressions.len()
    );
}
