//! A panic in one connection's statement is contained: that connection gets
//! FATAL XX000 and is closed, its transaction rolls back (releasing its
//! locks), the panic is logged, and other connections — idle, inside a
//! transaction, or running a statement at that moment — and new ones are
//! unaffected. The panic comes from `heliosdb_debug_panic(text)`, a function
//! that exists only in debug builds; in a release build the test is skipped.

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

mod common;

use common::Server;

async fn connect(server: &Server) -> Client {
    let (client, connection) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Asserts that `e` is the FATAL XX000 of a contained panic.
fn assert_panic_error(e: &tokio_postgres::Error, what: &str) {
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {e}"));
    assert_eq!(db.code(), &SqlState::INTERNAL_ERROR, "{db:?}");
    assert_eq!(db.severity(), "FATAL", "{db:?}");
    assert!(db.message().contains(what), "{db:?}");
}

/// Waits until the server has closed the client's connection.
async fn assert_closed(client: &Client) {
    for _ in 0..200 {
        if client.is_closed() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the connection was not closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_closes_only_its_connection() {
    if !cfg!(debug_assertions) {
        eprintln!("note: heliosdb_debug_panic exists only in debug builds; skipping");
        return;
    }
    let server = Server::start(&[]);
    let bystander = connect(&server).await;
    bystander
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap();
    // Another connection inside an open transaction when the panic happens.
    let in_txn = connect(&server).await;
    in_txn
        .batch_execute("BEGIN; INSERT INTO t VALUES (2, 0)")
        .await
        .unwrap();

    // The victim updates row 1 in a transaction (locking it), then panics
    // while another connection runs a long statement.
    let victim = connect(&server).await;
    victim
        .batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    let runner = connect(&server).await;
    let long = tokio::spawn(async move {
        runner
            .query_one(
                "SELECT count(*) FROM generate_series(1, 300000) AS g(x) WHERE x % 7 = 0",
                &[],
            )
            .await
            .map(|r| r.get::<_, i64>(0))
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let err = victim
        .simple_query("SELECT heliosdb_debug_panic('boom')")
        .await
        .unwrap_err();
    assert_panic_error(&err, "boom");
    assert_closed(&victim).await;

    // The long statement and the open transaction carry on.
    assert_eq!(long.await.unwrap().unwrap(), 300000 / 7);
    in_txn.batch_execute("COMMIT").await.unwrap();
    // The victim's update rolled back and its row lock is gone.
    let n = bystander
        .execute("UPDATE t SET v = v + 10 WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let rows = bystander
        .query("SELECT id, v FROM t ORDER BY id", &[])
        .await
        .unwrap();
    let got: Vec<(i32, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(1, 10), (2, 0)]);

    // The extended protocol (a bound parameter) is contained the same way.
    let victim2 = connect(&server).await;
    let err = victim2
        .query("SELECT heliosdb_debug_panic($1)", &[&"bang"])
        .await
        .unwrap_err();
    assert_panic_error(&err, "bang");
    assert_closed(&victim2).await;

    // The server still accepts connections and runs statements.
    let fresh = connect(&server).await;
    let n: i64 = fresh
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    bystander.simple_query("SELECT 1").await.unwrap();

    // Both panics are logged as such.
    let log = server.log();
    for what in ["boom", "bang"] {
        assert!(
            log.contains(&format!(
                "statement panicked, closing its connection: heliosdb_debug_panic: {what}"
            )),
            "{log}"
        );
    }

    // And the server still shuts down gracefully.
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
}
