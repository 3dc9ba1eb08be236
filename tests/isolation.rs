//! Randomized tenant isolation through the server: many tenants, each with
//! a role bound to it, insert, update, delete and query in parallel over
//! the wire; no session may ever see or change a row of another tenant,
//! and at the end every tenant's rows are exactly the ones it wrote.

mod common;

use common::Server;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio_postgres::NoTls;

const TENANTS: usize = 6;
const OPS: usize = 150;

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_other() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), &[], Some("root"));
    let url = |user: &str| {
        format!(
            "host=127.0.0.1 port={} user={user} password=pw{user} dbname=heliosdb",
            server.port
        )
    };
    let admin_url = format!(
        "host=127.0.0.1 port={} user=heliosdb password=root dbname=heliosdb",
        server.port
    );
    let (admin, conn) = tokio_postgres::connect(&admin_url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let mut setup = String::from(
        "CREATE TABLE items (id int PRIMARY KEY, owner text NOT NULL, val int NOT NULL);
         SELECT helios.enable_tenancy('items');",
    );
    for t in 0..TENANTS {
        setup.push_str(&format!(
            "SELECT helios.create_tenant('t{t}', tier => 'enterprise');
             CREATE ROLE r{t} LOGIN PASSWORD 'pwr{t}';
             GRANT SELECT, INSERT, UPDATE, DELETE ON items TO r{t};
             SELECT helios.bind_role('r{t}', 't{t}');"
        ));
    }
    admin.batch_execute(&setup).await.unwrap();
    // Ids are handed out from disjoint ranges, so a tenant knows which ids
    // are its own; every tenant also tries ids of the others.
    let owned: Arc<Mutex<HashMap<usize, BTreeSet<i32>>>> = Arc::default();
    let mut tasks = Vec::new();
    for t in 0..TENANTS {
        let url = url(&format!("r{t}"));
        let owned = owned.clone();
        tasks.push(tokio::spawn(async move {
            let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
            tokio::spawn(conn);
            let me: String = c
                .query_one("SELECT current_tenant_id()::text", &[])
                .await
                .unwrap()
                .get(0);
            let mut rng = Lcg(0x5EED + t as u64);
            let mut mine = BTreeSet::new();
            let mut next = (t as i32) * 100_000;
            for _ in 0..OPS {
                let any_id = (rng.next(TENANTS as u64) as i32) * 100_000
                    + rng.next((OPS as u64).max(1)) as i32;
                match rng.next(6) {
                    0 | 1 => {
                        next += 1;
                        c.execute(
                            "INSERT INTO items (id, owner, val) VALUES ($1, $2, $3)",
                            &[&next, &format!("t{t}"), &(rng.next(100) as i32)],
                        )
                        .await
                        .unwrap();
                        mine.insert(next);
                    }
                    2 => {
                        let n = c
                            .execute("UPDATE items SET val = val + 1 WHERE id = $1", &[&any_id])
                            .await
                            .unwrap();
                        assert_eq!(
                            n,
                            mine.contains(&any_id) as u64,
                            "update of {any_id} by t{t}"
                        );
                    }
                    3 => {
                        let n = c
                            .execute("DELETE FROM items WHERE id = $1", &[&any_id])
                            .await
                            .unwrap();
                        assert_eq!(n, mine.remove(&any_id) as u64, "delete of {any_id} by t{t}");
                    }
                    4 => {
                        // Writing a row for another tenant always fails.
                        let e = c
                            .execute(
                                "INSERT INTO items (id, owner, val, tenant_id) \
                                 VALUES ($1, 'forged', 0, gen_random_uuid())",
                                &[&(next + 50_000)],
                            )
                            .await
                            .unwrap_err();
                        assert_eq!(e.code().unwrap().code(), "42501");
                    }
                    _ => {
                        let rows = c
                            .query("SELECT id, owner, tenant_id::text FROM items", &[])
                            .await
                            .unwrap();
                        let seen: BTreeSet<i32> = rows.iter().map(|r| r.get(0)).collect();
                        for r in &rows {
                            assert_eq!(r.get::<_, String>(1), format!("t{t}"));
                            assert_eq!(r.get::<_, String>(2), me);
                        }
                        assert_eq!(seen, mine, "t{t} sees exactly its own rows");
                    }
                }
            }
            owned.lock().unwrap().insert(t, mine);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The superuser sees every row: each tenant's are exactly its own.
    let rows = admin
        .query("SELECT id, owner FROM items", &[])
        .await
        .unwrap();
    let owned = owned.lock().unwrap();
    for t in 0..TENANTS {
        let stored: BTreeSet<i32> = rows
            .iter()
            .filter(|r| r.get::<_, String>(1) == format!("t{t}"))
            .map(|r| r.get(0))
            .collect();
        assert_eq!(&stored, &owned[&t], "rows of t{t}");
    }
    assert_eq!(
        rows.len(),
        owned.values().map(|s| s.len()).sum::<usize>(),
        "no forged rows"
    );
}
