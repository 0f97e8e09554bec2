//! How values, definitions and SQLSTATEs travel between nodes (serde, for
//! the cluster's postcard messages).
//!
//! Types that already have a canonical byte encoding use it, so a message
//! and the log agree on what a value or a definition is: a [`Value`]
//! travels as its row encoding (`encoding::Writer::value`), a table,
//! index, view, sequence, schema, type or role as its catalog-log record
//! (the newest [`DefLayout`]). A decoder accepts only a whole encoding:
//! trailing bytes are an error, never ignored. A [`SequenceDef`] carries
//! its current value with it (the receiver's copy resumes there; handing
//! out values from a copy on another node is not done: see
//! `tessera_sql::sequence`). A [`SqlState`] travels as its five
//! characters and is interned on arrival (at most
//! [`INTERNED_SQLSTATES_MAX`] distinct codes per process).

use std::sync::{Mutex, OnceLock};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::encoding::{Reader, Writer};
use crate::schema::DefLayout;
use crate::sqlstate::SqlState;
use crate::{IndexDef, Result, RoleDef, SchemaDef, SequenceDef, TableDef, TypeDef, Value, ViewDef};

fn encoded(encode: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    encode(&mut w);
    w.buf
}

/// Decodes all of `bytes` with `decode`.
fn whole<T, E: serde::de::Error>(
    bytes: &[u8],
    what: &str,
    decode: impl FnOnce(&mut Reader) -> Result<T>,
) -> std::result::Result<T, E> {
    let mut r = Reader::new(bytes);
    let v = decode(&mut r).map_err(|e| E::custom(format!("{what}: {}", e.message)))?;
    if !r.is_empty() {
        return Err(E::custom(format!("{what}: trailing bytes")));
    }
    Ok(v)
}

/// Bytes as postcard borrows or copies them.
struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Bytes, D::Error> {
        Ok(Bytes(serde_bytes_vec(d)?))
    }
}

fn serde_bytes_vec<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    struct Visit;
    impl<'de> serde::de::Visitor<'de> for Visit {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(
            self,
            v: Vec<u8>,
        ) -> std::result::Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    d.deserialize_bytes(Visit)
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&encoded(|w| w.value(self)))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
        let Bytes(b) = Bytes::deserialize(d)?;
        whole(&b, "a value", |r| r.value())
    }
}

/// Implements serde for a catalog definition through its catalog-log
/// encoding.
macro_rules! through_record {
    ($ty:ty, $what:literal, |$r:ident| $decode:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_bytes(&encoded(|w| self.encode(w)))
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<$ty, D::Error> {
                let Bytes(b) = Bytes::deserialize(d)?;
                whole(&b, $what, |$r| $decode)
            }
        }
    };
}

through_record!(TableDef, "a table definition", |r| TableDef::decode(
    r,
    DefLayout::WithSchemas
));
through_record!(IndexDef, "an index definition", |r| IndexDef::decode(
    r,
    DefLayout::WithSchemas
));
through_record!(ViewDef, "a view definition", |r| ViewDef::decode(
    r,
    DefLayout::WithSchemas
));
through_record!(SchemaDef, "a schema definition", |r| SchemaDef::decode(r));
through_record!(TypeDef, "a type definition", |r| TypeDef::decode(r));
through_record!(RoleDef, "a role definition", |r| RoleDef::decode(r));

impl Serialize for SequenceDef {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (last, is_called) = self.state.current();
        let def = encoded(|w| self.encode(w));
        (serde_bytes_ref(&def), last, is_called).serialize(s)
    }
}

impl<'de> Deserialize<'de> for SequenceDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<SequenceDef, D::Error> {
        let (Bytes(b), last, is_called): (Bytes, i64, bool) = Deserialize::deserialize(d)?;
        let def = whole(&b, "a sequence definition", |r| {
            SequenceDef::decode(r, DefLayout::WithSchemas)
        })?;
        def.state.restore(0, last, is_called);
        Ok(def)
    }
}

/// Serializes a byte slice as bytes (not as a sequence of numbers).
struct BytesRef<'a>(&'a [u8]);

fn serde_bytes_ref(b: &[u8]) -> BytesRef<'_> {
    BytesRef(b)
}

impl Serialize for BytesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// `#[serde(with = "tessera_types::wire::bytes")]` for a `Vec<u8>` field:
/// postcard writes it as a length and the bytes (not one number per byte).
pub mod bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
        serde_bytes_vec(d)
    }
}

/// The most distinct SQLSTATEs (and notice severities) a process interns
/// from messages: codes Tessera sends are a few hundred; past the limit a message carrying a new
/// one fails to decode (rather than grow memory for a misbehaving peer).
pub const INTERNED_SQLSTATES_MAX: usize = 4096;

fn intern(code: &str) -> Option<&'static str> {
    static CODES: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let mut codes = CODES
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = codes.iter().find(|c| **c == code) {
        return Some(c);
    }
    if codes.len() >= INTERNED_SQLSTATES_MAX {
        return None;
    }
    let leaked: &'static str = Box::leak(code.to_string().into_boxed_str());
    codes.push(leaked);
    Some(leaked)
}

/// The longest code or severity [`intern_code`] accepts.
pub const INTERNED_LEN_MAX: usize = 32;

/// `code` as a `&'static str`, for a field whose values come from a small
/// fixed set (a notice's severity and SQLSTATE): `None` when it is longer
/// than [`INTERNED_LEN_MAX`] or the table is full.
pub fn intern_code(code: &str) -> Option<&'static str> {
    if code.len() > INTERNED_LEN_MAX {
        return None;
    }
    intern(code)
}

impl Serialize for SqlState {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for SqlState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<SqlState, D::Error> {
        let code = String::deserialize(d)?;
        if code.len() != 5
            || !code
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(D::Error::custom(format!("\"{code}\" is not a SQLSTATE")));
        }
        intern(&code)
            .map(SqlState)
            .ok_or_else(|| D::Error::custom("too many distinct SQLSTATEs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::Numeric;
    use crate::{sqlstate, ColumnDef, DataType, Error};

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(v: &T) -> T {
        let bytes = postcard::to_allocvec(v).expect("encodes");
        let back: T = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes);
        back
    }

    #[test]
    fn values_travel_as_their_row_encoding() {
        let values = vec![
            Value::Null,
            Value::Int8(-7),
            Value::Text("héllo".into()),
            Value::Numeric(Numeric::parse("123456789012345678901234567890.5").unwrap()),
            Value::Numeric(Numeric::NaN),
            Value::Float8(f64::NEG_INFINITY),
            Value::Bytea(vec![0, 1, 255]),
        ];
        let back = round_trip(&values);
        assert_eq!(format!("{back:?}"), format!("{values:?}"));
    }

    #[test]
    fn errors_keep_their_sqlstate_and_fields() {
        let e = Error::new(sqlstate::UNIQUE_VIOLATION, "duplicate key")
            .with_detail("Key (id)=(1) already exists.".to_string());
        let back = round_trip(&e);
        assert_eq!(back, e);
        assert_eq!(back.code.code(), "23505");
    }

    #[test]
    fn a_table_definition_travels_as_its_record() {
        let t = TableDef {
            id: 17,
            name: "t".into(),
            schema: crate::schema::PUBLIC,
            columns: vec![ColumnDef::new("id", DataType::Int8, false)],
            primary_key: vec![0],
            sharding_key: vec![0],
            checks: vec![("t_id_check".into(), "id > 0".into())],
            foreign_keys: Vec::new(),
        };
        assert_eq!(round_trip(&t), t);
    }

    #[test]
    fn bad_bytes_are_errors() {
        let bytes = postcard::to_allocvec(&Value::Text("abc".into())).unwrap();
        for cut in 0..bytes.len() {
            assert!(postcard::from_bytes::<Value>(&bytes[..cut]).is_err());
        }
        // A value with a byte after it.
        let mut long = encoded(|w| w.value(&Value::Int4(1)));
        long.push(0);
        let msg = postcard::to_allocvec(&BytesRef(&long)).unwrap();
        assert!(postcard::from_bytes::<Value>(&msg).is_err());
        let not_a_code = postcard::to_allocvec("2350").unwrap();
        assert!(postcard::from_bytes::<SqlState>(&not_a_code).is_err());
    }
}
