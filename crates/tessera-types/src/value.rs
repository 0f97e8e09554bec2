//! SQL values: PostgreSQL's text input and output, casts, comparison and
//! arithmetic, including its overflow and division-by-zero errors.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use crate::array::{self, Array, Elem};
use crate::datetime::{self, ops, parse, Interval, TimeContext};
use crate::error::{Error, Result};
use crate::json::{self, Jsonb};
use crate::numeric::Numeric;
use crate::output::OutputStyle;
use crate::sqlstate;
use crate::types::{DataType, NAME_BYTES_MAX};

#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    /// `text` and `varchar`, and untyped literals before they are typed.
    Text(String),
    /// `char(n)`/`bpchar`, stored blank-padded; trailing blanks do not
    /// count in comparisons, and go when converted to text.
    BpChar(String),
    /// Days since 2000-01-01 (see [`crate::datetime`]).
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight and the zone's offset in seconds east.
    TimeTz(i64, i32),
    /// Microseconds since 2000-01-01 00:00:00, no zone.
    Timestamp(i64),
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(i64),
    Interval(Interval),
    Bytea(Vec<u8>),
    Uuid([u8; 16]),
    /// `json`: the text as given (valid JSON).
    Json(String),
    Jsonb(Box<Jsonb>),
    Array(Box<Array>),
    /// A record (see `DataType::Record`).
    Record(Box<Record>),
    /// A label of an enum type (see `DataType::Enum`).
    Enum(Box<EnumValue>),
}

/// A value of an enum type: its label and its place in the type's order.
/// A label's `sort_order` never changes once it is made (ADD VALUE BEFORE
/// takes a number between its neighbours'), so stored values keep their
/// order; two labels of one type never share one.
#[derive(Debug, Clone)]
pub struct EnumValue {
    /// The enum type's oid.
    pub type_oid: u32,
    /// PostgreSQL's `pg_enum.enumsortorder`.
    pub sort_order: f64,
    pub label: String,
}

/// A record value: its shape and one value per field of the shape.
#[derive(Debug, Clone)]
pub struct Record {
    pub shape: crate::types::RecordShape,
    pub fields: Vec<Value>,
}

impl Record {
    /// PostgreSQL's `record_out`: `(a,b)`, a NULL field empty, a field
    /// quoted when it is empty or holds a quote, backslash, parenthesis,
    /// comma or white space (quotes and backslashes inside doubled).
    pub fn write_text(&self, out: &mut String, field: &dyn Fn(&Value, &mut String)) {
        out.push('(');
        for (i, v) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if v.is_null() {
                continue;
            }
            let mut text = String::new();
            field(v, &mut text);
            let quote = text.is_empty()
                || text
                    .chars()
                    .any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',') || c.is_whitespace());
            if quote {
                out.push('"');
                for c in text.chars() {
                    if matches!(c, '"' | '\\') {
                        out.push(c);
                    }
                    out.push(c);
                }
                out.push('"');
            } else {
                out.push_str(&text);
            }
        }
        out.push(')');
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The natural type of the value (`Text` for strings).
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Unknown,
            Value::Bool(_) => DataType::Bool,
            Value::Int2(_) => DataType::Int2,
            Value::Int4(_) => DataType::Int4,
            Value::Int8(_) => DataType::Int8,
            Value::Float4(_) => DataType::Float4,
            Value::Float8(_) => DataType::Float8,
            Value::Numeric(_) => DataType::Numeric(None),
            Value::Text(_) => DataType::Text,
            Value::BpChar(_) => DataType::Char(None),
            Value::Date(_) => DataType::Date,
            Value::Time(_) => DataType::Time(None),
            Value::TimeTz(..) => DataType::TimeTz(None),
            Value::Timestamp(_) => DataType::Timestamp(None),
            Value::TimestampTz(_) => DataType::TimestampTz(None),
            Value::Interval(_) => DataType::Interval(None),
            Value::Bytea(_) => DataType::Bytea,
            Value::Uuid(_) => DataType::Uuid,
            Value::Json(_) => DataType::Json,
            Value::Jsonb(_) => DataType::Jsonb,
            Value::Array(a) => DataType::Array(a.elem),
            Value::Record(r) => DataType::Record(r.shape),
            Value::Enum(e) => DataType::Enum(e.type_oid),
        }
    }

    /// Writes PostgreSQL's text output of the value with the default
    /// settings; NULL writes nothing (callers send NULL out of band). A
    /// `timestamptz` is shown in UTC; [`Value::write_text_in`] writes as a
    /// session's settings say.
    pub fn write_text(&self, out: &mut String) {
        self.write_text_in(out, &OutputStyle::DEFAULT)
    }

    /// Writes the text output in `style`: `timestamptz` in its zone,
    /// dates, timestamps and intervals in its `DateStyle` and
    /// `IntervalStyle`, floats with its `extra_float_digits`.
    pub fn write_text_in(&self, out: &mut String, style: &OutputStyle) {
        use std::fmt::Write;
        match self {
            Value::Null => {}
            Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
            Value::Int2(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Int4(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Int8(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Float4(v) => format_float(*v as f64, Some(*v), style.extra_float_digits, out),
            Value::Float8(v) => format_float(*v, None, style.extra_float_digits, out),
            Value::Numeric(d) => {
                let _ = write!(out, "{d}");
            }
            Value::Text(s) | Value::BpChar(s) => out.push_str(s),
            Value::Date(d) => datetime::format::write_date_in(out, *d, style),
            Value::Time(t) => datetime::format::write_time(out, *t),
            Value::TimeTz(t, offset) => datetime::format::write_time_tz(out, *t, *offset),
            Value::Timestamp(ts) => datetime::format::write_timestamp_in(out, *ts, style),
            Value::TimestampTz(ts) => datetime::format::write_timestamptz_in(out, *ts, style),
            Value::Interval(i) => i.write_text_in(out, style.interval_style),
            Value::Bytea(b) => write_bytea_hex(out, b),
            Value::Uuid(u) => write_uuid(out, u),
            Value::Json(s) => out.push_str(s),
            Value::Jsonb(j) => j.write_text(out),
            Value::Array(a) => a.write_text(out, &|v, o| v.write_text_in(o, style)),
            Value::Record(r) => r.write_text(out, &|v, o| v.write_text_in(o, style)),
            Value::Enum(e) => out.push_str(&e.label),
        }
    }

    pub fn to_text(&self) -> Option<String> {
        if self.is_null() {
            return None;
        }
        let mut s = String::new();
        self.write_text(&mut s);
        Some(s)
    }

    /// The text output in `style` (see [`Value::write_text_in`]).
    pub fn to_text_in(&self, style: &OutputStyle) -> Option<String> {
        if self.is_null() {
            return None;
        }
        let mut s = String::new();
        self.write_text_in(&mut s, style);
        Some(s)
    }

    /// The value as text by a cast: `char(n)` loses its trailing blanks and
    /// a boolean is spelled out (`true`), as PostgreSQL's casts to text do;
    /// the rest is its output in the session's `style`.
    fn string_text(self, style: &OutputStyle) -> String {
        match self {
            Value::BpChar(s) => trim_blanks(&s).to_string(),
            Value::Text(s) => s,
            Value::Bool(b) => if b { "true" } else { "false" }.to_string(),
            other => other.to_text_in(style).unwrap_or_default(),
        }
    }

    /// Parses PostgreSQL's text input for `ty`. Date/time input reads the
    /// clock and time zone of UTC now; use [`Value::parse_with`] with a
    /// session's context.
    pub fn parse(ty: DataType, text: &str) -> Result<Value> {
        Value::parse_with(ty, text, &utc_context_for(ty))
    }

    /// Parses PostgreSQL's text input for `ty`, date/time input in `ctx`
    /// (time zone, field order, and the time `now` and `today` mean).
    pub fn parse_with(ty: DataType, text: &str, ctx: &TimeContext) -> Result<Value> {
        match ty {
            DataType::Bool => parse_bool(text).map(Value::Bool),
            DataType::Int2 => {
                let v = parse_int(text, "smallint")?;
                i16::try_from(v)
                    .map(Value::Int2)
                    .map_err(|_| out_of_range_input(text, "smallint"))
            }
            DataType::Int4 => {
                let v = parse_int(text, "integer")?;
                i32::try_from(v)
                    .map(Value::Int4)
                    .map_err(|_| out_of_range_input(text, "integer"))
            }
            DataType::Int8 => parse_int(text, "bigint").map(Value::Int8),
            DataType::Float4 => {
                let v = parse_float(text, "real")?;
                let f = v as f32;
                if f.is_infinite() && v.is_finite() || (f == 0.0 && v != 0.0) {
                    return Err(float_out_of_range_input(text, "real"));
                }
                Ok(Value::Float4(f))
            }
            DataType::Float8 => parse_float(text, "double precision").map(Value::Float8),
            DataType::Numeric(m) => {
                let d = Numeric::parse(text)?;
                match m {
                    Some((p, s)) => d.apply_typmod(p, s).map(Value::Numeric),
                    None => Ok(Value::Numeric(d)),
                }
            }
            DataType::Text | DataType::Unknown => Ok(Value::Text(text.to_string())),
            DataType::Name => Ok(Value::Text(name_in(text).to_string())),
            DataType::InternalChar => Ok(Value::Text(internal_char_in(text))),
            DataType::Int2Vector => vector_in(text, Elem::Int2),
            DataType::OidVector => vector_in(text, Elem::Oid),
            // PostgreSQL's void_in takes any text; there is one void value.
            DataType::Void => Ok(Value::Text(String::new())),
            DataType::Varchar(n) => {
                Value::Text(text.to_string()).cast_with(DataType::Varchar(n), false, ctx)
            }
            DataType::Char(n) => Ok(Value::BpChar(fit_bpchar(text.to_string(), n, false)?)),
            DataType::Date => parse::parse_date(text, ctx).map(Value::Date),
            DataType::Time(p) => {
                parse::parse_time(text, ctx).map(|t| Value::Time(parse::round_time(t, p)))
            }
            DataType::TimeTz(p) => parse::parse_timetz(text, ctx)
                .map(|(t, offset)| Value::TimeTz(parse::round_time(t, p), offset)),
            DataType::Timestamp(p) => {
                let ts = parse::parse_timestamp(text, ctx)?;
                datetime::round_timestamp(ts, p).map(Value::Timestamp)
            }
            DataType::TimestampTz(p) => {
                let ts = parse::parse_timestamptz(text, ctx)?;
                datetime::round_timestamp(ts, p).map(Value::TimestampTz)
            }
            DataType::Interval(t) => {
                Interval::parse_in(text, t, ctx.output.interval_style).map(Value::Interval)
            }
            DataType::Bytea => parse_bytea(text).map(Value::Bytea),
            DataType::Uuid => parse_uuid(text).map(Value::Uuid),
            DataType::Oid | DataType::Reg(_) => parse_oid(text).map(Value::Int8),
            DataType::Json => json::validate(text).map(|()| Value::Json(text.to_string())),
            DataType::Jsonb => json::parse(text).map(|j| Value::Jsonb(Box::new(j))),
            DataType::Array(elem) => {
                let mut items = Vec::new();
                for item in array::split_literal(text)? {
                    items.push(match item {
                        None => Value::Null,
                        Some(s) => Value::parse_with(elem.data_type(), &s, ctx)?,
                    });
                }
                Ok(Value::Array(Box::new(Array { elem, items })))
            }
            // Reading a label takes the type's definition, which the binder
            // holds: it converts text to an enum itself (`EnumIn`).
            DataType::Enum(_) => Err(Error::internal("enum input without the type's definition")),
            // As in PostgreSQL: an anonymous record has no input function.
            DataType::Record(_) => Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "input of anonymous composite types is not implemented",
            )),
        }
    }

    /// Converts to `to`. `explicit` is true for `CAST`/`::` (varchar(n)
    /// truncates silently) and false for assignment to a column (it fails
    /// with 22001 unless only blanks are cut), as in PostgreSQL.
    /// Conversions that need a session (text to and from `timestamptz`,
    /// `'now'`) use UTC now; see [`Value::cast_with`].
    pub fn cast(self, to: DataType, explicit: bool) -> Result<Value> {
        self.cast_with(to, explicit, &utc_context_for(to))
    }

    /// Converts to `to`, reading the session's time zone and clock in `ctx`
    /// where the conversion depends on them.
    pub fn cast_with(self, to: DataType, explicit: bool, ctx: &TimeContext) -> Result<Value> {
        use DataType as T;
        if self.is_null() {
            return Ok(Value::Null);
        }
        if let Some(v) = self.cast_datetime(to, ctx)? {
            return Ok(v);
        }
        Ok(match (self, to) {
            (v, T::Unknown) => v,
            (Value::Text(s), T::Text) => Value::Text(s),
            (Value::Text(s), T::Varchar(None)) => Value::Text(s),
            (Value::Text(s), T::Varchar(Some(n))) => Value::Text(fit_varchar(s, n, explicit)?),
            (Value::Text(s), T::Char(n)) => Value::BpChar(fit_bpchar(s, n, explicit)?),
            (Value::BpChar(s), T::Char(n)) => Value::BpChar(fit_bpchar(s, n, explicit)?),
            (Value::Text(s), ty) => Value::parse_with(ty, &s, ctx)?,
            // int4 → "char": the byte of a number in -128..=127.
            (v @ (Value::Int2(_) | Value::Int4(_) | Value::Int8(_)), T::InternalChar) => {
                let n = v.as_i64().unwrap_or_default();
                let byte = i8::try_from(n).map_err(|_| Error::out_of_range("\"char\""))?;
                Value::Text(internal_char_out(byte as u8))
            }
            (v, T::Name) => Value::Text(name_in(&v.string_text(&ctx.output_style())).to_string()),
            (v, T::InternalChar) => {
                Value::Text(internal_char_in(&v.string_text(&ctx.output_style())))
            }
            (Value::BpChar(s), ty) if !ty.is_string() => Value::parse_with(ty, &s, ctx)?,
            (v, T::Text) | (v, T::Varchar(None)) => Value::Text(v.string_text(&ctx.output_style())),
            (v, T::Varchar(Some(n))) => Value::Text(fit_varchar(
                v.string_text(&ctx.output_style()),
                n,
                explicit,
            )?),
            (v, T::Char(n)) => {
                Value::BpChar(fit_bpchar(v.string_text(&ctx.output_style()), n, explicit)?)
            }
            (Value::Bool(b), T::Bool) => Value::Bool(b),
            (v @ (Value::Bytea(_) | Value::Uuid(_)), to) if v.data_type() == to => v,
            (Value::Json(s), T::Json) => Value::Json(s),
            (Value::Json(s), T::Jsonb) => Value::Jsonb(Box::new(json::parse(&s)?)),
            (Value::Jsonb(j), T::Jsonb) => Value::Jsonb(j),
            (Value::Enum(e), T::Enum(oid)) if e.type_oid == oid => Value::Enum(e),
            (Value::Array(a), T::Array(elem)) => {
                let to = elem.data_type();
                let mut items = Vec::with_capacity(a.items.len());
                for v in a.items {
                    items.push(v.cast_with(to, explicit, ctx)?);
                }
                Value::Array(Box::new(Array { elem, items }))
            }
            (Value::Jsonb(j), T::Json) => Value::Json(j.to_text()),
            (Value::Jsonb(j), to) if to == T::Bool || to.is_numeric_family() => {
                jsonb_scalar(&j, to)?.cast_with(to, explicit, ctx)?
            }
            (Value::Bool(b), T::Int4) if explicit => Value::Int4(b as i32),
            (Value::Int4(i), T::Bool) if explicit => Value::Bool(i != 0),
            (v, T::Int2) => Value::Int2(
                i16::try_from(v.to_i64_rounded("smallint")?)
                    .map_err(|_| Error::out_of_range("smallint"))?,
            ),
            (v, T::Int4) => Value::Int4(
                i32::try_from(v.to_i64_rounded("integer")?)
                    .map_err(|_| Error::out_of_range("integer"))?,
            ),
            (v, T::Int8) => Value::Int8(v.to_i64_rounded("bigint")?),
            (v @ (Value::Int2(_) | Value::Int4(_) | Value::Int8(_)), T::Oid | T::Reg(_)) => {
                let n = v.to_i64_rounded("oid")?;
                // PostgreSQL's int4 → oid keeps the bits of a negative number.
                let n = if (i32::MIN as i64..0).contains(&n) {
                    n + (1 << 32)
                } else {
                    n
                };
                if !(0..=u32::MAX as i64).contains(&n) {
                    return Err(Error::out_of_range("OID"));
                }
                Value::Int8(n)
            }
            (v, T::Float8) => Value::Float8(v.to_f64()?),
            (v, T::Float4) => {
                let f = v.to_f64()?;
                let r = f as f32;
                if r.is_infinite() && f.is_finite() {
                    return Err(Error::new(
                        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                        "value out of range: overflow",
                    ));
                }
                Value::Float4(r)
            }
            (v, T::Numeric(m)) => {
                let d = v.to_numeric()?;
                match m {
                    Some((p, s)) => Value::Numeric(d.apply_typmod(p, s)?),
                    None => Value::Numeric(d),
                }
            }
            (v, to) => {
                return Err(Error::new(
                    sqlstate::CANNOT_COERCE,
                    format!("cannot cast type {} to {}", v.data_type(), to),
                ))
            }
        })
    }

    /// Conversions into a date/time type from another (or the same, for a
    /// new precision); `None` when `self` or `to` is not one of them.
    fn cast_datetime(&self, to: DataType, ctx: &TimeContext) -> Result<Option<Value>> {
        use DataType as T;
        let zone = &ctx.zone;
        let round_ts = datetime::round_timestamp;
        let round_time = parse::round_time;
        Ok(Some(match (self, to) {
            (Value::Date(d), T::Date) => Value::Date(*d),
            (Value::Date(d), T::Timestamp(p)) => {
                Value::Timestamp(round_ts(datetime::date_to_timestamp(*d)?, p)?)
            }
            (Value::Date(d), T::TimestampTz(p)) => {
                let local = datetime::date_to_timestamp(*d)?;
                let utc = zone
                    .to_utc(local)
                    .map_err(|_| datetime::date_out_of_range_for_timestamp())?;
                Value::TimestampTz(round_ts(utc, p)?)
            }
            (Value::Timestamp(ts), T::Timestamp(p)) => Value::Timestamp(round_ts(*ts, p)?),
            (Value::Timestamp(ts), T::TimestampTz(p)) => {
                Value::TimestampTz(round_ts(ops::timestamp_to_timestamptz(*ts, zone)?, p)?)
            }
            (Value::Timestamp(ts), T::Date) => Value::Date(datetime::timestamp_to_date(*ts)),
            (Value::Timestamp(ts), T::Time(p)) => match ops::timestamp_to_time(*ts) {
                Some(t) => Value::Time(round_time(t, p)),
                None => Value::Null,
            },
            (Value::TimestampTz(ts), T::TimestampTz(p)) => Value::TimestampTz(round_ts(*ts, p)?),
            (Value::TimestampTz(ts), T::Timestamp(p)) => {
                Value::Timestamp(round_ts(ops::timestamptz_to_timestamp(*ts, zone)?, p)?)
            }
            (Value::TimestampTz(ts), T::Date) => Value::Date(ops::timestamptz_to_date(*ts, zone)?),
            (Value::TimestampTz(ts), T::Time(p) | T::TimeTz(p)) => {
                let local = zone.to_local(*ts)?;
                match ops::timestamp_to_time(local) {
                    Some(t) if matches!(to, T::Time(_)) => Value::Time(round_time(t, p)),
                    Some(t) => Value::TimeTz(round_time(t, p), zone.offset_at_utc(*ts)),
                    None => Value::Null,
                }
            }
            (Value::Time(t), T::Time(p)) => Value::Time(round_time(*t, p)),
            (Value::Time(t), T::TimeTz(p)) => Value::TimeTz(
                round_time(*t, p),
                zone.offset_for_time_today(*t, ctx.transaction_start),
            ),
            (Value::Time(t), T::Interval(m)) => {
                let i = Interval::new(0, 0, *t);
                Value::Interval(m.map_or(i, |m| i.apply_typmod(m)))
            }
            (Value::TimeTz(t, _), T::Time(p)) => Value::Time(round_time(*t, p)),
            (Value::TimeTz(t, z), T::TimeTz(p)) => Value::TimeTz(round_time(*t, p), *z),
            (Value::Interval(i), T::Interval(m)) => {
                Value::Interval(m.map_or(*i, |m| i.apply_typmod(m)))
            }
            (Value::Interval(i), T::Time(p)) => {
                Value::Time(round_time(ops::interval_to_time(i), p))
            }
            _ => return Ok(None),
        }))
    }

    /// As an integer for a cast to `type_name` (named in the errors).
    fn to_i64_rounded(&self, type_name: &str) -> Result<i64> {
        match self {
            Value::Int2(v) => Ok(*v as i64),
            Value::Int4(v) => Ok(*v as i64),
            Value::Int8(v) => Ok(*v),
            Value::Float4(v) => float_to_i64(*v as f64, type_name),
            Value::Float8(v) => float_to_i64(*v, type_name),
            Value::Numeric(d) => d.to_i64_rounded(type_name),
            other => Err(cannot_cast(other, type_name)),
        }
    }

    pub fn to_f64(&self) -> Result<f64> {
        match self {
            Value::Int2(v) => Ok(*v as f64),
            Value::Int4(v) => Ok(*v as f64),
            Value::Int8(v) => Ok(*v as f64),
            Value::Float4(v) => Ok(*v as f64),
            Value::Float8(v) => Ok(*v),
            Value::Numeric(d) => Ok(d.to_f64()),
            other => Err(cannot_cast(other, "double precision")),
        }
    }

    pub fn to_numeric(&self) -> Result<Numeric> {
        match self {
            Value::Int2(v) => Ok(Numeric::from(*v)),
            Value::Int4(v) => Ok(Numeric::from(*v)),
            Value::Int8(v) => Ok(Numeric::from(*v)),
            // PostgreSQL prints the float with FLT_DIG/DBL_DIG digits and
            // reads that back.
            Value::Float4(v) => Numeric::from_f64(*v as f64, 6),
            Value::Float8(v) => Numeric::from_f64(*v, 15),
            Value::Numeric(d) => Ok(d.clone()),
            other => Err(cannot_cast(other, "numeric")),
        }
    }

    /// Compares two non-null values of the same type family, in PostgreSQL's
    /// order (NaN sorts above every other float; -0 equals 0).
    pub fn compare(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Greater,
            (_, Value::Null) => Ordering::Less,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int2(a), Value::Int2(b)) => a.cmp(b),
            (Value::Int4(a), Value::Int4(b)) => a.cmp(b),
            (Value::Int8(a), Value::Int8(b)) => a.cmp(b),
            (Value::Float4(a), Value::Float4(b)) => float_cmp(*a as f64, *b as f64),
            (Value::Float8(a), Value::Float8(b)) => float_cmp(*a, *b),
            (Value::Numeric(a), Value::Numeric(b)) => a.cmp(b),
            (Value::Text(a), Value::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::BpChar(a), Value::BpChar(b)) => {
                trim_blanks(a).as_bytes().cmp(trim_blanks(b).as_bytes())
            }
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::Time(a), Value::Time(b)) => a.cmp(b),
            (Value::TimeTz(a, za), Value::TimeTz(b, zb)) => {
                // By the instant, then by zone (east first), as PostgreSQL.
                let ua = *a - *za as i64 * datetime::USECS_PER_SEC;
                let ub = *b - *zb as i64 * datetime::USECS_PER_SEC;
                ua.cmp(&ub).then(zb.cmp(za))
            }
            (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
            (Value::TimestampTz(a), Value::TimestampTz(b)) => a.cmp(b),
            (Value::Interval(a), Value::Interval(b)) => a.cmp(b),
            (Value::Bytea(a), Value::Bytea(b)) => a.cmp(b),
            (Value::Uuid(a), Value::Uuid(b)) => a.cmp(b),
            (Value::Json(a), Value::Json(b)) => a.cmp(b),
            (Value::Enum(a), Value::Enum(b)) => float_cmp(a.sort_order, b.sort_order),
            (Value::Jsonb(a), Value::Jsonb(b)) => a.compare(b),
            // Element by element (NULL above everything), then the longer.
            (Value::Array(a), Value::Array(b)) => a
                .items
                .iter()
                .zip(&b.items)
                .map(|(x, y)| x.compare(y))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.items.len().cmp(&b.items.len())),
            // Field by field, as PostgreSQL compares records.
            (Value::Record(a), Value::Record(b)) => a
                .fields
                .iter()
                .zip(&b.fields)
                .map(|(x, y)| x.compare(y))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.fields.len().cmp(&b.fields.len())),
            (a, b) => match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => match (a.to_numeric(), b.to_numeric()) {
                    (Ok(x), Ok(y)) if !a.is_float() && !b.is_float() => x.cmp(&y),
                    _ => match (a.to_f64(), b.to_f64()) {
                        (Ok(x), Ok(y)) => float_cmp(x, y),
                        _ => a.type_rank().cmp(&b.type_rank()),
                    },
                },
            },
        }
    }

    fn is_float(&self) -> bool {
        matches!(self, Value::Float4(_) | Value::Float8(_))
    }

    fn type_rank(&self) -> u8 {
        match self {
            Value::Null => 9,
            Value::Bool(_) => 0,
            Value::Int2(_)
            | Value::Int4(_)
            | Value::Int8(_)
            | Value::Float4(_)
            | Value::Float8(_)
            | Value::Numeric(_) => 1,
            Value::Text(_) => 2,
            Value::BpChar(_) => 3,
            Value::Date(_) => 4,
            Value::Time(_) => 5,
            Value::TimeTz(..) => 6,
            Value::Timestamp(_) => 7,
            Value::TimestampTz(_) => 8,
            Value::Interval(_) => 10,
            Value::Bytea(_) => 11,
            Value::Uuid(_) => 12,
            Value::Json(_) => 13,
            Value::Jsonb(_) => 14,
            Value::Array(_) => 15,
            Value::Record(_) => 16,
            Value::Enum(_) => 17,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int2(v) => Some(*v as i64),
            Value::Int4(v) => Some(*v as i64),
            Value::Int8(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// Grouping equality: NULL equals NULL, values compare as [`Value::compare`].
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.compare(other) == Ordering::Equal
    }
}
impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => 0u8.hash(state),
            Value::Bool(b) => b.hash(state),
            Value::Int2(v) => (*v as i64).hash(state),
            Value::Int4(v) => (*v as i64).hash(state),
            Value::Int8(v) => v.hash(state),
            Value::Float4(v) => canonical_float_bits(*v as f64).hash(state),
            Value::Float8(v) => canonical_float_bits(*v).hash(state),
            Value::Numeric(d) => d.hash(state),
            Value::Text(s) => s.hash(state),
            Value::BpChar(s) => trim_blanks(s).hash(state),
            Value::Date(d) => d.hash(state),
            Value::Time(t) => t.hash(state),
            Value::TimeTz(t, z) => (t, z).hash(state),
            Value::Timestamp(t) | Value::TimestampTz(t) => t.hash(state),
            Value::Interval(i) => i.hash(state),
            Value::Bytea(b) => b.hash(state),
            Value::Uuid(u) => u.hash(state),
            Value::Json(s) => s.hash(state),
            Value::Jsonb(j) => j.hash(state),
            Value::Array(a) => a.items.hash(state),
            Value::Record(r) => r.fields.hash(state),
            Value::Enum(e) => canonical_float_bits(e.sort_order).hash(state),
        }
    }
}

/// `jsonb` to a boolean or number type: the scalar of that kind, else
/// PostgreSQL's 22023.
fn jsonb_scalar(j: &Jsonb, to: DataType) -> Result<Value> {
    match (j, to) {
        (Jsonb::Bool(b), DataType::Bool) => Ok(Value::Bool(*b)),
        (Jsonb::Number(d), to) if to.is_numeric_family() => Ok(Value::Numeric(d.clone())),
        (j, to) => Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!(
                "cannot cast jsonb {} to type {}",
                j.type_name(),
                to.base_name()
            ),
        )),
    }
}

/// bytea's hex output: `\x` and two lowercase digits a byte.
fn write_bytea_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

/// bytea's input: hex (`\x` then digit pairs, blanks between pairs
/// allowed) or the escape format (bytes as themselves, `\\` for a
/// backslash, `\nnn` octal).
pub fn parse_bytea(text: &str) -> Result<Vec<u8>> {
    let b = text.as_bytes();
    if let Some(hex) = text.strip_prefix("\\x") {
        let digit = |c: u8| -> Result<u8> {
            (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| {
                let shown: String = std::str::from_utf8(&[c]).map_or("?".into(), str::to_string);
                Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("invalid hexadecimal digit: \"{shown}\""),
                )
            })
        };
        let mut out = Vec::with_capacity(hex.len() / 2);
        let h = hex.as_bytes();
        let mut i = 0;
        while i < h.len() {
            if matches!(h[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            let hi = digit(h[i])?;
            let Some(&lo) = h.get(i + 1) else {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    "invalid hexadecimal data: odd number of digits",
                ));
            };
            out.push(hi << 4 | digit(lo)?);
            i += 2;
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if let Some(&[a, c, d]) = b.get(i + 1..i + 4) {
            let octal = |x: u8| (b'0'..=b'7').contains(&x);
            if !((b'0'..=b'3').contains(&a) && octal(c) && octal(d)) {
                return Err(Error::invalid_text("bytea", text));
            }
            out.push((a - b'0') << 6 | (c - b'0') << 3 | (d - b'0'));
            i += 4;
        } else {
            return Err(Error::invalid_text("bytea", text));
        }
    }
    Ok(out)
}

fn write_uuid(out: &mut String, u: &[u8; 16]) {
    use std::fmt::Write;
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// uuid's input, as PostgreSQL takes it: 32 hex digits, upper or lower
/// case, optionally in braces, with a hyphen allowed after any group of
/// four digits.
/// `oid` input: an unsigned 32-bit number; a negative one down to
/// -2147483648 wraps, as PostgreSQL's `oidin` reads it.
pub fn parse_oid(text: &str) -> Result<i64> {
    let invalid = || {
        Error::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type oid: \"{text}\""),
        )
    };
    let n: i64 = text.trim().parse().map_err(|_| invalid())?;
    let n = if (i32::MIN as i64..0).contains(&n) {
        n + (1 << 32)
    } else {
        n
    };
    if !(0..=u32::MAX as i64).contains(&n) {
        return Err(Error::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{text}\" is out of range for type oid"),
        ));
    }
    Ok(n)
}

pub fn parse_uuid(text: &str) -> Result<[u8; 16]> {
    let bad = || Error::invalid_text("uuid", text);
    let inner = match text.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}').ok_or_else(bad)?,
        None => text,
    };
    let b = inner.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    for (n, byte) in out.iter_mut().enumerate() {
        // A hyphen may follow each group of four digits (two bytes).
        if n > 0 && n % 2 == 0 && b.get(i) == Some(&b'-') {
            i += 1;
        }
        let pair = b.get(i..i + 2).ok_or_else(bad)?;
        let hex = std::str::from_utf8(pair).map_err(|_| bad())?;
        if !pair.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
        i += 2;
    }
    if i != b.len() {
        return Err(bad());
    }
    Ok(out)
}

fn canonical_float_bits(v: f64) -> u64 {
    if v.is_nan() {
        u64::MAX
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn cannot_cast(v: &Value, to: &str) -> Error {
    Error::new(
        sqlstate::CANNOT_COERCE,
        format!("cannot cast type {} to {to}", v.data_type()),
    )
}

fn out_of_range_input(text: &str, ty: &str) -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("value \"{text}\" is out of range for type {ty}"),
    )
}

/// A float's input out of its type's range: unlike the integers',
/// PostgreSQL's message does not start with "value".
fn float_out_of_range_input(text: &str, ty: &str) -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("\"{text}\" is out of range for type {ty}"),
    )
}

fn float_to_i64(v: f64, type_name: &str) -> Result<i64> {
    // PostgreSQL rounds half to even (rint) when converting floats to integers.
    let r = v.round_ties_even();
    if r.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
        return Err(Error::out_of_range(type_name));
    }
    Ok(r as i64)
}

/// UTC, with the clock read only when `ty` is one whose input can say
/// `now` (so casts between other types never touch the clock).
fn utc_context_for(ty: DataType) -> TimeContext {
    if ty.is_datetime() {
        TimeContext::utc_at(datetime::wall_clock())
    } else {
        TimeContext::default()
    }
}

/// A `char(n)` value without its trailing blanks (the part that counts).
/// `name` input: `text` cut to [`NAME_BYTES_MAX`] bytes at a character
/// boundary, as PostgreSQL's namein does.
pub fn name_in(text: &str) -> &str {
    if text.len() <= NAME_BYTES_MAX {
        return text;
    }
    let mut end = NAME_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `"char"` input, as PostgreSQL's charin: `\ooo` (exactly a backslash
/// and three octal digits) is that byte, anything else its first byte
/// (the zero byte when empty). Returns the value's text output.
pub fn internal_char_in(text: &str) -> String {
    let b = text.as_bytes();
    let octal = |c: u8| (b'0'..=b'7').contains(&c);
    let byte = if b.len() == 4 && b[0] == b'\\' && b[1..].iter().all(|c| octal(*c)) {
        // Three octal digits may exceed 255; charin keeps the low byte.
        ((b[1] - b'0') as u32 * 64 + (b[2] - b'0') as u32 * 8 + (b[3] - b'0') as u32) as u8
    } else {
        b.first().copied().unwrap_or(0)
    };
    internal_char_out(byte)
}

/// `"char"` output, as PostgreSQL's charout: nothing for the zero byte,
/// the character for ASCII, `\ooo` for a byte above 127.
pub fn internal_char_out(byte: u8) -> String {
    match byte {
        0 => String::new(),
        1..=127 => (byte as char).to_string(),
        _ => format!("\\{:03o}", byte),
    }
}

/// The byte a `"char"` value (its text output) holds.
pub fn internal_char_byte(text: &str) -> u8 {
    let b = text.as_bytes();
    match b {
        [] => 0,
        [b'\\', d1, d2, d3] => (*d1 - b'0')
            .wrapping_mul(64)
            .wrapping_add((*d2 - b'0') * 8)
            .wrapping_add(*d3 - b'0'),
        _ => b[0],
    }
}

/// `int2vector` / `oidvector` input: numbers separated by blanks. As in
/// PostgreSQL 15 there is no count limit: the text it is read from (a
/// statement or parameter, under the protocol's message limit) bounds it.
fn vector_in(text: &str, elem: Elem) -> Result<Value> {
    let items = text
        .split_ascii_whitespace()
        .map(|word| Value::parse(elem.data_type(), word))
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Array(Box::new(Array { elem, items })))
}

/// `int2vector` / `oidvector` output: the elements separated by a blank.
pub fn vector_out(array: &Array) -> String {
    let mut out = String::new();
    for (i, v) in array.items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        v.write_text(&mut out);
    }
    out
}

pub fn trim_blanks(s: &str) -> &str {
    s.trim_end_matches(' ')
}

/// Fits a string to `char(n)`: cut to `n` characters (silently for an
/// explicit cast, else only blanks may go: 22001) and padded with blanks to
/// `n`. Plain `bpchar` keeps the string as it is.
fn fit_bpchar(s: String, n: Option<u32>, explicit: bool) -> Result<String> {
    let Some(n) = n else { return Ok(s) };
    let n = n as usize;
    match s.char_indices().nth(n) {
        Some((cut, _)) => {
            if !explicit && !s[cut..].chars().all(|c| c == ' ') {
                return Err(Error::new(
                    sqlstate::STRING_DATA_RIGHT_TRUNCATION,
                    format!("value too long for type character({n})"),
                ));
            }
            let mut s = s;
            s.truncate(cut);
            Ok(s)
        }
        None => {
            let len = s.chars().count();
            let mut s = s;
            s.extend(std::iter::repeat_n(' ', n - len));
            Ok(s)
        }
    }
}

fn fit_varchar(s: String, n: u32, explicit: bool) -> Result<String> {
    let n = n as usize;
    match s.char_indices().nth(n) {
        None => Ok(s),
        Some((cut, _)) => {
            if explicit || s[cut..].chars().all(|c| c == ' ') {
                let mut s = s;
                s.truncate(cut);
                Ok(s)
            } else {
                Err(Error::new(
                    sqlstate::STRING_DATA_RIGHT_TRUNCATION,
                    format!("value too long for type character varying({n})"),
                ))
            }
        }
    }
}

fn parse_bool(text: &str) -> Result<bool> {
    let t = text.trim().to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| t.len() >= min && word.starts_with(t.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || t == "on" || t == "1" {
        Ok(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || t == "0" {
        Ok(false)
    } else {
        Err(Error::invalid_text("boolean", text))
    }
}

fn parse_int(text: &str, ty: &str) -> Result<i64> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_text(ty, text));
    }
    t.parse::<i64>().map_err(|_| out_of_range_input(text, ty))
}

fn parse_float(text: &str, ty: &str) -> Result<f64> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let word = matches!(unsigned, "inf" | "infinity" | "nan");
    if !word
        && !unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
    {
        return Err(Error::invalid_text(ty, text));
    }
    let v: f64 = t.parse().map_err(|_| Error::invalid_text(ty, text))?;
    // Overflow to infinity, or underflow to zero of a mantissa that is
    // not zero (`1e-400`), as PostgreSQL's strtod check (ERANGE) finds.
    let mantissa = unsigned.split('e').next().unwrap_or("");
    let underflow = v == 0.0 && mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'));
    if (v.is_infinite() && !word) || underflow {
        return Err(float_out_of_range_input(text, ty));
    }
    Ok(v)
}

/// PostgreSQL's float output with `extra_float_digits = 1` (the default):
/// the shortest text that reads back exactly, in exponent form when the
/// decimal exponent is below -4 or at least 15 (6 for `real`).
/// PostgreSQL's `float4out`/`float8out`: with `extra_float_digits` above
/// zero the shortest text that reads back exactly, else `%g` with
/// `FLT_DIG`/`DBL_DIG` (6/15) plus `extra_float_digits` significant digits.
fn format_float(v: f64, as_f32: Option<f32>, extra_float_digits: i8, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let type_digits: i32 = if as_f32.is_some() { 6 } else { 15 };
    let (sci, threshold) = if extra_float_digits > 0 {
        let sci = match as_f32 {
            Some(f) => format!("{f:e}"),
            None => format!("{v:e}"),
        };
        (sci, type_digits)
    } else {
        // %g: this many significant digits, trailing zeros dropped, and
        // exponent form when the exponent is below -4 or not below them.
        let precision = (type_digits + extra_float_digits as i32).max(1);
        (format!("{v:.*e}", precision as usize - 1), precision)
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        d => d,
    };
    if negative {
        out.push('-');
    }
    if exp < -4 || exp >= threshold {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

// Rows are vectors of values: a wider numeric must not widen every value.
const _: () = assert!(std::mem::size_of::<Value>() == 32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_char_is_one_byte_shown_as_postgres_shows_it() {
        let shown = |text: &str| internal_char_in(text);
        assert_eq!(shown("r"), "r");
        assert_eq!(shown("rel"), "r");
        assert_eq!(shown(""), "");
        // The first byte of a multi-byte character, and \ooo for it.
        assert_eq!(shown("é"), "\\303");
        assert_eq!(shown("\\303"), "\\303");
        assert_eq!(shown("\\101"), "A");
        assert_eq!(shown("\\"), "\\");
        assert_eq!(shown("\\12"), "\\");
        assert_eq!(internal_char_byte("\\303"), 0xc3);
        assert_eq!(internal_char_byte(""), 0);
        for byte in 0..=255u8 {
            assert_eq!(internal_char_byte(&internal_char_out(byte)), byte);
        }
        let cast = |n: i32| Value::Int4(n).cast(DataType::InternalChar, true);
        assert_eq!(cast(114).unwrap().to_text().unwrap(), "r");
        assert_eq!(cast(-61).unwrap().to_text().unwrap(), "\\303");
        assert_eq!(
            cast(128).unwrap_err().code,
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
    }

    #[test]
    fn name_is_cut_to_63_bytes_on_a_character_boundary() {
        let long = "é".repeat(40);
        let v = Value::parse(DataType::Name, &long).unwrap();
        assert_eq!(v.to_text().unwrap(), "é".repeat(31));
        let v = Value::Text("x".repeat(70))
            .cast(DataType::Name, true)
            .unwrap();
        assert_eq!(v.to_text().unwrap().len(), NAME_BYTES_MAX);
    }

    #[test]
    fn vectors_read_blank_separated_numbers() {
        let v = Value::parse(DataType::Int2Vector, "1  2\t3").unwrap();
        let Value::Array(a) = &v else { panic!("{v:?}") };
        assert_eq!(vector_out(a), "1 2 3");
        assert_eq!(a.elem, Elem::Int2);
        let bad = Value::parse(DataType::Int2Vector, "1 x").unwrap_err();
        assert_eq!(bad.code, sqlstate::INVALID_TEXT_REPRESENTATION);
        let big = Value::parse(DataType::Int2Vector, "1 70000").unwrap_err();
        assert_eq!(big.code, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
        let oids = Value::parse(DataType::OidVector, "4294967295 0").unwrap();
        let Value::Array(a) = &oids else {
            panic!("{oids:?}")
        };
        assert_eq!(vector_out(a), "4294967295 0");
    }

    fn text(v: Value) -> String {
        v.to_text().unwrap()
    }

    #[test]
    fn float_input_out_of_range_says_what_postgres_says() {
        let message = |ty: DataType, text: &str| {
            let e = Value::parse(ty, text).expect_err("out of range");
            assert_eq!(e.code, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
            e.message
        };
        let float8 = "is out of range for type double precision";
        assert_eq!(
            message(DataType::Float8, "1e400"),
            format!("\"1e400\" {float8}")
        );
        // Underflow to zero is out of range too; a zero mantissa is not.
        assert_eq!(
            message(DataType::Float8, "-1e-400"),
            format!("\"-1e-400\" {float8}")
        );
        assert_eq!(
            Value::parse(DataType::Float8, "0e-400").ok(),
            Some(Value::Float8(0.0))
        );
        let real = "is out of range for type real";
        assert_eq!(
            message(DataType::Float4, "1e40"),
            format!("\"1e40\" {real}")
        );
        assert_eq!(
            message(DataType::Float4, "1e-50"),
            format!("\"1e-50\" {real}")
        );
        // The integers' message starts with "value".
        assert_eq!(
            message(DataType::Int4, "99999999999"),
            "value \"99999999999\" is out of range for type integer"
        );
    }

    #[test]
    fn floats_print_like_postgres() {
        assert_eq!(text(Value::Float8(1.5)), "1.5");
        assert_eq!(text(Value::Float8(100.0)), "100");
        assert_eq!(text(Value::Float8(1e15)), "1e+15");
        assert_eq!(text(Value::Float8(123456789012345.0)), "123456789012345");
        assert_eq!(text(Value::Float8(0.0001)), "0.0001");
        assert_eq!(text(Value::Float8(0.00001)), "1e-05");
        assert_eq!(text(Value::Float8(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(text(Value::Float4(1e6)), "1e+06");
        assert_eq!(text(Value::Float4(123456.0)), "123456");
        assert_eq!(text(Value::Float4(0.1)), "0.1");
        assert_eq!(text(Value::Float8(-2.5e-7)), "-2.5e-07");
    }

    #[test]
    fn integer_input_errors() {
        assert_eq!(
            Value::parse(DataType::Int4, " 42 ").unwrap().as_i64(),
            Some(42)
        );
        assert_eq!(
            Value::parse(DataType::Int4, "abc").unwrap_err().code,
            sqlstate::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(
            Value::parse(DataType::Int4, "3000000000").unwrap_err().code,
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            Value::parse(DataType::Int2, "40000").unwrap_err().code,
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
    }

    #[test]
    fn bool_input() {
        for t in ["t", "true", "YES", "on", "1", " y "] {
            assert_eq!(
                Value::parse(DataType::Bool, t).unwrap().as_bool(),
                Some(true),
                "{t}"
            );
        }
        for t in ["f", "false", "no", "off", "0"] {
            assert_eq!(
                Value::parse(DataType::Bool, t).unwrap().as_bool(),
                Some(false),
                "{t}"
            );
        }
        assert!(Value::parse(DataType::Bool, "o").is_err());
        assert!(Value::parse(DataType::Bool, "maybe").is_err());
    }

    #[test]
    fn casts_round_and_check() {
        assert_eq!(
            Value::Float8(2.5)
                .cast(DataType::Int4, true)
                .unwrap()
                .as_i64(),
            Some(2)
        );
        assert_eq!(
            Value::Float8(3.5)
                .cast(DataType::Int4, true)
                .unwrap()
                .as_i64(),
            Some(4)
        );
        assert_eq!(
            Value::Numeric(Numeric::parse("2.5").unwrap())
                .cast(DataType::Int4, true)
                .unwrap()
                .as_i64(),
            Some(3)
        );
        assert!(Value::Int8(1 << 40).cast(DataType::Int4, true).is_err());
        let long = Value::Text("abcdef".into());
        assert_eq!(
            long.clone()
                .cast(DataType::Varchar(Some(3)), true)
                .unwrap()
                .to_text()
                .unwrap(),
            "abc"
        );
        assert_eq!(
            long.cast(DataType::Varchar(Some(3)), false)
                .unwrap_err()
                .code,
            sqlstate::STRING_DATA_RIGHT_TRUNCATION
        );
        assert_eq!(
            text(
                Value::Float4(0.1)
                    .cast(DataType::Numeric(None), true)
                    .unwrap()
            ),
            "0.1"
        );
    }
}
