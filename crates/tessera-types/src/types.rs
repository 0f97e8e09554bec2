//! SQL data types: their PostgreSQL OIDs, names, sizes and type modifiers,
//! and the implicit-cast rules the binder uses to type expressions.

/// A column or expression type. `Unknown` is the type of an untyped string
/// literal or parameter before the binder settles it (PostgreSQL's `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`; `None` is unconstrained `numeric`.
    Numeric(Option<(u8, u8)>),
    Text,
    /// `varchar(n)`; `None` is unconstrained `varchar`.
    Varchar(Option<u32>),
    Unknown,
}

/// The largest `numeric` precision Tessera stores exactly (digits in total).
pub const NUMERIC_PRECISION_MAX: u8 = 28;

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
            DataType::Unknown => 705,
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
            705 => DataType::Unknown,
            _ => return None,
        })
    }

    /// `pg_type.typlen`: the fixed size in bytes, or -1 for variable length.
    pub fn typlen(&self) -> i16 {
        match self {
            DataType::Bool => 1,
            DataType::Int2 => 2,
            DataType::Int4 | DataType::Float4 => 4,
            DataType::Int8 | DataType::Float8 => 8,
            DataType::Unknown => -2,
            _ => -1,
        }
    }

    /// The type modifier as PostgreSQL reports it in RowDescription.
    pub fn typmod(&self) -> i32 {
        match self {
            DataType::Varchar(Some(n)) => *n as i32 + 4,
            DataType::Numeric(Some((p, s))) => (((*p as i32) << 16) | *s as i32) + 4,
            _ => -1,
        }
    }

    /// The name PostgreSQL's `format_type` gives the type.
    pub fn name(&self) -> String {
        match self {
            DataType::Numeric(Some((p, s))) => format!("numeric({p},{s})"),
            DataType::Varchar(Some(n)) => format!("character varying({n})"),
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
            DataType::Unknown => "unknown",
        }
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
            DataType::Text | DataType::Varchar(_) | DataType::Unknown
        )
    }

    /// The type without its modifier: what an expression over the column has.
    pub fn unconstrained(&self) -> DataType {
        match self {
            DataType::Numeric(_) => DataType::Numeric(None),
            DataType::Varchar(_) => DataType::Varchar(None),
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
        if self.is_numeric_family() && from.is_numeric_family() {
            return true;
        }
        if self.is_string() && from.is_string() {
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
