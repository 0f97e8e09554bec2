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

/// How deeply a message's parts may nest (plans in plans, expressions in
/// expressions, values in arrays and records). Statements from clients
/// nest far less (the parser stops at 50 levels); the limit keeps a
/// malformed message from exhausting the decoding thread's stack.
pub const MESSAGE_NESTING_MAX: usize = 512;

fn too_deep<E: serde::de::Error>() -> E {
    E::custom(format!(
        "a message nested deeper than {MESSAGE_NESTING_MAX} levels"
    ))
}

/// A deserializer that refuses nesting past [`MESSAGE_NESTING_MAX`]:
/// wraps another (postcard's), counting every sequence, map, struct,
/// enum, option and newtype it enters.
pub struct Limited<D> {
    inner: D,
    depth: usize,
}

impl<D> Limited<D> {
    pub fn new(inner: D) -> Limited<D> {
        Limited { inner, depth: 0 }
    }

    fn enter<E: serde::de::Error>(&self) -> std::result::Result<usize, E> {
        if self.depth >= MESSAGE_NESTING_MAX {
            return Err(too_deep());
        }
        Ok(self.depth + 1)
    }
}

struct LimitedVisitor<V> {
    inner: V,
    depth: usize,
}

struct LimitedSeed<S> {
    inner: S,
    depth: usize,
}

impl<'de, S: serde::de::DeserializeSeed<'de>> serde::de::DeserializeSeed<'de> for LimitedSeed<S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<S::Value, D::Error> {
        self.inner.deserialize(Limited {
            inner: d,
            depth: self.depth,
        })
    }
}

macro_rules! forward_plain {
    ($($method:ident)*) => {
        $(
            fn $method<V: serde::de::Visitor<'de>>(self, visitor: V) -> std::result::Result<V::Value, D::Error> {
                self.inner.$method(LimitedVisitor { inner: visitor, depth: self.depth })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<D> {
    type Error = D::Error;

    forward_plain! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_option(LimitedVisitor {
            inner: visitor,
            depth,
        })
    }

    fn deserialize_unit_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.depth;
        self.inner.deserialize_unit_struct(
            name,
            LimitedVisitor {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_newtype_struct(
            name,
            LimitedVisitor {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_seq<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_seq(LimitedVisitor {
            inner: visitor,
            depth,
        })
    }

    fn deserialize_tuple<V: serde::de::Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_tuple(
            len,
            LimitedVisitor {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_tuple_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_tuple_struct(
            name,
            len,
            LimitedVisitor {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_map<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_map(LimitedVisitor {
            inner: visitor,
            depth,
        })
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_struct(
            name,
            fields,
            LimitedVisitor {
                inner: visitor,
                depth,
            },
        )
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, D::Error> {
        let depth = self.enter()?;
        self.inner.deserialize_enum(
            name,
            variants,
            LimitedVisitor {
                inner: visitor,
                depth,
            },
        )
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! visit_plain {
    ($($method:ident: $ty:ty)*) => {
        $(
            fn $method<E: serde::de::Error>(self, v: $ty) -> std::result::Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: serde::de::Visitor<'de>> serde::de::Visitor<'de> for LimitedVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.inner.expecting(f)
    }

    visit_plain! {
        visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
        visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
        visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char
        visit_str: &str visit_borrowed_str: &'de str visit_string: String
        visit_bytes: &[u8] visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
    }

    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<V::Value, D::Error> {
        self.inner.visit_some(Limited {
            inner: d,
            depth: self.depth,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Limited {
            inner: d,
            depth: self.depth,
        })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        seq: A,
    ) -> std::result::Result<V::Value, A::Error> {
        self.inner.visit_seq(LimitedVisitor {
            inner: seq,
            depth: self.depth,
        })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        map: A,
    ) -> std::result::Result<V::Value, A::Error> {
        self.inner.visit_map(LimitedVisitor {
            inner: map,
            depth: self.depth,
        })
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(
        self,
        data: A,
    ) -> std::result::Result<V::Value, A::Error> {
        self.inner.visit_enum(LimitedVisitor {
            inner: data,
            depth: self.depth,
        })
    }
}

impl<'de, A: serde::de::SeqAccess<'de>> serde::de::SeqAccess<'de> for LimitedVisitor<A> {
    type Error = A::Error;

    fn next_element_seed<T: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> std::result::Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(LimitedSeed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for LimitedVisitor<A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(LimitedSeed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn next_value_seed<T: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> std::result::Result<T::Value, A::Error> {
        self.inner.next_value_seed(LimitedSeed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: serde::de::EnumAccess<'de>> serde::de::EnumAccess<'de> for LimitedVisitor<A> {
    type Error = A::Error;
    type Variant = LimitedVisitor<A::Variant>;

    fn variant_seed<T: serde::de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> std::result::Result<(T::Value, Self::Variant), A::Error> {
        let depth = self.depth;
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((
            value,
            LimitedVisitor {
                inner: variant,
                depth,
            },
        ))
    }
}

impl<'de, A: serde::de::VariantAccess<'de>> serde::de::VariantAccess<'de> for LimitedVisitor<A> {
    type Error = A::Error;

    fn unit_variant(self) -> std::result::Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: serde::de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> std::result::Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(LimitedSeed {
            inner: seed,
            depth: self.depth,
        })
    }

    fn tuple_variant<V: serde::de::Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> std::result::Result<V::Value, A::Error> {
        self.inner.tuple_variant(
            len,
            LimitedVisitor {
                inner: visitor,
                depth: self.depth,
            },
        )
    }

    fn struct_variant<V: serde::de::Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, A::Error> {
        self.inner.struct_variant(
            fields,
            LimitedVisitor {
                inner: visitor,
                depth: self.depth,
            },
        )
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
            global: false,
            tier: 0,
            checks: vec![("t_id_check".into(), "id > 0".into())],
            foreign_keys: Vec::new(),
        };
        assert_eq!(round_trip(&t), t);
    }

    #[test]
    fn values_nest_only_so_deep() {
        // int4[] in int4[] … a hundred thousand times.
        let mut bytes = Vec::new();
        for _ in 0..100_000 {
            bytes.push(21);
            bytes.extend_from_slice(&1007u32.to_le_bytes());
            bytes.extend_from_slice(&1u32.to_le_bytes());
        }
        bytes.push(0);
        let e = Reader::new(&bytes).value().unwrap_err();
        assert!(e.message.contains("nested too deeply"), "{e:?}");
        let shallow = &bytes[bytes.len() - 1 - 9 * 3..];
        assert!(Reader::new(shallow).value().is_ok());
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
