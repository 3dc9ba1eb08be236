//! SET, RESET and SHOW, and applying `set_config` calls once their
//! statement succeeds. Values and validation are in `settings`; the role
//! settings (`role`, `session_authorization`) in `identity`.

use super::report::PendingSetting;
use super::{Session, StatementResult, command_result, isolation_of, rows_result};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::plan::Column;
use crate::storage::Durability;
use crate::types::{DataType, Value};
use sqlparser::ast;

/// The text of a SET value: a string literal's contents, an identifier's
/// name, anything else as written.
fn value_text(v: &ast::Expr) -> String {
    match v {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        ast::Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

/// A parameter name as written (`app.user`, `"role"`), without quotes.
fn setting_name(name: &ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => crate::sql::binder::ident(i),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The parameter `SHOW` names: the words of `SHOW TRANSACTION ISOLATION
/// LEVEL`, `SHOW TIME ZONE` and `SHOW SESSION AUTHORIZATION`, or a (dotted) name.
fn show_name(words: &[ast::Ident]) -> String {
    let words: Vec<String> = words.iter().map(crate::sql::binder::ident).collect();
    match words.join(" ").to_lowercase().as_str() {
        "transaction isolation level" => "transaction_isolation".to_string(),
        "transaction read only" => "transaction_read_only".to_string(),
        "time zone" => "timezone".to_string(),
        "session authorization" => "session_authorization".to_string(),
        _ => words.join(".").to_lowercase(),
    }
}

/// The column a SHOW returns: the parameter's name as PostgreSQL spells it.
fn show_column(name: &str) -> String {
    match name {
        "role"
        | "session_authorization"
        | "is_superuser"
        | "transaction_isolation"
        | "transaction_read_only" => name.to_string(),
        other => super::Settings::display_name(other),
    }
}

/// The result columns of `SHOW name` / `SHOW ALL`, before it runs (the
/// extended protocol describes them).
pub(super) fn show_columns(words: &[ast::Ident]) -> Vec<super::ColumnInfo> {
    let name = show_name(words);
    let names = if name == "all" {
        vec!["name".to_string(), "setting".into(), "description".into()]
    } else {
        vec![show_column(&name)]
    };
    names
        .into_iter()
        .map(|name| super::ColumnInfo {
            name,
            ty: DataType::Text,
        })
        .collect()
}

fn text_column(name: &str) -> Column {
    Column {
        name: name.into(),
        ty: DataType::Text,
    }
}

impl Session {
    /// SET LOCAL outside a transaction block lasts only as long as its own
    /// statement, so it has no effect; PostgreSQL warns (and still checks the value).
    fn warn_set_local(&self, local: bool) {
        if local && !self.in_transaction() {
            self.notice(Notice::warning(
                SqlState::NO_ACTIVE_SQL_TRANSACTION,
                "SET LOCAL can only be used in transaction blocks",
            ));
        }
    }

    pub(super) fn set(&mut self, set: &ast::Set) -> Result<StatementResult> {
        use ast::Set as St;
        match set {
            St::SingleAssignment {
                scope,
                variable,
                values,
                ..
            } => {
                let name = setting_name(variable);
                let local = matches!(scope, Some(ast::ContextModifier::Local));
                self.warn_set_local(local);
                if self.set_identity_setting(&name, values, local)? {
                    return Ok(command_result("SET"));
                }
                let value = values.iter().map(value_text).collect::<Vec<_>>().join(", ");
                if name.eq_ignore_ascii_case(super::tenant::TENANT_SETTING) {
                    let default = matches!(values.as_slice(), [ast::Expr::Identifier(i)]
                        if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
                    self.set_tenant_setting((!default).then_some(value.as_str()), local)?;
                    return Ok(command_result("SET"));
                }
                if value.eq_ignore_ascii_case("default") {
                    self.settings.reset(&name)?;
                } else {
                    self.settings.set(&name, &value, local)?;
                }
                self.setting_changed(&name);
                Ok(command_result("SET"))
            }
            St::SetTransaction { modes, session, .. } => {
                for m in modes {
                    match m {
                        ast::TransactionMode::IsolationLevel(l) => {
                            if *session {
                                self.settings.set(
                                    "default_transaction_isolation",
                                    isolation_of(l).name(),
                                    false,
                                )?;
                            } else if let Some(t) = self.txn.as_mut() {
                                t.txn.set_isolation(isolation_of(l))?;
                            }
                        }
                        ast::TransactionMode::AccessMode(a) => {
                            let read_only = *a == ast::TransactionAccessMode::ReadOnly;
                            if *session {
                                self.settings.set(
                                    "default_transaction_read_only",
                                    if read_only { "on" } else { "off" },
                                    false,
                                )?;
                                self.setting_changed("default_transaction_read_only");
                            } else if let Some(t) = self.txn.as_mut() {
                                t.read_only = read_only;
                            }
                        }
                    }
                }
                Ok(command_result("SET"))
            }
            St::SetTimeZone { local, value } => {
                self.warn_set_local(*local);
                let v = value_text(value);
                if v.eq_ignore_ascii_case("default") || v.eq_ignore_ascii_case("local") {
                    self.settings.reset("timezone")?;
                } else {
                    self.settings.set("timezone", &v, *local)?;
                }
                Ok(command_result("SET"))
            }
            St::SetRole {
                context_modifier,
                role_name,
            } => {
                let local = matches!(context_modifier, Some(ast::ContextModifier::Local));
                self.warn_set_local(local);
                self.set_role(role_name.as_ref(), local)?;
                Ok(command_result("SET"))
            }
            St::SetSessionAuthorization(p) => {
                if p.scope == ast::ContextModifier::Local {
                    return Err(Error::unsupported(
                        "SET LOCAL SESSION AUTHORIZATION is not supported",
                    ));
                }
                match &p.kind {
                    ast::SetSessionAuthorizationParamKind::Default => {
                        self.set_session_authorization(None)?
                    }
                    ast::SetSessionAuthorizationParamKind::User(u) => {
                        self.set_session_authorization(Some(u))?
                    }
                }
                Ok(command_result("SET"))
            }
            St::SetNames { charset_name, .. } => {
                self.settings
                    .set("client_encoding", &charset_name.to_string(), false)?;
                Ok(command_result("SET"))
            }
            other => Err(Error::unsupported(format!(
                "SET form not supported: {other}"
            ))),
        }
    }

    /// RESET name | ALL | SESSION AUTHORIZATION.
    pub(super) fn reset(&mut self, r: &ast::Reset) -> Result<StatementResult> {
        match r {
            // role and session_authorization are not reset by RESET ALL.
            ast::Reset::ALL => self.settings.reset_all(),
            ast::Reset::SessionAuthorization => self.set_session_authorization(None)?,
            ast::Reset::ConfigurationParameter(name) => {
                let name = setting_name(name);
                let default = [ast::Expr::Identifier(ast::Ident::new("DEFAULT"))];
                if name.eq_ignore_ascii_case(super::tenant::TENANT_SETTING) {
                    self.set_tenant_setting(None, false)?;
                } else if !self.set_identity_setting(&name, &default, false)? {
                    self.settings.reset(&name)?;
                    self.setting_changed(&name);
                }
            }
        }
        Ok(command_result("RESET"))
    }

    /// `DISCARD ALL | PLANS | SEQUENCES | TEMP`: drops session state, as a
    /// connection pool does before it hands a connection to another client.
    pub(super) fn discard(&mut self, what: ast::DiscardObject) -> Result<StatementResult> {
        use ast::DiscardObject as D;
        if self.transaction_failed() {
            return Err(Error::aborted_transaction());
        }
        let tag = match what {
            D::ALL => {
                if self.in_transaction() {
                    return Err(Error::new(
                        SqlState::ACTIVE_SQL_TRANSACTION,
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                // PostgreSQL's list: CLOSE ALL; SET SESSION AUTHORIZATION
                // DEFAULT; RESET ALL; DEALLOCATE ALL; DISCARD PLANS, TEMP and
                // SEQUENCES. (A role bound to a tenant stays in its tenant:
                // that is its reset value.)
                self.cursors.clear();
                self.set_session_authorization(None)?;
                self.reset(&ast::Reset::ALL)?;
                self.sql_prepared.clear();
                self.currvals.borrow_mut().clear();
                self.discard_temp()?;
                let mut r = command_result("DISCARD ALL");
                r.deallocate = Some(
                    std::mem::take(&mut self.protocol_statements)
                        .into_iter()
                        .collect(),
                );
                return Ok(r);
            }
            // Plans are cached per database and keyed by everything they
            // depend on; nothing is cached per session.
            D::PLANS => "DISCARD PLANS",
            D::SEQUENCES => {
                self.currvals.borrow_mut().clear();
                "DISCARD SEQUENCES"
            }
            D::TEMP => {
                self.discard_temp()?;
                "DISCARD TEMP"
            }
        };
        Ok(command_result(tag))
    }

    /// Drops the session's temporary schema and everything in it, in the open
    /// transaction or in one of its own.
    fn discard_temp(&mut self) -> Result<()> {
        if !self.temp_used {
            return Ok(());
        }
        let name = self.temp_schema.clone();
        if self.txn.is_some() {
            self.with_ddl(|ctx| ctx.drop_temp_schema(&name))
        } else {
            self.drop_temp_schemas(&[name])
        }
    }

    /// Effects of a setting beyond its value (the open transaction's durability).
    fn setting_changed(&mut self, name: &str) {
        // `SET transaction_read_only` is `SET TRANSACTION READ ONLY | WRITE`.
        if name.eq_ignore_ascii_case("transaction_read_only") {
            let on = self.settings.builtin("transaction_read_only") == "on";
            if let Some(t) = self.txn.as_mut() {
                t.read_only = on;
            }
        }
        if name.eq_ignore_ascii_case("synchronous_commit") {
            let off = self.settings.builtin("synchronous_commit") == "off";
            if let Some(t) = self.txn.as_mut() {
                t.txn.set_durability(if off {
                    Durability::Async
                } else {
                    Durability::Sync
                });
            }
        }
    }

    /// Applies the `set_config` calls of a statement that succeeded, in order.
    pub(super) fn apply_settings(&mut self, pending: Vec<PendingSetting>) -> Result<()> {
        for p in pending {
            let value = match &p.value {
                Some(v) => ast::Expr::Value(ast::Value::SingleQuotedString(v.clone()).into()),
                None => ast::Expr::Identifier(ast::Ident::new("DEFAULT")),
            };
            if self.set_identity_setting(&p.name, &[value], p.local)? {
                continue;
            }
            if p.name.eq_ignore_ascii_case(super::tenant::TENANT_SETTING) {
                self.set_tenant_setting(p.value.as_deref(), p.local)?;
                continue;
            }
            match &p.value {
                Some(v) => self.settings.set(&p.name, v, p.local)?,
                None => self.settings.reset(&p.name)?,
            }
            self.setting_changed(&p.name);
        }
        Ok(())
    }

    /// `SHOW name`, `SHOW ALL`.
    pub(super) fn show_variable(&mut self, words: &[ast::Ident]) -> Result<StatementResult> {
        self.show(&show_name(words))
    }

    fn show(&mut self, name: &str) -> Result<StatementResult> {
        let n = name.to_lowercase();
        if n == "all" {
            let rows = self
                .settings
                .all()
                .into_iter()
                .map(|(k, v, d)| vec![Value::Text(k), Value::Text(v), Value::Text(d)])
                .collect();
            return Ok(rows_result(
                vec![
                    text_column("name"),
                    text_column("setting"),
                    text_column("description"),
                ],
                rows,
            ));
        }
        let catalog = self.catalog()?;
        let value = if let Some(v) = self.identity.setting(&catalog, &n) {
            v?
        } else if n == "transaction_read_only" {
            let on = match &self.txn {
                Some(t) => t.read_only,
                None => self.settings.builtin("default_transaction_read_only") == "on",
            };
            if on { "on" } else { "off" }.to_string()
        } else if n == "transaction_isolation" {
            match &self.txn {
                Some(t) => t.txn.isolation().name().to_string(),
                None => self
                    .settings
                    .get("default_transaction_isolation")?
                    .unwrap_or_default(),
            }
        } else {
            self.settings.get(&n)?.ok_or_else(|| {
                Error::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("unrecognized configuration parameter \"{n}\""),
                )
            })?
        };
        Ok(rows_result(
            vec![text_column(&show_column(&n))],
            vec![vec![Value::Text(value)]],
        ))
    }
}
