//! The `bytea` functions besides `encode`, `decode`, `octet_length` and
//! `||` (which live with the json ones in [`crate::json`]): `length`,
//! `bit_length`, `substring`/`substr`, `position`, `trim`/`btrim`/
//! `ltrim`/`rtrim`, `get_byte`/`set_byte`, `get_bit`/`set_bit`, `md5` and
//! the SHA-2 digests, with PostgreSQL 15's results and errors.
//!
//! Each function's result is at most as long as its arguments, so none
//! needs a limit of its own. `sha224` is not here: the digest library
//! Tessera uses (ring) has no SHA-224, and the call stays 42883.

use tessera_types::{sqlstate, DataType, Error, Result, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ByteaFn {
    /// `length(bytea)`: bytes.
    Length,
    /// `bit_length(bytea | text)`: 8 × bytes.
    BitLength,
    /// `substring(bytea from i [for n])`, `substr(bytea, i [, n])`.
    Substr,
    /// `position(needle in haystack)`: the arguments are
    /// (haystack, needle), as `strpos`.
    Position,
    /// `trim([both | leading | trailing] bytes from b)`, `btrim`, `ltrim`,
    /// `rtrim` (bytea, bytes to remove).
    Trim {
        leading: bool,
        trailing: bool,
    },
    GetByte,
    SetByte,
    GetBit,
    SetBit,
    /// `md5(bytea)`: hex text.
    Md5,
    /// `sha256`, `sha384`, `sha512`: the digest as bytea.
    Sha256,
    Sha384,
    Sha512,
}

impl ByteaFn {
    /// The functions only bytea has, by name.
    pub fn named(name: &str) -> Option<ByteaFn> {
        Some(match name {
            "bit_length" => ByteaFn::BitLength,
            "get_byte" => ByteaFn::GetByte,
            "set_byte" => ByteaFn::SetByte,
            "get_bit" => ByteaFn::GetBit,
            "set_bit" => ByteaFn::SetBit,
            "sha256" => ByteaFn::Sha256,
            "sha384" => ByteaFn::Sha384,
            "sha512" => ByteaFn::Sha512,
            _ => return None,
        })
    }

    /// The bytea form of a string function of that name, called on a
    /// bytea: `None` where there is none.
    pub fn of_text(f: crate::text::TextFn) -> Option<ByteaFn> {
        use crate::text::TextFn as T;
        Some(match f {
            T::Substr => ByteaFn::Substr,
            T::Strpos => ByteaFn::Position,
            T::Btrim => ByteaFn::Trim {
                leading: true,
                trailing: true,
            },
            T::Ltrim => ByteaFn::Trim {
                leading: true,
                trailing: false,
            },
            T::Rtrim => ByteaFn::Trim {
                leading: false,
                trailing: true,
            },
            T::Md5 => ByteaFn::Md5,
            _ => return None,
        })
    }

    /// The types to cast the arguments to (`None`: as they are) and the
    /// result, for arguments of `types`; `None` when no form takes them.
    pub fn signature(self, types: &[DataType]) -> Option<(Vec<Option<DataType>>, DataType)> {
        use ByteaFn as F;
        use DataType as T;
        let bytes = |t: &DataType| matches!(t, T::Bytea | T::Unknown);
        let int = |t: &DataType| t.is_integer() || *t == T::Unknown;
        let b = Some(T::Bytea);
        Some(match (self, types) {
            (F::Length, [t]) if bytes(t) => (vec![b], T::Int4),
            (F::BitLength, [T::Bytea]) => (vec![b], T::Int4),
            (F::BitLength, [t]) if t.is_string() || *t == T::Unknown => {
                (vec![Some(T::Text)], T::Int4)
            }
            (F::Substr, [s, from]) if bytes(s) && int(from) => (vec![b, Some(T::Int4)], T::Bytea),
            (F::Substr, [s, from, count]) if bytes(s) && int(from) && int(count) => {
                (vec![b, Some(T::Int4), Some(T::Int4)], T::Bytea)
            }
            (F::Position, [h, n]) if bytes(h) && bytes(n) => (vec![b, b], T::Int4),
            (F::Trim { .. }, [s, chars]) if bytes(s) && bytes(chars) => (vec![b, b], T::Bytea),
            (F::GetByte, [s, n]) if bytes(s) && int(n) => (vec![b, Some(T::Int4)], T::Int4),
            (F::SetByte, [s, n, v]) if bytes(s) && int(n) && int(v) => {
                (vec![b, Some(T::Int4), Some(T::Int4)], T::Bytea)
            }
            (F::GetBit, [s, n]) if bytes(s) && int(n) => (vec![b, Some(T::Int8)], T::Int4),
            (F::SetBit, [s, n, v]) if bytes(s) && int(n) && int(v) => {
                (vec![b, Some(T::Int8), Some(T::Int4)], T::Bytea)
            }
            (F::Md5, [T::Bytea]) => (vec![b], T::Text),
            (F::Sha256 | F::Sha384 | F::Sha512, [t]) if bytes(t) => (vec![b], T::Bytea),
            _ => return None,
        })
    }

    /// The function over non-NULL arguments of its signature's types.
    pub fn eval(self, args: &[Value]) -> Result<Value> {
        use ByteaFn as F;
        let bytes = |i: usize| match args.get(i) {
            Some(Value::Bytea(b)) => Ok(b.as_slice()),
            _ => Err(Error::internal(format!(
                "{self:?} without bytea argument {i}"
            ))),
        };
        let int = |i: usize| {
            args.get(i)
                .and_then(Value::as_i64)
                .ok_or_else(|| Error::internal(format!("{self:?} without integer argument {i}")))
        };
        match self {
            F::Length => Ok(Value::Int4(bytes(0)?.len() as i32)),
            F::BitLength => {
                let n = match args.first() {
                    Some(Value::Bytea(b)) => b.len(),
                    Some(Value::Text(s)) => s.len(),
                    _ => return Err(Error::internal("bit_length argument")),
                };
                Ok(Value::Int4((n as i64 * 8).min(i32::MAX as i64) as i32))
            }
            F::Substr => {
                let count = if args.len() > 2 { Some(int(2)?) } else { None };
                substr(bytes(0)?, int(1)?, count).map(|b| Value::Bytea(b.to_vec()))
            }
            F::Position => {
                let (haystack, needle) = (bytes(0)?, bytes(1)?);
                let at = match needle.len() {
                    0 => Some(0),
                    n => haystack.windows(n).position(|w| w == needle),
                };
                Ok(Value::Int4(at.map_or(0, |i| i as i32 + 1)))
            }
            F::Trim { leading, trailing } => {
                let (mut s, set) = (bytes(0)?, bytes(1)?);
                while leading && s.first().is_some_and(|b| set.contains(b)) {
                    s = &s[1..];
                }
                while trailing && s.last().is_some_and(|b| set.contains(b)) {
                    s = &s[..s.len() - 1];
                }
                Ok(Value::Bytea(s.to_vec()))
            }
            F::GetByte => {
                let b = bytes(0)?;
                let i = index(int(1)?, b.len() as i64)?;
                Ok(Value::Int4(b[i] as i32))
            }
            F::SetByte => {
                let mut b = bytes(0)?.to_vec();
                let i = index(int(1)?, b.len() as i64)?;
                // PostgreSQL keeps the low eight bits of the new value.
                b[i] = int(2)? as u8;
                Ok(Value::Bytea(b))
            }
            F::GetBit => {
                let b = bytes(0)?;
                let n = int(1)?;
                index(n, b.len() as i64 * 8)?;
                Ok(Value::Int4(((b[(n / 8) as usize] >> (n % 8)) & 1) as i32))
            }
            F::SetBit => {
                let mut b = bytes(0)?.to_vec();
                let n = int(1)?;
                index(n, b.len() as i64 * 8)?;
                let bit = int(2)?;
                if bit != 0 && bit != 1 {
                    return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        "new bit must be 0 or 1",
                    ));
                }
                let (byte, mask) = ((n / 8) as usize, 1u8 << (n % 8));
                if bit == 1 {
                    b[byte] |= mask;
                } else {
                    b[byte] &= !mask;
                }
                Ok(Value::Bytea(b))
            }
            F::Md5 => Ok(Value::Text(tessera_types::md5::hex(bytes(0)?))),
            F::Sha256 | F::Sha384 | F::Sha512 => {
                use ring::digest;
                let algorithm = match self {
                    F::Sha256 => &digest::SHA256,
                    F::Sha384 => &digest::SHA384,
                    _ => &digest::SHA512,
                };
                Ok(Value::Bytea(
                    digest::digest(algorithm, bytes(0)?).as_ref().to_vec(),
                ))
            }
        }
    }
}

/// `n` as an index of a value of `len` elements (bytes or bits), or
/// PostgreSQL's 2202E naming the valid range.
fn index(n: i64, len: i64) -> Result<usize> {
    if (0..len).contains(&n) {
        return Ok(n as usize);
    }
    Err(Error::new(
        sqlstate::ARRAY_SUBSCRIPT_ERROR,
        format!("index {n} out of valid range, 0..{}", len - 1),
    ))
}

/// The bytes from 1-based position `from` (which may lie before the
/// start) for `count` (to the end when `None`), as PostgreSQL's
/// `bytea_substr`.
fn substr(b: &[u8], from: i64, count: Option<i64>) -> Result<&[u8]> {
    if count.is_some_and(|c| c < 0) {
        return Err(Error::new(
            sqlstate::SUBSTRING_ERROR,
            "negative substring length not allowed",
        ));
    }
    let start = from.max(1);
    let end = match count {
        Some(c) => from.saturating_add(c),
        None => i64::MAX,
    };
    if end <= start {
        return Ok(&[]);
    }
    let len = b.len() as i64;
    let (s, e) = ((start - 1).min(len), (end - 1).min(len));
    Ok(&b[s as usize..e as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytea(b: &[u8]) -> Value {
        Value::Bytea(b.to_vec())
    }

    #[test]
    fn substr_counts_from_positions_before_the_start() {
        let b = [1, 2, 3, 4];
        assert_eq!(substr(&b, 2, Some(2)).unwrap(), &[2, 3]);
        assert_eq!(substr(&b, -1, Some(3)).unwrap(), &[1]);
        assert_eq!(substr(&b, 3, None).unwrap(), &[3, 4]);
        assert_eq!(substr(&b, 9, Some(1)).unwrap(), &[] as &[u8]);
        assert!(substr(&b, 1, Some(-1)).is_err());
    }

    #[test]
    fn get_and_set_bits_number_from_the_low_bit_of_the_first_byte() {
        let b = bytea(&[0b0000_0010, 0]);
        let get = |n: i64| ByteaFn::GetBit.eval(&[b.clone(), Value::Int8(n)]).unwrap();
        assert_eq!(get(1), Value::Int4(1));
        assert_eq!(get(0), Value::Int4(0));
        let set = ByteaFn::SetBit
            .eval(&[b.clone(), Value::Int8(8), Value::Int4(1)])
            .unwrap();
        assert_eq!(set, bytea(&[2, 1]));
        let err = ByteaFn::GetBit
            .eval(&[b.clone(), Value::Int8(16)])
            .unwrap_err();
        assert!(err
            .to_string()
            .contains("index 16 out of valid range, 0..15"));
    }
}
