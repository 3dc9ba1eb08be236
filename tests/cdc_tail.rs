//! `heliosdb cdc tail`: the change log as JSON lines, from a data directory
//! and from a server (`--follow`), with tenant, table, LSN and DDL filters,
//! named consumers that resume, and errors on stderr with exit status 1.

mod common;

use common::Server;
use heliosdb_nano::Database;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The finished tail: exit code, JSON lines, stderr.
struct Run {
    code: Option<i32>,
    lines: Vec<Value>,
    stderr: String,
}

fn tail(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(["cdc", "tail"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    Run {
        code: out.status.code(),
        lines,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A tail that must succeed: its lines.
fn tail_ok(args: &[&str]) -> Vec<Value> {
    let r = tail(args);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.stderr, "");
    r.lines
}

fn dir_args(dir: &Path) -> Vec<String> {
    vec!["--data-dir".into(), dir.display().to_string()]
}

fn with<'a>(base: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    base.iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect()
}

/// `(op, table)` of each line.
fn summary(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["op"].as_str().unwrap().to_string(),
                l["source"]["table"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn lsn(line: &Value) -> u64 {
    line["source"]["lsn"].as_u64().unwrap()
}

fn run_sql(dir: &Path, sql: &str) {
    let db = Database::open(dir).unwrap();
    let mut s = db.connect();
    s.run(sql).unwrap();
    drop(s);
    db.sync().unwrap();
}

/// A data directory with plain and tenant-scoped tables and every kind of
/// change.
fn populated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run_sql(
        dir.path(),
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         SELECT helios.create_tenant('acme');
         CREATE TABLE orders (id int PRIMARY KEY, amount int);
         SELECT helios.enable_tenancy('orders');
         INSERT INTO items VALUES (1, 'bolt'), (2, 'nut');
         UPDATE items SET name = 'big nut' WHERE id = 2;
         DELETE FROM items WHERE id = 1;
         SET helios.tenant = 'acme';
         INSERT INTO orders VALUES (7, 70);
         RESET helios.tenant;
         TRUNCATE items;",
    );
    dir
}

fn pair(op: &str, table: &str) -> (String, String) {
    (op.to_string(), table.to_string())
}

#[test]
fn embedded_tail_prints_every_change() {
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let dir = populated();
    let base = dir_args(dir.path());
    let lines = tail_ok(&with(&base, &[]));
    assert_eq!(
        summary(&lines),
        vec![
            pair("c", "items"),
            pair("c", "items"),
            pair("u", "items"),
            pair("d", "items"),
            pair("c", "orders"),
            pair("t", "items"),
        ]
    );
    // LSNs increase; the two rows of one INSERT share a transaction.
    assert!(lines.windows(2).all(|w| lsn(&w[0]) < lsn(&w[1])));
    assert_eq!(lines[0]["source"]["txId"], lines[1]["source"]["txId"]);
    assert_ne!(lines[1]["source"]["txId"], lines[2]["source"]["txId"]);
    // Images.
    assert_eq!(lines[0]["before"], Value::Null);
    assert_eq!(
        lines[0]["after"],
        serde_json::json!({"id": 1, "name": "bolt"})
    );
    assert_eq!(lines[2]["before"]["name"], "nut");
    assert_eq!(lines[2]["after"]["name"], "big nut");
    assert_eq!(lines[3]["before"]["id"], 1);
    assert_eq!(lines[3]["after"], Value::Null);
    assert_eq!(lines[5]["before"], Value::Null);
    assert_eq!(lines[5]["after"], Value::Null);
    // The source block.
    let src = &lines[0]["source"];
    assert_eq!(src["version"], "3.2.0");
    assert_eq!(src["connector"], "heliosdb");
    assert_eq!(src["db"], "heliosdb");
    assert_eq!(src["schema"], "public");
    assert_eq!(src["tenant"], Value::Null);
    assert_eq!(src["tenant_id"], Value::Null);
    // The tenant's row is labelled with its name and id.
    let acme = &lines[4]["source"];
    assert_eq!(acme["tenant"], "acme");
    let acme_id = acme["tenant_id"].as_str().unwrap().to_string();
    assert_eq!(acme_id.len(), 36, "{acme_id}");
    assert_eq!(lines[4]["after"]["amount"], 70);
    // Commit times in milliseconds, just now.
    let ts = lines[0]["ts_ms"].as_i64().unwrap();
    assert!(
        ts >= started_ms - 1000 && ts <= started_ms + 120_000,
        "{ts} vs {started_ms}"
    );

    // --tenant, by name and by id.
    let only = tail_ok(&with(&base, &["--tenant", "acme"]));
    assert_eq!(summary(&only), vec![pair("c", "orders")]);
    assert_eq!(only[0], lines[4]);
    assert_eq!(tail_ok(&with(&base, &["--tenant", &acme_id])), only);

    // --from: the changes after that LSN.
    let after = tail_ok(&with(&base, &["--from", &lsn(&lines[2]).to_string()]));
    assert_eq!(after, lines[3..].to_vec());

    // --table, repeatable, with or without the schema.
    let items = tail_ok(&with(&base, &["--table", "items"]));
    assert_eq!(
        summary(&items),
        vec![
            pair("c", "items"),
            pair("c", "items"),
            pair("u", "items"),
            pair("d", "items"),
            pair("t", "items"),
        ]
    );
    let both = tail_ok(&with(
        &base,
        &["--table", "public.orders", "--table", "items"],
    ));
    assert_eq!(both, lines);

    // --ddl: schema changes too, with their tag and statement.
    let ddl = tail_ok(&with(&base, &["--ddl"]));
    let schema_changes: Vec<&Value> = ddl.iter().filter(|l| l["op"] == "ddl").collect();
    assert!(schema_changes.len() >= 2, "{ddl:?}");
    let create = schema_changes
        .iter()
        .find(|l| l["source"]["table"] == "items")
        .unwrap();
    assert_eq!(create["ddl"]["tag"], "CREATE TABLE");
    assert!(
        create["ddl"]["statement"]
            .as_str()
            .unwrap()
            .contains("CREATE TABLE items"),
        "{create}"
    );
    assert_eq!(create["before"], Value::Null);
    assert_eq!(create["after"], Value::Null);
    assert!(lsn(create) < lsn(&lines[0]));
    let data: Vec<Value> = ddl.into_iter().filter(|l| l["op"] != "ddl").collect();
    assert_eq!(data, lines);
}

#[test]
fn embedded_errors() {
    let dir = populated();
    let base = dir_args(dir.path());
    let r = tail(&with(&base, &["--tenant", "initech"]));
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .starts_with("heliosdb: ERROR: tenant \"initech\" does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.lines.is_empty());

    let r = tail(&with(&base, &["--consumer", "nobody"]));
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("change consumer \"nobody\" does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("SQLSTATE: 42704"), "{}", r.stderr);

    // Not a data directory: refused, and not created.
    let missing = dir.path().join("nowhere");
    let r = tail(&["--data-dir", missing.to_str().unwrap()]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("not a HeliosDB data directory"),
        "{}",
        r.stderr
    );
    assert!(!missing.exists());

    // Bad arguments are clap's usage errors.
    let r = tail(&with(&base, &["--from", "-3"]));
    assert_eq!(r.code, Some(2));
    let r = tail(&[]);
    assert_eq!(r.code, Some(2));
}

#[test]
fn compacted_changes_are_an_error() {
    let dir = populated();
    let base = dir_args(dir.path());
    let all = tail_ok(&with(&base, &[]));
    let cut = lsn(&all[2]);
    run_sql(
        dir.path(),
        &format!("SELECT helios.truncate_changes({cut})"),
    );
    // The changes from `cut` on are still there.
    let rest = tail_ok(&with(&base, &["--from", &(cut - 1).to_string()]));
    assert_eq!(rest, all[2..].to_vec());
    // Earlier ones are gone: 55000 with the horizon and a hint.
    for from in [None, Some("1")] {
        let mut args = with(&base, &[]);
        if let Some(f) = from {
            args.extend(["--from", f]);
        }
        let r = tail(&args);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.lines.is_empty());
        assert!(
            r.stderr.starts_with("heliosdb: ERROR: changes after LSN"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains(&format!(
                "are no longer retained: the change log was compacted through LSN {}",
                cut - 1
            )),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("\nHINT: "), "{}", r.stderr);
        assert!(r.stderr.contains("SQLSTATE: 55000"), "{}", r.stderr);
    }
}

#[test]
fn embedded_consumer_resumes() {
    let dir = populated();
    run_sql(
        dir.path(),
        "SELECT helios.create_consumer('feed', start_lsn => 0)",
    );
    let base = dir_args(dir.path());
    let first = tail_ok(&with(&base, &["--consumer", "feed"]));
    assert_eq!(first.len(), 6);
    // Acknowledged: a second run has nothing to print.
    assert_eq!(
        tail_ok(&with(&base, &["--consumer", "feed"])),
        Vec::<Value>::new()
    );
    run_sql(
        dir.path(),
        "INSERT INTO items VALUES (10, 'washer'); DELETE FROM items WHERE id = 10",
    );
    let second = tail_ok(&with(&base, &["--consumer", "feed"]));
    assert_eq!(
        summary(&second),
        vec![pair("c", "items"), pair("d", "items")]
    );
    assert_eq!(second[0]["after"]["name"], "washer");
    assert!(lsn(&second[0]) > lsn(&first[5]));
    // The consumer's position is the last change read.
    let db = Database::open(dir.path()).unwrap();
    let mut s = db.connect();
    let acked: i64 = s
        .query(
            "SELECT acked_lsn FROM helios.consumers WHERE name = 'feed'",
            &[],
        )
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(acked as u64, lsn(&second[1]));
    drop(s);
    drop(db);
    // --from overrides the consumer's position.
    let again = tail_ok(&with(
        &base,
        &["--consumer", "feed", "--from", &lsn(&first[4]).to_string()],
    ));
    assert_eq!(again.len(), 3);
    assert_eq!(again[0], first[5]);
}

/// Reads a child's stdout lines on a thread.
fn line_reader(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_line(rx: &mpsc::Receiver<String>) -> Value {
    let line = tokio::task::block_in_place(|| rx.recv_timeout(Duration::from_secs(30)))
        .expect("no line from the tail within 30 s");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the tail did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let server = Server::start_in(dir, &[]);
    let (client, conn) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text);
             SELECT helios.create_tenant('acme');
             CREATE TABLE orders (id int PRIMARY KEY, amount int);
             SELECT helios.enable_tenancy('orders');
             INSERT INTO items VALUES (1, 'bolt');",
        )
        .await
        .unwrap();

    // The server holds the data directory: an embedded tail is refused.
    let r = tail(&["--data-dir", data_dir.to_str().unwrap()]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("SQLSTATE: 55006"), "{}", r.stderr);

    let mut child = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(["cdc", "tail", &server.url(), "--follow"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = line_reader(child.stdout.take().unwrap());

    // What the log holds already.
    let first = next_line(&rx);
    assert_eq!(first["op"], "c");
    assert_eq!(first["after"], serde_json::json!({"id": 1, "name": "bolt"}));
    assert_eq!(first["source"]["db"], "heliosdb");
    assert_eq!(first["source"]["table"], "items");

    // New commits arrive as they happen.
    client
        .execute("INSERT INTO items VALUES (2, 'nut')", &[])
        .await
        .unwrap();
    let second = next_line(&rx);
    assert_eq!(second["op"], "c");
    assert_eq!(second["after"]["name"], "nut");
    assert!(lsn(&second) > lsn(&first));
    assert!(second["ts_ms"].as_i64().unwrap() >= first["ts_ms"].as_i64().unwrap());

    client
        .execute("UPDATE items SET name = 'big nut' WHERE id = 2", &[])
        .await
        .unwrap();
    let third = next_line(&rx);
    assert_eq!(third["op"], "u");
    assert_eq!(third["before"]["name"], "nut");
    assert_eq!(third["after"]["name"], "big nut");

    client
        .batch_execute(
            "SET helios.tenant = 'acme';
             INSERT INTO orders VALUES (5, 50);
             RESET helios.tenant;
             DELETE FROM items WHERE id = 1;",
        )
        .await
        .unwrap();
    let order = next_line(&rx);
    assert_eq!(order["op"], "c");
    assert_eq!(order["source"]["table"], "orders");
    assert_eq!(order["source"]["tenant"], "acme");
    assert_eq!(order["after"]["amount"], 50);
    let delete = next_line(&rx);
    assert_eq!(delete["op"], "d");
    assert_eq!(delete["before"]["id"], 1);
    assert_eq!(delete["after"], Value::Null);

    // SIGTERM ends it normally.
    let status = terminate(&mut child);
    assert_eq!(status.code(), Some(0), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr, "");
    // Nothing else was printed.
    assert!(rx.recv_timeout(Duration::from_secs(5)).is_err());

    // The same lines without --follow; filters and DDL over the wire too.
    let url = server.url();
    let all = tail_ok(&[&url]);
    assert_eq!(all, vec![first, second, third, order.clone(), delete]);
    assert_eq!(tail_ok(&[&url, "--tenant", "acme"]), vec![order.clone()]);
    assert_eq!(
        tail_ok(&[&url, "--table", "orders", "--table", "nothing"]),
        vec![order]
    );
    let ddl = tail_ok(&[&url, "--ddl", "--table", "orders"]);
    assert_eq!(ddl[0]["op"], "ddl");
    assert_eq!(ddl[0]["ddl"]["tag"], "CREATE TABLE");
    let r = tail(&[&url, "--tenant", "init'ech"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .starts_with("heliosdb: ERROR: tenant \"init'ech\" does not exist"),
        "{}",
        r.stderr
    );

    // Who may read: a tenant's role its tenant's changes, others nothing.
    client
        .batch_execute(
            "CREATE ROLE plain LOGIN PASSWORD 'pw1'; CREATE ROLE acme_app LOGIN PASSWORD 'pw2';
             SELECT helios.bind_role('acme_app', 'acme');",
        )
        .await
        .unwrap();
    let r = tail(&[&url.replace("user=heliosdb", "user=plain password=pw1")]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .starts_with("heliosdb: ERROR: permission denied to read the change log"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("SQLSTATE: 42501"), "{}", r.stderr);
    let acme_url = url.replace("user=heliosdb", "user=acme_app password=pw2");
    let own = tail_ok(&[&acme_url]);
    assert_eq!(own, tail_ok(&[&url, "--tenant", "acme"]));
    assert_eq!(own[0]["source"]["tenant"], "acme");
    let r = tail(&[&acme_url, "--tenant", "init'ech"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);

    // A consumer over the wire: the second run prints only newer changes.
    client
        .batch_execute("SELECT helios.create_consumer('wire_feed', start_lsn => 0)")
        .await
        .unwrap();
    let consumed = tail_ok(&[&url, "--consumer", "wire_feed"]);
    assert_eq!(consumed, all);
    assert_eq!(
        tail_ok(&[&url, "--consumer", "wire_feed"]),
        Vec::<Value>::new()
    );
    client
        .execute("INSERT INTO items VALUES (3, 'washer')", &[])
        .await
        .unwrap();
    let newer = tail_ok(&[&url, "--consumer", "wire_feed"]);
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0]["after"]["name"], "washer");
    let acked: i64 = client
        .query_one(
            "SELECT acked_lsn FROM helios.consumers WHERE name = 'wire_feed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(acked as u64, lsn(&newer[0]));

    // Compacted changes over the wire: 55000.
    client
        .batch_execute(&format!(
            "SELECT helios.drop_consumer('wire_feed'); SELECT helios.truncate_changes({})",
            lsn(&newer[0])
        ))
        .await
        .unwrap();
    let r = tail(&[&url, "--from", "0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("no longer retained"), "{}", r.stderr);
    assert!(r.stderr.contains("SQLSTATE: 55000"), "{}", r.stderr);
    assert_eq!(
        tail_ok(&[&url, "--from", &(lsn(&newer[0]) - 1).to_string()]),
        newer
    );
}

#[test]
fn a_closed_pipe_ends_the_tail_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<String> = (0..3000).map(|i| format!("({i})")).collect();
    run_sql(
        dir.path(),
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES {}",
            values.join(", ")
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(["cdc", "tail", "--data-dir", dir.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let first: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(first["after"]["id"], 0);
    drop(stdout);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn every_database_of_the_directory_by_name() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let mut s = db.connect();
        s.run("CREATE DATABASE shop; CREATE TABLE notes (id int PRIMARY KEY)")
            .unwrap();
        let mut shop = db.connect_to("shop").unwrap();
        shop.run(
            "CREATE SCHEMA sales; CREATE TABLE sales.carts (id int PRIMARY KEY);
             INSERT INTO sales.carts VALUES (1)",
        )
        .unwrap();
        s.run("INSERT INTO notes VALUES (2)").unwrap();
        drop((s, shop));
        db.sync().unwrap();
    }
    let lines = tail_ok(&["--data-dir", dir.path().to_str().unwrap()]);
    let seen: Vec<(&str, &str, &str, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["source"]["db"].as_str().unwrap(),
                l["source"]["schema"].as_str().unwrap(),
                l["source"]["table"].as_str().unwrap(),
                l["after"]["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("shop", "sales", "carts", 1),
            ("heliosdb", "public", "notes", 2)
        ]
    );
    let carts = tail_ok(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--table",
        "sales.carts",
    ]);
    assert_eq!(carts, lines[..1].to_vec());
}
