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
//! report error positions yet), which are left out of both sides, and for
//! the order of result rows of a statement without ORDER BY, which SQL
//! leaves open (PostgreSQL's follows its heap: updated rows move to the end).
//!
//! Statements that test what HeliosDB does not have and will not copy
//! (inheritance and partitioning, rules, triggers, plan shapes, ...) are left
//! out of the count by the reasoned list `tests/conformance/pg_left_out.txt`
//! (see `left_out.rs`); the measure is how many of the remaining units pass.
//!
//! Failing units that run are listed in
//! `tests/conformance/pg_expected_failures.txt` (`file:unit`, a tab, the first
//! differing line). A failing unit not in the list fails the test; listed
//! units that now pass are reported. `HELIOSDB_BLESS=1` rewrites the list and
//! the numbers in `docs/conformance.md`. Each run leaves psql's output, the
//! differences and the left-out units with their reasons in
//! `$CARGO_TARGET_TMPDIR/pg_regress/`. Without psql the test is skipped,
//! except under `CI=true` (`.ci/run` installs psql).

mod common;
#[path = "pg_regress/left_out.rs"]
mod left_out;

use common::Server;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FILES: &[&str] = &[
    "delete",
    "insert",
    "insert_conflict",
    "returning",
    "rowsecurity",
    "update",
];

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

/// Runs `script` through psql the way pg_regress does (`-X -a -q` with
/// `HIDE_TABLEAM` and `HIDE_TOAST_COMPRESSION` set, the script on stdin) and
/// returns its output (stdout and stderr interleaved, as the expected files
/// have them).
fn psql(server: &Server, script: &str) -> String {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "psql -X -a -q -v HIDE_TABLEAM=on -v HIDE_TOAST_COMPRESSION=on \
             -h 127.0.0.1 -p {} -U heliosdb -d heliosdb 2>&1",
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

/// The lines of a unit's output with the rows of each result table sorted:
/// used for statements without ORDER BY, whose row order SQL leaves open.
/// PostgreSQL returns such rows in heap order (an updated row moves to the
/// end of its table), which HeliosDB's key-ordered tables do not reproduce.
fn sort_result_rows(lines: &[String]) -> Vec<String> {
    let is_rule = |l: &str| !l.is_empty() && l.chars().all(|c| c == '-' || c == '+');
    let is_footer = |l: &str| {
        l.strip_prefix('(')
            .and_then(|r| r.strip_suffix(" rows)").or_else(|| r.strip_suffix(" row)")))
            .is_some_and(|n| n.parse::<u64>().is_ok())
    };
    let mut out = lines.to_vec();
    let mut i = 0;
    while i < out.len() {
        if is_rule(&out[i]) {
            let start = i + 1;
            let end = (start..out.len())
                .find(|&j| is_footer(&out[j]))
                .unwrap_or(start);
            out[start..end].sort();
            i = end;
        }
        i += 1;
    }
    out
}

const DOC_PATH: &str = "docs/conformance.md";
const DOC_BEGIN: &str = "<!-- BEGIN GENERATED: cargo test --test pg_regress -->";
const DOC_END: &str = "<!-- END GENERATED: pg_regress -->";

/// Per-file counts.
#[derive(Default)]
struct Counts {
    units: usize,
    left_out: usize,
    passed: usize,
    /// Left-out units whose output matches anyway (a hint that an exclusion
    /// is broader than it needs to be).
    left_out_passing: usize,
}

impl Counts {
    fn run(&self) -> usize {
        self.units - self.left_out
    }
}

fn percent(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

fn table(counts: &[(&str, Counts)]) -> String {
    let mut t = String::from(
        "| file | units | left out | run | pass | pass / run |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mut total = Counts::default();
    for (file, c) in counts {
        t.push_str(&format!(
            "| {file} | {} | {} | {} | {} | {} |\n",
            c.units,
            c.left_out,
            c.run(),
            c.passed,
            percent(c.passed, c.run())
        ));
        total.units += c.units;
        total.left_out += c.left_out;
        total.passed += c.passed;
    }
    t.push_str(&format!(
        "| **total** | {} | {} | {} | {} | {} |\n",
        total.units,
        total.left_out,
        total.run(),
        total.passed,
        percent(total.passed, total.run())
    ));
    t
}

/// Rewrites the generated numbers in `docs/conformance.md`.
fn write_doc(counts: &[(&str, Counts)], categories: &[(String, usize)]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC_PATH);
    let Ok(doc) = std::fs::read_to_string(&path) else {
        return;
    };
    let (Some(begin), Some(end)) = (doc.find(DOC_BEGIN), doc.find(DOC_END)) else {
        eprintln!("{DOC_PATH} has no pg_regress markers; not updated");
        return;
    };
    let mut cats = String::from("| category | units left out |\n| --- | ---: |\n");
    for (name, n) in categories {
        cats.push_str(&format!("| {name} | {n} |\n"));
    }
    let generated = format!(
        "{DOC_BEGIN}\n\nResults of `HELIOSDB_BLESS=1 cargo test --test pg_regress` \
         (PostgreSQL 15.18 passes every unit):\n\n{}\nLeft out, by category (a unit counts \
         under the first category that names it; `dependent` units use an object only a \
         left-out statement created):\n\n{}\n",
        table(counts),
        cats
    );
    let new = format!("{}{generated}{}", &doc[..begin], &doc[end..]);
    std::fs::write(&path, new).expect("write docs/conformance.md");
}

/// The first line where `want` and `got` differ, for the list.
fn first_difference(want: &[String], got: &[String]) -> String {
    want.iter()
        .zip(got.iter().chain(std::iter::repeat(&String::new())))
        .find(|(w, g)| w != g)
        .map(|(w, g)| format!("expected {w:?}, got {g:?}"))
        .unwrap_or_else(|| format!("extra output: {:?}", got.get(want.len())))
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = root.join("tests/conformance/pg_expected_failures.txt");
    let known = expected_failures(&list);
    let categories = left_out::parse(
        &std::fs::read_to_string(root.join("tests/conformance/pg_left_out.txt"))
            .expect("read tests/conformance/pg_left_out.txt"),
    )
    .unwrap_or_else(|e| panic!("tests/conformance/pg_left_out.txt: {e}"));
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pg_regress");
    std::fs::create_dir_all(&scratch).expect("create scratch directory");
    let mut failing: BTreeMap<String, String> = BTreeMap::new();
    let mut counts = Vec::new();
    let mut per_category: BTreeMap<String, usize> = BTreeMap::new();
    let mut left_out_report = String::new();
    for file in FILES {
        let read = |p: String| {
            std::fs::read_to_string(dir.join(&p)).unwrap_or_else(|e| panic!("read {p}: {e}"))
        };
        let script = read(format!("marked/{file}.marked.sql"));
        let expected = read(format!("marked/{file}.marked.expected.out"));
        let want = units(&expected);
        let units_json = left_out::read_units(&read(format!("marked/{file}.units.json")));
        let left = left_out::classify(&categories, file, &units_json, &want);
        let sql = left_out::expanded_sql(&units_json);
        let server = Server::start(&[]);
        if *file == "returning" {
            psql(&server, &read("sql/returning_prelude.sql".into()));
        }
        let output = psql(&server, &script);
        drop(server);
        std::fs::write(scratch.join(format!("{file}.out")), &output).expect("write output");
        let got = units(&output);
        let mut c = Counts {
            units: want.len(),
            ..Counts::default()
        };
        let mut diffs = String::new();
        for (n, lines) in &want {
            let g = got.get(n).cloned().unwrap_or_default();
            let ordered = sql.get(n).is_none_or(|t| left_out::has_order_by(t));
            let pass = &g == lines || (!ordered && sort_result_rows(&g) == sort_result_rows(lines));
            if let Some(why) = left.get(n) {
                c.left_out += 1;
                c.left_out_passing += usize::from(pass);
                let (cat, note) = match why {
                    left_out::Why::Category(name) => (name.clone(), String::new()),
                    left_out::Why::Dependent { name, created_by } => (
                        "dependent".to_string(),
                        format!(" (uses {name}, from unit {created_by})"),
                    ),
                };
                *per_category.entry(cat.clone()).or_default() += 1;
                left_out_report.push_str(&format!(
                    "{file}:{n}\t{cat}{note}{}\n",
                    if pass { " [passes]" } else { "" }
                ));
                continue;
            }
            if pass {
                c.passed += 1;
                continue;
            }
            failing.insert(format!("{file}:{n}"), first_difference(lines, &g));
            diffs.push_str(&format!("=== {file}:{n}\n"));
            for l in lines {
                diffs.push_str(&format!("-{l}\n"));
            }
            for l in &g {
                diffs.push_str(&format!("+{l}\n"));
            }
        }
        std::fs::write(scratch.join(format!("{file}.diff")), diffs).expect("write diff");
        counts.push((*file, c));
    }
    std::fs::write(scratch.join("left_out.txt"), left_out_report).expect("write report");
    println!("{}", table(&counts));
    for (file, c) in &counts {
        if c.left_out_passing > 0 {
            println!(
                "pg_regress: {file}: {} left-out unit(s) pass anyway",
                c.left_out_passing
            );
        }
    }
    println!(
        "pg_regress: outputs and differences in {}",
        scratch.display()
    );
    if std::env::var("HELIOSDB_BLESS").is_ok_and(|v| v == "1") {
        let mut text = String::from(
            "# PostgreSQL regression units that run and do not pass yet (tests/pg_regress.rs).\n\
             # Left-out units (tests/conformance/pg_left_out.txt) are not listed.\n\
             # file:unit<TAB>first difference. Rewrite with HELIOSDB_BLESS=1.\n",
        );
        for (k, why) in &failing {
            text.push_str(&format!("{k}\t{}\n", why.replace('\t', " ")));
        }
        std::fs::write(&list, text).unwrap();
        let mut cats: Vec<(String, usize)> = categories
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    per_category.get(&c.name).copied().unwrap_or(0),
                )
            })
            .collect();
        cats.push((
            "dependent".into(),
            per_category.get("dependent").copied().unwrap_or(0),
        ));
        write_doc(&counts, &cats);
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
            "pg_regress: {} listed unit(s) now pass or are left out (re-bless): {:?}{}",
            fixed.len(),
            &fixed[..fixed.len().min(20)],
            if fixed.len() > 20 { " ..." } else { "" }
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
