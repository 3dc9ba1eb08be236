//! Times durable autocommit writes through the embedded API, in one process:
//!
//! ```sh
//! cargo run --release --example commit_probe -- /tmp/commit-probe [THREADS] [N]
//! ```
//!
//! Each of THREADS sessions (default 1) runs N (default 2000) autocommit
//! `INSERT ... RETURNING id` statements, first with `synchronous_commit = on`
//! and then `off`, and then N `UPDATE ... RETURNING` statements with it on.
//! Prints commits per second, the engine's commit counters and the slowest
//! statement (a checkpoint stalls the commits behind it).

use heliosdb_nano::Database;
use heliosdb_nano::storage::disk::DiskEngine;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: commit_probe DIR [THREADS] [N]"));
    let threads: usize = args.next().map_or(1, |a| a.parse().expect("threads"));
    let n: i64 = args.next().map_or(2000, |a| a.parse().expect("n"));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = std::sync::Arc::new(DiskEngine::open(&dir).expect("open"));
    let db = Database::with_engine(engine.clone(), Some(dir.clone())).expect("open");
    let mut s = db.connect();
    s.execute(
        "CREATE TABLE events(id bigserial primary key, tenant_id int, payload text)",
        &[],
    )
    .expect("create");
    let mut stats = engine.stats();
    for (label, sync) in [
        ("insert, sync on", "on"),
        ("insert, sync off", "off"),
        ("update, sync on", "on"),
    ] {
        let t = Instant::now();
        let slowest = std::sync::Mutex::new(std::time::Duration::ZERO);
        std::thread::scope(|scope| {
            for th in 0..threads {
                let db = &db;
                let slowest = &slowest;
                scope.spawn(move || {
                    let mut s = db.connect();
                    s.execute(&format!("SET synchronous_commit = {sync}"), &[])
                        .expect("set");
                    let ins = s
                        .prepare(
                            "INSERT INTO events (tenant_id, payload) VALUES ($1, $2) RETURNING id",
                        )
                        .expect("prepare");
                    let upd = s
                        .prepare("UPDATE events SET payload = $2 WHERE id = $1 RETURNING id")
                        .expect("prepare");
                    for i in 0..n {
                        let started = Instant::now();
                        if label.starts_with("update") {
                            let id = (th as i64) * n + i + 1;
                            s.query_prepared(&upd, &[&id, &"changed"]).expect("update");
                        } else {
                            s.query_prepared(&ins, &[&(i as i32 % 100), &"some payload text"])
                                .expect("insert");
                        }
                        let took = started.elapsed();
                        let mut slowest = slowest.lock().unwrap();
                        *slowest = (*slowest).max(took);
                    }
                });
            }
        });
        let el = t.elapsed();
        let before = stats;
        stats = engine.stats();
        println!(
            "{label}: {threads} x {n} in {el:?}: {:.0}/s",
            (threads as f64 * n as f64) / el.as_secs_f64()
        );
        println!(
            "  commits {} groups {} syncs {} checkpoints {}; slowest statement {:?}",
            stats.commits - before.commits,
            stats.groups - before.groups,
            stats.syncs - before.syncs,
            stats.checkpoints - before.checkpoints,
            slowest.into_inner().unwrap()
        );
    }
}
