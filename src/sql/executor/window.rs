//! Window functions: ranking, offsets, first/last/nth value and aggregates
//! over frames (ROWS, RANGE, GROUPS).
//!
//! The input is materialised. For each call, rows are ordered by partition
//! keys then the window's ORDER BY; each partition is walked once. An
//! aggregate whose frame starts at the partition's first row accumulates
//! as the frame end advances; other frames are folded afresh per row.

use super::agg::Acc;
use super::{Row, compare_for_sort};
use crate::error::{Error, Result, SqlState};
use crate::sql::expr::{EvalCtx, Expr};
use crate::sql::functions::value_to_i64;
use crate::sql::plan::{FrameBound, FrameUnits, WindowCall, WindowFunc};
use crate::types::{BinaryOp, Value};
use std::cmp::Ordering;

/// Appends one column per call to every row.
pub(super) fn window(mut rows: Vec<Row>, calls: &[WindowCall], ctx: &EvalCtx) -> Result<Vec<Row>> {
    for call in calls {
        let values = compute(&rows, call, ctx)?;
        for (row, v) in rows.iter_mut().zip(values) {
            row.push(v);
        }
    }
    Ok(rows)
}

fn compute(rows: &[Row], call: &WindowCall, ctx: &EvalCtx) -> Result<Vec<Value>> {
    let n = rows.len();
    let mut parts = Vec::with_capacity(n);
    let mut orders = Vec::with_capacity(n);
    for row in rows {
        parts.push(Expr::eval_all(&call.partition_by, row, ctx)?);
        let mut keys = Vec::with_capacity(call.order_by.len());
        for k in &call.order_by {
            keys.push(k.expr.eval(row, ctx)?);
        }
        orders.push(keys);
    }
    let cmp_order = |a: usize, b: usize| {
        for (i, k) in call.order_by.iter().enumerate() {
            let o = compare_for_sort(&orders[a][i], &orders[b][i], k.desc, k.nulls_first);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| {
        parts[a]
            .iter()
            .zip(&parts[b])
            .map(|(x, y)| compare_for_sort(x, y, false, false))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
            .then_with(|| cmp_order(a, b))
    });
    let offset = |b: &FrameBound| -> Result<Option<Value>> {
        match b {
            FrameBound::Preceding(e) | FrameBound::Following(e) => {
                let v = e.eval(&[], ctx)?;
                if v.is_null() {
                    return Err(Error::new(
                        SqlState::NULL_VALUE_NOT_ALLOWED,
                        "frame starting offset must not be null",
                    ));
                }
                Ok(Some(v))
            }
            _ => Ok(None),
        }
    };
    let start_off = offset(&call.frame.start)?;
    let end_off = offset(&call.frame.end)?;
    let mut out = vec![Value::Null; n];
    let mut p = 0;
    while p < n {
        let mut q = p + 1;
        while q < n && parts[idx[q]] == parts[idx[p]] {
            q += 1;
        }
        let part = &idx[p..q];
        // Peer groups: peer[i] = index of the group of position i.
        let mut group_start = Vec::new();
        let mut peer = Vec::with_capacity(part.len());
        for i in 0..part.len() {
            if i == 0 || cmp_order(part[i - 1], part[i]) != Ordering::Equal {
                group_start.push(i);
            }
            peer.push(group_start.len() - 1);
        }
        let group_end = |g: usize| group_start.get(g + 1).copied().unwrap_or(part.len());
        let frame = Frame {
            call,
            orders: &orders,
            part,
            peer: &peer,
            group_start: &group_start,
            start_off: start_off.as_ref(),
            end_off: end_off.as_ref(),
        };
        let m = part.len();
        match &call.func {
            WindowFunc::Agg(_) => aggregate(rows, part, &frame, call, ctx, &mut out)?,
            func => {
                for (i, &r) in part.iter().enumerate() {
                    let g = peer[i];
                    out[r] = match func {
                        WindowFunc::RowNumber => Value::Int8(i as i64 + 1),
                        WindowFunc::Rank => Value::Int8(group_start[g] as i64 + 1),
                        WindowFunc::DenseRank => Value::Int8(g as i64 + 1),
                        WindowFunc::PercentRank => Value::Float8(if m > 1 {
                            group_start[g] as f64 / (m - 1) as f64
                        } else {
                            0.0
                        }),
                        WindowFunc::CumeDist => Value::Float8(group_end(g) as f64 / m as f64),
                        WindowFunc::Ntile => {
                            let buckets = positive_arg(
                                call,
                                rows,
                                r,
                                ctx,
                                0,
                                SqlState::INVALID_ARGUMENT_FOR_NTILE,
                                "argument of ntile",
                            )?;
                            ntile(i, m, buckets)
                        }
                        WindowFunc::Lag | WindowFunc::Lead => {
                            let off = match call.args.get(1) {
                                Some(e) => value_to_i64(&e.eval(&rows[r], ctx)?)?,
                                None => Some(1),
                            };
                            match off {
                                None => Value::Null,
                                Some(off) => {
                                    let target = if *func == WindowFunc::Lag {
                                        i as i64 - off
                                    } else {
                                        i as i64 + off
                                    };
                                    if target >= 0 && (target as usize) < m {
                                        call.args[0].eval(&rows[part[target as usize]], ctx)?
                                    } else {
                                        match call.args.get(2) {
                                            Some(d) => d.eval(&rows[r], ctx)?,
                                            None => Value::Null,
                                        }
                                    }
                                }
                            }
                        }
                        WindowFunc::FirstValue | WindowFunc::LastValue | WindowFunc::NthValue => {
                            let (s, e) = frame.bounds(i)?;
                            let pick = match func {
                                WindowFunc::FirstValue => (s < e).then_some(s),
                                WindowFunc::LastValue => (s < e).then(|| e - 1),
                                _ => {
                                    let k = positive_arg(
                                        call,
                                        rows,
                                        r,
                                        ctx,
                                        1,
                                        SqlState::INVALID_ARGUMENT_FOR_NTH_VALUE,
                                        "argument of nth_value",
                                    )?;
                                    let at = s + (k as usize - 1);
                                    (at < e).then_some(at)
                                }
                            };
                            match pick {
                                Some(j) => call.args[0].eval(&rows[part[j]], ctx)?,
                                None => Value::Null,
                            }
                        }
                        WindowFunc::Agg(_) => unreachable!("handled above"),
                    };
                }
            }
        }
        p = q;
    }
    Ok(out)
}

/// An integer argument that must be positive (ntile's buckets, nth_value's n).
#[allow(clippy::too_many_arguments)]
fn positive_arg(
    call: &WindowCall,
    rows: &[Row],
    r: usize,
    ctx: &EvalCtx,
    arg: usize,
    code: SqlState,
    what: &str,
) -> Result<i64> {
    let v = call
        .args
        .get(arg)
        .ok_or_else(|| Error::internal("window function argument missing"))?
        .eval(&rows[r], ctx)?;
    match value_to_i64(&v)? {
        Some(k) if k > 0 => Ok(k),
        _ => Err(Error::new(
            code,
            format!("{what} must be greater than zero"),
        )),
    }
}

fn ntile(i: usize, m: usize, buckets: i64) -> Value {
    let b = (buckets as usize).min(m.max(1));
    let small = m / b;
    let large = m % b; // the first `large` buckets get one extra row
    let cut = large * (small + 1);
    let bucket = if i < cut {
        i / (small + 1)
    } else {
        large + (i - cut) / small.max(1)
    };
    Value::Int4(bucket as i32 + 1)
}

/// The frame of each row of one partition.
struct Frame<'a> {
    call: &'a WindowCall,
    orders: &'a [Vec<Value>],
    part: &'a [usize],
    peer: &'a [usize],
    group_start: &'a [usize],
    start_off: Option<&'a Value>,
    end_off: Option<&'a Value>,
}

impl Frame<'_> {
    /// Half-open range `[start, end)` of partition positions in row `i`'s frame.
    fn bounds(&self, i: usize) -> Result<(usize, usize)> {
        let m = self.part.len();
        let s = self.position(i, &self.call.frame.start, self.start_off, true)?;
        let e = self.position(i, &self.call.frame.end, self.end_off, false)?;
        Ok((s.min(m), e.min(m).max(s.min(m))))
    }

    fn group_end(&self, g: usize) -> usize {
        self.group_start
            .get(g + 1)
            .copied()
            .unwrap_or(self.part.len())
    }

    /// A frame edge as a position: the first row in the frame for the start,
    /// one past the last for the end.
    fn position(
        &self,
        i: usize,
        b: &FrameBound,
        off: Option<&Value>,
        start: bool,
    ) -> Result<usize> {
        let m = self.part.len();
        let g = self.peer[i];
        let count = |v: &Value| -> Result<usize> {
            match value_to_i64(v)? {
                Some(k) if k >= 0 => Ok(k as usize),
                _ => Err(Error::new(
                    SqlState::INVALID_PRECEDING_OR_FOLLOWING_SIZE,
                    "frame offset must not be negative",
                )),
            }
        };
        Ok(match (b, self.call.frame.units) {
            (FrameBound::UnboundedPreceding, _) => 0,
            (FrameBound::UnboundedFollowing, _) => m,
            (FrameBound::CurrentRow, FrameUnits::Rows) => {
                if start {
                    i
                } else {
                    i + 1
                }
            }
            (FrameBound::CurrentRow, _) => {
                if start {
                    self.group_start[g]
                } else {
                    self.group_end(g)
                }
            }
            (FrameBound::Preceding(_), FrameUnits::Rows) => {
                let k = count(off.expect("offset evaluated"))?;
                let at = i.saturating_sub(k);
                if start {
                    at
                } else if k > i {
                    0
                } else {
                    at + 1
                }
            }
            (FrameBound::Following(_), FrameUnits::Rows) => {
                let k = count(off.expect("offset evaluated"))?;
                if start { i + k } else { i + k + 1 }
            }
            (FrameBound::Preceding(_), FrameUnits::Groups) => {
                let k = count(off.expect("offset evaluated"))?;
                if k > g {
                    0
                } else if start {
                    self.group_start[g - k]
                } else {
                    self.group_end(g - k)
                }
            }
            (FrameBound::Following(_), FrameUnits::Groups) => {
                let k = count(off.expect("offset evaluated"))?;
                let target = g + k;
                if target >= self.group_start.len() {
                    m
                } else if start {
                    self.group_start[target]
                } else {
                    self.group_end(target)
                }
            }
            (FrameBound::Preceding(_) | FrameBound::Following(_), FrameUnits::Range) => {
                let preceding = matches!(b, FrameBound::Preceding(_));
                self.range_position(i, off.expect("offset evaluated"), preceding, start)?
            }
        })
    }

    /// RANGE offset frames: rows whose single ORDER BY key lies within
    /// `offset` of the current row's key.
    fn range_position(&self, i: usize, off: &Value, preceding: bool, start: bool) -> Result<usize> {
        let key = &self.call.order_by[0];
        let cur = &self.orders[self.part[i]][0];
        if cur.is_null() {
            // NULL keys frame their peers only.
            let g = self.peer[i];
            return Ok(if start {
                self.group_start[g]
            } else {
                self.group_end(g)
            });
        }
        // Moving "back" means toward smaller keys when ascending.
        let toward_smaller = preceding != key.desc;
        let op = if toward_smaller {
            BinaryOp::Minus
        } else {
            BinaryOp::Plus
        };
        let bound = op.eval(cur, off)?;
        let m = self.part.len();
        let in_range = |j: usize| -> bool {
            let v = &self.orders[self.part[j]][0];
            if v.is_null() {
                return false;
            }
            let o = v.cmp(&bound);
            let o = if key.desc { o.reverse() } else { o };
            if start {
                o != Ordering::Less
            } else {
                o != Ordering::Greater
            }
        };
        // Keys are sorted within the partition: find the edge by scanning
        // from the current row (frames are usually short).
        if start {
            let mut j = i;
            while j > 0 && in_range(j - 1) {
                j -= 1;
            }
            while j < m && !in_range(j) && j <= i {
                j += 1;
            }
            Ok(j)
        } else {
            let mut j = i;
            while j < m && in_range(j) {
                j += 1;
            }
            while j > 0 && !in_range(j - 1) && j > i {
                j -= 1;
            }
            Ok(j)
        }
    }
}

fn aggregate(
    rows: &[Row],
    part: &[usize],
    frame: &Frame,
    call: &WindowCall,
    ctx: &EvalCtx,
    out: &mut [Value],
) -> Result<()> {
    let agg = call
        .agg
        .as_ref()
        .ok_or_else(|| Error::internal("window aggregate without its call"))?;
    let growing = matches!(call.frame.start, FrameBound::UnboundedPreceding);
    let mut acc = Acc::new(agg);
    let mut added = 0;
    for (i, &r) in part.iter().enumerate() {
        let (s, e) = frame.bounds(i)?;
        if growing && e >= added {
            while added < e {
                acc.add(agg, &rows[part[added]], ctx)?;
                added += 1;
            }
            out[r] = acc.clone().finish(agg)?;
        } else {
            let mut fresh = Acc::new(agg);
            for &j in &part[s..e] {
                fresh.add(agg, &rows[j], ctx)?;
            }
            out[r] = fresh.finish(agg)?;
        }
    }
    Ok(())
}
