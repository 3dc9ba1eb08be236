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
