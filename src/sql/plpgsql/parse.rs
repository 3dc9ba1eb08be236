//! Reads a PL/pgSQL body into a [`Block`]: the block structure and the
//! statements of the subset are parsed here, every expression and query is
//! kept as SQL text (checked by sqlparser, bound later by the binder).
//!
//! Anything outside the subset fails with 0A000 naming the construct, so a
//! function that would behave differently never gets created; syntax errors
//! are 42601.

use crate::error::{Error, Result, SqlState};
use crate::sql::parser::LineOffsets;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// `DECLARE ... BEGIN ... END`.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub decls: Vec<Decl>,
    pub body: Vec<Stmt>,
}

/// One declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum Decl {
    /// `name [CONSTANT] type [NOT NULL] [{DEFAULT | := | =} expr]`.
    Var {
        name: String,
        /// The type as SQL text.
        ty: String,
        constant: bool,
        not_null: bool,
        default: Option<String>,
    },
    /// `name ALIAS FOR $n` (1-based) or `name ALIAS FOR param`.
    Alias { name: String, target: String },
}

/// A statement; expressions and queries are SQL text.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `target := expr` (or `=`).
    Assign {
        target: String,
        expr: String,
    },
    /// `IF c THEN ... [ELSIF c THEN ...] [ELSE ...] END IF`.
    If {
        arms: Vec<(String, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    /// `RETURN expr`.
    Return(String),
    Raise(Raise),
    /// `PERFORM ...`, as the query `SELECT ...`.
    Perform(String),
    /// `SELECT ... INTO [STRICT] target, ...`: the query without the INTO.
    SelectInto {
        query: String,
        targets: Vec<String>,
        strict: bool,
    },
    /// `NULL;`.
    Null,
}

/// PostgreSQL's RAISE levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Log,
    Info,
    Notice,
    Warning,
    Exception,
}

/// `RAISE level ['format' [, expr ...] | SQLSTATE 'code'] [USING option = expr, ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Raise {
    pub level: Level,
    /// The format string (its `%` stand for the arguments, `%%` for `%`).
    pub format: Option<String>,
    pub args: Vec<String>,
    /// `SQLSTATE 'xxxxx'` in place of a format.
    pub sqlstate: Option<String>,
    /// USING options: MESSAGE, DETAIL, HINT, ERRCODE (upper case) and their expressions.
    pub options: Vec<(String, String)>,
}

/// Parses a function body.
pub fn parse(body: &str) -> Result<Block> {
    let mut p = Parser::new(body)?;
    if p.peek_is(&Token::ShiftLeft) {
        return Err(Error::unsupported(
            "block labels (<<label>>) in PL/pgSQL are not supported",
        ));
    }
    let block = p.block()?;
    p.eat(&Token::SemiColon);
    if let Some(t) = p.peek() {
        return Err(syntax_at(&t.to_string()));
    }
    Ok(block)
}

/// The number of `%` placeholders in a RAISE format (`%%` is a literal `%`).
pub fn placeholders(format: &str) -> usize {
    let mut n = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            if chars.peek() == Some(&'%') {
                chars.next();
            } else {
                n += 1;
            }
        }
    }
    n
}

fn syntax_at(near: &str) -> Error {
    Error::syntax(format!("syntax error at or near \"{near}\""))
}

fn syntax_at_end() -> Error {
    Error::syntax("syntax error at end of input")
}

/// Statements that start with these words are PL/pgSQL the subset leaves out.
fn unsupported_statement(word: &str) -> Option<&'static str> {
    Some(match word {
        "LOOP" | "WHILE" | "FOR" | "FOREACH" | "EXIT" | "CONTINUE" => {
            "loops (LOOP, WHILE, FOR, FOREACH, EXIT, CONTINUE)"
        }
        "CASE" => "CASE statements",
        "EXECUTE" => "dynamic SQL (EXECUTE)",
        "OPEN" | "FETCH" | "CLOSE" | "MOVE" => "cursors",
        "GET" => "GET DIAGNOSTICS",
        "ASSERT" => "ASSERT",
        "CALL" | "COMMIT" | "ROLLBACK" => "procedure calls and transaction control",
        "DECLARE" | "BEGIN" => "nested blocks",
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => "data-changing statements",
        _ => return None,
    })
}

struct Tok {
    token: Token,
    start: usize,
    end: usize,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Parser<'a>> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, src)
            .tokenize_with_location()
            .map_err(|e| Error::syntax(e.message))?;
        let offsets = LineOffsets::new(src);
        let toks = tokens
            .into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
            .map(|t| Tok {
                start: offsets.byte(src, t.span.start),
                end: offsets.byte(src, t.span.end),
                token: t.token,
            })
            .collect();
        Ok(Parser { src, toks, pos: 0 })
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos).map(|t| &t.token)
    }

    fn peek_is(&self, t: &Token) -> bool {
        self.peek() == Some(t)
    }

    /// The upper-cased unquoted word at `pos + ahead`, if it is one.
    fn word_at(&self, ahead: usize) -> Option<String> {
        match self.toks.get(self.pos + ahead).map(|t| &t.token) {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn word(&self) -> Option<String> {
        self.word_at(0)
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek_is(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.word().as_deref() == Some(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn unexpected(&self) -> Error {
        match self.peek() {
            Some(t) => syntax_at(&t.to_string()),
            None => syntax_at_end(),
        }
    }

    fn expect(&mut self, t: &Token) -> Result<()> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<()> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// An identifier (folded as SQL folds it).
    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let name = if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                };
                self.pos += 1;
                Ok(name)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// The source text of tokens `from..to`.
    fn text(&self, from: usize, to: usize) -> String {
        if from >= to {
            return String::new();
        }
        self.src[self.toks[from].start..self.toks[to - 1].end].to_string()
    }

    /// Advances to the first token at parenthesis depth 0 for which `stop`
    /// holds (or the end), returning where the run started.
    fn scan_until(&mut self, stop: &dyn Fn(&Parser) -> bool) -> usize {
        let from = self.pos;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if depth == 0 && stop(self) {
                break;
            }
            match t {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        from
    }

    /// SQL text up to the next `;` (consumed); an empty text is an error.
    fn until_semicolon(&mut self) -> Result<String> {
        let from = self.scan_until(&|p| p.peek_is(&Token::SemiColon));
        if from == self.pos {
            return Err(self.unexpected());
        }
        let text = self.text(from, self.pos);
        self.expect(&Token::SemiColon)?;
        Ok(text)
    }

    fn block(&mut self) -> Result<Block> {
        let mut decls = Vec::new();
        if self.eat_word("DECLARE") {
            while self.word().as_deref() != Some("BEGIN") {
                if self.peek().is_none() {
                    return Err(syntax_at_end());
                }
                decls.push(self.decl()?);
            }
        }
        self.expect_word("BEGIN")?;
        let body = self.statements(&["END"])?;
        self.expect_word("END")?;
        if self.word().is_some() {
            return Err(Error::unsupported(
                "block labels (END label) in PL/pgSQL are not supported",
            ));
        }
        Ok(Block { decls, body })
    }

    fn decl(&mut self) -> Result<Decl> {
        let name = self.ident()?;
        if self.eat_word("ALIAS") {
            self.expect_word("FOR")?;
            let target = match self.peek() {
                Some(Token::Placeholder(p)) => {
                    let p = p.clone();
                    self.pos += 1;
                    p
                }
                _ => self.ident()?,
            };
            self.expect(&Token::SemiColon)?;
            return Ok(Decl::Alias { name, target });
        }
        let constant = self.eat_word("CONSTANT");
        if self.word().as_deref() == Some("CURSOR")
            || (self.word().as_deref() == Some("NO")
                && self.word_at(1).as_deref() == Some("SCROLL"))
            || self.word().as_deref() == Some("SCROLL")
            || self.word().as_deref() == Some("REFCURSOR")
        {
            return Err(Error::unsupported("cursors in PL/pgSQL are not supported"));
        }
        let ty_from = self.scan_until(&|p| {
            matches!(
                p.peek(),
                Some(Token::SemiColon | Token::Assignment | Token::Eq)
            ) || matches!(p.word().as_deref(), Some("DEFAULT" | "COLLATE"))
                || (p.word().as_deref() == Some("NOT") && p.word_at(1).as_deref() == Some("NULL"))
        });
        if ty_from == self.pos {
            return Err(self.unexpected());
        }
        let ty = self.text(ty_from, self.pos);
        if self.toks[ty_from..self.pos]
            .iter()
            .any(|t| t.token == Token::Mod)
        {
            return Err(Error::unsupported(
                "%TYPE and %ROWTYPE in PL/pgSQL declarations are not supported",
            ));
        }
        if matches!(ty.to_ascii_lowercase().as_str(), "record" | "refcursor") {
            return Err(Error::unsupported(format!(
                "variables of type {ty} in PL/pgSQL are not supported"
            )));
        }
        if self.eat_word("COLLATE") {
            return Err(Error::unsupported(
                "COLLATE in PL/pgSQL declarations is not supported",
            ));
        }
        let not_null = if self.eat_word("NOT") {
            self.expect_word("NULL")?;
            true
        } else {
            false
        };
        let default =
            if self.eat_word("DEFAULT") || self.eat(&Token::Assignment) || self.eat(&Token::Eq) {
                Some(self.until_semicolon()?)
            } else {
                self.expect(&Token::SemiColon)?;
                None
            };
        if (constant || not_null) && default.is_none() {
            let what = if constant { "CONSTANT" } else { "NOT NULL" };
            return Err(Error::syntax(format!(
                "variable \"{name}\" must have a default value, since it's declared {what}"
            )));
        }
        Ok(Decl::Var {
            name,
            ty,
            constant,
            not_null,
            default,
        })
    }

    /// Statements up to (not including) one of the words in `until`.
    fn statements(&mut self, until: &[&str]) -> Result<Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            let Some(w) = self.peek().map(|_| self.word()) else {
                return Err(syntax_at_end());
            };
            if let Some(w) = &w {
                if until.contains(&w.as_str()) {
                    return Ok(out);
                }
                if w == "EXCEPTION" {
                    return Err(Error::unsupported(
                        "exception handlers (EXCEPTION WHEN) in PL/pgSQL are not supported",
                    ));
                }
            }
            out.push(self.statement()?);
        }
    }

    fn statement(&mut self) -> Result<Stmt> {
        if self.peek_is(&Token::ShiftLeft) {
            return Err(Error::unsupported(
                "labels (<<label>>) in PL/pgSQL are not supported",
            ));
        }
        let word = self.word();
        // Assignment first: a variable may be called like a keyword.
        if matches!(
            self.toks.get(self.pos + 1).map(|t| &t.token),
            Some(Token::Assignment | Token::Eq)
        ) && matches!(self.peek(), Some(Token::Word(_)))
        {
            let target = self.ident()?;
            self.pos += 1;
            let expr = self.until_semicolon()?;
            return Ok(Stmt::Assign { target, expr });
        }
        let Some(word) = word else {
            if matches!(self.peek(), Some(Token::Word(_))) {
                // A quoted identifier not followed by := (a.b := ..., a[1] := ...).
                return Err(Error::unsupported(
                    "assignments to fields or array elements in PL/pgSQL are not supported",
                ));
            }
            return Err(self.unexpected());
        };
        match word.as_str() {
            "IF" => {
                self.pos += 1;
                self.if_statement()
            }
            "RETURN" => {
                self.pos += 1;
                if matches!(self.word().as_deref(), Some("NEXT" | "QUERY")) {
                    return Err(Error::unsupported(
                        "RETURN NEXT and RETURN QUERY (set-returning functions) are not supported",
                    ));
                }
                if self.peek_is(&Token::SemiColon) {
                    return Err(Error::syntax("missing expression at or near \";\""));
                }
                Ok(Stmt::Return(self.until_semicolon()?))
            }
            "RAISE" => {
                self.pos += 1;
                self.raise().map(Stmt::Raise)
            }
            "PERFORM" => {
                self.pos += 1;
                let rest = self.until_semicolon()?;
                Ok(Stmt::Perform(format!("SELECT {rest}")))
            }
            "NULL" if self.toks.get(self.pos + 1).map(|t| &t.token) == Some(&Token::SemiColon) => {
                self.pos += 2;
                Ok(Stmt::Null)
            }
            "SELECT" | "WITH" => self.select_into(),
            other => match unsupported_statement(other) {
                Some(what) => Err(Error::unsupported(format!(
                    "{what} in PL/pgSQL are not supported"
                ))),
                None if self
                    .toks
                    .get(self.pos + 1)
                    .is_some_and(|t| matches!(t.token, Token::Period | Token::LBracket)) =>
                {
                    Err(Error::unsupported(
                        "assignments to fields or array elements in PL/pgSQL are not supported",
                    ))
                }
                None => Err(self.unexpected()),
            },
        }
    }

    fn if_statement(&mut self) -> Result<Stmt> {
        let mut arms = Vec::new();
        let mut otherwise = Vec::new();
        loop {
            let from = self.scan_until(&|p| p.word().as_deref() == Some("THEN"));
            if from == self.pos {
                return Err(self.unexpected());
            }
            let cond = self.text(from, self.pos);
            self.expect_word("THEN")?;
            let body = self.statements(&["ELSIF", "ELSEIF", "ELSE", "END"])?;
            arms.push((cond, body));
            match self.word().as_deref() {
                Some("ELSIF" | "ELSEIF") => {
                    self.pos += 1;
                }
                Some("ELSE") => {
                    self.pos += 1;
                    otherwise = self.statements(&["END"])?;
                    break;
                }
                _ => break,
            }
        }
        self.expect_word("END")?;
        self.expect_word("IF")?;
        self.expect(&Token::SemiColon)?;
        Ok(Stmt::If { arms, otherwise })
    }

    fn raise(&mut self) -> Result<Raise> {
        let level = match self.word().as_deref() {
            Some("DEBUG") => Some(Level::Debug),
            Some("LOG") => Some(Level::Log),
            Some("INFO") => Some(Level::Info),
            Some("NOTICE") => Some(Level::Notice),
            Some("WARNING") => Some(Level::Warning),
            Some("EXCEPTION") => Some(Level::Exception),
            _ => None,
        };
        if level.is_some() {
            self.pos += 1;
        }
        if level.is_none() && self.peek_is(&Token::SemiColon) {
            return Err(Error::unsupported(
                "RAISE without parameters (re-raising inside an exception handler) is not supported",
            ));
        }
        let mut raise = Raise {
            level: level.unwrap_or(Level::Exception),
            format: None,
            args: Vec::new(),
            sqlstate: None,
            options: Vec::new(),
        };
        match self.peek().cloned() {
            Some(Token::SingleQuotedString(s)) | Some(Token::EscapedStringLiteral(s)) => {
                self.pos += 1;
                raise.format = Some(s);
                while self.eat(&Token::Comma) {
                    let from = self.scan_until(&|p| {
                        p.peek_is(&Token::Comma)
                            || p.peek_is(&Token::SemiColon)
                            || p.word().as_deref() == Some("USING")
                    });
                    if from == self.pos {
                        return Err(self.unexpected());
                    }
                    raise.args.push(self.text(from, self.pos));
                }
            }
            Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("SQLSTATE") => {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Token::SingleQuotedString(s)) => {
                        self.pos += 1;
                        check_sqlstate(&s)?;
                        raise.sqlstate = Some(s);
                    }
                    _ => return Err(self.unexpected()),
                }
            }
            Some(Token::Word(w)) if !w.value.eq_ignore_ascii_case("USING") => {
                return Err(Error::unsupported(
                    "RAISE with a condition name is not supported (use SQLSTATE 'xxxxx' or USING ERRCODE)",
                ));
            }
            _ => {}
        }
        if let Some(f) = &raise.format {
            let wanted = placeholders(f);
            if wanted > raise.args.len() {
                return Err(Error::syntax("too few parameters specified for RAISE"));
            }
            if wanted < raise.args.len() {
                return Err(Error::syntax("too many parameters specified for RAISE"));
            }
        }
        if self.eat_word("USING") {
            loop {
                let opt = self.word().ok_or_else(|| self.unexpected())?;
                match opt.as_str() {
                    "MESSAGE" | "DETAIL" | "HINT" | "ERRCODE" => {}
                    "COLUMN" | "CONSTRAINT" | "DATATYPE" | "TABLE" | "SCHEMA" => {
                        return Err(Error::unsupported(format!(
                            "RAISE option {opt} is not supported"
                        )));
                    }
                    _ => {
                        return Err(Error::syntax(format!(
                            "unrecognized RAISE statement option \"{}\"",
                            opt.to_lowercase()
                        )));
                    }
                }
                self.pos += 1;
                if !(self.eat(&Token::Eq) || self.eat(&Token::Assignment)) {
                    return Err(self.unexpected());
                }
                let from =
                    self.scan_until(&|p| p.peek_is(&Token::Comma) || p.peek_is(&Token::SemiColon));
                if from == self.pos {
                    return Err(self.unexpected());
                }
                let already = raise.options.iter().any(|(o, _)| *o == opt)
                    || (opt == "MESSAGE" && raise.format.is_some())
                    || (opt == "ERRCODE" && raise.sqlstate.is_some());
                if already {
                    return Err(Error::syntax(format!(
                        "RAISE option already specified: {opt}"
                    )));
                }
                raise.options.push((opt, self.text(from, self.pos)));
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        self.expect(&Token::SemiColon)?;
        Ok(raise)
    }

    /// `SELECT ... INTO [STRICT] a, b ...;`: the INTO clause is cut out of
    /// the query (PostgreSQL allows it after the select list or at the end).
    fn select_into(&mut self) -> Result<Stmt> {
        let from = self
            .scan_until(&|p| p.peek_is(&Token::SemiColon) || p.word().as_deref() == Some("INTO"));
        if self.word().as_deref() != Some("INTO") {
            return Err(Error::unsupported(
                "SELECT without INTO in PL/pgSQL (use PERFORM to discard a result)",
            ));
        }
        let head = self.text(from, self.pos);
        self.pos += 1;
        let strict = self.eat_word("STRICT");
        let mut targets = vec![self.ident()?];
        while self.eat(&Token::Comma) {
            targets.push(self.ident()?);
        }
        if self.peek_is(&Token::Period) || self.peek_is(&Token::LBracket) {
            return Err(Error::unsupported(
                "INTO fields or array elements in PL/pgSQL are not supported",
            ));
        }
        let rest_from = self.scan_until(&|p| p.peek_is(&Token::SemiColon));
        if self.toks[rest_from..self.pos]
            .iter()
            .any(|t| matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("INTO")))
        {
            return Err(Error::syntax("INTO specified more than once"));
        }
        let rest = self.text(rest_from, self.pos);
        self.expect(&Token::SemiColon)?;
        Ok(Stmt::SelectInto {
            query: format!("{head} {rest}").trim().to_string(),
            targets,
            strict,
        })
    }
}

/// A SQLSTATE given in the body: five digits or upper-case letters.
pub fn check_sqlstate(code: &str) -> Result<()> {
    if code.len() == 5
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        if code == "00000" {
            return Err(Error::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "invalid SQLSTATE code \"00000\"",
            ));
        }
        Ok(())
    } else {
        Err(Error::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid SQLSTATE code \"{code}\""),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_leak() {
        let b = parse("BEGIN RAISE NOTICE 'f_leak => %', $1; RETURN true; END").unwrap();
        assert!(b.decls.is_empty());
        assert_eq!(
            b.body,
            vec![
                Stmt::Raise(Raise {
                    level: Level::Notice,
                    format: Some("f_leak => %".into()),
                    args: vec!["$1".into()],
                    sqlstate: None,
                    options: vec![],
                }),
                Stmt::Return("true".into()),
            ]
        );
    }

    #[test]
    fn declarations_if_and_assignments() {
        let b = parse(
            "DECLARE
               n int NOT NULL := 0;
               k CONSTANT numeric(10,2) DEFAULT 1.5;
               s text;
               a ALIAS FOR $1;
             BEGIN
               IF a > 10 THEN n := 1;
               ELSIF a > (5) THEN n = 2; NULL;
               ELSE s := 'it''s'; END IF;
               SELECT count(*) INTO STRICT n FROM t WHERE x = a;
               PERFORM f(x) FROM t;
               RETURN n + k;
             END;",
        )
        .unwrap();
        assert_eq!(b.decls.len(), 4);
        assert_eq!(
            b.decls[1],
            Decl::Var {
                name: "k".into(),
                ty: "numeric(10,2)".into(),
                constant: true,
                not_null: false,
                default: Some("1.5".into()),
            }
        );
        assert_eq!(
            b.decls[3],
            Decl::Alias {
                name: "a".into(),
                target: "$1".into()
            }
        );
        let Stmt::If { arms, otherwise } = &b.body[0] else {
            panic!("not an IF: {:?}", b.body[0]);
        };
        assert_eq!(arms.len(), 2);
        assert_eq!(arms[1].0, "a > (5)");
        assert_eq!(arms[1].1.len(), 2);
        assert_eq!(
            otherwise,
            &vec![Stmt::Assign {
                target: "s".into(),
                expr: "'it''s'".into()
            }]
        );
        assert_eq!(
            b.body[1],
            Stmt::SelectInto {
                query: "SELECT count(*) FROM t WHERE x = a".into(),
                targets: vec!["n".into()],
                strict: true,
            }
        );
        assert_eq!(b.body[2], Stmt::Perform("SELECT f(x) FROM t".into()));
        assert_eq!(b.body[3], Stmt::Return("n + k".into()));
    }

    #[test]
    fn raise_forms() {
        let b = parse(
            "BEGIN RAISE 'x % y %%', 1 USING HINT = 'h', ERRCODE = '22012';
             RAISE WARNING SQLSTATE '01XYZ'; RAISE INFO USING MESSAGE = 'm'; RETURN 1; END",
        )
        .unwrap();
        let Stmt::Raise(r) = &b.body[0] else { panic!() };
        assert_eq!(r.level, Level::Exception);
        assert_eq!(r.args, vec!["1".to_string()]);
        assert_eq!(
            r.options,
            vec![
                ("HINT".to_string(), "'h'".to_string()),
                ("ERRCODE".to_string(), "'22012'".to_string())
            ]
        );
        let Stmt::Raise(r) = &b.body[1] else { panic!() };
        assert_eq!(r.sqlstate.as_deref(), Some("01XYZ"));
        let Stmt::Raise(r) = &b.body[2] else { panic!() };
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.format, None);
    }

    #[test]
    fn raise_parameter_count_is_checked() {
        let e = parse("BEGIN RAISE NOTICE '% %', 1; RETURN 1; END").unwrap_err();
        assert_eq!(e.message, "too few parameters specified for RAISE");
        let e = parse("BEGIN RAISE NOTICE '%', 1, 2; RETURN 1; END").unwrap_err();
        assert_eq!(e.message, "too many parameters specified for RAISE");
        assert_eq!(placeholders("100%% of %"), 1);
    }

    #[test]
    fn outside_the_subset_is_0a000() {
        for body in [
            "BEGIN LOOP EXIT; END LOOP; RETURN 1; END",
            "BEGIN FOR i IN 1..3 LOOP NULL; END LOOP; RETURN 1; END",
            "BEGIN RETURN 1; EXCEPTION WHEN others THEN RETURN 2; END",
            "DECLARE c CURSOR FOR SELECT 1; BEGIN RETURN 1; END",
            "DECLARE r record; BEGIN RETURN 1; END",
            "DECLARE r t%ROWTYPE; BEGIN RETURN 1; END",
            "BEGIN EXECUTE 'select 1'; RETURN 1; END",
            "BEGIN INSERT INTO t VALUES (1); RETURN 1; END",
            "BEGIN RETURN QUERY SELECT 1; END",
            "<<b>> BEGIN RETURN 1; END",
            "BEGIN RAISE; END",
            "BEGIN RAISE division_by_zero; END",
            "BEGIN BEGIN NULL; END; RETURN 1; END",
            "BEGIN r.f := 1; RETURN 1; END",
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.code, SqlState::FEATURE_NOT_SUPPORTED, "{body}: {e:?}");
        }
    }

    #[test]
    fn syntax_errors_are_42601() {
        for body in [
            "BEGIN RETURN 1;",
            "RETURN 1; END",
            "BEGIN IF true THEN RETURN 1; END; END",
            "BEGIN RETURN; END",
            "BEGIN x + 1; END",
            "DECLARE n int NOT NULL; BEGIN RETURN n; END",
            "BEGIN RETURN 1; END; extra",
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.code, SqlState::SYNTAX_ERROR, "{body}: {e:?}");
        }
    }
}
