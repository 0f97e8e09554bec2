//! SQL data types: their PostgreSQL OIDs, names, sizes and type modifiers,
//! and the implicit-cast rules the binder uses to type expressions.

use crate::array::Elem;
use crate::datetime::interval::IntervalTypmod;

/// A column or expression type. `Unknown` is the type of an untyped string
/// literal or parameter before the binder settles it (PostgreSQL's `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DataType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`; `None` is unconstrained `numeric`.
    Numeric(Option<(u16, u16)>),
    Text,
    /// `varchar(n)`; `None` is unconstrained `varchar`.
    Varchar(Option<u32>),
    /// `char(n)`, blank-padded to `n` characters; `None` is `bpchar`,
    /// which keeps any length and pads nothing.
    Char(Option<u32>),
    Date,
    /// `time(p)` without time zone; `p` is the fractional-second precision.
    Time(Option<u8>),
    /// `time(p) with time zone`.
    TimeTz(Option<u8>),
    /// `timestamp(p)` without time zone.
    Timestamp(Option<u8>),
    /// `timestamp(p) with time zone`.
    TimestampTz(Option<u8>),
    /// `interval`, with the fields and precision of a modifier.
    Interval(Option<IntervalTypmod>),
    Bytea,
    Uuid,
    /// `json`: the text as given, checked to be JSON.
    Json,
    /// `jsonb`: a decomposed JSON value (see [`crate::json`]).
    Jsonb,
    /// A one-dimensional array (see [`crate::array`]).
    Array(Elem),
    /// `void`: what a function called for its effect returns
    /// (`pg_notify`, `pg_sleep`). Its one value is `Value::Text("")`,
    /// which both formats send as nothing (text: the empty string).
    Void,
    /// `oid`: an object identifier, an unsigned 32-bit number held as
    /// `Value::Int8`.
    Oid,
    /// `regclass`, `regtype`…: an oid shown as the name of the object it
    /// identifies. Values are `Value::Int8` oids; the binder turns them
    /// into names where they become text (it holds the catalog), since a
    /// value alone cannot name what it identifies.
    Reg(RegKind),
    /// An anonymous record (PostgreSQL's `record`), of the shape the
    /// function that made it gives; its values are `Value::Record`.
    /// Records are results of expressions only: no column stores one.
    Record(RecordShape),
    /// `name`: an identifier of at most [`NAME_BYTES_MAX`] bytes (longer
    /// input is cut at a character boundary, as PostgreSQL does), held as
    /// `Value::Text`; it compares and converts as text.
    Name,
    /// `"char"`: one byte (PostgreSQL's `char` without a length; the
    /// catalogs' kind columns). Held as `Value::Text` in its text output:
    /// the character, `\ooo` (octal) for a byte above 127, the empty
    /// string for the zero byte (see [`crate::value::internal_char_in`]).
    InternalChar,
    /// `int2vector`: a list of smallints (pg_index.indkey), held as a
    /// `Value::Array` of `int2`. Its text is the numbers separated by
    /// spaces, and its subscripts start at 0, as in PostgreSQL.
    Int2Vector,
    /// `oidvector`: the same for oids (pg_proc.proargtypes).
    OidVector,
    /// A type made by `CREATE TYPE … AS ENUM`, by its oid (see
    /// [`crate::schema::TypeDef`]). Its values are `Value::Enum`, which
    /// carry their label and their sort position, so they compare, hash,
    /// key and print without the catalog; reading a label (input) needs
    /// the type's definition, which the binder holds.
    Enum(u32),
    Unknown,
}

/// The most fields a row constructor may have (PostgreSQL's
/// `MaxTupleAttributeNumber`); more is 54011 when bound, and a stored
/// record claiming more is corrupt.
pub const ROW_FIELDS_MAX: usize = 1664;

/// The longest `name` in bytes (PostgreSQL's `NAMEDATALEN - 1`).
pub const NAME_BYTES_MAX: usize = 63;

/// The fields of a record type: one per function that returns records,
/// and the anonymous rows of row constructors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RecordShape {
    /// `information_schema._pg_expandarray(array)`: `x`, an element, and
    /// `n`, its 1-based position.
    ExpandArray(Elem),
    /// A row constructor's value, `(a, b)` or `ROW(a, b)`: as many fields
    /// as the value holds, each of its value's type. The type does not
    /// know them (a `DataType` is `Copy`), so their names and types are
    /// not known to the binder: such a record is a value to compare, send
    /// or show, not one to take fields from.
    Row,
}

impl RecordShape {
    /// The fields' names and types, in order; none known for `Row`.
    pub fn fields(self) -> Vec<(&'static str, DataType)> {
        match self {
            RecordShape::ExpandArray(e) => vec![("x", e.data_type()), ("n", DataType::Int4)],
            RecordShape::Row => vec![],
        }
    }
}

/// The object-identifier alias types (PostgreSQL's `reg*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RegKind {
    /// `regclass`: a relation.
    Class,
    /// `regtype`: a type.
    Type,
    /// `regproc`: a function.
    Proc,
    /// `regnamespace`: a schema.
    Namespace,
    /// `regrole`: a role.
    Role,
}

impl RegKind {
    pub fn oid(self) -> u32 {
        match self {
            RegKind::Class => 2205,
            RegKind::Type => 2206,
            RegKind::Proc => 24,
            RegKind::Namespace => 4089,
            RegKind::Role => 4096,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RegKind::Class => "regclass",
            RegKind::Type => "regtype",
            RegKind::Proc => "regproc",
            RegKind::Namespace => "regnamespace",
            RegKind::Role => "regrole",
        }
    }

    pub const ALL: [RegKind; 5] = [
        RegKind::Class,
        RegKind::Type,
        RegKind::Proc,
        RegKind::Namespace,
        RegKind::Role,
    ];
}

/// PostgreSQL's oid of the `record` pseudo-type.
pub const RECORD_OID: u32 = 2249;

/// The largest `numeric(p, s)` precision (PostgreSQL's `NUMERIC_MAX_PRECISION`).
pub const NUMERIC_PRECISION_MAX: u16 = 1000;

impl DataType {
    pub fn oid(&self) -> u32 {
        match self {
            DataType::Bool => 16,
            DataType::Int2 => 21,
            DataType::Int4 => 23,
            DataType::Int8 => 20,
            DataType::Float4 => 700,
            DataType::Float8 => 701,
            DataType::Numeric(_) => 1700,
            DataType::Text => 25,
            DataType::Varchar(_) => 1043,
            DataType::Char(_) => 1042,
            DataType::Date => 1082,
            DataType::Time(_) => 1083,
            DataType::TimeTz(_) => 1266,
            DataType::Timestamp(_) => 1114,
            DataType::TimestampTz(_) => 1184,
            DataType::Interval(_) => 1186,
            DataType::Bytea => 17,
            DataType::Uuid => 2950,
            DataType::Json => 114,
            DataType::Jsonb => 3802,
            DataType::Array(e) => e.array_oid(),
            DataType::Oid => 26,
            DataType::Reg(k) => k.oid(),
            DataType::Record(_) => RECORD_OID,
            DataType::Unknown => 705,
            DataType::Void => 2278,
            DataType::Name => 19,
            DataType::InternalChar => 18,
            DataType::Int2Vector => 22,
            DataType::OidVector => 30,
            DataType::Enum(oid) => *oid,
        }
    }

    pub fn from_oid(oid: u32) -> Option<DataType> {
        Some(match oid {
            16 => DataType::Bool,
            21 => DataType::Int2,
            23 => DataType::Int4,
            20 => DataType::Int8,
            700 => DataType::Float4,
            701 => DataType::Float8,
            1700 => DataType::Numeric(None),
            25 => DataType::Text,
            1043 => DataType::Varchar(None),
            1042 => DataType::Char(None),
            1082 => DataType::Date,
            1083 => DataType::Time(None),
            1266 => DataType::TimeTz(None),
            1114 => DataType::Timestamp(None),
            1184 => DataType::TimestampTz(None),
            1186 => DataType::Interval(None),
            17 => DataType::Bytea,
            2950 => DataType::Uuid,
            114 => DataType::Json,
            3802 => DataType::Jsonb,
            705 => DataType::Unknown,
            2278 => DataType::Void,
            26 => DataType::Oid,
            19 => DataType::Name,
            18 => DataType::InternalChar,
            22 => DataType::Int2Vector,
            30 => DataType::OidVector,
            _ if RegKind::ALL.iter().any(|k| k.oid() == oid) => {
                DataType::Reg(*RegKind::ALL.iter().find(|k| k.oid() == oid)?)
            }
            _ => return Elem::from_array_oid(oid).map(DataType::Array),
        })
    }

    /// `pg_type.typlen`: the fixed size in bytes, or -1 for variable length.
    pub fn typlen(&self) -> i16 {
        match self {
            DataType::Bool | DataType::InternalChar => 1,
            DataType::Enum(_) => 4,
            DataType::Int2 => 2,
            DataType::Name => 64,
            DataType::Int4
            | DataType::Float4
            | DataType::Date
            | DataType::Oid
            | DataType::Void
            | DataType::Reg(_) => 4,
            DataType::Int8
            | DataType::Float8
            | DataType::Time(_)
            | DataType::Timestamp(_)
            | DataType::TimestampTz(_) => 8,
            DataType::TimeTz(_) => 12,
            DataType::Interval(_) | DataType::Uuid => 16,
            DataType::Unknown => -2,
            _ => -1,
        }
    }

    /// The type modifier as PostgreSQL reports it in RowDescription.
    pub fn typmod(&self) -> i32 {
        match self {
            DataType::Varchar(Some(n)) | DataType::Char(Some(n)) => *n as i32 + 4,
            DataType::Numeric(Some((p, s))) => (((*p as i32) << 16) | *s as i32) + 4,
            DataType::Time(Some(p))
            | DataType::TimeTz(Some(p))
            | DataType::Timestamp(Some(p))
            | DataType::TimestampTz(Some(p)) => *p as i32,
            DataType::Interval(Some(t)) => t.typmod(),
            _ => -1,
        }
    }

    /// The name PostgreSQL's `format_type` gives the type.
    pub fn name(&self) -> String {
        match self {
            DataType::Numeric(Some((p, s))) => format!("numeric({p},{s})"),
            DataType::Varchar(Some(n)) => format!("character varying({n})"),
            DataType::Char(Some(n)) => format!("character({n})"),
            DataType::Char(None) => "bpchar".into(),
            DataType::Time(Some(p)) => format!("time({p}) without time zone"),
            DataType::TimeTz(Some(p)) => format!("time({p}) with time zone"),
            DataType::Timestamp(Some(p)) => format!("timestamp({p}) without time zone"),
            DataType::TimestampTz(Some(p)) => format!("timestamp({p}) with time zone"),
            DataType::Interval(Some(t)) => format!("interval{}", t.suffix()),
            other => other.base_name().to_string(),
        }
    }

    /// The name without modifiers, as used in error messages about input.
    pub fn base_name(&self) -> &'static str {
        match self {
            DataType::Bool => "boolean",
            DataType::Int2 => "smallint",
            DataType::Int4 => "integer",
            DataType::Int8 => "bigint",
            DataType::Float4 => "real",
            DataType::Float8 => "double precision",
            DataType::Numeric(_) => "numeric",
            DataType::Text => "text",
            DataType::Varchar(_) => "character varying",
            DataType::Char(_) => "character",
            DataType::Date => "date",
            DataType::Time(_) => "time without time zone",
            DataType::TimeTz(_) => "time with time zone",
            DataType::Timestamp(_) => "timestamp without time zone",
            DataType::TimestampTz(_) => "timestamp with time zone",
            DataType::Interval(_) => "interval",
            DataType::Bytea => "bytea",
            DataType::Uuid => "uuid",
            DataType::Json => "json",
            DataType::Jsonb => "jsonb",
            DataType::Array(e) => e.array_name(),
            DataType::Oid => "oid",
            DataType::Reg(k) => k.name(),
            DataType::Record(_) => "record",
            DataType::Unknown => "unknown",
            DataType::Void => "void",
            DataType::Name => "name",
            DataType::InternalChar => "\"char\"",
            DataType::Int2Vector => "int2vector",
            DataType::OidVector => "oidvector",
            // Only the catalog knows its name; the binder names it where
            // it reports one.
            DataType::Enum(_) => "enum",
        }
    }

    /// `oid` or one of its `reg*` aliases.
    pub fn is_oid_like(&self) -> bool {
        matches!(self, DataType::Oid | DataType::Reg(_))
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, DataType::Int2 | DataType::Int4 | DataType::Int8)
    }
    pub fn is_float(&self) -> bool {
        matches!(self, DataType::Float4 | DataType::Float8)
    }
    pub fn is_numeric_family(&self) -> bool {
        self.is_integer() || self.is_float() || matches!(self, DataType::Numeric(_))
    }
    pub fn is_string(&self) -> bool {
        matches!(
            self,
            DataType::Text
                | DataType::Varchar(_)
                | DataType::Char(_)
                | DataType::Name
                | DataType::InternalChar
                | DataType::Unknown
        )
    }

    /// For `int2vector` and `oidvector`, the array type they convert to
    /// (PostgreSQL's binary-coercible casts to `int2[]`/`oid[]`), which
    /// array functions and operators take them as.
    pub fn vector_array(&self) -> Option<DataType> {
        match self {
            DataType::Int2Vector => Some(DataType::Array(Elem::Int2)),
            DataType::OidVector => Some(DataType::Array(Elem::Oid)),
            _ => None,
        }
    }

    /// `date`, `time`, `timetz`, `timestamp`, `timestamptz` (PostgreSQL's
    /// date/time category; `interval` is a category of its own).
    pub fn is_datetime(&self) -> bool {
        matches!(
            self,
            DataType::Date
                | DataType::Time(_)
                | DataType::TimeTz(_)
                | DataType::Timestamp(_)
                | DataType::TimestampTz(_)
        )
    }

    /// Whether a value of `from` converts to `self` implicitly (in
    /// expressions) between date/time types, as PostgreSQL's casts marked
    /// implicit: date → timestamp → timestamptz, time → interval, time → timetz.
    fn datetime_implicit(&self, from: DataType) -> bool {
        use DataType::*;
        matches!(
            (from.unconstrained(), self.unconstrained()),
            (Date, Timestamp(None))
                | (Date, TimestampTz(None))
                | (Timestamp(None), TimestampTz(None))
                | (Time(None), Interval(None))
                | (Time(None), TimeTz(None))
        )
    }

    /// Whether `from` converts to `self` by an explicit cast between
    /// date/time types (besides the implicit ones and text).
    pub fn datetime_castable(&self, from: DataType) -> bool {
        self.datetime_implicit(from)
            || self.datetime_assignable(from)
            || from.unconstrained() == self.unconstrained()
    }

    /// The assignment casts between date/time types (storing into a column).
    fn datetime_assignable(&self, from: DataType) -> bool {
        use DataType::*;
        self.datetime_implicit(from)
            || matches!(
                (from.unconstrained(), self.unconstrained()),
                (Timestamp(None), Date)
                    | (TimestampTz(None), Date)
                    | (Timestamp(None), Time(None))
                    | (TimestampTz(None), Time(None))
                    | (TimestampTz(None), Timestamp(None))
                    | (TimestampTz(None), TimeTz(None))
                    | (Interval(None), Time(None))
                    | (TimeTz(None), Time(None))
            )
    }

    /// The type without its modifier: what an expression over the column has.
    pub fn unconstrained(&self) -> DataType {
        match self {
            DataType::Numeric(_) => DataType::Numeric(None),
            DataType::Varchar(_) => DataType::Varchar(None),
            DataType::Char(_) => DataType::Char(None),
            DataType::Time(_) => DataType::Time(None),
            DataType::TimeTz(_) => DataType::TimeTz(None),
            DataType::Timestamp(_) => DataType::Timestamp(None),
            DataType::TimestampTz(_) => DataType::TimestampTz(None),
            DataType::Interval(_) => DataType::Interval(None),
            other => *other,
        }
    }

    /// Rank in PostgreSQL's numeric category for implicit promotion.
    fn numeric_rank(&self) -> Option<u8> {
        Some(match self {
            DataType::Int2 => 1,
            DataType::Int4 => 2,
            DataType::Int8 => 3,
            DataType::Numeric(_) => 4,
            DataType::Float4 => 5,
            DataType::Float8 => 6,
            _ => return None,
        })
    }

    /// The common type two operands of an arithmetic or comparison operator
    /// are promoted to, as PostgreSQL's operator resolution picks it, or
    /// `None` when there is no implicit conversion between them.
    pub fn common_type(a: DataType, b: DataType) -> Option<DataType> {
        use DataType::*;
        match (a, b) {
            (Unknown, Unknown) => Some(Text),
            // varchar has no operators of its own: it compares and concatenates as text.
            (Unknown, Varchar(_)) | (Varchar(_), Unknown) | (Varchar(_), Varchar(_)) => Some(Text),
            // bpchar has its own operators (trailing blanks do not count), which
            // PostgreSQL picks against bpchar, varchar or an untyped literal;
            // against text it is text's.
            (Char(_), Char(_) | Varchar(_) | Unknown) | (Varchar(_) | Unknown, Char(_)) => {
                Some(Char(None))
            }
            (Unknown, other) | (other, Unknown) => Some(other.unconstrained()),
            _ if a.unconstrained() == b.unconstrained() => Some(a.unconstrained()),
            _ => {
                if let (Some(ra), Some(rb)) = (a.numeric_rank(), b.numeric_rank()) {
                    let wider = if ra >= rb { a } else { b };
                    // real and numeric meet at double precision, as in PostgreSQL.
                    if (a == Float4 && matches!(b, Numeric(_)))
                        || (b == Float4 && matches!(a, Numeric(_)))
                    {
                        return Some(Float8);
                    }
                    return Some(wider.unconstrained());
                }
                if a.is_string() && b.is_string() {
                    return Some(Text);
                }
                // Integers and the reg* aliases meet oid as PostgreSQL's
                // implicit casts to oid take them.
                if a.is_oid_like() && (b.is_oid_like() || b.is_integer()) {
                    return Some(Oid);
                }
                if b.is_oid_like() && a.is_integer() {
                    return Some(Oid);
                }
                if b.datetime_implicit(a) {
                    return Some(b.unconstrained());
                }
                if a.datetime_implicit(b) {
                    return Some(a.unconstrained());
                }
                None
            }
        }
    }

    /// Whether a value of `from` may be stored into a column of `self` by an
    /// assignment cast (INSERT/UPDATE), as PostgreSQL allows.
    pub fn assignable_from(&self, from: DataType) -> bool {
        if from == DataType::Unknown {
            return true;
        }
        // "char" is assigned only from the string types (PostgreSQL's
        // int4 → "char" is explicit).
        if *self == DataType::InternalChar {
            return from.is_string();
        }
        if self.is_numeric_family() && from.is_numeric_family() {
            return true;
        }
        // Any value converts to a string type on assignment (PostgreSQL's
        // I/O conversion casts to string types are assignment casts).
        if self.is_string() {
            return true;
        }
        if self.datetime_assignable(from) {
            return true;
        }
        if self.is_oid_like() && (from.is_oid_like() || from.is_integer()) {
            return true;
        }
        self.unconstrained() == from.unconstrained()
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}
