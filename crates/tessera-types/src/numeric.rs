//! Exact `numeric` as PostgreSQL computes it: any number of digits up to
//! PostgreSQL's limits (131072 before the point, 16383 after), `NaN`,
//! `Infinity` and `-Infinity`, the division scale rule, type modifier
//! rounding, text input and the binary wire format.
//!
//! A value that fits a `rust_decimal::Decimal` (a 96-bit mantissa, at most
//! 28 fraction digits) is one, so the common case computes in registers
//! without allocating; any other finite value is a [`Wide`] (a big-integer
//! mantissa and a scale) behind a box. Every operation tries the `Decimal`
//! first and goes wide only when the exact result does not fit, and every
//! result that fits is made a `Decimal` again: one value has one form.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{ToPrimitive, Zero};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::{Error, Result};
use crate::sqlstate;

/// PostgreSQL's `NUMERIC_MIN_SIG_DIGITS`: a quotient keeps at least this many
/// significant digits.
const MIN_SIG_DIGITS: i32 = 16;
/// The most fraction digits a `Decimal` holds.
pub const SCALE_MAX: u32 = 28;
/// PostgreSQL's `NUMERIC_DSCALE_MAX`: the most fraction digits of a value.
pub const DSCALE_MAX: u32 = 16383;
/// The most digits before the point (PostgreSQL's weight limit of 0x7FFF
/// base-10000 digits, plus one).
pub const INTEGER_DIGITS_MAX: u32 = 131072;
/// PostgreSQL's `NUMERIC_MAX_DISPLAY_SCALE`: the largest scale a function
/// chooses for its result on its own.
pub const DISPLAY_SCALE_MAX: u32 = 1000;

/// A `numeric` value.
#[derive(Clone, Debug)]
pub enum Numeric {
    /// A finite value that fits a `Decimal`.
    Dec(Decimal),
    /// A finite value that does not.
    Wide(Box<Wide>),
    NaN,
    Infinity,
    NegInfinity,
}

/// How [`Numeric::at_scale`] drops digits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rounding {
    HalfAwayFromZero,
    TowardZero,
    Down,
    Up,
}

/// A finite value too large or too precise for a `Decimal`:
/// `mantissa × 10^-scale`.
#[derive(Clone, Debug)]
pub struct Wide {
    mantissa: BigInt,
    scale: u32,
}

fn overflow() -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

pub(crate) fn pow10(n: u32) -> BigInt {
    num_traits::pow(BigInt::from(10u8), n as usize)
}

/// `n / d` rounded half away from zero.
pub(crate) fn div_round(n: &BigInt, d: &BigInt) -> BigInt {
    let (q, r) = n.div_rem(d);
    if (r.magnitude() << 1u8) >= *d.magnitude() {
        if (n.sign() == Sign::Minus) == (d.sign() == Sign::Minus) {
            q + 1
        } else {
            q - 1
        }
    } else {
        q
    }
}

/// `m × 10^-from` at scale `to`: padded, or rounded half away from zero.
pub(crate) fn rescale_mantissa(m: &BigInt, from: u32, to: u32) -> BigInt {
    match to.cmp(&from) {
        Ordering::Equal => m.clone(),
        Ordering::Greater => m * pow10(to - from),
        Ordering::Less => div_round(m, &pow10(from - to)),
    }
}

/// The number of decimal digits of `|m|` (1 for zero).
fn digit_count(m: &BigInt) -> u32 {
    if m.is_zero() {
        return 1;
    }
    // bits × log10(2) is within one of the count; check the boundary.
    let estimate = (m.bits() as f64 * std::f64::consts::LOG10_2) as u32;
    let estimate = estimate.max(1);
    if m.magnitude() >= pow10(estimate).magnitude() {
        estimate + 1
    } else {
        estimate
    }
}

impl Numeric {
    pub const ZERO: Numeric = Numeric::Dec(Decimal::ZERO);
    pub const ONE: Numeric = Numeric::Dec(Decimal::ONE);

    /// A `Decimal`, with negative zero made zero.
    pub fn from_decimal(mut d: Decimal) -> Numeric {
        if d.is_zero() {
            d.set_sign_positive(true);
        }
        Numeric::Dec(d)
    }

    /// `mantissa × 10^-scale`, in the form that fits; 22003 beyond
    /// PostgreSQL's limits.
    pub fn from_parts(mantissa: BigInt, scale: u32) -> Result<Numeric> {
        if scale > DSCALE_MAX {
            return Err(overflow());
        }
        if scale <= SCALE_MAX {
            if let Some(m) = mantissa.to_i128() {
                if let Ok(d) = Decimal::try_from_i128_with_scale(m, scale) {
                    return Ok(Numeric::from_decimal(d));
                }
            }
        }
        let digits = digit_count(&mantissa);
        if digits > scale && digits - scale > INTEGER_DIGITS_MAX {
            return Err(overflow());
        }
        Ok(Numeric::Wide(Box::new(Wide { mantissa, scale })))
    }

    /// The mantissa and scale of a finite value.
    pub fn parts(&self) -> Option<(BigInt, u32)> {
        match self {
            Numeric::Dec(d) => Some((BigInt::from(d.mantissa()), d.scale())),
            Numeric::Wide(w) => Some((w.mantissa.clone(), w.scale)),
            _ => None,
        }
    }

    /// Sign, the digits of the mantissa and the scale of a finite value.
    pub fn digits(&self) -> Option<(bool, String, u32)> {
        match self {
            Numeric::Dec(d) => Some((
                d.is_sign_negative() && !d.is_zero(),
                d.mantissa().unsigned_abs().to_string(),
                d.scale(),
            )),
            Numeric::Wide(w) => Some((
                w.mantissa.sign() == Sign::Minus,
                w.mantissa.magnitude().to_string(),
                w.scale,
            )),
            _ => None,
        }
    }

    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Numeric::Dec(d) => Some(*d),
            _ => None,
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self, Numeric::Dec(_) | Numeric::Wide(_))
    }
    pub fn is_nan(&self) -> bool {
        matches!(self, Numeric::NaN)
    }
    pub fn is_infinite(&self) -> bool {
        matches!(self, Numeric::Infinity | Numeric::NegInfinity)
    }
    pub fn is_zero(&self) -> bool {
        matches!(self, Numeric::Dec(d) if d.is_zero())
    }
    /// Below zero (`-Infinity` included; `NaN` is not).
    pub fn is_negative(&self) -> bool {
        match self {
            Numeric::Dec(d) => d.is_sign_negative() && !d.is_zero(),
            Numeric::Wide(w) => w.mantissa.sign() == Sign::Minus,
            Numeric::NegInfinity => true,
            _ => false,
        }
    }

    /// The display scale (fraction digits); 0 for the special values.
    pub fn scale(&self) -> u32 {
        match self {
            Numeric::Dec(d) => d.scale(),
            Numeric::Wide(w) => w.scale,
            _ => 0,
        }
    }

    /// Digits before the point, leading zeros not counted (0 for |x| < 1).
    pub fn integer_digits(&self) -> u32 {
        if let Numeric::Dec(d) = self {
            // Without making the digits' text (a typmod checks each value).
            let significant = d
                .mantissa()
                .unsigned_abs()
                .checked_ilog10()
                .map_or(0, |l| l + 1);
            return significant.saturating_sub(d.scale());
        }
        match self.digits() {
            Some((_, digits, scale)) => {
                let significant = digits.trim_start_matches('0').len() as u32;
                significant.saturating_sub(scale)
            }
            None => 0,
        }
    }

    /// Whether a finite value has no fraction (trailing zeros allowed).
    pub fn is_integral(&self) -> bool {
        match self.digits() {
            Some((_, digits, scale)) => {
                digits.bytes().rev().take(scale as usize).all(|b| b == b'0')
            }
            None => false,
        }
    }

    /// Parses PostgreSQL's numeric text input: optional sign, digits with an
    /// optional point, an optional exponent, surrounding blanks; or `NaN`,
    /// `Infinity`, `inf` with an optional sign (any case).
    pub fn parse(text: &str) -> Result<Numeric> {
        let s = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let invalid = || Error::invalid_text("numeric", text);
        let bytes = s.as_bytes();
        let (negative, rest) = match bytes.first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest.eq_ignore_ascii_case("nan") {
            return if rest.len() == s.len() {
                Ok(Numeric::NaN)
            } else {
                Err(invalid())
            };
        }
        if rest.eq_ignore_ascii_case("infinity") || rest.eq_ignore_ascii_case("inf") {
            return Ok(if negative {
                Numeric::NegInfinity
            } else {
                Numeric::Infinity
            });
        }
        let rest = rest.as_bytes();
        let mut digits = String::with_capacity(rest.len());
        let mut fraction_digits: i64 = 0;
        let mut seen_point = false;
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                b'0'..=b'9' => {
                    digits.push(rest[i] as char);
                    if seen_point {
                        fraction_digits += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => break,
            }
            i += 1;
        }
        if digits.is_empty() {
            return Err(invalid());
        }
        let mut exponent: i64 = 0;
        if i < rest.len() {
            if rest[i] != b'e' && rest[i] != b'E' {
                return Err(invalid());
            }
            let e = std::str::from_utf8(&rest[i + 1..]).map_err(|_| invalid())?;
            if e.is_empty()
                || !e
                    .trim_start_matches(['+', '-'])
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                return Err(invalid());
            }
            exponent = e.parse().map_err(|_| overflow())?;
            if exponent.abs() > (INTEGER_DIGITS_MAX + DSCALE_MAX) as i64 * 2 {
                return Err(overflow());
            }
        }
        let scale = fraction_digits - exponent;
        let significant = digits.trim_start_matches('0');
        let significant = if significant.is_empty() {
            "0"
        } else {
            significant
        };
        Numeric::from_digits(negative, significant, scale)
    }

    /// `±digits × 10^-scale`; a negative scale appends zeros.
    fn from_digits(negative: bool, digits: &str, scale: i64) -> Result<Numeric> {
        if scale > DSCALE_MAX as i64 {
            return Err(overflow());
        }
        let zeros = (-scale).max(0) as u32;
        let scale = scale.max(0) as u32;
        if digits.len() as i64 + zeros as i64 - scale as i64 > INTEGER_DIGITS_MAX as i64
            && digits != "0"
        {
            return Err(overflow());
        }
        if zeros == 0 && digits.len() <= 28 {
            let m: i128 = digits.parse().map_err(|_| overflow())?;
            return Numeric::from_parts(BigInt::from(if negative { -m } else { m }), scale);
        }
        let m: BigInt = digits.parse().map_err(|_| overflow())?;
        let m = if zeros > 0 { m * pow10(zeros) } else { m };
        Numeric::from_parts(if negative { -m } else { m }, scale)
    }

    /// PostgreSQL's `float8_numeric`/`float4_numeric`: the float printed
    /// with `significant` digits (15 for double precision, 6 for real), read
    /// back as numeric.
    pub fn from_f64(v: f64, significant: usize) -> Result<Numeric> {
        if v.is_nan() {
            return Ok(Numeric::NaN);
        }
        if v.is_infinite() {
            return Ok(if v > 0.0 {
                Numeric::Infinity
            } else {
                Numeric::NegInfinity
            });
        }
        let text = format!("{:.*e}", significant.saturating_sub(1), v);
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.trim_end_matches('0').trim_end_matches('.')
        } else {
            mantissa
        };
        Numeric::parse(&format!("{mantissa}e{exponent}"))
    }

    pub fn to_f64(&self) -> f64 {
        match self {
            Numeric::Dec(d) => d.to_f64().unwrap_or(f64::NAN),
            Numeric::Wide(_) => self.to_string().parse().unwrap_or(f64::NAN),
            Numeric::NaN => f64::NAN,
            Numeric::Infinity => f64::INFINITY,
            Numeric::NegInfinity => f64::NEG_INFINITY,
        }
    }

    /// Rounded half away from zero to an integer; `type_name` names the
    /// target in the errors (`NaN` and infinity are 0A000, as in PostgreSQL).
    pub fn to_i64_rounded(&self, type_name: &str) -> Result<i64> {
        match self {
            Numeric::Dec(d) => d
                .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                .to_i64()
                .ok_or_else(|| Error::out_of_range(type_name)),
            Numeric::Wide(_) => Err(Error::out_of_range(type_name)),
            Numeric::NaN => Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("cannot convert NaN to {type_name}"),
            )),
            _ => Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("cannot convert infinity to {type_name}"),
            )),
        }
    }

    pub fn neg(&self) -> Numeric {
        match self {
            Numeric::Dec(d) => Numeric::from_decimal(-*d),
            Numeric::Wide(w) => Numeric::Wide(Box::new(Wide {
                mantissa: -&w.mantissa,
                scale: w.scale,
            })),
            Numeric::NaN => Numeric::NaN,
            Numeric::Infinity => Numeric::NegInfinity,
            Numeric::NegInfinity => Numeric::Infinity,
        }
    }

    pub fn abs(&self) -> Numeric {
        if self.is_negative() {
            self.neg()
        } else {
            self.clone()
        }
    }

    /// -1, 0 or 1 (`NaN` for `NaN`).
    pub fn signum(&self) -> Numeric {
        match self {
            Numeric::NaN => Numeric::NaN,
            _ if self.is_negative() => Numeric::Dec(Decimal::NEGATIVE_ONE),
            _ if self.is_zero() => Numeric::ZERO,
            _ => Numeric::ONE,
        }
    }

    pub fn add(&self, other: &Numeric) -> Result<Numeric> {
        use Numeric::*;
        match (self, other) {
            (Dec(a), Dec(b)) => {
                if let Some(r) = a.checked_add(*b) {
                    if r.scale() == a.scale().max(b.scale()) {
                        return Ok(Numeric::from_decimal(r));
                    }
                }
            }
            (NaN, _) | (_, NaN) => return Ok(NaN),
            (Infinity, NegInfinity) | (NegInfinity, Infinity) => return Ok(NaN),
            (Infinity | NegInfinity, _) => return Ok(self.clone()),
            (_, Infinity | NegInfinity) => return Ok(other.clone()),
            _ => {}
        }
        let ((a, sa), (b, sb)) = (self.finite_parts(), other.finite_parts());
        let scale = sa.max(sb);
        Numeric::from_parts(
            rescale_mantissa(&a, sa, scale) + rescale_mantissa(&b, sb, scale),
            scale,
        )
    }

    pub fn sub(&self, other: &Numeric) -> Result<Numeric> {
        if let (Numeric::Dec(a), Numeric::Dec(b)) = (self, other) {
            if let Some(r) = a.checked_sub(*b) {
                if r.scale() == a.scale().max(b.scale()) {
                    return Ok(Numeric::from_decimal(r));
                }
            }
        }
        self.add(&other.neg())
    }

    /// The exact product, at the sum of the scales.
    pub fn mul(&self, other: &Numeric) -> Result<Numeric> {
        use Numeric::*;
        match (self, other) {
            (Dec(a), Dec(b)) => {
                let scale = a.scale() + b.scale();
                if scale <= SCALE_MAX {
                    if let Some(r) = a.checked_mul(*b) {
                        if r.scale() == scale {
                            return Ok(Numeric::from_decimal(r));
                        }
                    }
                }
            }
            (NaN, _) | (_, NaN) => return Ok(NaN),
            _ if !self.is_finite() || !other.is_finite() => {
                if self.is_zero() || other.is_zero() {
                    return Ok(NaN);
                }
                return Ok(if self.is_negative() == other.is_negative() {
                    Infinity
                } else {
                    NegInfinity
                });
            }
            _ => {}
        }
        let ((a, sa), (b, sb)) = (self.finite_parts(), other.finite_parts());
        Numeric::from_parts(a * b, sa + sb)
    }

    /// The quotient at the scale PostgreSQL chooses ([`division_scale`]),
    /// rounded half away from zero; 22012 for a zero divisor.
    pub fn div(&self, other: &Numeric) -> Result<Numeric> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => return Ok(NaN),
            (Infinity | NegInfinity, _) => {
                if !other.is_finite() {
                    return Ok(NaN);
                }
                if other.is_zero() {
                    return Err(Error::division_by_zero());
                }
                return Ok(if self.is_negative() == other.is_negative() {
                    Infinity
                } else {
                    NegInfinity
                });
            }
            (_, Infinity | NegInfinity) => return Ok(Numeric::ZERO),
            _ => {}
        }
        if other.is_zero() {
            return Err(Error::division_by_zero());
        }
        let scale = division_scale(self, other);
        self.div_at(other, scale)
    }

    /// The quotient of two finite values at `scale`, rounded half away from
    /// zero.
    pub fn div_at(&self, other: &Numeric, scale: u32) -> Result<Numeric> {
        if other.is_zero() {
            return Err(Error::division_by_zero());
        }
        let ((a, sa), (b, sb)) = (self.finite_parts(), other.finite_parts());
        // a·10^-sa / (b·10^-sb) at scale s = round(a·10^(s+sb-sa) / b).
        let shift = scale as i64 + sb as i64 - sa as i64;
        let (n, d) = if shift >= 0 {
            (a, b)
        } else {
            (a, b * pow10((-shift) as u32))
        };
        let shift = shift.max(0) as u32;
        // Small enough for i128: no allocation.
        if let (Some(n), Some(d)) = (n.to_i128(), d.to_i128()) {
            if let Some(n) = 10i128.checked_pow(shift).and_then(|p| n.checked_mul(p)) {
                let (q, r) = (n / d, n % d);
                let q = if r.unsigned_abs() * 2 >= d.unsigned_abs() {
                    q + if (n < 0) == (d < 0) { 1 } else { -1 }
                } else {
                    q
                };
                return Numeric::from_parts(BigInt::from(q), scale);
            }
        }
        Numeric::from_parts(div_round(&(n * pow10(shift)), &d), scale)
    }

    /// The remainder of truncating division, at the larger scale (`mod`,
    /// `%`); 22012 for a zero divisor.
    pub fn rem(&self, other: &Numeric) -> Result<Numeric> {
        use Numeric::*;
        match (self, other) {
            (Dec(a), Dec(b)) => {
                if b.is_zero() {
                    return Err(Error::division_by_zero());
                }
                if let Some(r) = a.checked_rem(*b) {
                    if r.scale() == a.scale().max(b.scale()) {
                        return Ok(Numeric::from_decimal(r));
                    }
                }
            }
            (NaN, _) | (_, NaN) => return Ok(NaN),
            (Infinity | NegInfinity, _) => {
                if other.is_zero() {
                    return Err(Error::division_by_zero());
                }
                return Ok(NaN);
            }
            (_, Infinity | NegInfinity) => return Ok(self.clone()),
            _ => {}
        }
        if other.is_zero() {
            return Err(Error::division_by_zero());
        }
        let ((a, sa), (b, sb)) = (self.finite_parts(), other.finite_parts());
        let scale = sa.max(sb);
        let r = rescale_mantissa(&a, sa, scale) % rescale_mantissa(&b, sb, scale);
        Numeric::from_parts(r, scale)
    }

    /// Rounded half away from zero, or padded, to `scale` fraction digits.
    pub fn with_scale(&self, scale: u32) -> Numeric {
        self.at_scale(scale, Rounding::HalfAwayFromZero)
    }

    /// Cut (toward zero) to `scale` fraction digits; a larger scale pads.
    pub fn trunc_scale(&self, scale: u32) -> Numeric {
        self.at_scale(scale, Rounding::TowardZero)
    }

    /// The next integer down/up at `scale` fraction digits.
    pub fn floor_scale(&self, scale: u32) -> Numeric {
        self.at_scale(scale, Rounding::Down)
    }
    pub fn ceil_scale(&self, scale: u32) -> Numeric {
        self.at_scale(scale, Rounding::Up)
    }

    /// To `scale` fraction digits (at most [`DSCALE_MAX`]): padded, or
    /// rounded as `how` says; in registers while a `Decimal` holds it.
    fn at_scale(&self, scale: u32, how: Rounding) -> Numeric {
        if let Numeric::Dec(d) = self {
            if scale <= SCALE_MAX {
                let strategy = match how {
                    Rounding::HalfAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
                    Rounding::TowardZero => RoundingStrategy::ToZero,
                    Rounding::Down => RoundingStrategy::ToNegativeInfinity,
                    Rounding::Up => RoundingStrategy::ToPositiveInfinity,
                };
                let mut r = d.round_dp_with_strategy(scale, strategy);
                if r.scale() < scale {
                    r.rescale(scale);
                }
                if r.scale() == scale {
                    return Numeric::from_decimal(r);
                }
            }
        }
        let Some((m, s)) = self.parts() else {
            return self.clone();
        };
        let scale = scale.min(DSCALE_MAX);
        let m = match how {
            Rounding::HalfAwayFromZero => rescale_mantissa(&m, s, scale),
            _ if scale >= s => m * pow10(scale - s),
            _ => {
                let (q, r) = m.div_rem(&pow10(s - scale));
                match (how, r.sign()) {
                    (Rounding::Down, Sign::Minus) => q - 1,
                    (Rounding::Up, Sign::Plus) => q + 1,
                    _ => q,
                }
            }
        };
        Numeric::from_parts(m, scale).unwrap_or_else(|_| self.clone())
    }

    /// Applies the `numeric(precision, scale)` modifier: rounds to `scale`
    /// and fails with 22003 when the integer part does not fit or the value
    /// is infinite.
    pub fn apply_typmod(&self, precision: u16, scale: u16) -> Result<Numeric> {
        let field_overflow = |detail: String| {
            Error::new(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                "numeric field overflow",
            )
            .with_detail(detail)
        };
        match self {
            Numeric::NaN => return Ok(Numeric::NaN),
            Numeric::Infinity | Numeric::NegInfinity => {
                return Err(field_overflow(format!(
                "A field with precision {precision}, scale {scale} cannot hold an infinite value."
            )))
            }
            _ => {}
        }
        let r = self.with_scale(scale as u32);
        let int_room = precision as u32 - scale as u32;
        if r.integer_digits() > int_room {
            return Err(field_overflow(format!(
                "A field with precision {precision}, scale {scale} must round to an absolute value less than {}.",
                if int_room == 0 { "1".to_string() } else { format!("10^{int_room}") }
            )));
        }
        Ok(r)
    }

    fn finite_parts(&self) -> (BigInt, u32) {
        self.parts().unwrap_or_else(|| (BigInt::zero(), 0))
    }

    /// Encodes into PostgreSQL's binary `numeric` format (base-10000 digits).
    pub fn encode_binary(&self, out: &mut Vec<u8>) {
        let special = match self {
            Numeric::NaN => Some(0xC000u16),
            Numeric::Infinity => Some(0xD000),
            Numeric::NegInfinity => Some(0xF000),
            _ => None,
        };
        if let Some(sign) = special {
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.extend_from_slice(&sign.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
            return;
        }
        let (negative, abs, scale) = self.digits().unwrap_or_default();
        let scale = scale as usize;
        let (int_part, frac_part) = if abs.len() > scale {
            (
                &abs[..abs.len() - scale],
                abs[abs.len() - scale..].to_string(),
            )
        } else {
            ("0", format!("{}{}", "0".repeat(scale - abs.len()), abs))
        };
        let int_pad = (4 - int_part.len() % 4) % 4;
        let int_padded = format!("{}{}", "0".repeat(int_pad), int_part);
        let frac_pad = (4 - frac_part.len() % 4) % 4;
        let frac_padded = format!("{}{}", frac_part, "0".repeat(frac_pad));
        let groups: Vec<i16> = int_padded
            .as_bytes()
            .chunks(4)
            .chain(frac_padded.as_bytes().chunks(4))
            .map(|chunk| {
                chunk
                    .iter()
                    .fold(0i16, |acc, b| acc * 10 + (b - b'0') as i16)
            })
            .collect();
        let mut weight = (int_padded.len() / 4) as i32 - 1;
        let mut start = 0;
        while start < groups.len() && groups[start] == 0 {
            start += 1;
            weight -= 1;
        }
        let mut end = groups.len();
        while end > start && groups[end - 1] == 0 {
            end -= 1;
        }
        let digits = &groups[start..end];
        if digits.is_empty() {
            weight = 0;
        }
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&(weight as i16).to_be_bytes());
        let sign: u16 = if negative { 0x4000 } else { 0 };
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&(scale as u16).to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
    }

    /// Decodes PostgreSQL's binary `numeric` format.
    pub fn decode_binary(bytes: &[u8]) -> Result<Numeric> {
        let bad = || {
            Error::new(
                sqlstate::INVALID_BINARY_REPRESENTATION,
                "invalid numeric binary format",
            )
        };
        if bytes.len() < 8 {
            return Err(bad());
        }
        let rd = |i: usize| i16::from_be_bytes([bytes[i], bytes[i + 1]]);
        let ndigits = rd(0);
        let weight = rd(2) as i64;
        let sign = rd(4) as u16;
        let dscale = rd(6) as u16 as u32;
        match sign {
            0xC000 => return Ok(Numeric::NaN),
            0xD000 => return Ok(Numeric::Infinity),
            0xF000 => return Ok(Numeric::NegInfinity),
            0 | 0x4000 => {}
            _ => return Err(bad()),
        }
        if ndigits < 0 || bytes.len() != 8 + ndigits as usize * 2 || dscale > DSCALE_MAX {
            return Err(bad());
        }
        let mut digits = String::with_capacity(ndigits as usize * 4);
        for i in 0..ndigits as usize {
            let d = rd(8 + i * 2);
            if !(0..10000).contains(&d) {
                return Err(bad());
            }
            digits.push_str(&format!("{d:04}"));
        }
        if digits.is_empty() {
            return Ok(Numeric::ZERO.with_scale(dscale));
        }
        // The digits are base-10000 places weight, weight-1, …: the value is
        // digits × 10^(4·(weight + 1 − ndigits)).
        let scale = 4 * (ndigits as i64 - 1 - weight);
        let significant = digits.trim_start_matches('0');
        let significant = if significant.is_empty() {
            "0"
        } else {
            significant
        };
        let value = Numeric::from_digits(sign == 0x4000, significant, scale)?;
        Ok(value.with_scale(dscale))
    }

    /// Order and equality (`NaN` above everything, `-Infinity` below) for
    /// values not both `Decimal`s.
    fn cmp_slow(&self, other: &Numeric) -> Ordering {
        fn rank(n: &Numeric) -> u8 {
            match n {
                Numeric::NegInfinity => 0,
                Numeric::Dec(_) | Numeric::Wide(_) => 1,
                Numeric::Infinity => 2,
                Numeric::NaN => 3,
            }
        }
        match rank(self).cmp(&rank(other)) {
            Ordering::Equal if rank(self) == 1 => {
                let ((a, sa), (b, sb)) = (self.finite_parts(), other.finite_parts());
                let scale = sa.max(sb);
                rescale_mantissa(&a, sa, scale).cmp(&rescale_mantissa(&b, sb, scale))
            }
            o => o,
        }
    }

    /// The value without trailing fraction zeros: the form [`Hash`] and the
    /// key encoding use, so that 1.0 and 1.00 are alike.
    pub fn normalized(&self) -> Numeric {
        match self {
            Numeric::Dec(d) => Numeric::Dec(d.normalize()),
            Numeric::Wide(w) => {
                let mut m = w.mantissa.clone();
                let mut scale = w.scale;
                let ten = BigInt::from(10u8);
                while scale > 0 {
                    let (q, r) = m.div_rem(&ten);
                    if !r.is_zero() {
                        break;
                    }
                    m = q;
                    scale -= 1;
                }
                Numeric::from_parts(m, scale).unwrap_or_else(|_| self.clone())
            }
            other => other.clone(),
        }
    }
}

/// The scale of `a / b` as PostgreSQL's `select_div_scale` chooses it.
pub fn division_scale(a: &Numeric, b: &Numeric) -> u32 {
    let (w1, f1) = weight_and_first_digit(a);
    let (w2, f2) = weight_and_first_digit(b);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    let rscale = (MIN_SIG_DIGITS - qweight * 4)
        .max(a.scale() as i32)
        .max(b.scale() as i32)
        .max(0);
    rscale.min(DISPLAY_SCALE_MAX as i32) as u32
}

/// Base-10000 weight and leading digit of a value, as PostgreSQL stores it.
pub fn weight_and_first_digit(v: &Numeric) -> (i32, i64) {
    let Some((_, digits, scale)) = v.digits() else {
        return (0, 0);
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return (0, 0);
    }
    let exp10 = digits.len() as i32 - 1 - scale as i32;
    let weight = exp10.div_euclid(4);
    let lead_len = exp10.rem_euclid(4) as usize + 1;
    let mut first: i64 = digits
        .bytes()
        .take(lead_len)
        .fold(0, |acc, b| acc * 10 + (b - b'0') as i64);
    // Pad when the mantissa has fewer digits than the leading group needs.
    for _ in digits.len()..lead_len {
        first *= 10;
    }
    (weight, first)
}

impl From<i64> for Numeric {
    fn from(v: i64) -> Numeric {
        Numeric::Dec(Decimal::from(v))
    }
}
impl From<i32> for Numeric {
    fn from(v: i32) -> Numeric {
        Numeric::Dec(Decimal::from(v))
    }
}
impl From<i16> for Numeric {
    fn from(v: i16) -> Numeric {
        Numeric::Dec(Decimal::from(v))
    }
}
impl From<Decimal> for Numeric {
    fn from(d: Decimal) -> Numeric {
        Numeric::from_decimal(d)
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Numeric::Dec(d) => write!(f, "{d}"),
            Numeric::NaN => f.write_str("NaN"),
            Numeric::Infinity => f.write_str("Infinity"),
            Numeric::NegInfinity => f.write_str("-Infinity"),
            Numeric::Wide(w) => {
                if w.mantissa.sign() == Sign::Minus {
                    f.write_str("-")?;
                }
                let digits = w.mantissa.magnitude().to_string();
                let scale = w.scale as usize;
                if scale == 0 {
                    f.write_str(&digits)
                } else if digits.len() > scale {
                    let (int, frac) = digits.split_at(digits.len() - scale);
                    write!(f, "{int}.{frac}")
                } else {
                    write!(f, "0.{}{digits}", "0".repeat(scale - digits.len()))
                }
            }
        }
    }
}

impl PartialEq for Numeric {
    fn eq(&self, other: &Numeric) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Numeric {}
impl PartialOrd for Numeric {
    fn partial_cmp(&self, other: &Numeric) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Numeric {
    fn cmp(&self, other: &Numeric) -> Ordering {
        match (self, other) {
            (Numeric::Dec(a), Numeric::Dec(b)) => a.cmp(b),
            _ => self.cmp_slow(other),
        }
    }
}

impl Hash for Numeric {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.normalized() {
            Numeric::Dec(d) => (0u8, d.mantissa(), d.scale()).hash(state),
            Numeric::Wide(w) => match w.mantissa.to_i128() {
                Some(m) => (0u8, m, w.scale).hash(state),
                None => (1u8, w.mantissa.to_signed_bytes_le(), w.scale).hash(state),
            },
            Numeric::NaN => 2u8.hash(state),
            Numeric::Infinity => 3u8.hash(state),
            Numeric::NegInfinity => 4u8.hash(state),
        }
    }
}

impl Default for Numeric {
    fn default() -> Numeric {
        Numeric::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Numeric {
        Numeric::parse(s).unwrap()
    }

    #[test]
    fn division_keeps_sixteen_significant_digits() {
        for (a, b, q) in [
            ("1", "3", "0.33333333333333333333"),
            ("3", "2", "1.5000000000000000"),
            ("10", "4", "2.5000000000000000"),
            ("1.50", "1", "1.50000000000000000000"),
            ("1", "3000000", "0.000000333333333333333333"),
            ("2", "3", "0.66666666666666666667"),
            ("-2", "3", "-0.66666666666666666667"),
        ] {
            assert_eq!(n(a).div(&n(b)).unwrap().to_string(), q, "{a} / {b}");
        }
    }

    #[test]
    fn wide_values_are_exact() {
        let big = "123456789012345678901234567890.123456789";
        assert_eq!(n(big).to_string(), big);
        assert_eq!(n(&format!("-{big}")).to_string(), format!("-{big}"));
        assert_eq!(
            n("0.1234567890123456789012345678")
                .mul(&n("0.1234567890123456789012345678"))
                .unwrap()
                .to_string(),
            "0.01524157875323883675049535154031397676527968299765279684"
        );
        assert_eq!(
            n("12345678901234567890123456789")
                .add(&n("0.5"))
                .unwrap()
                .to_string(),
            "12345678901234567890123456789.5"
        );
        assert_eq!(n("1e40").to_string(), format!("1{}", "0".repeat(40)));
        assert_eq!(n("1e1000").to_string().len(), 1001);
        // Back to a Decimal when the result fits again.
        let r = n("1e40").sub(&n("1e40")).unwrap();
        assert!(matches!(r, Numeric::Dec(_)));
        assert_eq!(n("1e-16383").scale(), 16383);
        assert_eq!(n("1e131071").integer_digits(), 131072);
        for bad in ["1e131072", "1e-16384", "1e999999999999"] {
            let err = Numeric::parse(bad).unwrap_err();
            assert_eq!(err.code, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, "{bad}");
        }
        assert_eq!(
            n("1e40").div(&n("3")).unwrap().to_string(),
            "3333333333333333333333333333333333333333"
        );
    }

    #[test]
    fn equal_values_compare_and_hash_alike() {
        use std::collections::hash_map::DefaultHasher;
        let h = |v: &Numeric| {
            let mut s = DefaultHasher::new();
            v.hash(&mut s);
            s.finish()
        };
        let one = n("1");
        let wide_one = n(&format!("1.{}", "0".repeat(40)));
        assert!(matches!(wide_one, Numeric::Wide(_)));
        assert_eq!(one, wide_one);
        assert_eq!(h(&one), h(&wide_one));
        assert!(n("-Infinity") < n("-1e1000"));
        assert!(n("1e1000") < n("Infinity"));
        assert!(n("Infinity") < n("NaN"));
        assert_eq!(n("NaN"), n("nan"));
    }

    #[test]
    fn special_values_follow_postgres() {
        assert_eq!(n(" -inf ").to_string(), "-Infinity");
        assert_eq!(n("+Infinity").to_string(), "Infinity");
        assert!(Numeric::parse("-nan").is_err());
        let inf = n("inf");
        assert!(inf.add(&n("-inf")).unwrap().is_nan());
        assert!(inf.mul(&n("0")).unwrap().is_nan());
        assert_eq!(n("1").div(&inf).unwrap().to_string(), "0");
        assert_eq!(n("5").rem(&inf).unwrap().to_string(), "5");
        assert!(inf.rem(&n("5")).unwrap().is_nan());
        assert!(n("nan").div(&n("0")).unwrap().is_nan());
        assert_eq!(
            inf.div(&n("0")).unwrap_err().code,
            sqlstate::DIVISION_BY_ZERO
        );
        let err = inf.apply_typmod(5, 2).unwrap_err();
        assert_eq!(err.code, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
        assert!(n("nan").apply_typmod(5, 2).unwrap().is_nan());
        assert_eq!(
            n("nan").to_i64_rounded("integer").unwrap_err().code,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
    }

    #[test]
    fn rounding_modes_agree_in_both_forms() {
        let wide = format!("-1{}.5", "0".repeat(40));
        for (x, round, trunc, floor, ceil) in [
            ("-1.5", "-2", "-1", "-2", "-1"),
            ("2.5", "3", "2", "2", "3"),
            ("-0.5", "-1", "0", "-1", "0"),
            ("7", "7", "7", "7", "7"),
        ] {
            let x = n(x);
            assert_eq!(x.with_scale(0).to_string(), round);
            assert_eq!(x.trunc_scale(0).to_string(), trunc);
            assert_eq!(x.floor_scale(0).to_string(), floor);
            assert_eq!(x.ceil_scale(0).to_string(), ceil);
        }
        let w = n(&wide);
        let whole = format!("-1{}", "0".repeat(40));
        let next = format!("-1{}1", "0".repeat(39));
        assert_eq!(w.trunc_scale(0).to_string(), whole);
        assert_eq!(w.ceil_scale(0).to_string(), whole);
        assert_eq!(w.floor_scale(0).to_string(), next);
        assert_eq!(w.with_scale(0).to_string(), next);
        assert_eq!(n("1.5").ceil_scale(2).to_string(), "1.50");
        assert_eq!(n("123.456").integer_digits(), 3);
        assert_eq!(n("0.001").integer_digits(), 0);
        assert_eq!(n("0").integer_digits(), 0);
    }

    #[test]
    fn typmod_rounds_and_checks_precision() {
        assert_eq!(n("1.005").apply_typmod(5, 2).unwrap().to_string(), "1.01");
        assert_eq!(n("1").apply_typmod(5, 2).unwrap().to_string(), "1.00");
        let err = n("1000").apply_typmod(5, 2).unwrap_err();
        assert_eq!(err.code, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
        assert_eq!(
            n("1.5").apply_typmod(40, 30).unwrap().to_string(),
            format!("1.5{}", "0".repeat(29))
        );
    }

    #[test]
    fn parses_postgres_forms() {
        assert_eq!(n(" 1.50 ").to_string(), "1.50");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("5.").to_string(), "5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-2.5e-2").to_string(), "-0.025");
        assert_eq!(n("-0.000").to_string(), "0.000");
        for bad in ["abc", "1.2.3", "", "1e", "1e+", "- 1", "infinityx"] {
            assert!(Numeric::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn floats_convert_with_their_significant_digits() {
        assert_eq!(Numeric::from_f64(0.1, 15).unwrap().to_string(), "0.1");
        assert_eq!(
            Numeric::from_f64(1.0 / 3.0, 15).unwrap().to_string(),
            "0.333333333333333"
        );
        assert_eq!(
            Numeric::from_f64(2f64.powi(60), 15).unwrap().to_string(),
            "1152921504606850000"
        );
        assert_eq!(Numeric::from_f64(1e300, 15).unwrap(), n("1e300"));
        assert_eq!(
            Numeric::from_f64(0.1f32 as f64, 6).unwrap().to_string(),
            "0.1"
        );
        assert!(Numeric::from_f64(f64::NAN, 15).unwrap().is_nan());
        assert_eq!(n("1e300").to_f64(), 1e300);
    }

    #[test]
    fn binary_round_trip() {
        for s in [
            "0",
            "0.00",
            "1",
            "-1",
            "12345.678",
            "0.0001",
            "10000",
            "-0.5",
            "123456789012345678.1234",
            "-123456789012345678901234567890.123456789",
            "1e100",
            "1e-40",
            // Fraction zero groups before the first digit (weight < -1).
            "0.00000001",
            "-0.000000000012",
            "0.0000000000000000000000000001",
            // 28 digits whose base-10000 groups, padded, hold 32.
            "-123456789012345678.1234567891",
            "9999999999999999999999999999",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            let d = n(s);
            let mut buf = Vec::new();
            d.encode_binary(&mut buf);
            assert_eq!(
                Numeric::decode_binary(&buf).unwrap().to_string(),
                d.to_string(),
                "{s}"
            );
        }
        // PostgreSQL's own encoding of 1e-40 (weight -10, one digit 1).
        let mut buf = Vec::new();
        n("1e-40").encode_binary(&mut buf);
        assert_eq!(buf, [0, 1, 0xff, 0xf6, 0, 0, 0, 40, 0, 1]);
    }
}
