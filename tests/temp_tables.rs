//! The life of temporary objects beyond one session: they go when their
//! session ends, and a crash leaves none behind once the data directory is
//! opened again. (Their behaviour inside sessions is in
//! `tests/sql/temp_tables.slt`.)

use heliosdb_nano::Database;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn count(s: &mut heliosdb_nano::Session, sql: &str) -> i64 {
    s.query(sql, &[])
        .expect(sql)
        .get(0)
        .unwrap()
        .get(0)
        .unwrap()
}

const TEMP_SCHEMAS: &str = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pg_temp%'";
const TEMP_RELATIONS: &str = "SELECT count(*) FROM pg_class WHERE relpersistence = 't'";

#[test]
fn session_end_drops_temporary_objects() {
    let db = Database::open_in_memory().unwrap();
    let mut observer = db.connect();
    {
        let mut s = db.connect();
        s.run(
            "CREATE TEMP TABLE t (id serial PRIMARY KEY, v text);
             CREATE INDEX t_v ON t (v);
             INSERT INTO t (v) SELECT 'x' || g FROM generate_series(1, 100) g;
             CREATE TEMP VIEW tv AS SELECT * FROM t;
             CREATE TEMP SEQUENCE ts",
        )
        .unwrap();
        assert_eq!(count(&mut observer, TEMP_SCHEMAS), 1);
        assert!(count(&mut observer, TEMP_RELATIONS) >= 4);
    }
    assert_eq!(count(&mut observer, TEMP_SCHEMAS), 0);
    assert_eq!(count(&mut observer, TEMP_RELATIONS), 0);
    // The next session to get the same number starts empty.
    let mut s = db.connect();
    s.run("CREATE TEMP TABLE t (a int)").unwrap();
    assert_eq!(count(&mut s, "SELECT count(*) FROM t"), 0);
}

#[test]
fn session_end_inside_transaction_drops_temporary_objects() {
    let db = Database::open_in_memory().unwrap();
    {
        let mut s = db.connect();
        s.run("CREATE TEMP TABLE t (a int); BEGIN; INSERT INTO t VALUES (1)")
            .unwrap();
    }
    let mut s = db.connect();
    assert_eq!(count(&mut s, TEMP_SCHEMAS), 0);
}

/// The child: creates temporary objects, says so, and waits to be killed.
fn child(dir: &str) {
    let db = Database::open(dir).expect("child opens database");
    let mut s = db.connect();
    s.run(
        "CREATE TEMP TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'x' FROM generate_series(1, 50) g;
         CREATE TABLE keep (a int); INSERT INTO keep VALUES (1)",
    )
    .expect("child creates objects");
    db.sync().expect("sync");
    println!("\nready");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn crash_leaves_no_temporary_objects() {
    if let Ok(dir) = std::env::var("HELIOS_TEMP_CRASH_DIR") {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_leaves_no_temporary_objects",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HELIOS_TEMP_CRASH_DIR", &data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(|l| l.ok())
        .any(|l| l.trim_end().ends_with("ready"));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(ready, "child did not get ready");
    let db = Database::open(&data).expect("reopen after crash");
    let mut s = db.connect();
    assert_eq!(count(&mut s, TEMP_SCHEMAS), 0);
    assert_eq!(count(&mut s, TEMP_RELATIONS), 0);
    assert_eq!(count(&mut s, "SELECT count(*) FROM keep"), 1);
    s.run("CREATE TEMP TABLE t (a int)").unwrap();
    assert_eq!(count(&mut s, "SELECT count(*) FROM t"), 0);
}
