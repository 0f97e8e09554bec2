//! One-dimensional arrays of the scalar types: the element types an array
//! may have, PostgreSQL's array literal input (`{1,2,"a b",NULL}`) and
//! output, and the value itself.
//!
//! Arrays here have one dimension and a lower bound of 1, which is what
//! `ARRAY[…]`, `array_agg` and literals without a dimension decoration
//! give in PostgreSQL. Multidimensional input is refused with 0A000.

use crate::error::{Error, Result};
use crate::sqlstate;
use crate::types::DataType;
use crate::value::Value;

/// The type of an array's elements: a scalar type without modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Elem {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Varchar,
    Char,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Bytea,
    Uuid,
    Json,
    Jsonb,
    Oid,
    Name,
    /// `"char"` (PostgreSQL's `_char`).
    InternalChar,
    /// An enum type, by its oid (its array type's oid is the next one;
    /// see `schema::TypeDef`).
    Enum(u32),
}

/// (element, element type, array OID, element OID, array type name).
const TABLE: [(Elem, DataType, u32, &str); 23] = [
    (Elem::Bool, DataType::Bool, 1000, "boolean[]"),
    (Elem::Int2, DataType::Int2, 1005, "smallint[]"),
    (Elem::Int4, DataType::Int4, 1007, "integer[]"),
    (Elem::Int8, DataType::Int8, 1016, "bigint[]"),
    (Elem::Float4, DataType::Float4, 1021, "real[]"),
    (Elem::Float8, DataType::Float8, 1022, "double precision[]"),
    (Elem::Numeric, DataType::Numeric(None), 1231, "numeric[]"),
    (Elem::Text, DataType::Text, 1009, "text[]"),
    (
        Elem::Varchar,
        DataType::Varchar(None),
        1015,
        "character varying[]",
    ),
    (Elem::Char, DataType::Char(None), 1014, "character[]"),
    (Elem::Date, DataType::Date, 1182, "date[]"),
    (
        Elem::Time,
        DataType::Time(None),
        1183,
        "time without time zone[]",
    ),
    (
        Elem::TimeTz,
        DataType::TimeTz(None),
        1270,
        "time with time zone[]",
    ),
    (
        Elem::Timestamp,
        DataType::Timestamp(None),
        1115,
        "timestamp without time zone[]",
    ),
    (
        Elem::TimestampTz,
        DataType::TimestampTz(None),
        1185,
        "timestamp with time zone[]",
    ),
    (Elem::Interval, DataType::Interval(None), 1187, "interval[]"),
    (Elem::Bytea, DataType::Bytea, 1001, "bytea[]"),
    (Elem::Uuid, DataType::Uuid, 2951, "uuid[]"),
    (Elem::Json, DataType::Json, 199, "json[]"),
    (Elem::Jsonb, DataType::Jsonb, 3807, "jsonb[]"),
    (Elem::Oid, DataType::Oid, 1028, "oid[]"),
    (Elem::Name, DataType::Name, 1003, "name[]"),
    (
        Elem::InternalChar,
        DataType::InternalChar,
        1002,
        "\"char\"[]",
    ),
];

impl Elem {
    /// The element type of arrays of `t` (modifiers dropped), if `t` can
    /// be an array element.
    pub fn of(t: DataType) -> Option<Elem> {
        if let DataType::Enum(oid) = t {
            return Some(Elem::Enum(oid));
        }
        let t = t.unconstrained();
        TABLE.iter().find(|(_, d, _, _)| *d == t).map(|(e, ..)| *e)
    }

    fn row(self) -> &'static (Elem, DataType, u32, &'static str) {
        // Every Elem has its row.
        TABLE.iter().find(|(e, ..)| *e == self).unwrap_or(&TABLE[7])
    }

    pub fn data_type(self) -> DataType {
        match self {
            Elem::Enum(oid) => DataType::Enum(oid),
            e => e.row().1,
        }
    }

    /// The OID of the array type.
    pub fn array_oid(self) -> u32 {
        match self {
            Elem::Enum(oid) => oid + 1,
            e => e.row().2,
        }
    }

    /// The array type's name (`integer[]`; an enum's the binder names).
    pub fn array_name(self) -> &'static str {
        match self {
            Elem::Enum(_) => "enum[]",
            e => e.row().3,
        }
    }

    /// The element type of the built-in array type with OID `oid` (an
    /// enum's array type is known to the catalog only).
    pub fn from_array_oid(oid: u32) -> Option<Elem> {
        TABLE
            .iter()
            .find(|(_, _, o, _)| *o == oid)
            .map(|(e, ..)| *e)
    }
}

/// An array value: its element type and elements (NULLs included).
#[derive(Debug, Clone)]
pub struct Array {
    pub elem: Elem,
    pub items: Vec<Value>,
}

fn malformed(text: &str, detail: &str) -> Error {
    Error::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{text}\""),
    )
    .with_detail(detail.to_string())
}

/// Splits an array literal into its element texts (`None` for an unquoted
/// NULL), as PostgreSQL's array input reads them: blanks around elements
/// ignored, double quotes and backslashes escape.
pub fn split_literal(text: &str) -> Result<Vec<Option<String>>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return Err(Error::unsupported("array literals with dimension bounds"));
    }
    let Some(body) = trimmed.strip_prefix('{') else {
        return Err(malformed(
            text,
            "Array value must start with \"{\" or dimension information.",
        ));
    };
    let mut chars = body.chars().peekable();
    let mut items = Vec::new();
    let skip_blank = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
    };
    skip_blank(&mut chars);
    if chars.peek() == Some(&'}') {
        chars.next();
        if chars.any(|c| !c.is_ascii_whitespace()) {
            return Err(malformed(text, "Junk after closing right brace."));
        }
        return Ok(items);
    }
    loop {
        skip_blank(&mut chars);
        let mut item = String::new();
        let mut quoted = false;
        let mut in_quotes = false;
        // Past the last character that counts: blanks after an unquoted
        // element's text do not.
        let mut significant = 0;
        loop {
            let Some(c) = chars.next() else {
                return Err(malformed(text, "Unexpected end of input."));
            };
            match c {
                '"' => {
                    in_quotes = !in_quotes;
                    quoted = true;
                }
                '\\' => {
                    let Some(escaped) = chars.next() else {
                        return Err(malformed(text, "Unexpected end of input."));
                    };
                    item.push(escaped);
                    significant = item.len();
                }
                c if in_quotes => {
                    item.push(c);
                    significant = item.len();
                }
                ',' | '}' => {
                    item.truncate(significant);
                    if item.is_empty() && !quoted {
                        return Err(malformed(text, &format!("Unexpected \"{c}\" character.")));
                    }
                    let is_null = !quoted && item.eq_ignore_ascii_case("null");
                    items.push((!is_null).then_some(item));
                    if c == '}' {
                        if chars.any(|c| !c.is_ascii_whitespace()) {
                            return Err(malformed(text, "Junk after closing right brace."));
                        }
                        return Ok(items);
                    }
                    break;
                }
                '{' => return Err(Error::unsupported("multidimensional arrays")),
                c => {
                    item.push(c);
                    if !c.is_ascii_whitespace() {
                        significant = item.len();
                    }
                }
            }
        }
    }
}

/// Whether an element's text must be quoted in array output.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_ascii_whitespace())
}

impl Array {
    /// PostgreSQL's text output: `{1,2,NULL,"a b"}`.
    pub fn write_text(&self, out: &mut String, write: &impl Fn(&Value, &mut String)) {
        out.push('{');
        let mut scratch = String::new();
        for (i, v) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if v.is_null() {
                out.push_str("NULL");
                continue;
            }
            scratch.clear();
            write(v, &mut scratch);
            if needs_quotes(&scratch) {
                out.push('"');
                for c in scratch.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            } else {
                out.push_str(&scratch);
            }
        }
        out.push('}');
    }
}
