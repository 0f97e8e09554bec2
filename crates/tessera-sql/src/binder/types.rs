//! Types made by CREATE TYPE … AS ENUM and CREATE DOMAIN: the statements
//! that make, change and drop them (names resolved here, the rest decided
//! on shard 0 by `shard::types`), type names that find them on the search
//! path, the conversion of text to an enum value, and the constraints of
//! domains.
//!
//! A domain is its base type everywhere a value goes (a column of one
//! stores, compares and is sent as the base type, as PostgreSQL reports
//! the base type's oid in RowDescription); the column remembers its
//! domain (`ColumnDef::domain`), and writes check the domain's NOT NULL
//! and CHECK constraints with the table's own checks (INSERT, UPDATE,
//! COPY), as does a cast to the domain. A check is kept as SQL text over
//! `VALUE`, read with `VALUE` standing for the column or the cast value,
//! and a failed one raises the domain's error (`CatalogFn::DomainViolation`).
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
use crate::parser::{DomainAction, DomainCommand};
use crate::plan::{Plan, TypeChange, TypeStatement};
use crate::system::CatalogFn;
use tessera_types::array::Elem;
use tessera_types::schema::DomainDef;
use tessera_types::TableDef;

impl Binder<'_> {
    /// A type named in SQL: a built-in one, or one CREATE TYPE made (by
    /// its schema, or the first schema of the search path that has it;
    /// pg_catalog's built-in names come first, as PostgreSQL searches
    /// pg_catalog before the path).
    pub(super) fn resolve_type(&self, t: &ast::DataType) -> Result<DataType> {
        let builtin = data_type(t);
        let (ast::DataType::Custom(name, modifiers), Err(e)) = (t, &builtin) else {
            if let ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _)) = t {
                match self.created_type(inner)? {
                    Some(def) if def.domain.is_some() => {
                        return Err(Error::unsupported(format!("arrays of domain {}", def.name)))
                    }
                    Some(def) => return Ok(DataType::Array(Elem::Enum(def.oid))),
                    None => {}
                }
            }
            return builtin;
        };
        if e.code != sqlstate::UNDEFINED_OBJECT && e.code != sqlstate::FEATURE_NOT_SUPPORTED {
            return builtin;
        }
        match self.type_by_name(name)? {
            Some(def) if modifiers.is_empty() => Ok(match &def.domain {
                Some(d) => d.base,
                None => DataType::Enum(def.oid),
            }),
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
            DataType::Array(Elem::Enum(oid)) => {
                format!("{}[]", self.type_name(DataType::Enum(oid)))
            }
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
        // The enum of the arguments; an untyped one (`NULL`) takes it.
        let oid = types.iter().find_map(|t| match t {
            DataType::Enum(oid) => Some(*oid),
            _ => None,
        });
        let found = oid
            .filter(|o| {
                types
                    .iter()
                    .all(|t| *t == DataType::Enum(*o) || *t == DataType::Unknown)
            })
            .and_then(|o| self.catalog.type_by_oid(o));
        let Some((def, false)) = found else {
            return Err(self.no_enum_function(name, &types));
        };
        let def = def.clone();
        for (x, t) in bound.iter_mut() {
            if *t == DataType::Unknown {
                *x = self.enum_in(std::mem::replace(x, Expr::literal_null()), *t, def.oid)?;
            }
        }
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
                let items = items.into_iter().map(|l| def.value_of(l)).collect();
                let elem = Elem::Enum(def.oid);
                let array = tessera_types::array::Array { elem, items };
                return Ok(Some((
                    Expr::Literal(Value::Array(Box::new(array))),
                    DataType::Array(elem),
                )));
            }
        };
        Ok(Some((Expr::Literal(value), t)))
    }

    fn no_enum_function(&self, name: &str, types: &[DataType]) -> Error {
        let shown: Vec<String> = types.iter().map(|t| self.type_name(*t)).collect();
        super::no_such_function(&format!("{name}({})", shown.join(", ")))
    }

    /// `x` (text, `text[]`, or an untyped literal or parameter) as an
    /// array of enum type `oid`: each element read as [`Binder::enum_in`]
    /// reads one.
    pub(super) fn enum_array_in(&mut self, x: Expr, from: DataType, oid: u32) -> Result<Expr> {
        let to = DataType::Array(Elem::Enum(oid));
        if from == to {
            return Ok(x);
        }
        if !from.is_string() && from != DataType::Array(Elem::Text) {
            return Err(Error::new(
                sqlstate::CANNOT_COERCE,
                format!(
                    "cannot cast type {} to {}",
                    self.type_name(from),
                    self.type_name(to)
                ),
            ));
        }
        if let Expr::Param(i) = x {
            if from == DataType::Unknown {
                self.param(i, Some(to));
            }
        }
        let Some((def, false)) = self.catalog.type_by_oid(oid) else {
            return Err(Error::internal(format!(
                "enum type {oid} is not in the catalog"
            )));
        };
        match x {
            Expr::Literal(v) if !v.is_null() => Ok(Expr::Literal(enum_array_value(def, v)?)),
            Expr::Literal(_) => Ok(Expr::Literal(Value::Null)),
            x => Ok(Expr::Catalog {
                func: CatalogFn::EnumArrayIn(oid),
                system: self.system(),
                args: vec![x],
            }),
        }
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
            domain: None,
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
            domain: false,
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
            domain: false,
        }))
    }

    /// The domain `t` names, if it names one.
    pub(super) fn domain_of(&self, t: &ast::DataType) -> Result<Option<Arc<TypeDef>>> {
        Ok(self.created_type(t)?.filter(|d| d.domain.is_some()))
    }

    /// Fails where a column cannot be declared with a domain yet.
    pub(super) fn refuse_domain(&self, t: &ast::DataType, what: &str) -> Result<()> {
        match self.domain_of(t)? {
            Some(def) => Err(Error::unsupported(format!(
                "{what} with domain {}",
                def.name
            ))),
            None => Ok(()),
        }
    }

    /// `x::domain`: `x` cast to the base type, then checked against the
    /// domain's constraints (each reads the cast value, so `x` is
    /// evaluated once per constraint).
    pub(super) fn bind_domain_cast(
        &mut self,
        cast: &ast::Expr,
        operand: &ast::Expr,
        def: &Arc<TypeDef>,
        scope: &Scope,
        ctx: &mut Ctx,
        hint: Option<DataType>,
    ) -> Result<(Expr, DataType)> {
        let domain = def.domain.as_ref().expect("a domain");
        let ast::Expr::Cast { kind, format, .. } = cast else {
            return Err(Error::internal("a domain cast that is not a cast"));
        };
        let base = base_type_ast(domain.base)?;
        let to_base = ast::Expr::Cast {
            kind: kind.clone(),
            expr: Box::new(operand.clone()),
            data_type: base,
            format: format.clone(),
        };
        let (x, t) = self.bind_expr_hint(&to_base, scope, ctx, hint)?;
        let replacement = format!("({to_base})");
        let mut whens = Vec::new();
        if domain.not_null {
            whens.push((
                Expr::IsNull {
                    expr: Box::new(x.clone()),
                    negated: false,
                },
                self.domain_violation(def.oid, NOT_NULL),
            ));
        }
        for (k, (_, text)) in domain.checks.iter().enumerate() {
            let condition = value_as(text, &replacement)?;
            let (c, _) = self.bind_expr(&condition, scope, ctx)?;
            whens.push((is_false(c), self.domain_violation(def.oid, k as u16)));
        }
        if whens.is_empty() {
            return Ok((x, t));
        }
        Ok((
            Expr::Case {
                operand: None,
                whens,
                otherwise: Some(Box::new(x)),
            },
            t,
        ))
    }

    /// The constraints of the domains of `table`'s columns, as checks
    /// over its rows that raise the domain's own errors.
    pub(super) fn domain_checks(&mut self, table: &Arc<TableDef>) -> Result<Vec<(String, Expr)>> {
        let mut out = Vec::new();
        let scope = Scope {
            table: Some(table.clone()),
            qualifier: Some(table.name.clone()),
            ..Scope::default()
        };
        for (i, c) in table.visible_columns() {
            let Some((def, false)) = c.domain.and_then(|d| self.catalog.type_by_oid(d)) else {
                continue;
            };
            let def = def.clone();
            let Some(domain) = &def.domain else { continue };
            if domain.not_null {
                let raise = self.domain_violation(def.oid, NOT_NULL);
                let null = Expr::IsNull {
                    expr: Box::new(Expr::Column(i)),
                    negated: false,
                };
                out.push((format!("{}_not_null", def.name), guard(null, raise)));
            }
            let column = ast::Ident::with_quote('"', c.name.clone()).to_string();
            for (k, (name, text)) in domain.checks.iter().enumerate() {
                let condition = value_as(text, &column)?;
                let (x, _) = self.in_table_schema(table.schema, |b| {
                    b.bind_expr(
                        &condition,
                        &scope,
                        &mut Ctx::Row {
                            clause: "check constraints",
                        },
                    )
                })?;
                let raise = self.domain_violation(def.oid, k as u16);
                out.push((name.clone(), guard(is_false(x), raise)));
            }
        }
        Ok(out)
    }

    /// The error of constraint `k` of domain `oid` ([`NOT_NULL`]: its NOT
    /// NULL), raised when evaluated.
    fn domain_violation(&mut self, oid: u32, k: u16) -> Expr {
        Expr::Catalog {
            func: CatalogFn::DomainViolation(oid, k),
            system: self.system(),
            args: vec![],
        }
    }

    pub(super) fn bind_domain_command(&mut self, command: &DomainCommand) -> Result<Plan> {
        match command {
            DomainCommand::Create {
                name,
                data_type,
                default,
                not_null,
                checks,
            } => {
                let q = self.qualified(name)?;
                let schema = self.creation_schema(&q)?;
                if self.domain_of(data_type)?.is_some() {
                    return Err(Error::unsupported("domains over domains"));
                }
                let base = self.resolve_type(data_type)?;
                if matches!(base, DataType::Array(_) | DataType::Record(_)) {
                    return Err(Error::unsupported(format!("domains over {base}")));
                }
                let mut domain = DomainDef {
                    base,
                    not_null: *not_null,
                    default: None,
                    checks: Vec::new(),
                };
                if let Some(d) = default {
                    domain.default = Some(self.domain_default(d, base)?);
                }
                for (name, e) in checks {
                    let text = self.domain_check_text(e, base)?;
                    let name = match name {
                        Some(n) => super::ident_name(n),
                        None => crate::shard::free_check_name(&q.name, &domain.checks),
                    };
                    if domain.checks.iter().any(|(c, _)| *c == name) {
                        return Err(Error::new(
                            sqlstate::DUPLICATE_OBJECT,
                            format!(
                                "constraint \"{name}\" for domain \"{}\" already exists",
                                q.name
                            ),
                        ));
                    }
                    domain.checks.push((name, text));
                }
                Ok(Plan::Type(TypeStatement::Create(TypeDef {
                    oid: 0,
                    name: q.name,
                    schema,
                    owner: self.names.user.clone(),
                    labels: vec![],
                    domain: Some(domain),
                })))
            }
            DomainCommand::Alter { name, action } => {
                let def = self.domain_by_name(name)?;
                let base = def.domain.as_ref().map_or(DataType::Unknown, |d| d.base);
                let change = match action {
                    DomainAction::Default(None) => TypeChange::DomainDefault(None),
                    DomainAction::Default(Some(e)) => {
                        TypeChange::DomainDefault(Some(self.domain_default(e, base)?))
                    }
                    DomainAction::NotNull(n) => TypeChange::DomainNotNull(*n),
                    DomainAction::AddCheck(name, e) => TypeChange::DomainAddCheck {
                        name: name.as_ref().map(super::ident_name),
                        text: self.domain_check_text(e, base)?,
                    },
                    DomainAction::RenameTo(to) => TypeChange::Rename(super::ident_name(to)),
                    DomainAction::DropConstraint { name, if_exists } => {
                        TypeChange::DomainDropConstraint {
                            name: super::ident_name(name),
                            if_exists: *if_exists,
                        }
                    }
                };
                if def.domain.is_none() {
                    // Unquoted, as PostgreSQL's ALTER DOMAIN says it.
                    return Err(Error::new(
                        sqlstate::WRONG_OBJECT_TYPE,
                        format!("{} is not a domain", def.name),
                    ));
                }
                Ok(Plan::Type(TypeStatement::Alter {
                    oid: def.oid,
                    name: def.name.clone(),
                    change,
                    domain: true,
                }))
            }
        }
    }

    pub(super) fn bind_drop_domain(
        &self,
        name: &ast::ObjectName,
        if_exists: bool,
        cascade: bool,
    ) -> Result<Plan> {
        let mut plan = self.bind_drop_types(std::slice::from_ref(name), if_exists, cascade)?;
        if let Plan::Type(TypeStatement::Drop { domain, .. }) = &mut plan {
            *domain = true;
        }
        Ok(plan)
    }

    /// The domain (or, for the shard to refuse, the type) ALTER DOMAIN
    /// names.
    pub(super) fn domain_by_name(&self, name: &ast::ObjectName) -> Result<Arc<TypeDef>> {
        self.type_by_name(name)?.ok_or_else(|| {
            let shown = name_parts(name).map(|p| p.join(".")).unwrap_or_default();
            Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("type \"{shown}\" does not exist"),
            )
        })
    }

    /// A domain's DEFAULT, checked to convert to `base`; kept as text.
    fn domain_default(&mut self, e: &ast::Expr, base: DataType) -> Result<String> {
        let (x, t) = self.bind_expr_hint(
            e,
            &Scope::default(),
            &mut Ctx::Row { clause: "DEFAULT" },
            Some(base),
        )?;
        let column = tessera_types::ColumnDef::new("value", base, false);
        self.assign(x, t, &column)?;
        Ok(e.to_string())
    }

    /// A domain's CHECK expression, checked to be a boolean over `VALUE`
    /// of type `base`; kept as text.
    fn domain_check_text(&mut self, e: &ast::Expr, base: DataType) -> Result<String> {
        let text = e.to_string();
        let probe = value_as(&text, &format!("(NULL::{})", base.name()))?;
        let (_, t) = self.bind_expr(
            &probe,
            &Scope::default(),
            &mut Ctx::Row {
                clause: "check constraints",
            },
        )?;
        if t != DataType::Bool && t != DataType::Unknown {
            return Err(Error::datatype_mismatch(format!(
                "argument of CHECK must be type boolean, not type {}",
                self.type_name(t)
            )));
        }
        // Kept with `VALUE` spelled as PostgreSQL shows it.
        replace_value(&text, "VALUE")
    }
}

/// The constraint number [`Binder::domain_violation`] gives a domain's NOT
/// NULL.
pub(crate) const NOT_NULL: u16 = u16::MAX;

/// `x IS FALSE`: a CHECK fails only on false (NULL passes).
fn is_false(x: Expr) -> Expr {
    Expr::IsBool {
        expr: Box::new(x),
        value: false,
        negated: false,
    }
}

/// `CASE WHEN failed THEN raise ELSE true END`: a check over a row.
fn guard(failed: Expr, raise: Expr) -> Expr {
    Expr::Case {
        operand: None,
        whens: vec![(failed, raise)],
        otherwise: Some(Box::new(Expr::Literal(Value::Bool(true)))),
    }
}

/// A domain CHECK's text with `VALUE` (the keyword, unquoted) replaced by
/// `replacement`, parsed.
fn value_as(text: &str, replacement: &str) -> Result<ast::Expr> {
    crate::parser::parse_expr(&replace_value(text, replacement)?)
}

/// A domain CHECK's text with `VALUE` (the keyword, unquoted, in any
/// case) replaced by `replacement`; the rest as written.
pub(crate) fn replace_value(text: &str, replacement: &str) -> Result<String> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize()
        .map_err(|e| Error::syntax(e.to_string()))?;
    let mut out = String::with_capacity(text.len() + replacement.len());
    for t in tokens {
        match &t {
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("value") => {
                out.push_str(replacement)
            }
            t => out.push_str(&t.to_string()),
        }
    }
    Ok(out)
}

/// A base type written as SQL (its `format_type` name parses back to it).
fn base_type_ast(t: DataType) -> Result<ast::DataType> {
    let probe = crate::parser::parse_expr(&format!("NULL::{}", t.name()))?;
    match probe {
        ast::Expr::Cast { data_type, .. } => Ok(data_type),
        _ => Err(Error::internal(format!("the type {t} as SQL"))),
    }
}

/// A text array literal (`{sad,ok}`) or a `text[]` value as an array of
/// enum type `def`.
pub(crate) fn enum_array_value(def: &TypeDef, v: Value) -> Result<Value> {
    let items: Vec<Option<String>> = match v {
        Value::Array(a) => a.items.iter().map(|i| i.to_text()).collect(),
        v => tessera_types::array::split_literal(&v.to_text().unwrap_or_default())?,
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(match item {
            Some(label) => enum_value(def, &label)?,
            None => Value::Null,
        });
    }
    Ok(Value::Array(Box::new(tessera_types::array::Array {
        elem: Elem::Enum(def.oid),
        items: out,
    })))
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
