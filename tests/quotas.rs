//! Tenant connection and rate quotas through the embedded API and over the
//! wire: a role bound to a tenant is refused at login beyond the tenant's
//! connections (53300), slots come back when sessions end (also when a
//! client's socket is dropped without a goodbye), a limit changed on a live
//! tenant applies to its sessions' next statements, and the rate limit's
//! error says when to retry. (SQL-level behaviour is in tests/sql/quotas.slt.)

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
