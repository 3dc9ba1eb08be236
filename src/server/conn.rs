//! One client connection: authentication, and the simple and extended
//! query protocols over a [`Session`].

use super::Shared;
use super::messages::{NOT_SETTINGS, ServerParams, SessionKeys, send_notices, startup_options};
use super::types::{decode_param, encode_field, field_infos, pg_type};
use crate::error::{Error, SqlState};
use crate::session::{CancelHandle, CopyMode, Prepared, Session, SettingSource, StatementResult};
use crate::types::DataType;
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
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_ready_for_query};
use pgwire::api::results::CopyResponse;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ErrorHandler, METADATA_DATABASE, METADATA_USER,
    PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::{DataRow, RowDescription};
use pgwire::messages::extendedquery::{
    Close, CloseComplete, Describe, Execute, Parse, ParseComplete, Sync as PgSync,
    TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, ReadyForQuery, TransactionStatus,
};
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
    /// Statements handed to the blocking pool and not yet returned.
    running: AtomicUsize,
    last_active: Mutex<Instant>,
    in_transaction: AtomicBool,
    idle_timeout_ms: AtomicU64,
    idle_in_txn_timeout_ms: AtomicU64,
    failed: AtomicBool,
    in_txn_failed: AtomicBool,
    /// Reported parameters that changed, to send before the next ReadyForQuery.
    parameter_status: Mutex<Vec<(String, String)>>,
    /// Set once the session exists: `DROP DATABASE ... WITH (FORCE)` terminated it.
    terminated: Mutex<Option<crate::session::TerminationWatch>>,
}

fn user_error(code: SqlState, message: impl Into<String>) -> PgWireError {
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

fn pg_error(e: Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&e, "ERROR")))
}

fn fatal(e: Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&e, "FATAL")))
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            session: Mutex::new(None),
            cancel: Mutex::new(None),
            cancel_key: Mutex::new(None),
            busy: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            last_active: Mutex::new(Instant::now()),
            in_transaction: AtomicBool::new(false),
            idle_timeout_ms: AtomicU64::new(0),
            idle_in_txn_timeout_ms: AtomicU64::new(0),
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
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64).unwrap_or(0);
        self.in_transaction
            .store(s.in_transaction(), Ordering::SeqCst);
        self.in_txn_failed
            .store(s.transaction_failed(), Ordering::SeqCst);
        self.idle_timeout_ms.store(
            ms(s.settings().duration("idle_session_timeout")),
            Ordering::SeqCst,
        );
        self.idle_in_txn_timeout_ms.store(
            ms(s.settings().duration("idle_in_transaction_session_timeout")),
            Ordering::SeqCst,
        );
        *self.last_active.lock() = Instant::now();
    }

    /// Sends the ParameterStatus messages owed since the last ReadyForQuery.
    async fn send_parameter_status<C>(&self, client: &mut C) -> PgWireResult<()>
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

    fn transaction_status(&self) -> TransactionStatus {
        if self.in_txn_failed.load(Ordering::SeqCst) {
            TransactionStatus::Error
        } else if self.in_transaction.load(Ordering::SeqCst) {
            TransactionStatus::Transaction
        } else {
            TransactionStatus::Idle
        }
    }

    /// Runs `f` on the session in tokio's blocking pool. A panic is caught,
    /// logged and ends the connection (FATAL); other connections never see it.
    async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Session) -> crate::Result<R> + Send + 'static,
    ) -> PgWireResult<R> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(fatal(Error::internal("connection is closing")));
        }
        let st = self.clone();
        st.running.fetch_add(1, Ordering::SeqCst);
        let joined = tokio::task::spawn_blocking(move || {
            let mut guard = st.session.lock();
            let outcome = match guard.as_mut() {
                None => Err(Error::new(
                    SqlState::ADMIN_SHUTDOWN,
                    "terminating connection due to administrator command",
                )),
                Some(s) => {
                    st.busy.store(true, Ordering::SeqCst);
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(s)));
                    st.busy.store(false, Ordering::SeqCst);
                    match r {
                        Ok(r) => {
                            st.observe(s);
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
                            st.failed.store(true, Ordering::SeqCst);
                            // Dropping the session rolls its transaction back.
                            guard.take();
                            Err(Error::internal(format!("internal error: {what}")))
                        }
                    }
                }
            };
            drop(guard);
            st.running.fetch_sub(1, Ordering::SeqCst);
            outcome
        })
        .await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if self.failed.load(Ordering::SeqCst) => Err(fatal(e)),
            Ok(Err(e)) if e.code == SqlState::ADMIN_SHUTDOWN => Err(fatal(e)),
            Ok(Err(e)) => Err(pg_error(e)),
            Err(e) => {
                self.failed.store(true, Ordering::SeqCst);
                Err(fatal(Error::internal(format!(
                    "statement task failed: {e}"
                ))))
            }
        }
    }

    /// Completes when the connection has been idle longer than its
    /// `idle_session_timeout` (or `idle_in_transaction_session_timeout`
    /// inside a transaction), or its session was terminated; returns the reason.
    pub async fn idle_expired(&self) -> &'static str {
        loop {
            if self
                .terminated
                .lock()
                .as_ref()
                .is_some_and(|t| t.requested())
            {
                return "administrator command (DROP DATABASE ... WITH (FORCE))";
            }
            let (limit, reason) = if self.in_transaction.load(Ordering::SeqCst)
                || self.in_txn_failed.load(Ordering::SeqCst)
            {
                (
                    self.idle_in_txn_timeout_ms.load(Ordering::SeqCst),
                    "idle-in-transaction timeout",
                )
            } else {
                (
                    self.idle_timeout_ms.load(Ordering::SeqCst),
                    "idle-session timeout",
                )
            };
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

    /// Unregisters the connection and cancels what it runs.
    pub fn close(&self, shared: &Shared) {
        if let Some(key) = self.cancel_key.lock().take() {
            shared.cancel_keys.lock().remove(&key);
        }
        self.cancel_running();
    }

    /// Waits for statements still on the blocking pool, then ends the
    /// session (rolling back an open transaction).
    pub async fn wait_idle(&self) {
        while self.running.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
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
    state: Arc<ConnState>,
    parser: Arc<Parser>,
    params: Arc<ServerParams>,
    keys: Arc<SessionKeys>,
    /// COPY FROM STDIN data not yet handed to the session.
    copy_buf: Mutex<Vec<u8>>,
    /// The SCRAM exchange (per connection state lives in the client).
    auth: AuthDriver<Arc<ServerParams>>,
    /// The session opened for the role logging in, kept until the password checks out.
    pending: Mutex<Option<Session>>,
    login_error: Mutex<Option<Error>>,
    /// Names of the client's named prepared statements, for DEALLOCATE ALL.
    statements: Mutex<std::collections::BTreeSet<String>>,
}

/// COPY data is passed to the session in chunks of about this size.
const COPY_CHUNK: usize = 256 * 1024;

impl Conn {
    pub fn new(shared: Arc<Shared>, local: SocketAddr, peer: SocketAddr) -> Conn {
        let state = Arc::new(ConnState::new());
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
            statements: Mutex::new(Default::default()),
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
fn data_rows(result: &crate::Rows, formats: &[FieldFormat]) -> Vec<PgWireResult<DataRow>> {
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
        let formats = vec![FieldFormat::Text; rows.columns().len()];
        for row in data_rows(rows, &formats) {
            client.feed(PgWireBackendMessage::DataRow(row?)).await?;
        }
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
            let r = r.and_then(|result| self.deallocate(client, result));
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

/// Parses statements for the extended protocol through the session, so
/// parameter and result types come from the binder.
pub(crate) struct Parser {
    state: Arc<ConnState>,
}

/// Result formats of a portal, checked against its column count.
fn result_formats(format: Option<&Format>, n: usize) -> PgWireResult<Vec<FieldFormat>> {
    match format {
        None => Ok(vec![FieldFormat::Text; n]),
        Some(Format::Individual(codes)) if codes.len() != n => Err(user_error(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "bind message has {} result formats but query has {n} columns",
                codes.len()
            ),
        )),
        Some(f) => Ok((0..n).map(|i| f.format_for(i)).collect()),
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Arc<Prepared>;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Arc<Prepared>>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let declared: Vec<DataType> = types
            .iter()
            .map(|t| {
                t.as_ref()
                    .and_then(|t| DataType::from_oid(t.oid()))
                    .unwrap_or(DataType::Unknown)
            })
            .collect();
        let sql = sql.to_string();
        let prepared = self
            .state
            .run(move |s| match s.prepare_typed(&sql, &declared) {
                Ok(p) => Ok(Some(p)),
                // A query of only comments is an empty query, as in PostgreSQL.
                Err(e) if e.code == SqlState::SYNTAX_ERROR && e.message == "empty statement" => {
                    Ok(None)
                }
                Err(e) => {
                    s.fail_transaction();
                    Err(e)
                }
            })
            .await?;
        Ok(prepared.map(Arc::new))
    }

    fn get_parameter_types(&self, stmt: &Arc<Prepared>) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types().iter().map(pg_type).collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Arc<Prepared>,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let formats = result_formats(format, stmt.columns().len())?;
        Ok(field_infos(stmt.columns(), |i| formats[i]))
    }
}

/// The command tag prefix for a row-returning statement (pgwire appends the count).
fn rows_tag(command: &str) -> String {
    match command {
        "INSERT" => "INSERT 0".into(),
        other => other.into(),
    }
}

#[async_trait]
impl ExtendedQueryHandler for Conn {
    type Statement = Arc<Prepared>;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// pgwire's Parse, remembering the statement's name for DEALLOCATE;
    /// reusing the name of an open statement is 42P05, as in PostgreSQL.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.clone().unwrap_or_default();
        // The unnamed statement is replaced; a named one must be closed first.
        if !name.is_empty() && self.statements.lock().contains(&name) {
            return Err(pg_error(Error::new(
                SqlState::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            )));
        }
        match StoredStatement::parse(client, &message, self.parser.clone()).await? {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(&name),
        }
        if !name.is_empty() {
            self.statements.lock().insert(name);
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// Describe of a portal that is a SQL cursor (DECLARE), as psycopg's
    /// server-side cursors ask after declaring one; the rest is pgwire's.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && let Some(name) = message.name.as_deref().filter(|n| !n.is_empty())
            && client.portal_store().get_portal(name).is_none()
        {
            let name = name.to_string();
            let columns = self.state.run(move |s| Ok(s.cursor_columns(&name))).await?;
            if let Some(columns) = columns {
                let fields = field_infos(&columns, |_| FieldFormat::Text);
                client
                    .send(PgWireBackendMessage::RowDescription(RowDescription::new(
                        fields.iter().map(Into::into).collect(),
                    )))
                    .await?;
                return Ok(());
            }
        }
        self._on_describe(client, message).await
    }

    /// pgwire's Close, forgetting a closed statement's name.
    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                self.statements.lock().remove(name);
                client.portal_store().rm_statement(name);
            }
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => {}
        }
        client
            .send(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let r = self._on_execute(client, message).await;
        // The session, not the message sequence, knows the transaction state.
        client.set_transaction_status(self.state.transaction_status());
        r
    }

    /// Sends the ParameterStatus messages owed, then ReadyForQuery.
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.portal_store().rm_portal(pgwire::api::DEFAULT_NAME);
        self.state.send_parameter_status(client).await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                client.transaction_status(),
            )))
            .await?;
        client.flush().await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Arc<Prepared>>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = portal.statement.statement.clone();
        let types = prepared.param_types();
        let decoded = (|| {
            if portal.parameters.len() != types.len() {
                return Err(Error::new(
                    SqlState::PROTOCOL_VIOLATION,
                    format!(
                        "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                        portal.parameters.len(),
                        portal.statement.id.replace(pgwire::api::DEFAULT_NAME, ""),
                        types.len()
                    ),
                ));
            }
            if let Format::Individual(codes) = &portal.parameter_format
                && codes.len() != types.len()
            {
                return Err(Error::new(
                    SqlState::PROTOCOL_VIOLATION,
                    format!(
                        "bind message has {} parameter formats but {} parameters",
                        codes.len(),
                        types.len()
                    ),
                ));
            }
            portal
                .parameters
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    decode_param(
                        p.as_deref(),
                        portal.parameter_format.is_binary(i),
                        &types[i],
                    )
                })
                .collect::<crate::Result<Vec<_>>>()
        })();
        let values = match decoded {
            Ok(v) => v,
            Err(e) => {
                self.state
                    .run(|s| {
                        s.fail_transaction();
                        Ok(())
                    })
                    .await?;
                return Err(pg_error(e));
            }
        };
        let formats = result_formats(Some(&portal.result_column_format), prepared.columns().len())?;
        let (result, leftover) = self
            .state
            .run(move |s| {
                let r = s.run_prepared(&prepared, &values);
                Ok((r, s.take_notices()))
            })
            .await?;
        // Notices go before the statement's CommandComplete (or error).
        send_notices(client, &leftover).await?;
        let result = result
            .and_then(|r| self.deallocate(client, r))
            .map_err(pg_error)?;
        send_notices(client, &result.notices).await?;
        match result.copy_mode() {
            Some(CopyMode::In { columns }) => {
                self.copy_buf.lock().clear();
                return Ok(Response::CopyIn(copy_in_response(columns)));
            }
            Some(CopyMode::Out { columns }) => {
                return Ok(Response::CopyOut(copy_out_response(result, columns)));
            }
            None => {}
        }
        match &result.rows {
            Some(rows) => {
                let formats = if formats.len() == rows.columns().len() {
                    formats
                } else {
                    result_formats(Some(&portal.result_column_format), rows.columns().len())?
                };
                let fields = field_infos(rows.columns(), |i| formats[i]);
                let encoded = data_rows(rows, &formats);
                let mut response =
                    QueryResponse::new(Arc::new(fields), futures::stream::iter(encoded));
                response.set_command_tag(&rows_tag(&result.command));
                Ok(Response::Query(response))
            }
            None => Ok(Response::Execution(Tag::new(&result.tag()))),
        }
    }
}

fn copy_in_response(columns: usize) -> CopyResponse {
    CopyResponse::new(0, columns, futures::stream::empty())
}

/// COPY TO STDOUT: each result row is one line of data.
fn copy_out_response(result: StatementResult, columns: usize) -> CopyResponse {
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
    /// DEALLOCATE drops the client's named statements (the session does not
    /// hold them); a name that is not one is 26000, as in PostgreSQL.
    fn deallocate<C>(&self, client: &C, result: StatementResult) -> crate::Result<StatementResult>
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore,
    {
        match result.deallocates() {
            None => {}
            Some(None) => {
                for name in std::mem::take(&mut *self.statements.lock()) {
                    client.portal_store().rm_statement(&name);
                }
            }
            Some(Some(name)) => {
                if !self.statements.lock().remove(name) {
                    return Err(Error::new(
                        SqlState::INVALID_SQL_STATEMENT_NAME,
                        format!("prepared statement \"{name}\" does not exist"),
                    ));
                }
                client.portal_store().rm_statement(name);
            }
        }
        Ok(result)
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
