//! The `heliosdb` binary: version, `shell -c`, scripts on stdin, CSV output,
//! errors on stderr with SQLSTATE and exit status 1, data directory locking.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn heliosdb(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run heliosdb");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("wait for heliosdb")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version() {
    let out = heliosdb(&["--version"], None);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "HeliosDB Nano 3.2.0");
}

#[test]
fn command_and_aligned_output() {
    let out = heliosdb(
        &[
            "shell",
            "--memory",
            "-c",
            "SELECT 1 AS a, 'x' AS b; SELECT 2 AS n",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        " a | b \n---+---\n 1 | x\n(1 row)\n\n n \n---\n 2\n(1 row)\n\n"
    );
}

#[test]
fn returning_prints_rows_then_tag() {
    let out = heliosdb(
        &[
            "shell",
            "--memory",
            "-c",
            "CREATE TABLE t (id int); INSERT INTO t VALUES (7) RETURNING id",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "CREATE TABLE\n id \n----\n  7\n(1 row)\n\nINSERT 0 1\n"
    );
}

#[test]
fn csv_output() {
    let out = heliosdb(
        &[
            "shell",
            "--memory",
            "--csv",
            "-c",
            "SELECT 1 AS id, 'a,b' AS name, NULL AS nothing",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "id,name,nothing\n1,\"a,b\",\n");
}

#[test]
fn script_from_stdin_persists_and_stops_at_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let out = heliosdb(
        &["shell", "--data-dir", d],
        Some(
            "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1), (2);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (3);\n",
        ),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "CREATE TABLE\nINSERT 0 2\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("ERROR: duplicate key value violates unique constraint \"t_pkey\""),
        "{err}"
    );
    assert!(
        err.contains("DETAIL: Key (id)=(1) already exists."),
        "{err}"
    );
    assert!(err.contains("SQLSTATE: 23505"), "{err}");
    let out = heliosdb(
        &[
            "shell",
            "--data-dir",
            d,
            "--csv",
            "-c",
            "SELECT id FROM t ORDER BY id",
        ],
        None,
    );
    assert_eq!(text(&out.stdout), "id\n1\n2\n");
}

#[test]
fn locked_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _db = heliosdb_nano::Database::open(&data).unwrap();
    let out = heliosdb(
        &[
            "shell",
            "--data-dir",
            data.to_str().unwrap(),
            "-c",
            "SELECT 1",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("database is locked") && err.contains("SQLSTATE: 55006"),
        "{err}"
    );
}
