//! `heliosdb migrate`: starting a migration and following it to the end
//! on a data directory and on a server, the final line and exit status,
//! errors on stderr with exit status 1, `--no-wait` then `--follow`,
//! `--pause` and `--rollback`, and Ctrl-C (SIGINT) that stops following but
//! not the migration.

mod common;

use common::Server;
use heliosdb_nano::Database;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A finished command: exit code, stdout, stderr.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn heliosdb(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn migrate(base: &[&str], args: &[&str]) -> Run {
    let all: Vec<&str> = ["migrate"]
        .iter()
        .chain(base)
        .chain(args)
        .copied()
        .collect();
    heliosdb(&all)
}

const SCHEMA: &str = "
    SELECT helios.create_tenant('acme');
    SELECT helios.create_tenant('globex');
    CREATE TABLE orders (tenant_id uuid, id int, amount int, PRIMARY KEY (tenant_id, id));
    SELECT helios.enable_tenancy('orders');
";

fn fill_sql(tenant: &str, rows: u32) -> String {
    format!(
        "SET helios.tenant = '{tenant}';
         INSERT INTO orders (id, amount) SELECT g, g * 10 FROM generate_series(1, {rows}) g;
         RESET helios.tenant;"
    )
}

/// A data directory with `acme` (`rows` orders) and `globex` (3 orders).
fn data_dir(rows: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let mut s = db.connect();
    s.run(SCHEMA).unwrap();
    s.run(&fill_sql("acme", rows)).unwrap();
    s.run(&fill_sql("globex", 3)).unwrap();
    drop(s);
    db.sync().unwrap();
    dir
}

/// Rows and the sum of `amount` per tenant name, by name.
fn per_tenant(dir: &Path) -> Vec<(String, i64, i64)> {
    let db = Database::open(dir).unwrap();
    let mut s = db.connect();
    s.query(
        "SELECT t.name, count(*), sum(o.amount) FROM orders o \
         JOIN helios.tenants t ON t.id = o.tenant_id GROUP BY t.name ORDER BY t.name",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String>(0).unwrap(),
            r.get::<i64>(1).unwrap(),
            r.get::<i64>(2).unwrap(),
        )
    })
    .collect()
}

/// `state, rows_copied, cutover` of migration `id` in a data directory.
fn embedded_state(dir: &Path, id: i64) -> (String, i64, bool) {
    let db = Database::open(dir).unwrap();
    let mut s = db.connect();
    let rows = s
        .query(
            "SELECT state, rows_copied, cutover FROM helios.migrations WHERE id = $1",
            &[&id],
        )
        .unwrap();
    let r = rows.get(0).unwrap();
    (
        r.get::<String>(0).unwrap(),
        r.get::<i64>(1).unwrap(),
        r.get::<bool>(2).unwrap(),
    )
}

fn assert_plain(stderr: &str) {
    assert!(!stderr.contains('\u{1b}'), "ANSI on a pipe: {stderr:?}");
}

#[test]
fn a_data_directory_is_migrated_with_cutover() {
    let dir = data_dir(1000);
    let d = dir.path().display().to_string();
    let r = migrate(
        &["--data-dir", &d],
        &["--source", "acme", "--target", "acme_eu", "--cutover"],
    );
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(
        r.stdout,
        "migration 1 completed: 1000 rows copied, 0 changes applied, checksums match (1 table); \
         cut over: \"acme\" names the copy, the old source is \"acme_premigration_1\"\n"
    );
    // Plain progress lines on stderr: the start, then at least one state.
    assert_plain(&r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines[0], "migration 1 started", "{}", r.stderr);
    assert!(lines.len() >= 2, "{}", r.stderr);
    for l in &lines[1..] {
        assert!(
            [
                "migration 1 pending",
                "migration 1 snapshotting, ",
                "migration 1 replicating, ",
                "migration 1 verifying checksums"
            ]
            .iter()
            .any(|p| l.starts_with(p)),
            "{l}"
        );
    }
    // The name "acme" is the copy now; the source keeps its rows under its
    // retired name; globex is untouched.
    assert_eq!(
        per_tenant(dir.path()),
        vec![
            ("acme".to_string(), 1000, 5_005_000),
            ("acme_premigration_1".to_string(), 1000, 5_005_000),
            ("globex".to_string(), 3, 60),
        ]
    );
    assert_eq!(
        embedded_state(dir.path(), 1),
        ("completed".to_string(), 1000, true)
    );
    // Following a finished migration prints its final line at once.
    let again = migrate(&["--data-dir", &d], &["--follow", "1"]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.stdout, r.stdout);
    assert_eq!(again.stderr, "");
}

#[test]
fn errors_are_reported_with_exit_status_1() {
    let dir = data_dir(5);
    let d = dir.path().display().to_string();
    let base = ["--data-dir", d.as_str()];
    // The target has rows.
    let r = migrate(&base, &["--source", "acme", "--target", "globex"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "heliosdb: ERROR: target tenant \"globex\" is not empty\nSQLSTATE: 55000\n"
    );
    // An unknown source, an unknown migration.
    let r = migrate(&base, &["--source", "initech", "--target", "x"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("heliosdb: ERROR: "), "{}", r.stderr);
    assert!(r.stderr.contains("initech"), "{}", r.stderr);
    for action in ["--follow", "--pause", "--resume", "--rollback"] {
        let r = migrate(&base, &[action, "42"]);
        assert_eq!(r.code, Some(1), "{action}");
        assert_eq!(
            r.stderr, "heliosdb: ERROR: migration 42 does not exist\nSQLSTATE: 42704\n",
            "{action}"
        );
    }
    // A missing data directory is not created.
    let missing = dir.path().join("nope");
    let r = migrate(
        &["--data-dir", &missing.display().to_string()],
        &["--follow", "1"],
    );
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("is not a HeliosDB data directory"));
    assert!(r.stderr.ends_with("SQLSTATE: 58P01\n"), "{}", r.stderr);
    assert!(!missing.exists());
    // A server that is not there.
    let r = migrate(
        &[&format!(
            "host=127.0.0.1 port={} user=heliosdb connect_timeout=5",
            common::free_port()
        )],
        &["--follow", "1"],
    );
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("heliosdb: ERROR: "), "{}", r.stderr);
    assert!(r.stderr.contains("SQLSTATE: 08"), "{}", r.stderr);
    // Command-line mistakes are clap's (exit status 2).
    for bad in [
        &["--data-dir", d.as_str()][..],
        &["--data-dir", d.as_str(), "--source", "acme"],
        &["--data-dir", d.as_str(), "--follow", "0"],
        &["--data-dir", d.as_str(), "--follow", "x"],
        &["--data-dir", d.as_str(), "--follow", "1", "--pause", "1"],
        &["--data-dir", d.as_str(), "--pause", "1", "--no-wait"],
        &["--source", "acme", "--target", "b"],
    ] {
        let r = migrate(bad, &[]);
        assert_eq!(r.code, Some(2), "{bad:?}: {}", r.stderr);
    }
    // Nothing was started by any of it.
    let db = Database::open(dir.path()).unwrap();
    let mut s = db.connect();
    let n: i64 = s
        .query("SELECT count(*) FROM helios.migrations", &[])
        .unwrap()
        .get(0)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(n, 0);
}

/// Reads `child`'s stderr in a thread; its lines arrive on the channel.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line starting with `prefix`; the lines read until then.
fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.starts_with(prefix);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("no line starting with {prefix:?}; got {seen:?}"),
        }
    }
}

fn interrupt(child: &std::process::Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The rest of a child's stderr after its lines so far, and its exit code.
fn finish(
    mut child: std::process::Child,
    rx: std::sync::mpsc::Receiver<String>,
) -> (Option<i32>, String, String) {
    let status = child.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let rest: Vec<String> = rx.iter().collect();
    (status.code(), out, rest.join("\n"))
}

#[cfg(unix)]
#[test]
fn ctrl_c_on_a_data_directory_leaves_the_migration_for_the_next_open() {
    let dir = data_dir(60_000);
    let d = dir.path().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(["migrate", "--data-dir", &d])
        .args(["--source", "acme", "--target", "acme_eu"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stderr_lines(&mut child);
    // The first progress line (following has begun).
    wait_for_line(&rx, "migration 1 pending");
    interrupt(&child);
    let (code, out, rest) = finish(child, rx);
    assert_eq!(code, Some(0), "{rest}");
    assert_eq!(out, "");
    assert!(
        rest.contains("Stopped following migration 1 (")
            && rest.contains("It runs only while the data directory is open, so it pauses now")
            && rest.contains(&format!(
                "Follow it again with: heliosdb migrate --data-dir {d} --follow 1"
            )),
        "{rest}"
    );
    // Not over: still running (as far as the record says) while closed.
    let (state, _, _) = embedded_state(dir.path(), 1);
    assert!(
        ["pending", "snapshotting", "replicating", "verifying"].contains(&state.as_str()),
        "{state}"
    );
    // Opening the directory again goes on to the end.
    let r = migrate(&["--data-dir", &d], &["--follow", "1"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "migration 1 completed: 60000 rows copied, 0 changes applied, checksums match (1 table)\n"
    );
    let tenants = per_tenant(dir.path());
    assert_eq!(tenants[0], ("acme".to_string(), 60_000, 18_000_300_000));
    assert_eq!(tenants[1], ("acme_eu".to_string(), 60_000, 18_000_300_000));
}

/// Runs SQL on the server through `heliosdb shell`; its stdout.
fn shell(server: &Server, sql: &str) -> String {
    let url = server.url();
    let r = heliosdb(&["shell", &url, "--csv", "-c", sql]);
    assert_eq!(r.code, Some(0), "{sql}: {}", r.stderr);
    r.stdout
}

#[test]
fn a_server_migration_started_without_waiting_is_followed() {
    let server = Server::start(&[]);
    let url = server.url();
    shell(&server, SCHEMA);
    shell(&server, &fill_sql("acme", 1000));
    let r = migrate(
        &[&url],
        &["--source", "acme", "--target", "acme_eu", "--no-wait"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "migration 1 started\n");
    assert_eq!(
        r.stderr,
        "Follow it with: heliosdb migrate URL --follow 1\n"
    );
    let f = migrate(&[&url], &["--follow", "1"]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(
        f.stdout,
        "migration 1 completed: 1000 rows copied, 0 changes applied, checksums match (1 table)\n"
    );
    assert_plain(&f.stderr);
    assert_eq!(
        shell(
            &server,
            "SELECT t.name, count(*), sum(o.amount) FROM orders o \
             JOIN helios.tenants t ON t.id = o.tenant_id GROUP BY t.name ORDER BY t.name"
        ),
        "name,count,sum\nacme,1000,5005000\nacme_eu,1000,5005000\n"
    );
    assert_eq!(
        shell(
            &server,
            "SELECT state, total_rows, rows_copied, cutover, checksums->0->>'table' AS t, \
             checksums->0->>'target_rows' AS n, checksums->1 IS NULL AS one \
             FROM helios.migrations WHERE id = 1"
        ),
        "state,total_rows,rows_copied,cutover,t,n,one\ncompleted,1000,1000,f,public.orders,1000,t\n"
    );
    // A finished migration cannot be paused or rolled back.
    let p = migrate(&[&url], &["--pause", "1"]);
    assert_eq!(p.code, Some(1));
    assert_eq!(
        p.stderr,
        "heliosdb: ERROR: migration 1 is completed: it cannot be paused\nSQLSTATE: 55000\n"
    );
    // A second migration to the same, now filled, target fails to start.
    let e = migrate(&[&url], &["--source", "acme", "--target", "acme_eu"]);
    assert_eq!(e.code, Some(1));
    assert!(
        e.stderr
            .starts_with("heliosdb: ERROR: target tenant \"acme_eu\" is not empty\n"),
        "{}",
        e.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_server_migration_is_detached_paused_and_rolled_back() {
    let server = Server::start(&[]);
    let url = server.url();
    shell(&server, SCHEMA);
    shell(&server, &fill_sql("acme", 200_000));
    let r = migrate(
        &[&url],
        &["--source", "acme", "--target", "acme_eu", "--no-wait"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "migration 1 started\n");

    // Follow it, then Ctrl-C: following stops, the migration does not.
    let mut child = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .args(["migrate", &url, "--follow", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stderr_lines(&mut child);
    let seen = wait_for_line(&rx, "migration 1 ");
    interrupt(&child);
    let (code, out, rest) = finish(child, rx);
    assert_eq!(code, Some(0), "{seen:?} {rest}");
    let over = out.starts_with("migration 1 completed: 200000 rows copied");
    if !over {
        assert_eq!(out, "");
        assert!(
            rest.contains("Stopped following migration 1 (")
                && rest.contains("it goes on in the server.")
                && rest.contains("Follow it again with: heliosdb migrate URL --follow 1"),
            "{rest}"
        );
    }

    let p = migrate(&[&url], &["--pause", "1"]);
    let state = |server: &Server| {
        shell(
            server,
            "SELECT state, rows_copied FROM helios.migrations WHERE id = 1",
        )
    };
    eprintln!("paused before it completed: {}", p.code == Some(0));
    if p.code == Some(0) {
        assert_eq!(p.stdout, "migration 1 paused\n");
        // Paused: nothing moves.
        let before = state(&server);
        assert!(before.starts_with("state,rows_copied\npaused,"), "{before}");
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(state(&server), before);

        let rb = migrate(&[&url], &["--rollback", "1"]);
        assert_eq!(rb.code, Some(0), "{}", rb.stderr);
        assert_eq!(rb.stdout, "migration 1 rolled back\n");
        assert!(state(&server).starts_with("state,rows_copied\nrolled_back,"));
        // The target it created is gone with its rows; the source is whole.
        assert_eq!(
            shell(&server, "SELECT name FROM helios.tenants ORDER BY name"),
            "name\nacme\nglobex\n"
        );
        assert_eq!(
            shell(&server, "SELECT count(*), sum(amount) FROM orders"),
            "count,sum\n200000,200001000000\n"
        );
        // Following a rolled-back migration: exit status 1.
        let f = migrate(&[&url], &["--follow", "1"]);
        assert_eq!(f.code, Some(1));
        assert_eq!(f.stdout, "migration 1 was rolled back\n");
        // And it cannot be resumed.
        let r = migrate(&[&url], &["--resume", "1"]);
        assert_eq!(r.code, Some(1));
        assert!(
            r.stderr
                .starts_with("heliosdb: ERROR: migration 1 is rolled_back: it cannot be resumed"),
            "{}",
            r.stderr
        );
    } else {
        // It finished before the pause arrived (a fast machine).
        assert_eq!(p.code, Some(1), "{}", p.stderr);
        assert_eq!(
            p.stderr,
            "heliosdb: ERROR: migration 1 is completed: it cannot be paused\nSQLSTATE: 55000\n"
        );
        let rb = migrate(&[&url], &["--rollback", "1"]);
        assert_eq!(rb.code, Some(1));
        assert!(rb.stderr.contains("SQLSTATE: 55000"), "{}", rb.stderr);
        assert!(state(&server).starts_with("state,rows_copied\ncompleted,200000"));
    }
}
