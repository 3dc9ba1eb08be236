//! One client connection: authentication, and the simple and extended
//! query protocols over a [`Session`].

use super::Shared;
use super::extended::Parser;
use super::messages::{NOT_SETTINGS, ServerParams, SessionKeys, send_notices, startup_options};
use super::types::{encode_field, field_infos};
use crate::error::{Error, SqlState};
use crate::session::{CancelHandle, CopyMode, Session, SettingSource, StatementResult};
use async_trait::async_trait;
use bytes::BytesMut;
use futures::{Sink, SinkExt};
use parking_lot::Mutex;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::SaslMechanisms;
use pgwire::api::auth::{
    AuthDriver, AuthOutcome, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::{CopyHandler, send_copy_in_response, send_copy_out_response};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_ready_for_query};
use pgwire::api::results::CopyResponse;
use pgwire::api::results::{FieldFormat, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ErrorHandler, METADATA_DATABASE, METADATA_USER,
    PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::{DataRow, RowDescription};
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse, TransactionStatus};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A connection's state shared between its protocol task, the blocking
/// threads running its statements, the idle watchdog and cancel requests.
pub(crate) struct ConnState {
    session: Mutex<Option<Session>>,
    cancel: Mutex<Option<CancelHandle>>,
    cancel_key: Mutex<Option<(i32, Vec<u8>)>>,
    /// A statement is executing (cancel requests only act then).
    busy: AtomicBool,
    /// Statements started and not yet returned.
    running: AtomicUsize,
    /// The connection has a thread of its own: statements run in place
    /// instead of on the blocking pool.
    inline: bool,
    /// The server is shutting down: no further statement may start.
    stopping: AtomicBool,
    last_active: Mutex<Instant>,
    in_transaction: AtomicBool,
    idle_timeout_ms: AtomicU64,
    idle_in_txn_timeout_ms: AtomicU64,
    /// The settings version the two timeouts were read at.
    settings_version: AtomicU64,
    failed: AtomicBool,
    in_txn_failed: AtomicBool,
    /// Reported parameters that changed, to send before the next ReadyForQuery.
    parameter_status: Mutex<Vec<(String, String)>>,
    /// Set once the session exists: `DROP DATABASE ... WITH (FORCE)` terminated it.
    terminated: Mutex<Option<crate::session::TerminationWatch>>,
    /// The client talks TLS (so the server cannot write a plain message
    /// around the TLS session when it closes the connection).
    secure: AtomicBool,
}

pub(super) fn user_error(code: SqlState, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.code().into(),
        message.into(),
    )))
}

fn error_info(e: &Error, severity: &str) -> ErrorInfo {
    let mut info = ErrorInfo::new(severity.into(), e.code.code().into(), e.message.clone());
    info.detail = e.detail.clone();
    info.hint = e.hint.clone();
    info
}

/// A statement's error for the client: FATAL for 57P01 (the connection
/// then ends, as PostgreSQL's does), else ERROR.
pub(super) fn pg_error(e: Error) -> PgWireError {
    let severity = if e.code == SqlState::ADMIN_SHUTDOWN {
        "FATAL"
    } else {
        "ERROR"
    };
    PgWireError::UserError(Box::new(error_info(&e, severity)))
}

fn fatal(e: Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&e, "FATAL")))
}

fn admin_shutdown() -> Error {
    Error::new(
        SqlState::ADMIN_SHUTDOWN,
        "terminating connection due to administrator command",
    )
}

impl ConnState {
    fn new(inline: bool) -> ConnState {
        ConnState {
            session: Mutex::new(None),
            secure: AtomicBool::new(false),
            cancel: Mutex::new(None),
            cancel_key: Mutex::new(None),
            busy: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            inline,
            stopping: AtomicBool::new(false),
            last_active: Mutex::new(Instant::now()),
            in_transaction: AtomicBool::new(false),
            idle_timeout_ms: AtomicU64::new(0),
            idle_in_txn_timeout_ms: AtomicU64::new(0),
            settings_version: AtomicU64::new(u64::MAX),
            failed: AtomicBool::new(false),
            in_txn_failed: AtomicBool::new(false),
            parameter_status: Mutex::new(Vec::new()),
            terminated: Mutex::new(None),
        }
    }

    /// Stops the running statement, if any (57014 for the client).
    pub fn cancel_running(&self) {
        if self.busy.load(Ordering::SeqCst)
            && let Some(c) = &*self.cancel.lock()
        {
            c.cancel();
        }
    }

    /// Server shutdown: refuses further statements (FATAL 57P01) and
    /// terminates the session, which stops the running one with 57P01.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = &*self.terminated.lock() {
            t.terminate();
        }
    }

    fn install(&self, mut session: Session) {
        *self.cancel.lock() = Some(session.cancel_handle());
        *self.terminated.lock() = Some(session.termination_watch());
        self.observe(&mut session);
        *self.session.lock() = Some(session);
    }

    /// Records what the idle watchdog and ReadyForQuery need after a statement.
    fn observe(&self, s: &mut Session) {
        match s.parameter_changes() {
            Ok(changes) => self.parameter_status.lock().extend(changes),
            Err(e) => tracing::warn!("could not read the reported parameters: {e:?}"),
        }
        self.in_transaction
            .store(s.in_transaction(), Ordering::SeqCst);
        self.in_txn_failed
            .store(s.transaction_failed(), Ordering::SeqCst);
        // The timeouts are parsed again only when some setting changed.
        let version = s.settings().version();
        if self.settings_version.swap(version, Ordering::SeqCst) != version {
            let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64).unwrap_or(0);
            self.idle_timeout_ms.store(
                ms(s.settings().duration("idle_session_timeout")),
                Ordering::SeqCst,
            );
            self.idle_in_txn_timeout_ms.store(
                ms(s.settings().duration("idle_in_transaction_session_timeout")),
                Ordering::SeqCst,
            );
        }
        *self.last_active.lock() = Instant::now();
    }

    /// Sends the ParameterStatus messages owed since the last ReadyForQuery.
    pub(super) async fn send_parameter_status<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let changes = std::mem::take(&mut *self.parameter_status.lock());
        for (name, value) in changes {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
        Ok(())
    }

    pub(super) fn transaction_status(&self) -> TransactionStatus {
        if self.in_txn_failed.load(Ordering::SeqCst) {
            TransactionStatus::Error
        } else if self.in_transaction.load(Ordering::SeqCst) {
            TransactionStatus::Transaction
        } else {
            TransactionStatus::Idle
        }
    }

    /// Runs `f` on the session: right here when the connection has its own
    /// thread, else on tokio's blocking pool. A panic is caught, logged and
    /// ends the connection (FATAL); other connections never see it.
    pub(super) async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Session) -> crate::Result<R> + Send + 'static,
    ) -> PgWireResult<R> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(fatal(Error::internal("connection is closing")));
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        let outcome = if self.inline {
            let r = self.run_now(f);
            self.running.fetch_sub(1, Ordering::SeqCst);
            r
        } else {
            let st = self.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let r = st.run_now(f);
                st.running.fetch_sub(1, Ordering::SeqCst);
                r
            })
            .await;
            match joined {
                Ok(r) => r,
                Err(e) => {
                    self.failed.store(true, Ordering::SeqCst);
                    return Err(fatal(Error::internal(format!(
                        "statement task failed: {e}"
                    ))));
                }
            }
        };
        match outcome {
            Ok(v) => Ok(v),
            Err(e) if self.failed.load(Ordering::SeqCst) => Err(fatal(e)),
            Err(e) => Err(pg_error(e)),
        }
    }

    /// Runs `f` on the session on the calling thread, catching a panic.
    fn run_now<R>(&self, f: impl FnOnce(&mut Session) -> crate::Result<R>) -> crate::Result<R> {
        let mut guard = self.session.lock();
        let Some(s) = guard.as_mut() else {
            return Err(admin_shutdown());
        };
        self.busy.store(true, Ordering::SeqCst);
        // After `busy`: either `stop` sees the statement running and
        // cancels it, or the statement sees `stopping` here.
        if self.stopping.load(Ordering::SeqCst) {
            self.busy.store(false, Ordering::SeqCst);
            return Err(admin_shutdown());
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(s)));
        self.busy.store(false, Ordering::SeqCst);
        match r {
            Ok(r) => {
                self.observe(s);
                r
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown panic")
                    .to_string();
                tracing::error!("statement panicked, closing its connection: {what}");
                self.failed.store(true, Ordering::SeqCst);
                // Dropping the session rolls its transaction back.
                guard.take();
                Err(Error::internal(format!("internal error: {what}")))
            }
        }
    }

    /// Completes when the connection has been idle longer than its
    /// `idle_session_timeout` (or `idle_in_transaction_session_timeout`
    /// inside a transaction), or its session was terminated; returns the
    /// error that tells the client why (PostgreSQL's FATAL message).
    pub async fn idle_expired(&self) -> Error {
        loop {
            if self
                .terminated
                .lock()
                .as_ref()
                .is_some_and(|t| t.requested())
            {
                return admin_shutdown();
            }
            let (limit, code, reason) = if self.in_transaction.load(Ordering::SeqCst)
                || self.in_txn_failed.load(Ordering::SeqCst)
            {
                (
                    self.idle_in_txn_timeout_ms.load(Ordering::SeqCst),
                    SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                    "idle-in-transaction timeout",
                )
            } else {
                (
                    self.idle_timeout_ms.load(Ordering::SeqCst),
                    SqlState::IDLE_SESSION_TIMEOUT,
                    "idle-session timeout",
                )
            };
            let reason = Error::new(code, format!("terminating connection due to {reason}"));
            let idle = self.last_active.lock().elapsed();
            let busy = self.running.load(Ordering::SeqCst) > 0;
            if limit > 0 && !busy && idle >= Duration::from_millis(limit) {
                return reason;
            }
            let wait = if limit > 0 && !busy {
                Duration::from_millis(limit)
                    .saturating_sub(idle)
                    .max(Duration::from_millis(10))
            } else {
                Duration::from_millis(500)
            };
            tokio::time::sleep(wait.min(Duration::from_millis(500))).await;
        }
    }

    /// Tells an idle, non-TLS client why its connection is being closed: a
    /// FATAL ErrorResponse written on `socket` (a second handle of the
    /// connection's socket). Best effort: the connection closes anyway.
    pub fn send_fatal(&self, socket: &std::net::TcpStream, e: &Error) -> bool {
        use pgwire::messages::Message;
        if self.secure.load(Ordering::SeqCst) || self.running.load(Ordering::SeqCst) > 0 {
            return false;
        }
        let response = pgwire::messages::response::ErrorResponse::from(error_info(e, "FATAL"));
        let mut buf = bytes::BytesMut::new();
        response.encode(&mut buf).is_ok() && std::io::Write::write_all(&mut &*socket, &buf).is_ok()
    }

    /// Unregisters the connection and cancels what it runs.
    pub fn close(&self, shared: &Shared) {
        if let Some(key) = self.cancel_key.lock().take() {
            shared.cancel_keys.lock().remove(&key);
        }
        self.cancel_running();
    }

    /// Waits, at most `limit` (if given), for the statements on the
    /// blocking pool to return (a FATAL message is sent only when none
    /// runs).
    pub async fn settle(&self, limit: Option<Duration>) {
        let deadline = limit.map(|l| tokio::time::Instant::now() + l);
        while self.running.load(Ordering::SeqCst) > 0
            && deadline.is_none_or(|d| tokio::time::Instant::now() < d)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for statements still on the blocking pool, then ends the
    /// session (rolling back an open transaction).
    pub async fn wait_idle(&self) {
        self.settle(None).await;
        let session = self.session.lock().take();
        drop(session);
    }
}

/// The protocol handlers of one connection.
pub(crate) struct Conn {
    shared: Arc<Shared>,
    /// The server address the client connected to, and the client's.
    local: SocketAddr,
    peer: SocketAddr,
    pub(super) state: Arc<ConnState>,
    pub(super) parser: Arc<Parser>,
    params: Arc<ServerParams>,
    keys: Arc<SessionKeys>,
    /// COPY FROM STDIN data not yet handed to the session.
    pub(super) copy_buf: Mutex<Vec<u8>>,
    /// The SCRAM exchange (per connection state lives in the client).
    auth: AuthDriver<Arc<ServerParams>>,
    /// The session opened for the role logging in, kept until the password checks out.
    pending: Mutex<Option<Session>>,
    login_error: Mutex<Option<Error>>,
}

/// COPY data is passed to the session in chunks of about this size.
const COPY_CHUNK: usize = 256 * 1024;

impl Conn {
    pub fn new(shared: Arc<Shared>, local: SocketAddr, peer: SocketAddr, inline: bool) -> Conn {
        let state = Arc::new(ConnState::new(inline));
        let params = Arc::new(ServerParams::default());
        let keys = Arc::new(SessionKeys {
            pid: AtomicI32::new(0),
            secrets: shared.clone(),
        });
        Conn {
            parser: Arc::new(Parser {
                state: state.clone(),
            }),
            params: params.clone(),
            keys: keys.clone(),
            copy_buf: Mutex::new(Vec::new()),
            auth: AuthDriver::new(params).with_pid_secret_key_generator(keys),
            pending: Mutex::new(None),
            login_error: Mutex::new(None),
            shared,
            local,
            peer,
            state,
        }
    }

    pub fn state(&self) -> Arc<ConnState> {
        self.state.clone()
    }

    /// SCRAM, with channel binding on TLS connections when available.
    fn sasl<C: ClientInfo>(&self, client: &C) -> &SaslMechanisms {
        match &self.shared.scram_tls {
            Some(tls) if client.is_secure() => tls,
            _ => &self.shared.scram,
        }
    }

    /// Opens the session a role will use in a database: the server's setting defaults,
    /// then the settings of the startup packet (PostgreSQL's `client`
    /// source; values the engine does not support are ignored) become what
    /// RESET returns to. Its process id and reported parameters become the
    /// connection's BackendKeyData and startup ParameterStatus.
    fn open_session<C: ClientInfo>(
        &self,
        client: &C,
        user: &str,
        database: &str,
    ) -> crate::Result<Session> {
        let mut session = self.shared.db.connect_as_to(user, database)?;
        session.set_connection_info(self.local, self.peer);
        session.set_connection_ssl(client.is_secure());
        for (name, value) in &self.shared.config.session_defaults {
            session.settings_mut().set_reset_value(
                name,
                value,
                SettingSource::ConfigurationFile,
            )?;
        }
        let metadata = client.metadata();
        let options = metadata
            .get("options")
            .map(|o| startup_options(o))
            .unwrap_or_default();
        let startup = metadata
            .iter()
            .filter(|(k, _)| !NOT_SETTINGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(options);
        for (name, value) in startup {
            if let Err(e) =
                session
                    .settings_mut()
                    .set_reset_value(&name, &value, SettingSource::Client)
            {
                tracing::debug!(peer = %self.peer, "startup parameter {name} ignored: {e:?}");
            }
        }
        *self.params.values.lock() = session.reported_parameters()?;
        self.keys.pid.store(session.backend_pid(), Ordering::SeqCst);
        Ok(session)
    }

    /// Installs the authenticated session and registers the cancel key.
    fn install_session<C: ClientInfo>(&self, client: &C, session: Session) {
        self.state
            .secure
            .store(client.is_secure(), Ordering::SeqCst);
        self.state.install(session);
        let (pid, key) = client.pid_and_secret_key();
        let key = key.to_bytes().to_vec();
        self.shared
            .cancel_keys
            .lock()
            .insert((pid, key.clone()), self.state.clone());
        *self.state.cancel_key.lock() = Some((pid, key));
    }

    /// The password checked out: refuse now if the role cannot have a
    /// session (connection limit), else finish the startup.
    async fn complete_login<C>(
        &self,
        client: &mut C,
        final_message: Option<pgwire::messages::startup::Authentication>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(e) = self.login_error.lock().take() {
            return Err(fatal(e));
        }
        let session = self.pending.lock().take().ok_or_else(|| {
            fatal(Error::new(
                SqlState::INVALID_PASSWORD,
                "password authentication failed",
            ))
        })?;
        self.auth
            .complete_authentication(client, final_message)
            .await?;
        self.install_session(client, session);
        Ok(())
    }
}

/// Hands the same per-connection handler to every protocol phase.
pub(crate) struct Handlers(pub Arc<Conn>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.0.clone()
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        self.0.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.0.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        self.0.clone()
    }
}

fn is_empty_query(q: &str) -> bool {
    q.chars().all(|c| c == ';' || c.is_whitespace())
}

#[async_trait]
impl StartupHandler for Conn {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let startup = match message {
            PgWireFrontendMessage::Startup(ref startup) => startup,
            PgWireFrontendMessage::PasswordMessageFamily(m) => {
                return match self.auth.advance_authentication(client, m).await? {
                    AuthOutcome::InProgress => Ok(()),
                    AuthOutcome::Authenticated { final_message, .. } => {
                        self.complete_login(client, final_message).await
                    }
                };
            }
            _ => {
                return Err(fatal(Error::new(
                    SqlState::PROTOCOL_VIOLATION,
                    "unexpected message during authentication",
                )));
            }
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        if self.shared.config.tls_required && !client.is_secure() {
            let md = client.metadata();
            let user = md.get(METADATA_USER).map(String::as_str).unwrap_or("");
            let database = md
                .get(METADATA_DATABASE)
                .map(String::as_str)
                .unwrap_or(user);
            return Err(fatal(Error::new(
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                format!(
                    "TLS is required: host \"{}\", user \"{user}\", database \"{database}\", no encryption",
                    self.peer.ip()
                ),
            )));
        }
        let live = self.shared.connections.load(Ordering::SeqCst);
        if live > self.shared.config.max_connections {
            return Err(fatal(Error::new(
                SqlState::TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            )));
        }
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .ok_or_else(|| {
                fatal(Error::new(
                    SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                    "no PostgreSQL user name specified in startup packet",
                ))
            })?;
        let database = client
            .metadata()
            .get(METADATA_DATABASE)
            .cloned()
            .unwrap_or_else(|| user.clone());
        let trusted = self.shared.trust_loopback_superuser
            && self.peer.ip().is_loopback()
            && user == crate::session::BOOTSTRAP_SUPERUSER;
        if trusted {
            let session = self.open_session(client, &user, &database).map_err(fatal)?;
            let (pid, key) = self.keys.generate(client);
            client.set_pid_and_secret_key(pid, key);
            finish_authentication(client, self.params.as_ref()).await?;
            self.install_session(client, session);
            return Ok(());
        }
        // Open the session now, but only hand it out (or say why it could
        // not be opened) once the password is proven.
        // Errors about the database (3D000, 55000) and connection limits
        // come after the password, as in PostgreSQL; an unknown role or one
        // without LOGIN fails the password exchange itself.
        match self.open_session(client, &user, &database) {
            Ok(s) => *self.pending.lock() = Some(s),
            Err(e)
                if matches!(
                    e.code,
                    SqlState::TOO_MANY_CONNECTIONS
                        | SqlState::INVALID_CATALOG_NAME
                        | SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
                        | SqlState::OBJECT_IN_USE
                ) =>
            {
                *self.login_error.lock() = Some(e)
            }
            Err(_) => {}
        }
        match self
            .auth
            .begin_authentication(client, self.sasl(client).create())
            .await?
        {
            AuthOutcome::InProgress => Ok(()),
            AuthOutcome::Authenticated { final_message, .. } => {
                self.complete_login(client, final_message).await
            }
        }
    }
}

#[async_trait]
impl CancelHandler for Conn {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.shared
            .cancel(request.pid, &request.secret_key.to_bytes());
    }
}

impl ErrorHandler for Conn {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        // PostgreSQL's wording, naming the user from the startup packet.
        if error.code() == "28P01" {
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            *error = fatal(Error::new(
                SqlState::INVALID_PASSWORD,
                format!("password authentication failed for user \"{user}\""),
            ));
        }
        if error.is_fatal() {
            tracing::debug!(peer = %self.peer, "connection error: {error}");
        }
    }
}

/// Rows of a statement result as DataRow messages, in the given formats.
pub(super) fn data_rows(
    result: &crate::Rows,
    formats: &[FieldFormat],
) -> Vec<PgWireResult<DataRow>> {
    let columns = result.columns();
    let mut out = Vec::with_capacity(result.len());
    let mut buf = BytesMut::with_capacity(64);
    for row in result.iter() {
        for (i, v) in row.values().iter().enumerate() {
            encode_field(&mut buf, v, &columns[i].ty, formats[i]);
        }
        out.push(Ok(DataRow::new(buf.split(), columns.len() as i16)));
    }
    out
}

/// Sends (buffered) the rows of a statement result as DataRow messages,
/// column `i` in format `format(i)`.
pub(super) async fn feed_rows<C>(
    client: &mut C,
    rows: &crate::Rows,
    format: impl Fn(usize) -> FieldFormat,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let columns = rows.columns();
    let mut buf = BytesMut::new();
    for row in rows.iter() {
        buf.reserve(64);
        for (i, v) in row.values().iter().enumerate() {
            encode_field(&mut buf, v, &columns[i].ty, format(i));
        }
        let row = DataRow::new(buf.split(), columns.len() as i16);
        client.feed(PgWireBackendMessage::DataRow(row)).await?;
    }
    Ok(())
}

/// Sends one simple-protocol statement result, its notices first.
async fn send_result<C>(client: &mut C, result: StatementResult) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    send_notices(client, &result.notices).await?;
    if let Some(rows) = &result.rows {
        let fields = field_infos(rows.columns(), |_| FieldFormat::Text);
        client
            .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                fields.iter().map(Into::into).collect(),
            )))
            .await?;
        feed_rows(client, rows, |_| FieldFormat::Text).await?;
    }
    client
        .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
            result.tag(),
        )))
        .await?;
    Ok(())
}

#[async_trait]
impl SimpleQueryHandler for Conn {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let sql = query.query;
        // Notices of a failed statement are left over; they go before its error.
        let (results, mut leftover) = if is_empty_query(&sql) {
            (Vec::new(), Vec::new())
        } else {
            self.state
                .run(move |s| {
                    let mut out = Vec::new();
                    s.run_simple_query(&sql, &mut |r| out.push(r));
                    Ok((out, s.take_notices()))
                })
                .await?
        };
        if results.is_empty() {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        }
        let mut copy_in = None;
        for r in results {
            let r = r.map(|result| self.deallocate(client, result));
            match r {
                Ok(result) => match result.copy_mode() {
                    Some(CopyMode::In { columns }) => {
                        send_notices(client, &result.notices).await?;
                        copy_in = Some(columns)
                    }
                    Some(CopyMode::Out { columns }) => {
                        send_notices(client, &result.notices).await?;
                        send_copy_out_response(client, copy_out_response(result, columns)).await?
                    }
                    None => send_result(client, result).await?,
                },
                Err(e) => {
                    send_notices(client, &std::mem::take(&mut leftover)).await?;
                    if e.code == SqlState::ADMIN_SHUTDOWN {
                        return Err(pg_error(e));
                    }
                    client
                        .feed(PgWireBackendMessage::ErrorResponse(
                            error_info(&e, "ERROR").into(),
                        ))
                        .await?;
                }
            }
        }
        if let Some(columns) = copy_in {
            self.copy_buf.lock().clear();
            send_copy_in_response(client, copy_in_response(columns)).await?;
            client.set_state(PgWireConnectionState::CopyInProgress(false));
            return Ok(());
        }
        send_notices(client, &leftover).await?;
        self.state.send_parameter_status(client).await?;
        let status = self.state.transaction_status();
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        unreachable!("on_query is implemented directly")
    }
}

pub(super) fn copy_in_response(columns: usize) -> CopyResponse {
    CopyResponse::new(0, columns, futures::stream::empty())
}

/// COPY TO STDOUT: each result row is one line of data.
pub(super) fn copy_out_response(result: StatementResult, columns: usize) -> CopyResponse {
    let chunks: Vec<PgWireResult<CopyData>> = result
        .rows
        .into_iter()
        .flat_map(|rows| rows.into_iter())
        .filter_map(|row| match row.values().first() {
            Some(crate::Value::Bytea(b)) => Some(Ok(CopyData::new(b.clone().into()))),
            _ => None,
        })
        .collect();
    CopyResponse::new(0, columns, futures::stream::iter(chunks))
}

impl Conn {
    /// DEALLOCATE and DISCARD ALL drop the client's named statements that
    /// the session released (it keeps their names, not the statements).
    pub(super) fn deallocate<C>(&self, client: &C, result: StatementResult) -> StatementResult
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore,
    {
        for name in result.deallocates() {
            client.portal_store().rm_statement(name);
        }
        result
    }

    /// Hands buffered COPY data to the session.
    async fn flush_copy(&self) -> PgWireResult<()> {
        let data = std::mem::take(&mut *self.copy_buf.lock());
        if data.is_empty() {
            return Ok(());
        }
        self.state.run(move |s| s.copy_data(&data)).await
    }
}

#[async_trait]
impl CopyHandler for Conn {
    async fn on_copy_data<C>(&self, _client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let full = {
            let mut buf = self.copy_buf.lock();
            buf.extend_from_slice(&data.data);
            buf.len() >= COPY_CHUNK
        };
        if full {
            self.flush_copy().await?;
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let flushed = self.flush_copy().await;
        let result = match flushed {
            Ok(()) => self.state.run(|s| s.copy_done()).await,
            Err(e) => Err(e),
        };
        client.set_transaction_status(self.state.transaction_status());
        let rows = result?;
        client
            .send(PgWireBackendMessage::CommandComplete(
                Tag::new("COPY").with_rows(rows as usize).into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.copy_buf.lock().clear();
        let message = fail.message;
        let e = match self.state.run(move |s| Ok(s.copy_fail(&message))).await {
            Ok(e) => pg_error(e),
            Err(e) => e,
        };
        client.set_transaction_status(self.state.transaction_status());
        e
    }
}
