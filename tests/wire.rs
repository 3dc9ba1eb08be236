//! The wire protocol, tested the way applications use it: a real
//! `heliosdb serve` process on a free port and tokio-postgres as the client.

use rust_decimal::Decimal;
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

mod common;

use common::Server;

impl Server {
    async fn connect(&self) -> Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}\nserver log:\n{}", self.log()));
        tokio::spawn(conn);
        client
    }
}

/// The error of a connection attempt that must fail.
async fn connect_err(url: &str) -> tokio_postgres::Error {
    match tokio_postgres::connect(url, NoTls).await {
        Ok(_) => panic!("connecting to {url} succeeded"),
        Err(e) => e,
    }
}

fn code(e: &tokio_postgres::Error) -> SqlState {
    e.code().cloned().unwrap_or(SqlState::INTERNAL_ERROR)
}

/// The first column of every row a query without parameters returns.
async fn column<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    c: &tokio_postgres::Client,
    sql: &str,
) -> Vec<T> {
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_and_extended_queries() {
    let server = Server::start(&[]);
    let c = server.connect().await;

    // Several statements in one simple query, each with its own result.
    let msgs = c
        .simple_query(
            "CREATE TABLE t (id int PRIMARY KEY, name text, score numeric(6,2));
             INSERT INTO t VALUES (1, 'one', 1.5), (2, 'two', NULL);
             SELECT id, name FROM t ORDER BY id",
        )
        .await
        .unwrap();
    let tags: Vec<u64> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec![0, 2, 2]);
    let rows: Vec<(String, String)> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((r.get(0).unwrap().to_string(), r.get(1).unwrap().to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        rows,
        vec![("1".into(), "one".into()), ("2".into(), "two".into())]
    );

    // Prepared statements with parameters, binary results.
    let stmt = c
        .prepare("SELECT name, score FROM t WHERE id = $1")
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[tokio_postgres::types::Type::INT4]);
    let row = c.query_one(&stmt, &[&1i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "one");
    assert_eq!(row.get::<_, Decimal>(1), Decimal::from_str("1.50").unwrap());
    let row = c.query_one(&stmt, &[&2i32]).await.unwrap();
    assert_eq!(row.get::<_, Option<Decimal>>(1), None);

    // INSERT ... RETURNING through the extended protocol; the count is the tag.
    let n = c
        .execute(
            "INSERT INTO t VALUES ($1, $2, $3)",
            &[&3i32, &"three", &Decimal::new(-25, 1)],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let rows = c
        .query(
            "UPDATE t SET score = score * 2 WHERE score IS NOT NULL RETURNING id, score",
            &[],
        )
        .await
        .unwrap();
    let mut got: Vec<(i32, Decimal)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (1, Decimal::from_str("3.00").unwrap()),
            (3, Decimal::from_str("-5.00").unwrap())
        ]
    );

    // MERGE: the tag `MERGE n` counts rows inserted, updated and deleted,
    // through both protocols; a target row matched twice is 21000.
    let n = c
        .execute(
            "MERGE INTO t USING (VALUES ($1::int, $2::text), (4, 'four')) s(id, name) ON t.id = s.id \
             WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)",
            &[&1i32, &"uno"],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let msgs = c
        .simple_query(
            "MERGE INTO t USING (SELECT 4 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE",
        )
        .await
        .unwrap();
    assert!(matches!(
        msgs.last(),
        Some(SimpleQueryMessage::CommandComplete(1))
    ));
    let e = c
        .batch_execute(
            "MERGE INTO t USING (VALUES (1), (1)) s(id) ON t.id = s.id WHEN MATCHED THEN DELETE",
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::CARDINALITY_VIOLATION);

    // An error in a multi-statement simple query undoes the whole batch.
    let e = c
        .batch_execute("INSERT INTO t VALUES (10, 'ten', 0); SELECT 1/0")
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::DIVISION_BY_ZERO);
    let n: i64 = c
        .query_one("SELECT count(*) FROM t WHERE id = 10", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // Empty queries.
    c.batch_execute("").await.unwrap();
    c.batch_execute(" ; ").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_round_trip_in_binary_and_text() {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
    let server = Server::start(&[]);
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE v (
            b bool, i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision,
            n numeric, t text, vc varchar(10), by bytea, d date, tm time,
            ts timestamp, tz timestamptz, u uuid, j json, jb jsonb, arr int[], tarr text[]
        )",
    )
    .await
    .unwrap();
    let d = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
    let tm = NaiveTime::from_hms_micro_opt(23, 59, 58, 123456).unwrap();
    let ts = NaiveDateTime::new(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), tm);
    let tz = Utc.with_ymd_and_hms(2021, 6, 1, 12, 0, 0).unwrap();
    let u = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let j = serde_json::json!({"a": [1, 2, {"b": null}]});
    let n = Decimal::from_str("-12345.6789").unwrap();
    c.execute(
        "INSERT INTO v VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)",
        &[
            &true,
            &-2i16,
            &40000i32,
            &(1i64 << 40),
            &1.5f32,
            &0.1f64,
            &n,
            &"héllo",
            &"short",
            &vec![0u8, 255, 7],
            &d,
            &tm,
            &ts,
            &tz,
            &u,
            &j,
            &j,
            &vec![Some(1i32), None, Some(3)],
            &vec!["a", "b,c"],
        ],
    )
    .await
    .unwrap();
    let r = c.query_one("SELECT * FROM v", &[]).await.unwrap();
    assert!(r.get::<_, bool>("b"));
    assert_eq!(r.get::<_, i16>("i2"), -2);
    assert_eq!(r.get::<_, i32>("i4"), 40000);
    assert_eq!(r.get::<_, i64>("i8"), 1 << 40);
    assert_eq!(r.get::<_, f32>("f4"), 1.5);
    assert_eq!(r.get::<_, f64>("f8"), 0.1);
    assert_eq!(r.get::<_, Decimal>("n"), n);
    assert_eq!(r.get::<_, String>("t"), "héllo");
    assert_eq!(r.get::<_, String>("vc"), "short");
    assert_eq!(r.get::<_, Vec<u8>>("by"), vec![0u8, 255, 7]);
    assert_eq!(r.get::<_, NaiveDate>("d"), d);
    assert_eq!(r.get::<_, NaiveTime>("tm"), tm);
    assert_eq!(r.get::<_, NaiveDateTime>("ts"), ts);
    assert_eq!(r.get::<_, chrono::DateTime<Utc>>("tz"), tz);
    assert_eq!(r.get::<_, uuid::Uuid>("u"), u);
    assert_eq!(r.get::<_, serde_json::Value>("j"), j);
    assert_eq!(r.get::<_, serde_json::Value>("jb"), j);
    assert_eq!(
        r.get::<_, Vec<Option<i32>>>("arr"),
        vec![Some(1), None, Some(3)]
    );
    assert_eq!(r.get::<_, Vec<String>>("tarr"), vec!["a", "b,c"]);

    // The same row in text format.
    let msgs = c.simple_query("SELECT * FROM v").await.unwrap();
    let SimpleQueryMessage::Row(row) = &msgs[1] else {
        panic!("expected a row, got {msgs:?}")
    };
    let text: Vec<Option<&str>> = (0..row.len()).map(|i| row.get(i)).collect();
    assert_eq!(
        text,
        vec![
            Some("t"),
            Some("-2"),
            Some("40000"),
            Some("1099511627776"),
            Some("1.5"),
            Some("0.1"),
            Some("-12345.6789"),
            Some("héllo"),
            Some("short"),
            Some("\\x00ff07"),
            Some("1999-12-31"),
            Some("23:59:58.123456"),
            Some("2024-02-29 23:59:58.123456"),
            Some("2021-06-01 12:00:00+00"),
            Some("12345678-9abc-def0-1234-56789abcdef0"),
            Some(r#"{"a":[1,2,{"b":null}]}"#),
            Some(r#"{"a": [1, 2, {"b": null}]}"#),
            Some("{1,NULL,3}"),
            Some(r#"{a,"b,c"}"#),
        ]
    );

    // Row descriptions carry PostgreSQL's type OIDs.
    let stmt = c.prepare("SELECT * FROM v").await.unwrap();
    let oids: Vec<u32> = stmt.columns().iter().map(|c| c.type_().oid()).collect();
    assert_eq!(
        oids,
        vec![
            16, 21, 23, 20, 700, 701, 1700, 25, 1043, 17, 1082, 1083, 1114, 1184, 2950, 114, 3802,
            1007, 1009
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstate_and_transactions_track_state() {
    let server = Server::start(&[]);
    let mut c = server.connect().await;
    let e = c.query("SELECT * FROM missing", &[]).await.unwrap_err();
    assert_eq!(code(&e), SqlState::UNDEFINED_TABLE);
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "relation \"missing\" does not exist"
    );
    let e = c.batch_execute("SELEC 1").await.unwrap_err();
    assert_eq!(code(&e), SqlState::SYNTAX_ERROR);
    let e = c
        .prepare("SELECT nope FROM (SELECT 1 AS a) s")
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::UNDEFINED_COLUMN);

    c.batch_execute("CREATE TABLE u (k int PRIMARY KEY)")
        .await
        .unwrap();
    c.execute("INSERT INTO u VALUES (1)", &[]).await.unwrap();
    let e = c
        .execute("INSERT INTO u VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::UNIQUE_VIOLATION);
    assert!(e.as_db_error().unwrap().detail().is_some());

    // A failed statement aborts the transaction until ROLLBACK.
    let tx = c.transaction().await.unwrap();
    tx.execute("INSERT INTO u VALUES (2)", &[]).await.unwrap();
    let e = tx
        .execute("INSERT INTO u VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::UNIQUE_VIOLATION);
    let e = tx.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(code(&e), SqlState::IN_FAILED_SQL_TRANSACTION);
    tx.rollback().await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM u", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // A committed transaction is visible to another connection.
    let tx = c.transaction().await.unwrap();
    tx.execute("INSERT INTO u VALUES (3)", &[]).await.unwrap();
    tx.commit().await.unwrap();
    let other = server.connect().await;
    let n: i64 = other
        .query_one("SELECT count(*) FROM u", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);

    // Wrong parameter count is a protocol error, not a crash.
    let stmt = c.prepare("SELECT $1::int + 1").await.unwrap();
    let r: i32 = c.query_one(&stmt, &[&41i32]).await.unwrap().get(0);
    assert_eq!(r, 42);

    // Unknown database: 3D000.
    let url = format!(
        "host=127.0.0.1 port={} user=heliosdb dbname=nosuchdb",
        server.port
    );
    let e = connect_err(&url).await;
    assert_eq!(code(&e), SqlState::INVALID_CATALOG_NAME);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portals_return_rows_in_batches() {
    let server = Server::start(&[]);
    let mut c = server.connect().await;
    let tx = c.transaction().await.unwrap();
    let stmt = tx
        .prepare("SELECT g FROM generate_series(1, 10) AS g ORDER BY g")
        .await
        .unwrap();
    let portal = tx.bind(&stmt, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = tx.query_portal(&portal, 4).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 4);
        seen.extend(batch.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_a_running_statement() {
    let server = Server::start(&[]);
    let c = server.connect().await;
    let token = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(NoTls).await.unwrap();
    });
    let started = Instant::now();
    let e = c
        .query("SELECT count(*) FROM generate_series(1, 1000000000) a", &[])
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(code(&e), SqlState::QUERY_CANCELED);
    assert!(started.elapsed() < Duration::from_secs(20));
    // The connection stays usable.
    let r: i32 = c.query_one("SELECT 7", &[]).await.unwrap().get(0);
    assert_eq!(r, 7);
}

/// Each connection runs its statements on its own thread: a long statement
/// holds up only its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_statement_does_not_stall_other_connections() {
    let server = Server::start(&[]);
    let slow = server.connect().await;
    let token = slow.cancel_token();
    let running = tokio::spawn(async move {
        slow.query("SELECT count(*) FROM generate_series(1, 1000000000) a", &[])
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let other = server.connect().await;
    for i in 0..200i32 {
        let r: i32 = other
            .query_one("SELECT $1::int + 1", &[&i])
            .await
            .unwrap()
            .get(0);
        assert_eq!(r, i + 1);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "other connections waited for the long statement"
    );
    assert!(!running.is_finished(), "the long statement ended early");
    token.cancel_query(NoTls).await.unwrap();
    let e = running.await.unwrap().unwrap_err();
    assert_eq!(code(&e), SqlState::QUERY_CANCELED);
}

/// SIGTERM cancels statements that are running, so shutdown does not wait
/// for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_running_statements() {
    let server = Server::start(&[]);
    let slow = server.connect().await;
    let running = tokio::spawn(async move {
        slow.query("SELECT count(*) FROM generate_series(1, 1000000000) a", &[])
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, _dir) = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for the running statement",
        started.elapsed()
    );
    assert!(running.await.unwrap().is_err());
}

/// Hundreds of sessions at once, each in a transaction of its own at the
/// same moment; every connection has a thread of its own, which ends with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_connections() {
    const N: usize = 300;
    let server = Server::start(&["--max-connections", "400"]);
    let setup = server.connect().await;
    setup
        .batch_execute("CREATE TABLE hits (id serial PRIMARY KEY, who int)")
        .await
        .unwrap();
    let before = server.threads();
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(server.connect().await);
    }
    // A thread per connection (other threads of the server may come and go).
    if let (Some(before), Some(now)) = (before, server.threads()) {
        assert!(now > N, "{N} connections, threads {before} -> {now}");
    }
    let all_in = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let all_in = all_in.clone();
            tokio::spawn(async move {
                c.batch_execute("BEGIN").await.unwrap();
                c.execute("INSERT INTO hits (who) VALUES ($1)", &[&(i as i32)])
                    .await
                    .unwrap();
                // Every session holds an open transaction at this point.
                all_in.wait().await;
                let n: i64 = c
                    .query_one("SELECT count(*) FROM hits WHERE who = $1", &[&(i as i32)])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(n, 1);
                c.batch_execute("COMMIT").await.unwrap();
                c
            })
        })
        .collect();
    let mut kept = Vec::new();
    for t in tasks {
        kept.push(t.await.unwrap());
    }
    let n: i64 = setup
        .query_one("SELECT count(DISTINCT who) FROM hits", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, N as i64);
    // The connections' threads end with them.
    drop(kept);
    if let Some(before) = before {
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.threads().is_some_and(|t| t > before + 4) {
            assert!(
                Instant::now() < deadline,
                "threads left behind: {:?} (before: {before})",
                server.threads()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let r: i32 = setup.query_one("SELECT 3", &[]).await.unwrap().get(0);
    assert_eq!(r, 3);
}

/// A session idle in a transaction past idle_in_transaction_session_timeout
/// is closed and its transaction rolled back; other sessions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_sessions_are_reaped_and_rolled_back() {
    let server = Server::start(&[]);
    let other = server.connect().await;
    other
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    let (c, connection) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    c.batch_execute(
        "SET idle_in_transaction_session_timeout = '300ms'; BEGIN; INSERT INTO t VALUES (1)",
    )
    .await
    .unwrap();
    // Busy is not idle: a statement longer than the timeout is not reaped.
    let r: i64 = c
        .query_one(
            "SELECT count(*) FROM generate_series(1, 3000000) g WHERE g % 7 = 0",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(r, 428571);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(c.query("SELECT 1", &[]).await.is_err());
    assert!(c.is_closed());
    // The client was told why, as PostgreSQL tells it.
    let e = connection.await.unwrap().unwrap_err();
    let db = (e.as_db_error()).unwrap_or_else(|| panic!("a FATAL ErrorResponse, not {e:?}"));
    assert_eq!(
        db.code(),
        &SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
        "{db:?}"
    );
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(
        db.message(),
        "terminating connection due to idle-in-transaction timeout"
    );
    let n: i64 = other
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the reaped session's insert was rolled back");
    // The row's lock went with it.
    other
        .batch_execute("INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert!(
        server.log().contains("idle-in-transaction timeout"),
        "{}",
        server.log()
    );
}

/// SIGTERM with many sessions in open transactions, one of them running a
/// long statement: the server exits 0 promptly, keeps what was committed
/// and nothing of the open transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_many_open_transactions() {
    let server = Server::start(&[]);
    let setup = server.connect().await;
    setup
        .batch_execute("CREATE TABLE k (id int PRIMARY KEY); INSERT INTO k VALUES (0)")
        .await
        .unwrap();
    let mut open = Vec::new();
    for i in 1..=20 {
        let c = server.connect().await;
        c.batch_execute(&format!("BEGIN; INSERT INTO k VALUES ({i})"))
            .await
            .unwrap();
        open.push(c);
    }
    let busy = server.connect().await;
    busy.batch_execute("BEGIN; INSERT INTO k VALUES (100)")
        .await
        .unwrap();
    let running = tokio::spawn(async move {
        let r = busy
            .query("SELECT count(*) FROM generate_series(1, 1000000000) a", &[])
            .await;
        (r, busy)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, dir) = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        started.elapsed()
    );
    let (r, _busy) = running.await.unwrap();
    assert!(r.is_err());
    for c in &open {
        assert!(c.query("SELECT 1", &[]).await.is_err());
    }
    drop(open);

    let server = Server::start_in(dir, &[]);
    let c = server.connect().await;
    let ids: Vec<i32> = column(&c, "SELECT id FROM k ORDER BY id").await;
    assert_eq!(ids, vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_and_idle_reaping() {
    let server = Server::start(&["--max-connections", "2"]);
    // Server::start's readiness probe (a bare TCP connect) holds a slot
    // until the server sees it close: retry while it does.
    let connect = || async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio_postgres::connect(&server.url(), NoTls).await {
                Ok((c, conn)) => {
                    tokio::spawn(conn);
                    return c;
                }
                Err(e) => {
                    assert_eq!(code(&e), SqlState::TOO_MANY_CONNECTIONS);
                    assert!(Instant::now() < deadline, "no connection slot freed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    let a = connect().await;
    let _b = connect().await;
    let e = connect_err(&server.url()).await;
    assert_eq!(code(&e), SqlState::TOO_MANY_CONNECTIONS);

    // An idle session past idle_session_timeout is closed; its slot frees up.
    a.batch_execute("SET idle_session_timeout = '200ms'")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(a.query("SELECT 1", &[]).await.is_err());
    let c = connect().await;
    let r: i32 = c.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(r, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_rolls_back_open_transactions_and_keeps_commits() {
    let server = Server::start(&[]);
    let (mut c, connection) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    c.batch_execute("CREATE TABLE k (id int PRIMARY KEY); INSERT INTO k VALUES (1)")
        .await
        .unwrap();
    let tx = c.transaction().await.unwrap();
    tx.execute("INSERT INTO k VALUES (2)", &[]).await.unwrap();
    // tokio-postgres closes the statement it prepared for that without
    // waiting for the reply; a FATAL arriving before that reply would be
    // taken as it. One more round trip settles it.
    tx.batch_execute("SELECT 1").await.unwrap();
    // Leave the transaction open and stop the server.
    std::mem::forget(tx);
    let (status, dir) = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    // The idle client was told, as PostgreSQL tells it.
    let e = connection.await.unwrap().unwrap_err();
    let db = (e.as_db_error()).unwrap_or_else(|| panic!("a FATAL ErrorResponse, not {e:?}"));
    assert_eq!(db.code(), &SqlState::ADMIN_SHUTDOWN, "{db:?}");
    assert_eq!(db.severity(), "FATAL");
    drop(c);

    let server = Server::start_in(dir, &[]);
    let c = server.connect().await;
    let ids: Vec<i32> = column(&c, "SELECT id FROM k ORDER BY id").await;
    assert_eq!(ids, vec![1]);
}

/// A client whose statement is running when the server stops is told
/// too: the statement is cancelled and the FATAL follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_statement_still_tells_the_client() {
    let server = Server::start(&[]);
    let (c, connection) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    let long = tokio::spawn(async move {
        c.query(
            "SELECT count(*) FROM generate_series(1, 2000000000) a WHERE a % 7 = 3",
            &[],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _dir) = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    let e = long.await.unwrap().unwrap_err();
    let db = e.as_db_error().expect("a FATAL ErrorResponse");
    assert_eq!(db.code(), &SqlState::ADMIN_SHUTDOWN, "{db:?}");
    assert_eq!(db.severity(), "FATAL");
    let _ = connection.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_client_does_not_affect_others() {
    use std::io::Write;
    let server = Server::start(&[]);
    let c = server.connect().await;
    // Garbage instead of a startup packet, and a connection dropped mid-message.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.write_all(&[0, 0, 0, 200, 1, 2, 3]).unwrap();
    drop(raw);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.write_all(&[0xff; 64]).unwrap();
    drop(raw);
    let r: i32 = c.query_one("SELECT 5", &[]).await.unwrap().get(0);
    assert_eq!(r, 5);
    let c2 = server.connect().await;
    let r: i32 = c2.query_one("SELECT 6", &[]).await.unwrap().get(0);
    assert_eq!(r, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_out_text_and_csv() {
    use futures::{SinkExt, StreamExt};
    let server = Server::start(&[]);
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, note text DEFAULT 'none')",
    )
    .await
    .unwrap();

    // Text format, split across arbitrary chunks.
    let sink = c
        .copy_in("COPY items (id, name, price) FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    for chunk in ["1\tapple\t1.5\n2\tb", "anana\t\\N\n3\ttab\\there\t2\n"] {
        sink.send(bytes::Bytes::from(chunk)).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), 3);

    // CSV with a header and quoted fields spanning lines.
    let sink = c
        .copy_in("COPY items (id, name, price) FROM STDIN WITH (FORMAT csv, HEADER true)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(
        b"id,name,price\n4,\"multi\nline, \"\"quoted\"\"\",3\n5,,\n",
    ))
    .await
    .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);

    let rows = c
        .query(
            "SELECT id, name, price::text, note FROM items ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i32, Option<String>, Option<String>, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got[0],
        (1, Some("apple".into()), Some("1.5".into()), "none".into())
    );
    assert_eq!(got[1].2, None);
    assert_eq!(got[2].1.as_deref(), Some("tab\there"));
    assert_eq!(got[3].1.as_deref(), Some("multi\nline, \"quoted\""));
    assert_eq!(got[4].1, None);

    // Bad data: the whole COPY is rolled back, with the line in the detail.
    let sink = c
        .copy_in::<_, bytes::Bytes>("COPY items (id, name) FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"10\tok\nnot-a-number\tbad\n"))
        .await
        .unwrap();
    let e = sink.finish().await.unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_TEXT_REPRESENTATION);
    assert!(
        e.as_db_error()
            .unwrap()
            .detail()
            .unwrap_or_default()
            .contains("COPY items, line 2"),
        "{e:?}"
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM items WHERE id = 10", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // COPY TO STDOUT in both formats.
    let out = c
        .copy_out("COPY (SELECT id, name FROM items WHERE id IN (1, 3, 5) ORDER BY id) TO STDOUT")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = out.map(|r| r.unwrap()).collect().await;
    let text: Vec<u8> = chunks.concat();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "1\tapple\n3\ttab\\there\n5\t\\N\n"
    );
    let out = c
        .copy_out("COPY items (id, name) TO STDOUT WITH (FORMAT csv, HEADER)")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = out.map(|r| r.unwrap()).collect().await;
    let csv = String::from_utf8(chunks.concat()).unwrap();
    assert!(csv.starts_with("id,name\n1,apple\n"), "{csv}");
    assert!(csv.contains("4,\"multi\nline, \"\"quoted\"\"\"\n"), "{csv}");

    // COPY inside an explicit transaction follows it.
    c.batch_execute("BEGIN").await.unwrap();
    let sink = c
        .copy_in::<_, bytes::Bytes>("COPY items (id) FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"20\n21\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);
    c.batch_execute("ROLLBACK").await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM items WHERE id >= 20", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_authentication() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), &[], Some("s3cret"));
    let url = |user: &str, pw: &str| {
        format!(
            "host=127.0.0.1 port={} user={user} password={pw} dbname=heliosdb",
            server.port
        )
    };
    // The superuser's password now comes from HELIOSDB_PASSWORD; SCRAM is used.
    let (admin, conn) = tokio_postgres::connect(&url("heliosdb", "s3cret"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let e = connect_err(&url("heliosdb", "wrong")).await;
    assert_eq!(code(&e), SqlState::INVALID_PASSWORD);
    // Without a password the client cannot answer the SCRAM challenge.
    let e = connect_err(&server.url()).await;
    assert!(e.as_db_error().is_none(), "{e}");

    admin
        .batch_execute(
            "CREATE ROLE alice LOGIN PASSWORD 'wonder';
             CREATE ROLE nologin_bob PASSWORD 'builder';
             CREATE ROLE limited LOGIN PASSWORD 'x' CONNECTION LIMIT 1;",
        )
        .await
        .unwrap();
    let (alice, conn) = tokio_postgres::connect(&url("alice", "wonder"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let who: String = alice
        .query_one("SELECT current_user", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, "alice");

    // Wrong password, unknown role and a role without LOGIN look the same.
    for (user, pw) in [
        ("alice", "nope"),
        ("mallory", "x"),
        ("nologin_bob", "builder"),
    ] {
        let e = connect_err(&url(user, pw)).await;
        assert_eq!(code(&e), SqlState::INVALID_PASSWORD, "{user}");
        assert_eq!(
            e.as_db_error().unwrap().message(),
            format!("password authentication failed for user \"{user}\"")
        );
    }

    // CONNECTION LIMIT is checked once the password is proven.
    let (one, conn) = tokio_postgres::connect(&url("limited", "x"), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let e = connect_err(&url("limited", "x")).await;
    assert_eq!(code(&e), SqlState::TOO_MANY_CONNECTIONS);
    drop(one);

    // A missing database is reported once the password is proven.
    let in_db = |user: &str, pw: &str, db: &str| {
        format!(
            "host=127.0.0.1 port={} user={user} password={pw} dbname={db}",
            server.port
        )
    };
    let e = connect_err(&in_db("alice", "wonder", "nosuch")).await;
    assert_eq!(code(&e), SqlState::INVALID_CATALOG_NAME);
    let e = connect_err(&in_db("alice", "nope", "nosuch")).await;
    assert_eq!(code(&e), SqlState::INVALID_PASSWORD);
    admin
        .batch_execute("CREATE DATABASE closed ALLOW_CONNECTIONS false")
        .await
        .unwrap();
    let e = connect_err(&in_db("alice", "wonder", "closed")).await;
    assert_eq!(code(&e), SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE);
}

#[test]
fn no_password_means_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("HELIOSDB_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no password"), "{stderr}");
}

/// Driver-style catalog introspection over the extended protocol: typed
/// parameters against pg_catalog, oid columns as int8, `$1::regclass`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_introspection() {
    let s = Server::start(&[]);
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, tags text[])")
        .await
        .unwrap();
    let rows = c
        .query(
            "SELECT a.attname, a.atttypid, a.attnotnull FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             WHERE c.relname = $1 AND a.attnum > 0 ORDER BY a.attnum",
            &[&"items"],
        )
        .await
        .unwrap();
    let got: Vec<(String, i64, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("id".to_string(), 23, true),
            ("name".to_string(), 25, true),
            ("tags".to_string(), 1009, false),
        ]
    );
    // The shape of tokio-postgres' own type lookup.
    let t = c
        .query_one(
            "SELECT t.typname, t.typtype, t.typelem, t.typbasetype, n.nspname, t.typrelid \
             FROM pg_catalog.pg_type t \
             INNER JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = $1",
            &[&1009i64],
        )
        .await
        .unwrap();
    assert_eq!(t.get::<_, String>(0), "_text");
    assert_eq!(t.get::<_, String>(1), "b");
    assert_eq!(t.get::<_, i64>(2), 25);
    assert_eq!(t.get::<_, String>(4), "pg_catalog");
    // A relation named by a parameter.
    let r = c
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = $1::regclass",
            &[&"items"],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 1);
    let cols: Vec<String> = c
        .query(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&"public", &"items"],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(cols, ["id", "name", "tags"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_over_the_wire() {
    let server = Server::start(&[]);
    let admin = server.connect().await;
    let url = |db: &str| {
        format!(
            "host=127.0.0.1 port={} user=heliosdb dbname={db}",
            server.port
        )
    };
    let e = connect_err(&url("app")).await;
    assert_eq!(code(&e), SqlState::INVALID_CATALOG_NAME);
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "database \"app\" does not exist"
    );
    // Simple and extended protocol.
    admin.batch_execute("CREATE DATABASE app").await.unwrap();
    admin.execute("CREATE DATABASE app2", &[]).await.unwrap();
    let e = admin.execute("CREATE DATABASE app", &[]).await.unwrap_err();
    assert_eq!(code(&e), SqlState::DUPLICATE_DATABASE);

    let (app, conn) = tokio_postgres::connect(&url("app"), NoTls).await.unwrap();
    tokio::spawn(conn);
    let name: String = app
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "app");
    app.batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();
    admin
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (9)")
        .await
        .unwrap();
    for (c, rows) in [(&app, 2i64), (&admin, 1)] {
        let n: i64 = c
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, rows);
    }

    // Not in a transaction block, nor among several statements of one query.
    admin.batch_execute("BEGIN").await.unwrap();
    let e = admin.batch_execute("DROP DATABASE app2").await.unwrap_err();
    assert_eq!(code(&e), SqlState::ACTIVE_SQL_TRANSACTION);
    admin.batch_execute("ROLLBACK").await.unwrap();
    let e = admin
        .batch_execute("SELECT 1; DROP DATABASE app2")
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::ACTIVE_SQL_TRANSACTION);

    // In use by another connection: 55006, until that client leaves.
    let e = admin.batch_execute("DROP DATABASE app").await.unwrap_err();
    assert_eq!(code(&e), SqlState::OBJECT_IN_USE);
    assert_eq!(
        e.as_db_error().unwrap().detail(),
        Some("There is 1 other session using the database.")
    );
    drop(app);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admin.batch_execute("DROP DATABASE app").await {
            Ok(()) => break,
            Err(e) if code(&e) == SqlState::OBJECT_IN_USE && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let e = connect_err(&url("app")).await;
    assert_eq!(code(&e), SqlState::INVALID_CATALOG_NAME);

    // WITH (FORCE) closes the other connections first.
    let (other, conn) = tokio_postgres::connect(&url("app2"), NoTls).await.unwrap();
    tokio::spawn(conn);
    other.simple_query("SELECT 1").await.unwrap();
    admin
        .batch_execute("DROP DATABASE app2 WITH (FORCE)")
        .await
        .unwrap();
    assert!(other.simple_query("SELECT 1").await.is_err());
    let names: Vec<String> = column(&admin, "SELECT datname FROM pg_database ORDER BY 1").await;
    assert_eq!(names, ["heliosdb"]);
}

/// Deeply nested statements on a connection's own thread (whose stack is
/// small) end in an error or a result, never in a stack overflow that would
/// take the server down; accepted depths evaluate correctly, in both
/// protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_statements_are_errors_not_stack_overflows() {
    let server = Server::start(&[]);
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE d (x int, t text); INSERT INTO d VALUES (1, 'a')")
        .await
        .unwrap();
    let nest = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let chain = |term: &str, op: &str, n: usize| vec![term; n].join(op);
    // Accepted: (statement, expected first column as text).
    let accepted = [
        (
            format!("SELECT {}", nest("(", "1", ")", 150)),
            "1".to_string(),
        ),
        (
            format!("SELECT {}", chain("1", " + ", 900)),
            "900".to_string(),
        ),
        (
            format!("SELECT {}", chain("'a'", " || ", 900)),
            "a".repeat(900),
        ),
        (
            format!("SELECT {}", nest("NOT ", "false", "", 150)),
            "f".to_string(),
        ),
        (
            format!("SELECT {}", nest("abs(", "-1", ")", 150)),
            "1".to_string(),
        ),
        (
            format!("SELECT {}", nest("(SELECT ", "1", ")", 40)),
            "1".to_string(),
        ),
        (
            format!("SELECT {}", nest("CASE WHEN true THEN ", "1", " END", 100)),
            "1".to_string(),
        ),
        (
            format!(
                "SELECT count(*) FROM d WHERE {}",
                chain("x = 1", " AND ", 900)
            ),
            "1".to_string(),
        ),
        (
            format!(
                "SELECT count(*) FROM d WHERE {}",
                chain("x = 2", " OR ", 900)
            ),
            "0".to_string(),
        ),
    ];
    let union = |n: usize| format!("SELECT 1 AS x{}", " UNION ALL SELECT 1".repeat(n));
    let accepted = accepted.into_iter().chain([
        (
            format!("SELECT count(*) FROM ({}) s", union(1000)),
            "1001".to_string(),
        ),
        (
            format!("WITH c AS ({}) SELECT count(*) FROM c", union(1000)),
            "1001".to_string(),
        ),
        (format!("SELECT 1 IN ({})", union(1000)), "t".to_string()),
        (
            format!(
                "SELECT count(*) FROM {}",
                nest("(d AS a JOIN ", "d", " ON true)", 60)
            ),
            "1".to_string(),
        ),
        (
            format!("SELECT NULL::int{} IS NULL", "[]".repeat(6)),
            "t".to_string(),
        ),
    ]);
    c.batch_execute(&format!("CREATE VIEW v AS {}", union(1000)))
        .await
        .unwrap();
    let accepted = accepted.chain([("SELECT count(*) FROM v".to_string(), "1001".to_string())]);
    for (sql, want) in accepted {
        // Simple protocol.
        let rows = c.simple_query(&sql).await.unwrap_or_else(|e| {
            panic!("{}...: {e:?}", &sql[..60.min(sql.len())]);
        });
        let got = rows.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
            _ => None,
        });
        assert_eq!(
            got.as_deref(),
            Some(want.as_str()),
            "{}",
            &sql[..60.min(sql.len())]
        );
        // Extended protocol (Parse, Bind, Execute).
        let row = c.query_one(sql.as_str(), &[]).await.unwrap();
        assert_eq!(row.columns().len(), 1);
    }
    let refused = [
        format!("SELECT {}", nest("(", "1", ")", 10_000)),
        format!("SELECT {}", chain("1", " + ", 20_000)),
        format!("SELECT {}", nest("NOT ", "true", "", 10_000)),
        format!("SELECT {}", nest("abs(", "1", ")", 10_000)),
        format!("SELECT {}", nest("(SELECT ", "1", ")", 10_000)),
        format!("SELECT {}", nest("ARRAY[", "1", "]", 10_000)),
        format!("SELECT {}", nest("- ", "1", "", 10_000)),
        format!(
            "SELECT count(*) FROM d WHERE {}",
            chain("x = 1", " AND ", 20_000)
        ),
        format!("SELECT {}", chain("1", "+", 1_000_000)),
        format!("SELECT 1 {}", "AND true ".repeat(200_000)),
        format!("SELECT 1{}", "::int".repeat(100_000)),
        format!("SELECT true{}", " IS NULL".repeat(100_000)),
        union(1001),
        union(100_000),
        format!("SELECT count(*) FROM ({}) s", union(100_000)),
        format!("SELECT NULL::int{}", "[]".repeat(100_000)),
        format!("CREATE TABLE deep (a int{})", "[]".repeat(100_000)),
        format!("SELECT * FROM {}", nest("(", "d", ")", 10_000)),
        format!(
            "SELECT count(*) FROM {}",
            nest("(d AS a JOIN ", "d", " ON true)", 10_000)
        ),
    ];
    for sql in &refused {
        let e = c.simple_query(sql).await.unwrap_err();
        assert!(e.code().is_some(), "{}...: {e}", &sql[..40]);
        let e = c.query(sql.as_str(), &[]).await.unwrap_err();
        assert!(e.code().is_some(), "{}...: {e}", &sql[..40]);
        // The connection is still there.
        let r: i32 = c.query_one("SELECT 12", &[]).await.unwrap().get(0);
        assert_eq!(r, 12);
    }
    // The connection, and the server, are still there.
    let r: i32 = c.query_one("SELECT 11", &[]).await.unwrap().get(0);
    assert_eq!(r, 11);
}

/// DEALLOCATE over the wire finds a statement prepared by SQL PREPARE (the
/// server also deallocates those of Parse messages, see tests/clients.rs); a
/// name that is neither is 26000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deallocate_sql_and_protocol_statements() {
    let server = Server::start(&[]);
    let c = server.connect().await;
    c.batch_execute("PREPARE p AS SELECT 1").await.unwrap();
    let rows = c.simple_query("EXECUTE p").await.unwrap();
    let got = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(got.as_deref(), Some("1"));
    c.batch_execute("DEALLOCATE p").await.unwrap();
    let e = c.batch_execute("DEALLOCATE p").await.unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_SQL_STATEMENT_NAME);
    let e = c.batch_execute("EXECUTE p").await.unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_SQL_STATEMENT_NAME);
    c.batch_execute("PREPARE q AS SELECT 3; DEALLOCATE ALL")
        .await
        .unwrap();
    let e = c.batch_execute("EXECUTE q").await.unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_SQL_STATEMENT_NAME);

    // DISCARD ALL, as a pool sends it: protocol-level statements go too,
    // and so do settings and temporary tables.
    let stmt = c.prepare("SELECT 4").await.unwrap();
    c.batch_execute("CREATE TEMP TABLE tt (a int); SET application_name = 'x'; DISCARD ALL")
        .await
        .unwrap();
    let e = c.query(&stmt, &[]).await.unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_SQL_STATEMENT_NAME);
    let e = c.batch_execute("SELECT * FROM tt").await.unwrap_err();
    assert_eq!(code(&e), SqlState::UNDEFINED_TABLE);
    let name: String = c
        .query_one("SHOW application_name", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "");

    // MOVE reports the rows it passed over; FETCH's short form works.
    let msgs = c
        .simple_query("BEGIN; DECLARE mc CURSOR FOR SELECT generate_series(1, 3); MOVE ALL IN mc")
        .await
        .unwrap();
    assert!(matches!(
        msgs.last(),
        Some(SimpleQueryMessage::CommandComplete(3))
    ));
    assert_eq!(c.execute("MOVE BACKWARD ALL IN mc", &[]).await.unwrap(), 3);
    c.batch_execute("ROLLBACK; BEGIN; DECLARE mc CURSOR FOR SELECT 7")
        .await
        .unwrap();
    let row = c.query_one("FETCH mc", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);
    assert_eq!(c.execute("MOVE mc", &[]).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_modifying_with_select_into_and_current_of() {
    let server = Server::start(&[]);
    let mut c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE src (id int PRIMARY KEY, v text);
         CREATE TABLE dst (id int, v text);
         INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 5) AS g(g)",
    )
    .await
    .unwrap();

    // Parameters and RETURNING rows through the extended protocol; the
    // prepared statement runs twice, each time deleting its own row.
    let stmt = c
        .prepare("WITH d AS (DELETE FROM src WHERE id = $1 RETURNING *) SELECT id, v, (SELECT count(*) FROM src) FROM d")
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[tokio_postgres::types::Type::INT4]);
    for id in [1i32, 2] {
        let row = c.query_one(&stmt, &[&id]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), id);
        assert_eq!(row.get::<_, String>(1), format!("v{id}"));
        // The main query reads the table as of the statement's start.
        assert_eq!(row.get::<_, i64>(2), 6 - i64::from(id));
    }

    // The tag (and count) is the main statement's: INSERT 0 3.
    let n = c
        .execute(
            "WITH moved AS (DELETE FROM src WHERE id > $1 RETURNING *) INSERT INTO dst SELECT * FROM moved",
            &[&2i32],
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    let msgs = c
        .simple_query(
            "WITH i AS (INSERT INTO src VALUES (7, 'x'), (8, 'y') RETURNING id) SELECT * FROM i",
        )
        .await
        .unwrap();
    assert!(
        msgs.iter()
            .any(|m| matches!(m, SimpleQueryMessage::CommandComplete(2)))
    );
    let e = c
        .simple_query("SELECT * FROM (WITH d AS (DELETE FROM src RETURNING *) SELECT * FROM d) s")
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::FEATURE_NOT_SUPPORTED);

    // SELECT INTO: SELECT n.
    let n = c
        .execute("SELECT * INTO copy FROM dst WHERE id > $1", &[&3i32])
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        column::<i64>(&c, "SELECT count(*) FROM copy").await,
        vec![2]
    );
    let n = c
        .execute(
            "WITH d AS (DELETE FROM copy WHERE id > $1 RETURNING *) SELECT * INTO moved FROM d",
            &[&4i32],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        column::<i64>(&c, "SELECT count(*) FROM copy").await,
        vec![1]
    );

    // WHERE CURRENT OF, with RETURNING, inside a transaction.
    let t = c.transaction().await.unwrap();
    t.batch_execute("DECLARE cur CURSOR FOR SELECT id FROM src WHERE id > 6")
        .await
        .unwrap();
    let e = t
        .query("DELETE FROM src WHERE CURRENT OF cur RETURNING id", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), SqlState::INVALID_CURSOR_STATE);
    t.rollback().await.unwrap();
    let t = c.transaction().await.unwrap();
    t.batch_execute("DECLARE cur CURSOR FOR SELECT id FROM src WHERE id > 6; FETCH 1 FROM cur")
        .await
        .unwrap();
    let rows = t
        .query(
            "UPDATE src SET v = $1 WHERE CURRENT OF cur RETURNING id, v",
            &[&"changed"],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 7);
    assert_eq!(rows[0].get::<_, String>(1), "changed");
    t.commit().await.unwrap();
    assert_eq!(
        column::<String>(&c, "SELECT v FROM src WHERE id = 7").await,
        vec!["changed".to_string()]
    );
}
