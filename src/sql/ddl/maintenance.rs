//! VACUUM and ANALYZE.
//!
//! ANALYZE reads each table through the transaction's snapshot and stores
//! its planner statistics ([`crate::catalog::stats`]): the row count, and
//! per analyzed column the NULL fraction and distinct-value estimate. The
//! statistics are written in the transaction, and the catalog version is
//! bumped so plans are made again with them.
//!
//! VACUUM has nothing to reclaim: the disk engine (redb) frees pages that
//! no snapshot can see by itself, and the memory engine drops versions
//! older than the oldest snapshot when a key is rewritten. So VACUUM checks
//! its options and tables and, with ANALYZE, analyzes them. As in
//! PostgreSQL, naming a view, index or sequence skips it, and a missing
//! relation is 42P01.

use super::DdlCtx;
use crate::catalog::keys;
use crate::catalog::stats::{self, StatsBuilder};
use crate::catalog::{Relation, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::binder::{check_database_part, split_name};
use crate::sql::commands::{DefElem, OptValue, TableAndColumns, bool_option, int_option};
use crate::sql::executor::scan::decode_table_row;
use crate::storage::prefix_end;
use std::ops::Bound;
use std::sync::Arc;

fn unrecognized(command: &str, o: &DefElem) -> Error {
    Error::syntax(format!("unrecognized {command} option \"{}\"", o.name))
}

impl DdlCtx<'_> {
    /// VACUUM: checks options and tables; with ANALYZE, analyzes them.
    pub fn vacuum(&mut self, options: &[DefElem], tables: &[TableAndColumns]) -> Result<()> {
        let mut analyze = false;
        for o in options {
            match o.name.as_str() {
                "analyze" => analyze = bool_option(o)?,
                "full"
                | "freeze"
                | "verbose"
                | "disable_page_skipping"
                | "skip_locked"
                | "process_toast"
                | "truncate" => {
                    bool_option(o)?;
                }
                "index_cleanup" => {
                    let auto = matches!(&o.value, Some(OptValue::Text(v)) if v == "auto");
                    if !auto {
                        bool_option(o)?;
                    }
                }
                "parallel" => {
                    let n = int_option(o)?;
                    if n < 0 {
                        return Err(Error::new(
                            SqlState::INVALID_PARAMETER_VALUE,
                            "parallel workers for vacuum must be between 0 and 1024",
                        ));
                    }
                }
                _ => return Err(unrecognized("VACUUM", o)),
            }
        }
        if !analyze && tables.iter().any(|t| !t.columns.is_empty()) {
            return Err(Error::unsupported(
                "ANALYZE option must be specified when a column list is provided",
            ));
        }
        let targets = self.maintenance_targets(tables)?;
        if analyze {
            for (t, columns) in targets {
                self.analyze_table(&t, &columns)?;
            }
        }
        Ok(())
    }

    /// ANALYZE: refreshes the planner statistics of the named tables (all
    /// tables of the database when none is named).
    pub fn analyze(&mut self, options: &[DefElem], tables: &[TableAndColumns]) -> Result<()> {
        for o in options {
            match o.name.as_str() {
                "verbose" | "skip_locked" => {
                    bool_option(o)?;
                }
                _ => return Err(unrecognized("ANALYZE", o)),
            }
        }
        for (t, columns) in self.maintenance_targets(tables)? {
            self.analyze_table(&t, &columns)?;
        }
        Ok(())
    }

    /// The tables a maintenance command works on, with the positions of the
    /// columns it names (empty: all). Views, indexes, sequences and system
    /// relations are skipped; a missing relation is 42P01, a missing column
    /// 42703.
    fn maintenance_targets(
        &self,
        tables: &[TableAndColumns],
    ) -> Result<Vec<(Arc<TableDef>, Vec<usize>)>> {
        if tables.is_empty() {
            return Ok(self
                .catalog
                .tables
                .values()
                .map(|t| (t.clone(), Vec::new()))
                .collect());
        }
        let mut out = Vec::new();
        for item in tables {
            check_database_part(&self.catalog, &item.name)?;
            let (schema, name) = split_name(&item.name)?;
            if crate::sql::system::is_system_relation(schema.as_deref(), &name) {
                continue;
            }
            let t = match self
                .catalog
                .resolve(schema.as_deref(), &name, self.search_path)
            {
                Some((_, Relation::Table(id))) => self.catalog.table(id)?.clone(),
                Some(_) => continue,
                None => {
                    let shown = match &schema {
                        Some(s) => format!("{s}.{name}"),
                        None => name,
                    };
                    return Err(Error::undefined_table(&shown));
                }
            };
            let mut columns = Vec::new();
            for c in &item.columns {
                let i = t.column_index(c).ok_or_else(|| {
                    Error::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("column \"{c}\" of relation \"{}\" does not exist", t.name),
                    )
                })?;
                columns.push(i);
            }
            out.push((t, columns));
        }
        Ok(out)
    }

    /// Counts and samples one table's rows as this transaction sees them
    /// and stores its statistics.
    fn analyze_table(&mut self, t: &TableDef, columns: &[usize]) -> Result<()> {
        let positions: Vec<usize> = if columns.is_empty() {
            (0..t.columns.len()).collect()
        } else {
            columns.to_vec()
        };
        let mut builder = StatsBuilder::new(
            positions
                .iter()
                .map(|&i| (i, t.columns[i].name.clone()))
                .collect(),
        );
        let start = keys::index_prefix(t.id, keys::PRIMARY_INDEX);
        let end = prefix_end(&start)
            .map(Bound::Excluded)
            .unwrap_or(Bound::Unbounded);
        for (n, kv) in self
            .txn
            .scan(Bound::Included(start), end, false)?
            .enumerate()
        {
            if n % 1024 == 0 {
                self.env.check_interrupt()?;
            }
            let (_, v) = kv?;
            builder.add(&decode_table_row(t, &v)?);
        }
        let previous = self.catalog.stats.get(&t.id).map(|s| &**s);
        let stats = builder.finish(previous);
        stats::put_stats(self.txn, t.id, &stats)?;
        crate::catalog::bump_version(self.txn);
        Ok(())
    }
}
