//! COPY: bulk data in PostgreSQL's text and CSV formats.
//!
//! `COPY t FROM STDIN` puts the session into copy-in mode: data arrives in
//! arbitrary chunks ([`Session::copy_data`]), is split into rows, converted
//! to the columns' types and inserted through the ordinary INSERT path
//! (defaults, constraints, indexes), all in one transaction that
//! [`Session::copy_done`] commits. `COPY t | (query) TO STDOUT` returns the
//! formatted lines as the statement's rows.

use super::{Prepared, Session, StatementResult};
use crate::error::{Error, Result, SqlState};
use crate::types::{DataType, Value};
use sqlparser::ast;

/// How COPY reads or writes rows.
#[derive(Clone, Debug)]
pub(crate) struct CopyOptions {
    pub csv: bool,
    pub delimiter: u8,
    pub null: String,
    pub header: bool,
    pub quote: u8,
    pub escape: u8,
    /// Columns (positions) always quoted in CSV output.
    pub force_quote: Vec<usize>,
    pub force_quote_all: bool,
}

fn bad_option(msg: impl Into<String>) -> Error {
    Error::new(SqlState::SYNTAX_ERROR, msg)
}

fn single_byte(c: char, what: &str) -> Result<u8> {
    if c.is_ascii() {
        Ok(c as u8)
    } else {
        Err(Error::unsupported(format!(
            "COPY {what} must be a single one-byte character"
        )))
    }
}

impl CopyOptions {
    pub fn parse(
        options: &[ast::CopyOption],
        legacy: &[ast::CopyLegacyOption],
        columns: &[String],
    ) -> Result<CopyOptions> {
        let mut csv = false;
        let mut delimiter = None;
        let mut null = None;
        let mut header = false;
        let mut quote = None;
        let mut escape = None;
        let mut force_quote: Vec<String> = Vec::new();
        let mut force_all = false;
        for o in options {
            match o {
                ast::CopyOption::Format(f) => match f.value.to_lowercase().as_str() {
                    "text" => csv = false,
                    "csv" => csv = true,
                    "binary" => {
                        return Err(Error::unsupported("COPY BINARY is not supported"));
                    }
                    other => {
                        return Err(bad_option(format!(
                            "COPY format \"{other}\" not recognized"
                        )));
                    }
                },
                ast::CopyOption::Delimiter(c) => delimiter = Some(single_byte(*c, "delimiter")?),
                ast::CopyOption::Null(s) => null = Some(s.clone()),
                ast::CopyOption::Header(h) => header = *h,
                ast::CopyOption::Quote(c) => quote = Some(single_byte(*c, "quote")?),
                ast::CopyOption::Escape(c) => escape = Some(single_byte(*c, "escape")?),
                ast::CopyOption::ForceQuote(cols) => {
                    if cols.is_empty() {
                        force_all = true;
                    }
                    force_quote.extend(cols.iter().map(crate::sql::binder::ident));
                }
                ast::CopyOption::Encoding(e) => {
                    let u = e.to_uppercase().replace('-', "");
                    if u != "UTF8" && u != "UNICODE" {
                        return Err(Error::unsupported(format!(
                            "encoding \"{e}\" is not supported; only UTF8 is"
                        )));
                    }
                }
                ast::CopyOption::Freeze(_) => {}
                other => {
                    return Err(Error::unsupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        for o in legacy {
            match o {
                ast::CopyLegacyOption::Binary => {
                    return Err(Error::unsupported("COPY BINARY is not supported"));
                }
                ast::CopyLegacyOption::Delimiter(c) => {
                    delimiter = Some(single_byte(*c, "delimiter")?)
                }
                ast::CopyLegacyOption::Null(s) => null = Some(s.clone()),
                ast::CopyLegacyOption::Header => header = true,
                ast::CopyLegacyOption::Csv(opts) => {
                    csv = true;
                    for co in opts {
                        match co {
                            ast::CopyLegacyCsvOption::Header => header = true,
                            ast::CopyLegacyCsvOption::Quote(c) => {
                                quote = Some(single_byte(*c, "quote")?)
                            }
                            ast::CopyLegacyCsvOption::Escape(c) => {
                                escape = Some(single_byte(*c, "escape")?)
                            }
                            ast::CopyLegacyCsvOption::ForceQuote(cols) => {
                                force_quote.extend(cols.iter().map(crate::sql::binder::ident))
                            }
                            ast::CopyLegacyCsvOption::ForceNotNull(_) => {}
                        }
                    }
                }
                other => {
                    return Err(Error::unsupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        if !csv && (quote.is_some() || escape.is_some()) {
            return Err(Error::unsupported("COPY quote available only in CSV mode"));
        }
        let delimiter = delimiter.unwrap_or(if csv { b',' } else { b'\t' });
        let force_quote = force_quote
            .iter()
            .map(|c| {
                columns.iter().position(|n| n == c).ok_or_else(|| {
                    Error::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("column \"{c}\" does not exist"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CopyOptions {
            csv,
            delimiter,
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote: quote.unwrap_or(b'"'),
            escape: escape.or(quote).unwrap_or(b'"'),
            force_quote,
            force_quote_all: force_all,
        })
    }

    /// Appends one row, newline-terminated.
    pub fn format_row(&self, values: &[Value], out: &mut Vec<u8>) {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            if v.is_null() {
                out.extend_from_slice(self.null.as_bytes());
                continue;
            }
            let text = v.to_string();
            if self.csv {
                self.csv_field(
                    &text,
                    self.force_quote_all || self.force_quote.contains(&i),
                    out,
                );
            } else {
                for b in text.bytes() {
                    match b {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        b'\t' if self.delimiter == b'\t' => out.extend_from_slice(b"\\t"),
                        d if d == self.delimiter => {
                            out.push(b'\\');
                            out.push(d);
                        }
                        other => out.push(other),
                    }
                }
            }
        }
        out.push(b'\n');
    }

    fn csv_field(&self, text: &str, force: bool, out: &mut Vec<u8>) {
        let needs = force
            || text.is_empty() && !self.null.is_empty()
            || text == self.null
            || text
                .bytes()
                .any(|b| b == self.delimiter || b == self.quote || b == b'\n' || b == b'\r')
            || text == "\\.";
        if !needs {
            out.extend_from_slice(text.as_bytes());
            return;
        }
        out.push(self.quote);
        for b in text.bytes() {
            if b == self.quote || b == self.escape {
                out.push(self.escape);
            }
            out.push(b);
        }
        out.push(self.quote);
    }

    pub fn header_line(&self, names: &[String], out: &mut Vec<u8>) {
        let values: Vec<Value> = names.iter().map(|n| Value::Text(n.clone())).collect();
        self.format_row(&values, out);
    }
}

/// A field of an input row: its text, or NULL.
type Field = Option<String>;

/// Splits one complete text-format line into fields (backslash escapes).
fn split_text_line(line: &[u8], opts: &CopyOptions) -> Result<Vec<Field>> {
    let mut fields = Vec::new();
    let mut cur = Vec::new();
    let mut raw = Vec::new();
    let mut i = 0;
    let push = |cur: &mut Vec<u8>, raw: &mut Vec<u8>, fields: &mut Vec<Field>| -> Result<()> {
        if raw.as_slice() == opts.null.as_bytes() {
            fields.push(None);
        } else {
            fields.push(Some(String::from_utf8(std::mem::take(cur)).map_err(
                |_| {
                    Error::new(
                        SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                        "invalid byte sequence for encoding \"UTF8\"",
                    )
                },
            )?));
        }
        cur.clear();
        raw.clear();
        Ok(())
    };
    while i < line.len() {
        let b = line[i];
        if b == opts.delimiter {
            push(&mut cur, &mut raw, &mut fields)?;
            i += 1;
            continue;
        }
        raw.push(b);
        if b == b'\\' && i + 1 < line.len() {
            let n = line[i + 1];
            raw.push(n);
            i += 2;
            match n {
                b'n' => cur.push(b'\n'),
                b'r' => cur.push(b'\r'),
                b't' => cur.push(b'\t'),
                b'b' => cur.push(8),
                b'f' => cur.push(12),
                b'v' => cur.push(11),
                b'0'..=b'7' => {
                    let mut v = (n - b'0') as u32;
                    for _ in 0..2 {
                        if i < line.len() && (b'0'..=b'7').contains(&line[i]) {
                            v = v * 8 + (line[i] - b'0') as u32;
                            raw.push(line[i]);
                            i += 1;
                        }
                    }
                    cur.push(v as u8);
                }
                b'x' => {
                    let mut v = 0u32;
                    let mut k = 0;
                    while k < 2 && i < line.len() && line[i].is_ascii_hexdigit() {
                        v = v * 16 + (line[i] as char).to_digit(16).unwrap();
                        raw.push(line[i]);
                        i += 1;
                        k += 1;
                    }
                    if k == 0 {
                        cur.push(b'x');
                    } else {
                        cur.push(v as u8);
                    }
                }
                other => cur.push(other),
            }
            continue;
        }
        cur.push(b);
        i += 1;
    }
    push(&mut cur, &mut raw, &mut fields)?;
    Ok(fields)
}

/// Finds the end of the next CSV record in `buf` (quotes may span lines);
/// returns the record's fields and the bytes consumed, or None if incomplete.
fn next_csv_record(
    buf: &[u8],
    opts: &CopyOptions,
    eof: bool,
) -> Result<Option<(Vec<Field>, usize)>> {
    let mut fields = Vec::new();
    let mut cur = Vec::new();
    let mut quoted_field = false;
    let mut in_quotes = false;
    let mut i = 0;
    let finish = |cur: &mut Vec<u8>, quoted: bool, fields: &mut Vec<Field>| -> Result<()> {
        let text = String::from_utf8(std::mem::take(cur)).map_err(|_| {
            Error::new(
                SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                "invalid byte sequence for encoding \"UTF8\"",
            )
        })?;
        if !quoted && text == opts.null {
            fields.push(None);
        } else {
            fields.push(Some(text));
        }
        Ok(())
    };
    while i < buf.len() {
        let b = buf[i];
        if in_quotes {
            if b == opts.escape
                && i + 1 < buf.len()
                && buf[i + 1] == opts.quote
                && opts.escape != opts.quote
            {
                cur.push(opts.quote);
                i += 2;
                continue;
            }
            if b == opts.quote {
                if opts.escape == opts.quote && i + 1 < buf.len() && buf[i + 1] == opts.quote {
                    cur.push(opts.quote);
                    i += 2;
                    continue;
                }
                if opts.escape == opts.quote && i + 1 == buf.len() && !eof {
                    return Ok(None); // cannot tell "" from a closing quote yet
                }
                in_quotes = false;
                i += 1;
                continue;
            }
            cur.push(b);
            i += 1;
            continue;
        }
        if b == opts.quote {
            in_quotes = true;
            quoted_field = true;
            i += 1;
        } else if b == opts.delimiter {
            finish(&mut cur, quoted_field, &mut fields)?;
            quoted_field = false;
            i += 1;
        } else if b == b'\n' || b == b'\r' {
            finish(&mut cur, quoted_field, &mut fields)?;
            let mut end = i + 1;
            if b == b'\r' && end < buf.len() && buf[end] == b'\n' {
                end += 1;
            } else if b == b'\r' && end == buf.len() && !eof {
                return Ok(None);
            }
            return Ok(Some((fields, end)));
        } else {
            cur.push(b);
            i += 1;
        }
    }
    if eof && !buf.is_empty() {
        if in_quotes {
            return Err(Error::new(
                SqlState::BAD_COPY_FILE_FORMAT,
                "unterminated CSV quoted field",
            ));
        }
        finish(&mut cur, quoted_field, &mut fields)?;
        return Ok(Some((fields, buf.len())));
    }
    Ok(None)
}

/// A COPY FROM STDIN in progress.
pub(crate) struct CopyIn {
    insert: Prepared,
    types: Vec<DataType>,
    table: String,
    opts: CopyOptions,
    buf: Vec<u8>,
    line: u64,
    rows: u64,
    /// The copy opened its own transaction (committed by copy_done).
    implicit: bool,
    header_pending: bool,
    ended: bool,
}

fn copy_error(e: Error, table: &str, line: u64) -> Error {
    let context = format!("COPY {table}, line {line}");
    match e.detail.clone() {
        Some(d) => Error {
            detail: Some(format!("{d}\n{context}")),
            ..e
        },
        None => e.with_detail(context),
    }
}

impl Session {
    /// Starts `COPY ... FROM STDIN` (called from statement dispatch).
    pub(crate) fn start_copy_in(
        &mut self,
        table_name: &ast::ObjectName,
        columns: &[ast::Ident],
        options: &[ast::CopyOption],
        legacy: &[ast::CopyLegacyOption],
        implicit: bool,
    ) -> Result<StatementResult> {
        let catalog = self.catalog()?;
        crate::sql::binder::check_database_part(&catalog, table_name)?;
        let search_path = self.search_path(&catalog);
        let binder = crate::sql::binder::Binder::new(&catalog, &search_path)
            .with_privilege_checks(self.identity.current_user())
            .with_row_security(self.row_security());
        let table = binder.table(table_name)?;
        catalog.check_privilege(
            self.identity.current_user(),
            crate::catalog::acl::Object::Table(&table),
            crate::catalog::acl::INSERT,
        )?;
        // As in PostgreSQL: COPY FROM does not apply policies, so it is
        // refused where they would apply.
        if binder.rls_role(&table)?.is_some() {
            return Err(
                Error::unsupported("COPY FROM not supported with row-level security")
                    .with_hint("Use INSERT statements instead."),
            );
        }
        let names: Vec<String> = if columns.is_empty() {
            table.columns.iter().map(|c| c.name.clone()).collect()
        } else {
            columns.iter().map(crate::sql::binder::ident).collect()
        };
        let mut types = Vec::with_capacity(names.len());
        for n in &names {
            let i = table.column_index(n).ok_or_else(|| {
                Error::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!(
                        "column \"{n}\" of relation \"{}\" does not exist",
                        table.name
                    ),
                )
            })?;
            types.push(table.columns[i].ty.clone());
        }
        let opts = CopyOptions::parse(options, legacy, &names)?;
        let quote = crate::sql::quote_ident;
        let sql = format!(
            "INSERT INTO {}.{} ({}) VALUES ({})",
            quote(&table.schema),
            quote(&table.name),
            names
                .iter()
                .map(|n| quote(n))
                .collect::<Vec<_>>()
                .join(", "),
            (1..=names.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let stmt = self.parse_one(&sql)?;
        let (param_types, cols) = self.describe(&stmt, &types)?;
        let insert = Prepared {
            sql,
            stmt,
            param_types,
            declared: types.clone(),
            columns: cols,
            cache: parking_lot::Mutex::new(None),
            three_part_names: std::sync::OnceLock::new(),
        };
        self.copy_in = Some(Box::new(CopyIn {
            insert,
            types,
            table: table.name.clone(),
            header_pending: opts.header,
            opts,
            buf: Vec::new(),
            line: 0,
            rows: 0,
            implicit,
            ended: false,
        }));
        let mut r = super::command_result("COPY");
        r.copy = Some(super::CopyMode::In {
            columns: names.len(),
        });
        Ok(r)
    }

    /// True while a `COPY ... FROM STDIN` waits for data.
    pub fn copy_in_progress(&self) -> bool {
        self.copy_in.is_some()
    }

    /// Feeds data to the running `COPY ... FROM STDIN`; complete rows are
    /// inserted at once. On error the copy is over and its transaction failed.
    pub fn copy_data(&mut self, data: &[u8]) -> Result<()> {
        let r = self.copy_rows(Some(data));
        if r.is_err() {
            self.abort_copy();
        }
        r
    }

    /// Ends the running `COPY ... FROM STDIN`; returns the rows copied.
    pub fn copy_done(&mut self) -> Result<u64> {
        if let Err(e) = self.copy_rows(None) {
            self.abort_copy();
            return Err(e);
        }
        let c = self
            .copy_in
            .take()
            .ok_or_else(|| Error::new(SqlState::PROTOCOL_VIOLATION, "no COPY in progress"))?;
        if c.implicit {
            self.end_txn(true)?;
        }
        Ok(c.rows)
    }

    /// Abandons the running COPY (the client sent CopyFail).
    pub fn copy_fail(&mut self, message: &str) -> Error {
        self.abort_copy();
        Error::new(
            SqlState::QUERY_CANCELED,
            format!("COPY from stdin failed: {message}"),
        )
    }

    pub(crate) fn abort_copy(&mut self) {
        if let Some(c) = self.copy_in.take() {
            if c.implicit {
                let _ = self.end_txn(false);
            } else {
                self.fail_transaction();
            }
        }
    }

    /// Parses and inserts every complete row buffered so far (all of it at end of data).
    fn copy_rows(&mut self, data: Option<&[u8]>) -> Result<()> {
        let mut c = self
            .copy_in
            .take()
            .ok_or_else(|| Error::new(SqlState::PROTOCOL_VIOLATION, "no COPY in progress"))?;
        let r = self.copy_rows_in(&mut c, data);
        self.copy_in = Some(c);
        r
    }

    fn copy_rows_in(&mut self, c: &mut CopyIn, data: Option<&[u8]>) -> Result<()> {
        let eof = data.is_none();
        if let Some(d) = data {
            if c.ended {
                return Ok(());
            }
            c.buf.extend_from_slice(d);
        }
        let mut pos = 0;
        loop {
            if c.ended {
                break;
            }
            let rest = &c.buf[pos..];
            let (fields, used) = if c.opts.csv {
                match next_csv_record(rest, &c.opts, eof)? {
                    Some(r) => r,
                    None => break,
                }
            } else {
                let end = match rest.iter().position(|&b| b == b'\n') {
                    Some(e) => e,
                    None if eof && !rest.is_empty() => rest.len(),
                    None => break,
                };
                let mut line = &rest[..end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let used = (end + 1).min(rest.len());
                if line == b"\\." {
                    c.ended = true;
                    pos += used;
                    break;
                }
                (
                    split_text_line(line, &c.opts)
                        .map_err(|e| copy_error(e, &c.table, c.line + 1))?,
                    used,
                )
            };
            pos += used;
            c.line += 1;
            if c.header_pending {
                c.header_pending = false;
                continue;
            }
            if c.opts.csv && fields.len() == 1 && fields[0].as_deref() == Some("\\.") {
                c.ended = true;
                break;
            }
            self.copy_row(c, fields)?;
        }
        c.buf.drain(..pos);
        Ok(())
    }

    fn copy_row(&mut self, c: &mut CopyIn, fields: Vec<Field>) -> Result<()> {
        let line = c.line;
        if fields.len() != c.types.len() {
            let msg = if fields.len() < c.types.len() {
                "missing data for column"
            } else {
                "extra data after last expected column"
            };
            return Err(copy_error(
                Error::new(SqlState::BAD_COPY_FILE_FORMAT, msg),
                &c.table,
                line,
            ));
        }
        let mut values = Vec::with_capacity(fields.len());
        for (f, ty) in fields.into_iter().zip(&c.types) {
            values.push(match f {
                None => Value::Null,
                Some(t) => Value::parse(&t, ty).map_err(|e| copy_error(e, &c.table, line))?,
            });
        }
        self.run_unmetered(&c.insert.stmt.clone(), &values, Some(&c.insert))
            .map_err(|e| copy_error(e, &c.table, line))?;
        c.rows += 1;
        Ok(())
    }

    /// Runs `COPY ... TO STDOUT`: the formatted lines become the result's rows.
    pub(crate) fn copy_out(
        &mut self,
        source: &ast::CopySource,
        options: &[ast::CopyOption],
        legacy: &[ast::CopyLegacyOption],
    ) -> Result<StatementResult> {
        let query = match source {
            ast::CopySource::Query(q) => q.to_string(),
            ast::CopySource::Table {
                table_name,
                columns,
            } => {
                // As PostgreSQL: COPY of a table checks the privilege before
                // its policies (the query alone would report them first).
                let catalog = self.catalog()?;
                let search_path = self.search_path(&catalog);
                let binder = crate::sql::binder::Binder::new(&catalog, &search_path);
                if let Ok(table) = binder.table(table_name) {
                    catalog.check_privilege(
                        self.identity.current_user(),
                        crate::catalog::acl::Object::Table(&table),
                        crate::catalog::acl::SELECT,
                    )?;
                }
                let cols = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("SELECT {cols} FROM {table_name}")
            }
        };
        let crate::sql::parser::Statement::Sql(stmt) = self.parse_one(&query)? else {
            return Err(Error::internal("COPY's query parsed as a command"));
        };
        let result = self.run_in_txn(&stmt, &[], None)?;
        let rows = result.rows.unwrap_or_default();
        let names: Vec<String> = rows.columns().iter().map(|c| c.name.clone()).collect();
        let opts = CopyOptions::parse(options, legacy, &names)?;
        let mut lines = Vec::with_capacity(rows.len() + 1);
        let mut buf = Vec::new();
        // The header shares the first row's chunk, so chunks count rows.
        if opts.header {
            opts.header_line(&names, &mut buf);
            if rows.is_empty() {
                lines.push(vec![Value::Bytea(std::mem::take(&mut buf))]);
            }
        }
        let n = rows.len() as u64;
        for row in rows.iter() {
            opts.format_row(row.values(), &mut buf);
            lines.push(vec![Value::Bytea(std::mem::take(&mut buf))]);
        }
        let mut r = super::rows_result(
            vec![crate::sql::plan::Column {
                name: "copy".into(),
                ty: DataType::Bytea,
            }],
            lines,
        );
        r.command = std::borrow::Cow::Borrowed("COPY");
        r.affected = n;
        r.copy = Some(super::CopyMode::Out {
            columns: names.len(),
        });
        Ok(r)
    }

    /// Embedded COPY FROM STDIN: runs `sql` (a `COPY ... FROM STDIN`) and
    /// feeds it everything `reader` yields. Returns the rows copied.
    pub fn copy_in_from(&mut self, sql: &str, mut reader: impl std::io::Read) -> Result<u64> {
        let r = self.run_statement(&self.parse_one(sql)?, &[], None)?;
        if !matches!(r.copy, Some(super::CopyMode::In { .. })) {
            return Err(Error::new(
                SqlState::WRONG_OBJECT_TYPE,
                "copy_in_from needs a COPY ... FROM STDIN statement",
            ));
        }
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.copy_fail(&e.to_string())),
            };
            self.copy_data(&chunk[..n])?;
        }
        self.copy_done()
    }

    /// Embedded COPY TO STDOUT: runs `sql` and writes the data to `writer`.
    /// Returns the rows copied.
    pub fn copy_out_to(&mut self, sql: &str, mut writer: impl std::io::Write) -> Result<u64> {
        let r = self.run_statement(&self.parse_one(sql)?, &[], None)?;
        if !matches!(r.copy, Some(super::CopyMode::Out { .. })) {
            return Err(Error::new(
                SqlState::WRONG_OBJECT_TYPE,
                "copy_out_to needs a COPY ... TO STDOUT statement",
            ));
        }
        for row in r.rows.iter().flat_map(|r| r.iter()) {
            if let Value::Bytea(line) = &row.values()[0] {
                writer
                    .write_all(line)
                    .map_err(|e| Error::io(e.to_string()))?;
            }
        }
        Ok(r.affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(csv: bool) -> CopyOptions {
        let o = if csv {
            vec![ast::CopyOption::Format(ast::Ident::new("csv"))]
        } else {
            vec![]
        };
        CopyOptions::parse(&o, &[], &[]).unwrap()
    }

    #[test]
    fn text_lines_unescape() {
        let f = split_text_line(b"1\ta\\tb\\\\c\t\\N\t\\101\\x41", &opts(false)).unwrap();
        assert_eq!(
            f,
            vec![
                Some("1".into()),
                Some("a\tb\\c".into()),
                None,
                Some("AA".into())
            ]
        );
    }

    #[test]
    fn csv_records_span_lines_and_quote() {
        let o = opts(true);
        let buf = b"1,\"a,\"\"b\"\"\nc\",,\"\"\n2";
        let (f, used) = next_csv_record(buf, &o, false).unwrap().unwrap();
        assert_eq!(
            f,
            vec![
                Some("1".into()),
                Some("a,\"b\"\nc".into()),
                None,
                Some("".into())
            ]
        );
        assert!(next_csv_record(&buf[used..], &o, false).unwrap().is_none());
        let (f, _) = next_csv_record(&buf[used..], &o, true).unwrap().unwrap();
        assert_eq!(f, vec![Some("2".into())]);
    }

    #[test]
    fn formats_round_trip() {
        for csv in [false, true] {
            let o = opts(csv);
            let row = vec![
                Value::Int4(1),
                Value::Text("tab\there, \"q\"\nnl\\".into()),
                Value::Null,
                Value::Text(String::new()),
            ];
            let mut out = Vec::new();
            o.format_row(&row, &mut out);
            let fields = if csv {
                next_csv_record(&out, &o, true).unwrap().unwrap().0
            } else {
                split_text_line(&out[..out.len() - 1], &o).unwrap()
            };
            assert_eq!(
                fields,
                vec![
                    Some("1".into()),
                    Some("tab\there, \"q\"\nnl\\".into()),
                    None,
                    Some(String::new())
                ],
                "csv={csv}"
            );
        }
    }
}
