//! What the server sends besides results: NoticeResponse for notices,
//! ParameterStatus for the session's reported parameters (the startup set
//! here; changes are sent by `conn` before ReadyForQuery), BackendKeyData
//! with the session's process id, and the settings a startup packet carries.

use super::Shared;
use crate::notice::Notice;
use futures::{Sink, SinkExt};
use parking_lot::Mutex;
use pgwire::api::auth::ServerParameterProvider;
use pgwire::api::{ClientInfo, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::startup::SecretKey;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

pub(super) fn notice_response(n: &Notice) -> PgWireBackendMessage {
    let mut info = ErrorInfo::new(
        n.severity.as_str().into(),
        n.code.code().into(),
        n.message.clone(),
    );
    info.severity_nonlocalized = Some(n.severity.as_str().into());
    info.detail = n.detail.clone();
    info.hint = n.hint.clone();
    PgWireBackendMessage::NoticeResponse(NoticeResponse::from(info))
}

/// Sends notices (NoticeResponse), buffered with what follows.
pub(super) async fn send_notices<C>(client: &mut C, notices: &[Notice]) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for n in notices {
        client.feed(notice_response(n)).await?;
    }
    Ok(())
}

/// BackendKeyData of a connection: its session's process id (what
/// `pg_backend_pid()` returns there) and pgwire's random secret key.
pub(super) struct SessionKeys {
    pub pid: AtomicI32,
    pub secrets: Arc<Shared>,
}

impl PidSecretKeyGenerator for SessionKeys {
    fn generate(&self, client: &dyn ClientInfo) -> (i32, SecretKey) {
        let (_, secret) = self.secrets.pid_gen.generate(client);
        (self.pid.load(Ordering::SeqCst), secret)
    }
}

/// Startup parameters that are not settings.
pub(super) const NOT_SETTINGS: &[&str] = &["user", "database", "options", "replication"];

/// The `name=value` settings in a startup packet's `options`
/// (`-c name=value`, `--name=value`), as PGOPTIONS sends them.
pub(super) fn startup_options(options: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        let assignment = match w {
            "-c" => words.next(),
            w => w.strip_prefix("-c").or_else(|| w.strip_prefix("--")),
        };
        if let Some((name, value)) = assignment.and_then(|a| a.split_once('=')) {
            out.push((name.replace('-', "_"), value.to_string()));
        }
    }
    out
}

/// The ParameterStatus values sent after authentication: the session's
/// reported parameters (set when it is opened, before authentication ends).
#[derive(Default)]
pub(crate) struct ServerParams {
    pub values: Mutex<Vec<(String, String)>>,
}

impl ServerParameterProvider for ServerParams {
    fn server_parameters<C: ClientInfo>(&self, _client: &C) -> Option<HashMap<String, String>> {
        Some(self.values.lock().iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_of_a_startup_packet() {
        assert_eq!(
            startup_options(
                "-c search_path=app,public --statement-timeout=5s -csynchronous_commit=off"
            ),
            vec![
                ("search_path".to_string(), "app,public".to_string()),
                ("statement_timeout".to_string(), "5s".to_string()),
                ("synchronous_commit".to_string(), "off".to_string()),
            ]
        );
        assert!(startup_options("-x y").is_empty());
    }
}
