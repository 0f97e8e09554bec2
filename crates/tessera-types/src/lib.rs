//! Tessera's vocabulary shared by every layer: SQL values and types with
//! PostgreSQL's text formats and arithmetic, the error type with its wire
//! codes, the schema of tables, and the byte encodings of keys and rows.
//!
//! Nothing here does I/O or knows about shards; it is pure data and the
//! rules for it, so it is cheap to depend on and easy to test.

pub mod array;
pub mod buckets;
pub mod datetime;
pub mod encoding;
pub mod error;
pub mod global;
pub mod interrupt;
pub mod json;
pub mod md5;
pub mod memory;
pub mod number_format;
pub mod numeric;
pub mod numeric_fn;
pub mod output;
pub mod role;
pub mod schema;
pub mod sequence;
pub mod sqlstate;
pub mod types;
pub mod value;
pub mod wire;

pub use error::{Error, ErrorKind, ErrorObject, Result};
pub use role::{RoleDef, RoleId};
pub use schema::{
    Catalog, ColumnDef, DefLayout, FkAction, ForeignKey, Identity, IndexDef, SchemaDef, SchemaId,
    TableDef, TableId, TypeDef, ViewDef,
};
pub use sequence::SequenceDef;
pub use types::{DataType, RecordShape, RegKind, ROW_FIELDS_MAX};
pub use value::Value;
