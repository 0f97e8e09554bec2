//! PostgreSQL's mathematical functions: which overload a call resolves to,
//! and what each returns, errors included.
//!
//! Overloads resolve as PostgreSQL resolves them: where a function has a
//! `double precision` and a `numeric` form, a `numeric` argument (and no
//! floating-point one) picks `numeric`; integers, floats and untyped
//! literals pick `double precision`, the preferred numeric type. The
//! `numeric` forms choose their result scale by PostgreSQL's rules
//! (`sqrt(2::numeric)` has 15 fraction digits, `exp(1::numeric)` 16) and
//! compute in `rust_decimal` with a few guard digits; a result that needs
//! more than its 28 significant digits is rounded to what fits (PostgreSQL
//! would print them all), and one whose integer part does not fit is 22003.
//!
//! `random()` is volatile: it is never folded, and each evaluation draws
//! from the evaluating thread's own generator.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

use rust_decimal::{Decimal, RoundingStrategy};
use tessera_types::{numeric, sqlstate, DataType, Error, Result, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathFn {
    Round,
    Trunc,
    Ceil,
    Floor,
    Sign,
    Mod,
    Div,
    Power,
    Sqrt,
    Cbrt,
    Exp,
    Ln,
    /// `log(x)` (base 10) and `log(b, x)`.
    Log,
    Log10,
    Pi,
    Degrees,
    Radians,
    Gcd,
    Lcm,
    Random,
    WidthBucket,
    /// The integer bit operators `&`, `|`, `#` (xor), `<<`, `>>` and `~`.
    BitAnd,
    BitOr,
    BitXor,
    ShiftLeft,
    ShiftRight,
    BitNot,
}

impl MathFn {
    pub fn named(name: &str) -> Option<MathFn> {
        use MathFn::*;
        Some(match name {
            "round" => Round,
            "trunc" => Trunc,
            "ceil" | "ceiling" => Ceil,
            "floor" => Floor,
            "sign" => Sign,
            "mod" => Mod,
            "div" => Div,
            "power" | "pow" => Power,
            "sqrt" => Sqrt,
            "cbrt" => Cbrt,
            "exp" => Exp,
            "ln" => Ln,
            "log" => Log,
            "log10" => Log10,
            "pi" => Pi,
            "degrees" => Degrees,
            "radians" => Radians,
            "gcd" => Gcd,
            "lcm" => Lcm,
            "random" => Random,
            "width_bucket" => WidthBucket,
            _ => return None,
        })
    }

    /// Whether the function returns a new value at each call.
    pub fn is_volatile(self) -> bool {
        self == MathFn::Random
    }

    /// The overload a call with arguments of `types` resolves to: the
    /// types its arguments are cast to, and the result type; `None` when
    /// none matches (42883).
    pub fn resolve(self, types: &[DataType]) -> Option<(Vec<DataType>, DataType)> {
        use MathFn::*;
        let float = DataType::Float8;
        let numeric = DataType::Numeric(None);
        let number = |t: &DataType| t.is_numeric_family() || *t == DataType::Unknown;
        if !types.iter().all(number) {
            return None;
        }
        let any_float = types.iter().any(DataType::is_float);
        let any_numeric = types.iter().any(|t| matches!(t, DataType::Numeric(_)));
        // The type of a function with a float and a numeric form.
        let either = if any_numeric && !any_float {
            numeric
        } else {
            float
        };
        let int_arg = |t: DataType| t.is_integer() || t == DataType::Unknown;
        // The bit operators take integers of one width (an unknown operand
        // the other's), the shifts an int4 count.
        let int_or = |t: DataType, other: DataType| match (t, other) {
            (DataType::Unknown, DataType::Unknown) => DataType::Int4,
            (DataType::Unknown, o) => o,
            (t, _) => t,
        };
        Some(match (self, types) {
            (BitAnd | BitOr | BitXor, [a, b]) if int_arg(*a) && int_arg(*b) => {
                let t = match (int_or(*a, *b), int_or(*b, *a)) {
                    (DataType::Int8, _) | (_, DataType::Int8) => DataType::Int8,
                    (DataType::Int2, DataType::Int2) => DataType::Int2,
                    _ => DataType::Int4,
                };
                (vec![t; 2], t)
            }
            (ShiftLeft | ShiftRight, [a, b])
                if int_arg(*a) && int_arg(*b) && *b != DataType::Int8 =>
            {
                let t = int_or(*a, DataType::Int4);
                (vec![t, DataType::Int4], t)
            }
            (BitNot, [a]) if int_arg(*a) => {
                let t = int_or(*a, DataType::Int4);
                (vec![t], t)
            }
            (BitAnd | BitOr | BitXor | ShiftLeft | ShiftRight | BitNot, _) => return None,
            (Round | Trunc | Ceil | Floor | Sign | Sqrt | Exp | Ln | Log | Log10, [_]) => {
                (vec![either], either)
            }
            (Round | Trunc, [a, b]) if !a.is_float() && int_arg(*b) => {
                (vec![numeric, DataType::Int4], numeric)
            }
            (Power, [_, _]) => (vec![either; 2], either),
            (Cbrt | Degrees | Radians, [_]) => (vec![float], float),
            (Pi | Random, []) => (vec![], float),
            (Log | Div, [_, _]) if !any_float => (vec![numeric; 2], numeric),
            (Mod | Gcd | Lcm, [_, _]) if !any_float => {
                let t = if any_numeric {
                    numeric
                } else if types.contains(&DataType::Int8) {
                    DataType::Int8
                } else if self == Mod && types.iter().all(|t| *t == DataType::Int2) {
                    DataType::Int2
                } else {
                    DataType::Int4
                };
                (vec![t; 2], t)
            }
            (WidthBucket, [_, _, _, DataType::Int2 | DataType::Int4 | DataType::Unknown]) => {
                let any_float = types[..3].iter().any(DataType::is_float);
                let any_numeric = types[..3].iter().any(|t| matches!(t, DataType::Numeric(_)));
                let t = if any_numeric && !any_float {
                    numeric
                } else {
                    float
                };
                (vec![t, t, t, DataType::Int4], DataType::Int4)
            }
            _ => return None,
        })
    }

    /// The function of evaluated arguments, cast as [`MathFn::resolve`]
    /// said. A NULL argument makes the result NULL.
    pub fn eval(self, args: &[Value]) -> Result<Value> {
        use MathFn::*;
        use Value as V;
        if args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        Ok(match (self, args) {
            (BitAnd | BitOr | BitXor | ShiftLeft | ShiftRight | BitNot, _) => bits(self, args)?,
            (Pi, []) => V::Float8(std::f64::consts::PI),
            (Random, []) => V::Float8(random()),
            (_, [V::Float8(x)]) => V::Float8(float_unary(self, *x)?),
            (_, [V::Numeric(x)]) => V::Numeric(numeric_unary(self, *x)?),
            (Round, [V::Numeric(x), n]) => V::Numeric(round_to(*x, int(n)?)?),
            (Trunc, [V::Numeric(x), n]) => V::Numeric(trunc_to(*x, int(n)?)),
            (Power, [V::Float8(a), V::Float8(b)]) => V::Float8(float_power(*a, *b)?),
            (Power, [V::Numeric(a), V::Numeric(b)]) => V::Numeric(numeric_power(*a, *b)?),
            (Log, [V::Numeric(b), V::Numeric(x)]) => V::Numeric(numeric_log(*b, *x)?),
            (Div, [V::Numeric(a), V::Numeric(b)]) => V::Numeric(numeric_div_trunc(*a, *b)?),
            (Mod, [V::Numeric(a), V::Numeric(b)]) => V::Numeric(numeric::rem(*a, *b)?),
            (Mod, [V::Int2(a), V::Int2(b)]) => V::Int2(int_mod(*a as i64, *b as i64)? as i16),
            (Mod, [V::Int4(a), V::Int4(b)]) => V::Int4(int_mod(*a as i64, *b as i64)? as i32),
            (Mod, [V::Int8(a), V::Int8(b)]) => V::Int8(int_mod(*a, *b)?),
            (Gcd | Lcm, [V::Int4(a), V::Int4(b)]) => {
                let r = int_gcd_lcm(self, *a as i64, *b as i64)?;
                V::Int4(i32::try_from(r).map_err(|_| Error::out_of_range("integer"))?)
            }
            (Gcd | Lcm, [V::Int8(a), V::Int8(b)]) => {
                let r = int_gcd_lcm(self, *a as i128, *b as i128)?;
                V::Int8(i64::try_from(r).map_err(|_| Error::out_of_range("bigint"))?)
            }
            (Gcd | Lcm, [V::Numeric(a), V::Numeric(b)]) => {
                V::Numeric(numeric_gcd_lcm(self, *a, *b)?)
            }
            (WidthBucket, [V::Float8(x), V::Float8(lo), V::Float8(hi), n]) => {
                V::Int4(float_width_bucket(*x, *lo, *hi, int(n)?)?)
            }
            (WidthBucket, [V::Numeric(x), V::Numeric(lo), V::Numeric(hi), n]) => {
                V::Int4(numeric_width_bucket(*x, *lo, *hi, int(n)?)?)
            }
            (f, args) => {
                return Err(Error::internal(format!(
                    "{f:?} of {} arguments {args:?}",
                    args.len()
                )))
            }
        })
    }
}

/// The bit operators over integers of one width (the shift count int4), as
/// PostgreSQL computes them: a shift takes its count modulo the width of
/// the machine word it shifts in (32 bits for int2 and int4, 64 for int8).
fn bits(f: MathFn, args: &[Value]) -> Result<Value> {
    use MathFn::*;
    use Value as V;
    let (a, b) = match args {
        [a] => (a, None),
        [a, b] => (a, Some(b)),
        _ => return Err(Error::internal("a bit operator's operands")),
    };
    let b = b.map(int).transpose()?;
    let wide = int(a)?;
    let r = match (f, b) {
        (BitAnd, Some(b)) => wide & b,
        (BitOr, Some(b)) => wide | b,
        (BitXor, Some(b)) => wide ^ b,
        (BitNot, None) => !wide,
        (ShiftLeft | ShiftRight, Some(n)) => {
            let n = n as u32;
            let left = f == ShiftLeft;
            match a {
                V::Int8(x) => {
                    if left {
                        x.wrapping_shl(n)
                    } else {
                        x.wrapping_shr(n)
                    }
                }
                _ => {
                    let x = wide as i32;
                    (if left {
                        x.wrapping_shl(n)
                    } else {
                        x.wrapping_shr(n)
                    }) as i64
                }
            }
        }
        _ => return Err(Error::internal(format!("{f:?} of {args:?}"))),
    };
    Ok(match a {
        V::Int2(_) => V::Int2(r as i16),
        V::Int4(_) => V::Int4(r as i32),
        V::Int8(_) => V::Int8(r),
        _ => return Err(Error::internal("a bit operator of a non-integer")),
    })
}

fn int(v: &Value) -> Result<i64> {
    v.as_i64()
        .ok_or_else(|| Error::internal("a math function's argument is not an integer"))
}

fn overflow() -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
    )
}

fn underflow() -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: underflow",
    )
}

fn numeric_overflow() -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

fn log_error(x_is_zero: bool) -> Error {
    Error::new(
        sqlstate::INVALID_ARGUMENT_FOR_LOGARITHM,
        if x_is_zero {
            "cannot take logarithm of zero"
        } else {
            "cannot take logarithm of a negative number"
        },
    )
}

fn power_error(message: &str) -> Error {
    Error::new(sqlstate::INVALID_ARGUMENT_FOR_POWER_FUNCTION, message)
}

fn negative_sqrt() -> Error {
    power_error("cannot take square root of a negative number")
}

fn zero_to_negative() -> Error {
    power_error("zero raised to a negative power is undefined")
}

fn complex_power() -> Error {
    power_error("a negative number raised to a non-integer power yields a complex result")
}

fn bucket_error(message: &str) -> Error {
    Error::new(
        sqlstate::INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION,
        message,
    )
}

/// A float result that must be finite when its inputs were (PostgreSQL's
/// `float_overflow_error`).
fn checked(r: f64, x: f64) -> Result<f64> {
    if r.is_infinite() && x.is_finite() {
        return Err(overflow());
    }
    Ok(r)
}

/// PostgreSQL's `RADIANS_PER_DEGREE`; degrees() divides by it as
/// PostgreSQL does, which can differ in the last bit from multiplying by
/// its inverse.
const RADIANS_PER_DEGREE: f64 = 0.017_453_292_519_943_295;

fn float_unary(f: MathFn, x: f64) -> Result<f64> {
    use MathFn::*;
    Ok(match f {
        Round => x.round_ties_even(),
        Trunc => x.trunc(),
        Ceil => x.ceil(),
        Floor => x.floor(),
        Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        Sqrt => {
            if x < 0.0 {
                return Err(negative_sqrt());
            }
            x.sqrt()
        }
        Cbrt => libm_cbrt(x),
        Exp => {
            if x.is_nan() {
                x
            } else if x.is_infinite() {
                if x > 0.0 {
                    x
                } else {
                    0.0
                }
            } else {
                let r = x.exp();
                if r.is_infinite() {
                    return Err(overflow());
                }
                if r == 0.0 {
                    return Err(underflow());
                }
                r
            }
        }
        Ln | Log | Log10 => {
            if x == 0.0 {
                return Err(log_error(true));
            }
            if x < 0.0 {
                return Err(log_error(false));
            }
            if f == Ln {
                x.ln()
            } else {
                x.log10()
            }
        }
        Degrees => checked(x / RADIANS_PER_DEGREE, x)?,
        Radians => {
            let r = x * RADIANS_PER_DEGREE;
            if r == 0.0 && x != 0.0 {
                return Err(underflow());
            }
            checked(r, x)?
        }
        other => return Err(Error::internal(format!("{other:?} of one float"))),
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    // glibc's own name for its double cbrt: plain `cbrt` binds to the
    // Rust runtime's port, which rounds differently.
    fn cbrtf64(x: f64) -> f64;
}

/// The C library's cube root, which PostgreSQL calls: Rust's own differs
/// in the last bit for some inputs (`cbrt(27)` is 3.0000000000000004 in
/// glibc, 3 in Rust).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn libm_cbrt(x: f64) -> f64 {
    // SAFETY: a pure function of a double in the C math library that
    // every Rust program on this target links.
    unsafe { cbrtf64(x) }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn libm_cbrt(x: f64) -> f64 {
    x.cbrt()
}

fn float_power(a: f64, b: f64) -> Result<f64> {
    if a == 0.0 && b < 0.0 {
        return Err(zero_to_negative());
    }
    if a < 0.0 && b.is_finite() && b.floor() != b {
        return Err(complex_power());
    }
    // 1 ^ anything and anything ^ 0 are 1, NaN included (POSIX pow).
    if a == 1.0 || b == 0.0 {
        return Ok(1.0);
    }
    let r = a.powf(b);
    let finite_inputs = a.is_finite() && b.is_finite();
    if r.is_infinite() && finite_inputs {
        return Err(overflow());
    }
    if r == 0.0 && a != 0.0 && finite_inputs {
        return Err(underflow());
    }
    Ok(r)
}

fn float_width_bucket(x: f64, lo: f64, hi: f64, count: i64) -> Result<i32> {
    if count <= 0 {
        return Err(bucket_error("count must be greater than zero"));
    }
    if x.is_nan() || lo.is_nan() || hi.is_nan() {
        return Err(bucket_error(
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    }
    if lo.is_infinite() || hi.is_infinite() {
        return Err(bucket_error("lower and upper bounds must be finite"));
    }
    let n = count as f64;
    let (below, above, fraction) = if lo < hi {
        (x < lo, x >= hi, scaled_fraction(x, lo, hi))
    } else if lo > hi {
        (x > lo, x <= hi, scaled_fraction(-x, -lo, -hi))
    } else {
        return Err(bucket_error("lower bound cannot equal upper bound"));
    };
    if below {
        return Ok(0);
    }
    if above {
        return i32::try_from(count + 1).map_err(|_| Error::out_of_range("integer"));
    }
    // The quotient can round up to 1.0; the operand is below the bound.
    let bucket = ((n * fraction) as i64).min(count - 1);
    Ok(bucket as i32 + 1)
}

/// Where `x` lies between `lo` and `hi` (`lo < hi`), from 0 to 1, without
/// overflowing when the bounds are far apart.
fn scaled_fraction(x: f64, lo: f64, hi: f64) -> f64 {
    if (hi - lo).is_finite() {
        (x - lo) / (hi - lo)
    } else {
        (x / 2.0 - lo / 2.0) / (hi / 2.0 - lo / 2.0)
    }
}

fn numeric_width_bucket(x: Decimal, lo: Decimal, hi: Decimal, count: i64) -> Result<i32> {
    if count <= 0 {
        return Err(bucket_error("count must be greater than zero"));
    }
    let (below, above, offset, width) = match lo.cmp(&hi) {
        std::cmp::Ordering::Less => (x < lo, x >= hi, x - lo, hi - lo),
        std::cmp::Ordering::Greater => (x > lo, x <= hi, lo - x, lo - hi),
        std::cmp::Ordering::Equal => {
            return Err(bucket_error("lower bound cannot equal upper bound"))
        }
    };
    if below {
        return Ok(0);
    }
    if above {
        return i32::try_from(count + 1).map_err(|_| Error::out_of_range("integer"));
    }
    let scaled = offset
        .checked_mul(Decimal::from(count))
        .ok_or_else(numeric_overflow)?;
    let bucket = numeric_div_trunc(scaled, width)?;
    let bucket: i64 = bucket.try_into().map_err(|_| numeric_overflow())?;
    Ok(bucket.min(count - 1) as i32 + 1)
}

fn int_mod(a: i64, b: i64) -> Result<i64> {
    if b == 0 {
        return Err(Error::division_by_zero());
    }
    // MIN % -1 is 0 in PostgreSQL, not an overflow.
    Ok(a.checked_rem(b).unwrap_or(0))
}

/// gcd or lcm of two integers, in a type wide enough for the operands'
/// negatives; the caller narrows it (22003 when it does not fit).
fn int_gcd_lcm<T>(f: MathFn, a: T, b: T) -> Result<T>
where
    T: Copy
        + PartialEq
        + PartialOrd
        + Default
        + std::ops::Rem<Output = T>
        + std::ops::Neg<Output = T>
        + std::ops::Div<Output = T>
        + std::ops::Mul<Output = T>,
{
    let zero = T::default();
    let abs = |x: T| if x < zero { -x } else { x };
    let (mut x, mut y) = (abs(a), abs(b));
    while y != zero {
        let r = x % y;
        x = y;
        y = r;
    }
    let gcd = x;
    if f == MathFn::Gcd {
        return Ok(gcd);
    }
    if a == zero || b == zero {
        return Ok(zero);
    }
    // |a| / gcd * |b| fits the wide type: both operands came from a
    // narrower one.
    Ok(abs(a) / gcd * abs(b))
}

fn numeric_gcd_lcm(f: MathFn, a: Decimal, b: Decimal) -> Result<Decimal> {
    let scale = a.scale().max(b.scale());
    let (mut x, mut y) = (a.abs(), b.abs());
    while !y.is_zero() {
        let r = x.checked_rem(y).ok_or_else(numeric_overflow)?;
        x = y;
        y = r;
    }
    let r = if f == MathFn::Gcd {
        x
    } else if a.is_zero() || b.is_zero() {
        Decimal::ZERO
    } else {
        let q = a.abs().checked_div(x).ok_or_else(numeric_overflow)?;
        q.checked_mul(b.abs()).ok_or_else(numeric_overflow)?
    };
    Ok(numeric::with_scale(r, scale))
}

/// `div(a, b)`: the quotient truncated toward zero, computed exactly.
fn numeric_div_trunc(a: Decimal, b: Decimal) -> Result<Decimal> {
    if b.is_zero() {
        return Err(Error::division_by_zero());
    }
    let rem = a.checked_rem(b).ok_or_else(numeric_overflow)?;
    let whole = a.checked_sub(rem).ok_or_else(numeric_overflow)?;
    let q = whole.checked_div(b).ok_or_else(numeric_overflow)?;
    Ok(numeric::with_scale(q.round(), 0))
}

/// `round(x, n)`: half away from zero; a negative `n` rounds to tens,
/// hundreds, …, and the result keeps `max(n, 0)` fraction digits.
pub fn round_to(x: Decimal, n: i64) -> Result<Decimal> {
    if n >= 0 {
        return Ok(numeric::with_scale(x, n.min(i64::from(u32::MAX)) as u32));
    }
    let Some(unit) = power_of_ten(-n) else {
        return Ok(Decimal::ZERO);
    };
    let q = (x / unit).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    let r = q.checked_mul(unit).ok_or_else(numeric_overflow)?;
    Ok(numeric::with_scale(r, 0))
}

/// `trunc(x, n)`: toward zero, as [`round_to`] otherwise.
pub fn trunc_to(x: Decimal, n: i64) -> Decimal {
    if n >= 0 {
        let scale = n.min(numeric::SCALE_MAX as i64) as u32;
        return numeric::with_scale(
            x.round_dp_with_strategy(scale, RoundingStrategy::ToZero),
            n.min(i64::from(u32::MAX)) as u32,
        );
    }
    let Some(unit) = power_of_ten(-n) else {
        return Decimal::ZERO;
    };
    // Truncating the quotient can only shrink it: no overflow.
    let r = (x / unit).trunc() * unit;
    numeric::with_scale(r, 0)
}

/// 10^n, when a Decimal holds it.
fn power_of_ten(n: i64) -> Option<Decimal> {
    if !(0..=28).contains(&n) {
        return None;
    }
    Some(Decimal::from_i128_with_scale(10i128.pow(n as u32), 0))
}

fn numeric_unary(f: MathFn, x: Decimal) -> Result<Decimal> {
    use MathFn::*;
    Ok(match f {
        Round => round_to(x, 0)?,
        Trunc => trunc_to(x, 0),
        Ceil => numeric::with_scale(x.ceil(), 0),
        Floor => numeric::with_scale(x.floor(), 0),
        Sign => Decimal::from(x.mantissa().signum() as i64),
        Sqrt => {
            if x.is_sign_negative() && !x.is_zero() {
                return Err(negative_sqrt());
            }
            // PostgreSQL: 16 significant digits from the root's weight.
            let root_weight = (base10000_weight(x) + 1) * 4 / 2 - 1;
            let scale = result_scale(16 - root_weight, &[x]);
            numeric::with_scale(sqrt(x)?, scale)
        }
        Exp => {
            let weight = (x.try_into().unwrap_or(0.0f64) * std::f64::consts::LOG10_E) as i32;
            let scale = result_scale(16 - weight, &[x]);
            numeric::with_scale(exp(x)?, scale)
        }
        Ln => {
            positive_for_log(x)?;
            let scale = result_scale(16 - ln_decimal_weight(x), &[x]);
            numeric::with_scale(ln(x)?, scale)
        }
        Log | Log10 => numeric_log(Decimal::TEN, x)?,
        other => return Err(Error::internal(format!("{other:?} of one numeric"))),
    })
}

fn positive_for_log(x: Decimal) -> Result<()> {
    if x.is_zero() {
        return Err(log_error(true));
    }
    if x.is_sign_negative() {
        return Err(log_error(false));
    }
    Ok(())
}

/// `log(b, x)`: with the scale PostgreSQL's `log_var` chooses.
fn numeric_log(base: Decimal, x: Decimal) -> Result<Decimal> {
    positive_for_log(base)?;
    positive_for_log(x)?;
    let weight = ln_decimal_weight(x) - ln_decimal_weight(base);
    let scale = result_scale(16 - weight, &[base, x]);
    let ln_base = ln(base)?;
    if ln_base.is_zero() {
        return Err(Error::division_by_zero());
    }
    let r = ln(x)?.checked_div(ln_base).ok_or_else(numeric_overflow)?;
    Ok(numeric::with_scale(r, scale))
}

/// `power(a, b)` on numeric: exact for an integer exponent, through
/// `exp(b·ln a)` otherwise, with PostgreSQL's result scale.
fn numeric_power(a: Decimal, b: Decimal) -> Result<Decimal> {
    if a.is_zero() && b.is_sign_negative() && !b.is_zero() {
        return Err(zero_to_negative());
    }
    let integral = b.fract().is_zero();
    if a.is_sign_negative() && !a.is_zero() && !integral {
        return Err(complex_power());
    }
    if integral {
        if let Ok(n) = i32::try_from(b.trunc().mantissa() / 10i128.pow(b.trunc().scale())) {
            let scale = result_scale(16, &[a]);
            return Ok(numeric::with_scale(power_int(a, n)?, scale));
        }
    }
    if a.is_zero() {
        return Ok(numeric::with_scale(
            Decimal::ZERO,
            result_scale(16, &[a, b]),
        ));
    }
    let ln_a = ln(a)?;
    let exponent = ln_a.checked_mul(b).ok_or_else(numeric_overflow)?;
    let weight = (f64::try_from(exponent).unwrap_or(0.0) * std::f64::consts::LOG10_E) as i32;
    let scale = result_scale(16 - weight, &[a, b]);
    Ok(numeric::with_scale(exp(exponent)?, scale))
}

/// `scale` clamped as PostgreSQL clamps a result scale: at least each
/// argument's scale, at least 0, at most 1000.
fn result_scale(scale: i32, args: &[Decimal]) -> u32 {
    let widest = args.iter().map(|a| a.scale() as i32).max().unwrap_or(0);
    scale.max(widest).clamp(0, 1000) as u32
}

/// The weight of `x`'s first base-10000 digit, as PostgreSQL stores it.
fn base10000_weight(x: Decimal) -> i32 {
    if x.is_zero() {
        return 0;
    }
    decimal_exponent(x).div_euclid(4)
}

/// The power of ten of `x`'s leading digit (0 for 1..9, -1 for 0.1..0.9).
fn decimal_exponent(x: Decimal) -> i32 {
    let digits = x.mantissa().unsigned_abs().checked_ilog10().unwrap_or(0) as i32;
    digits - x.scale() as i32
}

/// PostgreSQL's `estimate_ln_dweight`: the decimal weight of `ln(x)`.
fn ln_decimal_weight(x: Decimal) -> i32 {
    let near_one = Decimal::new(9, 1) <= x && x <= Decimal::new(11, 1);
    if near_one {
        let d = x - Decimal::ONE;
        if d.is_zero() {
            return 0;
        }
        // Of the first base-10000 digit: its weight, then its own digits.
        let w = base10000_weight(d);
        let e = decimal_exponent(d);
        return w * 4 + (e - w * 4);
    }
    let ln_x = f64::try_from(x).unwrap_or(1.0).ln();
    if ln_x == 0.0 {
        return 0;
    }
    ln_x.abs().log10() as i32
}

/// Fraction digits for intermediate results: all a Decimal holds.
const WORKING_SCALE: u32 = 28;

fn checked_div(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_div(b).ok_or_else(numeric_overflow)
}

fn checked_mul(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_mul(b).ok_or_else(numeric_overflow)
}

/// The square root of `x >= 0` by Newton's method from a float estimate.
pub(crate) fn sqrt(x: Decimal) -> Result<Decimal> {
    if x.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let estimate = f64::try_from(x).unwrap_or(1.0).sqrt();
    let mut y = Decimal::try_from(estimate).unwrap_or(Decimal::ONE);
    if y.is_zero() {
        y = Decimal::new(1, WORKING_SCALE / 2);
    }
    // Each step doubles the correct digits; the estimate has about 15.
    for _ in 0..6 {
        let next = (y + checked_div(x, y)?) / Decimal::TWO;
        if next == y {
            break;
        }
        y = next;
    }
    Ok(y)
}

/// e to 28 significant digits.
const E: Decimal = Decimal::from_parts(0xc08c_4aef, 0x3131_496b, 0x08c8_8291, false, 27);
/// ln 2 and ln 10 to 28 significant digits.
const LN_2: Decimal = Decimal::from_parts(0xaa7a_65bf, 0x81f5_2f01, 0x1665_943f, false, 28);
const LN_10: Decimal = Decimal::from_parts(0x0ff7_0f1f, 0x0202_11d0, 0x0770_a75c, false, 27);

/// The largest argument whose exponential a Decimal holds.
const EXP_ARGUMENT_MAX: i64 = 66;

/// e^x: e^n for the nearest integer n by squaring, times a Taylor series
/// for the rest (|r| <= 1/2).
fn exp(x: Decimal) -> Result<Decimal> {
    let n = x.round();
    if n > Decimal::from(EXP_ARGUMENT_MAX) {
        return Err(numeric_overflow());
    }
    if n < Decimal::from(-EXP_ARGUMENT_MAX) {
        // Below 10^-28: zero at every scale a Decimal has.
        return Ok(Decimal::ZERO);
    }
    let r = x - n;
    let mut term = Decimal::ONE;
    let mut sum = Decimal::ONE;
    for k in 1..60u32 {
        term = checked_mul(term, r)? / Decimal::from(k);
        if term.is_zero() {
            break;
        }
        sum += term;
    }
    let whole = power_int(E, n.try_into().map_err(|_| numeric_overflow())?)?;
    checked_mul(whole, sum)
}

/// a^n by squaring; a negative n divides 1 by the power.
fn power_int(a: Decimal, n: i32) -> Result<Decimal> {
    let mut result = Decimal::ONE;
    let mut base = a;
    let mut k = n.unsigned_abs();
    while k > 0 {
        if k & 1 == 1 {
            result = checked_mul(result, base)?;
        }
        k >>= 1;
        if k > 0 {
            base = checked_mul(base, base)?;
        }
    }
    if n < 0 {
        if result.is_zero() {
            return Err(zero_to_negative());
        }
        return checked_div(Decimal::ONE, result);
    }
    Ok(result)
}

/// ln x for x > 0: x = m·10^k·2^j with m in [1/2, 2), then
/// ln m = 2·atanh((m-1)/(m+1)).
fn ln(x: Decimal) -> Result<Decimal> {
    let mut m = x;
    let mut tens: i64 = 0;
    let mut twos: i64 = 0;
    let half = Decimal::new(5, 1);
    if m < half || m >= Decimal::TWO {
        while m >= Decimal::TEN {
            m /= Decimal::TEN;
            tens += 1;
        }
        while m < Decimal::ONE {
            m *= Decimal::TEN;
            tens -= 1;
        }
        while m >= Decimal::TWO {
            m /= Decimal::TWO;
            twos += 1;
        }
    }
    let z = checked_div(m - Decimal::ONE, m + Decimal::ONE)?;
    let z2 = z * z;
    let mut power = z;
    let mut sum = z;
    for k in (3..400u32).step_by(2) {
        power *= z2;
        let term = power / Decimal::from(k);
        if term.is_zero() {
            break;
        }
        sum += term;
    }
    Ok(sum * Decimal::TWO + Decimal::from(tens) * LN_10 + Decimal::from(twos) * LN_2)
}

thread_local! {
    /// This thread's `random()` state (xorshift64*), seeded from the
    /// process's hash keys and the thread.
    static RANDOM_STATE: Cell<u64> = Cell::new({
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        h.finish() | 1
    });
}

/// A uniformly distributed value in [0, 1) with 53 random bits.
fn random() -> f64 {
    RANDOM_STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn constants_hold_their_digits() {
        assert_eq!(E.to_string(), "2.718281828459045235360287471");
        assert_eq!(LN_2.to_string(), "0.6931471805599453094172321215");
        assert_eq!(LN_10.to_string(), "2.302585092994045684017991455");
    }

    #[test]
    fn numeric_functions_match_postgres() {
        let f = |f: MathFn, x: &str| numeric_unary(f, d(x)).unwrap().to_string();
        assert_eq!(f(MathFn::Sqrt, "2"), "1.414213562373095");
        assert_eq!(f(MathFn::Exp, "1"), "2.7182818284590452");
        assert_eq!(f(MathFn::Ln, "10"), "2.3025850929940457");
        assert_eq!(
            numeric_power(d("2"), d("0.5")).unwrap().to_string(),
            "1.4142135623730950"
        );
        assert_eq!(
            numeric_power(d("2"), d("3")).unwrap().to_string(),
            "8.0000000000000000"
        );
        assert_eq!(round_to(d("1234.5678"), -2).unwrap().to_string(), "1200");
        assert_eq!(trunc_to(d("-1234.5678"), 2).to_string(), "-1234.56");
    }

    #[test]
    fn random_stays_in_range() {
        for _ in 0..1000 {
            let r = random();
            assert!((0.0..1.0).contains(&r));
        }
        assert_ne!(random(), random());
    }
}
