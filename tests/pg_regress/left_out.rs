//! The committed list of regression-script statements left out of the count
//! (`tests/conformance/pg_left_out.txt`), and how it is matched to units.
//!
//! The list is a series of categories:
//!
//! ```text
//! [partitioning]
//! reason: declarative partitioning ...
//! pattern: (?i)\bpartition\s+(by|of)\b
//! units: insert:97-120 update:52
//! ```
//!
//! A unit is left out when its SQL (from `marked/<file>.units.json`, with
//! comments and string literals removed, psql `:variables` expanded) matches a
//! category's `pattern`, when PostgreSQL's output for it matches an `output`
//! pattern, when a `units` range names it, or when it uses an
//! object that only a left-out statement created: each left-out unit
//! *taints* the names it creates (`CREATE TABLE/VIEW/TYPE/DOMAIN/FUNCTION
//! ... name`), attaches (`ATTACH PARTITION name`) or changes behind the
//! engine's back (`CREATE RULE ... TO name`, `CREATE TRIGGER ... ON name`);
//! a later unit that mentions a tainted name is left out as dependent, until
//! a unit that runs creates the name afresh.
//!
//! Left-out units still run (the script runs whole); they only do not count.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

/// Compiled once: the test is built without optimization, where compiling
/// these per unit would dominate its run time.
macro_rules! re {
    ($e:expr) => {{
        static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&$e).unwrap());
        &*RE
    }};
}

/// One category of the list.
pub struct Category {
    pub name: String,
    pub reason: String,
    patterns: Vec<Regex>,
    outputs: Vec<Regex>,
    units: Vec<(String, usize, usize)>,
}

/// Why a unit is left out.
#[derive(Clone, Debug)]
pub enum Why {
    /// Matched the named category.
    Category(String),
    /// Mentions an object a left-out unit created.
    Dependent { name: String, created_by: usize },
}

pub fn parse(text: &str) -> Result<Vec<Category>, String> {
    let mut out: Vec<Category> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push(Category {
                name: name.to_string(),
                reason: String::new(),
                patterns: Vec::new(),
                outputs: Vec::new(),
                units: Vec::new(),
            });
            continue;
        }
        let cat = out
            .last_mut()
            .ok_or_else(|| format!("line {}: entry before the first [category]", i + 1))?;
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("line {}: expected key: value", i + 1))?;
        let value = value.trim();
        match key {
            "reason" => {
                if !cat.reason.is_empty() {
                    cat.reason.push(' ');
                }
                cat.reason.push_str(value);
            }
            "pattern" => cat
                .patterns
                .push(Regex::new(value).map_err(|e| format!("line {}: bad pattern: {e}", i + 1))?),
            "output" => cat.outputs.push(
                Regex::new(&format!("(?m){value}"))
                    .map_err(|e| format!("line {}: bad output pattern: {e}", i + 1))?,
            ),
            "units" => {
                for range in value.split_whitespace() {
                    let (file, nums) = range
                        .split_once(':')
                        .ok_or_else(|| format!("line {}: expected file:n[-m]", i + 1))?;
                    let (a, b) = nums.split_once('-').unwrap_or((nums, nums));
                    let parse = |s: &str| {
                        s.parse::<usize>()
                            .map_err(|_| format!("line {}: bad unit number {s:?}", i + 1))
                    };
                    cat.units.push((file.to_string(), parse(a)?, parse(b)?));
                }
            }
            _ => return Err(format!("line {}: unknown key {key:?}", i + 1)),
        }
    }
    for c in &out {
        if c.reason.is_empty() {
            return Err(format!("category [{}] has no reason", c.name));
        }
    }
    Ok(out)
}

/// One statement of a marked script, as `units.json` describes it.
pub struct Unit {
    pub id: usize,
    pub text: String,
}

pub fn read_units(json: &str) -> Vec<Unit> {
    let v: serde_json::Value = serde_json::from_str(json).expect("units.json is JSON");
    v.as_array()
        .expect("units.json is an array")
        .iter()
        .map(|u| Unit {
            id: u["id"].as_u64().expect("unit id") as usize,
            text: u["text"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

/// Decides, unit by unit in script order, which units of `file` are left
/// out and why. `expected` is PostgreSQL's output per unit.
/// The units' SQL with psql's `\set` variables expanded, by unit id.
pub fn expanded_sql(units: &[Unit]) -> BTreeMap<usize, String> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let set_re = re!(r"(?m)^\\set\s+(\w+)\s+'((?:[^']|'')*)'");
    let mut out = BTreeMap::new();
    for unit in units {
        for c in set_re.captures_iter(&unit.text) {
            vars.insert(c[1].to_string(), c[2].replace("''", "'"));
        }
        out.insert(unit.id, expand(&unit.text, &vars));
    }
    out
}

pub fn classify(
    categories: &[Category],
    file: &str,
    units: &[Unit],
    expected: &BTreeMap<usize, Vec<String>>,
) -> BTreeMap<usize, Why> {
    let mut out = BTreeMap::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    // Tainted name -> the left-out unit that created it.
    let mut tainted: HashMap<String, usize> = HashMap::new();
    let set_re = re!(r"(?m)^\\set\s+(\w+)\s+'((?:[^']|'')*)'");
    for unit in units {
        for c in set_re.captures_iter(&unit.text) {
            vars.insert(c[1].to_string(), c[2].replace("''", "'"));
        }
        let expanded = expand(&unit.text, &vars);
        let sql = strip(&expanded, false);
        // Names in string literals count as uses ('t'::regclass).
        let words = words(&strip(&expanded, true));
        let output = expected
            .get(&unit.id)
            .map(|l| l.join("\n"))
            .unwrap_or_default();
        let by_category = categories.iter().find(|c| {
            c.units
                .iter()
                .any(|(f, a, b)| f == file && (*a..=*b).contains(&unit.id))
                || c.patterns.iter().any(|p| p.is_match(&sql))
                || c.outputs.iter().any(|p| p.is_match(&output))
        });
        let creates = created_names_plain(&sql);
        let why = match by_category {
            Some(c) => Some(Why::Category(c.name.clone())),
            None => words.iter().filter(|w| !creates.contains(w)).find_map(|w| {
                tainted.get(w).map(|&by| Why::Dependent {
                    name: w.clone(),
                    created_by: by,
                })
            }),
        };
        let made = created_names(&sql);
        match why {
            Some(why) => {
                for name in made {
                    tainted.insert(name, unit.id);
                }
                out.insert(unit.id, why);
            }
            None => {
                for name in creates {
                    tainted.remove(&name);
                }
            }
        }
    }
    out
}

/// Whether a unit's SQL asks for an order (`ORDER BY` outside comments and
/// string literals); psql variables are expanded by the caller.
pub fn has_order_by(text: &str) -> bool {
    re!(r"(?i)\border\s+by\b").is_match(&strip(text, false))
}

/// Expands psql's `:name` variables.
fn expand(text: &str, vars: &HashMap<String, String>) -> String {
    re!(r":(\w+)")
        .replace_all(text, |c: &regex::Captures| {
            vars.get(&c[1]).cloned().unwrap_or_else(|| c[0].to_string())
        })
        .into_owned()
}

/// The SQL without comments and, unless `keep_strings`, with string
/// literals emptied (so that text in comments and data never matches a
/// pattern).
fn strip(sql: &str, keep_strings: bool) -> String {
    let b: Vec<char> = sql.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '-' && b.get(i + 1) == Some(&'-') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
            out.push(' ');
        } else if c == '\'' {
            let start = i;
            i += 1;
            while i < b.len() {
                if b[i] == '\'' && b.get(i + 1) == Some(&'\'') {
                    i += 2;
                } else if b[i] == '\'' {
                    break;
                } else {
                    i += 1;
                }
            }
            i += 1;
            if keep_strings {
                out.extend(&b[start..i.min(b.len())]);
            } else {
                out.push_str("''");
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Identifiers of the SQL, lower-cased (quoted ones as written).
fn words(sql: &str) -> BTreeSet<String> {
    re!(r#""([^"]+)"|([A-Za-z_][A-Za-z0-9_$]*)"#)
        .captures_iter(sql)
        .map(|c| match c.get(1) {
            Some(q) => q.as_str().to_string(),
            None => c[2].to_lowercase(),
        })
        .collect()
}

const NAME: &str = r#"((?:\w+\.)?(?:"[^"]+"|\w+))"#;

/// Names a statement creates (tables, views, types, domains, functions,
/// roles), the object names `CREATE TABLE/VIEW ... name` etc. introduce.
fn created_names_plain(sql: &str) -> Vec<String> {
    re!(format!(
        r"(?i)\bcreate\s+(?:or\s+replace\s+)?(?:(?:global|local)\s+)?(?:temp\s+|temporary\s+|unlogged\s+)?(?:table|view|materialized\s+view|type|domain|function|procedure|sequence|role|user|operator\s+class)\s+(?:if\s+not\s+exists\s+)?{NAME}"
    ))
    .captures_iter(sql).map(|c| unqualify(&c[1])).collect()
}

/// What a left-out statement taints: what it creates, the tables it attaches
/// as partitions, and the tables it puts rules or triggers on.
fn created_names(sql: &str) -> Vec<String> {
    let mut out = created_names_plain(sql);
    let others: [&Regex; 3] = [
        re!(format!(r"(?i)\battach\s+partition\s+{NAME}")),
        re!(format!(
            r"(?i)\bcreate\s+(?:or\s+replace\s+)?rule\s+\w+\s+as\s+on\s+\w+\s+to\s+{NAME}"
        )),
        re!(format!(
            r"(?i)\bcreate\s+(?:constraint\s+)?trigger\s+\w+\s+[^;]*?\bon\s+{NAME}"
        )),
    ];
    for re in others {
        out.extend(re.captures_iter(sql).map(|c| unqualify(&c[1])));
    }
    out
}

fn unqualify(name: &str) -> String {
    let last = name.rsplit('.').next().unwrap_or(name);
    match last.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(q) => q.to_string(),
        None => last.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_comments_and_strings() {
        assert_eq!(
            strip("select 'a--b' -- partition by\n, 1", false),
            "select '' \n, 1"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            created_names("create temp table foochild (fc int) inherits (foo)"),
            vec!["foochild"]
        );
        assert_eq!(
            created_names("ALTER TABLE range_parted ATTACH PARTITION part_b FOR VALUES IN (1)"),
            vec!["part_b"]
        );
        assert_eq!(
            created_names("CREATE RULE voo_i AS ON INSERT TO voo DO INSTEAD NOTHING"),
            vec!["voo"]
        );
    }
}
