//! Index keys as CREATE INDEX writes them and ON CONFLICT names them:
//! columns or expressions with an optional collation and operator class,
//! and a partial index's predicate; and the inference of ON CONFLICT's
//! arbiter indexes from such a specification (PostgreSQL's
//! `infer_arbiter_indexes`).
//!
//! Collations are not modelled beyond their names (every comparison is by
//! code point, which is what "C" and "POSIX" mean), so only the collations
//! that behave that way exist: "C", "POSIX", "ucs_basic" and "default".
//! Operator classes are the btree ones of the built-in types, known by
//! family and input type, as PostgreSQL compares them.

use super::{Binder, Scope, ident, object_name_parts};
use crate::catalog::{IndexDef, IndexKey, TableDef};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::Expr;
use crate::sql::parser::{self, InferenceElem};
use crate::types::BinaryOp;
use crate::types::{DataType, Value};
use sqlparser::ast;
use std::cmp::Ordering;

/// A collation name as written (`COLLATE "C"`): the collation it stands
/// for, None for the default one. Unknown collations fail as in PostgreSQL.
pub fn collation(name: &ast::ObjectName, ty: &DataType) -> Result<Option<String>> {
    let parts = object_name_parts(name)?;
    let n = match parts.as_slice() {
        [n] | [_, n] => n.clone(),
        _ => return Err(Error::syntax(format!("improper collation name: {name}"))),
    };
    let canonical = match n.as_str() {
        "default" => None,
        "C" | "POSIX" | "ucs_basic" => Some(n.clone()),
        _ => {
            return Err(Error::new(
                SqlState::UNDEFINED_OBJECT,
                format!("collation \"{n}\" for encoding \"UTF8\" does not exist"),
            ));
        }
    };
    if !is_collatable(ty) {
        return Err(Error::new(
            SqlState::DATATYPE_MISMATCH,
            format!("collations are not supported by type {}", ty.name()),
        ));
    }
    Ok(canonical)
}

fn is_collatable(ty: &DataType) -> bool {
    match ty {
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Unknown => true,
        DataType::Array(e) => is_collatable(e),
        _ => false,
    }
}

/// The btree operator classes of the built-in types: name, family, input type.
const OPCLASSES: &[(&str, &str, &str)] = &[
    ("text_ops", "text_ops", "text"),
    ("varchar_ops", "text_ops", "text"),
    ("text_pattern_ops", "text_pattern_ops", "text"),
    ("varchar_pattern_ops", "text_pattern_ops", "text"),
    ("bpchar_ops", "bpchar_ops", "bpchar"),
    ("bpchar_pattern_ops", "bpchar_pattern_ops", "bpchar"),
    ("int2_ops", "integer_ops", "int2"),
    ("int4_ops", "integer_ops", "int4"),
    ("int8_ops", "integer_ops", "int8"),
    ("float4_ops", "float_ops", "float4"),
    ("float8_ops", "float_ops", "float8"),
    ("numeric_ops", "numeric_ops", "numeric"),
    ("bool_ops", "bool_ops", "bool"),
    ("bytea_ops", "bytea_ops", "bytea"),
    ("date_ops", "datetime_ops", "date"),
    ("timestamp_ops", "datetime_ops", "timestamp"),
    ("timestamptz_ops", "datetime_ops", "timestamptz"),
    ("time_ops", "time_ops", "time"),
    ("interval_ops", "interval_ops", "interval"),
    ("uuid_ops", "uuid_ops", "uuid"),
    ("jsonb_ops", "jsonb_ops", "jsonb"),
    ("array_ops", "array_ops", "anyarray"),
];

/// The btree input type an operator class must take for a value of `ty`.
fn opclass_input(ty: &DataType) -> &'static str {
    match ty {
        DataType::Text | DataType::Varchar(_) | DataType::Unknown => "text",
        DataType::Char(_) => "bpchar",
        DataType::Int2 => "int2",
        DataType::Int4 => "int4",
        DataType::Int8 => "int8",
        DataType::Float4 => "float4",
        DataType::Float8 => "float8",
        DataType::Numeric(_) => "numeric",
        DataType::Bool => "bool",
        DataType::Bytea => "bytea",
        DataType::Date => "date",
        DataType::Timestamp => "timestamp",
        DataType::Timestamptz => "timestamptz",
        DataType::Time => "time",
        DataType::Interval => "interval",
        DataType::Uuid => "uuid",
        DataType::Json | DataType::Jsonb => "jsonb",
        DataType::Array(_) => "anyarray",
        DataType::Composite(_) => "record",
    }
}

/// An operator class named for a key of type `ty`: its family and input
/// type (`family/input`), None when it is the type's default class.
pub fn opclass(name: &ast::ObjectName, ty: &DataType) -> Result<Option<String>> {
    let parts = object_name_parts(name)?;
    let n = parts.last().cloned().unwrap_or_default();
    let Some(&(_, family, input)) = OPCLASSES.iter().find(|(o, _, _)| *o == n) else {
        return Err(Error::new(
            SqlState::UNDEFINED_OBJECT,
            format!("operator class \"{n}\" does not exist for access method \"btree\""),
        ));
    };
    if input != opclass_input(ty) {
        return Err(Error::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "operator class \"{n}\" does not accept data type {}",
                ty.name()
            ),
        ));
    }
    let default = OPCLASSES
        .iter()
        .find(|(_, _, i)| *i == input)
        .map(|(_, f, _)| *f);
    Ok((default != Some(family)).then(|| format!("{family}/{input}")))
}

/// A bound ON CONFLICT inference specification.
pub struct Inference {
    elems: Vec<InferElem>,
    where_conjuncts: Vec<Expr>,
}

/// An inference element: a key, and whether it named a collation or an
/// operator class (only then must an index key match them).
struct InferElem {
    key: BoundKey,
    collation_given: bool,
    opclass_given: bool,
}

/// A key of an index or an inference specification, bound over the table.
#[derive(Clone, Debug)]
pub struct BoundKey {
    pub expr: Expr,
    pub ty: DataType,
    pub collation: Option<String>,
    pub opclass: Option<String>,
}

/// The expression under a `COLLATE` clause, and the collation.
pub fn split_collate(e: &ast::Expr) -> (&ast::Expr, Option<&ast::ObjectName>) {
    match e {
        ast::Expr::Collate { expr, collation } => (expr, Some(collation)),
        other => (other, None),
    }
}

/// The name PostgreSQL gives an index key in a generated index name: the
/// column, the function called, or `expr`.
pub fn key_name_part(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(i) => ident(i),
        ast::Expr::CompoundIdentifier(ids) => ids.last().map(ident).unwrap_or_default(),
        ast::Expr::Nested(inner) => key_name_part(inner),
        ast::Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident)
            .unwrap_or_else(|| "expr".into()),
        _ => "expr".into(),
    }
}

/// Fails unless an index expression or predicate may be evaluated for any
/// row at any time: no subquery, no aggregate, only immutable functions.
fn check_immutable(x: &Expr, what: &str) -> Result<()> {
    if x.has_subquery() {
        return Err(Error::unsupported(format!("cannot use subquery in {what}")));
    }
    let mut stable = false;
    x.walk(&mut |e| {
        if let Expr::Function(f, _) = e
            && (f.is_volatile() || !f.is_immutable())
        {
            stable = true;
        }
    });
    if stable || !x.is_deterministic() {
        return Err(Error::new(
            SqlState::INVALID_OBJECT_DEFINITION,
            format!("functions in {what} must be marked IMMUTABLE"),
        ));
    }
    Ok(())
}

impl Binder<'_> {
    /// Binds one index key (an expression of `table`, with optional
    /// collation and operator class).
    pub fn bind_index_key(
        &self,
        table: &TableDef,
        e: &ast::Expr,
        collation: Option<&ast::ObjectName>,
        opclass: Option<&ast::ObjectName>,
    ) -> Result<BoundKey> {
        let scope = Scope::for_table(table, &table.name);
        let (expr, ty) = self.bind_expr(e, &scope).map_err(|err| {
            if super::expr::is_agg_found(&err) {
                Error::new(
                    SqlState::GROUPING_ERROR,
                    "aggregate functions are not allowed in index expressions",
                )
            } else {
                err
            }
        })?;
        if !matches!(expr, Expr::Column(_)) {
            check_immutable(&expr, "index expression")?;
        }
        Ok(BoundKey {
            collation: collation
                .map(|c| collation_of(c, &ty))
                .transpose()?
                .flatten(),
            opclass: opclass
                .map(|o| self::opclass(o, &ty))
                .transpose()?
                .flatten(),
            expr,
            ty,
        })
    }

    /// Binds a partial index's predicate over `table`.
    pub fn bind_index_predicate(&self, table: &TableDef, e: &ast::Expr) -> Result<Expr> {
        let scope = Scope::for_table(table, &table.name);
        let x = self.bind_expr(e, &scope).map_err(|err| {
            if super::expr::is_agg_found(&err) {
                Error::new(
                    SqlState::GROUPING_ERROR,
                    "aggregate functions are not allowed in index predicates",
                )
            } else {
                err
            }
        })?;
        let x = self.expect_bool(x.0, x.1, "WHERE")?;
        check_immutable(&x, "index predicate")?;
        Ok(x)
    }

    /// The keys of an existing index, bound over its table.
    fn index_keys(&self, table: &TableDef, ix: &IndexDef) -> Result<Vec<BoundKey>> {
        if ix.keys.is_empty() {
            return Ok(ix
                .columns
                .iter()
                .map(|&c| BoundKey {
                    expr: Expr::Column(c),
                    ty: table.columns[c].ty.clone(),
                    collation: None,
                    opclass: None,
                })
                .collect());
        }
        let scope = Scope::for_table(table, &table.name);
        ix.keys
            .iter()
            .map(|k: &IndexKey| {
                let (expr, ty) = match (&k.expr, k.column) {
                    (Some(text), _) => self.bind_expr(&parser::parse_expr(text)?, &scope)?,
                    (None, Some(c)) => (Expr::Column(c), table.columns[c].ty.clone()),
                    (None, None) => return Err(Error::corrupted("index key without column")),
                };
                Ok(BoundKey {
                    expr,
                    ty,
                    collation: k.collation.clone(),
                    opclass: k.opclass.clone(),
                })
            })
            .collect()
    }

    /// Binds an ON CONFLICT inference specification `elems [WHERE
    /// predicate]` over the target table (named `alias`).
    /// `excluded`: the statement has DO UPDATE, whose EXCLUDED is then
    /// known (not reachable) here.
    pub fn bind_inference(
        &self,
        table: &TableDef,
        alias: &str,
        elems: &[InferenceElem],
        predicate: Option<&ast::Expr>,
        excluded: bool,
    ) -> Result<Inference> {
        let mut scope = Scope::for_table(table, alias);
        if excluded {
            scope.extend(Scope::unreachable_table(table, "excluded"));
        }
        let mut infer = Vec::new();
        for el in elems {
            let (expr, ty) = self.bind_expr(&el.expr, &scope)?;
            let collation = match &el.collation {
                Some(c) => collation(c, &ty)?,
                None => None,
            };
            let opclass = match &el.opclass {
                Some(o) => self::opclass(o, &ty)?,
                None => None,
            };
            infer.push(InferElem {
                key: BoundKey {
                    expr,
                    ty,
                    collation,
                    opclass,
                },
                collation_given: el.collation.is_some(),
                opclass_given: el.opclass.is_some(),
            });
        }
        let where_conjuncts = match predicate {
            Some(p) => self.bind_predicate(p, &scope, "WHERE")?.conjuncts(),
            None => Vec::new(),
        };
        Ok(Inference {
            elems: infer,
            where_conjuncts,
        })
    }

    /// ON CONFLICT's arbiters for a bound inference specification: the names
    /// of the unique constraints (primary key and unique indexes) it
    /// matches, as PostgreSQL's `infer_arbiter_indexes` decides; 42P10 when
    /// there is none.
    pub fn infer_arbiters(&self, table: &TableDef, spec: &Inference) -> Result<Vec<String>> {
        let infer = &spec.elems;
        let infer_keys: Vec<BoundKey> = infer.iter().map(|e| e.key.clone()).collect();
        let where_conjuncts = &spec.where_conjuncts;
        let plain = |keys: &[BoundKey]| {
            let mut v: Vec<usize> = keys
                .iter()
                .filter_map(|k| match k.expr {
                    Expr::Column(c) => Some(c),
                    _ => None,
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let infer_attrs = plain(&infer_keys);
        let infer_exprs: Vec<&Expr> = infer_keys
            .iter()
            .map(|k| &k.expr)
            .filter(|e| !matches!(e, Expr::Column(_)))
            .collect();
        // The primary key is a unique index too.
        let mut candidates: Vec<(String, Vec<BoundKey>, Option<Expr>)> = Vec::new();
        if !table.primary_key.is_empty() {
            let keys = table
                .primary_key
                .iter()
                .map(|&c| BoundKey {
                    expr: Expr::Column(c),
                    ty: table.columns[c].ty.clone(),
                    collation: None,
                    opclass: None,
                })
                .collect();
            let name = table
                .pk_name
                .clone()
                .unwrap_or_else(|| format!("{}_pkey", table.name));
            candidates.push((name, keys, None));
        }
        for ix in self.catalog.index_iter(table.id).filter(|i| i.unique) {
            let pred = match &ix.predicate {
                Some(text) => Some(self.bind_index_predicate(table, &parser::parse_expr(text)?)?),
                None => None,
            };
            candidates.push((ix.name.clone(), self.index_keys(table, ix)?, pred));
        }
        let mut out = Vec::new();
        'index: for (name, keys, pred) in candidates {
            if plain(&keys) != infer_attrs {
                continue;
            }
            for el in infer {
                if !collation_opclass_match(el, &keys) {
                    continue 'index;
                }
                if matches!(el.key.expr, Expr::Column(_)) || el.collation_given || el.opclass_given
                {
                    continue;
                }
                if !keys.iter().any(|k| k.expr == el.key.expr) {
                    continue 'index;
                }
            }
            let index_exprs = keys.iter().filter(|k| !matches!(k.expr, Expr::Column(_)));
            for k in index_exprs {
                if !infer_exprs.contains(&&k.expr) {
                    continue 'index;
                }
            }
            if let Some(p) = pred
                && !p
                    .conjuncts()
                    .iter()
                    .all(|c| where_conjuncts.iter().any(|w| implies(w, c)))
            {
                continue;
            }
            out.push(name);
        }
        if out.is_empty() {
            return Err(Error::new(
                SqlState::INVALID_COLUMN_REFERENCE,
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            ));
        }
        Ok(out)
    }
}

fn collation_of(c: &ast::ObjectName, ty: &DataType) -> Result<Option<String>> {
    collation(c, ty)
}

/// Whether an inference element's collation and operator class (when it
/// names them) match some key of the index on the same column or expression
/// (PostgreSQL's `infer_collation_opclass_match`). Both sides hold None for
/// the type's default collation and class.
fn collation_opclass_match(el: &InferElem, keys: &[BoundKey]) -> bool {
    if !el.collation_given && !el.opclass_given {
        return true;
    }
    keys.iter().any(|k| {
        (!el.opclass_given || el.key.opclass == k.opclass)
            && (!el.collation_given || el.key.collation == k.collation)
            && k.expr == el.key.expr
    })
}

/// Whether the clause `w` (a conjunct of ON CONFLICT's WHERE) implies `c` (a
/// conjunct of an index predicate): the same expression, or comparisons of
/// one expression with constants where the first range lies within the
/// second (`x > 1` implies `x > 0`), as PostgreSQL's btree proofs allow.
fn implies(w: &Expr, c: &Expr) -> bool {
    if w == c {
        return true;
    }
    let (Some((lw, ow, vw)), Some((lc, oc, vc))) = (comparison(w), comparison(c)) else {
        return false;
    };
    if lw != lc {
        return false;
    }
    let Some(ord) = vw.sql_cmp(vc) else {
        return false;
    };
    use BinaryOp::*;
    // w: x ow vw; c: x oc vc. Holds when every x satisfying w satisfies c.
    match (ow, oc) {
        (Eq, Eq) => ord == Ordering::Equal,
        (Eq, Lt) | (Lt, Lt) | (Lt, LtEq) => ord.is_lt() || (ow == Lt && ord.is_eq()),
        (Eq, LtEq) | (LtEq, LtEq) => ord.is_le(),
        (LtEq, Lt) => ord.is_lt(),
        (Eq, Gt) | (Gt, Gt) | (Gt, GtEq) => ord.is_gt() || (ow == Gt && ord.is_eq()),
        (Eq, GtEq) | (GtEq, GtEq) => ord.is_ge(),
        (GtEq, Gt) => ord.is_gt(),
        (Eq, NotEq) => ord != Ordering::Equal,
        _ => false,
    }
}

/// `expr op constant` (or `constant op expr`, turned around).
fn comparison(e: &Expr) -> Option<(&Expr, BinaryOp, &Value)> {
    let Expr::Binary(op, l, r) = e else {
        return None;
    };
    use BinaryOp::*;
    let flipped = |op: BinaryOp| match op {
        Lt => Gt,
        LtEq => GtEq,
        Gt => Lt,
        GtEq => LtEq,
        other => other,
    };
    if !matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq) {
        return None;
    }
    match (l.as_ref(), r.as_ref()) {
        (x, Expr::Literal(v)) if !v.is_null() => Some((x, *op, v)),
        (Expr::Literal(v), x) if !v.is_null() => Some((x, flipped(*op), v)),
        _ => None,
    }
}
