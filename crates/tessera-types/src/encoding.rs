//! Byte encodings: memcomparable keys (byte order equals SQL order, so keys
//! sort in ordered indexes as their values do), compact row images for the
//! WAL, and a small writer/reader for records.
//!
//! The reader never panics on bad input: every read is bounds-checked and
//! fails with XX001 (data corrupted).

use rust_decimal::Decimal;

use crate::numeric::Numeric;
use xxhash_rust::xxh3::xxh3_64;

use crate::datetime::Interval;
use crate::error::{Error, Result};
use crate::sqlstate;
use crate::value::{trim_blanks, Value};

/// Appends fixed-width and length-prefixed fields.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer { buf: Vec::new() }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub fn value(&mut self, v: &Value) {
        encode_value(&mut self.buf, v);
    }
    pub fn row(&mut self, row: &[Value]) {
        self.u32(row.len() as u32);
        for v in row {
            self.value(v);
        }
    }
}

/// How deeply values may nest in arrays and records when read: SQL
/// builds far shallower ones (the parser stops at 50 levels), and a
/// damaged record or message must not exhaust the reader's stack.
pub const VALUE_NESTING_MAX: usize = 64;

/// Reads what [`Writer`] wrote.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Arrays and records the value being read is inside.
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    /// An element of an array or a field of a record.
    fn nested_value(&mut self) -> Result<Value> {
        if self.depth >= VALUE_NESTING_MAX {
            return Err(self.corrupt("values nested too deeply"));
        }
        self.depth += 1;
        let v = self.value();
        self.depth -= 1;
        v
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    pub fn corrupt(&self, what: &str) -> Error {
        Error::new(
            sqlstate::DATA_CORRUPTED,
            format!("corrupt record at byte {}: {what}", self.pos),
        )
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(self.corrupt("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn peek_u8(&self) -> Result<u8> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.corrupt("truncated"))
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A count that must not exceed `max` (guards allocations on bad input).
    pub fn len_prefix(&mut self, max: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(self.corrupt("length out of range"));
        }
        Ok(n)
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn str(&mut self) -> Result<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.corrupt("invalid utf-8"))
    }
    pub fn value(&mut self) -> Result<Value> {
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => {
                let b = self.take(2)?;
                Value::Int2(i16::from_le_bytes([b[0], b[1]]))
            }
            4 => Value::Int4(self.u32()? as i32),
            5 => Value::Int8(self.u64()? as i64),
            6 => Value::Float4(f32::from_bits(self.u32()?)),
            7 => Value::Float8(f64::from_bits(self.u64()?)),
            8 => {
                let b = self.take(16)?;
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Value::Numeric(Numeric::from_decimal(Decimal::deserialize(a)))
            }
            23 => Value::Numeric(match self.take(1)?[0] {
                0 => Numeric::NaN,
                1 => Numeric::Infinity,
                2 => Numeric::NegInfinity,
                3 => {
                    let text = self.str()?;
                    Numeric::parse(text).map_err(|_| self.corrupt("bad numeric"))?
                }
                _ => return Err(self.corrupt("unknown numeric kind")),
            }),
            9 => Value::Text(self.str()?.to_string()),
            10 => Value::BpChar(self.str()?.to_string()),
            11 => Value::Date(self.u32()? as i32),
            12 => Value::Time(self.u64()? as i64),
            13 => Value::TimeTz(self.u64()? as i64, self.u32()? as i32),
            14 => Value::Timestamp(self.u64()? as i64),
            15 => Value::TimestampTz(self.u64()? as i64),
            16 => {
                let micros = self.u64()? as i64;
                let days = self.u32()? as i32;
                let months = self.u32()? as i32;
                Value::Interval(Interval::new(months, days, micros))
            }
            17 => Value::Bytea(self.bytes()?.to_vec()),
            18 => {
                let b = self.take(16)?;
                let mut u = [0u8; 16];
                u.copy_from_slice(b);
                Value::Uuid(u)
            }
            19 => Value::Json(self.str()?.to_string()),
            20 => {
                let text = self.str()?;
                let j = crate::json::parse(text).map_err(|_| self.corrupt("invalid jsonb"))?;
                Value::Jsonb(Box::new(j))
            }
            21 => {
                let oid = self.u32()?;
                let elem = crate::array::Elem::from_array_oid(oid)
                    .ok_or_else(|| self.corrupt("unknown array type"))?;
                let n = self.len_prefix(1 << 28)?;
                let mut items = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    items.push(self.nested_value()?);
                }
                Value::Array(Box::new(crate::array::Array { elem, items }))
            }
            22 => {
                let shape = match self.u8()? {
                    0 => {
                        let oid = self.u32()?;
                        let elem = crate::array::Elem::from_array_oid(oid)
                            .ok_or_else(|| self.corrupt("unknown array type"))?;
                        crate::types::RecordShape::ExpandArray(elem)
                    }
                    1 => crate::types::RecordShape::Row,
                    _ => return Err(self.corrupt("unknown record shape")),
                };
                let n = match shape {
                    crate::types::RecordShape::Row => {
                        self.len_prefix(crate::types::ROW_FIELDS_MAX)?
                    }
                    _ => shape.fields().len(),
                };
                let mut fields = Vec::with_capacity(n);
                for _ in 0..n {
                    fields.push(self.nested_value()?);
                }
                Value::Record(Box::new(crate::value::Record { shape, fields }))
            }
            25 => {
                let elem = crate::array::Elem::Enum(self.u32()?);
                let n = self.len_prefix(1 << 28)?;
                let mut items = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    items.push(self.nested_value()?);
                }
                Value::Array(Box::new(crate::array::Array { elem, items }))
            }
            24 => {
                let type_oid = self.u32()?;
                let sort_order = f64::from_bits(self.u64()?);
                let label = self.str()?.to_string();
                Value::Enum(Box::new(crate::value::EnumValue {
                    type_oid,
                    sort_order,
                    label,
                }))
            }
            _ => return Err(self.corrupt("unknown value tag")),
        })
    }
    pub fn row(&mut self) -> Result<Vec<Value>> {
        let n = self.len_prefix(4096)?;
        let mut row = Vec::with_capacity(n);
        for _ in 0..n {
            row.push(self.value()?);
        }
        Ok(row)
    }
}

fn encode_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.push(0),
        Value::Bool(false) => buf.push(1),
        Value::Bool(true) => buf.push(2),
        Value::Int2(i) => {
            buf.push(3);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Value::Int4(i) => {
            buf.push(4);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Value::Int8(i) => {
            buf.push(5);
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float4(f) => {
            buf.push(6);
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Float8(f) => {
            buf.push(7);
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Numeric(Numeric::Dec(d)) => {
            buf.push(8);
            buf.extend_from_slice(&d.serialize());
        }
        // Values a Decimal does not hold: their text, which is exact.
        Value::Numeric(n) => {
            buf.push(23);
            match n {
                Numeric::NaN => buf.push(0),
                Numeric::Infinity => buf.push(1),
                Numeric::NegInfinity => buf.push(2),
                _ => {
                    buf.push(3);
                    let text = n.to_string();
                    buf.extend_from_slice(&(text.len() as u32).to_le_bytes());
                    buf.extend_from_slice(text.as_bytes());
                }
            }
        }
        Value::Text(s) | Value::BpChar(s) => {
            buf.push(if matches!(v, Value::Text(_)) { 9 } else { 10 });
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        Value::Date(d) => {
            buf.push(11);
            buf.extend_from_slice(&d.to_le_bytes());
        }
        Value::Time(t) => {
            buf.push(12);
            buf.extend_from_slice(&t.to_le_bytes());
        }
        Value::TimeTz(t, zone) => {
            buf.push(13);
            buf.extend_from_slice(&t.to_le_bytes());
            buf.extend_from_slice(&zone.to_le_bytes());
        }
        Value::Timestamp(t) => {
            buf.push(14);
            buf.extend_from_slice(&t.to_le_bytes());
        }
        Value::TimestampTz(t) => {
            buf.push(15);
            buf.extend_from_slice(&t.to_le_bytes());
        }
        Value::Interval(i) => {
            buf.push(16);
            buf.extend_from_slice(&i.micros.to_le_bytes());
            buf.extend_from_slice(&i.days.to_le_bytes());
            buf.extend_from_slice(&i.months.to_le_bytes());
        }
        Value::Bytea(b) => {
            buf.push(17);
            buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
            buf.extend_from_slice(b);
        }
        Value::Uuid(u) => {
            buf.push(18);
            buf.extend_from_slice(u);
        }
        Value::Json(s) => {
            buf.push(19);
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        Value::Array(a) => {
            // An array of an enum type: its element type's oid, which
            // the catalog knows (a built-in array type's oid says all).
            match a.elem {
                crate::array::Elem::Enum(oid) => {
                    buf.push(25);
                    buf.extend_from_slice(&oid.to_le_bytes());
                }
                elem => {
                    buf.push(21);
                    buf.extend_from_slice(&elem.array_oid().to_le_bytes());
                }
            }
            buf.extend_from_slice(&(a.items.len() as u32).to_le_bytes());
            for v in &a.items {
                encode_value(buf, v);
            }
        }
        Value::Record(r) => {
            buf.push(22);
            match r.shape {
                crate::types::RecordShape::ExpandArray(elem) => {
                    buf.push(0);
                    buf.extend_from_slice(&elem.array_oid().to_le_bytes());
                    assert_eq!(
                        r.fields.len(),
                        r.shape.fields().len(),
                        "a record has a value per field of its shape"
                    );
                }
                crate::types::RecordShape::Row => {
                    buf.push(1);
                    buf.extend_from_slice(&(r.fields.len() as u32).to_le_bytes());
                }
            }
            for v in &r.fields {
                encode_value(buf, v);
            }
        }
        Value::Enum(e) => {
            buf.push(24);
            buf.extend_from_slice(&e.type_oid.to_le_bytes());
            buf.extend_from_slice(&e.sort_order.to_bits().to_le_bytes());
            buf.extend_from_slice(&(e.label.len() as u32).to_le_bytes());
            buf.extend_from_slice(e.label.as_bytes());
        }
        Value::Jsonb(j) => {
            let text = j.to_text();
            buf.push(20);
            buf.extend_from_slice(&(text.len() as u32).to_le_bytes());
            buf.extend_from_slice(text.as_bytes());
        }
    }
}

/// Appends a signed integer so that bytewise order is numeric order.
fn push_ordered_i64(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
}

/// Appends a string so that bytewise order is byte order, with a
/// terminator that sorts below any continuation (NUL escaped as 00 FF).
fn push_ordered_str(out: &mut Vec<u8>, s: &str) {
    push_ordered_bytes(out, s.as_bytes());
}

fn push_ordered_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// Appends the memcomparable encoding of `v`: for values of one column type,
/// comparing encodings bytewise gives SQL order, with NULL last. Integers of
/// every width encode alike, so `1::int2` and `1::int8` are the same key.
pub fn encode_key_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0xF0),
        Value::Bool(b) => {
            out.push(0x10);
            out.push(*b as u8);
        }
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => {
            out.push(0x20);
            push_ordered_i64(out, v.as_i64().unwrap_or_default());
        }
        Value::Float4(f) => encode_key_float(out, *f as f64),
        Value::Float8(f) => encode_key_float(out, *f),
        Value::Numeric(d) => encode_key_numeric(out, d),
        Value::Text(s) => {
            out.push(0x50);
            push_ordered_str(out, s);
        }
        // Trailing blanks do not count: 'a' and 'a  ' are one key.
        Value::BpChar(s) => {
            out.push(0x50);
            push_ordered_str(out, trim_blanks(s));
        }
        Value::Date(d) => {
            out.push(0x60);
            push_ordered_i64(out, *d as i64);
        }
        Value::Time(t) => {
            out.push(0x61);
            push_ordered_i64(out, *t);
        }
        // By the instant, then by zone east first (as `Value::compare`).
        Value::TimeTz(t, zone) => {
            out.push(0x62);
            push_ordered_i64(out, *t - *zone as i64 * 1_000_000);
            push_ordered_i64(out, -(*zone as i64));
        }
        Value::Timestamp(t) => {
            out.push(0x63);
            push_ordered_i64(out, *t);
        }
        Value::TimestampTz(t) => {
            out.push(0x64);
            push_ordered_i64(out, *t);
        }
        // Intervals order by their length with 30-day months, so '1 mon'
        // and '30 days' are one key, as they are equal.
        Value::Interval(i) => {
            out.push(0x65);
            out.extend_from_slice(&((i.span() as u128) ^ (1 << 127)).to_be_bytes());
        }
        Value::Bytea(b) => {
            out.push(0x70);
            push_ordered_bytes(out, b);
        }
        Value::Uuid(u) => {
            out.push(0x71);
            out.extend_from_slice(u);
        }
        // Neither orders by its bytes: they key equality only (the binder
        // keeps them out of ordered indexes).
        Value::Json(s) => {
            out.push(0x80);
            push_ordered_str(out, s);
        }
        // Element by element, each after a 1, then a 0: a shorter array
        // that is a prefix of a longer one sorts first, as they compare.
        Value::Array(a) => {
            out.push(0x90);
            for v in &a.items {
                out.push(1);
                encode_key_value(out, v);
            }
            out.push(0);
        }
        Value::Record(r) => {
            out.push(0x91);
            for v in &r.fields {
                encode_key_value(out, v);
            }
        }
        // By the label's place in its type (labels of one type never share
        // one), so an index on an enum column is in the declared order.
        Value::Enum(e) => {
            out.push(0x92);
            encode_key_float(out, e.sort_order);
        }
        Value::Jsonb(j) => {
            out.push(0x81);
            push_ordered_str(out, &crate::json::Jsonb::canonical(j));
        }
    }
}

fn encode_key_float(out: &mut Vec<u8>, f: f64) {
    out.push(0x30);
    let f = if f == 0.0 {
        0.0
    } else if f.is_nan() {
        f64::NAN
    } else {
        f
    };
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 0 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    out.extend_from_slice(&ordered.to_be_bytes());
}

/// Sign, decimal exponent, then significant digits: bytewise order is
/// numeric order; values equal as numbers (1.0, 1.00) encode alike.
///
/// The sign byte is 0 (negative), 1 (zero), 2 (positive) or 3 (`NaN`,
/// above everything). The exponent is two bytes (biased by 0x8000) when
/// it is below 0x7FFE, else 0xFFFE and four more bytes; `-Infinity` and
/// `Infinity` are a negative and a positive sign with the exponent bytes
/// 0x0000 and 0xFFFF, which no finite value has, so they sort beyond every
/// finite value. Negative values invert their bytes.
fn encode_key_numeric(out: &mut Vec<u8>, n: &Numeric) {
    out.push(0x40);
    let (negative, digits, scale) = match n {
        Numeric::NaN => return out.push(3),
        Numeric::Infinity => return out.extend_from_slice(&[2, 0xFF, 0xFF]),
        Numeric::NegInfinity => return out.extend_from_slice(&[0, 0, 0]),
        _ if n.is_zero() => return out.push(1),
        _ => n.digits().unwrap_or_default(),
    };
    let digits = digits.trim_start_matches('0');
    // Fraction zeros go; the integer's stay (as Decimal::normalize leaves them).
    let fraction_zeros = (digits.len() - digits.trim_end_matches('0').len()).min(scale as usize);
    let significant = &digits[..digits.len() - fraction_zeros];
    let exponent = digits.len() as i64 - scale as i64;
    out.push(if negative { 0 } else { 2 });
    let mut body: Vec<u8> = Vec::with_capacity(significant.len() + 7);
    let biased = exponent + 0x8000;
    if biased < 0xFFFE {
        body.extend_from_slice(&(biased as u16).to_be_bytes());
    } else {
        body.extend_from_slice(&[0xFF, 0xFE]);
        body.extend_from_slice(&(exponent as u32).to_be_bytes());
    }
    body.extend(significant.bytes().map(|b| b - b'0' + 1));
    body.push(0);
    if negative {
        body.iter_mut().for_each(|b| *b = !*b);
    }
    out.extend_from_slice(&body);
}

/// The encoded key of the given columns of `row`.
pub fn encode_key(row: &[Value], columns: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(columns.len() * 9);
    encode_key_into(&mut out, row, columns);
    out
}

/// [`encode_key`] into `out`, replacing what it held: for a caller that
/// encodes many keys into one buffer.
pub fn encode_key_into(out: &mut Vec<u8>, row: &[Value], columns: &[usize]) {
    out.clear();
    for &c in columns {
        encode_key_value(out, &row[c]);
    }
}

/// The key of a row identified by a hidden row id.
pub fn encode_row_id(row_id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    encode_key_value(&mut out, &Value::Int8(row_id as i64));
    out
}

/// The hash that picks a bucket: xxh3 of the key encoding, so it depends on
/// the values, not on the integer width they arrived in.
pub fn hash_key(key: &[u8]) -> u64 {
    xxh3_64(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::Numeric;

    fn key(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key_value(&mut out, &v);
        out
    }

    #[test]
    fn key_order_matches_sql_order() {
        let ints = [-5i64, -1, 0, 1, 300, i64::MAX];
        for w in ints.windows(2) {
            assert!(key(Value::Int8(w[0])) < key(Value::Int8(w[1])));
        }
        let floats = [f64::NEG_INFINITY, -2.5, -0.0, 0.5, 1e300, f64::NAN];
        for w in floats.windows(2) {
            assert!(
                key(Value::Float8(w[0])) <= key(Value::Float8(w[1])),
                "{w:?}"
            );
        }
        let nums = [
            "-100.5", "-2", "-0.001", "0", "0.001", "0.01", "1", "1.5", "10", "99.99", "100",
        ];
        for w in nums.windows(2) {
            let a = key(Value::Numeric(Numeric::parse(w[0]).unwrap()));
            let b = key(Value::Numeric(Numeric::parse(w[1]).unwrap()));
            assert!(a < b, "{} < {}", w[0], w[1]);
        }
        assert_eq!(
            key(Value::Numeric(Numeric::parse("1.0").unwrap())),
            key(Value::Numeric(Numeric::parse("1.00").unwrap()))
        );
        assert!(key(Value::Text("ab".into())) < key(Value::Text("abc".into())));
        assert!(key(Value::Text("abc".into())) < key(Value::Text("b".into())));
        assert!(key(Value::Int4(1)) < key(Value::Null));
        assert_eq!(key(Value::Int2(7)), key(Value::Int8(7)));
    }

    #[test]
    fn date_time_keys_sort_as_postgres_compares() {
        use crate::datetime::{
            DATE_INFINITY, DATE_NEG_INFINITY, TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY,
        };
        let dates = [DATE_NEG_INFINITY, -746_117, -1, 0, 9823, DATE_INFINITY];
        for w in dates.windows(2) {
            assert!(key(Value::Date(w[0])) < key(Value::Date(w[1])), "{w:?}");
        }
        let stamps = [TIMESTAMP_NEG_INFINITY, -1, 0, 1, TIMESTAMP_INFINITY];
        for w in stamps.windows(2) {
            assert!(key(Value::Timestamp(w[0])) < key(Value::Timestamp(w[1])));
            assert!(key(Value::TimestampTz(w[0])) < key(Value::TimestampTz(w[1])));
        }
        assert!(key(Value::Time(0)) < key(Value::Time(86_400_000_000)));
        // Intervals by length with 30-day months; equal lengths are one key.
        let iv = |s: &str| Value::Interval(Interval::parse(s, None).unwrap());
        let ordered = [
            "-1 year",
            "-1 day",
            "00:00:00",
            "23:59:59",
            "1 day",
            "1 mon 1 second",
            "1 year",
        ];
        for w in ordered.windows(2) {
            assert!(key(iv(w[0])) < key(iv(w[1])), "{w:?}");
            assert_eq!(iv(w[0]).compare(&iv(w[1])), std::cmp::Ordering::Less);
        }
        assert_eq!(key(iv("1 mon")), key(iv("30 days")));
        assert_eq!(key(iv("1 day")), key(iv("24 hours")));
        // char(n): trailing blanks do not count, in keys as in comparisons,
        // so 'a' sorts before 'a' followed by a tab, as PostgreSQL has it.
        let bp = |s: &str| Value::BpChar(s.into());
        assert_eq!(key(bp("a")), key(bp("a   ")));
        assert!(key(bp("a  ")) < key(bp("a\t ")));
        assert_eq!(bp("a  ").compare(&bp("a\t ")), std::cmp::Ordering::Less);
        assert!(key(bp("")) < key(bp("a")));
        // timetz: by the instant, then east before west at the same instant.
        let tt = |micros: i64, east: i32| Value::TimeTz(micros, east);
        let hour = 3_600_000_000;
        assert!(key(tt(10 * hour, 2 * 3600)) < key(tt(9 * hour, 0)));
        assert!(key(tt(10 * hour, 3600)) < key(tt(9 * hour, 0)));
        assert_eq!(
            tt(10 * hour, 3600).compare(&tt(9 * hour, 0)),
            std::cmp::Ordering::Less
        );
        assert!(key(Value::Timestamp(i64::MAX)) < key(Value::Null));
    }

    #[test]
    fn rows_round_trip_and_bad_bytes_fail_cleanly() {
        let row = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int2(-3),
            Value::Int4(7),
            Value::Int8(1 << 40),
            Value::Float4(1.5),
            Value::Float8(-2.25),
            Value::Numeric(Numeric::parse("12.340").unwrap()),
            Value::Numeric(Numeric::parse("-1e40").unwrap()),
            Value::Numeric(Numeric::parse("0.1234567890123456789012345678901").unwrap()),
            Value::Numeric(Numeric::NaN),
            Value::Numeric(Numeric::Infinity),
            Value::Numeric(Numeric::NegInfinity),
            Value::Text("héllo".into()),
            Value::BpChar("ab  ".into()),
            Value::Date(-746_117),
            Value::Time(86_400_000_000),
            Value::TimeTz(1, -19800),
            Value::Timestamp(i64::MIN),
            Value::TimestampTz(848_743_200_500_000),
            Value::Interval(Interval::new(-14, 3, -4)),
            Value::Record(Box::new(crate::value::Record {
                shape: crate::types::RecordShape::ExpandArray(crate::array::Elem::Text),
                fields: vec![Value::Text("a b".into()), Value::Int4(2)],
            })),
            Value::Record(Box::new(crate::value::Record {
                shape: crate::types::RecordShape::Row,
                fields: vec![Value::Int8(7), Value::Null, Value::Text("x,y".into())],
            })),
        ];
        let mut w = Writer::new();
        w.row(&row);
        let back = Reader::new(&w.buf).row().unwrap();
        assert_eq!(back.len(), row.len());
        for (a, b) in row.iter().zip(&back) {
            assert_eq!(a.to_text(), b.to_text());
            assert_eq!(a.data_type(), b.data_type());
        }
        for cut in 0..w.buf.len() {
            assert!(Reader::new(&w.buf[..cut]).row().is_err());
        }
        assert!(Reader::new(&[1, 0, 0, 0, 77]).row().is_err());
    }
}
