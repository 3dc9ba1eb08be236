//! Tenants end to end: a role bound to a tenant logs in over the wire and
//! is locked to it; the embedded API switches tenants with
//! `Session::set_tenant`; tenants and tenancy survive a restart.

mod common;

use common::Server;
use heliosdb_nano::Database;

const SETUP: &str = "CREATE ROLE app LOGIN PASSWORD 'app';
     CREATE ROLE alice LOGIN PASSWORD 'alice';
     SELECT helios.create_tenant('acme');
     SELECT helios.create_tenant('globex');
     CREATE TABLE orders (id int PRIMARY KEY, amount int);
     SELECT helios.enable_tenancy('orders');
     GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app, alice;
     SELECT helios.bind_role('alice', 'globex');";

#[test]
fn embedded_tenant_context_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    {
        let db = Database::open(&path).unwrap();
        db.connect().run(SETUP).unwrap();
        let mut app = db.connect_as("app").unwrap();
        assert_eq!(app.tenant(), None);
        app.set_tenant("acme").unwrap();
        app.execute("INSERT INTO orders (id, amount) VALUES (1, 10)", &[])
            .unwrap();
        app.set_tenant("globex").unwrap();
        app.execute("INSERT INTO orders (id, amount) VALUES (2, 20)", &[])
            .unwrap();
        let p = app.prepare("SELECT amount FROM orders").unwrap();
        let rows = app.query_prepared(&p, &[]).unwrap();
        assert_eq!(rows.get(0).unwrap().get::<i32>(0).unwrap(), 20);
        // The same prepared statement follows the tenant switch.
        app.set_tenant("acme").unwrap();
        let rows = app.query_prepared(&p, &[]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.get(0).unwrap().get::<i32>(0).unwrap(), 10);
        let e = app.set_tenant("nope").unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        app.clear_tenant().unwrap();
        assert_eq!(app.query("SELECT * FROM orders", &[]).unwrap().len(), 0);
    }
    let db = Database::open(&path).unwrap();
    // alice is bound to globex from login, and cannot leave it.
    let mut alice = db.connect_as("alice").unwrap();
    let rows = alice.query("SELECT id FROM orders", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows.get(0).unwrap().get::<i32>(0).unwrap(), 2);
    let e = alice.set_tenant("acme").unwrap_err();
    assert_eq!(e.sqlstate(), "42501");
    let e = alice
        .execute("SET helios.tenant = 'acme'", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "42501");
    let e = alice
        .execute("SELECT set_config('helios.tenant', 'acme', false)", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "42501");
    alice.execute("RESET ALL", &[]).unwrap();
    assert_eq!(alice.query("SELECT id FROM orders", &[]).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_role_over_the_wire() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), &[], Some("root"));
    let admin = server.client("heliosdb", "root").await;
    admin.batch_execute(SETUP).await.unwrap();
    let app = server.client("app", "app").await;
    app.batch_execute("SET helios.tenant = 'acme'; INSERT INTO orders VALUES (1, 10)")
        .await
        .unwrap();
    let alice = server.client("alice", "alice").await;
    alice
        .execute("INSERT INTO orders VALUES (2, 20)", &[])
        .await
        .unwrap();
    let rows = alice.query("SELECT id FROM orders", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 2);
    let e = alice
        .batch_execute("SET helios.tenant = 'acme'")
        .await
        .unwrap_err();
    assert_eq!(e.code().unwrap().code(), "42501");
    // The admin (a superuser) bypasses row-level security and sees both.
    let n: i64 = admin
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let tenants: Vec<String> = alice
        .query("SELECT name FROM helios.tenants", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tenants, vec!["globex".to_string()]);
}
