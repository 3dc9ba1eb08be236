//! The variables of a PL/pgSQL function and how its SQL text names them.
//!
//! The variables are one row: the parameters, then the declared variables.
//! Each gets a column name the binder can resolve without ambiguity (its own
//! name, or `$n` for an unnamed or shadowed parameter); `$n`, aliases and
//! shadowed names in the body's SQL text are rewritten to those names
//! before the text is parsed.

use super::parse::{Block, Decl, Stmt};
use crate::error::{Error, Result, SqlState};
use crate::sql::parser;
use crate::types::DataType;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::HashMap;

/// One variable of the row.
#[derive(Clone, Debug)]
pub struct Slot {
    /// The name the binder's scope gives the variable.
    pub column: String,
    pub ty: DataType,
    pub constant: bool,
    pub not_null: bool,
    pub param: bool,
}

/// The function's variables and what each name in the body refers to.
#[derive(Debug)]
pub struct Layout {
    pub slots: Vec<Slot>,
    /// Name (`$n` included) -> slot, as seen from the body.
    names: HashMap<String, usize>,
}

impl Layout {
    /// Lays out the variables of `block` for a function with `params`;
    /// `resolve` turns a declared type's text into a type.
    pub fn new(
        block: &Block,
        params: &[(Option<String>, DataType)],
        resolve: &dyn Fn(&str) -> Result<DataType>,
    ) -> Result<Layout> {
        let mut slots = Vec::new();
        let mut names = HashMap::new();
        for (k, (name, ty)) in params.iter().enumerate() {
            let dollar = format!("${}", k + 1);
            names.insert(dollar.clone(), k);
            if let Some(n) = name {
                names.insert(n.clone(), k);
            }
            slots.push(Slot {
                column: name.clone().unwrap_or(dollar),
                ty: ty.clone(),
                constant: false,
                not_null: false,
                param: true,
            });
        }
        let mut declared: Vec<&str> = Vec::new();
        for d in &block.decls {
            let name = match d {
                Decl::Var { name, .. } | Decl::Alias { name, .. } => name,
            };
            if declared.contains(&name.as_str()) {
                return Err(Error::syntax(format!(
                    "duplicate declaration at or near \"{name}\""
                )));
            }
            declared.push(name);
            match d {
                Decl::Var {
                    name,
                    ty,
                    constant,
                    not_null,
                    ..
                } => {
                    let ty = resolve(ty)?;
                    let k = slots.len();
                    // A parameter of the same name is shadowed: it keeps
                    // only its `$n`.
                    if let Some(&p) = names.get(name)
                        && slots[p].param
                    {
                        slots[p].column = format!("${}", p + 1);
                    }
                    names.insert(name.clone(), k);
                    slots.push(Slot {
                        column: name.clone(),
                        ty,
                        constant: *constant,
                        not_null: *not_null,
                        param: false,
                    });
                }
                Decl::Alias { name, target } => {
                    let Some(&k) = names.get(target) else {
                        return Err(Error::syntax(format!(
                            "variable \"{target}\" does not exist"
                        )));
                    };
                    names.insert(name.clone(), k);
                }
            }
        }
        Ok(Layout { slots, names })
    }

    /// The slot a name (an assignment or INTO target) refers to; 42601 if
    /// it names no variable, 22005 for a CONSTANT.
    pub fn target(&self, name: &str) -> Result<usize> {
        let Some(&k) = self.names.get(name) else {
            return Err(Error::syntax(format!("\"{name}\" is not a known variable")));
        };
        if self.slots[k].constant {
            return Err(Error::new(
                SqlState::ERROR_IN_ASSIGNMENT,
                format!("variable \"{name}\" is declared CONSTANT"),
            ));
        }
        Ok(k)
    }

    /// `text` with `$n`, aliases and shadowed names written as the column
    /// names of their slots (double-quoted); names of functions, of
    /// qualified columns and of anything else are left alone.
    pub fn substitute(&self, text: &str) -> Result<String> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
            .tokenize()
            .map_err(|e| Error::syntax(e.message))?;
        let mut out = String::with_capacity(text.len() + 16);
        for (k, t) in tokens.iter().enumerate() {
            let prev_dot = k > 0 && tokens[k - 1] == Token::Period;
            let next_call = tokens
                .get(k + 1)
                .is_some_and(|n| matches!(n, Token::LParen | Token::Period));
            let slot = match t {
                Token::Placeholder(p) => match self.names.get(p.as_str()) {
                    Some(&s) => Some(s),
                    None => {
                        return Err(Error::new(
                            SqlState::UNDEFINED_PARAMETER,
                            format!("there is no parameter {p}"),
                        ));
                    }
                },
                Token::Word(w) if !prev_dot && !next_call => {
                    let name = if w.quote_style.is_some() {
                        w.value.clone()
                    } else {
                        w.value.to_lowercase()
                    };
                    self.names
                        .get(&name)
                        .copied()
                        .filter(|&s| self.slots[s].column != name)
                }
                _ => None,
            };
            match (slot, t) {
                (Some(s), _) => out.push_str(&format!(
                    "\"{}\"",
                    self.slots[s].column.replace('"', "\"\"")
                )),
                // The tokenizer's text of a string is not re-escaped.
                (None, Token::SingleQuotedString(s)) => {
                    out.push('\'');
                    out.push_str(&s.replace('\'', "''"));
                    out.push('\'');
                }
                (None, t) => out.push_str(&t.to_string()),
            }
        }
        Ok(out)
    }
}

/// The query PERFORM runs, as an expression that reads every row of it.
pub fn perform_expr(query: &str) -> String {
    format!("(SELECT count(*) FROM ({query}) AS __helios_perform)")
}

/// The source of `SELECT ... INTO` with `n` targets: an array of the
/// query's first two rows (records when there are several targets), so
/// that STRICT can tell none, one and more apart.
pub fn into_expr(query: &str, n: usize) -> String {
    let cols: Vec<String> = (1..=n).map(|k| format!("__helios_into_{k}")).collect();
    let item = if n == 1 {
        cols[0].clone()
    } else {
        format!("ROW({})", cols.join(", "))
    };
    format!(
        "ARRAY(SELECT {item} FROM ({query}) AS __helios_into({}) LIMIT 2)",
        cols.join(", ")
    )
}

/// Checks a body when its function is created, as PostgreSQL's validator
/// does: the block, the declared types, the variables assigned to, and the
/// SQL syntax of every expression and query (names in them are resolved
/// only when a call is bound).
pub fn check(
    block: &Block,
    params: &[(Option<String>, DataType)],
    resolve: &dyn Fn(&str) -> Result<DataType>,
) -> Result<()> {
    let layout = Layout::new(block, params, resolve)?;
    for d in &block.decls {
        if let Decl::Var {
            default: Some(e), ..
        } = d
        {
            parser::parse_expr(&layout.substitute(e)?)?;
        }
    }
    check_stmts(&block.body, &layout)
}

fn check_stmts(stmts: &[Stmt], layout: &Layout) -> Result<()> {
    let expr = |e: &str| -> Result<()> { parser::parse_expr(&layout.substitute(e)?).map(|_| ()) };
    let query = |q: &str| -> Result<()> { parse_query(&layout.substitute(q)?).map(|_| ()) };
    for s in stmts {
        match s {
            Stmt::Assign { target, expr: e } => {
                layout.target(target)?;
                expr(e)?;
            }
            Stmt::If { arms, otherwise } => {
                for (c, body) in arms {
                    expr(c)?;
                    check_stmts(body, layout)?;
                }
                check_stmts(otherwise, layout)?;
            }
            Stmt::Return(e) => expr(e)?,
            Stmt::Raise(r) => {
                for a in &r.args {
                    expr(a)?;
                }
                for (_, e) in &r.options {
                    expr(e)?;
                }
            }
            Stmt::Perform(q) => query(q)?,
            Stmt::SelectInto {
                query: q, targets, ..
            } => {
                for t in targets {
                    layout.target(t)?;
                }
                query(q)?;
            }
            Stmt::Null => {}
        }
    }
    Ok(())
}

/// Parses a query of the body (42601 for anything that is not one query).
pub fn parse_query(text: &str) -> Result<sqlparser::ast::Query> {
    match parser::parse(text)?.into_iter().next() {
        Some(sqlparser::ast::Statement::Query(q)) => Ok(*q),
        _ => Err(Error::syntax(format!("not a query: {text}"))),
    }
}
