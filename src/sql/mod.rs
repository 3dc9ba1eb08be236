//! The SQL layer: from text to rows.
//!
//! # The life of a statement
//!
//! Take `UPDATE orders SET amount = amount + 1 WHERE id = $1 RETURNING amount`
//! sent through [`crate::Session::execute`]:
//!
//! 1. **Parse** ([`parser::parse_statements`]): sqlparser's PostgreSQL dialect
//!    produces an AST (database and maintenance commands are read by
//!    [`commands`]); syntax errors become SQLSTATE 42601.
//! 2. **Transaction** ([`crate::Session`]): outside `BEGIN` the statement gets
//!    its own transaction; inside one, READ COMMITTED takes a fresh snapshot
//!    ([`crate::txn::Transaction::begin_statement`]). The target table's shared
//!    lock is taken first, so a concurrent `ALTER TABLE` finishes before we plan.
//! 3. **Bind** ([`binder::Binder::bind_update`]): names resolve against the
//!    catalog the transaction sees, `$1` gets the type of `id`, the
//!    assignment and RETURNING expressions become [`expr::Expr`] trees over
//!    column positions, and CHECK constraints are bound. This is where
//!    row-level security policies enter the plan ([`binder::rls`]). (MERGE
//!    is bound by [`binder::Binder::bind_merge`] into a
//!    [`binder::MergePlan`]: target scan, source plan, join condition, WHEN
//!    clauses.)
//! 4. **Optimize** ([`optimizer::optimize`]): `PushDownFilters` moves the
//!    WHERE clause into the scan, `IndexSelection` turns `id = $1` into a
//!    primary-key point read. The predicate itself is kept and re-checked.
//! 5. **Execute** ([`executor::dml::execute_dml`]): the target rows are read
//!    through the snapshot, each row is locked
//!    ([`crate::txn::Transaction::lock_for_write`]) and, if a concurrent commit
//!    changed it, re-read and re-checked; the new row passes assignment casts,
//!    NOT NULL, CHECK, uniqueness and foreign keys; the row and its index
//!    entries go into the transaction's write set; RETURNING rows are
//!    computed from the old and new images. (MERGE joins its source to the
//!    target rows first and runs each pair's first WHEN clause through the
//!    same steps.)
//! 6. **Commit** ([`crate::txn::Transaction::commit`]): the write set becomes
//!    one atomic batch for the storage engine ([`crate::storage::Engine::commit`]),
//!    which fsyncs it together with concurrent commits (group commit) before
//!    the row locks are released and the command tag `UPDATE 1` is returned.
//!
//! Under `WITH d AS (UPDATE ... RETURNING *) SELECT ... FROM d` the same
//! UPDATE is bound where the WITH defines it and runs once, before the main
//! query, with the transaction's reads frozen at the statement's start so
//! the main query sees its RETURNING rows but not its changes
//! (`session/writes.rs`, docs/architecture.md).

pub mod binder;
pub mod commands;
pub mod ddl;
pub mod dialect;
pub mod executor;
pub mod expr;
pub mod functions;
pub mod optimizer;
pub mod parser;
pub mod plan;
pub mod plpgsql;

/// Quotes an identifier for SQL text when PostgreSQL would (`"Mixed"`, `"a b"`).
pub fn quote_ident(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}
pub mod system;
