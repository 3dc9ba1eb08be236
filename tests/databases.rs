//! Several databases in one data directory, through the embedded API:
//! separate catalogs, connecting (`connect_to`, `connect_as_to`), DROP
//! DATABASE removing every key, persistence, data directories from before
//! databases existed, sessions in use, and ANALYZE feeding the planner.

use heliosdb_nano::catalog::{self, keys};
use heliosdb_nano::storage::Engine;
use heliosdb_nano::storage::memory::MemoryEngine;
use heliosdb_nano::txn::{IsolationLevel, TxnManager};
use heliosdb_nano::{Database, Session};
use std::ops::Bound;
use std::sync::Arc;

fn one(s: &mut Session, sql: &str) -> String {
    let rows = s.query(sql, &[]).unwrap();
    rows.get(0).unwrap().get::<String>(0).unwrap()
}

fn column(s: &mut Session, sql: &str) -> Vec<String> {
    s.query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<String>(0).unwrap())
        .collect()
}

/// The error of a connection attempt that must fail.
fn refused(r: heliosdb_nano::Result<Session>) -> heliosdb_nano::Error {
    match r {
        Ok(_) => panic!("the connection was accepted"),
        Err(e) => e,
    }
}

fn err(s: &mut Session, sql: &str) -> heliosdb_nano::Error {
    s.execute(sql, &[]).unwrap_err()
}

#[test]
fn each_database_has_its_own_catalog() {
    let db = Database::open_in_memory().unwrap();
    let mut main = db.connect();
    assert_eq!(main.current_database().unwrap(), "heliosdb");
    main.execute("CREATE DATABASE app", &[]).unwrap();

    let mut app = db.connect_to("app").unwrap();
    assert_eq!(app.current_database().unwrap(), "app");
    assert_eq!(one(&mut app, "SELECT current_database()"), "app");
    app.run(
        "CREATE TABLE t (id serial PRIMARY KEY, v text);
         INSERT INTO t (v) VALUES ('app 1'), ('app 2');
         CREATE SCHEMA s; CREATE TABLE s.only_here (x int);
         CREATE VIEW tv AS SELECT v FROM t",
    )
    .unwrap();
    // The same names in the other database are other objects.
    main.run(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t VALUES (7, 'main');
         CREATE SCHEMA s",
    )
    .unwrap();
    assert_eq!(
        column(&mut app, "SELECT v FROM t ORDER BY id"),
        ["app 1", "app 2"]
    );
    assert_eq!(column(&mut main, "SELECT v FROM t"), ["main"]);
    assert_eq!(column(&mut app, "SELECT v FROM tv ORDER BY 1").len(), 2);
    assert_eq!(err(&mut main, "SELECT * FROM tv").sqlstate(), "42P01");
    assert_eq!(
        err(&mut main, "SELECT * FROM s.only_here").sqlstate(),
        "42P01"
    );
    assert_eq!(
        column(
            &mut app,
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'v') ORDER BY 1"
        ),
        ["only_here", "t", "tv"]
    );
    assert_eq!(
        column(
            &mut main,
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'v') ORDER BY 1"
        ),
        ["t"]
    );
    // A sequence belongs to its database; both databases list each other.
    assert_eq!(one(&mut app, "SELECT nextval('t_id_seq')::text"), "3");
    assert_eq!(
        err(&mut main, "SELECT nextval('t_id_seq')").sqlstate(),
        "42P01"
    );
    for s in [&mut main, &mut app] {
        assert_eq!(
            column(s, "SELECT datname FROM pg_database ORDER BY 1"),
            ["app", "heliosdb"]
        );
        assert_eq!(
            one(
                s,
                "SELECT table_catalog FROM information_schema.tables WHERE table_name = 't'"
            ),
            s.current_database().unwrap()
        );
    }
    // Roles are global: created in one database, they log into any.
    app.execute("CREATE ROLE bob LOGIN", &[]).unwrap();
    let mut bob = db.connect_as_to("bob", "heliosdb").unwrap();
    assert_eq!(one(&mut bob, "SELECT current_user"), "bob");
    assert_eq!(one(&mut bob, "SELECT current_database()"), "heliosdb");
    // Qualified names reach the current database only.
    assert_eq!(
        one(&mut app, "SELECT v FROM app.public.t WHERE id = 1"),
        "app 1"
    );
    let e = err(&mut app, "SELECT * FROM heliosdb.public.t");
    assert_eq!(e.sqlstate(), "0A000");
    assert_eq!(
        e.message,
        "cross-database references are not implemented: \"heliosdb.public.t\""
    );
}

/// Every key in the engine, for checking what DROP DATABASE left behind.
fn all_keys(engine: &Arc<dyn Engine>) -> Vec<Vec<u8>> {
    engine
        .snapshot()
        .unwrap()
        .scan(Bound::Unbounded, Bound::Unbounded, false)
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect()
}

#[test]
fn drop_database_removes_every_key_and_a_new_one_is_empty() {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let db = Database::with_engine(engine.clone(), None).unwrap();
    let mut main = db.connect();
    main.execute("CREATE DATABASE gone", &[]).unwrap();
    let before = all_keys(&engine);
    let mut s = db.connect_to("gone").unwrap();
    s.run(
        "CREATE TABLE t (id serial PRIMARY KEY, v text UNIQUE);
         CREATE INDEX t_v ON t (v);
         CREATE TABLE nopk (x int);
         INSERT INTO t (v) SELECT 'v' || g FROM generate_series(1, 50) g;
         INSERT INTO nopk VALUES (1), (2);
         CREATE SEQUENCE seq; CREATE VIEW tv AS SELECT * FROM t;
         CREATE SCHEMA other; CREATE TABLE other.o (a int PRIMARY KEY);
         INSERT INTO other.o VALUES (1);
         ANALYZE",
    )
    .unwrap();
    s.query("SELECT nextval('seq')", &[]).unwrap();
    let oids: Vec<u32> = s
        .query(
            "SELECT oid::int FROM pg_class WHERE oid < 4294967296 UNION SELECT oid::int FROM pg_namespace WHERE nspname IN ('other')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<i32>(0).unwrap() as u32)
        .collect();
    assert!(oids.len() >= 8, "{oids:?}");
    drop(s);
    main.execute("DROP DATABASE gone", &[]).unwrap();

    // Only the catalog counters and the change log (history, kept until
    // retention lets it go) changed; no key names a dropped object.
    let after = all_keys(&engine);
    let leftover: Vec<&Vec<u8>> = after.iter().filter(|k| !before.contains(k)).collect();
    assert!(
        leftover.iter().all(|k| counter_or_history(k)),
        "{leftover:?}"
    );
    for id in oids {
        let id_bytes = id.to_be_bytes();
        for k in &after {
            let names_it = match k[0] {
                keys::CATALOG_PREFIX => k[2..6] == id_bytes,
                keys::SEQUENCE_PREFIX | keys::STATS_PREFIX | keys::DATA_PREFIX => {
                    k[1..5] == id_bytes
                }
                _ => false,
            };
            assert!(!names_it, "key {k:?} of dropped object {id} remains");
        }
    }
    assert_eq!(
        column(&mut main, "SELECT datname FROM pg_database"),
        ["heliosdb"]
    );
    assert_eq!(refused(db.connect_to("gone")).sqlstate(), "3D000");

    main.execute("CREATE DATABASE gone", &[]).unwrap();
    let mut again = db.connect_to("gone").unwrap();
    assert_eq!(err(&mut again, "SELECT * FROM t").sqlstate(), "42P01");
    assert_eq!(
        column(&mut again, "SELECT nspname FROM pg_namespace ORDER BY 1"),
        ["information_schema", "pg_catalog", "public"]
    );
    again.execute("CREATE TABLE t (x int)", &[]).unwrap();
}

#[test]
fn databases_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let mut s = db.connect();
        s.run("CREATE DATABASE app CONNECTION LIMIT 4; CREATE DATABASE old")
            .unwrap();
        let mut app = db.connect_to("app").unwrap();
        app.run("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2); ANALYZE t")
            .unwrap();
        s.execute("ALTER DATABASE old RENAME TO new", &[]).unwrap();
    }
    let db = Database::open(dir.path()).unwrap();
    let mut s = db.connect();
    assert_eq!(
        column(
            &mut s,
            "SELECT datname || ':' || datconnlimit FROM pg_database ORDER BY 1"
        ),
        ["app:4", "heliosdb:-1", "new:-1"]
    );
    let mut app = db.connect_to("app").unwrap();
    assert_eq!(one(&mut app, "SELECT count(*)::text FROM t"), "2");
    assert_eq!(
        one(
            &mut app,
            "SELECT reltuples::text FROM pg_class WHERE relname = 't'"
        ),
        "2"
    );
    assert_eq!(refused(db.connect_to("old")).sqlstate(), "3D000");
    db.connect_to("new").unwrap();
}

#[test]
fn data_directories_from_before_databases_open_unchanged() {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    {
        let db = Database::with_engine(engine.clone(), None).unwrap();
        db.connect()
            .run("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'kept'); CREATE SEQUENCE q")
            .unwrap();
    }
    // Rewrite the catalog as an older version wrote it: no database
    // entries, no `database` fields.
    let txns = TxnManager::new(engine.clone()).unwrap();
    let mut txn = txns.begin(IsolationLevel::ReadCommitted).unwrap();
    let start = vec![keys::CATALOG_PREFIX];
    let end = vec![keys::CATALOG_PREFIX + 1];
    let entries: Vec<(Vec<u8>, Vec<u8>)> = txn
        .scan(Bound::Included(start), Bound::Excluded(end), false)
        .unwrap()
        .map(|kv| kv.unwrap())
        .collect();
    for (k, v) in entries {
        if k[1] == catalog::KIND_DATABASE {
            txn.delete(k);
            continue;
        }
        let mut json: serde_json::Value = serde_json::from_slice(&v).unwrap();
        if let Some(o) = json.as_object_mut() {
            o.remove("database");
        }
        txn.put(k, serde_json::to_vec(&json).unwrap());
    }
    catalog::bump_version(&mut txn);
    txn.commit().unwrap();
    drop(txns);

    let db = Database::with_engine(engine, None).unwrap();
    let mut s = db.connect();
    assert_eq!(one(&mut s, "SELECT v FROM t"), "kept");
    assert_eq!(one(&mut s, "SELECT nextval('q')::text"), "1");
    assert_eq!(
        column(&mut s, "SELECT datname || ' ' || oid FROM pg_database"),
        ["heliosdb 5"]
    );
    s.execute("CREATE DATABASE fresh", &[]).unwrap();
    let mut fresh = db.connect_to("fresh").unwrap();
    assert_eq!(err(&mut fresh, "SELECT * FROM t").sqlstate(), "42P01");
}

#[test]
fn connecting_checks_the_database() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    let e = refused(db.connect_to("nosuch"));
    assert_eq!(
        (e.sqlstate(), e.message.as_str()),
        ("3D000", "database \"nosuch\" does not exist")
    );
    s.run("CREATE ROLE bob LOGIN; CREATE DATABASE closed ALLOW_CONNECTIONS false; CREATE DATABASE small CONNECTION LIMIT 1")
        .unwrap();
    // The role is checked first, so a missing role never learns about databases.
    assert_eq!(
        refused(db.connect_as_to("nobody", "nosuch")).sqlstate(),
        "28000"
    );
    assert_eq!(
        refused(db.connect_as_to("bob", "nosuch")).sqlstate(),
        "3D000"
    );
    let e = refused(db.connect_as_to("bob", "closed"));
    assert_eq!(
        (e.sqlstate(), e.message.as_str()),
        (
            "55000",
            "database \"closed\" is not currently accepting connections"
        )
    );
    let first = db.connect_as_to("bob", "small").unwrap();
    let e = refused(db.connect_as_to("bob", "small"));
    assert_eq!(
        (e.sqlstate(), e.message.as_str()),
        ("53300", "too many connections for database \"small\"")
    );
    // Superusers are not refused, but count, as in PostgreSQL; closing
    // sessions frees their slots.
    let su = db.connect_to("small").unwrap();
    drop(first);
    assert_eq!(
        refused(db.connect_as_to("bob", "small")).sqlstate(),
        "53300"
    );
    drop(su);
    let _again = db.connect_as_to("bob", "small").unwrap();
    s.execute("ALTER DATABASE closed ALLOW_CONNECTIONS true", &[])
        .unwrap();
    db.connect_as_to("bob", "closed").unwrap();
}

#[test]
fn drop_and_rename_refuse_while_sessions_use_the_database() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("CREATE DATABASE app", &[]).unwrap();
    let mut a1 = db.connect_to("app").unwrap();
    let e = err(&mut a1, "DROP DATABASE app");
    assert_eq!(
        (e.sqlstate(), e.message.as_str()),
        ("55006", "cannot drop the currently open database")
    );
    let e = err(&mut s, "DROP DATABASE app");
    assert_eq!(
        (e.sqlstate(), e.message.as_str(), e.detail.as_deref()),
        (
            "55006",
            "database \"app\" is being accessed by other users",
            Some("There is 1 other session using the database.")
        )
    );
    let a2 = db.connect_to("app").unwrap();
    let e = err(&mut s, "DROP DATABASE app");
    assert_eq!(
        e.detail.as_deref(),
        Some("There are 2 other sessions using the database.")
    );
    assert_eq!(
        err(&mut s, "ALTER DATABASE app RENAME TO b").sqlstate(),
        "55006"
    );
    // The refused drop changed nothing.
    a1.execute("CREATE TABLE t (x int)", &[]).unwrap();
    drop(a1);
    drop(a2);
    s.execute("ALTER DATABASE app RENAME TO b", &[]).unwrap();
    s.execute("DROP DATABASE b", &[]).unwrap();
    assert_eq!(refused(db.connect_to("b")).sqlstate(), "3D000");
}

#[test]
fn drop_with_force_terminates_other_sessions() {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let db = Database::with_engine(engine.clone(), None).unwrap();
    let mut s = db.connect();
    s.execute("CREATE DATABASE app", &[]).unwrap();
    let before = all_keys(&engine);
    let mut other = db.connect_to("app").unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // The other session keeps creating and filling tables until it is terminated.
    let worker = std::thread::spawn(move || {
        for i in 0.. {
            let r = other.run(&format!(
                "CREATE TABLE t{i} (x int PRIMARY KEY); INSERT INTO t{i} VALUES (1)"
            ));
            if let Err(e) = r {
                // A terminated session stays terminated.
                let again = other.execute("SELECT 1", &[]).unwrap_err();
                return (e.sqlstate().to_string(), again.sqlstate().to_string());
            }
            if i == 3 {
                ready_tx.send(()).unwrap();
            }
        }
        unreachable!("the loop ends by returning")
    });
    ready_rx.recv().unwrap();
    s.execute("DROP DATABASE app WITH (FORCE)", &[]).unwrap();
    let (first, then) = worker.join().unwrap();
    assert!(first == "57P01" || first == "57014", "{first}");
    assert_eq!(then, "57P01");
    assert_eq!(refused(db.connect_to("app")).sqlstate(), "3D000");
    // Tables committed while the drop waited for the session went with it.
    let after = all_keys(&engine);
    let leftover: Vec<&Vec<u8>> = after.iter().filter(|k| !before.contains(k)).collect();
    assert!(
        leftover.iter().all(|k| counter_or_history(k)),
        "{leftover:?}"
    );
}

/// Keys a dropped database may leave: the catalog's counters, and the
/// layouts its tables' changes are read with (history: the change log
/// keeps their changes until retention removes them).
fn counter_or_history(k: &[u8]) -> bool {
    k[0] == 0x01 || k.starts_with(&[0x07, 0x07])
}

#[test]
fn concurrent_creates_of_one_name() {
    let db = Database::open_in_memory().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                db.connect()
                    .execute("CREATE DATABASE same", &[])
                    .map_err(|e| e.sqlstate().to_string())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|c| c == "42P04"),
        "{results:?}"
    );
}

/// The first table the plan scans (the probe side of the join tree).
fn first_scan(s: &mut Session, sql: &str) -> String {
    column(s, &format!("EXPLAIN {sql}"))
        .into_iter()
        .find(|l| l.contains("Seq Scan"))
        .unwrap()
        .trim()
        .trim_start_matches("->")
        .trim()
        .to_string()
}

#[test]
fn analyze_feeds_the_join_planner() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run(
        "CREATE TABLE big (id int PRIMARY KEY, k int);
         CREATE TABLE small (id int PRIMARY KEY, k int);
         INSERT INTO big SELECT g, g % 10 FROM generate_series(1, 500) g;
         INSERT INTO small SELECT g, g FROM generate_series(1, 5) g",
    )
    .unwrap();
    let q = "SELECT count(*) FROM small JOIN big ON big.k = small.k";
    // Without statistics both tables are guessed alike: the written order
    // stays (the second input is hashed).
    assert_eq!(first_scan(&mut s, q), "Seq Scan on small");
    s.execute("ANALYZE", &[]).unwrap();
    // With row counts the smaller input is the one hashed: the big one is
    // scanned first, as the probe side.
    assert_eq!(first_scan(&mut s, q), "Seq Scan on big");
    assert_eq!(
        one(
            &mut s,
            "SELECT count(*)::text FROM small JOIN big ON big.k = small.k"
        ),
        "250"
    );
}
