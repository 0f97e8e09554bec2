//! CREATE TYPE … AS ENUM, ALTER TYPE and DROP TYPE, on shard 0, which
//! owns the catalog log.
//!
//! [`decide`] checks a statement against the catalog of the moment (the
//! block's pending one inside a transaction block) and returns the
//! records to write and the catalog they make, all or nothing; the shell
//! writes them under the catalog log's lock (held back to the block's
//! COMMIT inside one, so a rolled back CREATE TYPE leaves nothing) and
//! publishes the catalog. A type is one `CatalogRecord::Type` (its whole
//! definition, written again by each ALTER), and DROP TYPE one
//! `CatalogRecord::DropType`.
//!
//! Enum values carry their label (see `tessera_types::value::EnumValue`),
//! so RENAME VALUE is refused while a column of the type could hold the
//! old label; DROP TYPE … CASCADE is refused while columns use the type
//! (PostgreSQL would drop those columns).

use tessera_storage::record::CatalogRecord;
use tessera_types::schema::{
    EnumLabel, LabelPlace, TypeDef, DOMAIN_CHECKS_MAX, ENUM_LABELS_MAX, ENUM_LABEL_BYTES_MAX,
};
use tessera_types::{sqlstate, Catalog, Error, Result};

use super::{Block, ShardContext, ShardResponse};
use crate::engine::Notice;
use crate::plan::{TypeChange, TypeStatement};

impl ShardContext {
    /// Applies `statement`.
    pub(super) async fn change_types(
        &self,
        statement: TypeStatement,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        let (records, next, notices) = decide(&catalog, statement)?;
        if !records.is_empty() {
            ddl.apply(records, next).await?;
        }
        Ok(ShardResponse::Done(notices))
    }
}

/// What `statement` writes, the catalog that makes, and what the client
/// is told.
pub(crate) fn decide(
    catalog: &Catalog,
    statement: TypeStatement,
) -> Result<(Vec<CatalogRecord>, Catalog, Vec<Notice>)> {
    match statement {
        TypeStatement::Create(def) => {
            if catalog.schema_by_id(def.schema).is_none() {
                return Err(Error::new(
                    sqlstate::INVALID_SCHEMA_NAME,
                    "the schema was dropped while the type was being created",
                ));
            }
            if name_taken(catalog, def.schema, &def.name) {
                return Err(Error::new(
                    sqlstate::DUPLICATE_OBJECT,
                    format!("type \"{}\" already exists", def.name),
                ));
            }
            let (next, made) = catalog.with_type(def);
            match &made.domain {
                None => check_labels(&made)?,
                Some(d) => check_domain(d)?,
            }
            Ok((vec![CatalogRecord::Type((*made).clone())], next, vec![]))
        }
        TypeStatement::Alter {
            oid, name, change, ..
        } => {
            let Some((old, false)) = catalog.type_by_oid(oid) else {
                return Err(Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("type \"{name}\" does not exist"),
                ));
            };
            let mut def = (**old).clone();
            let mut next = catalog.clone();
            let renamed = matches!(change, TypeChange::Rename(_));
            if !renamed && change.is_domain() != def.domain.is_some() {
                // As PostgreSQL's ALTER DOMAIN and ALTER TYPE say it.
                let message = if change.is_domain() {
                    format!("{} is not a domain", def.name)
                } else {
                    format!("{} is not an enum", def.name)
                };
                return Err(Error::new(sqlstate::WRONG_OBJECT_TYPE, message));
            }
            let in_use = catalog.columns_of_type(oid).into_iter().next();
            let mut notices = vec![];
            match change {
                TypeChange::AddValue {
                    label,
                    if_not_exists,
                    neighbour,
                } => {
                    if def.label(&label).is_some() {
                        let message = format!("enum label \"{label}\" already exists");
                        if if_not_exists {
                            let notice = Notice::new(
                                sqlstate::DUPLICATE_OBJECT,
                                format!("{message}, skipping"),
                            );
                            return Ok((vec![], next, vec![notice]));
                        }
                        return Err(Error::new(sqlstate::DUPLICATE_OBJECT, message));
                    }
                    let place = match neighbour {
                        None => LabelPlace::Last,
                        Some((before, n)) => {
                            let i = def
                                .labels
                                .iter()
                                .position(|l| l.label == n)
                                .ok_or_else(|| not_a_label(&n))?;
                            if before {
                                LabelPlace::Before(i)
                            } else {
                                LabelPlace::After(i)
                            }
                        }
                    };
                    let sort_order = def.sort_order_at(place).ok_or_else(|| {
                        Error::new(
                            sqlstate::PROGRAM_LIMIT_EXCEEDED,
                            format!(
                                "no room left in the sort order of enum {} for label \"{label}\"",
                                def.name
                            ),
                        )
                        .with_hint("Recreate the type with its labels in the order wanted.")
                    })?;
                    let (taken, label_oid) = next.with_oid_taken();
                    next = taken;
                    let at = def.labels.partition_point(|l| l.sort_order < sort_order);
                    def.labels.insert(
                        at,
                        EnumLabel {
                            oid: label_oid,
                            sort_order,
                            label,
                        },
                    );
                    check_labels(&def)?;
                }
                TypeChange::RenameValue { from, to } => {
                    let i = def
                        .labels
                        .iter()
                        .position(|l| l.label == from)
                        .ok_or_else(|| not_a_label(&from))?;
                    if def.label(&to).is_some() {
                        return Err(Error::new(
                            sqlstate::DUPLICATE_OBJECT,
                            format!("enum label \"{to}\" already exists"),
                        ));
                    }
                    if let Some((table, column, _)) =
                        catalog.columns_of_type(oid).into_iter().next()
                    {
                        return Err(Error::unsupported(format!(
                            "ALTER TYPE … RENAME VALUE while column {column} of table {table} \
                             uses type {}",
                            def.name
                        )));
                    }
                    def.labels[i].label = to;
                    check_labels(&def)?;
                }
                TypeChange::DomainDefault(text) => domain_mut(&mut def).default = text,
                TypeChange::DomainNotNull(not_null) => {
                    if let (true, Some((table, column, _))) = (not_null, &in_use) {
                        return Err(validation_refused(&def.name, table, column));
                    }
                    domain_mut(&mut def).not_null = not_null;
                }
                TypeChange::DomainAddCheck { name, text } => {
                    if let Some((table, column, _)) = &in_use {
                        return Err(validation_refused(&def.name, table, column));
                    }
                    let domain_name = def.name.clone();
                    let checks = &mut domain_mut(&mut def).checks;
                    let name = match name {
                        Some(n) if checks.iter().any(|(c, _)| *c == n) => {
                            return Err(Error::new(
                                sqlstate::DUPLICATE_OBJECT,
                                format!(
                                    "constraint \"{n}\" for domain \"{domain_name}\" already exists"
                                ),
                            ))
                        }
                        Some(n) => n,
                        None => free_check_name(&domain_name, checks),
                    };
                    checks.push((name, text));
                    check_domain(domain_mut(&mut def))?;
                }
                TypeChange::DomainDropConstraint { name, if_exists } => {
                    let domain_name = def.name.clone();
                    let checks = &mut domain_mut(&mut def).checks;
                    match checks.iter().position(|(c, _)| *c == name) {
                        Some(i) => {
                            checks.remove(i);
                        }
                        None => {
                            let message = format!(
                                "constraint \"{name}\" of domain \"{domain_name}\" does not exist"
                            );
                            if !if_exists {
                                return Err(Error::new(sqlstate::UNDEFINED_OBJECT, message));
                            }
                            notices.push(Notice::new(
                                sqlstate::SUCCESSFUL_COMPLETION,
                                format!("{message}, skipping"),
                            ));
                            return Ok((vec![], next, notices));
                        }
                    }
                }
                TypeChange::Rename(to) => {
                    if name_taken(catalog, def.schema, &to) {
                        return Err(Error::new(
                            sqlstate::DUPLICATE_OBJECT,
                            format!("type \"{to}\" already exists"),
                        ));
                    }
                    def.name = to;
                }
            }
            let next = next.with_type_replaced(def.clone());
            Ok((vec![CatalogRecord::Type(def)], next, notices))
        }
        TypeStatement::Drop {
            types,
            cascade,
            domain,
            ..
        } => {
            let mut records = Vec::new();
            let mut next = catalog.clone();
            for (oid, name) in types {
                let Some((def, false)) = next.type_by_oid(oid) else {
                    // Named twice in one statement, or dropped meanwhile.
                    return Err(Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("type \"{name}\" does not exist"),
                    ));
                };
                if domain && def.domain.is_none() {
                    return Err(Error::new(
                        sqlstate::WRONG_OBJECT_TYPE,
                        format!("\"{}\" is not a domain", def.name),
                    ));
                }
                if let Some((table, column, array)) = next.columns_of_type(oid).into_iter().next() {
                    let shown = if array {
                        format!("{}[]", def.name)
                    } else {
                        def.name.clone()
                    };
                    if cascade {
                        return Err(Error::unsupported(format!(
                            "DROP TYPE … CASCADE of a type a column uses (column {column} of \
                             table {table})"
                        )));
                    }
                    return Err(Error::new(
                        sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "cannot drop type {} because other objects depend on it",
                            def.name
                        ),
                    )
                    .with_detail(format!(
                        "column {column} of table {table} depends on type {shown}"
                    ))
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
                records.push(CatalogRecord::DropType(oid));
                next = next.without_type(oid);
            }
            Ok((records, next, vec![]))
        }
    }
}

/// Whether a type, or a relation with a row type, is named `name` in
/// `schema` (PostgreSQL's pg_type holds both).
fn name_taken(catalog: &Catalog, schema: tessera_types::SchemaId, name: &str) -> bool {
    catalog.type_named(schema, name).is_some()
        || catalog.table(schema, name).is_some()
        || catalog.view(schema, name).is_some()
        || catalog.sequence(schema, name).is_some()
}

/// Labels are at most 63 bytes, unique, and at most [`ENUM_LABELS_MAX`].
fn check_labels(def: &TypeDef) -> Result<()> {
    if def.labels.len() > ENUM_LABELS_MAX {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("an enum type has at most {ENUM_LABELS_MAX} labels"),
        ));
    }
    for (i, l) in def.labels.iter().enumerate() {
        if l.label.len() > ENUM_LABEL_BYTES_MAX {
            return Err(Error::new(
                sqlstate::INVALID_NAME,
                format!("invalid enum label \"{}\"", l.label),
            )
            .with_detail(format!(
                "Labels must be {ENUM_LABEL_BYTES_MAX} bytes or less."
            )));
        }
        if def.labels[..i].iter().any(|o| o.label == l.label) {
            return Err(Error::new(
                sqlstate::UNIQUE_VIOLATION,
                "duplicate key value violates unique constraint \"pg_enum_typid_label_index\"",
            )
            .with_detail(format!(
                "Key (enumtypid, enumlabel)=({}, {}) already exists.",
                def.oid, l.label
            )));
        }
    }
    Ok(())
}

/// A new table, view or sequence would have a row type of its name
/// (PostgreSQL's pg_type holds both): 42710 when a type CREATE TYPE or
/// CREATE DOMAIN made has it, also with IF NOT EXISTS, as PostgreSQL.
pub(crate) fn type_taken(
    catalog: &Catalog,
    schema: tessera_types::SchemaId,
    name: &str,
) -> Result<()> {
    match catalog.type_named(schema, name) {
        Some(_) => Err(Error::new(
            sqlstate::DUPLICATE_OBJECT,
            format!("type \"{name}\" already exists"),
        )
        .with_hint(
            "A relation has an associated type of the same name, so you must use a name that \
             doesn't conflict with any existing type.",
        )),
        None => Ok(()),
    }
}

/// DROP SCHEMA of schemas that hold types made by CREATE TYPE or CREATE
/// DOMAIN: PostgreSQL's 2BP01 without CASCADE; with it, refused (0A000)
/// rather than leave the types without their schema (dropping them with
/// it, and the columns that use them, is not done yet).
pub(crate) fn refuse_schema_with_types(
    catalog: &Catalog,
    schemas: &[tessera_types::SchemaId],
    cascade: bool,
) -> Result<()> {
    let Some(def) = catalog.types().find(|t| schemas.contains(&t.schema)) else {
        return Ok(());
    };
    let schema = catalog.schema_name(def.schema);
    if cascade {
        return Err(Error::unsupported(format!(
            "DROP SCHEMA … CASCADE of schema {schema}, which holds type {}",
            def.name
        )));
    }
    Err(Error::new(
        sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
        format!("cannot drop schema {schema} because other objects depend on it"),
    )
    .with_detail(format!(
        "type {schema}.{} depends on schema {schema}",
        def.name
    ))
    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."))
}

/// A domain has at most [`DOMAIN_CHECKS_MAX`] checks.
fn check_domain(d: &tessera_types::schema::DomainDef) -> Result<()> {
    if d.checks.len() > DOMAIN_CHECKS_MAX {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("a domain has at most {DOMAIN_CHECKS_MAX} check constraints"),
        ));
    }
    Ok(())
}

/// The domain part of a domain's definition.
fn domain_mut(def: &mut TypeDef) -> &mut tessera_types::schema::DomainDef {
    def.domain
        .as_mut()
        .expect("checked to be a domain before it is changed")
}

/// `<domain>_check`, or with the first number that makes it free.
pub(crate) fn free_check_name(domain: &str, checks: &[(String, String)]) -> String {
    let taken = |n: &str| checks.iter().any(|(c, _)| c == n);
    let base = format!("{domain}_check");
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !taken(n))
        .expect("some number is free")
}

/// ALTER DOMAIN … ADD CONSTRAINT / SET NOT NULL while a column uses the
/// domain: PostgreSQL checks the stored values first; Tessera does not
/// yet, so it refuses rather than leave values the constraint forbids.
fn validation_refused(domain: &str, table: &str, column: &str) -> Error {
    Error::unsupported(format!(
        "adding a constraint to domain {domain} while column {column} of table {table} uses it"
    ))
}

fn not_a_label(label: &str) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("\"{label}\" is not an existing enum label"),
    )
}
