//! Roles through the embedded API: the bootstrap superuser, logging in as a
//! role (`connect_as`), what the wire server reads (`login_role`), stored
//! passwords, connection limits, and roles surviving a reopen.

use heliosdb_nano::catalog::{self, keys};
use heliosdb_nano::storage::Engine;
use heliosdb_nano::storage::memory::MemoryEngine;
use heliosdb_nano::txn::{IsolationLevel, TxnManager};
use heliosdb_nano::{Database, ScramVerifier};
use std::sync::Arc;

fn one(s: &mut heliosdb_nano::Session, sql: &str) -> String {
    let rows = s.query(sql, &[]).unwrap();
    rows.get(0).unwrap().get::<String>(0).unwrap()
}

#[test]
fn bootstrap_superuser_and_connect_as() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    assert_eq!(s.current_user().unwrap(), "heliosdb");
    assert_eq!(s.session_user().unwrap(), "heliosdb");
    let rows = s
        .query("SELECT current_user, session_user, current_role, user", &[])
        .unwrap();
    let names: Vec<&str> = rows.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["current_user", "session_user", "current_role", "user"]
    );

    let boot = db.login_role("heliosdb").unwrap().expect("bootstrap role");
    assert!(boot.superuser && boot.can_login);
    assert!(boot.scram.is_none());
    assert_eq!(boot.connection_limit, -1);

    s.run("CREATE USER alice PASSWORD 'wonderland'; CREATE ROLE nologin; CREATE ROLE staff")
        .unwrap();
    s.execute("GRANT staff TO alice", &[]).unwrap();

    let mut a = db.connect_as("alice").unwrap();
    assert_eq!(one(&mut a, "SELECT current_user"), "alice");
    assert_eq!(one(&mut a, "SHOW is_superuser"), "off");
    a.execute("SET ROLE staff", &[]).unwrap();
    assert_eq!(a.current_user().unwrap(), "staff");
    assert_eq!(a.session_user().unwrap(), "alice");
    // Not a superuser at login: no SET SESSION AUTHORIZATION to others.
    let e = a
        .execute("SET SESSION AUTHORIZATION heliosdb", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "42501");
    assert_eq!(
        e.to_string(),
        "permission denied to set session authorization \"heliosdb\""
    );
    a.execute("SET SESSION AUTHORIZATION alice", &[]).unwrap();
    let e = a.execute("CREATE ROLE x", &[]).unwrap_err();
    assert_eq!(e.sqlstate(), "42501");

    let e = db.connect_as("nosuch").err().unwrap();
    assert_eq!(e.sqlstate(), "28000");
    assert_eq!(e.to_string(), "role \"nosuch\" does not exist");
    let e = db.connect_as("nologin").err().unwrap();
    assert_eq!(e.sqlstate(), "28000");
    assert_eq!(e.to_string(), "role \"nologin\" is not permitted to log in");
}

#[test]
fn passwords_are_stored_as_scram_verifiers() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute(
        "CREATE ROLE bob LOGIN PASSWORD 'hunter2' VALID UNTIL '2030-01-01 00:00:00+00' CONNECTION LIMIT 7",
        &[],
    )
    .unwrap();
    let bob = db.login_role("bob").unwrap().unwrap();
    let v = bob.scram.clone().expect("a verifier");
    assert_eq!(v.iterations, 4096);
    assert_eq!(v.salt.len(), 16);
    assert!(v.verify_password("hunter2"));
    assert!(!v.verify_password("hunter3"));
    assert_eq!(bob.connection_limit, 7);
    assert_eq!(
        bob.valid_until.unwrap().to_rfc3339(),
        "2030-01-01T00:00:00+00:00"
    );

    // A verifier given as the password is stored as is (like PostgreSQL).
    let pg = "SCRAM-SHA-256$4096:7aAHxenJXZZg8k+dallmow==$OdUK5jsLV/GFZXCBvnCrIV5iKWbdNqpu6pAdiGalnaI=:MwkYNjzJN2W3MD5XuMlEgKhQnqE3tHUIKJYUh+Nj8fQ=";
    s.execute(&format!("ALTER ROLE bob PASSWORD '{pg}'"), &[])
        .unwrap();
    let bob = db.login_role("bob").unwrap().unwrap();
    assert_eq!(bob.scram.as_ref().unwrap().to_string(), pg);
    assert!(bob.scram.unwrap().verify_password("secret"));

    // Renaming keeps a SCRAM verifier; PASSWORD NULL and '' clear it.
    s.execute("ALTER ROLE bob RENAME TO robert", &[]).unwrap();
    assert!(db.login_role("bob").unwrap().is_none());
    assert!(db.login_role("robert").unwrap().unwrap().scram.is_some());
    s.execute("ALTER ROLE robert PASSWORD NULL", &[]).unwrap();
    assert!(db.login_role("robert").unwrap().unwrap().scram.is_none());
    s.execute("ALTER ROLE robert PASSWORD 'x' VALID UNTIL 'infinity'", &[])
        .unwrap();
    let r = db.login_role("robert").unwrap().unwrap();
    assert!(r.scram.is_some() && r.valid_until.is_none());
    s.execute("ALTER ROLE robert PASSWORD ''", &[]).unwrap();
    assert!(db.login_role("robert").unwrap().unwrap().scram.is_none());
}

#[test]
fn set_role_password_for_the_server() {
    let db = Database::open_in_memory().unwrap();
    db.set_role_password("heliosdb", Some("s3cret")).unwrap();
    let boot = db.login_role("heliosdb").unwrap().unwrap();
    assert!(boot.scram.unwrap().verify_password("s3cret"));

    let v = ScramVerifier::from_password("other");
    db.set_role_password("heliosdb", Some(&v.to_string()))
        .unwrap();
    let boot = db.login_role("heliosdb").unwrap().unwrap();
    assert_eq!(boot.scram.unwrap(), v);

    db.set_role_password("heliosdb", None).unwrap();
    assert!(db.login_role("heliosdb").unwrap().unwrap().scram.is_none());

    let e = db.set_role_password("nosuch", Some("x")).unwrap_err();
    assert_eq!(e.sqlstate(), "42704");
}

#[test]
fn uncommitted_role_changes_are_invisible_to_login() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.execute("BEGIN", &[]).unwrap();
    s.execute("CREATE USER pending", &[]).unwrap();
    assert!(db.login_role("pending").unwrap().is_none());
    assert_eq!(db.connect_as("pending").err().unwrap().sqlstate(), "28000");
    s.execute("COMMIT", &[]).unwrap();
    assert!(db.login_role("pending").unwrap().is_some());
    db.connect_as("pending").unwrap();
}

#[test]
fn connection_limit_counts_open_sessions() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run("CREATE USER limited CONNECTION LIMIT 2; CREATE USER none_allowed CONNECTION LIMIT 0; CREATE USER boss SUPERUSER CONNECTION LIMIT 0")
        .unwrap();
    let a = db.connect_as("limited").unwrap();
    let b = db.connect_as("limited").unwrap();
    let e = db.connect_as("limited").err().unwrap();
    assert_eq!(e.sqlstate(), "53300");
    assert_eq!(e.to_string(), "too many connections for role \"limited\"");
    drop(a);
    let _c = db.connect_as("limited").unwrap();
    drop(b);
    assert_eq!(
        db.connect_as("none_allowed").err().unwrap().sqlstate(),
        "53300"
    );
    // Superusers are exempt.
    db.connect_as("boss").unwrap();
}

#[test]
fn roles_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    {
        let db = Database::open(&path).unwrap();
        let mut s = db.connect();
        s.run("CREATE USER carol PASSWORD 'pw'; CREATE ROLE team; GRANT team TO carol")
            .unwrap();
        // A session cannot rename its own session user; act as another superuser.
        s.run("CREATE ROLE other SUPERUSER; SET SESSION AUTHORIZATION other; ALTER ROLE heliosdb RENAME TO admin")
            .unwrap();
    }
    let db = Database::open(&path).unwrap();
    // The bootstrap superuser keeps its id, so connect() follows the rename.
    let mut s = db.connect();
    assert_eq!(s.current_user().unwrap(), "admin");
    assert!(db.login_role("heliosdb").unwrap().is_none());
    let carol = db.login_role("carol").unwrap().unwrap();
    assert!(carol.scram.unwrap().verify_password("pw"));
    let mut c = db.connect_as("carol").unwrap();
    c.execute("SET ROLE team", &[]).unwrap();
    assert_eq!(c.current_user().unwrap(), "team");
}

#[test]
fn a_database_without_roles_gets_the_superuser_on_open() {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let db = Database::with_engine(engine.clone(), None).unwrap();
    db.connect()
        .execute("CREATE TABLE t (id int PRIMARY KEY)", &[])
        .unwrap();
    drop(db);
    // Remove every role, as in a data directory written before roles existed.
    let txns = TxnManager::new(engine.clone()).unwrap();
    let mut txn = txns.begin(IsolationLevel::ReadCommitted).unwrap();
    let cat = catalog::Catalog::load(&txn, catalog::BOOTSTRAP_DATABASE).unwrap();
    for id in cat.roles.keys() {
        txn.delete(keys::catalog_key(catalog::KIND_ROLE, *id));
    }
    catalog::bump_version(&mut txn);
    txn.commit().unwrap();
    drop(txns);

    let db = Database::with_engine(engine, None).unwrap();
    let boot = db.login_role("heliosdb").unwrap().expect("recreated");
    assert!(boot.superuser);
    let mut s = db.connect();
    assert_eq!(one(&mut s, "SELECT session_user"), "heliosdb");
    s.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
}

#[test]
fn concurrent_grants_cannot_make_a_cycle() {
    let db = Database::open_in_memory().unwrap();
    db.connect().run("CREATE ROLE a; CREATE ROLE b").unwrap();
    let mut s1 = db.connect();
    let mut s2 = db.connect();
    s1.execute("BEGIN", &[]).unwrap();
    s1.execute("GRANT a TO b", &[]).unwrap();
    // s2 waits for s1's roles lock, then sees its grant and refuses the loop.
    let t = std::thread::spawn(move || s2.execute("GRANT b TO a", &[]).map(|_| ()));
    std::thread::sleep(std::time::Duration::from_millis(100));
    s1.execute("COMMIT", &[]).unwrap();
    let e = t.join().unwrap().unwrap_err();
    assert_eq!(e.sqlstate(), "0LP01");
    assert_eq!(e.to_string(), "role \"b\" is a member of role \"a\"");
}

#[test]
fn bootstrap_superuser_keeps_superuser() {
    let db = Database::open_in_memory().unwrap();
    let mut s = db.connect();
    s.run("CREATE ROLE other SUPERUSER; SET SESSION AUTHORIZATION other")
        .unwrap();
    let e = s
        .execute("ALTER ROLE heliosdb NOSUPERUSER", &[])
        .unwrap_err();
    assert_eq!(e.sqlstate(), "42501");
    assert_eq!(
        e.detail.as_deref(),
        Some("The bootstrap user must have the SUPERUSER attribute.")
    );
}
