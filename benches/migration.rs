//! Online tenant migration (issue 7): how fast the snapshot copies rows, and
//! how far replication trails a source that is being written, on a durable
//! database.
//!
//! ```text
//! cargo bench --bench migration -- [--rows N] [--rounds R] [--writer-rate T]
//! ```
//!
//! 1. **Snapshot**: a tenant with N rows in a tenant-scoped table (primary
//!    key `(tenant_id, id)`, a secondary index) is migrated to a new tenant
//!    with nobody writing. The snapshot rate is the source's rows divided by
//!    the time from the migration leaving `pending` to it leaving
//!    `snapshotting` (sampled every 5 ms); the total is start to
//!    `completed` (replication, verification with checksums over both
//!    tenants, completion).
//! 2. **Under a steady writer**: the same migration (to another new tenant)
//!    while a writer commits T single-row transactions a second on the
//!    source (inserts and updates alternately). `lag` in `helios.migrations`
//!    (the source's changes not yet applied) is sampled every 5 ms from the end of
//!    the snapshot to completion: the table shows its median and maximum,
//!    and the time from the end of the snapshot to `completed`.
//!
//! Each of R rounds uses a fresh data directory; the table shows medians.

#[path = "common/mod.rs"]
mod common;

use heliosdb_nano::Database;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Sample {
    snapshot_rows_per_sec: f64,
    total_secs: f64,
}

fn setup(dir: &std::path::Path, rows: usize) -> Database {
    let db = Database::open(dir).unwrap();
    let mut s = db.connect();
    s.run(
        "SELECT helios.create_tenant('acme', tier => 'enterprise');
         CREATE TABLE orders (tenant_id uuid, id int, customer int, amount numeric, note text,
                              PRIMARY KEY (tenant_id, id));
         SELECT helios.enable_tenancy('orders');
         CREATE INDEX orders_customer ON orders (tenant_id, customer);
         SET helios.tenant = 'acme';",
    )
    .unwrap();
    let mut at = 0;
    while at < rows {
        let n = (rows - at).min(50_000);
        s.run(&format!(
            "INSERT INTO orders (id, customer, amount, note)
             SELECT g, g % 1000, g * 1.5, 'order number ' || g FROM generate_series({}, {}) g",
            at + 1,
            at + n
        ))
        .unwrap();
        at += n;
    }
    db
}

/// Samples migration `id` every 5 ms until it completes: (the time it left
/// pending, the time it left snapshotting, the time it completed, lags
/// sampled after the snapshot).
fn watch(db: &Database, id: i64) -> (Instant, Instant, Instant, Vec<i64>) {
    let mut s = db.connect();
    let (mut started, mut copied) = (None, None);
    let mut lags = Vec::new();
    loop {
        let rows = s
            .query(
                &format!("SELECT state, lag, error FROM helios.migrations WHERE id = {id}"),
                &[],
            )
            .unwrap();
        let r = rows.get(0).unwrap();
        let state = r.get::<String>(0).unwrap();
        let now = Instant::now();
        if state != "pending" && started.is_none() {
            started = Some(now);
        }
        if !matches!(state.as_str(), "pending" | "snapshotting") {
            if copied.is_none() {
                copied = Some(now);
            }
            lags.push(r.get::<Option<i64>>(1).unwrap().unwrap_or(0));
        }
        match state.as_str() {
            "completed" => return (started.unwrap(), copied.unwrap(), now, lags),
            "failed" => panic!("migration failed: {:?}", r.get::<Option<String>>(2)),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let rows: usize = common::option("--rows", 200_000);
    let rounds: usize = common::option("--rounds", 3);
    let rate: u64 = common::option("--writer-rate", 500);
    println!("online tenant migration: {rows} rows, {rounds} rounds, writer {rate} tx/s");
    let mut quiet = Vec::new();
    let mut busy_lag_median = Vec::new();
    let mut busy_lag_max = Vec::new();
    let mut busy_catch_up = Vec::new();
    let mut busy_snapshot = Vec::new();
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let db = setup(&dir.path().join("data"), rows);
        let mut s = db.connect();
        // 1. Quiet.
        let begin = Instant::now();
        let id = common::one_i64(&mut s, "SELECT helios.start_migration('acme', 'copy1')");
        let (started, copied, done, _) = watch(&db, id);
        let sample = Sample {
            snapshot_rows_per_sec: rows as f64 / (copied - started).as_secs_f64(),
            total_secs: (done - begin).as_secs_f64(),
        };
        println!(
            "round {round}: quiet snapshot {:.0} rows/s, total {:.2} s",
            sample.snapshot_rows_per_sec, sample.total_secs
        );
        quiet.push(sample);
        // 2. Under a steady writer.
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicU64::new(0));
        let writer = {
            let (db, stop, committed) = (db.clone(), stop.clone(), committed.clone());
            std::thread::spawn(move || {
                let mut w = db.connect();
                w.run("SET helios.tenant = 'acme'").unwrap();
                let period = Duration::from_secs_f64(1.0 / rate as f64);
                let mut next = Instant::now();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let sql = if i.is_multiple_of(2) {
                        format!(
                            "INSERT INTO orders (id, customer, amount, note) VALUES ({}, 1, 1, 'new')",
                            10_000_000 + i
                        )
                    } else {
                        format!(
                            "UPDATE orders SET amount = amount + 1 WHERE tenant_id = current_tenant_id() AND id = {}",
                            i % rows as u64 + 1
                        )
                    };
                    if w.run(&sql).is_ok() {
                        committed.fetch_add(1, Ordering::Relaxed);
                    }
                    next += period;
                    if let Some(d) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(d);
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        let id = common::one_i64(&mut s, "SELECT helios.start_migration('acme', 'copy2')");
        let (started, copied, done, mut lags) = watch(&db, id);
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        lags.sort_unstable();
        let median = lags.get(lags.len() / 2).copied().unwrap_or(0);
        let max = lags.last().copied().unwrap_or(0);
        let catch_up = (done - copied).as_secs_f64();
        let snapshot = rows as f64 / (copied - started).as_secs_f64();
        println!(
            "round {round}: with writer: snapshot {snapshot:.0} rows/s, lag median {median} max {max} changes, snapshot end to completed {catch_up:.3} s, writer committed {}",
            committed.load(Ordering::Relaxed)
        );
        busy_snapshot.push(snapshot);
        busy_lag_median.push(median as f64);
        busy_lag_max.push(max as f64);
        busy_catch_up.push(catch_up);
    }
    println!();
    println!("| measure | median of {rounds} rounds |");
    println!("| --- | --- |");
    println!(
        "| snapshot, quiet source | {:.0} rows/s |",
        common::median(quiet.iter().map(|q| q.snapshot_rows_per_sec).collect())
    );
    println!(
        "| whole migration, quiet source ({rows} rows) | {:.2} s |",
        common::median(quiet.iter().map(|q| q.total_secs).collect())
    );
    println!(
        "| snapshot, writer at {rate} tx/s | {:.0} rows/s |",
        common::median(busy_snapshot)
    );
    println!(
        "| replication lag after the snapshot (median / max) | {:.0} / {:.0} changes |",
        common::median(busy_lag_median),
        common::median(busy_lag_max)
    );
    println!(
        "| snapshot end to completed, writer at {rate} tx/s | {:.3} s |",
        common::median(busy_catch_up)
    );
}
