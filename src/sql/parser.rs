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
    Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(map_err)
}

/// Parses a single expression (stored defaults and CHECK constraints).
pub fn parse_expr(sql: &str) -> Result<ast::Expr> {
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
