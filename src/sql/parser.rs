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
    let parse = |text: &str| {
        Parser::new(&PostgreSqlDialect {})
            .with_recursion_limit(RECURSION_LIMIT)
            .try_with_sql(text)
            .and_then(|mut p| p.parse_statements())
    };
    match parse(sql) {
        Ok(stmts) => Ok(stmts),
        Err(e) => {
            // sqlparser accepts CREATE SEQUENCE options only in one fixed order;
            // PostgreSQL accepts any order. Retry with the options reordered.
            if let Some(fixed) = reorder_sequence_options(sql)
                && let Ok(stmts) = parse(&fixed)
            {
                return Ok(stmts);
            }
            Err(map_err(e))
        }
    }
}

/// Rewrites every `CREATE SEQUENCE` in `sql` with its options in the order
/// sqlparser expects (INCREMENT, MINVALUE, MAXVALUE, START, CACHE, CYCLE,
/// OWNED BY). Returns None when there is nothing to rewrite.
fn reorder_sequence_options(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let word = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
        _ => None,
    };
    let mut out = String::new();
    let mut changed = false;
    let mut stmt: Vec<Token> = Vec::new();
    let flush = |stmt: &mut Vec<Token>, out: &mut String, changed: &mut bool| {
        let words: Vec<Option<String>> = stmt
            .iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .map(word)
            .collect();
        let is_seq = words.first() == Some(&Some("CREATE".into()))
            && words
                .iter()
                .skip(1)
                .take(2)
                .any(|w| w.as_deref() == Some("SEQUENCE"));
        if !is_seq {
            for t in stmt.drain(..) {
                out.push_str(&t.to_string());
            }
            return;
        }
        // Head: everything before the first option keyword (after the name and AS type).
        let significant: Vec<Token> = stmt
            .drain(..)
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        let opt_start = |w: &str| {
            matches!(
                w,
                "INCREMENT"
                    | "MINVALUE"
                    | "MAXVALUE"
                    | "NO"
                    | "START"
                    | "CACHE"
                    | "CYCLE"
                    | "OWNED"
            )
        };
        let seq_pos = significant
            .iter()
            .position(|t| word(t).as_deref() == Some("SEQUENCE"))
            .unwrap_or(0);
        let first_opt = significant
            .iter()
            .enumerate()
            .skip(seq_pos + 2)
            .find(|(_, t)| word(t).is_some_and(|w| opt_start(&w)))
            .map(|(i, _)| i)
            .unwrap_or(significant.len());
        let mut clauses: Vec<(u8, Vec<String>)> = Vec::new();
        for t in &significant[first_opt..] {
            let w = word(t);
            let starts = match w.as_deref() {
                Some("NO") => true,
                Some(x) if opt_start(x) => !matches!(
                    clauses
                        .last()
                        .and_then(|(_, c)| c.last())
                        .map(|s| s.to_uppercase())
                        .as_deref(),
                    Some("NO")
                ),
                _ => false,
            };
            if starts || clauses.is_empty() {
                clauses.push((0, Vec::new()));
            }
            clauses
                .last_mut()
                .expect("just pushed")
                .1
                .push(t.to_string());
        }
        for (rank, c) in &mut clauses {
            let head: Vec<String> = c.iter().take(2).map(|s| s.to_uppercase()).collect();
            *rank = match (
                head.first().map(String::as_str),
                head.get(1).map(String::as_str),
            ) {
                (Some("INCREMENT"), _) => 0,
                (Some("MINVALUE"), _) | (Some("NO"), Some("MINVALUE")) => 1,
                (Some("MAXVALUE"), _) | (Some("NO"), Some("MAXVALUE")) => 2,
                (Some("START"), _) => 3,
                (Some("CACHE"), _) => 4,
                (Some("CYCLE"), _) | (Some("NO"), Some("CYCLE")) => 5,
                _ => 6,
            };
        }
        let before: Vec<u8> = clauses.iter().map(|(r, _)| *r).collect();
        clauses.sort_by_key(|(r, _)| *r);
        if clauses.iter().map(|(r, _)| *r).collect::<Vec<_>>() != before {
            *changed = true;
        }
        let head: Vec<String> = significant[..first_opt]
            .iter()
            .map(|t| t.to_string())
            .collect();
        out.push_str(&head.join(" "));
        for (_, c) in clauses {
            out.push(' ');
            out.push_str(&c.join(" "));
        }
    };
    for t in tokens {
        if t == Token::SemiColon {
            flush(&mut stmt, &mut out, &mut changed);
            out.push(';');
        } else {
            stmt.push(t);
        }
    }
    flush(&mut stmt, &mut out, &mut changed);
    changed.then_some(out)
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
    fn sequence_options_in_any_order() {
        let s = parse("CREATE SEQUENCE s START 10 INCREMENT 5 NO CYCLE; SELECT 1").unwrap();
        assert_eq!(s.len(), 2);
        assert!(
            parse("CREATE SEQUENCE s CACHE 1 MINVALUE -5 START WITH -5 INCREMENT BY -1 MAXVALUE 0")
                .is_ok()
        );
    }

    #[test]
    fn errors_are_42601() {
        assert_eq!(parse("SELEC 1").unwrap_err().sqlstate(), "42601");
        assert_eq!(parse("SELECT 1; SELECT 2").unwrap().len(), 2);
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(parse(&deep).unwrap_err().sqlstate(), "54001");
    }
}
