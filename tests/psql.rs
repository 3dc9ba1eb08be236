//! psql's describe commands (`\dt`, `\d`, `\d table`, `\di`, `\dn`, `\dv`,
//! `\ds`, `\du`) against a real `heliosdb serve`: they run psql 15's own
//! catalog queries, so they exercise pg_catalog the way people use it; and
//! the notices psql prints on stderr. Skipped (with a note) when `psql` is
//! not on PATH.

use std::process::Command;

mod common;

use common::Server;

impl Server {
    /// Runs `psql -X -c command`; panics with psql's stderr if it fails.
    fn psql(&self, command: &str) -> String {
        let url = self.url();
        let out = Command::new("psql")
            .args([url.as_str(), "-X", "-v", "ON_ERROR_STOP=1", "-c", command])
            .env_remove("PGPASSWORD")
            .output()
            .expect("psql runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success() && stderr.is_empty(),
            "psql -c {command:?} failed:\n{stderr}\n{stdout}"
        );
        stdout
    }

    /// Runs a psql script from stdin; returns (stdout, stderr), which must
    /// succeed (notices and warnings go to stderr).
    fn psql_script(&self, script: &str) -> (String, String) {
        use std::io::Write;
        let url = self.url();
        let mut child = Command::new("psql")
            .args([url.as_str(), "-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .env_remove("PGPASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("psql runs");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "psql failed:\n{stderr}\n{stdout}");
        (stdout, stderr)
    }
}

fn psql_available() -> bool {
    match Command::new("psql").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("note: psql is not on PATH; skipping the psql describe tests");
            false
        }
    }
}

/// Asserts that `out` has a row with a cell equal to each of `parts`.
fn assert_row(out: &str, parts: &[&str]) {
    let found = out.lines().any(|l| {
        let cells: Vec<&str> = l.split('|').map(str::trim).collect();
        parts.iter().all(|p| cells.contains(p))
    });
    assert!(found, "no row with {parts:?} in:\n{out}");
}

#[test]
fn describe_commands() {
    if !psql_available() {
        return;
    }
    let s = Server::start(&[]);
    s.psql(
        "CREATE TABLE t (id int PRIMARY KEY, name varchar(20) NOT NULL DEFAULT 'x', \
         u int UNIQUE, CHECK (u > 0)); \
         CREATE TABLE c (id serial PRIMARY KEY, tid int REFERENCES t(id)); \
         CREATE INDEX ci ON c (tid); \
         CREATE VIEW v AS SELECT * FROM t; \
         CREATE SCHEMA app",
    );

    let dt = s.psql("\\dt");
    assert!(dt.contains("List of relations"), "{dt}");
    assert_row(&dt, &["public", "c", "table", "heliosdb"]);
    assert_row(&dt, &["public", "t", "table", "heliosdb"]);
    assert!(dt.contains("(2 rows)"), "{dt}");

    let d = s.psql("\\d");
    assert_row(&d, &["public", "c_id_seq", "sequence"]);
    assert_row(&d, &["public", "v", "view"]);
    assert!(d.contains("(4 rows)"), "{d}");

    let di = s.psql("\\di");
    assert_row(&di, &["public", "t_pkey", "index", "t"]);
    assert_row(&di, &["public", "t_u_key", "index", "t"]);
    assert_row(&di, &["public", "c_pkey", "index", "c"]);
    assert_row(&di, &["public", "ci", "index", "c"]);

    let dn = s.psql("\\dn");
    assert_row(&dn, &["public"]);
    assert_row(&dn, &["app"]);
    assert!(!dn.contains("pg_catalog"), "{dn}");

    let dv = s.psql("\\dv");
    assert_row(&dv, &["public", "v", "view"]);
    assert!(dv.contains("(1 row)"), "{dv}");

    let ds = s.psql("\\ds");
    assert_row(&ds, &["public", "c_id_seq", "sequence"]);

    let t = s.psql("\\d t");
    assert!(t.contains("Table \"public.t\""), "{t}");
    assert_row(&t, &["id", "integer", "not null"]);
    assert_row(&t, &["name", "character varying(20)", "not null", "'x'"]);
    assert!(t.contains("\"t_pkey\" PRIMARY KEY, btree (id)"), "{t}");
    assert!(
        t.contains("\"t_u_key\" UNIQUE CONSTRAINT, btree (u)"),
        "{t}"
    );
    assert!(t.contains("Check constraints:"), "{t}");
    assert!(t.contains("CHECK (u > 0)"), "{t}");
    assert!(t.contains("Referenced by:"), "{t}");
    assert!(
        t.contains("TABLE \"c\" CONSTRAINT \"c_tid_fkey\" FOREIGN KEY (tid) REFERENCES t(id)"),
        "{t}"
    );

    let c = s.psql("\\d c");
    assert!(c.contains("\"ci\" btree (tid)"), "{c}");
    assert!(c.contains("Foreign-key constraints:"), "{c}");
    assert!(
        c.contains("\"c_tid_fkey\" FOREIGN KEY (tid) REFERENCES t(id)"),
        "{c}"
    );

    let v = s.psql("\\d v");
    assert!(v.contains("View \"public.v\""), "{v}");
    assert_row(&v, &["u", "integer"]);

    let plus = s.psql("\\d+ t");
    assert_row(&plus, &["name", "character varying(20)", "extended"]);
    assert!(plus.contains("Access method: heap"), "{plus}");

    let l = s.psql("\\l");
    assert_row(&l, &["heliosdb", "heliosdb", "UTF8"]);

    let dtplus = s.psql("\\dt+");
    assert_row(
        &dtplus,
        &["public", "t", "table", "heliosdb", "permanent", "heap"],
    );

    let dx = s.psql("\\dx");
    assert!(dx.contains("(0 rows)"), "{dx}");

    let ci = s.psql("\\d ci");
    assert!(ci.contains("btree, for table \"public.c\""), "{ci}");
}

#[test]
fn notices_roles_and_settings() {
    if !psql_available() {
        return;
    }
    let s = Server::start(&[]);
    let (_, stderr) = s.psql_script(
        "DROP TABLE IF EXISTS nope;\n\
         CREATE TABLE t (id int);\n\
         CREATE TABLE IF NOT EXISTS t (id int);\n\
         CREATE VIEW v AS SELECT * FROM t;\n\
         DROP TABLE t CASCADE;\n\
         COMMIT;\n",
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            "NOTICE:  table \"nope\" does not exist, skipping",
            "NOTICE:  relation \"t\" already exists, skipping",
            "NOTICE:  drop cascades to view v",
            "WARNING:  there is no transaction in progress",
        ],
        "{stderr}"
    );

    s.psql(
        "CREATE ROLE staff; \
         CREATE USER alice CREATEDB CONNECTION LIMIT 3 IN ROLE staff",
    );
    let du = s.psql("\\du");
    assert!(du.contains("List of roles"), "{du}");
    assert_row(
        &du,
        &[
            "heliosdb",
            "Superuser, Create role, Create DB, Bypass RLS",
            "{}",
        ],
    );
    // A multi-line cell: "Create DB" then "3 connections".
    assert_row(&du, &["alice", "{staff}"]);
    assert!(du.contains("| Create DB "), "{du}");
    assert_row(&du, &["staff", "Cannot login", "{}"]);
    assert!(du.contains("3 connections"), "{du}");

    let all = s.psql("SHOW ALL");
    assert_row(&all, &["DateStyle", "ISO, MDY"]);
    assert_row(&all, &["application_name", "psql"]);
    let settings = s.psql("SELECT * FROM pg_settings");
    assert_row(
        &settings,
        &["statement_timeout", "0", "ms", "user", "integer", "default"],
    );
    assert_row(&settings, &["application_name", "psql", "client"]);
}

#[test]
fn list_and_connect_to_databases() {
    if !psql_available() {
        return;
    }
    let s = Server::start(&[]);
    // One statement per psql -c: CREATE DATABASE refuses to share a transaction.
    s.psql("CREATE DATABASE app");
    s.psql("CREATE DATABASE \"Other\" CONNECTION LIMIT 3");
    let l = s.psql("\\l");
    for name in ["app", "Other", "heliosdb"] {
        assert_row(&l, &[name, "heliosdb", "UTF8", "C"]);
    }
    // \c opens a new connection to another database, as psql does with PostgreSQL.
    let url = s.url();
    let out = Command::new("psql")
        .args([url.as_str(), "-X", "-v", "ON_ERROR_STOP=1", "-At"])
        .args(["-c", "\\c app", "-c", "SELECT current_database()"])
        .output()
        .expect("psql runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.lines().any(|l| l == "app"), "{stdout}");
    let out = Command::new("psql")
        .args([url.as_str(), "-X", "-c", "\\c nosuch"])
        .output()
        .expect("psql runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("database \"nosuch\" does not exist"),
        "{stderr}"
    );
}
