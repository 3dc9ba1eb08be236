//! Change data capture (issue 7): write throughput with capture on versus
//! off, in one run, with PostgreSQL's logical decoding as the anchor.
//!
//! ```text
//! cargo bench --bench cdc -- [--secs S] [--rounds R] [--slices K] [--rows N] [--batch B]
//!                            [--parts durable,memory,pg] [--shapes insert,batch,update,churn]
//!                            [--only on|off]
//! ```
//!
//! Defaults: S = 1, R = 5, K = 4, N = 10,000, B = 100, everything (about
//! two and a half minutes). `--only` runs one side of HeliosDB, for
//! profiling (without the scan of the log that measures its bytes per row).
//!
//! **HeliosDB Nano, embedded.** Two tables with the same schema
//! `(id bigint PRIMARY KEY, tenant text, amount int, note text)` and the
//! same N preloaded rows; `cdc_on` is captured (the default), `cdc_off` has
//! capture switched off with `helios.set_capture`. One session, prepared
//! statements. Shapes:
//!
//! - `insert`: one-row INSERT, autocommit;
//! - `batch`: B one-row INSERTs in one transaction (reported in rows/s);
//! - `update`: UPDATE of one row by primary key (`amount`, `note`), autocommit;
//! - `churn`: one transaction deleting the oldest row of a window and
//!   inserting a new one (two captured changes per commit).
//!
//! Each runs on a durable data directory (`Database::open`, every commit
//! fsynced) and in memory (`Database::open_in_memory`, where no fsync hides
//! the CPU cost of capture). Every round measures each shape S seconds on
//! each side, in K slices with the sides in turn (so both see the same
//! spells of a noisy machine: fsync latency here jumps between about 0.2
//! and 3 ms); the tables show medians of the R rounds, the median of the
//! per-round on/off ratios, and the CPU time of the benchmark's thread per
//! unit (which other processes delay but do not add to). After the
//! rounds, the change log's LSN must have advanced by exactly the rows
//! changed in `cdc_on` (nothing from `cdc_off`), and `retained_bytes` of
//! `helios.change_log` before and after one representative INSERT, UPDATE
//! and DELETE gives the log bytes per captured row.
//!
//! **PostgreSQL** (`/usr/lib/postgresql/*/bin`): two throwaway clusters,
//! `fsync=on`, `synchronous_commit=on`, the same table with `REPLICA
//! IDENTITY FULL` (so the decoded UPDATE and DELETE carry the old row, as
//! HeliosDB's before image does), the same shapes over tokio-postgres
//! (prepared statements, one connection, loopback TCP). Sides:
//!
//! - *slot*: `wal_level=logical` with a `test_decoding` slot created for
//!   the measurement and a second connection consuming it
//!   (`pg_logical_slot_get_changes`) every 50 ms; the consumed changes must
//!   equal the rows changed;
//! - *no slot*: the same cluster without a slot (still `wal_level=logical`);
//! - *replica*: a second cluster with the default `wal_level=replica`.
//!
//! The sides take turns in K slices per round here too (the slot is
//! created and dropped per slice); only wall-clock rates are reported
//! (the work is in the server's processes).
//!
//! Running as root, PostgreSQL runs as the `postgres` user (`runuser`).
//! If PostgreSQL is missing or does not start, that part is skipped.

#[path = "common/mod.rs"]
mod common;

use heliosdb_nano::{Database, Prepared, Session, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Args {
    secs: f64,
    rounds: usize,
    slices: usize,
    rows: usize,
    batch: usize,
    parts: Vec<String>,
    shapes: Vec<Shape>,
    /// For profiling: `on` or `off` runs HeliosDB's one side only.
    only: String,
}

fn args() -> Args {
    let list = |name: &str, default: &str| -> Vec<String> {
        common::option(name, default.to_string())
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let shapes = list("--shapes", "insert,batch,update,churn")
        .iter()
        .map(|s| {
            *SHAPES
                .iter()
                .find(|x| x.key() == s)
                .unwrap_or_else(|| panic!("unknown shape {s}"))
        })
        .collect();
    Args {
        secs: common::option("--secs", 1.0),
        rounds: common::option("--rounds", 5),
        slices: common::option("--slices", 4),
        rows: common::option("--rows", 10_000),
        batch: common::option("--batch", 100),
        parts: list("--parts", "durable,memory,pg"),
        shapes,
        only: common::option("--only", String::new()),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Insert,
    Batch,
    Update,
    Churn,
}

const SHAPES: [Shape; 4] = [Shape::Insert, Shape::Batch, Shape::Update, Shape::Churn];

impl Shape {
    fn key(self) -> &'static str {
        match self {
            Shape::Insert => "insert",
            Shape::Batch => "batch",
            Shape::Update => "update",
            Shape::Churn => "churn",
        }
    }

    fn name(self, batch: usize) -> String {
        match self {
            Shape::Insert => "INSERT 1 row, autocommit (statements/s)".into(),
            Shape::Batch => format!("INSERT, {batch} rows per transaction (rows/s)"),
            Shape::Update => "UPDATE 1 row by primary key, autocommit (statements/s)".into(),
            Shape::Churn => "DELETE 1 + INSERT 1 per transaction (transactions/s)".into(),
        }
    }

    /// Captured rows per reported unit.
    fn rows_per_unit(self) -> f64 {
        match self {
            Shape::Churn => 2.0,
            _ => 1.0,
        }
    }
}

/// Ids: rows `0..N` are updated, the churn window starts at `CHURN_BASE`
/// (N rows), inserts take ids from `INSERT_BASE` up.
const CHURN_BASE: i64 = 1_000_000_000;
const INSERT_BASE: i64 = 2_000_000_000;

fn tenant(n: u64) -> String {
    format!("tenant-{:03}", n % 100)
}

/// A note of constant length (updates do not change the row's size).
fn note(n: u64) -> String {
    format!("order {n:010} packed, shipping from warehouse 7")
}

/// Per table (or per PostgreSQL cluster): where the ids are.
struct Ids {
    next_insert: i64,
    churn_lo: i64,
    rows: i64,
    /// Operations so far (the `n` of the generated values).
    step: u64,
}

impl Ids {
    fn new(rows: usize) -> Ids {
        Ids {
            next_insert: INSERT_BASE,
            churn_lo: CHURN_BASE,
            rows: rows as i64,
            step: 0,
        }
    }

    /// The next operation's number.
    fn step(&mut self) -> u64 {
        self.step += 1;
        self.step
    }

    fn insert_id(&mut self) -> i64 {
        self.next_insert += 1;
        self.next_insert
    }

    /// The key the `n`th update changes: scattered over the first N rows.
    fn update_id(&self, n: u64) -> i64 {
        (n.wrapping_mul(7919) % self.rows as u64) as i64
    }

    /// The (deleted, inserted) ids of the next churn step.
    fn churn(&mut self) -> (i64, i64) {
        let d = self.churn_lo;
        self.churn_lo += 1;
        (d, d + self.rows)
    }
}

/// What one side did in one round: units of work (see [`Shape::name`]),
/// wall-clock seconds, and CPU seconds of the benchmark's thread (for
/// HeliosDB, embedded: the statements' own work, which other processes on
/// a noisy machine delay but do not add to).
#[derive(Clone, Copy, Default)]
struct Sample {
    units: f64,
    wall: f64,
    cpu: f64,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.units / self.wall
    }

    /// CPU microseconds per unit.
    fn cpu_us(&self) -> f64 {
        1e6 * self.cpu / self.units
    }

    fn add(&mut self, o: Sample) {
        self.units += o.units;
        self.wall += o.wall;
        self.cpu += o.cpu;
    }
}

/// CPU seconds this thread has run (Linux; NaN elsewhere).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

/// Runs `op` for `secs` seconds (`common::measure`); each call is `units`.
fn timed(secs: f64, units: f64, mut op: impl FnMut()) -> Sample {
    let (cpu, start) = (thread_cpu(), Instant::now());
    let mut calls = 0u64;
    common::measure(secs, |_| {
        op();
        calls += 1;
    });
    Sample {
        units: calls as f64 * units,
        wall: start.elapsed().as_secs_f64(),
        cpu: thread_cpu() - cpu,
    }
}

// ---------------------------------------------------------------- HeliosDB

struct HTable {
    insert: Prepared,
    update: Prepared,
    delete: Prepared,
    ids: Ids,
}

const ON: usize = 0;
const OFF: usize = 1;
const HTABLES: [&str; 2] = ["cdc_on", "cdc_off"];

fn helios_row(id: i64, n: u64) -> [Value; 4] {
    [
        Value::Int8(id),
        Value::Text(tenant(n)),
        Value::Int4((n % 1000) as i32),
        Value::Text(note(n)),
    ]
}

fn helios_setup(db: &Database, a: &Args) -> (Session, Vec<HTable>) {
    let mut s = db.connect();
    let mut tables = Vec::new();
    for name in HTABLES {
        s.run(&format!(
            "CREATE TABLE {name} (id bigint PRIMARY KEY, tenant text, amount int, note text)"
        ))
        .unwrap();
        if name == "cdc_off" {
            s.execute("SELECT helios.set_capture($1, false)", &[&name])
                .unwrap();
        }
        let t = HTable {
            insert: s
                .prepare(&format!("INSERT INTO {name} VALUES ($1, $2, $3, $4)"))
                .unwrap(),
            update: s
                .prepare(&format!(
                    "UPDATE {name} SET amount = amount + 1, note = $2 WHERE id = $1"
                ))
                .unwrap(),
            delete: s
                .prepare(&format!("DELETE FROM {name} WHERE id = $1"))
                .unwrap(),
            ids: Ids::new(a.rows),
        };
        let mut tx = s.transaction().unwrap();
        for i in 0..a.rows as i64 {
            for id in [i, CHURN_BASE + i] {
                tx.run_prepared(&t.insert, &helios_row(id, i as u64))
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        tables.push(t);
    }
    s.run("ANALYZE").unwrap();
    (s, tables)
}

/// Runs `shape` on table `t` for `secs` seconds; adds the rows it
/// changed to `changed`.
fn helios_run(
    s: &mut Session,
    t: &mut HTable,
    shape: Shape,
    secs: f64,
    batch: u64,
    changed: &mut u64,
) -> Sample {
    let one = |r: heliosdb_nano::Result<heliosdb_nano::StatementResult>| {
        assert_eq!(r.unwrap().affected, 1)
    };
    match shape {
        Shape::Insert => timed(secs, 1.0, || {
            let (id, n) = (t.ids.insert_id(), t.ids.step());
            one(s.run_prepared(&t.insert, &helios_row(id, n)));
            *changed += 1;
        }),
        Shape::Batch => timed(secs, batch as f64, || {
            let mut tx = s.transaction().unwrap();
            for _ in 0..batch {
                let (id, n) = (t.ids.insert_id(), t.ids.step());
                one(tx.run_prepared(&t.insert, &helios_row(id, n)));
            }
            tx.commit().unwrap();
            *changed += batch;
        }),
        Shape::Update => timed(secs, 1.0, || {
            let n = t.ids.step();
            let id = t.ids.update_id(n);
            one(s.run_prepared(&t.update, &[Value::Int8(id), Value::Text(note(n))]));
            *changed += 1;
        }),
        Shape::Churn => timed(secs, 1.0, || {
            let ((d, i), n) = (t.ids.churn(), t.ids.step());
            let mut tx = s.transaction().unwrap();
            one(tx.run_prepared(&t.delete, &[Value::Int8(d)]));
            one(tx.run_prepared(&t.insert, &helios_row(i, n)));
            tx.commit().unwrap();
            *changed += 2;
        }),
    }
}

/// Per round and shape, the sides' samples (`[on, off]` for HeliosDB).
type Rounds<const N: usize> = Vec<Vec<[Sample; N]>>;

/// The order of the sides in slice `j` of shape `k` in round `r`: turns
/// about, so no side is always first or last.
fn order<const N: usize>(r: usize, k: usize, j: usize) -> [usize; N] {
    std::array::from_fn(|i| (i + r + k + j) % N)
}

fn helios_part(db: &Database, label: &str, a: &Args) -> Rounds<2> {
    let t0 = Instant::now();
    let (mut s, mut tables) = helios_setup(db, a);
    eprintln!(
        "[{label}] loaded 2 x {} rows in {:.1} s",
        2 * a.rows,
        t0.elapsed().as_secs_f64()
    );
    let lsn_before = common::one_i64(&mut s, "SELECT last_lsn FROM helios.change_log");
    let mut changed = [0u64; 2];
    let mut out = Vec::new();
    let slice = a.secs / a.slices as f64;
    for r in 0..a.rounds {
        let mut one = Vec::new();
        for (k, &shape) in a.shapes.iter().enumerate() {
            let mut sides = [Sample::default(); 2];
            // Each side runs `slices` times per round, the sides in turn,
            // so both see the same spells of a noisy machine.
            for j in 0..a.slices {
                for side in order::<2>(r, k, j) {
                    if !a.only.is_empty() && a.only != HTABLES[side].trim_start_matches("cdc_") {
                        continue;
                    }
                    let t = &mut tables[side];
                    let batch = a.batch as u64;
                    sides[side].add(helios_run(
                        &mut s,
                        t,
                        shape,
                        slice,
                        batch,
                        &mut changed[side],
                    ));
                }
            }
            one.push(sides);
        }
        print_round(label, r, a.rounds, &one);
        out.push(one);
    }
    // Exactly the rows changed in cdc_on were captured, nothing of cdc_off.
    let lsn_after = common::one_i64(&mut s, "SELECT last_lsn FROM helios.change_log");
    assert_eq!(
        (lsn_after - lsn_before) as u64,
        changed[ON],
        "captured changes"
    );
    println!(
        "[{label}] captured {} changes of cdc_on, none of the {} rows changed in cdc_off",
        changed[ON], changed[OFF]
    );
    // A profile of one side (`--only`) leaves out the scan of the log.
    if a.only.is_empty() {
        bytes_per_row(&mut s, label);
    }
    out
}

/// Log bytes of one representative captured INSERT, UPDATE and DELETE.
fn bytes_per_row(s: &mut Session, label: &str) {
    let retained =
        |s: &mut Session| common::one_i64(s, "SELECT retained_bytes FROM helios.change_log");
    let id = 3_000_000_000i64;
    let steps = [
        (
            "INSERT",
            format!(
                "INSERT INTO cdc_on VALUES ({id}, '{}', 4242, '{}')",
                tenant(42),
                note(42)
            ),
        ),
        (
            "UPDATE (amount, note)",
            format!(
                "UPDATE cdc_on SET amount = amount + 1, note = '{}' WHERE id = {id}",
                note(43)
            ),
        ),
        ("DELETE", format!("DELETE FROM cdc_on WHERE id = {id}")),
    ];
    let mut line = Vec::new();
    for (what, sql) in steps {
        let before = retained(s);
        assert_eq!(s.execute(&sql, &[]).unwrap(), 1);
        let bytes = retained(s) - before;
        line.push(format!("{what} {bytes} B"));
    }
    println!(
        "[{label}] change log bytes per captured row (LSN, commit and length 20 B + commit time 8 B + head and binary images), row ({}, '{}', 4242, '{}'): {}",
        id,
        tenant(42),
        note(42),
        line.join(", ")
    );
}

fn print_round(label: &str, r: usize, rounds: usize, one: &[[Sample; 2]]) {
    let line: Vec<String> = one
        .iter()
        .map(|[on, off]| {
            format!(
                "{:.0} / {:.0} ({:.3}; CPU {:.2} / {:.2} µs)",
                on.rate(),
                off.rate(),
                on.rate() / off.rate(),
                on.cpu_us(),
                off.cpu_us()
            )
        })
        .collect();
    println!(
        "[{label}] round {}/{rounds} (on / off): {}",
        r + 1,
        line.join(" | ")
    );
}

fn print_table(title: &str, results: &Rounds<2>, a: &Args) {
    println!("\n{title}\n");
    println!(
        "| shape | capture on | capture off | on / off | per round | CPU µs per unit, on | off | off / on | CPU µs more per captured row |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for (k, &shape) in a.shapes.iter().enumerate() {
        let med = |f: &dyn Fn(&[Sample; 2]) -> f64| {
            common::median(results.iter().map(|r| f(&r[k])).collect())
        };
        let rounds: Vec<String> = results
            .iter()
            .map(|r| format!("{:.2}", r[k][ON].rate() / r[k][OFF].rate()))
            .collect();
        let (cpu_on, cpu_off) = (med(&|x| x[ON].cpu_us()), med(&|x| x[OFF].cpu_us()));
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {} | {cpu_on:.2} | {cpu_off:.2} | {:.3} | {:+.2} |",
            shape.name(a.batch),
            med(&|x| x[ON].rate()),
            med(&|x| x[OFF].rate()),
            med(&|x| x[ON].rate() / x[OFF].rate()),
            rounds.join(" "),
            med(&|x| x[OFF].cpu_us() / x[ON].cpu_us()),
            med(&|x| x[ON].cpu_us() - x[OFF].cpu_us()) / shape.rows_per_unit(),
        );
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// A throwaway PostgreSQL cluster, stopped (and its directory removed)
/// when dropped.
struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgCluster {
    /// The command `program args` as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        pg_command(&self.bin, program, self.as_postgres)
    }

    fn start(wal_level: &str) -> Result<PgCluster, String> {
        let bin = pg_bin().ok_or("no /usr/lib/postgresql/*/bin/initdb")?;
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = tempfile::Builder::new()
            .prefix("cdc-bench-pg")
            .tempdir()
            .map_err(|e| e.to_string())?;
        if as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()))?;
        }
        let c = PgCluster {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = c.dir.path().join("data");
        run(c
            .command("initdb")
            .args([
                "-U",
                "bench",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data))?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c wal_level={wal_level} \
             -c max_replication_slots=4 -c fsync=on -c synchronous_commit=on",
            c.port,
            c.dir.path().display()
        );
        run(c
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(c.dir.path().join("log"))
            .arg("-D")
            .arg(&data)
            .arg("start"))
        .map_err(|e| {
            let log = std::fs::read_to_string(c.dir.path().join("log")).unwrap_or_default();
            format!("{e}\n{log}")
        })?;
        Ok(c)
    }

    fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=bench dbname=postgres",
            self.port
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .args(["-m", "fast", "-w", "-D"])
            .arg(&data)
            .arg("stop")
            .output();
    }
}

fn pg_command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn run(c: &mut Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

struct Pg {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    insert: tokio_postgres::Statement,
    update: tokio_postgres::Statement,
    delete: tokio_postgres::Statement,
    ids: Ids,
}

async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(conn);
    client
}

impl Pg {
    fn setup(cluster: &PgCluster, a: &Args) -> Pg {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = cluster.url();
        let (client, insert, update, delete) = rt.block_on(async {
            let c = pg_connect(&url).await;
            for (setting, want) in [("fsync", "on"), ("synchronous_commit", "on")] {
                let v: String = c
                    .query_one(&format!("SHOW {setting}"), &[])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(v, want, "{setting}");
            }
            c.batch_execute(
                "CREATE TABLE cdc_t (id bigint PRIMARY KEY, tenant text, amount int, note text);
                 ALTER TABLE cdc_t REPLICA IDENTITY FULL;",
            )
            .await
            .unwrap();
            let insert = c
                .prepare("INSERT INTO cdc_t VALUES ($1, $2, $3, $4)")
                .await
                .unwrap();
            let update = c
                .prepare("UPDATE cdc_t SET amount = amount + 1, note = $2 WHERE id = $1")
                .await
                .unwrap();
            let delete = c.prepare("DELETE FROM cdc_t WHERE id = $1").await.unwrap();
            c.batch_execute("BEGIN").await.unwrap();
            for i in 0..a.rows as i64 {
                for id in [i, CHURN_BASE + i] {
                    let n = i as u64;
                    c.execute(&insert, &[&id, &tenant(n), &((n % 1000) as i32), &note(n)])
                        .await
                        .unwrap();
                }
            }
            c.batch_execute("COMMIT; ANALYZE cdc_t; CHECKPOINT")
                .await
                .unwrap();
            (c, insert, update, delete)
        });
        Pg {
            rt,
            client,
            insert,
            update,
            delete,
            ids: Ids::new(a.rows),
        }
    }

    fn sql(&self, sql: &str) {
        self.rt.block_on(self.client.batch_execute(sql)).unwrap();
    }

    /// Like `helios_run`.
    fn run(&mut self, shape: Shape, secs: f64, batch: u64, changed: &mut u64) -> Sample {
        let Pg {
            rt,
            client: c,
            insert,
            update,
            delete,
            ids,
        } = self;
        let insert = &*insert;
        let one = |r: Result<u64, tokio_postgres::Error>| assert_eq!(r.unwrap(), 1);
        let row = |n: u64| (tenant(n), (n % 1000) as i32, note(n));
        match shape {
            Shape::Insert => timed(secs, 1.0, || {
                let (id, (t, amount, note)) = (ids.insert_id(), row(ids.step()));
                rt.block_on(async { one(c.execute(insert, &[&id, &t, &amount, &note]).await) });
                *changed += 1;
            }),
            Shape::Batch => timed(secs, batch as f64, || {
                rt.block_on(async {
                    c.batch_execute("BEGIN").await.unwrap();
                    for _ in 0..batch {
                        let (id, (t, amount, note)) = (ids.insert_id(), row(ids.step()));
                        one(c.execute(insert, &[&id, &t, &amount, &note]).await);
                    }
                    c.batch_execute("COMMIT").await.unwrap();
                });
                *changed += batch;
            }),
            Shape::Update => timed(secs, 1.0, || {
                let n = ids.step();
                let id = ids.update_id(n);
                rt.block_on(async { one(c.execute(&*update, &[&id, &note(n)]).await) });
                *changed += 1;
            }),
            Shape::Churn => timed(secs, 1.0, || {
                let ((d, i), (t, amount, note)) = (ids.churn(), row(ids.step()));
                rt.block_on(async {
                    c.batch_execute("BEGIN").await.unwrap();
                    one(c.execute(&*delete, &[&d]).await);
                    one(c.execute(insert, &[&i, &t, &amount, &note]).await);
                    c.batch_execute("COMMIT").await.unwrap();
                });
                *changed += 2;
            }),
        }
    }
}

/// A connection consuming the slot `bench` every 50 ms until stopped;
/// `stop` returns the row changes it decoded.
struct SlotReader {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl SlotReader {
    fn start(url: String) -> SlotReader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let c = pg_connect(&url).await;
                let mut decoded = 0u64;
                loop {
                    let last = flag.load(Ordering::SeqCst);
                    let n: i64 = c
                        .query_one(
                            "SELECT count(*) FILTER (WHERE data LIKE 'table %')
                             FROM pg_logical_slot_get_changes('bench', NULL, NULL)",
                            &[],
                        )
                        .await
                        .unwrap()
                        .get(0);
                    decoded += n as u64;
                    if last {
                        return decoded;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        });
        SlotReader { stop, handle }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

const PG_SLOT: usize = 0;
const PG_NO_SLOT: usize = 1;
const PG_REPLICA: usize = 2;

fn pg_part(a: &Args) -> Result<Rounds<3>, String> {
    let t0 = Instant::now();
    let logical = PgCluster::start("logical")?;
    let replica = PgCluster::start("replica")?;
    let mut pl = Pg::setup(&logical, a);
    let mut pr = Pg::setup(&replica, a);
    let version: String = pl
        .rt
        .block_on(pl.client.query_one("SHOW server_version", &[]))
        .unwrap()
        .get(0);
    eprintln!(
        "[pg] PostgreSQL {version}: two clusters started and loaded in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let mut out = Vec::new();
    let (mut decoded, mut expected) = (0u64, 0u64);
    let (slice, batch) = (a.secs / a.slices as f64, a.batch as u64);
    for r in 0..a.rounds {
        let mut one = Vec::new();
        for (k, &shape) in a.shapes.iter().enumerate() {
            let mut sides = [Sample::default(); 3];
            for j in 0..a.slices {
                for side in order::<3>(r, k, j) {
                    let mut changed = 0;
                    let sample = match side {
                        PG_SLOT => {
                            pl.sql(
                                "SELECT pg_create_logical_replication_slot('bench', 'test_decoding')",
                            );
                            let reader = SlotReader::start(logical.url());
                            let sample = pl.run(shape, slice, batch, &mut changed);
                            decoded += reader.stop();
                            expected += changed;
                            pl.sql("SELECT pg_drop_replication_slot('bench')");
                            sample
                        }
                        PG_NO_SLOT => pl.run(shape, slice, batch, &mut changed),
                        _ => pr.run(shape, slice, batch, &mut changed),
                    };
                    sides[side].add(sample);
                }
            }
            one.push(sides);
        }
        let line: Vec<String> = one
            .iter()
            .map(|x| {
                format!(
                    "{:.0} / {:.0} / {:.0}",
                    x[0].rate(),
                    x[1].rate(),
                    x[2].rate()
                )
            })
            .collect();
        println!(
            "[pg] round {}/{} (slot / no slot / wal_level=replica): {}",
            r + 1,
            a.rounds,
            line.join(" | ")
        );
        out.push(one);
    }
    assert_eq!(decoded, expected, "changes decoded from the slot");
    println!(
        "[pg] the slot's reader decoded {decoded} row changes (= the rows changed with the slot)"
    );
    Ok(out)
}

fn print_pg(results: &Rounds<3>, a: &Args) {
    println!("\nPostgreSQL, fsync=on, synchronous_commit=on, tokio-postgres over loopback\n");
    println!(
        "| shape | slot consumed | no slot | slot / no slot | per round | wal_level=replica | slot / replica |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|");
    for (k, &shape) in a.shapes.iter().enumerate() {
        let med = |f: &dyn Fn(&[Sample; 3]) -> f64| {
            common::median(results.iter().map(|r| f(&r[k])).collect())
        };
        let rounds: Vec<String> = results
            .iter()
            .map(|r| format!("{:.2}", r[k][PG_SLOT].rate() / r[k][PG_NO_SLOT].rate()))
            .collect();
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {} | {:.0} | {:.3} |",
            shape.name(a.batch),
            med(&|x| x[PG_SLOT].rate()),
            med(&|x| x[PG_NO_SLOT].rate()),
            med(&|x| x[PG_SLOT].rate() / x[PG_NO_SLOT].rate()),
            rounds.join(" "),
            med(&|x| x[PG_REPLICA].rate()),
            med(&|x| x[PG_SLOT].rate() / x[PG_REPLICA].rate()),
        );
    }
}

fn main() {
    let a = args();
    let t0 = Instant::now();
    let wants = |p: &str| a.parts.iter().any(|x| x == p);
    let mut tables = Vec::new();
    if wants("durable") {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("data")).unwrap();
        let r = helios_part(&db, "durable", &a);
        tables.push((
            "HeliosDB Nano, embedded, durable data directory (fsync per commit)",
            r,
        ));
        eprintln!("[{:6.1} s] durable done", t0.elapsed().as_secs_f64());
    }
    if wants("memory") {
        let db = Database::open_in_memory().unwrap();
        let r = helios_part(&db, "memory", &a);
        tables.push(("HeliosDB Nano, embedded, in memory", r));
        eprintln!("[{:6.1} s] memory done", t0.elapsed().as_secs_f64());
    }
    let pg = if wants("pg") {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pg_part(&a)));
        eprintln!("[{:6.1} s] pg done", t0.elapsed().as_secs_f64());
        match r {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                println!("\nPostgreSQL anchor skipped: PostgreSQL could not be started: {e}");
                None
            }
            Err(_) => {
                println!(
                    "\nPostgreSQL anchor skipped: the PostgreSQL part failed (see the panic above)"
                );
                None
            }
        }
    } else {
        None
    };
    for (title, r) in &tables {
        print_table(title, r, &a);
    }
    if let Some(r) = &pg {
        print_pg(r, &a);
    }
    println!(
        "\n{} rounds of {} s per side and shape ({} slices each, the sides in turn); medians over the rounds; goal: capture on at most 10% slower (on / off >= 0.90)",
        a.rounds, a.secs, a.slices
    );
}
