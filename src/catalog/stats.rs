//! Planner statistics: what ANALYZE learns about a table.
//!
//! ANALYZE counts a table's rows and estimates, per column, the fraction of
//! NULLs and the number of distinct values, from a sample of at most
//! [`SAMPLE_ROWS`] rows (the whole table when it is smaller). The result is
//! stored as JSON under the table's statistics key ([`keys::stats_key`]),
//! written in the analyzing transaction (so it is transactional like
//! PostgreSQL's `pg_statistic`), and loaded with the catalog; ANALYZE bumps
//! the catalog version, so every session — and every cached plan — sees the
//! new numbers. The join planner's row estimates use them
//! (`optimizer::join_order`); tables never analyzed get fixed guesses.
//!
//! Statistics are a snapshot: they are not maintained by DML, so they age
//! until the next ANALYZE (there is no autovacuum daemon).

use super::keys;
use crate::error::{Error, Result};
use crate::txn::Transaction;
use crate::types::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Rows sampled for the per-column estimates (PostgreSQL's default:
/// 300 × `default_statistics_target` 100).
pub const SAMPLE_ROWS: usize = 30_000;

/// Statistics of one table, as of its last ANALYZE.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    /// Live rows counted.
    pub rows: u64,
    /// Per-column statistics, by column name (a dropped or renamed column
    /// simply has none until the next ANALYZE).
    pub columns: BTreeMap<String, ColumnStats>,
}

/// Statistics of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    /// Fraction of rows whose value is NULL.
    pub null_frac: f64,
    /// Estimated number of distinct non-NULL values.
    pub n_distinct: f64,
}

impl TableStats {
    /// The statistics of column `name`, if it was analyzed.
    pub fn column(&self, name: &str) -> Option<&ColumnStats> {
        self.columns.get(name)
    }
}

/// Accumulates a table's rows into [`TableStats`]: counts every row and
/// keeps a uniform reservoir sample of [`SAMPLE_ROWS`] of them.
pub struct StatsBuilder {
    /// Columns to analyze: (position, name).
    columns: Vec<(usize, String)>,
    rows: u64,
    sample: Vec<Vec<Value>>,
    /// xorshift state: the sample is deterministic for the same table.
    rng: u64,
}

impl StatsBuilder {
    pub fn new(columns: Vec<(usize, String)>) -> StatsBuilder {
        StatsBuilder {
            columns,
            rows: 0,
            sample: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Adds one row (all of the table's columns).
    pub fn add(&mut self, row: &[Value]) {
        self.rows += 1;
        let keep = |row: &[Value], cols: &[(usize, String)]| -> Vec<Value> {
            cols.iter()
                .map(|(i, _)| row.get(*i).cloned().unwrap_or(Value::Null))
                .collect()
        };
        if self.sample.len() < SAMPLE_ROWS {
            let r = keep(row, &self.columns);
            self.sample.push(r);
        } else {
            // Algorithm R: the n-th row replaces a sampled one with probability SAMPLE_ROWS/n.
            let slot = self.next_random() % self.rows;
            if (slot as usize) < SAMPLE_ROWS {
                self.sample[slot as usize] = keep(row, &self.columns);
            }
        }
    }

    /// The statistics; `previous` keeps the columns this run did not analyze.
    pub fn finish(self, previous: Option<&TableStats>) -> TableStats {
        let mut columns = previous.map(|p| p.columns.clone()).unwrap_or_default();
        let n = self.sample.len();
        for (k, (_, name)) in self.columns.iter().enumerate() {
            let mut counts: HashMap<&Value, u64> = HashMap::new();
            let mut nulls = 0u64;
            for row in &self.sample {
                match &row[k] {
                    Value::Null => nulls += 1,
                    v => *counts.entry(v).or_insert(0) += 1,
                }
            }
            let null_frac = if n == 0 { 0.0 } else { nulls as f64 / n as f64 };
            let sampled = (n as u64 - nulls) as f64;
            let total = self.rows as f64 * (1.0 - null_frac);
            let d = counts.len() as f64;
            let f1 = counts.values().filter(|c| **c == 1).count() as f64;
            let n_distinct = if sampled == 0.0 {
                0.0
            } else if sampled >= total {
                d
            } else {
                // Haas and Stokes' Duj1 estimator, as PostgreSQL uses.
                let est = sampled * d / (sampled - f1 + f1 * sampled / total);
                est.clamp(d, total).round()
            };
            columns.insert(
                name.clone(),
                ColumnStats {
                    null_frac,
                    n_distinct,
                },
            );
        }
        TableStats {
            rows: self.rows,
            columns,
        }
    }
}

/// Writes a table's statistics in the transaction.
pub fn put_stats(txn: &mut Transaction, table: u32, stats: &TableStats) -> Result<()> {
    let value = serde_json::to_vec(stats)
        .map_err(|e| Error::internal(format!("cannot encode statistics: {e}")))?;
    txn.put(keys::stats_key(table), value);
    Ok(())
}

/// Removes a table's statistics (the table is being dropped).
pub fn delete_stats(txn: &mut Transaction, table: u32) {
    txn.delete(keys::stats_key(table));
}

pub(super) fn decode(value: &[u8]) -> Result<TableStats> {
    serde_json::from_slice(value).map_err(|e| Error::corrupted(format!("statistics entry: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_on_small_tables() {
        let mut b = StatsBuilder::new(vec![(0, "a".into()), (1, "b".into())]);
        for i in 0..100 {
            let b_val = if i % 4 == 0 {
                Value::Null
            } else {
                Value::Int4(i % 10)
            };
            b.add(&[Value::Int4(i), b_val]);
        }
        let s = b.finish(None);
        assert_eq!(s.rows, 100);
        assert_eq!(s.column("a").unwrap().n_distinct, 100.0);
        assert_eq!(s.column("a").unwrap().null_frac, 0.0);
        assert_eq!(s.column("b").unwrap().null_frac, 0.25);
        // i % 10 over i not divisible by 4: every residue but none lost.
        assert_eq!(s.column("b").unwrap().n_distinct, 10.0);
    }

    #[test]
    fn estimates_from_a_sample() {
        let mut b = StatsBuilder::new(vec![(0, "id".into()), (1, "grp".into())]);
        let n = 100_000;
        for i in 0..n {
            b.add(&[Value::Int8(i), Value::Int8(i % 50)]);
        }
        let s = b.finish(None);
        assert_eq!(s.rows, n as u64);
        let id = s.column("id").unwrap().n_distinct;
        assert!(id > 0.9 * n as f64, "{id}");
        assert_eq!(s.column("grp").unwrap().n_distinct, 50.0);
    }

    #[test]
    fn keeps_columns_not_analyzed() {
        let mut first = StatsBuilder::new(vec![(0, "a".into()), (1, "b".into())]);
        first.add(&[Value::Int4(1), Value::Int4(2)]);
        let first = first.finish(None);
        let mut second = StatsBuilder::new(vec![(0, "a".into())]);
        second.add(&[Value::Int4(1), Value::Int4(2)]);
        second.add(&[Value::Int4(2), Value::Int4(2)]);
        let s = second.finish(Some(&first));
        assert_eq!(s.rows, 2);
        assert_eq!(s.column("a").unwrap().n_distinct, 2.0);
        assert_eq!(s.column("b").unwrap().n_distinct, 1.0);
    }
}
