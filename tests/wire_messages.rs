//! What the server sends besides results, checked message by message over
//! a raw socket (so the order is visible: NoticeResponse before
//! CommandComplete, ParameterStatus before ReadyForQuery) and with
//! tokio-postgres the way applications receive notices; and when replies
//! of the extended protocol are written (at Sync or Flush, as PostgreSQL).

use futures::StreamExt;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

mod common;

use common::Server;

/// A minimal protocol-3 client: frames out, (type, body) messages in.
struct Raw {
    socket: TcpStream,
}

/// One backend message: its type byte and body.
struct Msg {
    kind: u8,
    body: Vec<u8>,
}

impl Msg {
    /// The body's NUL-terminated strings (ParameterStatus, CommandComplete).
    fn strings(&self) -> Vec<String> {
        self.body
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    /// The fields of an ErrorResponse / NoticeResponse, by field code.
    fn fields(&self) -> HashMap<char, String> {
        self.body
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| (s[0] as char, String::from_utf8_lossy(&s[1..]).into_owned()))
            .collect()
    }
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

impl Raw {
    /// Connects and runs the startup with these parameters (user and
    /// database added); returns the messages up to the first ReadyForQuery.
    fn connect(port: u16, params: &[(&str, &str)]) -> (Raw, Vec<Msg>) {
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut raw = Raw { socket };
        let mut body = 196608i32.to_be_bytes().to_vec();
        for (k, v) in [("user", "heliosdb"), ("database", "heliosdb")]
            .iter()
            .chain(params)
        {
            cstr(&mut body, k);
            cstr(&mut body, v);
        }
        body.push(0);
        let mut frame = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        frame.extend(body);
        raw.socket.write_all(&frame).unwrap();
        let msgs = raw.until_ready();
        (raw, msgs)
    }

    fn send(&mut self, kind: u8, body: &[u8]) {
        let mut frame = vec![kind];
        frame.extend(((body.len() + 4) as i32).to_be_bytes());
        frame.extend(body);
        self.socket.write_all(&frame).unwrap();
    }

    fn read(&mut self) -> Msg {
        let mut head = [0u8; 5];
        self.socket.read_exact(&mut head).unwrap();
        let len = i32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - 4];
        self.socket.read_exact(&mut body).unwrap();
        Msg {
            kind: head[0],
            body,
        }
    }

    fn until_ready(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            let m = self.read();
            let done = m.kind == b'Z';
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// A simple-protocol Query; the messages up to ReadyForQuery.
    fn query(&mut self, sql: &str) -> Vec<Msg> {
        let mut body = Vec::new();
        cstr(&mut body, sql);
        self.send(b'Q', &body);
        self.until_ready()
    }

    /// Parse, Bind, Execute and Sync of an unnamed statement without
    /// parameters; the messages up to ReadyForQuery.
    fn extended(&mut self, sql: &str) -> Vec<Msg> {
        let mut parse = vec![0];
        cstr(&mut parse, sql);
        parse.extend(0i16.to_be_bytes());
        self.send(b'P', &parse);
        let mut bind = vec![0, 0];
        bind.extend(0i16.to_be_bytes());
        bind.extend(0i16.to_be_bytes());
        bind.extend(0i16.to_be_bytes());
        self.send(b'B', &bind);
        let mut execute = vec![0];
        execute.extend(0i32.to_be_bytes());
        self.send(b'E', &execute);
        self.send(b'S', &[]);
        self.until_ready()
    }
}

fn kinds(msgs: &[Msg]) -> String {
    msgs.iter().map(|m| m.kind as char).collect()
}

/// ParameterStatus messages as (name, value).
fn statuses(msgs: &[Msg]) -> Vec<(String, String)> {
    msgs.iter()
        .filter(|m| m.kind == b'S')
        .map(|m| {
            let s = m.strings();
            (s[0].clone(), s.get(1).cloned().unwrap_or_default())
        })
        .collect()
}

#[test]
fn startup_reports_parameters_and_the_session_pid() {
    let server = Server::start(&[]);
    let (mut c, startup) = Raw::connect(
        server.port,
        &[
            ("application_name", "wire-test"),
            ("DateStyle", "ISO"),
            // A time zone the engine lacks is ignored, not fatal.
            ("TimeZone", "Europe/Paris"),
            (
                "options",
                "-c search_path=app,public --extra-float-digits=2",
            ),
        ],
    );
    let params: HashMap<String, String> = statuses(&startup).into_iter().collect();
    for (name, value) in [
        ("application_name", "wire-test"),
        ("is_superuser", "on"),
        ("session_authorization", "heliosdb"),
        ("IntervalStyle", "postgres"),
        ("DateStyle", "ISO, MDY"),
        ("TimeZone", "UTC"),
        ("client_encoding", "UTF8"),
        ("server_encoding", "UTF8"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
    ] {
        assert_eq!(params.get(name).map(String::as_str), Some(value), "{name}");
    }
    assert!(params["server_version"].starts_with("16."));
    let key = startup
        .iter()
        .find(|m| m.kind == b'K')
        .expect("BackendKeyData");
    let pid = i32::from_be_bytes(key.body[0..4].try_into().unwrap());

    // pg_backend_pid() is the BackendKeyData pid; startup options are settings.
    let rows = c.query(
        "SELECT pg_backend_pid()::text, current_setting('search_path'), \
         current_setting('extra_float_digits'), inet_server_port()::text",
    );
    let row = rows.iter().find(|m| m.kind == b'D').expect("a row");
    let text = String::from_utf8_lossy(&row.body);
    assert!(text.contains(&pid.to_string()), "{text} vs {pid}");
    assert!(text.contains("app,public"), "{text}");
    assert!(text.contains(&server.port.to_string()), "{text}");

    // Another connection has another pid; the settings are a RESET away.
    let (_, other) = Raw::connect(server.port, &[]);
    let other_key = other.iter().find(|m| m.kind == b'K').unwrap();
    assert_ne!(&other_key.body[0..4], &key.body[0..4]);
    let rows = c.query("RESET ALL; SHOW search_path");
    let row = rows.iter().find(|m| m.kind == b'D').unwrap();
    assert!(String::from_utf8_lossy(&row.body).contains("app,public"));
}

#[test]
fn parameter_status_follows_changes_before_ready_for_query() {
    let server = Server::start(&[]);
    let (mut c, _) = Raw::connect(server.port, &[]);

    // SET of a reported parameter: CommandComplete, ParameterStatus, ReadyForQuery.
    let msgs = c.query("SET application_name = 'batch'");
    assert_eq!(kinds(&msgs), "CSZ");
    assert_eq!(
        statuses(&msgs),
        vec![("application_name".into(), "batch".into())]
    );
    // Unreported parameters and unchanged values send nothing.
    assert_eq!(kinds(&c.query("SET statement_timeout = '1s'")), "CZ");
    assert_eq!(kinds(&c.query("SET application_name = 'batch'")), "CZ");

    // SET ROLE to a role that is not a superuser changes is_superuser.
    c.query("CREATE ROLE worker");
    let msgs = c.query("SET ROLE worker");
    assert_eq!(statuses(&msgs), vec![("is_superuser".into(), "off".into())]);
    let msgs = c.query("RESET ROLE");
    assert_eq!(statuses(&msgs), vec![("is_superuser".into(), "on".into())]);
    let msgs = c.query("SET SESSION AUTHORIZATION worker");
    let mut s = statuses(&msgs);
    s.sort();
    assert_eq!(
        s,
        vec![
            ("is_superuser".into(), "off".into()),
            ("session_authorization".into(), "worker".into())
        ]
    );
    c.query("SET SESSION AUTHORIZATION DEFAULT");

    // A rollback that undoes the SET reports the value back.
    c.query("BEGIN");
    assert_eq!(
        statuses(&c.query("SET application_name = 'inside'")),
        vec![("application_name".into(), "inside".into())]
    );
    let msgs = c.query("ROLLBACK");
    assert_eq!(kinds(&msgs), "CSZ");
    assert_eq!(
        statuses(&msgs),
        vec![("application_name".into(), "batch".into())]
    );
    // SET LOCAL is reported, and its end too.
    c.query("BEGIN");
    c.query("SET LOCAL application_name = 'local'");
    let msgs = c.query("COMMIT");
    assert_eq!(
        statuses(&msgs),
        vec![("application_name".into(), "batch".into())]
    );
    // set_config too.
    let msgs = c.query("SELECT set_config('application_name', 'fn', false)");
    assert_eq!(kinds(&msgs), "TDCSZ");

    // Extended protocol: ParameterStatus comes with the Sync's ReadyForQuery.
    let msgs = c.extended("SET application_name = 'extended'");
    assert_eq!(kinds(&msgs), "12CSZ");
    assert_eq!(
        statuses(&msgs),
        vec![("application_name".into(), "extended".into())]
    );
}

#[test]
fn notices_precede_command_complete_in_both_protocols() {
    let server = Server::start(&[]);
    let (mut c, _) = Raw::connect(server.port, &[]);

    let msgs = c.query("DROP TABLE IF EXISTS nope; COMMIT");
    assert_eq!(kinds(&msgs), "NCNCZ");
    let notice = msgs[0].fields();
    assert_eq!(notice[&'S'], "NOTICE");
    assert_eq!(notice[&'V'], "NOTICE");
    assert_eq!(notice[&'C'], "00000");
    assert_eq!(notice[&'M'], "table \"nope\" does not exist, skipping");
    let warning = msgs[2].fields();
    assert_eq!(
        (warning[&'S'].as_str(), warning[&'C'].as_str()),
        ("WARNING", "25P01")
    );

    // With a DETAIL; and a notice of a statement that then fails comes before its error.
    c.query("CREATE TABLE t (id int); CREATE VIEW v AS SELECT * FROM t; CREATE VIEW w AS SELECT * FROM v");
    let msgs = c.query("DROP TABLE IF EXISTS gone, v");
    assert_eq!(kinds(&msgs), "NEZ");
    let msgs = c.query("DROP TABLE t CASCADE");
    let n = msgs[0].fields();
    assert_eq!(n[&'M'], "drop cascades to 2 other objects");
    assert_eq!(n[&'D'], "drop cascades to view v\ndrop cascades to view w");

    let msgs = c.extended("DROP SEQUENCE IF EXISTS nope");
    assert_eq!(kinds(&msgs), "12NCZ");
    let msgs = c.extended("BEGIN");
    assert_eq!(kinds(&msgs), "12CZ");
    let msgs = c.extended("BEGIN");
    assert_eq!(kinds(&msgs), "12NCZ");
    assert_eq!(msgs[2].fields()[&'C'], "25001");
    c.extended("ROLLBACK");

    // client_min_messages = warning keeps notices back but not warnings.
    c.query("SET client_min_messages = warning");
    assert_eq!(kinds(&c.query("DROP TABLE IF EXISTS nope")), "CZ");
    assert_eq!(kinds(&c.query("COMMIT")), "NCZ");
}

/// A client whose connection forwards every notice it receives to the
/// returned channel.
async fn connect_with_notices(
    server: &Server,
) -> (
    tokio_postgres::Client,
    futures::channel::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
) {
    let (client, mut conn) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
    tokio::spawn(stream.for_each(move |m| {
        if let Ok(AsyncMessage::Notice(n)) = m {
            let _ = tx.unbounded_send(n);
        }
        futures::future::ready(())
    }));
    (client, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_receives_notices() {
    let server = Server::start(&[]);
    let (client, mut rx) = connect_with_notices(&server).await;

    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS t (id int); CREATE TABLE IF NOT EXISTS t (id int)",
        )
        .await
        .unwrap();
    let n = rx.next().await.unwrap();
    assert_eq!(n.severity(), "NOTICE");
    assert_eq!(n.code().code(), "42P07");
    assert_eq!(n.message(), "relation \"t\" already exists, skipping");

    // Extended protocol (a prepared statement) delivers them too.
    client
        .execute("DROP INDEX IF EXISTS nope", &[])
        .await
        .unwrap();
    let n = rx.next().await.unwrap();
    assert_eq!(n.message(), "index \"nope\" does not exist, skipping");
    client.execute("ROLLBACK", &[]).await.unwrap();
    let n = rx.next().await.unwrap();
    assert_eq!((n.severity(), n.code().code()), ("WARNING", "25P01"));
}

/// PL/pgSQL's RAISE reaches the client: a notice per row a query calls the
/// function for, in both protocols, filtered by client_min_messages; RAISE
/// EXCEPTION is the statement's error with its SQLSTATE, DETAIL and HINT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plpgsql_raise_reaches_tokio_postgres() {
    let server = Server::start(&[]);
    let (client, mut rx) = connect_with_notices(&server).await;

    client
        .batch_execute(
            "CREATE FUNCTION f_leak(text) RETURNS bool COST 0.0000001 LANGUAGE plpgsql
                 AS 'BEGIN RAISE NOTICE ''f_leak => %'', $1; RETURN true; END';
             CREATE FUNCTION warn(x int) RETURNS int LANGUAGE plpgsql AS $$
               BEGIN
                 RAISE WARNING 'x=%', x USING DETAIL = 'd', HINT = 'h';
                 IF x < 0 THEN RAISE EXCEPTION 'negative' USING ERRCODE = '22023', HINT = 'positive'; END IF;
                 RETURN x;
               END $$;
             CREATE TABLE t (id int PRIMARY KEY, b text);
             INSERT INTO t VALUES (1, 'one'), (2, 'two')",
        )
        .await
        .unwrap();
    let rows = client
        .query("SELECT id FROM t WHERE f_leak(b) ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for want in ["f_leak => one", "f_leak => two"] {
        let n = rx.next().await.unwrap();
        assert_eq!((n.severity(), n.code().code()), ("NOTICE", "00000"));
        assert_eq!(n.message(), want);
    }

    client.simple_query("SELECT warn(1)").await.unwrap();
    let n = rx.next().await.unwrap();
    assert_eq!((n.severity(), n.code().code()), ("WARNING", "01000"));
    assert_eq!(
        (n.message(), n.detail(), n.hint()),
        ("x=1", Some("d"), Some("h"))
    );

    let err = client.query("SELECT warn(-1)", &[]).await.unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!((db.code().code(), db.message()), ("22023", "negative"));
    assert_eq!(db.hint(), Some("positive"));
    // The warning raised before the error still arrived.
    assert_eq!(rx.next().await.unwrap().message(), "x=-1");

    // client_min_messages = warning keeps the notices back, not the warning.
    client
        .batch_execute("SET client_min_messages = warning; SELECT f_leak('quiet'); SELECT warn(2)")
        .await
        .unwrap();
    assert_eq!(rx.next().await.unwrap().message(), "x=2");
}

/// SHOW and EXPLAIN describe their result columns, so drivers can run them
/// as prepared statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_and_explain_over_the_extended_protocol() {
    let server = Server::start(&[]);
    let (client, conn) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap();
    assert_eq!(row.columns()[0].name(), "statement_timeout");
    assert_eq!(row.get::<_, String>(0), "0");
    let row = client.query_one("SHOW datestyle", &[]).await.unwrap();
    assert_eq!(row.columns()[0].name(), "DateStyle");
    let row = client
        .query_one("SHOW TRANSACTION ISOLATION LEVEL", &[])
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>("transaction_isolation"),
        "read committed"
    );
    let all = client.query("SHOW ALL", &[]).await.unwrap();
    let app = all
        .iter()
        .find(|r| r.get::<_, String>("name") == "application_name")
        .unwrap();
    assert_eq!(
        app.get::<_, String>("description"),
        "Sets the application name to be reported in statistics and logs."
    );
    let plan = client.query("EXPLAIN SELECT 1", &[]).await.unwrap();
    assert_eq!(plan[0].columns()[0].name(), "QUERY PLAN");
}

/// Replies of the extended protocol are buffered until Sync or Flush, as in
/// PostgreSQL: nothing is written for Parse, Bind and Execute alone; a Flush
/// writes what is pending; a Sync adds ReadyForQuery and writes the rest.
#[test]
fn extended_replies_are_written_at_flush_and_sync() {
    let server = Server::start(&[]);
    let (mut raw, _) = Raw::connect(server.port, &[]);
    // Parse and Describe of a named statement, then Flush.
    let mut parse = Vec::new();
    cstr(&mut parse, "s1");
    cstr(&mut parse, "SELECT $1::int + 1 AS n");
    parse.extend(0i16.to_be_bytes());
    raw.send(b'P', &parse);
    let mut describe = vec![b'S'];
    cstr(&mut describe, "s1");
    raw.send(b'D', &describe);
    raw.send(b'H', &[]);
    let flushed: Vec<Msg> = (0..3).map(|_| raw.read()).collect();
    assert_eq!(kinds(&flushed), "1tT");
    // Bind and Execute: no reply until Sync.
    let mut bind = vec![0];
    cstr(&mut bind, "s1");
    bind.extend(0i16.to_be_bytes());
    bind.extend(1i16.to_be_bytes());
    bind.extend(1i32.to_be_bytes());
    bind.extend(b"4");
    bind.extend(0i16.to_be_bytes());
    raw.send(b'B', &bind);
    let mut execute = vec![0];
    execute.extend(0i32.to_be_bytes());
    raw.send(b'E', &execute);
    raw.socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    match raw.socket.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("a reply was written before Sync: {other:?}"),
    }
    raw.socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    raw.send(b'S', &[]);
    let msgs = raw.until_ready();
    assert_eq!(kinds(&msgs), "2DCZ");
    assert_eq!(msgs[2].strings(), vec!["SELECT 1"]);
    // An error answers at once, and the rest up to Sync is skipped.
    let mut bad = vec![0];
    cstr(&mut bad, "nope");
    bad.extend(0i16.to_be_bytes());
    bad.extend(0i16.to_be_bytes());
    bad.extend(0i16.to_be_bytes());
    raw.send(b'B', &bad);
    raw.send(b'E', &execute);
    raw.send(b'S', &[]);
    let msgs = raw.until_ready();
    assert_eq!(kinds(&msgs), "EZ");
}

/// SQL `PREPARE` and the protocol's named statements share one namespace, as
/// in PostgreSQL: a taken name is 42P05 either way, `DEALLOCATE` drops a
/// protocol statement by name, and Close frees its name.
#[test]
fn sql_and_protocol_prepared_statements_share_names() {
    let server = Server::start(&[]);
    let (mut raw, _) = Raw::connect(server.port, &[]);
    let parse = |raw: &mut Raw, name: &str, sql: &str| {
        let mut body = Vec::new();
        cstr(&mut body, name);
        cstr(&mut body, sql);
        body.extend(0i16.to_be_bytes());
        raw.send(b'P', &body);
        raw.send(b'S', &[]);
        raw.until_ready()
    };
    let error_code = |msgs: &[Msg]| {
        msgs.iter()
            .find(|m| m.kind == b'E')
            .map(|m| m.fields()[&'C'].clone())
    };
    assert_eq!(error_code(&raw.query("PREPARE dup AS SELECT 1")), None);
    let msgs = parse(&mut raw, "dup", "SELECT 2");
    assert_eq!(
        error_code(&msgs).as_deref(),
        Some("42P05"),
        "{}",
        kinds(&msgs)
    );
    assert_eq!(kinds(&parse(&mut raw, "mine", "SELECT 3")), "1Z");
    let msgs = raw.query("PREPARE mine AS SELECT 4");
    assert_eq!(error_code(&msgs).as_deref(), Some("42P05"));
    assert_eq!(error_code(&raw.query("DEALLOCATE mine")), None);
    // The statement is gone: Bind finds nothing.
    let mut bind = vec![0];
    cstr(&mut bind, "mine");
    bind.extend(0i16.to_be_bytes());
    bind.extend(0i16.to_be_bytes());
    bind.extend(0i16.to_be_bytes());
    raw.send(b'B', &bind);
    raw.send(b'S', &[]);
    let msgs = raw.until_ready();
    assert_eq!(error_code(&msgs).as_deref(), Some("26000"));
    // Closed, a name is free again.
    assert_eq!(kinds(&parse(&mut raw, "closed", "SELECT 5")), "1Z");
    let mut close = vec![b'S'];
    cstr(&mut close, "closed");
    raw.send(b'C', &close);
    raw.send(b'S', &[]);
    assert_eq!(kinds(&raw.until_ready()), "3Z");
    assert_eq!(error_code(&raw.query("PREPARE closed AS SELECT 6")), None);
    assert_eq!(
        error_code(&raw.query("DEALLOCATE nope")).as_deref(),
        Some("26000")
    );
}
