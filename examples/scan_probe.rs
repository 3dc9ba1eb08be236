//! Times queries on a benchmark-shaped data directory, in one process:
//!
//! ```sh
//! cargo run --release --example scan_probe -- /tmp/probe "SELECT count(*) FROM orders" ...
//! BULK=1 cargo run --release --example scan_probe -- /tmp/probe-bulk
//! ```
//!
//! A new directory is filled first with the embedded benchmark's tables
//! (`orders`, 1M rows; `customers`, 10k rows; an index on
//! `orders(customer_id)`). Each query then runs three times and prints its
//! time and row count (and the plan lines of an EXPLAIN). With `BULK` set it
//! also times a 1M-row load through a prepared INSERT in one transaction,
//! split into the inserts and the COMMIT.

use heliosdb_nano::Database;
use std::time::Instant;

fn main() {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: scan_probe DIR [SQL...]"),
    );
    let fresh = !dir.exists();
    let db = Database::open(&dir).expect("open");
    let mut s = db.connect();
    if fresh {
        for sql in [
            "CREATE TABLE orders(id bigint primary key, tenant_id int, customer text, amount bigint, created_at timestamp, customer_id bigint)",
            "INSERT INTO orders SELECT i, i % 100, 'customer-' || (i % 10000), i % 1000, timestamp '2024-01-01' + i * interval '1 second', i % 10000 + 1 FROM generate_series(1, 1000000) i",
            "CREATE TABLE customers(id bigint primary key, name text, segment text)",
            "INSERT INTO customers SELECT c, 'customer-' || c, 'seg' || (c % 5) FROM generate_series(1, 10000) c",
            "CREATE INDEX orders_customer ON orders (customer_id)",
        ] {
            s.execute(sql, &[]).expect("setup");
        }
    }
    if std::env::var("BULK").is_ok() {
        s.execute("CREATE TABLE b(id bigint primary key, tenant_id int, customer text, amount bigint, created_at timestamp, customer_id bigint)", &[]).expect("create");
        s.execute("CREATE INDEX b_t ON b(tenant_id)", &[])
            .expect("index");
        let ins = s
            .prepare("INSERT INTO b VALUES ($1, $2, $3, $4, $5, $6)")
            .expect("prepare");
        let ts = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("timestamp");
        let t = Instant::now();
        s.execute("BEGIN", &[]).expect("begin");
        for i in 0..1_000_000i64 {
            let c = format!("customer-{}", i % 10000);
            s.execute_prepared(
                &ins,
                &[
                    &i,
                    &((i % 100) as i32),
                    &c,
                    &(i % 1000),
                    &ts,
                    &(i % 10000 + 1),
                ],
            )
            .expect("insert");
        }
        let t2 = Instant::now();
        s.execute("COMMIT", &[]).expect("commit");
        println!("bulk: inserts {:?} commit {:?}", t2 - t, t2.elapsed());
    }
    for q in std::env::args().skip(2) {
        for _ in 0..3 {
            let t = Instant::now();
            let r = s.query(&q, &[]).expect("query");
            println!("{:?} {} rows", t.elapsed(), r.len());
            if q.starts_with("EXPLAIN") {
                for row in r {
                    println!("  {:?}", row.values());
                }
                break;
            }
        }
    }
}
