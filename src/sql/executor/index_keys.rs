//! Index entries of the rows a statement writes, for every kind of index.
//!
//! A plain index's entry is keyed by its columns' values, read straight from
//! the row ([`super::scan::index_entry_key`]). An index with expression keys
//! or a predicate (a partial index, see [`IndexDef::is_plain`]) is compiled
//! on first use in a statement: its key expressions and predicate are bound
//! over the table's row and evaluated for each row written. A row that a
//! partial index's predicate rejects has no entry in it (and takes no part
//! in its uniqueness).

use crate::catalog::keys::index_prefix;
use crate::catalog::{Catalog, IndexDef, TableDef};
use crate::error::Result;
use crate::sql::binder::{Binder, Scope};
use crate::sql::expr::{EvalCtx, Expr};
use crate::sql::parser;
use crate::types::Value;
use crate::types::encoding::encode_key;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// An index's key expressions and predicate, bound over its table's row.
pub struct CompiledIndex {
    pub keys: Vec<Expr>,
    pub predicate: Option<Expr>,
}

impl CompiledIndex {
    /// Binds the keys and predicate of `ix` (an index of `table`).
    pub fn compile(catalog: &Catalog, table: &TableDef, ix: &IndexDef) -> Result<CompiledIndex> {
        let binder = Binder::new(catalog, &[]);
        let scope = Scope::for_table(table, &table.name);
        let keys = if ix.keys.is_empty() {
            ix.columns.iter().map(|&c| Expr::Column(c)).collect()
        } else {
            ix.keys
                .iter()
                .map(|k| match (&k.expr, k.column) {
                    (Some(text), _) => Ok(binder.bind_expr(&parser::parse_expr(text)?, &scope)?.0),
                    (None, Some(c)) => Ok(Expr::Column(c)),
                    (None, None) => Err(crate::error::Error::corrupted(format!(
                        "index {} has a key without column or expression",
                        ix.name
                    ))),
                })
                .collect::<Result<_>>()?
        };
        let predicate = match &ix.predicate {
            Some(text) => {
                Some(binder.bind_predicate(&parser::parse_expr(text)?, &scope, "WHERE")?)
            }
            None => None,
        };
        Ok(CompiledIndex { keys, predicate })
    }

    /// The key values of `row`, or None when the predicate leaves it out.
    pub fn values(&self, row: &[Value], ctx: &EvalCtx) -> Result<Option<Vec<Value>>> {
        if let Some(p) = &self.predicate
            && !p.eval_pred(row, ctx)?
        {
            return Ok(None);
        }
        Ok(Some(Expr::eval_all(&self.keys, row, ctx)?))
    }
}

/// Computes index entries for one statement, compiling each non-plain index
/// once.
pub struct IndexKeys<'a> {
    catalog: &'a Catalog,
    compiled: RefCell<HashMap<u32, Rc<CompiledIndex>>>,
}

impl<'a> IndexKeys<'a> {
    pub fn new(catalog: &'a Catalog) -> IndexKeys<'a> {
        IndexKeys {
            catalog,
            compiled: RefCell::new(HashMap::new()),
        }
    }

    fn compiled(&self, table: &TableDef, ix: &IndexDef) -> Result<Rc<CompiledIndex>> {
        if let Some(c) = self.compiled.borrow().get(&ix.id) {
            return Ok(c.clone());
        }
        let c = Rc::new(CompiledIndex::compile(self.catalog, table, ix)?);
        self.compiled.borrow_mut().insert(ix.id, c.clone());
        Ok(c)
    }

    /// The key values of `row` in index `ix` of `table`; None when a
    /// partial index leaves the row out.
    pub fn values(
        &self,
        table: &TableDef,
        ix: &IndexDef,
        row: &[Value],
        ctx: &EvalCtx,
    ) -> Result<Option<Vec<Value>>> {
        if ix.is_plain() {
            return Ok(Some(ix.columns.iter().map(|&c| row[c].clone()).collect()));
        }
        self.compiled(table, ix)?.values(row, ctx)
    }

    /// The prefix of `row`'s entries in `ix` (index prefix and encoded key
    /// values) and whether a key value is NULL (such keys never conflict);
    /// None when the row has no entry.
    pub fn values_key(
        &self,
        table: &TableDef,
        ix: &IndexDef,
        row: &[Value],
        ctx: &EvalCtx,
    ) -> Result<Option<(Vec<u8>, bool)>> {
        if ix.is_plain() {
            let has_null = ix.columns.iter().any(|&c| row[c].is_null());
            return Ok(Some((super::scan::index_values_key(ix, row), has_null)));
        }
        let Some(vals) = self.compiled(table, ix)?.values(row, ctx)? else {
            return Ok(None);
        };
        let mut k = index_prefix(ix.table_id, ix.id);
        encode_key(&vals, &mut k);
        Ok(Some((k, vals.iter().any(Value::is_null))))
    }

    /// The full key of `row`'s entry in `ix` (its value is `pk`); None when
    /// the row has no entry.
    pub fn entry_key(
        &self,
        table: &TableDef,
        ix: &IndexDef,
        row: &[Value],
        pk: &[u8],
        ctx: &EvalCtx,
    ) -> Result<Option<Vec<u8>>> {
        if ix.is_plain() {
            return Ok(Some(super::scan::index_entry_key(ix, row, pk)));
        }
        Ok(self.values_key(table, ix, row, ctx)?.map(|(mut k, _)| {
            k.extend_from_slice(pk);
            k
        }))
    }
}
