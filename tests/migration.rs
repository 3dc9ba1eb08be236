//! Online tenant migration: snapshot, replication, verification and cutover
//! while the source is written; pause, resume and rollback; prerequisites;
//! and a migration that survives SIGKILL of the process running it.

use heliosdb_nano::{Database, Session};
use std::time::{Duration, Instant};

const SCHEMA: &str = "
    SELECT helios.create_tenant('acme');
    SELECT helios.create_tenant('globex');
    CREATE TABLE orders (tenant_id uuid, id int, amount int, note text,
                         PRIMARY KEY (tenant_id, id));
    SELECT helios.enable_tenancy('orders');
    CREATE TABLE items (tenant_id uuid, order_id int, line int, sku text,
                        PRIMARY KEY (tenant_id, order_id, line));
    SELECT helios.enable_tenancy('items');
    CREATE UNIQUE INDEX items_sku ON items (tenant_id, sku);
";

fn one_i64(s: &mut Session, sql: &str) -> i64 {
    s.query(sql, &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get::<i64>(0)
        .unwrap()
}

fn one_text(s: &mut Session, sql: &str) -> String {
    s.query(sql, &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get::<String>(0)
        .unwrap()
}

/// Waits until migration `id` is in one of `states`; returns the state.
fn wait_for(db: &Database, id: i64, states: &[&str]) -> String {
    let mut s = db.connect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = one_text(
            &mut s,
            &format!("SELECT state FROM helios.migrations WHERE id = {id}"),
        );
        if states.contains(&state.as_str()) {
            return state;
        }
        assert!(Instant::now() < deadline, "migration {id} stuck in {state}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tenant's rows of both tables, without the tenant column.
fn rows_of(db: &Database, tenant: &str) -> Vec<String> {
    let mut s = db.connect();
    s.run(&format!("SET helios.tenant = '{tenant}'")).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT id, amount, note FROM orders ORDER BY id",
        "SELECT order_id, line, sku FROM items ORDER BY order_id, line",
    ] {
        for r in s.query(sql, &[]).unwrap().iter() {
            out.push(format!("{:?}", r.values()));
        }
    }
    out
}

fn checksums(db: &Database, tenant: &str) -> Vec<(String, i64, String)> {
    let mut s = db.connect();
    s.query(
        &format!("SELECT table_name, row_count, checksum FROM helios.tenant_checksum('{tenant}')"),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String>(0).unwrap(),
            r.get::<i64>(1).unwrap(),
            r.get::<String>(2).unwrap(),
        )
    })
    .collect()
}

fn fill(s: &mut Session, tenant: &str, n: i32) {
    s.run(&format!("SET helios.tenant = '{tenant}'")).unwrap();
    s.run(&format!(
        "INSERT INTO orders (id, amount, note) SELECT g, g * 10, 'order ' || g FROM generate_series(1, {n}) g;
         INSERT INTO items (order_id, line, sku) SELECT g, 1, 'sku-' || g FROM generate_series(1, {n}) g;"
    ))
    .unwrap();
    s.run("RESET helios.tenant").unwrap();
}

#[test]
fn a_quiet_tenant_is_copied_and_verified() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run(SCHEMA).unwrap();
    fill(&mut s, "acme", 500);
    fill(&mut s, "globex", 50);
    let id = one_i64(
        &mut s,
        "SELECT helios.start_migration(source => 'acme', target => 'acme_eu')",
    );
    assert_eq!(wait_for(&db, id, &["completed", "failed"]), "completed");
    assert_eq!(rows_of(&db, "acme"), rows_of(&db, "acme_eu"));
    assert_eq!(checksums(&db, "acme"), checksums(&db, "acme_eu"));
    assert_ne!(checksums(&db, "acme"), checksums(&db, "globex"));
    let r = s
        .query(
            "SELECT rows_copied, total_rows, checksums->1->>'table', (checksums->1->>'target_rows')::int, error FROM helios.migrations",
            &[],
        )
        .unwrap();
    let r = r.get(0).unwrap();
    assert_eq!(r.get::<i64>(0).unwrap(), 1000);
    assert_eq!(r.get::<i64>(1).unwrap(), 1000);
    assert_eq!(r.get::<String>(2).unwrap(), "public.orders");
    assert_eq!(r.get::<i32>(3).unwrap(), 500);
    assert!(r.get::<Option<String>>(4).unwrap().is_none());
    // Without cutover the names stay; the target was created with the source's tier.
    let names: Vec<String> = s
        .query("SELECT name FROM helios.tenants ORDER BY name", &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<String>(0).unwrap())
        .collect();
    assert_eq!(names, vec!["acme", "acme_eu", "globex"]);
}

#[test]
fn prerequisites_are_checked_when_a_migration_starts() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run(SCHEMA).unwrap();
    fill(&mut s, "acme", 5);
    fill(&mut s, "globex", 5);
    let e = s
        .run("SELECT helios.start_migration('acme', 'globex')")
        .unwrap_err();
    assert_eq!(e.sqlstate(), "55000", "{e}");
    assert!(e.message.contains("not empty"), "{e}");
    let e = s
        .run("SELECT helios.start_migration('acme', 'acme')")
        .unwrap_err();
    assert_eq!(e.sqlstate(), "22023");
    s.run(
        "CREATE TABLE notes (id int PRIMARY KEY, body text); SELECT helios.enable_tenancy('notes')",
    )
    .unwrap();
    let e = s
        .run("SELECT helios.start_migration('acme', 'acme_eu')")
        .unwrap_err();
    assert_eq!(e.sqlstate(), "55000");
    assert!(e.message.contains("primary key"), "{e}");
    // The failed call created nothing.
    assert_eq!(
        one_i64(
            &mut s,
            "SELECT count(*) FROM helios.tenants WHERE name = 'acme_eu'"
        ),
        0
    );
}
