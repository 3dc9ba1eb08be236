//! The `heliosdb` binary: version, `shell -c`, scripts on stdin, CSV output,
//! errors on stderr with SQLSTATE and exit status 1, data directory locking;
//! the shell's backslash commands (exact psql layouts for the `\d` family),
//! `\copy` round trips, `\i`/`-f`, and the remote mode against a real
//! `heliosdb serve` printing exactly what the embedded mode prints.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn heliosdb(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run heliosdb");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("wait for heliosdb")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version() {
    let out = heliosdb(&["--version"], None);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "HeliosDB Nano 3.2.0");
}

#[test]
fn command_and_aligned_output() {
    let out = heliosdb(
        &[
            "shell",
            "--memory",
            "-c",
            "SELECT 1 AS a, 'x' AS b; SELECT 2 AS n",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        " a | b \n---+---\n 1 | x\n(1 row)\n\n n \n---\n 2\n(1 row)\n\n"
    );
}

#[test]
fn returning_prints_rows_then_tag() {
    let out = heliosdb(
        &[
            "shell",
            "--memory",
            "-c",
            "CREATE TABLE t (id int); INSERT INTO t VALUES (7) RETURNING id",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "CREATE TABLE\n id \n----\n  7\n(1 row)\n\nINSERT 0 1\n"
    );
}

#[test]
fn csv_output() {
    let out = heliosdb(
        &[
            "shell",
            "--memory",
            "--csv",
            "-c",
            "SELECT 1 AS id, 'a,b' AS name, NULL AS nothing",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "id,name,nothing\n1,\"a,b\",\n");
}

#[test]
fn script_from_stdin_persists_and_stops_at_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let out = heliosdb(
        &["shell", "--data-dir", d],
        Some(
            "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1), (2);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (3);\n",
        ),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "CREATE TABLE\nINSERT 0 2\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("ERROR: duplicate key value violates unique constraint \"t_pkey\""),
        "{err}"
    );
    assert!(
        err.contains("DETAIL: Key (id)=(1) already exists."),
        "{err}"
    );
    assert!(err.contains("SQLSTATE: 23505"), "{err}");
    let out = heliosdb(
        &[
            "shell",
            "--data-dir",
            d,
            "--csv",
            "-c",
            "SELECT id FROM t ORDER BY id",
        ],
        None,
    );
    assert_eq!(text(&out.stdout), "id\n1\n2\n");
}

#[test]
fn locked_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _db = heliosdb_nano::Database::open(&data).unwrap();
    let out = heliosdb(
        &[
            "shell",
            "--data-dir",
            data.to_str().unwrap(),
            "-c",
            "SELECT 1",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("database is locked") && err.contains("SQLSTATE: 55006"),
        "{err}"
    );
}

mod common;

/// Runs `heliosdb shell ARGS` with `script` on stdin; returns (stdout, stderr, status).
fn shell(args: &[&str], script: &str) -> (String, String, Option<i32>) {
    let mut all = vec!["shell"];
    all.extend_from_slice(args);
    let out = heliosdb(&all, Some(script));
    (text(&out.stdout), text(&out.stderr), out.status.code())
}

const SCHEMA: &str = "\
CREATE TABLE t (id int PRIMARY KEY, name varchar(20) NOT NULL DEFAULT 'x', u int UNIQUE, CHECK (u > 0));
CREATE TABLE c (id serial PRIMARY KEY, tid int REFERENCES t(id));
CREATE INDEX ci ON c (tid);
CREATE VIEW v AS SELECT id, name FROM t;
";

const DT: &str = "        List of relations
 Schema | Name | Type  |  Owner   
--------+------+-------+----------
 public | c    | table | heliosdb
 public | t    | table | heliosdb
(2 rows)

";

const D_T: &str = "                        Table \"public.t\"
 Column |         Type          | Collation | Nullable | Default 
--------+-----------------------+-----------+----------+---------
 id     | integer               |           | not null | 
 name   | character varying(20) |           | not null | 'x'
 u      | integer               |           |          | 
Indexes:
    \"t_pkey\" PRIMARY KEY, btree (id)
    \"t_u_key\" UNIQUE CONSTRAINT, btree (u)
Check constraints:
    \"t_check\" CHECK (u > 0)
Referenced by:
    TABLE \"c\" CONSTRAINT \"c_tid_fkey\" FOREIGN KEY (tid) REFERENCES t(id)

";

const SCHEMA_TAGS: &str = "CREATE TABLE\nCREATE TABLE\nCREATE INDEX\nCREATE VIEW\n";

#[test]
fn describe_tables_and_views() {
    let (out, err, code) = shell(&["--memory"], &format!("{SCHEMA}\\dt\n\\d t\n"));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{SCHEMA_TAGS}{DT}{D_T}"));

    let (out, err, code) = shell(&["--memory"], &format!("{SCHEMA}\\d c\n\\d v\n"));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "{SCHEMA_TAGS}                           Table \"public.c\"
 Column |  Type   | Collation | Nullable |          Default           
--------+---------+-----------+----------+----------------------------
 id     | integer |           | not null | nextval('public.c_id_seq')
 tid    | integer |           |          | 
Indexes:
    \"c_pkey\" PRIMARY KEY, btree (id)
    \"ci\" btree (tid)
Foreign-key constraints:
    \"c_tid_fkey\" FOREIGN KEY (tid) REFERENCES t(id)

                         View \"public.v\"
 Column |         Type          | Collation | Nullable | Default 
--------+-----------------------+-----------+----------+---------
 id     | integer               |           |          | 
 name   | character varying(20) |           |          | 

"
        )
    );
}

#[test]
fn list_relations_indexes_sequences_schemas() {
    let script =
        format!("{SCHEMA}CREATE SCHEMA app;\n\\d\n\\di\n\\dv\n\\ds\n\\dn\n\\d ci\n\\d c_id_seq\n");
    let (out, err, code) = shell(&["--memory"], &script);
    assert_eq!(code, Some(0), "{err}");
    let expected = format!(
        "{SCHEMA_TAGS}CREATE SCHEMA
            List of relations
 Schema |   Name   |   Type   |  Owner   
--------+----------+----------+----------
 public | c        | table    | heliosdb
 public | c_id_seq | sequence | heliosdb
 public | t        | table    | heliosdb
 public | v        | view     | heliosdb
(4 rows)

              List of relations
 Schema |  Name   | Type  |  Owner   | Table 
--------+---------+-------+----------+-------
 public | c_pkey  | index | heliosdb | c
 public | ci      | index | heliosdb | c
 public | t_pkey  | index | heliosdb | t
 public | t_u_key | index | heliosdb | t
(4 rows)

        List of relations
 Schema | Name | Type |  Owner   
--------+------+------+----------
 public | v    | view | heliosdb
(1 row)

            List of relations
 Schema |   Name   |   Type   |  Owner   
--------+----------+----------+----------
 public | c_id_seq | sequence | heliosdb
(1 row)

  List of schemas
  Name  |  Owner   
--------+----------
 app    | heliosdb
 public | heliosdb
(2 rows)

          Index \"public.ci\"
 Column |  Type   | Key? | Definition 
--------+---------+------+------------
 tid    | integer | yes  | tid
btree, for table \"public.c\"

                     Sequence \"public.c_id_seq\"
  Type  | Start | Minimum |  Maximum   | Increment | Cycles? | Cache 
--------+-------+---------+------------+-----------+---------+-------
 bigint |     1 |       1 | 2147483647 |         1 | no      |     1

"
    );
    assert_eq!(out, expected);
}

#[test]
fn describe_patterns_and_missing_relations() {
    let script = format!("{SCHEMA}\\dt t*\n\\dt nosuch\n\\d public.v\n");
    let (out, err, code) = shell(&["--memory"], &script);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(" public | t    | table | heliosdb\n(1 row)\n"),
        "{out}"
    );
    assert!(out.contains("View \"public.v\""), "{out}");
    // Like psql: an empty listing is a message, not an error ...
    assert_eq!(err, "Did not find any relation named \"nosuch\".\n");
    // ... but describing a missing relation is, and stops the script.
    let (out, err, code) = shell(&["--memory"], "\\d nosuch\nSELECT 1;\n");
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert_eq!(err, "Did not find any relation named \"nosuch\".\n");
}

#[test]
fn roles_databases_conninfo_and_help() {
    let (out, err, code) = shell(&["--memory", "-c", "\\du"], "");
    assert_eq!(code, Some(0), "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next().map(str::trim), Some("List of roles"));
    assert!(lines.next().unwrap().starts_with(" Role name |"), "{out}");
    assert!(
        out.contains("\n heliosdb  | Superuser, Create role, Create DB"),
        "{out}"
    );

    let (out, _, code) = shell(&["--memory", "-c", "\\l"], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("List of databases"), "{out}");
    assert!(out.contains("\n heliosdb | heliosdb | UTF8"), "{out}");
    assert!(out.ends_with("(1 row)\n\n"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let (out, _, _) = shell(&["--data-dir", d.to_str().unwrap(), "-c", "\\conninfo"], "");
    assert_eq!(
        out,
        format!(
            "You are connected to database \"heliosdb\" as user \"heliosdb\" in the data directory \"{}\".\n",
            d.display()
        )
    );

    let (out, _, code) = shell(&["--memory", "-c", "\\?"], "");
    assert_eq!(code, Some(0));
    for cmd in [
        "\\q", "\\timing", "\\x", "\\d NAME", "\\dt", "\\du", "\\copy", "\\i FILE",
    ] {
        assert!(out.contains(cmd), "{cmd} missing from help:\n{out}");
    }
}

#[test]
fn timing_and_expanded_output() {
    let (out, err, code) = shell(
        &["--memory"],
        "\\timing on\nSELECT 1 AS a;\n\\timing off\nSELECT 2 AS b;\n\\x\nSELECT 1 AS id, 'x' AS name;\n\\x off\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..5],
        ["Timing is on.", " a ", "---", " 1", "(1 row)"]
    );
    assert_eq!(lines[5], "");
    let time = lines[6];
    assert!(
        time.starts_with("Time: ") && time.ends_with(" ms"),
        "{time}"
    );
    let ms: f64 = time["Time: ".len()..time.len() - 3].parse().unwrap();
    assert!(ms >= 0.0);
    assert_eq!(
        lines[7..].join("\n"),
        "Timing is off.\n b \n---\n 2\n(1 row)\n\nExpanded display is on.\n-[ RECORD 1 ]\nid   | 1\nname | x\n\nExpanded display is off."
    );
    // Only one timing line: \timing off took effect.
    assert_eq!(out.matches("Time: ").count(), 1);
}

#[test]
fn multi_line_statements_quotes_and_comments() {
    let script = "SELECT 1 AS a, -- a comment; not the end\n  'x;y' AS b,\n  $tag$ ; $$ $tag$ AS c /* ; */\n;\nSELECT 2 AS z";
    let (out, err, code) = shell(&["--memory"], script);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        " a |  b  |   c    \n---+-----+--------\n 1 | x;y |  ; $$ \n(1 row)\n\n z \n---\n 2\n(1 row)\n\n"
    );
}

#[test]
fn invalid_meta_command_stops_the_script() {
    let (out, err, code) = shell(&["--memory"], "SELECT 1 AS a;\n\\foo bar\nSELECT 2 AS b;\n");
    assert_eq!(code, Some(1));
    assert_eq!(out, " a \n---\n 1\n(1 row)\n\n");
    assert_eq!(err, "invalid command \\foo. Try \\? for help.\n");
}

#[test]
fn copy_round_trip_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.csv");
    let f = file.to_str().unwrap();
    let script = format!(
        "CREATE TABLE t (id int, name text, n numeric);\n\
         INSERT INTO t VALUES (1, 'a,b', 1.5), (2, 'multi\nline', NULL), (3, '', 0);\n\
         \\copy t TO '{f}' WITH (FORMAT csv, HEADER)\n\
         CREATE TABLE u (id int, name text, n numeric);\n\
         \\copy u FROM '{f}' csv header\n\
         SELECT count(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM u) d;\n\
         \\copy (SELECT id, name FROM u WHERE id < 3 ORDER BY id) TO stdout\n"
    );
    let (out, err, code) = shell(&["--memory"], &script);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "id,name,n\n1,\"a,b\",1.5\n2,\"multi\nline\",\n3,\"\",0\n"
    );
    assert_eq!(
        out,
        "CREATE TABLE\nINSERT 0 3\nCOPY 3\nCREATE TABLE\nCOPY 3\n count \n-------\n     0\n(1 row)\n\n1\ta,b\n2\tmulti\\nline\n"
    );
    // A bad row stops the copy with its SQLSTATE and line.
    std::fs::write(&file, "1,x\nnope,y\n").unwrap();
    let (_, err, code) = shell(
        &["--memory"],
        &format!("CREATE TABLE v (id int, s text);\n\\copy v FROM '{f}' csv\n"),
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("ERROR: invalid input syntax for type integer: \"nope\""),
        "{err}"
    );
    assert!(err.contains("SQLSTATE: 22P02"), "{err}");
}

#[test]
fn copy_from_stdin_inside_a_script() {
    let (out, err, code) = shell(
        &["--memory"],
        "CREATE TABLE t (id int, s text);\nCOPY t FROM STDIN;\n1\tone\n2\t\\N\n\\.\nSELECT * FROM t ORDER BY id;\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "CREATE TABLE\nCOPY 2\n id |  s  \n----+-----\n  1 | one\n  2 | \n(2 rows)\n\n"
    );
}

#[test]
fn include_files_and_file_option() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner.sql");
    std::fs::write(
        &inner,
        "INSERT INTO t VALUES (2);\nSELECT count(*) AS n FROM t;\n",
    )
    .unwrap();
    let outer = dir.path().join("outer.sql");
    std::fs::write(
        &outer,
        format!(
            "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n\\i {}\nSELECT 'after' AS s;\n",
            inner.display()
        ),
    )
    .unwrap();
    let (out, err, code) = shell(&["--memory", "-f", outer.to_str().unwrap()], "");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "CREATE TABLE\nINSERT 0 1\nINSERT 0 1\n n \n---\n 2\n(1 row)\n\n   s   \n-------\n after\n(1 row)\n\n"
    );
    // An error inside an included file stops the including script too.
    std::fs::write(&inner, "SELECT * FROM missing;\n").unwrap();
    let (out, err, code) = shell(&["--memory", "-f", outer.to_str().unwrap()], "");
    assert_eq!(code, Some(1));
    assert_eq!(out, "CREATE TABLE\nINSERT 0 1\n");
    assert!(err.contains("SQLSTATE: 42P01"), "{err}");
    // A missing file is an error.
    let (_, err, code) = shell(&["--memory", "-c", "\\i /nonexistent/x.sql"], "");
    assert_eq!(code, Some(1));
    assert!(err.starts_with("/nonexistent/x.sql: "), "{err}");
}

/// The same script gives the same output embedded and over the wire.
#[test]
fn remote_shell_matches_embedded() {
    let server = common::Server::start(&[]);
    let url = format!("postgres://heliosdb@127.0.0.1:{}/heliosdb", server.port);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.csv");
    let script = format!(
        "{SCHEMA}INSERT INTO t VALUES (1, 'a', 10), (2, 'multi\nline', NULL) RETURNING id, u;\n\
         SELECT id, name, u * 1.5 AS x FROM t ORDER BY id;\n\
         \\dt\n\\d t\n\
         \\copy t TO '{f}' csv\n\
         CREATE TABLE t2 (id int, name text, u int);\n\
         \\copy t2 FROM '{f}' csv\n\
         COPY t2 FROM STDIN;\n3\tthree\t30\n\\.\n\
         SELECT count(*) FROM t2;\n\
         \\x on\nSELECT * FROM t2 WHERE id = 3;\n",
        f = file.display()
    );
    let (embedded, err, code) = shell(&["--memory"], &script);
    assert_eq!(code, Some(0), "{err}");
    let (remote, err, code) = shell(&[&url], &script);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(remote, embedded);
    assert!(remote.contains(DT) && remote.contains(D_T), "{remote}");
    assert!(remote.contains("\n  1 | a     | 15.0\n"), "{remote}");

    // Errors keep their SQLSTATE and stop the script; --url and -c work too.
    let (out, err, code) = shell(&["--url", &url, "-c", "SELECT 1/0; SELECT 2"], "");
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert_eq!(err, "ERROR: division by zero\nSQLSTATE: 22012\n");

    let (out, _, code) = shell(&[&url, "-c", "\\conninfo"], "");
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        format!(
            "You are connected to database \"heliosdb\" as user \"heliosdb\" on host \"127.0.0.1\" at port \"{}\".\n",
            server.port
        )
    );
}

#[test]
fn remote_connection_failure_exits_2() {
    let port = common::free_port();
    let url = format!("postgres://heliosdb@127.0.0.1:{port}/heliosdb");
    let (out, err, code) = shell(&[&url, "-c", "SELECT 1"], "");
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
    assert!(
        err.starts_with(&format!(
            "heliosdb shell: error: connection to server at \"127.0.0.1\", port {port} failed: "
        )),
        "{err}"
    );
    let (_, err, code) = shell(&["postgres://h/?sslmode=require", "-c", "SELECT 1"], "");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("sslmode \"require\" is not supported"),
        "{err}"
    );
}

#[test]
fn remote_password_authentication() {
    let server = common::Server::start_with(tempfile::tempdir().unwrap(), &[], Some("s3cret"));
    let url = |pw: &str| {
        format!(
            "postgres://heliosdb:{pw}@127.0.0.1:{}/heliosdb",
            server.port
        )
    };
    let (out, err, code) = shell(&[&url("s3cret"), "-c", "SELECT current_user AS u"], "");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "    u     \n----------\n heliosdb\n(1 row)\n\n");
    let (_, err, code) = shell(&[&url("wrong"), "-c", "SELECT 1"], "");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("password authentication failed for user \"heliosdb\""),
        "{err}"
    );
}
