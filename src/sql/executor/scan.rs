//! Table access: full scans, key-range scans over the primary key or a
//! secondary index, and the row/key encodings of tables and index entries.

use super::ExecCtx;
use crate::catalog::keys::{PRIMARY_INDEX, index_prefix};
use crate::catalog::{IndexDef, TableDef};
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::plan::{Access, Plan, Scan};
use crate::storage::{OwnedRefScan, RefIter, prefix_end};
use crate::txn::Transaction;
use crate::types::encoding::{decode_row, decode_row_into, encode_key, encode_key_value};
use crate::types::{DataType, Value};
use std::ops::Bound;

/// Start and end bounds of a key range.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A table row with its storage key.
pub type KeyedRow = (Vec<u8>, Vec<Value>);

/// Decodes a stored row, padding rows written before a column was added.
pub fn decode_table_row(table: &TableDef, bytes: &[u8]) -> Result<Vec<Value>> {
    decode_table_row_projected(table, bytes, None)
}

/// Like [`decode_table_row`], decoding only the `needed` columns (others are NULL).
pub fn decode_table_row_projected(
    table: &TableDef,
    bytes: &[u8],
    needed: Option<&[bool]>,
) -> Result<Vec<Value>> {
    let mut row = match needed {
        Some(n) => crate::types::encoding::decode_row_projected(bytes, n)?,
        None => decode_row(bytes)?,
    };
    if row.len() > table.columns.len() {
        return Err(Error::corrupted(format!(
            "row of \"{}\" has {} values, table has {} columns",
            table.name,
            row.len(),
            table.columns.len()
        )));
    }
    row.resize_with(table.columns.len(), || Value::Null);
    Ok(row)
}

/// The encoded primary key of a row (`rowid` for tables without one).
pub fn pk_suffix(table: &TableDef, row: &[Value], rowid: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    if table.primary_key.is_empty() {
        encode_key_value(&Value::Int8(rowid.unwrap_or(0)), &mut out);
    } else {
        for &i in &table.primary_key {
            encode_key_value(&row[i], &mut out);
        }
    }
    out
}

/// Storage key of a row from its encoded primary key.
pub fn row_key(table: &TableDef, pk: &[u8]) -> Vec<u8> {
    let mut k = index_prefix(table.id, PRIMARY_INDEX);
    k.extend_from_slice(pk);
    k
}

/// The encoded primary key part of a row key.
pub fn pk_of_key(key: &[u8]) -> &[u8] {
    key.get(9..).unwrap_or_default()
}

/// The index-column prefix of an index entry: prefix + encoded indexed values.
pub fn index_values_key(index: &IndexDef, row: &[Value]) -> Vec<u8> {
    let mut k = index_prefix(index.table_id, index.id);
    let vals: Vec<Value> = index.columns.iter().map(|&c| row[c].clone()).collect();
    encode_key(&vals, &mut k);
    k
}

/// Full key of an index entry (indexed values then primary key); its value is the primary key.
pub fn index_entry_key(index: &IndexDef, row: &[Value], pk: &[u8]) -> Vec<u8> {
    let mut k = index_values_key(index, row);
    k.extend_from_slice(pk);
    k
}

/// Evaluates a row-independent key value and converts it to the column's type.
fn key_value(e: &Expr, ty: &DataType, ctx: &ExecCtx) -> Result<Value> {
    let v = e.eval(&[], &ctx.eval_ctx())?;
    if v.is_null() {
        return Ok(v);
    }
    if v.data_type() == *ty || (v.data_type().is_integer() && ty.is_integer()) {
        Ok(v)
    } else {
        v.cast(ty)
    }
}

/// Appends the key encoding of each row-independent expression, converted to
/// its column type; `None` if one is NULL (an equality or bound that no row meets).
fn encode_key_values<'e>(
    mut key: Vec<u8>,
    values: impl IntoIterator<Item = (&'e Expr, &'e DataType)>,
    ctx: &ExecCtx,
) -> Result<Option<Vec<u8>>> {
    for (e, ty) in values {
        let v = key_value(e, ty, ctx)?;
        if v.is_null() {
            return Ok(None);
        }
        encode_key_value(&v, &mut key);
    }
    Ok(Some(key))
}

/// Key bounds for an index access; `None` when the range is provably empty.
fn key_range(
    prefix: Vec<u8>,
    key_types: &[DataType],
    eq: &[Expr],
    lower: &Option<(Expr, bool)>,
    upper: &Option<(Expr, bool)>,
    ctx: &ExecCtx,
) -> Result<Option<KeyRange>> {
    let Some(p) = encode_key_values(prefix, eq.iter().zip(key_types), ctx)? else {
        return Ok(None);
    };
    let next_ty = key_types.get(eq.len());
    let end_of = |p: &[u8]| match prefix_end(p) {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    let start = match (lower, next_ty) {
        (Some((e, incl)), Some(ty)) => {
            let Some(k) = encode_key_values(p.clone(), [(e, ty)], ctx)? else {
                return Ok(None);
            };
            if *incl {
                Bound::Included(k)
            } else {
                match prefix_end(&k) {
                    Some(e) => Bound::Included(e),
                    None => return Ok(None),
                }
            }
        }
        _ => Bound::Included(p.clone()),
    };
    let end = match (upper, next_ty) {
        (Some((e, incl)), Some(ty)) => {
            let Some(k) = encode_key_values(p.clone(), [(e, ty)], ctx)? else {
                return Ok(None);
            };
            if *incl {
                end_of(&k)
            } else {
                Bound::Excluded(k)
            }
        }
        _ => end_of(&p),
    };
    Ok(Some((start, end)))
}

/// Rows of a scan (before its filter), with their keys, read through `txn`.
/// Without `keys` the keys are left empty (reads that only want the rows
/// then copy nothing out of storage but the values they decode).
pub fn scan_rows<'a>(
    txn: &'a Transaction,
    scan: &'a Scan,
    ctx: &'a ExecCtx<'a>,
    keys: bool,
) -> Result<Box<dyn Iterator<Item = Result<KeyedRow>> + 'a>> {
    let rows = scan_rows_unchecked(txn, scan, ctx, keys)?;
    Ok(Box::new(super::interruptible(rows, ctx.env)))
}

/// Decodes the rows of a lending scan of a table's primary index.
fn decode_rows<'a>(
    mut pairs: RefIter,
    table: &'a TableDef,
    needed: Option<&'a [bool]>,
    keys: bool,
) -> impl Iterator<Item = Result<KeyedRow>> + 'a {
    std::iter::from_fn(move || {
        Some(match pairs.next_ref()? {
            Ok((k, v)) => decode_table_row_projected(table, v, needed)
                .map(|row| (if keys { k.to_vec() } else { Vec::new() }, row)),
            Err(e) => Err(e),
        })
    })
}

/// The stored pairs of a scan that reads a range of the primary index
/// straight from storage: a full scan, or a primary-key range other than a
/// point read. `None` for other access paths.
pub fn primary_range(txn: &Transaction, scan: &Scan, ctx: &ExecCtx) -> Result<Option<RefIter>> {
    let table = &scan.table;
    let (s, e) = match &scan.access {
        Access::Full => {
            let p = index_prefix(table.id, PRIMARY_INDEX);
            let end = prefix_end(&p)
                .map(Bound::Excluded)
                .unwrap_or(Bound::Unbounded);
            (Bound::Included(p), end)
        }
        Access::Index {
            index: None,
            eq,
            lower,
            upper,
            in_list: None,
        } => {
            let types: Vec<DataType> = table.pk_types();
            if eq.len() == types.len() {
                return Ok(None);
            }
            let prefix = index_prefix(table.id, PRIMARY_INDEX);
            match key_range(prefix, &types, eq, lower, upper, ctx)? {
                Some(range) => range,
                None => {
                    return Ok(Some(Box::new(OwnedRefScan::new(Box::new(
                        std::iter::empty(),
                    )))));
                }
            }
        }
        Access::Index { .. } => return Ok(None),
    };
    Ok(Some(txn.scan_ref(s, e, scan.reverse)?))
}

/// Calls `f` with every row of a scan of a primary-index range (see
/// [`primary_range`]) that passes the scan's filter, checking for interrupts.
/// The rows are decoded into one reused buffer, so `f` copies what it keeps.
/// `false` if the scan uses another access path (nothing is read then).
pub fn each_primary_row(
    txn: &Transaction,
    scan: &Scan,
    ctx: &ExecCtx,
    mut f: impl FnMut(&[Value]) -> Result<()>,
) -> Result<bool> {
    let ectx = ctx.eval_ctx();
    let mut row = vec![Value::Null; scan.table.columns.len()];
    each_primary_value(txn, scan, ctx, |bytes| {
        decode_row_into(bytes, scan.needed.as_deref(), &mut row)?;
        if let Some(p) = &scan.filter
            && !p.eval_pred(&row, &ectx)?
        {
            return Ok(());
        }
        f(&row)
    })
}

/// Calls `f` with the stored bytes of every row of a primary-index range
/// (see [`primary_range`]), unfiltered, checking for interrupts. `false` if
/// the scan uses another access path (nothing is read then).
pub fn each_primary_value(
    txn: &Transaction,
    scan: &Scan,
    ctx: &ExecCtx,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<bool> {
    let Some(mut pairs) = primary_range(txn, scan, ctx)? else {
        return Ok(false);
    };
    let mut n: u32 = 0;
    while let Some(pair) = pairs.next_ref() {
        let (_, bytes) = pair?;
        n = n.wrapping_add(1);
        if n.is_multiple_of(1024) {
            ctx.env.check_interrupt()?;
        }
        f(bytes)?;
    }
    Ok(true)
}

fn scan_rows_unchecked<'a>(
    txn: &'a Transaction,
    scan: &'a Scan,
    ctx: &'a ExecCtx<'a>,
    keys: bool,
) -> Result<Box<dyn Iterator<Item = Result<KeyedRow>> + 'a>> {
    let table = &scan.table;
    let needed = scan.needed.as_deref();
    if let Some(it) = primary_range(txn, scan, ctx)? {
        return Ok(Box::new(decode_rows(it, table, needed, keys)));
    }
    match &scan.access {
        Access::Full => Err(Error::internal("a full scan reads a primary-index range")),
        Access::Index {
            index,
            eq,
            in_list: Some(list),
            ..
        } => {
            // One equality range per distinct value, in key order.
            let ectx = ctx.eval_ctx();
            let mut values = Vec::with_capacity(list.len());
            for e in list {
                let v = e.eval(&[], &ectx)?;
                if !v.is_null() {
                    values.push(v);
                }
            }
            values.sort();
            values.dedup();
            let mut scans: Vec<Scan> = Vec::with_capacity(values.len());
            for v in values {
                let mut eq = eq.clone();
                eq.push(Expr::Literal(v));
                let mut one = scan.clone();
                one.access = Access::Index {
                    index: index.clone(),
                    eq,
                    lower: None,
                    upper: None,
                    in_list: None,
                };
                scans.push(one);
            }
            let mut rows = Vec::new();
            for one in &scans {
                for r in scan_rows(txn, one, ctx, keys)? {
                    rows.push(r?);
                }
            }
            Ok(Box::new(rows.into_iter().map(Ok)))
        }
        Access::Index {
            index,
            eq,
            lower,
            upper,
            in_list: None,
        } => match index {
            None => {
                let types: Vec<DataType> = table.pk_types();
                let range = key_range(
                    index_prefix(table.id, PRIMARY_INDEX),
                    &types,
                    eq,
                    lower,
                    upper,
                    ctx,
                )?;
                let Some((s, _)) = range else {
                    return Ok(Box::new(std::iter::empty()));
                };
                // A full primary-key match is a point read (any other
                // primary-key range was read by `primary_range`).
                let Bound::Included(k) = &s else {
                    return Err(Error::internal("primary-key point read without a key"));
                };
                let row = txn.get(k)?;
                let key = k.clone();
                Ok(Box::new(row.into_iter().map(move |v| {
                    Ok((key.clone(), decode_table_row_projected(table, &v, needed)?))
                })))
            }
            Some(ix) => {
                let types: Vec<DataType> = ix
                    .columns
                    .iter()
                    .map(|&c| table.columns[c].ty.clone())
                    .collect();
                let range =
                    key_range(index_prefix(table.id, ix.id), &types, eq, lower, upper, ctx)?;
                let Some((s, e)) = range else {
                    return Ok(Box::new(std::iter::empty()));
                };
                let it = txn.scan(s, e, scan.reverse)?;
                Ok(Box::new(it.filter_map(move |kv| {
                    let res = (|| {
                        let (_, pk) = kv?;
                        let key = row_key(table, &pk);
                        match txn.get(&key)? {
                            Some(v) => {
                                Ok(Some((key, decode_table_row_projected(table, &v, needed)?)))
                            }
                            None => Err(Error::corrupted(format!(
                                "index \"{}\" points at a missing row",
                                ix.name
                            ))),
                        }
                    })();
                    res.transpose()
                })))
            }
        },
    }
}

/// The row of a scan that reads one primary key (equality on every key
/// column), after its filter. `None` when the scan is not a point read.
pub fn point_row(
    txn: &Transaction,
    scan: &Scan,
    ctx: &ExecCtx,
) -> Result<Option<Option<Vec<Value>>>> {
    let Access::Index {
        index: None,
        eq,
        lower: None,
        upper: None,
        in_list: None,
    } = &scan.access
    else {
        return Ok(None);
    };
    let table = &scan.table;
    if table.primary_key.is_empty() || eq.len() != table.primary_key.len() {
        return Ok(None);
    }
    let key_types = table.primary_key.iter().map(|&c| &table.columns[c].ty);
    let prefix = index_prefix(table.id, PRIMARY_INDEX);
    let Some(key) = encode_key_values(prefix, eq.iter().zip(key_types), ctx)? else {
        return Ok(Some(None));
    };
    let Some(bytes) = txn.get(&key)? else {
        return Ok(Some(None));
    };
    let row = decode_table_row_projected(table, &bytes, scan.needed.as_deref())?;
    if let Some(f) = &scan.filter
        && !f.eval_pred(&row, &ctx.eval_ctx())?
    {
        return Ok(Some(None));
    }
    Ok(Some(Some(row)))
}

/// Rows of a scan that pass its filter (with their keys if `keys`).
pub fn filtered_rows<'a>(
    txn: &'a Transaction,
    scan: &'a Scan,
    ctx: &'a ExecCtx<'a>,
    keys: bool,
) -> Result<Box<dyn Iterator<Item = Result<KeyedRow>> + 'a>> {
    let rows = scan_rows(txn, scan, ctx, keys)?;
    match &scan.filter {
        None => Ok(rows),
        Some(f) => {
            let ectx = ctx.eval_ctx();
            Ok(Box::new(rows.filter_map(move |r| match r {
                Ok((k, row)) => match f.eval_pred(&row, &ectx) {
                    Ok(true) => Some(Ok((k, row))),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                },
                Err(e) => Some(Err(e)),
            })))
        }
    }
}

/// The rows of a cursor's query with the key of the table row each came
/// from, when the plan is a simply updatable scan of one table: a scan under
/// filters, projections and LIMIT / OFFSET (what PostgreSQL's
/// `search_plan_tree` finds for `WHERE CURRENT OF`; a join, aggregate or set
/// operation in between makes it none, and so does a sort unless the query
/// is `FOR UPDATE` / `FOR SHARE`, `locked`, whose row marks PostgreSQL
/// follows through it). The table's id and the rows; None for other plans.
pub fn keyed_query_rows(
    plan: &Plan,
    ctx: &ExecCtx,
    locked: bool,
) -> Result<Option<(u32, Vec<KeyedRow>)>> {
    match plan {
        Plan::Scan(scan) => {
            let rows = filtered_rows(ctx.txn, scan, ctx, true)?.collect::<Result<Vec<_>>>()?;
            Ok(Some((scan.table.id, rows)))
        }
        Plan::Project { input, exprs, .. } => {
            let Some((table, rows)) = keyed_query_rows(input, ctx, locked)? else {
                return Ok(None);
            };
            let ectx = ctx.eval_ctx();
            let rows = rows
                .into_iter()
                .map(|(k, r)| Ok((k, Expr::eval_all(exprs, &r, &ectx)?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Some((table, rows)))
        }
        Plan::Filter { input, predicate } => {
            let Some((table, rows)) = keyed_query_rows(input, ctx, locked)? else {
                return Ok(None);
            };
            let ectx = ctx.eval_ctx();
            let mut kept = Vec::with_capacity(rows.len());
            for (k, r) in rows {
                if predicate.eval_pred(&r, &ectx)? {
                    kept.push((k, r));
                }
            }
            Ok(Some((table, kept)))
        }
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let ectx = ctx.eval_ctx();
            // (None: a negative count, which the executor refuses.)
            let count = |e: &Option<Expr>| -> Result<Option<Option<usize>>> {
                let Some(e) = e else { return Ok(Some(None)) };
                let n = crate::sql::functions::value_to_i64(&e.eval(&[], &ectx)?)?;
                Ok(match n {
                    Some(n) => usize::try_from(n).ok().map(Some),
                    None => Some(None),
                })
            };
            let (Some(limit), Some(offset)) = (count(limit)?, count(offset)?) else {
                return Ok(None);
            };
            let Some((table, rows)) = keyed_query_rows(input, ctx, locked)? else {
                return Ok(None);
            };
            let rows = rows
                .into_iter()
                .skip(offset.unwrap_or(0))
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            Ok(Some((table, rows)))
        }
        Plan::Sort { input, keys } if locked => {
            let Some((table, rows)) = keyed_query_rows(input, ctx, locked)? else {
                return Ok(None);
            };
            let ectx = ctx.eval_ctx();
            let mut sorted = Vec::with_capacity(rows.len());
            for (k, r) in rows {
                sorted.push((Expr::eval_all_keys(keys, &r, &ectx)?, (k, r)));
            }
            sorted.sort_by(|(a, _), (b, _)| super::compare_keys(keys, a, b));
            Ok(Some((
                table,
                sorted.into_iter().map(|(_, kr)| kr).collect(),
            )))
        }
        // The hidden ORDER BY columns of a sort go.
        Plan::Truncate { input, keep } => {
            let Some((table, mut rows)) = keyed_query_rows(input, ctx, locked)? else {
                return Ok(None);
            };
            for (_, r) in &mut rows {
                r.truncate(*keep);
            }
            Ok(Some((table, rows)))
        }
        _ => Ok(None),
    }
}
