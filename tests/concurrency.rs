//! Concurrent sessions: lost updates, write conflicts, lock waits, deadlocks,
//! and readers that never block.

use heliosdb_nano::{Database, Session};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

fn setup(db: &Database) {
    db.connect()
        .run("CREATE TABLE counter (id int PRIMARY KEY, n bigint NOT NULL); INSERT INTO counter VALUES (1, 0), (2, 0)")
        .unwrap();
}

fn value(s: &mut Session, id: i32) -> i64 {
    s.query("SELECT n FROM counter WHERE id = $1", &[&id])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap()
}

#[test]
fn read_committed_increments_never_lose_updates() {
    for db in [
        Database::open_in_memory().unwrap(),
        Database::open(tempfile::tempdir().unwrap().keep()).unwrap(),
    ] {
        setup(&db);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                thread::spawn(move || {
                    let mut s = db.connect();
                    for _ in 0..50 {
                        s.execute("UPDATE counter SET n = n + 1 WHERE id = 1", &[])
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(value(&mut db.connect(), 1), 200);
    }
}

#[test]
fn explicit_transactions_increment_safely() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            thread::spawn(move || {
                let mut s = db.connect();
                for _ in 0..25 {
                    s.run("BEGIN; UPDATE counter SET n = n + 1 WHERE id = 2; UPDATE counter SET n = n + 1 WHERE id = 2; COMMIT")
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(value(&mut db.connect(), 2), 200);
}

#[test]
fn second_writer_waits_then_sees_the_committed_row() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    a.run("BEGIN; UPDATE counter SET n = 10 WHERE id = 1")
        .unwrap();
    let db2 = db.clone();
    let waiter = thread::spawn(move || {
        let mut b = db2.connect();
        b.query("UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap()
    });
    thread::sleep(Duration::from_millis(100));
    assert!(
        !waiter.is_finished(),
        "the second writer must wait for the first"
    );
    // Readers are not blocked by the writer, and see the committed value.
    assert_eq!(value(&mut db.connect(), 1), 0);
    a.run("COMMIT").unwrap();
    assert_eq!(waiter.join().unwrap(), 11);
}

#[test]
fn repeatable_read_write_conflict_is_40001() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    let mut b = db.connect();
    a.run("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
    assert_eq!(value(&mut a, 1), 0);
    b.execute("UPDATE counter SET n = 5 WHERE id = 1", &[])
        .unwrap();
    assert_eq!(value(&mut a, 1), 0, "snapshot is stable");
    let err = a
        .execute("UPDATE counter SET n = n + 1 WHERE id = 1", &[])
        .unwrap_err();
    assert_eq!(err.sqlstate(), "40001");
    assert!(err.is_retryable());
    let err = a.execute("SELECT 1", &[]).unwrap_err();
    assert_eq!(err.sqlstate(), "25P02");
    a.run("ROLLBACK").unwrap();
}

#[test]
fn repeatable_read_waiter_fails_after_holder_commits() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    a.run("BEGIN; UPDATE counter SET n = 1 WHERE id = 1")
        .unwrap();
    let db2 = db.clone();
    let waiter = thread::spawn(move || {
        let mut b = db2.connect();
        b.run("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
        let _ = value(&mut b, 2);
        b.execute("UPDATE counter SET n = n + 1 WHERE id = 1", &[])
    });
    thread::sleep(Duration::from_millis(100));
    a.run("COMMIT").unwrap();
    assert_eq!(waiter.join().unwrap().unwrap_err().sqlstate(), "40001");
}

#[test]
fn deadlock_is_detected_and_one_side_proceeds() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let barrier = Arc::new(Barrier::new(2));
    let run = |first: i32, second: i32| {
        let db = db.clone();
        let barrier = barrier.clone();
        thread::spawn(move || {
            let mut s = db.connect();
            s.run("BEGIN").unwrap();
            s.execute("UPDATE counter SET n = n + 1 WHERE id = $1", &[&first])
                .unwrap();
            barrier.wait();
            let r = s.execute("UPDATE counter SET n = n + 1 WHERE id = $1", &[&second]);
            match &r {
                Ok(_) => s.run("COMMIT").unwrap(),
                Err(_) => s.run("ROLLBACK").unwrap(),
            };
            r.map(|_| ()).map_err(|e| e.sqlstate().to_string())
        })
    };
    let t1 = run(1, 2);
    let t2 = run(2, 1);
    let results = [t1.join().unwrap(), t2.join().unwrap()];
    let deadlocks = results
        .iter()
        .filter(|r| r.as_ref().err().map(|s| s.as_str()) == Some("40P01"))
        .count();
    let successes = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!((deadlocks, successes), (1, 1), "{results:?}");
}

#[test]
fn concurrent_inserts_of_the_same_key_conflict() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    a.run("BEGIN; INSERT INTO counter VALUES (7, 1)").unwrap();
    let db2 = db.clone();
    let waiter = thread::spawn(move || {
        db2.connect()
            .execute("INSERT INTO counter VALUES (7, 2)", &[])
    });
    thread::sleep(Duration::from_millis(100));
    assert!(!waiter.is_finished());
    a.run("COMMIT").unwrap();
    assert_eq!(waiter.join().unwrap().unwrap_err().sqlstate(), "23505");
}

#[test]
fn aborted_inserter_lets_the_waiter_succeed() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    a.run("BEGIN; INSERT INTO counter VALUES (8, 1)").unwrap();
    let db2 = db.clone();
    let waiter = thread::spawn(move || {
        db2.connect()
            .execute("INSERT INTO counter VALUES (8, 2)", &[])
    });
    thread::sleep(Duration::from_millis(100));
    a.run("ROLLBACK").unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 1);
    assert_eq!(value(&mut db.connect(), 8), 2);
}

#[test]
fn ddl_waits_for_writers_and_writers_replan() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    a.run("BEGIN; ALTER TABLE counter ADD COLUMN note text DEFAULT 'x'")
        .unwrap();
    let db2 = db.clone();
    let writer = thread::spawn(move || {
        db2.connect()
            .query(
                "INSERT INTO counter (id, n) VALUES (9, 9) RETURNING note",
                &[],
            )
            .map(|r| r.get(0).unwrap().get::<String>(0).unwrap())
    });
    thread::sleep(Duration::from_millis(100));
    a.run("COMMIT").unwrap();
    assert_eq!(writer.join().unwrap().unwrap(), "x");
}

/// Sessions taking sequence values at once get every value once, also across
/// the bounds written ahead of need; after a reopen the sequence continues
/// past every value handed out; setval and a cycling sequence still work.
#[test]
fn concurrent_nextval_hands_out_each_value_once() {
    let dir = tempfile::tempdir().unwrap();
    let (threads, per) = (8, 300);
    {
        let db = Database::open(dir.path()).unwrap();
        db.connect().run("CREATE SEQUENCE s").unwrap();
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let db = db.clone();
                let start = start.clone();
                thread::spawn(move || {
                    let mut s = db.connect();
                    start.wait();
                    (0..per)
                        .map(|_| {
                            s.query("SELECT nextval('s')", &[])
                                .unwrap()
                                .get(0)
                                .unwrap()
                                .get::<i64>(0)
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<i64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        let expected: Vec<i64> = (1..=(threads * per) as i64).collect();
        assert_eq!(all, expected);
        let mut s = db.connect();
        s.run("SELECT setval('s', 10)").unwrap();
        let v: i64 = s
            .query("SELECT nextval('s')", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(v, 11);
        s.run("SELECT setval('s', 5000)").unwrap();
        s.run("CREATE SEQUENCE c MAXVALUE 3 CYCLE").unwrap();
        let cycled: Vec<i64> = (0..7)
            .map(|_| {
                s.query("SELECT nextval('c')", &[])
                    .unwrap()
                    .get(0)
                    .unwrap()
                    .get(0)
                    .unwrap()
            })
            .collect();
        assert_eq!(cycled, vec![1, 2, 3, 1, 2, 3, 1]);
    }
    let db = Database::open(dir.path()).unwrap();
    let v: i64 = db
        .connect()
        .query("SELECT nextval('s')", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert!(v > 5000, "after reopen: {v}");
}

#[test]
fn merge_read_committed_increments_never_lose_updates() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            thread::spawn(move || {
                let mut s = db.connect();
                for _ in 0..25 {
                    s.execute(
                        "MERGE INTO counter c USING (SELECT 1 AS id) s ON c.id = s.id \
                         WHEN MATCHED THEN UPDATE SET n = c.n + 1",
                        &[],
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(value(&mut db.connect(), 1), 100);
}

/// A matched row that a concurrent transaction deletes is NOT MATCHED once
/// that commits (READ COMMITTED), as in PostgreSQL 15.
#[test]
fn merge_waiter_takes_not_matched_for_a_concurrently_deleted_row() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    a.run("BEGIN; DELETE FROM counter WHERE id = 1").unwrap();
    let db2 = db.clone();
    let waiter = thread::spawn(move || {
        let mut b = db2.connect();
        b.execute(
            "MERGE INTO counter c USING (SELECT 1 AS id) s ON c.id = s.id \
             WHEN MATCHED THEN UPDATE SET n = c.n + 1 \
             WHEN NOT MATCHED THEN INSERT VALUES (s.id, 100)",
            &[],
        )
    });
    thread::sleep(Duration::from_millis(100));
    assert!(!waiter.is_finished(), "MERGE must wait for the deleter");
    a.run("COMMIT").unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 1);
    assert_eq!(value(&mut db.connect(), 1), 100);
}

#[test]
fn merge_repeatable_read_waiter_fails_after_holder_commits() {
    let db = Database::open_in_memory().unwrap();
    setup(&db);
    let mut a = db.connect();
    a.run("BEGIN; UPDATE counter SET n = 1 WHERE id = 1")
        .unwrap();
    let db2 = db.clone();
    let waiter = thread::spawn(move || {
        let mut b = db2.connect();
        b.run("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
        let _ = value(&mut b, 2);
        b.execute(
            "MERGE INTO counter c USING (SELECT 1 AS id) s ON c.id = s.id \
             WHEN MATCHED THEN DELETE",
            &[],
        )
    });
    thread::sleep(Duration::from_millis(100));
    a.run("COMMIT").unwrap();
    assert_eq!(waiter.join().unwrap().unwrap_err().sqlstate(), "40001");
}
