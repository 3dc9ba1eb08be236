//! Real client libraries against a real `heliosdb serve`: psycopg 3 and
//! SQLAlchemy 2 (`tests/clients/psycopg_check.py`) and node-postgres
//! (`tests/clients/pg_check.js`). Each script gets the server's connection
//! string, prints one line per check and exits non-zero if one failed.
//!
//! A missing interpreter or package skips its test with a note, except under
//! `CI=true`, where `.ci/run` installs them and a missing one fails.

use std::path::Path;
use std::process::Command;

mod common;

use common::Server;

fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// True when `program args...` runs and succeeds; otherwise a note (or a
/// failure under CI) saying what is missing.
fn available(what: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !under_ci(),
            "{what} is required under CI (.ci/run installs it)"
        );
        eprintln!("note: {what} is not available; skipping");
    }
    ok
}

/// Runs a client script against a fresh server; panics with its output and
/// the server's log if it fails.
fn run_script(program: &str, script: &str, env: &[(&str, &str)]) {
    let server = Server::start(&[]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new(program)
        .arg(&path)
        .arg(server.url())
        .envs(env.iter().copied())
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE")
        .output()
        .unwrap_or_else(|e| panic!("{program} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}\n--- server log ---\n{}",
        out.status,
        server.log()
    );
    println!("{stdout}");
}

#[test]
fn psycopg_and_sqlalchemy() {
    if !available(
        "python3 with psycopg 3 and SQLAlchemy",
        "python3",
        &["-c", "import psycopg, sqlalchemy"],
    ) {
        return;
    }
    run_script(
        "python3",
        "psycopg_check.py",
        &[("PYTHONDONTWRITEBYTECODE", "1")],
    );
}

#[test]
fn node_postgres() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node_modules/pg");
    if !available("node", "node", &["--version"]) {
        return;
    }
    if !modules.exists() {
        assert!(
            !under_ci(),
            "node-postgres is required under CI (.ci/run installs it)"
        );
        eprintln!("note: node-postgres is not installed (npm ci in tests/clients); skipping");
        return;
    }
    run_script("node", "pg_check.js", &[("TZ", "UTC")]);
}
