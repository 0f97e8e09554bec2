//! Value formats on the wire: PostgreSQL's text and binary representations
//! of every [`DataType`], for Bind parameters coming in and DataRow fields
//! going out.
//!
//! Guarantees: decoding never panics and checks every length against its
//! type before reading (a wrong length is 22P03 "incorrect binary data
//! format in bind parameter N"); text, whether a text-format parameter or a
//! binary `text`/`varchar`, must be valid UTF-8 without NUL bytes (22021),
//! as PostgreSQL's encoding check demands; text input keeps the codes of
//! [`Value::parse`] (22P02, 22003). Encoding writes fields straight into the
//! output buffer with a patched length, reusing one scratch string for text
//! so that no field allocates.
//!
//! Not done here: coercing a value to a column type. A value whose variant
//! does not match its column's declared type is an engine bug; in binary
//! format it is refused with XX000 rather than sent with bytes the client
//! would misread.

use tessera_types::datetime::{self, Interval, TimeContext};
use tessera_types::numeric::Numeric;
use tessera_types::output::OutputStyle;
use tessera_types::sqlstate;
use tessera_types::{DataType, Error, RecordShape, Result, Value};

/// A format code of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

impl Format {
    pub fn from_code(code: i16) -> Option<Format> {
        match code {
            0 => Some(Format::Text),
            1 => Some(Format::Binary),
            _ => None,
        }
    }
    pub fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
        }
    }
}

/// The format of each result column of a portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultFormats {
    /// Every column in one format (Bind sent zero or one format code).
    Uniform(Format),
    /// One format per column.
    PerColumn(Vec<Format>),
}

impl ResultFormats {
    /// The format of column `column`; text past the end of a per-column list
    /// (Bind checked the list's length against the columns).
    pub fn get(&self, column: usize) -> Format {
        match self {
            ResultFormats::Uniform(format) => *format,
            ResultFormats::PerColumn(formats) => {
                formats.get(column).copied().unwrap_or(Format::Text)
            }
        }
    }
}

/// Checks that `bytes` are UTF-8 without NUL bytes, as PostgreSQL checks
/// client text; the error (22021) names the offending bytes as it does.
pub fn decode_utf8(bytes: &[u8]) -> Result<&str> {
    let (bad_at, bad_len) = match std::str::from_utf8(bytes) {
        Ok(text) => match bytes.iter().position(|b| *b == 0) {
            None => return Ok(text),
            Some(nul) => (nul, 1),
        },
        Err(error) => {
            let at = error.valid_up_to();
            match bytes[..at].iter().position(|b| *b == 0) {
                Some(nul) => (nul, 1),
                None => (at, error.error_len().unwrap_or(bytes.len() - at)),
            }
        }
    };
    let mut message = String::from("invalid byte sequence for encoding \"UTF8\":");
    for byte in bytes.iter().skip(bad_at).take(bad_len.max(1)) {
        message.push_str(&format!(" 0x{byte:02x}"));
    }
    Err(Error::new(sqlstate::CHARACTER_NOT_IN_REPERTOIRE, message))
}

/// Decodes Bind parameter number `index` (0-based) of type `ty`; date/time
/// text is read in the session's `ctx` (time zone, `now`).
pub fn decode_param(
    ty: DataType,
    format: Format,
    bytes: &[u8],
    index: usize,
    ctx: &TimeContext,
) -> Result<Value> {
    match format {
        // Both forms of an enum value are its label's text, which the
        // statement reads against the type's labels (`EnumIn`).
        Format::Text
            if matches!(
                ty,
                DataType::Enum(_) | DataType::Array(tessera_types::array::Elem::Enum(_))
            ) =>
        {
            Ok(Value::Text(decode_utf8(bytes)?.to_string()))
        }
        Format::Text => Value::parse_with(ty, decode_utf8(bytes)?, ctx),
        Format::Binary => decode_binary(ty, bytes, index),
    }
}

/// Decodes the binary representation of a value of type `ty`; `index` (0-based)
/// names the parameter in errors.
pub fn decode_binary(ty: DataType, bytes: &[u8], index: usize) -> Result<Value> {
    let wrong_length = || {
        Error::new(
            sqlstate::INVALID_BINARY_REPRESENTATION,
            format!(
                "incorrect binary data format in bind parameter {}",
                index + 1
            ),
        )
    };
    Ok(match ty {
        DataType::Bool => match bytes {
            [b] => Value::Bool(*b != 0),
            _ => return Err(wrong_length()),
        },
        DataType::Int2 => Value::Int2(i16::from_be_bytes(
            bytes.try_into().map_err(|_| wrong_length())?,
        )),
        DataType::Int4 => Value::Int4(i32::from_be_bytes(
            bytes.try_into().map_err(|_| wrong_length())?,
        )),
        DataType::Int8 => Value::Int8(i64::from_be_bytes(
            bytes.try_into().map_err(|_| wrong_length())?,
        )),
        DataType::Oid | DataType::Reg(_) => {
            Value::Int8(u32::from_be_bytes(bytes.try_into().map_err(|_| wrong_length())?) as i64)
        }
        DataType::Float4 => Value::Float4(f32::from_be_bytes(
            bytes.try_into().map_err(|_| wrong_length())?,
        )),
        DataType::Float8 => Value::Float8(f64::from_be_bytes(
            bytes.try_into().map_err(|_| wrong_length())?,
        )),
        DataType::Numeric(modifier) => {
            let value = Numeric::decode_binary(bytes)?;
            match modifier {
                Some((precision, scale)) => Value::Numeric(value.apply_typmod(precision, scale)?),
                None => Value::Numeric(value),
            }
        }
        // name_recv and charrecv: the bytes themselves.
        // namerecv refuses what namein would cut.
        DataType::Name if bytes.len() > tessera_types::types::NAME_BYTES_MAX => {
            return Err(
                Error::new(sqlstate::NAME_TOO_LONG, "identifier too long").with_detail(format!(
                    "Identifier must be less than {} characters.",
                    tessera_types::types::NAME_BYTES_MAX + 1
                )),
            )
        }
        DataType::Name => Value::Text(decode_utf8(bytes)?.to_string()),
        DataType::InternalChar => match bytes {
            [b] => Value::Text(tessera_types::value::internal_char_out(*b)),
            _ => return Err(wrong_length()),
        },
        // int2vectorrecv/oidvectorrecv: array_recv of one dimension.
        DataType::Int2Vector | DataType::OidVector => {
            let elem = match ty.vector_array() {
                Some(DataType::Array(elem)) => elem,
                _ => return Err(Error::internal("a vector type without its array")),
            };
            let value = decode_array(elem, bytes, index)?;
            match &value {
                Value::Array(a) if a.items.iter().any(Value::is_null) => {
                    return Err(Error::new(
                        sqlstate::NULL_VALUE_NOT_ALLOWED,
                        "array must not contain nulls",
                    ))
                }
                _ => value,
            }
        }
        // void_recv reads nothing; bytes left over are an error.
        DataType::Void if bytes.is_empty() => Value::Text(String::new()),
        DataType::Void => return Err(wrong_length()),
        // `unknown` travels as text, as PostgreSQL's unknownrecv reads it.
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Unknown => {
            Value::parse(ty, decode_utf8(bytes)?)?
        }
        DataType::Date => {
            let date = i32::from_be_bytes(bytes.try_into().map_err(|_| wrong_length())?);
            if datetime::is_finite_date(date) && !datetime::is_valid_date(date) {
                return Err(datetime::out_of_range("date"));
            }
            Value::Date(date)
        }
        DataType::Time(precision) => {
            let time = i64::from_be_bytes(bytes.try_into().map_err(|_| wrong_length())?);
            check_time(time)?;
            Value::Time(datetime::parse::round_time(time, precision))
        }
        DataType::TimeTz(precision) => {
            if bytes.len() != 12 {
                return Err(wrong_length());
            }
            let time = i64::from_be_bytes(bytes[..8].try_into().map_err(|_| wrong_length())?);
            let west = i32::from_be_bytes(bytes[8..].try_into().map_err(|_| wrong_length())?);
            check_time(time)?;
            // PostgreSQL's TZDISP_LIMIT: under 16 hours either way.
            if west.unsigned_abs() >= 16 * 3600 {
                return Err(Error::new(
                    sqlstate::INVALID_TIME_ZONE_DISPLACEMENT_VALUE,
                    "time zone displacement out of range",
                ));
            }
            Value::TimeTz(datetime::parse::round_time(time, precision), -west)
        }
        DataType::Timestamp(precision) | DataType::TimestampTz(precision) => {
            let ts = i64::from_be_bytes(bytes.try_into().map_err(|_| wrong_length())?);
            if datetime::is_finite_timestamp(ts) && !datetime::is_valid_timestamp(ts) {
                return Err(datetime::out_of_range("timestamp"));
            }
            let ts = datetime::round_timestamp(ts, precision)?;
            if matches!(ty, DataType::Timestamp(_)) {
                Value::Timestamp(ts)
            } else {
                Value::TimestampTz(ts)
            }
        }
        DataType::Interval(typmod) => {
            if bytes.len() != 16 {
                return Err(wrong_length());
            }
            let micros = i64::from_be_bytes(bytes[..8].try_into().map_err(|_| wrong_length())?);
            let days = i32::from_be_bytes(bytes[8..12].try_into().map_err(|_| wrong_length())?);
            let months = i32::from_be_bytes(bytes[12..].try_into().map_err(|_| wrong_length())?);
            let interval = Interval::new(months, days, micros);
            Value::Interval(typmod.map_or(interval, |t| interval.apply_typmod(t)))
        }
        DataType::Bytea => Value::Bytea(bytes.to_vec()),
        DataType::Enum(_) => Value::Text(decode_utf8(bytes)?.to_string()),
        DataType::Uuid => Value::Uuid(bytes.try_into().map_err(|_| wrong_length())?),
        DataType::Json => Value::parse(ty, decode_utf8(bytes)?)?,
        // jsonb's binary form: a version byte (1), then the text.
        DataType::Jsonb => match bytes.split_first() {
            Some((1, text)) => Value::parse(ty, decode_utf8(text)?)?,
            Some((version, _)) => {
                return Err(Error::new(
                    sqlstate::INVALID_BINARY_REPRESENTATION,
                    format!("unsupported jsonb version number {version}"),
                ))
            }
            None => return Err(wrong_length()),
        },
        DataType::Array(elem) => decode_array(elem, bytes, index)?,
        // As in PostgreSQL: an anonymous record has no input function.
        DataType::Record(_) => {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "input of anonymous composite types is not implemented",
            ))
        }
    })
}

/// An array's binary form: dimensions, a has-NULLs flag, the element
/// type's OID, (length, lower bound) per dimension, then each element as
/// a length (-1 for NULL) and its binary form. One dimension at most.
fn decode_array(elem: tessera_types::array::Elem, bytes: &[u8], index: usize) -> Result<Value> {
    let bad = |what: &str| {
        Error::new(
            sqlstate::INVALID_BINARY_REPRESENTATION,
            format!(
                "incorrect binary data format in bind parameter {}: {what}",
                index + 1
            ),
        )
    };
    let mut at = 0usize;
    let int = |at: &mut usize| -> Result<i32> {
        let b = bytes
            .get(*at..*at + 4)
            .ok_or_else(|| bad("array data too short"))?;
        *at += 4;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let ndim = int(&mut at)?;
    let _has_nulls = int(&mut at)?;
    let elem_oid = int(&mut at)? as u32;
    if elem_oid != elem.data_type().oid() {
        return Err(Error::new(
            sqlstate::DATATYPE_MISMATCH,
            format!(
                "binary data has array element type {elem_oid} instead of expected {}",
                elem.data_type().oid()
            ),
        ));
    }
    let count = match ndim {
        0 => 0,
        1 => {
            let len = int(&mut at)?;
            let _lower = int(&mut at)?;
            usize::try_from(len).map_err(|_| bad("negative array length"))?
        }
        n if n < 0 => return Err(bad("invalid number of dimensions")),
        _ => return Err(Error::unsupported("multidimensional arrays")),
    };
    let mut items = Vec::with_capacity(count.min(bytes.len() / 4 + 1));
    for _ in 0..count {
        let len = int(&mut at)?;
        if len < 0 {
            items.push(Value::Null);
            continue;
        }
        let len = len as usize;
        let start = at;
        let body = bytes
            .get(start..start + len)
            .ok_or_else(|| bad("array data too short"))?;
        at += len;
        items.push(decode_binary(elem.data_type(), body, index)?);
    }
    if at != bytes.len() {
        return Err(bad("trailing bytes after the array"));
    }
    Ok(Value::Array(Box::new(tessera_types::array::Array {
        elem,
        items,
    })))
}

/// A time of day must lie in `0..=24:00:00` (22008 otherwise).
fn check_time(time: i64) -> Result<()> {
    if (0..=datetime::USECS_PER_DAY).contains(&time) {
        Ok(())
    } else {
        Err(datetime::out_of_range("time"))
    }
}

/// Appends the binary representation of `value` as a column of type `ty`
/// (no length prefix). NULL appends nothing. A variant that does not match
/// `ty` is refused (XX000): the client would misread its bytes.
pub fn encode_binary(value: &Value, ty: DataType, out: &mut Vec<u8>) -> Result<()> {
    match (value, ty) {
        (Value::Null, _) => {}
        (Value::Bool(b), DataType::Bool) => out.push(*b as u8),
        (Value::Int2(v), DataType::Int2) => out.extend_from_slice(&v.to_be_bytes()),
        (Value::Int4(v), DataType::Int4) => out.extend_from_slice(&v.to_be_bytes()),
        (Value::Int8(v), DataType::Int8) => out.extend_from_slice(&v.to_be_bytes()),
        (Value::Text(s), DataType::Name) => out.extend_from_slice(s.as_bytes()),
        (Value::Text(s), DataType::InternalChar) => {
            out.push(tessera_types::value::internal_char_byte(s))
        }
        // int2vectorsend/oidvectorsend: array_send of a one-dimensional
        // array whose subscripts start at 0.
        (Value::Array(a), DataType::Int2Vector | DataType::OidVector) => {
            encode_array(a, 0, true, out)?
        }
        (Value::Int8(v), DataType::Oid) => out.extend_from_slice(&(*v as u32).to_be_bytes()),
        (Value::Float4(v), DataType::Float4) => out.extend_from_slice(&v.to_be_bytes()),
        (Value::Float8(v), DataType::Float8) => out.extend_from_slice(&v.to_be_bytes()),
        (Value::Numeric(d), DataType::Numeric(_)) => d.encode_binary(out),
        (
            Value::Text(s) | Value::BpChar(s),
            DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Unknown,
        ) => out.extend_from_slice(s.as_bytes()),
        // void_send sends no bytes.
        (Value::Text(_), DataType::Void) => {}
        (Value::Date(d), DataType::Date) => out.extend_from_slice(&d.to_be_bytes()),
        (Value::Time(t), DataType::Time(_)) => out.extend_from_slice(&t.to_be_bytes()),
        (Value::TimeTz(t, east), DataType::TimeTz(_)) => {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&(-east).to_be_bytes());
        }
        (Value::Timestamp(t), DataType::Timestamp(_))
        | (Value::TimestampTz(t), DataType::TimestampTz(_)) => {
            out.extend_from_slice(&t.to_be_bytes())
        }
        (Value::Interval(i), DataType::Interval(_)) => {
            out.extend_from_slice(&i.micros.to_be_bytes());
            out.extend_from_slice(&i.days.to_be_bytes());
            out.extend_from_slice(&i.months.to_be_bytes());
        }
        (Value::Bytea(b), DataType::Bytea) => out.extend_from_slice(b),
        (Value::Uuid(u), DataType::Uuid) => out.extend_from_slice(u),
        (Value::Json(s), DataType::Json) => out.extend_from_slice(s.as_bytes()),
        // enum_send: the label's bytes.
        (Value::Enum(e), DataType::Enum(oid)) if e.type_oid == oid => {
            out.extend_from_slice(e.label.as_bytes())
        }
        (Value::Array(a), DataType::Array(_)) => encode_array(a, 1, false, out)?,
        // record_send: the field count, then each field's type oid and
        // its length (-1 for NULL) and bytes.
        (Value::Record(r), DataType::Record(shape)) if r.shape == shape => {
            // A row constructor's fields have the types of their values
            // (a NULL one is sent as text: its type is not kept).
            let fields = match shape {
                RecordShape::Row => r
                    .fields
                    .iter()
                    .map(|v| match v.data_type() {
                        DataType::Unknown => ("", DataType::Text),
                        t => ("", t),
                    })
                    .collect(),
                _ => shape.fields(),
            };
            out.extend_from_slice(&(fields.len() as i32).to_be_bytes());
            for (v, (_, t)) in r.fields.iter().zip(fields) {
                out.extend_from_slice(&t.oid().to_be_bytes());
                if v.is_null() {
                    out.extend_from_slice(&(-1i32).to_be_bytes());
                    continue;
                }
                let start = out.len();
                out.extend_from_slice(&[0; 4]);
                encode_binary(v, t, out)?;
                let len = field_length(out.len() - start - 4)?;
                out[start..start + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
        (Value::Jsonb(j), DataType::Jsonb) => {
            out.push(1);
            out.extend_from_slice(j.to_text().as_bytes());
        }
        (value, ty) => {
            return Err(Error::internal(format!(
                "a {} value cannot be sent as {ty} in binary format",
                value.data_type()
            )))
        }
    }
    Ok(())
}

/// array_send: dimensions (none when empty, unless `one_dimension`, as
/// a vector always has), a has-NULLs flag, the element type's oid, the
/// length and lower bound, then each element's length (-1 for NULL) and
/// binary form.
fn encode_array(
    a: &tessera_types::array::Array,
    lower: i32,
    one_dimension: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let has_nulls = a.items.iter().any(Value::is_null);
    let ndim: i32 = if a.items.is_empty() && !one_dimension {
        0
    } else {
        1
    };
    out.extend_from_slice(&ndim.to_be_bytes());
    out.extend_from_slice(&(has_nulls as i32).to_be_bytes());
    out.extend_from_slice(&a.elem.data_type().oid().to_be_bytes());
    if ndim == 1 {
        out.extend_from_slice(&(a.items.len() as i32).to_be_bytes());
        out.extend_from_slice(&lower.to_be_bytes());
    }
    for v in &a.items {
        if v.is_null() {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        encode_binary(v, a.elem.data_type(), out)?;
        let len = field_length(out.len() - start - 4)?;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// Appends one DataRow field: its length (-1 for NULL) and its bytes in
/// `format`; text is written in the session's `style`. `scratch` holds
/// the text form of non-string values between calls so that it is
/// allocated once per connection, not per field. On error `out` is left
/// as it was.
pub fn write_field(
    out: &mut Vec<u8>,
    value: &Value,
    ty: DataType,
    format: Format,
    scratch: &mut String,
    style: &OutputStyle,
) -> Result<()> {
    match (value, format) {
        (Value::Null, _) => out.extend_from_slice(&(-1i32).to_be_bytes()),
        (Value::Text(s) | Value::BpChar(s), Format::Text) => put_field(out, s.as_bytes())?,
        (Value::Array(a), Format::Text) if ty.vector_array().is_some() => {
            put_field(out, tessera_types::value::vector_out(a).as_bytes())?
        }
        (value, Format::Text) => {
            scratch.clear();
            value.write_text_in(scratch, style);
            put_field(out, scratch.as_bytes())?;
        }
        (value, Format::Binary) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            let length =
                encode_binary(value, ty, out).and_then(|()| field_length(out.len() - start - 4));
            match length {
                Ok(length) => out[start..start + 4].copy_from_slice(&length.to_be_bytes()),
                Err(error) => {
                    out.truncate(start);
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

fn put_field(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    out.extend_from_slice(&field_length(bytes.len())?.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// A field's length as the protocol's signed 32 bits; a longer value
/// cannot be sent (54000).
fn field_length(length: usize) -> Result<i32> {
    i32::try_from(length).map_err(|_| {
        Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("a value of {length} bytes is too large to send"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::datetime::TimeZone;
    use tessera_types::sqlstate::SqlState;

    fn round_trip(value: Value, ty: DataType) -> Value {
        let mut out = Vec::new();
        encode_binary(&value, ty, &mut out).unwrap();
        decode_binary(ty, &out, 0).unwrap()
    }

    fn binary_error(ty: DataType, bytes: &[u8]) -> SqlState {
        decode_binary(ty, bytes, 2).unwrap_err().code
    }

    fn text(value: &Value) -> String {
        value.to_text().unwrap()
    }

    #[test]
    fn binary_round_trips_every_type() {
        assert_eq!(
            round_trip(Value::Bool(true), DataType::Bool),
            Value::Bool(true)
        );
        assert_eq!(
            round_trip(Value::Bool(false), DataType::Bool),
            Value::Bool(false)
        );
        assert_eq!(
            round_trip(Value::Int2(-300), DataType::Int2),
            Value::Int2(-300)
        );
        assert_eq!(
            round_trip(Value::Int4(i32::MIN), DataType::Int4),
            Value::Int4(i32::MIN)
        );
        assert_eq!(
            round_trip(Value::Int8(i64::MAX), DataType::Int8),
            Value::Int8(i64::MAX)
        );
        assert_eq!(
            text(&round_trip(Value::Float4(0.1), DataType::Float4)),
            "0.1"
        );
        assert_eq!(
            text(&round_trip(Value::Float8(-2.5e-7), DataType::Float8)),
            "-2.5e-07"
        );
        let d = Numeric::parse("-12345.678").unwrap();
        assert_eq!(
            text(&round_trip(Value::Numeric(d), DataType::Numeric(None))),
            "-12345.678"
        );
        let s = Value::Text("héllo".into());
        assert_eq!(text(&round_trip(s.clone(), DataType::Text)), "héllo");
        assert_eq!(text(&round_trip(s, DataType::Varchar(None))), "héllo");
    }

    #[test]
    fn catalog_types_travel_as_postgres_sends_them() {
        let bytes = |v: &Value, ty: DataType| {
            let mut out = Vec::new();
            encode_binary(v, ty, &mut out).unwrap();
            out
        };
        // "char": one byte, the zero byte for the empty value.
        for (shown, byte) in [("r", b'r'), ("\\303", 0xc3), ("", 0)] {
            let v = Value::parse(DataType::InternalChar, shown).unwrap();
            assert_eq!(text(&v), shown);
            assert_eq!(bytes(&v, DataType::InternalChar), [byte]);
            assert_eq!(
                round_trip(v, DataType::InternalChar).to_text().unwrap(),
                shown
            );
        }
        assert_eq!(
            binary_error(DataType::InternalChar, b"ab"),
            sqlstate::INVALID_BINARY_REPRESENTATION
        );
        // name: its bytes; binary input refuses what text input would cut.
        let v = Value::parse(DataType::Name, "pg_class").unwrap();
        assert_eq!(bytes(&v, DataType::Name), b"pg_class");
        assert_eq!(
            binary_error(DataType::Name, &[b'n'; 64]),
            sqlstate::NAME_TOO_LONG
        );
        // int2vector: array_send with subscripts from 0, one dimension
        // even when empty.
        let v = Value::parse(DataType::Int2Vector, " 3  2 ").unwrap();
        assert_eq!(
            bytes(&v, DataType::Int2Vector),
            [
                0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 21, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0,
                0, 0, 2, 0, 2
            ]
        );
        let empty = Value::parse(DataType::OidVector, "").unwrap();
        assert_eq!(
            bytes(&empty, DataType::OidVector),
            [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 26, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let back = round_trip(v, DataType::Int2Vector);
        let mut field = Vec::new();
        write_field(
            &mut field,
            &back,
            DataType::Int2Vector,
            Format::Text,
            &mut String::new(),
            &OutputStyle::DEFAULT,
        )
        .unwrap();
        assert_eq!(field, b"\0\0\0\x033 2");
        // A vector has no NULLs.
        let with_null = [
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 21, 0, 0, 0, 1, 0, 0, 0, 0, 255, 255, 255, 255,
        ];
        assert_eq!(
            binary_error(DataType::Int2Vector, &with_null),
            sqlstate::NULL_VALUE_NOT_ALLOWED
        );
    }

    #[test]
    fn date_time_values_travel_as_postgres_integers() {
        let mut out = Vec::new();
        encode_binary(&Value::Date(9823), DataType::Date, &mut out).unwrap();
        assert_eq!(out, 9823i32.to_be_bytes());
        out.clear();
        let iv = Interval::new(14, 3, 5_000_000);
        encode_binary(&Value::Interval(iv), DataType::Interval(None), &mut out).unwrap();
        let expected: Vec<u8> = [
            &5_000_000i64.to_be_bytes()[..],
            &3i32.to_be_bytes(),
            &14i32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(out, expected);
        out.clear();
        // timetz carries its zone in seconds west.
        encode_binary(&Value::TimeTz(7, 7200), DataType::TimeTz(None), &mut out).unwrap();
        assert_eq!(
            out,
            [&7i64.to_be_bytes()[..], &(-7200i32).to_be_bytes()].concat()
        );
        for (value, ty) in [
            (Value::Date(i32::MIN), DataType::Date),
            (Value::Time(86_400_000_000), DataType::Time(None)),
            (Value::TimeTz(0, -19800), DataType::TimeTz(None)),
            (Value::Timestamp(i64::MAX), DataType::Timestamp(None)),
            (Value::TimestampTz(-1), DataType::TimestampTz(None)),
            (
                Value::Interval(Interval::new(-1, -2, -3)),
                DataType::Interval(None),
            ),
            (Value::BpChar("ab ".into()), DataType::Char(Some(3))),
        ] {
            let back = round_trip(value.clone(), ty);
            assert_eq!(back.to_text(), value.to_text(), "{ty:?}");
            assert_eq!(back.data_type(), value.data_type(), "{ty:?}");
        }
        // Type modifiers apply on receipt, as PostgreSQL's receive functions do.
        let mut bytes = Vec::new();
        encode_binary(
            &Value::Timestamp(1_500_000),
            DataType::Timestamp(None),
            &mut bytes,
        )
        .unwrap();
        let rounded = decode_binary(DataType::Timestamp(Some(0)), &bytes, 0).unwrap();
        assert_eq!(text(&rounded), "2000-01-01 00:00:02");
        let padded = decode_binary(DataType::Char(Some(4)), b"ab", 0).unwrap();
        assert_eq!(text(&padded), "ab  ");
    }

    #[test]
    fn date_time_values_out_of_range_are_refused() {
        let code = |ty, bytes: &[u8]| decode_binary(ty, bytes, 0).unwrap_err().code;
        let past_end = (2_147_483_494i32 - 2_451_545).to_be_bytes();
        assert_eq!(
            code(DataType::Date, &past_end),
            sqlstate::DATETIME_FIELD_OVERFLOW
        );
        assert_eq!(
            code(DataType::Time(None), &(86_400_000_001i64).to_be_bytes()),
            sqlstate::DATETIME_FIELD_OVERFLOW
        );
        assert_eq!(
            code(DataType::Time(None), &(-1i64).to_be_bytes()),
            sqlstate::DATETIME_FIELD_OVERFLOW
        );
        assert_eq!(
            code(DataType::Timestamp(None), &(i64::MAX - 1).to_be_bytes()),
            sqlstate::DATETIME_FIELD_OVERFLOW
        );
        let far_zone = [&0i64.to_be_bytes()[..], &(16 * 3600i32).to_be_bytes()].concat();
        assert_eq!(
            code(DataType::TimeTz(None), &far_zone),
            sqlstate::INVALID_TIME_ZONE_DISPLACEMENT_VALUE
        );
        for (ty, len) in [
            (DataType::Date, 8),
            (DataType::Time(None), 4),
            (DataType::TimeTz(None), 8),
            (DataType::Timestamp(None), 4),
            (DataType::Interval(None), 12),
        ] {
            assert_eq!(
                code(ty, &vec![0; len]),
                sqlstate::INVALID_BINARY_REPRESENTATION,
                "{ty:?} with {len} bytes"
            );
        }
        let long = decode_binary(DataType::Char(Some(2)), b"abc", 0).unwrap_err();
        assert_eq!(long.code, sqlstate::STRING_DATA_RIGHT_TRUNCATION);
    }

    #[test]
    fn timestamptz_text_is_shown_in_the_session_zone() {
        let mut out = Vec::new();
        let mut scratch = String::new();
        let value = Value::TimestampTz(0);
        write_field(
            &mut out,
            &value,
            DataType::TimestampTz(None),
            Format::Text,
            &mut scratch,
            &OutputStyle::in_zone(&TimeZone::fixed(-19800)),
        )
        .unwrap();
        assert_eq!(&out[4..], b"1999-12-31 18:30:00-05:30");
        let ctx = TimeContext {
            zone: TimeZone::fixed(3600),
            ..TimeContext::default()
        };
        let parsed = decode_param(
            DataType::TimestampTz(None),
            Format::Text,
            b"2000-01-01 01:00",
            0,
            &ctx,
        )
        .unwrap();
        assert_eq!(text(&parsed), "2000-01-01 00:00:00+00");
    }

    #[test]
    fn binary_wire_bytes_are_big_endian() {
        let mut out = Vec::new();
        encode_binary(&Value::Int4(1), DataType::Int4, &mut out).unwrap();
        encode_binary(&Value::Float8(1.0), DataType::Float8, &mut out).unwrap();
        encode_binary(&Value::Bool(true), DataType::Bool, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 1]);
    }

    /// record_send: the field count, then per field its type oid and its
    /// length (-1 for NULL) and bytes.
    #[test]
    fn binary_record_is_record_send() {
        use tessera_types::array::Elem;
        use tessera_types::value::Record;

        let shape = RecordShape::ExpandArray(Elem::Int2);
        let mut out = Vec::new();
        let record = |x: Value| {
            Value::Record(Box::new(Record {
                shape,
                fields: vec![x, Value::Int4(2)],
            }))
        };
        encode_binary(&record(Value::Int2(7)), DataType::Record(shape), &mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 2, 0, 0, 0, 21, 0, 0, 0, 2, 0, 7, 0, 0, 0, 23, 0, 0, 0, 4, 0, 0, 0, 2]
        );
        out.clear();
        encode_binary(&record(Value::Null), DataType::Record(shape), &mut out).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 2, 0, 0, 0, 21, 255, 255, 255, 255, 0, 0, 0, 23, 0, 0, 0, 4, 0, 0, 0, 2]
        );
    }

    #[test]
    fn wrong_binary_lengths_are_22p03_naming_the_parameter() {
        let error = decode_binary(DataType::Int4, &[0, 1], 2).unwrap_err();
        assert_eq!(error.code, sqlstate::INVALID_BINARY_REPRESENTATION);
        assert_eq!(
            error.message,
            "incorrect binary data format in bind parameter 3"
        );
        for (ty, bytes) in [
            (DataType::Bool, &[][..]),
            (DataType::Bool, &[1, 0][..]),
            (DataType::Int2, &[1][..]),
            (DataType::Int8, &[0; 4][..]),
            (DataType::Float4, &[0; 8][..]),
            (DataType::Float8, &[0; 9][..]),
            (DataType::Numeric(None), &[0, 1][..]),
        ] {
            assert_eq!(
                binary_error(ty, bytes),
                sqlstate::INVALID_BINARY_REPRESENTATION,
                "{ty:?} {bytes:?}"
            );
        }
    }

    #[test]
    fn text_must_be_utf8_without_nul() {
        assert_eq!(
            binary_error(DataType::Text, b"a\0b"),
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE
        );
        let error = decode_param(
            DataType::Text,
            Format::Text,
            b"ab\xc3\x28",
            0,
            &TimeContext::default(),
        )
        .unwrap_err();
        assert_eq!(error.code, sqlstate::CHARACTER_NOT_IN_REPERTOIRE);
        assert_eq!(
            error.message,
            "invalid byte sequence for encoding \"UTF8\": 0xc3"
        );
        let error = decode_utf8(b"a\0\xff").unwrap_err();
        assert_eq!(
            error.message,
            "invalid byte sequence for encoding \"UTF8\": 0x00"
        );
        // A sequence cut short at the end of the input names what is there.
        let error = decode_utf8(b"\xe2\x82").unwrap_err();
        assert_eq!(
            error.message,
            "invalid byte sequence for encoding \"UTF8\": 0xe2 0x82"
        );
    }

    #[test]
    fn text_params_parse_with_their_type_and_keep_its_codes() {
        assert_eq!(
            decode_param(
                DataType::Int4,
                Format::Text,
                b" 42",
                0,
                &TimeContext::default()
            )
            .unwrap(),
            Value::Int4(42)
        );
        assert_eq!(
            decode_param(
                DataType::Unknown,
                Format::Text,
                b"x",
                0,
                &TimeContext::default()
            )
            .unwrap(),
            Value::Text("x".into())
        );
        let code = |ty, text: &[u8]| {
            decode_param(ty, Format::Text, text, 0, &TimeContext::default())
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(DataType::Int4, b"abc"),
            sqlstate::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(
            code(DataType::Int2, b"70000"),
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            code(DataType::Varchar(Some(2)), b"abc"),
            sqlstate::STRING_DATA_RIGHT_TRUNCATION
        );
        let bytes = {
            let mut out = Vec::new();
            Numeric::parse("123.456").unwrap().encode_binary(&mut out);
            out
        };
        let rounded = decode_param(
            DataType::Numeric(Some((5, 1))),
            Format::Binary,
            &bytes,
            0,
            &TimeContext::default(),
        )
        .unwrap();
        assert_eq!(text(&rounded), "123.5");
    }

    #[test]
    fn fields_carry_their_length_and_null_is_minus_one() {
        let mut out = Vec::new();
        let mut scratch = String::new();
        write_field(
            &mut out,
            &Value::Null,
            DataType::Int4,
            Format::Binary,
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap();
        write_field(
            &mut out,
            &Value::Int4(-7),
            DataType::Int4,
            Format::Text,
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap();
        write_field(
            &mut out,
            &Value::Int4(-7),
            DataType::Int4,
            Format::Binary,
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap();
        write_field(
            &mut out,
            &Value::Text("ab".into()),
            DataType::Text,
            Format::Text,
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap();
        let expected: Vec<u8> = [
            &[0xff, 0xff, 0xff, 0xff][..],
            &[0, 0, 0, 2],
            b"-7",
            &[0, 0, 0, 4],
            &(-7i32).to_be_bytes(),
            &[0, 0, 0, 2],
            b"ab",
        ]
        .concat();
        assert_eq!(out, expected);
        let error = write_field(
            &mut out,
            &Value::Int8(1),
            DataType::Int4,
            Format::Binary,
            &mut scratch,
            &OutputStyle::DEFAULT,
        )
        .unwrap_err();
        assert_eq!(error.code, sqlstate::INTERNAL_ERROR);
    }
}
