//! Exact `numeric` as PostgreSQL computes it: the division scale rule, type
//! modifier rounding, text input and the binary wire format.
//!
//! Values are `rust_decimal::Decimal` (96-bit mantissa, up to 28 digits);
//! larger values fail with 22003 instead of losing digits.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::{Error, Result};
use crate::sqlstate;

/// PostgreSQL's `NUMERIC_MIN_SIG_DIGITS`: a quotient keeps at least this many
/// significant digits.
const MIN_SIG_DIGITS: i32 = 16;
/// The most fraction digits a Decimal can hold.
pub const SCALE_MAX: u32 = 28;

fn overflow() -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

/// Base-10000 weight and leading digit of a value, as PostgreSQL stores it.
fn weight_and_first_digit(v: &Decimal) -> (i32, i64) {
    if v.is_zero() {
        return (0, 0);
    }
    let mantissa = v.mantissa().unsigned_abs();
    let digits = mantissa.to_string();
    let exp10 = digits.len() as i32 - 1 - v.scale() as i32;
    let weight = exp10.div_euclid(4);
    let lead_len = exp10.rem_euclid(4) as usize + 1;
    let first: String = digits.chars().take(lead_len).collect();
    let mut first: i64 = first.parse().unwrap_or(0);
    // Pad when the mantissa has fewer digits than the leading group needs.
    for _ in digits.len()..lead_len {
        first *= 10;
    }
    (weight, first)
}

/// The scale of `a / b` as PostgreSQL's `select_div_scale` chooses it.
pub fn division_scale(a: &Decimal, b: &Decimal) -> u32 {
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
    rscale.min(1000) as u32
}

pub fn add(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_add(b).ok_or_else(overflow)
}
pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_sub(b).ok_or_else(overflow)
}
pub fn mul(a: Decimal, b: Decimal) -> Result<Decimal> {
    let scale = a.scale() + b.scale();
    let mut r = a.checked_mul(b).ok_or_else(overflow)?;
    if scale <= SCALE_MAX && r.scale() < scale {
        r.rescale(scale);
    }
    Ok(r)
}
pub fn div(a: Decimal, b: Decimal) -> Result<Decimal> {
    if b.is_zero() {
        return Err(Error::division_by_zero());
    }
    let scale = division_scale(&a, &b);
    let q = a.checked_div(b).ok_or_else(overflow)?;
    Ok(with_scale(q, scale))
}
pub fn rem(a: Decimal, b: Decimal) -> Result<Decimal> {
    if b.is_zero() {
        return Err(Error::division_by_zero());
    }
    a.checked_rem(b).ok_or_else(overflow)
}

/// Rounds (half away from zero) or pads `v` to `scale` fraction digits, as far
/// as the 28-digit mantissa allows.
pub fn with_scale(v: Decimal, scale: u32) -> Decimal {
    let mut r =
        v.round_dp_with_strategy(scale.min(SCALE_MAX), RoundingStrategy::MidpointAwayFromZero);
    let int_digits = integer_digits(&r);
    let room = (SCALE_MAX + 1).saturating_sub(int_digits).min(SCALE_MAX);
    let target = scale.min(room);
    if r.scale() < target {
        r.rescale(target);
    }
    if r.is_zero() {
        r.set_sign_positive(true);
    }
    r
}

fn integer_digits(v: &Decimal) -> u32 {
    let t = v.trunc().abs();
    if t.is_zero() {
        0
    } else {
        t.mantissa().unsigned_abs().to_string().len() as u32 - t.scale()
    }
}

/// Applies the `numeric(precision, scale)` modifier: rounds to `scale` and
/// fails with 22003 when the integer part does not fit.
pub fn apply_typmod(v: Decimal, precision: u8, scale: u8) -> Result<Decimal> {
    let r = with_scale(v, scale as u32);
    let int_room = precision as u32 - scale as u32;
    if integer_digits(&r) > int_room {
        return Err(Error::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow").with_detail(
            format!(
                "A field with precision {precision}, scale {scale} must round to an absolute value less than {}.",
                if int_room == 0 { "1".to_string() } else { format!("10^{int_room}") }
            ),
        ));
    }
    Ok(r)
}

/// Parses PostgreSQL's numeric text input: optional sign, digits with an
/// optional point, an optional exponent, surrounding blanks.
pub fn parse(text: &str) -> Result<Decimal> {
    let s = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let invalid = || Error::invalid_text("numeric", text);
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let lower = s[i..].to_ascii_lowercase();
    if lower == "nan" || lower == "infinity" || lower == "inf" {
        return Err(Error::unsupported(format!("numeric value \"{text}\"")));
    }
    let mut digits = String::new();
    let mut scale: i64 = 0;
    let mut seen_point = false;
    let mut any_digit = false;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                any_digit = true;
                digits.push(bytes[i] as char);
                if seen_point {
                    scale += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if !any_digit {
        return Err(invalid());
    }
    if i < bytes.len() {
        if bytes[i] != b'e' && bytes[i] != b'E' {
            return Err(invalid());
        }
        let exp: i64 = s[i + 1..].parse().map_err(|_| invalid())?;
        if exp.abs() > 1000 {
            return Err(overflow());
        }
        scale -= exp;
    }
    // Strip leading zeros so the mantissa length is the significant digits.
    let trimmed = digits.trim_start_matches('0');
    let mut mantissa_digits = if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    };
    if scale < 0 {
        mantissa_digits.extend(std::iter::repeat_n('0', (-scale) as usize));
        scale = 0;
    }
    // Drop fraction digits beyond what a Decimal holds, rounding half away from zero.
    if scale > SCALE_MAX as i64 {
        let drop = (scale - SCALE_MAX as i64) as usize;
        if drop > mantissa_digits.len() {
            return Ok(Decimal::ZERO);
        }
        let keep_len = mantissa_digits.len().saturating_sub(drop);
        let round_up = mantissa_digits
            .as_bytes()
            .get(keep_len)
            .is_some_and(|d| *d >= b'5');
        mantissa_digits.truncate(keep_len);
        if mantissa_digits.is_empty() {
            mantissa_digits.push('0');
        }
        scale = SCALE_MAX as i64;
        let m: i128 = mantissa_digits.parse().map_err(|_| overflow())?;
        let m = if round_up { m + 1 } else { m };
        return from_parts(m, scale as u32, negative);
    }
    if mantissa_digits.len() > 38 {
        return Err(overflow());
    }
    let m: i128 = mantissa_digits.parse().map_err(|_| overflow())?;
    from_parts(m, scale as u32, negative)
}

fn from_parts(m: i128, scale: u32, negative: bool) -> Result<Decimal> {
    let m = if negative { -m } else { m };
    let mut d = Decimal::try_from_i128_with_scale(m, scale).map_err(|_| overflow())?;
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    Ok(d)
}

/// Encodes into PostgreSQL's binary `numeric` format (base-10000 digits).
pub fn encode_binary(v: &Decimal, out: &mut Vec<u8>) {
    let scale = v.scale() as usize;
    let abs = v.mantissa().unsigned_abs().to_string();
    let (int_part, frac_part) = if abs.len() > scale {
        (
            abs[..abs.len() - scale].to_string(),
            abs[abs.len() - scale..].to_string(),
        )
    } else {
        (
            "0".to_string(),
            format!("{}{}", "0".repeat(scale - abs.len()), abs),
        )
    };
    let int_pad = (4 - int_part.len() % 4) % 4;
    let int_padded = format!("{}{}", "0".repeat(int_pad), int_part);
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let frac_padded = format!("{}{}", frac_part, "0".repeat(frac_pad));
    let mut groups: Vec<i16> = Vec::new();
    for chunk in int_padded
        .as_bytes()
        .chunks(4)
        .chain(frac_padded.as_bytes().chunks(4))
    {
        let g = std::str::from_utf8(chunk)
            .ok()
            .and_then(|s| s.parse::<i16>().ok())
            .unwrap_or(0);
        groups.push(g);
    }
    let mut weight = (int_padded.len() / 4) as i16 - 1;
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
    out.extend_from_slice(&weight.to_be_bytes());
    let sign: u16 = if v.is_sign_negative() && !v.is_zero() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as u16).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

/// Decodes PostgreSQL's binary `numeric` format.
pub fn decode_binary(bytes: &[u8]) -> Result<Decimal> {
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
    let weight = rd(2) as i32;
    let sign = rd(4) as u16;
    let dscale = rd(6) as u16 as u32;
    if ndigits < 0 || bytes.len() != 8 + ndigits as usize * 2 || dscale > 1000 {
        return Err(bad());
    }
    if sign == 0xC000 {
        return Err(Error::unsupported("numeric NaN"));
    }
    if sign != 0 && sign != 0x4000 {
        return Err(bad());
    }
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    let ndigits = ndigits as i32;
    let digit = |i: i32| -> Result<i16> {
        if i < 0 || i >= ndigits {
            return Ok(0);
        }
        let d = rd(8 + i as usize * 2);
        if !(0..10000).contains(&d) {
            return Err(bad());
        }
        Ok(d)
    };
    if !(-300..=32).contains(&weight) {
        return Err(overflow());
    }
    let mut int_part = String::new();
    for i in 0..=weight {
        int_part.push_str(&format!("{:04}", digit(i)?));
    }
    // Leading zeros would count against the 28 digits a Decimal holds.
    let int_part = int_part.trim_start_matches('0');
    text.push_str(if int_part.is_empty() { "0" } else { int_part });
    text.push('.');
    // Group `weight + 1 + g` is the g-th after the point; for a weight
    // below -1 the first ones are the zero groups before the stored digits.
    let mut fraction = String::new();
    let frac_groups = (ndigits - (weight + 1)).max(0);
    for g in 0..frac_groups {
        fraction.push_str(&format!("{:04}", digit(weight + 1 + g)?));
    }
    // Digits past dscale are dropped, as PostgreSQL's numeric_recv
    // truncates to it (a client pads the last group with zeros).
    fraction.truncate(dscale as usize);
    text.push_str(&fraction);
    let d = parse(&text)?;
    Ok(with_scale(d, dscale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Decimal {
        parse(s).unwrap()
    }

    #[test]
    fn division_keeps_sixteen_significant_digits() {
        assert_eq!(
            div(n("1"), n("3")).unwrap().to_string(),
            "0.33333333333333333333"
        );
        assert_eq!(
            div(n("3"), n("2")).unwrap().to_string(),
            "1.5000000000000000"
        );
        assert_eq!(
            div(n("10"), n("4")).unwrap().to_string(),
            "2.5000000000000000"
        );
        assert_eq!(
            div(n("1.50"), n("1")).unwrap().to_string(),
            "1.50000000000000000000"
        );
    }

    #[test]
    fn typmod_rounds_and_checks_precision() {
        assert_eq!(apply_typmod(n("1.005"), 5, 2).unwrap().to_string(), "1.01");
        assert_eq!(apply_typmod(n("1"), 5, 2).unwrap().to_string(), "1.00");
        let err = apply_typmod(n("1000"), 5, 2).unwrap_err();
        assert_eq!(err.code, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
    }

    #[test]
    fn parses_postgres_forms() {
        assert_eq!(n(" 1.50 ").to_string(), "1.50");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("5.").to_string(), "5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-2.5e-2").to_string(), "-0.025");
        assert!(parse("abc").is_err());
        assert!(parse("1.2.3").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn binary_round_trip() {
        for s in [
            "0",
            "1",
            "-1",
            "12345.678",
            "0.0001",
            "10000",
            "-0.5",
            "123456789012345678.1234",
        ] {
            let d = n(s);
            let mut buf = Vec::new();
            encode_binary(&d, &mut buf);
            assert_eq!(
                decode_binary(&buf).unwrap().to_string(),
                d.to_string(),
                "{s}"
            );
        }
    }

    /// Bytes from PostgreSQL 15's `numeric_send`: values whose first
    /// digit group lies more than one group after the point.
    #[test]
    fn binary_from_postgres_small_fractions() {
        for (hex, want) in [
            ("0001fffd0000000a0064", "0.0000000001"),
            ("0001fffe0000000804d2", "0.00001234"),
            ("0003fffd40000012000c0d801e78", "-0.000000000012345678"),
            // 28 digits whose groups, padded, hold 32.
            (
                "000800044000000a000c0d801ed204d2162e04d2162e2328",
                "-123456789012345678.1234567890",
            ),
        ] {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(decode_binary(&bytes).unwrap().to_string(), want, "{hex}");
            let mut buf = Vec::new();
            encode_binary(&n(want), &mut buf);
            assert_eq!(buf, bytes, "{want}");
        }
    }
}
