//! Wire-protocol benchmark: HeliosDB Nano's server against PostgreSQL, same
//! client (tokio-postgres), same data, one run, side by side.
//!
//! Run with `tools/bench_wire.sh`, which installs and starts PostgreSQL from
//! Debian's packages and a release `heliosdb serve`, then calls this with
//! `HELIOSDB_URL` and `PG_URL` set. `BENCH_SECONDS` (default 3) sets the
//! duration of each measurement; `BENCH_ROUNDS` (default 3) how many rounds,
//! of which the median is reported. For profiling one server,
//! `BENCH_WORKLOADS` (a comma list of `select`, `insert`, `update`) and
//! `BENCH_CLIENTS` (e.g. `1,16`) narrow the run, and without `PG_URL` only
//! `HELIOSDB_URL` is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

const ROWS: i32 = 10_000;

async fn connect(url: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(conn);
    c
}

async fn setup(url: &str) {
    let c = connect(url).await;
    c.batch_execute(
        "DROP TABLE IF EXISTS bench_kv; DROP TABLE IF EXISTS bench_log;
         CREATE TABLE bench_kv (id int PRIMARY KEY, v int NOT NULL, pad text);
         CREATE TABLE bench_log (id serial PRIMARY KEY, who int, note text);",
    )
    .await
    .unwrap();
    let stmt = c
        .prepare("INSERT INTO bench_kv VALUES ($1, $2, $3)")
        .await
        .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    for i in 0..ROWS {
        c.execute(&stmt, &[&i, &0i32, &format!("row {i} padding padding")])
            .await
            .unwrap();
    }
    c.batch_execute("COMMIT").await.unwrap();
}

/// Both servers must make every commit durable before answering:
/// `synchronous_commit` on (and, for PostgreSQL, `fsync` on).
async fn check_durability(url: &str, settings: &[&str]) {
    let c = connect(url).await;
    for setting in settings {
        let row = c.query_one(&format!("SHOW {setting}"), &[]).await.unwrap();
        let value: String = row.get(0);
        assert_eq!(value, "on", "{url}: {setting} must be on");
    }
}

#[derive(Clone, Copy)]
enum Workload {
    PointSelect,
    InsertReturning,
    UpdateReturning,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::PointSelect => "prepared point select",
            Workload::InsertReturning => "INSERT ... RETURNING id (autocommit)",
            Workload::UpdateReturning => "UPDATE ... RETURNING (autocommit)",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Workload::PointSelect => "SELECT v, pad FROM bench_kv WHERE id = $1",
            Workload::InsertReturning => {
                "INSERT INTO bench_log (who, note) VALUES ($1, 'bench') RETURNING id"
            }
            Workload::UpdateReturning => "UPDATE bench_kv SET v = v + 1 WHERE id = $1 RETURNING v",
        }
    }
}

/// Operations per second with `clients` connections for `secs` seconds.
async fn measure(url: &str, w: Workload, clients: usize, secs: f64) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for k in 0..clients {
        let c = connect(url).await;
        let done = done.clone();
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            let stmt = c.prepare(w.sql()).await.unwrap();
            // A per-client linear congruential walk over the keys.
            let mut x: u64 = 0x9E37_79B9 ^ (k as u64 * 7919);
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let id = ((x >> 33) % ROWS as u64) as i32;
                let rows = c.query(&stmt, &[&id]).await.unwrap();
                assert_eq!(rows.len(), 1);
                n += 1;
            }
            count.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    done.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        t.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; without the URLs there is nothing to do.
    let Ok(helios) = std::env::var("HELIOSDB_URL") else {
        eprintln!("wire bench: set HELIOSDB_URL and PG_URL (tools/bench_wire.sh does)");
        return;
    };
    let pg = std::env::var("PG_URL").ok();
    let secs: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let workloads: Vec<Workload> = match std::env::var("BENCH_WORKLOADS") {
        Ok(list) => list
            .split(',')
            .map(|w| match w.trim() {
                "select" => Workload::PointSelect,
                "insert" => Workload::InsertReturning,
                "update" => Workload::UpdateReturning,
                other => panic!("BENCH_WORKLOADS: unknown workload {other:?}"),
            })
            .collect(),
        Err(_) => vec![
            Workload::PointSelect,
            Workload::InsertReturning,
            Workload::UpdateReturning,
        ],
    };
    let client_counts: Vec<usize> = match std::env::var("BENCH_CLIENTS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("BENCH_CLIENTS: numbers"))
            .collect(),
        Err(_) => vec![1, 4, 16],
    };
    setup(&helios).await;
    check_durability(&helios, &["synchronous_commit"]).await;
    if let Some(pg) = &pg {
        setup(pg).await;
        check_durability(pg, &["synchronous_commit", "fsync"]).await;
    }
    println!("| workload | clients | HeliosDB Nano ops/s | PostgreSQL ops/s | ratio |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for &w in &workloads {
        for &clients in &client_counts {
            let (mut h, mut p) = (Vec::new(), Vec::new());
            // Alternate the servers within each round so drift hits both.
            for round in 0..rounds {
                let hr = measure(&helios, w, clients, secs).await;
                let pr = match &pg {
                    Some(pg) => measure(pg, w, clients, secs).await,
                    None => f64::NAN,
                };
                eprintln!(
                    "  {} | {clients} | round {}: {hr:.0} | {pr:.0}",
                    w.name(),
                    round + 1
                );
                h.push(hr);
                p.push(pr);
            }
            let h = median(h);
            if pg.is_some() {
                let p = median(p);
                println!(
                    "| {} | {clients} | {h:.0} | {p:.0} | {:.2}x |",
                    w.name(),
                    h / p
                );
            } else {
                println!("| {} | {clients} | {h:.0} | - | - |", w.name());
            }
        }
    }
}
