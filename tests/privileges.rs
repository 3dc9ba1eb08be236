//! Privileges through the embedded API and over the wire: an embedded
//! session opened as a role and a tokio-postgres client logged in as one
//! get the same 42501 errors, and grants, owners and ACLs persist.
//! (SQL-level behaviour is in tests/sql/privileges.slt.)

mod common;

use common::Server;
use heliosdb_nano::Database;
use tokio_postgres::error::SqlState;

fn err(s: &mut heliosdb_nano::Session, sql: &str) -> heliosdb_nano::Error {
    s.execute(sql, &[]).expect_err(sql)
}

#[test]
fn embedded_session_runs_as_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    {
        let db = Database::open(&path).unwrap();
        let mut admin = db.connect();
        admin
            .run(
                "CREATE ROLE app LOGIN;
                 CREATE TABLE items (id serial PRIMARY KEY, name text);
                 INSERT INTO items (name) VALUES ('a');",
            )
            .unwrap();
        let mut app = db.connect_as("app").unwrap();
        let e = err(&mut app, "SELECT * FROM items");
        assert_eq!(e.sqlstate(), "42501");
        assert_eq!(e.message, "permission denied for table items");
        let e = err(&mut app, "INSERT INTO items (name) VALUES ('b')");
        assert_eq!(e.message, "permission denied for table items");
        let e = err(&mut app, "CREATE TABLE mine (x int)");
        assert_eq!(e.message, "permission denied for schema public");
        let e = err(&mut app, "DROP TABLE items");
        assert_eq!(e.message, "must be owner of table items");
        admin
            .run(
                "GRANT SELECT, INSERT ON items TO app;
                 GRANT USAGE ON SEQUENCE items_id_seq TO app;",
            )
            .unwrap();
        // A statement prepared before the grant is bound again after it.
        let p = app.prepare("SELECT count(*) FROM items");
        assert!(p.is_ok());
        app.execute("INSERT INTO items (name) VALUES ('b')", &[])
            .unwrap();
        let rows = app.query_prepared(&p.unwrap(), &[]).unwrap();
        assert_eq!(rows.get(0).unwrap().get::<i64>(0).unwrap(), 2);
        let e = err(&mut app, "DELETE FROM items");
        assert_eq!(e.message, "permission denied for table items");
    }
    // Owners and grants are in the catalog: they survive a restart.
    let db = Database::open(&path).unwrap();
    let mut app = db.connect_as("app").unwrap();
    let rows = app
        .query("SELECT name FROM items ORDER BY id", &[])
        .unwrap();
    assert_eq!(rows.len(), 2);
    let e = err(&mut app, "UPDATE items SET name = 'x'");
    assert_eq!(e.message, "permission denied for table items");
    let mut admin = db.connect();
    let rows = admin
        .query(
            "SELECT relacl::text FROM pg_class WHERE relname = 'items'",
            &[],
        )
        .unwrap();
    assert_eq!(
        rows.get(0).unwrap().get::<String>(0).unwrap(),
        "{heliosdb=arwdDxt/heliosdb,app=ar/heliosdb}"
    );
    // REVOKE takes effect for a session that is already open.
    admin
        .execute("REVOKE SELECT ON items FROM app", &[])
        .unwrap();
    let e = err(&mut app, "SELECT * FROM items");
    assert_eq!(e.sqlstate(), "42501");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileges_over_the_wire() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), &[], Some("s3cret"));
    let admin = server.client("heliosdb", "s3cret").await;
    admin
        .batch_execute(
            "CREATE ROLE web LOGIN PASSWORD 'pw';
             CREATE TABLE orders (id int PRIMARY KEY, total numeric);
             INSERT INTO orders VALUES (1, 10), (2, 20);
             CREATE VIEW big_orders WITH (security_invoker = false) AS
                 SELECT id FROM orders WHERE total > 15;",
        )
        .await
        .unwrap();
    let web = server.client("web", "pw").await;
    // Prepared (extended protocol) and simple queries are both checked.
    let e = web.query("SELECT id FROM orders", &[]).await.unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::INSUFFICIENT_PRIVILEGE);
    assert_eq!(db.message(), "permission denied for table orders");
    let e = web
        .simple_query("SELECT * FROM big_orders")
        .await
        .unwrap_err();
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "permission denied for view big_orders"
    );
    // A view grant is enough: the view reads orders as its owner.
    admin
        .batch_execute("GRANT SELECT ON big_orders TO web")
        .await
        .unwrap();
    let rows = web.query("SELECT id FROM big_orders", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 2);
    let e = web
        .execute("UPDATE orders SET total = 0 WHERE id = $1", &[&1i32])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    // Ownership moves with ALTER TABLE ... OWNER TO.
    admin
        .batch_execute("ALTER TABLE orders OWNER TO web")
        .await
        .unwrap();
    let n = web
        .execute("UPDATE orders SET total = 0 WHERE id = $1", &[&1i32])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let owner: String = admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'orders'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "web");
    let e = admin.batch_execute("DROP ROLE web").await.unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code(), &SqlState::DEPENDENT_OBJECTS_STILL_EXIST);
    assert_eq!(
        db.detail(),
        Some("owner of table orders\nprivileges for view big_orders")
    );
}
