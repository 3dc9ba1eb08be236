//! Parsing with sqlparser's PostgreSQL dialect; errors become SQLSTATE 42601.
//! Database and maintenance commands, which sqlparser does not read in
//! PostgreSQL's syntax, are parsed by [`commands`](super::commands)
//! ([`parse_statements`]).

use super::commands::{self, Command};
use super::dialect::DIALECT;
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

/// A statement as sessions run it.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // sqlparser's statements are large anyway; boxing buys nothing
pub enum Statement {
    /// Anything sqlparser reads.
    Sql(ast::Statement),
    /// CREATE / ALTER / DROP DATABASE, VACUUM, ANALYZE, ... and the
    /// command's text as written (the change log's schema events keep it).
    Command(Command, String),
}

/// Parses one or more `;`-separated statements, commands included.
pub fn parse_statements(sql: &str) -> Result<Vec<Statement>> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let plain = |sql: &str| -> Result<Vec<Statement>> {
        Ok(parse(sql)?.into_iter().map(Statement::Sql).collect())
    };
    if !commands::may_contain(sql) {
        return plain(sql);
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        // sqlparser reports the tokenizer's error.
        return plain(sql);
    };
    let offsets = LineOffsets::new(sql);
    let mut out = Vec::new();
    // Byte offset where text for sqlparser (not yet parsed) starts.
    let mut pending = 0;
    let mut start = 0;
    while start < tokens.len() {
        let end = (start..tokens.len())
            .find(|&i| tokens[i].token == Token::SemiColon)
            .unwrap_or(tokens.len());
        let sig: Vec<Token> = tokens[start..end]
            .iter()
            .map(|t| t.token.clone())
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        if commands::is_command(&sig) {
            let at = offsets.byte(sql, tokens[start].span.start);
            out.extend(plain(&sql[pending..at])?);
            let text_end = match tokens.get(end) {
                Some(semi) => offsets.byte(sql, semi.span.start),
                None => sql.len(),
            };
            let text = sql[at..text_end].trim().to_string();
            out.push(Statement::Command(commands::parse(&sig)?, text));
            pending = match tokens.get(end) {
                Some(semi) => offsets.byte(sql, semi.span.end),
                None => sql.len(),
            };
        }
        start = end + 1;
    }
    out.extend(plain(&sql[pending..])?);
    Ok(out)
}

/// Parses one or more `;`-separated statements (sqlparser's statements only).
pub fn parse(sql: &str) -> Result<Vec<ast::Statement>> {
    use crate::stack::Parsed;
    if bracket_run_too_long(sql) {
        return Err(too_deeply_nested());
    }
    crate::stack::parser(
        RECURSION_LIMIT,
        sql.len(),
        || Err(too_deeply_nested()),
        |levels, last| {
            let stmts = match parse_inner(sql, levels) {
                // With fewer levels than the limit, any error may be the
                // limit's (sqlparser turns some into syntax errors).
                Err(_) if !last => return Parsed::NeedsMore,
                Err(e) => return Parsed::Done(Err(e)),
                Ok(stmts) => stmts,
            };
            // Long operator and UNION chains nest without recursing in the
            // parser; refuse them here.
            let mut check = DepthVisitor::default();
            for s in &stmts {
                use ast::Visit;
                if let std::ops::ControlFlow::Break(stop) = s.visit(&mut check) {
                    if !last {
                        return Parsed::NeedsMore;
                    }
                    return Parsed::Done(Err(match stop {
                        Stop::LowStack | Stop::Nesting => too_deeply_nested(),
                        Stop::Expr => Error::new(
                            SqlState::STATEMENT_TOO_COMPLEX,
                            format!("expression is nested more than {MAX_EXPR_DEPTH} levels deep"),
                        ),
                        Stop::SetOps => Error::new(
                            SqlState::STATEMENT_TOO_COMPLEX,
                            format!("query has more than {MAX_SET_OPS} set operations"),
                        ),
                    }));
                }
            }
            if !last && !far_from(check.max_levels, levels) {
                return Parsed::NeedsMore;
            }
            Parsed::Done(Ok(stmts))
        },
    )
}

/// Whether a parse whose tree nests `depth` levels (expressions, queries,
/// table references) stayed far from the recursion limit `levels`. When
/// sqlparser reaches its limit while trying one reading of a keyword it may
/// fall back to another (the keyword as an identifier), so a parse that
/// succeeded with fewer levels than the limit is trusted only if it never
/// came near them: parser recursion stays within about one level per tree
/// level, and a fallback taken at the limit leaves a tree about as deep.
fn far_from(depth: usize, levels: usize) -> bool {
    2 * depth + 4 <= levels
}

fn too_deeply_nested() -> Error {
    Error::new(
        SqlState::STATEMENT_TOO_COMPLEX,
        "statement is too deeply nested",
    )
}

/// Deepest expression nesting accepted in a statement.
const MAX_EXPR_DEPTH: usize = 1000;
/// Most set operations (UNION, INTERSECT, EXCEPT) accepted in one query
/// level; they nest as a chain as long as that.
const MAX_SET_OPS: usize = 1000;
/// Deepest nesting of expressions and set-operation chains together: with
/// the limits above and the parser's, it bounds how deep any syntax tree
/// is, and so the stack code walking one needs (see `stack::statement`).
const MAX_NESTING: usize = 2000;
/// Longest run of `[]` (or `[n]`) accepted in a row: each nests an array
/// type in the one before (PostgreSQL allows 6 array dimensions).
const MAX_BRACKET_RUN: usize = 100;

/// Why the depth check stopped.
enum Stop {
    Expr,
    SetOps,
    Nesting,
    /// The stack ran low before the check could finish.
    LowStack,
}

/// Walks a statement's expressions and queries, measuring how deep they nest.
#[derive(Default)]
struct DepthVisitor {
    /// Expressions open around the one being visited.
    depth: usize,
    /// Expressions, queries and table references open, and the most seen.
    levels: usize,
    max_levels: usize,
    /// Nesting of the syntax tree along the path: expressions, and the
    /// chains of the set operations of the queries open.
    nesting: usize,
    /// The set-operation count of each query open, to take off again.
    queries: Vec<usize>,
}

impl DepthVisitor {
    fn open(&mut self) {
        self.levels += 1;
        self.max_levels = self.max_levels.max(self.levels);
    }
}

impl ast::Visitor for DepthVisitor {
    type Break = Stop;

    fn pre_visit_expr(&mut self, _expr: &ast::Expr) -> std::ops::ControlFlow<Stop> {
        self.depth += 1;
        self.nesting += 1;
        self.open();
        if self.depth > MAX_EXPR_DEPTH {
            return std::ops::ControlFlow::Break(Stop::Expr);
        }
        if self.nesting > MAX_NESTING {
            return std::ops::ControlFlow::Break(Stop::Nesting);
        }
        if crate::stack::low(crate::stack::DEPTH_CHECK_LOW) {
            return std::ops::ControlFlow::Break(Stop::LowStack);
        }
        std::ops::ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &ast::Expr) -> std::ops::ControlFlow<Stop> {
        self.depth -= 1;
        self.nesting -= 1;
        self.levels -= 1;
        std::ops::ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &ast::Query) -> std::ops::ControlFlow<Stop> {
        self.nesting -= self.queries.pop().unwrap_or(0);
        self.levels -= 1;
        std::ops::ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _t: &ast::TableFactor) -> std::ops::ControlFlow<Stop> {
        self.open();
        std::ops::ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, _t: &ast::TableFactor) -> std::ops::ControlFlow<Stop> {
        self.levels -= 1;
        std::ops::ControlFlow::Continue(())
    }

    /// Counts the set operations of a query level without recursing (the
    /// visitor would recurse as deep as the chain is long), before the
    /// visitor descends into them.
    fn pre_visit_query(&mut self, q: &ast::Query) -> std::ops::ControlFlow<Stop> {
        self.open();
        let mut pending = vec![q.body.as_ref()];
        let mut n = 0;
        while let Some(e) = pending.pop() {
            if let ast::SetExpr::SetOperation { left, right, .. } = e {
                n += 1;
                if n > MAX_SET_OPS {
                    return std::ops::ControlFlow::Break(Stop::SetOps);
                }
                pending.push(left);
                pending.push(right);
            }
        }
        // The chain is as deep as it is long, at most.
        self.queries.push(n);
        self.nesting += n;
        if self.nesting > MAX_NESTING {
            return std::ops::ControlFlow::Break(Stop::Nesting);
        }
        if crate::stack::low(crate::stack::DEPTH_CHECK_LOW) {
            return std::ops::ControlFlow::Break(Stop::LowStack);
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// True when `sql` has more than [`MAX_BRACKET_RUN`] `[]` or `[n]` in a row
/// (outside literals and comments), which would nest array types as deep.
fn bracket_run_too_long(sql: &str) -> bool {
    use sqlparser::tokenizer::{Token, Tokenizer};
    if sql.bytes().filter(|&b| b == b']').count() <= MAX_BRACKET_RUN {
        return false;
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return false;
    };
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let (mut run, mut i) = (0, 0);
    while i < tokens.len() {
        let pair = match (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2)) {
            (Some(Token::LBracket), Some(Token::RBracket), _) => Some(2),
            (Some(Token::LBracket), Some(Token::Number(..)), Some(Token::RBracket)) => Some(3),
            _ => None,
        };
        match pair {
            Some(n) => {
                run += 1;
                if run > MAX_BRACKET_RUN {
                    return true;
                }
                i += n;
            }
            None => {
                run = 0;
                i += 1;
            }
        }
    }
    false
}

fn parse_inner(sql: &str, levels: usize) -> Result<Vec<ast::Statement>> {
    let rewritten = rewrite_conflict_targets(sql);
    let sql = rewritten.as_deref().unwrap_or(sql);
    let rewritten = rewrite_subscripted_targets(sql);
    let sql = rewritten.as_deref().unwrap_or(sql);
    let rewritten = rewrite_view_check_option(sql);
    let sql = rewritten.as_deref().unwrap_or(sql);
    let parse = |text: &str| {
        Parser::new(&DIALECT)
            .with_recursion_limit(levels)
            .try_with_sql(text)
            .and_then(|mut p| p.parse_statements())
    };
    // Role statements PostgreSQL accepts but sqlparser reads differently or
    // not at all are rewritten first; if that does not parse, the original
    // text's error is reported.
    if let Some(fixed) = rewrite_role_syntax(sql)
        && let Ok(stmts) = parse(&fixed)
    {
        return Ok(stmts);
    }
    match parse(sql) {
        Ok(stmts) => Ok(stmts),
        Err(e) => {
            // Syntax PostgreSQL accepts and sqlparser does not, rewritten to
            // what sqlparser reads; the first rewrite that parses wins.
            let rewrites: [fn(&str) -> Option<String>; 5] = [
                // `CREATE VIEW v WITH (security_invoker)`: a boolean option
                // without a value means true; sqlparser wants the value.
                rewrite_bare_view_options,
                // CREATE SEQUENCE options in any order (sqlparser wants one).
                reorder_sequence_options,
                // `CREATE TABLE t (a, b) AS ...`: column names without types.
                rewrite_ctas_column_names,
                // MERGE's `INSERT DEFAULT VALUES`.
                rewrite_merge_default_values,
                // `UPDATE / DELETE ... WHERE CURRENT OF cursor`.
                rewrite_current_of,
            ];
            for rewrite in rewrites {
                if let Some(fixed) = rewrite(sql)
                    && let Ok(stmts) = parse(&fixed)
                {
                    return Ok(stmts);
                }
            }
            // `TABLE name` (PostgreSQL's short form of `SELECT * FROM name`)
            // as a statement of its own, MOVE, and FETCH's short forms.
            if let Some(fixed) = rewrite_statement_heads(sql)
                && let Ok(mut stmts) = parse(&fixed)
            {
                restore_negative_counts(&mut stmts);
                return Ok(stmts);
            }
            if let Some(err) = policy_option_error(sql) {
                return Err(err);
            }
            Err(map_err(e))
        }
    }
}

/// PostgreSQL's error for `CREATE POLICY p ON t AS <word>` with a word other
/// than PERMISSIVE or RESTRICTIVE (sqlparser's would name what it expected).
fn policy_option_error(sql: &str) -> Option<Error> {
    use sqlparser::tokenizer::Token;
    let loc = Located::new(sql)?;
    let sig = &loc.sig;
    let at = (0..sig.len()).find(|&i| {
        i + 1 < sig.len() && loc.is_kw(sig[i], "create") && loc.is_kw(sig[i + 1], "policy")
    })?;
    // CREATE POLICY name ON table-name AS word
    let mut j = at + 3;
    if !loc.is_kw(*sig.get(at + 3)?, "on") {
        return None;
    }
    j += 1;
    while j + 1 < sig.len() && matches!(loc.tokens[sig[j + 1]].token, Token::Period) {
        j += 2;
    }
    if !loc.is_kw(*sig.get(j + 1)?, "as") {
        return None;
    }
    let Token::Word(w) = &loc.tokens[*sig.get(j + 2)?].token else {
        return None;
    };
    let word = w.value.to_lowercase();
    if word == "permissive" || word == "restrictive" {
        return None;
    }
    Some(
        Error::syntax(format!("unrecognized row security option \"{word}\""))
            .with_hint("Only PERMISSIVE or RESTRICTIVE policies are supported currently."),
    )
}

/// Marks a conflict target that [`rewrite_conflict_targets`] carried over
/// as text. PostgreSQL never accepts a NUL in a query, so no identifier
/// written by a client starts with it.
pub const INFERENCE_MARKER: char = '\u{0}';

/// sqlparser reads an `ON CONFLICT` target only as a list of column names,
/// while PostgreSQL's is a list of index elements (expressions, COLLATE,
/// operator classes) with an optional `WHERE` predicate. Every
/// `ON CONFLICT (...) [WHERE ...] DO` is rewritten to `ON CONFLICT ("<NUL>...") DO`:
/// the target's text travels as one quoted identifier starting with
/// [`INFERENCE_MARKER`], and the binder parses it with
/// [`parse_inference_spec`]. None when there is nothing to rewrite.
fn rewrite_conflict_targets(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::Token;
    if !sql.to_ascii_lowercase().contains("conflict") {
        return None;
    }
    let located = Located::new(sql)?;
    let (tokens, sig, offsets) = (&located.tokens, &located.sig, &located.offsets);
    let is_kw = |i: usize, kw: &str| located.is_kw(i, kw);
    let mut out = String::new();
    let mut copied = 0;
    let mut k = 0;
    while k + 2 < sig.len() {
        if !(is_kw(sig[k], "ON")
            && is_kw(sig[k + 1], "CONFLICT")
            && tokens[sig[k + 2]].token == Token::LParen)
        {
            k += 1;
            continue;
        }
        let mut depth = 0i32;
        let mut found = None;
        for (j, &t) in sig.iter().enumerate().skip(k + 2) {
            match tokens[t].token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::SemiColon => break,
                _ if depth == 0 && is_kw(t, "DO") => {
                    found = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let Some(d) = found else {
            k += 1;
            continue;
        };
        let start = offsets.byte(sql, tokens[sig[k + 2]].span.start);
        let end = offsets.byte(sql, tokens[sig[d]].span.start);
        out.push_str(&sql[copied..start]);
        out.push_str("(\"");
        out.push(INFERENCE_MARKER);
        out.push_str(&sql[start..end].trim_end().replace('"', "\"\""));
        out.push_str("\") ");
        copied = end;
        k = d;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// sqlparser does not read MERGE's `THEN INSERT DEFAULT VALUES`; it is
/// rewritten to `THEN INSERT ("<NUL>") VALUES (DEFAULT)`, a column list of
/// just [`INFERENCE_MARKER`], which the binder reads as DEFAULT VALUES.
/// None when there is nothing to rewrite.
fn rewrite_merge_default_values(sql: &str) -> Option<String> {
    if !sql.to_ascii_lowercase().contains("merge") {
        return None;
    }
    let located = Located::new(sql)?;
    let (tokens, sig, offsets) = (&located.tokens, &located.sig, &located.offsets);
    let mut out = String::new();
    let mut copied = 0;
    for k in 0..sig.len().saturating_sub(3) {
        let kws = ["THEN", "INSERT", "DEFAULT", "VALUES"];
        if !kws
            .iter()
            .enumerate()
            .all(|(j, kw)| located.is_kw(sig[k + j], kw))
        {
            continue;
        }
        let start = offsets.byte(sql, tokens[sig[k + 2]].span.start);
        let end = offsets.byte(sql, tokens[sig[k + 3]].span.end);
        out.push_str(&sql[copied..start]);
        out.push_str("(\"");
        out.push(INFERENCE_MARKER);
        out.push_str("\") VALUES (DEFAULT)");
        copied = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// The function name [`rewrite_current_of`] puts in place of `CURRENT OF`
/// (no client can write it: PostgreSQL refuses a NUL in a query).
pub const CURRENT_OF_MARKER: &str = "\u{0}current_of";

/// sqlparser does not read `WHERE CURRENT OF cursor` (UPDATE and DELETE on
/// a cursor's current row). It is rewritten to `WHERE "<NUL>current_of"(cursor)`,
/// a call of [`CURRENT_OF_MARKER`] on the cursor's name as written, which the
/// binder recognizes. None when there is nothing to rewrite.
fn rewrite_current_of(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::Token;
    if !sql.to_ascii_lowercase().contains("current") {
        return None;
    }
    let located = Located::new(sql)?;
    let (tokens, sig, offsets) = (&located.tokens, &located.sig, &located.offsets);
    let mut out = String::new();
    let mut copied = 0;
    for k in 0..sig.len().saturating_sub(3) {
        if !(located.is_kw(sig[k], "WHERE")
            && located.is_kw(sig[k + 1], "CURRENT")
            && located.is_kw(sig[k + 2], "OF")
            && matches!(tokens[sig[k + 3]].token, Token::Word(_)))
        {
            continue;
        }
        let start = offsets.byte(sql, tokens[sig[k + 1]].span.start);
        let name_start = offsets.byte(sql, tokens[sig[k + 3]].span.start);
        let end = offsets.byte(sql, tokens[sig[k + 3]].span.end);
        out.push_str(&sql[copied..start]);
        out.push('"');
        out.push_str(CURRENT_OF_MARKER);
        out.push_str("\"(");
        out.push_str(&sql[name_start..end]);
        out.push(')');
        copied = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// sqlparser reads INSERT's column list as names only, while PostgreSQL
/// accepts subscripted targets (`INSERT INTO t (a[1], a[2]) ...`). An
/// element with a subscript is rewritten to a quoted identifier holding its
/// text after [`INFERENCE_MARKER`]; the binder parses it again. None when
/// there is nothing to rewrite.
fn rewrite_subscripted_targets(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::Token;
    if !sql.contains('[') || !sql.to_ascii_lowercase().contains("insert") {
        return None;
    }
    let located = Located::new(sql)?;
    let (tokens, sig, offsets) = (&located.tokens, &located.sig, &located.offsets);
    let is_kw = |i: usize, kw: &str| located.is_kw(i, kw);
    let byte = |i: usize| offsets.byte(sql, tokens[i].span.start);
    let byte_end = |i: usize| offsets.byte(sql, tokens[i].span.end);
    let mut out = String::new();
    let mut copied = 0;
    let mut k = 0;
    while k + 1 < sig.len() {
        if !(is_kw(sig[k], "INSERT") && is_kw(sig[k + 1], "INTO")) {
            k += 1;
            continue;
        }
        // The table name (dotted words), an optional alias, then the list.
        let mut j = k + 2;
        while j < sig.len() && matches!(tokens[sig[j]].token, Token::Word(_) | Token::Period) {
            if is_kw(sig[j], "VALUES") || is_kw(sig[j], "SELECT") || is_kw(sig[j], "DEFAULT") {
                break;
            }
            j += 1;
        }
        if j >= sig.len() || tokens[sig[j]].token != Token::LParen {
            k += 1;
            continue;
        }
        // Elements at depth 1 up to the closing parenthesis.
        let mut elems: Vec<(usize, usize, bool)> = Vec::new();
        let (mut depth, mut start, mut bracket) = (0i32, j + 1, false);
        let mut end = None;
        for (m, &t) in sig.iter().enumerate().skip(j) {
            match tokens[t].token {
                Token::LParen | Token::LBracket => {
                    depth += 1;
                    if tokens[t].token == Token::LBracket {
                        bracket = true;
                    }
                }
                Token::RParen | Token::RBracket => {
                    depth -= 1;
                    if depth == 0 {
                        elems.push((start, m - 1, bracket));
                        end = Some(m);
                        break;
                    }
                }
                Token::Comma if depth == 1 => {
                    elems.push((start, m - 1, bracket));
                    start = m + 1;
                    bracket = false;
                }
                Token::SemiColon => break,
                _ => {}
            }
        }
        let Some(end) = end else {
            k += 1;
            continue;
        };
        for (a, b, bracket) in elems {
            if !bracket || a > b {
                continue;
            }
            let (from, to) = (byte(sig[a]), byte_end(sig[b]));
            out.push_str(&sql[copied..from]);
            out.push('"');
            out.push(INFERENCE_MARKER);
            out.push_str(&sql[from..to].replace('"', "\"\""));
            out.push('"');
            copied = to;
        }
        k = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// `CREATE VIEW v WITH (name, other = x) AS ...` with `name = true` for
/// each option given without a value (PostgreSQL's boolean shorthand).
/// None when there is nothing to rewrite.
fn rewrite_bare_view_options(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::Token;
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("view") || !lower.contains("with") {
        return None;
    }
    let located = Located::new(sql)?;
    let (tokens, sig, offsets) = (&located.tokens, &located.sig, &located.offsets);
    let kw = |k: usize, w: &str| sig.get(k).is_some_and(|&i| located.is_kw(i, w));
    let mut inserts = Vec::new();
    let mut seen_view = false;
    for k in 0..sig.len() {
        if kw(k, "VIEW") {
            seen_view = true;
        }
        if kw(k, "AS") {
            seen_view = false;
        }
        if !(seen_view
            && kw(k, "WITH")
            && sig
                .get(k + 1)
                .is_some_and(|&i| tokens[i].token == Token::LParen))
        {
            continue;
        }
        let mut m = k + 2;
        while let Some(&i) = sig.get(m) {
            let bare = matches!(tokens[i].token, Token::Word(_))
                && sig
                    .get(m + 1)
                    .is_some_and(|&n| matches!(tokens[n].token, Token::Comma | Token::RParen))
                && matches!(tokens[sig[m - 1]].token, Token::Comma | Token::LParen);
            if bare {
                inserts.push(offsets.byte(sql, tokens[i].span.end));
            }
            if tokens[i].token == Token::RParen {
                break;
            }
            m += 1;
        }
    }
    if inserts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len() + 8 * inserts.len());
    let mut copied = 0;
    for at in inserts {
        out.push_str(&sql[copied..at]);
        out.push_str(" = true");
        copied = at;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// sqlparser does not read `CREATE VIEW ... AS query WITH [CASCADED |
/// LOCAL] CHECK OPTION`; PostgreSQL's equivalent `CREATE VIEW ... WITH
/// (check_option = 'cascaded') AS query` it does. The first form is
/// rewritten to the second. None when there is nothing to rewrite.
fn rewrite_view_check_option(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::Token;
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("check") || !lower.contains("view") {
        return None;
    }
    let located = Located::new(sql)?;
    let (tokens, sig, offsets) = (&located.tokens, &located.sig, &located.offsets);
    let kw = |k: usize, w: &str| sig.get(k).is_some_and(|&i| located.is_kw(i, w));
    let byte = |k: usize| offsets.byte(sql, tokens[sig[k]].span.start);
    let byte_end = |k: usize| offsets.byte(sql, tokens[sig[k]].span.end);
    let mut out = String::new();
    let mut copied = 0;
    let mut k = 0;
    while k < sig.len() {
        if !kw(k, "CREATE") {
            k += 1;
            continue;
        }
        // CREATE [OR REPLACE] [TEMP | TEMPORARY] VIEW
        let mut j = k + 1;
        if kw(j, "OR") && kw(j + 1, "REPLACE") {
            j += 2;
        }
        if kw(j, "TEMP") || kw(j, "TEMPORARY") {
            j += 1;
        }
        if !kw(j, "VIEW") {
            k += 1;
            continue;
        }
        // The first AS at depth 0, then the statement's end at depth 0.
        let (mut depth, mut as_at, mut end) = (0i32, None, sig.len());
        for (m, &t) in sig.iter().enumerate().skip(j + 1) {
            match tokens[t].token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::SemiColon if depth == 0 => {
                    end = m;
                    break;
                }
                _ if depth == 0 && as_at.is_none() && kw(m, "AS") => as_at = Some(m),
                _ => {}
            }
        }
        let Some(as_at) = as_at else {
            k = end;
            continue;
        };
        // ... WITH [CASCADED | LOCAL] CHECK OPTION at the end.
        let (with_at, kind) = if end >= 4 && kw(end - 1, "OPTION") && kw(end - 2, "CHECK") {
            if kw(end - 3, "WITH") {
                (end - 3, "cascaded")
            } else if end >= 4 && kw(end - 4, "WITH") && kw(end - 3, "CASCADED") {
                (end - 4, "cascaded")
            } else if end >= 4 && kw(end - 4, "WITH") && kw(end - 3, "LOCAL") {
                (end - 4, "local")
            } else {
                k = end;
                continue;
            }
        } else {
            k = end;
            continue;
        };
        if with_at <= as_at {
            k = end;
            continue;
        }
        // Options given already (`WITH (security_invoker = true) AS`) take
        // the check option as one more.
        let mut depth = 0i32;
        let mut options = false;
        for m in j + 1..as_at {
            match tokens[sig[m]].token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ if depth == 0 && kw(m, "WITH") => options = true,
                _ => {}
            }
        }
        if options && matches!(tokens[sig[as_at - 1]].token, Token::RParen) {
            out.push_str(&sql[copied..byte(as_at - 1)]);
            out.push_str(&format!(", check_option = '{kind}'"));
            out.push_str(&sql[byte(as_at - 1)..byte(with_at)]);
        } else {
            out.push_str(&sql[copied..byte(as_at)]);
            out.push_str(&format!("WITH (check_option = '{kind}') "));
            out.push_str(&sql[byte(as_at)..byte(with_at)]);
        }
        copied = byte_end(end - 1);
        k = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// One element of an ON CONFLICT inference specification.
#[derive(Debug)]
pub struct InferenceElem {
    pub expr: ast::Expr,
    pub collation: Option<ast::ObjectName>,
    pub opclass: Option<ast::ObjectName>,
}

/// Parses the text of an inference specification carried over by
/// [`rewrite_conflict_targets`]: `(elem [COLLATE c] [opclass], ...) [WHERE pred]`.
pub fn parse_inference_spec(text: &str) -> Result<(Vec<InferenceElem>, Option<ast::Expr>)> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::Token;
    parse_nested(
        text,
        |levels| {
            let mut p = Parser::new(&DIALECT)
                .with_recursion_limit(levels)
                .try_with_sql(text)
                .map_err(map_err)?;
            let run = |p: &mut Parser| -> std::result::Result<_, ParserError> {
                p.expect_token(&Token::LParen)?;
                let elems = p.parse_comma_separated(|p| {
                    let (expr, collation) = match p.parse_expr()? {
                        ast::Expr::Collate { expr, collation } => (*expr, Some(collation)),
                        e => (e, None),
                    };
                    let opclass = match &p.peek_token().token {
                        Token::Word(_) => Some(p.parse_object_name(false)?),
                        _ => None,
                    };
                    Ok(InferenceElem {
                        expr,
                        collation,
                        opclass,
                    })
                })?;
                p.expect_token(&Token::RParen)?;
                let predicate = if p.parse_keyword(Keyword::WHERE) {
                    Some(p.parse_expr()?)
                } else {
                    None
                };
                p.expect_token(&Token::EOF)?;
                Ok((elems, predicate))
            };
            run(&mut p).map_err(map_err)
        },
        |(elems, predicate)| {
            elems
                .iter()
                .map(|e| &e.expr)
                .chain(predicate.as_ref())
                .collect()
        },
    )
}

/// The name a rewritten `MOVE` fetches `INTO` (see [`rewrite_statement_heads`]).
pub const MOVE_MARKER: &str = "\u{0}move";

/// Appended to a rewritten FETCH's `INTO` target (after [`MOVE_MARKER`] for
/// a MOVE) when its `ABSOLUTE` or `RELATIVE` count was negative: sqlparser
/// reads only unsigned counts (see [`restore_negative_counts`]).
const NEGATIVE_MARKER: &str = "\u{0}neg";

/// Puts the sign back on the counts [`rewrite_statement_heads`] marked with
/// [`NEGATIVE_MARKER`], and the `INTO` target back to nothing (FETCH) or
/// [`MOVE_MARKER`] (MOVE).
fn restore_negative_counts(stmts: &mut [ast::Statement]) {
    for stmt in stmts {
        let ast::Statement::Fetch {
            direction, into, ..
        } = stmt
        else {
            continue;
        };
        let Some(target) = into.as_mut() else {
            continue;
        };
        let [ast::ObjectNamePart::Identifier(id)] = &mut target.0[..] else {
            continue;
        };
        let Some(rest) = id.value.strip_suffix(NEGATIVE_MARKER) else {
            continue;
        };
        if rest.is_empty() {
            *into = None;
        } else {
            id.value = rest.to_string();
        }
        if let ast::FetchDirection::Absolute { limit } | ast::FetchDirection::Relative { limit } =
            direction
            && let ast::Value::Number(n, _) = &mut limit.value
        {
            *n = format!("-{n}");
        }
    }
}

/// Whether a FETCH's `INTO` target is [`MOVE_MARKER`]: the statement is a MOVE.
pub fn is_move_marker(into: &ast::ObjectName) -> bool {
    matches!(&into.0[..], [part] if part.as_ident().is_some_and(|i| i.value == MOVE_MARKER))
}

/// Rewrites statements PostgreSQL accepts and sqlparser does not, by their
/// first word; None when there is none:
///
/// * `TABLE name` becomes `SELECT * FROM name`;
/// * `FETCH` and `MOVE` get the forms sqlparser reads: the direction
///   (`NEXT` when left out) and `FROM` before the cursor name are added, and
///   `MOVE` becomes `FETCH ... INTO "<NUL>move"` ([`MOVE_MARKER`], a name no
///   client can write, since PostgreSQL refuses a NUL in a query).
fn rewrite_statement_heads(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut out = String::new();
    let mut changed = false;
    for stmt in tokens.split(|t| *t == Token::SemiColon) {
        if !out.is_empty() {
            out.push(';');
        }
        let significant: Vec<&Token> = stmt
            .iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        let first = match significant.first() {
            Some(Token::Word(w)) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            _ => String::new(),
        };
        match first.as_str() {
            "TABLE" => {
                out.push_str("SELECT * FROM");
                let at = stmt.iter().position(|t| !matches!(t, Token::Whitespace(_)));
                stmt[at.map_or(stmt.len(), |i| i + 1)..]
                    .iter()
                    .for_each(|t| out.push_str(&t.to_string()));
                changed = true;
            }
            "FETCH" | "MOVE" if significant.len() >= 2 => {
                let name = significant[significant.len() - 1];
                let mut direction = &significant[1..significant.len() - 1];
                if let Some(Token::Word(w)) = direction.last()
                    && w.quote_style.is_none()
                    && (w.value.eq_ignore_ascii_case("from") || w.value.eq_ignore_ascii_case("in"))
                {
                    direction = &direction[..direction.len() - 1];
                }
                out.push_str("FETCH ");
                let words: Vec<String> = direction.iter().map(|t| t.to_string()).collect();
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                // sqlparser reads no signed counts: `-n`, `FORWARD -n` and
                // `BACKWARD -n` flip direction instead.
                // Nor signed ABSOLUTE and RELATIVE counts: the sign goes in
                // a marker (see `restore_negative_counts`).
                let mut words = words;
                let mut negative = false;
                if let [d, sign @ ("-" | "+"), ..] = words[..]
                    && (d.eq_ignore_ascii_case("absolute") || d.eq_ignore_ascii_case("relative"))
                {
                    negative = sign == "-";
                    words.remove(1);
                }
                let (flip, rest) = match words.as_slice() {
                    ["-", rest @ ..] => (Some("BACKWARD"), rest),
                    [d, "-", rest @ ..] if d.eq_ignore_ascii_case("forward") => {
                        (Some("BACKWARD"), rest)
                    }
                    [d, "-", rest @ ..] if d.eq_ignore_ascii_case("backward") => {
                        (Some("FORWARD"), rest)
                    }
                    [d, "+", rest @ ..] if d.eq_ignore_ascii_case("forward") => {
                        (Some("FORWARD"), rest)
                    }
                    ["+", rest @ ..] => (Some("FORWARD"), rest),
                    _ => (None, &words[..]),
                };
                let direction = flip.into_iter().chain(rest.iter().copied());
                let mut direction: Vec<&str> = direction.collect();
                if let [d] = direction[..]
                    && (d.eq_ignore_ascii_case("forward") || d.eq_ignore_ascii_case("backward"))
                {
                    // sqlparser wants a count after a bare FORWARD / BACKWARD.
                    direction.push("1");
                }
                if direction.is_empty() {
                    out.push_str("NEXT");
                }
                out.push_str(&direction.join(" "));
                out.push_str(" FROM ");
                out.push_str(&name.to_string());
                let mut marker = String::new();
                if first == "MOVE" {
                    marker.push_str(MOVE_MARKER);
                }
                if negative {
                    marker.push_str(NEGATIVE_MARKER);
                }
                if !marker.is_empty() {
                    out.push_str(" INTO ");
                    out.push_str(&Token::make_word(&marker, Some('"')).to_string());
                }
                changed = true;
            }
            _ => stmt.iter().for_each(|t| out.push_str(&t.to_string())),
        }
    }
    changed.then_some(out)
}

/// The type written for a column of `CREATE TABLE t (a, b) AS ...`, whose
/// columns take their types from the query. PostgreSQL allows only names
/// there; sqlparser wants a type, so [`rewrite_ctas_column_names`] gives each
/// name this one (a quoted identifier no client can write).
pub const UNTYPED_MARKER: &str = "\u{0}untyped";

/// Rewrites `CREATE [TEMP | UNLOGGED ...] TABLE [IF NOT EXISTS] name (a, b) AS`
/// to give every column [`UNTYPED_MARKER`] as its type. None when no
/// statement has that form.
fn rewrite_ctas_column_names(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::Token;
    let loc = Located::new(sql)?;
    let sig = &loc.sig;
    let word = |i: usize| matches!(&loc.tokens[sig[i]].token, Token::Word(_));
    let tok = |i: usize| &loc.tokens[sig[i]].token;
    // (byte offset after a column name) for every name to type.
    let mut inserts = Vec::new();
    let mut i = 0;
    while i < sig.len() {
        let start = i;
        // Find this statement's end.
        let end = (i..sig.len())
            .find(|&j| *tok(j) == Token::SemiColon)
            .unwrap_or(sig.len());
        i = end + 1;
        let mut j = start;
        if j >= end || !loc.is_kw(sig[j], "create") {
            continue;
        }
        j += 1;
        while j < end
            && ["temp", "temporary", "unlogged", "global", "local"]
                .iter()
                .any(|k| loc.is_kw(sig[j], k))
        {
            j += 1;
        }
        if j >= end || !loc.is_kw(sig[j], "table") {
            continue;
        }
        j += 1;
        if j + 2 < end
            && loc.is_kw(sig[j], "if")
            && loc.is_kw(sig[j + 1], "not")
            && loc.is_kw(sig[j + 2], "exists")
        {
            j += 3;
        }
        // The (possibly qualified) name.
        if j >= end || !word(j) {
            continue;
        }
        j += 1;
        while j + 1 < end && *tok(j) == Token::Period && word(j + 1) {
            j += 2;
        }
        if j >= end || *tok(j) != Token::LParen {
            continue;
        }
        j += 1;
        let mut names = Vec::new();
        while j < end && word(j) {
            names.push(sig[j]);
            j += 1;
            if j < end && *tok(j) == Token::Comma {
                j += 1;
            } else {
                break;
            }
        }
        if names.is_empty()
            || j + 1 >= end
            || *tok(j) != Token::RParen
            || !loc.is_kw(sig[j + 1], "as")
        {
            continue;
        }
        for n in names {
            inserts.push(loc.offsets.byte(sql, loc.tokens[n].span.end));
        }
    }
    if inserts.is_empty() {
        return None;
    }
    let marker = Token::make_word(UNTYPED_MARKER, Some('"')).to_string();
    let mut out = String::with_capacity(sql.len() + inserts.len() * 12);
    let mut from = 0;
    for at in inserts {
        out.push_str(&sql[from..at]);
        out.push(' ');
        out.push_str(&marker);
        from = at;
    }
    out.push_str(&sql[from..]);
    Some(out)
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

/// Rewrites PostgreSQL role syntax into the forms sqlparser reads, editing
/// the original text in place (everything else stays byte for byte):
///
/// * `CREATE USER x ...` becomes `CREATE ROLE x ... LOGIN` (USER implies
///   LOGIN unless the statement says LOGIN or NOLOGIN);
/// * in CREATE / ALTER ROLE and USER, `ENCRYPTED PASSWORD` becomes
///   `PASSWORD` and `CONNECTION LIMIT -1` becomes `CONNECTION LIMIT $minus_1`
///   (sqlparser reads only an unsigned number or a placeholder there);
/// * `GRANT a, b TO c` and `REVOKE a FROM c` (no ON: role membership)
///   become `GRANT ROLE a, ROLE b TO c`, and `WITH ADMIN OPTION` becomes
///   `WITH GRANT OPTION` (which the role DDL then refuses as unsupported);
/// * in CREATE FUNCTION, `LEAKPROOF` becomes a marker setting and
///   `COST n` (a planner estimate) goes;
/// * `ALTER VIEW | SEQUENCE x OWNER TO r` becomes `ALTER TABLE x OWNER TO r`;
/// * `SET [LOCAL | SESSION] ROLE TO x` and `... ROLE = x` (the generic SET
///   form PostgreSQL also accepts for `role`) become `SET "role" TO x`.
///
/// Returns None when there is nothing to rewrite.
fn rewrite_role_syntax(sql: &str) -> Option<String> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let mentions = |w: &str| {
        sql.as_bytes()
            .windows(w.len())
            .any(|win| win.eq_ignore_ascii_case(w.as_bytes()))
    };
    // A cheap test first: most texts (`INSERT INTO users ...` included) skip the tokenizing.
    let role_ddl =
        (mentions("create") || mentions("alter")) && (mentions("role") || mentions("user"));
    let owner_to = (mentions("alter") && mentions("owner"))
        || mentions("leakproof")
        || (mentions("function") && mentions("cost"));
    let set_role = mentions("set") && mentions("role");
    if !(role_ddl || owner_to || set_role || mentions("grant") || mentions("revoke")) {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let offsets = LineOffsets::new(sql);
    let start = |i: usize| offsets.byte(sql, tokens[i].span.start);
    let end = |i: usize| offsets.byte(sql, tokens[i].span.end);
    let word = |i: usize| match &tokens[i].token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    // (byte range, replacement), in text order.
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut stmt_start = 0;
    while stmt_start < tokens.len() {
        let stmt_end = (stmt_start..tokens.len())
            .find(|&i| tokens[i].token == Token::SemiColon)
            .unwrap_or(tokens.len());
        // Significant tokens of the statement (no whitespace or comments).
        let sig: Vec<usize> = (stmt_start..stmt_end)
            .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
            .collect();
        let w = |k: usize| sig.get(k).and_then(|&i| word(i));
        let head = (w(0), w(1));
        let role_ddl = matches!(
            (head.0.as_deref(), head.1.as_deref()),
            (Some("CREATE" | "ALTER"), Some("ROLE" | "USER"))
        );
        if role_ddl {
            if head == (Some("CREATE".into()), Some("USER".into())) {
                edits.push((start(sig[1])..end(sig[1]), "ROLE".into()));
                if !(0..sig.len()).any(|k| matches!(w(k).as_deref(), Some("LOGIN" | "NOLOGIN"))) {
                    let last = *sig.last().expect("CREATE USER has tokens");
                    edits.push((end(last)..end(last), " LOGIN".into()));
                }
            }
            for k in 2..sig.len() {
                match w(k).as_deref() {
                    Some("ENCRYPTED") if w(k + 1).as_deref() == Some("PASSWORD") => {
                        edits.push((start(sig[k])..start(sig[k + 1]), String::new()));
                    }
                    Some("LIMIT") => {
                        if let (Some(&m), Some(&n)) = (sig.get(k + 1), sig.get(k + 2))
                            && tokens[m].token == Token::Minus
                            && let Token::Number(digits, _) = &tokens[n].token
                        {
                            edits.push((
                                start(m)..end(n),
                                format!("${NEGATIVE_PLACEHOLDER}{digits}"),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        } else if head.0.as_deref() == Some("CREATE")
            && (1..4).any(|k| w(k).as_deref() == Some("FUNCTION"))
        {
            // sqlparser does not read LEAKPROOF: it becomes a marker setting
            // the function DDL reads back (and NOT LEAKPROOF, the default, goes).
            // Nor COST n, the planner's estimate, which goes.
            for k in 2..sig.len() {
                if w(k).as_deref() == Some("COST")
                    && let Some(&n) = sig.get(k + 1)
                    && matches!(tokens[n].token, Token::Number(..))
                {
                    edits.push((start(sig[k])..end(n), String::new()));
                }
                if w(k).as_deref() == Some("LEAKPROOF") {
                    if w(k - 1).as_deref() == Some("NOT") {
                        edits.push((start(sig[k - 1])..end(sig[k]), String::new()));
                    } else {
                        edits.push((
                            start(sig[k])..end(sig[k]),
                            "SET \"helios.leakproof\" = 'on'".into(),
                        ));
                    }
                }
            }
        } else if head.0.as_deref() == Some("ALTER")
            && matches!(head.1.as_deref(), Some("VIEW" | "SEQUENCE"))
            && (2..sig.len())
                .any(|k| w(k).as_deref() == Some("OWNER") && w(k + 1).as_deref() == Some("TO"))
        {
            // ALTER TABLE handles OWNER TO for views and sequences too.
            edits.push((start(sig[1])..end(sig[1]), "TABLE".into()));
        } else if head.0.as_deref() == Some("SET") {
            let k = match w(1).as_deref() {
                Some("LOCAL" | "SESSION") => 2,
                _ => 1,
            };
            let assigns = w(k + 1).as_deref() == Some("TO")
                || sig
                    .get(k + 1)
                    .is_some_and(|&i| tokens[i].token == Token::Eq);
            if w(k).as_deref() == Some("ROLE") && assigns {
                edits.push((start(sig[k])..end(sig[k]), "\"role\"".into()));
            }
        } else if let Some(verb @ ("GRANT" | "REVOKE")) = head.0.as_deref() {
            let target = if verb == "GRANT" { "TO" } else { "FROM" };
            let mut depth = 0i32;
            let mut split = None;
            for (k, &i) in sig.iter().enumerate().skip(1) {
                match &tokens[i].token {
                    Token::LParen => depth += 1,
                    Token::RParen => depth -= 1,
                    _ if depth == 0 && word(i).as_deref() == Some("ON") => break,
                    _ if depth == 0 && word(i).as_deref() == Some(target) => {
                        split = Some(k);
                        break;
                    }
                    _ => {}
                }
            }
            let starts_with_all = w(1).as_deref() == Some("ALL");
            if let Some(split) = split.filter(|&k| k > 1 && !starts_with_all) {
                let mut item_start = true;
                for &i in &sig[1..split] {
                    if item_start && word(i).as_deref() != Some("ROLE") {
                        edits.push((start(i)..start(i), "ROLE ".into()));
                    }
                    item_start = tokens[i].token == Token::Comma;
                }
                for k in split..sig.len() {
                    if w(k).as_deref() == Some("WITH")
                        && w(k + 1).as_deref() == Some("ADMIN")
                        && w(k + 2).as_deref() == Some("OPTION")
                    {
                        edits.push((start(sig[k + 1])..end(sig[k + 1]), "GRANT".into()));
                    }
                }
            }
        }
        stmt_start = stmt_end + 1;
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(sql.len() + 16);
    let mut at = 0;
    for (range, text) in edits {
        out.push_str(&sql[at..range.start]);
        out.push_str(&text);
        at = range.end;
    }
    out.push_str(&sql[at..]);
    Some(out)
}

/// How [`rewrite_role_syntax`] spells a negative number as a placeholder.
pub const NEGATIVE_PLACEHOLDER: &str = "minus_";

/// Maps the tokenizer's (line, column) locations to byte offsets.
/// A text's tokens with their locations, the indexes of the significant
/// (non-whitespace) ones, and the line offsets that turn locations into
/// byte offsets: what the rewrites below start from.
struct Located {
    tokens: Vec<sqlparser::tokenizer::TokenWithSpan>,
    sig: Vec<usize>,
    offsets: LineOffsets,
}

impl Located {
    /// None when the text does not tokenize (sqlparser reports that).
    fn new(sql: &str) -> Option<Located> {
        use sqlparser::tokenizer::{Token, Tokenizer};
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .ok()?;
        let sig = (0..tokens.len())
            .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
            .collect();
        Some(Located {
            tokens,
            sig,
            offsets: LineOffsets::new(sql),
        })
    }

    /// Whether token `i` is the unquoted keyword `kw` (any case).
    fn is_kw(&self, i: usize, kw: &str) -> bool {
        matches!(&self.tokens[i].token, sqlparser::tokenizer::Token::Word(w)
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }
}

pub(crate) struct LineOffsets(Vec<usize>);

impl LineOffsets {
    /// Line starts as the tokenizer counts lines (`\n`, `\r\n` or a lone `\r`).
    pub(crate) fn new(sql: &str) -> LineOffsets {
        let b = sql.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if b.get(i + 1) != Some(&b'\n') => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineOffsets(starts)
    }

    /// Byte offset of a location (line and column are 1-based; columns count characters).
    pub(crate) fn byte(&self, sql: &str, loc: sqlparser::tokenizer::Location) -> usize {
        let line = (loc.line as usize).saturating_sub(1);
        let Some(&line_start) = self.0.get(line) else {
            return sql.len();
        };
        sql[line_start..]
            .char_indices()
            .nth((loc.column as usize).saturating_sub(1))
            .map(|(o, _)| line_start + o)
            .unwrap_or(sql.len())
    }
}

/// Parses a query stored as text (a view's definition).
pub fn parse_query(sql: &str) -> Result<ast::Query> {
    match parse(sql)?.into_iter().next() {
        Some(ast::Statement::Query(q)) => Ok(*q),
        _ => Err(Error::corrupted(format!("not a query: {sql}"))),
    }
}

/// Parses a single expression (stored defaults and CHECK constraints).
pub fn parse_expr(sql: &str) -> Result<ast::Expr> {
    parse_nested(
        sql,
        |levels| {
            Parser::new(&DIALECT)
                .with_recursion_limit(levels)
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_expr())
                .map_err(map_err)
        },
        |e| vec![e],
    )
}

/// Runs a parse of `text` with a recursion limit (`parse(levels)`) on the
/// stack it needs (see [`crate::stack::parser`]); `exprs` lists the
/// expressions of a result, to measure how deep they nest.
fn parse_nested<T>(
    text: &str,
    parse: impl Fn(usize) -> Result<T>,
    exprs: impl Fn(&T) -> Vec<&ast::Expr>,
) -> Result<T> {
    use crate::stack::Parsed;
    crate::stack::parser(
        RECURSION_LIMIT,
        text.len(),
        || Err(too_deeply_nested()),
        |levels, last| {
            let r = parse(levels);
            if last {
                return Parsed::Done(r);
            }
            let Ok(t) = r else {
                return Parsed::NeedsMore;
            };
            let mut check = DepthVisitor::default();
            for e in exprs(&t) {
                use ast::Visit;
                if e.visit(&mut check).is_break() {
                    return Parsed::NeedsMore;
                }
            }
            if far_from(check.max_levels, levels) {
                Parsed::Done(Ok(t))
            } else {
                Parsed::NeedsMore
            }
        },
    )
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
    fn bare_view_options_mean_true() {
        assert_eq!(
            rewrite_bare_view_options("CREATE VIEW v WITH (security_invoker) AS SELECT 1")
                .as_deref(),
            Some("CREATE VIEW v WITH (security_invoker = true) AS SELECT 1")
        );
        assert_eq!(
            rewrite_bare_view_options(
                "create view v with (a, check_option = local, b) as select 1"
            )
            .as_deref(),
            Some("create view v with (a = true, check_option = local, b = true) as select 1")
        );
        assert_eq!(rewrite_bare_view_options("CREATE VIEW v AS SELECT 1"), None);
    }

    #[test]
    fn view_check_option_rewrites() {
        let r = |s: &str| rewrite_view_check_option(s);
        assert_eq!(
            r("CREATE VIEW v AS SELECT a FROM t WHERE a < 10 WITH CHECK OPTION").as_deref(),
            Some("CREATE VIEW v WITH (check_option = 'cascaded') AS SELECT a FROM t WHERE a < 10 ")
        );
        assert_eq!(
            r("CREATE VIEW v (x) WITH (security_invoker = true) AS SELECT a FROM t WITH LOCAL CHECK OPTION")
                .as_deref(),
            Some("CREATE VIEW v (x) WITH (security_invoker = true, check_option = 'local') AS SELECT a FROM t ")
        );
        assert_eq!(
            r("CREATE VIEW v (x) AS SELECT a FROM t WITH CASCADED CHECK OPTION").as_deref(),
            Some("CREATE VIEW v (x) WITH (check_option = 'cascaded') AS SELECT a FROM t ")
        );
        assert_eq!(r("CREATE VIEW v AS SELECT check FROM t"), None);
    }

    #[test]
    fn role_syntax_rewrites() {
        let r = |s: &str| rewrite_role_syntax(s);
        assert_eq!(
            r("SET ROLE TO alice").as_deref(),
            Some("SET \"role\" TO alice")
        );
        assert_eq!(
            r("set local role = 'a'").as_deref(),
            Some("set local \"role\" = 'a'")
        );
        assert_eq!(r("SET ROLE alice"), None);
        assert_eq!(r("SELECT 1"), None);
        assert_eq!(r("SELECT * FROM users"), None);
        assert_eq!(r("CREATE ROLE a LOGIN"), None);
        assert_eq!(
            r("CREATE USER ü PASSWORD 'it''s'").as_deref(),
            Some("CREATE ROLE ü PASSWORD 'it''s' LOGIN")
        );
        assert_eq!(
            r("create user a nologin -- note").as_deref(),
            Some("create ROLE a nologin -- note")
        );
        assert_eq!(
            r("ALTER USER a WITH ENCRYPTED PASSWORD 'x' CONNECTION LIMIT -1").as_deref(),
            Some("ALTER USER a WITH PASSWORD 'x' CONNECTION LIMIT $minus_1")
        );
        assert_eq!(
            r("GRANT \"Ä\", b TO c WITH ADMIN OPTION;\r\nREVOKE a FROM c").as_deref(),
            Some("GRANT ROLE \"Ä\", ROLE b TO c WITH GRANT OPTION;\r\nREVOKE ROLE a FROM c")
        );
        assert_eq!(r("GRANT SELECT ON t TO c"), None);
        assert_eq!(r("GRANT ALL TO c"), None);
        for sql in [
            "CREATE USER alice WITH PASSWORD 'x' CONNECTION LIMIT -1 VALID UNTIL 'infinity'",
            "GRANT a, b TO c, d",
            "REVOKE a FROM b",
            "ALTER ROLE a CONNECTION LIMIT -1",
        ] {
            assert_eq!(parse(sql).unwrap().len(), 1, "{sql}");
        }
    }

    #[test]
    fn commands_between_statements() {
        let s = parse_statements(
            "SELECT 1; vacuum t;\nCREATE TABLE x (a int); -- database\nDROP DATABASE d;EXPLAIN ANALYZE SELECT 2",
        )
        .unwrap();
        let kinds: Vec<&str> = s
            .iter()
            .map(|s| match s {
                Statement::Sql(ast::Statement::Query(_)) => "query",
                Statement::Sql(ast::Statement::CreateTable(_)) => "create",
                Statement::Sql(ast::Statement::Explain { .. }) => "explain",
                Statement::Sql(_) => "sql",
                Statement::Command(c, _) => c.tag(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["query", "VACUUM", "create", "DROP DATABASE", "explain"]
        );
        assert_eq!(parse_statements("ANALYZE").unwrap().len(), 1);
        assert_eq!(
            parse_statements("SELEC 1; VACUUM").unwrap_err().sqlstate(),
            "42601"
        );
        assert!(matches!(
            parse_statements("SELECT 'database'").unwrap()[..],
            [Statement::Sql(_)]
        ));
    }

    #[test]
    fn table_statements() {
        let stmts = parse("TABLE t; table s.u ORDER BY 1 LIMIT 2").unwrap();
        assert_eq!(stmts[0].to_string(), "SELECT * FROM t");
        assert_eq!(stmts[1].to_string(), "SELECT * FROM s.u ORDER BY 1 LIMIT 2");
        let stmts = parse("SELECT 1; TABLE t").unwrap();
        assert_eq!(stmts[1].to_string(), "SELECT * FROM t");
        assert_eq!(rewrite_statement_heads("ALTER TABLE t ADD c int"), None);
    }

    #[test]
    fn merge_insert_default_values() {
        let sql = "MERGE INTO t USING s ON t.a = s.a WHEN NOT MATCHED THEN INSERT DEFAULT VALUES";
        let stmts = parse(sql).unwrap();
        let ast::Statement::Merge(m) = &stmts[0] else {
            panic!("not a MERGE: {}", stmts[0]);
        };
        let ast::MergeAction::Insert(ins) = &m.clauses[0].action else {
            panic!("not an INSERT action");
        };
        assert_eq!(ins.columns.len(), 1);
        assert_eq!(
            ins.columns[0].to_string(),
            format!("\"{INFERENCE_MARKER}\"")
        );
        // Only the MERGE action's form is rewritten.
        assert_eq!(
            rewrite_merge_default_values("INSERT INTO t DEFAULT VALUES"),
            None
        );
        assert!(
            parse("MERGE INTO t USING s ON true WHEN MATCHED THEN INSERT DEFAULT VALUES").is_err()
        );
    }

    #[test]
    fn fetch_and_move_short_forms() {
        let one = |sql: &str| parse(sql).unwrap().remove(0).to_string();
        assert_eq!(one("FETCH c"), "FETCH NEXT FROM c");
        assert_eq!(one("fetch 2 c"), "FETCH 2 FROM c");
        assert_eq!(one("FETCH -2 IN c"), "FETCH BACKWARD 2 FROM c");
        assert_eq!(one("FETCH FORWARD -2 IN c"), "FETCH BACKWARD 2 FROM c");
        assert_eq!(one("FETCH BACKWARD -2 IN c"), "FETCH FORWARD 2 FROM c");
        assert_eq!(one("FETCH BACKWARD ALL c"), "FETCH BACKWARD ALL FROM c");
        assert_eq!(one("FETCH BACKWARD c"), "FETCH BACKWARD 1 FROM c");
        assert_eq!(
            one("FETCH ABSOLUTE 3 FROM \"C\""),
            "FETCH ABSOLUTE 3 FROM \"C\""
        );
        let mv = parse("MOVE FORWARD 5 IN c; SELECT 1").unwrap();
        let ast::Statement::Fetch {
            into: Some(into), ..
        } = &mv[0]
        else {
            panic!("{:?}", mv[0]);
        };
        assert_eq!(into.to_string(), format!("\"{MOVE_MARKER}\""));
        assert_eq!(mv[1].to_string(), "SELECT 1");
        assert_eq!(parse("MOVE").unwrap_err().sqlstate(), "42601");
        assert_eq!(one("FETCH ABSOLUTE -3 FROM c"), "FETCH ABSOLUTE -3 FROM c");
        assert_eq!(one("FETCH RELATIVE - 2 c"), "FETCH RELATIVE -2 FROM c");
        assert_eq!(one("FETCH absolute +2 IN c"), "FETCH ABSOLUTE 2 FROM c");
        let mv = parse("MOVE RELATIVE -1 IN c").unwrap();
        let ast::Statement::Fetch {
            into: Some(into),
            direction,
            ..
        } = &mv[0]
        else {
            panic!("{:?}", mv[0]);
        };
        assert!(is_move_marker(into));
        assert_eq!(direction.to_string(), "RELATIVE -1");
    }

    #[test]
    fn where_current_of_is_read() {
        let stmts = parse("UPDATE t SET a = 1 WHERE CURRENT OF \"My C\" RETURNING *").unwrap();
        let ast::Statement::Update(u) = &stmts[0] else {
            panic!("not an UPDATE")
        };
        let Some(ast::Expr::Function(f)) = &u.selection else {
            panic!("no marker call")
        };
        assert_eq!(f.name.to_string(), format!("\"{CURRENT_OF_MARKER}\""));
        assert_eq!(f.args.to_string(), "(\"My C\")");
        assert!(parse("DELETE FROM t WHERE current of c").is_ok());
        assert!(parse("DELETE FROM t WHERE CURRENT OF").is_err());
    }

    #[test]
    fn errors_are_42601() {
        assert_eq!(parse("SELEC 1").unwrap_err().sqlstate(), "42601");
        assert_eq!(parse("SELECT 1; SELECT 2").unwrap().len(), 2);
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(parse(&deep).unwrap_err().sqlstate(), "54001");
    }
}
