//! The extended query protocol over a connection's [`Session`]: Parse,
//! Bind, Describe, Execute, Close, Sync.
//!
//! pgwire's default handlers write and flush each reply on its own; these
//! only buffer them (`feed`), and the buffer goes out in one write at Sync
//! or Flush (or when a COPY starts or an error is reported, where the
//! client waits for the reply), as PostgreSQL does. A Bind/Execute/Sync
//! round trip is then one socket write. Execute without a row limit encodes
//! the result rows straight into DataRow messages; with a row limit
//! (`max_rows`) the rows go through pgwire's portal, which suspends and
//! resumes.

use super::conn::{
    Conn, ConnState, copy_in_response, copy_out_response, feed_rows, pg_error, user_error,
};
use super::messages::send_notices;
use super::types::{decode_param, field_infos, pg_type};
use crate::error::{Error, SqlState};
use crate::session::{CopyMode, Prepared, StatementResult};
use crate::types::DataType;
use async_trait::async_trait;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::copy::{send_copy_in_response, send_copy_out_response};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldFormat, FieldInfo,
    QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Parse, ParseComplete,
    PortalSuspended, Sync as PgSync, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery};
use std::fmt::Debug;
use std::sync::Arc;

/// Parses statements for the extended protocol through the session, so
/// parameter and result types come from the binder.
pub(crate) struct Parser {
    pub(super) state: Arc<ConnState>,
}

/// Result formats of a portal, checked against its column count.
fn result_formats(format: Option<&Format>, n: usize) -> PgWireResult<Vec<FieldFormat>> {
    match format {
        None => Ok(vec![FieldFormat::Text; n]),
        Some(Format::Individual(codes)) if codes.len() != n => Err(format_count_error(codes, n)),
        Some(f) => Ok((0..n).map(|i| f.format_for(i)).collect()),
    }
}

fn format_count_error(codes: &[i16], n: usize) -> PgWireError {
    user_error(
        SqlState::PROTOCOL_VIOLATION,
        format!(
            "bind message has {} result formats but query has {n} columns",
            codes.len()
        ),
    )
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

/// The command tag prefix for a row-returning statement (the row count follows).
fn rows_tag(command: &str) -> String {
    match command {
        "INSERT" => "INSERT 0".into(),
        other => other.into(),
    }
}

/// The portal's parameters as values of the statement's parameter types.
fn decode_params(portal: &Portal<Arc<Prepared>>) -> crate::Result<Vec<crate::Value>> {
    let types = portal.statement.statement.param_types();
    if portal.parameters.len() != types.len() {
        return Err(Error::new(
            SqlState::PROTOCOL_VIOLATION,
            format!(
                "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                portal.parameters.len(),
                portal.statement.id.replace(DEFAULT_NAME, ""),
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
        .collect()
}

/// Sends a Describe's answer (buffered).
async fn feed_describe<C, D>(client: &mut C, d: &D) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    D: DescribeResponse,
{
    if let Some(types) = d.parameters() {
        client
            .feed(PgWireBackendMessage::ParameterDescription(
                ParameterDescription::new(types.iter().map(|t| t.oid()).collect()),
            ))
            .await?;
    }
    if d.is_no_data() {
        client
            .feed(PgWireBackendMessage::NoData(NoData::new()))
            .await?;
    } else {
        client
            .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                d.fields().iter().map(Into::into).collect(),
            )))
            .await?;
    }
    Ok(())
}

impl Conn {
    /// Runs a portal's statement (its first Execute) and sends the
    /// notices it raised; the result's rows are still to be sent.
    async fn run_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Arc<Prepared>>,
    ) -> PgWireResult<StatementResult>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let values = match decode_params(portal) {
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
        let prepared = portal.statement.statement.clone();
        if let Format::Individual(codes) = &portal.result_column_format
            && codes.len() != prepared.columns().len()
        {
            return Err(format_count_error(codes, prepared.columns().len()));
        }
        let (result, leftover) = self
            .state
            .run(move |s| {
                let r = s.run_prepared(&prepared, &values);
                Ok((r, s.take_notices()))
            })
            .await?;
        // Notices go before the statement's rows and CommandComplete (or error).
        send_notices(client, &leftover).await?;
        let result = result.map_err(pg_error)?;
        send_notices(client, &result.notices).await?;
        Ok(result)
    }

    /// Execute: runs the portal on its first Execute, then sends its rows
    /// (up to `max_rows`, when positive) and CommandComplete or
    /// PortalSuspended. Nothing is flushed here.
    async fn execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Arc<Prepared>>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let max_rows = message.max_rows.max(0) as usize;
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                client.set_state(PgWireConnectionState::ReadyForQuery);
                return Ok(());
            }
            None => return Err(PgWireError::PortalNotFound(name.to_owned())),
        };
        let exec_state = portal.state();
        let initial = matches!(*exec_state.lock().await, PortalExecutionState::Initial);
        if initial {
            let result = self.run_portal(client, &portal).await?;
            let result = self.deallocate(client, result);
            match result.copy_mode() {
                Some(CopyMode::In { columns }) => {
                    self.copy_buf.lock().clear();
                    client.set_state(PgWireConnectionState::CopyInProgress(true));
                    // Flushes: the client waits for it before sending data.
                    return send_copy_in_response(client, copy_in_response(columns)).await;
                }
                Some(CopyMode::Out { columns }) => {
                    send_copy_out_response(client, copy_out_response(result, columns)).await?;
                    client.set_state(PgWireConnectionState::ReadyForQuery);
                    return Ok(());
                }
                None => {}
            }
            let Some(rows) = &result.rows else {
                client
                    .feed(PgWireBackendMessage::CommandComplete(
                        Tag::new(&result.tag()).into(),
                    ))
                    .await?;
                client.set_state(PgWireConnectionState::ReadyForQuery);
                return Ok(());
            };
            let n = rows.columns().len();
            let format = &portal.result_column_format;
            if let Format::Individual(codes) = format
                && codes.len() != n
            {
                return Err(format_count_error(codes, n));
            }
            let tag = rows_tag(&result.command);
            if max_rows == 0 {
                feed_rows(client, rows, |i| format.format_for(i)).await?;
                client
                    .feed(PgWireBackendMessage::CommandComplete(
                        Tag::new(&tag).with_rows(rows.len()).into(),
                    ))
                    .await?;
                *exec_state.lock().await = PortalExecutionState::Finished;
                client.set_state(PgWireConnectionState::ReadyForQuery);
                return Ok(());
            }
            // A row limit: pgwire's portal keeps the rest for the next Execute.
            let formats = result_formats(Some(format), n)?;
            let fields = field_infos(rows.columns(), |i| formats[i]);
            let encoded = super::conn::data_rows(rows, &formats);
            let mut response = QueryResponse::new(Arc::new(fields), futures::stream::iter(encoded));
            response.set_command_tag(&tag);
            portal.start(response).await;
        }
        let fetched = portal.fetch(max_rows).await?;
        let mut response = fetched.response;
        let tag = response.command_tag().to_owned();
        let mut count = 0;
        while let Some(row) = response.data_rows().next().await {
            client.feed(PgWireBackendMessage::DataRow(row?)).await?;
            count += 1;
        }
        if fetched.suspended {
            client
                .feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                .await?;
        } else {
            client
                .feed(PgWireBackendMessage::CommandComplete(
                    Tag::new(&tag).with_rows(count).into(),
                ))
                .await?;
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Conn {
    type Statement = Arc<Prepared>;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// pgwire's, with ParseComplete buffered; a named statement's name is
    /// claimed in the session, whose SQL `PREPARE` shares the namespace, so
    /// reusing a taken name is 42P05, as in PostgreSQL.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let named = !name.is_empty() && name != DEFAULT_NAME;
        let stmt = StoredStatement::parse(client, &message, self.query_parser()).await?;
        // The unnamed statement is replaced; a named one must be closed first.
        if named {
            let claimed = name.to_owned();
            self.state
                .run(move |s| s.claim_statement_name(&claimed))
                .await?;
        }
        match stmt {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(name),
        }
        client
            .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's, with BindComplete buffered.
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) => {
                if !message.parameters.is_empty() {
                    return Err(user_error(
                        SqlState::PROTOCOL_VIOLATION,
                        format!(
                            "bind message supplies {} parameters, but prepared statement \"{}\" requires 0",
                            message.parameters.len(),
                            statement_name.replace(DEFAULT_NAME, "")
                        ),
                    ));
                }
                client.portal_store().put_empty_portal(portal_name);
            }
            None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
        }
        client
            .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's, with the answer buffered.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => match client.portal_store().get_statement(name) {
                Some(Entry::Value(stmt)) => {
                    let d = self.do_describe_statement(client, &stmt).await?;
                    feed_describe(client, &d).await
                }
                Some(Entry::Empty) => {
                    feed_describe(client, &DescribeStatementResponse::no_data()).await
                }
                None => Err(PgWireError::StatementNotFound(name.to_owned())),
            },
            TARGET_TYPE_BYTE_PORTAL => match client.portal_store().get_portal(name) {
                Some(Entry::Value(portal)) => {
                    let d = self.do_describe_portal(client, &portal).await?;
                    feed_describe(client, &d).await
                }
                Some(Entry::Empty) => {
                    feed_describe(client, &DescribePortalResponse::no_data()).await
                }
                // A SQL cursor (DECLARE), as psycopg's server-side cursors
                // describe one after declaring it.
                None if !name.is_empty() && name != DEFAULT_NAME => {
                    let cursor = name.to_owned();
                    let columns = self
                        .state
                        .run(move |s| Ok(s.cursor_columns(&cursor)))
                        .await?;
                    match columns {
                        Some(columns) => {
                            let fields = field_infos(&columns, |_| FieldFormat::Text);
                            client
                                .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                                    fields.iter().map(Into::into).collect(),
                                )))
                                .await?;
                            Ok(())
                        }
                        None => Err(PgWireError::PortalNotFound(name.to_owned())),
                    }
                }
                None => Err(PgWireError::PortalNotFound(name.to_owned())),
            },
            other => Err(PgWireError::InvalidTargetType(other)),
        }
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let r = self.execute(client, message).await;
        // The session, not the message sequence, knows the transaction state.
        client.set_transaction_status(self.state.transaction_status());
        r
    }

    /// pgwire's, with CloseComplete buffered, forgetting a closed statement's name.
    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                if !name.is_empty() && name != DEFAULT_NAME {
                    let released = name.to_owned();
                    self.state
                        .run(move |s| {
                            s.release_statement_name(&released);
                            Ok(())
                        })
                        .await?;
                }
                client.portal_store().rm_statement(name);
            }
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => {}
        }
        client
            .feed(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    /// Sends the ParameterStatus messages owed, then ReadyForQuery, and
    /// flushes everything buffered since the last Sync.
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.portal_store().rm_portal(DEFAULT_NAME);
        self.state.send_parameter_status(client).await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                client.transaction_status(),
            )))
            .await?;
        Ok(())
    }

    /// pgwire's way to run a portal, which `on_execute` (buffering, rows
    /// encoded in place) replaces; kept complete for pgwire's other callers:
    /// the whole result as one response, `max_rows` left to pgwire.
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
        let result = self.run_portal(client, portal).await?;
        let result = self.deallocate(client, result);
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
        let Some(rows) = &result.rows else {
            return Ok(Response::Execution(Tag::new(&result.tag())));
        };
        let formats = result_formats(Some(&portal.result_column_format), rows.columns().len())?;
        let fields = field_infos(rows.columns(), |i| formats[i]);
        let encoded = super::conn::data_rows(rows, &formats);
        let mut response = QueryResponse::new(Arc::new(fields), futures::stream::iter(encoded));
        response.set_command_tag(&rows_tag(&result.command));
        Ok(Response::Query(response))
    }
}
