//! The hint of an undefined-column error: the column the user probably
//! meant, as PostgreSQL's `errorMissingColumn` finds it (Levenshtein
//! distance over the columns of every table of the statement, reachable or
//! not, with a penalty for a mistyped qualifier).

use super::{Binder, Scope, ScopeTable};
use crate::error::{Error, SqlState};

/// PostgreSQL's MAX_FUZZY_DISTANCE.
const MAX_DISTANCE: usize = 3;

/// Levenshtein distance with unit costs (bytes, as PostgreSQL compares).
fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The best fuzzy matches so far (PostgreSQL's FuzzyAttrMatchState).
struct Fuzzy {
    distance: usize,
    first: Option<(String, String)>,
    second: Option<(String, String)>,
}

impl Fuzzy {
    fn consider(&mut self, penalty: usize, table: &str, actual: &str, wanted: &str) {
        if penalty > self.distance || actual.is_empty() {
            return;
        }
        let d = levenshtein(actual, wanted);
        // More than half the characters different is no suggestion.
        if d > wanted.len() / 2 {
            return;
        }
        let d = d + penalty;
        let found = Some((table.to_string(), actual.to_string()));
        if d < self.distance {
            self.distance = d;
            self.first = found;
            self.second = None;
        } else if d == self.distance {
            if self.second.is_some() {
                // Too many at this distance: only a closer one will do.
                self.first = None;
                self.second = None;
            } else if self.first.is_some() {
                self.second = found;
            }
        }
    }
}

impl Binder<'_> {
    /// The tables of the statement as seen from `scope` outward, each with
    /// its column names.
    fn range_tables(&self, scope: &Scope) -> Vec<(ScopeTable, Vec<String>)> {
        let columns_of = |s: &Scope, t: &ScopeTable| -> Vec<String> {
            if t.visible {
                s.columns
                    .iter()
                    .filter(|c| c.qualifier.as_deref() == Some(t.qualifier.as_str()))
                    .map(|c| c.name.clone())
                    .collect()
            } else {
                self.catalog
                    .tables
                    .get(&t.table)
                    .map(|d| d.columns.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default()
            }
        };
        let mut out: Vec<(ScopeTable, Vec<String>)> = scope
            .tables
            .iter()
            .map(|t| (t.clone(), columns_of(scope, t)))
            .collect();
        for f in self.outer.borrow().iter().rev() {
            out.extend(
                f.scope
                    .tables
                    .iter()
                    .map(|t| (t.clone(), columns_of(&f.scope, t))),
            );
        }
        out
    }

    /// PostgreSQL's error for column `name` (qualified by `qualifier`) that
    /// nothing in reach has, with its hint.
    pub(super) fn undefined_column(
        &self,
        qualifier: Option<&str>,
        name: &str,
        scope: &Scope,
    ) -> Error {
        let message = match qualifier {
            Some(q) => format!("column {q}.{name} does not exist"),
            None => format!("column \"{name}\" does not exist"),
        };
        let err = Error::new(SqlState::UNDEFINED_COLUMN, message);
        let mut fuzzy = Fuzzy {
            distance: MAX_DISTANCE + 1,
            first: None,
            second: None,
        };
        for (t, columns) in self.range_tables(scope) {
            let penalty = qualifier.map_or(0, |q| levenshtein(q, &t.qualifier));
            if penalty > MAX_DISTANCE {
                continue;
            }
            let exact = columns.iter().any(|c| c == name);
            for c in &columns {
                fuzzy.consider(penalty, &t.qualifier, c, name);
            }
            if exact && penalty == 0 {
                // It exists, out of reach.
                return err.with_hint(format!(
                    "There is a column named \"{name}\" in table \"{}\", but it cannot be referenced from this part of the query.",
                    t.qualifier
                ));
            }
        }
        match (fuzzy.first, fuzzy.second) {
            (Some((t1, c1)), Some((t2, c2))) => err.with_hint(format!(
                "Perhaps you meant to reference the column \"{t1}.{c1}\" or the column \"{t2}.{c2}\"."
            )),
            (Some((t, c)), None) => {
                err.with_hint(format!("Perhaps you meant to reference the column \"{t}.{c}\"."))
            }
            _ => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::levenshtein;

    /// Hints checked against PostgreSQL 15.18.
    #[test]
    fn hints() {
        let db = crate::Database::open_in_memory().unwrap();
        let mut s = db.connect();
        s.run(
            "CREATE TABLE fa (alpha int, beta text, gamma int);
             CREATE TABLE fb (alpha int, delta int);
             CREATE TABLE kv (key int PRIMARY KEY, fruit text)",
        )
        .unwrap();
        let mut hint = |sql: &str| s.execute(sql, &[]).unwrap_err().hint;
        let some = |h: &str| Some(h.to_string());
        assert_eq!(
            hint("SELECT alph FROM fa"),
            some("Perhaps you meant to reference the column \"fa.alpha\".")
        );
        assert_eq!(
            hint("SELECT alpah FROM fa, fb"),
            some(
                "Perhaps you meant to reference the column \"fa.alpha\" or the column \"fb.alpha\"."
            )
        );
        assert_eq!(hint("SELECT zzz FROM fa"), None);
        assert_eq!(
            hint("SELECT f.bet FROM fa f"),
            Some("Perhaps you meant to reference the column \"f.beta\".".to_string())
        );
        assert_eq!(
            hint(
                "INSERT INTO kv VALUES (1, 'a') ON CONFLICT (keyy) DO UPDATE SET fruit = excluded.fruit"
            ),
            some(
                "Perhaps you meant to reference the column \"kv.key\" or the column \"excluded.key\"."
            )
        );
        assert_eq!(
            hint(
                "INSERT INTO kv VALUES (1, 'a') ON CONFLICT (key) DO UPDATE SET fruit = excluded.fruitt"
            ),
            some("Perhaps you meant to reference the column \"excluded.fruit\".")
        );
    }

    #[test]
    fn distances() {
        assert_eq!(levenshtein("keyy", "key"), 1);
        assert_eq!(levenshtein("fruitt", "fruit"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
