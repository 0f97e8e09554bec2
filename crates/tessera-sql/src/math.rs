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

use tessera_types::numeric::Numeric;
use tessera_types::numeric_fn::{
    self as nf, complex_power, log_error, negative_sqrt, zero_to_negative,
};
use tessera_types::{sqlstate, DataType, Error, Result, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The trigonometric and hyperbolic functions over double precision
    /// (radians), with PostgreSQL's range errors.
    Sin,
    Cos,
    Tan,
    Cot,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    /// `to_hex(int4 | int8)`: the two's complement digits, lower case.
    ToHex,
    /// `pg_size_pretty(bigint | numeric)`: bytes in kB, MB… as psql
    /// and PostgreSQL's admin queries show them.
    SizePretty,
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
            "sin" => Sin,
            "cos" => Cos,
            "tan" => Tan,
            "cot" => Cot,
            "asin" => Asin,
            "acos" => Acos,
            "atan" => Atan,
            "atan2" => Atan2,
            "sinh" => Sinh,
            "cosh" => Cosh,
            "tanh" => Tanh,
            "asinh" => Asinh,
            "acosh" => Acosh,
            "atanh" => Atanh,
            "to_hex" => ToHex,
            "pg_size_pretty" => SizePretty,
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
            (
                Sin | Cos | Tan | Cot | Asin | Acos | Atan | Sinh | Cosh | Tanh | Asinh | Acosh
                | Atanh,
                [_],
            ) => (vec![float], float),
            (Atan2, [_, _]) => (vec![float; 2], float),
            (SizePretty, [DataType::Numeric(_)]) => (vec![numeric], DataType::Text),
            (SizePretty, [DataType::Int8]) => (vec![DataType::Int8], DataType::Text),
            (ToHex, [a]) if int_arg(*a) => {
                let t = match a {
                    DataType::Int8 => DataType::Int8,
                    _ => DataType::Int4,
                };
                (vec![t], DataType::Text)
            }
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
            (SizePretty, [V::Int8(x)]) => V::Text(size_pretty(*x as i128)),
            (SizePretty, [V::Numeric(n)]) => V::Text(numeric_size_pretty(n)?),
            (ToHex, [V::Int4(x)]) => V::Text(format!("{:x}", *x as u32)),
            (ToHex, [V::Int8(x)]) => V::Text(format!("{:x}", *x as u64)),
            (Random, []) => V::Float8(random()),
            (_, [V::Float8(x)]) => V::Float8(float_unary(self, *x)?),
            (_, [V::Numeric(x)]) => V::Numeric(numeric_unary(self, x)?),
            (Round, [V::Numeric(x), n]) => V::Numeric(nf::round_to(x, int(n)?)),
            (Trunc, [V::Numeric(x), n]) => V::Numeric(nf::trunc_to(x, int(n)?)),
            (Power, [V::Float8(a), V::Float8(b)]) => V::Float8(float_power(*a, *b)?),
            (Atan2, [V::Float8(y), V::Float8(x)]) => V::Float8(y.atan2(*x)),
            (Power, [V::Numeric(a), V::Numeric(b)]) => V::Numeric(nf::power(a, b)?),
            (Log, [V::Numeric(b), V::Numeric(x)]) => V::Numeric(nf::log(b, x)?),
            (Div, [V::Numeric(a), V::Numeric(b)]) => V::Numeric(nf::div_trunc(a, b)?),
            (Mod, [V::Numeric(a), V::Numeric(b)]) => V::Numeric(a.rem(b)?),
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
                V::Numeric(nf::gcd_lcm(self == Lcm, a, b)?)
            }
            (WidthBucket, [V::Float8(x), V::Float8(lo), V::Float8(hi), n]) => {
                V::Int4(float_width_bucket(*x, *lo, *hi, int(n)?)?)
            }
            (WidthBucket, [V::Numeric(x), V::Numeric(lo), V::Numeric(hi), n]) => {
                V::Int4(numeric_width_bucket(x, lo, hi, int(n)?)?)
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

/// PostgreSQL 15's units for `pg_size_pretty`: name, the size below which
/// it is used, whether the value is rounded half away from zero, and its
/// power of two.
const SIZE_UNITS: [(&str, i128, bool, u32); 6] = [
    ("bytes", 10 * 1024, false, 0),
    ("kB", 20 * 1024 - 1, true, 10),
    ("MB", 20 * 1024 - 1, true, 20),
    ("GB", 20 * 1024 - 1, true, 30),
    ("TB", 20 * 1024 - 1, true, 40),
    ("PB", 20 * 1024 - 1, true, 50),
];

/// `pg_size_pretty` as PostgreSQL computes it: divided (truncating, so
/// that negative sizes round as positive ones) unit by unit, keeping one
/// bit more where the next unit rounds by halves.
fn size_pretty(mut size: i128) -> String {
    for (i, (name, limit, round, bits)) in SIZE_UNITS.iter().enumerate() {
        let Some((_, _, next_round, next_bits)) = SIZE_UNITS.get(i + 1) else {
            return format!("{} {name}", if *round { half_rounded(size) } else { size });
        };
        if size.abs() < *limit {
            return format!("{} {name}", if *round { half_rounded(size) } else { size });
        }
        let shift = next_bits - bits - u32::from(*next_round) + u32::from(*round);
        size /= 1i128 << shift;
    }
    unreachable!("the last unit returns")
}

fn half_rounded(x: i128) -> i128 {
    (x + if x < 0 { -1 } else { 1 }) / 2
}

/// `pg_size_pretty(numeric)`: a size below the first limit as written
/// (fraction included), any other truncated to an integer first (which
/// the first division would do), as PostgreSQL's numeric variant.
fn numeric_size_pretty(n: &tessera_types::numeric::Numeric) -> Result<String> {
    if !n.is_finite() {
        // Never below a limit: it runs through to the last unit.
        return Ok(format!(
            "{} PB",
            Value::Numeric(n.clone()).to_text().unwrap_or_default()
        ));
    }
    let limit = tessera_types::numeric::Numeric::from_decimal(SIZE_UNITS[0].1.into());
    if n.abs() < limit {
        let text = Value::Numeric(n.clone()).to_text().unwrap_or_default();
        return Ok(format!("{text} bytes"));
    }
    let Some((negative, digits, scale)) = n.trunc_scale(0).digits() else {
        return Err(overflow());
    };
    let integral = &digits[..digits.len().saturating_sub(scale as usize)];
    let magnitude: i128 = integral.parse().map_err(|_| overflow())?;
    Ok(size_pretty(if negative { -magnitude } else { magnitude }))
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
        Sin | Cos | Tan | Cot | Asin | Acos | Atan | Sinh | Cosh | Tanh | Asinh | Acosh | Atanh => {
            trig(f, x)?
        }
        other => return Err(Error::internal(format!("{other:?} of one float"))),
    })
}

/// The trigonometric and hyperbolic functions as PostgreSQL's `dsin`…
/// `datanh`: NaN in, NaN out; an argument outside the function's domain
/// (an infinite angle, `asin(2)`, `acosh(0.5)`) is 22003 "input is out
/// of range"; `cot(0)`, `atanh(±1)` and the hyperbolic overflows are
/// infinities, not errors.
fn trig(f: MathFn, x: f64) -> Result<f64> {
    use MathFn::*;
    if x.is_nan() {
        return Ok(x);
    }
    let out_of_range = || {
        Error::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "input is out of range",
        )
    };
    let domain_ok = match f {
        Sin | Cos | Tan | Cot => x.is_finite(),
        Asin | Acos | Atanh => (-1.0..=1.0).contains(&x),
        Acosh => x >= 1.0,
        _ => true,
    };
    if !domain_ok {
        return Err(out_of_range());
    }
    Ok(match f {
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Cot => 1.0 / x.tan(),
        Asin => x.asin(),
        Acos => x.acos(),
        Atan => x.atan(),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Tanh => x.tanh(),
        Asinh => x.asinh(),
        Acosh => x.acosh(),
        Atanh => x.atanh(),
        other => return Err(Error::internal(format!("{other:?} is not trigonometric"))),
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

fn numeric_width_bucket(x: &Numeric, lo: &Numeric, hi: &Numeric, count: i64) -> Result<i32> {
    if count <= 0 {
        return Err(bucket_error("count must be greater than zero"));
    }
    if x.is_nan() || lo.is_nan() || hi.is_nan() {
        return Err(bucket_error(
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    }
    if !lo.is_finite() || !hi.is_finite() {
        return Err(bucket_error("lower and upper bounds must be finite"));
    }
    let (below, above, offset, width) = match lo.cmp(hi) {
        std::cmp::Ordering::Less => (x < lo, x >= hi, x.sub(lo)?, hi.sub(lo)?),
        std::cmp::Ordering::Greater => (x > lo, x <= hi, lo.sub(x)?, lo.sub(hi)?),
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
    let scaled = offset.mul(&Numeric::from(count))?;
    let bucket = nf::div_trunc(&scaled, &width)?.to_i64_rounded("integer")?;
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

fn numeric_unary(f: MathFn, x: &Numeric) -> Result<Numeric> {
    use MathFn::*;
    Ok(match f {
        Round => nf::round_to(x, 0),
        Trunc => nf::trunc_to(x, 0),
        Ceil => x.ceil_scale(0),
        Floor => x.floor_scale(0),
        Sign => x.signum(),
        Sqrt => nf::sqrt(x)?,
        Exp => nf::exp(x)?,
        Ln => nf::ln(x)?,
        Log | Log10 => nf::log(&Numeric::from(10), x)?,
        other => return Err(Error::internal(format!("{other:?} of one numeric"))),
    })
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
    fn d(s: &str) -> Numeric {
        Numeric::parse(s).unwrap()
    }

    #[test]
    fn numeric_functions_match_postgres() {
        let f = |f: MathFn, x: &str| numeric_unary(f, &d(x)).unwrap().to_string();
        assert_eq!(f(MathFn::Sqrt, "2"), "1.414213562373095");
        assert_eq!(f(MathFn::Exp, "1"), "2.7182818284590452");
        assert_eq!(f(MathFn::Ln, "10"), "2.3025850929940457");
        assert_eq!(f(MathFn::Ceil, "-1.5"), "-1");
        assert_eq!(f(MathFn::Floor, "-1.5"), "-2");
        assert_eq!(f(MathFn::Sign, "-Infinity"), "-1");
        assert_eq!(f(MathFn::Round, "Infinity"), "Infinity");
        let bucket = |x: &str| numeric_width_bucket(&d(x), &d("0"), &d("10"), 5);
        assert_eq!(bucket("5").unwrap(), 3);
        assert_eq!(bucket("Infinity").unwrap(), 6);
        assert!(bucket("NaN").is_err());
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
