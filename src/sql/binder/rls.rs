//! Row-level security enters plans here, as PostgreSQL defines it
//! ("Row Security Policies"; `rowsecurity.c`).
//!
//! When a table with ENABLE ROW LEVEL SECURITY is read or written by a role
//! that does not bypass it (superusers, BYPASSRLS roles, and the owner
//! unless FORCE bypass), the policies that apply to the command and to the
//! role (PUBLIC, or a role whose privileges it has) are combined: the
//! permissive ones OR-ed, the restrictive ones AND-ed to that; no
//! permissive policy means no rows (default deny).
//!
//! * Reads (SELECT, and the rows UPDATE / DELETE may touch) get the USING
//!   expressions as a **security filter**: `(policies) IS TRUE`, placed
//!   first in the scan's filter. Evaluation of a conjunction stops at the
//!   first FALSE, and `IS TRUE` is never NULL, so no user predicate (which
//!   could raise an error or call a function) ever runs on a hidden row;
//!   later stages append user predicates after it and never reorder a
//!   scan's filter.
//! * Writes get **checks** on each new row (INSERT rows, UPDATE's new rows):
//!   WITH CHECK (or USING where a policy has none) of the command's
//!   policies, and, when the statement reads rows back (RETURNING, or an
//!   UPDATE with WHERE), the SELECT policies too. A failing row is 42501
//!   `new row violates row-level security policy for table "t"` (naming the
//!   policy when a restrictive one failed).
//! * Rows a statement chooses to change after reading them (ON CONFLICT DO
//!   UPDATE's conflicting row, MERGE's matched row) are not filtered by the
//!   UPDATE / DELETE policies but **checked** against their USING
//!   expressions, and fail with 42501 instead of being skipped.
//!
//! Policy expressions are bound on their own (no enclosing query, no WITH
//! names) over the table's columns, with the binder's privilege checks; a
//! policy that reaches its own table again through a subquery is 42P17.

use super::{Binder, Checks, Scope};
use crate::catalog::acl::PUBLIC;
use crate::catalog::{PolicyCommand, PolicyDef, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::parser;
use crate::types::Value;

/// What a statement does to a table, for choosing its policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RlsCommand {
    Select,
    Insert,
    Update,
    Delete,
}

impl RlsCommand {
    fn matches(self, p: PolicyCommand) -> bool {
        matches!(
            (self, p),
            (_, PolicyCommand::All)
                | (RlsCommand::Select, PolicyCommand::Select)
                | (RlsCommand::Insert, PolicyCommand::Insert)
                | (RlsCommand::Update, PolicyCommand::Update)
                | (RlsCommand::Delete, PolicyCommand::Delete)
        )
    }
}

/// A condition every new row must meet.
#[derive(Clone, Debug, PartialEq)]
pub struct RlsCheck {
    /// The restrictive policy it comes from (named in the error), or None
    /// for the permissive policies together.
    pub policy: Option<String>,
    /// Over the table's columns; the row passes only if it is TRUE.
    pub expr: Expr,
    /// What the check is about, for the error's wording.
    pub kind: RlsCheckKind,
}

/// What a row-level security check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RlsCheckKind {
    /// WITH CHECK (or USING) on a new row.
    NewRow,
    /// USING on the existing row ON CONFLICT DO UPDATE would update
    /// (reported as a new row, as PostgreSQL does).
    ConflictRow,
    /// USING of the UPDATE or DELETE policies on the row a MERGE action
    /// would change.
    TargetRow,
}

impl RlsCheck {
    /// The 42501 error for a row failing this check.
    pub fn violation(&self, table: &str) -> Error {
        let (row, what) = match self.kind {
            RlsCheckKind::NewRow => ("new", ""),
            RlsCheckKind::ConflictRow => ("new", " (USING expression)"),
            RlsCheckKind::TargetRow => ("target", " (USING expression)"),
        };
        let message = match &self.policy {
            Some(p) => {
                format!(
                    "{row} row violates row-level security policy \"{p}\"{what} for table \"{table}\""
                )
            }
            None => {
                format!("{row} row violates row-level security policy{what} for table \"{table}\"")
            }
        };
        Error::new(SqlState::INSUFFICIENT_PRIVILEGE, message)
    }
}

/// Which expression of a policy a check uses.
#[derive(Clone, Copy, PartialEq)]
enum Clause {
    Using,
    /// WITH CHECK, or USING when the policy has no WITH CHECK.
    WithCheck,
}

fn or_all(parts: Vec<Expr>) -> Option<Expr> {
    parts
        .into_iter()
        .reduce(|a, b| Expr::Or(Box::new(a), Box::new(b)))
}

fn is_true(e: Expr) -> Expr {
    Expr::IsBool(Box::new(e), true)
}

impl Binder<'_> {
    /// The role whose policies apply to `table`, or None when row-level
    /// security does not apply (disabled, internal binding, or the checked
    /// role bypasses it).
    ///
    /// With `row_security` off, a statement that the policies would filter
    /// fails with 42501 instead, as in PostgreSQL.
    pub(crate) fn rls_role(&self, table: &TableDef) -> Result<Option<u32>> {
        if !table.rls.enabled {
            return Ok(None);
        }
        let role = match self.privileges.get() {
            Checks::Off | Checks::Superuser => return Ok(None),
            Checks::Role(r) => r,
        };
        if !self.policies_apply_to(table, role) {
            return Ok(None);
        }
        let owner = self.catalog.has_privileges_of_role(role, table.owner);
        if !self.row_security.get() {
            let err = Error::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!(
                    "query would be affected by row-level security policy for table \"{}\"",
                    table.name
                ),
            );
            return Err(if owner {
                err.with_hint(
                    "To disable the policy for the table's owner, use ALTER TABLE NO FORCE ROW LEVEL SECURITY.",
                )
            } else {
                err
            });
        }
        Ok(Some(role))
    }

    /// Whether `table`'s policies bind `role` (a non-superuser): not when
    /// it has BYPASSRLS, nor for the owner unless FORCE ROW LEVEL SECURITY.
    pub(crate) fn policies_apply_to(&self, table: &TableDef, role: u32) -> bool {
        let bypass = self.catalog.roles.get(&role).is_some_and(|r| r.bypassrls)
            || (!table.rls.forced && self.catalog.has_privileges_of_role(role, table.owner));
        !bypass
    }

    /// The policies of `table` for `cmd` that apply to `role`.
    fn applicable<'t>(
        &self,
        table: &'t TableDef,
        role: u32,
        cmd: RlsCommand,
    ) -> impl Iterator<Item = &'t PolicyDef> {
        let roles = self.catalog.roles_with_privileges_of(role);
        table.rls.policies.iter().filter(move |p| {
            cmd.matches(p.command) && p.roles.iter().any(|r| *r == PUBLIC || roles.contains(r))
        })
    }

    /// Binds a policy expression over the table's columns, on its own.
    fn bind_policy_expr(&self, table: &TableDef, qualifier: &str, text: &str) -> Result<Expr> {
        if self.rls_stack.borrow().contains(&table.id) {
            return Err(Error::new(
                SqlState::INVALID_OBJECT_DEFINITION,
                format!(
                    "infinite recursion detected in policy for relation \"{}\"",
                    table.name
                ),
            ));
        }
        let ast = parser::parse_expr(text)?;
        let scope = Scope::for_table(table, qualifier);
        let outer = std::mem::take(&mut *self.outer.borrow_mut());
        let ctes = std::mem::take(&mut *self.ctes.borrow_mut());
        self.rls_stack.borrow_mut().push(table.id);
        let bound = self.bind_predicate(&ast, &scope, "POLICY");
        self.rls_stack.borrow_mut().pop();
        *self.outer.borrow_mut() = outer;
        *self.ctes.borrow_mut() = ctes;
        bound
    }

    /// Reports the errors PostgreSQL's rewriter raises while expanding
    /// `table`'s policies for `cmd` (infinite recursion, or `row_security`
    /// off), which come before any privilege error of the statement; called
    /// when a privilege check on `table` has failed. Other errors of the
    /// policies are left to the privilege error.
    pub(crate) fn rls_errors_first(&self, table: &TableDef, cmd: RlsCommand) -> Result<()> {
        self.as_target(|| {
            // `row_security = off`: the error `rls_role` gives.
            if self.rls_role(table)?.is_none() {
                return Ok(());
            }
            let probe = match cmd {
                RlsCommand::Insert => self.rls_checks(table, cmd, false).map(|_| ()),
                _ => self.rls_filter(table, &table.name, &[cmd]).map(|_| ()),
            };
            match probe {
                Err(e) if e.code == SqlState::INVALID_OBJECT_DEFINITION => Err(e),
                _ => Ok(()),
            }
        })
    }

    /// The permissive policies' expressions OR-ed (FALSE if there are
    /// none), and each restrictive policy's expression with its name.
    #[allow(clippy::type_complexity)]
    fn combined(
        &self,
        table: &TableDef,
        qualifier: &str,
        role: u32,
        cmd: RlsCommand,
        clause: Clause,
    ) -> Result<(Expr, Vec<(String, Expr)>)> {
        let text = |p: &PolicyDef| -> Option<String> {
            match clause {
                Clause::Using => p.using.clone(),
                Clause::WithCheck => p.with_check.clone().or_else(|| p.using.clone()),
            }
        };
        let mut permissive = Vec::new();
        let mut restrictive = Vec::new();
        for p in self.applicable(table, role, cmd) {
            let Some(t) = text(p) else { continue };
            let e = self.bind_policy_expr(table, qualifier, &t)?;
            if p.permissive {
                permissive.push(e);
            } else {
                restrictive.push((p.name.clone(), e));
            }
        }
        let permissive = or_all(permissive).unwrap_or(Expr::Literal(Value::Bool(false)));
        // As PostgreSQL: restrictive policies are checked in name order, so
        // the one a violation names does not depend on creation order.
        restrictive.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((permissive, restrictive))
    }

    /// The security filter for reading `table` as `qualifier` in a
    /// statement doing `cmds` (an UPDATE that reads rows back passes
    /// `[Update, Select]`), or None when row-level security does not apply.
    pub(crate) fn rls_filter(
        &self,
        table: &TableDef,
        qualifier: &str,
        cmds: &[RlsCommand],
    ) -> Result<Option<Expr>> {
        let Some(role) = self.rls_role(table)? else {
            return Ok(None);
        };
        let mut parts = Vec::new();
        for &cmd in cmds {
            let (permissive, restrictive) =
                self.combined(table, qualifier, role, cmd, Clause::Using)?;
            parts.push(permissive);
            parts.extend(restrictive.into_iter().map(|(_, e)| e));
        }
        Ok(Expr::and_all(parts).map(is_true))
    }

    /// The checks a new row written by `cmd` must pass, followed by the
    /// SELECT policies' when the statement reads it back (`reads`).
    pub(crate) fn rls_checks(
        &self,
        table: &TableDef,
        cmd: RlsCommand,
        reads: bool,
    ) -> Result<Vec<RlsCheck>> {
        let Some(role) = self.rls_role(table)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        self.add_checks(
            &mut out,
            table,
            role,
            cmd,
            Clause::WithCheck,
            RlsCheckKind::NewRow,
        )?;
        if reads {
            self.add_checks(
                &mut out,
                table,
                role,
                RlsCommand::Select,
                Clause::Using,
                RlsCheckKind::NewRow,
            )?;
        }
        Ok(out)
    }

    /// Appends the checks of `cmd`'s policies (`clause` of each): the
    /// permissive ones together, then each restrictive one.
    fn add_checks(
        &self,
        out: &mut Vec<RlsCheck>,
        table: &TableDef,
        role: u32,
        cmd: RlsCommand,
        clause: Clause,
        kind: RlsCheckKind,
    ) -> Result<()> {
        let (permissive, restrictive) = self.combined(table, &table.name, role, cmd, clause)?;
        out.push(RlsCheck {
            policy: None,
            expr: permissive,
            kind,
        });
        for (name, expr) in restrictive {
            out.push(RlsCheck {
                policy: Some(name),
                expr,
                kind,
            });
        }
        Ok(())
    }

    /// MERGE: the USING checks of `cmd`'s (UPDATE or DELETE) policies the
    /// matched target row must pass before the action changes it.
    pub(crate) fn rls_target_checks(
        &self,
        table: &TableDef,
        cmd: RlsCommand,
    ) -> Result<Vec<RlsCheck>> {
        let Some(role) = self.rls_role(table)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        self.add_checks(
            &mut out,
            table,
            role,
            cmd,
            Clause::Using,
            RlsCheckKind::TargetRow,
        )?;
        Ok(out)
    }

    /// ON CONFLICT DO UPDATE: the USING checks the existing (conflicting)
    /// row must pass, reported as "(USING expression)" failures.
    pub(crate) fn rls_conflict_checks(&self, table: &TableDef) -> Result<Vec<RlsCheck>> {
        let Some(role) = self.rls_role(table)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for cmd in [RlsCommand::Update, RlsCommand::Select] {
            self.add_checks(
                &mut out,
                table,
                role,
                cmd,
                Clause::Using,
                RlsCheckKind::ConflictRow,
            )?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: RlsCheckKind, policy: Option<&str>) -> String {
        RlsCheck {
            policy: policy.map(str::to_string),
            expr: Expr::Literal(Value::Bool(true)),
            kind,
        }
        .violation("t")
        .message
    }

    #[test]
    fn violations_are_worded_as_postgresql() {
        assert_eq!(
            check(RlsCheckKind::NewRow, None),
            "new row violates row-level security policy for table \"t\""
        );
        assert_eq!(
            check(RlsCheckKind::NewRow, Some("p")),
            "new row violates row-level security policy \"p\" for table \"t\""
        );
        assert_eq!(
            check(RlsCheckKind::ConflictRow, None),
            "new row violates row-level security policy (USING expression) for table \"t\""
        );
        assert_eq!(
            check(RlsCheckKind::TargetRow, Some("p")),
            "target row violates row-level security policy \"p\" (USING expression) for table \"t\""
        );
    }
}
