//! Database and maintenance commands: `CREATE / ALTER / DROP DATABASE`,
//! `VACUUM` and `ANALYZE`, `CREATE DOMAIN`, and `DROP / REASSIGN OWNED`,
//! in PostgreSQL's syntax.
//!
//! sqlparser reads these in other dialects' forms (or not at all), so
//! [`parser::parse_statements`](super::parser::parse_statements) hands
//! statements that start with these words to [`parse`] here, which reads
//! them from sqlparser's tokens into [`Command`]s. Options are kept as
//! PostgreSQL keeps them before checking them, as a list of
//! [`DefElem`]s (name and optional value); their meaning and errors belong
//! to the statements' execution (`sql::ddl::database`, `sql::ddl::maintenance`).

use crate::error::{Error, Result, SqlState};
use sqlparser::ast;
use sqlparser::tokenizer::Token;

/// A parsed database or maintenance command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `CREATE DATABASE name [WITH] [option [=] value ...]`.
    CreateDatabase { name: String, options: Vec<DefElem> },
    /// `DROP DATABASE [IF EXISTS] name [[WITH] (FORCE)]`.
    DropDatabase {
        name: String,
        if_exists: bool,
        force: bool,
    },
    /// `ALTER DATABASE name ...`.
    AlterDatabase { name: String, action: AlterDatabase },
    /// `VACUUM [(options)] [FULL] [FREEZE] [VERBOSE] [ANALYZE] [tables]`;
    /// the keyword flags become options without a value.
    Vacuum {
        options: Vec<DefElem>,
        tables: Vec<TableAndColumns>,
    },
    /// `ANALYZE [(options)] [VERBOSE] [tables]`.
    Analyze {
        options: Vec<DefElem>,
        tables: Vec<TableAndColumns>,
    },
    /// `CREATE DOMAIN name [AS] type [COLLATE c] [DEFAULT e] [constraints]`.
    CreateDomain(Box<CreateDomain>),
    /// `DROP DOMAIN [IF EXISTS] name [, ...] [CASCADE | RESTRICT]`.
    DropDomain {
        names: Vec<ast::ObjectName>,
        if_exists: bool,
        cascade: bool,
    },
    /// `DROP OWNED BY role [, ...] [CASCADE | RESTRICT]`.
    DropOwned { roles: Vec<RoleSpec>, cascade: bool },
    /// `REASSIGN OWNED BY role [, ...] TO role`.
    ReassignOwned { roles: Vec<RoleSpec>, to: RoleSpec },
}

/// CREATE DOMAIN as written (sqlparser wants AS and reads no NOT NULL).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateDomain {
    pub name: ast::ObjectName,
    pub data_type: ast::DataType,
    pub collation: Option<ast::ObjectName>,
    pub default: Option<ast::Expr>,
    pub constraints: Vec<DomainConstraint>,
}

/// `[CONSTRAINT name] { NOT NULL | NULL | CHECK (expr) }`.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainConstraint {
    pub name: Option<String>,
    pub kind: DomainConstraintKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DomainConstraintKind {
    NotNull,
    Null,
    Check(Box<ast::Expr>),
}

impl Command {
    /// Whether the command changes the schema (the change log captures it
    /// as a schema event): all but VACUUM and ANALYZE.
    pub fn changes_schema(&self) -> bool {
        !matches!(self, Command::Vacuum { .. } | Command::Analyze { .. })
    }

    /// The command's name in messages and its command tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Command::CreateDatabase { .. } => "CREATE DATABASE",
            Command::DropDatabase { .. } => "DROP DATABASE",
            Command::AlterDatabase { .. } => "ALTER DATABASE",
            Command::Vacuum { .. } => "VACUUM",
            Command::Analyze { .. } => "ANALYZE",
            Command::CreateDomain(_) => "CREATE DOMAIN",
            Command::DropDomain { .. } => "DROP DOMAIN",
            Command::DropOwned { .. } => "DROP OWNED",
            Command::ReassignOwned { .. } => "REASSIGN OWNED",
        }
    }

    /// Whether the command changes the database, so a READ ONLY
    /// transaction refuses it (25006). ANALYZE only refreshes statistics,
    /// which PostgreSQL allows there.
    pub fn writes(&self) -> bool {
        !matches!(self, Command::Analyze { .. })
    }

    /// Whether the command refuses to run inside a transaction block (25001).
    pub fn needs_own_transaction(&self) -> bool {
        matches!(
            self,
            Command::CreateDatabase { .. } | Command::DropDatabase { .. } | Command::Vacuum { .. }
        )
    }
}

/// What ALTER DATABASE does.
#[derive(Clone, Debug, PartialEq)]
pub enum AlterDatabase {
    /// `[WITH] option [=] value ...` (ALLOW_CONNECTIONS, CONNECTION LIMIT, IS_TEMPLATE).
    Options(Vec<DefElem>),
    RenameTo(String),
    OwnerTo(RoleSpec),
}

/// A role as `OWNER TO` names it.
#[derive(Clone, Debug, PartialEq)]
pub enum RoleSpec {
    Name(String),
    CurrentUser,
    SessionUser,
}

/// An option: its name (lower case; `CONNECTION LIMIT` is
/// `connection_limit`) and value (`None`: no value, or DEFAULT).
#[derive(Clone, Debug, PartialEq)]
pub struct DefElem {
    pub name: String,
    pub value: Option<OptValue>,
}

/// An option value as written.
#[derive(Clone, Debug, PartialEq)]
pub enum OptValue {
    /// A number, with its sign.
    Number(String),
    /// A string literal, or a word (folded to lower case unless quoted).
    Text(String),
}

impl OptValue {
    pub fn as_text(&self) -> &str {
        match self {
            OptValue::Number(s) | OptValue::Text(s) => s,
        }
    }
}

/// A table a maintenance command names, with an optional column list.
#[derive(Clone, Debug, PartialEq)]
pub struct TableAndColumns {
    pub name: ast::ObjectName,
    pub columns: Vec<String>,
}

/// Whether `sql` may contain a command (a cheap test before tokenizing).
pub fn may_contain(sql: &str) -> bool {
    let mentions = |w: &str| {
        sql.as_bytes()
            .windows(w.len())
            .any(|win| win.eq_ignore_ascii_case(w.as_bytes()))
    };
    mentions("database")
        || mentions("vacuum")
        || mentions("analy")
        || mentions("domain")
        || mentions("owned")
}

/// An unquoted word's upper-case text.
fn keyword(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// Whether a statement (its tokens, without whitespace) is a command.
pub fn is_command(tokens: &[Token]) -> bool {
    let w = |i: usize| tokens.get(i).and_then(keyword);
    match w(0).as_deref() {
        Some("VACUUM" | "ANALYZE" | "ANALYSE") => true,
        Some("CREATE" | "DROP" | "ALTER") if w(1).as_deref() == Some("DATABASE") => true,
        Some("DROP") if w(1).as_deref() == Some("OWNED") => true,
        Some("REASSIGN") => w(1).as_deref() == Some("OWNED"),
        Some("CREATE" | "DROP") => w(1).as_deref() == Some("DOMAIN"),
        _ => false,
    }
}

/// Parses `DROP DOMAIN ...` (sqlparser takes one name only).
fn parse_drop_domain(tokens: &[Token]) -> Result<Command> {
    use sqlparser::keywords::Keyword;
    use sqlparser::parser::Parser;
    let dialect = crate::sql::dialect::DIALECT;
    let mut p = Parser::new(&dialect).with_tokens(tokens.to_vec());
    let run = |p: &mut Parser| {
        p.expect_keywords(&[Keyword::DROP, Keyword::DOMAIN])?;
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let names = p.parse_comma_separated(|p| p.parse_object_name(false))?;
        let cascade = p.parse_keyword(Keyword::CASCADE);
        if !cascade {
            let _ = p.parse_keyword(Keyword::RESTRICT);
        }
        p.expect_token(&Token::EOF)?;
        Ok(Command::DropDomain {
            names,
            if_exists,
            cascade,
        })
    };
    run(&mut p)
        .map_err(|e: sqlparser::parser::ParserError| Error::syntax(format!("syntax error: {e}")))
}

/// Parses `CREATE DOMAIN ...` (from its tokens, without whitespace) with
/// sqlparser's parser for the name, type and expressions.
fn parse_create_domain(tokens: &[Token]) -> Result<Command> {
    use sqlparser::keywords::Keyword;
    use sqlparser::parser::{Parser, ParserError};
    let dialect = crate::sql::dialect::DIALECT;
    let mut p = Parser::new(&dialect).with_tokens(tokens.to_vec());
    let run = |p: &mut Parser| -> std::result::Result<CreateDomain, ParserError> {
        p.expect_keywords(&[Keyword::CREATE, Keyword::DOMAIN])?;
        let name = p.parse_object_name(false)?;
        let _ = p.parse_keyword(Keyword::AS);
        let data_type = p.parse_data_type()?;
        let mut d = CreateDomain {
            name,
            data_type,
            collation: None,
            default: None,
            constraints: Vec::new(),
        };
        loop {
            if p.parse_keyword(Keyword::COLLATE) {
                d.collation = Some(p.parse_object_name(false)?);
                continue;
            }
            if p.parse_keyword(Keyword::DEFAULT) {
                d.default = Some(p.parse_expr()?);
                continue;
            }
            let name = if p.parse_keyword(Keyword::CONSTRAINT) {
                Some(p.parse_identifier()?)
            } else {
                None
            };
            let kind = if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
                DomainConstraintKind::NotNull
            } else if p.parse_keyword(Keyword::NULL) {
                DomainConstraintKind::Null
            } else if p.parse_keyword(Keyword::CHECK) {
                p.expect_token(&Token::LParen)?;
                let e = p.parse_expr()?;
                p.expect_token(&Token::RParen)?;
                DomainConstraintKind::Check(Box::new(e))
            } else if name.is_some() {
                return p.expected("NOT NULL, NULL or CHECK", p.peek_token());
            } else {
                break;
            };
            d.constraints.push(DomainConstraint {
                name: name.map(|i| crate::sql::binder::ident(&i)),
                kind,
            });
        }
        p.expect_token(&Token::EOF)?;
        Ok(d)
    };
    run(&mut p)
        .map(|d| Command::CreateDomain(Box::new(d)))
        .map_err(|e| Error::syntax(format!("syntax error: {e}")))
}

/// Parses one command from its tokens (without whitespace and the ending `;`).
pub fn parse(tokens: &[Token]) -> Result<Command> {
    if tokens.get(1).and_then(keyword).as_deref() == Some("DOMAIN") {
        return match tokens.first().and_then(keyword).as_deref() {
            Some("DROP") => parse_drop_domain(tokens),
            _ => parse_create_domain(tokens),
        };
    }
    let mut p = Cursor { tokens, pos: 0 };
    let cmd = p.command()?;
    if let Some(t) = p.peek() {
        return Err(p.unexpected(t));
    }
    Ok(cmd)
}

struct Cursor<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.pos);
        self.pos += 1;
        t
    }

    fn unexpected(&self, t: &Token) -> Error {
        Error::syntax(format!("syntax error at or near \"{t}\""))
    }

    fn end_error(&self) -> Error {
        Error::syntax("syntax error at end of input")
    }

    /// Consumes the keyword `kw` if it comes next.
    fn eat(&mut self, kw: &str) -> bool {
        if self.peek().and_then(keyword).as_deref() == Some(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_token(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kw: &str) -> Result<()> {
        if self.eat(kw) {
            return Ok(());
        }
        Err(match self.peek() {
            Some(t) => self.unexpected(t),
            None => self.end_error(),
        })
    }

    fn expect_token(&mut self, t: &Token) -> Result<()> {
        if self.eat_token(t) {
            return Ok(());
        }
        Err(match self.peek() {
            Some(t) => self.unexpected(t),
            None => self.end_error(),
        })
    }

    /// An identifier, folded to lower case unless quoted.
    fn ident(&mut self) -> Result<String> {
        match self.next().cloned() {
            Some(Token::Word(w)) => match w.quote_style {
                Some(_) if w.value.is_empty() => Err(Error::syntax(
                    "zero-length delimited identifier at or near \"\"\"\"",
                )),
                Some(_) => Ok(w.value),
                None => Ok(w.value.to_lowercase()),
            },
            Some(t) => Err(self.unexpected(&t)),
            None => Err(self.end_error()),
        }
    }

    fn raw_ident(&mut self) -> Result<ast::Ident> {
        match self.next().cloned() {
            Some(Token::Word(w)) if w.quote_style.is_some() && w.value.is_empty() => Err(
                Error::syntax("zero-length delimited identifier at or near \"\"\"\""),
            ),
            Some(Token::Word(w)) => Ok(match w.quote_style {
                Some(q) => ast::Ident::with_quote(q, w.value),
                None => ast::Ident::new(w.value),
            }),
            Some(t) => Err(self.unexpected(&t)),
            None => Err(self.end_error()),
        }
    }

    fn command(&mut self) -> Result<Command> {
        let first = self.next().and_then(keyword).unwrap_or_default();
        match first.as_str() {
            "CREATE" => {
                self.expect("DATABASE")?;
                // PostgreSQL has no CREATE DATABASE IF NOT EXISTS.
                if self.peek().and_then(keyword).as_deref() == Some("IF")
                    && let Some(t) = self.tokens.get(self.pos + 1)
                    && keyword(t).as_deref() == Some("NOT")
                {
                    return Err(self.unexpected(t));
                }
                let name = self.ident()?;
                self.eat("WITH");
                let options = self.def_elems()?;
                Ok(Command::CreateDatabase { name, options })
            }
            "DROP" if self.eat("OWNED") => {
                self.expect("BY")?;
                let roles = self.role_specs()?;
                let cascade = self.eat("CASCADE");
                if !cascade {
                    self.eat("RESTRICT");
                }
                Ok(Command::DropOwned { roles, cascade })
            }
            "REASSIGN" => {
                self.expect("OWNED")?;
                self.expect("BY")?;
                let roles = self.role_specs()?;
                self.expect("TO")?;
                let to = self.role_spec()?;
                Ok(Command::ReassignOwned { roles, to })
            }
            "DROP" => {
                self.expect("DATABASE")?;
                let if_exists = if self.eat("IF") {
                    self.expect("EXISTS")?;
                    true
                } else {
                    false
                };
                let name = self.ident()?;
                let mut force = false;
                let with = self.eat("WITH");
                if with || self.peek() == Some(&Token::LParen) {
                    self.expect_token(&Token::LParen)?;
                    loop {
                        self.expect("FORCE")?;
                        force = true;
                        if !self.eat_token(&Token::Comma) {
                            break;
                        }
                    }
                    self.expect_token(&Token::RParen)?;
                }
                Ok(Command::DropDatabase {
                    name,
                    if_exists,
                    force,
                })
            }
            "ALTER" => {
                self.expect("DATABASE")?;
                let name = self.ident()?;
                let action = self.alter_database()?;
                Ok(Command::AlterDatabase { name, action })
            }
            "VACUUM" => {
                let mut options = self.paren_options()?;
                if options.is_empty() {
                    for flag in ["FULL", "FREEZE", "VERBOSE"] {
                        if self.eat(flag) {
                            options.push(flag_option(flag));
                        }
                    }
                    if self.eat("ANALYZE") || self.eat("ANALYSE") {
                        options.push(flag_option("ANALYZE"));
                    }
                }
                let tables = self.tables()?;
                Ok(Command::Vacuum { options, tables })
            }
            _ => {
                // ANALYZE / ANALYSE (is_command admitted nothing else).
                let mut options = self.paren_options()?;
                if options.is_empty() && self.eat("VERBOSE") {
                    options.push(flag_option("VERBOSE"));
                }
                let tables = self.tables()?;
                Ok(Command::Analyze { options, tables })
            }
        }
    }

    /// A role name, CURRENT_USER / CURRENT_ROLE or SESSION_USER.
    fn role_spec(&mut self) -> Result<RoleSpec> {
        Ok(match self.peek().and_then(keyword).as_deref() {
            Some("CURRENT_USER" | "CURRENT_ROLE") => {
                self.pos += 1;
                RoleSpec::CurrentUser
            }
            Some("SESSION_USER") => {
                self.pos += 1;
                RoleSpec::SessionUser
            }
            _ => RoleSpec::Name(self.ident()?),
        })
    }

    /// A comma-separated list of [`Cursor::role_spec`]s.
    fn role_specs(&mut self) -> Result<Vec<RoleSpec>> {
        let mut out = vec![self.role_spec()?];
        while self.eat_token(&Token::Comma) {
            out.push(self.role_spec()?);
        }
        Ok(out)
    }

    fn alter_database(&mut self) -> Result<AlterDatabase> {
        let unsupported =
            |what: &str| Error::unsupported(format!("ALTER DATABASE ... {what} is not supported"));
        if self.eat("RENAME") {
            self.expect("TO")?;
            return Ok(AlterDatabase::RenameTo(self.ident()?));
        }
        if self.eat("OWNER") {
            self.expect("TO")?;
            return Ok(AlterDatabase::OwnerTo(self.role_spec()?));
        }
        if self.eat("SET") {
            return Err(if self.eat("TABLESPACE") {
                unsupported("SET TABLESPACE")
            } else {
                unsupported("SET (per-database settings)")
            });
        }
        if self.eat("RESET") {
            return Err(unsupported("RESET (per-database settings)"));
        }
        if self.eat("REFRESH") {
            return Err(unsupported("REFRESH COLLATION VERSION"));
        }
        self.eat("WITH");
        let options = self.def_elems()?;
        if options.is_empty() {
            return Err(match self.peek() {
                Some(t) => self.unexpected(t),
                None => self.end_error(),
            });
        }
        Ok(AlterDatabase::Options(options))
    }

    /// `name [=] value` items up to the end of the statement (CREATE and
    /// ALTER DATABASE options).
    fn def_elems(&mut self) -> Result<Vec<DefElem>> {
        let mut out = Vec::new();
        while self.peek().is_some() {
            let name = if self.eat("CONNECTION") {
                self.expect("LIMIT")?;
                "connection_limit".to_string()
            } else {
                self.ident()?
            };
            self.eat_token(&Token::Eq);
            let value = if self.eat("DEFAULT") {
                None
            } else {
                Some(self.value()?)
            };
            out.push(DefElem { name, value });
        }
        Ok(out)
    }

    /// A number (with its sign), string or word.
    fn value(&mut self) -> Result<OptValue> {
        let sign = if self.eat_token(&Token::Minus) {
            "-"
        } else {
            self.eat_token(&Token::Plus);
            ""
        };
        match self.next().cloned() {
            Some(Token::Number(n, _)) => Ok(OptValue::Number(format!("{sign}{n}"))),
            Some(t) if !sign.is_empty() => Err(self.unexpected(&t)),
            Some(Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s)) => {
                Ok(OptValue::Text(s))
            }
            Some(Token::DollarQuotedString(s)) => Ok(OptValue::Text(s.value)),
            Some(Token::Word(w)) => Ok(OptValue::Text(match w.quote_style {
                Some(_) => w.value,
                None => w.value.to_lowercase(),
            })),
            Some(t) => Err(self.unexpected(&t)),
            None => Err(self.end_error()),
        }
    }

    /// `( name [value] [, ...] )` of VACUUM and ANALYZE; empty without parentheses.
    fn paren_options(&mut self) -> Result<Vec<DefElem>> {
        let mut out = Vec::new();
        if !self.eat_token(&Token::LParen) {
            return Ok(out);
        }
        loop {
            let name = self.ident()?;
            let value = match self.peek() {
                Some(Token::Comma | Token::RParen) => None,
                _ => Some(self.value()?),
            };
            out.push(DefElem { name, value });
            if !self.eat_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(&Token::RParen)?;
        Ok(out)
    }

    /// `name [(col, ...)] [, ...]`, possibly none.
    fn tables(&mut self) -> Result<Vec<TableAndColumns>> {
        let mut out = Vec::new();
        if self.peek().is_none() {
            return Ok(out);
        }
        loop {
            let mut parts = vec![self.raw_ident()?];
            while self.eat_token(&Token::Period) {
                parts.push(self.raw_ident()?);
            }
            let mut columns = Vec::new();
            if self.eat_token(&Token::LParen) {
                loop {
                    columns.push(self.ident()?);
                    if !self.eat_token(&Token::Comma) {
                        break;
                    }
                }
                self.expect_token(&Token::RParen)?;
            }
            out.push(TableAndColumns {
                name: ast::ObjectName::from(parts),
                columns,
            });
            if !self.eat_token(&Token::Comma) {
                break;
            }
        }
        Ok(out)
    }
}

fn flag_option(name: &str) -> DefElem {
    DefElem {
        name: name.to_ascii_lowercase(),
        value: None,
    }
}

/// The Boolean value of an option (no value means true), or PostgreSQL's
/// 42601 `name requires a Boolean value`.
pub fn bool_option(e: &DefElem) -> Result<bool> {
    let Some(v) = &e.value else {
        return Ok(true);
    };
    match v.as_text().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" | "t" | "y" => Ok(true),
        "false" | "off" | "no" | "0" | "f" | "n" => Ok(false),
        _ => Err(Error::new(
            SqlState::SYNTAX_ERROR,
            format!("{} requires a Boolean value", e.name),
        )),
    }
}

/// The integer value of an option, or 42601 `name requires an integer value`.
pub fn int_option(e: &DefElem) -> Result<i32> {
    match &e.value {
        Some(OptValue::Number(n)) => n.parse().map_err(|_| {
            Error::new(
                SqlState::SYNTAX_ERROR,
                format!("{} requires an integer value", e.name),
            )
        }),
        _ => Err(Error::new(
            SqlState::SYNTAX_ERROR,
            format!("{} requires an integer value", e.name),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::tokenizer::Tokenizer;

    fn cmd(sql: &str) -> Result<Command> {
        let tokens: Vec<Token> = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize()
            .unwrap()
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        assert!(is_command(&tokens), "{sql}");
        parse(&tokens)
    }

    fn opt(name: &str, value: Option<OptValue>) -> DefElem {
        DefElem {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn create_database_options() {
        let c = cmd("CREATE DATABASE \"Db\" WITH OWNER = alice ENCODING 'UTF8' CONNECTION LIMIT -1 TEMPLATE DEFAULT IS_TEMPLATE false").unwrap();
        assert_eq!(
            c,
            Command::CreateDatabase {
                name: "Db".into(),
                options: vec![
                    opt("owner", Some(OptValue::Text("alice".into()))),
                    opt("encoding", Some(OptValue::Text("UTF8".into()))),
                    opt("connection_limit", Some(OptValue::Number("-1".into()))),
                    opt("template", None),
                    opt("is_template", Some(OptValue::Text("false".into()))),
                ],
            }
        );
        assert_eq!(cmd("create database d").unwrap().tag(), "CREATE DATABASE");
        assert_eq!(
            cmd("CREATE DATABASE IF NOT EXISTS d")
                .unwrap_err()
                .sqlstate(),
            "42601"
        );
        assert_eq!(cmd("CREATE DATABASE \"\"").unwrap_err().sqlstate(), "42601");
        assert_eq!(cmd("CREATE DATABASE").unwrap_err().sqlstate(), "42601");
    }

    #[test]
    fn drop_and_alter_database() {
        assert_eq!(
            cmd("DROP DATABASE IF EXISTS d WITH (FORCE)").unwrap(),
            Command::DropDatabase {
                name: "d".into(),
                if_exists: true,
                force: true
            }
        );
        assert_eq!(
            cmd("DROP DATABASE d (FORCE, FORCE)").unwrap(),
            Command::DropDatabase {
                name: "d".into(),
                if_exists: false,
                force: true
            }
        );
        let e = cmd("DROP DATABASE d WITH (FOO)").unwrap_err();
        assert_eq!(e.message, "syntax error at or near \"FOO\"");
        assert_eq!(cmd("DROP DATABASE a, b").unwrap_err().sqlstate(), "42601");
        assert_eq!(
            cmd("ALTER DATABASE d RENAME TO e").unwrap(),
            Command::AlterDatabase {
                name: "d".into(),
                action: AlterDatabase::RenameTo("e".into())
            }
        );
        assert_eq!(
            cmd("ALTER DATABASE d OWNER TO CURRENT_USER").unwrap(),
            Command::AlterDatabase {
                name: "d".into(),
                action: AlterDatabase::OwnerTo(RoleSpec::CurrentUser)
            }
        );
        assert_eq!(
            cmd("ALTER DATABASE d WITH CONNECTION LIMIT 3 ALLOW_CONNECTIONS false").unwrap(),
            Command::AlterDatabase {
                name: "d".into(),
                action: AlterDatabase::Options(vec![
                    opt("connection_limit", Some(OptValue::Number("3".into()))),
                    opt("allow_connections", Some(OptValue::Text("false".into()))),
                ])
            }
        );
        assert_eq!(
            cmd("ALTER DATABASE d SET work_mem = 1")
                .unwrap_err()
                .sqlstate(),
            "0A000"
        );
        assert_eq!(cmd("ALTER DATABASE d").unwrap_err().sqlstate(), "42601");
    }

    #[test]
    fn vacuum_and_analyze() {
        let Command::Vacuum { options, tables } =
            cmd("VACUUM FULL VERBOSE ANALYZE s.t (a, \"B\"), u").unwrap()
        else {
            panic!("not VACUUM")
        };
        assert_eq!(
            options.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["full", "verbose", "analyze"]
        );
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].name.to_string(), "s.t");
        assert_eq!(tables[0].columns, ["a", "B"]);
        let Command::Vacuum { options, tables } =
            cmd("vacuum (analyze, verbose false, parallel 2)").unwrap()
        else {
            panic!("not VACUUM")
        };
        assert!(tables.is_empty());
        assert_eq!(
            options[1],
            opt("verbose", Some(OptValue::Text("false".into())))
        );
        assert_eq!(
            options[2],
            opt("parallel", Some(OptValue::Number("2".into())))
        );
        assert!(matches!(
            cmd("ANALYSE VERBOSE t").unwrap(),
            Command::Analyze { .. }
        ));
        assert_eq!(cmd("ANALYZE t (").unwrap_err().sqlstate(), "42601");
        assert!(!is_command(&[Token::make_keyword("EXPLAIN")]));
    }

    #[test]
    fn option_values() {
        let b = |v: &str| bool_option(&opt("is_template", Some(OptValue::Text(v.into()))));
        assert!(!b("off").unwrap());
        assert!(b("TRUE").unwrap());
        assert_eq!(
            b("maybe").unwrap_err().message,
            "is_template requires a Boolean value"
        );
        let i = |v: OptValue| int_option(&opt("connection_limit", Some(v)));
        assert_eq!(i(OptValue::Number("-1".into())).unwrap(), -1);
        assert_eq!(
            i(OptValue::Text("abc".into())).unwrap_err().message,
            "connection_limit requires an integer value"
        );
    }
}
