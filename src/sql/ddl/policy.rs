//! CREATE / ALTER / DROP POLICY and ALTER TABLE ... ROW LEVEL SECURITY.
//!
//! Only the table's owner may create, alter or drop its policies and switch
//! its row-level security. Expressions are checked when the policy is
//! created (they must bind over the table's columns, without aggregates)
//! and stored as SQL text.

use super::DdlCtx;
use crate::catalog::acl::{Object, PUBLIC};
use crate::catalog::{self as cat, PolicyCommand, PolicyDef, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::notice::Notice;
use crate::sql::binder::{Scope, ident};
use sqlparser::ast;

fn policy_command(c: Option<&ast::CreatePolicyCommand>) -> PolicyCommand {
    match c {
        None | Some(ast::CreatePolicyCommand::All) => PolicyCommand::All,
        Some(ast::CreatePolicyCommand::Select) => PolicyCommand::Select,
        Some(ast::CreatePolicyCommand::Insert) => PolicyCommand::Insert,
        Some(ast::CreatePolicyCommand::Update) => PolicyCommand::Update,
        Some(ast::CreatePolicyCommand::Delete) => PolicyCommand::Delete,
    }
}

/// PostgreSQL's rules on which expressions a command's policy may have.
fn check_clauses(cmd: PolicyCommand, using: bool, with_check: bool) -> Result<()> {
    if with_check && matches!(cmd, PolicyCommand::Select | PolicyCommand::Delete) {
        return Err(Error::syntax(
            "WITH CHECK cannot be applied to SELECT or DELETE",
        ));
    }
    if using && cmd == PolicyCommand::Insert {
        return Err(Error::syntax(
            "only WITH CHECK expression allowed for INSERT",
        ));
    }
    Ok(())
}

fn not_found(name: &str, table: &str) -> Error {
    Error::new(
        SqlState::UNDEFINED_OBJECT,
        format!("policy \"{name}\" for table \"{table}\" does not exist"),
    )
}

impl DdlCtx<'_> {
    /// The table a policy statement names, owned by the current user.
    fn policy_table(&mut self, name: &ast::ObjectName) -> Result<TableDef> {
        let table = self.binder().table(name)?;
        self.require_owner(Object::Table(&table))?;
        self.lock_table_exclusive(table.id)?;
        Ok((**self.catalog.table(table.id)?).clone())
    }

    /// The roles of a `TO` list (PUBLIC is [`PUBLIC`]); no list means PUBLIC.
    fn policy_roles(&self, to: Option<&Vec<ast::Owner>>) -> Result<Vec<u32>> {
        let Some(to) = to else {
            return Ok(vec![PUBLIC]);
        };
        let mut out = Vec::new();
        for o in to {
            let id = match o {
                ast::Owner::Ident(i)
                    if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("public") =>
                {
                    PUBLIC
                }
                other => self.owner_role(other)?,
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
        // PUBLIC with other roles is just PUBLIC, as in PostgreSQL.
        if out.contains(&PUBLIC) {
            out = vec![PUBLIC];
        }
        Ok(out)
    }

    /// Checks a policy expression binds over the table's columns and
    /// returns its stored text.
    fn policy_expr(&self, table: &TableDef, e: &ast::Expr) -> Result<String> {
        self.relations_read(table, e)?;
        Ok(e.to_string())
    }

    /// Binds a policy expression over the table's columns; returns the
    /// relations it reads.
    fn relations_read(&self, table: &TableDef, e: &ast::Expr) -> Result<Vec<u32>> {
        let scope = Scope::for_table(table, &table.name);
        let binder = self.binder();
        binder.bind_predicate(e, &scope, "POLICY")?;
        let used = binder.used_relations.borrow().clone();
        Ok(used)
    }

    /// The relations other than `table` that policy `p`'s expressions read.
    fn policy_dependencies(&self, table: &TableDef, p: &PolicyDef) -> Result<Vec<u32>> {
        let mut deps = Vec::new();
        for text in p.using.iter().chain(&p.with_check) {
            let e = crate::sql::parser::parse_expr(text)?;
            deps.extend(self.relations_read(table, &e)?);
        }
        deps.retain(|&d| d != table.id);
        deps.sort_unstable();
        deps.dedup();
        Ok(deps)
    }

    pub fn create_policy(&mut self, cp: &ast::CreatePolicy) -> Result<String> {
        let mut table = self.policy_table(&cp.table_name)?;
        let name = ident(&cp.name);
        if table.policy(&name).is_some() {
            return Err(Error::new(
                SqlState::DUPLICATE_OBJECT,
                format!(
                    "policy \"{name}\" for table \"{}\" already exists",
                    table.name
                ),
            ));
        }
        let command = policy_command(cp.command.as_ref());
        check_clauses(command, cp.using.is_some(), cp.with_check.is_some())?;
        let using = cp
            .using
            .as_ref()
            .map(|e| self.policy_expr(&table, e))
            .transpose()?;
        let with_check = cp
            .with_check
            .as_ref()
            .map(|e| self.policy_expr(&table, e))
            .transpose()?;
        let mut policy = PolicyDef {
            id: self.oids.allocate(self.txn)?,
            name,
            permissive: !matches!(cp.policy_type, Some(ast::CreatePolicyType::Restrictive)),
            command,
            roles: self.policy_roles(cp.to.as_ref())?,
            using,
            with_check,
            depends_on: Vec::new(),
        };
        policy.depends_on = self.policy_dependencies(&table, &policy)?;
        table.rls.policies.push(policy);
        self.put_table(&table)?;
        self.reload()?;
        Ok("CREATE POLICY".into())
    }

    pub fn alter_policy(&mut self, ap: &ast::AlterPolicy) -> Result<String> {
        let mut table = self.policy_table(&ap.table_name)?;
        let name = ident(&ap.name);
        let Some(k) = table.rls.policies.iter().position(|p| p.name == name) else {
            return Err(not_found(&name, &table.name));
        };
        match &ap.operation {
            ast::AlterPolicyOperation::Rename { new_name } => {
                let new_name = ident(new_name);
                if table.policy(&new_name).is_some() {
                    return Err(Error::new(
                        SqlState::DUPLICATE_OBJECT,
                        format!(
                            "policy \"{new_name}\" for table \"{}\" already exists",
                            table.name
                        ),
                    ));
                }
                table.rls.policies[k].name = new_name;
            }
            ast::AlterPolicyOperation::Apply {
                to,
                using,
                with_check,
            } => {
                let cmd = table.rls.policies[k].command;
                check_clauses(cmd, using.is_some(), with_check.is_some())?;
                if to.is_some() {
                    table.rls.policies[k].roles = self.policy_roles(to.as_ref())?;
                }
                if let Some(e) = using {
                    table.rls.policies[k].using = Some(self.policy_expr(&table, e)?);
                }
                if let Some(e) = with_check {
                    table.rls.policies[k].with_check = Some(self.policy_expr(&table, e)?);
                }
                table.rls.policies[k].depends_on =
                    self.policy_dependencies(&table, &table.rls.policies[k])?;
            }
        }
        self.put_table(&table)?;
        self.reload()?;
        Ok("ALTER POLICY".into())
    }

    pub fn drop_policy(&mut self, dp: &ast::DropPolicy) -> Result<String> {
        let name = ident(&dp.name);
        let mut table = match self.policy_table(&dp.table_name) {
            Ok(t) => t,
            // DROP POLICY names it a relation, as PostgreSQL's does.
            Err(e) if e.message.starts_with("must be owner of table") => {
                return Err(Error {
                    message: e.message.replacen("table", "relation", 1),
                    ..e
                });
            }
            Err(e) if dp.if_exists && e.code == SqlState::UNDEFINED_TABLE => {
                self.env.notice(Notice::plain(format!(
                    "relation \"{}\" does not exist, skipping",
                    dp.table_name
                )));
                return Ok("DROP POLICY".into());
            }
            Err(e) => return Err(e),
        };
        let before = table.rls.policies.len();
        table.rls.policies.retain(|p| p.name != name);
        if table.rls.policies.len() == before {
            if dp.if_exists {
                self.env.notice(Notice::plain(format!(
                    "policy \"{name}\" for relation \"{}\" does not exist, skipping",
                    table.name
                )));
                return Ok("DROP POLICY".into());
            }
            return Err(not_found(&name, &table.name));
        }
        self.put_table(&table)?;
        self.reload()?;
        Ok("DROP POLICY".into())
    }

    /// ALTER TABLE ... ENABLE / DISABLE / FORCE / NO FORCE ROW LEVEL SECURITY
    /// (the caller has checked ownership and locked the table).
    pub(super) fn set_row_security(
        &mut self,
        table: &mut TableDef,
        enabled: Option<bool>,
        forced: Option<bool>,
    ) -> Result<()> {
        if let Some(e) = enabled {
            table.rls.enabled = e;
        }
        if let Some(f) = forced {
            table.rls.forced = f;
        }
        cat::put_object(self.txn, cat::KIND_TABLE, table.id, &*table)?;
        cat::bump_version(self.txn);
        Ok(())
    }
}
