//! Durability under SIGKILL.
//!
//! A child process (this test binary re-run with `HELIOS_CRASH_DIR` set)
//! commits transactions from two threads and prints `ack <id>` after each
//! COMMIT returns. The parent kills it with SIGKILL at a random moment,
//! reopens the data directory and checks that every acknowledged transaction
//! is fully present, that no transaction is partially present, and that a
//! counter updated by every transaction matches. Many rounds run against the
//! same directory, so recovery of a recovered database is exercised too.

use heliosdb_nano::Database;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PARTS: i64 = 3;

/// The child: writes until killed.
fn child_writer(dir: &str) {
    let db = Database::open(dir).expect("child opens database");
    let mut setup = db.connect();
    setup
        .run(
            "CREATE TABLE IF NOT EXISTS t (id bigint, part int, payload text, PRIMARY KEY (id, part));
             CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY, n bigint NOT NULL);
             INSERT INTO c VALUES (1, 0) ON CONFLICT DO NOTHING",
        )
        .expect("schema");
    let start: i64 = setup
        .query("SELECT coalesce(max(id), 0) FROM t", &[])
        .expect("max id")
        .get(0)
        .and_then(|r| r.get::<i64>(0).ok())
        .unwrap_or(0)
        + 1;
    drop(setup);
    // The parent's kill timer starts now: a kill before the schema exists
    // would test nothing (and leave a half-made schema behind).
    println!("ready");
    let threads: Vec<_> = (0..2i64)
        .map(|k| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut s = db.connect();
                let mut id = start + k;
                let payload = "x".repeat(200);
                loop {
                    let mut tx = s.transaction().expect("begin");
                    for part in 0..PARTS {
                        tx.execute(
                            "INSERT INTO t VALUES ($1, $2, $3)",
                            &[&id, &(part as i32), &payload],
                        )
                        .expect("insert");
                    }
                    tx.execute("UPDATE c SET n = n + 1 WHERE k = 1", &[])
                        .expect("update");
                    tx.commit().expect("commit");
                    println!("ack {id}");
                    id += 2;
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    if let Ok(dir) = std::env::var("HELIOS_CRASH_DIR") {
        child_writer(&dir);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let rounds: u64 = if std::env::var("CI").is_ok() { 12 } else { 8 };
    let mut acked_total = std::collections::BTreeSet::new();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "acknowledged_commits_survive_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("HELIOS_CRASH_DIR", &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may have begun the line ("test ... ").
                if line.ends_with("ready") {
                    let _ = ready_tx.send(());
                }
                if let Some(Ok(id)) = line.strip_prefix("ack ").map(|id| id.trim().parse::<i64>()) {
                    acked.push(id);
                }
            }
            acked
        });
        ready_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the child set up its schema");
        // Kill at a pseudo-random moment between 150 and 900 ms.
        let nanos = Instant::now().elapsed().as_nanos() as u64 ^ (round * 7919);
        let wait = 150 + (nanos.wrapping_mul(2654435761) % 750);
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().expect("SIGKILL child");
        let _ = child.wait();
        let acked = reader.join().expect("reader thread");
        acked_total.extend(acked);

        let db = Database::open(&data).expect("reopen after crash");
        let mut s = db.connect();
        let rows = s
            .query("SELECT id, count(*) FROM t GROUP BY id", &[])
            .expect("count rows");
        let mut present = std::collections::BTreeSet::new();
        for r in &rows {
            let id: i64 = r.get(0).unwrap();
            let n: i64 = r.get(1).unwrap();
            assert_eq!(
                n, PARTS,
                "round {round}: transaction {id} is partially present ({n} rows)"
            );
            present.insert(id);
        }
        for id in &acked_total {
            assert!(
                present.contains(id),
                "round {round}: acknowledged transaction {id} was lost"
            );
        }
        let counter: i64 = s
            .query("SELECT n FROM c WHERE k = 1", &[])
            .expect("counter")
            .get(0)
            .map(|r| r.get(0).unwrap())
            .unwrap_or(0);
        assert_eq!(
            counter,
            present.len() as i64,
            "round {round}: counter disagrees with committed rows"
        );
    }
    assert!(
        !acked_total.is_empty(),
        "the child never acknowledged a commit"
    );
    eprintln!(
        "{rounds} kills, {} acknowledged transactions all present",
        acked_total.len()
    );
}
