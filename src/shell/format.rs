//! Printing result tables the way psql does: aligned (border 1, the
//! default), expanded (`\x`) and CSV (`--csv`).
//!
//! Values arrive as text (the embedded backend formats them exactly as the
//! wire protocol's text format does), `None` being NULL. Numeric columns are
//! right-aligned, everything else left-aligned, as psql decides by type.

/// Output style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// psql's aligned table.
    Aligned,
    /// Header line plus rows, as `psql --csv`.
    Csv,
}

/// One result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// Right-align the values (numbers).
    pub numeric: bool,
}

/// A result set in text form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The value at `row`, `col` (NULL as the empty string).
    pub fn text(&self, row: usize, col: usize) -> &str {
        self.rows[row][col].as_deref().unwrap_or("")
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn lines(s: &str) -> Vec<&str> {
    s.split('\n').collect()
}

/// `(1 row)` / `(N rows)`.
pub fn row_count(n: usize) -> String {
    format!("({n} {})", if n == 1 { "row" } else { "rows" })
}

/// psql's aligned output: optional centred title, header, rule, rows (a value
/// with newlines continues on the next lines, marked with `+`), then the
/// `(N rows)` footer when `footer` is set. Ends with a newline.
pub fn aligned(t: &Table, title: Option<&str>, footer: bool) -> String {
    let n = t.columns.len();
    let cells: Vec<Vec<Vec<&str>>> = t
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| lines(v.as_deref().unwrap_or("")))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..n)
        .map(|j| {
            let data = cells
                .iter()
                .flat_map(|r| r[j].iter().map(|l| width(l)))
                .max()
                .unwrap_or(0);
            let head = lines(&t.columns[j].name)
                .iter()
                .map(|l| width(l))
                .max()
                .unwrap_or(0);
            data.max(head)
        })
        .collect();
    let mut out = String::new();
    if let Some(title) = title {
        let total = widths.iter().sum::<usize>() + 3 * n.max(1) - 1;
        let tw = width(title);
        if total > tw {
            out.push_str(&" ".repeat((total - tw) / 2));
        }
        out.push_str(title);
        out.push('\n');
    }
    if n > 0 {
        // psql centres headers and keeps the trailing blank of the last one.
        let header: Vec<String> = t
            .columns
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let cw = width(&c.name);
                let left = (w - cw.min(*w)) / 2;
                format!(
                    "{}{}{}",
                    " ".repeat(left),
                    c.name,
                    " ".repeat(w - cw.min(*w) - left)
                )
            })
            .collect();
        out.push_str(&format!(" {} \n", header.join(" | ")));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        out.push_str(&rule.join("+"));
        out.push('\n');
    }
    for row in &cells {
        let height = row.iter().map(Vec::len).max().unwrap_or(1);
        for k in 0..height {
            for (j, cell) in row.iter().enumerate() {
                let last = j + 1 == n;
                let w = widths[j];
                out.push(' ');
                match cell.get(k) {
                    None => {
                        if !last {
                            out.push_str(&" ".repeat(w));
                        }
                    }
                    Some(text) => {
                        let pad = w - width(text).min(w);
                        let more = cell.len() > k + 1;
                        if t.columns[j].numeric {
                            out.push_str(&" ".repeat(pad));
                            out.push_str(text);
                        } else {
                            out.push_str(text);
                            if !last || more {
                                out.push_str(&" ".repeat(pad));
                            }
                        }
                    }
                }
                if cell.len() > k + 1 {
                    out.push('+');
                } else if !last {
                    out.push(' ');
                }
                if !last {
                    out.push('|');
                }
            }
            out.push('\n');
        }
    }
    if footer {
        out.push_str(&row_count(t.rows.len()));
        out.push('\n');
    }
    out
}

/// psql's expanded output (`\x`): one `-[ RECORD n ]` block per row.
pub fn expanded(t: &Table) -> String {
    if t.rows.is_empty() {
        return format!("{}\n", row_count(0));
    }
    let hwidth = t.columns.iter().map(|c| width(&c.name)).max().unwrap_or(0);
    let dwidth = t
        .rows
        .iter()
        .flat_map(|r| r.iter())
        .flat_map(|v| lines(v.as_deref().unwrap_or("")))
        .map(width)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (i, row) in t.rows.iter().enumerate() {
        out.push_str(&record_line(i + 1, hwidth, dwidth));
        for (c, v) in t.columns.iter().zip(row) {
            let ls = lines(v.as_deref().unwrap_or(""));
            for (k, l) in ls.iter().enumerate() {
                let head = if k == 0 { c.name.as_str() } else { "" };
                let pad = hwidth - width(head).min(hwidth);
                out.push_str(head);
                out.push_str(&" ".repeat(pad));
                out.push_str(" | ");
                out.push_str(l);
                if k + 1 < ls.len() {
                    out.push_str(&" ".repeat(dwidth - width(l).min(dwidth)));
                    out.push('+');
                }
                out.push('\n');
            }
        }
    }
    out
}

/// `-[ RECORD n ]` padded with `-` (and the `+` of the column rule) to the
/// width of the data lines, exactly as psql's border-1 layout.
fn record_line(record: usize, hwidth: usize, dwidth: usize) -> String {
    let mut out = String::from("-");
    let label = format!("[ RECORD {record} ]");
    out.push_str(&label);
    let mut reclen = width(&label) as isize + 1;
    for _ in reclen..hwidth as isize {
        out.push('-');
    }
    reclen -= hwidth as isize;
    for c in ['-', '+', '-'] {
        if reclen <= 0 {
            out.push(c);
        }
        reclen -= 1;
    }
    for _ in reclen.max(0)..dwidth as isize {
        out.push('-');
    }
    out.push('\n');
    out
}

pub(super) fn csv_field(s: &str, null: bool) -> String {
    if null {
        return String::new();
    }
    if s.is_empty() || s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Formats rows as `psql --csv` does: a header line, then one line per row.
pub fn csv(t: &Table) -> String {
    let mut out = String::new();
    let header: Vec<String> = t
        .columns
        .iter()
        .map(|c| csv_field(&c.name, false))
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for r in &t.rows {
        let line: Vec<String> = r
            .iter()
            .map(|v| csv_field(v.as_deref().unwrap_or(""), v.is_none()))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cols: &[(&str, bool)], rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: cols
                .iter()
                .map(|(n, numeric)| Column {
                    name: n.to_string(),
                    numeric: *numeric,
                })
                .collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("a,b", false), "\"a,b\"");
        assert_eq!(csv_field("", false), "\"\"");
        assert_eq!(csv_field("", true), "");
        assert_eq!(csv_field("x", false), "x");
    }

    #[test]
    fn aligned_matches_psql_with_newlines_and_nulls() {
        // Captured from psql 15: SELECT * FROM t with a two-line value.
        let t = table(
            &[("id", true), ("name", false), ("u", true), ("price", true)],
            &[
                &[Some("1"), Some("a"), Some("1"), Some("1.50")],
                &[Some("2"), Some("multi\nline"), Some("2"), None],
            ],
        );
        assert_eq!(
            aligned(&t, None, true),
            " id | name  | u | price \n----+-------+---+-------\n  1 | a     | 1 |  1.50\n  2 | multi+| 2 |      \n    | line  |   | \n(2 rows)\n"
        );
        let t = table(
            &[("a", false), ("b", true), ("c", false)],
            &[&[Some("x\ny"), Some("1"), Some("zz")]],
        );
        assert_eq!(
            aligned(&t, None, true),
            " a | b | c  \n---+---+----\n x+| 1 | zz\n y |   | \n(1 row)\n"
        );
    }

    #[test]
    fn title_is_centred() {
        let t = table(
            &[
                ("Schema", false),
                ("Name", false),
                ("Type", false),
                ("Owner", false),
            ],
            &[&[Some("public"), Some("c"), Some("table"), Some("heliosdb")]],
        );
        let s = aligned(&t, Some("List of relations"), true);
        assert!(
            s.starts_with("        List of relations\n Schema | Name |"),
            "{s}"
        );
    }

    #[test]
    fn expanded_matches_psql() {
        let t = table(
            &[("id", true), ("name", false), ("price", true)],
            &[&[Some("2"), Some("multi\nline"), None]],
        );
        assert_eq!(
            expanded(&t),
            "-[ RECORD 1 ]\nid    | 2\nname  | multi+\n      | line\nprice | \n"
        );
        let t = table(&[("n", false)], &[&[Some("a long value here")]]);
        // Also from psql 15.
        assert_eq!(
            expanded(&t),
            "-[ RECORD 1 ]--------\nn | a long value here\n"
        );
    }
}
