//! The embedded API: open, connect, execute, query, prepare, typed rows,
//! transaction guards, errors with SQLSTATEs, persistence across reopen.

use chrono::NaiveDate;
use heliosdb_nano::{DataType, Database, Value};
use rust_decimal::Decimal;
use std::str::FromStr;

#[test]
fn execute_query_and_typed_rows() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute(
        "CREATE TABLE people (id serial PRIMARY KEY, name varchar(20) NOT NULL, born date, balance numeric(10,2), tags jsonb)",
        &[],
    )
    .unwrap();
    let n = s
        .execute(
            "INSERT INTO people (name, born, balance, tags) VALUES ($1, $2, $3, $4), ('bob', NULL, 0, NULL)",
            &[&"alice", &NaiveDate::from_ymd_opt(1990, 5, 17).unwrap(), &Decimal::from_str("12.50").unwrap(), &serde_json::json!({"vip": true})],
        )
        .unwrap();
    assert_eq!(n, 2);
    let rows = s
        .query(
            "SELECT id, name, born, balance, tags->>'vip' AS vip FROM people ORDER BY id",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 2);
    let cols: Vec<(&str, DataType)> = rows
        .columns()
        .iter()
        .map(|c| (c.name.as_str(), c.ty.clone()))
        .collect();
    assert_eq!(
        cols,
        vec![
            ("id", DataType::Int4),
            ("name", DataType::Varchar(Some(20))),
            ("born", DataType::Date),
            ("balance", DataType::Numeric(Some((10, 2)))),
            ("vip", DataType::Text)
        ]
    );
    let r = rows.get(0).unwrap();
    assert_eq!(r.get::<i32>("id").unwrap(), 1);
    assert_eq!(r.get::<String>(1).unwrap(), "alice");
    assert_eq!(
        r.get::<NaiveDate>("born").unwrap(),
        NaiveDate::from_ymd_opt(1990, 5, 17).unwrap()
    );
    assert_eq!(r.get::<Decimal>("balance").unwrap().to_string(), "12.50");
    assert_eq!(r.get::<String>("vip").unwrap(), "true");
    let r2 = rows.get(1).unwrap();
    assert_eq!(r2.get::<Option<NaiveDate>>("born").unwrap(), None);
    assert_eq!(r2.get::<NaiveDate>("born").unwrap_err().sqlstate(), "22004");
    assert_eq!(r.get::<i32>("nope").unwrap_err().sqlstate(), "42703");
}

#[test]
fn prepared_statements_bind_values_never_splice_them() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("CREATE TABLE kv (k text PRIMARY KEY, v int)", &[])
        .unwrap();
    let ins = s
        .prepare("INSERT INTO kv VALUES ($1, $2) RETURNING k")
        .unwrap();
    assert_eq!(ins.param_types(), &[DataType::Text, DataType::Int4]);
    let evil = "x'); DROP TABLE kv; --";
    let rows = s.query_prepared(&ins, &[&evil, &1]).unwrap();
    assert_eq!(rows.get(0).unwrap().get::<String>(0).unwrap(), evil);
    for i in 2..50 {
        s.execute_prepared(&ins, &[&format!("k{i}"), &i]).unwrap();
    }
    let q = s.prepare("SELECT v FROM kv WHERE k = $1").unwrap();
    assert_eq!(q.columns()[0].name, "v");
    assert_eq!(
        s.query_prepared(&q, &[&"k7"])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        7
    );
    assert_eq!(
        s.query("SELECT count(*) FROM kv", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        49
    );
    // Wrong parameter count and type.
    assert_eq!(s.query_prepared(&q, &[]).unwrap_err().sqlstate(), "08P01");
    assert_eq!(
        s.execute("INSERT INTO kv VALUES ($1, $2)", &[&"z", &"not a number"])
            .unwrap_err()
            .sqlstate(),
        "22P02"
    );
    // Plans are re-bound after DDL.
    s.execute("ALTER TABLE kv ADD COLUMN extra int DEFAULT 3", &[])
        .unwrap();
    assert_eq!(
        s.query_prepared(&q, &[&"k8"])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        8
    );
}

#[test]
fn transaction_guard_rolls_back_on_drop() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("CREATE TABLE t (x int)", &[]).unwrap();
    {
        let mut tx = s.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        assert!(tx.in_transaction());
    }
    assert!(!s.in_transaction());
    {
        let mut tx = s.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
        tx.commit().unwrap();
    }
    let rows = s.query("SELECT x FROM t", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows.get(0).unwrap().get::<i32>(0).unwrap(), 2);
    let mut tx = s.transaction().unwrap();
    assert!(tx.execute("INSERT INTO t VALUES ('bad')", &[]).is_err());
    assert_eq!(tx.commit().unwrap_err().sqlstate(), "25P02");
    assert_eq!(
        s.query("SELECT count(*) FROM t", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap(),
        1
    );
}

#[test]
fn errors_carry_sqlstate_message_detail_and_hint() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("CREATE TABLE u (id int PRIMARY KEY)", &[])
        .unwrap();
    s.execute("INSERT INTO u VALUES (1)", &[]).unwrap();
    let e = s.execute("INSERT INTO u VALUES (1)", &[]).unwrap_err();
    assert_eq!(e.sqlstate(), "23505");
    assert_eq!(
        e.message,
        "duplicate key value violates unique constraint \"u_pkey\""
    );
    assert_eq!(e.detail.as_deref(), Some("Key (id)=(1) already exists."));
    let e = s.execute("SELECT 1 +", &[]).unwrap_err();
    assert_eq!(e.sqlstate(), "42601");
    let e = s.execute("SELECT 'abc'::int", &[]).unwrap_err();
    assert_eq!(
        (e.sqlstate(), e.message.as_str()),
        ("22P02", "invalid input syntax for type integer: \"abc\"")
    );
    let e = s.execute("SELECT 1 + 'a'::boolean", &[]).unwrap_err();
    assert_eq!(e.sqlstate(), "22P02");
    let e = s.execute("SELECT 1 + true", &[]).unwrap_err();
    assert_eq!(e.sqlstate(), "42883");
    assert!(e.hint.is_some());
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    let deep = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(s.execute(&deep, &[]).is_err());
    let long_sum = format!("SELECT {}", vec!["1"; 5000].join(" + "));
    assert!(s.execute(&long_sum, &[]).is_err() || s.execute(&long_sum, &[]).is_ok());
    for junk in [
        "",
        ";",
        "\0",
        "SELECT '",
        "CREATE TABLE (",
        "💥",
        "SELECT $0",
        "SELECT $99999999999",
    ] {
        let _ = s.execute(junk, &[]);
    }
    assert_eq!(
        s.query("SELECT 1", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        1
    );
}

#[test]
fn data_survives_reopen_and_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let mut s = db.connect();
        s.run("CREATE TABLE t (id bigserial PRIMARY KEY, v text); INSERT INTO t (v) VALUES ('a'), ('b'); CREATE INDEX t_v ON t (v)")
            .unwrap();
        let err = Database::open(dir.path())
            .err()
            .expect("second open must fail");
        assert_eq!(err.sqlstate(), "55006");
        assert!(err.message.starts_with("database is locked"));
    }
    let db = Database::open(dir.path()).unwrap();
    let mut s = db.connect();
    let rows = s.query("SELECT id, v FROM t WHERE v = 'b'", &[]).unwrap();
    assert_eq!(
        rows.get(0).unwrap().values(),
        &[Value::Int8(2), Value::Text("b".into())]
    );
    // The sequence continues after a reopen without reusing values.
    let id: i64 = s
        .query("INSERT INTO t (v) VALUES ('c') RETURNING id", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert!(id > 2);
}

#[test]
fn synchronous_commit_off_is_visible_and_flushed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let mut s = db.connect();
        s.run("SET synchronous_commit = off; CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            .unwrap();
        assert_eq!(
            s.query("SHOW synchronous_commit", &[])
                .unwrap()
                .get(0)
                .unwrap()
                .get::<String>(0)
                .unwrap(),
            "off"
        );
    }
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.connect().query("SELECT x FROM t", &[]).unwrap().len(), 1);
}

#[test]
fn explain_shows_index_use() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run("CREATE TABLE o (id bigint PRIMARY KEY, tenant int, amount int); CREATE INDEX o_tenant ON o (tenant)").unwrap();
    let plan = |s: &mut heliosdb_nano::Session, q: &str| -> String {
        s.query(&format!("EXPLAIN {q}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<String>(0).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let p = plan(&mut s, "SELECT * FROM o WHERE id = 5");
    assert!(p.contains("Index Scan using o_pkey on o"), "{p}");
    let p = plan(
        &mut s,
        "SELECT count(*) FROM o WHERE tenant = 3 AND amount > 1",
    );
    assert!(
        p.contains("Index Scan using o_tenant on o") && p.contains("Index Cond: (tenant = 3)"),
        "{p}"
    );
    let p = plan(&mut s, "SELECT * FROM o WHERE id > 10 AND id <= 20");
    assert!(p.contains("Index Cond: (id > 10) AND (id <= 20)"), "{p}");
    let p = plan(&mut s, "SELECT * FROM o WHERE amount = 1");
    assert!(p.contains("Seq Scan on o"), "{p}");
    let p = plan(&mut s, "UPDATE o SET amount = 1 WHERE id = 7");
    assert!(
        p.contains("Update on o") && p.contains("Index Scan using o_pkey"),
        "{p}"
    );
}

#[test]
fn copy_in_and_out_through_the_embedded_api() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("CREATE TABLE c (id int PRIMARY KEY, name text)", &[])
        .unwrap();
    let data = "1,one\n2,\"t,wo\"\n3,\n";
    let n = s
        .copy_in_from("COPY c FROM STDIN (FORMAT csv)", data.as_bytes())
        .unwrap();
    assert_eq!(n, 3);
    let mut out = Vec::new();
    let n = s.copy_out_to("COPY c TO STDOUT", &mut out).unwrap();
    assert_eq!(n, 3);
    assert_eq!(String::from_utf8(out).unwrap(), "1\tone\n2\tt,wo\n3\t\\N\n");
    // A duplicate key fails the whole COPY and leaves the session usable.
    let e = s
        .copy_in_from("COPY c FROM STDIN", "4\tfour\n1\tdup\n".as_bytes())
        .unwrap_err();
    assert_eq!(e.sqlstate(), "23505");
    let n: i64 = s
        .query("SELECT count(*) FROM c", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 3);
    // Inline data after the statement is refused rather than mangled.
    let e = s
        .run("COPY c (id, name) FROM stdin;\n7\tseven\n\\.\n")
        .unwrap_err();
    assert_eq!(e.sqlstate(), "0A000");
    assert!(!s.copy_in_progress());
}

#[test]
fn notices_come_with_results_and_follow_client_min_messages() {
    use heliosdb_nano::{Notice, Severity};
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();

    // Each statement's notices come with its result, in order.
    let results = s
        .run("DROP TABLE IF EXISTS missing; CREATE TABLE t (id int); CREATE TABLE IF NOT EXISTS t (id int)")
        .unwrap();
    let notice = &results[0].notices[0];
    assert_eq!(
        (notice.severity, notice.sqlstate(), notice.message.as_str()),
        (
            Severity::Notice,
            "00000",
            "table \"missing\" does not exist, skipping"
        )
    );
    assert!(results[1].notices.is_empty());
    assert_eq!(results[2].notices[0].sqlstate(), "42P07");
    assert_eq!(
        results[2].notices[0].to_string(),
        "NOTICE:  relation \"t\" already exists, skipping"
    );

    // Calls that return only a count or rows leave them for take_notices.
    s.execute("COMMIT", &[]).unwrap();
    let warnings = s.take_notices();
    assert_eq!(
        warnings,
        vec![Notice::warning(
            heliosdb_nano::SqlState::NO_ACTIVE_SQL_TRANSACTION,
            "there is no transaction in progress"
        )]
    );
    assert!(s.take_notices().is_empty(), "taken once");
    s.execute("BEGIN", &[]).unwrap();
    s.execute("BEGIN", &[]).unwrap();
    assert_eq!(s.take_notices()[0].sqlstate(), "25001");
    s.execute("ROLLBACK", &[]).unwrap();

    // DROP ... CASCADE lists what else goes, with a DETAIL per object.
    s.run("CREATE VIEW v AS SELECT * FROM t; CREATE VIEW w AS SELECT * FROM v")
        .unwrap();
    let r = s.run("DROP TABLE t CASCADE").unwrap();
    let n = &r[0].notices[0];
    assert_eq!(n.message, "drop cascades to 2 other objects");
    assert_eq!(
        n.detail.as_deref(),
        Some("drop cascades to view v\ndrop cascades to view w")
    );

    // client_min_messages filters them; each call starts with none queued.
    s.execute("SET client_min_messages = warning", &[]).unwrap();
    s.execute("DROP TABLE IF EXISTS missing", &[]).unwrap();
    assert!(s.take_notices().is_empty());
    s.execute("COMMIT", &[]).unwrap();
    assert_eq!(s.take_notices().len(), 1);
    s.execute("SET client_min_messages = error", &[]).unwrap();
    s.execute("COMMIT", &[]).unwrap();
    assert!(s.take_notices().is_empty());
    s.execute("RESET client_min_messages", &[]).unwrap();
    s.execute("DROP VIEW IF EXISTS gone", &[]).unwrap();
    s.query("SELECT 1", &[]).unwrap();
    assert!(s.take_notices().is_empty(), "the next call cleared them");

    // A failed statement's notices wait for take_notices too.
    s.run("CREATE TABLE a (id int); CREATE VIEW av AS SELECT * FROM a")
        .unwrap();
    let err = s.run("DROP TABLE IF EXISTS nope, av").unwrap_err();
    assert_eq!(err.sqlstate(), "42809");
    assert_eq!(
        s.take_notices()[0].message,
        "table \"nope\" does not exist, skipping"
    );
    s.execute(
        "DROP TABLE IF EXISTS nope2, missing_schema.x, \"Not Here\" CASCADE",
        &[],
    )
    .unwrap();
    assert_eq!(
        s.take_notices()
            .iter()
            .map(|n| n.message.as_str())
            .collect::<Vec<_>>(),
        vec![
            "table \"nope2\" does not exist, skipping",
            "schema \"missing_schema\" does not exist, skipping",
            "table \"Not Here\" does not exist, skipping"
        ]
    );
}

#[test]
fn set_config_and_session_functions() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    let mut other = db.connect();
    let row = s
        .query(
            "SELECT set_config('app.user', '42', false), current_setting('app.user'), pg_backend_pid()",
            &[],
        )
        .unwrap();
    let row = row.get(0).unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "42");
    assert_eq!(row.get::<String>(1).unwrap(), "42");
    // Every session has its own process id; the API reports the same one.
    assert_eq!(row.get::<i32>(2).unwrap(), s.backend_pid());
    assert_ne!(s.backend_pid(), other.backend_pid());
    let theirs: Option<String> = other
        .query("SELECT current_setting('app.user', true)", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(theirs, None, "settings are per session");
    let addr: Option<String> = s
        .query("SELECT inet_server_addr()", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(addr, None, "embedded sessions have no addresses");
    s.set_connection_info(
        "127.0.0.1:5432".parse().unwrap(),
        "127.0.0.1:40000".parse().unwrap(),
    );
    let row = s
        .query(
            "SELECT inet_server_addr(), inet_server_port(), inet_client_addr(), inet_client_port()",
            &[],
        )
        .unwrap();
    let row = row.get(0).unwrap();
    assert_eq!(row.get::<String>(0).unwrap(), "127.0.0.1");
    assert_eq!(row.get::<i32>(1).unwrap(), 5432);
    assert_eq!(row.get::<i32>(3).unwrap(), 40000);

    // A prepared query over pg_settings reads the values of each execution.
    let p = s
        .prepare("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
        .unwrap();
    let setting = |s: &mut heliosdb_nano::Session| -> String {
        s.query_prepared(&p, &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get(0)
            .unwrap()
    };
    assert_eq!(setting(&mut s), "0");
    s.execute("SET statement_timeout = '2s'", &[]).unwrap();
    assert_eq!(setting(&mut s), "2000");

    // SHOW ALL: name, setting, description.
    let all = s.query("SHOW ALL", &[]).unwrap();
    let names: Vec<&str> = all.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["name", "setting", "description"]);
    assert!(
        all.iter()
            .all(|r| r.get::<String>(0).unwrap() != "app.user"),
        "custom settings are not listed, as in PostgreSQL"
    );
    let date = all
        .iter()
        .find(|r| r.get::<String>(0).unwrap() == "DateStyle")
        .expect("PostgreSQL's spelling");
    assert_eq!(
        date.get::<String>(2).unwrap(),
        "Sets the display format for date and time values."
    );
}

#[test]
fn reported_parameters_change_with_set_role_and_rollback() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run("CREATE ROLE app LOGIN").unwrap();
    let start = s.reported_parameters().unwrap();
    let get =
        |v: &[(String, String)], n: &str| v.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get(&start, "is_superuser").as_deref(), Some("on"));
    assert_eq!(
        get(&start, "session_authorization").as_deref(),
        Some("heliosdb")
    );
    assert_eq!(get(&start, "IntervalStyle").as_deref(), Some("postgres"));
    assert!(s.parameter_changes().unwrap().is_empty());

    s.execute("SET application_name = 'batch'", &[]).unwrap();
    assert_eq!(
        s.parameter_changes().unwrap(),
        vec![("application_name".to_string(), "batch".to_string())]
    );
    // Settings that are not reported change nothing.
    s.execute("SET statement_timeout = '1s'", &[]).unwrap();
    assert!(s.parameter_changes().unwrap().is_empty());

    s.execute("SET SESSION AUTHORIZATION app", &[]).unwrap();
    let changes = s.parameter_changes().unwrap();
    assert!(changes.contains(&("is_superuser".into(), "off".into())));
    assert!(changes.contains(&("session_authorization".into(), "app".into())));
    s.execute("RESET SESSION AUTHORIZATION", &[]).unwrap();
    assert_eq!(s.parameter_changes().unwrap().len(), 2);

    // A rollback that undoes a SET reports the old value again.
    s.execute("BEGIN", &[]).unwrap();
    s.execute("SET application_name = 'inside'", &[]).unwrap();
    assert_eq!(s.parameter_changes().unwrap().len(), 1);
    s.execute("ROLLBACK", &[]).unwrap();
    assert_eq!(
        s.parameter_changes().unwrap(),
        vec![("application_name".to_string(), "batch".to_string())]
    );
}

/// SQL `PREPARE` and the names a wire-protocol server claims for its
/// clients' Parse messages share one namespace, as in PostgreSQL.
#[test]
fn sql_and_protocol_statement_names_are_one_namespace() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("PREPARE p AS SELECT 1", &[]).unwrap();
    let e = s.claim_statement_name("p").unwrap_err();
    assert_eq!(e.sqlstate(), "42P05");
    s.claim_statement_name("q").unwrap();
    let e = s.execute("PREPARE q AS SELECT 2", &[]).unwrap_err();
    assert_eq!(e.sqlstate(), "42P05");
    // DEALLOCATE releases a protocol name (the server drops the statement).
    s.execute("DEALLOCATE q", &[]).unwrap();
    s.execute("PREPARE q AS SELECT 2", &[]).unwrap();
    s.claim_statement_name("r").unwrap();
    s.release_statement_name("r");
    s.execute("PREPARE r AS SELECT 3", &[]).unwrap();
    let e = s.execute("DEALLOCATE nope", &[]).unwrap_err();
    assert_eq!(e.sqlstate(), "26000");
}

#[test]
fn data_modifying_with_select_into_and_current_of() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("CREATE TABLE queue (id int PRIMARY KEY, job text)", &[])
        .unwrap();
    s.execute("CREATE TABLE done (id int, job text)", &[])
        .unwrap();
    s.execute(
        "INSERT INTO queue SELECT g, 'job ' || g FROM generate_series(1, 4) AS g(g)",
        &[],
    )
    .unwrap();

    // A prepared statement with a data-modifying WITH: runs on every call.
    let take = s
        .prepare("WITH d AS (DELETE FROM queue WHERE id <= $1 RETURNING *) INSERT INTO done SELECT * FROM d")
        .unwrap();
    assert_eq!(s.execute_prepared(&take, &[&2i32]).unwrap(), 2);
    assert_eq!(s.execute_prepared(&take, &[&3i32]).unwrap(), 1);
    let rows = s
        .query(
            "WITH d AS (DELETE FROM done WHERE id = $1 RETURNING id, job) SELECT job, (SELECT count(*) FROM done) AS n FROM d",
            &[&1i32],
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows.get(0).unwrap().get::<String>("job").unwrap(), "job 1");
    assert_eq!(rows.get(0).unwrap().get::<i64>("n").unwrap(), 3);
    let e = s
        .query(
            "SELECT * FROM (WITH d AS (DELETE FROM done RETURNING *) SELECT * FROM d) x",
            &[],
        )
        .unwrap_err();
    assert_eq!(e.sqlstate(), "0A000");

    // SELECT INTO: the count is the rows copied.
    assert_eq!(
        s.execute("SELECT * INTO archive FROM done WHERE id > $1", &[&2i32])
            .unwrap(),
        1
    );

    // WHERE CURRENT OF inside a transaction.
    s.execute("BEGIN", &[]).unwrap();
    s.execute("DECLARE c CURSOR FOR SELECT id FROM queue", &[])
        .unwrap();
    let e = s
        .execute("DELETE FROM queue WHERE CURRENT OF c", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "24000");
    s.execute("ROLLBACK", &[]).unwrap();
    s.execute("BEGIN", &[]).unwrap();
    s.execute("DECLARE c CURSOR FOR SELECT id FROM queue", &[])
        .unwrap();
    s.query("FETCH 1 FROM c", &[]).unwrap();
    let rows = s
        .query(
            "UPDATE queue SET job = $1 WHERE CURRENT OF c RETURNING id, job",
            &[&"picked"],
        )
        .unwrap();
    assert_eq!(rows.get(0).unwrap().get::<i32>("id").unwrap(), 4);
    s.execute("COMMIT", &[]).unwrap();
    let rows = s.query("SELECT job FROM queue", &[]).unwrap();
    assert_eq!(rows.get(0).unwrap().get::<String>(0).unwrap(), "picked");
}
