//! The `information_schema` views, generated from the catalog snapshot as
//! the `pg_catalog` relations are (see the parent module): what drivers'
//! metadata calls read (`tables`, `columns`, key and constraint views).
//!
//! The columns are PostgreSQL 15's, in its order: `sql_identifier`,
//! `character_data` and `yes_or_no` columns are `text`, `cardinal_number`
//! columns `integer`. The rows are what PostgreSQL 15 gives for the same
//! user objects in a UTF8 database (`character_octet_length` is four
//! bytes per character), read as the superuser, who sees everything.
//!
//! What it does not do: PostgreSQL's own objects (the `pg_catalog` and
//! `information_schema` relations, `pg_toast`) are not listed; views are
//! not insertable or updatable in Tessera, so their `is_insertable_into`
//! and `is_updatable` say `NO` where PostgreSQL says `YES` for a simple
//! view; `view_definition` is Tessera's stored text, not PostgreSQL's
//! deparsed one.

use tessera_types::schema::{FkAction, Identity, PUBLIC};
use tessera_types::{DataType, TableDef, Value};

use super::{relation_oid, text, typname, Object, SystemCatalog, SystemRelation};

/// Column types, shorthand for the views below: i sql_identifier, d
/// character_data, y yes_or_no (all `text`), n cardinal_number (`integer`).
fn columns(spec: &str) -> Vec<(String, DataType)> {
    spec.split_whitespace()
        .map(|c| {
            let (name, code) = c.split_once(':').expect("column spec is name:code");
            let t = match code {
                "i" | "d" | "y" => DataType::Text,
                "n" => DataType::Int4,
                other => panic!("unknown column type code {other}"),
            };
            (name.to_string(), t)
        })
        .collect()
}

/// The views: name and PostgreSQL 15's columns.
const VIEWS: &[(&str, &str)] = &[
    (
        "schemata",
        "catalog_name:i schema_name:i schema_owner:i default_character_set_catalog:i \
         default_character_set_schema:i default_character_set_name:i sql_path:d",
    ),
    (
        "tables",
        "table_catalog:i table_schema:i table_name:i table_type:d \
         self_referencing_column_name:i reference_generation:d user_defined_type_catalog:i \
         user_defined_type_schema:i user_defined_type_name:i is_insertable_into:y is_typed:y \
         commit_action:d",
    ),
    (
        "columns",
        "table_catalog:i table_schema:i table_name:i column_name:i ordinal_position:n \
         column_default:d is_nullable:y data_type:d character_maximum_length:n \
         character_octet_length:n numeric_precision:n numeric_precision_radix:n \
         numeric_scale:n datetime_precision:n interval_type:d interval_precision:n \
         character_set_catalog:i character_set_schema:i character_set_name:i \
         collation_catalog:i collation_schema:i collation_name:i domain_catalog:i \
         domain_schema:i domain_name:i udt_catalog:i udt_schema:i udt_name:i scope_catalog:i \
         scope_schema:i scope_name:i maximum_cardinality:n dtd_identifier:i \
         is_self_referencing:y is_identity:y identity_generation:d identity_start:d \
         identity_increment:d identity_maximum:d identity_minimum:d identity_cycle:y \
         is_generated:d generation_expression:d is_updatable:y",
    ),
    (
        "table_constraints",
        "constraint_catalog:i constraint_schema:i constraint_name:i table_catalog:i \
         table_schema:i table_name:i constraint_type:d is_deferrable:y initially_deferred:y \
         enforced:y nulls_distinct:y",
    ),
    (
        "key_column_usage",
        "constraint_catalog:i constraint_schema:i constraint_name:i table_catalog:i \
         table_schema:i table_name:i column_name:i ordinal_position:n \
         position_in_unique_constraint:n",
    ),
    (
        "constraint_column_usage",
        "table_catalog:i table_schema:i table_name:i column_name:i constraint_catalog:i \
         constraint_schema:i constraint_name:i",
    ),
    (
        "referential_constraints",
        "constraint_catalog:i constraint_schema:i constraint_name:i \
         unique_constraint_catalog:i unique_constraint_schema:i unique_constraint_name:i \
         match_option:d update_rule:d delete_rule:d",
    ),
    (
        "views",
        "table_catalog:i table_schema:i table_name:i view_definition:d check_option:d \
         is_updatable:y is_insertable_into:y is_trigger_updatable:y is_trigger_deletable:y \
         is_trigger_insertable_into:y",
    ),
    (
        "sequences",
        "sequence_catalog:i sequence_schema:i sequence_name:i data_type:d \
         numeric_precision:n numeric_precision_radix:n numeric_scale:n start_value:d \
         minimum_value:d maximum_value:d increment:d cycle_option:y",
    ),
    (
        "domains",
        "domain_catalog:i domain_schema:i domain_name:i data_type:d \
         character_maximum_length:n character_octet_length:n character_set_catalog:i \
         character_set_schema:i character_set_name:i collation_catalog:i collation_schema:i \
         collation_name:i numeric_precision:n numeric_precision_radix:n numeric_scale:n \
         datetime_precision:n interval_type:d interval_precision:n domain_default:d \
         udt_catalog:i udt_schema:i udt_name:i scope_catalog:i scope_schema:i scope_name:i \
         maximum_cardinality:n dtd_identifier:i",
    ),
];

/// The most bytes a character takes in the database's encoding (UTF8).
const ENCODING_CHAR_BYTES_MAX: i64 = 4;
/// PostgreSQL's `character_octet_length` for text of no declared length
/// (the largest field, 1 GB).
const OCTET_LENGTH_UNBOUNDED: i64 = 1_073_741_824;

fn yes_no(b: bool) -> Value {
    text(if b { "YES" } else { "NO" })
}
fn number(v: i64) -> Value {
    Value::Int4(v as i32)
}
fn number_or_null(v: Option<i64>) -> Value {
    v.map_or(Value::Null, number)
}

fn rule(a: FkAction) -> Value {
    text(match a {
        FkAction::NoAction => "NO ACTION",
        FkAction::Restrict => "RESTRICT",
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
    })
}

/// What `columns` says of a type: `data_type`, `character_maximum_length`,
/// `character_octet_length`, `numeric_precision`, `numeric_precision_radix`,
/// `numeric_scale`, `datetime_precision`, `interval_type`.
fn type_facts(t: DataType) -> [Value; 8] {
    let data_type = match t {
        DataType::Array(_) => "ARRAY",
        other => other.base_name(),
    };
    let (max_length, octets) = match t {
        DataType::Varchar(n) | DataType::Char(n) => (
            n.map(i64::from),
            Some(n.map_or(OCTET_LENGTH_UNBOUNDED, |n| {
                (i64::from(n) * ENCODING_CHAR_BYTES_MAX).min(OCTET_LENGTH_UNBOUNDED)
            })),
        ),
        DataType::Text => (None, Some(OCTET_LENGTH_UNBOUNDED)),
        _ => (None, None),
    };
    let (precision, radix, scale) = match t {
        DataType::Int2 => (Some(16), Some(2), Some(0)),
        DataType::Int4 => (Some(32), Some(2), Some(0)),
        DataType::Int8 => (Some(64), Some(2), Some(0)),
        DataType::Float4 => (Some(24), Some(2), None),
        DataType::Float8 => (Some(53), Some(2), None),
        DataType::Numeric(Some((p, s))) => (Some(i64::from(p)), Some(10), Some(i64::from(s))),
        DataType::Numeric(None) => (None, Some(10), None),
        _ => (None, None, None),
    };
    let datetime_precision = match t {
        DataType::Date => Some(0),
        DataType::Time(p)
        | DataType::TimeTz(p)
        | DataType::Timestamp(p)
        | DataType::TimestampTz(p) => Some(p.map_or(6, i64::from)),
        DataType::Interval(m) => Some(m.and_then(|m| m.precision).map_or(6, i64::from)),
        _ => None,
    };
    let interval_type = match t {
        DataType::Interval(Some(m)) if m.fields.name().is_some() => {
            text(m.suffix().trim().to_uppercase())
        }
        _ => Value::Null,
    };
    [
        text(data_type),
        number_or_null(max_length),
        number_or_null(octets),
        number_or_null(precision),
        number_or_null(radix),
        number_or_null(scale),
        number_or_null(datetime_precision),
        interval_type,
    ]
}

/// `udt_name`: the type's `typname` (`_int4` for an array of `int4`).
fn udt_name(t: DataType) -> String {
    match t {
        DataType::Array(e) => format!("_{}", typname(e.data_type())),
        other => typname(other).to_string(),
    }
}

impl SystemCatalog {
    /// Whether `name` is an `information_schema` view.
    pub fn is_information_schema_view(name: &str) -> bool {
        VIEWS.iter().any(|(n, _)| *n == name)
    }

    /// The rows of `information_schema.name`, or `None` if there is none.
    pub fn information_schema_view(&self, name: &str) -> Option<SystemRelation> {
        let (_, spec) = VIEWS.iter().find(|(n, _)| *n == name)?;
        let columns = columns(spec);
        let rows = match name {
            "schemata" => self.info_schemata(),
            "tables" => self.info_tables(),
            "columns" => self.info_columns(),
            "table_constraints" => self.info_table_constraints(),
            "key_column_usage" => self.info_key_column_usage(),
            "constraint_column_usage" => self.info_constraint_column_usage(),
            "referential_constraints" => self.info_referential_constraints(),
            "views" => self.info_views(),
            "sequences" => self.info_sequences(),
            "domains" => self.info_domains(),
            _ => vec![],
        };
        debug_assert!(rows.iter().all(|r| r.len() == columns.len()), "{name}");
        Some(SystemRelation { columns, rows })
    }

    fn database(&self) -> Value {
        text(self.names.database.clone())
    }

    fn schema_text(&self, schema: tessera_types::schema::SchemaId) -> Value {
        text(self.catalog.schema_name(schema).to_string())
    }

    /// The user tables (not the hidden ones a rewrite makes).
    fn user_tables(&self) -> impl Iterator<Item = &std::sync::Arc<TableDef>> {
        self.classes.0.iter().filter_map(|c| match &c.object {
            Object::Table(t) => Some(t),
            _ => None,
        })
    }

    fn info_schemata(&self) -> Vec<Vec<Value>> {
        self.catalog
            .schemas()
            .map(|s| {
                let owner = if s.id == PUBLIC {
                    "pg_database_owner"
                } else {
                    "postgres"
                };
                vec![
                    self.database(),
                    text(s.name.clone()),
                    text(owner),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ]
            })
            .collect()
    }

    fn info_tables(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for c in &self.classes.0 {
            let (kind, insertable) = match c.object {
                Object::Table(_) => ("BASE TABLE", true),
                Object::View(_) => ("VIEW", false),
                _ => continue,
            };
            rows.push(vec![
                self.database(),
                self.schema_text(c.schema),
                text(c.name.clone()),
                text(kind),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                yes_no(insertable),
                yes_no(false),
                Value::Null,
            ]);
        }
        rows
    }

    fn info_columns(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for c in &self.classes.0 {
            // (name, type, not null, default, identity) per live column,
            // and its domain.
            type Facts = (usize, String, DataType, bool, Value, Option<Identity>);
            let columns: Vec<(Facts, Option<u32>)> = match &c.object {
                Object::Table(t) => t
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, col)| !col.dropped)
                    .map(|(i, col)| {
                        let default = match (&col.default, col.identity) {
                            (Some(d), None) => text(self.deparse(d, t, Some(col.data_type))),
                            _ => Value::Null,
                        };
                        (
                            (
                                i,
                                col.name.clone(),
                                col.data_type,
                                col.not_null || t.primary_key.contains(&i),
                                default,
                                col.identity,
                            ),
                            col.domain,
                        )
                    })
                    .collect(),
                Object::View(v) => v
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (name, t))| ((i, name.clone(), *t, false, Value::Null, None), None))
                    .collect(),
                _ => continue,
            };
            let table_id = match &c.object {
                Object::Table(t) => Some(t.id),
                _ => None,
            };
            for ((i, name, t, not_null, default, identity), domain) in columns {
                let attnum = i as i64 + 1;
                let [mut data_type, max_length, octets, precision, radix, scale, dt_precision, interval_type] =
                    type_facts(t);
                let (udt_schema, udt) = self.udt(t, &mut data_type);
                let mut row = vec![
                    self.database(),
                    self.schema_text(c.schema),
                    text(c.name.clone()),
                    text(name),
                    number(attnum),
                    default,
                    yes_no(!not_null),
                    data_type,
                    max_length,
                    octets,
                    precision,
                    radix,
                    scale,
                    dt_precision,
                    interval_type,
                    Value::Null,
                ];
                // character set, collation (the default: NULL).
                row.extend(std::iter::repeat_n(Value::Null, 6));
                match domain.and_then(|d| self.catalog.type_by_oid(d)) {
                    Some((def, _)) => row.extend([
                        self.database(),
                        self.schema_text(def.schema),
                        text(def.name.clone()),
                    ]),
                    None => row.extend(std::iter::repeat_n(Value::Null, 3)),
                }
                row.extend([
                    self.database(),
                    udt_schema,
                    udt,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    text(attnum.to_string()),
                    yes_no(false),
                    yes_no(identity.is_some()),
                ]);
                let sequence = identity.and_then(|_| {
                    self.catalog
                        .sequences()
                        .find(|s| table_id.is_some_and(|t| s.owned_by == Some((t, i as u32))))
                });
                match (identity, sequence) {
                    (Some(kind), Some(s)) => row.extend([
                        text(match kind {
                            Identity::Always => "ALWAYS",
                            Identity::ByDefault => "BY DEFAULT",
                        }),
                        text(s.start.to_string()),
                        text(s.increment.to_string()),
                        text(s.max.to_string()),
                        text(s.min.to_string()),
                        yes_no(s.cycle),
                    ]),
                    _ => {
                        row.extend(std::iter::repeat_n(Value::Null, 5));
                        row.push(yes_no(false));
                    }
                }
                row.extend([text("NEVER"), Value::Null, yes_no(table_id.is_some())]);
                rows.push(row);
            }
        }
        rows
    }

    fn info_table_constraints(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for t in self.user_tables() {
            let schema = self.schema_text(t.schema);
            let mut add = |name: String, kind: &str, nulls_distinct: Value| {
                rows.push(vec![
                    self.database(),
                    schema.clone(),
                    text(name),
                    self.database(),
                    schema.clone(),
                    text(t.name.clone()),
                    text(kind),
                    yes_no(false),
                    yes_no(false),
                    yes_no(true),
                    nulls_distinct,
                ]);
            };
            for c in self.table_constraints(t) {
                let (kind, nulls_distinct) = match c.kind {
                    'p' => ("PRIMARY KEY", Value::Null),
                    'u' => ("UNIQUE", yes_no(true)),
                    'f' => ("FOREIGN KEY", Value::Null),
                    _ => ("CHECK", Value::Null),
                };
                add(c.name, kind, nulls_distinct);
            }
            // PostgreSQL lists each NOT NULL column as a CHECK constraint
            // named from the schema's and table's oids and the column.
            for (i, col) in t.columns.iter().enumerate() {
                if col.dropped || !(col.not_null || t.primary_key.contains(&i)) {
                    continue;
                }
                let name = format!("{}_{}_{}_not_null", t.schema, relation_oid(t.id), i + 1);
                add(name, "CHECK", Value::Null);
            }
        }
        rows
    }

    fn info_key_column_usage(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for t in self.user_tables() {
            let schema = self.schema_text(t.schema);
            for c in self.table_constraints(t) {
                if !matches!(c.kind, 'p' | 'u' | 'f') {
                    continue;
                }
                // A foreign key's columns' places in the parent's key.
                let unique_key = c.foreign.as_ref().map(|fk| {
                    let key = self
                        .referenced_key(fk.parent, &fk.parent_columns)
                        .map(|(_, cols)| cols)
                        .unwrap_or_default();
                    fk.parent_columns
                        .iter()
                        .map(|p| key.iter().position(|k| k == p).map(|x| x as i64 + 1))
                        .collect::<Vec<_>>()
                });
                for (k, col) in c.columns.iter().enumerate() {
                    let position_in_unique = unique_key
                        .as_ref()
                        .and_then(|u| u.get(k).copied().flatten());
                    rows.push(vec![
                        self.database(),
                        schema.clone(),
                        text(c.name.clone()),
                        self.database(),
                        schema.clone(),
                        text(t.name.clone()),
                        text(t.columns[*col].name.clone()),
                        number(k as i64 + 1),
                        number_or_null(position_in_unique),
                    ]);
                }
            }
        }
        rows
    }

    /// The columns each constraint uses: a key's or CHECK's own columns,
    /// and for a foreign key the referenced ones, under the parent table
    /// (as PostgreSQL's view lists them).
    fn info_constraint_column_usage(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for t in self.user_tables() {
            let schema = self.schema_text(t.schema);
            for c in self.table_constraints(t) {
                let (owner, columns) = match &c.foreign {
                    Some(fk) => match self.catalog.table_by_id(fk.parent) {
                        Some(p) => (p, fk.parent_columns.clone()),
                        None => continue,
                    },
                    None => (&**t, c.columns.clone()),
                };
                let mut columns = columns;
                columns.sort_unstable();
                columns.dedup();
                for col in columns {
                    rows.push(vec![
                        self.database(),
                        self.schema_text(owner.schema),
                        text(owner.name.clone()),
                        text(owner.columns[col].name.clone()),
                        self.database(),
                        schema.clone(),
                        text(c.name.clone()),
                    ]);
                }
            }
        }
        rows
    }

    /// The constraint of table `parent` a foreign key on `columns` is
    /// checked through: its name (`None` for a unique index that is no
    /// constraint) and its columns.
    fn referenced_key(
        &self,
        parent: u32,
        columns: &[usize],
    ) -> Option<(Option<String>, Vec<usize>)> {
        let p = self.catalog.table_by_id(parent)?;
        if p.primary_key == columns {
            return Some((Some(super::pkey_name(p)), p.primary_key.clone()));
        }
        let i = self
            .catalog
            .indexes_of(p.id)
            .find(|i| i.unique && i.columns == columns)?;
        Some((i.constraint.then(|| i.name.clone()), i.columns.clone()))
    }

    fn info_referential_constraints(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for t in self.user_tables() {
            for fk in &t.foreign_keys {
                let parent = self.catalog.table_by_id(fk.parent);
                let unique_name = self
                    .referenced_key(fk.parent, &fk.parent_columns)
                    .and_then(|(name, _)| name);
                let (unique_catalog, unique_schema) = match (&unique_name, parent) {
                    (Some(_), Some(p)) => (self.database(), self.schema_text(p.schema)),
                    _ => (Value::Null, Value::Null),
                };
                rows.push(vec![
                    self.database(),
                    self.schema_text(t.schema),
                    text(fk.name.clone()),
                    unique_catalog,
                    unique_schema,
                    unique_name.map_or(Value::Null, text),
                    text("NONE"),
                    rule(fk.on_update),
                    rule(fk.on_delete),
                ]);
            }
        }
        rows
    }

    fn info_views(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for c in &self.classes.0 {
            let Object::View(v) = &c.object else {
                continue;
            };
            rows.push(vec![
                self.database(),
                self.schema_text(c.schema),
                text(c.name.clone()),
                text(format!(" {};", v.query)),
                text("NONE"),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
            ]);
        }
        rows
    }

    /// A type's `udt_schema` and `udt_name`; an enum's `data_type` is
    /// `USER-DEFINED`.
    fn udt(&self, t: DataType, data_type: &mut Value) -> (Value, Value) {
        if let Some((def, _)) = self.catalog.type_by_oid(t.oid()) {
            *data_type = text("USER-DEFINED");
            return (self.schema_text(def.schema), text(def.name.clone()));
        }
        (text("pg_catalog"), text(udt_name(t)))
    }

    /// `information_schema.domains`: one row per domain.
    fn info_domains(&self) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        for def in self.catalog.types() {
            let Some(d) = &def.domain else { continue };
            let [mut data_type, max_length, octets, precision, radix, scale, dt_precision, interval_type] =
                type_facts(d.base);
            let (udt_schema, udt) = self.udt(d.base, &mut data_type);
            let mut row = vec![
                self.database(),
                self.schema_text(def.schema),
                text(def.name.clone()),
                data_type,
                max_length,
                octets,
            ];
            // character set and collation: NULL, as PostgreSQL shows them.
            row.extend(std::iter::repeat_n(Value::Null, 6));
            row.extend([
                precision,
                radix,
                scale,
                dt_precision,
                interval_type,
                Value::Null,
            ]);
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
            row.push(d.default.as_ref().map_or(Value::Null, |e| {
                text(self.deparse(e, &no_columns, Some(d.base)))
            }));
            row.extend([self.database(), udt_schema, udt]);
            row.extend(std::iter::repeat_n(Value::Null, 4));
            row.push(text("1"));
            rows.push(row);
        }
        rows
    }

    fn info_sequences(&self) -> Vec<Vec<Value>> {
        self.catalog
            .sequences()
            .map(|s| {
                let precision = match s.data_type {
                    DataType::Int2 => 16,
                    DataType::Int4 => 32,
                    _ => 64,
                };
                vec![
                    self.database(),
                    self.schema_text(s.schema),
                    text(s.name.clone()),
                    text(s.data_type.base_name()),
                    number(precision),
                    number(2),
                    number(0),
                    text(s.start.to_string()),
                    text(s.min.to_string()),
                    text(s.max.to_string()),
                    text(s.increment.to_string()),
                    yes_no(s.cycle),
                ]
            })
            .collect()
    }
}
