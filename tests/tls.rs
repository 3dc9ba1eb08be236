//! TLS against a real `heliosdb serve --tls-cert --tls-key`, with a
//! self-signed certificate made by `openssl` at test time: psql with
//! `sslmode=require` and `verify-full`, tokio-postgres over rustls (with the
//! SSLRequest handshake and with direct TLS), SCRAM with channel binding,
//! `pg_stat_ssl`, plaintext clients still served unless `--tls-required`,
//! and a server without TLS refusing `sslmode=require`.
//! Skipped (with a note) when openssl or psql is missing, except under
//! `CI=true`, where a missing tool fails the test.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

mod common;

use common::Server;

/// True when `tool --version` runs; otherwise a note, or a failure under CI.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg(if tool == "openssl" {
            "version"
        } else {
            "--version"
        })
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI"
        );
        eprintln!("note: {tool} is not on PATH; skipping");
    }
    ok
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (an end-entity
/// certificate, so rustls's verifier accepts it as its own trust anchor).
struct Cert {
    dir: tempfile::TempDir,
}

impl Cert {
    fn make() -> Cert {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cert { dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    fn start(&self, password: Option<&str>) -> Server {
        self.start_with(password, &[])
    }

    fn start_with(&self, password: Option<&str>, extra: &[&str]) -> Server {
        let (cert, key) = (self.cert(), self.key());
        let mut args = vec![
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Server::start_with(tempfile::tempdir().unwrap(), &args, password)
    }
}

/// Runs psql with a connection string and `-c` commands; (success, stdout, stderr).
fn psql(conninfo: &str, commands: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args([conninfo, "-X", "-v", "ON_ERROR_STOP=1"])
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE");
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd.output().expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn psql_sslmode_require_and_verify_full() {
    if !have("openssl") || !have("psql") {
        return;
    }
    let cert = Cert::make();
    let server = cert.start(None);
    let base = format!("{} connect_timeout=10", server.url());

    // require: encrypted, certificate not checked.
    let (ok, out, err) = psql(
        &format!("{base} sslmode=require"),
        &[
            "\\conninfo",
            "SELECT 41 + 1 AS answer",
            "SELECT 'tls:' || ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ],
    );
    assert!(ok, "psql sslmode=require failed: {err}\n{}", server.log());
    assert!(out.contains("SSL connection (protocol: TLSv1."), "{out}");
    assert!(out.contains("42"), "{out}");
    assert!(out.contains("tls:true"), "{out}");

    // verify-full: the chain and the host name (an IP SAN) are checked too.
    let (ok, out, err) = psql(
        &format!(
            "{base} sslmode=verify-full sslrootcert={}",
            cert.cert().display()
        ),
        &["\\conninfo", "SELECT current_user"],
    );
    assert!(ok, "psql sslmode=verify-full failed: {err}");
    assert!(out.contains("SSL connection"), "{out}");
    assert!(out.contains("heliosdb"), "{out}");

    // A client that does not ask for TLS is still served, in plaintext.
    let (ok, out, err) = psql(
        &format!("{base} sslmode=disable"),
        &["\\conninfo", "SELECT 'tls:' || ssl::text FROM pg_stat_ssl"],
    );
    assert!(ok, "psql sslmode=disable failed: {err}");
    assert!(!out.contains("SSL connection"), "{out}");
    assert!(out.contains("tls:false"), "{out}");

    // A certificate the client does not trust is refused by the client.
    let other = Cert::make();
    let (ok, _, err) = psql(
        &format!(
            "{base} sslmode=verify-ca sslrootcert={}",
            other.cert().display()
        ),
        &["SELECT 1"],
    );
    assert!(!ok, "an untrusted certificate was accepted");
    assert!(err.contains("certificate verify failed"), "{err}");
}

#[test]
fn psql_scram_channel_binding_over_tls() {
    if !have("openssl") || !have("psql") {
        return;
    }
    let cert = Cert::make();
    let server = cert.start(Some("s3cret"));
    let base = format!(
        "host=127.0.0.1 port={} user=heliosdb dbname=heliosdb connect_timeout=10 password=s3cret",
        server.port
    );
    // Over TLS the server offers SCRAM-SHA-256-PLUS, bound to its certificate.
    let (ok, out, err) = psql(
        &format!("{base} sslmode=require channel_binding=require"),
        &["SELECT 'bound'"],
    );
    assert!(
        ok,
        "channel_binding=require failed: {err}\n{}",
        server.log()
    );
    assert!(out.contains("bound"), "{out}");
    // In plaintext only SCRAM-SHA-256 is offered (libpq refuses a -PLUS
    // offer without TLS), so the default still logs in ...
    let (ok, _, err) = psql(&format!("{base} sslmode=disable"), &["SELECT 1"]);
    assert!(ok, "plaintext SCRAM failed: {err}");
    // ... and a client that insists on channel binding cannot.
    let (ok, _, err) = psql(
        &format!("{base} sslmode=disable channel_binding=require"),
        &["SELECT 1"],
    );
    assert!(!ok, "channel binding without TLS succeeded");
    assert!(err.contains("channel binding"), "{err}");
    // A wrong password over TLS is still 28P01.
    let (ok, _, err) = psql(
        &format!(
            "host=127.0.0.1 port={} user=heliosdb dbname=heliosdb password=wrong sslmode=require",
            server.port
        ),
        &["SELECT 1"],
    );
    assert!(!ok);
    assert!(
        err.contains("password authentication failed for user \"heliosdb\""),
        "{err}"
    );
}

#[test]
fn psql_sslmode_require_against_a_server_without_tls() {
    if !have("psql") {
        return;
    }
    let server = Server::start(&[]);
    let base = format!("{} connect_timeout=10", server.url());
    let (ok, _, err) = psql(&format!("{base} sslmode=require"), &["SELECT 1"]);
    assert!(!ok, "sslmode=require connected without TLS");
    assert!(
        err.contains("server does not support SSL, but SSL was required"),
        "{err}"
    );
    // prefer falls back to plaintext.
    let (ok, out, err) = psql(&format!("{base} sslmode=prefer"), &["\\conninfo"]);
    assert!(ok, "{err}");
    assert!(!out.contains("SSL connection"), "{out}");
}

#[test]
fn tls_required_refuses_plaintext_connections() {
    if !have("openssl") || !have("psql") {
        return;
    }
    let cert = Cert::make();
    let server = cert.start_with(None, &["--tls-required"]);
    let base = format!("{} connect_timeout=10", server.url());
    let (ok, _, err) = psql(&format!("{base} sslmode=disable"), &["SELECT 1"]);
    assert!(!ok, "a plaintext connection was accepted");
    assert!(
        err.contains(
            "TLS is required: host \"127.0.0.1\", user \"heliosdb\", database \"heliosdb\", no encryption"
        ),
        "{err}"
    );
    for mode in ["require", "prefer"] {
        let (ok, out, err) = psql(&format!("{base} sslmode={mode}"), &["\\conninfo"]);
        assert!(ok, "sslmode={mode}: {err}");
        assert!(out.contains("SSL connection"), "{out}");
    }
}

#[test]
fn tls_required_without_a_certificate_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .env_remove("HELIOSDB_PASSWORD")
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{}", common::free_port())])
        .arg("--tls-required")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls_required needs a certificate"), "{err}");
}

#[test]
fn a_bad_certificate_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_heliosdb"))
        .env_remove("HELIOSDB_PASSWORD")
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{}", common::free_port())])
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not load TLS certificate"), "{err}");
}

// --- tokio-postgres over rustls -------------------------------------------

/// tokio-postgres's TLS seam implemented with tokio-rustls, trusting one
/// certificate, offering PostgreSQL's ALPN name and SCRAM channel binding
/// (`tls-server-end-point`).
#[derive(Clone)]
struct RustlsConnect(Arc<rustls::ClientConfig>);

impl RustlsConnect {
    fn trusting(cert: &Path) -> RustlsConnect {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(cert).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        RustlsConnect(Arc::new(config))
    }
}

struct RustlsConnector {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnector;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnector, Self::Error> {
        Ok(RustlsConnector {
            config: self.0.clone(),
            name: ServerName::try_from(domain.to_string())?,
        })
    }
}

impl<S> TlsConnect<S> for RustlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config);
            Ok(RustlsStream(connector.connect(self.name, stream).await?))
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // tls-server-end-point: the hash of the server's certificate (SHA-256
        // for this test's ECDSA-with-SHA-256 certificate).
        match self.0.get_ref().1.peer_certificates() {
            Some([cert, ..]) => ChannelBinding::tls_server_end_point(
                ring::digest::digest(&ring::digest::SHA256, cert)
                    .as_ref()
                    .to_vec(),
            ),
            _ => ChannelBinding::none(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

async fn connect_tls(
    conninfo: &str,
    tls: &RustlsConnect,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conninfo, tls.clone()).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_over_rustls() {
    if !have("openssl") {
        return;
    }
    let cert = Cert::make();
    let server = cert.start(Some("s3cret"));
    let tls = RustlsConnect::trusting(&cert.cert());
    let base = format!(
        "host=127.0.0.1 port={} user=heliosdb dbname=heliosdb connect_timeout=10",
        server.port
    );

    // SSLRequest (or direct TLS), then TLS verified against the certificate
    // (IP SAN), then SCRAM-SHA-256-PLUS inside it; extended and simple
    // queries work as in plaintext.
    for negotiation in ["postgres", "direct"] {
        let url = format!(
            "{base} password=s3cret sslmode=require sslnegotiation={negotiation} channel_binding=require"
        );
        let client = connect_tls(&url, &tls)
            .await
            .unwrap_or_else(|e| panic!("sslnegotiation={negotiation}: {e}\n{}", server.log()));
        let row = client
            .query_one(
                "SELECT $1::int + 1, current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[&41i32],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
        assert_eq!(row.get::<_, String>(1), "heliosdb");
        assert!(row.get::<_, bool>(2), "pg_stat_ssl.ssl");
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS t (id int); INSERT INTO t VALUES (1)")
            .await
            .unwrap();
    }

    // A wrong password over TLS is the usual 28P01.
    let Err(err) = connect_tls(&format!("{base} password=wrong sslmode=require"), &tls).await
    else {
        panic!("a wrong password was accepted");
    };
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{err}"
    );

    // Plaintext clients are still served when they do not ask for TLS.
    let (client, connection) = tokio_postgres::connect(
        &format!("{base} password=s3cret sslmode=disable"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);

    // A client that trusts another certificate refuses this server.
    let other = Cert::make();
    let Err(err) = connect_tls(
        &format!("{base} password=s3cret sslmode=require"),
        &RustlsConnect::trusting(&other.cert()),
    )
    .await
    else {
        panic!("an untrusted certificate was accepted");
    };
    assert!(
        err.to_string().contains("error performing TLS handshake"),
        "{err}"
    );
}
