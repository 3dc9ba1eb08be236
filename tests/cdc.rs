//! Change data capture through the embedded API: committed changes come
//! back in commit order with their images; rolled-back work never appears.

mod common;

use heliosdb_nano::{ChangeEvent, ChangeFilter, Database};
use std::time::Duration;

fn all(db: &Database, after: u64) -> Vec<ChangeEvent> {
    db.changes(after, ChangeFilter::default())
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn committed_changes_come_back_in_order() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);
         SELECT helios.create_tenant('acme');
         CREATE TABLE orders (id int PRIMARY KEY, amount int);
         SELECT helios.enable_tenancy('orders');",
    )
    .unwrap();
    let start = all(&db, 0).len();
    s.run(
        "INSERT INTO notes VALUES (1, 'a'), (2, 'b');
         UPDATE notes SET body = 'bb' WHERE id = 2;
         DELETE FROM notes WHERE id = 1;",
    )
    .unwrap();
    // Rolled back: whole, and to a savepoint.
    s.run("BEGIN; INSERT INTO notes VALUES (3, 'gone'); ROLLBACK;")
        .unwrap();
    s.run(
        "BEGIN; INSERT INTO notes VALUES (4, 'kept'); SAVEPOINT sp;
         INSERT INTO notes VALUES (5, 'undone'); ROLLBACK TO SAVEPOINT sp; COMMIT;",
    )
    .unwrap();
    s.set_tenant("acme").unwrap();
    s.run("INSERT INTO orders (id, amount) VALUES (1, 10)")
        .unwrap();
    let events = all(&db, 0);
    let events = &events[start..];
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| (e.table.clone(), e.op.clone(), e.pk.to_string()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("public.notes".into(), "insert".into(), r#"{"id":1}"#.into()),
            ("public.notes".into(), "insert".into(), r#"{"id":2}"#.into()),
            ("public.notes".into(), "update".into(), r#"{"id":2}"#.into()),
            ("public.notes".into(), "delete".into(), r#"{"id":1}"#.into()),
            ("public.notes".into(), "insert".into(), r#"{"id":4}"#.into()),
            (
                "public.orders".into(),
                "insert".into(),
                r#"{"id":1}"#.into()
            ),
        ]
    );
    // LSNs increase; one transaction's events share its id.
    assert!(events.windows(2).all(|w| w[0].lsn < w[1].lsn));
    assert_eq!(events[0].txid, events[1].txid);
    assert_ne!(events[1].txid, events[2].txid);
    assert_eq!(events[2].before["body"], "b");
    assert_eq!(events[2].after["body"], "bb");
    assert_eq!(events[3].after, serde_json::Value::Null);
    assert_eq!(events[0].tenant_id, None);
    assert!(events[5].tenant_id.is_some());
    // Reading after an LSN, and for one tenant.
    let later = all(&db, events[3].lsn);
    assert_eq!(later[0], events[4]);
    let acme: Vec<ChangeEvent> = db
        .changes(
            0,
            ChangeFilter::default().tenant(events[5].tenant_id.unwrap()),
        )
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(acme, vec![events[5].clone()]);
}

#[test]
fn a_subscription_wakes_on_each_commit() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run("CREATE TABLE t (id int PRIMARY KEY)").unwrap();
    let mut sub = db.subscribe(db.last_lsn(), ChangeFilter::default().table("t"));
    assert_eq!(sub.next_timeout(Duration::from_millis(50)).unwrap(), None);
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut s = db.connect();
            for i in 0..5 {
                std::thread::sleep(Duration::from_millis(20));
                s.execute("INSERT INTO t VALUES ($1)", &[&i]).unwrap();
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let e = sub
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("a commit wakes the subscription");
        seen.push(e.after["id"].as_i64().unwrap());
    }
    writer.join().unwrap();
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    assert_eq!(sub.position(), db.last_lsn());
}

/// (tracked storage, recount) of a tenant.
fn usage(db: &Database, tenant: &str) -> (i64, i64) {
    let mut s = db.connect();
    let tracked = s
        .query(
            "SELECT storage_bytes FROM helios.tenant_usage WHERE tenant = $1",
            &[&tenant],
        )
        .unwrap()
        .get(0)
        .unwrap()
        .get::<i64>(0)
        .unwrap();
    let recount = s
        .query(&format!("SELECT helios.recompute_usage('{tenant}')"), &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get::<i64>(0)
        .unwrap();
    (tracked, recount)
}

#[test]
fn retained_changes_count_towards_their_tenant() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run(
        "SELECT helios.create_tenant('acme');
         CREATE TABLE notes (id int PRIMARY KEY, body text);
         SELECT helios.enable_tenancy('notes');
         SET helios.tenant = 'acme';
         INSERT INTO notes (id, body) SELECT g, repeat('x', 50) FROM generate_series(1, 100) g;",
    )
    .unwrap();
    let (with_log, recount) = usage(&db, "acme");
    assert_eq!(with_log, recount);
    s.run("DELETE FROM notes").unwrap();
    let (only_log, recount) = usage(&db, "acme");
    assert_eq!(only_log, recount);
    assert!(
        only_log > 100 * 50,
        "the inserts' and deletes' images stay counted"
    );
    // A tenant at its limit can still delete (the log's growth is not refused).
    s.run("RESET helios.tenant").unwrap();
    s.run(&format!(
        "SELECT helios.set_tenant_limits('acme', max_storage_bytes => {only_log})"
    ))
    .unwrap();
    s.run("SET helios.tenant = 'acme'; INSERT INTO notes VALUES (1, 'x')")
        .unwrap_err();
    // Compaction gives the bytes back.
    s.run("RESET helios.tenant; SELECT helios.set_change_retention(age => interval '0 s')")
        .unwrap();
    s.run("SELECT helios.compact_changes()").unwrap();
    assert_eq!(usage(&db, "acme"), (0, 0));
    assert!(
        db.changes(0, ChangeFilter::default())
            .next()
            .unwrap()
            .is_err()
    );
    let h = db.last_lsn();
    assert_eq!(db.changes(h, ChangeFilter::default()).count(), 0);
}

#[test]
fn the_maintenance_thread_compacts_what_retention_lets_go() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run(
        "SELECT helios.set_change_retention(age => interval '0 s');
         CREATE TABLE t (id int PRIMARY KEY);
         SELECT helios.create_consumer('keeper');
         INSERT INTO t SELECT generate_series(1, 10);",
    )
    .unwrap();
    // The consumer holds everything it has not acknowledged.
    std::thread::sleep(Duration::from_secs(11));
    let held = s
        .query(
            "SELECT count(*) FROM helios.changes(consumer => 'keeper')",
            &[],
        )
        .unwrap()
        .get(0)
        .unwrap()
        .get::<i64>(0)
        .unwrap();
    assert_eq!(held, 10);
    let last = db.last_lsn();
    s.run(&format!("SELECT helios.consumer_ack('keeper', {last})"))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = s
            .query("SELECT compacted_through FROM helios.change_log", &[])
            .unwrap()
            .get(0)
            .unwrap()
            .get::<i64>(0)
            .unwrap();
        if left as u64 == last {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never compacted");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The SIGKILL child: inserts, updates and deletes rows until killed.
fn crash_child(dir: &str) {
    let db = Database::open(dir).expect("child opens database");
    let mut s = db.connect();
    s.run("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v int)")
        .unwrap();
    println!("ready");
    let mut i: i64 = s
        .query("SELECT coalesce(max(k), 0) FROM kv", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get::<i32>(0)
        .unwrap() as i64;
    loop {
        i += 1;
        s.run(&format!(
            "BEGIN; INSERT INTO kv VALUES ({i}, 0), ({}, 0); UPDATE kv SET v = v + 1 WHERE k = {}; DELETE FROM kv WHERE k = {}; COMMIT;",
            i + 1_000_000,
            i / 2 + 1,
            i / 3 + 1_000_000
        ))
        .unwrap();
    }
}

#[test]
fn the_change_log_matches_the_data_after_sigkill() {
    if let Ok(dir) = std::env::var("HELIOS_CDC_CRASH_DIR") {
        crash_child(&dir);
        return;
    }
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut last_lsn = 0;
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "the_change_log_matches_the_data_after_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("HELIOS_CDC_CRASH_DIR", &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.ends_with("ready") => break,
                Some(_) => {}
                None => panic!("the child ended before it was ready"),
            }
        }
        std::thread::sleep(Duration::from_millis(300 + round * 150));
        child.kill().unwrap();
        let _ = child.wait();
        let db = Database::open(&data).expect("reopen after kill");
        // Replaying the log gives exactly the table.
        let mut model: BTreeMap<i64, i64> = BTreeMap::new();
        let mut prev = 0;
        for e in db.changes(0, ChangeFilter::default().table("kv")) {
            let e = e.unwrap();
            assert!(e.lsn > prev);
            prev = e.lsn;
            if e.op == "ddl" {
                continue;
            }
            let k = e.pk["k"].as_i64().unwrap();
            match e.op.as_str() {
                "insert" | "update" => {
                    model.insert(k, e.after["v"].as_i64().unwrap());
                }
                "delete" => {
                    model.remove(&k);
                }
                other => panic!("unexpected op {other}"),
            }
        }
        let mut s = db.connect();
        let rows = s.query("SELECT k, v FROM kv ORDER BY k", &[]).unwrap();
        let table: BTreeMap<i64, i64> = rows
            .iter()
            .map(|r| {
                (
                    r.get::<i32>(0).unwrap() as i64,
                    r.get::<i32>(1).unwrap() as i64,
                )
            })
            .collect();
        assert_eq!(model, table, "round {round}");
        // The numbering goes on after the restart; nothing is numbered twice.
        assert!(db.last_lsn() >= last_lsn, "round {round}");
        last_lsn = db.last_lsn();
        let lsns: Vec<u64> = db
            .changes(0, ChangeFilter::default())
            .map(|e| e.unwrap().lsn)
            .collect();
        assert!(lsns.windows(2).all(|w| w[1] == w[0] + 1), "dense LSNs");
    }
    assert!(last_lsn > 0, "the child never committed");
}

#[tokio::test]
async fn changes_reach_a_postgres_client() {
    let server = common::Server::start(&[]);
    let admin = server.client("heliosdb", "").await;
    admin
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, doc jsonb);
             SELECT helios.create_consumer('feed', start_lsn => 0);
             INSERT INTO t VALUES (1, '{\"a\": 1}');
             UPDATE t SET doc = '{\"a\": 2}' WHERE id = 1;",
        )
        .await
        .unwrap();
    let rows = admin
        .query(
            "SELECT lsn, op, pk, after FROM helios.changes(consumer => 'feed', tables => $1)",
            &[&vec!["t".to_string()]],
        )
        .await
        .unwrap();
    let ops: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(ops, vec!["ddl", "insert", "update"]);
    let after: serde_json::Value = rows[2].get(3);
    assert_eq!(after["doc"]["a"], 2);
    let pk: serde_json::Value = rows[1].get(2);
    assert_eq!(pk, serde_json::json!({"id": 1}));
    let last: i64 = rows[2].get(0);
    admin
        .execute("SELECT helios.consumer_ack('feed', $1)", &[&last])
        .await
        .unwrap();
    let rows = admin
        .query("SELECT acked_lsn, lag FROM helios.consumers", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), last);
    assert_eq!(rows[0].get::<_, i64>(1), 0);
}

fn code(e: &heliosdb_nano::Error) -> &str {
    e.code.code()
}

/// Compaction on a data directory: what it removed stays removed across a
/// reopen, the numbering goes on, and a reader asking for removed changes
/// is told (55000), also one whose snapshot predates the compaction.
#[test]
fn compaction_holds_across_reopen_and_readers_behind_it_are_told() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let mut s = db.connect();
        s.run(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;",
        )
        .unwrap();
        let last = db.last_lsn();
        let cut = last - 50;
        // A reader in a snapshot from before the truncation.
        let mut old = db.connect();
        old.run("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
        let q = format!(
            "SELECT count(*) FROM helios.changes(since_lsn => {})",
            cut - 10
        );
        assert_eq!(
            old.query(&q, &[])
                .unwrap()
                .get(0)
                .unwrap()
                .get::<i64>(0)
                .unwrap(),
            60
        );
        s.run(&format!("SELECT helios.truncate_changes({})", cut + 1))
            .unwrap();
        let err = old.query(&q, &[]).unwrap_err();
        assert_eq!(code(&err), "55000", "{err:?}");
        old.run("ROLLBACK").unwrap();
        let err = all_err(&db, cut - 1);
        assert_eq!(code(&err), "55000");
        assert_eq!(all(&db, cut).len(), 50);
    }
    let db = Database::open(dir.path()).unwrap();
    let last = db.last_lsn();
    let kept = all(&db, last - 50);
    assert_eq!(kept.len(), 50);
    assert_eq!(kept[0].lsn, last - 49);
    assert_eq!(code(&all_err(&db, last - 51)), "55000");
    db.connect()
        .run("INSERT INTO t VALUES (1000, 'after')")
        .unwrap();
    let next = all(&db, last);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].lsn, last + 1);
    assert_eq!(next[0].after["v"], "after");
}

fn all_err(db: &Database, after: u64) -> heliosdb_nano::Error {
    db.changes(after, ChangeFilter::default())
        .find_map(Result::err)
        .expect("an error")
}

/// A data directory from builds that kept the change log as keys
/// (`0x06 lsn` → `seq, micros, payload`) gets its log moved into the
/// engine's log when it is opened, with its LSNs.
#[test]
fn a_change_log_kept_as_keys_is_moved_at_open() {
    use heliosdb_nano::storage::memory::MemoryEngine;
    use heliosdb_nano::storage::{Durability, Engine, WriteBatch};
    use heliosdb_nano::txn::changes::ChangeRecord;
    use std::sync::Arc;
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    // Created by this build, then written as the old one did: LSNs 1-2
    // compacted (horizon 2), 3-5 kept.
    drop(Database::with_engine(engine.clone(), None).unwrap());
    let mut b = WriteBatch::default();
    for lsn in 3u64..=5 {
        let record = ChangeRecord {
            db: 1,
            table_id: 7,
            table: "public.old".into(),
            op: "insert".into(),
            after: serde_json::json!({ "id": lsn }),
            ..Default::default()
        };
        let mut value = 40u64.to_be_bytes().to_vec();
        value.extend_from_slice(&1_700_000_000_000_000i64.to_be_bytes());
        value.extend_from_slice(&record.encode().unwrap());
        let mut key = vec![0x06];
        key.extend_from_slice(&lsn.to_be_bytes());
        b.put(key, value);
    }
    b.put(vec![0x07, 0x01], 2u64.to_be_bytes().to_vec());
    engine.commit(b, Durability::Sync).unwrap();

    let db = Database::with_engine(engine.clone(), None).unwrap();
    assert_eq!(db.last_lsn(), 5);
    assert_eq!(code(&all_err(&db, 1)), "55000");
    let moved = all(&db, 2);
    let ids: Vec<(u64, i64)> = moved
        .iter()
        .map(|e| (e.lsn, e.after["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(ids, vec![(3, 3), (4, 4), (5, 5)]);
    assert_eq!(moved[0].commit_ts, 1_700_000_000_000_000);
    assert_eq!(moved[0].table, "public.old");
    let s = engine.snapshot().unwrap();
    let old_keys = s
        .scan(
            std::ops::Bound::Included(vec![0x06]),
            std::ops::Bound::Excluded(vec![0x07]),
            false,
        )
        .unwrap()
        .count();
    assert_eq!(old_keys, 0);
    // The numbering goes on.
    let mut s = db.connect();
    s.run("CREATE TABLE n (id int PRIMARY KEY); INSERT INTO n VALUES (1)")
        .unwrap();
    assert_eq!(all(&db, 5).last().unwrap().lsn, db.last_lsn());
    assert!(db.last_lsn() > 5);
}
