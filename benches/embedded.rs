//! Embedded benchmark: the same workloads on HeliosDB Nano and on SQLite,
//! both durable, both on files in a temporary directory, side by side.
//!
//! ```text
//! cargo bench --bench embedded -- [--rows N] [--rounds R]
//!     [--lookups N] [--aggregates N] [--inserts N] [--updates N]
//!     [--joins N] [--topn N] [--exists N]
//! ```
//!
//! Every round starts from empty databases, runs all workloads on one
//! engine, then on the other (alternating which goes first), and the final
//! table shows the median of the rounds. Every result is checked, so an
//! error or a wrong answer stops the run instead of being measured.
//!
//! Durability: HeliosDB Nano with its default `synchronous_commit = on`
//! (every autocommit statement is fsynced, with group commit); SQLite in
//! WAL mode with `PRAGMA synchronous = FULL` (fsync of the WAL per commit).

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use heliosdb_nano::{Database, Value};
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

const TENANTS: i64 = 100;
const CUSTOMERS: i64 = 10_000;
/// `customers.segment` of customer `c` is `SEGMENTS[c % 5]`.
const SEGMENTS: [&str; 5] = ["consumer", "corporate", "enterprise", "public", "startup"];
const AMOUNTS: i64 = 1_000;
const THREADS: usize = 4;

/// Workload names, in the order of [`Rates`].
const WORKLOADS: [(&str, &str); 9] = [
    ("bulk load, 1 transaction", "rows/s"),
    ("point select by primary key", "queries/s"),
    ("count(*), sum() by tenant (~1%)", "queries/s"),
    ("insert returning, 1 thread", "inserts/s"),
    ("insert returning, 4 threads", "inserts/s"),
    ("update returning, 1 thread", "updates/s"),
    ("join 10k customers, group by segment", "queries/s"),
    ("top 10 by amount (no index)", "queries/s"),
    ("correlated EXISTS per customer", "queries/s"),
];

/// The measured queries of workloads 6 to 8 (`$1`: an amount).
const JOIN_QUERY: &str = "SELECT c.segment, count(*), sum(o.amount) FROM orders o \
                          JOIN customers c ON c.id = o.customer_id GROUP BY c.segment";
const TOPN_QUERY: &str = "SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 10";
const EXISTS_QUERY: &str = "SELECT count(*) FROM customers c WHERE EXISTS \
                            (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.amount > $1)";

/// Operations per second of each workload in one round.
type Rates = [f64; WORKLOADS.len()];

// ---------------------------------------------------------------------------
// Configuration and shared helpers

struct Config {
    rows: i64,
    rounds: usize,
    lookups: usize,
    aggregates: usize,
    inserts: usize,
    updates: usize,
    joins: usize,
    topn: usize,
    exists: usize,
}

impl Config {
    fn from_args() -> Config {
        let mut c = Config {
            rows: 1_000_000,
            rounds: 3,
            lookups: 100_000,
            aggregates: 200,
            inserts: 2_000,
            updates: 2_000,
            joins: 3,
            topn: 5,
            exists: 5,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            // `cargo bench` appends `--bench` to the arguments.
            if arg == "--bench" {
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let value = inline
                .or_else(|| args.next())
                .unwrap_or_else(|| usage(&format!("{name} needs a value")));
            let n: usize = value
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| usage(&format!("{name}: not a number: {value}")));
            if n == 0 {
                usage(&format!("{name} must be at least 1"));
            }
            match name.as_str() {
                "--rows" => c.rows = n as i64,
                "--rounds" => c.rounds = n,
                "--lookups" => c.lookups = n,
                "--aggregates" => c.aggregates = n,
                "--inserts" => c.inserts = n,
                "--updates" => c.updates = n,
                "--joins" => c.joins = n,
                "--topn" => c.topn = n,
                "--exists" => c.exists = n,
                _ => usage(&format!("unknown argument {arg}")),
            }
        }
        c
    }

    fn command(&self) -> String {
        format!(
            "cargo bench --bench embedded -- --rows {} --rounds {} --lookups {} \
             --aggregates {} --inserts {} --updates {} --joins {} --topn {} --exists {}",
            self.rows,
            self.rounds,
            self.lookups,
            self.aggregates,
            self.inserts,
            self.updates,
            self.joins,
            self.topn,
            self.exists
        )
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!(
        "usage: cargo bench --bench embedded -- [--rows N] [--rounds R] \
         [--lookups N] [--aggregates N] [--inserts N] [--updates N] \
         [--joins N] [--topn N] [--exists N]"
    );
    std::process::exit(2)
}

/// Unwraps a result, panicking with what was being done and the error.
trait Check<T> {
    fn check(self, what: &str) -> T;
}

impl<T, E: Display> Check<T> for Result<T, E> {
    fn check(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("{what} failed: {e}"))
    }
}

/// SplitMix64: a small deterministic generator, so both engines see the
/// same random ids.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

// Row `i` (ids 1..=rows) of the orders table.
fn tenant(i: i64) -> i32 {
    (i % TENANTS) as i32
}
fn customer(i: i64) -> String {
    format!("customer-{}", i % CUSTOMERS)
}
fn amount(i: i64) -> i64 {
    i % AMOUNTS
}
fn customer_id(i: i64) -> i64 {
    i % CUSTOMERS + 1
}
fn segment(c: i64) -> &'static str {
    SEGMENTS[(c % SEGMENTS.len() as i64) as usize]
}
fn base_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}
fn created_at(base: NaiveDateTime, i: i64) -> NaiveDateTime {
    base + TimeDelta::seconds(i)
}
/// SQLite has no timestamp type: bind the usual ISO text form.
fn timestamp_text(buf: &mut String, t: NaiveDateTime) {
    buf.clear();
    let _ = write!(
        buf,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// The operations of one round, identical for both engines.
struct Plan {
    rows: i64,
    lookup_ids: Vec<i64>,
    aggregate_tenants: Vec<i64>,
    inserts: usize,
    update_ids: Vec<i64>,
    /// (count, sum(amount)) per tenant after the bulk load.
    expected: Vec<(i64, i64)>,
    joins: usize,
    /// (segment, count, sum(amount)) of the join, by segment name.
    expected_join: Vec<(String, i64, i64)>,
    topn: usize,
    /// (id, amount) of the top 10 by amount descending, then id.
    expected_topn: Vec<(i64, i64)>,
    /// The `$1` amounts of the EXISTS queries, with the expected counts.
    exists: Vec<(i64, i64)>,
}

impl Plan {
    fn new(cfg: &Config, round: usize) -> Plan {
        let mut rng = Rng(0x5EED_0000 + round as u64);
        let rows = cfg.rows;
        // Drawn in this order so the first workloads see the same ids as
        // before workloads 6 to 8 were added.
        let lookup_ids = (0..cfg.lookups).map(|_| rng.between(1, rows)).collect();
        let aggregate_tenants = (0..cfg.aggregates)
            .map(|_| rng.between(0, TENANTS - 1))
            .collect();
        let update_ids: Vec<i64> = (0..cfg.updates).map(|_| rng.between(1, rows)).collect();
        // Workloads 6 to 8 run after the updates: they see the bumped amounts.
        let mut bumps: HashMap<i64, i64> = HashMap::new();
        for &id in &update_ids {
            *bumps.entry(id).or_insert(0) += 1;
        }
        let mut expected = vec![(0i64, 0i64); TENANTS as usize];
        let mut by_segment = vec![(0i64, 0i64); SEGMENTS.len()];
        let mut max_amount = vec![-1i64; CUSTOMERS as usize + 1];
        let mut top: Vec<(i64, i64)> = Vec::new();
        for i in 1..=rows {
            let e = &mut expected[tenant(i) as usize];
            e.0 += 1;
            e.1 += amount(i);
            let a = amount(i) + bumps.get(&i).copied().unwrap_or(0);
            let c = customer_id(i);
            let s = &mut by_segment[(c % SEGMENTS.len() as i64) as usize];
            s.0 += 1;
            s.1 += a;
            max_amount[c as usize] = max_amount[c as usize].max(a);
            // Keep the 10 largest by (amount desc, id asc); ids only grow.
            if top.len() < 10 || a > top[9].1 {
                top.push((i, a));
                top.sort_by_key(|&(id, a)| (-a, id));
                top.truncate(10);
            }
        }
        let mut expected_join: Vec<(String, i64, i64)> = SEGMENTS
            .iter()
            .zip(&by_segment)
            .filter(|(_, s)| s.0 > 0)
            .map(|(name, s)| (name.to_string(), s.0, s.1))
            .collect();
        expected_join.sort();
        let exists = (0..cfg.exists)
            .map(|_| {
                let p = rng.between(0, AMOUNTS - 1);
                let n = max_amount.iter().filter(|&&m| m > p).count() as i64;
                (p, n)
            })
            .collect();
        Plan {
            rows,
            lookup_ids,
            aggregate_tenants,
            inserts: cfg.inserts,
            update_ids,
            expected,
            joins: cfg.joins,
            expected_join,
            topn: cfg.topn,
            expected_topn: top,
            exists,
        }
    }

    fn check_point(&self, engine: &str, id: i64, got_customer: &str, got_amount: i64) {
        if got_customer != customer(id) || got_amount != amount(id) {
            panic!(
                "{engine}: point select id={id} returned ({got_customer}, {got_amount}), \
                 expected ({}, {})",
                customer(id),
                amount(id)
            );
        }
    }

    fn check_join(&self, engine: &str, mut got: Vec<(String, i64, i64)>) {
        got.sort();
        if got != self.expected_join {
            panic!(
                "{engine}: join by segment returned {got:?}, expected {:?}",
                self.expected_join
            );
        }
    }

    fn check_topn(&self, engine: &str, got: &[(i64, i64)]) {
        if got != self.expected_topn {
            panic!(
                "{engine}: top 10 by amount returned {got:?}, expected {:?}",
                self.expected_topn
            );
        }
    }

    fn check_exists(&self, engine: &str, p: i64, got: i64, want: i64) {
        if got != want {
            panic!("{engine}: EXISTS with amount > {p} returned {got}, expected {want}");
        }
    }

    fn check_aggregate(&self, engine: &str, t: i64, count: i64, sum: i64) {
        let want = self.expected[t as usize];
        if (count, sum) != want {
            panic!(
                "{engine}: count/sum for tenant {t} returned ({count}, {sum}), expected {want:?}"
            );
        }
    }
}

/// Checks that ids returned by concurrent inserts are all distinct.
fn check_distinct(engine: &str, mut ids: Vec<i64>, want: usize) {
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != want {
        panic!(
            "{engine}: {want} concurrent inserts returned only {} distinct ids",
            ids.len()
        );
    }
}

/// Checks an update's returned amount against the updates made so far.
fn check_update(engine: &str, bumps: &mut HashMap<i64, i64>, id: i64, got: i64) {
    let n = bumps.entry(id).or_insert(0);
    *n += 1;
    if got != amount(id) + *n {
        panic!(
            "{engine}: update id={id} returned amount {got}, expected {}",
            amount(id) + *n
        );
    }
}

fn rate(ops: usize, d: Duration) -> f64 {
    ops as f64 / d.as_secs_f64()
}

// ---------------------------------------------------------------------------
// HeliosDB Nano

const HELIOS: &str = "HeliosDB";

fn helios_round(dir: &Path, plan: &Plan) -> Rates {
    let db = Database::open(dir.join("helios")).check("HeliosDB: open");
    let mut s = db.connect();
    let sync = s
        .query("SHOW synchronous_commit", &[])
        .check("HeliosDB: SHOW synchronous_commit");
    let sync: String = sync
        .get(0)
        .expect("SHOW returns a row")
        .get(0)
        .check("HeliosDB: read synchronous_commit");
    assert_eq!(sync, "on", "HeliosDB: synchronous_commit must be on");
    s.run(
        "CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id int, customer text, \
                              amount bigint, created_at timestamp, customer_id bigint);
         CREATE INDEX orders_tenant ON orders (tenant_id);
         CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id int, payload text);
         CREATE TABLE customers (id bigint PRIMARY KEY, name text, segment text);",
    )
    .check("HeliosDB: create schema");
    let mut rates = [0.0; WORKLOADS.len()];

    // 1. Bulk load in one transaction.
    let insert = s
        .prepare("INSERT INTO orders VALUES ($1, $2, $3, $4, $5, $6)")
        .check("HeliosDB: prepare insert");
    let base = base_time();
    let start = Instant::now();
    let mut t = s.transaction().check("HeliosDB: BEGIN");
    for i in 1..=plan.rows {
        let n = t
            .execute_prepared(
                &insert,
                &[
                    &i,
                    &tenant(i),
                    &customer(i),
                    &amount(i),
                    &created_at(base, i),
                    &customer_id(i),
                ],
            )
            .check("HeliosDB: bulk insert");
        assert_eq!(n, 1, "HeliosDB: bulk insert affected {n} rows");
    }
    t.commit().check("HeliosDB: COMMIT bulk load");
    rates[0] = rate(plan.rows as usize, start.elapsed());
    let count: i64 = s
        .query("SELECT count(*) FROM orders", &[])
        .check("HeliosDB: count orders")
        .get(0)
        .expect("count returns a row")
        .get(0)
        .check("HeliosDB: read count");
    assert_eq!(count, plan.rows, "HeliosDB: rows after bulk load");

    // 2. Point selects by primary key.
    let point = s
        .prepare("SELECT customer, amount FROM orders WHERE id = $1")
        .check("HeliosDB: prepare point select");
    let start = Instant::now();
    for &id in &plan.lookup_ids {
        let rows = s
            .query_prepared(&point, &[&id])
            .check("HeliosDB: point select");
        assert_eq!(rows.len(), 1, "HeliosDB: point select id={id} row count");
        let row = rows.get(0).expect("one row");
        let c: String = row.get(0).check("HeliosDB: read customer");
        let a: i64 = row.get(1).check("HeliosDB: read amount");
        plan.check_point(HELIOS, id, &c, a);
    }
    rates[1] = rate(plan.lookup_ids.len(), start.elapsed());

    // 3. count(*), sum(amount) for one tenant.
    let agg = s
        .prepare("SELECT count(*), sum(amount) FROM orders WHERE tenant_id = $1")
        .check("HeliosDB: prepare aggregate");
    let start = Instant::now();
    for &t in &plan.aggregate_tenants {
        let rows = s
            .query_prepared(&agg, &[&(t as i32)])
            .check("HeliosDB: aggregate");
        let row = rows.get(0).expect("aggregate returns a row");
        let count: i64 = row.get(0).check("HeliosDB: read count");
        // sum(bigint) is numeric, as in PostgreSQL.
        let sum: Value = row.get(1).check("HeliosDB: read sum");
        let sum: i64 = sum
            .to_string()
            .parse()
            .unwrap_or_else(|_| panic!("HeliosDB: sum is not an integer: {sum:?}"));
        plan.check_aggregate(HELIOS, t, count, sum);
    }
    rates[2] = rate(plan.aggregate_tenants.len(), start.elapsed());

    // 4a. Durable single-row inserts with RETURNING, one session.
    const EVENT_INSERT: &str =
        "INSERT INTO events (tenant_id, payload) VALUES ($1, $2) RETURNING id";
    let ins = s
        .prepare(EVENT_INSERT)
        .check("HeliosDB: prepare event insert");
    let start = Instant::now();
    let mut last = 0i64;
    for k in 0..plan.inserts {
        let rows = s
            .query_prepared(&ins, &[&((k % 100) as i32), &format!("event-0-{k}")])
            .check("HeliosDB: insert returning");
        assert_eq!(rows.len(), 1, "HeliosDB: insert returning row count");
        let id: i64 = rows.get(0).expect("one row").get(0).check("HeliosDB: id");
        assert!(id > last, "HeliosDB: ids not increasing ({last} then {id})");
        last = id;
    }
    rates[3] = rate(plan.inserts, start.elapsed());

    // 4b. The same from four sessions at once.
    let barrier = Barrier::new(THREADS + 1);
    let (elapsed, ids) = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..=THREADS)
            .map(|w| {
                let (db, barrier) = (&db, &barrier);
                scope.spawn(move || {
                    let mut s = db.connect();
                    let ins = s
                        .prepare(EVENT_INSERT)
                        .check("HeliosDB: prepare event insert");
                    let mut ids = Vec::with_capacity(plan.inserts);
                    barrier.wait();
                    for k in 0..plan.inserts {
                        let rows = s
                            .query_prepared(&ins, &[&((k % 100) as i32), &format!("event-{w}-{k}")])
                            .check("HeliosDB: concurrent insert returning");
                        assert_eq!(rows.len(), 1, "HeliosDB: insert returning row count");
                        ids.push(rows.get(0).expect("one row").get(0).check("HeliosDB: id"));
                    }
                    ids
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let ids: Vec<i64> = workers
            .into_iter()
            .flat_map(|h| h.join().expect("HeliosDB insert thread panicked"))
            .collect();
        (start.elapsed(), ids)
    });
    check_distinct(HELIOS, ids, THREADS * plan.inserts);
    rates[4] = rate(THREADS * plan.inserts, elapsed);
    let events: i64 = s
        .query("SELECT count(*) FROM events", &[])
        .check("HeliosDB: count events")
        .get(0)
        .expect("count returns a row")
        .get(0)
        .check("HeliosDB: read count");
    assert_eq!(
        events as usize,
        (THREADS + 1) * plan.inserts,
        "HeliosDB: events"
    );

    // 5. Durable single-row updates with RETURNING.
    let upd = s
        .prepare("UPDATE orders SET amount = amount + 1 WHERE id = $1 RETURNING amount")
        .check("HeliosDB: prepare update");
    let mut bumps = HashMap::new();
    let start = Instant::now();
    for &id in &plan.update_ids {
        let rows = s
            .query_prepared(&upd, &[&id])
            .check("HeliosDB: update returning");
        assert_eq!(rows.len(), 1, "HeliosDB: update id={id} row count");
        let a: i64 = rows
            .get(0)
            .expect("one row")
            .get(0)
            .check("HeliosDB: amount");
        check_update(HELIOS, &mut bumps, id, a);
    }
    rates[5] = rate(plan.update_ids.len(), start.elapsed());

    // Not measured: the customers table and the index for EXISTS.
    let ins = s
        .prepare("INSERT INTO customers VALUES ($1, $2, $3)")
        .check("HeliosDB: prepare customer insert");
    let mut t = s.transaction().check("HeliosDB: BEGIN");
    for c in 1..=CUSTOMERS {
        t.execute_prepared(&ins, &[&c, &format!("customer-{c}"), &segment(c)])
            .check("HeliosDB: customer insert");
    }
    t.commit().check("HeliosDB: COMMIT customers");
    s.run("CREATE INDEX orders_customer ON orders (customer_id)")
        .check("HeliosDB: create index on customer_id");
    // Planner statistics, as after autovacuum's ANALYZE in PostgreSQL (SQLite
    // gets its ANALYZE too).
    s.run("ANALYZE").check("HeliosDB: ANALYZE");

    // 6. Join with customers, grouped by segment.
    let join = s.prepare(JOIN_QUERY).check("HeliosDB: prepare join");
    let start = Instant::now();
    for _ in 0..plan.joins {
        let rows = s.query_prepared(&join, &[]).check("HeliosDB: join");
        let got = rows
            .iter()
            .map(|r| {
                let seg: String = r.get(0).check("HeliosDB: read segment");
                let count: i64 = r.get(1).check("HeliosDB: read count");
                let sum: Value = r.get(2).check("HeliosDB: read sum");
                let sum: i64 = sum
                    .to_string()
                    .parse()
                    .unwrap_or_else(|_| panic!("HeliosDB: sum is not an integer: {sum:?}"));
                (seg, count, sum)
            })
            .collect();
        plan.check_join(HELIOS, got);
    }
    rates[6] = rate(plan.joins, start.elapsed());

    // 7. Top 10 by amount over a full scan.
    let topn = s.prepare(TOPN_QUERY).check("HeliosDB: prepare top-N");
    let start = Instant::now();
    for _ in 0..plan.topn {
        let rows = s.query_prepared(&topn, &[]).check("HeliosDB: top-N");
        let got: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.get(0).check("HeliosDB: read id"),
                    r.get(1).check("HeliosDB: read amount"),
                )
            })
            .collect();
        plan.check_topn(HELIOS, &got);
    }
    rates[7] = rate(plan.topn, start.elapsed());

    // 8. Correlated EXISTS, one probe of orders(customer_id) per customer.
    let exists = s.prepare(EXISTS_QUERY).check("HeliosDB: prepare EXISTS");
    let start = Instant::now();
    for &(p, want) in &plan.exists {
        let rows = s.query_prepared(&exists, &[&p]).check("HeliosDB: EXISTS");
        let got: i64 = rows
            .get(0)
            .expect("count returns a row")
            .get(0)
            .check("HeliosDB: read count");
        plan.check_exists(HELIOS, p, got, want);
    }
    rates[8] = rate(plan.exists.len(), start.elapsed());
    rates
}

// ---------------------------------------------------------------------------
// SQLite

const SQLITE: &str = "SQLite";

/// A connection in WAL mode with `synchronous = FULL` (a per-connection setting).
fn sqlite_connect(path: &Path) -> Connection {
    let conn = Connection::open(path).check("SQLite: open");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .check("SQLite: journal_mode");
    assert_eq!(mode, "wal", "SQLite: journal_mode");
    conn.execute_batch("PRAGMA synchronous = FULL")
        .check("SQLite: synchronous");
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .check("SQLite: read synchronous");
    assert_eq!(sync, 2, "SQLite: synchronous must be FULL (2)");
    conn.busy_timeout(Duration::from_secs(30))
        .check("SQLite: busy_timeout");
    conn
}

fn sqlite_round(dir: &Path, plan: &Plan) -> Rates {
    let path = dir.join("sqlite.db");
    let mut conn = sqlite_connect(&path);
    // INTEGER PRIMARY KEY (the rowid) is SQLite's fastest primary key.
    conn.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant_id INT, customer TEXT, \
                              amount BIGINT, created_at TIMESTAMP, customer_id BIGINT);
         CREATE INDEX orders_tenant ON orders (tenant_id);
         CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id INT, payload TEXT);
         CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, segment TEXT);",
    )
    .check("SQLite: create schema");
    let mut rates = [0.0; WORKLOADS.len()];

    // 1. Bulk load in one transaction.
    let base = base_time();
    let mut ts = String::new();
    let start = Instant::now();
    let tx = conn.transaction().check("SQLite: BEGIN");
    {
        let mut insert = tx
            .prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .check("SQLite: prepare insert");
        for i in 1..=plan.rows {
            timestamp_text(&mut ts, created_at(base, i));
            let n = insert
                .execute(params![
                    i,
                    tenant(i),
                    customer(i),
                    amount(i),
                    ts,
                    customer_id(i)
                ])
                .check("SQLite: bulk insert");
            assert_eq!(n, 1, "SQLite: bulk insert affected {n} rows");
        }
    }
    tx.commit().check("SQLite: COMMIT bulk load");
    rates[0] = rate(plan.rows as usize, start.elapsed());
    let count: i64 = conn
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .check("SQLite: count orders");
    assert_eq!(count, plan.rows, "SQLite: rows after bulk load");

    // 2. Point selects by primary key.
    {
        let mut point = conn
            .prepare("SELECT customer, amount FROM orders WHERE id = ?1")
            .check("SQLite: prepare point select");
        let start = Instant::now();
        for &id in &plan.lookup_ids {
            let (c, a): (String, i64) = point
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .check("SQLite: point select");
            plan.check_point(SQLITE, id, &c, a);
        }
        rates[1] = rate(plan.lookup_ids.len(), start.elapsed());
    }

    // 3. count(*), sum(amount) for one tenant.
    {
        let mut agg = conn
            .prepare("SELECT count(*), sum(amount) FROM orders WHERE tenant_id = ?1")
            .check("SQLite: prepare aggregate");
        let start = Instant::now();
        for &t in &plan.aggregate_tenants {
            let (count, sum): (i64, i64) = agg
                .query_row([t], |r| Ok((r.get(0)?, r.get(1)?)))
                .check("SQLite: aggregate");
            plan.check_aggregate(SQLITE, t, count, sum);
        }
        rates[2] = rate(plan.aggregate_tenants.len(), start.elapsed());
    }

    // 4a. Durable single-row inserts with RETURNING, one connection.
    const EVENT_INSERT: &str =
        "INSERT INTO events (tenant_id, payload) VALUES (?1, ?2) RETURNING id";
    {
        let mut ins = conn
            .prepare(EVENT_INSERT)
            .check("SQLite: prepare event insert");
        let start = Instant::now();
        let mut last = 0i64;
        for k in 0..plan.inserts {
            let id: i64 = ins
                .query_row(params![(k % 100) as i64, format!("event-0-{k}")], |r| {
                    r.get(0)
                })
                .check("SQLite: insert returning");
            assert!(id > last, "SQLite: ids not increasing ({last} then {id})");
            last = id;
        }
        rates[3] = rate(plan.inserts, start.elapsed());
    }

    // 4b. The same from four connections at once.
    let barrier = Barrier::new(THREADS + 1);
    let (elapsed, ids) = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..=THREADS)
            .map(|w| {
                let (path, barrier) = (&path, &barrier);
                scope.spawn(move || {
                    let conn = sqlite_connect(path);
                    let mut ins = conn
                        .prepare(EVENT_INSERT)
                        .check("SQLite: prepare event insert");
                    let mut ids = Vec::with_capacity(plan.inserts);
                    barrier.wait();
                    for k in 0..plan.inserts {
                        let id: i64 = ins
                            .query_row(params![(k % 100) as i64, format!("event-{w}-{k}")], |r| {
                                r.get(0)
                            })
                            .check("SQLite: concurrent insert returning");
                        ids.push(id);
                    }
                    ids
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let ids: Vec<i64> = workers
            .into_iter()
            .flat_map(|h| h.join().expect("SQLite insert thread panicked"))
            .collect();
        (start.elapsed(), ids)
    });
    check_distinct(SQLITE, ids, THREADS * plan.inserts);
    rates[4] = rate(THREADS * plan.inserts, elapsed);
    let events: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .check("SQLite: count events");
    assert_eq!(
        events as usize,
        (THREADS + 1) * plan.inserts,
        "SQLite: events"
    );

    // 5. Durable single-row updates with RETURNING.
    {
        let mut upd = conn
            .prepare("UPDATE orders SET amount = amount + 1 WHERE id = ?1 RETURNING amount")
            .check("SQLite: prepare update");
        let mut bumps = HashMap::new();
        let start = Instant::now();
        for &id in &plan.update_ids {
            let a: i64 = upd
                .query_row([id], |r| r.get(0))
                .check("SQLite: update returning");
            check_update(SQLITE, &mut bumps, id, a);
        }
        rates[5] = rate(plan.update_ids.len(), start.elapsed());
    }

    // Not measured: the customers table and the index for EXISTS.
    let tx = conn.transaction().check("SQLite: BEGIN");
    {
        let mut ins = tx
            .prepare("INSERT INTO customers VALUES (?1, ?2, ?3)")
            .check("SQLite: prepare customer insert");
        for c in 1..=CUSTOMERS {
            ins.execute(params![c, format!("customer-{c}"), segment(c)])
                .check("SQLite: customer insert");
        }
    }
    tx.commit().check("SQLite: COMMIT customers");
    conn.execute_batch("CREATE INDEX orders_customer ON orders (customer_id)")
        .check("SQLite: create index on customer_id");
    conn.execute_batch("ANALYZE").check("SQLite: ANALYZE");

    // 6. Join with customers, grouped by segment.
    {
        let mut join = conn
            .prepare(&JOIN_QUERY.replace('$', "?"))
            .check("SQLite: prepare join");
        let start = Instant::now();
        for _ in 0..plan.joins {
            let got = join
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .check("SQLite: join")
                .collect::<Result<Vec<(String, i64, i64)>, _>>()
                .check("SQLite: join rows");
            plan.check_join(SQLITE, got);
        }
        rates[6] = rate(plan.joins, start.elapsed());
    }

    // 7. Top 10 by amount over a full scan.
    {
        let mut topn = conn.prepare(TOPN_QUERY).check("SQLite: prepare top-N");
        let start = Instant::now();
        for _ in 0..plan.topn {
            let got = topn
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .check("SQLite: top-N")
                .collect::<Result<Vec<(i64, i64)>, _>>()
                .check("SQLite: top-N rows");
            plan.check_topn(SQLITE, &got);
        }
        rates[7] = rate(plan.topn, start.elapsed());
    }

    // 8. Correlated EXISTS, one probe of orders(customer_id) per customer.
    {
        let mut exists = conn
            .prepare(&EXISTS_QUERY.replace("$1", "?1"))
            .check("SQLite: prepare EXISTS");
        let start = Instant::now();
        for &(p, want) in &plan.exists {
            let got: i64 = exists.query_row([p], |r| r.get(0)).check("SQLite: EXISTS");
            plan.check_exists(SQLITE, p, got, want);
        }
        rates[8] = rate(plan.exists.len(), start.elapsed());
    }
    rates
}

// ---------------------------------------------------------------------------
// Driver and report

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A rate with thousands separators (one decimal below 100).
fn fmt_rate(r: f64) -> String {
    if r < 100.0 {
        return format!("{r:.1}");
    }
    let digits = format!("{:.0}", r);
    let mut out = String::new();
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn fmt_rates(r: &Rates) -> String {
    r.iter()
        .map(|x| fmt_rate(*x))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let cfg = Config::from_args();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "HeliosDB Nano {} vs SQLite {} (rusqlite, bundled)",
        heliosdb_nano::VERSION,
        rusqlite::version()
    );
    println!("command: {}", cfg.command());
    println!(
        "machine: nproc = {cores}, cpu = {}, os = {}",
        cpu_model(),
        std::env::consts::OS
    );
    println!(
        "durability: HeliosDB synchronous_commit = on (default); SQLite journal_mode = WAL, synchronous = FULL"
    );
    println!(
        "sizes: {} rows, {} lookups, {} aggregates, {} inserts per thread, {} updates, \
         {} joins, {} top-N, {} EXISTS; {} rounds, median reported",
        cfg.rows,
        cfg.lookups,
        cfg.aggregates,
        cfg.inserts,
        cfg.updates,
        cfg.joins,
        cfg.topn,
        cfg.exists,
        cfg.rounds
    );
    println!(
        "per-round columns: {}",
        WORKLOADS
            .iter()
            .map(|w| w.0)
            .collect::<Vec<_>>()
            .join(" | ")
    );

    let mut helios = Vec::new();
    let mut sqlite = Vec::new();
    for round in 0..cfg.rounds {
        let plan = Plan::new(&cfg, round);
        let dir = tempfile::tempdir().check("create temp dir");
        let run_helios = |helios: &mut Vec<Rates>| {
            let r = helios_round(dir.path(), &plan);
            println!(
                "round {}/{} {HELIOS:>8}: {}",
                round + 1,
                cfg.rounds,
                fmt_rates(&r)
            );
            helios.push(r);
        };
        let run_sqlite = |sqlite: &mut Vec<Rates>| {
            let r = sqlite_round(dir.path(), &plan);
            println!(
                "round {}/{} {SQLITE:>8}: {}",
                round + 1,
                cfg.rounds,
                fmt_rates(&r)
            );
            sqlite.push(r);
        };
        // Alternate which engine goes first, so neither always runs on a
        // warmer (or more tired) machine.
        if round % 2 == 0 {
            run_helios(&mut helios);
            run_sqlite(&mut sqlite);
        } else {
            run_sqlite(&mut sqlite);
            run_helios(&mut helios);
        }
    }

    println!();
    println!("| workload | unit | HeliosDB | SQLite | HeliosDB/SQLite |");
    println!("|---|---|---:|---:|---:|");
    for (k, (name, unit)) in WORKLOADS.iter().enumerate() {
        let h = median(helios.iter().map(|r| r[k]).collect());
        let s = median(sqlite.iter().map(|r| r[k]).collect());
        println!(
            "| {name} | {unit} | {} | {} | {:.2}x |",
            fmt_rate(h),
            fmt_rate(s),
            h / s
        );
    }
}
