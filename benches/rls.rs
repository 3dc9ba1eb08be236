//! Row-level security overhead: the same workloads on a tenant-scoped table
//! read by a role bound to a tenant under FORCE ROW LEVEL SECURITY, and on
//! an identical plain table with the hand-written `WHERE tenant_id = $1`,
//! in one run, on one durable database. Both sessions run in the tenant
//! (the same quota admission on both sides).
//!
//! ```text
//! cargo bench --bench rls -- [--rows N] [--rounds R] [--seconds S]
//! ```
//!
//! Each round measures every workload for S seconds on each side
//! (alternating which goes first); the table shows medians of the rounds
//! and the ratio RLS / hand-written (1.00 = no overhead).

#[path = "common/mod.rs"]
mod common;

use heliosdb_nano::{Database, Session, Value};

const TENANTS: usize = 100;

struct Args {
    rows: usize,
    rounds: usize,
    seconds: f64,
}

fn args() -> Args {
    Args {
        rows: common::option("--rows", 200_000),
        rounds: common::option("--rounds", 3),
        seconds: common::option("--seconds", 2.0),
    }
}

/// Loads both tables with the same rows; returns the tenants' ids.
fn setup(db: &Database, rows: usize) -> Vec<uuid::Uuid> {
    let mut s = db.connect();
    s.run(
        "CREATE TABLE orders_plain (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, amount int);
         CREATE INDEX ON orders_plain (tenant_id);
         CREATE TABLE orders_rls (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, amount int);
         CREATE ROLE bench_app LOGIN;
         GRANT SELECT, INSERT ON orders_plain, orders_rls TO bench_app;",
    )
    .unwrap();
    // A tier without practical limits: the benchmark measures row-level
    // security, not the rate quota.
    s.execute(
        "SELECT helios.create_tier('bench', 9223372036854775807, 1000000, 1000000000000)",
        &[],
    )
    .unwrap();
    let mut tenants = Vec::new();
    for t in 0..TENANTS {
        let r = s
            .query(
                "SELECT helios.create_tenant($1, tier => 'bench')",
                &[&format!("t{t}")],
            )
            .unwrap();
        tenants.push(r.get(0).unwrap().get::<uuid::Uuid>(0).unwrap());
    }
    s.execute("SELECT helios.enable_tenancy('orders_rls')", &[])
        .unwrap();
    for table in ["orders_plain", "orders_rls"] {
        let mut tx = s.transaction().unwrap();
        let p = tx
            .prepare(&format!("INSERT INTO {table} VALUES ($1, $2, $3)"))
            .unwrap();
        for i in 0..rows {
            let tenant = Value::Uuid(tenants[i % TENANTS]);
            tx.run_prepared(
                &p,
                &[
                    Value::Int8(i as i64),
                    tenant,
                    Value::Int4((i % 1000) as i32),
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    s.run("ANALYZE").unwrap();
    tenants
}

/// The statements of each workload: (hand-written, under RLS).
const POINT: (&str, &str) = (
    "SELECT amount FROM orders_plain WHERE id = $1 AND tenant_id = $2",
    "SELECT amount FROM orders_rls WHERE id = $1",
);
const AGGREGATE: (&str, &str) = (
    "SELECT count(*), sum(amount) FROM orders_plain WHERE tenant_id = $1",
    "SELECT count(*), sum(amount) FROM orders_rls",
);
const INSERT: (&str, &str) = (
    "INSERT INTO orders_plain (id, tenant_id, amount) VALUES ($1, $2, 1) RETURNING id",
    "INSERT INTO orders_rls (id, amount) VALUES ($1, 1) RETURNING id",
);

/// One workload on one side for `secs` seconds, with prepared statements
/// (as an application would use them).
fn run_side(
    s: &mut Session,
    sql: &str,
    secs: f64,
    mut params: impl FnMut(u64) -> Vec<Value>,
    check: impl Fn(&heliosdb_nano::Rows),
) -> f64 {
    let p = s.prepare(sql).unwrap();
    common::measure(secs, |n| {
        let r = s.run_prepared(&p, &params(n)).unwrap();
        check(r.rows.as_ref().expect("rows"));
    })
}

/// One round: (hand-written rate, RLS rate) per workload.
fn round(
    db: &Database,
    tenants: &[uuid::Uuid],
    rows: usize,
    secs: f64,
    rls_first: bool,
    next_id: &mut i64,
) -> Vec<(f64, f64)> {
    let tenant = tenants[7];
    let per_tenant = rows / TENANTS;
    // Keys of the tenant's own rows (row i belongs to tenant i % TENANTS).
    let key = move |n: u64| -> Value {
        Value::Int8(((n as usize * 7919) % per_tenant * TENANTS + 7) as i64)
    };
    // Both sessions run in the tenant, so both pay its quota admission
    // (benches/quotas.rs measures that); what differs is row-level security
    // (and, for inserts, the storage accounting of a tenant-scoped table).
    let mut plain = db.connect_as("bench_app").unwrap();
    plain.set_tenant(&tenant.to_string()).unwrap();
    let mut rls = db.connect_as("bench_app").unwrap();
    rls.set_tenant(&tenant.to_string()).unwrap();
    let t = Value::Uuid(tenant);
    let one_row = |r: &heliosdb_nano::Rows| assert_eq!(r.len(), 1);
    let counted = move |r: &heliosdb_nano::Rows| {
        assert!(r.get(0).unwrap().get::<i64>(0).unwrap() >= per_tenant as i64)
    };
    let mut out = Vec::new();
    for w in 0..3 {
        let mut side = |with_rls: bool| -> f64 {
            let s = if with_rls { &mut rls } else { &mut plain };
            let t = t.clone();
            match w {
                0 => {
                    let sql = if with_rls { POINT.1 } else { POINT.0 };
                    run_side(
                        s,
                        sql,
                        secs,
                        |n| {
                            if with_rls {
                                vec![key(n)]
                            } else {
                                vec![key(n), t.clone()]
                            }
                        },
                        one_row,
                    )
                }
                1 => {
                    let sql = if with_rls { AGGREGATE.1 } else { AGGREGATE.0 };
                    run_side(
                        s,
                        sql,
                        secs,
                        |_| if with_rls { vec![] } else { vec![t.clone()] },
                        counted,
                    )
                }
                _ => {
                    let sql = if with_rls { INSERT.1 } else { INSERT.0 };
                    let mut params = |_| {
                        *next_id += 1;
                        if with_rls {
                            vec![Value::Int8(*next_id)]
                        } else {
                            vec![Value::Int8(*next_id), t.clone()]
                        }
                    };
                    run_side(s, sql, secs, &mut params, one_row)
                }
            }
        };
        let (p, r) = if rls_first {
            let r = side(true);
            (side(false), r)
        } else {
            let p = side(false);
            (p, side(true))
        };
        out.push((p, r));
    }
    out
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("data")).unwrap();
    // Durable inserts are fsync-bound on both sides; measure the engine.
    let tenants = setup(&db, a.rows);
    let names = [
        "point select by primary key",
        "count(*), sum() of one tenant (1%)",
        "insert returning, 1 thread",
    ];
    let mut results: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut next_id = 10_000_000_000i64;
    for r in 0..a.rounds {
        let one = round(&db, &tenants, a.rows, a.seconds, r % 2 == 1, &mut next_id);
        let line: Vec<String> = one
            .iter()
            .map(|(p, x)| format!("{p:.0} / {x:.0}"))
            .collect();
        println!("round {}/{}: {}", r + 1, a.rounds, line.join(" | "));
        results.push(one);
    }
    println!(
        "\n| workload | hand-written WHERE tenant_id = $1 | FORCE RLS, bound tenant | RLS / hand-written |"
    );
    println!("|---|---:|---:|---:|");
    for (k, name) in names.iter().enumerate() {
        let p = common::median(results.iter().map(|r| r[k].0).collect());
        let x = common::median(results.iter().map(|r| r[k].1).collect());
        let ratios = common::median(results.iter().map(|r| r[k].1 / r[k].0).collect());
        println!("| {name} | {p:.0}/s | {x:.0}/s | {ratios:.2} |");
    }
}
