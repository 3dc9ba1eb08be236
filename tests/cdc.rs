//! Change data capture through the embedded API: committed changes come
//! back in commit order with their images; rolled-back work never appears.

use heliosdb_nano::Database;

#[test]
fn committed_changes_come_back_in_order() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);
         SELECT helios.create_tenant('acme');
         CREATE TABLE orders (id int PRIMARY KEY, amount int);
         SELECT helios.enable_tenancy('orders');",
    )
    .unwrap();
    let start = db.changes(0, usize::MAX).unwrap().len();
    s.run(
        "INSERT INTO notes VALUES (1, 'a'), (2, 'b');
         UPDATE notes SET body = 'bb' WHERE id = 2;
         DELETE FROM notes WHERE id = 1;",
    )
    .unwrap();
    // Rolled back: whole, and to a savepoint.
    s.run("BEGIN; INSERT INTO notes VALUES (3, 'gone'); ROLLBACK;")
        .unwrap();
    s.run(
        "BEGIN; INSERT INTO notes VALUES (4, 'kept'); SAVEPOINT sp;
         INSERT INTO notes VALUES (5, 'undone'); ROLLBACK TO SAVEPOINT sp; COMMIT;",
    )
    .unwrap();
    s.set_tenant("acme").unwrap();
    s.run("INSERT INTO orders (id, amount) VALUES (1, 10)")
        .unwrap();
    let events = db.changes(0, usize::MAX).unwrap();
    let events = &events[start..];
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| (e.table.clone(), e.op.clone(), e.pk.to_string()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("public.notes".into(), "insert".into(), r#"{"id":1}"#.into()),
            ("public.notes".into(), "insert".into(), r#"{"id":2}"#.into()),
            ("public.notes".into(), "update".into(), r#"{"id":2}"#.into()),
            ("public.notes".into(), "delete".into(), r#"{"id":1}"#.into()),
            ("public.notes".into(), "insert".into(), r#"{"id":4}"#.into()),
            (
                "public.orders".into(),
                "insert".into(),
                r#"{"id":1}"#.into()
            ),
        ]
    );
    // LSNs increase; one transaction's events share its id.
    assert!(events.windows(2).all(|w| w[0].lsn < w[1].lsn));
    assert_eq!(events[0].txid, events[1].txid);
    assert_ne!(events[1].txid, events[2].txid);
    assert_eq!(events[2].before["body"], "b");
    assert_eq!(events[2].after["body"], "bb");
    assert_eq!(events[3].after, serde_json::Value::Null);
    assert_eq!(events[0].tenant_id, None);
    assert!(events[5].tenant_id.is_some());
    // Reading from an LSN and with a limit.
    let later = db.changes(events[4].lsn, 1).unwrap();
    assert_eq!(later, vec![events[4].clone()]);
}
