//! Tenant quotas through the embedded API and over the wire:
//! * connections: a role bound to a tenant is refused at login beyond the
//!   tenant's connections (53300), slots come back when sessions end (also
//!   when a client's socket is dropped without a goodbye), and a limit
//!   changed on a live tenant applies to its sessions' next statements;
//! * rate: the 53400 error says when to retry, and a token is back then;
//! * storage: concurrent writers of two tenants (with rollbacks, savepoints,
//!   deadlocks) and the DDL that changes a table's bytes keep the tracked
//!   usage equal to `helios.recompute_usage`, also after SIGKILL; a
//!   statement over the limit fails with 53100 and writes nothing, while
//!   deletes and shrinking updates are always allowed.
//!
//! (SQL-level behaviour is in tests/sql/quotas.slt.)

mod common;

use common::Server;
use heliosdb_nano::Database;
use std::time::{Duration, Instant};

#[test]
fn bound_sessions_count_against_the_tenant() {
    let db = Database::open_in_memory().unwrap();
    db.connect()
        .run(
            "SELECT helios.create_tier('tiny', 1000000, 2, 1000000);
             SELECT helios.create_tenant('acme', tier => 'tiny');
             CREATE ROLE alice LOGIN;
             SELECT helios.bind_role('alice', 'acme');",
        )
        .unwrap();
    let a = db.connect_as("alice").unwrap();
    let b = db.connect_as("alice").unwrap();
    let e = db
        .connect_as("alice")
        .err()
        .expect("a third session is refused");
    assert_eq!(e.sqlstate(), "53300");
    assert_eq!(e.message, "too many connections for tenant \"acme\"");
    assert_eq!(a.quota_tracking().unwrap().connections, 2);
    drop(a);
    let _c = db.connect_as("alice").unwrap();
    // A session that only SETs the tenant counts too.
    let mut admin = db.connect();
    let e = admin.set_tenant("acme").unwrap_err();
    assert_eq!(e.sqlstate(), "53300");
    // Raising the limit applies at once.
    db.connect()
        .run("SELECT helios.set_tenant_limits('acme', max_connections => 3)")
        .unwrap();
    admin.run("SELECT 1").unwrap();
    admin.set_tenant("acme").unwrap();
    let t = b.quota_tracking().unwrap();
    assert_eq!((t.connections, t.limits.max_connections), (3, 3));
    assert_eq!(t.rejected_connections, 2);
}

#[test]
fn the_rate_limit_says_when_to_retry() {
    let db = Database::open_in_memory().unwrap();
    db.connect()
        .run(
            "SELECT helios.create_tenant('acme');
             SELECT helios.set_tenant_limits('acme', max_qps => 5);",
        )
        .unwrap();
    let mut s = db.connect();
    s.set_tenant("acme").unwrap();
    let mut admitted = 0;
    let err = loop {
        match s.query("SELECT 1", &[]) {
            Ok(_) => admitted += 1,
            Err(e) => break e,
        }
        assert!(admitted < 100, "the limit never applied");
    };
    assert!(admitted >= 5, "only {admitted} admitted");
    assert_eq!(err.sqlstate(), "53400");
    assert_eq!(
        err.message,
        "tenant \"acme\" exceeded its limit of 5 queries per second"
    );
    let hint = err.hint.clone().unwrap();
    let ms: u64 = hint
        .strip_prefix("Retry after ")
        .and_then(|h| h.strip_suffix(" ms."))
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=200).contains(&ms), "{hint}");
    // After the wait the bucket has a token again.
    std::thread::sleep(Duration::from_millis(ms + 20));
    s.query("SELECT 1", &[]).unwrap();
    let t = s.quota_tracking().unwrap();
    assert_eq!(t.rejected_qps, 1);
    assert_eq!(t.statements_total, admitted + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_clients_free_their_slots() {
    let server = Server::start(&[]);
    let admin = server.client("heliosdb", "").await;
    admin
        .batch_execute(
            "SELECT helios.create_tier('tiny', 1000000, 1, 1000000);
             SELECT helios.create_tenant('acme', tier => 'tiny');
             CREATE ROLE alice LOGIN PASSWORD 'pw';
             SELECT helios.bind_role('alice', 'acme');",
        )
        .await
        .unwrap();
    // A client whose socket goes away without a Terminate message.
    let url = format!(
        "host=127.0.0.1 port={} user=alice password=pw dbname=heliosdb",
        server.port
    );
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client.simple_query("SELECT 1").await.unwrap();
    let e = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .err()
        .expect("a second session of the tenant is refused");
    assert_eq!(
        e.as_db_error().map(|d| d.code().code()),
        Some("53300"),
        "{e}"
    );
    task.abort();
    drop(client);
    // The server notices the closed socket and ends the session.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok((c, conn)) => {
                tokio::spawn(conn);
                c.simple_query("SELECT 1").await.unwrap();
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("53300"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the slot was never freed: {e}"),
        }
    }
}

/// The tracked storage of a tenant (`helios.tenant_usage`) and a recount.
fn usage(db: &Database, tenant: &str) -> (i64, i64) {
    let mut s = db.connect();
    let tracked: i64 = s
        .query(
            "SELECT storage_bytes FROM helios.tenant_usage WHERE tenant = $1",
            &[&tenant],
        )
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    let recount: i64 = s
        .query("SELECT helios.recompute_usage($1)", &[&tenant])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    (tracked, recount)
}

const STORAGE_SETUP: &str = "SELECT helios.create_tier('roomy', 100000000, 100, 100000000);
     SELECT helios.create_tenant('acme', tier => 'roomy');
     SELECT helios.create_tenant('globex', tier => 'roomy');
     CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY, body text, n int);
     SELECT helios.enable_tenancy('notes');
     CREATE INDEX ON notes (body);";

/// Random inserts, updates and deletes of one tenant's rows, some of them
/// rolled back (whole transactions and savepoints), from `seed`.
fn churn(db: &Database, tenant: &str, base: i32, seed: u64, rounds: usize) {
    let mut s = db.connect();
    s.set_tenant(tenant).unwrap();
    let mut x = seed;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..rounds {
        let mut tx = s.transaction().unwrap();
        // Writers of one tenant may deadlock or conflict: such a
        // transaction rolls back (and so must its bytes).
        let mut failed = false;
        for _ in 0..4 {
            let id = base + (next() % 50) as i32;
            let len = (next() % 100) as i32;
            let r = match next() % 4 {
                0 | 1 => tx.execute(
                    "INSERT INTO notes (id, body, n) VALUES ($1, repeat('x', $2), $2)
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body, n = excluded.n",
                    &[&id, &len],
                ),
                2 => tx.execute(
                    "UPDATE notes SET body = repeat('y', $2) WHERE id = $1",
                    &[&id, &len],
                ),
                _ => tx.execute("DELETE FROM notes WHERE id = $1", &[&id]),
            };
            if let Err(e) = r {
                assert!(e.is_retryable(), "{e}");
                failed = true;
                break;
            }
        }
        if !failed && next() % 5 == 0 {
            tx.execute("SAVEPOINT sp", &[]).unwrap();
            // Another writer's rows may be locked: the savepoint undoes it.
            let _ = tx.execute("DELETE FROM notes WHERE id < $1", &[&(base + 25)]);
            tx.execute("ROLLBACK TO SAVEPOINT sp", &[]).unwrap();
        }
        if failed || next() % 4 == 0 {
            tx.rollback().unwrap();
        } else if let Err(e) = tx.commit() {
            assert!(e.is_retryable(), "{e}");
        }
    }
}

#[test]
fn storage_is_tracked_exactly_under_concurrent_writers() {
    let db = Database::open_in_memory().unwrap();
    db.connect().run(STORAGE_SETUP).unwrap();
    let threads: Vec<_> = [("acme", 0), ("globex", 1000), ("acme", 2000)]
        .into_iter()
        .enumerate()
        .map(|(k, (tenant, base))| {
            let db = db.clone();
            std::thread::spawn(move || churn(&db, tenant, base, 0x9E37_79B9 + k as u64, 60))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for tenant in ["acme", "globex"] {
        let (tracked, recount) = usage(&db, tenant);
        assert_eq!(tracked, recount, "{tenant}");
        assert!(tracked > 0, "{tenant} has rows");
    }
    // DDL that changes the bytes keeps the count: another index, a column
    // added with a default, TRUNCATE.
    let mut admin = db.connect();
    admin.run("CREATE INDEX ON notes (n, body)").unwrap();
    let (tracked, recount) = usage(&db, "acme");
    assert_eq!(tracked, recount);
    admin
        .run("ALTER TABLE notes ADD COLUMN tag text DEFAULT 'tagged'")
        .unwrap();
    let (tracked, recount) = usage(&db, "acme");
    assert_eq!(tracked, recount);
    admin.run("TRUNCATE notes").unwrap();
    for tenant in ["acme", "globex"] {
        let (tracked, recount) = usage(&db, tenant);
        assert_eq!(tracked, recount, "{tenant}");
    }
    // What is left is their changes in the change log; then nothing.
    admin
        .run("SELECT helios.truncate_changes((SELECT last_lsn + 1 FROM helios.change_log))")
        .unwrap();
    assert_eq!(usage(&db, "acme"), (0, 0));
    assert_eq!(usage(&db, "globex"), (0, 0));
}

#[test]
fn the_storage_limit_refuses_growth_but_never_cleanup() {
    let db = Database::open_in_memory().unwrap();
    db.connect()
        .run(
            "SELECT helios.create_tenant('acme');
             SELECT helios.set_tenant_limits('acme', max_storage_bytes => 2000);
             CREATE TABLE notes (id int PRIMARY KEY, body text);
             SELECT helios.enable_tenancy('notes');
             -- Rows only: the change log's share is tested in tests/cdc.rs.
             SELECT helios.set_capture('notes', false);",
        )
        .unwrap();
    let mut s = db.connect();
    s.set_tenant("acme").unwrap();
    s.execute(
        "INSERT INTO notes (id, body) SELECT g, repeat('x', 50) FROM generate_series(1, 10) g",
        &[],
    )
    .unwrap();
    let before = usage(&db, "acme");
    let e = s
        .execute(
            "INSERT INTO notes (id, body) SELECT g, repeat('x', 50) FROM generate_series(11, 40) g",
            &[],
        )
        .unwrap_err();
    assert_eq!(e.sqlstate(), "53100");
    assert!(
        e.message
            .starts_with("tenant \"acme\" would exceed its storage limit: ")
            && e.message.ends_with("bytes used, limit 2000 bytes"),
        "{}",
        e.message
    );
    // Nothing of it was written.
    assert_eq!(usage(&db, "acme"), before);
    let n: i64 = s
        .query("SELECT count(*) FROM notes", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 10);
    // Over the limit (it was lowered), deleting and shrinking still work.
    db.connect()
        .run("SELECT helios.set_tenant_limits('acme', max_storage_bytes => 10)")
        .unwrap();
    s.execute("UPDATE notes SET body = 'x' WHERE id <= 5", &[])
        .unwrap();
    s.execute("DELETE FROM notes WHERE id > 5", &[]).unwrap();
    let e = s
        .execute("UPDATE notes SET body = repeat('z', 90) WHERE id = 1", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "53100");
    let (tracked, recount) = usage(&db, "acme");
    assert_eq!(tracked, recount);
    assert_eq!(s.quota_tracking().unwrap().rejected_storage, 2);
}

/// The SIGKILL child: churns two tenants' rows until killed.
fn storage_child(dir: &str) {
    let db = Database::open(dir).expect("child opens database");
    let mut setup = db.connect();
    if setup
        .query("SELECT 1 FROM helios.tenants WHERE name = 'acme'", &[])
        .unwrap()
        .is_empty()
    {
        setup.run(STORAGE_SETUP).expect("schema");
    }
    println!("ready");
    let threads: Vec<_> = [("acme", 0), ("globex", 1000)]
        .into_iter()
        .enumerate()
        .map(|(k, (tenant, base))| {
            let db = db.clone();
            let seed = std::process::id() as u64 * 31 + k as u64 + 1;
            std::thread::spawn(move || churn(&db, tenant, base, seed, usize::MAX))
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn storage_counts_survive_sigkill() {
    if let Ok(dir) = std::env::var("HELIOS_QUOTA_CRASH_DIR") {
        storage_child(&dir);
        return;
    }
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut most = 0;
    for round in 0..4u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "storage_counts_survive_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("HELIOS_QUOTA_CRASH_DIR", &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.ends_with("ready") => break,
                Some(_) => {}
                None => panic!("the child ended before it was ready"),
            }
        }
        std::thread::sleep(Duration::from_millis(200 + round * 130));
        child.kill().unwrap();
        let _ = child.wait();
        let db = Database::open(&data).expect("reopen after kill");
        for tenant in ["acme", "globex"] {
            let (tracked, recount) = usage(&db, tenant);
            assert_eq!(tracked, recount, "round {round}, {tenant}");
            most = most.max(tracked);
        }
    }
    assert!(most > 0, "the child never committed a row");
}

#[test]
fn the_release_notes_api_wraps_the_same_quotas() {
    use heliosdb_nano::tenant::{IsolationMode, ResourceLimits};
    let db = Database::open_in_memory().unwrap();
    let tenants = db.tenant_manager();
    tenants
        .register_tenant("acme", IsolationMode::SharedSchema)
        .unwrap();
    tenants
        .update_resource_limits(
            "acme",
            ResourceLimits {
                max_storage_bytes: 1000,
                max_connections: 1,
                max_qps: 2,
            },
        )
        .unwrap();
    db.connect()
        .run(
            "CREATE TABLE notes (id int PRIMARY KEY, body text); SELECT helios.enable_tenancy('notes');
             SELECT helios.set_capture('notes', false)",
        )
        .unwrap();
    // Connections: an application pool's slot counts like a session.
    let slot = tenants.add_connection("acme").unwrap();
    assert_eq!(
        tenants
            .check_quota("acme", "connections")
            .unwrap_err()
            .sqlstate(),
        "53300"
    );
    let mut s = db.connect();
    assert_eq!(s.set_tenant("acme").unwrap_err().sqlstate(), "53300");
    tenants.remove_connection(slot);
    tenants.check_quota("acme", "connections").unwrap();
    s.set_tenant("acme").unwrap();
    // Rate: two tokens a second, shared by SQL and record_query.
    s.execute(
        "INSERT INTO notes (id, body) VALUES (1, repeat('x', 600))",
        &[],
    )
    .unwrap();
    tenants.record_query("acme").unwrap();
    assert_eq!(
        tenants.check_quota("acme", "qps").unwrap_err().sqlstate(),
        "53400"
    );
    assert_eq!(
        tenants.record_query("acme").unwrap_err().sqlstate(),
        "53400"
    );
    // Storage.
    let t = tenants.get_quota_tracking("acme").unwrap();
    assert!(t.storage_bytes > 600, "{t:?}");
    assert_eq!(t.limits.max_storage_bytes, 1000);
    assert_eq!(
        (t.connections, t.statements_total, t.rejected_qps),
        (1, 2, 1)
    );
    tenants.check_quota("acme", "storage").unwrap();
    assert_eq!(
        tenants.check_quota("acme", "disk").unwrap_err().sqlstate(),
        "22023"
    );
    // Enforcement off: nothing is refused, everything is still counted.
    db.set_quotas_enforced(false);
    s.execute(
        "INSERT INTO notes (id, body) VALUES (2, repeat('y', 600))",
        &[],
    )
    .unwrap();
    s.execute("SELECT 1", &[]).unwrap();
    let t = tenants.get_quota_tracking("acme").unwrap();
    assert!(t.storage_bytes > 1000, "{t:?}");
    assert_eq!(
        tenants
            .check_quota("acme", "storage")
            .unwrap_err()
            .sqlstate(),
        "53100"
    );
    db.set_quotas_enforced(true);
    tenants
        .update_resource_limits(
            "acme",
            ResourceLimits {
                max_storage_bytes: 1000,
                max_connections: 1,
                max_qps: 1_000_000,
            },
        )
        .unwrap();
    assert_eq!(
        s.execute("INSERT INTO notes (id, body) VALUES (3, 'z')", &[])
            .unwrap_err()
            .sqlstate(),
        "53100"
    );
}

/// A plain HTTP GET (the test needs no HTTP client).
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_quota_metrics() {
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start(&["--metrics", &addr]);
    let admin = server.client("heliosdb", "").await;
    admin
        .batch_execute(
            "SELECT helios.create_tenant('acme');
             SELECT helios.create_tenant('globex', tier => 'pro');
             CREATE TABLE notes (id int PRIMARY KEY, body text);
             SELECT helios.enable_tenancy('notes');
             SET helios.tenant = 'acme';
             INSERT INTO notes (id, body) VALUES (1, 'hello');
             RESET helios.tenant;",
        )
        .await
        .unwrap();
    let body = tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
        .await
        .unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(
        body.contains("Content-Type: text/plain; version=0.0.4"),
        "{body}"
    );
    for line in [
        "# TYPE heliosdb_tenant_storage_bytes gauge",
        "# TYPE heliosdb_tenant_statements_total counter",
        "heliosdb_tenant_max_qps{tenant=\"acme\",tier=\"free\"} 100",
        "heliosdb_tenant_max_connections{tenant=\"globex\",tier=\"pro\"} 100",
        "heliosdb_tenant_connections{tenant=\"acme\",tier=\"free\"} 0",
        "heliosdb_tenant_statements_total{tenant=\"acme\",tier=\"free\"} 1",
        "heliosdb_tenant_rejected_qps_total{tenant=\"globex\",tier=\"pro\"} 0",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
    // The storage gauge agrees with SQL.
    let row = admin
        .query_one(
            "SELECT storage_bytes FROM helios.tenant_usage WHERE tenant = 'acme'",
            &[],
        )
        .await
        .unwrap();
    let bytes: i64 = row.get(0);
    assert!(bytes > 0);
    assert!(
        body.lines().any(|l| l
            == format!("heliosdb_tenant_storage_bytes{{tenant=\"acme\",tier=\"free\"}} {bytes}")),
        "{body}"
    );
    let other = tokio::task::spawn_blocking(move || http_get(port, "/nope"))
        .await
        .unwrap();
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
}

#[test]
fn limits_and_usage_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let db = Database::open(dir.path()).unwrap();
        db.connect().run(STORAGE_SETUP).unwrap();
        db.connect()
            .run("SELECT helios.set_tenant_limits('acme', max_qps => 1234)")
            .unwrap();
        churn(&db, "acme", 0, 42, 30);
        usage(&db, "acme")
    };
    assert_eq!(before.0, before.1);
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(usage(&db, "acme"), before);
    let t = db.tenant_manager().get_quota_tracking("acme").unwrap();
    assert_eq!(t.limits.max_qps, 1234);
    assert_eq!(t.limits.max_storage_bytes, 100_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_and_rate_errors_reach_clients_over_the_wire() {
    let server = Server::start(&[]);
    let admin = server.client("heliosdb", "").await;
    admin
        .batch_execute(
            "SELECT helios.create_tier('wire', 1500, 10, 3);
             SELECT helios.create_tenant('acme', tier => 'wire');
             CREATE TABLE notes (id int PRIMARY KEY, body text);
             SELECT helios.enable_tenancy('notes');
             CREATE ROLE alice LOGIN PASSWORD 'pw';
             GRANT SELECT, INSERT, DELETE ON notes TO alice;
             SELECT helios.bind_role('alice', 'acme');",
        )
        .await
        .unwrap();
    let alice = server.client("alice", "pw").await;
    // Three statements a second: a prepared insert of a large row fails on
    // storage, then the rate runs out.
    let e = alice
        .execute(
            "INSERT INTO notes (id, body) VALUES (1, repeat('x', 2000))",
            &[],
        )
        .await
        .unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "53100");
    assert!(
        db.message().starts_with(
            "tenant \"acme\" would exceed its storage limit: 0 bytes used, limit 1500 bytes"
        ),
        "{}",
        db.message()
    );
    alice
        .execute("INSERT INTO notes (id, body) VALUES (2, 'small')", &[])
        .await
        .unwrap();
    let mut last = None;
    for _ in 0..5 {
        if let Err(e) = alice.simple_query("SELECT 1").await {
            last = Some(e);
            break;
        }
    }
    let e = last.expect("the rate limit applied");
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "53400");
    assert!(
        db.hint().unwrap().starts_with("Retry after "),
        "{:?}",
        db.hint()
    );
    // The connection stays usable after the wait.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    alice.simple_query("SELECT 1").await.unwrap();
    let row = admin
        .query_one(
            "SELECT rejected_storage, rejected_qps FROM helios.tenant_usage WHERE tenant = 'acme'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (1, 1));
}
