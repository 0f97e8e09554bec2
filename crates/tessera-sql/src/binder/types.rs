//! Types made by CREATE TYPE … AS ENUM: the statements that make, change
//! and drop them (names resolved here, the rest decided on shard 0 by
//! `shard::types`), type names that find them on the search path, and
//! the conversion of text to an enum value.
//!
//! An enum value carries its label and sort order (see
//! `tessera_types::value::EnumValue`), so it compares, keys and prints
//! without the catalog; only reading a label needs the type's labels.
//! A literal is read here, while binding; any other text (a parameter, a
//! column, COPY) goes through `CatalogFn::EnumIn`, answered from the
//! catalog snapshot the statement was bound against.

use std::sync::Arc;

use sqlparser::ast;
use tessera_types::schema::{EnumLabel, TypeDef, PG_CATALOG};
use tessera_types::{sqlstate, DataType, Error, Result, Value};

use super::{data_type, name_parts, Binder, Ctx, Scope};
use crate::expr::Expr;
use crate::plan::{Plan, TypeChange, TypeStatement};
use crate::system::CatalogFn;

impl Binder<'_> {
    /// A type named in SQL: a built-in one, or one CREATE TYPE made (by
    /// its schema, or the first schema of the search path that has it;
    /// pg_catalog's built-in names come first, as PostgreSQL searches
    /// pg_catalog before the path).
    pub(super) fn resolve_type(&self, t: &ast::DataType) -> Result<DataType> {
        let builtin = data_type(t);
        let (ast::DataType::Custom(name, modifiers), Err(e)) = (t, &builtin) else {
            if let ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _)) = t {
                if let Ok(Some(def)) = self.created_type(inner) {
                    return Err(Error::unsupported(format!(
                        "arrays of enum type {}",
                        def.name
                    )));
                }
            }
            return builtin;
        };
        if e.code != sqlstate::UNDEFINED_OBJECT && e.code != sqlstate::FEATURE_NOT_SUPPORTED {
            return builtin;
        }
        match self.type_by_name(name)? {
            Some(def) if modifiers.is_empty() => Ok(DataType::Enum(def.oid)),
            Some(def) => Err(Error::syntax(format!(
                "type modifier is not allowed for type \"{}\"",
                def.name
            ))),
            None => builtin,
        }
    }

    /// The created type `t` names, if it names one.
    fn created_type(&self, t: &ast::DataType) -> Result<Option<Arc<TypeDef>>> {
        match t {
            ast::DataType::Custom(name, m) if m.is_empty() && data_type(t).is_err() => {
                self.type_by_name(name)
            }
            _ => Ok(None),
        }
    }

    /// The created type called `name` (schema-qualified or on the path).
    fn type_by_name(&self, name: &ast::ObjectName) -> Result<Option<Arc<TypeDef>>> {
        let q = self.qualified(name)?;
        Ok(match &q.schema {
            Some(s) => {
                let schema = crate::names::schema_named(self.catalog, s)?;
                self.catalog.type_named(schema, &q.name).cloned()
            }
            None => self
                .names
                .schemas_with_implicit(self.catalog)
                .into_iter()
                .find_map(|s| self.catalog.type_named(s, &q.name).cloned()),
        })
    }

    /// The name of a type as PostgreSQL's messages give it.
    pub(super) fn type_name(&self, t: DataType) -> String {
        match t {
            DataType::Enum(oid) => match self.catalog.type_by_oid(oid) {
                Some((def, _)) => def.name.clone(),
                None => oid.to_string(),
            },
            t => t.base_name().to_string(),
        }
    }

    /// `x` (text, or an untyped literal or parameter) as a value of enum
    /// type `oid`: a literal is read now (22P02 for a label the type does
    /// not have), anything else when the statement runs.
    pub(super) fn enum_in(&mut self, x: Expr, from: DataType, oid: u32) -> Result<Expr> {
        if from == DataType::Enum(oid) {
            return Ok(x);
        }
        if !from.is_string() {
            return Err(Error::new(
                sqlstate::CANNOT_COERCE,
                format!(
                    "cannot cast type {} to {}",
                    self.type_name(from),
                    self.type_name(DataType::Enum(oid))
                ),
            ));
        }
        if let Expr::Param(i) = x {
            if from == DataType::Unknown {
                // The client is told the parameter is of the enum type;
                // its value arrives as the label's text.
                self.param(i, Some(DataType::Enum(oid)));
            }
        }
        let Some((def, false)) = self.catalog.type_by_oid(oid) else {
            return Err(Error::internal(format!(
                "enum type {oid} is not in the catalog"
            )));
        };
        match x {
            Expr::Literal(Value::Null) => Ok(Expr::Literal(Value::Null)),
            Expr::Literal(v) => {
                let text = v.to_text().unwrap_or_default();
                Ok(Expr::Literal(enum_value(def, &text)?))
            }
            x => Ok(Expr::Catalog {
                func: CatalogFn::EnumIn(oid),
                system: self.system(),
                args: vec![x],
            }),
        }
    }

    /// `enum_first(x)`, `enum_last(x)`, `enum_range(x)`, `enum_range(a, b)`:
    /// answered from the type of their arguments (their values matter
    /// only as the bounds of `enum_range(a, b)`, NULL for no bound).
    /// `enum_range` gives the labels as `text[]` (Tessera has no arrays
    /// of enum types; the text is PostgreSQL's).
    pub(super) fn bind_enum_function(
        &mut self,
        name: &str,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        if !matches!(
            (name, args.len()),
            ("enum_first" | "enum_last" | "enum_range", 1) | ("enum_range", 2)
        ) {
            return Ok(None);
        }
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            bound.push(self.bind_expr(a, scope, ctx)?);
        }
        let types: Vec<DataType> = bound.iter().map(|(_, t)| *t).collect();
        let found = match types.as_slice() {
            [DataType::Enum(oid), ..] if types.iter().all(|t| *t == types[0]) => {
                self.catalog.type_by_oid(*oid)
            }
            _ => None,
        };
        let Some((def, false)) = found else {
            return Err(self.no_enum_function(name, &types));
        };
        let def = def.clone();
        let t = DataType::Enum(def.oid);
        let labels = &def.labels;
        let value = match name {
            "enum_first" => labels.first().map_or(Value::Null, |l| def.value_of(l)),
            "enum_last" => labels.last().map_or(Value::Null, |l| def.value_of(l)),
            _ => {
                let mut items: Vec<&EnumLabel> = labels.iter().collect();
                if bound.len() == 2 {
                    let bound_of = |e: &Expr| match e {
                        Expr::Literal(Value::Enum(v)) => Ok(Some(v.sort_order)),
                        Expr::Literal(Value::Null) => Ok(None),
                        _ => Err(Error::unsupported(
                            "enum_range(a, b) of values other than constants",
                        )),
                    };
                    let low = bound_of(&bound[0].0)?;
                    let high = bound_of(&bound[1].0)?;
                    items.retain(|l| {
                        low.is_none_or(|o| l.sort_order >= o)
                            && high.is_none_or(|o| l.sort_order <= o)
                    });
                }
                let items = items
                    .into_iter()
                    .map(|l| Value::Text(l.label.clone()))
                    .collect();
                let array = tessera_types::array::Array {
                    elem: tessera_types::array::Elem::Text,
                    items,
                };
                return Ok(Some((
                    Expr::Literal(Value::Array(Box::new(array))),
                    DataType::Array(tessera_types::array::Elem::Text),
                )));
            }
        };
        Ok(Some((Expr::Literal(value), t)))
    }

    fn no_enum_function(&self, name: &str, types: &[DataType]) -> Error {
        let shown: Vec<String> = types.iter().map(|t| self.type_name(*t)).collect();
        super::no_such_function(&format!("{name}({})", shown.join(", ")))
    }

    pub(super) fn bind_create_type(
        &self,
        name: &ast::ObjectName,
        representation: &ast::UserDefinedTypeRepresentation,
    ) -> Result<Plan> {
        let ast::UserDefinedTypeRepresentation::Enum { labels } = representation else {
            return Err(Error::unsupported("composite types"));
        };
        let q = self.qualified(name)?;
        let schema = self.creation_schema(&q)?;
        if schema == PG_CATALOG {
            return Err(Error::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied to create \"pg_catalog.{}\"", q.name),
            ));
        }
        let mut def = TypeDef {
            oid: 0,
            name: q.name,
            schema,
            owner: self.names.user.clone(),
            labels: Vec::with_capacity(labels.len()),
        };
        for (i, label) in labels.iter().enumerate() {
            def.labels.push(EnumLabel {
                oid: 0,
                sort_order: (i + 1) as f64,
                label: label_text(label)?,
            });
        }
        Ok(Plan::Type(TypeStatement::Create(def)))
    }

    pub(super) fn bind_alter_type(&self, alter: &ast::AlterType) -> Result<Plan> {
        let def = self.type_by_name(&alter.name)?.ok_or_else(|| {
            let shown = name_parts(&alter.name)
                .map(|p| p.join("."))
                .unwrap_or_default();
            Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("type \"{shown}\" does not exist"),
            )
        })?;
        let change = match &alter.operation {
            ast::AlterTypeOperation::AddValue(add) => TypeChange::AddValue {
                label: label_text(&add.value)?,
                if_not_exists: add.if_not_exists,
                neighbour: match &add.position {
                    None => None,
                    Some(ast::AlterTypeAddValuePosition::Before(n)) => Some((true, label_text(n)?)),
                    Some(ast::AlterTypeAddValuePosition::After(n)) => Some((false, label_text(n)?)),
                },
            },
            ast::AlterTypeOperation::RenameValue(r) => TypeChange::RenameValue {
                from: label_text(&r.from)?,
                to: label_text(&r.to)?,
            },
            ast::AlterTypeOperation::Rename(r) => {
                TypeChange::Rename(super::ident_name(&r.new_name))
            }
        };
        Ok(Plan::Type(TypeStatement::Alter {
            oid: def.oid,
            name: def.name.clone(),
            change,
        }))
    }

    pub(super) fn bind_drop_types(
        &self,
        names: &[ast::ObjectName],
        if_exists: bool,
        cascade: bool,
    ) -> Result<Plan> {
        let mut types = Vec::new();
        let mut notices = Vec::new();
        for name in names {
            let shown = name_parts(name)?.join(".");
            let found = match self.type_by_name(name) {
                Ok(found) => found,
                Err(e) if if_exists && e.code == sqlstate::INVALID_SCHEMA_NAME => {
                    notices.push(format!("{}, skipping", e.message));
                    continue;
                }
                Err(e) => return Err(e),
            };
            match found {
                Some(def) => types.push((def.oid, def.name.clone())),
                None if if_exists => {
                    notices.push(format!("type \"{shown}\" does not exist, skipping"))
                }
                None => {
                    // A built-in type cannot be dropped either.
                    let message = match data_type(&ast::DataType::Custom(name.clone(), vec![])) {
                        Ok(_) => format!("cannot drop type {shown} because it is required by the database system"),
                        Err(_) => format!("type \"{shown}\" does not exist"),
                    };
                    let code = if message.starts_with("cannot") {
                        sqlstate::DEPENDENT_OBJECTS_STILL_EXIST
                    } else {
                        sqlstate::UNDEFINED_OBJECT
                    };
                    return Err(Error::new(code, message));
                }
            }
        }
        Ok(Plan::Type(TypeStatement::Drop {
            types,
            cascade,
            notices,
        }))
    }
}

/// The value of label `text` of enum type `def`, or PostgreSQL's 22P02.
pub(crate) fn enum_value(def: &TypeDef, text: &str) -> Result<Value> {
    match def.label(text) {
        Some(l) => Ok(def.value_of(l)),
        None => Err(Error::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("invalid input value for enum {}: \"{text}\"", def.name),
        )),
    }
}

/// An enum label as written: a string constant (the parser gives it as
/// an identifier quoted with `'`).
fn label_text(label: &ast::Ident) -> Result<String> {
    match label.quote_style {
        Some('\'') => Ok(label.value.clone()),
        _ => Err(Error::syntax(format!(
            "syntax error at or near \"{}\"",
            label.value
        ))),
    }
}
