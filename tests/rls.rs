//! Row-level security through the embedded API and over the wire: the same
//! policies filter an embedded session opened as a role and a
//! tokio-postgres client logged in as one, integrity errors print no values
//! of hidden rows, and prepared statements follow the current role.
//! (SQL-level behaviour is in tests/sql/rls.slt.)

mod common;

use common::Server;
use heliosdb_nano::Database;

const SETUP: &str = "CREATE ROLE app_a LOGIN PASSWORD 'a';
     CREATE ROLE app_b LOGIN PASSWORD 'b';
     CREATE TABLE notes (id int PRIMARY KEY, author text NOT NULL, body text, n int);
     GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO app_a, app_b;
     INSERT INTO notes VALUES (1, 'app_a', 'secret of a', 1), (2, 'app_b', 'secret of b', 0);
     ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
     CREATE POLICY mine ON notes USING (author = current_user);";

#[test]
fn embedded_sessions_see_only_their_rows() {
    let db = Database::open_in_memory().unwrap();
    db.connect().run(SETUP).unwrap();
    let mut a = db.connect_as("app_a").unwrap();
    let rows = a.query("SELECT id, body FROM notes", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows.get(0).unwrap().get::<String>(1).unwrap(),
        "secret of a"
    );
    // Row 2 (app_b's) has n = 0: the user predicate never sees it.
    let rows = a
        .query("SELECT count(*) FROM notes WHERE 10 / n > 1", &[])
        .unwrap();
    assert_eq!(rows.get(0).unwrap().get::<i64>(0).unwrap(), 1);
    // A duplicate of a hidden row's key fails without printing its values.
    let e = a
        .execute("INSERT INTO notes VALUES (2, 'app_a', 'x', 1)", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "23505");
    assert_eq!(e.detail, None);
    // Without RLS in the way the same error says which key.
    let e = db
        .connect()
        .execute("INSERT INTO notes VALUES (2, 'app_a', 'x', 1)", &[])
        .unwrap_err();
    assert_eq!(e.detail.as_deref(), Some("Key (id)=(2) already exists."));
    // A foreign-key violation names the table but not the key, as in
    // PostgreSQL.
    db.connect()
        .run(
            "CREATE TABLE tags (note int REFERENCES notes (id), tag text);
             GRANT SELECT, INSERT ON tags TO app_a;
             ALTER TABLE tags ENABLE ROW LEVEL SECURITY;
             CREATE POLICY all_tags ON tags USING (true);",
        )
        .unwrap();
    let e = a
        .execute("INSERT INTO tags VALUES (42, 'x')", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "23503");
    assert_eq!(
        e.detail.as_deref(),
        Some("Key is not present in table \"notes\".")
    );
    let e = a
        .execute("INSERT INTO notes VALUES (3, 'app_b', 'forged', 1)", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "42501");
    assert_eq!(
        e.message,
        "new row violates row-level security policy for table \"notes\""
    );
    // COPY FROM would bypass the policies: refused, as in PostgreSQL.
    let e = a
        .copy_in_from("COPY notes FROM STDIN", "9\tapp_a\tx\t1\n".as_bytes())
        .unwrap_err();
    assert_eq!(e.sqlstate(), "0A000");
    assert_eq!(e.message, "COPY FROM not supported with row-level security");
    // Updates and deletes cannot reach app_b's row.
    assert_eq!(
        a.execute("UPDATE notes SET body = 'mine now'", &[])
            .unwrap(),
        1
    );
    assert_eq!(a.execute("DELETE FROM notes WHERE id = 2", &[]).unwrap(), 0);
    // A prepared statement follows the current role at each execution.
    let mut admin = db.connect();
    admin.execute("GRANT app_b TO heliosdb", &[]).unwrap();
    let p = admin.prepare("SELECT body FROM notes ORDER BY id").unwrap();
    assert_eq!(admin.query_prepared(&p, &[]).unwrap().len(), 2);
    admin.execute("SET ROLE app_b", &[]).unwrap();
    let rows = admin.query_prepared(&p, &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows.get(0).unwrap().get::<String>(0).unwrap(),
        "secret of b"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_apply_over_the_wire() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), &[], Some("root"));
    let admin = server.client("heliosdb", "root").await;
    admin.batch_execute(SETUP).await.unwrap();
    let b = server.client("app_b", "b").await;
    let rows = b.query("SELECT id FROM notes", &[]).await.unwrap();
    let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![2]);
    let stmt = b
        .prepare("SELECT body FROM notes WHERE id = $1")
        .await
        .unwrap();
    assert!(b.query(&stmt, &[&1i32]).await.unwrap().is_empty());
    assert_eq!(b.query(&stmt, &[&2i32]).await.unwrap().len(), 1);
    let e = b
        .execute("INSERT INTO notes VALUES (9, 'app_a', 'forged', 1)", &[])
        .await
        .unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "42501");
    assert_eq!(
        db.message(),
        "new row violates row-level security policy for table \"notes\""
    );
    let e = b
        .execute("INSERT INTO notes VALUES (1, 'app_b', 'x', 1)", &[])
        .await
        .unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "23505");
    assert_eq!(db.detail(), None);
    // EXPLAIN shows the policy as part of the scan's filter.
    let plan: Vec<String> = b
        .query("EXPLAIN SELECT * FROM notes WHERE n > 0", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let text = plan.join("\n");
    assert!(text.contains("current_user"), "{text}");
}
