//! The PostgreSQL wire-protocol server behind `heliosdb serve`.
//!
//! The protocol itself (message framing, the startup and SCRAM exchanges,
//! the extended-protocol state machine, TLS negotiation) is the `pgwire`
//! crate's. This module supplies what is ours: every connection gets one
//! [`Session`](crate::Session), the same type embedded callers use, and a
//! thread of its own, as PostgreSQL gives each connection a process: the
//! thread drives the connection's protocol on a single-threaded tokio
//! runtime and runs its statements in place, so a statement costs no thread
//! hand-off, and a slow statement or a commit waiting for its fsync stalls
//! only its own connection. (Connections past `max_connections`, which are
//! refused anyway, stay on the shared runtime and its blocking pool.)
//!
//! Around the connections the server keeps a registry for cancel requests,
//! the `max_connections` limit, idle-session reaping (the
//! `idle_session_timeout` and `idle_in_transaction_session_timeout`
//! settings), TCP keepalive for half-open peers, and a fast shutdown:
//! stop accepting, cancel running statements, roll back open transactions,
//! flush, return.

mod auth;
mod config;
mod conn;
mod extended;
mod messages;
pub mod metrics;
mod types;

pub use config::{ServerConfig, TlsFiles};

use crate::error::{Error, Result, SqlState};
use crate::session::Database;
use conn::{Conn, ConnState};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A connection's BackendKeyData: process id and secret key.
type CancelKey = (i32, Vec<u8>);

/// State shared by all connections of one server.
pub(crate) struct Shared {
    db: Database,
    config: ServerConfig,
    /// No password is set for the bootstrap superuser: trust it on loopback.
    trust_loopback_superuser: bool,
    /// Live connections (accepted sockets not yet closed).
    connections: AtomicUsize,
    /// Cancel keys of authenticated connections.
    cancel_keys: Mutex<HashMap<CancelKey, Arc<ConnState>>>,
    /// Secret keys for BackendKeyData (the process id is the session's).
    pid_gen: pgwire::api::RandomPidSecretKeyGenerator,
    /// SCRAM for plaintext connections, and with channel binding for TLS ones.
    scram: pgwire::api::auth::sasl::SaslMechanisms,
    scram_tls: Option<pgwire::api::auth::sasl::SaslMechanisms>,
}

impl Shared {
    fn cancel(&self, pid: i32, key: &[u8]) {
        let target = self.cancel_keys.lock().get(&(pid, key.to_vec())).cloned();
        if let Some(state) = target {
            state.cancel_running();
        }
    }
}

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<pgwire::tokio::TlsAcceptor>,
    /// The Prometheus endpoint's listener (`--metrics`).
    metrics: Option<TcpListener>,
}

impl Server {
    /// Binds the listening socket. Refuses a non-loopback address while the
    /// superuser has no password (anyone could then connect as it).
    pub async fn bind(db: Database, config: ServerConfig) -> Result<Server> {
        let trust = !db.superuser_has_password()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io(format!("could not listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(e.to_string()))?;
        if trust && !addr.ip().is_loopback() {
            return Err(Error::new(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                format!(
                    "refusing to listen on {addr}: the superuser \"{}\" has no password; \
                     set HELIOSDB_PASSWORD or listen on a loopback address",
                    crate::session::BOOTSTRAP_SUPERUSER
                ),
            ));
        }
        if config.tls_required && config.tls.is_none() {
            return Err(Error::new(
                SqlState::CONFIG_FILE_ERROR,
                "tls_required needs a certificate and key (--tls-cert, --tls-key)",
            ));
        }
        let (tls, cert_pem) = match &config.tls {
            Some(t) => (Some(config::tls_acceptor(t)?), Some(config::read_cert(t)?)),
            None => (None, None),
        };
        let (scram, scram_tls) = auth::scram_mechanisms(&db, cert_pem.as_deref());
        let metrics = match config.metrics {
            Some(addr) => Some(metrics::bind(addr).await?),
            None => None,
        };
        Ok(Server {
            shared: Arc::new(Shared {
                db,
                config,
                trust_loopback_superuser: trust,
                connections: AtomicUsize::new(0),
                cancel_keys: Mutex::new(HashMap::new()),
                pid_gen: Default::default(),
                scram,
                scram_tls,
            }),
            listener,
            tls,
            metrics,
        })
    }

    /// The address the Prometheus endpoint listens on, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// True when loopback connections as the superuser need no password.
    pub fn trusts_loopback_superuser(&self) -> bool {
        self.shared.trust_loopback_superuser
    }

    /// Serves connections until `shutdown` completes, then closes every
    /// connection (rolling back open transactions) and flushes the database.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        if let Some(listener) = self.metrics.take() {
            tokio::spawn(metrics::run(
                listener,
                self.shared.db.clone(),
                stop_rx.clone(),
            ));
        }
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off, keep serving.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    self.spawn_connection(socket, peer, stop_rx.clone());
                }
            }
        }
        tracing::info!("shutting down: closing connections");
        drop(self.listener);
        let _ = stop_tx.send(true);
        // Connections end their sessions (rolling back) once their running
        // statement returns. A connection's thread runs its statement right
        // there, deaf to `stop` until it returns, so stop the statements
        // directly (again while waiting, in case one was just starting).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.shared.connections.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            let states: Vec<_> = self.shared.cancel_keys.lock().values().cloned().collect();
            for state in states {
                state.stop();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.shared.db.sync()?;
        tracing::info!("shutdown complete");
        Ok(())
    }

    fn spawn_connection(
        &self,
        socket: tokio::net::TcpStream,
        peer: SocketAddr,
        stop: watch::Receiver<bool>,
    ) {
        let _ = socket.set_nodelay(true);
        // A peer that vanished is noticed within about two minutes: by
        // keepalive probes while the connection waits for the client, and,
        // while a reply waits to be acknowledged (which keepalive does not
        // probe), by the user timeout.
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(60))
            .with_interval(Duration::from_secs(10))
            .with_retries(6);
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_tcp_keepalive(&keepalive);
        #[cfg(target_os = "linux")]
        let _ = sock.set_tcp_user_timeout(Some(Duration::from_secs(120)));
        let shared = self.shared.clone();
        let tls = self.tls.clone();
        let live = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = Live(shared.clone());
        if live > shared.config.max_connections + SPARE_CONNECTION_THREADS {
            // Past the limit (the client is about to be refused) a flood of
            // sockets must not become a flood of threads.
            tokio::spawn(serve_connection(guard, socket, peer, tls, stop, false));
            return;
        }
        let socket = match socket.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, "could not hand the connection to its thread: {e}");
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("heliosdb-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(%peer, "could not start the connection's runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpStream::from_std(socket) {
                        Ok(socket) => serve_connection(guard, socket, peer, tls, stop, true).await,
                        Err(e) => tracing::warn!(%peer, "could not register the connection: {e}"),
                    }
                });
            });
        if let Err(e) = spawned {
            // The closure, socket and guard included, is dropped: the client
            // sees the connection close, as when PostgreSQL cannot fork.
            tracing::warn!(%peer, "could not start a thread for the connection: {e}");
        }
    }
}

/// Connections beyond `max_connections` that still get their own thread:
/// room for cancel requests, which arrive on connections of their own.
const SPARE_CONNECTION_THREADS: usize = 16;

/// Stack of a connection thread: modest, since a server has hundreds of
/// them (only touched pages are backed by memory; a plain statement touches
/// well under 100 KiB in release builds). Deep statements do not need it to
/// be larger: parsing, binding, evaluation and the walking of long chains
/// move onto heap-allocated segments when the stack runs low (`crate::stack`).
/// Debug builds' frames are several times larger, so is their stack.
const CONNECTION_STACK: usize = if cfg!(debug_assertions) {
    4 * 1024 * 1024
} else {
    1024 * 1024
};

/// Counts a live connection; dropped when it ends, even by a panic.
struct Live(Arc<Shared>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one accepted socket until the client leaves, its session is
/// reaped or terminated, or the server stops. `inline`: the connection has
/// a thread of its own, and its statements run right on it (see
/// `ConnState::run`).
async fn serve_connection(
    live: Live,
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<pgwire::tokio::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    inline: bool,
) {
    let shared = live.0.clone();
    let local = socket.local_addr().unwrap_or(shared.config.listen);
    let conn = Arc::new(Conn::new(shared.clone(), local, peer, inline));
    let state = conn.state();
    // Unregisters the cancel key even if the connection's code panics, so
    // the state (and the session in it) is freed with the connection.
    let _closing = Closing(shared.clone(), state.clone());
    // A second handle of the socket, to say why the server closes it.
    let raw = {
        use std::os::fd::AsFd;
        socket
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::net::TcpStream::from)
    };
    let serve = pgwire::tokio::process_socket(socket, tls, conn::Handlers(conn));
    let fatal = tokio::select! {
        r = serve => {
            if let Err(e) = r {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            None
        }
        reason = state.idle_expired() => {
            tracing::info!(%peer, "{}", reason.message);
            Some(reason)
        }
        _ = stop.wait_for(|s| *s) => {
            state.cancel_running();
            Some(Error::new(
                SqlState::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            ))
        }
    };
    if let (Some(e), Some(raw)) = (fatal, raw) {
        // A client's last request may still be on the blocking pool (the
        // Close that a client library sends when it drops a prepared
        // statement, say); the statement was cancelled, and its reply will
        // not be written now that the protocol loop is gone.
        state.settle(Some(Duration::from_secs(2))).await;
        if state.send_fatal(&raw, &e) {
            linger(raw).await;
        }
    }
    state.close(&shared);
    // The session is dropped (rolling back) when the last statement
    // running on the blocking pool lets go of it.
    state.wait_idle().await;
    drop(live);
}

/// Closes a connection the server ends after its last message: the write
/// side first, then what the client still sends is read (for at most half
/// a second) until it closes its side. Closing a socket with unread input
/// resets the connection, and a reset can throw away the message before
/// the client reads it (a client library that just dropped a prepared
/// statement has sent a Close, say).
async fn linger(raw: std::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let _ = raw.shutdown(std::net::Shutdown::Write);
    if raw.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(mut socket) = tokio::net::TcpStream::from_std(raw) else {
        return;
    };
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(n) = socket.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Unregisters a connection when its task ends.
struct Closing(Arc<Shared>, Arc<ConnState>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.1.close(&self.0);
    }
}

/// Runs `heliosdb serve` until SIGINT or SIGTERM: builds the runtime, binds,
/// reports how to connect, serves, and shuts down gracefully.
pub fn serve(db: Database, config: ServerConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("heliosdb-worker")
        .build()
        .map_err(|e| Error::io(format!("could not start the runtime: {e}")))?;
    apply_superuser_password(&db)?;
    runtime.block_on(async move {
        let server = Server::bind(db, config).await?;
        let addr = server.local_addr();
        if server.trusts_loopback_superuser() {
            tracing::warn!(
                "no password is set for the superuser \"{}\" (HELIOSDB_PASSWORD is unset): \
                 loopback connections as \"{}\" are trusted without a password",
                crate::session::BOOTSTRAP_SUPERUSER,
                crate::session::BOOTSTRAP_SUPERUSER
            );
        }
        tracing::info!("HeliosDB Nano {} listening on {addr}", crate::VERSION);
        if let Some(m) = server.metrics_addr() {
            tracing::info!("metrics at http://{m}/metrics");
        }
        server.run(shutdown_signal()).await
    })
}

/// `HELIOSDB_PASSWORD`, when set, is the bootstrap superuser's password
/// (stored as a SCRAM verifier; rewritten only when it changed).
fn apply_superuser_password(db: &Database) -> Result<()> {
    let Ok(password) = std::env::var("HELIOSDB_PASSWORD") else {
        return Ok(());
    };
    if password.is_empty() {
        return Ok(());
    }
    let su = crate::session::BOOTSTRAP_SUPERUSER;
    let current = db.login_role(su)?.and_then(|r| r.scram);
    if !current.is_some_and(|v| v.verify_password(&password)) {
        db.set_role_password(su, Some(&password))?;
        tracing::info!("password of \"{su}\" set from HELIOSDB_PASSWORD");
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
