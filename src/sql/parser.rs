//! Parsing with sqlparser's PostgreSQL dialect; errors become SQLSTATE 42601.

use crate::error::{Error, Result, SqlState};
use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

/// Nesting limit handed to the parser so hostile input cannot overflow the stack.
const RECURSION_LIMIT: usize = 200;

fn map_err(e: ParserError) -> Error {
    match e {
        ParserError::RecursionLimitExceeded => Error::new(
            SqlState::STATEMENT_TOO_COMPLEX,
            "statement is too deeply nested",
        ),
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => {
            Error::syntax(format!("syntax error: {m}"))
        }
    }
}

/// Parses one or more `;`-separated statements.
pub fn parse(sql: &str) -> Result<Vec<ast::Statement>> {
    crate::stack::guard_large(|| {
        let stmts = parse_inner(sql)?;
        // Long operator chains (`1 + 1 + ...`) nest without recursing in the
        // parser; refuse them here, and drop them while the large stack is in use.
        let too_deep = stmts.iter().any(|s| expr_depth(s) > MAX_EXPR_DEPTH);
        if too_deep {
            drop(stmts);
            return Err(Error::new(
                SqlState::STATEMENT_TOO_COMPLEX,
                format!("expression is nested more than {MAX_EXPR_DEPTH} levels deep"),
            ));
        }
        Ok(stmts)
    })
}

/// Deepest expression nesting accepted in a statement.
const MAX_EXPR_DEPTH: usize = 1000;

struct DepthVisitor {
    depth: usize,
    max: usize,
}

impl ast::Visitor for DepthVisitor {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &ast::Expr) -> std::ops::ControlFlow<()> {
        self.depth += 1;
        self.max = self.max.max(self.depth);
        if self.depth > MAX_EXPR_DEPTH {
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &ast::Expr) -> std::ops::ControlFlow<()> {
        self.depth -= 1;
        std::ops::ControlFlow::Continue(())
    }
}

fn expr_depth(stmt: &ast::Statement) -> usize {
    use ast::Visit;
    let mut v = DepthVisitor { depth: 0, max: 0 };
    let _ = stmt.visit(&mut v);
    v.max
}

fn parse_inner(sql: &str) -> Result<Vec<ast::Statement>> {
    Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(map_err)
}

/// Parses a single expression (stored defaults and CHECK constraints).
pub fn parse_expr(sql: &str) -> Result<ast::Expr> {
    crate::stack::guard_large(|| parse_expr_inner(sql))
}

fn parse_expr_inner(sql: &str) -> Result<ast::Expr> {
    Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_42601() {
        assert_eq!(parse("SELEC 1").unwrap_err().sqlstate(), "42601");
        assert_eq!(parse("SELECT 1; SELECT 2").unwrap().len(), 2);
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(parse(&deep).unwrap_err().sqlstate(), "54001");
    }
}
