//! SortElimination: an ORDER BY that a scan's key order already satisfies
//! needs no sort. Under LIMIT, a full scan switches to a secondary index
//! whose order matches, so only the first rows are read.
//!
//! Keys order NULLs last (the encoding puts NULL after every value), which is
//! PostgreSQL's default for ASC; read backwards they come first, the default
//! for DESC. So a sort key qualifies when its NULL placement is the default.

use super::{Rule, map_children};
use crate::sql::expr::Expr;
use crate::sql::plan::{Access, Plan, Scan, SortKey};
use crate::types::DataType;

pub struct SortElimination;

impl Rule for SortElimination {
    fn name(&self) -> &'static str {
        "sort_elimination"
    }

    fn apply(&self, plan: Plan) -> Plan {
        eliminate(plan, false)
    }
}

fn eliminate(plan: Plan, limited: bool) -> Plan {
    match plan {
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let limited = limit.is_some();
            Plan::Limit {
                input: Box::new(eliminate(*input, limited)),
                limit,
                offset,
            }
        }
        Plan::Truncate { input, keep } => Plan::Truncate {
            input: Box::new(eliminate(*input, limited)),
            keep,
        },
        Plan::Sort { input, keys } => match *input {
            Plan::Project {
                input: scan,
                exprs,
                columns,
            } if matches!(*scan, Plan::Scan(_)) => {
                let Plan::Scan(s) = *scan else {
                    unreachable!("matched above")
                };
                match ordered_scan(&s, &keys, &exprs, limited) {
                    Some(s) => Plan::Project {
                        input: Box::new(Plan::Scan(s)),
                        exprs,
                        columns,
                    },
                    None => Plan::Sort {
                        input: Box::new(Plan::Project {
                            input: Box::new(Plan::Scan(s)),
                            exprs,
                            columns,
                        }),
                        keys,
                    },
                }
            }
            other => Plan::Sort {
                input: Box::new(eliminate(other, false)),
                keys,
            },
        },
        other => map_children(other, &|p| eliminate(p, false)),
    }
}

/// Whether keys of type `ty` are encoded in the order ORDER BY sorts its
/// values. Arrays and records are keyed by their row encoding (which only
/// serves equality), JSON by its text.
fn key_order_is_sort_order(ty: &DataType) -> bool {
    !matches!(
        ty,
        DataType::Array(_) | DataType::Composite(_) | DataType::Json | DataType::Jsonb
    )
}

/// The scan, reading in the order of `keys` (over the projection `exprs`),
/// if its key order can provide it.
fn ordered_scan(s: &Scan, keys: &[SortKey], exprs: &[Expr], limited: bool) -> Option<Scan> {
    let mut cols = Vec::with_capacity(keys.len());
    let desc = keys.first()?.desc;
    for k in keys {
        if k.desc != desc || k.nulls_first != k.desc {
            return None;
        }
        let Expr::Column(i) = k.expr else {
            return None;
        };
        let Expr::Column(c) = exprs.get(i)? else {
            return None;
        };
        if !key_order_is_sort_order(&s.table.columns.get(*c)?.ty) {
            return None;
        }
        cols.push(*c);
    }
    let pk = &s.table.primary_key;
    let prefix_of = |order: &[usize]| cols.len() <= order.len() && order[..cols.len()] == cols[..];
    let with = |access: Option<Access>| {
        let mut s = s.clone();
        if let Some(a) = access {
            s.access = a;
        }
        s.reverse = desc;
        s
    };
    match &s.access {
        Access::Full if !pk.is_empty() && prefix_of(pk) => Some(with(None)),
        Access::Full if limited => s
            .indexes
            .iter()
            .find(|ix| {
                // Entries are ordered by the index columns, then the primary key.
                let mut order = ix.columns.clone();
                order.extend(pk.iter().copied());
                prefix_of(&order)
            })
            .map(|ix| {
                with(Some(Access::Index {
                    index: Some(ix.clone()),
                    eq: vec![],
                    lower: None,
                    upper: None,
                    in_list: None,
                }))
            }),
        Access::Index {
            index,
            eq,
            in_list: None,
            ..
        } => {
            // After the equality prefix, rows come in the order of the
            // remaining key columns (a secondary index then by primary key).
            let mut order: Vec<usize> = match index {
                None => pk.clone(),
                Some(ix) => ix.columns.clone(),
            };
            if index.is_some() {
                order.extend(pk.iter().copied());
            }
            let rest = order.get(eq.len()..)?;
            // Equality-bound columns may also appear in ORDER BY: skip them.
            let bound = &order[..eq.len()];
            let wanted: Vec<usize> = cols
                .iter()
                .copied()
                .filter(|c| !bound.contains(c))
                .collect();
            (wanted.len() <= rest.len() && rest[..wanted.len()] == wanted[..]).then(|| with(None))
        }
        _ => None,
    }
}
