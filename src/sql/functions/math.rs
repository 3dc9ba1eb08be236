//! Mathematical functions with PostgreSQL's result types, result scales and errors.

use super::{Func, int};
use crate::error::{Error, Result, SqlState};
use crate::types::{BinaryOp, Value};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy};

/// Evaluates a math function; `None` if `f` is not one.
pub(super) fn eval(f: &Func, a: &[Value]) -> Result<Option<Value>> {
    use Value::{Float8 as F, Numeric as N};
    Ok(Some(match (f, a) {
        (Func::Pi, []) => F(std::f64::consts::PI),
        (Func::Abs, [v]) => abs(v)?,
        (Func::Round, [F(x)]) => F(x.round_ties_even()),
        (Func::Round, [N(d)]) => N(round_scale(*d, 0, RoundingStrategy::MidpointAwayFromZero)?),
        (Func::Round, [N(d), s]) => N(round_scale(
            *d,
            int(s)?,
            RoundingStrategy::MidpointAwayFromZero,
        )?),
        (Func::Trunc, [F(x)]) => F(x.trunc()),
        (Func::Trunc, [N(d)]) => N(round_scale(*d, 0, RoundingStrategy::ToZero)?),
        (Func::Trunc, [N(d), s]) => N(round_scale(*d, int(s)?, RoundingStrategy::ToZero)?),
        (Func::Floor, [F(x)]) => F(x.floor()),
        (Func::Floor, [N(d)]) => N(d.floor()),
        (Func::Ceil, [F(x)]) => F(x.ceil()),
        (Func::Ceil, [N(d)]) => N(d.ceil()),
        (Func::Sign, [F(x)]) => F(if *x > 0.0 {
            1.0
        } else if *x < 0.0 {
            -1.0
        } else {
            0.0
        }),
        (Func::Sign, [N(d)]) => N(Decimal::from(if d.is_zero() {
            0
        } else if d.is_sign_negative() {
            -1
        } else {
            1
        })),
        (Func::Mod, [x, y]) => mod_(x, y)?,
        (Func::Div, [N(x), N(y)]) => {
            if y.is_zero() {
                return Err(Error::division_by_zero());
            }
            let q = x
                .checked_div(*y)
                .ok_or_else(|| Error::out_of_range("numeric"))?;
            N(q.trunc())
        }
        (Func::Gcd | Func::Lcm, [x, y]) => gcd_lcm(*f == Func::Gcd, x, y)?,
        (Func::Power, [x, y]) => return BinaryOp::Exponent.eval(x, y).map(Some),
        (Func::Sqrt, [F(x)]) => {
            if *x < 0.0 {
                return Err(negative_sqrt());
            }
            F(x.sqrt())
        }
        (Func::Sqrt, [N(d)]) => {
            if d.is_sign_negative() && !d.is_zero() {
                return Err(negative_sqrt());
            }
            let sweight = (nbase_weight(d) + 1) * 4 / 2 - 1;
            let r = d.sqrt().ok_or_else(|| Error::out_of_range("numeric"))?;
            N(with_scale(r, 16 - sweight, &[d]))
        }
        (Func::Cbrt, [F(x)]) => F(x.cbrt()),
        (Func::Degrees, [F(x)]) => F(x.to_degrees()),
        (Func::Radians, [F(x)]) => F(x.to_radians()),
        (Func::Exp, [F(x)]) => F(check_float(x.exp(), *x)?),
        (Func::Exp, [N(d)]) => {
            let x = d.to_f64().unwrap_or(f64::MAX);
            if x * std::f64::consts::LOG10_E > 28.0 {
                return Err(Error::new(
                    SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value overflows numeric format",
                ));
            }
            let r = d
                .checked_exp()
                .ok_or_else(|| Error::out_of_range("numeric"))?;
            let dweight = (x * std::f64::consts::LOG10_E) as i64;
            N(with_scale(r, 16 - dweight, &[d]))
        }
        (Func::Ln, [F(x)]) => {
            check_log_arg(*x == 0.0, *x < 0.0)?;
            F(x.ln())
        }
        (Func::Ln, [N(d)]) => {
            check_log_arg(d.is_zero(), d.is_sign_negative())?;
            N(with_scale(d.ln(), 16 - ln_dweight(d), &[d]))
        }
        (Func::Log, [F(x)]) => {
            check_log_arg(*x == 0.0, *x < 0.0)?;
            F(x.log10())
        }
        (Func::Log, [N(d)]) => N(numeric_log(&Decimal::TEN, d)?),
        (Func::Log, [N(b), N(d)]) => N(numeric_log(b, d)?),
        _ => return Ok(None),
    }))
}

fn abs(v: &Value) -> Result<Value> {
    Ok(match v {
        Value::Int2(i) => Value::Int2(
            i.checked_abs()
                .ok_or_else(|| Error::out_of_range("smallint"))?,
        ),
        Value::Int4(i) => Value::Int4(
            i.checked_abs()
                .ok_or_else(|| Error::out_of_range("integer"))?,
        ),
        Value::Int8(i) => Value::Int8(
            i.checked_abs()
                .ok_or_else(|| Error::out_of_range("bigint"))?,
        ),
        Value::Float4(f) => Value::Float4(f.abs()),
        Value::Float8(f) => Value::Float8(f.abs()),
        Value::Numeric(d) => Value::Numeric(d.abs()),
        other => return Err(Error::internal(format!("abs of {other:?}"))),
    })
}

fn mod_(x: &Value, y: &Value) -> Result<Value> {
    let zero = match y {
        Value::Numeric(d) => d.is_zero(),
        v => v.as_i64() == Some(0),
    };
    if zero {
        return Err(Error::division_by_zero());
    }
    Ok(match (x, y) {
        (Value::Int2(a), Value::Int2(b)) => Value::Int2(a.wrapping_rem(*b)),
        (Value::Int4(a), Value::Int4(b)) => Value::Int4(a.wrapping_rem(*b)),
        (Value::Int8(a), Value::Int8(b)) => Value::Int8(a.wrapping_rem(*b)),
        (Value::Numeric(a), Value::Numeric(b)) => Value::Numeric(
            a.checked_rem(*b)
                .ok_or_else(|| Error::out_of_range("numeric"))?,
        ),
        _ => return Err(Error::internal("mod of mismatched types")),
    })
}

fn gcd_lcm(gcd: bool, x: &Value, y: &Value) -> Result<Value> {
    let (a, b) = (int(x)? as i128, int(y)? as i128);
    let mut g = (a.abs(), b.abs());
    while g.1 != 0 {
        g = (g.1, g.0 % g.1);
    }
    let r = if gcd {
        g.0
    } else if a == 0 || b == 0 {
        0
    } else {
        (a / g.0 * b).abs()
    };
    Ok(match x {
        Value::Int4(_) => {
            Value::Int4(i32::try_from(r).map_err(|_| Error::out_of_range("integer"))?)
        }
        _ => Value::Int8(i64::try_from(r).map_err(|_| Error::out_of_range("bigint"))?),
    })
}

fn negative_sqrt() -> Error {
    Error::new(
        SqlState::INVALID_ARGUMENT_FOR_POWER,
        "cannot take square root of a negative number",
    )
}

fn check_log_arg(zero: bool, negative: bool) -> Result<()> {
    if zero {
        return Err(Error::new(
            SqlState::INVALID_ARGUMENT_FOR_LOG,
            "cannot take logarithm of zero",
        ));
    }
    if negative {
        return Err(Error::new(
            SqlState::INVALID_ARGUMENT_FOR_LOG,
            "cannot take logarithm of a negative number",
        ));
    }
    Ok(())
}

/// Overflow and underflow checks of a float result computed from `arg`.
fn check_float(r: f64, arg: f64) -> Result<f64> {
    if r.is_infinite() && arg.is_finite() {
        return Err(Error::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ));
    }
    if r == 0.0 && arg.is_finite() {
        return Err(Error::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: underflow",
        ));
    }
    Ok(r)
}

/// Decimal weight: the power of ten of the first significant digit.
fn dweight(d: &Decimal) -> i64 {
    let s = d.abs().to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = int.trim_start_matches('0');
    if !int.is_empty() {
        int.len() as i64 - 1
    } else {
        let z = frac.len() - frac.trim_start_matches('0').len();
        -(z as i64) - 1
    }
}

/// PostgreSQL's NBASE (10000) weight.
fn nbase_weight(d: &Decimal) -> i64 {
    if d.is_zero() {
        0
    } else {
        dweight(d).div_euclid(4)
    }
}

/// PostgreSQL's estimate of the decimal weight of ln(d).
fn ln_dweight(d: &Decimal) -> i64 {
    let lo = Decimal::new(9, 1);
    let hi = Decimal::new(11, 1);
    if *d >= lo && *d <= hi {
        let x = *d - Decimal::ONE;
        if x.is_zero() { 0 } else { dweight(&x) }
    } else {
        let l = d.to_f64().unwrap_or(1.0).ln();
        l.abs().log10() as i64
    }
}

fn numeric_log(base: &Decimal, x: &Decimal) -> Result<Decimal> {
    for v in [base, x] {
        check_log_arg(v.is_zero(), v.is_sign_negative())?;
    }
    let lb = base.ln();
    if lb.is_zero() {
        return Err(Error::division_by_zero());
    }
    let r = x
        .ln()
        .checked_div(lb)
        .ok_or_else(|| Error::out_of_range("numeric"))?;
    Ok(with_scale(
        r,
        16 - (ln_dweight(x) - ln_dweight(base)),
        &[base, x],
    ))
}

/// Rounds `r` to PostgreSQL's result scale: `rscale`, at least the scale of
/// every input, between 0 and 28 (rust_decimal's limit; PostgreSQL allows 1000).
pub(crate) fn with_scale(r: Decimal, rscale: i64, inputs: &[&Decimal]) -> Decimal {
    let s = inputs
        .iter()
        .map(|d| d.scale() as i64)
        .fold(rscale, i64::max)
        .clamp(0, 28) as u32;
    let mut out = r.round_dp_with_strategy(s, RoundingStrategy::MidpointAwayFromZero);
    out.rescale(s);
    out
}

/// round/trunc of a numeric to `scale` digits (negative: left of the point).
fn round_scale(d: Decimal, scale: i64, how: RoundingStrategy) -> Result<Decimal> {
    if scale >= 0 {
        let s = scale.min(28) as u32;
        let mut r = d.round_dp_with_strategy(s, how);
        r.rescale(s);
        return Ok(r);
    }
    if scale < -28 {
        return Ok(Decimal::ZERO);
    }
    let p = Decimal::from_i128(10i128.pow((-scale) as u32)).expect("power of ten");
    let q = (d / p).round_dp_with_strategy(0, how);
    q.checked_mul(p)
        .ok_or_else(|| Error::out_of_range("numeric"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_scales() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            round_scale(d("1234.5678"), -2, RoundingStrategy::MidpointAwayFromZero)
                .unwrap()
                .to_string(),
            "1200"
        );
        assert_eq!(
            round_scale(d("2.5"), 3, RoundingStrategy::MidpointAwayFromZero)
                .unwrap()
                .to_string(),
            "2.500"
        );
        assert_eq!(nbase_weight(&d("12345")), 1);
        assert_eq!(nbase_weight(&d("0.001")), -1);
        assert_eq!(
            with_scale(d("1.41421356237309504880"), 15, &[]).to_string(),
            "1.414213562373095"
        );
    }
}
