//! Row-level security: a table's switch (ENABLE / FORCE ROW LEVEL
//! SECURITY) and its policies, as PostgreSQL has them.
//!
//! Policies live in their table's catalog entry ([`RowSecurity`] on
//! [`TableDef`]), so they are created, altered and dropped transactionally
//! with it and vanish with the table. Their expressions are stored as SQL
//! text and bound, over the table's columns, wherever the table is read or
//! written (`sql::binder::rls`).

use super::TableDef;
use serde::{Deserialize, Serialize};

/// The command a policy applies to (`FOR ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyCommand {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl PolicyCommand {
    /// PostgreSQL's `pg_policy.polcmd` letter.
    pub fn letter(self) -> &'static str {
        match self {
            PolicyCommand::All => "*",
            PolicyCommand::Select => "r",
            PolicyCommand::Insert => "a",
            PolicyCommand::Update => "w",
            PolicyCommand::Delete => "d",
        }
    }

    /// The word `pg_policies.cmd` shows.
    pub fn word(self) -> &'static str {
        match self {
            PolicyCommand::All => "ALL",
            PolicyCommand::Select => "SELECT",
            PolicyCommand::Insert => "INSERT",
            PolicyCommand::Update => "UPDATE",
            PolicyCommand::Delete => "DELETE",
        }
    }
}

/// One policy (`CREATE POLICY`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyDef {
    /// An object id (pg_policy's oid).
    pub id: u32,
    pub name: String,
    /// PERMISSIVE (OR-ed with the other permissive policies) or RESTRICTIVE (AND-ed).
    pub permissive: bool,
    pub command: PolicyCommand,
    /// The roles it applies to; [`super::acl::PUBLIC`] (0) means every role.
    pub roles: Vec<u32>,
    /// The USING expression (rows visible to the command), as SQL text.
    pub using: Option<String>,
    /// The WITH CHECK expression (rows the command may write), as SQL text.
    pub with_check: Option<String>,
    /// Tables and views other than its own that its expressions read
    /// (they cannot be dropped without CASCADE, which drops the policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<u32>,
}

/// A table's row-level security state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RowSecurity {
    /// ENABLE ROW LEVEL SECURITY: policies apply (no policy: no rows).
    pub enabled: bool,
    /// FORCE ROW LEVEL SECURITY: they apply to the table's owner too.
    pub forced: bool,
    pub policies: Vec<PolicyDef>,
}

impl TableDef {
    pub fn policy(&self, name: &str) -> Option<&PolicyDef> {
        self.rls.policies.iter().find(|p| p.name == name)
    }
}
