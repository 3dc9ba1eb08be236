//! Property tests: the memory engine, the disk engine and a `BTreeMap` model
//! must agree on every read after any sequence of batches; and the same SQL
//! workload must give the same answers on an in-memory and an on-disk database.

use heliosdb_nano::storage::disk::DiskEngine;
use heliosdb_nano::storage::memory::MemoryEngine;
use heliosdb_nano::storage::{Durability, Engine, Op, WriteBatch};
use heliosdb_nano::{Database, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::Bound;

#[derive(Clone, Debug)]
enum Action {
    Batch(Vec<(u8, Option<u8>)>),
    Add(u8, i8),
    Snapshot,
    ReadOld(usize, u8),
    Scan(u8, u8, bool),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => proptest::collection::vec((0u8..16, proptest::option::of(any::<u8>())), 1..6).prop_map(Action::Batch),
        1 => (16u8..18, any::<i8>()).prop_map(|(k, d)| Action::Add(k, d)),
        1 => Just(Action::Snapshot),
        2 => (0usize..4, 0u8..16).prop_map(|(i, k)| Action::ReadOld(i, k)),
        2 => (0u8..18, 0u8..18, any::<bool>()).prop_map(|(a, b, r)| Action::Scan(a, b, r)),
    ]
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
type SnapshotRef = std::sync::Arc<dyn heliosdb_nano::storage::Snapshot>;

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn engines_match_the_model(actions in proptest::collection::vec(action(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskEngine::open(dir.path()).unwrap();
        let mem = MemoryEngine::new();
        let engines: [&dyn Engine; 2] = [&mem, &disk];
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut snaps: Vec<(Model, Vec<SnapshotRef>)> = Vec::new();
        for a in actions {
            match a {
                Action::Batch(writes) => {
                    let mut b1 = WriteBatch::default();
                    let mut b2 = WriteBatch::default();
                    for (k, v) in writes {
                        match v {
                            Some(v) => {
                                model.insert(key(k), vec![v]);
                                b1.put(key(k), vec![v]);
                                b2.put(key(k), vec![v]);
                            }
                            None => {
                                model.remove(&key(k));
                                b1.delete(key(k));
                                b2.delete(key(k));
                            }
                        }
                    }
                    let s1 = mem.commit(b1, Durability::Sync).unwrap();
                    let s2 = disk.commit(b2, Durability::Async).unwrap();
                    prop_assert_eq!(s1, s2);
                }
                Action::Add(k, d) => {
                    let cur = model.get(&key(k)).map(|v| i64::from_be_bytes(v.as_slice().try_into().unwrap())).unwrap_or(0);
                    model.insert(key(k), (cur + d as i64).to_be_bytes().to_vec());
                    for e in engines {
                        let mut b = WriteBatch::default();
                        b.ops.push((key(k), Op::AddI64(d as i64)));
                        e.commit(b, Durability::Sync).unwrap();
                    }
                }
                Action::Snapshot => {
                    if snaps.len() < 4 {
                        snaps.push((model.clone(), engines.iter().map(|e| e.snapshot().unwrap()).collect()));
                    }
                }
                Action::ReadOld(i, k) => {
                    if let Some((m, ss)) = snaps.get(i) {
                        for s in ss {
                            prop_assert_eq!(s.get(&key(k)).unwrap(), m.get(&key(k)).cloned());
                        }
                    }
                }
                Action::Scan(a, b, rev) => {
                    let (lo, hi) = (Bound::Included(key(a.min(b))), Bound::Excluded(key(a.max(b))));
                    let mut want: Vec<(Vec<u8>, Vec<u8>)> = model.range((lo.clone(), hi.clone())).map(|(k, v)| (k.clone(), v.clone())).collect();
                    if rev {
                        want.reverse();
                    }
                    for e in engines {
                        let got: Vec<_> = e.snapshot().unwrap().scan(lo.clone(), hi.clone(), rev).unwrap().map(|r| r.unwrap()).collect();
                        prop_assert_eq!(&got, &want);
                    }
                }
            }
        }
        for e in engines {
            let got: BTreeMap<Vec<u8>, Vec<u8>> = e.snapshot().unwrap().scan(Bound::Unbounded, Bound::Unbounded, false).unwrap().map(|r| r.unwrap()).collect();
            prop_assert_eq!(&got, &model);
        }
    }
}

#[derive(Clone, Debug)]
enum SqlOp {
    Insert(i32, i32),
    Update(i32, i32),
    Delete(i32),
    Rollback(i32, i32),
}

fn sql_op() -> impl Strategy<Value = SqlOp> {
    prop_oneof![
        3 => (0i32..30, -50i32..50).prop_map(|(k, v)| SqlOp::Insert(k, v)),
        2 => (0i32..30, -5i32..5).prop_map(|(k, d)| SqlOp::Update(k, d)),
        1 => (0i32..30).prop_map(SqlOp::Delete),
        1 => (0i32..30, -50i32..50).prop_map(|(k, v)| SqlOp::Rollback(k, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn sql_on_memory_and_disk_agree(ops in proptest::collection::vec(sql_op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let dbs = [Database::open_in_memory().unwrap(), Database::open(dir.path()).unwrap()];
        let mut outputs = Vec::new();
        for db in &dbs {
            let mut s = db.connect();
            s.execute("CREATE TABLE t (k int PRIMARY KEY, v int NOT NULL, CHECK (v > -100))", &[]).unwrap();
            s.execute("CREATE INDEX t_v ON t (v)", &[]).unwrap();
            let mut log = Vec::new();
            for op in &ops {
                let r = match op {
                    SqlOp::Insert(k, v) => s.execute("INSERT INTO t VALUES ($1, $2)", &[k, v]),
                    SqlOp::Update(k, d) => s.execute("UPDATE t SET v = v + $2 WHERE k = $1", &[k, d]),
                    SqlOp::Delete(k) => s.execute("DELETE FROM t WHERE k = $1", &[k]),
                    SqlOp::Rollback(k, v) => s
                        .run(&format!("BEGIN; INSERT INTO t VALUES ({k}, {v}) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v; ROLLBACK"))
                        .map(|_| 0),
                };
                log.push(r.map_err(|e| e.sqlstate().to_string()));
            }
            let rows: Vec<Vec<Value>> = s.query("SELECT k, v FROM t ORDER BY k", &[]).unwrap().iter().map(|r| r.values().to_vec()).collect();
            let by_index: Vec<Vec<Value>> = s.query("SELECT k, v FROM t WHERE v >= -1000 ORDER BY k", &[]).unwrap().iter().map(|r| r.values().to_vec()).collect();
            prop_assert_eq!(&rows, &by_index);
            outputs.push((log, rows));
        }
        prop_assert_eq!(&outputs[0], &outputs[1]);
    }
}
