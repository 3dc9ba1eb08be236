//! Hash aggregation: groups rows by key and folds aggregate accumulators.

use super::{Row, RowIter, compare_for_sort};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::{EvalCtx, Expr};
use crate::sql::plan::{AggCall, AggFunc};
use crate::types::{BinaryOp, DataType, Value};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Running state of one aggregate in one group.
#[derive(Clone)]
pub(super) struct Acc {
    state: State,
    seen: Option<HashSet<Vec<Value>>>,
    /// With ORDER BY inside the call: the inputs (sort keys, arguments),
    /// folded in key order when the group is finished.
    ordered: Option<Vec<(Vec<Value>, Vec<Value>)>>,
}

/// True for a DISTINCT string_agg / array_agg without ORDER BY: PostgreSQL
/// sorts the inputs of DISTINCT aggregates by their arguments (NULLs last),
/// so these come out in argument order.
fn sorts_distinct(call: &AggCall) -> bool {
    call.distinct
        && call.order_by.is_empty()
        && matches!(call.func, AggFunc::StringAgg | AggFunc::ArrayAgg)
}

/// The ORDER BY keys of an aggregate call: (key, descending, nulls first).
fn order_keys(call: &AggCall) -> impl Iterator<Item = (&Expr, bool, bool)> {
    call.order_by
        .iter()
        .map(|k| (&k.expr, k.desc, k.nulls_first))
}

#[derive(Clone)]
enum State {
    Count(i64),
    /// Sum (and count) of integer inputs, exact in 128 bits.
    IntSum(i128, i64),
    Sum(Value),
    Avg(Value, i64),
    MinMax(Value),
    Bool(Option<bool>),
    Str(Option<String>),
    Array(Vec<Value>),
}

impl Acc {
    pub(super) fn new(call: &AggCall) -> Acc {
        let state = match call.func {
            AggFunc::CountStar | AggFunc::Count => State::Count(0),
            AggFunc::Sum | AggFunc::Avg if call.args.len() == 1 && int_input(call) => {
                State::IntSum(0, 0)
            }
            AggFunc::Sum => State::Sum(Value::Null),
            AggFunc::Avg => State::Avg(Value::Null, 0),
            AggFunc::Min | AggFunc::Max => State::MinMax(Value::Null),
            AggFunc::BoolAnd | AggFunc::BoolOr => State::Bool(None),
            AggFunc::StringAgg => State::Str(None),
            AggFunc::ArrayAgg => State::Array(Vec::new()),
        };
        Acc {
            state,
            seen: call.distinct.then(HashSet::new),
            ordered: (!call.order_by.is_empty() || sorts_distinct(call)).then(Vec::new),
        }
    }

    pub(super) fn add(&mut self, call: &AggCall, row: &[Value], ctx: &EvalCtx) -> Result<()> {
        if let Some(f) = &call.filter
            && !f.eval_pred(row, ctx)?
        {
            return Ok(());
        }
        if self.seen.is_none() && self.ordered.is_none() && call.args.len() <= 1 {
            // The common case (count(*), sum(x), ...): no argument list.
            let v = match call.args.first() {
                Some(a) => a.eval(row, ctx)?,
                None => Value::Null,
            };
            if v.is_null() && !matches!(call.func, AggFunc::CountStar | AggFunc::ArrayAgg) {
                return Ok(());
            }
            return self.add_value(call, v, &[]);
        }
        let args = Expr::eval_all(&call.args, row, ctx)?;
        if let Some(seen) = &mut self.seen
            && !seen.insert(args.clone())
        {
            return Ok(());
        }
        let v = args.first().cloned().unwrap_or(Value::Null);
        // Every aggregate but count(*) and array_agg skips NULL inputs.
        if v.is_null() && !matches!(call.func, AggFunc::CountStar | AggFunc::ArrayAgg) {
            return Ok(());
        }
        if let Some(buf) = &mut self.ordered {
            let keys = if sorts_distinct(call) {
                args.clone()
            } else {
                order_keys(call)
                    .map(|(k, _, _)| k.eval(row, ctx))
                    .collect::<Result<_>>()?
            };
            buf.push((keys, args));
            return Ok(());
        }
        self.add_value(call, v, &args)
    }

    fn add_value(&mut self, call: &AggCall, v: Value, args: &[Value]) -> Result<()> {
        match &mut self.state {
            State::Count(n) => *n += 1,
            State::IntSum(sum, n) => match v.as_i64() {
                Some(i) => {
                    *sum += i as i128;
                    *n += 1;
                }
                None => {
                    // A non-integer input after all: continue in the general representation.
                    let count = *n;
                    let so_far = (count > 0)
                        .then(|| {
                            rust_decimal::Decimal::try_from_i128_with_scale(*sum, 0)
                                .map(Value::Numeric)
                        })
                        .transpose()
                        .map_err(|_| Error::out_of_range("numeric"))?
                        .unwrap_or(Value::Null);
                    self.state = if call.func == AggFunc::Sum {
                        State::Sum(so_far)
                    } else {
                        State::Avg(so_far, count)
                    };
                    return self.add_value(call, v, args);
                }
            },
            State::Sum(s) => {
                let v = widen(v, &call.ty)?;
                *s = if s.is_null() {
                    v
                } else {
                    BinaryOp::Plus.eval(s, &v)?
                };
            }
            State::Avg(s, n) => {
                let target = match call.ty {
                    DataType::Float8 => DataType::Float8,
                    DataType::Interval => DataType::Interval,
                    _ => DataType::Numeric(None),
                };
                let v = widen(v, &target)?;
                *s = if s.is_null() {
                    v
                } else {
                    BinaryOp::Plus.eval(s, &v)?
                };
                *n += 1;
            }
            State::MinMax(m) => {
                let better = m.is_null()
                    || match call.func {
                        AggFunc::Min => v < *m,
                        _ => v > *m,
                    };
                if better {
                    *m = v;
                }
            }
            State::Bool(b) => {
                let x = matches!(v, Value::Bool(true));
                *b = Some(match (*b, call.func) {
                    (None, _) => x,
                    (Some(p), AggFunc::BoolAnd) => p && x,
                    (Some(p), _) => p || x,
                });
            }
            State::Str(s) => {
                let delim = args.get(1).filter(|d| !d.is_null()).map(|d| d.to_string());
                match s {
                    None => *s = Some(v.to_string()),
                    Some(acc) => {
                        if let Some(d) = delim {
                            acc.push_str(&d);
                        }
                        acc.push_str(&v.to_string());
                    }
                }
            }
            State::Array(items) => items.push(v),
        }
        Ok(())
    }

    pub(super) fn finish(mut self, call: &AggCall) -> Result<Value> {
        if let Some(mut buf) = self.ordered.take() {
            let dirs: Vec<(bool, bool)> = if sorts_distinct(call) {
                vec![(false, false); call.args.len()]
            } else {
                order_keys(call).map(|(_, d, n)| (d, n)).collect()
            };
            buf.sort_by(|(a, _), (b, _)| {
                for (i, (desc, nulls_first)) in dirs.iter().enumerate() {
                    let o = compare_for_sort(&a[i], &b[i], *desc, *nulls_first);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
            for (_, args) in buf {
                let v = args.first().cloned().unwrap_or(Value::Null);
                self.add_value(call, v, &args)?;
            }
        }
        Ok(match self.state {
            State::Count(n) => Value::Int8(n),
            State::IntSum(_, 0) => Value::Null,
            State::IntSum(sum, n) => {
                let total = rust_decimal::Decimal::try_from_i128_with_scale(sum, 0)
                    .map_err(|_| Error::out_of_range("numeric"))?;
                match (call.func, &call.ty) {
                    (AggFunc::Sum, DataType::Int8) => {
                        Value::Int8(i64::try_from(sum).map_err(|_| Error::out_of_range("bigint"))?)
                    }
                    (AggFunc::Sum, _) => Value::Numeric(total),
                    _ => BinaryOp::Divide.eval(
                        &Value::Numeric(total),
                        &Value::Numeric(rust_decimal::Decimal::from(n)),
                    )?,
                }
            }
            State::Sum(s) => s,
            State::Avg(s, n) => {
                if n == 0 {
                    Value::Null
                } else {
                    let count = match &s {
                        Value::Float8(_) => Value::Float8(n as f64),
                        Value::Interval(_) => Value::Float8(n as f64),
                        _ => Value::Numeric(rust_decimal::Decimal::from(n)),
                    };
                    BinaryOp::Divide.eval(&s, &count)?
                }
            }
            State::MinMax(m) => m,
            State::Bool(b) => b.map(Value::Bool).unwrap_or(Value::Null),
            State::Str(s) => s.map(Value::Text).unwrap_or(Value::Null),
            State::Array(items) => {
                if items.is_empty() {
                    Value::Null
                } else {
                    let elem = match &call.ty {
                        DataType::Array(e) => (**e).clone(),
                        other => other.clone(),
                    };
                    Value::Array(elem, items)
                }
            }
        })
    }
}

/// True when the aggregate's result type is what integer inputs produce
/// (other inputs switch to the general accumulator on their first value).
fn int_input(call: &AggCall) -> bool {
    matches!(call.ty, DataType::Int8 | DataType::Numeric(None))
}

/// Casts an input to the accumulator type (so int4 sums accumulate in int8).
fn widen(v: Value, ty: &DataType) -> Result<Value> {
    if v.data_type() == *ty {
        return Ok(v);
    }
    match ty {
        DataType::Numeric(_) | DataType::Int8 | DataType::Float8 | DataType::Float4 => v.cast(ty),
        _ => Ok(v),
    }
}

/// Groups `input` by `group_by` and evaluates `aggs`; output rows are
/// group values followed by aggregate results, in first-seen group order.
pub fn aggregate(
    input: RowIter,
    group_by: &[Expr],
    aggs: &[AggCall],
    ctx: &EvalCtx,
) -> Result<Vec<Row>> {
    if group_by.is_empty() {
        // One group: no keys to hash.
        let mut accs: Vec<Acc> = aggs.iter().map(Acc::new).collect();
        for r in input {
            let row = r?;
            for (acc, call) in accs.iter_mut().zip(aggs) {
                acc.add(call, &row, ctx)?;
            }
        }
        let mut out = Vec::with_capacity(aggs.len());
        for (acc, call) in accs.into_iter().zip(aggs) {
            out.push(acc.finish(call)?);
        }
        return Ok(vec![out]);
    }
    let mut index: HashMap<Vec<Value>, usize> = HashMap::new();
    let mut groups: Vec<(Vec<Value>, Vec<Acc>)> = Vec::new();
    // The key is built in one buffer and copied only for a new group.
    let mut key: Vec<Value> = Vec::with_capacity(group_by.len());
    for r in input {
        let row = r?;
        key.clear();
        for g in group_by {
            key.push(g.eval(&row, ctx)?);
        }
        let gi = match index.get(&key) {
            Some(i) => *i,
            None => {
                if groups.len() >= 50_000_000 {
                    return Err(Error::new(
                        SqlState::PROGRAM_LIMIT_EXCEEDED,
                        "too many groups",
                    ));
                }
                groups.push((key.clone(), aggs.iter().map(Acc::new).collect()));
                index.insert(key.clone(), groups.len() - 1);
                groups.len() - 1
            }
        };
        for (acc, call) in groups[gi].1.iter_mut().zip(aggs) {
            acc.add(call, &row, ctx)?;
        }
    }
    if groups.is_empty() && group_by.is_empty() {
        groups.push((vec![], aggs.iter().map(Acc::new).collect()));
    }
    groups
        .into_iter()
        .map(|(mut key, accs)| {
            for (acc, call) in accs.into_iter().zip(aggs) {
                key.push(acc.finish(call)?);
            }
            Ok(key)
        })
        .collect()
}
