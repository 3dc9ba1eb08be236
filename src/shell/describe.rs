//! The `\d` family: catalog queries against `pg_catalog`, printed in psql's
//! layouts. Being plain SQL, they work the same embedded and over the wire
//! (and against PostgreSQL itself).

use super::format::{Column, Table};
use super::{Failure, Shell};

/// A SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Converts one part of a psql pattern to a regular expression: unquoted
/// letters fold to lower case, `*` and `?` are wildcards, `"..."` is literal.
fn part_regex(part: &str) -> String {
    let mut re = String::new();
    let mut quoted = false;
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                re.push('"');
            }
            '"' => quoted = !quoted,
            '*' if !quoted => re.push_str(".*"),
            '?' if !quoted => re.push('.'),
            c => {
                if "\\.^$|()[]{}+*?".contains(c) {
                    re.push('\\');
                }
                if quoted {
                    re.push(c);
                } else {
                    re.extend(c.to_lowercase());
                }
            }
        }
    }
    format!("^({re})$")
}

/// Splits a pattern at its first unquoted `.` into schema and name parts.
fn split_pattern(pattern: &str) -> (Option<&str>, &str) {
    let mut quoted = false;
    for (i, c) in pattern.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => return (Some(&pattern[..i]), &pattern[i + 1..]),
            _ => {}
        }
    }
    (None, pattern)
}

/// The WHERE conditions for a relation pattern (psql's
/// `processSQLNamePattern`): without a schema part, only relations visible
/// on the search path match.
fn relation_filter(pattern: Option<&str>, schema_col: &str, name_col: &str, oid: &str) -> String {
    match pattern.map(split_pattern) {
        None => format!("pg_catalog.pg_table_is_visible({oid})"),
        Some((None, name)) => format!(
            "{name_col} ~ {} AND pg_catalog.pg_table_is_visible({oid})",
            literal(&part_regex(name))
        ),
        Some((Some(schema), name)) => format!(
            "{schema_col} ~ {} AND {name_col} ~ {}",
            literal(&part_regex(schema)),
            literal(&part_regex(if name.is_empty() { "*" } else { name }))
        ),
    }
}

impl Shell<'_> {
    /// Runs a catalog query and returns its rows.
    pub(super) fn query(&mut self, sql: &str) -> Result<Table, Failure> {
        let mut results = self.backend.execute(sql, &mut std::io::sink());
        match results.pop() {
            Some(Ok(o)) => Ok(o.table.unwrap_or_default()),
            Some(Err(e)) => Err(Failure::Sql(e)),
            None => Ok(Table::default()),
        }
    }

    /// `\d`, `\dt`, `\di`, `\dv`, `\ds` with an optional pattern.
    pub(super) fn list_relations(
        &mut self,
        kinds: &str,
        pattern: Option<&str>,
    ) -> Result<(), Failure> {
        let indexes = kinds == "i";
        let kinds: Vec<String> = kinds.chars().map(|k| literal(&k.to_string())).collect();
        let sql = format!(
            "SELECT n.nspname AS \"Schema\", c.relname AS \"Name\", \
             CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' \
             WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' \
             WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' \
             WHEN 'p' THEN 'partitioned table' END AS \"Type\", \
             pg_catalog.pg_get_userbyid(c.relowner) AS \"Owner\"{} \
             FROM pg_catalog.pg_class c \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace{} \
             WHERE c.relkind IN ({}) AND n.nspname <> 'pg_catalog' \
             AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_toast' \
             AND {} ORDER BY 1, 2",
            if indexes {
                ", c2.relname AS \"Table\""
            } else {
                ""
            },
            if indexes {
                " LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid \
                 LEFT JOIN pg_catalog.pg_class c2 ON i.indrelid = c2.oid"
            } else {
                ""
            },
            kinds.join(","),
            relation_filter(pattern, "n.nspname", "c.relname", "c.oid"),
        );
        let t = self.query(&sql)?;
        if t.rows.is_empty() {
            // As psql: a message, not an error.
            match pattern {
                Some(p) => eprintln!("Did not find any relation named \"{p}\"."),
                None => eprintln!("Did not find any relations."),
            }
            return Ok(());
        }
        self.print_listing(&t, "List of relations", true);
        Ok(())
    }

    /// `\dn [PATTERN]`.
    pub(super) fn list_schemas(&mut self, pattern: Option<&str>) -> Result<(), Failure> {
        let filter = match pattern {
            Some(p) => format!("n.nspname ~ {}", literal(&part_regex(p))),
            None => "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'".into(),
        };
        let t = self.query(&format!(
            "SELECT n.nspname AS \"Name\", pg_catalog.pg_get_userbyid(n.nspowner) AS \"Owner\" \
             FROM pg_catalog.pg_namespace n WHERE {filter} ORDER BY 1"
        ))?;
        self.print_listing(&t, "List of schemas", true);
        Ok(())
    }

    /// `\du [PATTERN]`: roles and their attributes, as psql 16 lists them.
    pub(super) fn list_roles(&mut self, pattern: Option<&str>) -> Result<(), Failure> {
        let filter = match pattern {
            Some(p) => format!("r.rolname ~ {}", literal(&part_regex(p))),
            None => "r.rolname !~ '^pg_'".into(),
        };
        let roles = self.query(&format!(
            "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, \
             r.rolbypassrls, r.rolconnlimit FROM pg_catalog.pg_roles r WHERE {filter} ORDER BY 1"
        ))?;
        let mut t = Table {
            columns: vec![
                Column {
                    name: "Role name".into(),
                    numeric: false,
                },
                Column {
                    name: "Attributes".into(),
                    numeric: false,
                },
            ],
            rows: Vec::new(),
        };
        for i in 0..roles.rows.len() {
            let yes = |c: usize| roles.text(i, c) == "t";
            let mut attrs: Vec<String> = Vec::new();
            for (c, label) in [(1, "Superuser"), (2, "Create role"), (3, "Create DB")] {
                if yes(c) {
                    attrs.push(label.into());
                }
            }
            if !yes(4) {
                attrs.push("Cannot login".into());
            }
            if yes(5) {
                attrs.push("Bypass RLS".into());
            }
            match roles.text(i, 6).parse::<i64>() {
                Ok(0) => attrs.push("No connections".into()),
                Ok(1) => attrs.push("1 connection".into()),
                Ok(n) if n > 1 => attrs.push(format!("{n} connections")),
                _ => {}
            }
            t.rows.push(vec![
                Some(roles.text(i, 0).to_string()),
                Some(attrs.join(", ")),
            ]);
        }
        self.print_listing(&t, "List of roles", false);
        Ok(())
    }

    /// `\l`: databases.
    pub(super) fn list_databases(&mut self) -> Result<(), Failure> {
        let t = self.query(
            "SELECT d.datname AS \"Name\", pg_catalog.pg_get_userbyid(d.datdba) AS \"Owner\", \
             pg_catalog.pg_encoding_to_char(d.encoding) AS \"Encoding\", \
             d.datcollate AS \"Collate\", d.datctype AS \"Ctype\", \
             pg_catalog.array_to_string(d.datacl, E'\\n') AS \"Access privileges\" \
             FROM pg_catalog.pg_database d ORDER BY 1",
        )?;
        self.print_listing(&t, "List of databases", true);
        Ok(())
    }

    /// `\d PATTERN`: describes each matching table, view, sequence or index.
    pub(super) fn describe(&mut self, pattern: &str) -> Result<(), Failure> {
        let rels = self.query(&format!(
            "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_catalog.pg_class c \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {} ORDER BY 2, 3",
            relation_filter(Some(pattern), "n.nspname", "c.relname", "c.oid")
        ))?;
        if rels.rows.is_empty() {
            return Err(Failure::Message(format!(
                "Did not find any relation named \"{pattern}\"."
            )));
        }
        for i in 0..rels.rows.len() {
            let oid = rels.text(i, 0).to_string();
            let name = format!("{}.{}", rels.text(i, 1), rels.text(i, 2));
            match rels.text(i, 3) {
                "S" => self.describe_sequence(rels.text(i, 1), rels.text(i, 2), &name)?,
                "i" => self.describe_index(&oid, &name)?,
                "v" => self.describe_columns(&oid, &format!("View \"{name}\""), Vec::new())?,
                _ => {
                    let footers = self.table_footers(&oid)?;
                    self.describe_columns(&oid, &format!("Table \"{name}\""), footers)?
                }
            }
        }
        Ok(())
    }

    fn describe_columns(
        &mut self,
        oid: &str,
        title: &str,
        footers: Vec<String>,
    ) -> Result<(), Failure> {
        let mut t = self.query(&format!(
            "SELECT a.attname AS \"Column\", \
             pg_catalog.format_type(a.atttypid, a.atttypmod) AS \"Type\", \
             '' AS \"Collation\", \
             CASE WHEN a.attnotnull THEN 'not null' ELSE '' END AS \"Nullable\", \
             (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) \
              FROM pg_catalog.pg_attrdef d \
              WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) AS \"Default\" \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum"
        ))?;
        // psql shows no NULLs here: an absent default is blank.
        for row in &mut t.rows {
            for v in row.iter_mut() {
                v.get_or_insert_with(String::new);
            }
        }
        self.print_described(&t, title, &footers);
        Ok(())
    }

    /// Prints a described object: title, columns, footer lines, blank line.
    fn print_described(&self, t: &Table, title: &str, footers: &[String]) {
        let mut text = if self.expanded {
            format!("{title}\n{}", super::format::expanded(t))
        } else {
            super::format::aligned(t, Some(title), false)
        };
        for f in footers {
            text.push_str(f);
            text.push('\n');
        }
        if matches!(self.format, super::Format::Csv) {
            text = super::format::csv(t);
        }
        println!("{text}");
    }

    /// The `Indexes:`, `Check constraints:`, `Foreign-key constraints:` and
    /// `Referenced by:` sections under a table.
    fn table_footers(&mut self, oid: &str) -> Result<Vec<String>, Failure> {
        let mut out = Vec::new();
        let idx = self.query(&format!(
            "SELECT c2.relname, i.indisprimary, i.indisunique, \
             pg_catalog.pg_get_indexdef(i.indexrelid, 0, true), con.contype \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c2 ON c2.oid = i.indexrelid \
             LEFT JOIN pg_catalog.pg_constraint con ON (con.conrelid = i.indrelid \
               AND con.conindid = i.indexrelid AND con.contype IN ('p','u','x')) \
             WHERE i.indrelid = {oid} ORDER BY i.indisprimary DESC, c2.relname"
        ))?;
        if !idx.rows.is_empty() {
            out.push("Indexes:".to_string());
            for r in 0..idx.rows.len() {
                let kind = match (idx.text(r, 4), idx.text(r, 2)) {
                    ("p", _) => " PRIMARY KEY,",
                    ("u", _) => " UNIQUE CONSTRAINT,",
                    (_, "t") => " UNIQUE,",
                    _ => "",
                };
                let def = idx.text(r, 3);
                let using = def.find(" USING ").map(|p| &def[p + 7..]).unwrap_or(def);
                out.push(format!("    \"{}\"{kind} {using}", idx.text(r, 0)));
            }
        }
        for (contype, heading) in [
            ("c", "Check constraints:"),
            ("f", "Foreign-key constraints:"),
        ] {
            let cons = self.query(&format!(
                "SELECT r.conname, pg_catalog.pg_get_constraintdef(r.oid, true) \
                 FROM pg_catalog.pg_constraint r \
                 WHERE r.conrelid = {oid} AND r.contype = '{contype}' ORDER BY 1"
            ))?;
            if !cons.rows.is_empty() {
                out.push(heading.to_string());
                for r in 0..cons.rows.len() {
                    out.push(format!("    \"{}\" {}", cons.text(r, 0), cons.text(r, 1)));
                }
            }
        }
        let refs = self.query(&format!(
            "SELECT conname, conrelid::pg_catalog.regclass::pg_catalog.text, \
             pg_catalog.pg_get_constraintdef(oid, true) FROM pg_catalog.pg_constraint \
             WHERE confrelid = {oid} AND contype = 'f' ORDER BY conname"
        ))?;
        if !refs.rows.is_empty() {
            out.push("Referenced by:".to_string());
            for r in 0..refs.rows.len() {
                out.push(format!(
                    "    TABLE \"{}\" CONSTRAINT \"{}\" {}",
                    refs.text(r, 1),
                    refs.text(r, 0),
                    refs.text(r, 2)
                ));
            }
        }
        Ok(out)
    }

    fn describe_sequence(&mut self, schema: &str, name: &str, full: &str) -> Result<(), Failure> {
        let mut t = self.query(&format!(
            "SELECT s.data_type AS \"Type\", s.start_value AS \"Start\", \
             s.min_value AS \"Minimum\", s.max_value AS \"Maximum\", \
             s.increment_by AS \"Increment\", \
             CASE WHEN s.cycle THEN 'yes' ELSE 'no' END AS \"Cycles?\", \
             s.cache_size AS \"Cache\" FROM pg_catalog.pg_sequences s \
             WHERE s.schemaname = {} AND s.sequencename = {}",
            literal(schema),
            literal(name)
        ))?;
        if t.columns.len() > 5 {
            t.columns[5].numeric = false;
        }
        self.print_described(&t, &format!("Sequence \"{full}\""), &[]);
        Ok(())
    }

    fn describe_index(&mut self, oid: &str, full: &str) -> Result<(), Failure> {
        let t = self.query(&format!(
            "SELECT a.attname AS \"Column\", \
             pg_catalog.format_type(a.atttypid, a.atttypmod) AS \"Type\", \
             'yes' AS \"Key?\", \
             pg_catalog.pg_get_indexdef(a.attrelid, a.attnum, true) AS \"Definition\" \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum"
        ))?;
        let info = self.query(&format!(
            "SELECT i.indisprimary, i.indisunique, am.amname, n.nspname, c.relname \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             LEFT JOIN pg_catalog.pg_am am ON am.oid = ic.relam \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE i.indexrelid = {oid}"
        ))?;
        let mut footers = Vec::new();
        if !info.rows.is_empty() {
            let kind = if info.text(0, 0) == "t" {
                "primary key, "
            } else if info.text(0, 1) == "t" {
                "unique, "
            } else {
                ""
            };
            footers.push(format!(
                "{kind}{}, for table \"{}.{}\"",
                info.text(0, 2),
                info.text(0, 3),
                info.text(0, 4)
            ));
        }
        self.print_described(&t, &format!("Index \"{full}\""), &footers);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_anchored_regexes() {
        assert_eq!(part_regex("Foo*"), "^(foo.*)$");
        assert_eq!(part_regex("\"Foo\"?"), "^(Foo.)$");
        assert_eq!(part_regex("a.b"), "^(a\\.b)$");
        assert_eq!(split_pattern("s.t*"), (Some("s"), "t*"));
        assert_eq!(split_pattern("\"a.b\""), (None, "\"a.b\""));
        assert_eq!(
            relation_filter(Some("app.*"), "n", "c", "o"),
            "n ~ '^(app)$' AND c ~ '^(.*)$'"
        );
    }
}
