//! The `pg_catalog` relations and the catalog functions clients call
//! (`format_type`, `pg_get_indexdef`, `pg_table_is_visible`, the `reg*`
//! casts…), answered from the catalog snapshot a statement binds against.
//!
//! A statement naming a `pg_catalog` relation gets its rows generated when
//! it is bound, as literal rows (a `VALUES` source on the router), from a
//! [`SystemCatalog`]: the snapshot and the session's names. A prepared
//! statement is bound again when the catalog changes, so it never reads
//! stale rows. Object ids are stable: a relation's oid is `16384 + id`
//! (as RowDescription reports it), a schema's its id (pg_catalog 11,
//! public 2200), built-in types keep PostgreSQL's oids, and the objects
//! Tessera has no ids for are numbered from their table's id in ranges of
//! their own (see [`pkey_oid`], [`constraint_oid`], [`attrdef_oid`]).
//!
//! What it does not do: relations Tessera has no objects for (triggers,
//! policies, publications, inheritance, extended statistics) are there
//! with PostgreSQL's columns and no rows; `name`, `"char"`, `int2vector`
//! and `oidvector` columns have those types (the vectors' array types
//! are not listed), `pg_node_tree` columns hold SQL text, and `aclitem[]` columns
//! are NULL (no privileges yet). Generating every row on each bind is
//! linear in the catalog's size; psql's queries over a few thousand
//! relations stay well under a millisecond per relation read.

use std::collections::HashMap;
use std::sync::Arc;

use sqlparser::ast;
use tessera_types::array::{Array, Elem};
use tessera_types::schema::{FkAction, SchemaId, PG_CATALOG};
use tessera_types::{sqlstate, Catalog, DataType, Error, RegKind, Result, TableDef, Value};

use crate::names::{quote_ident, Names};

mod information_schema;

/// A relation of `pg_catalog` or `information_schema` a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemName {
    pub schema: SchemaId,
    pub name: String,
}

impl SystemName {
    /// Whether it is an `information_schema` view (else a pg_catalog relation).
    pub fn is_information_schema(&self) -> bool {
        self.schema == tessera_types::schema::INFORMATION_SCHEMA
    }
}

/// The oid of the one role, `postgres` (PostgreSQL's bootstrap superuser).
pub const SUPERUSER_OID: u32 = 10;
/// The oid of the pg_catalog table `name`, what its `tableoid` column
/// reads (None for a view or a relation PostgreSQL does not have).
pub fn catalog_table_oid(name: &str) -> Option<u32> {
    system_table_oid(name)
}
/// The oid the session's database reports (PostgreSQL's `postgres`).
pub const DATABASE_OID: u32 = 5;
const PG_CLASS_OID: u32 = 1259;
const ATTRDEF_CLASS_OID: u32 = 2604;
const NAMESPACE_CLASS_OID: u32 = 2615;
const HEAP_AM_OID: u32 = 2;
const BTREE_AM_OID: u32 = 403;
const DEFAULT_COLLATION_OID: u32 = 100;
const DEFAULT_TABLESPACE_OID: u32 = 1663;
/// PostgreSQL's number for the UTF8 encoding.
const UTF8_ENCODING: i32 = 6;

/// The oid of a relation (table, view, sequence or index) with id `id`.
pub fn relation_oid(id: u32) -> u32 {
    16384 + id
}

/// The oid of the index that backs table `id`'s primary key: Tessera keys
/// the table itself by it, so it has no id of its own.
pub fn pkey_oid(table: u32) -> u32 {
    0x4000_0000u32.wrapping_add(table)
}

/// The oid of constraint number `k` of table `id` (primary key, unique
/// constraints, checks, foreign keys, in that order).
pub fn constraint_oid(table: u32, k: usize) -> u32 {
    0x5000_0000u32.wrapping_add(table.wrapping_mul(256).wrapping_add(k as u32))
}

/// The oid of the default of column `attnum` of table `id`.
pub fn attrdef_oid(table: u32, attnum: usize) -> u32 {
    0x6000_0000u32.wrapping_add(table.wrapping_mul(1600).wrapping_add(attnum as u32))
}

/// A catalog function, evaluated against a [`SystemCatalog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CatalogFn {
    FormatType,
    GetExpr,
    GetIndexdef,
    GetConstraintdef,
    GetUserById,
    TableIsVisible,
    TypeIsVisible,
    /// `pg_collation_is_visible(oid)`: every collation pg_collation lists
    /// is in pg_catalog.
    CollationIsVisible,
    /// `pg_function_is_visible`, `pg_get_function_result`,
    /// `pg_get_function_arguments` of the functions pg_proc lists.
    FunctionIsVisible,
    GetFunctionResult,
    GetFunctionArguments,
    EncodingToChar,
    ObjDescription,
    /// `shobj_description(oid, catalog)`: the comment on a shared object
    /// (a database, a role); Tessera keeps none.
    ShobjDescription,
    /// `acldefault(kind, owner)`: the privileges an object of that kind
    /// has when its acl is NULL, as PostgreSQL 15 builds them (an
    /// `aclitem[]`, here its text).
    AclDefault,
    ColDescription,
    GetViewdef,
    GetTriggerdef,
    StatisticsObjdefColumns,
    RelationIsPublishable,
    CurrentSchemas,
    CurrentDatabase,
    /// `pg_get_serial_sequence(table, column)`: the sequence a serial or
    /// identity column takes its values from, schema-qualified.
    GetSerialSequence,
    /// `version()`: PostgreSQL's form, which clients parse for the
    /// version number (SQLAlchemy's dialect does).
    Version,
    /// `pg_is_in_recovery()`: false, a node serves writes (no standby
    /// replays another's log).
    IsInRecovery,
    /// `pg_relation_size` and its kin: the approximate bytes of a
    /// relation's stored versions over the node's shards, as the shards
    /// last published them (a table's primary key is the table itself,
    /// so its index counts 0; a sequence one page, as PostgreSQL's).
    RelationSize(SizeOf),
    /// `pg_database_size(name)`: every table's and index's bytes.
    DatabaseSize,
    /// Text to a `reg*` oid (a name looked up, or digits).
    RegIn(RegKind),
    /// A `reg*` oid to the name it identifies.
    RegOut(RegKind),
    /// `to_regclass`, `to_regtype`, …: as [`CatalogFn::RegIn`], but NULL
    /// where the named object does not exist (a malformed name is still
    /// an error, as in PostgreSQL 15).
    ToReg(RegKind),
    /// Text to a value of the enum type of this oid (see
    /// `binder::types`): 22P02 for a label the type does not have.
    EnumIn(u32),
    /// Raises the error of constraint `k` of the domain of this oid
    /// (`k` = `binder::types::NOT_NULL`: its NOT NULL).
    DomainViolation(u32, u16),
    /// Text (an array literal) or `text[]` to an array of the enum type
    /// of this oid.
    EnumArrayIn(u32),
    /// `has_table_privilege` and its kin, with (`true`) or without a role
    /// as the first argument. Privileges are not modelled (every role
    /// that may log in may use every object), so the answer is true once
    /// the role, the object and the privilege names are valid; the errors
    /// are PostgreSQL's.
    HasPrivilege(Privileged, bool),
}

/// The items of `acldefault(kind, owner)` (PostgreSQL 15's
/// `acldefault`): what the owner, and for some kinds PUBLIC (the empty
/// grantee), may do with an object whose acl is NULL. An unknown kind is
/// 22023 (PostgreSQL raises it as an internal error, XX000).
fn acl_default(kind: &str, owner: &str) -> Result<Vec<String>> {
    let (public, own) = match kind {
        "c" => ("", ""),
        "r" => ("", "arwdDxt"),
        "s" => ("", "rwU"),
        "d" => ("Tc", "CTc"),
        "f" => ("X", "X"),
        "l" => ("U", "U"),
        "L" => ("", "rw"),
        "n" => ("", "UC"),
        "t" => ("", "C"),
        "F" => ("", "U"),
        "S" => ("", "U"),
        "T" => ("U", "U"),
        "p" => ("", "sA"),
        other => {
            return Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("unrecognized objtype abbreviation: {other}"),
            ))
        }
    };
    let mut items = Vec::new();
    if !public.is_empty() {
        items.push(format!("={public}/{owner}"));
    }
    if !own.is_empty() {
        items.push(format!("{owner}={own}/{owner}"));
    }
    Ok(items)
}

/// PostgreSQL 15's built-in role `pg_database_owner` (6171), which owns
/// `public`: a row of pg_roles (`view`) or pg_authid, so that clients
/// that name owners by these relations (pg_dump) find it. It cannot log
/// in and has no members Tessera shows.
fn database_owner_role(view: bool) -> Vec<Value> {
    let f = Value::Bool(false);
    let t = Value::Bool(true);
    let name = text("pg_database_owner");
    let flags = [f.clone(), t, f.clone(), f.clone(), f.clone(), f.clone()];
    if view {
        let mut row = vec![name];
        row.extend(flags);
        row.extend([int4(-1), text("********"), Value::Null, f, Value::Null]);
        row.push(oid(6171));
        row
    } else {
        let mut row = vec![oid(6171), name];
        row.extend(flags);
        row.extend([f, int4(-1), Value::Null, Value::Null]);
        row
    }
}

/// What a `has_*_privilege` function asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Privileged {
    Table,
    Sequence,
    Column,
    Schema,
    Database,
}

impl Privileged {
    /// The privilege names PostgreSQL accepts for it.
    fn privileges(self) -> &'static [&'static str] {
        match self {
            Privileged::Table => &[
                "select",
                "insert",
                "update",
                "delete",
                "truncate",
                "references",
                "trigger",
            ],
            Privileged::Sequence => &["usage", "select", "update"],
            Privileged::Column => &["select", "insert", "update", "references"],
            Privileged::Schema => &["create", "usage"],
            Privileged::Database => &["create", "connect", "temporary", "temp"],
        }
    }

    /// Its arguments after the role: the object (two for a column), then
    /// the privilege.
    fn arity(self) -> usize {
        match self {
            Privileged::Column => 3,
            _ => 2,
        }
    }
}

/// What a size function counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SizeOf {
    /// `pg_relation_size(rel [, fork])`: the relation's main fork.
    Relation,
    /// `pg_table_size`: the table without its indexes.
    Table,
    /// `pg_indexes_size`: the table's indexes.
    Indexes,
    /// `pg_total_relation_size`: the table with its indexes.
    Total,
}

impl CatalogFn {
    /// The function a call of `name` with `arity` arguments is, and the
    /// type it returns.
    pub fn named(name: &str, arity: usize) -> Option<(CatalogFn, DataType, &'static [DataType])> {
        use DataType::{Bool, Int4, Int8, Oid, Text};
        const O: &[DataType] = &[Oid];
        const C: &[DataType] = &[DataType::Reg(RegKind::Class)];
        const CT: &[DataType] = &[DataType::Reg(RegKind::Class), Text];
        const OB: &[DataType] = &[Oid, Bool];
        const OI: &[DataType] = &[Oid, Int4];
        const TO: &[DataType] = &[Text, Oid];
        const TOB: &[DataType] = &[Text, Oid, Bool];
        const OIB: &[DataType] = &[Oid, Int4, Bool];
        const OT: &[DataType] = &[Oid, Text];
        const I: &[DataType] = &[Int4];
        const B: &[DataType] = &[Bool];
        let to_reg = |kind| (CatalogFn::ToReg(kind), DataType::Reg(kind), &[Text][..]);
        Some(match (name, arity) {
            ("format_type", 2) => (CatalogFn::FormatType, Text, OI),
            ("pg_get_expr", 2) => (CatalogFn::GetExpr, Text, TO),
            ("pg_get_expr", 3) => (CatalogFn::GetExpr, Text, TOB),
            ("pg_get_indexdef", 1) => (CatalogFn::GetIndexdef, Text, O),
            ("pg_get_indexdef", 3) => (CatalogFn::GetIndexdef, Text, OIB),
            ("pg_get_constraintdef", 1) => (CatalogFn::GetConstraintdef, Text, O),
            ("pg_get_constraintdef", 2) => (CatalogFn::GetConstraintdef, Text, OB),
            ("pg_get_userbyid", 1) => (CatalogFn::GetUserById, Text, O),
            ("pg_table_is_visible", 1) => (CatalogFn::TableIsVisible, Bool, O),
            ("pg_type_is_visible", 1) => (CatalogFn::TypeIsVisible, Bool, O),
            ("pg_collation_is_visible", 1) => (CatalogFn::CollationIsVisible, Bool, O),
            ("pg_function_is_visible", 1) => (CatalogFn::FunctionIsVisible, Bool, O),
            ("pg_get_function_result", 1) => (CatalogFn::GetFunctionResult, Text, O),
            ("pg_get_function_arguments", 1) => (CatalogFn::GetFunctionArguments, Text, O),
            ("pg_encoding_to_char", 1) => (CatalogFn::EncodingToChar, Text, I),
            ("obj_description", 1) => (CatalogFn::ObjDescription, Text, O),
            ("obj_description", 2) => (CatalogFn::ObjDescription, Text, OT),
            ("shobj_description", 2) => (CatalogFn::ShobjDescription, Text, OT),
            ("acldefault", 2) => (
                CatalogFn::AclDefault,
                DataType::Array(Elem::Text),
                &[DataType::InternalChar, Oid],
            ),
            ("col_description", 2) => (CatalogFn::ColDescription, Text, OI),
            ("pg_get_viewdef", 1) => (CatalogFn::GetViewdef, Text, O),
            ("pg_get_viewdef", 2) => (CatalogFn::GetViewdef, Text, OB),
            ("pg_get_triggerdef", 1) => (CatalogFn::GetTriggerdef, Text, O),
            ("pg_get_triggerdef", 2) => (CatalogFn::GetTriggerdef, Text, OB),
            ("pg_get_statisticsobjdef_columns", 1) => (CatalogFn::StatisticsObjdefColumns, Text, O),
            ("pg_relation_is_publishable", 1) => (CatalogFn::RelationIsPublishable, Bool, O),
            ("current_database", 0) => (CatalogFn::CurrentDatabase, Text, &[]),
            ("version", 0) => (CatalogFn::Version, Text, &[]),
            ("pg_is_in_recovery", 0) => (CatalogFn::IsInRecovery, Bool, &[]),
            ("pg_relation_size", 1) => (CatalogFn::RelationSize(SizeOf::Relation), Int8, C),
            ("pg_relation_size", 2) => (CatalogFn::RelationSize(SizeOf::Relation), Int8, CT),
            ("pg_table_size", 1) => (CatalogFn::RelationSize(SizeOf::Table), Int8, C),
            ("pg_indexes_size", 1) => (CatalogFn::RelationSize(SizeOf::Indexes), Int8, C),
            ("pg_total_relation_size", 1) => (CatalogFn::RelationSize(SizeOf::Total), Int8, C),
            ("pg_database_size", 1) => (CatalogFn::DatabaseSize, Int8, &[Text]),
            ("pg_get_serial_sequence", 2) => (CatalogFn::GetSerialSequence, Text, &[Text, Text]),
            ("current_schemas", 1) => (CatalogFn::CurrentSchemas, DataType::Array(Elem::Text), B),
            ("to_regclass", 1) => to_reg(RegKind::Class),
            ("to_regtype", 1) => to_reg(RegKind::Type),
            ("to_regproc", 1) => to_reg(RegKind::Proc),
            ("to_regnamespace", 1) => to_reg(RegKind::Namespace),
            ("to_regrole", 1) => to_reg(RegKind::Role),
            (name, n) => {
                let kind = match name {
                    "has_table_privilege" => Privileged::Table,
                    "has_sequence_privilege" => Privileged::Sequence,
                    "has_column_privilege" => Privileged::Column,
                    "has_schema_privilege" => Privileged::Schema,
                    "has_database_privilege" => Privileged::Database,
                    _ => return None,
                };
                // A relation comes as a regclass (a name or an oid, as
                // PostgreSQL's text and oid forms take it); the rest as text.
                const CLASS: DataType = DataType::Reg(RegKind::Class);
                let with_role = match n.checked_sub(kind.arity()) {
                    Some(0) => false,
                    Some(1) => true,
                    _ => return None,
                };
                let relation = matches!(
                    kind,
                    Privileged::Table | Privileged::Sequence | Privileged::Column
                );
                let types: &'static [DataType] = match (with_role, relation, kind) {
                    (false, true, Privileged::Column) => &[CLASS, Text, Text],
                    (true, true, Privileged::Column) => &[Text, CLASS, Text, Text],
                    (false, true, _) => &[CLASS, Text],
                    (true, true, _) => &[Text, CLASS, Text],
                    (false, false, _) => &[Text, Text],
                    (true, false, _) => &[Text, Text, Text],
                };
                (CatalogFn::HasPrivilege(kind, with_role), Bool, types)
            }
        })
    }
}

/// One relation of a schema: its kind and what it is.
#[derive(Clone)]
enum Object {
    Table(Arc<TableDef>),
    View(Arc<tessera_types::ViewDef>),
    Sequence,
    Index(Arc<tessera_types::IndexDef>),
    /// The primary-key index of the table.
    Pkey(Arc<TableDef>),
}

/// A relation Tessera has, with the name and schema pg_class gives it.
#[derive(Clone)]
struct Class {
    oid: u32,
    name: String,
    schema: SchemaId,
    object: Object,
}

/// What the catalog functions and relations read: a catalog snapshot, the
/// session's names, and every relation by oid.
#[derive(Debug)]
pub struct SystemCatalog {
    catalog: Catalog,
    names: Names,
    path: Vec<SchemaId>,
    classes: ClassMap,
}

struct ClassMap(Vec<Class>, HashMap<u32, usize>);

impl std::fmt::Debug for ClassMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} relations", self.0.len())
    }
}

impl PartialEq for SystemCatalog {
    /// One snapshot is one catalog version seen through one path.
    fn eq(&self, other: &SystemCatalog) -> bool {
        self.catalog.version == other.catalog.version && self.names == other.names
    }
}

/// A generated relation: its columns and rows.
pub struct SystemRelation {
    pub columns: Vec<(String, DataType)>,
    pub rows: Vec<Vec<Value>>,
}

fn oid(v: u32) -> Value {
    Value::Int8(v as i64)
}
fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}
fn ch(c: char) -> Value {
    Value::Text(if c == '\0' {
        String::new()
    } else {
        c.to_string()
    })
}
fn int2(v: i64) -> Value {
    Value::Int2(v as i16)
}
fn int4(v: i64) -> Value {
    Value::Int4(v as i32)
}
fn array(elem: Elem, items: Vec<Value>) -> Value {
    Value::Array(Box::new(Array { elem, items }))
}
fn int2s(items: impl IntoIterator<Item = i64>) -> Value {
    array(Elem::Int2, items.into_iter().map(int2).collect())
}
fn oids(items: impl IntoIterator<Item = u32>) -> Value {
    array(Elem::Oid, items.into_iter().map(oid).collect())
}

/// Column types, shorthand for the tables below: o oid, n name,
/// c "char", b bool, 2/4/8 integers, f float4, t text, T text[],
/// C "char"[], I int2[], O oid[], V int2vector, W oidvector, p regproc,
/// z timestamptz.
fn columns(spec: &str) -> Vec<(String, DataType)> {
    spec.split_whitespace()
        .map(|c| {
            let (name, code) = c.split_once(':').expect("column spec is name:code");
            let t = match code {
                "o" => DataType::Oid,
                "n" => DataType::Name,
                "c" => DataType::InternalChar,
                "t" => DataType::Text,
                "b" => DataType::Bool,
                "2" => DataType::Int2,
                "4" => DataType::Int4,
                "8" => DataType::Int8,
                "f" => DataType::Float4,
                "T" => DataType::Array(Elem::Text),
                "C" => DataType::Array(Elem::InternalChar),
                "I" => DataType::Array(Elem::Int2),
                "O" => DataType::Array(Elem::Oid),
                "V" => DataType::Int2Vector,
                "W" => DataType::OidVector,
                "p" => DataType::Reg(RegKind::Proc),
                "y" => DataType::Reg(RegKind::Type),
                "z" => DataType::TimestampTz(None),
                other => panic!("unknown column type code {other}"),
            };
            (name.to_string(), t)
        })
        .collect()
}

/// The pg_catalog relations: name and columns (PostgreSQL 15's, less the
/// `xid` and `anyarray` columns Tessera has no types for).
const RELATIONS: &[(&str, &str)] = &[
    ("pg_namespace", "oid:o nspname:n nspowner:o nspacl:T"),
    (
        "pg_class",
        "oid:o relname:n relnamespace:o reltype:o reloftype:o relowner:o relam:o \
         relfilenode:o reltablespace:o relpages:4 reltuples:f relallvisible:4 reltoastrelid:o \
         relhasindex:b relisshared:b relpersistence:c relkind:c relnatts:2 relchecks:2 \
         relhasrules:b relhastriggers:b relhassubclass:b relrowsecurity:b \
         relforcerowsecurity:b relispopulated:b relreplident:c relispartition:b relrewrite:o \
         relfrozenxid:o relminmxid:o relacl:T reloptions:T relpartbound:t",
    ),
    (
        "pg_attribute",
        "attrelid:o attname:n atttypid:o attstattarget:4 attlen:2 attnum:2 attndims:4 \
         attcacheoff:4 atttypmod:4 attbyval:b attalign:c attstorage:c attcompression:c \
         attnotnull:b atthasdef:b atthasmissing:b attidentity:c attgenerated:c \
         attisdropped:b attislocal:b attinhcount:4 attcollation:o attacl:T attoptions:T \
         attfdwoptions:T attmissingval:T",
    ),
    (
        "pg_type",
        "oid:o typname:n typnamespace:o typowner:o typlen:2 typbyval:b typtype:c \
         typcategory:c typispreferred:b typisdefined:b typdelim:c typrelid:o typsubscript:p \
         typelem:o typarray:o typinput:p typoutput:p typreceive:p typsend:p typmodin:p \
         typmodout:p typanalyze:p typalign:c typstorage:c typnotnull:b typbasetype:o \
         typtypmod:4 typndims:4 typcollation:o typdefaultbin:t typdefault:t typacl:T",
    ),
    (
        "pg_index",
        "indexrelid:o indrelid:o indnatts:2 indnkeyatts:2 indisunique:b \
         indnullsnotdistinct:b indisprimary:b indisexclusion:b indimmediate:b \
         indisclustered:b indisvalid:b indcheckxmin:b indisready:b indislive:b \
         indisreplident:b indkey:V indcollation:W indclass:W indoption:V indexprs:t indpred:t",
    ),
    (
        "pg_constraint",
        "oid:o conname:n connamespace:o contype:c condeferrable:b condeferred:b \
         convalidated:b conrelid:o contypid:o conindid:o conparentid:o confrelid:o \
         confupdtype:c confdeltype:c confmatchtype:c conislocal:b coninhcount:4 \
         connoinherit:b conkey:I confkey:I conpfeqop:O conppeqop:O conffeqop:O \
         confdelsetcols:I conexclop:O conbin:t",
    ),
    ("pg_attrdef", "oid:o adrelid:o adnum:2 adbin:t"),
    (
        "pg_database",
        "oid:o datname:n datdba:o encoding:4 datlocprovider:c datistemplate:b \
         datallowconn:b datconnlimit:4 datfrozenxid:o datminmxid:o dattablespace:o datcollate:t datctype:t \
         daticulocale:t datcollversion:t datacl:T",
    ),
    (
        "pg_roles",
        "rolname:n rolsuper:b rolinherit:b rolcreaterole:b rolcreatedb:b rolcanlogin:b \
         rolreplication:b rolconnlimit:4 rolpassword:t rolvaliduntil:z rolbypassrls:b \
         rolconfig:T oid:o",
    ),
    (
        "pg_cursors",
        "name:t statement:t is_holdable:b is_binary:b is_scrollable:b creation_time:z",
    ),
    (
        "tessera_nodes",
        "node_id:8 name:t address:t pg_address:t shards:4 first_shard:4 buckets:4 state:t raft_role:t failure_domain:t master_of:4 tier:t",
    ),
    (
        "tessera_tiers",
        "name:t replication_factor:4 replication_mode:t bucket_count:4 first_bucket:4",
    ),
    (
        "tessera_replica_sets",
        "shard:4 tier:t master:8 epoch:8 members:t buckets:4 state:t",
    ),
    ("tessera_instances", "node_id:8 shard:4 local_shard:4 role:t tier:t"),
    ("tessera_buckets", "bucket:4 shard:4 tier:t"),
    (
        "pg_stat_activity",
        "datid:o datname:n pid:4 leader_pid:4 usesysid:o usename:n application_name:t \
         client_addr:t client_hostname:t client_port:4 backend_start:z xact_start:z \
         query_start:z state_change:z wait_event_type:t wait_event:t state:t query_id:8 \
         query:t backend_type:t",
    ),
    (
        "pg_authid",
        "oid:o rolname:n rolsuper:b rolinherit:b rolcreaterole:b rolcreatedb:b \
         rolcanlogin:b rolreplication:b rolbypassrls:b rolconnlimit:4 rolpassword:t \
         rolvaliduntil:z",
    ),
    (
        "pg_user",
        "usename:n usesysid:o usecreatedb:b usesuper:b userepl:b usebypassrls:b passwd:t \
         valuntil:z useconfig:T",
    ),
    (
        "pg_depend",
        "classid:o objid:o objsubid:4 refclassid:o refobjid:o refobjsubid:4 deptype:c",
    ),
    (
        "pg_tables",
        "schemaname:n tablename:n tableowner:n tablespace:n hasindexes:b hasrules:b \
         hastriggers:b rowsecurity:b",
    ),
    (
        "pg_indexes",
        "schemaname:n tablename:n indexname:n tablespace:n indexdef:t",
    ),
    (
        "pg_views",
        "schemaname:n viewname:n viewowner:n definition:t",
    ),
    (
        "pg_sequences",
        "schemaname:n sequencename:n sequenceowner:n data_type:y start_value:8 min_value:8 \
         max_value:8 increment_by:8 cycle:b cache_size:8 last_value:8",
    ),
    (
        "pg_auth_members",
        "roleid:o member:o grantor:o admin_option:b",
    ),
    ("pg_am", "oid:o amname:n amhandler:p amtype:c"),
    (
        "pg_description",
        "objoid:o classoid:o objsubid:4 description:t",
    ),
    (
        "pg_inherits",
        "inhrelid:o inhparent:o inhseqno:4 inhdetachpending:b",
    ),
    (
        "pg_opclass",
        "oid:o opcmethod:o opcname:n opcnamespace:o opcowner:o opcfamily:o opcintype:o \
         opcdefault:b opckeytype:o",
    ),
    ("pg_enum", "oid:o enumtypid:o enumsortorder:f enumlabel:n"),
    // Empty: Tessera has no range types. asyncpg's and tokio-postgres's
    // type lookups join it.
    (
        "pg_range",
        "rngtypid:o rngsubtype:o rngmultitypid:o rngcollation:o rngsubopc:o \
         rngcanonical:p rngsubdiff:p",
    ),
    (
        "pg_policy",
        "oid:o polname:n polrelid:o polcmd:c polpermissive:b polroles:O polqual:t \
         polwithcheck:t",
    ),
    (
        "pg_statistic_ext",
        "oid:o stxrelid:o stxname:n stxnamespace:o stxowner:o stxstattarget:4 stxkeys:V \
         stxkind:C stxexprs:t",
    ),
    (
        "pg_publication",
        "oid:o pubname:n pubowner:o puballtables:b pubinsert:b pubupdate:b pubdelete:b \
         pubtruncate:b pubviaroot:b",
    ),
    (
        "pg_publication_rel",
        "oid:o prpubid:o prrelid:o prqual:t prattrs:V",
    ),
    ("pg_publication_namespace", "oid:o pnpubid:o pnnspid:o"),
    (
        "pg_trigger",
        "oid:o tgrelid:o tgparentid:o tgname:n tgfoid:o tgtype:2 tgenabled:c \
         tgisinternal:b tgconstrrelid:o tgconstrindid:o tgconstraint:o tgdeferrable:b \
         tginitdeferred:b tgnargs:2 tgattr:V tgqual:t tgoldtable:n tgnewtable:n",
    ),
    (
        "pg_collation",
        "oid:o collname:n collnamespace:o collowner:o collprovider:c \
         collisdeterministic:b collencoding:4 collcollate:t collctype:t colliculocale:t \
         collversion:t",
    ),
    (
        "pg_sequence",
        "seqrelid:o seqtypid:o seqstart:8 seqincrement:8 seqmax:8 seqmin:8 seqcache:8 \
         seqcycle:b",
    ),
    (
        "pg_proc",
        "oid:o proname:n pronamespace:o proowner:o prolang:o procost:f prorows:f \
         provariadic:o prosupport:p prokind:c prosecdef:b proleakproof:b proisstrict:b \
         proretset:b provolatile:c proparallel:c pronargs:2 pronargdefaults:2 prorettype:o \
         proargtypes:W proallargtypes:O proargmodes:C proargnames:T proargdefaults:t \
         protrftypes:O prosrc:t probin:t prosqlbody:t proconfig:T proacl:T",
    ),
    (
        "pg_tablespace",
        "oid:o spcname:n spcowner:o spcacl:T spcoptions:T",
    ),
    (
        "pg_settings",
        "name:t setting:t unit:t category:t short_desc:t extra_desc:t context:t vartype:t \
         source:t min_val:t max_val:t enumvals:T boot_val:t reset_val:t sourcefile:t \
         sourceline:4 pending_restart:b",
    ),
    // Empty: Tessera has no extensions, procedural languages beyond the
    // built-in one, access method operators, casts it lets users define,
    // transforms, text search objects, foreign data, default privileges,
    // conversions, event triggers, partitioning, rules, large objects,
    // subscriptions or security labels (pg_dump reads them all).
    (
        "pg_extension",
        "oid:o extname:n extowner:o extnamespace:o extrelocatable:b extversion:t \
         extconfig:O extcondition:T",
    ),
    (
        "pg_language",
        "oid:o lanname:n lanowner:o lanispl:b lanpltrusted:b lanplcallfoid:o laninline:o \
         lanvalidator:o lanacl:T",
    ),
    (
        "pg_init_privs",
        "objoid:o classoid:o objsubid:4 privtype:c initprivs:T",
    ),
    (
        "pg_seclabels",
        "objoid:o classoid:o objsubid:4 objtype:t objnamespace:o objname:t provider:t label:t",
    ),
    ("pg_shseclabel", "objoid:o classoid:o provider:t label:t"),
    ("pg_db_role_setting", "setdatabase:o setrole:o setconfig:T"),
    ("pg_foreign_table", "ftrelid:o ftserver:o ftoptions:T"),
    (
        "pg_partitioned_table",
        "partrelid:o partstrat:c partnatts:2 partdefid:o partattrs:V partclass:W \
         partcollation:W partexprs:t",
    ),
    (
        "pg_rewrite",
        "oid:o rulename:n ev_class:o ev_type:c ev_enabled:c is_instead:b ev_qual:t \
         ev_action:t",
    ),
    ("pg_largeobject_metadata", "oid:o lomowner:o lomacl:T"),
    (
        "pg_amop",
        "oid:o amopfamily:o amoplefttype:o amoprighttype:o amopstrategy:2 amoppurpose:c \
         amopopr:o amopmethod:o amopsortfamily:o",
    ),
    (
        "pg_amproc",
        "oid:o amprocfamily:o amproclefttype:o amprocrighttype:o amprocnum:2 amproc:p",
    ),
    (
        "pg_cast",
        "oid:o castsource:o casttarget:o castfunc:o castcontext:c castmethod:c",
    ),
    (
        "pg_transform",
        "oid:o trftype:o trflang:o trffromsql:p trftosql:p",
    ),
    (
        "pg_event_trigger",
        "oid:o evtname:n evtevent:n evtowner:o evtfoid:o evtenabled:c evttags:T",
    ),
    (
        "pg_ts_parser",
        "oid:o prsname:n prsnamespace:o prsstart:p prstoken:p prsend:p prsheadline:p \
         prslextype:p",
    ),
    (
        "pg_ts_template",
        "oid:o tmplname:n tmplnamespace:o tmplinit:p tmpllexize:p",
    ),
    (
        "pg_ts_dict",
        "oid:o dictname:n dictnamespace:o dictowner:o dicttemplate:o dictinitoption:t",
    ),
    (
        "pg_ts_config",
        "oid:o cfgname:n cfgnamespace:o cfgowner:o cfgparser:o",
    ),
    (
        "pg_foreign_data_wrapper",
        "oid:o fdwname:n fdwowner:o fdwhandler:o fdwvalidator:o fdwacl:T fdwoptions:T",
    ),
    (
        "pg_foreign_server",
        "oid:o srvname:n srvowner:o srvfdw:o srvtype:t srvversion:t srvacl:T srvoptions:T",
    ),
    (
        "pg_default_acl",
        "oid:o defaclrole:o defaclnamespace:o defaclobjtype:c defaclacl:T",
    ),
    (
        "pg_conversion",
        "oid:o conname:n connamespace:o conowner:o conforencoding:4 contoencoding:4 \
         conproc:p condefault:b",
    ),
    (
        "pg_operator",
        "oid:o oprname:n oprnamespace:o oprowner:o oprkind:c oprcanmerge:b oprcanhash:b \
         oprleft:o oprright:o oprresult:o oprcom:o oprnegate:o oprcode:p oprrest:p oprjoin:p",
    ),
    (
        "pg_opfamily",
        "oid:o opfmethod:o opfname:n opfnamespace:o opfowner:o",
    ),
    // `subskiplsn` is a pg_lsn, here its text.
    (
        "pg_subscription",
        "oid:o subdbid:o subskiplsn:t subname:n subowner:o subenabled:b subbinary:b \
         substream:b subtwophasestate:c subdisableonerr:b subconninfo:t subslotname:n \
         subsynccommit:t subpublications:T",
    ),
    (
        "pg_prepared_statements",
        "name:t statement:t prepare_time:z parameter_types:T from_sql:b generic_plans:8 \
         custom_plans:8",
    ),
];

/// A session's named prepared statements as pg_prepared_statements
/// lists them (parameter types as their names, a text[] where PostgreSQL
/// has regtype[]: the same text).
pub fn prepared_statement_rows(
    prepared: &std::collections::BTreeMap<String, crate::engine::PreparedStatement>,
) -> Vec<Vec<Value>> {
    // Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
    const UNIX_TO_POSTGRES_MICROS: i64 = 946_684_800_000_000;
    prepared
        .iter()
        .map(|(name, p)| {
            let types = p.param_types.iter().map(|t| text(t.base_name()));
            vec![
                text(name.as_str()),
                text(p.sql.as_str()),
                Value::TimestampTz(p.prepare_time - UNIX_TO_POSTGRES_MICROS),
                array(Elem::Text, types.collect()),
                Value::Bool(p.from_sql),
                Value::Int8(p.generic_plans),
                Value::Int8(p.custom_plans),
            ]
        })
        .collect()
}

/// The settings a session may change, as pg_settings lists them: name,
/// default, vartype, unit.
fn session_settings() -> impl Iterator<
    Item = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    ),
> {
    crate::engine::REPORTED_SETTINGS
        .iter()
        .chain(crate::router::OTHER_SETTINGS)
        .filter(|(name, _)| !crate::router::READ_ONLY_SETTINGS.contains(name))
        .map(|(name, default)| {
            let (vartype, unit) = match *name {
                "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
                    ("integer", Some("ms"))
                }
                "extra_float_digits" => ("integer", None),
                "default_transaction_read_only"
                | "transaction_read_only"
                | "jit"
                | "check_function_bodies"
                | "synchronize_seqscans"
                | "quote_all_identifiers"
                | "row_security"
                | "standard_conforming_strings" => ("bool", None),
                "client_min_messages"
                | "default_transaction_isolation"
                | "transaction_isolation"
                | "synchronous_commit"
                | "bytea_output"
                | "xmloption"
                | "IntervalStyle"
                | "password_encryption" => ("enum", None),
                _ => ("string", None),
            };
            (*name, *default, vartype, unit)
        })
}

/// The rows of pg_settings: the server's preset settings, the same in every
/// session (name, value, vartype, description), then those a session may
/// change ([`session_settings`], whose values the binder reads from the
/// session when the statement runs).
pub(crate) fn preset_settings() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let reported = |name: &str| {
        crate::engine::REPORTED_SETTINGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let version = reported("server_version");
    let number: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|p| p.parse().ok())
        .collect();
    let version_num = match number.as_slice() {
        [major, minor] => major * 10000 + minor,
        _ => 0,
    };
    vec![
        (
            "integer_datetimes",
            reported("integer_datetimes"),
            "bool",
            "Shows whether datetimes are integer based.",
        ),
        (
            "max_identifier_length",
            "63".into(),
            "integer",
            "Shows the maximum identifier length.",
        ),
        (
            "max_index_keys",
            tessera_types::schema::INDEX_KEYS_MAX.to_string(),
            "integer",
            "Shows the maximum number of index keys.",
        ),
        (
            "server_encoding",
            reported("server_encoding"),
            "string",
            "Shows the server (database) character set encoding.",
        ),
        (
            "server_version",
            version,
            "string",
            "Shows the server version.",
        ),
        (
            "server_version_num",
            version_num.to_string(),
            "integer",
            "Shows the server version as an integer.",
        ),
    ]
}

/// PostgreSQL's oids of the pg_catalog tables [`RELATIONS`] serves (the
/// views among them have no fixed oid there, so none here): what
/// `'pg_class'::regclass` reads, as in `pg_description.classoid`.
const SYSTEM_TABLES: &[(&str, u32)] = &[
    ("pg_tablespace", 1213),
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", PG_CLASS_OID),
    ("pg_authid", 1260),
    ("pg_auth_members", 1261),
    ("pg_database", 1262),
    ("pg_sequence", 2224),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_namespace", 2615),
    ("pg_opclass", 2616),
    ("pg_trigger", 2620),
    ("pg_policy", 3256),
    ("pg_statistic_ext", 3381),
    ("pg_collation", 3456),
    ("pg_enum", 3501),
    ("pg_range", 3541),
    ("pg_publication", 6104),
    ("pg_publication_rel", 6106),
    ("pg_publication_namespace", 6237),
    ("pg_extension", 3079),
    ("pg_language", 2612),
    ("pg_init_privs", 3394),
    ("pg_shseclabel", 3592),
    ("pg_db_role_setting", 2964),
    ("pg_foreign_table", 3118),
    ("pg_partitioned_table", 3350),
    ("pg_rewrite", 2618),
    ("pg_largeobject_metadata", 2995),
    ("pg_amop", 2602),
    ("pg_amproc", 2603),
    ("pg_cast", 2605),
    ("pg_transform", 3576),
    ("pg_event_trigger", 3466),
    ("pg_ts_parser", 3601),
    ("pg_ts_template", 3764),
    ("pg_ts_dict", 3600),
    ("pg_ts_config", 3602),
    ("pg_foreign_data_wrapper", 2328),
    ("pg_foreign_server", 1417),
    ("pg_default_acl", 826),
    ("pg_conversion", 2607),
    ("pg_operator", 2617),
    ("pg_opfamily", 2753),
    ("pg_subscription", 6100),
];

fn system_table_oid(name: &str) -> Option<u32> {
    SYSTEM_TABLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, o)| *o)
}

/// The functions pg_proc lists: those this module and the binder answer
/// that clients look up, with PostgreSQL's oids, argument and result types.
/// The function pg_proc lists with oid `oid`.
fn proc_by_oid(oid: u32) -> Option<&'static (u32, &'static str, &'static [u32], u32)> {
    PROCS.iter().find(|(o, ..)| *o == oid)
}

const PROCS: &[(u32, &str, &[u32], u32)] = &[
    (89, "version", &[], 25),
    (3810, "pg_is_in_recovery", &[], 16),
    (2325, "pg_relation_size", &[2205], 20),
    (2332, "pg_relation_size", &[2205, 25], 20),
    (2997, "pg_table_size", &[2205], 20),
    (2998, "pg_indexes_size", &[2205], 20),
    (2286, "pg_total_relation_size", &[2205], 20),
    (2168, "pg_database_size", &[19], 20),
    (1081, "format_type", &[26, 23], 25),
    (1642, "pg_get_userbyid", &[26], 19),
    (1643, "pg_get_indexdef", &[26], 25),
    (1387, "pg_get_constraintdef", &[26], 25),
    (1716, "pg_get_expr", &[194, 26], 25),
    (2079, "pg_table_is_visible", &[26], 16),
    (2080, "pg_type_is_visible", &[26], 16),
    (2081, "pg_function_is_visible", &[26], 16),
    (2162, "pg_get_function_arguments", &[26], 25),
    (2165, "pg_get_function_result", &[26], 25),
    (1597, "pg_encoding_to_char", &[23], 19),
    (1403, "current_schemas", &[16], 1003),
    (1215, "obj_description", &[26, 19], 25),
    (1216, "col_description", &[26, 23], 25),
    (1641, "pg_get_viewdef", &[26], 25),
    // The I/O functions of every array type (pg_type.typinput…): clients
    // tell array types by `typinput = 'array_in'::regproc`.
    (750, "array_in", &[CSTRING_OID, 26, 23], ANYARRAY_OID),
    (751, "array_out", &[ANYARRAY_OID], CSTRING_OID),
    (2400, "array_recv", &[INTERNAL_OID, 26, 23], ANYARRAY_OID),
    (2401, "array_send", &[ANYARRAY_OID], 17),
];

/// PostgreSQL's pseudo-types that array I/O functions take and return.
const CSTRING_OID: u32 = 2275;
const ANYARRAY_OID: u32 = 2277;
const INTERNAL_OID: u32 = 2281;

/// The btree operator classes Tessera's indexes use, PostgreSQL 15's
/// default one for each indexable type: (oid, name, family, type oid).
/// `varchar` uses `text_ops`, as in PostgreSQL.
const BTREE_OPCLASSES: &[(u32, &str, u32, u32)] = &[
    (10003, "bool_ops", 424, 16),
    (10006, "bytea_ops", 428, 17),
    (3124, "int8_ops", 1976, 20),
    (1979, "int2_ops", 1976, 21),
    (1978, "int4_ops", 1976, 23),
    (3126, "text_ops", 1994, 25),
    (1981, "oid_ops", 1989, 26),
    (10012, "float4_ops", 1970, 700),
    (3123, "float8_ops", 1970, 701),
    (10004, "bpchar_ops", 426, 1042),
    (3122, "date_ops", 434, 1082),
    (10038, "time_ops", 1996, 1083),
    (3128, "timestamp_ops", 434, 1114),
    (3127, "timestamptz_ops", 434, 1184),
    (10022, "interval_ops", 1982, 1186),
    (10041, "timetz_ops", 2000, 1266),
    (3125, "numeric_ops", 1988, 1700),
    (10000, "array_ops", 397, 2277),
    (10065, "uuid_ops", 2968, 2950),
    (10088, "jsonb_ops", 4033, 3802),
];

/// The operator class an index key of type `t` uses (`pg_index.indclass`).
fn btree_opclass(t: &DataType) -> u32 {
    let type_oid = match t {
        DataType::Varchar(_) => DataType::Text.oid(),
        DataType::Array(_) => 2277,
        t if t.is_oid_like() => DataType::Oid.oid(),
        t => t.oid(),
    };
    BTREE_OPCLASSES
        .iter()
        .find(|c| c.3 == type_oid)
        .map_or(0, |c| c.0)
}

/// The built-in types pg_type lists (each also has its array type).
const BUILTIN_TYPES: &[DataType] = &[
    DataType::Bool,
    DataType::Bytea,
    DataType::Int8,
    DataType::Int2,
    DataType::Int4,
    DataType::Text,
    DataType::Oid,
    DataType::Json,
    DataType::Float4,
    DataType::Float8,
    DataType::Char(None),
    DataType::Varchar(None),
    DataType::Date,
    DataType::Time(None),
    DataType::Timestamp(None),
    DataType::TimestampTz(None),
    DataType::Interval(None),
    DataType::TimeTz(None),
    DataType::Numeric(None),
    DataType::Uuid,
    DataType::Jsonb,
    DataType::Reg(RegKind::Class),
    DataType::Reg(RegKind::Type),
    DataType::Reg(RegKind::Proc),
    DataType::Reg(RegKind::Namespace),
    DataType::Reg(RegKind::Role),
    DataType::Void,
    DataType::Name,
    DataType::InternalChar,
];

/// The built-in types pg_type lists that have no array type here, with
/// their element type (PostgreSQL's `typelem`, 0 for none).
const BUILTIN_TYPES_WITHOUT_ARRAY: &[(DataType, DataType)] = &[
    (DataType::Int2Vector, DataType::Int2),
    (DataType::OidVector, DataType::Oid),
];

/// The system columns PostgreSQL gives every table and sequence, listed
/// in pg_attribute with attnum -6 .. -1 (name and type oid). Tessera lists
/// them so that catalog queries filtering `attnum > 0` (or reading
/// `attnum < 0`) see what they see in PostgreSQL; they cannot be read
/// (a query naming one is 0A000, see `binder::system_column`).
pub const SYSTEM_COLUMNS: [(&str, u32); 6] = [
    ("tableoid", 26),
    ("cmax", 29),
    ("xmax", 28),
    ("cmin", 29),
    ("xmin", 28),
    ("ctid", 27),
];

/// The types of system columns that are no SQL type of Tessera's, in
/// pg_type under PostgreSQL's oids so that joins and `format_type` name
/// them: (oid, typname, typlen, typbyval, typalign).
const SYSTEM_COLUMN_TYPES: [(u32, &str, i16, bool, char); 3] = [
    (27, "tid", 6, false, 's'),
    (28, "xid", 4, true, 'i'),
    (29, "cid", 4, true, 'i'),
];

fn system_column_type(type_oid: u32) -> Option<(u32, &'static str, i16, bool, char)> {
    SYSTEM_COLUMN_TYPES
        .into_iter()
        .find(|(o, ..)| *o == type_oid)
}

/// PostgreSQL's internal name of a built-in type (`typname`).
pub fn typname(t: DataType) -> &'static str {
    match t {
        DataType::Bool => "bool",
        DataType::Int2 => "int2",
        DataType::Int4 => "int4",
        DataType::Int8 => "int8",
        DataType::Float4 => "float4",
        DataType::Float8 => "float8",
        DataType::Numeric(_) => "numeric",
        DataType::Text => "text",
        DataType::Varchar(_) => "varchar",
        DataType::Char(_) => "bpchar",
        DataType::Date => "date",
        DataType::Time(_) => "time",
        DataType::TimeTz(_) => "timetz",
        DataType::Timestamp(_) => "timestamp",
        DataType::TimestampTz(_) => "timestamptz",
        DataType::Interval(_) => "interval",
        DataType::Bytea => "bytea",
        DataType::Uuid => "uuid",
        DataType::Json => "json",
        DataType::Jsonb => "jsonb",
        DataType::Oid => "oid",
        DataType::Reg(k) => k.name(),
        DataType::Record(_) => "record",
        DataType::Void => "void",
        DataType::Name => "name",
        DataType::InternalChar => "char",
        DataType::Int2Vector => "int2vector",
        DataType::OidVector => "oidvector",
        // The binder and pg_type name them from the catalog.
        DataType::Array(_) | DataType::Unknown | DataType::Enum(_) => "unknown",
    }
}

/// PostgreSQL's `typcategory`.
fn typcategory(t: DataType) -> char {
    match t {
        DataType::Bool => 'B',
        // "char" is internal-use, the vectors arrays, as in PostgreSQL.
        DataType::InternalChar => 'Z',
        DataType::Int2Vector | DataType::OidVector => 'A',
        t if t.is_numeric_family() || t.is_oid_like() => 'N',
        t if t.is_string() => 'S',
        t if t.is_datetime() => 'D',
        DataType::Interval(_) => 'T',
        DataType::Array(_) => 'A',
        DataType::Void => 'P',
        _ => 'U',
    }
}

fn typalign(t: DataType) -> char {
    if t == DataType::Name {
        return 'c';
    }
    match t.typlen() {
        1 => 'c',
        2 => 's',
        4 => 'i',
        8 => 'd',
        _ if matches!(t, DataType::Interval(_) | DataType::TimeTz(_)) => 'd',
        _ if matches!(t, DataType::Uuid | DataType::Bool) => 'c',
        _ if matches!(
            t,
            DataType::Numeric(_) | DataType::Array(_) | DataType::Jsonb
        ) =>
        {
            'i'
        }
        _ => 'i',
    }
}

/// `typstorage`: plain for fixed-size types, main for numeric, else
/// extended.
fn typstorage(t: DataType) -> char {
    match t {
        DataType::Numeric(_) => 'm',
        t if t.typlen() > 0 => 'p',
        DataType::Int2Vector | DataType::OidVector => 'p',
        _ => 'x',
    }
}

fn collatable(t: DataType) -> bool {
    matches!(
        t.unconstrained(),
        DataType::Text | DataType::Varchar(None) | DataType::Char(None)
    )
}

/// The type a column of type `oid` with modifier `typmod` has.
fn type_of(type_oid: u32, typmod: i32) -> Option<DataType> {
    let base = DataType::from_oid(type_oid)?;
    let m = typmod - 4;
    Some(match base {
        DataType::Numeric(_) if m >= 0 => {
            DataType::Numeric(Some(((m >> 16) as u16, (m & 0xffff) as u16)))
        }
        DataType::Varchar(_) if m >= 0 => DataType::Varchar(Some(m as u32)),
        DataType::Char(_) if m >= 0 => DataType::Char(Some(m as u32)),
        DataType::Time(_) if typmod >= 0 => DataType::Time(Some(typmod as u8)),
        DataType::TimeTz(_) if typmod >= 0 => DataType::TimeTz(Some(typmod as u8)),
        DataType::Timestamp(_) if typmod >= 0 => DataType::Timestamp(Some(typmod as u8)),
        DataType::TimestampTz(_) if typmod >= 0 => DataType::TimestampTz(Some(typmod as u8)),
        other => other,
    })
}

/// `format_type(oid, typmod)`: the SQL name, with the modifier.
pub fn format_type(type_oid: u32, typmod: Option<i32>) -> String {
    match type_of(type_oid, typmod.unwrap_or(-1)) {
        Some(DataType::Char(None)) if typmod.is_none() => "bpchar".into(),
        Some(DataType::Char(None)) => "character".into(),
        Some(t) => t.name(),
        None => match system_column_type(type_oid) {
            Some((_, name, ..)) => name.into(),
            None => "???".into(),
        },
    }
}

impl SystemCatalog {
    pub fn new(catalog: &Catalog, names: &Names) -> SystemCatalog {
        let mut classes = Vec::new();
        for t in catalog.tables() {
            if t.name.starts_with(Catalog::REWRITE_PREFIX) {
                continue;
            }
            classes.push(Class {
                oid: relation_oid(t.id),
                name: t.name.clone(),
                schema: t.schema,
                object: Object::Table(t.clone()),
            });
            if !t.primary_key.is_empty() {
                classes.push(Class {
                    oid: pkey_oid(t.id),
                    name: pkey_name(t),
                    schema: t.schema,
                    object: Object::Pkey(t.clone()),
                });
            }
        }
        for v in catalog.views() {
            classes.push(Class {
                oid: relation_oid(v.id),
                name: v.name.clone(),
                schema: v.schema,
                object: Object::View(v.clone()),
            });
        }
        for s in catalog.sequences() {
            classes.push(Class {
                oid: relation_oid(s.id),
                name: s.name.clone(),
                schema: s.schema,
                object: Object::Sequence,
            });
        }
        for i in catalog.indexes() {
            classes.push(Class {
                oid: relation_oid(i.storage.id),
                name: i.name.clone(),
                schema: i.schema(),
                object: Object::Index(i.clone()),
            });
        }
        let by_oid = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.oid, i))
            .collect();
        SystemCatalog {
            catalog: catalog.clone(),
            path: names.schemas_with_implicit(catalog),
            names: names.clone(),
            classes: ClassMap(classes, by_oid),
        }
    }

    /// Whether `name` is a pg_catalog relation.
    pub fn is_relation(name: &str) -> bool {
        RELATIONS.iter().any(|(n, _)| *n == name)
    }

    fn class(&self, oid: u32) -> Option<&Class> {
        self.classes.1.get(&oid).map(|i| &self.classes.0[*i])
    }

    /// What a size function reports for `object` (see
    /// [`CatalogFn::RelationSize`]).
    fn relation_bytes(&self, object: &Object, of: SizeOf) -> u64 {
        let Some(stats) = crate::stats::node_stats() else {
            return 0;
        };
        let indexes = |table: tessera_types::TableId| -> u64 {
            self.catalog
                .indexes()
                .filter(|i| i.table == table)
                .map(|i| stats.bytes(i.storage.id))
                .sum()
        };
        match (object, of) {
            (Object::Table(t), SizeOf::Relation | SizeOf::Table) => stats.bytes(t.id),
            (Object::Table(t), SizeOf::Indexes) => indexes(t.id),
            (Object::Table(t), SizeOf::Total) => stats.bytes(t.id) + indexes(t.id),
            (Object::Index(i), SizeOf::Relation | SizeOf::Table | SizeOf::Total) => {
                stats.bytes(i.storage.id)
            }
            (Object::Sequence, SizeOf::Relation | SizeOf::Table | SizeOf::Total) => 8192,
            _ => 0,
        }
    }

    /// `pg_get_serial_sequence`: the sequence named by the `nextval`
    /// default of a serial or identity column, NULL for another column.
    fn serial_sequence(&self, table: &str, column: &str) -> Result<Value> {
        let t = self
            .table(self.reg_in(RegKind::Class, table)?)
            .ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{table}\" does not exist"),
                )
            })?;
        let col = t
            .columns
            .iter()
            .find(|c| !c.dropped && c.name == column)
            .ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!(
                        "column \"{column}\" of relation \"{}\" does not exist",
                        t.name
                    ),
                )
            })?;
        let Some(default) = &col.default else {
            return Ok(Value::Null);
        };
        let shown = self.deparse(default, t, Some(col.data_type));
        let Some(name) = shown
            .strip_prefix("nextval('")
            .and_then(|rest| rest.strip_suffix("'::regclass)"))
        else {
            return Ok(Value::Null);
        };
        Ok(if name.contains('.') {
            text(name)
        } else {
            text(format!(
                "{}.{name}",
                quote_ident(self.catalog.schema_name(t.schema))
            ))
        })
    }

    fn table(&self, oid: u32) -> Option<&Arc<TableDef>> {
        match self.class(oid).map(|c| &c.object) {
            Some(Object::Table(t)) => Some(t),
            _ => None,
        }
    }

    /// A relation's name as the session's path shows it: bare when the
    /// path finds it by that name, else qualified.
    fn shown(&self, schema: SchemaId, name: &str) -> String {
        let first = self
            .path
            .iter()
            .copied()
            .find(|s| self.relation_in(*s, name));
        if first == Some(schema) {
            quote_ident(name)
        } else {
            format!(
                "{}.{}",
                quote_ident(self.catalog.schema_name(schema)),
                quote_ident(name)
            )
        }
    }

    /// A created type's name as the session's path shows it: bare when
    /// the path finds it by that name, else qualified.
    fn type_shown(&self, def: &tessera_types::TypeDef) -> String {
        let first = self
            .path
            .iter()
            .copied()
            .find(|s| self.catalog.type_named(*s, &def.name).is_some());
        if first == Some(def.schema) {
            quote_ident(&def.name)
        } else {
            format!(
                "{}.{}",
                quote_ident(self.catalog.schema_name(def.schema)),
                quote_ident(&def.name)
            )
        }
    }

    fn relation_in(&self, schema: SchemaId, name: &str) -> bool {
        if schema == PG_CATALOG {
            return SystemCatalog::is_relation(name);
        }
        self.classes
            .0
            .iter()
            .any(|c| c.schema == schema && c.name == name)
    }

    /// The rows of a relation of pg_catalog or information_schema.
    pub fn system_relation(&self, name: &SystemName) -> Option<SystemRelation> {
        if name.is_information_schema() {
            self.information_schema_view(&name.name)
        } else {
            self.relation(&name.name)
        }
    }

    /// The rows of relation `name` of pg_catalog, or `None` if there is none.
    pub fn relation(&self, name: &str) -> Option<SystemRelation> {
        let (_, spec) = RELATIONS.iter().find(|(n, _)| *n == name)?;
        let columns = columns(spec);
        let rows = match name {
            "pg_namespace" => self.namespaces(),
            "pg_class" => self.class_rows(),
            "pg_attribute" => self.attributes(),
            "pg_type" => self.types(),
            "pg_enum" => self.enum_rows(),
            "pg_index" => self.index_rows(),
            "pg_constraint" => self.constraints(),
            "pg_attrdef" => self.attrdefs(),
            "pg_database" => self.databases(),
            "pg_roles" => self.role_rows(true),
            "pg_authid" => self.role_rows(false),
            "pg_user" => self.user_rows(),
            "pg_tables" => self.table_rows(),
            "pg_indexes" => self.index_view_rows(),
            "pg_views" => self.view_rows(),
            "pg_sequences" => self.sequence_view_rows(),
            "pg_opclass" => BTREE_OPCLASSES
                .iter()
                .map(|(o, name, family, intype)| {
                    vec![
                        oid(*o),
                        oid(BTREE_AM_OID),
                        text(*name),
                        oid(PG_CATALOG),
                        oid(SUPERUSER_OID),
                        oid(*family),
                        oid(*intype),
                        Value::Bool(true),
                        oid(0),
                    ]
                })
                .collect(),
            "pg_am" => vec![
                vec![oid(HEAP_AM_OID), text("heap"), oid(3), ch('t')],
                vec![oid(BTREE_AM_OID), text("btree"), oid(330), ch('i')],
            ],
            "pg_description" => self.descriptions(),
            "pg_stat_activity" => self.activity(),
            "tessera_nodes" => crate::topology::topology()
                .nodes
                .into_iter()
                .map(|n| {
                    vec![
                        Value::Int8(n.node_id as i64),
                        text(n.name),
                        text(n.address),
                        text(n.pg_address),
                        int4(n.shards as i64),
                        int4(n.first_shard as i64),
                        int4(n.buckets as i64),
                        text(n.state),
                        text(n.raft_role),
                        text(n.failure_domain),
                        int4(n.master_of as i64),
                        text(n.tier),
                    ]
                })
                .collect(),
            "tessera_tiers" => {
                let settings = crate::topology::topology().tiers;
                self.catalog
                    .tiers
                    .iter()
                    .map(|t| {
                        let set = settings.iter().find(|s| s.name == t.name);
                        vec![
                            text(t.name.clone()),
                            int4(set.map_or(1, |s| s.replication_factor) as i64),
                            text(set.map_or("async", |s| s.replication_mode)),
                            int4(t.count as i64),
                            int4(t.first as i64),
                        ]
                    })
                    .collect()
            }
            "tessera_replica_sets" => {
                let owner = &self.catalog.buckets.owner;
                crate::topology::topology()
                    .replica_sets
                    .into_iter()
                    .map(|r| {
                        let members: Vec<String> =
                            r.members.iter().map(|m| m.to_string()).collect();
                        let buckets = owner.iter().filter(|o| **o == r.shard).count();
                        vec![
                            int4(r.shard as i64),
                            text(r.tier),
                            Value::Int8(r.master as i64),
                            Value::Int8(r.epoch as i64),
                            text(members.join(",")),
                            int4(buckets as i64),
                            text(r.state),
                        ]
                    })
                    .collect()
            }
            "tessera_instances" => {
                let topology = crate::topology::topology();
                let mut rows = Vec::new();
                for r in &topology.replica_sets {
                    for m in &r.members {
                        let Some(node) = topology.nodes.iter().find(|n| n.node_id == *m) else {
                            continue;
                        };
                        rows.push((
                            *m,
                            r.shard,
                            vec![
                                Value::Int8(*m as i64),
                                int4(r.shard as i64),
                                int4(r.shard.saturating_sub(node.first_shard) as i64),
                                text(if r.master == *m { "master" } else { "replica" }),
                                text(r.tier.clone()),
                            ],
                        ));
                    }
                }
                rows.sort_by_key(|(node, shard, _)| (*node, *shard));
                rows.into_iter().map(|(_, _, row)| row).collect()
            }
            "tessera_buckets" => {
                let tiers = &self.catalog.tiers;
                self.catalog
                    .buckets
                    .owner
                    .iter()
                    .enumerate()
                    .map(|(b, shard)| {
                        let tier = tiers
                            .iter()
                            .find(|t| t.range().contains(&b))
                            .map_or("", |t| t.name.as_str());
                        vec![int4(b as i64), int4(*shard as i64), text(tier)]
                    })
                    .collect()
            }
            // The session's, which the binder fills in.
            "pg_cursors" => vec![],
            "pg_collation" => vec![
                collation(DEFAULT_COLLATION_OID, "default", 'd', -1, None),
                collation(950, "C", 'c', -1, Some("C")),
                collation(951, "POSIX", 'c', -1, Some("POSIX")),
            ],
            "pg_sequence" => self.sequence_rows(),
            "pg_depend" => self.depend_rows(),
            "pg_proc" => self.procs(),
            "pg_tablespace" => vec![
                vec![
                    oid(1663),
                    text("pg_default"),
                    oid(SUPERUSER_OID),
                    Value::Null,
                    Value::Null,
                ],
                vec![
                    oid(1664),
                    text("pg_global"),
                    oid(SUPERUSER_OID),
                    Value::Null,
                    Value::Null,
                ],
            ],
            // The session's statements, which the binder fills in.
            "pg_prepared_statements" => vec![],
            // The language of the functions pg_proc lists (PostgreSQL's
            // row; 2246 is its validator, fmgr_internal_validator).
            "pg_language" => vec![vec![
                oid(12),
                text("internal"),
                oid(SUPERUSER_OID),
                Value::Bool(false),
                Value::Bool(false),
                oid(0),
                oid(0),
                oid(2246),
                Value::Null,
            ]],
            "pg_settings" => preset_settings()
                .into_iter()
                .map(|(name, value, vartype, description)| {
                    let bound = |b: bool| {
                        if b && vartype == "integer" {
                            text(value.clone())
                        } else {
                            Value::Null
                        }
                    };
                    vec![
                        text(name),
                        text(value.clone()),
                        Value::Null,
                        text("Preset Options"),
                        text(description),
                        Value::Null,
                        text("internal"),
                        text(vartype),
                        text("default"),
                        bound(true),
                        bound(true),
                        Value::Null,
                        text(value.clone()),
                        text(value.clone()),
                        Value::Null,
                        Value::Null,
                        Value::Bool(false),
                    ]
                })
                .chain(session_settings().map(|(name, default, vartype, unit)| {
                    // `setting` is the session's value: the binder makes it
                    // a current_setting call (`context` 'user' marks it).
                    vec![
                        text(name),
                        Value::Null,
                        unit.map_or(Value::Null, text),
                        text("Client Connection Defaults"),
                        Value::Null,
                        Value::Null,
                        text("user"),
                        text(vartype),
                        text("default"),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                        text(default),
                        text(default),
                        Value::Null,
                        Value::Null,
                        Value::Bool(false),
                    ]
                }))
                .collect(),
            // Tessera has none of these objects.
            _ => vec![],
        };
        debug_assert!(rows.iter().all(|r| r.len() == columns.len()), "{name}");
        Some(SystemRelation { columns, rows })
    }

    fn namespaces(&self) -> Vec<Vec<Value>> {
        self.catalog
            .schemas()
            .map(|s| {
                // public belongs to pg_database_owner (6171) as in PostgreSQL 15.
                let owner = if s.id == tessera_types::schema::PUBLIC {
                    6171
                } else {
                    SUPERUSER_OID
                };
                // public's acl is PostgreSQL 15's (everyone may use it,
                // as in Tessera); the others have the default (NULL).
                let acl = if s.id == tessera_types::schema::PUBLIC {
                    array(
                        Elem::Text,
                        vec![
                            text("pg_database_owner=UC/pg_database_owner"),
                            text("=U/pg_database_owner"),
                        ],
                    )
                } else {
                    Value::Null
                };
                vec![oid(s.id), text(s.name.clone()), oid(owner), acl]
            })
            .collect()
    }

    fn class_rows(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for c in &self.classes.0 {
            let (kind, am, natts, checks, has_index, replident) = match &c.object {
                Object::Table(t) => (
                    'r',
                    HEAP_AM_OID,
                    t.columns.len(),
                    t.checks.len(),
                    !t.primary_key.is_empty() || self.catalog.indexes_of(t.id).next().is_some(),
                    'd',
                ),
                Object::View(v) => ('v', 0, v.columns.len(), 0, false, 'n'),
                Object::Sequence => ('S', 0, 3, 0, false, 'n'),
                Object::Index(i) => ('i', BTREE_AM_OID, i.columns.len(), 0, false, 'n'),
                Object::Pkey(t) => ('i', BTREE_AM_OID, t.primary_key.len(), 0, false, 'n'),
            };
            let relfilenode = if kind == 'v' { 0 } else { c.oid };
            // PostgreSQL enforces foreign keys by triggers on both tables.
            let has_triggers = match &c.object {
                Object::Table(t) => !t.foreign_keys.is_empty() || self.catalog.is_referenced(t.id),
                _ => false,
            };
            rows.push(vec![
                oid(c.oid),
                text(c.name.clone()),
                oid(c.schema),
                oid(0),
                oid(0),
                oid(SUPERUSER_OID),
                oid(am),
                oid(relfilenode),
                oid(0),
                int4(0),
                Value::Float4(-1.0),
                int4(0),
                oid(0),
                Value::Bool(has_index),
                Value::Bool(false),
                ch('p'),
                ch(kind),
                int2(natts as i64),
                int2(checks as i64),
                Value::Bool(kind == 'v'),
                Value::Bool(has_triggers),
                Value::Bool(false),
                Value::Bool(false),
                Value::Bool(false),
                Value::Bool(true),
                ch(replident),
                Value::Bool(false),
                oid(0),
                // relfrozenxid, relminmxid: Tessera has no transaction
                // ids to freeze, so PostgreSQL's "invalid" 0.
                oid(0),
                oid(0),
                Value::Null,
                // reloptions: a table's tier other than the first, which
                // `\d+` shows and pg_dump writes back as WITH (tier=…).
                match &c.object {
                    Object::Table(t) if t.tier != 0 => {
                        let name = self.catalog.tiers.get(t.tier as usize);
                        let option = format!("tier={}", name.map_or("", |t| t.name.as_str()));
                        array(Elem::Text, vec![text(option)])
                    }
                    _ => Value::Null,
                },
                Value::Null,
            ]);
        }
        rows
    }

    fn attributes(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        let mut add = |rel: u32, num: usize, name: &str, t: Option<DataType>, col: ColumnFacts| {
            let (type_oid, len, typmod) = match (t, col.domain) {
                (Some(t), Some(d)) => (d, t.typlen(), -1),
                (Some(t), None) => (t.oid(), t.typlen(), t.typmod()),
                (None, _) => (0, -1, -1),
            };
            let t = t.unwrap_or(DataType::Unknown);
            rows.push(vec![
                oid(rel),
                text(name),
                oid(type_oid),
                int4(-1),
                int2(len as i64),
                int2(num as i64),
                int4(matches!(t, DataType::Array(_)) as i64),
                int4(-1),
                int4(typmod as i64),
                Value::Bool(matches!(len, 1 | 2 | 4 | 8)),
                ch(typalign(t)),
                ch(typstorage(t)),
                ch('\0'),
                Value::Bool(col.not_null),
                Value::Bool(col.has_default),
                Value::Bool(col.missing.is_some()),
                ch(col.identity),
                ch('\0'),
                Value::Bool(col.dropped),
                Value::Bool(true),
                int4(0),
                oid(if collatable(t) {
                    DEFAULT_COLLATION_OID
                } else {
                    0
                }),
                Value::Null,
                Value::Null,
                Value::Null,
                col.missing.clone().unwrap_or(Value::Null),
            ]);
        };
        let mut system_rows = Vec::new();
        for c in &self.classes.0 {
            if matches!(c.object, Object::Table(_) | Object::Sequence) {
                system_rows.extend(system_attribute_rows(c.oid));
            }
            match &c.object {
                Object::Table(t) => {
                    for (i, col) in t.columns.iter().enumerate() {
                        let facts = ColumnFacts {
                            not_null: col.not_null || t.primary_key.contains(&i),
                            has_default: col.default.is_some() && col.identity.is_none(),
                            missing: col.missing.as_ref().map(|v| {
                                array(Elem::Text, vec![v.to_text().map_or(Value::Null, text)])
                            }),
                            identity: match col.identity {
                                Some(tessera_types::schema::Identity::Always) => 'a',
                                Some(tessera_types::schema::Identity::ByDefault) => 'd',
                                None => '\0',
                            },
                            dropped: col.dropped,
                            domain: col.domain,
                        };
                        let t = (!col.dropped).then_some(col.data_type);
                        add(c.oid, i + 1, &col.name, t, facts);
                    }
                }
                Object::View(v) => {
                    for (i, (name, t)) in v.columns.iter().enumerate() {
                        add(c.oid, i + 1, name, Some(*t), ColumnFacts::default());
                    }
                }
                Object::Sequence => {
                    let not_null = ColumnFacts {
                        not_null: true,
                        ..ColumnFacts::default()
                    };
                    add(
                        c.oid,
                        1,
                        "last_value",
                        Some(DataType::Int8),
                        not_null.clone(),
                    );
                    add(c.oid, 2, "log_cnt", Some(DataType::Int8), not_null.clone());
                    add(c.oid, 3, "is_called", Some(DataType::Bool), not_null);
                }
                Object::Index(i) => {
                    if let Some(t) = self.catalog.table_by_id(i.table) {
                        for (k, col) in i.columns.iter().enumerate() {
                            if let Some(def) = t.columns.get(*col) {
                                let dt = Some(def.data_type);
                                add(c.oid, k + 1, &def.name, dt, ColumnFacts::default());
                            }
                        }
                    }
                }
                Object::Pkey(t) => {
                    for (k, col) in t.primary_key.iter().enumerate() {
                        let def = &t.columns[*col];
                        add(
                            c.oid,
                            k + 1,
                            &def.name,
                            Some(def.data_type),
                            ColumnFacts::default(),
                        );
                    }
                }
            }
        }
        rows.extend(system_rows);
        rows
    }

    fn types(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for t in BUILTIN_TYPES {
            let elem = Elem::of(*t);
            // name is subscriptable as an array of "char", as in PostgreSQL.
            let elem_oid = match t {
                DataType::Name => DataType::InternalChar.oid(),
                _ => 0,
            };
            rows.push(type_row(*t, elem.map_or(0, |e| e.array_oid()), elem_oid));
            if let Some(e) = elem {
                rows.push(type_row(DataType::Array(e), 0, t.oid()));
            }
        }
        for (t, elem) in BUILTIN_TYPES_WITHOUT_ARRAY {
            let elem_oid = if *elem == DataType::Unknown {
                0
            } else {
                elem.oid()
            };
            rows.push(type_row(*t, 0, elem_oid));
        }
        for (type_oid, name, len, by_value, align) in SYSTEM_COLUMN_TYPES {
            // As a 4-byte base type, then what differs.
            let mut row = type_row(DataType::Int4, 0, 0);
            row[0] = oid(type_oid);
            row[1] = text(name);
            row[4] = int2(len.into());
            row[5] = Value::Bool(by_value);
            row[7] = ch('U');
            row[8] = Value::Bool(false);
            row[22] = ch(align);
            rows.push(row);
        }
        for def in self.catalog.types() {
            rows.extend(created_type_rows(def));
        }
        rows
    }

    /// `format_type(oid, typmod)`, also of the types CREATE TYPE made
    /// (qualified when the search path would not find them by name).
    fn format_type(&self, type_oid: u32, typmod: Option<i32>) -> String {
        match self.catalog.type_by_oid(type_oid) {
            Some((def, array)) => {
                let name = self.type_shown(def);
                if array {
                    format!("{name}[]")
                } else {
                    name
                }
            }
            None => format_type(type_oid, typmod),
        }
    }

    /// pg_enum: the labels of every enum type.
    fn enum_rows(&self) -> Vec<Vec<Value>> {
        self.catalog
            .types()
            .flat_map(|t| {
                t.labels.iter().map(|l| {
                    vec![
                        oid(l.oid),
                        oid(t.oid),
                        Value::Float4(l.sort_order as f32),
                        text(l.label.clone()),
                    ]
                })
            })
            .collect()
    }

    fn index_rows(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for c in &self.classes.0 {
            let (table, columns, descending, unique, primary, valid) = match &c.object {
                Object::Index(i) => (
                    i.table,
                    i.columns.clone(),
                    i.descending.clone(),
                    i.unique,
                    false,
                    i.is_valid(),
                ),
                Object::Pkey(t) => (
                    t.id,
                    t.primary_key.clone(),
                    vec![false; t.primary_key.len()],
                    true,
                    true,
                    true,
                ),
                _ => continue,
            };
            let n = columns.len();
            let types: Vec<DataType> = self
                .catalog
                .table_by_id(table)
                .map(|t| {
                    columns
                        .iter()
                        .map(|c| t.columns.get(*c).map_or(DataType::Unknown, |c| c.data_type))
                        .collect()
                })
                .unwrap_or_default();
            let classes: Vec<u32> = (0..n)
                .map(|k| types.get(k).map_or(0, btree_opclass))
                .collect();
            rows.push(vec![
                oid(c.oid),
                oid(relation_oid(table)),
                int2(n as i64),
                int2(n as i64),
                Value::Bool(unique),
                Value::Bool(false),
                Value::Bool(primary),
                Value::Bool(false),
                Value::Bool(true),
                Value::Bool(false),
                Value::Bool(valid),
                Value::Bool(false),
                Value::Bool(true),
                Value::Bool(true),
                Value::Bool(false),
                int2s(columns.iter().map(|c| *c as i64 + 1)),
                oids(vec![0; n]),
                oids(classes),
                int2s(descending.iter().map(|d| if *d { 3 } else { 0 })),
                Value::Null,
                Value::Null,
            ]);
        }
        rows
    }

    /// A table's constraints in [`constraint_oid`] order: (oid, name,
    /// type, index oid, columns, definition).
    fn table_constraints(&self, t: &TableDef) -> Vec<Constraint> {
        let mut out = Vec::new();
        let cols = |cs: &[usize]| -> String {
            cs.iter()
                .map(|c| quote_ident(&t.columns[*c].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !t.primary_key.is_empty() {
            out.push(Constraint {
                name: pkey_name(t),
                kind: 'p',
                index: pkey_oid(t.id),
                columns: t.primary_key.clone(),
                definition: format!("PRIMARY KEY ({})", cols(&t.primary_key)),
                foreign: None,
                check: None,
            });
        }
        let mut unique: Vec<_> = self
            .catalog
            .indexes_of(t.id)
            .filter(|i| i.constraint)
            .collect();
        unique.sort_by(|a, b| a.name.cmp(&b.name));
        for i in unique {
            out.push(Constraint {
                name: i.name.clone(),
                kind: 'u',
                index: relation_oid(i.storage.id),
                columns: i.columns.clone(),
                definition: format!("UNIQUE ({})", cols(&i.columns)),
                foreign: None,
                check: None,
            });
        }
        for (name, expr) in &t.checks {
            let shown = self.deparse(expr, t, None);
            out.push(Constraint {
                name: name.clone(),
                kind: 'c',
                index: 0,
                columns: check_columns(t, expr),
                definition: format!("CHECK ({shown})"),
                foreign: None,
                check: Some(shown),
            });
        }
        for fk in &t.foreign_keys {
            let parent = self.catalog.table_by_id(fk.parent);
            let (parent_name, parent_cols) = match parent {
                Some(p) => (
                    self.shown(p.schema, &p.name),
                    fk.parent_columns
                        .iter()
                        .map(|c| quote_ident(&p.columns[*c].name))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => (String::new(), String::new()),
            };
            let mut definition = format!(
                "FOREIGN KEY ({}) REFERENCES {parent_name}({parent_cols})",
                cols(&fk.columns)
            );
            for (what, action) in [("UPDATE", fk.on_update), ("DELETE", fk.on_delete)] {
                let shown = match action {
                    FkAction::NoAction => continue,
                    FkAction::Restrict => "RESTRICT",
                    FkAction::Cascade => "CASCADE",
                    FkAction::SetNull => "SET NULL",
                    FkAction::SetDefault => "SET DEFAULT",
                };
                definition.push_str(&format!(" ON {what} {shown}"));
            }
            // The parent's index the key is checked through.
            let index = parent
                .map(|p| {
                    if p.primary_key == fk.parent_columns {
                        pkey_oid(p.id)
                    } else {
                        self.catalog
                            .indexes_of(p.id)
                            .find(|i| i.unique && i.columns == fk.parent_columns)
                            .map_or(0, |i| relation_oid(i.storage.id))
                    }
                })
                .unwrap_or(0);
            out.push(Constraint {
                name: fk.name.clone(),
                kind: 'f',
                index,
                columns: fk.columns.clone(),
                definition,
                foreign: Some(fk.clone()),
                check: None,
            });
        }
        out
    }

    fn constraints(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for t in self.catalog.tables() {
            for (k, c) in self.table_constraints(t).into_iter().enumerate() {
                let action = |a: FkAction| match a {
                    FkAction::NoAction => 'a',
                    FkAction::Restrict => 'r',
                    FkAction::Cascade => 'c',
                    FkAction::SetNull => 'n',
                    FkAction::SetDefault => 'd',
                };
                let fk = c.foreign.as_ref();
                rows.push(vec![
                    oid(constraint_oid(t.id, k)),
                    text(c.name),
                    oid(t.schema),
                    ch(c.kind),
                    Value::Bool(false),
                    Value::Bool(false),
                    Value::Bool(true),
                    oid(relation_oid(t.id)),
                    oid(0),
                    oid(c.index),
                    oid(0),
                    oid(fk.map_or(0, |f| relation_oid(f.parent))),
                    ch(fk.map_or(' ', |f| action(f.on_update))),
                    ch(fk.map_or(' ', |f| action(f.on_delete))),
                    ch(if fk.is_some() { 's' } else { ' ' }),
                    Value::Bool(true),
                    int4(0),
                    Value::Bool(false),
                    int2s(c.columns.iter().map(|c| *c as i64 + 1)),
                    match fk {
                        Some(f) => int2s(f.parent_columns.iter().map(|c| *c as i64 + 1)),
                        None => Value::Null,
                    },
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    c.check.map_or(Value::Null, text),
                ]);
            }
        }
        for def in self.catalog.types() {
            let Some(d) = &def.domain else { continue };
            for (k, (name, check)) in d.checks.iter().enumerate() {
                let mut row = vec![
                    oid(domain_constraint_oid(def, k)),
                    text(name.clone()),
                    oid(def.schema),
                    ch('c'),
                    Value::Bool(false),
                    Value::Bool(false),
                    Value::Bool(true),
                    oid(0),
                    oid(def.oid),
                ];
                row.extend([oid(0), oid(0), oid(0), ch(' '), ch(' '), ch(' ')]);
                row.extend([Value::Bool(true), int4(0), Value::Bool(false)]);
                row.extend(std::iter::repeat_n(Value::Null, 7));
                row.push(text(check.clone()));
                rows.push(row);
            }
        }
        rows
    }

    fn attrdefs(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for t in self.catalog.tables() {
            for (i, col) in t.columns.iter().enumerate() {
                let Some(default) = col.default.as_ref().filter(|_| col.identity.is_none()) else {
                    continue;
                };
                rows.push(vec![
                    oid(attrdef_oid(t.id, i + 1)),
                    oid(relation_oid(t.id)),
                    int2(i as i64 + 1),
                    text(self.deparse(default, t, Some(col.data_type))),
                ]);
            }
        }
        rows
    }

    /// The node's live client sessions (`crate::activity`), by pid.
    fn activity(&self) -> Vec<Vec<Value>> {
        // Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
        const UNIX_TO_POSTGRES_MICROS: i64 = 946_684_800_000_000;
        let at = |micros: i64| Value::TimestampTz(micros - UNIX_TO_POSTGRES_MICROS);
        let when = |micros: Option<i64>| micros.map_or(Value::Null, at);
        let or_null = |s: String| if s.is_empty() { Value::Null } else { text(s) };
        crate::activity::sessions()
            .list()
            .into_iter()
            .map(|session| {
                let a = session.info();
                vec![
                    oid(DATABASE_OID),
                    or_null(a.database),
                    int4(session.pid as i64),
                    Value::Null,
                    oid(SUPERUSER_OID),
                    or_null(a.user),
                    text(a.application_name),
                    a.client_addr.map_or(Value::Null, |ip| text(ip.to_string())),
                    Value::Null,
                    a.client_port.map_or(int4(-1), |p| int4(p as i64)),
                    at(a.backend_start),
                    when(a.xact_start),
                    when(a.query_start),
                    at(a.state_change),
                    match a.state {
                        "idle" => text("Client"),
                        _ => Value::Null,
                    },
                    match a.state {
                        "idle" => text("ClientRead"),
                        _ => Value::Null,
                    },
                    text(a.state),
                    Value::Null,
                    text(a.query),
                    text("client backend"),
                ]
            })
            .collect()
    }

    /// The session's database, and the two templates every PostgreSQL
    /// cluster has (initdb's: template1 to copy, template0 pristine,
    /// closed to connections), as psql's `\l` expects them.
    fn databases(&self) -> Vec<Vec<Value>> {
        let row = |db_oid: u32, name: &str, template: bool, connect: bool| {
            let acl = template.then(|| {
                array(
                    Elem::Text,
                    vec![text("=c/postgres"), text("postgres=CTc/postgres")],
                )
            });
            vec![
                oid(db_oid),
                text(name),
                oid(SUPERUSER_OID),
                int4(UTF8_ENCODING as i64),
                ch('c'),
                Value::Bool(template),
                Value::Bool(connect),
                int4(-1),
                oid(0),
                oid(0),
                oid(DEFAULT_TABLESPACE_OID),
                text("C"),
                text("C"),
                Value::Null,
                Value::Null,
                acl.unwrap_or(Value::Null),
            ]
        };
        let mut rows = vec![row(DATABASE_OID, &self.names.database, false, true)];
        for (db_oid, name, connect) in [(1, "template1", true), (4, "template0", false)] {
            if self.names.database != name {
                rows.push(row(db_oid, name, true, connect));
            }
        }
        rows
    }

    /// One row per role of the catalog: `pg_roles` (`view`, the password
    /// hidden) or `pg_authid` (the stored verifier or hash).
    fn role_rows(&self, view: bool) -> Vec<Vec<Value>> {
        let b = Value::Bool;
        self.catalog
            .roles()
            .map(|r| {
                let until = r.valid_until.map_or(Value::Null, Value::TimestampTz);
                // initdb's superuser has REPLICATION and BYPASSRLS too;
                // roles made by SQL cannot (those options are refused).
                let bootstrap = r.id == tessera_types::role::BOOTSTRAP_ROLE_ID;
                if view {
                    vec![
                        text(r.name.as_str()),
                        b(r.superuser),
                        b(true),
                        b(r.create_role),
                        b(r.create_db),
                        b(r.login),
                        b(bootstrap),
                        int4(-1),
                        text("********"),
                        until,
                        b(bootstrap),
                        Value::Null,
                        oid(r.id),
                    ]
                } else {
                    vec![
                        oid(r.id),
                        text(r.name.as_str()),
                        b(r.superuser),
                        b(true),
                        b(r.create_role),
                        b(r.create_db),
                        b(r.login),
                        b(bootstrap),
                        b(bootstrap),
                        int4(-1),
                        r.password.as_deref().map_or(Value::Null, text),
                        until,
                    ]
                }
            })
            .chain(std::iter::once(database_owner_role(view)))
            .collect()
    }

    /// `pg_user`: the roles that may log in.
    fn user_rows(&self) -> Vec<Vec<Value>> {
        self.catalog
            .roles()
            .filter(|r| r.login)
            .map(|r| {
                vec![
                    text(r.name.as_str()),
                    oid(r.id),
                    Value::Bool(r.create_db),
                    Value::Bool(r.superuser),
                    Value::Bool(r.id == tessera_types::role::BOOTSTRAP_ROLE_ID),
                    Value::Bool(r.id == tessera_types::role::BOOTSTRAP_ROLE_ID),
                    text("********"),
                    r.valid_until.map_or(Value::Null, Value::TimestampTz),
                    Value::Null,
                ]
            })
            .collect()
    }

    /// `pg_tables`: one row per table, as PostgreSQL's view over pg_class
    /// shows it (owned by the superuser, in the default tablespace, no
    /// rules, triggers or row security).
    fn table_rows(&self) -> Vec<Vec<Value>> {
        let owner = self
            .catalog
            .roles()
            .find(|r| r.id == tessera_types::role::BOOTSTRAP_ROLE_ID)
            .map_or(Value::Null, |r| text(r.name.as_str()));
        self.classes
            .0
            .iter()
            .filter_map(|c| match &c.object {
                Object::Table(t) => Some(vec![
                    text(self.catalog.schema_name(c.schema)),
                    text(c.name.as_str()),
                    owner.clone(),
                    Value::Null,
                    Value::Bool(
                        !t.primary_key.is_empty() || self.catalog.indexes_of(t.id).next().is_some(),
                    ),
                    Value::Bool(false),
                    Value::Bool(false),
                    Value::Bool(false),
                ]),
                _ => None,
            })
            .collect()
    }

    /// The bootstrap superuser, who owns every object.
    /// The name of the role with this oid: a role of the catalog, or
    /// `pg_database_owner` (6171), which owns `public` as in PostgreSQL 15.
    fn role_name(&self, role: u32) -> Option<String> {
        if role == 6171 {
            return Some("pg_database_owner".into());
        }
        self.catalog
            .roles()
            .find(|r| r.id == role)
            .map(|r| r.name.clone())
    }

    fn owner(&self) -> Value {
        self.catalog
            .roles()
            .find(|r| r.id == tessera_types::role::BOOTSTRAP_ROLE_ID)
            .map_or(Value::Null, |r| text(r.name.as_str()))
    }

    /// `pg_indexes`: every index, primary keys included, with its
    /// definition as `pg_get_indexdef` gives it.
    fn index_view_rows(&self) -> Vec<Vec<Value>> {
        self.classes
            .0
            .iter()
            .filter_map(|c| {
                let table = match &c.object {
                    Object::Index(i) => self.catalog.table_by_id(i.table)?.name.clone(),
                    Object::Pkey(t) => t.name.clone(),
                    _ => return None,
                };
                Some(vec![
                    text(self.catalog.schema_name(c.schema)),
                    text(table),
                    text(c.name.as_str()),
                    Value::Null,
                    self.indexdef(c.oid, 0).map_or(Value::Null, text),
                ])
            })
            .collect()
    }

    /// `pg_views`, the definition as `pg_get_viewdef` gives it.
    fn view_rows(&self) -> Vec<Vec<Value>> {
        let owner = self.owner();
        self.classes
            .0
            .iter()
            .filter_map(|c| match &c.object {
                Object::View(v) => Some(vec![
                    text(self.catalog.schema_name(c.schema)),
                    text(c.name.as_str()),
                    owner.clone(),
                    text(format!(" {};", v.query)),
                ]),
                _ => None,
            })
            .collect()
    }

    /// `pg_sequences`: `last_value` is NULL until the first `nextval`
    /// (or a `setval` that marks it called).
    fn sequence_view_rows(&self) -> Vec<Vec<Value>> {
        let owner = self.owner();
        self.catalog
            .sequences()
            .map(|s| {
                let (last, called) = s.state.current();
                vec![
                    text(self.catalog.schema_name(s.schema)),
                    text(s.name.as_str()),
                    owner.clone(),
                    oid(s.data_type.oid()),
                    Value::Int8(s.start),
                    Value::Int8(s.min),
                    Value::Int8(s.max),
                    Value::Int8(s.increment),
                    Value::Bool(s.cycle),
                    Value::Int8(s.cache),
                    if called {
                        Value::Int8(last)
                    } else {
                        Value::Null
                    },
                ]
            })
            .collect()
    }

    fn descriptions(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for c in &self.classes.0 {
            let id = c.oid.wrapping_sub(16384);
            let width = match &c.object {
                Object::Table(t) => t.columns.len(),
                Object::View(v) => v.columns.len(),
                _ => 0,
            };
            for sub in 0..=width {
                if let Some(d) = self.catalog.comment(id, sub as u32) {
                    rows.push(vec![
                        oid(c.oid),
                        oid(PG_CLASS_OID),
                        int4(sub as i64),
                        text(d),
                    ]);
                }
            }
        }
        // PostgreSQL's comment on `public` (pg_dump 15 writes
        // `COMMENT ON SCHEMA public IS ''` when it is missing).
        rows.push(vec![
            oid(tessera_types::schema::PUBLIC),
            oid(NAMESPACE_CLASS_OID),
            int4(0),
            text("standard public schema"),
        ]);
        rows
    }

    /// pg_depend: what drops with what. A sequence owned by a column
    /// (`a`, auto; `i`, internal, for an identity column) and each index's
    /// columns (`a`), as PostgreSQL records them, which psql's `\d` of a
    /// sequence reads ("Owned by").
    fn depend_rows(&self) -> Vec<Vec<Value>> {
        let class_oid = PG_CLASS_OID;
        let row = |objid: u32, refobjid: u32, refsub: usize, kind: char| {
            vec![
                oid(class_oid),
                oid(objid),
                int4(0),
                oid(class_oid),
                oid(refobjid),
                int4(refsub as i64),
                ch(kind),
            ]
        };
        let mut rows = Vec::new();
        for s in self.catalog.sequences() {
            let Some((table, column)) = s.owned_by else {
                continue;
            };
            let identity = self
                .catalog
                .table_by_id(table)
                .and_then(|t| t.columns.get(column as usize))
                .is_some_and(|c| c.identity.is_some());
            let kind = if identity { 'i' } else { 'a' };
            rows.push(row(
                relation_oid(s.id),
                relation_oid(table),
                column as usize + 1,
                kind,
            ));
        }
        // A default that draws from a sequence depends on it (`n`), as
        // does a view on what it reads (PostgreSQL records that on the
        // view's rewrite rule; Tessera has none, so on the view).
        for t in self.catalog.tables() {
            for (i, col) in t.columns.iter().enumerate() {
                let Some(default) = col.default.as_ref().filter(|_| col.identity.is_none()) else {
                    continue;
                };
                let shown = self.deparse(default, t, Some(col.data_type));
                let Some(seq) = shown
                    .strip_prefix("nextval('")
                    .and_then(|rest| rest.strip_suffix("'::regclass)"))
                    .and_then(|name| self.reg_in(RegKind::Class, name).ok())
                else {
                    continue;
                };
                rows.push(vec![
                    oid(ATTRDEF_CLASS_OID),
                    oid(attrdef_oid(t.id, i + 1)),
                    int4(0),
                    oid(class_oid),
                    oid(seq),
                    int4(0),
                    ch('n'),
                ]);
            }
        }
        for v in self.catalog.views() {
            for read in &v.depends_on {
                rows.push(row(relation_oid(v.id), relation_oid(*read), 0, 'n'));
            }
        }
        for c in &self.classes.0 {
            let (table, columns): (u32, &[usize]) = match &c.object {
                Object::Index(i) => (i.table, &i.columns),
                Object::Pkey(t) => (t.id, &t.primary_key),
                _ => continue,
            };
            for col in columns {
                rows.push(row(c.oid, relation_oid(table), col + 1, 'a'));
            }
        }
        rows
    }

    fn sequence_rows(&self) -> Vec<Vec<Value>> {
        self.catalog
            .sequences()
            .map(|s| {
                vec![
                    oid(relation_oid(s.id)),
                    oid(s.data_type.oid()),
                    Value::Int8(s.start),
                    Value::Int8(s.increment),
                    Value::Int8(s.max),
                    Value::Int8(s.min),
                    Value::Int8(s.cache),
                    Value::Bool(s.cycle),
                ]
            })
            .collect()
    }

    fn procs(&self) -> Vec<Vec<Value>> {
        PROCS
            .iter()
            .map(|(proc_oid, name, args, result)| {
                vec![
                    oid(*proc_oid),
                    text(*name),
                    oid(PG_CATALOG),
                    oid(SUPERUSER_OID),
                    oid(12),
                    Value::Float4(1.0),
                    Value::Float4(0.0),
                    oid(0),
                    oid(0),
                    ch('f'),
                    Value::Bool(false),
                    Value::Bool(false),
                    Value::Bool(true),
                    Value::Bool(false),
                    ch('s'),
                    ch('s'),
                    int2(args.len() as i64),
                    int2(0),
                    oid(*result),
                    oids(args.iter().copied()),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    text(*name),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ]
            })
            .collect()
    }

    /// Evaluates `f` over `args` (already of the types [`CatalogFn::named`]
    /// gave).
    pub fn call(&self, f: CatalogFn, args: &[Value]) -> Result<Value> {
        let arg_oid = |i: usize| -> Option<u32> { args.get(i)?.as_i64().map(|v| v as u32) };
        if f == CatalogFn::CurrentDatabase {
            return Ok(text(self.names.database.clone()));
        }
        if f != CatalogFn::FormatType && args.first().is_some_and(Value::is_null) {
            return Ok(Value::Null);
        }
        Ok(match f {
            CatalogFn::HasPrivilege(kind, with_role) => {
                return self.has_privilege(kind, with_role, args)
            }
            // Every function pg_proc lists is in pg_catalog, always on the path.
            CatalogFn::FunctionIsVisible => match arg_oid(0).and_then(proc_by_oid) {
                Some(_) => Value::Bool(true),
                None => Value::Null,
            },
            CatalogFn::GetFunctionResult => match arg_oid(0).and_then(proc_by_oid) {
                Some((_, _, _, result)) => text(format_type(*result, None)),
                None => Value::Null,
            },
            CatalogFn::GetFunctionArguments => match arg_oid(0).and_then(proc_by_oid) {
                Some((_, _, args, _)) => text(
                    args.iter()
                        .map(|t| format_type(*t, None))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => Value::Null,
            },
            CatalogFn::FormatType => match arg_oid(0) {
                None => Value::Null,
                Some(t) => {
                    let typmod = args.get(1).and_then(Value::as_i64).map(|m| m as i32);
                    text(self.format_type(t, typmod))
                }
            },
            CatalogFn::DomainViolation(type_oid, k) => {
                let Some((def, false)) = self.catalog.type_by_oid(type_oid) else {
                    return Err(Error::internal(format!(
                        "domain {type_oid} is not in the catalog"
                    )));
                };
                let checks = def.domain.as_ref().map_or(&[][..], |d| &d.checks);
                return Err(match checks.get(k as usize) {
                    _ if k == crate::binder::DOMAIN_NOT_NULL => Error::new(
                        sqlstate::NOT_NULL_VIOLATION,
                        format!("domain {} does not allow null values", def.name),
                    ),
                    Some((name, _)) => Error::new(
                        sqlstate::CHECK_VIOLATION,
                        format!(
                            "value for domain {} violates check constraint \"{name}\"",
                            def.name
                        ),
                    )
                    .with_constraint(name),
                    None => Error::internal(format!("constraint {k} of domain {}", def.name)),
                });
            }
            CatalogFn::EnumArrayIn(type_oid) => {
                let Some((def, false)) = self.catalog.type_by_oid(type_oid) else {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("type with OID {type_oid} does not exist"),
                    ));
                };
                crate::binder::enum_array_value(def, args[0].clone())?
            }
            CatalogFn::EnumIn(type_oid) => {
                let Some((def, false)) = self.catalog.type_by_oid(type_oid) else {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("type with OID {type_oid} does not exist"),
                    ));
                };
                let label = args[0].to_text().unwrap_or_default();
                crate::binder::enum_value(def, &label)?
            }
            // Expressions are stored as the SQL text pg_get_expr shows.
            CatalogFn::GetExpr => args[0].clone(),
            CatalogFn::GetIndexdef => {
                let column = args.get(1).and_then(Value::as_i64).unwrap_or(0);
                arg_oid(0)
                    .and_then(|o| self.indexdef(o, column))
                    .map_or(Value::Null, text)
            }
            CatalogFn::GetConstraintdef => arg_oid(0)
                .and_then(|o| self.constraintdef(o))
                .map_or(Value::Null, text),
            CatalogFn::GetUserById => match arg_oid(0) {
                Some(SUPERUSER_OID) => text("postgres"),
                Some(6171) => text("pg_database_owner"),
                Some(o) => text(format!("unknown (OID={o})")),
                None => Value::Null,
            },
            CatalogFn::TableIsVisible => match arg_oid(0).and_then(|o| self.class(o)) {
                Some(c) => Value::Bool(self.shown(c.schema, &c.name) == quote_ident(&c.name)),
                None => Value::Null,
            },
            CatalogFn::CollationIsVisible => match arg_oid(0) {
                Some(o) => {
                    let listed = self
                        .relation("pg_collation")
                        .is_some_and(|r| r.rows.iter().any(|row| row[0] == oid(o)));
                    if listed {
                        Value::Bool(true)
                    } else {
                        Value::Null
                    }
                }
                None => Value::Null,
            },
            CatalogFn::TypeIsVisible => match arg_oid(0) {
                Some(o) if DataType::from_oid(o).is_some() => Value::Bool(true),
                Some(o) => match self.catalog.type_by_oid(o) {
                    Some((def, _)) => Value::Bool(self.type_shown(def) == quote_ident(&def.name)),
                    None => Value::Null,
                },
                None => Value::Null,
            },
            CatalogFn::EncodingToChar => match args[0].as_i64() {
                Some(6) => text("UTF8"),
                Some(0) => text("SQL_ASCII"),
                _ => text(""),
            },
            CatalogFn::ObjDescription => match arg_oid(0) {
                Some(o) => self.description(o, 0),
                None => Value::Null,
            },
            CatalogFn::ShobjDescription => Value::Null,
            CatalogFn::AclDefault => match (&args[0], arg_oid(1)) {
                (Value::Text(kind), Some(owner)) => {
                    // A role that does not exist shows as its oid, as in
                    // PostgreSQL.
                    let owner = self
                        .role_name(owner)
                        .map_or_else(|| owner.to_string(), |name| quote_ident(&name));
                    let items = acl_default(kind, &owner)?;
                    array(Elem::Text, items.into_iter().map(text).collect())
                }
                _ => Value::Null,
            },
            CatalogFn::ColDescription => match (arg_oid(0), args.get(1).and_then(Value::as_i64)) {
                (Some(o), Some(n)) => self.description(o, n as u32),
                _ => Value::Null,
            },
            CatalogFn::GetViewdef => match arg_oid(0).and_then(|o| self.class(o)) {
                Some(Class {
                    object: Object::View(v),
                    ..
                }) => text(format!(" {};", v.query)),
                _ => Value::Null,
            },
            // No triggers and no extended statistics exist.
            CatalogFn::GetTriggerdef | CatalogFn::StatisticsObjdefColumns => Value::Null,
            CatalogFn::RelationIsPublishable => match arg_oid(0).and_then(|o| self.class(o)) {
                Some(Class {
                    object: Object::Table(_),
                    ..
                }) => Value::Bool(true),
                Some(_) => Value::Bool(false),
                None => Value::Null,
            },
            CatalogFn::CurrentDatabase => text(self.names.database.clone()),
            CatalogFn::GetSerialSequence => match (&args[0], &args[1]) {
                (Value::Text(table), Value::Text(column)) => self.serial_sequence(table, column)?,
                _ => Value::Null,
            },
            CatalogFn::IsInRecovery => Value::Bool(false),
            CatalogFn::RelationSize(of) => {
                let fork_main = args
                    .get(1)
                    .is_none_or(|f| f.to_text().as_deref() == Some("main"));
                match arg_oid(0).and_then(|o| self.class(o)) {
                    None => Value::Null,
                    Some(_) if !fork_main => Value::Int8(0),
                    Some(class) => Value::Int8(self.relation_bytes(&class.object, of) as i64),
                }
            }
            CatalogFn::DatabaseSize => {
                let name = args[0].to_text().unwrap_or_default();
                if name == self.names.database {
                    Value::Int8(crate::stats::node_stats().map_or(0, |s| s.total_bytes()) as i64)
                } else if name == "template1" || name == "template0" {
                    // Listed for psql (see `databases`); they hold nothing.
                    Value::Int8(0)
                } else {
                    return Err(Error::new(
                        sqlstate::INVALID_CATALOG_NAME,
                        format!("database \"{name}\" does not exist"),
                    ));
                }
            }
            CatalogFn::Version => {
                let server_version = crate::engine::REPORTED_SETTINGS
                    .iter()
                    .find(|(name, _)| *name == "server_version")
                    .map_or("", |(_, value)| value);
                text(format!(
                    "PostgreSQL {server_version} on {}-{}, 64-bit",
                    std::env::consts::ARCH,
                    std::env::consts::OS
                ))
            }
            CatalogFn::CurrentSchemas => {
                let implicit = args[0].as_bool() == Some(true);
                let schemas = match implicit {
                    true => self.path.clone(),
                    false => self.names.schemas(&self.catalog),
                };
                let items = schemas
                    .iter()
                    .map(|s| text(self.catalog.schema_name(*s)))
                    .collect();
                array(Elem::Text, items)
            }
            CatalogFn::RegIn(kind) => match &args[0] {
                Value::Text(s) | Value::BpChar(s) => oid(self.reg_in(kind, s)?),
                other => other.clone().cast(DataType::Oid, true)?,
            },
            CatalogFn::ToReg(kind) => match &args[0] {
                Value::Text(s) | Value::BpChar(s) => match self.reg_in(kind, s) {
                    Ok(o) => oid(o),
                    Err(e)
                        if [
                            sqlstate::UNDEFINED_TABLE,
                            sqlstate::UNDEFINED_FUNCTION,
                            sqlstate::UNDEFINED_OBJECT,
                            sqlstate::INVALID_SCHEMA_NAME,
                        ]
                        .contains(&e.code) =>
                    {
                        Value::Null
                    }
                    Err(e) => return Err(e),
                },
                _ => Value::Null,
            },
            CatalogFn::RegOut(kind) => match arg_oid(0) {
                Some(o) => text(self.reg_out(kind, o)),
                None => Value::Null,
            },
        })
    }

    fn description(&self, relation: u32, column: u32) -> Value {
        if self.class(relation).is_none() {
            return Value::Null;
        }
        self.catalog
            .comment(relation.wrapping_sub(16384), column)
            .map_or(Value::Null, text)
    }

    fn indexdef(&self, index: u32, column: i64) -> Option<String> {
        let c = self.class(index)?;
        let (table, columns, descending, unique) = match &c.object {
            Object::Index(i) => (
                self.catalog.table_by_id(i.table)?,
                i.columns.clone(),
                i.descending.clone(),
                i.unique,
            ),
            Object::Pkey(t) => (
                &**t,
                t.primary_key.clone(),
                vec![false; t.primary_key.len()],
                true,
            ),
            _ => return None,
        };
        let shown: Vec<String> = columns
            .iter()
            .zip(&descending)
            .map(|(col, desc)| {
                let name = quote_ident(&table.columns[*col].name);
                if *desc {
                    format!("{name} DESC")
                } else {
                    name
                }
            })
            .collect();
        // One column alone is its name, without its ordering (as
        // PostgreSQL's pg_get_indexdef(index, column, pretty) shows it).
        if column > 0 {
            let col = columns.get(column as usize - 1)?;
            return Some(quote_ident(&table.columns[*col].name));
        }
        Some(format!(
            "CREATE {}INDEX {} ON {}.{} USING btree ({})",
            if unique { "UNIQUE " } else { "" },
            quote_ident(&c.name),
            quote_ident(self.catalog.schema_name(table.schema)),
            quote_ident(&table.name),
            shown.join(", ")
        ))
    }

    fn constraintdef(&self, constraint: u32) -> Option<String> {
        for def in self.catalog.types() {
            let Some(d) = &def.domain else { continue };
            for (k, (_, check)) in d.checks.iter().enumerate() {
                if domain_constraint_oid(def, k) == constraint {
                    return Some(format!("CHECK ({})", domain_check_shown(def, check)));
                }
            }
        }
        let k = constraint.checked_sub(0x5000_0000)?;
        let t = self.table(relation_oid(k / 256))?;
        self.table_constraints(t)
            .into_iter()
            .nth((k % 256) as usize)
            .map(|c| c.definition)
    }

    /// The oid a `reg*` input names: digits are the oid itself.
    /// See [`CatalogFn::HasPrivilege`]: NULL for a NULL argument.
    fn has_privilege(&self, kind: Privileged, with_role: bool, args: &[Value]) -> Result<Value> {
        if args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let arg = |i: usize| -> String { args[i].to_text().unwrap_or_default() };
        let mut at = 0;
        if with_role {
            let role = arg(0);
            let digits = !role.is_empty() && role.bytes().all(|b| b.is_ascii_digit());
            let known = if digits {
                self.catalog.roles().any(|r| r.id.to_string() == role)
            } else {
                self.catalog.role(&role).is_some() || role == "public"
            };
            if !known {
                return Err(Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("role \"{role}\" does not exist"),
                ));
            }
            at = 1;
        }
        let object = arg(at);
        match kind {
            Privileged::Table | Privileged::Sequence | Privileged::Column => {
                // An oid no relation has: NULL, as in PostgreSQL.
                let Some(class) = args[at].as_i64().and_then(|o| self.class(o as u32)) else {
                    return Ok(Value::Null);
                };
                let class = Some(class);
                if kind == Privileged::Sequence
                    && !matches!(class.map(|c| &c.object), Some(Object::Sequence))
                {
                    return Err(Error::new(
                        sqlstate::WRONG_OBJECT_TYPE,
                        format!("\"{object}\" is not a sequence"),
                    ));
                }
                if kind == Privileged::Column {
                    let column = arg(at + 1);
                    let columns: Vec<String> = match class.map(|c| &c.object) {
                        Some(Object::Table(t)) => {
                            t.columns.iter().map(|c| c.name.clone()).collect()
                        }
                        Some(Object::View(v)) => v.columns.iter().map(|(n, _)| n.clone()).collect(),
                        _ => vec![],
                    };
                    if !columns.contains(&column) {
                        return Err(Error::new(
                            sqlstate::UNDEFINED_COLUMN,
                            format!("column \"{column}\" of relation \"{object}\" does not exist"),
                        ));
                    }
                }
            }
            Privileged::Schema => {
                if self.catalog.schema(&object).is_none()
                    && !matches!(object.as_str(), "pg_catalog" | "information_schema")
                {
                    return Err(Error::new(
                        sqlstate::INVALID_SCHEMA_NAME,
                        format!("schema \"{object}\" does not exist"),
                    ));
                }
            }
            Privileged::Database => {
                // The templates pg_database lists too (see `databases`).
                if object != self.names.database && object != "template1" && object != "template0" {
                    return Err(Error::new(
                        sqlstate::INVALID_CATALOG_NAME,
                        format!("database \"{object}\" does not exist"),
                    ));
                }
            }
        }
        // "SELECT, INSERT WITH GRANT OPTION": a list, any case.
        let list = arg(args.len() - 1);
        for item in list.split(',') {
            let item = item.trim().to_ascii_lowercase();
            let name = item
                .strip_suffix(" with grant option")
                .unwrap_or(&item)
                .trim();
            if !kind.privileges().contains(&name) {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("unrecognized privilege type: \"{}\"", item.trim()),
                ));
            }
        }
        Ok(Value::Bool(true))
    }

    pub fn reg_in(&self, kind: RegKind, input: &str) -> Result<u32> {
        if let Ok(n) = tessera_types::value::parse_oid(input) {
            if input.trim().bytes().all(|b| b.is_ascii_digit()) {
                return Ok(n as u32);
            }
        }
        let not_found = |what: &str| {
            let code = match kind {
                RegKind::Class => sqlstate::UNDEFINED_TABLE,
                RegKind::Proc => sqlstate::UNDEFINED_FUNCTION,
                _ => sqlstate::UNDEFINED_OBJECT,
            };
            Error::new(code, format!("{what} \"{input}\" does not exist"))
        };
        match kind {
            RegKind::Class => {
                let parts = dotted_name(input)
                    .filter(|p| !p.is_empty() && p.len() <= 2)
                    .ok_or_else(|| Error::new(sqlstate::INVALID_NAME, "invalid name syntax"))?;
                let in_schema = |s: SchemaId, name: &str| -> Option<u32> {
                    if s == PG_CATALOG {
                        return system_table_oid(name);
                    }
                    self.classes
                        .0
                        .iter()
                        .find(|c| c.schema == s && c.name == name)
                        .map(|c| c.oid)
                };
                let found = match parts.as_slice() {
                    [schema, name] => {
                        let s = self.catalog.schema(schema).ok_or_else(|| {
                            Error::new(
                                sqlstate::INVALID_SCHEMA_NAME,
                                format!("schema \"{schema}\" does not exist"),
                            )
                        })?;
                        in_schema(s.id, name)
                    }
                    // pg_catalog comes first when the path does not name it.
                    [name] => (!self.path.contains(&PG_CATALOG))
                        .then(|| system_table_oid(name))
                        .flatten()
                        .or_else(|| self.path.iter().find_map(|s| in_schema(*s, name))),
                    _ => None,
                };
                found.ok_or_else(|| not_found("relation"))
            }
            RegKind::Type => {
                let sql = format!("SELECT NULL::{input}");
                let parsed = crate::parser::parse(&sql).map_err(|_| not_found("type"))?;
                let cast = parsed.first().and_then(|p| match &p.statement {
                    ast::Statement::Query(q) => match &*q.body {
                        ast::SetExpr::Select(s) => match s.projection.first() {
                            Some(ast::SelectItem::UnnamedExpr(ast::Expr::Cast {
                                data_type,
                                ..
                            })) => Some(data_type.clone()),
                            _ => None,
                        },
                        _ => None,
                    },
                    _ => None,
                });
                if let Some(t) = cast.as_ref().and_then(|t| crate::binder::data_type(t).ok()) {
                    return Ok(t.oid());
                }
                // A type CREATE TYPE made, by its schema or on the path.
                let parts = dotted_name(input).ok_or_else(|| not_found("type"))?;
                let found = match parts.as_slice() {
                    [schema, name] => self
                        .catalog
                        .schema(schema)
                        .and_then(|s| self.catalog.type_named(s.id, name)),
                    [name] => self
                        .path
                        .iter()
                        .find_map(|s| self.catalog.type_named(*s, name)),
                    _ => None,
                };
                // The system columns' types, `pg_catalog.`-qualified or not.
                let system_type = || {
                    let name = match parts.as_slice() {
                        [schema, name] if schema == "pg_catalog" => name,
                        [name] => name,
                        _ => return None,
                    };
                    SYSTEM_COLUMN_TYPES
                        .into_iter()
                        .find(|(_, n, ..)| n == name)
                        .map(|(o, ..)| o)
                };
                found
                    .map(|t| t.oid)
                    .or_else(system_type)
                    .ok_or_else(|| not_found("type"))
            }
            RegKind::Namespace => self
                .catalog
                .schema(input)
                .map(|s| s.id)
                .ok_or_else(|| not_found("schema")),
            RegKind::Role => match input {
                "postgres" => Ok(SUPERUSER_OID),
                _ => Err(not_found("role")),
            },
            RegKind::Proc => {
                // The functions pg_proc lists are pg_catalog's: a name may
                // say so (`pg_catalog.array_in`).
                let name = match dotted_name(input).as_deref() {
                    Some([name]) => Some(name.clone()),
                    Some([schema, name]) if schema == "pg_catalog" => Some(name.clone()),
                    _ => None,
                };
                name.and_then(|n| PROCS.iter().find(|p| p.1 == n))
                    .map(|p| p.0)
                    .ok_or_else(|| not_found("function"))
            }
        }
    }

    /// The name a `reg*` value shows: its object's name (qualified when
    /// the path would not find it by the bare name), `-` for 0, the digits
    /// for an oid naming nothing.
    pub fn reg_out(&self, kind: RegKind, o: u32) -> String {
        if o == 0 && matches!(kind, RegKind::Class | RegKind::Type | RegKind::Proc) {
            return "-".into();
        }
        let found = match kind {
            RegKind::Class => match SYSTEM_TABLES.iter().find(|(_, t)| *t == o) {
                Some((name, _)) => Some(self.shown(PG_CATALOG, name)),
                None => self.class(o).map(|c| self.shown(c.schema, &c.name)),
            },
            RegKind::Type => (DataType::from_oid(o).is_some()
                || self.catalog.type_by_oid(o).is_some()
                || system_column_type(o).is_some())
            .then(|| self.format_type(o, None)),
            RegKind::Proc => PROCS.iter().find(|p| p.0 == o).map(|p| p.1.to_string()),
            RegKind::Namespace => self.catalog.schema_by_id(o).map(|s| quote_ident(&s.name)),
            RegKind::Role => (o == SUPERUSER_OID).then(|| "postgres".to_string()),
        };
        found.unwrap_or_else(|| o.to_string())
    }
}

/// A possibly qualified name as `regclass` input reads it: parts split at
/// dots outside double quotes, unquoted parts folded to lower case.
fn dotted_name(input: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = input.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != '.') {
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
            if part.is_empty() {
                return None;
            }
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => continue,
            Some(_) => return None,
        }
    }
}

#[derive(Clone, Default)]
struct ColumnFacts {
    not_null: bool,
    has_default: bool,
    /// The value rows stored before the column was added have
    /// (`attmissingval`, a one-element array of its text), if any.
    missing: Option<Value>,
    identity: char,
    dropped: bool,
    /// The domain the column was declared with: its type there.
    domain: Option<u32>,
}

struct Constraint {
    name: String,
    kind: char,
    index: u32,
    columns: Vec<usize>,
    definition: String,
    foreign: Option<tessera_types::ForeignKey>,
    check: Option<String>,
}

/// The columns of `t` a CHECK expression (stored as SQL text) reads, in
/// table order: the names in it that are columns and not function calls.
fn check_columns(t: &TableDef, expr: &str) -> Vec<usize> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, expr).tokenize() else {
        return vec![];
    };
    let significant: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut columns: Vec<usize> = significant
        .iter()
        .enumerate()
        .filter_map(|(i, token)| {
            let Token::Word(w) = token else { return None };
            if matches!(significant.get(i + 1), Some(Token::LParen)) {
                return None;
            }
            let name = match w.quote_style {
                Some(_) => w.value.clone(),
                None => w.value.to_lowercase(),
            };
            t.columns.iter().position(|c| !c.dropped && c.name == name)
        })
        .collect();
    columns.sort_unstable();
    columns.dedup();
    columns
}

fn pkey_name(t: &TableDef) -> String {
    format!("{}_pkey", t.name)
}

fn collation(
    o: u32,
    name: &str,
    provider: char,
    encoding: i64,
    locale: Option<&str>,
) -> Vec<Value> {
    vec![
        oid(o),
        text(name),
        oid(PG_CATALOG),
        oid(SUPERUSER_OID),
        ch(provider),
        Value::Bool(true),
        int4(encoding),
        locale.map_or(Value::Null, text),
        locale.map_or(Value::Null, text),
        Value::Null,
        Value::Null,
    ]
}

/// The pg_attribute rows of relation `rel`'s system columns
/// ([`SYSTEM_COLUMNS`]), as PostgreSQL has them.
fn system_attribute_rows(rel: u32) -> impl Iterator<Item = Vec<Value>> {
    SYSTEM_COLUMNS
        .into_iter()
        .enumerate()
        .map(move |(k, (name, type_oid))| {
            let (len, by_value, align) = match system_column_type(type_oid) {
                Some((_, _, len, by_value, align)) => (len, by_value, align),
                None => (4, true, 'i'),
            };
            vec![
                oid(rel),
                text(name),
                oid(type_oid),
                int4(0),
                int2(len.into()),
                int2(k as i64 - SYSTEM_COLUMNS.len() as i64),
                int4(0),
                int4(-1),
                int4(-1),
                Value::Bool(by_value),
                ch(align),
                ch('p'),
                ch('\0'),
                Value::Bool(true),
                Value::Bool(false),
                Value::Bool(false),
                ch('\0'),
                ch('\0'),
                Value::Bool(false),
                Value::Bool(true),
                int4(0),
                oid(0),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ]
        })
}

fn type_row(t: DataType, array_oid: u32, elem_oid: u32) -> Vec<Value> {
    let name = match t {
        DataType::Array(e) => format!("_{}", typname(e.data_type())),
        t => typname(t).to_string(),
    };
    let len = t.typlen();
    // typinput, typoutput, typreceive, typsend: pg_proc lists those of
    // arrays; a scalar type's are left 0.
    let io = match t {
        DataType::Array(_) => [750, 751, 2400, 2401],
        _ => [0; 4],
    };
    vec![
        oid(t.oid()),
        text(name),
        oid(PG_CATALOG),
        oid(SUPERUSER_OID),
        int2(len as i64),
        Value::Bool(matches!(len, 1 | 2 | 4 | 8)),
        // typtype: void is a pseudo-type, the rest base types.
        ch(if t == DataType::Void { 'p' } else { 'b' }),
        ch(typcategory(t)),
        Value::Bool(matches!(
            t,
            DataType::Text | DataType::Float8 | DataType::Bool
        )),
        Value::Bool(true),
        ch(','),
        oid(0),
        oid(0),
        oid(elem_oid),
        oid(array_oid),
        oid(io[0]),
        oid(io[1]),
        oid(io[2]),
        oid(io[3]),
        oid(0),
        oid(0),
        oid(0),
        ch(typalign(t)),
        ch(typstorage(t)),
        Value::Bool(false),
        oid(0),
        int4(-1),
        int4(0),
        oid(if collatable(t) {
            DEFAULT_COLLATION_OID
        } else {
            0
        }),
        Value::Null,
        Value::Null,
        Value::Null,
    ]
}

/// A domain's CHECK as PostgreSQL deparses it: `VALUE` read as a column
/// of the base type, so constants take their labels (`VALUE > 0::numeric`).
fn domain_check_shown(def: &tessera_types::TypeDef, check: &str) -> String {
    let base = def.domain.as_ref().map_or(DataType::Unknown, |d| d.base);
    let value = TableDef {
        id: 0,
        name: def.name.clone(),
        schema: def.schema,
        columns: vec![tessera_types::ColumnDef::new("value", base, false)],
        primary_key: vec![],
        sharding_key: vec![],
        global: false,
        tier: 0,
        checks: vec![],
        foreign_keys: vec![],
    };
    let shown = deparse_text(check, &value, None);
    crate::binder::replace_value(&shown, "VALUE").unwrap_or(shown)
}

/// The oid of check `k` of a domain: a constraint oid of the id its oid
/// was taken from (ids are shared by relations and types, so it is no
/// table's).
fn domain_constraint_oid(def: &tessera_types::TypeDef, k: usize) -> u32 {
    constraint_oid(def.oid - tessera_types::schema::FIRST_USER_OID, k)
}

/// The pg_type rows of a type CREATE TYPE or CREATE DOMAIN made (a domain
/// has no array type here), as PostgreSQL 15 has them.
fn created_type_rows(def: &tessera_types::TypeDef) -> Vec<Vec<Value>> {
    if let Some(d) = &def.domain {
        let mut row = type_row(d.base, 0, 0);
        row[0] = oid(def.oid);
        row[1] = text(def.name.clone());
        row[2] = oid(def.schema);
        row[6] = ch('d');
        row[24] = Value::Bool(d.not_null);
        row[25] = oid(d.base.oid());
        row[26] = int4(d.base.typmod() as i64);
        // typdefault as PostgreSQL deparses it (`'Y'::character varying`).
        let no_columns = TableDef {
            id: 0,
            name: def.name.clone(),
            schema: def.schema,
            columns: vec![],
            primary_key: vec![],
            sharding_key: vec![],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        row[30] = d.default.as_ref().map_or(Value::Null, |e| {
            text(deparse_text(e, &no_columns, Some(d.base)))
        });
        return vec![row];
    }
    let t = DataType::Enum(def.oid);
    let mut scalar = type_row(t, def.array_oid(), 0);
    scalar[1] = text(def.name.clone());
    scalar[2] = oid(def.schema);
    scalar[6] = ch('e');
    scalar[7] = ch('E');
    let mut array = type_row(DataType::Array(Elem::Text), 0, def.oid);
    array[0] = oid(def.array_oid());
    array[1] = text(format!("_{}", def.name));
    array[2] = oid(def.schema);
    // typcollation: an enum's array has none (text[]'s is the default).
    array[28] = oid(0);
    vec![scalar, array]
}

/// An expression stored as SQL text (a DEFAULT or CHECK), shown as
/// PostgreSQL's `pg_get_expr(…, true)` shows it: constants carry their
/// type where PostgreSQL's deparser labels them (`'n'::bpchar`,
/// `0::numeric`, `nextval('s'::regclass)`). `context` is the type the
/// whole expression takes (a column's, for a default).
/// Relation names (`nextval('s')`) are shown as stored; a
/// [`SystemCatalog`] shows them as the session's path finds them.
pub fn deparse_text(sql: &str, table: &TableDef, context: Option<DataType>) -> String {
    deparse_with(sql, table, context, None)
}

fn deparse_with(
    sql: &str,
    table: &TableDef,
    context: Option<DataType>,
    system: Option<&SystemCatalog>,
) -> String {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    match sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
    {
        Ok(e) => Deparser { table, system }.expr(&e, context, 0),
        Err(_) => sql.to_string(),
    }
}

impl SystemCatalog {
    /// [`deparse_text`], with relation names shown through the session's path.
    fn deparse(&self, sql: &str, table: &TableDef, context: Option<DataType>) -> String {
        deparse_with(sql, table, context, Some(self))
    }

    /// A relation name stored in an expression of `table` (bound with the
    /// table's schema, then public, as the path) as the session's path
    /// shows it; `None` when it names nothing.
    fn stored_relation_shown(&self, table: &TableDef, stored: &str) -> Option<String> {
        let parts = dotted_name(stored)?;
        let (schema, name) = match parts.as_slice() {
            [schema, name] => (self.catalog.schema(schema)?.id, name),
            [name] => (
                [table.schema, tessera_types::schema::PUBLIC]
                    .into_iter()
                    .find(|s| self.relation_in(*s, name))?,
                name,
            ),
            _ => return None,
        };
        self.relation_in(schema, name)
            .then(|| self.shown(schema, name))
    }
}

struct Deparser<'a> {
    table: &'a TableDef,
    system: Option<&'a SystemCatalog>,
}

impl Deparser<'_> {
    /// The type an expression has, as far as this deparser needs it.
    fn type_of(&self, e: &ast::Expr) -> Option<DataType> {
        match e {
            ast::Expr::Identifier(i) => {
                let name = crate::binder::ident_name(i);
                let c = self.table.column_index(&name)?;
                Some(self.table.columns[c].data_type)
            }
            ast::Expr::Nested(e) => self.type_of(e),
            ast::Expr::Cast { data_type, .. } => crate::binder::data_type(data_type).ok(),
            _ => None,
        }
    }

    /// `depth` 0 is the whole expression, which PostgreSQL's pretty
    /// output leaves without parentheses.
    fn expr(&self, e: &ast::Expr, context: Option<DataType>, depth: usize) -> String {
        use ast::Expr as E;
        match e {
            // PostgreSQL coerces a whole integral default to a numeric
            // column's type, which its deparser shows bare.
            E::Value(v)
                if depth == 0
                    && matches!(context, Some(DataType::Numeric(_)))
                    && matches!(&v.value, ast::Value::Number(n, _) if n.bytes().all(|b| b.is_ascii_digit())) =>
            {
                v.value.to_string()
            }
            E::Value(v) => match (&v.value, context, self.system) {
                (
                    ast::Value::SingleQuotedString(name),
                    Some(DataType::Reg(RegKind::Class)),
                    Some(system),
                ) => match system.stored_relation_shown(self.table, name) {
                    Some(shown) => format!("'{}'::regclass", shown.replace('\'', "''")),
                    None => constant(&v.value, context),
                },
                _ => constant(&v.value, context),
            },
            E::Identifier(i) => quote_ident(&crate::binder::ident_name(i)),
            E::Nested(inner) => self.expr(inner, context, depth),
            E::UnaryOp { op, expr } => format!("{op}{}", self.expr(expr, context, depth + 1)),
            E::BinaryOp { left, op, right } => {
                let (lt, rt) = (self.type_of(left), self.type_of(right));
                let is_bool = matches!(op, ast::BinaryOperator::And | ast::BinaryOperator::Or);
                let l = self.expr(left, if is_bool { None } else { rt }, depth + 1);
                let r = self.expr(right, if is_bool { None } else { lt }, depth + 1);
                let s = format!("{l} {op} {r}");
                if depth == 0 {
                    s
                } else {
                    format!("({s})")
                }
            }
            E::Cast {
                expr, data_type, ..
            } => match crate::binder::data_type(data_type) {
                Ok(t) => {
                    let inner = self.expr(expr, Some(t), depth + 1);
                    if inner.ends_with(&format!("::{}", label(t))) {
                        inner
                    } else {
                        format!("{inner}::{}", label(t))
                    }
                }
                Err(_) => e.to_string(),
            },
            E::Function(f) => {
                let mut name = f.name.to_string().to_ascii_lowercase();
                // SQL's value functions, which PostgreSQL shows in capitals.
                if matches!(
                    name.as_str(),
                    "current_date"
                        | "current_time"
                        | "current_timestamp"
                        | "localtime"
                        | "localtimestamp"
                        | "current_user"
                        | "current_role"
                        | "session_user"
                        | "current_catalog"
                        | "current_schema"
                ) && !matches!(&f.args, ast::FunctionArguments::List(l) if l.args.is_empty())
                {
                    name.make_ascii_uppercase();
                }
                let args: Vec<String> = match &f.args {
                    ast::FunctionArguments::List(list) => list
                        .args
                        .iter()
                        .map(|a| match a {
                            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => {
                                let hint = match name.as_str() {
                                    "nextval" | "currval" => Some(DataType::Reg(RegKind::Class)),
                                    _ => None,
                                };
                                self.expr(x, hint, depth + 1)
                            }
                            other => other.to_string(),
                        })
                        .collect(),
                    ast::FunctionArguments::None => return name,
                    other => return format!("{name}{other}"),
                };
                format!("{name}({})", args.join(", "))
            }
            other => other.to_string(),
        }
    }
}

/// How PostgreSQL's deparser labels a constant of type `t`.
fn label(t: DataType) -> String {
    match t {
        DataType::Char(_) => "bpchar".into(),
        DataType::Varchar(_) => "character varying".into(),
        t => t.unconstrained().name(),
    }
}

fn constant(v: &ast::Value, context: Option<DataType>) -> String {
    let t = context.map(|t| t.unconstrained());
    match v {
        ast::Value::Number(n, _) => {
            let integral = n.bytes().all(|b| b.is_ascii_digit());
            match t {
                Some(DataType::Numeric(_)) if integral => format!("{n}::numeric"),
                Some(DataType::Int8) if integral && n.parse::<i32>().is_ok() => {
                    format!("{n}::bigint")
                }
                Some(DataType::Int2) => format!("{n}::smallint"),
                Some(DataType::Float8) => format!("{n}::double precision"),
                Some(DataType::Float4) => format!("{n}::real"),
                _ => n.clone(),
            }
        }
        ast::Value::SingleQuotedString(s) => {
            let quoted = format!("'{}'", s.replace('\'', "''"));
            format!("{quoted}::{}", t.map_or("text".to_string(), label))
        }
        ast::Value::Boolean(b) => b.to_string(),
        ast::Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

/// A catalog snapshot travels as the catalog and the names it is seen
/// through; the receiver builds its relation map again.
impl serde::Serialize for SystemCatalog {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(&self.catalog, &self.names), s)
    }
}

impl<'de> serde::Deserialize<'de> for SystemCatalog {
    fn deserialize<D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<SystemCatalog, D::Error> {
        let (catalog, names): (Catalog, Names) = serde::Deserialize::deserialize(d)?;
        Ok(SystemCatalog::new(&catalog, &names))
    }
}
